/*
 * Small files read without blocking, regular files only (see file.h).
 */
#include "core/base/internal.h"
#include "core/base/file.h"

#include <fcntl.h>
#include <unistd.h>

static const char *kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISLNK(mode))
		return "a symlink";
	return "not a plain file";
}

static int not_regular(const char *verb, const char *path, mode_t mode)
{
	if (S_ISDIR(mode))
		return dsync_error_sys(EISDIR, "cannot %s '%s'", verb, path);
	return dsync_error_set(DSYNC_ERROR, "cannot %s '%s': not a regular file (%s); remove it",
			       verb, path, kind(mode));
}

int dsync_file_open(int *out, const char *path, unsigned flags, struct stat *st)
{
	const char *verb = (flags & DSYNC_FILE_CREATE) ? "open" : "read";
	struct stat sb;
	int fd, oflags = O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

	*out = -1;
	if (!st)
		st = &sb;
	if (flags & DSYNC_FILE_NOFOLLOW)
		oflags |= O_NOFOLLOW;
	oflags |= (flags & DSYNC_FILE_CREATE) ? O_RDWR | O_CREAT : O_RDONLY;
	if ((fd = open(path, oflags, 0644)) < 0) {
		/* missing: an answer most callers expect, not a failure; the
		 * last error (one being reported, maybe) is left alone */
		if (errno == ENOENT)
			return DSYNC_ENOTFOUND;
		if (errno == ELOOP && (flags & DSYNC_FILE_NOFOLLOW))
			return not_regular(verb, path, S_IFLNK);
		/* O_RDWR on a folder */
		if (errno == EISDIR)
			return not_regular(verb, path, S_IFDIR);
		return dsync_error_sys(errno, "cannot %s '%s'", verb, path);
	}
	if (fstat(fd, st) < 0) {
		int e = errno;

		close(fd);
		return dsync_error_sys(e, "cannot %s '%s'", verb, path);
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return not_regular(verb, path, st->st_mode);
	}
	*out = fd;
	return 0;
}

static int too_large(const char *path, size_t max)
{
	if (max >= 1024 * 1024 && max % (1024 * 1024) == 0)
		return dsync_error_set(DSYNC_ERROR, "cannot read '%s': larger than the %zu MiB limit",
				       path, max / (1024 * 1024));
	if (max >= 1024 && max % 1024 == 0)
		return dsync_error_set(DSYNC_ERROR, "cannot read '%s': larger than the %zu KiB limit",
				       path, max / 1024);
	return dsync_error_set(DSYNC_ERROR, "cannot read '%s': larger than the %zu-byte limit", path, max);
}

/* Reads FD to its end into OUT, at most MAX bytes (one more tells a file
 * that is too large). */
static int read_all(dsync_buf *out, int fd, const char *path, size_t max)
{
	size_t start = out->len;
	char block[4096];

	for (;;) {
		size_t want = max - (out->len - start) + 1;
		ssize_t n = read(fd, block, want < sizeof(block) ? want : sizeof(block));
		int error;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dsync_error_sys(errno, "cannot read '%s'", path);
		if (n == 0)
			return 0;
		if (out->len - start + (size_t)n > max)
			return too_large(path, max);
		if ((error = dsync_buf_put(out, block, (size_t)n)) < 0)
			return error;
	}
}

int dsync_file_read(dsync_buf *out, const char *path, size_t max, unsigned flags)
{
	size_t start = out->len;
	int fd, error;

	if ((error = dsync_file_open(&fd, path, flags & ~(unsigned)DSYNC_FILE_CREATE, NULL)) < 0)
		return error;
	if ((error = read_all(out, fd, path, max)) < 0)
		dsync_buf_truncate(out, start);
	close(fd);
	return error;
}

int dsync_file_read_small(size_t *len, const char *path, char *buf, size_t size, unsigned flags)
{
	size_t got = 0;
	int fd, error;

	*len = 0;
	if (size)
		buf[0] = '\0';
	if (size < 1)
		return dsync_error_set(DSYNC_EUSAGE, "no room to read '%s'", path);
	if ((error = dsync_file_open(&fd, path, flags & ~(unsigned)DSYNC_FILE_CREATE, NULL)) < 0)
		return error;
	while (got < size - 1) {
		ssize_t n = read(fd, buf + got, size - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = dsync_error_sys(errno, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return error;
}

int dsync_file_check(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || S_ISREG(st.st_mode))
		return 0;
	return not_regular("read", path, st.st_mode);
}

int dsync_file_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
