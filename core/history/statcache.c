/*
 * The stat cache: a read-only view of git's index file (see statcache.h).
 * Format: Documentation/gitformat-index.txt in git.
 */
#include "core/base/internal.h"
#include "core/history/statcache.h"
#include "core/base/buf.h"
#include "core/base/file.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENTRY_FIXED 62          /* bytes before the path (v2) */
#define FLAG_EXTENDED 0x4000
#define FLAG_STAGE 0x3000
#define NAME_MASK 0x0fff

static uint32_t be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static uint16_t be16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return ntohs(v);
}

static int corrupt(const char *path)
{
	return dsync_error_set(DSYNC_ECORRUPT,
		"the index '%s' is damaged; delete it and run 'dsync snapshot' to rebuild it", path);
}

/* Reads the root tree of the TREE extension at P (LEN bytes). */
static void read_tree_ext(statcache *c, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	long count;
	char num[32];
	size_t i = 0;

	/* the root entry has an empty path */
	if (len < 1 || p[0] != '\0')
		return;
	p++;
	while (p < end && *p != ' ' && i + 1 < sizeof(num))
		num[i++] = (char)*p++;
	num[i] = '\0';
	if (p >= end || *p != ' ')
		return;
	count = strtol(num, NULL, 10);
	while (p < end && *p != '\n')
		p++;
	if (p >= end || count < 0 || (size_t)(end - p) < 1 + GIT_OID_RAWSZ)
		return;
	git_oid_fromraw(&c->tree, p + 1);
	c->has_tree = true;
}

int statcache_load(statcache *out, const char *path)
{
	const unsigned char *p, *end;
	uint32_t version, count, i;
	struct stat st;
	int fd, error = 0;

	memset(out, 0, sizeof(*out));
	/* without blocking, a regular file only (a FIFO would hold the
	 * snapshot, and the watcher, until a writer came) */
	if ((error = dsync_file_open(&fd, path, DSYNC_FILE_NOFOLLOW, &st)) < 0) {
		return error == DSYNC_ENOTFOUND ? 0 : error;
	}
	out->has_mtime = true;
	out->mtime = st.st_mtim;
	if (st.st_size < 12 + GIT_OID_RAWSZ) {
		close(fd);
		return st.st_size == 0 ? 0 : corrupt(path);
	}
	out->map_len = (size_t)st.st_size;
	out->map = mmap(NULL, out->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (out->map == MAP_FAILED) {
		out->map = NULL;
		return dsync_error_sys(errno, "cannot read the index '%s'", path);
	}
	p = out->map;
	end = p + out->map_len - GIT_OID_RAWSZ;
	version = be32(p + 4);
	count = be32(p + 8);
	if (memcmp(p, "DIRC", 4) != 0) {
		error = corrupt(path);
		goto out;
	}
	if (version != 2 && version != 3)
		goto unknown;
	if (count > (out->map_len / ENTRY_FIXED) ||
	    (out->v = calloc(count ? count : 1, sizeof(*out->v))) == NULL) {
		error = count > out->map_len / ENTRY_FIXED ? corrupt(path)
			: dsync_error_oom();
		goto out;
	}
	p += 12;
	for (i = 0; i < count; i++) {
		statcache_entry *e = &out->v[out->n];
		size_t fixed = ENTRY_FIXED, namelen, size;
		uint16_t flags;
		const unsigned char *nul;

		if ((size_t)(end - p) < ENTRY_FIXED + 1) {
			error = corrupt(path);
			goto out;
		}
		flags = be16(p + 60);
		if (flags & FLAG_EXTENDED) {
			if (version < 3)
				goto unknown;
			fixed += 2;
		}
		nul = memchr(p + fixed, '\0', (size_t)(end - p) - fixed);
		if (!nul) {
			error = corrupt(path);
			goto out;
		}
		namelen = (size_t)(nul - (p + fixed));
		if ((flags & NAME_MASK) != NAME_MASK && namelen != (flags & NAME_MASK)) {
			error = corrupt(path);
			goto out;
		}
		size = (fixed + namelen + 8) & ~(size_t)7;
		if ((size_t)(end - p) < size) {
			error = corrupt(path);
			goto out;
		}
		if ((flags & FLAG_STAGE) == 0) {
			e->ctime_s = be32(p);
			e->ctime_ns = be32(p + 4);
			e->mtime_s = be32(p + 8);
			e->mtime_ns = be32(p + 12);
			e->dev = be32(p + 16);
			e->ino = be32(p + 20);
			e->mode = be32(p + 24);
			e->uid = be32(p + 28);
			e->gid = be32(p + 32);
			e->size = be32(p + 36);
			git_oid_fromraw(&e->id, p + 40);
			e->path = (const char *)(p + fixed);
			out->n++;
		}
		p += size;
	}
	/* extensions */
	while ((size_t)(end - p) >= 8) {
		uint32_t len = be32(p + 4);

		if (len > (size_t)(end - p) - 8)
			break;
		if (memcmp(p, "TREE", 4) == 0)
			read_tree_ext(out, p + 8, len);
		p += 8 + len;
	}
	error = 0;
	goto out;
unknown:
	/* a format this reader does not handle: no cache, read everything */
	statcache_dispose(out);
	out->has_mtime = false;
	return 0;
out:
	if (error < 0)
		statcache_dispose(out);
	return error;
}

size_t statcache_lower_bound(const statcache *c, const char *prefix)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->v[mid].path, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const statcache_entry *statcache_find(const statcache *c, const char *path)
{
	size_t pos = statcache_lower_bound(c, path);

	return pos < c->n && strcmp(c->v[pos].path, path) == 0 ? &c->v[pos] : NULL;
}

bool statcache_forget(statcache *c, const char *path)
{
	size_t pos = statcache_lower_bound(c, path);

	if (pos >= c->n || strcmp(c->v[pos].path, path) != 0 || c->v[pos].stale)
		return false;
	c->v[pos].stale = true;
	return true;
}

void statcache_dispose(statcache *c)
{
	if (c->map)
		munmap(c->map, c->map_len);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

int statcache_load_folder(statcache *out, const dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if ((error = dsync_buf_printf(&path, "%s/index", f->gitdir)) == 0)
		error = statcache_load(out, path.ptr);
	dsync_buf_dispose(&path);
	return error;
}
