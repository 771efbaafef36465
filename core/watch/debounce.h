/*
 * Debounce and pause: when a watched folder is due for a snapshot, and the
 * snapshot itself with what follows it (retry, pause, resume, sync, gc)
 * (internal to core/watch/).
 */
#ifndef DSYNC_CORE_WATCH_DEBOUNCE_H
#define DSYNC_CORE_WATCH_DEBOUNCE_H

#include <stdint.h>

#include "core/watch/wfolder.h"

/* Takes a snapshot of F now, and acts on how it went. */
void debounce_snapshot(wfolder *f);

/* When F next needs attention (0: not until an event). */
int64_t debounce_deadline(wfolder *f);

/* Does what is due for F at its loop's now: a snapshot, a rescan, a look
 * for a missing folder, a sync round or a gc. */
void debounce_tick(wfolder *f);

/* The user's pause of F came or went (.dsync/dsync-paused): no snapshot and
 * no round while it is on; off, what changed meanwhile is recorded and synced
 * at once. */
void debounce_pause_check(wfolder *f);

/* Tells the log that F is paused by the user, and why. */
void debounce_say_user_pause(wfolder *f);

#endif
