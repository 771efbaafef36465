/*
 * Discovery, the first phase of the tree walk (internal to core/history/).
 */
#ifndef DSYNC_CORE_HISTORY_SCAN_DISCOVER_H
#define DSYNC_CORE_HISTORY_SCAN_DISCOVER_H

#include "core/folder/folder.h"
#include "core/history/scan_list.h"

/*
 * Lists every folder below F's root and lstats every file, leaving out what
 * its ignore rules leave out, into OUT (unsorted): a file whose stat matches
 * its entry in CACHE is SCAN_CACHED (its content is not read); any other is
 * SCAN_READ, with its path on disk in `real`, for the reading phase.  A
 * folder that can't be read keeps its previous contents (a problem in
 * OUT); an empty folder gets its marker.  *SEEN: the files seen.  PROGRESS
 * (may be NULL) hears every 1,000 files.
 */
int scan_discover(scan_list *out, size_t *seen, dsync_folder *f, const statcache *cache,
		  scan_progress_cb progress, void *payload);

#endif
