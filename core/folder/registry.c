/*
 * The per-user registry of folders (DESIGN.md section 3): the file
 * "folders" in dsync's config directory, one folder's root a line, which
 * the daemon watches.
 */
#include "core/base/internal.h"
#include "core/folder/registry.h"
#include "dsync/folder.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"

#include <fcntl.h>
#include <unistd.h>

int dsync_config_dir(char **out)
{
	dsync_buf b = DSYNC_BUF_INIT;
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int error;

	*out = NULL;
	if (xdg && *xdg == '/')
		error = dsync_buf_printf(&b, "%s/dsync", xdg);
	else if (home && *home)
		error = dsync_buf_printf(&b, "%s/.config/dsync", home);
	else
		return dsync_error_set(DSYNC_ERROR, "cannot find the config directory; set HOME");
	if (error < 0)
		return error;
	*out = dsync_buf_detach(&b);
	return 0;
}

/* The largest folder registry read (a path a line). */
#define REGISTRY_MAX (4 * 1024 * 1024)

int dsync_folder_list_registered(char ***out, size_t *count)
{
	dsync_strlist list = DSYNC_STRLIST_INIT;
	char *dir = NULL, *line, *end;
	dsync_buf path = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT;
	int error;

	*out = NULL;
	*count = 0;
	if ((error = dsync_config_dir(&dir)) < 0 ||
	    (error = dsync_buf_printf(&path, "%s/folders", dir)) < 0)
		goto out;
	/* without blocking, a regular file only: a FIFO in its place would
	 * hold the daemon deaf to SIGTERM */
	if ((error = dsync_file_read(&text, path.ptr, REGISTRY_MAX, 0)) < 0 && error != DSYNC_ENOTFOUND)
		goto out;
	for (line = text.ptr; line && *line; line = end) {
		size_t len;

		end = line + strcspn(line, "\n");
		len = (size_t)(end - line);
		if (*end)
			*end++ = '\0';
		while (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0 || line[0] != '/')
			continue;
		if ((error = dsync_strlist_add(&list, line)) < 0)
			goto out;
	}
	error = dsync_strlist_detach(out, count, &list);
out:
	dsync_strlist_dispose(&list);
	free(dir);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&text);
	return error;
}

void dsync_folder_list_free(char **list)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; list[i]; i++)
		free(list[i]);
	free(list);
}

/* Adds ROOT to the registry, or with REMOVE takes it out (atomically: temp
 * file and rename). */
static int update_registry(const char *root, bool remove)
{
	char *dir = NULL, **list = NULL;
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT;
	size_t n, i;
	bool found = false;
	int fd = -1, error;

	if ((error = dsync_folder_list_registered(&list, &n)) < 0 ||
	    (error = dsync_config_dir(&dir)) < 0 ||
	    (error = dsync_path_mkdirs(dir)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (strcmp(list[i], root) == 0) {
			found = true;
			if (remove)
				continue;
		}
		if ((error = dsync_buf_printf(&text, "%s\n", list[i])) < 0)
			goto out;
	}
	if (found != remove)
		goto out;   /* nothing to change */
	if ((!remove && (error = dsync_buf_printf(&text, "%s\n", root)) < 0) ||
	    (error = dsync_buf_printf(&path, "%s/folders", dir)) < 0 ||
	    (error = dsync_buf_printf(&tmp, "%s/folders.tmp.%ld", dir, (long)getpid())) < 0)
		goto out;
	if ((fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0644)) < 0 ||
	    (text.len && write(fd, text.ptr, text.len) != (ssize_t)text.len) || fsync(fd) < 0) {
		error = dsync_error_sys(errno, "cannot write '%s'", tmp.ptr);
		unlink(tmp.ptr);
		goto out;
	}
	if (rename(tmp.ptr, path.ptr) < 0) {
		error = dsync_error_sys(errno, "cannot write '%s'", path.ptr);
		unlink(tmp.ptr);
		goto out;
	}
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	dsync_folder_list_free(list);
	free(dir);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&tmp);
	dsync_buf_dispose(&text);
	return error;
}

int dsync_folder_config_dir_ready(void)
{
	char *dir = NULL;
	int error;

	if ((error = dsync_config_dir(&dir)) < 0)
		return error;
	if ((error = dsync_path_mkdirs(dir)) == 0 && access(dir, W_OK) < 0)
		error = dsync_error_sys(errno, "cannot write to '%s'", dir);
	free(dir);
	return error;
}

int dsync_folder_register(const char *root)
{
	return update_registry(root, false);
}

int dsync_folder_unregister(const char *root)
{
	return update_registry(root, true);
}
