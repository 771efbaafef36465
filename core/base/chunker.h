/*
 * Content-defined chunking of big files (docs/chunks.md): FastCDC's gear
 * hash with normalized chunking, its table made from a per-folder secret so
 * that chunk boundaries say nothing about the content to anyone without it.
 *
 * Cut points depend only on the bytes near them, so an edit in the middle of
 * a file changes the chunks around it and no others.  A second, rarer
 * condition at a cut point ends a *group* of chunks (about 256): the file's
 * tree holds one subtree per group, so an edit rewrites one small subtree,
 * not a list of every chunk.
 */
#ifndef DSYNC_CHUNKER_H
#define DSYNC_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSYNC_CHUNK_MIN (8u * 1024)     /* no cut before this many bytes */
#define DSYNC_CHUNK_AVG (32u * 1024)    /* the normal size */
#define DSYNC_CHUNK_MAX (128u * 1024)   /* always a cut here */
#define DSYNC_CHUNK_SEED_BYTES 32

typedef struct dsync_chunker {
	uint64_t gear[256];
	uint64_t mask_small;   /* before the normal size: harder to cut */
	uint64_t mask_large;   /* after it: easier */
	uint64_t mask_group;   /* at a cut: ends a group too */
} dsync_chunker;

/* Makes C's gear table from the folder's secret SEED. */
void dsync_chunker_init(dsync_chunker *c, const unsigned char seed[DSYNC_CHUNK_SEED_BYTES]);

/*
 * The length of the next chunk at the start of DATA (LEN bytes): a cut
 * point, or DSYNC_CHUNK_MAX, or LEN when EOF says no more data follows.  0
 * when LEN is too short to decide (fewer than DSYNC_CHUNK_MAX bytes and not
 * EOF): give it more.  *GROUP_END tells whether the chunk also ends a group
 * (always at EOF).
 */
size_t dsync_chunker_next(const dsync_chunker *c, const unsigned char *data, size_t len, bool eof,
			bool *group_end);

#endif
