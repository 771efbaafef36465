/*
 * Lists of changes between two trees (internal to core/; the list type and
 * dsync_changes_dispose() are public, in dsync/snapshot.h).
 */
#ifndef DSYNC_CORE_HISTORY_CHANGES_H
#define DSYNC_CORE_HISTORY_CHANGES_H

#include <git2.h>
#include <stdbool.h>

#include "dsync/snapshot.h"

/* Appends a change; paths are stored forms, unescaped here. */
int dsync_changes_add(dsync_changes *c, char kind, const char *stored_path,
		      const char *stored_old, bool is_link);

/* Moves every change of SRC (already unescaped) to the end of DST and
 * empties SRC: 0, or a negative DSYNC_E* code (out of memory; both
 * unchanged). */
int dsync_changes_move(dsync_changes *dst, dsync_changes *src);

/* Appends the deltas of DIFF as changes. */
int dsync_changes_from_diff(dsync_changes *out, git_diff *diff);

enum { DSYNC_RENAMES_NONE = 0, DSYNC_RENAMES_EXACT = 1, DSYNC_RENAMES_SIMILAR = 2 };

/* The changes from tree FROM to tree TO (either may be NULL), limited to
 * the stored path or directory PATHSPEC when non-NULL; RENAMES pairs
 * renames: none, identical content only (cheap), or similar content too
 * (git's 50% rule; reads the candidates). */
int dsync_changes_between(dsync_changes *out, git_repository *repo, git_tree *from,
			  git_tree *to, const char *pathspec, int renames);

#endif
