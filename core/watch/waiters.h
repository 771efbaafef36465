/*
 * Waiting on relays (internal to core/watch/; docs/relay-protocol.md section
 * 6): for each relay remote of an active folder, a child process holds a
 * long-poll open and writes a byte down a pipe when another device pushed;
 * the loop then starts a round at once instead of after sync.interval.
 * Children, as the loop's other jobs are, so that no thread is inside
 * libcurl when the loop forks a round.
 */
#ifndef DSYNC_CORE_WATCH_WAITERS_H
#define DSYNC_CORE_WATCH_WAITERS_H

#include <poll.h>
#include <stdint.h>

#include "core/watch/wfolder.h"

/*
 * Brings F's waiting children in step with its relay remotes (DF: F open,
 * NULL: opened here): one per relay remote while F is active and the loop
 * is not stopping, none otherwise.
 */
void waiters_update(wfolder *f, dsync_folder *df);

/* Ends F's waiting children (SIGTERM, then SIGKILL) and forgets them. */
void waiters_stop(wfolder *f);

/* Ends every folder's waiting children, signalling all of them first. */
void waiters_stop_all(watch *w);

/* How many pipes waiters_pollfds fills at most. */
size_t waiters_count(const watch *w);

/* Puts the pipes of W's waiting children in P; returns how many. */
nfds_t waiters_pollfds(const watch *w, struct pollfd *p);

/* After poll(): reads the pipes of P (N of them) that are ready; a change
 * makes the round of its folder due now. */
void waiters_read(watch *w, const struct pollfd *p, nfds_t n);

/* Reaps the waiting children that ended; each starts again later. */
void waiters_reap(watch *w);

/* When F's next waiting child is to start again (0: none). */
int64_t waiters_deadline(const wfolder *f);

/* Starts those of F's waiting children that are due. */
void waiters_tick(wfolder *f);

#endif
