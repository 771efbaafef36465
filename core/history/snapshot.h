/*
 * Taking a snapshot under a lock the caller holds (core/history/snapshot.c).
 */
#ifndef DSYNC_HISTORY_SNAPSHOT_H
#define DSYNC_HISTORY_SNAPSHOT_H

#include <git2.h>

#include "dsync/snapshot.h"
#include "core/folder/folder.h"

/* As dsync_snapshot_take(), under the plain lock only (nested when the
 * caller holds it): never repairs, never finishes an interrupted update.
 * The public entry begins a write around it (core/worktree/begin.c). */
int dsync_snapshot_take_locked(dsync_snapshot_result *out, dsync_folder *f,
			       const dsync_snapshot_options *opts);

/*
 * Records the stored-form tree TREE as a version of another device (a
 * mirror's): author and committer NAME <DEVICE_ID>, time now, parent PARENT
 * (NULL: none), the message a snapshot gets (made from the changes since
 * PARENT's tree, exact renames) with the trailer "Dsync-Device: DEVICE_ID".
 * The objects are durable before the ref REFNAME moves from PARENT to the
 * new commit (compare-and-swap; PARENT NULL: REFNAME must not exist yet),
 * and the ref after.  *OUT: the commit; COUNTS: its changes counted
 * (added, modified, deleted, renamed), committed and commit.
 */
int dsync_history_commit_device(git_oid *out, dsync_snapshot_result *counts, dsync_folder *f, const char *refname,
				const git_oid *tree, const git_oid *parent, const char *name, const char *device_id);

#endif
