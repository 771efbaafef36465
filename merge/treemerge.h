/*
 * The merge of two heads' trees (DESIGN.md section 6): what every device
 * must compute the same way when two histories meet, with dsync's conflict
 * policy, and the deterministic merge commit.  Includes only core/base/ and
 * libgit2.  Conflict copies' names are merge/names.h's, the check of a tree
 * from another device merge/check.h's; updating the working tree is
 * core/worktree/'s.
 */
#ifndef DSYNC_TREEMERGE_H
#define DSYNC_TREEMERGE_H

#include <git2.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/base/buf.h"

typedef struct dsync_merge_conflict {
	char kind;     /* 'C' both changed, 'A' added on both sides, 'F' a file
			  where the other side made a folder */
	char *path;    /* the path: the version that won stays there */
	char *copy;    /* the conflict copy beside it ("" when none was made:
			  a conflict copy is never itself conflict-copied) */
} dsync_merge_conflict;

typedef struct dsync_merge_result {
	git_oid tree;  /* the merged tree, written to the object store */
	dsync_merge_conflict *v;
	size_t n, cap;
} dsync_merge_result;

void dsync_merge_result_dispose(dsync_merge_result *r);

/* Appends a conflict of KIND at PATH, copied to COPY (NULL: none), to R. */
int dsync_merge_result_add(dsync_merge_result *r, char kind, const char *path, const char *copy);

/*
 * Merges the trees of OURS and THEIRS against their merge base (none:
 * histories that started apart, an empty base) into OUT->tree, after
 * checking THEIRS's tree (dsync_treecheck_all).  Text edited on both sides:
 * libgit2's line merge (xdiff, as git merge-file).  What it cannot merge
 * (overlapping edits, binary files or links changed on both sides, add/add
 * with different content): the later head's version keeps the path (equal
 * times: the higher device id), the other becomes a conflict copy named
 * after the device that wrote it and its commit's time.  Modify vs delete:
 * the modified file stays.  A file renamed to two names: both stay.  A file
 * where the other side made a folder: the folder keeps the path.
 */
int dsync_merge_trees_of(dsync_merge_result *out, git_repository *repo, const git_commit *ours,
			 const git_commit *theirs);

/*
 * As dsync_merge_trees_of(), but OURS keeps every contested path: a change
 * the user made while a merge was being written into the folder is the
 * newest of all, whatever the clock says.
 */
int dsync_merge_trees_ours(dsync_merge_result *out, git_repository *repo, const git_commit *ours,
			   const git_commit *theirs);

/*
 * The key that orders and breaks ties between heads (GIT_OID_HEXSZ + 1
 * bytes into KEY): the device id its author names (a snapshot), else its
 * commit id (dsync's own merge commits have no device), so every device
 * computes the same order.
 */
void dsync_merge_commit_key(char *key, const git_commit *c);

#endif
