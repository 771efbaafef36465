/*
 * A version's files by the names they have on disk: the stored (escaped)
 * form of a path, and the lookup of a folder-relative path in a tree.
 */
#include "core/base/internal.h"
#include "core/history/tree.h"
#include "core/base/buf.h"
#include "core/base/path.h"

/* The stored form of the folder-relative PATH. */
int dsync_history_stored_path(dsync_buf *out, const char *path, bool is_link)
{
	int error;

	dsync_buf_truncate(out, 0);
	if ((error = dsync_buf_puts(out, "")) < 0)
		return error;
	return dsync_path_escape(out, path, is_link);
}

/* The stored form of PATH as snapshots made it before ".dsync" in another
 * case was escaped: such components raw, the rest escaped.  1 when PATH
 * holds no such component (nothing to try). */
static int legacy_path(dsync_buf *out, const char *path)
{
	const char *c = path;
	bool any = false;
	int error = dsync_buf_puts(out, "");

	while (*c && error == 0) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		char *name = strndup(c, len);

		if (!name)
			return dsync_error_oom();
		if (dsync_path_name_is_dsync_legacy(name)) {
			any = true;
			error = dsync_buf_puts(out, name);
		} else {
			error = dsync_path_escape(out, name, false);
		}
		free(name);
		if (!slash)
			break;
		if (error == 0)
			error = dsync_buf_puts(out, "/");
		c = slash + 1;
	}
	return error < 0 ? error : any ? 0 : 1;
}

int dsync_history_tree_lookup(git_tree_entry **out, git_tree *tree, const char *path)
{
	dsync_buf p = DSYNC_BUF_INIT;
	int err = GIT_ENOTFOUND, error;

	*out = NULL;
	if ((error = dsync_history_stored_path(&p, path, false)) < 0)
		return error;
	if (tree)
		err = git_tree_entry_bypath(out, tree, p.ptr);
	if (err == GIT_ENOTFOUND && tree) {
		dsync_buf q = DSYNC_BUF_INIT;

		if (dsync_history_stored_path(&q, path, true) == 0 && strcmp(q.ptr, p.ptr) != 0) {
			err = git_tree_entry_bypath(out, tree, q.ptr);
			if (err == 0 && git_tree_entry_filemode(*out) != GIT_FILEMODE_LINK) {
				git_tree_entry_free(*out);
				*out = NULL;
				err = GIT_ENOTFOUND;
			}
		}
		dsync_buf_dispose(&q);
	}
	if (err == GIT_ENOTFOUND && tree) {
		dsync_buf q = DSYNC_BUF_INIT;

		if ((error = legacy_path(&q, path)) == 0)
			err = git_tree_entry_bypath(out, tree, q.ptr);
		dsync_buf_dispose(&q);
		if (error < 0) {
			dsync_buf_dispose(&p);
			return error;
		}
	}
	dsync_buf_dispose(&p);
	if (err == GIT_ENOTFOUND)
		return DSYNC_ENOTFOUND;
	return err < 0 ? dsync_error_git(err, "cannot read '%s'", path) : 0;
}

int dsync_history_commit_tree(git_tree **out, git_repository *repo, const char *hex)
{
	git_oid oid;
	git_commit *c = NULL;
	int err;

	if ((err = git_oid_fromstr(&oid, hex)) < 0 || (err = git_commit_lookup(&c, repo, &oid)) < 0 ||
	    (err = git_commit_tree(out, c)) < 0) {
		git_commit_free(c);
		return dsync_error_git(err, "cannot read the version '%s'", hex);
	}
	git_commit_free(c);
	return 0;
}

