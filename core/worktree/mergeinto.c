/*
 * Merging other heads into the folder (DESIGN.md section 6; docs/merge.md):
 * `dsync merge` and the sync round's merge.  The merge itself is the merge
 * layer's (merge/treemerge.c); writing its result into the working tree is
 * apply.c's.
 */
#include "core/base/internal.h"
#include "dsync/merge.h"
#include "dsync/history.h"
#include "dsync/snapshot.h"
#include "core/worktree/mergeinto.h"
#include "core/worktree/apply.h"
#include "core/worktree/begin.h"
#include "core/history/snapshot.h"
#include "core/history/changes.h"
#include "core/history/head.h"
#include "core/history/tree.h"

/* Counts the conflict copies in the tree of the head HEAD present on disk. */
static size_t open_conflicts(dsync_folder *f)
{
	dsync_conflicts c;
	size_t n = 0;

	if (dsync_conflicts_list(&c, f) == 0)
		n = c.n;
	dsync_conflicts_dispose(&c);
	return n;
}

int dsync_worktree_merge(dsync_merge_outcome *out, dsync_folder *f, const dsync_merge_head *heads, size_t n,
		     const dsync_merge_options *o)
{
	dsync_merge_options defaults = DSYNC_MERGE_OPTIONS_INIT;
	dsync_merge_result r = { 0 };
	dsync_merge_head *all = NULL;
	git_commit *head_commit = NULL;
	git_oid from, to;
	char key[DSYNC_OID_HEX_SIZE];
	size_t i;
	int err, error;

	if (!o)
		o = &defaults;
	if ((error = dsync_worktree_head(&from, f)) < 0)
		return error;
	if ((all = calloc(n + 1, sizeof(*all))) == NULL)
		return dsync_error_oom();
	memcpy(all, heads, n * sizeof(*all));
	if (!git_oid_is_zero(&from)) {
		if ((err = git_commit_lookup(&head_commit, f->repo, &from)) < 0) {
			error = dsync_error_git(err, "cannot read the history of '%s'", f->root);
			goto out;
		}
		dsync_merge_commit_key(key, head_commit);
		all[n].device_id = key;
		all[n].commit = from;
		n++;
	}
	if ((error = dsync_merge_heads(&to, &r, f->repo, all, n)) < 0)
		goto out;
	out->conflicts = r.n;
	if (git_oid_equal(&to, &from)) {
		git_oid_tostr(out->head, sizeof(out->head), &from);
		out->open_conflicts = open_conflicts(f);
		error = 0;
		goto out;
	}
	out->merged = true;
	for (i = 0; i < n; i++)
		if (git_oid_equal(&all[i].commit, &to))
			out->fast_forward = true;
	if ((error = dsync_worktree_update(out, f, &from, &to, o)) < 0)
		goto out;
	git_oid_tostr(out->head, sizeof(out->head), &to);
	out->open_conflicts = open_conflicts(f);
	error = 0;
out:
	dsync_merge_result_dispose(&r);
	git_commit_free(head_commit);
	free(all);
	return error;
}

int dsync_merge_revs(dsync_merge_outcome *out, dsync_folder *f, const char *const *revs, size_t n,
		     const dsync_merge_options *o)
{
	dsync_merge_options defaults = DSYNC_MERGE_OPTIONS_INIT;
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	dsync_merge_head *heads = NULL;
	char (*keys)[DSYNC_OID_HEX_SIZE] = NULL;
	bool locked = false;
	size_t i;
	int err, error;

	memset(out, 0, sizeof(*out));
	if (!o)
		o = &defaults;
	if (n == 0)
		return dsync_error_set(DSYNC_EUSAGE, "nothing to merge: name a version");
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	heads = calloc(n, sizeof(*heads));
	keys = calloc(n, sizeof(*keys));
	if (!heads || !keys) {
		error = dsync_error_oom();
		goto out;
	}
	if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		goto out;
	locked = true;
	/* every revision must exist before anything is done */
	for (i = 0; i < n; i++) {
		git_commit *c = NULL;
		char hex[DSYNC_OID_HEX_SIZE], q[DSYNC_QUOTE_SIZE];

		if ((error = dsync_history_resolve(hex, f, revs[i])) < 0)
			goto out;
		if (git_oid_fromstr(&heads[i].commit, hex) < 0 ||
		    (err = git_commit_lookup(&c, f->repo, &heads[i].commit)) < 0) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a version in '%s'", dsync_quote(q, revs[i]),
						f->root);
			goto out;
		}
		dsync_merge_commit_key(keys[i], c);
		heads[i].device_id = keys[i];
		git_commit_free(c);
	}
	so.lock_wait_ms = o->lock_wait_ms;
	so.warn = o->warn;
	so.payload = o->payload;
	if ((error = dsync_snapshot_take_locked(&sr, f, &so)) < 0)
		goto out;
	error = dsync_worktree_merge(out, f, heads, n, o);
out:
	if (locked)
		dsync_write_end(f);
	free(heads);
	free(keys);
	return error;
}
