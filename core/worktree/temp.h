/*
 * Temporary files in the folder (internal to the library): the writer of a
 * stored version that the update and restore share, and the records of
 * where a restore writes them.
 */
#ifndef DSYNC_CORE_TEMP_H
#define DSYNC_CORE_TEMP_H

#include <git2.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/base/buf.h"
#include "core/folder/folder.h"

/* Whether each folder above the folder-relative REL under ROOT is a real
 * folder or missing (to be made): never a link, which a write would follow
 * out of the folder, nor a file.  When not, *BAD (may be NULL) gets the
 * length of REL's part that is in the way. */
bool dsync_worktree_parents_safe(const char *root, const char *rel, size_t *bad);

/* The error for the folder-relative REL that this file system would put
 * into dsync's own .dsync (dsync_path_folds_into_dsync). */
int dsync_worktree_folds_error(const char *rel);

/*
 * Writes the blob ID of mode MODE (a file, an executable, a link) into a new
 * temporary file ".dsync-tmp-XXXXXX" beside DEST (a path on disk; its
 * folder is made when missing), whose name goes into TMP.  UMASK: the
 * process's umask; PERM, when not 0, the permissions instead; *ST (may be
 * NULL) gets the file's stat.  During a join, a blob its indexing staged
 * is handed over where it is instead (TMP: its path in the staging folder,
 * on DEST's file system).  The caller renames it into place or unlinks it.  When
 * DEST lies under ROOT (may be NULL), a link or a file where a folder above
 * it should be gives DSYNC_ENOTDIR: nothing is written through a link.
 */
int dsync_worktree_temp(dsync_buf *tmp, struct stat *st, git_repository *repo, const git_oid *id,
			uint32_t mode, mode_t perm, const char *root, const char *dest, mode_t umask);

/* Forgets, in the calling thread, the folder dsync_worktree_temp() last
 * found safe and made (it skips those checks for the next file there):
 * called when a batch of writes begins and ends, since only then nothing
 * but temporary files changes in the folder. */
void dsync_worktree_temp_forget(void);

/* Removes the temporary files in the folder DIR (and with DEEP in every
 * folder below it, never through a link, never into a .dsync). */
void dsync_worktree_sweep_dir(const char *dir, bool deep);

/*
 * A record in .dsync/ of the folders where a restore writes temporary files
 * (dsync_worktree_temp()), held (flock) while it writes, so that the
 * temporaries a killed restore left, in the folder or outside it, are
 * removed by the next command that begins a write.
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
 * is gone, then the record (dsync_write_begin() calls it).
 */
void dsync_worktree_temps_sweep(const dsync_folder *f);

/*
 * A join's staging folder .dsync/stage-XXXXXX for the blobs the indexing
 * of its packs leaves whole (see dsync_packidx_stage()): a file is then
 * renamed from there instead of read from the packs again, which costs as
 * much again as the indexing did.  Held (flock) while the join runs; one a
 * killed join left is removed by dsync_worktree_temps_sweep().
 */
typedef struct dsync_stage {
	int fd;        /* -1: none (no staging) */
	char *path;
} dsync_stage;

/* Makes and holds *S and turns staging on; when that fails, the join goes
 * on without it. */
void dsync_worktree_stage_begin(dsync_stage *s, const dsync_folder *f);

/* Turns staging off and removes *S with what no file took of it. */
void dsync_worktree_stage_end(dsync_stage *s);

#endif
