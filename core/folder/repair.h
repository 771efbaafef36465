/*
 * The repair of what a crashed writer left in a folder's git directory
 * (internal to the library).
 */
#ifndef DSYNC_CORE_REPAIR_H
#define DSYNC_CORE_REPAIR_H

#include "dsync/folder.h"

/*
 * Removes what a writer killed mid-way left in F's git directory: git's
 * lock files, libgit2's temporary files, a sync's temporary packs.  The
 * caller holds the lock.
 */
void dsync_folder_repair(const dsync_folder *f);

#endif
