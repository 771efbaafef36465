/*
 * dsync — browsing history: log, the versions of one file, the contents of a
 * file or folder at a version, diffs, and resolving "REV or WHEN" specs.
 */
#ifndef DSYNC_HISTORY_H
#define DSYNC_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/snapshot.h"

typedef struct dsync_commit_info {
	char id[DSYNC_OID_HEX_SIZE];
	int64_t time;            /* seconds since the epoch */
	int tz_offset;           /* minutes east of UTC, as recorded */
	const char *device_name; /* the author's name */
	const char *device_id;   /* from the Dsync-Device trailer ("" if none) */
	const char *message;     /* the message without trailers */
	size_t parents;
	dsync_changes changes;   /* files changed against the first parent */
} dsync_commit_info;

/* Receives one commit; return non-zero to stop (that value is returned). */
typedef int (*dsync_commit_cb)(const dsync_commit_info *c, void *payload);

typedef struct dsync_log_options {
	const char *path;        /* folder-relative file or folder; NULL: all */
	bool has_since, has_until;
	int64_t since, until;    /* inclusive bounds on the commit time */
	size_t max;              /* 0: no limit */
} dsync_log_options;

/*
 * Calls CB for each snapshot of F, newest first, that touched O->path (when
 * set) within the time bounds.  Returns 0, CB's non-zero value, or a
 * negative DSYNC_E* code.
 */
int dsync_history_log(dsync_folder *f, const dsync_log_options *o,
		      dsync_commit_cb cb, void *payload);

typedef struct dsync_version {
	const dsync_commit_info *commit;
	char kind;               /* 'A' added, 'M' modified, 'D' deleted, 'R'
				    renamed (to path, from old_path) */
	const char *path;        /* the file's name in that version */
	const char *old_path;    /* 'R': the earlier name */
	char blob[DSYNC_OID_HEX_SIZE];           /* content id ("" for 'D') */
	uint64_t size;
	uint32_t mode;
} dsync_version;

typedef int (*dsync_version_cb)(const dsync_version *v, void *payload);

/*
 * Calls CB for every version of the file PATH (folder-relative), newest
 * first, following it back across renames: every snapshot of every device
 * in the history whose file at PATH differs from each of its parents' (a
 * merge that took one side's file is none: that side's snapshot is listed).
 * DSYNC_ENOTFOUND when PATH was never in history.
 */
int dsync_history_versions(dsync_folder *f, const char *path, dsync_version_cb cb,
			   void *payload);

/*
 * Resolves SPEC to a commit id (hex) in OUT: a commit id (short too),
 * HEAD~3 and other revision syntax, or a time spec (dsync_timespec_parse),
 * meaning the last snapshot taken at or before that time.  NULL or "" is the
 * last snapshot.  DSYNC_ENOTFOUND when nothing matches.
 */
int dsync_history_resolve(char out[DSYNC_OID_HEX_SIZE], dsync_folder *f, const char *spec);

/*
 * SPEC as a point in time (seconds since the epoch) in OUT, for --since and
 * --until: a time spec (dsync_timespec_parse) is that time; a version (a
 * snapshot id, short too, HEAD~N) is the time its snapshot was taken.
 * DSYNC_EUSAGE when SPEC is neither, DSYNC_ENOTFOUND when it is a version
 * that names no snapshot.
 */
int dsync_history_when(int64_t *out, dsync_folder *f, const char *spec);

/* Receives bytes; return non-zero to stop. */
typedef int (*dsync_write_cb)(const void *data, size_t len, void *payload);

typedef struct dsync_dir_entry {
	const char *name;        /* as on disk */
	uint32_t mode;           /* git mode; 040000 for a folder */
	uint64_t size;
} dsync_dir_entry;

typedef int (*dsync_dir_cb)(const dsync_dir_entry *e, void *payload);

/*
 * Shows PATH (folder-relative; "" the root) as it was at REV: a file's bytes
 * (a link's target) go to WRITE; a folder's entries go to DIR.  *IS_DIR says
 * which.  DSYNC_ENOTFOUND when PATH is not in that version.
 */
int dsync_history_cat(dsync_folder *f, const char *rev, const char *path, bool *is_dir,
		      dsync_write_cb write, dsync_dir_cb dir, void *payload);

/* Calls CB with the commit REV resolves to (with its changes). */
int dsync_history_show(dsync_folder *f, const char *rev, dsync_commit_cb cb, void *payload);

/*
 * A unified diff, as text sent to WRITE, between FROM and TO (revision or time
 * specs).  FROM NULL: the last snapshot; TO NULL: the working tree.  PATH
 * (folder-relative; NULL or "": all) limits it to one file or folder.
 */
int dsync_history_diff(dsync_folder *f, const char *from, const char *to, const char *path,
		       dsync_write_cb write, void *payload);

/*
 * The result of dsync_check() (include/dsync/sync.h): the local history's
 * part is filled by its walk here (core/history/verify.c), the stores' by
 * the sync layer.
 */

/* Problems listed one by one in dsync_check_result (the rest only counted). */
#define DSYNC_CHECK_LISTED 100

typedef struct dsync_check_result {
	bool walked;             /* the local history was walked (whatever it found) */
	size_t objects;          /* local objects read and found intact */
	size_t versions;         /* local versions (commits) among them */
	char **problems;         /* what is missing or damaged in the local
				    history, one line each ("missing: file
				    'a.txt' (blob ID) in version ID", ...) */
	size_t nproblems;        /* all of them; problems holds the first
				    DSYNC_CHECK_LISTED */
	size_t stores;           /* stores checked (0: no remote) */
	size_t keys;             /* key blobs in them (one each when sound) */
	size_t manifests;        /* manifests read */
	size_t packs;            /* packs referenced (present) */
	size_t packs_read;       /* packs decrypted and indexed (--read-data) */
	uint64_t bytes_read;
	size_t packs_unnamed;    /* packs in a store that no manifest names (left
				    by a push cut off: not a problem) */
	uint64_t bytes_unnamed;
} dsync_check_result;

#endif
