/*
 * dsync — compacting the local store: loose objects into one pack with
 * deltas (libgit2 has no gc of its own).
 */
#ifndef DSYNC_GC_H
#define DSYNC_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsync/common.h"
#include "dsync/folder.h"

typedef struct dsync_gc_result {
	size_t objects;          /* objects in the new pack (0: nothing was packed) */
	size_t loose_removed;    /* loose objects removed (each is in the new pack) */
	size_t packs_removed;    /* older packs removed (each wholly in the new pack) */
	uint64_t bytes_before;   /* size of objects/ before and after */
	uint64_t bytes_after;
	char pack[DSYNC_OID_HEX_SIZE];           /* the new pack's name ("" when none) */
} dsync_gc_result;

/*
 * Packs every object reachable from the folder's refs, and every object of
 * the older packs, into one new pack (with deltas), makes it durable, then
 * removes the loose objects and older packs it holds: a loose object or pack
 * is removed only once the new pack, read back, is seen to hold each of its
 * objects, so no version can be lost.  Loose objects nothing refers to (left
 * by a snapshot killed half-way) stay loose; packed ones move to the new
 * pack (nothing is pruned).
 * Takes the folder's lock, waiting up to LOCK_WAIT_MS, while it packs; the
 * removals, each of a copy the durable pack holds, run without it.
 */
int dsync_gc(dsync_gc_result *out, dsync_folder *f, int lock_wait_ms);

/*
 * Whether loose objects have piled up in F's store (a day of saves): at
 * least 2,000 of them, or 16 MB (or a quarter of the packs' size, when that
 * is more); or packs have (50, as git's gc.autoPackLimit: each big snapshot
 * writes one or two).  One walk of .dsync/objects; never starts libgit2.
 */
bool dsync_gc_due(const dsync_folder *f);

#endif
