/*
 * SHA-1, for the checksum that ends a git packfile (core/thinpack.c): git's
 * format asks for it; nothing in dsync relies on it for security (packs are
 * authenticated by their encryption, objects by the indexer recomputing their
 * ids).
 */
#ifndef DSYNC_BASE_SHA1_H
#define DSYNC_BASE_SHA1_H

#include <stddef.h>
#include <stdint.h>

typedef struct dsync_sha1 {
	uint32_t h[5];
	uint64_t len;
	unsigned char buf[64];
	size_t fill;
} dsync_sha1;

void dsync_sha1_init(dsync_sha1 *c);
void dsync_sha1_update(dsync_sha1 *c, const void *data, size_t len);
void dsync_sha1_final(dsync_sha1 *c, unsigned char out[20]);

#ifdef DSYNC_TESTING
#include <stdbool.h>
/* Test builds: the portable rounds even where the CPU has SHA instructions
 * (not thread-safe: for a test's single thread). */
void dsync_sha1_portable__(bool on);
#endif

#endif
