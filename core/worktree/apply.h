/*
 * Updating the working tree to a merged version, safely (internal to the
 * library): what merging into the folder (mergeinto.c) uses, and the
 * finishing of an update that was killed, which beginning a write runs.
 */
#ifndef DSYNC_CORE_APPLY_H
#define DSYNC_CORE_APPLY_H

#include <git2.h>

#include "dsync/merge.h"
#include "core/folder/folder.h"

/* F's head into *OUT (zero before the first snapshot; a head that can't
 * be read, or lost after snapshots, is a damaged history, not "none"). */
int dsync_worktree_head(git_oid *out, dsync_folder *f);

/*
 * Updates the working tree and the head of F, whose lock the caller holds,
 * from the commit *FROM (the head now; zero before the first snapshot) to
 * *TO, never overwriting what the user changed after the snapshot: such a
 * change is snapshotted and TO merged onto it again, so *FROM and *TO may
 * change.  Counts what it does into OUT.
 */
int dsync_worktree_update(dsync_merge_outcome *out, dsync_folder *f, git_oid *from, git_oid *to,
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
