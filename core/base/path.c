/*
 * Paths: escaping of names git cannot hold, normalisation, safety checks.
 */
#include "core/base/internal.h"
#include "core/base/path.h"
#include "core/base/file.h"

#include <strings.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX_LEN (sizeof(DSYNC_ESCAPE_SUFFIX) - 1)

/* Whether NAME is BASE (case-insensitively) followed by K >= MIN_SUFFIXES
 * copies of the suffix. */
static bool matches_form(const char *name, size_t len, const char *base,
			 size_t min_suffixes, bool nocase)
{
	size_t blen = strlen(base), k = 0;

	if (len < blen || (nocase ? strncasecmp(name, base, blen) : memcmp(name, base, blen)) != 0)
		return false;
	name += blen;
	len -= blen;
	while (len >= SUFFIX_LEN && memcmp(name, DSYNC_ESCAPE_SUFFIX, SUFFIX_LEN) == 0) {
		name += SUFFIX_LEN;
		len -= SUFFIX_LEN;
		k++;
	}
	return len == 0 && k >= min_suffixes;
}

/*
 * How many "~dsync" NAME (LEN bytes) carries past ".dsync" (any case), or
 * -1 when it is no such name.  The name ".dsync" itself, in exactly that
 * case, is dsync's own history and never stored, so its family counts one
 * less: ".dsync~dsync" is stored as ".dsync~dsync~dsync", while ".DSYNC"
 * (a user's folder on a file system that tells cases apart) is stored as
 * ".DSYNC~dsync", so that no stored name reads as ".dsync" in any case.
 */
static int dsync_family(const char *name, size_t len)
{
	size_t k;

	if (len < 6 || strncasecmp(name, ".dsync", 6) != 0)
		return -1;
	for (k = 0; len >= 6 + (k + 1) * SUFFIX_LEN; k++)
		if (memcmp(name + 6 + k * SUFFIX_LEN, DSYNC_ESCAPE_SUFFIX, SUFFIX_LEN) != 0)
			return -1;
	if (len != 6 + k * SUFFIX_LEN)
		return -1;
	return (int)k + (memcmp(name, ".dsync", 6) == 0 ? 0 : 1);
}

bool dsync_path_name_needs_escape(const char *name, size_t len, bool is_link)
{
	return dsync_family(name, len) >= 1 ||
	       matches_form(name, len, ".git", 0, true) ||
	       matches_form(name, len, DSYNC_DIR_MARKER, 0, false) ||
	       matches_form(name, len, DSYNC_CHUNKS_NAME, 0, false) ||
	       matches_form(name, len, ".gitmodules", 1, true) ||
	       (is_link && matches_form(name, len, ".gitmodules", 0, true));
}

bool dsync_path_name_is_escaped(const char *name, size_t len, bool is_link)
{
	return dsync_family(name, len) >= 2 ||
	       matches_form(name, len, ".git", 1, true) ||
	       matches_form(name, len, DSYNC_DIR_MARKER, 1, false) ||
	       matches_form(name, len, DSYNC_CHUNKS_NAME, 1, false) ||
	       matches_form(name, len, ".gitmodules", 2, true) ||
	       (is_link && matches_form(name, len, ".gitmodules", 1, true));
}

bool dsync_path_is_dir_marker(const char *stored_path)
{
	const char *base = strrchr(stored_path, '/');

	base = base ? base + 1 : stored_path;
	return strcmp(base, DSYNC_DIR_MARKER) == 0;
}

static int convert(dsync_buf *out, const char *path, bool last_is_link, bool escape)
{
	const char *p = path;
	int error;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		bool is_link = last_is_link && !slash;

		if (escape) {
			if ((error = dsync_buf_put(out, p, len)) < 0)
				return error;
			if (dsync_path_name_needs_escape(p, len, is_link) &&
			    (error = dsync_buf_puts(out, DSYNC_ESCAPE_SUFFIX)) < 0)
				return error;
		} else {
			size_t keep = dsync_path_name_is_escaped(p, len, is_link) ? len - SUFFIX_LEN : len;

			if ((error = dsync_buf_put(out, p, keep)) < 0)
				return error;
		}
		if (!slash)
			break;
		if ((error = dsync_buf_put(out, "/", 1)) < 0)
			return error;
		p = slash + 1;
	}
	return 0;
}

int dsync_path_escape(dsync_buf *out, const char *path, bool last_is_link)
{
	return convert(out, path, last_is_link, true);
}

int dsync_path_unescape(dsync_buf *out, const char *path, bool last_is_link)
{
	return convert(out, path, last_is_link, false);
}

void dsync_path_normalize(char *path)
{
	bool absolute = path[0] == '/';
	char *w = path, *r = path;
	size_t depth = 0; /* components written that ".." may remove */

	if (absolute) {
		*w++ = '/';
		r++;
	}
	while (*r) {
		char *end;
		size_t len;

		while (*r == '/')
			r++;
		if (!*r)
			break;
		end = strchr(r, '/');
		len = end ? (size_t)(end - r) : strlen(r);
		if (len == 1 && r[0] == '.') {
			/* drop */
		} else if (len == 2 && r[0] == '.' && r[1] == '.') {
			if (depth > 0) {
				/* remove the previous component and its slash */
				char *base = path + (absolute ? 1 : 0);

				while (w > base && w[-1] != '/')
					w--;
				if (w > base && w[-1] == '/')
					w--;
				depth--;
			} else if (!absolute) {
				if (w != path)
					*w++ = '/';
				memmove(w, "..", 2);
				w += 2;
			}
		} else {
			if (w != path && w[-1] != '/')
				*w++ = '/';
			memmove(w, r, len);
			w += len;
			depth++;
		}
		r += len;
	}
	if (w > path + 1 && w[-1] == '/')
		w--;
	if (w == path)
		*w++ = absolute ? '/' : '.';
	*w = '\0';
}

