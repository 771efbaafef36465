/*
 * Merging other heads into the folder (internal part; `dsync merge` is
 * dsync_merge_revs in include/dsync/merge.h).
 */
#ifndef DSYNC_CORE_MERGEINTO_H
#define DSYNC_CORE_MERGEINTO_H

#include "dsync/merge.h"
#include "core/folder/folder.h"
#include "merge/treemerge.h"
#include "merge/heads.h"

/*
 * Merges the N heads HEADS (the folder's own not among them) into F, whose
 * lock the caller holds, after a snapshot: see dsync_merge_revs().
 */
int dsync_worktree_merge(dsync_merge_outcome *out, dsync_folder *f, const dsync_merge_head *heads, size_t n,
			 const dsync_merge_options *o);

#endif
