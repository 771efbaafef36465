/*
 * Taking a snapshot under a lock the caller holds (core/history/snapshot.c).
 */
#ifndef DSYNC_HISTORY_SNAPSHOT_H
#define DSYNC_HISTORY_SNAPSHOT_H

#include "dsync/snapshot.h"

/* As dsync_snapshot_take(), under the plain lock only (nested when the
 * caller holds it): never repairs, never finishes an interrupted update.
 * The public entry begins a write around it (core/worktree/begin.c). */
int dsync_snapshot_take_locked(dsync_snapshot_result *out, dsync_folder *f,
			       const dsync_snapshot_options *opts);

#endif
