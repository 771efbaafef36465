/*
 * dsync — pausing a folder's automatic work, and whether a watcher watches
 * it (`dsync pause`, `dsync resume`, `dsync status --all`; docs/watch.md,
 * "Pause").
 *
 * Two pauses, each a small file in .dsync/ (written atomically):
 *   dsync-paused        the user's (dsync_folder_pause), until dsync_folder_resume;
 *   dsync-watch-paused  the watcher's own (most files vanished at once, the
 *                       ignore rules would drop most files, the folder cannot
 *                       be read), until what caused it is undone or confirmed.
 * While either is on, a watcher takes no snapshot and runs no sync or mirror
 * round of the folder; manual commands (dsync snapshot, dsync sync) still
 * work.  Resuming the user's pause never confirms a mass deletion: the
 * watcher's pause ends only when the files return or the user runs
 * `dsync snapshot --allow-mass-delete`.
 *
 * Whether a watcher (dsync watch or dsync daemon) watches the folder right
 * now is its watch lock (a flock on $XDG_CONFIG_HOME/dsync/watch/ID.lock,
 * ID the folder id, held for as long as it watches; its pid inside): a
 * watcher that died holds nothing.
 */
#ifndef DSYNC_PAUSE_H
#define DSYNC_PAUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "dsync/common.h"
#include "dsync/folder.h"

/* The longest reason a pause keeps, in bytes. */
#define DSYNC_PAUSE_WHY_MAX 300

/* One pause. */
typedef struct dsync_pause_info {
	bool on;
	int64_t since;   /* when it began (Unix seconds; 0: unknown) */
	char *why;       /* why, one line ("paused by the user" when none was given) */
	char *until;     /* what ends it, one line ("dsync resume", ...) */
} dsync_pause_info;

/* A folder's watching and pause state, as another process sees it. */
typedef struct dsync_watch_state {
	bool watched;            /* a watcher holds the folder's watch lock now */
	long pid;                /* watched: its process id (0: unknown) */
	dsync_pause_info user;   /* the user's pause (on whether or not it is watched) */
	dsync_pause_info watcher; /* the watcher's own pause (only while it watches) */
} dsync_watch_state;

/*
 * Pauses F's automatic work (snapshots, sync and mirror rounds of a
 * watcher) for the user: .dsync/dsync-paused holds when and WHY (NULL or
 * "": "paused by the user").  WHY is one line of at most
 * DSYNC_PAUSE_WHY_MAX bytes of UTF-8 text without control characters, else
 * DSYNC_EUSAGE.  Paused already: the reason is replaced, the time kept.
 * A watcher hears of it at once (or within a second).
 */
int dsync_folder_pause(dsync_folder *f, const char *why);

/*
 * Ends the user's pause of F (none: nothing to do, 0).  A watcher records
 * what changed meanwhile and syncs within about a second.  The watcher's
 * own pause (a mass deletion) stays: see dsync_watch_state_read().
 */
int dsync_folder_resume(dsync_folder *f);

/*
 * Fills *OUT for F: whether a watcher watches it now (and its pid), the
 * user's pause and the watcher's.  No lock taken, nothing written (an older
 * folder without the marker file gets it).  Dispose with
 * dsync_watch_state_dispose().
 */
int dsync_watch_state_read(dsync_watch_state *out, dsync_folder *f);
void dsync_watch_state_dispose(dsync_watch_state *s);

#endif
