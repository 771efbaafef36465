/*
 * dsync — "how safe is this file": which versions of a file or folder
 * exist and, for the latest one, which devices, remotes and mirrors hold
 * it, as last known here (no network call).  `dsync status PATH` prints it;
 * the dashboard shows the same.
 */
#ifndef DSYNC_STATUS_H
#define DSYNC_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsync/common.h"
#include "dsync/folder.h"

/* A device, remote or mirror, and what is known of it. */
typedef struct dsync_holder {
	char *name;       /* device name (from its snapshots), remote or mirror name */
	char *id;         /* device id (devices, mirrors); NULL for remotes */
	char *via;        /* devices: the remote its head was last read from (NULL: this device) */
	bool holds;       /* holds the latest version (the same content at that path) */
	char head[DSYNC_OID_HEX_SIZE]; /* the newest head known for it ("": none) */
	int64_t head_time;             /* that head's snapshot time (0: none) */
	int64_t since;    /* holds: when this folder first saw it hold the latest
			     version, without a break since (0: unknown; mirrors: not kept) */
} dsync_holder;

typedef struct dsync_holders {
	char *path;              /* folder-relative ("" the whole folder) */
	bool exists;             /* in this device's latest snapshot */
	bool is_dir;
	char latest[DSYNC_OID_HEX_SIZE]; /* its content id there (blob or folder) */
	char head[DSYNC_OID_HEX_SIZE];   /* this device's latest snapshot ("": none) */
	size_t versions;         /* snapshots that changed it */
	int64_t newest, oldest;  /* the newest and oldest of those (0: none) */
	dsync_holder *devices;   /* this device first, then the others by name */
	size_t n_devices;
	dsync_holder *remotes;   /* by name */
	size_t n_remotes;
	dsync_holder *mirrors;   /* by name */
	size_t n_mirrors;
	bool only_here;          /* exists, and no other device, remote or mirror holds it */
} dsync_holders;

/*
 * Fills *OUT for PATH (folder-relative, "" or NULL: the whole folder).  The
 * rule (docs/status.md): a holder holds the latest version when the newest
 * head known for it has the same content at PATH as this device's latest
 * snapshot: an other device, its head as last fetched from any remote
 * (refs/remotes/REMOTE/DEVICE, the newest by time); a remote, any device's
 * head last read from it or the head this device last pushed there; a
 * mirror, what its last round left on the host (refs/mirrors/NAME).
 * DSYNC_ENOTFOUND when PATH was never in history.
 */
int dsync_status_holders(dsync_holders *out, dsync_folder *f, const char *path);
void dsync_status_holders_dispose(dsync_holders *h);

/* A remote in a folder's summary. */
typedef struct dsync_remote_summary {
	char *name;
	int64_t last_sync;       /* the last fetch or push that finished (0: none) */
	bool has_latest;         /* the head this device last pushed there is its latest snapshot */
	/* the space it takes, as the last fetch or push saw it (the state file
	 * "space"; docs/status.md) */
	bool used_known;         /* a round recorded it (false: the fields below are 0) */
	int64_t used_time;       /* when */
	uint64_t store_bytes;    /* the store's manifests and the packs they name */
	uint64_t used;           /* a relay: its group's usage as the relay said; else store_bytes */
	uint64_t quota;          /* a relay's quota for the group (0: none, or not a relay) */
} dsync_remote_summary;

/* A folder at a glance (dsync status --all; the dashboard). */
typedef struct dsync_folder_summary {
	char *root;
	char *device_name;
	char head[DSYNC_OID_HEX_SIZE];   /* the latest snapshot ("": none) */
	int64_t last_snapshot;           /* its time (0: none) */
	size_t conflicts;                /* conflict copies waiting (dsync_conflicts_list) */
	dsync_remote_summary *remotes;   /* by name */
	size_t n_remotes;
	/* files of the latest snapshot that no other device, remote or mirror
	 * holds with the same content (the rule of dsync_status_holders) */
	size_t only_here;
	char **only_here_paths;          /* the first of them in path order, at most DSYNC_ONLY_HERE_PATHS */
	size_t n_only_here_paths;
	bool watched;                    /* a watcher (dsync watch or daemon) watches it now */
	long watcher_pid;                /* watched: its process id (0: unknown) */
	bool paused;                     /* its automatic work is paused (dsync/pause.h) */
	const char *paused_by;           /* paused: "user" (dsync pause; shown first when both)
					    or "watcher" (its own pause); else NULL */
	char *paused_why;                /* paused: why, one line */
	char *paused_until;              /* paused: what ends it, one line */
	int64_t paused_since;            /* paused: since when (0: unknown) */
} dsync_folder_summary;

#define DSYNC_ONLY_HERE_PATHS 100

/*
 * Fills *OUT for F from what F keeps (no network call, no lock): its latest
 * snapshot, the conflicts waiting, and per remote when the last fetch or
 * push finished (the mtime of .dsync/dsync-remotes/NAME/seen), whether
 * it has this device's latest snapshot and the space the last round saw it
 * take; the files kept only here; whether a watcher watches it and whether
 * it is paused (dsync_watch_state_read()).  Mirrors: dsync_mirror_list().
 */
int dsync_status_summary(dsync_folder_summary *out, dsync_folder *f);

/* A relay is "almost full" from this share of its quota on: the round
 * warns, the watcher tells it on the desktop (docs/status.md). */
#define DSYNC_QUOTA_FULL_PERCENT 90

/* The space remote R->name of F took when a round last saw it, into R's
 * used_known, used_time, store_bytes, used and quota (all 0 when no round
 * recorded it); the other fields are left alone.  No network call. */
int dsync_status_remote_space(dsync_remote_summary *r, dsync_folder *f);
void dsync_status_summary_dispose(dsync_folder_summary *s);

#endif
