/*
 * Reading a blob whole for writing it out (see blobread.h).  Every object
 * read through git_odb_read() is hashed again with libgit2's SHA-1DC, which
 * costs more than inflating it.  The collision detection matters where an
 * id is first computed from bytes that came from elsewhere (the indexing of
 * a fetched pack, a snapshot): that is where a crafted pair would be
 * caught.  Here the id is already known and the question is only whether
 * the bytes on this disk are still the ones it names, which plain SHA-1
 * (with the CPU's SHA instructions) answers as well, several times faster.
 * Bytes that don't match are never used: the caller reads them through
 * libgit2, which fails with its own message.
 */
#include "core/base/internal.h"
#include "core/base/blobread.h"
#include "core/base/sha1.h"

#include <dirent.h>
#include <fcntl.h>
#include <git2/sys/odb_backend.h>
#include <libdeflate.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether DATA (LEN bytes) is the object ID of TYPE ("blob", ...). */
static bool object_is(const git_oid *id, const char *type, const void *data, size_t len)
{
	unsigned char got[20];

	dsync_sha1_object(got, type, data, len);
	return memcmp(got, id->id, sizeof(got)) == 0;
}

/*
 * The packs of a history: each one's .idx mapped (small: 28 bytes an
 * object) and its .pack open, found again whenever the pack folder changed
 * (a fetch, a gc), so that a long-running process holds no removed pack.
 * A few histories at most; another one is read through the backends.
 * Whatever is read here is used only when its hash is the id asked for.
 */
typedef struct pack_ix {
	const unsigned char *idx;
	size_t idx_len;
	uint32_t n;
	int fd;
} pack_ix;

typedef struct pack_set {
	char *dir;               /* objects/pack */
	struct timespec mtime;   /* of DIR when its packs were found */
	pack_ix *v;
	size_t n;
} pack_set;

#define MAX_SETS 4

static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;
static pack_set sets[MAX_SETS];
static size_t nsets;

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Maps DIR/NAME (an idx v2) into *P and opens its pack; false: not used. */
static bool pack_open(pack_ix *p, const char *dir, const char *name)
{
	char path[4096];
	size_t l = strlen(name);
	struct stat st;
	void *m;
	int fd;

	/* room for the ".pack" that replaces ".idx" */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) - 1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	m = fstat(fd, &st) == 0 && st.st_size >= 8 + 1024 + 40 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)
								 : MAP_FAILED;
	close(fd);
	if (m == MAP_FAILED)
		return false;
	p->idx = m;
	p->idx_len = (size_t)st.st_size;
	p->n = be32(p->idx + 8 + 255 * 4);
	memcpy(path + strlen(path) - 3, "pack", 4);   /* NAME.idx -> NAME.pack */
	path[strlen(dir) + 1 + l + 1] = '\0';
	if (memcmp(p->idx, "\377tOc\0\0\0\2", 8) != 0 ||
	    (uint64_t)p->n * 28 + 8 + 1024 + 40 > p->idx_len || (p->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		munmap((void *)p->idx, p->idx_len);
		return false;
	}
	return true;
}

/* Closes the packs of S. */
static void set_drop(pack_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		munmap((void *)s->v[i].idx, s->v[i].idx_len);
		close(s->v[i].fd);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* The pack set of the history at GITDIR, its packs as the folder holds
 * them now (NULL: none, read through the backends).  Under sets_lock. */
static pack_set *set_of(const char *gitdir)
{
	char dir[4096];
	pack_set *s = NULL;
	struct dirent *e;
	struct stat st;
	DIR *d;
	size_t i;

	size_t gl = strlen(gitdir);

	/* one set whether GITDIR ends in a slash (libgit2's form) or not */
	while (gl > 1 && gitdir[gl - 1] == '/')
		gl--;
	if ((size_t)snprintf(dir, sizeof(dir), "%.*s/objects/pack", (int)gl, gitdir) >= sizeof(dir) ||
	    stat(dir, &st) < 0)
		return NULL;
	for (i = 0; i < nsets && !s; i++)
		if (strcmp(sets[i].dir, dir) == 0)
			s = &sets[i];
	if (s && s->mtime.tv_sec == st.st_mtim.tv_sec && s->mtime.tv_nsec == st.st_mtim.tv_nsec)
		return s;
	if (!s) {
		if (nsets == MAX_SETS)
			return NULL;
		s = &sets[nsets];
		memset(s, 0, sizeof(*s));
		if ((s->dir = strdup(dir)) == NULL)
			return NULL;
		nsets++;
	}
	set_drop(s);
	s->mtime = st.st_mtim;
	if ((d = opendir(dir)) == NULL)
		return s;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		pack_ix *v;

		if (l < 10 || strncmp(e->d_name, "pack-", 5) != 0 || strcmp(e->d_name + l - 4, ".idx") != 0)
			continue;
		if ((v = realloc(s->v, (s->n + 1) * sizeof(*v))) == NULL)
			break;
		s->v = v;
		if (pack_open(&s->v[s->n], dir, e->d_name))
			s->n++;
	}
	closedir(d);
	return s;
}

/* The first read of a packed entry: its header and, for most files (the
 * small ones), all of its bytes. */
#define FIRST_READ ((ssize_t)16384)

