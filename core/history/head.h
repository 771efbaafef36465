/*
 * The head of this device's history, and the errors of a damaged history
 * (internal to core/).
 */
#ifndef DSYNC_CORE_HISTORY_HEAD_H
#define DSYNC_CORE_HISTORY_HEAD_H

#include <git2.h>
#include <stdbool.h>

#include "core/folder/folder.h"

/* This device's history. */
#define DSYNC_MAIN_REF "refs/heads/main"

/*
 * Reads the head of the history in REPO (refs/heads/main) into OUT and
 * checks that its version can be read: 0; DSYNC_ENOTFOUND when no snapshot
 * was ever taken ("there is no snapshot yet"); DSYNC_ECORRUPT when the
 * history is damaged or lost (its last version unreadable, or the ref gone
 * after a snapshot was recorded), with a message that points at
 * 'dsync check' and 'dsync join', never at a new first snapshot.
 */
DSYNC_WARN_UNUSED
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
DSYNC_WARN_UNUSED
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

/*
 * The head as the last snapshot recorded it, without libgit2:
 * .dsync/dsync-head holds "COMMIT TREE\n", and is believed only while the
 * loose ref refs/heads/main still names COMMIT.  False when it can't tell.
 */
bool dsync_history_cached_head(const dsync_folder *f, git_oid *commit, git_oid *tree);

/* Records COMMIT and its TREE in .dsync/dsync-head, the cache that lets an
 * unchanged snapshot skip libgit2 (errors ignored: it is only a cache). */
void dsync_history_record_head(const dsync_folder *f, const git_oid *commit, const git_oid *tree);

/*
 * The quick paths' one look at the store: the head the stat cache stands
 * on, CACHED (as dsync_history_cached_head() gave it), can still be read
 * (one object read, no tree), so an unchanged folder whose history was
 * lost says so instead of "nothing changed".  The commit is read without
 * libgit2 when it is whole (loose, or packed and not a delta).
 */
int dsync_history_head_readable(dsync_folder *f, const git_oid *cached);

/*
 * Whether the commit ID is in the store of GITDIR, whole (loose, or packed
 * and not a delta, its bytes hashing to ID), read without libgit2, whose
 * start-up (it parses the system's TLS certificates) costs more than the
 * rest of an unchanged snapshot.  False when it can't tell: libgit2 then
 * reads it, and says what is wrong.
 */
bool dsync_history_commit_intact(const char *gitdir, const git_oid *id);

/* The tree of refs/heads/main into *OUT and its commit into *HEAD; *BORN
 * false (and *OUT NULL) when there is no snapshot yet. */
int dsync_history_head_tree(git_tree **out, git_oid *head, bool *born, git_repository *repo);

/* A walk of the versions from the head, newest first (topological, then by
 * time), after checking that each can be read: "no snapshot yet" only when
 * there never was one. */
int dsync_history_head_walk(git_revwalk **out, git_repository *repo);

#endif
