/*
 * The file:// blob store: blobs are files under a folder (a USB disk, a
 * mounted share, another folder on this machine).  A put writes a hidden
 * temporary file beside the blob, flushes it, renames it over the name and
 * flushes the folder, so a reader sees the old blob or the whole new one.
 */
#include "core/base/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/base/path.h"
#include "transport/blobstore.h"
#include "transport/file.h"

typedef struct file_store {
	dsync_blobstore base;
	char *root;
	int slow_ms;   /* DSYNC_TEST_SLOW: a pause per 64 KiB and before renames */
	bool swept;    /* swept of stale temporary files already */
} file_store;

#define STALE_TEMP_SECONDS 3600  /* a put's temporary file older than this was killed */
#define SWEEP_DEPTH 2            /* the deepest blobs: devices/ID/SEQ */

#define COPY_BLOCK (64 * 1024)

static void test_pause(const file_store *s)
{
	if (s->slow_ms > 0) {
		struct timespec ts = { s->slow_ms / 1000, (long)(s->slow_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/*
 * Opens the folder that holds blob NAME, one component at a time without
 * following links (a link planted in the store can't redirect a write), made
 * when CREATE; *BASE points at NAME's last component.  Returns the folder's
 * descriptor, or a negative DSYNC_E* code (DSYNC_ENOTFOUND: not there).
 */
static int open_parent(const file_store *s, const char *name, bool create, const char **base)
{
	const char *p = name, *slash;
	int fd, next, error;

	if ((error = dsync_blobstore_check_name(name)) < 0)
		return error;
	if ((fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? dsync_error_set(DSYNC_ENOTFOUND, "no store at '%s' (is the disk mounted?)", s->root)
				       : dsync_error_sys(errno, "cannot open the store at '%s'", s->root);
	while ((slash = strchr(p, '/')) != NULL) {
		char comp[256];
		size_t len = (size_t)(slash - p);

		if (len >= sizeof(comp)) {
			close(fd);
			return dsync_error_set(DSYNC_EUSAGE, "bad blob name '%s'", name);
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create && mkdirat(fd, comp, 0755) == 0)
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int e = errno;

			close(fd);
			if (e == ENOENT)
				return dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name);
			if (e == ELOOP || e == ENOTDIR)
				return dsync_error_set(DSYNC_ECORRUPT, "%s: '%s' in the store at %s is not a folder (a link?)",
						       name, comp, s->root);
			return dsync_error_sys(e, "cannot open '%s' in the store at %s", comp, s->root);
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = p;
	return fd;
}

/* Copies IN (from its offset) to OUT until IN's end. */
static int copy_fd(const file_store *s, int in, int out, const char *what, uint64_t limit, dsync_blobstore_xfer_cb xfer,
		   void *payload)
{
	unsigned char *block = malloc(COPY_BLOCK);
	uint64_t total = 0;
	int error = 0;

	if (!block)
		return dsync_error_oom();
	for (;;) {
		ssize_t n = read(in, block, COPY_BLOCK), off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = dsync_error_sys(errno, "cannot read '%s'", what);
			break;
		}
		if (n == 0)
			break;
		while (off < n) {
			ssize_t w = write(out, block + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				error = dsync_error_sys(errno, "cannot write '%s'", what);
				goto out;
			}
			off += w;
		}
		total += (uint64_t)n;
		if (limit && total >= limit) {
			error = dsync_error_set(DSYNC_ECORRUPT, "%s grew past its size while it was read", what);
			break;
		}
		if (xfer)
			xfer(total, payload);
		test_pause(s);
	}
out:
	free(block);
	return error;
}

/* Removes from the folder DIR the temporary files of puts killed long ago
 * (a put in progress is never that old), and with DEPTH > 0 from the folders
 * below it too, never following a link. */
static void sweep_dir(int dir, int depth, time_t now)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if ((fd = dup(dir)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		int sub;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth > 0 && e->d_name[0] != '.') {
			if ((sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
				sweep_dir(sub, depth - 1, now);
				close(sub);
			}
		} else if (S_ISREG(st.st_mode) && e->d_name[0] == '.' && strstr(e->d_name, ".tmp-") != NULL &&
			   now - st.st_mtime > STALE_TEMP_SECONDS) {
			unlinkat(dirfd(d), e->d_name, 0);
		}
	}
	closedir(d);
}

/* Once per handle, at its first put: sweeps the whole store of the
 * temporary files of puts killed long ago, wherever they were (dsync-store,
 * keys/, packs/, devices/ID/), so that one left where no put goes again (a
 * killed passphrase change in keys/, a device that stopped) doesn't stay
 * forever. */
static void sweep_stale(file_store *s)
{
	int root;

	if (s->swept)
		return;
	s->swept = true;
	if ((root = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	sweep_dir(root, SWEEP_DEPTH, time(NULL));
	close(root);
}

/* Opens blob NAME for reading into *IN: not through a link, a regular
 * file, at most MAX bytes (0: any). */
static int open_blob(file_store *s, const char *name, uint64_t max, int *in)
{
	const char *base;
	struct stat st;
	int dir, error = 0;

	*in = -1;
	if ((dir = open_parent(s, name, false, &base)) < 0)
		return dir;
	/* not through a link, and never blocking on a FIFO planted there */
	if ((*in = openat(dir, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0) {
		error = errno == ENOENT ? dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name)
		      : errno == ELOOP ? dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is a link, not a blob", name,
						       s->root)
				       : dsync_error_sys(errno, "cannot read %s in the store at %s", name, s->root);
		goto out;
	}
	if (fstat(*in, &st) < 0) {
		error = dsync_error_sys(errno, "cannot read %s", name);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is not a file", name, s->root);
		goto out;
	}
	if (max && (uint64_t)st.st_size > max)
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is larger than it may be (%llu bytes)", name,
					s->root, (unsigned long long)st.st_size);
out:
	if (error < 0 && *in >= 0) {
		close(*in);
		*in = -1;
	}
	close(dir);
	return error;
}

static int file_get(dsync_blobstore *bs, const char *name, int fd, uint64_t max, dsync_blobstore_xfer_cb xfer,
		    void *payload)
{
	file_store *s = (file_store *)bs;
	int in, error;

	if ((error = open_blob(s, name, max, &in)) < 0)
		return error;
	error = copy_fd(s, in, fd, name, max ? max + 1 : 0, xfer, payload);
	close(in);
	return error;
}

static int file_open(dsync_blobstore *bs, const char *name, uint64_t max)
{
	file_store *s = (file_store *)bs;
	int in, error;

	/* a test's slow store is slow in get()'s copy: it is always taken */
	if (s->slow_ms > 0)
		return dsync_error_set(DSYNC_ERROR, "a slow store is copied");
	if ((error = open_blob(s, name, max, &in)) < 0)
		return error;
	/* the O_NONBLOCK was for the open only */
	if (fcntl(in, F_SETFL, 0) < 0) {
		error = dsync_error_sys(errno, "cannot read %s", name);
		close(in);
		return error;
	}
	return in;
}

static int file_put(dsync_blobstore *bs, const char *name, int fd, dsync_blobstore_xfer_cb xfer, void *payload)
{
	file_store *s = (file_store *)bs;
	char tmp[300];
	const char *base;
	int dir, out = -1, error = 0;

	if ((dir = open_parent(s, name, true, &base)) < 0)
		return dir;
	snprintf(tmp, sizeof(tmp), ".%s.tmp-%08x", base, randombytes_random());
	if ((out = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0) {
		error = dsync_error_sys(errno, "cannot write to the store at %s", s->root);
		goto out;
	}
	if ((error = copy_fd(s, fd, out, name, 0, xfer, payload)) < 0)
		goto out;
	if (fsync(out) < 0) {
		error = dsync_error_sys(errno, "cannot flush %s in the store at %s", name, s->root);
		goto out;
	}
	close(out);
	out = -1;
	test_pause(s);
	if (renameat(dir, tmp, dir, base) < 0) {
		error = dsync_error_sys(errno, "cannot store %s", name);
		goto out;
	}
	tmp[0] = '\0';
	if (fsync(dir) < 0) {
		error = dsync_error_sys(errno, "cannot flush the store at %s", s->root);
		goto out;
	}
	sweep_stale(s);
out:
	if (out >= 0)
		close(out);
	if (error < 0 && tmp[0])
		unlinkat(dir, tmp, 0);
	close(dir);
	return error;
}

static int file_del(dsync_blobstore *bs, const char *name)
{
	file_store *s = (file_store *)bs;
	const char *base;
	int dir, error = 0;

	if ((dir = open_parent(s, name, false, &base)) < 0)
		return dir == DSYNC_ENOTFOUND ? 0 : dir;
	if (unlinkat(dir, base, 0) < 0 && errno != ENOENT)
		error = dsync_error_sys(errno, "cannot remove %s from the store", name);
	close(dir);
	return error;
}

static int file_stat(dsync_blobstore *bs, const char *name, dsync_blobstore_info *info)
{
	file_store *s = (file_store *)bs;
	const char *base;
	struct stat st;
	int dir, error = 0;

	if ((dir = open_parent(s, name, false, &base)) < 0)
		return dir;
	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		error = errno == ENOENT ? dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name)
					: dsync_error_sys(errno, "cannot read %s", name);
	} else if (!S_ISREG(st.st_mode)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is not a file", name, s->root);
	} else {
		info->size = (uint64_t)st.st_size;
		info->mtime = st.st_mtime;
	}
	close(dir);
	return error;
}

typedef struct lister {
	const char *prefix;
	size_t rootlen;
	dsync_blobstore_list_cb cb;
	void *payload;
} lister;

static int list_dir(lister *l, dsync_buf *dir)
{
	DIR *d = opendir(dir->ptr);
	struct dirent *e;
	size_t len = dir->len;
	int error = 0;

	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : dsync_error_sys(errno, "cannot list '%s'", dir->ptr);
	while (error == 0 && (e = readdir(d)) != NULL) {
		struct stat st;
		const char *rel;

		if (e->d_name[0] == '.')
			continue;   /* ".", "..", and puts in progress */
		dsync_buf_truncate(dir, len);
		if ((error = dsync_buf_printf(dir, "/%s", e->d_name)) < 0)
			break;
		if (lstat(dir->ptr, &st) < 0)
			continue;
		rel = dir->ptr + l->rootlen + 1;
		if (S_ISDIR(st.st_mode)) {
			/* only where the prefix can still match */
			size_t rl = strlen(rel), pl = strlen(l->prefix);

			if (strncmp(rel, l->prefix, rl < pl ? rl : pl) == 0)
				error = list_dir(l, dir);
		} else if (S_ISREG(st.st_mode) && strncmp(rel, l->prefix, strlen(l->prefix)) == 0) {
			dsync_blobstore_info info = { (uint64_t)st.st_size, st.st_mtime };

			error = l->cb(rel, &info, l->payload);
		}
	}
	closedir(d);
	dsync_buf_truncate(dir, len);
	return error;
}

static int file_list(dsync_blobstore *bs, const char *prefix, dsync_blobstore_list_cb cb, void *payload)
{
	file_store *s = (file_store *)bs;
	dsync_buf dir = DSYNC_BUF_INIT;
	lister l = { prefix, strlen(s->root), cb, payload };
	int error;

	if ((error = dsync_buf_puts(&dir, s->root)) == 0)
		error = list_dir(&l, &dir);
	dsync_buf_dispose(&dir);
	return error;
}

static int file_is_empty(dsync_blobstore *bs, bool *empty)
{
	file_store *s = (file_store *)bs;
	DIR *d = opendir(s->root);
	struct dirent *e;

	*empty = true;
	if (!d)
		return errno == ENOENT ? 0 : dsync_error_sys(errno, "cannot read '%s'", s->root);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			*empty = false;
	closedir(d);
	if (*empty)
		return 0;
	/* a folder holding only (hidden) leftovers of an interrupted create
	 * counts as empty too */
	return dsync_blobstore_lists_nothing(bs, empty);
}

static void file_free(dsync_blobstore *bs)
{
	file_store *s = (file_store *)bs;

	free(s->root);
	free(s->base.url);
	free(s);
}

int dsync_blobstore_file_open(dsync_blobstore **out, const char *path, bool create)
{
	file_store *s;
	dsync_buf abs = DSYNC_BUF_INIT;
	struct stat st;
#ifdef DSYNC_TESTING
	const char *slow = getenv("DSYNC_TEST_SLOW"); /* test builds only */
#else
	const char *slow = NULL;
#endif
	char cwd[4096], q[DSYNC_QUOTE_SIZE];
	int error;

	*out = NULL;
	if (!*path)
		return dsync_error_set(DSYNC_EUSAGE, "empty store path");
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return dsync_error_sys(errno, "cannot read the current folder");
		error = dsync_buf_printf(&abs, "%s/%s", cwd, path);
	} else {
		error = dsync_buf_puts(&abs, path);
	}
	if (error < 0)
		goto fail;
	dsync_path_normalize(abs.ptr);
	abs.len = strlen(abs.ptr);
	while (abs.len > 1 && abs.ptr[abs.len - 1] == '/')
		abs.ptr[--abs.len] = '\0';
	if (stat(abs.ptr, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			error = dsync_error_set(DSYNC_ENOTDIR, "'%s' is not a folder", dsync_quote(q, abs.ptr));
			goto fail;
		}
	} else if (errno != ENOENT) {
		error = dsync_error_sys(errno, "cannot reach '%s'", dsync_quote(q, abs.ptr));
		goto fail;
	} else if (create && (error = dsync_path_mkdirs(abs.ptr)) < 0) {
		goto fail;
	} else if (!create) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "no store at '%s' (is the disk mounted?)", dsync_quote(q, abs.ptr));
		goto fail;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		error = dsync_error_oom();
		goto fail;
	}
	s->root = dsync_buf_detach(&abs);
	s->slow_ms = slow ? atoi(slow) : 0;
	if (!s->root || dsync_buf_printf(&abs, "file://%s", s->root) < 0) {
		free(s->root);
		free(s);
		error = dsync_error_oom();
		goto fail;
	}
	s->base.url = dsync_buf_detach(&abs);
	s->base.list = file_list;
	s->base.get = file_get;
	s->base.open = file_open;
	s->base.put = file_put;
	s->base.del = file_del;
	s->base.stat = file_stat;
	s->base.is_empty = file_is_empty;
	s->base.free = file_free;
	*out = &s->base;
	return 0;
fail:
	dsync_buf_dispose(&abs);
	return error;
}
