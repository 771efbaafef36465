#ifndef DSYNC_BASE_PACKIDX_H
#define DSYNC_BASE_PACKIDX_H

#include <git2.h>
#include <stddef.h>

#include "core/base/buf.h"

/* Objects larger than this are left to libgit2's indexer (inflated whole
 * here, to be hashed: above the chunking threshold, 8 MiB by default, only
 * a folder that turned chunking off has any). */
#define DSYNC_PACKIDX_MAX_OBJECT (16u << 20)

/*
 * Indexing a fetched pack that holds whole objects only (what dsync's own
 * packs hold: docs/format.md, "Fetched packs"), in one pass: each object
 * inflated once and its id computed by libgit2's hash (SHA-1DC, which
 * refuses crafted collisions), the pack's trailer checked with
 * core/base/sha1.c, the idx written as core/base/packw.c writes its own, and
 * the file itself linked into PACKDIR instead of copied.
 *
 * FD: the pack (a file the caller made, at PATH, in PACKDIR's file system),
 * read from its start.  0: indexed (*OBJECTS; IDX_PATH, may be NULL: the
 * .idx's path); 1: not a pack this reader takes (a delta, an object over
 * DSYNC_PACKIDX_MAX_OBJECT, a pack that doesn't parse or hash right, a link
 * that can't be made): nothing is left behind, and the caller hands it to
 * libgit2's indexer, which says what is wrong if anything is; or a negative
 * code (this machine's trouble: memory, a full disk).
 */
int dsync_packidx_index(int fd, const char *path, const char *packdir, size_t *objects, dsync_buf *idx_path);

/*
 * Staging for a join's checkout: while DIR is set (NULL: no more), every
 * blob this indexer reads (DSYNC_PACKIDX_STAGE_MAX bytes in all at most) is
 * also written whole in DIR (dsync_packidx_stage_path()), the bytes the id was just
 * computed from with SHA-1DC, out of a pack authenticated whole before.
 * Writing a file then takes such a blob by renaming it instead of reading
 * the pack again (inflating, hashing).  DIR: a folder of the caller's, made
 * for this alone, on the files' file system; set and cleared while no pack
 * is being indexed.  Staging is only a shortcut: a blob it fails to write
 * is simply not there.
 */
#define DSYNC_PACKIDX_STAGE_MAX (1ull << 30)
void dsync_packidx_stage(const char *dir);

/* The staging folder (NULL: none). */
const char *dsync_packidx_stage_dir(void);

/* Where blob ID is staged, into OUT (SIZE bytes): DIR/xx/<the rest of its
 * hex id>, spread over fan-out folders as git's loose objects are (one
 * folder of thousands of new files makes every create wait on its lock,
 * and some file systems look through all of them for a free inode): 0,
 * or -1 (no staging, no room). */
int dsync_packidx_stage_path(char *out, size_t size, const git_oid *id);

#endif