/* Where ID is in S: its pack and offset; false: in none of them. */
static bool find(const pack_set *s, const git_oid *id, const pack_ix **pk, uint64_t *off)
{
	size_t k;

	for (k = 0; k < s->n; k++) {
		const pack_ix *p = &s->v[k];
		const unsigned char *fan = p->idx + 8, *ids = fan + 1024;
		uint32_t lo = id->id[0] ? be32(fan + (id->id[0] - 1) * 4) : 0, hi = be32(fan + id->id[0] * 4);
		uint32_t o;

		if (hi > p->n || lo > hi)
			continue;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			int c = memcmp(ids + (size_t)mid * 20, id->id, 20);

			if (c == 0) {
				o = be32(ids + (size_t)p->n * 24 + (size_t)mid * 4);
				if (o & 0x80000000u) {
					size_t at = 8 + 1024 + (size_t)p->n * 28 + (size_t)(o & 0x7fffffffu) * 8;

					if (at + 8 + 40 > p->idx_len)
						return false;
					*off = (uint64_t)be32(p->idx + at) << 32 | be32(p->idx + at + 4);
				} else {
					*off = o;
				}
				*pk = p;
				return true;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return false;
}

int dsync_packed_read(const char *gitdir, const git_oid *id, git_object_t type, size_t max, void **data,
		      size_t *len)
{
	const pack_ix *p = NULL;
	pack_set *s;
	unsigned char *head = NULL, *in = NULL, *out = NULL;
	struct libdeflate_decompressor *d = NULL;
	uint64_t off = 0, size = 0;
	size_t hl = 1, want, got = 0, avail;
	ssize_t n = 0, got_in = 0;
	unsigned shift = 4;
	bool ok;

	*data = NULL;
	*len = 0;
	/* the packs are read under the lock (a copy from the page cache): a
	 * pack folder that changed closes them.  The first read takes the
	 * entry's header and FIRST_READ bytes: most files (small ones) are
	 * whole in it, and need no second read */
	pthread_mutex_lock(&sets_lock);
	ok = (s = set_of(gitdir)) != NULL && find(s, id, &p, &off) && (head = malloc(FIRST_READ)) != NULL &&
	     (n = pread(p->fd, head, FIRST_READ, (off_t)off)) >= 2 && ((head[0] >> 4) & 7) == (int)type;
	if (ok) {
		size = head[0] & 15;
		while (ok && (head[hl - 1] & 0x80)) {
			ok = hl < (size_t)n && shift <= 57;
			if (ok)
				size |= (uint64_t)(head[hl++] & 0x7f) << shift;
			shift += 7;
		}
	}
	/* as the indexer: dsync's streams are at most this much larger */
	want = (size_t)size + (size_t)size / 8 + 64;
	ok = ok && size <= max;
	avail = ok ? (size_t)n - hl : 0;
	if (ok && (avail >= want || n < FIRST_READ)) {
		/* all of it read already (or all the pack holds) */
		in = head;
		head = NULL;
		memmove(in, in + hl, avail);
		got_in = (ssize_t)(avail < want ? avail : want);
	} else if (ok) {
		/* the rest after what the first read brought */
		ok = (in = malloc(want)) != NULL;
		if (ok) {
			memcpy(in, head + hl, avail);
			n = pread(p->fd, in + avail, want - avail, (off_t)(off + hl + avail));
			got_in = (ssize_t)avail + (n > 0 ? n : 0);
			ok = n >= 0 && got_in > 0;
		}
	}
	pthread_mutex_unlock(&sets_lock);
	free(head);
	ok = ok && got_in > 0;
	if (!ok || (out = malloc((size_t)size + 1)) == NULL || (d = libdeflate_alloc_decompressor()) == NULL ||
	    libdeflate_zlib_decompress_ex(d, in, (size_t)got_in, out, (size_t)size, NULL, &got) != LIBDEFLATE_SUCCESS ||
	    got != size || !object_is(id, git_object_type2string(type), out, got)) {
		libdeflate_free_decompressor(d);
		free(in);
		free(out);
		return 1;
	}
	libdeflate_free_decompressor(d);
	free(in);
	*data = out;
	*len = got;
	return 0;
}

int dsync_blobread_get(dsync_blobread *r, git_repository *repo, const git_oid *id)
{
	size_t i, n;
	int err;

	memset(r, 0, sizeof(*r));
	/* a larger blob through the backends (memory stays bounded: two
	 * writing threads hold one each) */
	if (dsync_packed_read(git_repository_path(repo), id, GIT_OBJECT_BLOB, 4u << 20, &r->data, &r->len) == 0)
		return 0;
	if ((err = git_repository_odb(&r->odb, repo)) < 0)
		return dsync_error_git(err, "cannot open the history");
	n = git_odb_num_backends(r->odb);
	for (i = 0; i < n; i++) {
		git_odb_backend *b = NULL;
		git_object_t type = GIT_OBJECT_INVALID;
		void *data = NULL;
		size_t len = 0;

		if (git_odb_get_backend(&b, r->odb, i) < 0 || !b->read)
			continue;
		err = b->read(&data, &len, &type, b, id);
		if (err == GIT_ENOTFOUND || err == GIT_PASSTHROUGH)
			continue;
		if (err < 0)
			break;
		if (type != GIT_OBJECT_BLOB || !object_is(id, "blob", data, len)) {
			git_odb_backend_data_free(b, data);
			break;
		}
		r->b = b;
		r->data = data;
		r->len = len;
		return 0;
	}
	git_error_clear();
	return 1;
}

void dsync_blobread_free(dsync_blobread *r)
{
	if (r->data && r->b)
		git_odb_backend_data_free(r->b, r->data);
	else
		free(r->data);
	git_odb_free(r->odb);
	memset(r, 0, sizeof(*r));
}
