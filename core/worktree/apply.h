/*
 * Updating the working tree to a merged version, safely (internal to the
 * library): what dsync_merge_revs() and the sync round share, and the
 * finishing of an update that was killed, which beginning a write runs.
 */
#ifndef DSYNC_CORE_APPLY_H
#define DSYNC_CORE_APPLY_H

#include "dsync/merge.h"
#include "core/folder/folder.h"
#include "merge/treemerge.h"

/*
 * Merges the N heads HEADS (the folder's own not among them) into F, whose
 * lock the caller holds, after a snapshot: see dsync_merge_revs().
 */
int dsync_worktree_merge(dsync_merge_outcome *out, dsync_folder *f, const dsync_merge_head *heads, size_t n,
			 const dsync_merge_options *o);

/*
 * Completes the working-tree update that a killed dsync left in F's journal,
 * if any (dsync_write_begin() calls it; the caller holds the lock).
 */
int dsync_worktree_resume(dsync_folder *f);

#ifdef DSYNC_TESTING
/*
 * A test hook (test builds only): called at each step of updating the
 * working tree ("classified" once the paths have been compared, "write"
 * before a path is replaced or removed, "written" after, "index" before the
 * index is written, "ref" before the head moves), with the folder-relative
 * path where there is one.  Tests change files there or kill the process.
 * NULL removes it.
 */
void dsync_worktree_set_test_hook(void (*hook)(const char *step, const char *path, void *payload),
				  void *payload);
#endif

#endif
