/*
 * The tree walk behind snapshot, status and diff: reads the working tree,
 * using the index as a stat cache, into a sorted list of entries as they would
 * be stored (internal to core/).
 */
#ifndef DSYNC_CORE_HISTORY_SCAN_H
#define DSYNC_CORE_HISTORY_SCAN_H

#include "core/base/packw.h"
#include "core/folder/folder.h"
#include "core/history/scan_list.h"


/* The folder's chunking: its threshold (dsync.chunkThreshold, bytes; default
 * 8 MiB; 0: none) into *THRESHOLD and, when there is one, its keyed chunker
 * into *CHUNKER (a mirror's scan stores big files as a snapshot does). */
int scan_chunking(uint64_t *threshold, dsync_chunker *chunker, dsync_folder *f);

/*
 * Walks F's working tree into OUT: sorted by stored path (as the index is),
 * unless OUT->unchanged, in which case the caller sorts when it needs to.
 * CACHE is the stat cache (an empty one: everything is read); entries as new
 * as the index file are racy and read again.  WRITE: store new content in the
 * object database (snapshot) or only hash it (status, diff).  PACK (may be
 * NULL; with WRITE): when there is much to store, the files are read on
 * worker threads into a new pack, left in *PACK for the caller to commit
 * (dsync_packw_commit) before anything names its objects, and free; else
 * *PACK is NULL.  Unreadable files keep the cache's version and are listed
 * in OUT->problems.  KEEP (may be NULL) holds back changed files: they keep
 * the cache's version (a new one is left out), counted in OUT->busy.  The
 * caller disposes OUT with scan_list_dispose().
 */
int scan_worktree(scan_list *out, dsync_folder *f, const statcache *cache, bool write, dsync_packw **pack,
		  scan_progress_cb progress, scan_keep_cb keep, void *payload);

#endif
