/*
 * The list the tree walk makes: entries as they would be stored, and the
 * problems met (internal to core/history/).
 */
#ifndef DSYNC_CORE_HISTORY_SCAN_LIST_H
#define DSYNC_CORE_HISTORY_SCAN_LIST_H

#include <git2.h>
#include <sys/stat.h>

#include "core/base/array.h"
#include "core/history/statcache.h"

enum {
	SCAN_CACHED = 1 << 0,  /* stat matched the index: content not read */
	SCAN_KEPT = 1 << 1,    /* unreadable: the index's previous version kept */
	SCAN_HASHED = 1 << 2,  /* content read and hashed (or written) */
	SCAN_MARKER = 1 << 3,  /* an empty-folder marker not in the cache */
	SCAN_READ = 1 << 8,    /* discovery: content must be read */
	SCAN_WAS = 1 << 9      /* discovery: SCAN_READ, and the index had the path (its
				  bytes may well be the last snapshot's, already stored) */
};

/* Walks of fewer entries than this give no memory back to the system
 * (malloc_trim) nor fix glibc's mmap threshold: what they free is a few
 * pages, and mapping each big block apart costs page faults every time. */
#define SCAN_TRIM_MIN 8192

/* Called during the walk with the number of files seen so far and the
 * bytes read; may be NULL. */
typedef void (*scan_progress_cb)(size_t files, uint64_t bytes, void *payload);

/* Asked for each changed file (PATH as on disk, folder-relative) before it is
 * read: true keeps the cache's version (a file still being written). */
typedef bool (*scan_keep_cb)(const char *path, void *payload);

/* What the stat cache keeps of a file's lstat (a struct stat is 144 bytes;
 * a walk of 100,000 files holds one per file): times, device and inode as
 * wide as the index keeps them (scan_entry_to_index), the size whole (it
 * decides what is chunked). */
typedef struct scan_stat {
	int32_t mtime_s, ctime_s;
	uint32_t mtime_ns, ctime_ns;
	uint32_t dev, ino;
	uint64_t size;
	uint32_t uid, gid;
	uint32_t st_mode;
} scan_stat;

typedef struct scan_entry {
	char *path;        /* stored (escaped) path */
	char *real;        /* during the walk only: the path as on disk, when not
			      PATH (escaping seldom changes a name: a second copy
			      of every path was 6 MB of a walk of 100,000 files) */
	uint32_t mode;     /* GIT_FILEMODE_BLOB, _BLOB_EXECUTABLE or _LINK */
	unsigned flags;
	git_oid oid;
	scan_stat st;      /* lstat at the time the content was read */
} scan_entry;

/* The path of E as on disk, folder-relative (during the walk only). */
static inline const char *scan_entry_real(const scan_entry *e)
{
	return e->real ? e->real : e->path;
}

typedef struct scan_list {
	scan_entry *v;
	size_t n, cap;
	dsync_strlist problems; /* messages about paths that could not be read */
	uint64_t hashed_bytes;
	bool sorted;       /* v is sorted by path */
	bool unchanged;    /* every entry is SCAN_CACHED and the cache has no
			      other: the tree is the cache's (v not sorted) */
	size_t busy;       /* changed files the keep callback held back */
} scan_list;

/* Frees what L holds and empties it. */
void scan_list_dispose(scan_list *l);

/* Sorts L by stored path (as the index is), if it is not yet. */
void scan_list_sort(scan_list *l);

/*
 * Compares the walk SCAN with the cache C (both sorted): *CONTENT true when a
 * file was added or changed content or mode, *STAT_ONLY true when only stat
 * data needs refreshing, *DELETED the number of cached files the walk did
 * not see.
 */
void scan_list_compare(const scan_list *scan, const statcache *c, bool *content, bool *stat_only,
		       size_t *deleted);

/* Fills an index entry from a scan entry. */
void scan_entry_to_index(git_index_entry *out, const scan_entry *e);

/* Records a problem (formatted as printf) about a path in L. */
int scan_list_problem(scan_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Room for N entries in L. */
int scan_list_reserve(scan_list *l, size_t n);

/* ST's fields the cache keeps, into OUT. */
void scan_stat_set(scan_stat *out, const struct stat *st);

/* Appends an entry for the stored PATH (OID and ST may be NULL). */
int scan_list_push(scan_list *l, const char *path, uint32_t mode, const git_oid *oid, const struct stat *st,
		   unsigned flags);

/* The stat data the cache entry IE holds, as a struct stat in ST. */
void scan_stat_of_cache(struct stat *st, const statcache_entry *ie);

/* The git mode of a file of stat ST: a link, executable or not. */
uint32_t scan_git_mode(const struct stat *st);

#endif
