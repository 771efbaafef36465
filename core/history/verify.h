/*
 * Verifying a folder's local history: every object reachable from every ref
 * read once and its hash checked, as `git fsck` does (docs/sync.md, "dsync
 * check").
 */
#ifndef DSYNC_VERIFY_H
#define DSYNC_VERIFY_H

#include "dsync/history.h"
#include "core/folder/folder.h"

/*
 * Walks every version reachable from F's refs (refs/heads/..., refs/remotes/...,
 * any other), and every folder, file and chunk of a big file below each,
 * reading each object once (so libgit2 checks its hash) and each pack's
 * index; counts what it read in OUT->objects and OUT->versions, and appends
 * one line per object that is missing or damaged to OUT->problems (the
 * first DSYNC_CHECK_LISTED of them; OUT->nproblems counts all).  A damaged
 * history is not an error here: returns 0, or a negative DSYNC_E* code when
 * the walk itself could not run (no memory).  PROGRESS (may be NULL) hears
 * of the walk as "history", with PAYLOAD.
 */
DSYNC_WARN_UNUSED
int dsync_verify_history(dsync_check_result *out, dsync_folder *f, dsync_transfer_cb progress, void *payload);

#endif
