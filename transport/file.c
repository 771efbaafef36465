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

typedef struct file_store {
	dsync_blobstore base;
	char *root;
	int slow_ms;   /* DSYNC_TEST_SLOW: a pause per 64 KiB and before renames */
	char **swept;  /* folders already swept of stale temporary files */
	size_t nswept;
} file_store;

#define STALE_TEMP_SECONDS 3600  /* a put's temporary file older than this was killed */

#define COPY_BLOCK (64 * 1024)

static void test_pause(const file_store *s)
{
	if (s->slow_ms > 0) {
		struct timespec ts = { s->slow_ms / 1000, (long)(s->slow_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* A blob name is a relative path of plain components: no "", ".", "..", no
 * leading dot (temporary files), no NUL. */
static int check_name(const char *name)
{
	const char *p = name;

	if (!*name)
		return dsync_error_set(DSYNC_EUSAGE, "empty blob name");
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || p[0] == '.')
			return dsync_error_set(DSYNC_EUSAGE, "bad blob name '%s'", name);
		p += len;
		if (*p == '/')
			p++;
	}
	return 0;
}

static int full_path(dsync_buf *out, const file_store *s, const char *name)
{
	int error;

	if ((error = check_name(name)) < 0)
		return error;
	return dsync_buf_printf(out, "%s/%s", s->root, name);
}

/* Copies IN (from its offset) to OUT until IN's end. */
static int copy_fd(const file_store *s, int in, int out, const char *what, dsync_blob_xfer_cb xfer,
		   void *payload)
{
	unsigned char *block = malloc(COPY_BLOCK);
	uint64_t total = 0;
	int error = 0;

	if (!block)
		return dsync_error_set(DSYNC_ERROR, "out of memory");
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
		if (xfer)
			xfer(total, payload);
		test_pause(s);
	}
out:
	free(block);
	return error;
}

static int fsync_dir_of(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd, error = 0;

	if (!dir)
		return dsync_error_set(DSYNC_ERROR, "out of memory");
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) < 0)
		error = dsync_error_sys(errno, "cannot flush '%s'", dir);
	if (fd >= 0)
		close(fd);
	free(dir);
	return error;
}

/* Removes the temporary files of puts killed long ago from DIR (once per
 * folder and handle: a put in progress elsewhere is never that old). */
static void sweep_stale(file_store *s, const char *dir)
{
	struct dirent *e;
	char **v;
	DIR *d;
	size_t i;
	time_t now = time(NULL);

	for (i = 0; i < s->nswept; i++)
		if (strcmp(s->swept[i], dir) == 0)
			return;
	if ((v = realloc(s->swept, (s->nswept + 1) * sizeof(*v))) == NULL)
		return;
	s->swept = v;
	if ((v[s->nswept] = strdup(dir)) == NULL)
		return;
	s->nswept++;
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (e->d_name[0] != '.' || strstr(e->d_name, ".tmp-") == NULL)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    now - st.st_mtime > STALE_TEMP_SECONDS)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static int file_get(dsync_blobstore *bs, const char *name, int fd, dsync_blob_xfer_cb xfer, void *payload)
{
	file_store *s = (file_store *)bs;
	dsync_buf path = DSYNC_BUF_INIT;
	int in = -1, error;

	if ((error = full_path(&path, s, name)) < 0)
		goto out;
	if ((in = open(path.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		error = errno == ENOENT ? dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name)
					: dsync_error_sys(errno, "cannot read %s", path.ptr);
		goto out;
	}
	error = copy_fd(s, in, fd, path.ptr, xfer, payload);
out:
	if (in >= 0)
		close(in);
	dsync_buf_dispose(&path);
	return error;
}

static int file_put(dsync_blobstore *bs, const char *name, int fd, dsync_blob_xfer_cb xfer, void *payload)
{
	file_store *s = (file_store *)bs;
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT;
	const char *base;
	int out = -1, error;

	if ((error = full_path(&path, s, name)) < 0)
		goto out;
	base = strrchr(path.ptr, '/') + 1;
	if ((error = dsync_buf_put(&tmp, path.ptr, (size_t)(base - path.ptr))) < 0 ||
	    (error = dsync_buf_printf(&tmp, ".%s.tmp-%08x", base, randombytes_random())) < 0)
		goto out;
	tmp.ptr[base - path.ptr - 1] = '\0';
	error = dsync_path_mkdirs(tmp.ptr);
	tmp.ptr[base - path.ptr - 1] = '/';
	if (error < 0)
		goto out;
	if ((out = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
		error = dsync_error_sys(errno, "cannot write to the store at %s", s->root);
		goto out;
	}
	if ((error = copy_fd(s, fd, out, tmp.ptr, xfer, payload)) < 0)
		goto out;
	if (fsync(out) < 0) {
		error = dsync_error_sys(errno, "cannot flush '%s'", tmp.ptr);
		goto out;
	}
	close(out);
	out = -1;
	test_pause(s);
	if (rename(tmp.ptr, path.ptr) < 0) {
		error = dsync_error_sys(errno, "cannot store %s", name);
		goto out;
	}
	if ((error = fsync_dir_of(path.ptr)) == 0) {
		tmp.ptr[base - path.ptr - 1] = '\0';
		sweep_stale(s, tmp.ptr);
	}
	dsync_buf_dispose(&tmp);
out:
	if (out >= 0)
		close(out);
	if (error < 0 && tmp.ptr)
		unlink(tmp.ptr);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&tmp);
	return error;
}

static int file_del(dsync_blobstore *bs, const char *name)
{
	file_store *s = (file_store *)bs;
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if ((error = full_path(&path, s, name)) == 0 && unlink(path.ptr) < 0 && errno != ENOENT)
		error = dsync_error_sys(errno, "cannot remove %s from the store", name);
	dsync_buf_dispose(&path);
	return error;
}

static int file_stat(dsync_blobstore *bs, const char *name, dsync_blob_info *info)
{
	file_store *s = (file_store *)bs;
	dsync_buf path = DSYNC_BUF_INIT;
	struct stat st;
	int error;

	if ((error = full_path(&path, s, name)) < 0)
		goto out;
	if (lstat(path.ptr, &st) < 0 || !S_ISREG(st.st_mode)) {
		error = errno == ENOENT || errno == ENOTDIR || errno == 0
				? dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name)
				: dsync_error_sys(errno, "cannot read %s", path.ptr);
		goto out;
	}
	info->size = (uint64_t)st.st_size;
	info->mtime = st.st_mtime;
out:
	dsync_buf_dispose(&path);
	return error;
}

