/*
 * The deterministic merge commit, and merging several devices' heads into
 * one (DESIGN.md section 6).
 */
#ifndef DSYNC_HEADS_H
#define DSYNC_HEADS_H

#include <git2.h>

#include "merge/treemerge.h"

/*
 * Records TREE as the merge of A and B, deterministically (devices merging
 * the same heads make the same commit): parents sorted by id, author and
 * committer "dsync" at the later parent's time, a message made from the
 * inputs and R's conflicts.
 */
int dsync_merge_commit(git_oid *out, git_repository *repo, const git_oid *tree, git_commit *a,
		       git_commit *b, const dsync_merge_result *r);

/* One device's head, for dsync_merge_heads(). */
typedef struct dsync_merge_head {
	const char *device_id;
	git_oid commit;
} dsync_merge_head;

/*
 * Merges the N heads HEADS (this device's among them) into one commit,
 * *OUT: one at a time in device-id order, a head that the result so far
 * already contains skipped, a result that a head contains replaced by it
 * (no merge commit), every other pair merged by dsync_merge_trees_of() and
 * recorded by dsync_merge_commit().  Every device that merges the same heads
 * gets the same commit, whichever of them is its own.  The conflicts of all
 * the merges are appended to CONFLICTS (its tree: the last merge's).
 */
int dsync_merge_heads(git_oid *out, dsync_merge_result *conflicts, git_repository *repo,
		      const dsync_merge_head *heads, size_t n);

#endif
