/*
 * Reading the small files dsync keeps: its per-user config (the folder
 * registry, kept keys), a folder's own files (.dsyncignore, what dsync writes
 * in .dsync/) and its locks.
 *
 * Each is opened without blocking and used only when it is a regular file:
 * a FIFO (or a device) put in its place would otherwise hold open() until a
 * writer came, and a daemon stuck there hears no signal.  Reads are bounded.
 */
#ifndef DSYNC_FILE_H
#define DSYNC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/base/buf.h"

/* Flags for the functions below. */
enum {
	DSYNC_FILE_NOFOLLOW = 1 << 0,  /* a symlink in its place is refused */
	DSYNC_FILE_CREATE = 1 << 1     /* read-write, made (mode 0644) when missing: a lock */
};

/*
 * Opens PATH for reading (DSYNC_FILE_CREATE: for reading and writing, made
 * when missing) without blocking, and only when it is a regular file.
 * Returns 0 with the descriptor in *OUT (and its status in *ST when ST is
 * not NULL), DSYNC_ENOTFOUND when PATH does not exist (no message is set:
 * most callers take that as "none", and the last error stays as it was),
 * or another negative DSYNC_E* code with a message naming PATH ("cannot
 * read 'PATH': not a regular file (a FIFO); remove it" for one).
 */
int dsync_file_open(int *out, const char *path, unsigned flags, struct stat *st);

/*
 * Appends the whole regular file PATH to OUT, refusing one larger than MAX
 * bytes ("larger than the limit").  Errors as dsync_file_open().
 */
int dsync_file_read(dsync_buf *out, const char *path, size_t max, unsigned flags);

/*
 * The same into BUF (SIZE bytes, NUL-terminated): reads at most SIZE-1
 * bytes; *LEN is how many.
 */
int dsync_file_read_small(size_t *len, const char *path, char *buf, size_t size, unsigned flags);

/*
 * Whether PATH, when it exists, is a regular file (stat(), through a
 * symlink), for files a library dsync uses opens itself (libgit2's config,
 * HEAD, index).  0, or DSYNC_ERROR with the message of dsync_file_open().
 */
int dsync_file_check(const char *path);

/* Writes the LEN bytes at DATA to FD, again after a short write or EINTR:
 * 0, or -1 with errno set. */
int dsync_file_write_all(int fd, const void *data, size_t len);

#endif
