/*
 * dsync — mirrors: a plain folder on an SSH host (a phone running Termux's
 * sshd or SimpleSSHD, a NAS) as a device of its own (DESIGN.md section 8,
 * docs/mirror.md).  Nothing of dsync runs or is kept there: each round
 * lists the folder, records what changed on it as a snapshot authored by
 * the mirror's own device id and name, merges that into the folder as a
 * device's head is merged, and writes the merged result back.
 */
#ifndef DSYNC_MIRROR_PUBLIC_H
#define DSYNC_MIRROR_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/merge.h"

/* The same signature as dsync_prompt_cb (dsync/sync.h): what reaching the
 * host over ssh may ask (a key's passphrase, a password, a host key). */
typedef int (*dsync_mirror_prompt_cb)(char **out, int kind, const char *text, bool echo, void *payload);

typedef struct dsync_mirror_options {
	int lock_wait_ms;
	dsync_warn_cb warn;              /* may be NULL */
	dsync_mirror_prompt_cb prompt;   /* may be NULL: nothing is asked (ssh BatchMode) */
	void *payload;                   /* for warn and prompt */
	/* Bytes per second each way (0: mirror.NAME.limitRate, or none;
	 * DSYNC_RATE_UNLIMITED from dsync/sync.h is UINT64_MAX: none) */
	uint64_t rate_limit;
	/* Record the phone's folder even when most of its files vanished at
	 * once (else the mirror pauses: DSYNC_EMASSDELETE) */
	bool allow_mass_delete;
	/* Rounds of mirrors whose interval has not passed since their last
	 * round are skipped (the watcher's timer); false: every mirror asked
	 * for runs */
	bool only_due;
} dsync_mirror_options;

#define DSYNC_MIRROR_OPTIONS_INIT { .lock_wait_ms = DSYNC_LOCK_WAIT_MS }

/* What rounds did (summed over the mirrors visited). */
typedef struct dsync_mirror_result {
	size_t mirrors;          /* mirrors visited */
	size_t skipped;          /* not due yet (only_due) */
	/* the scan */
	size_t dirs_listed;      /* folders listed on the host (OPENDIR) */
	size_t files_read;       /* files read whole (new or changed there) */
	uint64_t bytes_read;
	size_t recorded_added, recorded_changed, recorded_deleted, recorded_renamed;
	bool recorded;           /* a snapshot of a mirror was made */
	size_t kept_back;        /* files still being written there: left for the next round */
	/* the merge into the folder */
	dsync_merge_outcome merge;
	/* writing back */
	size_t files_written;    /* files written (new or replaced) on the host */
	uint64_t bytes_written;
	size_t files_removed;    /* files removed there */
	size_t dirs_made, dirs_removed;
	size_t computer_only;    /* paths the host's storage can't hold, kept here */
	size_t cleaned;          /* leftovers of a killed round removed there */
	bool paused;             /* a mirror is paused (mass deletion); see dsync_mirror_list */
} dsync_mirror_result;

/* A path kept on the computer only, and why. */
typedef struct dsync_mirror_kept {
	char *path;              /* folder-relative */
	char *reason;            /* "name has ':'", "differs from 'A.txt' only in case", "symbolic link", ... */
} dsync_mirror_kept;

/* A configured mirror. */
typedef struct dsync_mirror_info {
	char *name;
	char *url;               /* normalised sftp:// form */
	char *path;              /* mirror.NAME.path: the folder-relative subfolder ("" the whole folder) */
	char device_id[DSYNC_OID_HEX_SIZE]; /* 32 hex digits and a NUL */
	int interval_s;          /* mirror.NAME.interval (default 60) */
	time_t last_round;       /* end of the last complete round; 0: none yet */
	char *paused;            /* why it is paused, NULL when not */
	char *last_error;        /* the last round's error, NULL when it succeeded */
	dsync_mirror_kept *kept; /* kept on the computer only, as the last round found */
	size_t n_kept;
} dsync_mirror_info;

/*
 * Adds mirror NAME (letters, digits, '-', '_', '.'; also its device name,
 * so it passes that check; not a remote's name) of the folder at URL
 * (sftp://, ssh:// or scp form) as the part SUBDIR of F (NULL or "": the
 * whole folder; a folder-relative path, made when missing).  Connects
 * once: the host must be reachable and the folder there must exist (made
 * when CREATE).  Gives the mirror a new random device id.  Records
 * nothing yet: the first round merges the two folders as two devices that
 * started apart (identical files merge, different ones become conflict
 * copies).
 */
int dsync_mirror_add(dsync_folder *f, const char *name, const char *url, const char *subdir, bool create,
		     const dsync_mirror_options *o);

/* Lists F's mirrors (sorted by name). */
int dsync_mirror_list(dsync_mirror_info **out, size_t *n, dsync_folder *f);
void dsync_mirror_list_free(dsync_mirror_info *list, size_t n);

/* Whether F has a mirror (false when its config cannot be read). */
bool dsync_folder_has_mirrors(dsync_folder *f);
/* The shortest mirror.NAME.interval of F's mirrors in ms, 0 when none. */
int dsync_mirror_interval_ms(dsync_folder *f);

/* Forgets mirror NAME: its config, state and ref (its snapshots stay in
 * history); nothing on the host is touched. */
int dsync_mirror_remove(dsync_folder *f, const char *name);

/*
 * Sets KEY of mirror NAME: "interval" (seconds, 1 or more), "ssh" (auto,
 * openssh, builtin), "sshCommand" (one line), "limitRate" (as
 * dsync_rate_parse takes it); VALUE NULL removes it.  DSYNC_EUSAGE for
 * anything else.
 */
int dsync_mirror_set(dsync_folder *f, const char *name, const char *key, const char *value);

/*
 * One round with mirror NAME (NULL: every mirror) under F's lock: a
 * snapshot of F, then for each mirror the scan of the host's folder, a
 * snapshot of what changed there (authored by the mirror), the merge into
 * F, and the merged result written back.  DSYNC_EMASSDELETE when a mirror
 * paused (its folder emptied at once: storage not mounted), DSYNC_ECONFLICT
 * when conflicts wait, DSYNC_EAUTH when the host refused the login.  With
 * several mirrors, a failing one does not stop the others: the first error
 * is returned after all ran.
 */
int dsync_mirror_round(dsync_mirror_result *out, dsync_folder *f, const char *name,
		       const dsync_mirror_options *o);

#endif
