/*
 * gc's internal entry (not public): the public dsync_gc() begins a write
 * (core/worktree/begin.c) and calls this.
 */
#ifndef DSYNC_CORE_GC_H
#define DSYNC_CORE_GC_H

#include "dsync/gc.h"

/* As dsync_gc(), under the plain lock only (never repairs, never finishes
 * an interrupted update). */
int dsync_gc_locked(dsync_gc_result *out, dsync_folder *f, int lock_wait_ms);

/* Packs under this size are always merged (a test build reads
 * DSYNC_TEST_GC_SMALL_PACK); a bigger one stays while it is at least twice
 * the size of what would be merged with it. */
#define DSYNC_GC_SMALL_PACK (32ull << 20)

/*
 * Which packs gc merges: SIZES[0..N) the packs' sizes (any order), LOOSE the
 * loose objects' bytes.  Sets MERGE[i] for each pack to go into the new
 * pack, as git's `repack --geometric=2` chooses: every pack under SMALL,
 * then the bigger ones below the largest run that grows at least twofold
 * from one to the next, then, from the smallest up, each left that is under
 * twice what is merged so far.  The others stay as they are, so gc rewrites
 * what was added since, and a big pack only once the newer ones together
 * reach half its size: the packs left after it grow geometrically (a few
 * dozen for any store).  Returns how many packs stay.
 */
size_t dsync_gc_choose(bool *merge, const uint64_t *sizes, size_t n, uint64_t loose, uint64_t small);

#endif
