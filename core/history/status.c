/*
 * Status: what changed in the working tree since the last snapshot.
 */
#include "core/base/internal.h"
#include "dsync/snapshot.h"
#include "core/base/buf.h"
#include "core/base/chunks.h"
#include "core/history/changes.h"
#include "core/history/head.h"
#include "core/history/scan.h"

/* Lists the files of TREE (stored paths, sorted as the index sorts them). */
typedef struct files_walk {
	scan_list *l;
	git_repository *repo;
} files_walk;

static int tree_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	files_walk *w = payload;
	scan_list *l = w->l;
	dsync_buf p = DSYNC_BUF_INIT;
	scan_entry *e;
	bool big = false;
	int error;

	/* a file, or a big file's chunk tree: one file, as the index holds it */
	if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB &&
	    !(big = dsync_chunks_entry_is_big(NULL, w->repo, entry)))
		return 0;
	if (l->n == l->cap && dsync_array_grow_(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -1;
	if ((error = dsync_buf_printf(&p, "%s%s", root, git_tree_entry_name(entry))) < 0)
		return -1;
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->path = dsync_buf_detach(&p);
	e->mode = big ? GIT_FILEMODE_COMMIT : git_tree_entry_filemode(entry);
	git_oid_cpy(&e->oid, git_tree_entry_id(entry));
	return big ? 1 : 0; /* not into the chunks */
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const scan_entry *)a)->path, ((const scan_entry *)b)->path);
}

static int tree_files(scan_list *out, git_tree *tree)
{
	files_walk w = { out, NULL };

	memset(out, 0, sizeof(*out));
	if (!tree)
		return 0;
	w.repo = git_tree_owner(tree);
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, tree_cb, &w) < 0) {
		scan_list_dispose(out);
		return dsync_error_set(DSYNC_ERROR, "cannot list the last snapshot");
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_path);
	return 0;
}

int dsync_status(dsync_changes *out, dsync_folder *f, dsync_warn_cb warn, void *payload)
{
	git_tree *tree = NULL;
	git_oid head, cached_tree;
	statcache cache = { 0 };
	scan_list work = { 0 }, old = { 0 };
	bool born, content, stat_only, fast;
	size_t i = 0, j = 0, deleted;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = statcache_load_folder(&cache, f)) < 0)
		goto out;
	fast = cache.has_tree && dsync_history_cached_head(f, &head, &cached_tree) && git_oid_equal(&cache.tree, &cached_tree);
	if ((error = scan_worktree(&work, f, &cache, false, NULL, NULL, NULL, NULL)) < 0)
		goto out;
	for (i = 0; i < work.problems.size; i++)
		if (warn)
			warn(work.problems.ptr[i], payload);
	if (work.unchanged && fast) {
		/* the walk matches the index, and the index the head */
		error = dsync_history_head_readable(f, &head);
		goto out;
	}
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_history_head_tree(&tree, &head, &born, f->repo)) < 0)
		goto out;
	if (born && cache.has_tree && git_oid_equal(&cache.tree, git_tree_id(tree))) {
		if (work.unchanged)
			goto out; /* the walk matches the index, and the index the head */
		scan_list_sort(&work);
		scan_list_compare(&work, &cache, &content, &stat_only, &deleted);
		if (!content && !deleted)
			goto out;
	}
	scan_list_sort(&work);
	if ((error = tree_files(&old, tree)) < 0)
		goto out;
	for (i = 0; (i < old.n || j < work.n) && !error;) {
		int c = i >= old.n ? 1 : j >= work.n ? -1 : strcmp(old.v[i].path, work.v[j].path);

		if (c < 0) {
			error = dsync_changes_add(out, 'D', old.v[i].path, NULL, old.v[i].mode == GIT_FILEMODE_LINK);
			i++;
		} else if (c > 0) {
			error = dsync_changes_add(out, 'A', work.v[j].path, NULL, work.v[j].mode == GIT_FILEMODE_LINK);
			j++;
		} else {
			bool was_link = old.v[i].mode == GIT_FILEMODE_LINK;
			bool is_link = work.v[j].mode == GIT_FILEMODE_LINK;

			if (was_link != is_link)
				error = dsync_changes_add(out, 'T', work.v[j].path, NULL, is_link);
			else if (old.v[i].mode != work.v[j].mode || !git_oid_equal(&old.v[i].oid, &work.v[j].oid))
				error = dsync_changes_add(out, 'M', work.v[j].path, NULL, is_link);
			i++;
			j++;
		}
	}
out:
	if (error < 0)
		dsync_changes_dispose(out);
	scan_list_dispose(&work);
	scan_list_dispose(&old);
	statcache_dispose(&cache);
	git_tree_free(tree);
	return error;
}
