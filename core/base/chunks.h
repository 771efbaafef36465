/*
 * A big file as a chunk tree (docs/chunks.md): its bytes cut by the chunker
 * into blobs of 8 to 128 KiB, grouped into subtrees, under a tree that
 * holds a marker with the file's size and mode:
 *
 *     NAME/                      mode 040000 in the folder's tree
 *       .dsync-chunks            "dsync chunked file\nversion 1\nsize N\nmode M\n"
 *       g000000/                 the first group: up to 1024 chunks
 *         c0000 c0001 ...        the chunks, in order
 *       g000001/ ...
 *
 * Git sees a folder of small files (git log, fsck, gc all work); dsync sees
 * one file.  Memory stays bounded by the chunk size in both directions.
 */
#ifndef DSYNC_CHUNKS_H
#define DSYNC_CHUNKS_H

#include <git2.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/base/chunker.h"

#define DSYNC_CHUNKS_MARKER ".dsync-chunks"
#define DSYNC_GROUP_MAX 1024   /* chunks in one group at most */
#define DSYNC_CHUNK_THRESHOLD (8 * 1024 * 1024)  /* files above it are chunked */

typedef struct dsync_chunked {
	uint64_t size;     /* the file's size in bytes */
	uint32_t mode;     /* GIT_FILEMODE_BLOB or GIT_FILEMODE_BLOB_EXECUTABLE */
} dsync_chunked;

/* Where a chunk tree's objects go: writes (or only hashes) the object of
 * TYPE with LEN bytes at DATA, its id into *OUT; 0 or a negative DSYNC_E*
 * code with the error set. */
typedef int (*dsync_chunks_put_fn)(git_oid *out, git_object_t type, const void *data, size_t len, void *payload);

/*
 * Cuts what FD holds (read to its end) into chunks and makes the chunk tree
 * of a file of MODE: written to ODB, or only hashed when ODB is NULL (the
 * same ids either way).  *OUT: the tree; *SIZE (may be NULL): the bytes
 * read.  Memory: two chunks' worth and one group's entries.  On failure,
 * *READ_FAILED (may be NULL) is set when reading FD failed (the file's
 * fault) and left alone when writing to ODB did (the store's).
 */
int dsync_chunks_from_fd(git_oid *out, uint64_t *size, git_odb *odb, const dsync_chunker *c, int fd,
			 uint32_t mode, bool *read_failed);

/* As dsync_chunks_from_fd(), every object given to PUT (e.g. a pack writer). */
int dsync_chunks_from_fd_put(git_oid *out, uint64_t *size, dsync_chunks_put_fn put, void *payload,
			     const dsync_chunker *c, int fd, uint32_t mode, bool *read_failed);

/*
 * The two halves of dsync_chunks_from_fd(), for a caller that stores the
 * chunks elsewhere (or in another thread) as they are cut.
 *
 * A cutter reads FD in pieces and hands out its chunks in order: each valid
 * until the next call.  Memory: two chunks' worth.
 */
typedef struct dsync_chunk_cutter {
	const dsync_chunker *c;
	int fd;
	unsigned char *buf;
	size_t have, pos;
	uint64_t total;    /* bytes read so far */
	bool eof;
} dsync_chunk_cutter;

int dsync_chunk_cutter_init(dsync_chunk_cutter *k, const dsync_chunker *c, int fd);

/* The next chunk into *DATA, *LEN and *GROUP_END: 1, or 0 at the end of the
 * file.  A failed read: DSYNC_E* with *READ_FAILED (may be NULL) set. */
int dsync_chunk_cutter_next(dsync_chunk_cutter *k, const unsigned char **data, size_t *len, bool *group_end,
			    bool *read_failed);

void dsync_chunk_cutter_dispose(dsync_chunk_cutter *k);

/*
 * A chunk tree built from its chunks' ids, in order: the group trees and
 * the root (with its marker) are given to PUT as they end.  Zero it before
 * use; dispose it after (or to start again).
 */
typedef struct dsync_chunk_tree {
	dsync_buf root, leaf;
	size_t in_leaf, groups;
} dsync_chunk_tree;

/* Adds the chunk ID; GROUP_END: the chunker ended a group with it. */
int dsync_chunk_tree_add(dsync_chunk_tree *t, const git_oid *id, bool group_end, dsync_chunks_put_fn put,
			 void *payload);

/* Ends the tree of a file of SIZE bytes and MODE: its id into *OUT. */
int dsync_chunk_tree_finish(dsync_chunk_tree *t, git_oid *out, uint64_t size, uint32_t mode,
			    dsync_chunks_put_fn put, void *payload);

void dsync_chunk_tree_dispose(dsync_chunk_tree *t);

/*
 * Whether TREE is a chunked file: 1 with *INFO filled, 0 when it is a plain
 * folder (no marker).  A marker that is not exactly dsync's:
 * DSYNC_ECORRUPT.
 */
int dsync_chunks_info(dsync_chunked *info, git_repository *repo, const git_tree *tree);

/* As dsync_chunks_info(), for the tree TREE_ID (looked up: a failure is an
 * error). */
int dsync_chunks_info_of(dsync_chunked *info, git_repository *repo, const git_oid *tree_id);

/* Whether the tree entry E is a big file's chunk tree; its *INFO (may be
 * NULL).  Unreadable or malformed: not one. */
bool dsync_chunks_entry_is_big(dsync_chunked *info, git_repository *repo, const git_tree_entry *e);

/*
 * Streams the chunked file TREE's bytes to CB, in order and in pieces of at
 * most DSYNC_CHUNK_MAX bytes; CB's non-zero return stops it and is returned.
 * A tree whose chunks are not what its marker says (names, order, sizes,
 * total): DSYNC_ECORRUPT, naming PATH.  CB NULL: only checks all that, from
 * the objects' headers (no chunk is read).
 */
int dsync_chunks_read(git_repository *repo, const git_oid *tree, const char *path,
		      int (*cb)(const void *data, size_t len, void *payload), void *payload);

/*
 * The index form of TREE into *OUT: every chunk tree in it replaced by a
 * submodule-link entry (160000) naming it, so that the index, diffs and the
 * merge see a big file as one entry whose id changes with its content.
 * *OUT is TREE's own id when it holds none.  Trees are written to REPO.
 */
int dsync_chunks_to_index_form(git_oid *out, git_repository *repo, const git_tree *tree);

/*
 * The stored form of the index-form TREE into *OUT: every 160000 entry
 * becomes the chunk tree it names (040000).  One that names anything else:
 * DSYNC_ECORRUPT (dsync never stores a submodule link).
 */
int dsync_chunks_from_index_form(git_oid *out, git_repository *repo, const git_tree *tree);

/* Replaces *TREE (freed) by its index form, looked up. */
int dsync_chunks_swap_to_index_form(git_tree **tree, git_repository *repo);

/*
 * Replaces the index-form tree id *ID by its stored form's id.  UNREADABLE
 * (may be NULL): when set, a link whose chunk tree or marker can't be read
 * does not stop the walk; every such link's path is added to it, and the
 * first one's error is returned at the end.
 */
struct dsync_strset;
int dsync_chunks_id_to_stored_form(git_oid *id, git_repository *repo, struct dsync_strset *unreadable);

#endif
