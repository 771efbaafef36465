/*
 * The check on trees from another device (DESIGN.md section 9): nothing it
 * names may escape the folder, touch .dsync, or be something dsync would
 * not write itself.
 */
#include "core/base/internal.h"
#include "merge/merge.h"

#include <limits.h>
#include <strings.h>

#define MAX_DEPTH 512

static int refuse(const char *dir, const char *name, const char *why)
{
	return dsync_error_set(DSYNC_ECORRUPT, "refused a tree from another device: '%s%s%s' %s",
			       dir, *dir ? "/" : "", name, why);
}

/* What is wrong with NAME as an entry name (NULL: nothing). */
static const char *bad_name(const char *name, git_filemode_t mode)
{
	size_t len = strlen(name);

	if (len == 0)
		return "has an empty name";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "would leave its folder";
	if (strchr(name, '/'))
		return "has a '/' in its name";
	if (strcasecmp(name, ".dsync") == 0)
		return "would write into dsync's own history (.dsync)";
	if (strcasecmp(name, ".git") == 0)
		return "is a raw .git (dsync stores it as .git~dsync)";
	if (len > DSYNC_NAME_MAX)
		return "has a name longer than 255 bytes";
	if (mode == GIT_FILEMODE_COMMIT)
		return "is a submodule link (dsync never writes one)";
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE &&
	    mode != GIT_FILEMODE_LINK && mode != GIT_FILEMODE_TREE)
		return "has an unknown file mode";
	return NULL;
}

/* Git's order of tree entries: by name, a folder's as if followed by '/'. */
static int git_order(const char *a, bool a_tree, const char *b, bool b_tree)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
	int c = memcmp(a, b, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = la > n ? (unsigned char)a[n] : a_tree ? '/' : '\0';
	cb = lb > n ? (unsigned char)b[n] : b_tree ? '/' : '\0';
	return (int)ca - (int)cb;
}

static int check(git_repository *repo, const git_tree *tree, dsync_buf *dir, int depth)
{
	size_t i, n = git_tree_entrycount(tree);
	int error = 0;

	if (depth > MAX_DEPTH || dir->len > PATH_MAX)
		return refuse(dir->ptr ? dir->ptr : "", "", "is nested too deep");
	for (i = 0; i < n && !error; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e), *why;
		git_filemode_t mode = git_tree_entry_filemode_raw(e);
		size_t len = dir->len;
		git_tree *sub = NULL;
		int err;

		if ((why = bad_name(name, mode)) != NULL)
			return refuse(dir->ptr ? dir->ptr : "", name, why);
		/* a name twice (a link and a folder, say) is hidden from a
		 * check of one of them: entries must be in git's strict order */
		if (i > 0) {
			const git_tree_entry *p = git_tree_entry_byindex(tree, i - 1);

			if (strcmp(git_tree_entry_name(p), name) == 0 ||
			    git_order(git_tree_entry_name(p), git_tree_entry_type(p) == GIT_OBJECT_TREE, name,
				      git_tree_entry_type(e) == GIT_OBJECT_TREE) >= 0)
				return refuse(dir->ptr ? dir->ptr : "", name, "appears twice or out of order");
		}
		if (mode != GIT_FILEMODE_TREE)
			continue;
		if ((err = git_tree_lookup(&sub, repo, git_tree_entry_id(e))) < 0)
			return dsync_error_git(err, "cannot read the folder '%s%s%s' of a tree from another device",
					       dir->ptr ? dir->ptr : "", len ? "/" : "", name);
		if ((len && (error = dsync_buf_put(dir, "/", 1)) < 0) || (error = dsync_buf_puts(dir, name)) < 0) {
			git_tree_free(sub);
			return error;
		}
		error = check(repo, sub, dir, depth + 1);
		dsync_buf_truncate(dir, len);
		git_tree_free(sub);
	}
	return error;
}

int dsync_tree_check(git_repository *repo, const git_tree *tree)
{
	dsync_buf dir = DSYNC_BUF_INIT;
	int error = check(repo, tree, &dir, 0);

	dsync_buf_dispose(&dir);
	return error;
}
