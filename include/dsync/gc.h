/*
 * dsync — compacting the local store: loose objects and the smaller packs
 * into one pack with deltas (libgit2 has no gc of its own).
 */
#ifndef DSYNC_GC_H
#define DSYNC_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsync/common.h"
#include "dsync/folder.h"

typedef struct dsync_gc_result {
	size_t objects;          /* objects in the new packs (0: nothing was packed) */
	size_t loose_removed;    /* loose objects removed (each is in a pack) */
	size_t packs_removed;    /* older packs removed (each wholly in the new packs) */
	size_t packs_kept;       /* older packs that stay as they are (big ones, .keep) */
	size_t loose_damaged;    /* loose files moved to objects/damaged/ (cut short) */
	uint64_t bytes_before;   /* size of objects/ before and after */
	uint64_t bytes_after;
	char pack[DSYNC_OID_HEX_SIZE];           /* the builder's new pack ("" when none) */
} dsync_gc_result;

/*
 * Packs the loose objects and the smaller packs into new packs (one with
 * deltas through libgit2's pack builder; blobs that don't compress, media,
 * into one of dsync's own, stored as they are), makes them durable, then
 * removes the loose objects and packs they merged: a loose object or pack is removed only once the new pack, read
 * back, and those that stay are seen to hold each of its objects, so no
 * version can be lost.  A big pack stays as it is while it is at least twice
 * the size of all that would be merged with it (git's `repack
 * --geometric=2`; see dsync_gc_choose() in core/history/gc.h), so gc's time
 * and the room it needs grow with what was added since the last one, not
 * with the whole history.  The new pack holds every object reachable from
 * the folder's refs, every loose object and every object of the merged
 * packs, but those a pack that stays holds: what nothing refers to (the
 * index's trees of big files, objects of a snapshot killed half-way) is
 * packed too, never pruned.  Packs that would be written again as they are
 * (nothing loose; one of media and one of the rest at most) are not
 * ("nothing to pack"; loose copies of packed objects still go).  A pack with a .keep file
 * beside it is never touched.  First, every loose file is read and hashed
 * (not by libgit2, which loops forever on one cut short); one that is not
 * its id's bytes whole (a power cut) is moved to .dsync/objects/damaged/,
 * so that reading that object fails plainly instead of hanging.
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
