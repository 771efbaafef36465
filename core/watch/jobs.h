/*
 * The child jobs of the loop: gc and sync rounds, each in a child process so
 * that the loop goes on watching (internal to core/watch/).  One child at a
 * time.
 */
#ifndef DSYNC_CORE_WATCH_JOBS_H
#define DSYNC_CORE_WATCH_JOBS_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/watch/wfolder.h"

/*
 * After a snapshot that recorded something: when loose objects pile up
 * (dsync_gc_due), schedules a gc for when the folder has had no snapshot for
 * a while, so it never delays a save while the user works.
 */
void watch_gc_check(wfolder *f, const dsync_folder *df);

/* Packs F's store in a child process (another child running: later). */
void watch_gc_start(wfolder *f);

/* Runs a sync round with every remote of F in a child process (another
 * child running: later); the next one after F's sync.interval. */
void watch_sync_start(wfolder *f);

/* Reaps the child *PID (a gc, a round, a wait) when it ended (*PID 0 then);
 * WAIT: makes it end first (SIGTERM, then SIGKILL). */
void watch_reap_child(pid_t *pid, bool wait);

/* Reaps the children of W that ended (waits on relays start again later); WAIT: makes them end first (SIGTERM,
 * then SIGKILL). */
void watch_reap_children(watch *w, bool wait);

#endif
