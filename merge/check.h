/*
 * The check every tree from another device passes before it is merged or
 * written (DESIGN.md section 9).
 */
#ifndef DSYNC_CHECK_H
#define DSYNC_CHECK_H

#include <git2.h>

#include "core/base/oidset.h"

/*
 * Checks every name in TREE (and the trees below it) before anything from
 * another device is merged or written: refuses ".", "..", ".dsync" (in any
 * case), names with '/', names longer than DSYNC_NAME_MAX, a ".git" that is
 * not in dsync's escaped form, submodule links and unknown modes.  The error
 * (DSYNC_ECORRUPT) names the path and what is wrong with it.
 */
int dsync_treecheck_all(git_repository *repo, const git_tree *tree);

/* As dsync_treecheck_all(), skipping the trees in SEEN (and adding the ones it
 * checks): every new version of a fetched history, each folder once. */
int dsync_treecheck_new(git_repository *repo, const git_tree *tree, dsync_oidset *seen);

#endif