bool dsync_path_is_safe(const char *path)
{
	const char *p = path;

	if (!*path || *path == '/')
		return false;
	while (1) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.') ||
		    (len == 6 && memcmp(p, ".dsync", 6) == 0))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

bool dsync_path_name_is_dsync_legacy(const char *name)
{
	return dsync_family(name, strlen(name)) == 1;
}

bool dsync_path_folds_into_dsync(const char *root, const char *rel)
{
	dsync_buf p = DSYNC_BUF_INIT;
	const char *c = rel;
	bool folds = false;

	while (*c && !folds) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		struct stat a, b;

		if (len == 6 && strncasecmp(c, ".dsync", 6) == 0) {
			size_t at;

			dsync_buf_truncate(&p, 0);
			if (dsync_buf_printf(&p, "%s/%.*s", root, (int)(c - rel), rel) < 0)
				return true; /* out of memory: take no chance */
			at = p.len;
			if (dsync_buf_put(&p, c, len) < 0)
				folds = true;
			else if (lstat(p.ptr, &a) == 0) {
				dsync_buf_truncate(&p, at);
				folds = dsync_buf_puts(&p, ".dsync") < 0 ||
					(lstat(p.ptr, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino);
			}
		}
		if (!slash)
			break;
		c = slash + 1;
	}
	dsync_buf_dispose(&p);
	return folds;
}

int dsync_path_mkdirs(const char *path)
{
	char *p = strdup(path), *s, q[DSYNC_QUOTE_SIZE];
	int error = 0;

	if (!p)
		return dsync_error_oom();
	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			struct stat st;

			*s = '\0';
			if (mkdir(p, 0777) < 0) {
				if (errno != EEXIST) {
					error = dsync_error_sys(errno, "cannot create the folder '%s'", dsync_quote(q, p));
					break;
				}
				if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
					error = dsync_error_set(DSYNC_ENOTDIR,
						"cannot restore into '%s': a file is in the way", dsync_quote(q, p));
					break;
				}
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return error;
}

ssize_t dsync_path_read_small(const char *path, char *buf, size_t size)
{
	size_t len;
	int error = dsync_file_read_small(&len, path, buf, size, DSYNC_FILE_NOFOLLOW);

	if (error < 0) {
		errno = error == DSYNC_ENOTFOUND ? ENOENT : EINVAL;
		return -1;
	}
	return (ssize_t)len;
}

int dsync_path_walk(const char *dir, int depth, dsync_path_entry_cb cb, void *payload)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return 0;
	while (!ret && (e = readdir(d)) != NULL) {
		dsync_buf p = DSYNC_BUF_INIT;
		bool is_dir;

		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (dsync_buf_printf(&p, "%s/%s", dir, e->d_name) < 0)
			break;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;

			is_dir = lstat(p.ptr, &st) == 0 && S_ISDIR(st.st_mode);
		} else {
			is_dir = e->d_type == DT_DIR;
		}
		ret = cb(p.ptr, e->d_name, is_dir, payload);
		if (!ret && is_dir && depth > 0)
			ret = dsync_path_walk(p.ptr, depth - 1, cb, payload);
		dsync_buf_dispose(&p);
	}
	closedir(d);
	return ret;
}

void dsync_path_remove(const char *path, bool is_dir)
{
	if (is_dir) {
		dsync_path_remove_tree(path);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int remove_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	(void)name;
	(void)payload;
	dsync_path_remove(path, is_dir);
	return 0;
}

void dsync_path_remove_tree(const char *dir)
{
	dsync_path_walk(dir, 0, remove_cb, NULL);
}

int dsync_path_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool flush_dir)
{
	dsync_buf tmp = DSYNC_BUF_INIT;
	char q[DSYNC_QUOTE_SIZE];
	int fd = -1, error;

	if ((error = dsync_buf_printf(&tmp, "%s.tmp", path)) < 0)
		return error;
	unlink(tmp.ptr);
	if ((fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0 ||
	    (len && write(fd, data, len) != (ssize_t)len) || fsync(fd) < 0) {
		error = dsync_error_sys(errno, "cannot write '%s'", dsync_quote(q, tmp.ptr));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp.ptr, path) < 0) {
		error = dsync_error_sys(errno, "cannot write '%s'", dsync_quote(q, path));
		goto out;
	}
	if (flush_dir) {
		char *slash = strrchr(tmp.ptr, '/');

		if (slash)
			*slash = '\0';
		if ((fd = open(slash ? tmp.ptr : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
			fsync(fd);
	}
out:
	if (fd >= 0)
		close(fd);
	if (error < 0) {
		dsync_buf_truncate(&tmp, 0);
		if (dsync_buf_printf(&tmp, "%s.tmp", path) == 0)
			unlink(tmp.ptr);
	}
	dsync_buf_dispose(&tmp);
	return error;
}
