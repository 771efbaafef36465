/*
 * The files of a watched folder that are being written: a file is "being
 * written" from its first write until it is closed, or until nothing has
 * been written to it for a while (internal to core/watch/).
 */
#ifndef DSYNC_CORE_WATCH_WRITERS_H
#define DSYNC_CORE_WATCH_WRITERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct writers {
	void *tree;          /* tsearch tree of the files, by path */
	size_t n;            /* files in it */
} writers;

/* A write to PATH (tree-relative) at NOW (ms).  Out of memory, the file goes
 * untracked: at worst it is read while written, and the snapshot's own
 * check keeps its previous version. */
void writers_seen(writers *ws, const char *path, int64_t now);

/* PATH was closed or went: no longer being written. */
void writers_done(writers *ws, const char *path);

/* Forgets every file. */
void writers_clear(writers *ws);

/*
 * Forgets the files that nothing was written to since BEFORE (ms): a
 * truncate with no open, a program that keeps a file open for days.
 * Returns the time of the oldest write still counted (0: none).
 */
int64_t writers_prune(writers *ws, int64_t before);

/* Whether PATH is being written. */
bool writers_has(const writers *ws, const char *path);

#endif
