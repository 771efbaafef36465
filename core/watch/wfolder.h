/*
 * A watched folder: its state in the loop (debounce, pause, missing), its
 * start and stop (internal to core/watch/).  The loop's
 * own state (struct watch) is here too: every part of the loop reads it.
 */
#ifndef DSYNC_CORE_WATCH_WFOLDER_H
#define DSYNC_CORE_WATCH_WFOLDER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dsync/watch.h"
#include "core/base/array.h"
#include "core/folder/folder.h"
#include "core/watch/watcher.h"
#include "core/watch/writers.h"

#define DEFAULT_DELAY_MS 1000
#define DEFAULT_MAX_DELAY_MS 30000
#define LOCK_WAIT_MS 200         /* another dsync holds the folder ... */
#define LOCK_RETRY_MS 1000       /* ... so try again after this */
#define PAUSE_CHECK_MS 1000      /* the user's pause looked at this often when .dsync/ has no watch */

typedef enum fstate {
	FOLDER_ACTIVE,
	FOLDER_PAUSED,   /* a snapshot would record a mass deletion */
	FOLDER_MISSING   /* the root or its marker went (a missing mount) */
} fstate;

/* A child waiting on one relay remote of a folder (waiters.c). */
typedef struct wpoll {
	char *remote;        /* the remote's name */
	pid_t pid;           /* > 0: the child */
	int fd;              /* the read end of its pipe; -1 none */
	int64_t start_ms;    /* > 0: start it (again) at this time */
	bool listed;         /* still a relay remote of the folder (while updating) */
} wpoll;

typedef struct wfolder {
	struct watch *w;
	char *root;
	char id[33];         /* folder id, from the marker ("" unknown yet) */
	fstate state;
	bool paused_by_rules; /* FOLDER_PAUSED: by the ignore rules, not a loss */
	bool user_paused;    /* the user's pause (dsync pause): no snapshot, no round, no gc */
	bool pause_changed;  /* .dsync/dsync-paused came or went (an event; handled after them) */
	int64_t pause_check_ms; /* > 0: look at the user's pause then (no watch on .dsync/) */
	bool watched;        /* its tree is in the watcher */
	bool listed;         /* still registered (while reloading) */
	int lock_fd;         /* holds its watch lock (take_watch_lock); -1 none */
	dsync_ignore *ign;
	int delay_ms, max_delay_ms;
	bool dirty;
	int64_t first_ms, last_ms;  /* first and last change not yet recorded */
	int64_t retry_ms;    /* > 0: snapshot again at this time */
	int64_t rescan_ms;   /* > 0: rescan at this time (unwatched folders) */
	int64_t missing_ms;  /* > 0: look for a missing folder at this time */
	size_t unwatched;    /* folders below it without a watch */
	writers writers;     /* its files being written */
	bool gone, limit, ignore_changed;  /* from events, handled after them */
	bool limit_warned;   /* told the user that watches ran out */
	int64_t gc_ms;       /* > 0: pack the store at this time ... */
	int64_t gc_due_ms;   /* ... which has been due since then */
	bool remotes;        /* it has remotes: sync after snapshots and on a timer */
	int sync_interval_ms;
	int64_t sync_ms;     /* > 0: a sync round at this time */
	bool mirrors;        /* it has mirrors: their rounds on their own timer */
	int mirror_interval_ms;  /* the shortest of their intervals */
	int64_t mirror_ms;   /* > 0: a round with the mirrors at this time */
	bool mirror_soon;    /* a snapshot recorded something: every mirror goes, due or not */
	bool sync_waiting;   /* a round waits for another child to end */
	bool notify;         /* desktop notifications on (watch.notify; notify.h) */
	int failed_rounds;   /* rounds with the remotes failed in a row (told at NOTIFY_FAILED_ROUNDS) */
	DSYNC_ARRAY(wpoll) polls;  /* its children waiting on relays */
	/* Bumped by every start and stop of the folder; the children are
	 * brought in line when POLLS_GEN differs (waiters_tick), so this
	 * file never calls waiters.c (which calls jobs.c, which needs it). */
	unsigned gen, polls_gen;
	char refs_tag, parent_tag;  /* tags for its plain watches */
	bool refs_watched, parent_watched;
	char config_tag;     /* the plain watch on .dsync/ (its config: mirrors added or changed) */
	bool config_watched, config_changed;
} wfolder;

typedef struct watch {
	const dsync_watch_options *opts;
	watcher *watcher;
	DSYNC_ARRAY(wfolder *) folders;
	char *cfgdir;
	bool registry_changed, overflow;
	int64_t now;
	bool stopping;       /* SIGTERM or SIGINT came */
	int64_t stop_ms;     /* > 0: when it came (seen pending during a snapshot) */
	bool stop_cut;       /* a snapshot left files unread for the stop */
	pid_t gc_pid;        /* > 0: a gc runs in this child process */
	pid_t sync_pid;      /* > 0: a sync round runs in this child process */
	struct wfolder *sync_of;  /* ... for this folder (NULL once it is freed) */
	bool sync_remotes;   /* ... a round with its remotes (not the mirrors alone) */
	sigset_t old_mask;   /* the caller's signal mask (for the child) */
} watch;

/* Tells the log of W (when it has one) about folder F (NULL: the loop). */
void watch_say(const watch *w, dsync_log_level level, const wfolder *f, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A warning of a snapshot or a sync round of the folder PAYLOAD, told. */
void wfolder_warn(const char *message, void *payload);

/* A change at NOW: F is dirty (since NOW, if it was not). */
void wfolder_mark_dirty(wfolder *f, int64_t now);

/* Dirty, due at once. */
void wfolder_mark_due(wfolder *f, int64_t now);

/* Whether F (open as DF) has mirrors, and their shortest interval. */
void wfolder_read_mirrors(wfolder *f, dsync_folder *df);

/* F's .dsync/config changed: its mirrors read again (a new one's round
 * is due at once). */
void wfolder_config_changed(wfolder *f);

/* Takes F's watch lock unless it holds it (F's id known): a folder paused
 * because it cannot be read stays its watcher's (dsync/pause.h). */
int wfolder_hold_lock(wfolder *f);

/* Stops watching F: its watches, its watch lock, its rules and writers go. */
void wfolder_stop(wfolder *f);

/* Stops F and frees it (NULL is fine). */
void wfolder_free(wfolder *f);

/*
 * Starts watching F: opens it, reads its marker, delays and ignore rules,
 * takes the watch lock and puts watches on its tree; then it is due for a
 * snapshot (changes made while nothing watched).
 */
int wfolder_start(wfolder *f);

#endif
