/*
 * The stat cache: a fast, read-only view of FOLDER/.dsync/index (git's index
 * file, versions 2 and 3) for the tree walk.  libgit2's own index reader sorts
 * and hashes every entry on load, which made an unchanged snapshot of a large
 * tree cost twice what git's does; this view maps the file and uses its
 * (already sorted) entries in place.  Writing still goes through libgit2.
 * Internal to core/.
 */
#ifndef DSYNC_CORE_STATCACHE_H
#define DSYNC_CORE_STATCACHE_H

#include <git2.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/folder/folder.h"

typedef struct statcache_entry {
	const char *path;  /* NUL-terminated, inside the mapping */
	uint32_t ctime_s, ctime_ns, mtime_s, mtime_ns;
	uint32_t dev, ino, mode, uid, gid, size;
	git_oid id;
	bool stale;        /* its stored object can't be read: never matches */
} statcache_entry;

typedef struct statcache {
	void *map;
	size_t map_len;
	statcache_entry *v;     /* sorted by path, stage-0 entries only */
	size_t n;
	bool has_tree;          /* the TREE extension gave a valid root tree */
	git_oid tree;
	bool has_mtime;         /* the index file's mtime (racy-clean check) */
	struct timespec mtime;
} statcache;

/*
 * Loads the index file PATH into OUT.  A missing file, or one in a format
 * this reader does not know (index v4), gives an empty cache: everything is
 * then read again, which is slower but right.  Returns 0 or a negative
 * DSYNC_E* code (a truncated or malformed file: DSYNC_ECORRUPT).
 */
int statcache_load(statcache *out, const char *path);

/* Loads the index of the folder F (its .dsync/index) as in statcache_load(). */
int statcache_load_folder(statcache *out, const dsync_folder *f);

/* The entry for PATH (stored form), or NULL. */
const statcache_entry *statcache_find(const statcache *c, const char *path);

/* The position of the first entry whose path is >= PREFIX. */
size_t statcache_lower_bound(const statcache *c, const char *prefix);

/*
 * Marks the entry for PATH stale: the walk reads the file again instead of
 * reusing the entry's object (which can't be read).  False when there is no
 * such entry, or it was marked already.
 */
bool statcache_forget(statcache *c, const char *path);

void statcache_dispose(statcache *c);

#endif
