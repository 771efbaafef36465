/*
 * Packs in the encrypted store (DESIGN.md section 4; docs/store-format.md):
 * encrypting a plaintext git packfile into the blob packs/NAME, and
 * decrypting and checking one.
 */
#ifndef DSYNC_CORE_PACK_H
#define DSYNC_CORE_PACK_H

#include <stdint.h>

#include "core/store/store.h"

#define DSYNC_PACK_CHUNK (64 * 1024)       /* plaintext bytes per pack message */

/*
 * Encrypts the plaintext pack in PLAIN_FD (its whole content, read twice:
 * once for its name, once to encrypt) into OUT_FD, the blob packs/NAME; NAME
 * (65 bytes) is set.  Memory stays bounded whatever the size.
 */
int dsync_pack_encrypt(dsync_store *s, int plain_fd, int out_fd, char *name, uint64_t *plain_size);

/* A pack's name hashed as its plaintext is written, to save reading it
 * back: the keyed hash dsync_pack_encrypt computes, and the bytes seen. */
typedef struct dsync_pack_namer {
	crypto_generichash_state h;
	uint64_t len;
} dsync_pack_namer;

void dsync_pack_namer_init(dsync_pack_namer *n, const dsync_store *s);
void dsync_pack_namer_update(dsync_pack_namer *n, const void *data, size_t len);
/* NAME: 65 bytes. */
void dsync_pack_namer_final(dsync_pack_namer *n, char *name);

/* dsync_pack_encrypt of a pack of LEN bytes already named NAME (by a
 * namer): reads PLAIN_FD once; a size other than LEN is refused. */
int dsync_pack_encrypt_named(dsync_store *s, int plain_fd, int out_fd, const char *name, uint64_t len);

/* Receives decrypted pack bytes. */
typedef int (*dsync_pack_sink)(const void *data, size_t len, void *payload);

/*
 * Decrypts the blob packs/NAME held in FD (read from offset 0) into SINK,
 * checking every message, the padding, the end and that NAME is the keyed
 * hash of the plaintext; any failure is DSYNC_ECORRUPT naming the blob.  The
 * sink gets bytes before the end is verified: it must not act on them until
 * this returns 0.
 */
DSYNC_WARN_UNUSED
int dsync_pack_decrypt(dsync_store *s, const char *name, int fd, dsync_pack_sink sink, void *payload);

/* The size of the blob that a pack of PLAIN bytes becomes. */
uint64_t dsync_pack_blob_size(uint64_t plain);

#endif
