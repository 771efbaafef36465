/*
 * The merge layer (DESIGN.md section 6): what every device must compute the
 * same way when two histories meet.  Includes only core/base/ and libgit2.
 *
 * So far: the names of conflict copies, and the check every tree that comes
 * from another device passes before it is merged or written (DESIGN.md
 * section 9).  The three-way merge itself follows (issue 4).
 */
#ifndef DSYNC_MERGE_H
#define DSYNC_MERGE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/base/buf.h"

/* The longest name a conflict copy gets, in bytes (the common file-system
 * limit); a longer original is shortened before the suffix. */
#define DSYNC_NAME_MAX 255

/*
 * Appends to OUT the conflict copy's path for PATH ('/'-separated; only the
 * last component changes): NAME.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.EXT,
 * with WHEN the UTC time of the commit that made the copy's content, DEVICE
 * the name of the device that wrote it (made safe for a file name), EXT the
 * last extension only (a.tar.gz -> a.tar.sync-conflict-...gz; .bashrc has
 * none), and "-N" after DEVICE when N > 1 (a clash).  Every device computes
 * the same name from the same inputs.
 */
int dsync_conflict_name(dsync_buf *out, const char *path, const char *device, time_t when, unsigned n);

/* Whether the last component of PATH is a conflict copy's name (a conflict
 * copy is never itself conflict-copied). */
bool dsync_is_conflict_copy(const char *path);

/*
 * Checks every name in TREE (and the trees below it) before anything from
 * another device is merged or written: refuses ".", "..", ".dsync" (in any
 * case), names with '/', names longer than DSYNC_NAME_MAX, a ".git" that is
 * not in dsync's escaped form, submodule links and unknown modes.  The error
 * (DSYNC_ECORRUPT) names the path and what is wrong with it.
 */
int dsync_tree_check(git_repository *repo, const git_tree *tree);

#endif
