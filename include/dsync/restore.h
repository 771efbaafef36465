/*
 * dsync — restore: bring back files and folders as they were at a version.
 */
#ifndef DSYNC_RESTORE_H
#define DSYNC_RESTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "dsync/common.h"
#include "dsync/folder.h"

typedef struct dsync_restore_options {
	const char *at;          /* REV or WHEN; NULL: the last snapshot */
	const char *to;          /* write there instead of into the folder */
	int lock_wait_ms;
	dsync_warn_cb warn;
	void *payload;
	bool force;              /* replace files no version holds (see below) */
} dsync_restore_options;

#define DSYNC_RESTORE_OPTIONS_INIT { .lock_wait_ms = DSYNC_LOCK_WAIT_MS }

typedef struct dsync_restore_result {
	size_t files;            /* files (and links) written */
	char rev[DSYNC_OID_HEX_SIZE];            /* the version restored from */
	char before[DSYNC_OID_HEX_SIZE];         /* snapshot of what was replaced ("" if none was needed) */
	char after[DSYNC_OID_HEX_SIZE];          /* snapshot recording the restore ("" if none) */
} dsync_restore_result;

/*
 * Restores the N folder-relative PATHS ("" is the whole folder) as they were
 * at O->at.  A folder is restored file by file: every file it had comes back
 * (deleted ones too), files added since stay.
 *
 * In place (O->to NULL): takes the lock, snapshots first so that the
 * versions being replaced stay in history, writes each file atomically
 * (temporary file and rename), then snapshots the result.
 *
 * With O->to: writes into O->to and leaves the folder alone.  When O->to is
 * an existing folder, each path goes inside it under its own name;
 * otherwise a single path is written as O->to itself (several: O->to is made
 * a folder).
 *
 * Every path is checked before anything is written: DSYNC_ENOTFOUND when
 * one is not in that version.
 */
int dsync_restore(dsync_restore_result *out, dsync_folder *f, const char *const *paths,
		  size_t n, const dsync_restore_options *o);

#endif
