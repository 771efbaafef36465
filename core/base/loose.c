/*
 * Loose objects written by dsync itself (loose.h).
 */
#include "core/base/internal.h"
#include "core/base/loose.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/sha1.h"
#include "core/base/zcomp.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Hashes DATA again with SHA-1DC: 0 when it is ID (and no collision attack). */
static int recheck(const git_oid *id, git_object_t type, const void *data, size_t len)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid dc;

	git_oid_tostr(hex, sizeof(hex), id);
	if (git_odb_hash(&dc, data, len, type) < 0)
		return dsync_error_set(DSYNC_ECORRUPT, "object %s: %s", hex,
				       git_error_last() ? git_error_last()->message : "cannot hash it");
	if (!git_oid_equal(&dc, id))
		return dsync_error_set(DSYNC_ECORRUPT, "object %s: SHA-1DC gives its bytes another id", hex);
	return 0;
}

/* Opens a new temporary file in DIR into *FD, its path in TMP. */
static int open_temp(int *fd, dsync_buf *tmp, const char *dir)
{
	static unsigned counter;
	int tries;

	for (tries = 0; tries < 100; tries++) {
		unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);

		dsync_buf_truncate(tmp, 0);
		if (dsync_buf_printf(tmp, "%s/" DSYNC_LOOSE_TEMP "%ld_%u", dir, (long)getpid(), n) < 0)
			return dsync_error_oom();
		if ((*fd = open(tmp->ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444)) >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	return dsync_error_sys(errno, "cannot write an object in '%s'", dir);
}

/* Renames TMP to PATH, making its fan-out folder DIR when missing. */
static int put_in_place(const char *tmp, const char *path, const char *dir)
{
	if (rename(tmp, path) == 0)
		return 0;
	if (errno != ENOENT || (mkdir(dir, 0777) < 0 && errno != EEXIST) || rename(tmp, path) < 0)
		return -1;
	return 0;
}

/* Whether the loose file of ID in GITDIR is there and a wreck (not its
 * object whole): a snapshot took such a file for the object. */
static bool wreck_at(const char *gitdir, const git_oid *id)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	struct stat st;
	bool wreck = false;

	git_oid_tostr(hex, sizeof(hex), id);
	if (dsync_buf_printf(&path, "%s/objects/%.2s/%s", gitdir, hex, hex + 2) == 0 && lstat(path.ptr, &st) == 0)
		wreck = !S_ISREG(st.st_mode) || dsync_loose_check(path.ptr, id) == DSYNC_ECORRUPT;
	dsync_error_clear();
	dsync_buf_dispose(&path);
	return wreck;
}

int dsync_loose_write(git_oid *out, git_odb *odb, const char *gitdir, git_object_t type, const void *data,
		      size_t len)
{
	const char *name = git_object_type2string(type);
	dsync_buf dir = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT, path = DSYNC_BUF_INIT;
	unsigned char *raw = NULL, *z = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	dsync_zcomp *zc;
	size_t hl, zlen;
	bool made = false;
	int fd = -1, error;

	if (len > ((size_t)1 << 30))
		return dsync_error_set(DSYNC_EUSAGE, "cannot write a loose object of %zu bytes", len);
	dsync_sha1_object(out->id, name, data, len);
	if (git_odb_exists_ext(odb, out, GIT_ODB_LOOKUP_NO_REFRESH) &&
	    ((error = recheck(out, type, data, len)) < 0 || !wreck_at(gitdir, out)))
		return error;
	/* not held, or held as a wreck (a disk's fault, a power cut's left
	 * since a flush): written anew, over it */
	/* one zlib stream of the header and the bytes */
	if ((raw = malloc(len + 32)) == NULL || (zc = dsync_zcomp_thread()) == NULL ||
	    (z = malloc(dsync_zcomp_bound(len + 32))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	hl = (size_t)snprintf((char *)raw, 32, "%s %zu", name, len) + 1;
	memcpy(raw + hl, data, len);
	zlen = dsync_zcomp_write(zc, dsync_zcomp_choose(zc, raw + hl, len, false), z, raw, hl + len);
	git_oid_tostr(hex, sizeof(hex), out);
	if ((error = dsync_buf_printf(&dir, "%s/objects", gitdir)) < 0 || (error = open_temp(&fd, &tmp, dir.ptr)) < 0)
		goto out;
	made = true;
	if ((error = dsync_buf_printf(&dir, "/%.2s", hex)) < 0 ||
	    (error = dsync_buf_printf(&path, "%s/%s", dir.ptr, hex + 2)) < 0)
		goto out;
	if (dsync_file_write_all(fd, z, zlen) < 0) {
		error = dsync_error_sys(errno, "cannot write the object %s", hex);
		goto out;
	}
	error = close(fd);
	fd = -1;
	if (error < 0) {
		error = dsync_error_sys(errno, "cannot write the object %s", hex);
		goto out;
	}
	if (put_in_place(tmp.ptr, path.ptr, dir.ptr) < 0) {
		error = dsync_error_sys(errno, "cannot write the object %s", hex);
		goto out;
	}
	made = false;
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp.ptr);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&tmp);
	dsync_buf_dispose(&path);
	free(raw);
	free(z);
	return error;
}

