/*
 * The transport-independent part of the blob-store interface: whole-blob
 * reads and writes for the small blobs.
 */
#include "core/base/internal.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport/blobstore.h"

void dsync_blobstore_free(dsync_blobstore *s)
{
	if (s)
		s->free(s);
}

static int mem_fd(void)
{
	int fd = memfd_create("dsync-blob", MFD_CLOEXEC);

	return fd < 0 ? dsync_error_sys(errno, "cannot make a memory file") : fd;
}

int dsync_blobstore_get_buf(dsync_blobstore *s, const char *name, dsync_buf *out, size_t max)
{
	struct stat st;
	int fd, error;
	ssize_t n;
	size_t at;

	if ((fd = mem_fd()) < 0)
		return fd;
	if ((error = s->get(s, name, fd, max, NULL, NULL)) < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		error = dsync_error_sys(errno, "cannot read %s", name);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s is too large (%lld bytes): not a dsync blob", name,
					(long long)st.st_size);
		goto out;
	}
	at = out->len;
	if ((error = dsync_buf_grow(out, (size_t)st.st_size + 1)) < 0)
		goto out;
	if ((n = pread(fd, out->ptr + at, (size_t)st.st_size, 0)) != st.st_size) {
		error = dsync_error_sys(n < 0 ? errno : EIO, "cannot read %s", name);
		goto out;
	}
	out->len = at + (size_t)n;
	out->ptr[out->len] = '\0';
out:
	close(fd);
	return error;
}

int dsync_blobstore_put_buf(dsync_blobstore *s, const char *name, const void *data, size_t len)
{
	int fd, error = 0;

	if ((fd = mem_fd()) < 0)
		return fd;
	if (len && write(fd, data, len) != (ssize_t)len)
		error = dsync_error_sys(errno, "cannot stage %s", name);
	else if (lseek(fd, 0, SEEK_SET) < 0)
		error = dsync_error_sys(errno, "cannot stage %s", name);
	if (error == 0)
		error = s->put(s, name, fd, NULL, NULL);
	close(fd);
	return error;
}

int dsync_blobstore_check_name(const char *name)
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

static int any_blob(const char *name, const dsync_blobstore_info *info, void *payload)
{
	(void)name;
	(void)info;
	(void)payload;
	return 1;
}

int dsync_blobstore_lists_nothing(dsync_blobstore *s, bool *empty)
{
	int error = s->list(s, "", any_blob, NULL);

	*empty = error == 0;
	return error < 0 ? error : 0;
}
