/*
 * The pause files and the watch lock's place, for the watcher (internal;
 * the public calls are dsync/pause.h).
 */
#ifndef DSYNC_CORE_FOLDER_PAUSE_H
#define DSYNC_CORE_FOLDER_PAUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "dsync/pause.h"
#include "core/base/buf.h"

/* The files in .dsync/ (dsync/pause.h). */
#define DSYNC_PAUSE_USER_FILE "dsync-paused"
#define DSYNC_PAUSE_WATCHER_FILE "dsync-watch-paused"

/* The watch lock of the folder FOLDER_ID, CFGDIR/watch/FOLDER_ID.lock, appended to OUT. */
int dsync_pause_lock_path(dsync_buf *out, const char *cfgdir, const char *folder_id);

/* Whether the folder at ROOT has the user's pause on (one stat). */
bool dsync_pause_user_on(const char *root);

/*
 * Writes the watcher's own pause of the folder at ROOT (WHY, what ends it:
 * UNTIL), atomically; an earlier one of the same WHY keeps its time.
 */
int dsync_pause_watcher_set(const char *root, const char *why, const char *until);

/* Removes the watcher's own pause of the folder at ROOT (none: nothing). */
void dsync_pause_watcher_clear(const char *root);

/* Reads the pause file NAME of the folder at ROOT into *OUT (none: OUT->on false, 0). */
int dsync_pause_read(dsync_pause_info *out, const char *root, const char *name);

void dsync_pause_info_dispose(dsync_pause_info *p);

#endif
