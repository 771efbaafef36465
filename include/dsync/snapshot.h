/*
 * dsync — snapshots: record every change in the working tree as one commit,
 * and report what changed since the last one.
 */
#ifndef DSYNC_SNAPSHOT_H
#define DSYNC_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "dsync/common.h"
#include "dsync/folder.h"

typedef struct dsync_snapshot_options {
	const char *message;     /* NULL: made from what changed */
	bool allow_mass_delete;  /* record the loss of most files (see below) */
	int lock_wait_ms;        /* how long to wait for the folder's lock */
	dsync_progress_cb progress;
	dsync_warn_cb warn;      /* unreadable files and the like */
	/* Asked for each changed file (PATH folder-relative, as on disk) before
	 * it is read; true keeps its previous version (a new file stays out):
	 * the watcher's files still open for writing.  May be NULL. */
	bool (*keep)(const char *path, void *payload);
	void *payload;
} dsync_snapshot_options;

#define DSYNC_SNAPSHOT_OPTIONS_INIT { .lock_wait_ms = DSYNC_LOCK_WAIT_MS }

typedef struct dsync_snapshot_result {
	bool committed;          /* false: nothing changed */
	char commit[DSYNC_OID_HEX_SIZE];         /* the new (or current) head, hex; "" if none */
	size_t files;            /* files in the snapshot */
	size_t added, modified, deleted, renamed;
	size_t problems;         /* files that could not be read (warned) */
	size_t busy;             /* changed files OPTS->keep held back */
	size_t left_out;         /* DSYNC_EMASSDELETE: of DELETED, files still on
				    disk (the ignore rules leave them out now) */
} dsync_snapshot_result;

/*
 * Records every change in F's working tree as one commit on refs/heads/main:
 * adds, edits, deletes, renames, symlinks (as links), the executable bit.
 * Nothing changed: no commit (OUT->committed false).  Unreadable files keep
 * their previous version and are reported through OPTS->warn.  Takes the
 * folder's lock.  Durable: objects and index are flushed to disk before the
 * ref moves, and the ref after.
 *
 * Mass-vanish guard: when more than half of the files, and more than 10,
 * would be recorded as deleted, nothing is recorded and DSYNC_EMASSDELETE is
 * returned (OUT->deleted of OUT->files would go; OUT->left_out of them are
 * still on disk: changed ignore rules leave them out, its message says so),
 * unless OPTS->allow_mass_delete.
 */
int dsync_snapshot_take(dsync_snapshot_result *out, dsync_folder *f,
			const dsync_snapshot_options *opts);

typedef struct dsync_change {
	char kind;               /* 'A' added, 'M' modified, 'D' deleted,
				    'T' type changed, 'R' renamed */
	char *path;              /* as on disk (unescaped), folder-relative */
	char *old_path;          /* 'R' only: the name before */
} dsync_change;

typedef struct dsync_changes {
	dsync_change *v;
	size_t n, cap;
} dsync_changes;

/* Empties C. */
void dsync_changes_dispose(dsync_changes *c);

/*
 * What changed in F's working tree since the last snapshot, sorted by path,
 * into OUT (the caller disposes it).  Reads files whose stat changed, writes
 * nothing.  Unreadable files are reported through WARN.
 */
int dsync_status(dsync_changes *out, dsync_folder *f, dsync_warn_cb warn, void *payload);

#endif
