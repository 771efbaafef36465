/*
 * A version's files by the names they have on disk (internal to core/).
 */
#ifndef DSYNC_CORE_HISTORY_TREE_H
#define DSYNC_CORE_HISTORY_TREE_H

#include <git2.h>
#include <stdbool.h>

#include "core/base/buf.h"

/* The stored form of the folder-relative PATH (a link's name when IS_LINK)
 * into OUT, replacing what it held. */
int dsync_history_stored_path(dsync_buf *out, const char *path, bool is_link);

/* Finds the folder-relative PATH (as on disk) in TREE (may be NULL), trying
 * the escaped form of a link's name too.  DSYNC_ENOTFOUND (with no message
 * set) when absent. */
int dsync_history_tree_lookup(git_tree_entry **out, git_tree *tree, const char *path);

/* The tree of the version HEX (a whole commit id) into OUT. */
int dsync_history_commit_tree(git_tree **out, git_repository *repo, const char *hex);

#endif
