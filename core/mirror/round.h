/*
 * The mirror round under a lock the caller holds (core/sync's round runs
 * it between its merge and its push, so the phone's changes go out in the
 * same round).
 */
#ifndef DSYNC_CORE_MIRROR_ROUND_H
#define DSYNC_CORE_MIRROR_ROUND_H

#include "dsync/mirror.h"
#include "core/folder/folder.h"

/* As dsync_mirror_round(), under F's lock (held by the caller: nested),
 * without the snapshot first (the caller took it). */
int dsync_mirror_round_locked(dsync_mirror_result *out, dsync_folder *f, const char *name,
			      const dsync_mirror_options *o);

/* Adds R (one mirror's round, or a sum of rounds) to TO: counts summed,
 * the merge outcome of the last merge that moved the folder.  (core/sync
 * sums the mirrors' rounds of a sync round with it too.) */
void dsync_mirror_result_add(dsync_mirror_result *to, const dsync_mirror_result *r);

#endif
