/*
 * What the files of the pack writer share (packw.h): packw.c the writer,
 * packw_prep.c preparing objects, packw_odb.c the odb backend.  Nothing
 * else includes it.
 */
#ifndef DSYNC_BASE_PACKW_INT_H
#define DSYNC_BASE_PACKW_INT_H

#include "core/base/sha1.h"

#include "core/base/array.h"
/* included after core/base/packw.h, which each of the three files includes
 * first: including it here would make an include cycle between packw and
 * packw_int (tests/build/include-cycles.sh) */

/* zlib's one-call lengths are 32-bit; dsync's objects are chunks, trees,
 * commits and files under 8 MiB (bigger ones are chunked): a bigger one goes
 * loose, as before */
#define DSYNC_PACKW_MAX_OBJECT (1u << 30)

struct dsync_packw {
	git_odb *odb;
	char *dir;               /* GITDIR/objects/pack */
	char *tmp_pack;          /* DIR/tmp-dsync-XXXXXX.pack */
	char *tmp_idx;           /* the same with .idx, made at commit */
	int fd;
	uint32_t expect;         /* this pack's header count */
	uint64_t guess;          /* the objects the caller expects in all (open's EXPECT) */
	uint64_t given;          /* the objects added so far, written or dropped */
	uint32_t before;         /* the objects of the first pack, once split */
	uint64_t rehashed;       /* bytes hashed again because a header's count was wrong */
	bool split;              /* no more splitting: the second pack is open, or the guess too small */
	uint64_t off;            /* bytes of the pack so far, buffered ones included */
	dsync_sha1 sha;          /* the trailer's SHA-1, over every byte written */
	DSYNC_ARRAY(dsync_packw_ent) ents;  /* in the pack's order */
	uint32_t *slots;         /* open addressing: index + 1 into ents, 0 empty */
	size_t nslots;           /* a power of two, at least twice ents.size */
	unsigned char *wbuf;
	size_t wfill;
	dsync_packw_obj scratch; /* put()'s prepared object */
	uint32_t rechecked;      /* dedup hits hashed again with SHA-1DC */
	dsync_packw **backref;   /* the odb backend's pointer to this writer, if any: cleared by free */
	bool sealed;             /* being committed: ents sorted, no more adds or reads */
	bool done;               /* committed */
	bool failed;             /* a write failed: only free is left */
};

/* The name for W's errors: its pack in progress, or its folder when a
 * failed split left it none. */
static inline const char *packw_name__(const dsync_packw *w)
{
	return w->tmp_pack ? w->tmp_pack : w->dir;
}

/* packw_prep.c: dsync_packw_prepare(), with the id given when KNOWN is not
 * NULL (libgit2 hashed it already). */
int dsync_packw_prepare__(dsync_packw_obj *o, git_object_t type, const void *data, size_t len, const git_oid *known);

/* packw.c: dsync_packw_add(); CHECK_ODB false: the store is not asked
 * (libgit2 asked it before it called the backend). */
int dsync_packw_add__(dsync_packw *w, const dsync_packw_obj *o, bool check_odb);

/* packw.c: whether W still takes objects and serves reads (not committed,
 * not being committed, no failed write). */
bool dsync_packw_live__(const dsync_packw *w);

/* packw.c: copies LEN bytes of the pack in progress at OFF into OUT, from
 * the write buffer or the file.  Returns 0, or -1 with a libgit2 error set. */
int dsync_packw_read__(dsync_packw *w, uint64_t off, void *out, size_t len);

/* packw.c: the entry of ID in the pack in progress: its type, size, and
 * where its zlib stream lies.  GIT_ENOTFOUND when not there (or W no longer
 * serves reads), -1 with a libgit2 error set. */
int dsync_packw_entry__(dsync_packw *w, const git_oid *id, git_object_t *type, uint64_t *size, uint64_t *zoff,
			size_t *zlen);

#endif