typedef struct lister {
	const char *prefix;
	size_t rootlen;
	dsync_blob_list_cb cb;
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
			dsync_blob_info info = { (uint64_t)st.st_size, st.st_mtime };

			error = l->cb(rel, &info, l->payload);
		}
	}
	closedir(d);
	dsync_buf_truncate(dir, len);
	return error;
}

static int file_list(dsync_blobstore *bs, const char *prefix, dsync_blob_list_cb cb, void *payload)
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

static int any_blob(const char *name, const dsync_blob_info *info, void *payload)
{
	(void)name;
	(void)info;
	(void)payload;
	return 1;
}

static int file_is_empty(dsync_blobstore *bs, bool *empty)
{
	file_store *s = (file_store *)bs;
	DIR *d = opendir(s->root);
	struct dirent *e;
	int error;

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
	if ((error = file_list(bs, "", any_blob, NULL)) < 0)
		return error;
	*empty = error == 0;
	return 0;
}

static void file_free(dsync_blobstore *bs)
{
	file_store *s = (file_store *)bs;

	size_t i;

	for (i = 0; i < s->nswept; i++)
		free(s->swept[i]);
	free(s->swept);
	free(s->root);
	free(s->base.url);
	free(s);
}

int dsync_blobstore_file_open(dsync_blobstore **out, const char *path, bool create)
{
	file_store *s;
	dsync_buf abs = DSYNC_BUF_INIT;
	struct stat st;
	const char *slow = getenv("DSYNC_TEST_SLOW");
	char cwd[4096];
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
			error = dsync_error_set(DSYNC_ENOTDIR, "'%s' is not a folder", abs.ptr);
			goto fail;
		}
	} else if (errno != ENOENT) {
		error = dsync_error_sys(errno, "cannot reach '%s'", abs.ptr);
		goto fail;
	} else if (create && (error = dsync_path_mkdirs(abs.ptr)) < 0) {
		goto fail;
	} else if (!create) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "no store at '%s' (is the disk mounted?)", abs.ptr);
		goto fail;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		error = dsync_error_set(DSYNC_ERROR, "out of memory");
		goto fail;
	}
	s->root = dsync_buf_detach(&abs);
	s->slow_ms = slow ? atoi(slow) : 0;
	if (!s->root || dsync_buf_printf(&abs, "file://%s", s->root) < 0) {
		free(s->root);
		free(s);
		error = dsync_error_set(DSYNC_ERROR, "out of memory");
		goto fail;
	}
	s->base.url = dsync_buf_detach(&abs);
	s->base.list = file_list;
	s->base.get = file_get;
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
