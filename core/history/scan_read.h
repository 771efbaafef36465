/*
 * The tree walk's reading phase (internal to core/history/): what scan.c,
 * which reads one file at a time, and scan_pack.c, which reads and packs on
 * worker threads, share.
 */
#ifndef DSYNC_CORE_HISTORY_SCAN_READ_H
#define DSYNC_CORE_HISTORY_SCAN_READ_H

#include "core/base/chunker.h"
#include "core/base/packw.h"
#include "core/history/scan_list.h"

/* Files up to this size are read whole; larger ones are streamed. */
#define SCAN_SMALL_FILE (1024 * 1024)
/* Up to this size, also a file written as a loose object (loose.h wants it
 * whole); a snapshot that reads more than this writes a pack (scan.c) */
#define SCAN_LOOSE_WHOLE (8 * 1024 * 1024)

typedef struct scan_reader {
	const char *root;
	const char *gitdir;
	const statcache *cache;
	git_odb *odb;
	dsync_packw *pack;       /* new objects go into it when set (else ODB) */
	bool write;
	uint64_t threshold;      /* files above it are chunked (0: none) */
	dsync_chunker chunker;
	scan_list *out;
	char *chunk;
	scan_progress_cb progress;
	scan_keep_cb keep;
	void *payload;
	size_t seen;             /* files discovery saw, for progress */
	size_t next, kept;       /* entries finished so far, and kept of them */
	bool marker_written;
} scan_reader;

/* Whether A and B are the same version of a file (size, mtime, inode). */
bool scan_same_version(const struct stat *a, const struct stat *b);

/* Whether a file of SIZE bytes is stored as a chunk tree. */
bool scan_chunked(const scan_reader *r, uint64_t size);

/* A chunk-tree put (chunks.h) into the pack writer PAYLOAD. */
int scan_put_pack(git_oid *out, git_object_t type, const void *data, size_t len, void *payload);

/*
 * Reads the file of entry E (found changed by discovery) on this thread:
 * its oid, mode and stat as read.  ASK_KEEP: asks R->keep first (false: the
 * caller did).  *DROP: it vanished (or stays unreadable with no previous
 * version), so the entry goes.
 */
int scan_read_entry(scan_reader *r, scan_entry *e, bool ask_keep, bool *drop);

/* E is held back by R->keep: it keeps the cache's version (*DROP: none). */
void scan_hold_back(scan_reader *r, scan_entry *e, bool *drop);

/* Finishes the entries of R->out up to I (excluded) that need no reading,
 * then entry I (when I < n) as resolved: DROP removes it. */
int scan_finish_to(scan_reader *r, size_t i, bool drop);

/* The reading phase on worker threads into R->pack (scan_pack.c): every
 * entry finished with scan_finish_to(). */
int scan_read_parallel(scan_reader *r);

#ifdef DSYNC_TESTING
/* Test builds only: a pause of DSYNC_TEST_SCAN_PAUSE_MS before a snapshot
 * reads each file (not one it holds back), so that a test can signal a
 * snapshot while it reads. */
void scan_test_pause(void);
#else
#define scan_test_pause() ((void)0)
#endif

#endif
