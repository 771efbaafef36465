/*
 * Pieces of the snapshot module that history and restore share (internal).
 */
#ifndef DSYNC_CORE_SNAPSHOT_INTERNAL_H
#define DSYNC_CORE_SNAPSHOT_INTERNAL_H

#include <git2.h>
#include <time.h>

#include "dsync/snapshot.h"
#include "core/history/scan.h"

/* As dsync_snapshot_take(), under the plain lock only (nested when the
 * caller holds it): never repairs, never finishes an interrupted update.
 * The public entry begins a write around it (core/worktree/begin.c). */
int dsync_snapshot_take_locked(dsync_snapshot_result *out, dsync_folder *f,
			       const dsync_snapshot_options *opts);

/* Appends a change; paths are stored forms, unescaped here. */
int dsync_changes_add(dsync_changes *c, char kind, const char *stored_path,
		      const char *stored_old, bool is_link);

/* Appends the deltas of DIFF as changes. */
int dsync_changes_from_diff(dsync_changes *out, git_diff *diff);

enum { DSYNC_RENAMES_NONE = 0, DSYNC_RENAMES_EXACT = 1, DSYNC_RENAMES_SIMILAR = 2 };

/* The changes from tree FROM to tree TO (either may be NULL), limited to
 * the stored path or directory PATHSPEC when non-NULL; RENAMES pairs
 * renames: none, identical content only (cheap), or similar content too
 * (git's 50% rule; reads the candidates). */
int dsync_changes_between(dsync_changes *out, git_repository *repo, git_tree *from,
			  git_tree *to, const char *pathspec, int renames);

/* This device's history. */
#define MAIN_REF "refs/heads/main"

/* Records COMMIT and its TREE in .dsync/dsync-head, the cache that lets an
 * unchanged snapshot skip libgit2 (errors ignored: it is only a cache). */
void dsync_record_head(const dsync_folder *f, const git_oid *commit, const git_oid *tree);

/* A signature for NAME <EMAIL> at the current local time. */
int dsync_local_signature(git_signature **out, const char *name, const char *email);

/* Loads F's index as a stat cache. */
int dsync_load_statcache(statcache *out, const dsync_folder *f);

/* The tree of refs/heads/main into *OUT and its commit into *HEAD; *BORN
 * false (and *OUT NULL) when there is no snapshot yet. */
int dsync_head_tree(git_tree **out, git_oid *head, bool *born, git_repository *repo);

/* The files of TREE (may be NULL) as a sorted list of stored paths. */
int dsync_tree_files(scan_list *out, git_tree *tree);

/* Finds the folder-relative PATH (as on disk) in TREE (may be NULL), trying
 * the escaped form of a link's name too.  DSYNC_ENOTFOUND (with no message
 * set) when absent. */
int dsync_tree_lookup(git_tree_entry **out, git_tree *tree, const char *path);

#endif
