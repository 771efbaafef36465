/*
 * Beginning a write (DESIGN.md section 2): the lock, then the repair of what
 * a crashed writer left, then its interrupted working-tree update finished.
 *
 * The lock itself (core/folder/lock.c) only locks.  Finishing an update
 * snapshots and merges, which take the lock again: they run here, above the
 * lock, through the `_locked` variants that never begin a write, so no call
 * goes round in a circle.
 *
 * History (core/history/) lies below this room and cannot call up into it:
 * its two writing entry points of the public API, dsync_snapshot_take() and
 * dsync_gc(), are defined here as a write begun around history's `_locked`
 * variants (dsync_snapshot_take_locked, dsync_gc_locked).
 */
#include "core/base/internal.h"
#include "dsync/gc.h"
#include "dsync/snapshot.h"
#include "core/worktree/begin.h"
#include "core/history/snapshot.h"
#include "core/folder/repair.h"
#include "core/worktree/apply.h"
#include "core/worktree/temp.h"

#include "core/history/gc.h"
#include "core/history/changes.h"
#include "core/history/head.h"
#include "core/history/tree.h"

int dsync_write_begin(dsync_folder *f, int wait_ms)
{
	bool first = !dsync_folder_locked(f);
	int error;

	if ((error = dsync_folder_lock(f, wait_ms)) < 0 || !first)
		return error;
	dsync_folder_repair(f);
	/* a restore killed while writing: its temporary files */
	dsync_worktree_temps_sweep(f);
	/* a merge killed while updating the working tree is finished first;
	 * if that fails, its journal is gone and the folder is as it is: the
	 * holder goes on (a snapshot records it; nothing is lost) */
	if (dsync_worktree_resume(f) < 0)
		dsync_error_clear();
	return 0;
}

void dsync_write_end(dsync_folder *f)
{
	dsync_folder_unlock(f);
}

int dsync_snapshot_take(dsync_snapshot_result *out, dsync_folder *f, const dsync_snapshot_options *opts)
{
	dsync_snapshot_options defaults = DSYNC_SNAPSHOT_OPTIONS_INIT;
	int error;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if ((error = dsync_write_begin(f, opts->lock_wait_ms)) < 0)
		return error;
	error = dsync_snapshot_take_locked(out, f, opts);
	dsync_write_end(f);
	return error;
}

int dsync_gc(dsync_gc_result *out, dsync_folder *f, int lock_wait_ms)
{
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	/* what a crashed writer left is put right first; gc then packs under
	 * the plain lock, which it lets go before removing the loose copies
	 * so that writers need not wait for that */
	if ((error = dsync_write_begin(f, lock_wait_ms)) < 0)
		return error;
	dsync_write_end(f);
	return dsync_gc_locked(out, f, lock_wait_ms);
}
