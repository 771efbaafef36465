/*
 * Objects written straight into a pack of the local object store, instead of
 * one zlib-deflated loose file each (docs/format.md, "Local packs").
 *
 * The pack is git's own (pack v2 with a .idx v2 beside it) in
 * GITDIR/objects/pack/, so libgit2 and git read it as any other: object ids
 * are unchanged, only how the bytes are stored.  Every entry is whole (no
 * deltas; `dsync gc` repacks with deltas later).
 *
 * Two halves, so the costly part runs off the writer's thread:
 *   - dsync_packw_prepare(): hash and compress one object into a
 *     dsync_packw_obj the caller owns.  Thread-safe: it touches no libgit2
 *     object and no writer; any number of threads may prepare at once.
 *   - dsync_packw_add(): append a prepared object to the pack.  One thread
 *     at a time per writer (the writer is not locked).
 *
 * While written, the pack is GITDIR/objects/pack/tmp-dsync-XXXXXX.pack (and
 * its index tmp-dsync-XXXXXX.tmpidx at commit: git would take a NAME.idx
 * beside NAME.pack for a pack); nothing names it, so a crash leaves only those files,
 * which dsync_packw_clean_temp() removes later.  Commit renames the .pack,
 * then the .idx, into place (git finds a pack by its .idx, so a pack is seen
 * only whole).  The caller's syncfs before it moves a ref (snapshot.c) makes
 * the renames durable before anything names the pack's objects.
 */
#ifndef DSYNC_BASE_PACKW_H
#define DSYNC_BASE_PACKW_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dsync_packw dsync_packw;

/*
 * An object made ready off the writer's thread: its id (git's blob/tree id
 * of the raw bytes), type, raw size, and its pack entry body: the zlib stream
 * of the raw bytes, stored blocks (level 0) when a sample shows it does not
 * compress (already-compressed media, archives, random), else deflated at a
 * fast level.  Z is owned (malloc'd, ZCAP bytes of room): an object may be
 * prepared again into the same struct, reusing the room.  Zero it (or
 * dispose it) before the first prepare.  CHECKED: the id came from
 * libgit2's collision-detecting SHA-1DC (not from dsync's faster SHA-1).
 */
typedef struct dsync_packw_obj {
	git_oid id;
	git_object_t type;
	uint64_t size;
	unsigned char *z;
	size_t zlen;
	size_t zcap;
	bool checked;
} dsync_packw_obj;

/*
 * Hashes and compresses LEN bytes at DATA, an object of TYPE (blob, tree,
 * commit, tag), into *O.  Thread-safe.  Returns 0, DSYNC_EUSAGE for another
 * type or an object over 1 GiB (dsync chunks files over 8 MiB), DSYNC_ERROR
 * when out of memory (*O keeps its room, its content is undefined).
 */
int dsync_packw_prepare(dsync_packw_obj *o, git_object_t type, const void *data, size_t len);

/*
 * The same, the id computed by libgit2's SHA-1DC (O->checked): for an
 * object likely already held (a file the last snapshot had, read again
 * because its stat changed), which add() would otherwise hash again with
 * SHA-1DC, on the writer's one thread, before it drops it.
 */
int dsync_packw_prepare_checked(dsync_packw_obj *o, git_object_t type, const void *data, size_t len);

/* Frees O's room and zeroes it; O may be reused.  Accepts a zeroed struct. */
void dsync_packw_obj_dispose(dsync_packw_obj *o);

/*
 * Opens a pack under GITDIR/objects/pack/tmp-dsync-*.  EXPECT: how many
 * objects the caller expects to add.  A pack header's count is hashed as the
 * pack is written, before anyone knows how many objects dedup will drop, so:
 *   - EXPECT under DSYNC_PACKW_SPLIT_MIN: one pack announcing EXPECT;
 *   - else a first pack announces all but the last eighth of EXPECT.  Once
 *     it holds that many and another object comes, it is finished (named:
 *     the ODB reads it) and a second pack takes the rest, announcing what is
 *     left of EXPECT, the objects dropped so far counted as given.  So up to
 *     an eighth of EXPECT may be dropped (or guessed too many) and still no
 *     pack is hashed twice but, at worst, the second.
 * A pack that ends with another count than its header's gets the header
 * rewritten at commit and is hashed again, as git fast-import does.  ODB
 * (may be NULL): objects it already holds are not written again.
 */
int dsync_packw_open(dsync_packw **out, git_odb *odb, const char *gitdir, uint32_t expect);

