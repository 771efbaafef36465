/*
 * Writing many stored versions at once (internal to core/worktree/): the
 * temporary files of a batch written by two threads, then made durable
 * with one syncfs per file system instead of an fsync per file, before the
 * caller renames any of them into place.  So nothing replaces a user's
 * file, or stands under its name as done, before its bytes are on disk.
 */
#ifndef DSYNC_CORE_BATCH_H
#define DSYNC_CORE_BATCH_H

#include <git2.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "core/base/buf.h"

/* One file of a batch: what dsync_worktree_temp() is given, and what it
 * gave back (its error's message kept, the writer being another thread). */
typedef struct dsync_wjob {
	git_oid id;
	uint32_t mode;
	mode_t perm;
	char *dest;
	dsync_buf tmp;     /* the temporary file, until taken */
	struct stat st;
	int error;
	char *msg;
} dsync_wjob;

typedef struct dsync_wbatch {
	git_repository *repo;   /* the caller's, used by its own thread only */
	const char *gitdir;     /* where the other thread opens its own */
	const char *root;
	mode_t umask;
	dsync_wjob *jobs;
	size_t n, cap;
	uint64_t bytes;         /* what the jobs will write, about */
} dsync_wbatch;

/* An empty batch of REPO's versions (its gitdir GITDIR) written under ROOT
 * (may be NULL: see dsync_worktree_temp()) with the process's UMASK. */
void dsync_wbatch_init(dsync_wbatch *b, git_repository *repo, const char *gitdir, const char *root, mode_t umask);

/* Adds the blob or big file ID of MODE (PERM as for dsync_worktree_temp())
 * to be written beside DEST; SIZE: its size when known, else 0. */
int dsync_wbatch_add(dsync_wbatch *b, const git_oid *id, uint32_t mode, mode_t perm, const char *dest, uint64_t size);

/* Whether the batch holds enough to be written now (its temporaries take
 * room until they are renamed: a batch is bounded in files and bytes). */
bool dsync_wbatch_full(const dsync_wbatch *b);

/*
 * Writes every job's temporary file (each job's own error in it), then
 * flushes the file systems they are on.  An error here (the flush) leaves
 * no temporary file; a job's error stays the job's.
 */
int dsync_wbatch_write(dsync_wbatch *b);

/* Job I's outcome: its temporary file's name into TMP and its stat into
 * *ST (may be NULL), or its error (set again in this thread). */
int dsync_wbatch_take(dsync_wbatch *b, size_t i, dsync_buf *tmp, struct stat *st);

/* Removes the temporary files not taken and empties the batch. */
void dsync_wbatch_clear(dsync_wbatch *b);

void dsync_wbatch_dispose(dsync_wbatch *b);

#endif
