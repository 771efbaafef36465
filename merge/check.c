/*
 * The check on trees from another device (DESIGN.md section 9): nothing it
 * names may escape the folder, touch .dsync, or be something dsync would
 * not write itself.
 */
#include "core/base/internal.h"
#include "core/base/oidset.h"
#include "merge/check.h"
#include "merge/names.h"
#include "core/base/path.h"
#include "core/base/chunks.h"

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
	if (strcmp(name, ".dsync") == 0)
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

#define LINK_MAX 4095  /* the longest link target a Linux file system holds */

/* What is wrong with the link ID's target (NULL: nothing): dsync could not
 * write it. */
static const char *bad_link(git_repository *repo, const git_oid *id, int *error)
{
	git_blob *b = NULL;
	const char *why = NULL;
	size_t len;
	int err;

	if ((err = git_blob_lookup(&b, repo, id)) < 0) {
		*error = dsync_error_git(err, "cannot read a link of a tree from another device");
		return NULL;
	}
	len = (size_t)git_blob_rawsize(b);
	if (len == 0)
		why = "is a link with an empty target";
	else if (len > LINK_MAX)
		why = "is a link with a target longer than 4095 bytes";
	else if (memchr(git_blob_rawcontent(b), '\0', len))
		why = "is a link whose target holds a NUL byte";
	git_blob_free(b);
	return why;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * What is wrong with the names of TREE's entries together (NULL: nothing):
 * each must be in the form dsync stores it in (escaped where it must be, an
 * empty-folder marker only as an empty file), and no two may be one name on
 * disk (a link ".gitmodules" is stored as ".gitmodules~dsync").  The name
 * goes into BAD (SIZE bytes).
 */
static const char *bad_names(const git_tree *tree, char *bad, size_t size)
{
	static const char empty_blob[] = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
	size_t i, n = git_tree_entrycount(tree), k = 0;
	const char *why = NULL;
	char **disk;
	git_oid empty;

	if (n == 0)
		return NULL;
	if ((disk = calloc(n, sizeof(*disk))) == NULL)
		return "cannot be checked (out of memory)";
	git_oid_fromstr(&empty, empty_blob);
	for (i = 0; i < n && !why; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		bool link = git_tree_entry_filemode(e) == GIT_FILEMODE_LINK;
		dsync_buf un = DSYNC_BUF_INIT, re = DSYNC_BUF_INIT;

		snprintf(bad, size, "%s", name);
		if (strcmp(name, DSYNC_DIR_MARKER) == 0) {
			if (git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB || !git_oid_equal(git_tree_entry_id(e), &empty))
				why = "is not an empty-folder marker (dsync stores that name as .dsync-empty~dsync)";
			continue;
		}
		if (dsync_buf_puts(&un, "") < 0 || dsync_path_unescape(&un, name, link) < 0 ||
		    dsync_buf_puts(&re, "") < 0 || dsync_path_escape(&re, un.ptr, link) < 0)
			why = "cannot be checked (out of memory)";
		else if (strcmp(un.ptr, ".dsync") == 0)
			why = "would write into dsync's own history (.dsync)";
		else if (strcmp(re.ptr, name) != 0 && !dsync_path_name_is_dsync_legacy(name))
			/* ".DSYNC" as snapshots stored it before it was escaped:
			 * read as that name, so older histories stay usable */
			why = "is not in the form dsync stores that name in";
		else
			disk[k++] = dsync_buf_detach(&un);
		dsync_buf_dispose(&un);
		dsync_buf_dispose(&re);
	}
	if (!why && k > 1) {
		qsort(disk, k, sizeof(*disk), cmp_str);
		for (i = 1; i < k && !why; i++)
			if (strcmp(disk[i - 1], disk[i]) == 0) {
				snprintf(bad, size, "%s", disk[i]);
				why = "is twice in one folder once written to disk";
			}
	}
	for (i = 0; i < k; i++)
		free(disk[i]);
	free(disk);
	return why;
}

static int check(git_repository *repo, const git_tree *tree, dsync_buf *dir, int depth, dsync_oidset *seen)
{
	size_t i, n = git_tree_entrycount(tree);
	const char *why, *where = dir->ptr ? dir->ptr : "";
	char bad[DSYNC_NAME_MAX + 1];
	int error = 0;

	if (depth > MAX_DEPTH || dir->len > PATH_MAX)
		return refuse(where, "", "is nested too deep");
	/* each name, then the names together, then links and folders */
	for (i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i), *p;
		const char *name = git_tree_entry_name(e);

		if ((why = bad_name(name, git_tree_entry_filemode_raw(e))) != NULL)
			return refuse(where, name, why);
		/* a name twice (a link and a folder, say) is hidden from a
		 * check of one of them: entries must be in git's strict order */
		if (i > 0 && (p = git_tree_entry_byindex(tree, i - 1)) != NULL &&
		    (strcmp(git_tree_entry_name(p), name) == 0 ||
		     git_order(git_tree_entry_name(p), git_tree_entry_type(p) == GIT_OBJECT_TREE, name,
			       git_tree_entry_type(e) == GIT_OBJECT_TREE) >= 0))
			return refuse(where, name, "appears twice or out of order");
	}
	if ((why = bad_names(tree, bad, sizeof(bad))) != NULL)
		return refuse(where, bad, why);
	for (i = 0; i < n && !error; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode_raw(e);
		size_t len = dir->len;
		git_tree *sub = NULL;
		int err;

		if (mode == GIT_FILEMODE_LINK && ((why = bad_link(repo, git_tree_entry_id(e), &error)) != NULL || error < 0))
			return error < 0 ? error : refuse(where, name, why);
		if (mode != GIT_FILEMODE_TREE)
			continue;
		if (seen && (error = dsync_oidset_add(seen, git_tree_entry_id(e))) <= 0) {
			if (error < 0)
				return error;
			continue;   /* checked already, in another version */
		}
		if ((err = git_tree_lookup(&sub, repo, git_tree_entry_id(e))) < 0)
			return dsync_error_git(err, "cannot read the folder '%s%s%s' of a tree from another device",
					       where, len ? "/" : "", name);
		if (git_tree_entry_byname(sub, DSYNC_CHUNKS_MARKER)) {
			/* a big file's chunk tree: exactly dsync's, or refused */
			dsync_buf path = DSYNC_BUF_INIT;

			if (dsync_buf_printf(&path, "%s%s%s", where, len ? "/" : "", name) < 0)
				error = dsync_error_oom();
			else if ((error = dsync_chunks_read(repo, git_tree_entry_id(e), path.ptr, NULL, NULL)) < 0) {
				char *cause = strdup(dsync_error_last());

				error = dsync_error_set(DSYNC_ECORRUPT,
							"refused a tree from another device: '%s' is a damaged big file (%s)",
							path.ptr, cause ? cause : "out of memory");
				free(cause);
			}
			dsync_buf_dispose(&path);
			git_tree_free(sub);
			if (error < 0)
				return error;
			continue;
		}
		if ((len && (error = dsync_buf_put(dir, "/", 1)) < 0) || (error = dsync_buf_puts(dir, name)) < 0) {
			git_tree_free(sub);
			return error;
		}
		error = check(repo, sub, dir, depth + 1, seen);
		dsync_buf_truncate(dir, len);
		where = dir->ptr ? dir->ptr : "";
		git_tree_free(sub);
	}
	return error;
}

int dsync_treecheck_all(git_repository *repo, const git_tree *tree)
{
	return dsync_treecheck_new(repo, tree, NULL);
}

int dsync_treecheck_new(git_repository *repo, const git_tree *tree, dsync_oidset *seen)
{
	dsync_buf dir = DSYNC_BUF_INIT;
	int error;

	if (seen && (error = dsync_oidset_add(seen, git_tree_id(tree))) <= 0)
		return error;
	error = check(repo, tree, &dir, 0, seen);
	dsync_buf_dispose(&dir);
	return error;
}
