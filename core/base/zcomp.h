/*
 * zlib streams (RFC 1950) of objects held whole in memory, made as fast as
 * the disk takes them: the local packs' writer (packw_prep.c) and the push's
 * packs (core/store/thinpack.c) both compress through here, so they decide
 * alike (docs/format.md, "Local packs", "Compression"), and read one back
 * (an object's bytes hashed again, packw.c).  libdeflate deflates;
 * zlib only for Huffman-only streams; every zlib (git's, libgit2's) reads
 * the result.
 */
#ifndef DSYNC_BASE_ZCOMP_H
#define DSYNC_BASE_ZCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dsync_zcomp dsync_zcomp;

/* How an object is compressed (dsync_zcomp_choose()). */
enum {
	DSYNC_ZCOMP_STORE,     /* stored blocks: a copy and an Adler-32 */
	DSYNC_ZCOMP_HUFFMAN,   /* Huffman codes only: no long strings repeat */
	DSYNC_ZCOMP_FAST,      /* deflated at the fastest level */
	DSYNC_ZCOMP_FINE,      /* deflated at the default level (smaller, slower) */
};

/* A compressor, for one thread at a time: NULL when out of memory. */
dsync_zcomp *dsync_zcomp_new(void);
void dsync_zcomp_free(dsync_zcomp *z);

/* The calling thread's own compressor (freed when the thread ends), NULL
 * when out of memory. */
dsync_zcomp *dsync_zcomp_thread(void);

/*
 * How LEN bytes at DATA are best compressed, from two samples of 2 KiB (the
 * start and the middle): STORE unless each saves a tenth at the fastest
 * level (a media file's header often compresses while its body does not),
 * HUFFMAN when neither has long strings that repeat, else FAST, or FINE when
 * FINE is true.  Objects of 4 KiB or less are not sampled: FAST or FINE.
 */
int dsync_zcomp_choose(dsync_zcomp *z, const unsigned char *data, size_t len, bool fine);

/* Bytes of room the stream of LEN bytes may need, whatever the method. */
size_t dsync_zcomp_bound(size_t len);

/*
 * Writes the zlib stream of LEN bytes at DATA by METHOD (DSYNC_ZCOMP_*) into
 * OUT (dsync_zcomp_bound(LEN) bytes of room) and returns its length (never
 * fails); a deflated object of 4 KiB or less that came out larger than
 * stored is stored.  LEN at most 1 GiB (zlib counts in 32 bits).
 */
size_t dsync_zcomp_write(dsync_zcomp *z, int method, unsigned char *out, const void *data, size_t len);

/* Inflates the zlib stream of ZLEN bytes at Z into the LEN bytes at OUT:
 * 0, or DSYNC_ECORRUPT unless it makes exactly LEN bytes and ends at ZLEN
 * (DSYNC_ERROR when out of memory). */
int dsync_zcomp_read(const unsigned char *z, size_t zlen, unsigned char *out, size_t len);

/* CRC-32 (as zlib's crc32()), the fast one. */
uint32_t dsync_crc32(uint32_t crc, const void *data, size_t len);

#endif
