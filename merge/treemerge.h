/*
 * The merge layer (DESIGN.md section 6): what every device must compute the
 * same way when two histories meet.  Includes only core/base/ and libgit2.
 *
 * The names of conflict copies, the check every tree that comes from
 * another device passes before it is merged or written (DESIGN.md section
 * 9), the merge of two heads' trees with dsync's conflict policy, and the
 * deterministic merge commit.  Updating the working tree is the folder
 * logic's (core/apply.c).
 */
#ifndef DSYNC_TREEMERGE_H
#define DSYNC_TREEMERGE_H

#include <git2.h>

#include "core/base/oidset.h"
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

/* A conflict copy's name, read back (offsets are into the whole path). */
typedef struct dsync_conflict_parts {
	time_t when;          /* the UTC time in the name */
	char device[33];      /* the device as in the name (made safe) */
	unsigned n;           /* the clash number (1: none) */
	size_t dir_len;       /* the folder part, up to and with the last '/' */
	size_t base_end;      /* where ".sync-conflict-" starts */
	size_t device_end;    /* where the device ends (before any "-N") */
	size_t ext;           /* where the extension starts (the end: none) */
} dsync_conflict_parts;

/* Reads the conflict copy's PATH into OUT; DSYNC_ENOTFOUND (no message)
 * when its last component is not a conflict copy's name. */
int dsync_conflict_parse(dsync_conflict_parts *out, const char *path);

/* Appends to OUT the path the conflict copy PATH is a copy of (as named
 * when it was made; a name shortened to fit 255 bytes stays short). */
int dsync_conflict_original(dsync_buf *out, const char *path);

/* Appends to OUT the conflict copy PATH's name with the clash number N
 * (1: none) instead of its own: where a second version of a conflict copy
 * goes (a copy is never itself conflict-copied). */
int dsync_conflict_renumber(dsync_buf *out, const char *path, unsigned n);

/*
 * Checks every name in TREE (and the trees below it) before anything from
 * another device is merged or written: refuses ".", "..", ".dsync" (in any
 * case), names with '/', names longer than DSYNC_NAME_MAX, a ".git" that is
 * not in dsync's escaped form, submodule links and unknown modes.  The error
 * (DSYNC_ECORRUPT) names the path and what is wrong with it.
 */
int dsync_tree_check(git_repository *repo, const git_tree *tree);

/* As dsync_tree_check(), skipping the trees in SEEN (and adding the ones it
 * checks): every new version of a fetched history, each folder once. */
int dsync_tree_check_new(git_repository *repo, const git_tree *tree, dsync_oidset *seen);

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

/*
 * Merges the trees of OURS and THEIRS against their merge base (none:
 * histories that started apart, an empty base) into OUT->tree, after
 * checking THEIRS's tree (dsync_tree_check).  Text edited on both sides:
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
 * Records TREE as the merge of A and B, deterministically (devices merging
 * the same heads make the same commit): parents sorted by id, author and
 * committer "dsync" at the later parent's time, a message made from the
 * inputs and R's conflicts.
 */
int dsync_merge_commit(git_oid *out, git_repository *repo, const git_oid *tree, git_commit *a,
		       git_commit *b, const dsync_merge_result *r);

/*
 * The key that orders and breaks ties between heads (GIT_OID_HEXSZ + 1
 * bytes into KEY): the device id its author names (a snapshot), else its
 * commit id (dsync's own merge commits have no device), so every device
 * computes the same order.
 */
void dsync_commit_key(char *key, const git_commit *c);

/* One device's head, for dsync_merge_heads(). */
typedef struct dsync_head {
	const char *device_id;
	git_oid commit;
} dsync_head;

/*
 * Merges the N heads HEADS (this device's among them) into one commit,
 * *OUT: one at a time in device-id order, a head that the result so far
 * already contains skipped, a result that a head contains replaced by it
 * (no merge commit), every other pair merged by dsync_merge_trees_of() and
 * recorded by dsync_merge_commit().  Every device that merges the same heads
 * gets the same commit, whichever of them is its own.  The conflicts of all
 * the merges are appended to CONFLICTS (its tree: the last merge's).
 */
int dsync_merge_heads(git_oid *out, dsync_merge_result *conflicts, git_repository *repo,
		      const dsync_head *heads, size_t n);

#endif
