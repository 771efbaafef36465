/*
 * dsync — merging another head into the folder, and the conflicts a merge
 * leaves for the user (DESIGN.md section 6).
 */
#ifndef DSYNC_MERGE_PUBLIC_H
#define DSYNC_MERGE_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "dsync/common.h"
#include "dsync/folder.h"

typedef struct dsync_merge_options {
	int lock_wait_ms;        /* how long to wait for the folder's lock */
	dsync_warn_cb warn;
	void *payload;
} dsync_merge_options;

#define DSYNC_MERGE_OPTIONS_INIT { .lock_wait_ms = DSYNC_LOCK_WAIT_MS }

typedef struct dsync_merge_outcome {
	char head[DSYNC_OID_HEX_SIZE];           /* the folder's head afterwards, hex */
	bool merged;             /* false: the folder already had every head */
	bool fast_forward;       /* taken as it was: no merge commit */
	size_t written;          /* files and links written into the folder */
	size_t removed;          /* files and links removed from it */
	size_t conflicts;        /* conflict copies this merge made */
	size_t open_conflicts;   /* conflict copies in the folder now */
	size_t redone;           /* times a file the user changed during the
				    merge was snapshotted and the merge redone */
} dsync_merge_outcome;

/*
 * Merges the N revisions REVS (commit ids, refs, or anything
 * dsync_history_resolve() takes) into F: takes the lock, snapshots the
 * working tree, merges every head one at a time in device-id order (merge
 * layer), checks the incoming trees (a hostile path: DSYNC_ECORRUPT, nothing
 * changed), then updates the working tree:
 *
 * - only the paths the merge changed are touched, each written atomically;
 * - a file the user changed after the snapshot is never overwritten: it is
 *   left alone, snapshotted, and the merge redone on top of it;
 * - a journal (.dsync/dsync-merge) makes the update all or nothing: killed
 *   anywhere, the next command that writes to the folder completes it;
 * - the index (the stat cache) and refs/heads/main move last.
 *
 * A revision that doesn't exist: DSYNC_ENOTFOUND, nothing changed.
 */
int dsync_merge_revs(dsync_merge_outcome *out, dsync_folder *f, const char *const *revs, size_t n,
		     const dsync_merge_options *o);

/* One open conflict: a conflict copy in the folder. */
typedef struct dsync_conflict {
	char *copy;              /* the copy's path, folder-relative, as on disk */
	char *path;              /* the path it is a copy of */
	char *device;            /* the device that wrote the copy's content
				    (as in its name) */
	time_t when;             /* when that device saved it (UTC) */
	bool path_exists;        /* something is at PATH */
} dsync_conflict;

typedef struct dsync_conflicts {
	dsync_conflict *v;
	size_t n, cap;
} dsync_conflicts;

void dsync_conflicts_dispose(dsync_conflicts *c);

/*
 * Lists F's open conflicts: the conflict copies a merge made (as the merge
 * commits in the history record them) that are in its last snapshot and
 * still in the folder, sorted by path; a file merely named like a copy is
 * none.  Reads, writes nothing.
 */
int dsync_conflicts_list(dsync_conflicts *out, dsync_folder *f);

enum {
	DSYNC_KEEP_FILE = 0,     /* keep the version at the path, remove the copy */
	DSYNC_KEEP_COPY = 1,     /* the copy's version goes to the path */
	DSYNC_KEEP_BOTH = 2      /* keep both: the copy gets a plain name */
};

/*
 * Resolves the conflict at PATH (folder-relative; the original path, which
 * resolves all of its copies, or one copy's path) by keeping KEEP, and
 * records the result as a new version (its id into COMMIT, DSYNC_OID_HEX_SIZE bytes).
 * DSYNC_KEEP_COPY needs exactly one copy (name it when there are several);
 * DSYNC_KEEP_BOTH renames each copy to "NAME (DEVICE YYYY-MM-DD HHMMSS).EXT".
 * The versions before are in history.  DSYNC_ENOTFOUND when PATH has no
 * conflict.
 */
int dsync_conflict_resolve(char *commit, dsync_folder *f, const char *path, int keep,
			   const dsync_merge_options *o);

#endif