/* The smallest guess split into two packs: below it a pack is small enough
 * that hashing it again costs little. */
#define DSYNC_PACKW_SPLIT_MIN 256

/*
 * Appends O to the pack, unless this pack or the ODB already holds its id
 * (then nothing is written and 0 is returned).  Write errors (disk full):
 * DSYNC_ENOSPACE or DSYNC_ERROR; the writer is then only good for free.
 * Before O is dropped as already held, its bytes (inflated from its entry)
 * are hashed again with libgit2's SHA-1DC, unless its id came from it: a
 * crafted SHA-1 collision, or an id that is not its bytes', is
 * DSYNC_ECORRUPT, for that object only (the writer stays usable).
 */
int dsync_packw_add(dsync_packw *w, const dsync_packw_obj *o);

/* Prepares and adds the object of TYPE with LEN bytes at DATA; *ID (may be
 * NULL): its id.  Reuses a buffer of the writer's: for the writer's thread.
 * Checked as add() does, on DATA itself. */
int dsync_packw_put(dsync_packw *w, git_oid *id, git_object_t type, const void *data, size_t len);

/* Whether this pack (not the ODB) holds ID. */
bool dsync_packw_has(const dsync_packw *w, const git_oid *id);

/* How many objects the writer's packs hold so far (dedup'd ones not counted). */
uint32_t dsync_packw_count(const dsync_packw *w);

/* For tests and benchmarks: the bytes hashed again at commit because a
 * pack's header had another count. */
uint64_t dsync_packw_rehashed__(const dsync_packw *w);

/* How many objects add() and put() hashed again with SHA-1DC before they
 * dropped them as already held. */
uint32_t dsync_packw_rechecked(const dsync_packw *w);

/*
 * Finishes the pack (the second, when split): the count fixed when
 * needed, the trailer, the .idx v2 (8-byte offsets past 2 GiB), then
 * renames the .pack and then the .idx to pack-<sha>.{pack,idx} and
 * refreshes the ODB so its objects are readable.
 * A pack of no object is not kept.  Both files are flushed (fdatasync)
 * before they are renamed, so that a power cut cannot leave a named pack of
 * zeros that fails every lookup; the renames are not: the caller's syncfs
 * before anything names the objects makes them durable.
 * After it, add writes no more (DSYNC_EUSAGE); free only frees.
 */
int dsync_packw_commit(dsync_packw *w);

/* Frees W (NULL accepted).  Not committed: its temp files are removed. */
void dsync_packw_free(dsync_packw *w);

/*
 * A libgit2 odb backend over W, for git_odb_add_backend() at a priority above
 * the loose and packed backends (e.g. 1000): every git_odb_write of the
 * caller (trees, chunk blobs, the commit) lands in the pack without changing
 * the caller; read, read_header and exists serve the pack in progress (read
 * inflates the entry from the temp file).  After commit (or once the writer
 * failed) its write returns GIT_PASSTHROUGH, so later writes go loose (libgit2
 * 1.5 has no way to remove a backend); reads answer GIT_ENOTFOUND and the
 * refreshed packed backend serves them.  The ODB owns the backend (frees it
 * with itself); W must outlive the ODB's use of it, or be committed first.
 */
int dsync_packw_backend(git_odb_backend **out, dsync_packw *w);

/* How old a temp pack must be before it is taken for a crashed run's: a
 * younger one may be another process's pack in progress. */
#define DSYNC_PACKW_TEMP_AGE 3600

/*
 * Removes GITDIR/objects/pack/tmp-dsync-* files older than MIN_AGE seconds
 * (DSYNC_PACKW_TEMP_AGE; dsync_packw_open() and `dsync gc` do it).
 * Best effort: a file that can't be removed is skipped; returns how many
 * were removed.
 */
int dsync_packw_clean_temp(const char *gitdir, int64_t min_age);

/* For tests: one .idx entry, and the .idx v2 writer commit uses (sorts E by
 * id in place; writes to FD from its current position; PACK_SHA: the pack's
 * trailer).  Offsets of 2^31 and above go to the 8-byte table. */
typedef struct dsync_packw_ent {
	git_oid id;
	uint64_t offset;
	uint32_t crc;
} dsync_packw_ent;
int dsync_packw_write_idx__(int fd, dsync_packw_ent *e, size_t n, const unsigned char pack_sha[20],
			    unsigned char idx_sha_out[20]);

#endif
