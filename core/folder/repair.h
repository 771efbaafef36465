/*
 * The repair of what a crashed writer left in a folder's git directory
 * (internal to the library).
 */
#ifndef DSYNC_CORE_REPAIR_H
#define DSYNC_CORE_REPAIR_H

#include "dsync/folder.h"

/*
 * Removes what a writer killed mid-way left in F's git directory: git's
 * lock files, libgit2's temporary files, a sync's temporary packs; and
 * moves aside each loose object written since the last flush (the time of
 * DSYNC_SYNCED_STAMP, less 2 s) that is not its object whole: a power cut
 * leaves such files empty or cut short, and the next snapshot of the same
 * content took the wreck for the object ("already stored"), so the file's
 * version could never be restored.  Loose files older than the stamp were
 * flushed and are not read; a fan-out folder unchanged since is not
 * listed (256 stats).  The caller holds the lock.
 */
void dsync_folder_repair(const dsync_folder *f);

#endif
