/*
 * gc's internal entry (not public): the public dsync_gc() begins a write
 * (core/worktree/begin.c) and calls this.
 */
#ifndef DSYNC_CORE_GC_H
#define DSYNC_CORE_GC_H

#include "dsync/gc.h"

/* As dsync_gc(), under the plain lock only (never repairs, never finishes
 * an interrupted update). */
int dsync_gc_locked(dsync_gc_result *out, dsync_folder *f, int lock_wait_ms);

#endif
