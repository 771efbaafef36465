/*
 * Verifying a folder's local history: every object reachable from every ref
 * read once and its hash checked, as `git fsck` does (docs/sync.md, "dsync
 * check").
 */
#ifndef DSYNC_VERIFY_H
#define DSYNC_VERIFY_H

#include "dsync/history.h"
#include "core/folder/folder.h"

/*
 * Walks every version reachable from F's refs (refs/heads/..., refs/remotes/...,
 * any other), and every folder, file and chunk of a big file below each,
 * reading each object once (so libgit2 checks its hash) and each pack's
 * index; counts what it read in OUT->objects and OUT->versions, and appends
 * one line per object that is missing or damaged to OUT->problems (the
 * first DSYNC_CHECK_LISTED of them; OUT->nproblems counts all).  A damaged
 * history is not an error here: returns 0, or a negative DSYNC_E* code when
 * the walk itself could not run (no memory).  PROGRESS (may be NULL) hears
 * of the walk as "history", with PAYLOAD.
 */
int dsync_verify_history(dsync_check_result *out, dsync_folder *f, dsync_transfer_cb progress, void *payload);

/*
 * Reads the head of the history in REPO (refs/heads/main) into OUT and
 * checks that its version can be read: 0; DSYNC_ENOTFOUND when no snapshot
 * was ever taken ("there is no snapshot yet"); DSYNC_ECORRUPT when the
 * history is damaged or lost (its last version unreadable, or the ref gone
 * after a snapshot was recorded), with a message that points at
 * 'dsync check' and 'dsync join', never at a new first snapshot.
 */
int dsync_history_head(git_oid *out, git_repository *repo);

/*
 * The last head of this device's history the folder remembers, into OUT:
 * the newest line of the reflog of refs/heads/main (only its tail is read),
 * else .dsync/dsync-head.  False when neither names one: no snapshot was
 * taken here (or every trace of one is gone).
 */
bool dsync_history_last_head(git_oid *out, git_repository *repo);

/*
 * Checks that every version reachable from HEAD (read already) can be read,
 * before a libgit2 revwalk that would fail half-way (and, sorted, leak in
 * libgit2 1.5): 0, or DSYNC_ECORRUPT naming the first one that can't, with
 * the same pointers as dsync_history_head().
 */
int dsync_history_versions_ok(git_repository *repo, const git_oid *head);

/*
 * Looks up the object ID of TYPE, the file or folder PATH (folder-relative,
 * for messages; may be NULL) of version VERSION (hex; may be NULL), for the
 * commands that read a version's files (show, restore, diff): 0, or, when
 * the object is missing or damaged, DSYNC_ECORRUPT "the history of 'FOLDER'
 * is damaged: blob ID (the file 'PATH' of version V) is missing; run
 * 'dsync check'"; any other failure as dsync_error_git().
 */
int dsync_history_lookup(git_object **out, git_repository *repo, const git_oid *id, git_object_t type,
			 const char *path, const char *version);

/* The error of dsync_history_lookup() for a read of ID that failed with
 * libgit2's ERR. */
int dsync_history_read_error(git_repository *repo, int err, const git_oid *id, git_object_t type,
			     const char *path, const char *version);

/* Whether libgit2's ERR (with its last error) is an object that is missing
 * or can't be read, rather than another failure. */
bool dsync_history_is_damage(int err);

/* For a comparison of versions (a diff) that failed with libgit2's ERR:
 * damage as dsync_history_walk_error(), else "cannot compare versions". */
int dsync_history_compare_error(git_repository *repo, int err);

/* For a walk of REPO's history that failed with libgit2's ERR: an object
 * missing or damaged is DSYNC_ECORRUPT with the same pointers; anything
 * else as dsync_error_git(ERR, "cannot walk history"). */
int dsync_history_walk_error(git_repository *repo, int err);

#endif
