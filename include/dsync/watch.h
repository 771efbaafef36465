/*
 * dsync — watching folders: every save becomes a version (`dsync watch`,
 * `dsync daemon`).
 */
#ifndef DSYNC_WATCH_H
#define DSYNC_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "dsync/common.h"

typedef enum dsync_log_level {
	DSYNC_LOG_ERROR,
	DSYNC_LOG_WARNING,
	DSYNC_LOG_INFO,
	DSYNC_LOG_DEBUG
} dsync_log_level;

/* One log line: FOLDER is the folder's root, or NULL for the watcher as a
 * whole. */
typedef void (*dsync_log_cb)(dsync_log_level level, const char *folder, const char *message,
			     void *payload);

typedef struct dsync_watch_options {
	int delay_ms;        /* quiet time before a snapshot; < 0: the folder's
				watch.delay, else 1000 */
	int max_delay_ms;    /* longest wait while writes go on; < 0: the
				folder's watch.maxDelay, else 30000 */
	int rescan_ms;       /* full rescans while a folder cannot be watched
				whole (out of watches); <= 0: 60000 */
	bool registered;     /* watch every registered folder, following the
				list as it changes (the daemon) */
	dsync_log_cb log;
	void *payload;
} dsync_watch_options;

#define DSYNC_WATCH_OPTIONS_INIT { .delay_ms = -1, .max_delay_ms = -1 }

/*
 * Parses a delay in seconds ("1", "0.5", "2s"; at most a day) into *MS, as
 * the watch options and the watch.* config keys take it.  False when S is
 * not one.
 */
bool dsync_parse_seconds(const char *s, int *ms);

/*
 * Watches the folders DIRS (NDIRS of them; with OPTS->registered, the
 * registered folders instead) until SIGTERM or SIGINT: each change is
 * recorded as a snapshot once its folder has been quiet for the delay and no
 * file is still being written, or at the latest after the maximum delay
 * (files still being written then keep their previous version).  A folder
 * that would record the loss of most of its files, or whose root went (an
 * unmounted drive), is paused until its files return or the user confirms
 * with `dsync snapshot --allow-mass-delete`; that pause is written for other
 * processes to read, and the user's pause (dsync/pause.h) is honoured: no
 * snapshot, sync or mirror round while either is on.  Loose objects are packed (gc)
 * as they pile up.  SIGHUP reloads the folder list, configs and ignore rules.
 * Blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD for its own use while it runs
 * (gc runs in a child process, so the loop goes on meanwhile).
 *
 * Returns 0 after a clean stop, or a negative DSYNC_E* code when no folder
 * could be watched at all.
 */
int dsync_watch_run(const char *const *dirs, size_t ndirs, const dsync_watch_options *opts);

#endif