/* Parses a loose object's header "TYPE SIZE\0" in the LEN bytes at H: its
 * length (the NUL included), or 0 when it is none (yet). */
static size_t parse_header(const unsigned char *h, size_t len, uint64_t *size)
{
	const unsigned char *nul = memchr(h, '\0', len), *p;
	size_t tlen;

	if (nul == NULL || (p = memchr(h, ' ', (size_t)(nul - h))) == NULL)
		return 0;
	tlen = (size_t)(p - h);
	if (!((tlen == 4 && (memcmp(h, "blob", 4) == 0 || memcmp(h, "tree", 4) == 0)) ||
	      (tlen == 6 && memcmp(h, "commit", 6) == 0) || (tlen == 3 && memcmp(h, "tag", 3) == 0)))
		return 0;
	if (++p == nul)
		return 0;
	for (*size = 0; p < nul; p++) {
		if (*p < '0' || *p > '9' || *size > (UINT64_MAX >> 4))
			return 0;
		*size = *size * 10 + (uint64_t)(*p - '0');
	}
	return (size_t)(nul - h) + 1;
}

/* What the inflated stream of a loose file is checked against as it goes. */
typedef struct lcheck {
	dsync_sha1 sha;
	unsigned char head[64];
	size_t hlen;             /* the header's length, once parsed; 0 before */
	size_t have;             /* bytes of HEAD filled so far */
	uint64_t size;           /* the object's size the header gives */
	uint64_t total;          /* bytes inflated */
	bool bad;
} lcheck;

static void lcheck_feed(lcheck *c, const unsigned char *p, size_t n)
{
	dsync_sha1_update(&c->sha, p, n);
	c->total += n;
	if (c->hlen == 0 && !c->bad) {
		size_t k = n < sizeof(c->head) - c->have ? n : sizeof(c->head) - c->have;

		memcpy(c->head + c->have, p, k);
		c->have += k;
		if ((c->hlen = parse_header(c->head, c->have, &c->size)) == 0 &&
		    (c->have == sizeof(c->head) || memchr(c->head, '\0', c->have)))
			c->bad = true;   /* no header in its first 64 bytes, or a bad one */
	}
}

