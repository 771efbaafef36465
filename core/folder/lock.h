/*
 * The single-writer lock (DESIGN.md section 9): a lock file held with
 * flock() (internal to the library).  It only locks: repairing what a
 * crashed writer left, and finishing its journalled update, is "beginning
 * a write" (core/worktree/begin.h).
 */
#ifndef DSYNC_CORE_LOCK_H
#define DSYNC_CORE_LOCK_H

#include <stdbool.h>

/* A lock's state, owned by whoever holds the lock file's path (the folder
 * handle): nested takes on one state count. */
typedef struct dsync_lock {
	int fd;        /* -1 when not held */
	int depth;
} dsync_lock;

#define DSYNC_LOCK_INIT { .fd = -1, .depth = 0 }

/*
 * Takes the lock file PATH (made when missing, a regular file only) for L,
 * waiting up to WAIT_MS milliseconds; then DSYNC_ELOCKED naming the
 * holder's pid, and WHAT (the folder) as the busy place.  Held already
 * through L: counts one level more.  The holder's pid is written inside,
 * for the message a waiting process prints.
 */
int dsync_lock_take(dsync_lock *l, const char *path, const char *what, int wait_ms);

/* Releases one level of L; the last one lets go of the file. */
void dsync_lock_release(dsync_lock *l);

/* Whether L is held (at any depth). */
bool dsync_lock_held(const dsync_lock *l);

#endif
