/*
 * Updating the working tree to a merged version, safely (internal to
 * core/): what dsync_merge_revs() and the sync round share, and the repair
 * the lock runs after a merge was interrupted.
 */
#ifndef DSYNC_CORE_APPLY_H
#define DSYNC_CORE_APPLY_H

#include <git2.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "dsync/merge.h"
#include "dsync/ignore.h"
#include "core/base/buf.h"
#include "core/folder/folder.h"
#include "merge/merge.h"

/* The journal of a working-tree update in progress, in .dsync/:
 * "FROM TO\n" (commit ids; FROM all zeros before the first snapshot). */
#define DSYNC_MERGE_JOURNAL "dsync-merge"

/*
 * Writes the blob ID of mode MODE (a file, an executable, a link) into a new
 * temporary file ".dsync-tmp-XXXXXX" beside DEST (a path on disk; its
 * folder is made when missing), whose name goes into TMP.  UMASK: the
 * process's umask; PERM, when not 0, the permissions instead; *ST (may be
 * NULL) gets the file's stat.  The caller renames it into place or unlinks it.  When
 * DEST lies under ROOT (may be NULL), a link or a file where a folder above
 * it should be gives DSYNC_ENOTDIR: nothing is written through a link.
 */
int dsync_worktree_temp(dsync_buf *tmp, struct stat *st, git_repository *repo, const git_oid *id,
			uint32_t mode, mode_t perm, const char *root, const char *dest, mode_t umask);

/* Whether RULES leave out the folder-relative file DISK (or a folder above
 * it). */
bool dsync_worktree_ignored(const dsync_ignore *rules, const char *disk);

/*
 * A record in .dsync/ of the folders where a restore writes temporary files
 * (dsync_worktree_temp()), held (flock) while it writes, so that the
 * temporaries a killed restore left, in the folder or outside it, are
 * removed by the next command that takes the lock.
 */
typedef struct dsync_temps {
	int fd;        /* -1: none */
	char *path;
} dsync_temps;

/*
 * Writes and holds a new record, durably, naming the N on-disk folders
 * DIRS: each one's temporaries go, and with DEEP[i] those in every folder
 * below it too.  *T is filled in; dsync_worktree_temps_end() releases it.
 */
int dsync_worktree_temps_begin(dsync_temps *t, const dsync_folder *f, const char *const *dirs,
			       const bool *deep, size_t n);

/* Removes the record *T (the writes are done or cleaned up); accepts an
 * empty one. */
void dsync_worktree_temps_end(dsync_temps *t);

/*
 * Removes the temporaries every record in F's .dsync lists whose writer
 * is gone, then the record (the lock calls it once taken).
 */
void dsync_worktree_temps_sweep(const dsync_folder *f);

/*
 * Merges the N heads HEADS (the folder's own not among them) into F, whose
 * lock the caller holds, after a snapshot: see dsync_merge_revs().
 */
int dsync_worktree_merge(dsync_merge_outcome *out, dsync_folder *f, const dsync_head *heads, size_t n,
		     const dsync_merge_options *o);

/*
 * Completes the working-tree update that a killed dsync left in F's journal,
 * if any (the lock calls it once taken; the caller holds the lock).
 */
int dsync_worktree_resume(dsync_folder *f);

#endif
