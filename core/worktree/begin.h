/*
 * Beginning and ending a write into a folder (internal to the library;
 * DESIGN.md section 2): what every writing entry point calls instead of
 * taking the bare lock.
 */
#ifndef DSYNC_CORE_BEGIN_H
#define DSYNC_CORE_BEGIN_H

#include "core/folder/folder.h"

/*
 * Takes F's lock (waiting up to WAIT_MS milliseconds) and, when this handle
 * did not hold it already, puts right what a writer killed mid-way left:
 * git's lock and temporary files (dsync_folder_repair), a restore's
 * temporary files (dsync_worktree_temps_sweep), and a working-tree update
 * its journal names, which is finished (dsync_worktree_resume; if that
 * fails the journal is gone and the folder is as it is: the next snapshot
 * records it, nothing is lost).  Nested calls count, and never repair.
 * Released with dsync_write_end().
 */
int dsync_write_begin(dsync_folder *f, int wait_ms);

/* Ends one level of a write begun with dsync_write_begin(). */
void dsync_write_end(dsync_folder *f);

#endif
