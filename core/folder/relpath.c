/*
 * A user's path (absolute, or relative to the current directory) as a path
 * inside the folder: symlinks above it resolved, the last component never.
 */
#include "core/base/internal.h"
#include "core/folder/relpath.h"
#include "core/folder/folder.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <limits.h>
#include <unistd.h>

/* The longest existing ancestor of the absolute normalised PATH, resolved,
 * followed by the rest; the last component itself is never resolved. */
static int resolve_parent(dsync_buf *out, const char *path)
{
	char *copy = strdup(path), *cut, *real = NULL;
	const char *rest = "";
	int error = 0;

	if (!copy)
		return dsync_error_oom();
	cut = strrchr(copy, '/');
	if (cut == copy || !cut) {
		error = dsync_buf_puts(out, path);
		goto out;
	}
	*cut = '\0';
	rest = path + (cut - copy); /* "/last" */
	while ((real = realpath(copy, NULL)) == NULL) {
		char *s = strrchr(copy, '/');

		if (!s || s == copy) {
			error = dsync_buf_puts(out, path);
			goto out;
		}
		*s = '\0';
		rest = path + (s - copy);
	}
	if (strcmp(real, "/") == 0)
		error = dsync_buf_puts(out, rest);
	else
		error = dsync_buf_printf(out, "%s%s", real, rest);
out:
	free(real);
	free(copy);
	return error;
}

int dsync_folder_locate(char **out, const dsync_folder *f, const char *user_path)
{
	dsync_buf abs = DSYNC_BUF_INIT, res = DSYNC_BUF_INIT;
	char cwd[PATH_MAX];
	size_t rootlen = strlen(f->root);
	const char *rel;
	int error;

	*out = NULL;
	if (!user_path || !*user_path)
		return dsync_error_set(DSYNC_EUSAGE, "empty path");
	if (user_path[0] == '/') {
		error = dsync_buf_puts(&abs, user_path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return dsync_error_sys(errno, "cannot find the current directory");
		error = dsync_buf_printf(&abs, "%s/%s", cwd, user_path);
	}
	if (error < 0)
		goto out;
	dsync_path_normalize(abs.ptr);
	abs.len = strlen(abs.ptr);
	if ((error = resolve_parent(&res, abs.ptr)) < 0)
		goto out;
	if (strcmp(res.ptr, f->root) == 0)
		rel = "";
	else if (strncmp(res.ptr, f->root, rootlen) == 0 && (res.ptr[rootlen] == '/' || rootlen == 1))
		rel = res.ptr + (rootlen == 1 ? 1 : rootlen + 1);
	else
		goto out; /* outside: *OUT stays NULL */
	if ((*out = strdup(rel)) == NULL)
		error = dsync_error_oom();
out:
	dsync_buf_dispose(&abs);
	dsync_buf_dispose(&res);
	return error;
}

int dsync_folder_relpath(char **out, const dsync_folder *f, const char *user_path)
{
	char q[DSYNC_QUOTE_SIZE];
	int error;

	if ((error = dsync_folder_locate(out, f, user_path)) < 0)
		return error;
	if (!*out)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is outside the dsync folder '%s'",
				       dsync_quote(q, user_path), f->root);
	if (**out && !dsync_path_is_safe(*out)) {
		free(*out);
		*out = NULL;
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is inside dsync's own '" DSYNC_DIR "'",
				       dsync_quote(q, user_path));
	}
	return 0;
}