int dsync_loose_check(const char *path, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	unsigned char in[65536], out[65536], sum[20];
	lcheck c;
	z_stream s;
	bool ended = false;
	int fd, zerr = Z_OK, error;

	git_oid_tostr(hex, sizeof(hex), id);
	if ((error = dsync_file_open(&fd, path, 0, NULL)) < 0)
		return error == DSYNC_ENOTFOUND ? dsync_error_set(error, "object %s: no file", hex) : error;
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	dsync_sha1_init(&c.sha);
	if (inflateInit(&s) != Z_OK) {
		close(fd);
		return dsync_error_oom();
	}
	/* all of it streamed through 64 KiB: no size is too big to check */
	while (!ended && !c.bad) {
		ssize_t n = read(fd, in, sizeof(in));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = dsync_error_sys(errno, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;   /* the end of the file before the stream's */
		s.next_in = in;
		s.avail_in = (uInt)n;
		do {
			s.next_out = out;
			s.avail_out = sizeof(out);
			zerr = inflate(&s, Z_NO_FLUSH);
			if (zerr == Z_MEM_ERROR) {
				error = dsync_error_oom();
				break;
			}
			if (zerr != Z_OK && zerr != Z_STREAM_END && zerr != Z_BUF_ERROR) {
				c.bad = true;
				break;
			}
			lcheck_feed(&c, out, sizeof(out) - s.avail_out);
			if (zerr == Z_STREAM_END) {
				ended = true;
				c.bad |= s.avail_in > 0;   /* bytes after the stream */
			}
		} while (!ended && !c.bad && s.avail_out == 0);
		if (error < 0)
			break;
	}
	if (error == 0 && ended && !c.bad) {
		ssize_t n;

		while ((n = read(fd, in, 1)) < 0 && errno == EINTR)
			;
		c.bad = n != 0;
	}
	inflateEnd(&s);
	close(fd);
	if (error < 0)
		return error;
	dsync_sha1_final(&c.sha, sum);
	if (!ended || c.bad || c.hlen == 0 || c.total - c.hlen != c.size || memcmp(sum, id->id, 20) != 0)
		return dsync_error_set(DSYNC_ECORRUPT, "object %s: its loose file '%s' is cut short or damaged", hex,
				       path);
	return 0;
}

/* Moves the damaged loose file PATH of ID to OBJECTS/damaged/. */
static bool move_aside(const char *objects, const char *path, const git_oid *id)
{
	dsync_buf to = DSYNC_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	bool moved = false;

	struct stat st;

	/* only into a folder of the store's own: not through a link */
	if (dsync_buf_printf(&to, "%s/damaged", objects) == 0 && (mkdir(to.ptr, 0777) == 0 || errno == EEXIST) &&
	    lstat(to.ptr, &st) == 0 && S_ISDIR(st.st_mode) &&
	    dsync_buf_printf(&to, "/%s", git_oid_tostr(hex, sizeof(hex), id)) == 0)
		moved = rename(path, to.ptr) == 0;
	dsync_buf_dispose(&to);
	return moved;
}

int dsync_loose_each(const char *gitdir, int64_t since, dsync_loose_cb cb, void *payload)
{
	dsync_buf dir = DSYNC_BUF_INIT, path = DSYNC_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	int i, error = 0;

	for (i = 0; error == 0 && i < 256; i++) {
		struct stat st;
		struct dirent *e;
		DIR *d;

		dsync_buf_truncate(&dir, 0);
		if (dsync_buf_printf(&dir, "%s/objects/%02x", gitdir, i) < 0) {
			error = dsync_error_oom();
			break;
		}
		/* a file made or renamed into the folder changes the folder */
		if ((since > 0 && (stat(dir.ptr, &st) < 0 || (int64_t)st.st_mtime < since)) ||
		    (d = opendir(dir.ptr)) == NULL)
			continue;
		while (error == 0 && (e = readdir(d)) != NULL) {
			git_oid id;

			if (strlen(e->d_name) != GIT_OID_HEXSZ - 2)
				continue;
			snprintf(hex, 3, "%02x", i);
			memcpy(hex + 2, e->d_name, GIT_OID_HEXSZ - 2);
			hex[GIT_OID_HEXSZ] = '\0';
			if (git_oid_fromstr(&id, hex) < 0)
				continue;
			dsync_buf_truncate(&path, 0);
			if (dsync_buf_printf(&path, "%s/%s", dir.ptr, e->d_name) < 0)
				error = dsync_error_oom();
			else if (since <= 0 || (lstat(path.ptr, &st) == 0 && (int64_t)st.st_mtime >= since))
				error = cb(&id, path.ptr, payload);
		}
		closedir(d);
	}
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&path);
	return error;
}

typedef struct sweep {
	const char *gitdir;
	size_t moved, stuck;
} sweep;

static int sweep_cb(const git_oid *id, const char *path, void *payload)
{
	sweep *sw = payload;
	dsync_buf objects = DSYNC_BUF_INIT;
	struct stat st;
	int got = lstat(path, &st) == 0 && !S_ISREG(st.st_mode) ? DSYNC_ECORRUPT : dsync_loose_check(path, id);

	/* one that can't be read now (memory, I/O) stays */
	if (got == DSYNC_ECORRUPT) {
		if ((dsync_buf_printf(&objects, "%s/objects", sw->gitdir) == 0 && move_aside(objects.ptr, path, id)) ||
		    unlink(path) == 0)
			sw->moved++;
		else
			sw->stuck++;
	}
	dsync_error_clear();
	dsync_buf_dispose(&objects);
	return 0;
}

int dsync_loose_sweep(const char *gitdir, int64_t since, size_t *moved, size_t *stuck)
{
	sweep sw = { gitdir, 0, 0 };
	int error = dsync_loose_each(gitdir, since, sweep_cb, &sw);

	*moved = sw.moved;
	if (stuck)
		*stuck = sw.stuck;
	return error;
}
