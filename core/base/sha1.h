/*
 * SHA-1, with the CPU's SHA instructions where it has them: the checksums
 * that end git's packs and indexes (core/store/thinpack.c,
 * core/base/packw.c, core/history/verify.c), the HMAC of hashed
 * known_hosts lines, and the ids of the objects the local pack writer prepares
 * (core/base/packw_prep.c), the same ids libgit2 computes.  Plain SHA-1,
 * without SHA-1DC's detection of crafted collisions: the pack writer hashes
 * every object it drops as already held again with libgit2's SHA-1DC, the
 * one place a collision would do harm (docs/format.md, "Local packs"), and
 * fetched objects get their ids from libgit2's indexer (SHA-1DC).  Packs
 * sent to remotes are authenticated by their encryption.
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

/* Git's object id: the SHA-1 of "TYPE LEN\0" and the LEN bytes at DATA
 * (TYPE as git names it: "blob", "tree", ...). */
void dsync_sha1_object(unsigned char out[20], const char *type, const void *data, size_t len);

#ifdef DSYNC_TESTING
#include <stdbool.h>
/* Test builds: the portable rounds even where the CPU has SHA instructions
 * (not thread-safe: for a test's single thread). */
void dsync_sha1_portable__(bool on);
#endif

#endif
