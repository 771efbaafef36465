/*
 * Manifests (DESIGN.md section 4; docs/store-format.md): what each device's
 * blob devices/ID/SEQ says (its head, its packs, the packs it retired), the
 * text format that says it, and the AEAD seal around that text.  Knows
 * nothing of folders: core/sync/ decides what a manifest holds and when it
 * is written.
 */
#ifndef DSYNC_CORE_MANIFEST_H
#define DSYNC_CORE_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>

#include <git2.h>

#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/internal.h"
#include "core/store/store.h"

#define DSYNC_MANIFEST_MAX (4 * 1024 * 1024) /* a manifest blob at most */

/* A pack a manifest names. */
typedef struct dsync_manifest_pack {
	char name[DSYNC_HEX256_SIZE];
	uint64_t size;     /* the blob's size */
	int64_t time;      /* when it was pushed: a pack's delta bases are in
			      packs pushed before it (or in itself) */
	char *from;        /* consolidated from these packs ("A,B,..."), or NULL */
} dsync_manifest_pack;

/* A pack a manifest retired: readers in flight may still fetch it. */
typedef struct dsync_manifest_retired {
	char name[DSYNC_HEX256_SIZE];
	int64_t since;
} dsync_manifest_retired;

typedef struct dsync_manifest {
	char blob[96];                 /* devices/ID/SEQ */
	char device[33];
	uint64_t seq;
	int64_t time;
	bool has_head;
	git_oid head;
	char hash[DSYNC_HEX256_SIZE];  /* of the text: forks */
	DSYNC_ARRAY(dsync_manifest_pack) packs;
	DSYNC_ARRAY(dsync_manifest_retired) retired;
} dsync_manifest;

/* Frees what M holds and empties it. */
void dsync_manifest_dispose(dsync_manifest *m);

/* Appends a pack (FROM may be NULL) or a retired pack to M. */
int dsync_manifest_add_pack(dsync_manifest *m, const char *name, uint64_t size, int64_t when, const char *from);
int dsync_manifest_add_retired(dsync_manifest *m, const char *name, int64_t since);

/* A manifest text's hash as the seen state records it (HEX: 65 bytes). */
void dsync_manifest_hash(char *hex, const char *text, size_t len);

/* Parses manifest TEXT of blob M->blob (device and seq already set from the
 * name) of the store STORE_ID at URL, and checks that it says what its name
 * says: DSYNC_ECORRUPT naming the blob when not. */
int dsync_manifest_parse(dsync_manifest *m, const char *text, const char *store_id, const char *url);

/* Appends the text of M, a manifest of store STORE_ID, to OUT. */
int dsync_manifest_text(dsync_buf *out, const dsync_manifest *m, const char *store_id);

/* The blob name "devices/DEV/SEQ" into OUT (SIZE bytes). */
void dsync_manifest_name(char *out, size_t size, const char *dev, uint64_t seq);

/* Reads the device (DEV: 33 bytes) and sequence number out of blob name
 * NAME: -1 when NAME is not a manifest's name. */
int dsync_manifest_parse_name(const char *name, char *dev, uint64_t *seq);

/* Seals manifest TEXT as blob BLOBNAME ("devices/ID/SEQ") into OUT. */
int dsync_manifest_seal(dsync_buf *out, dsync_store *s, const char *blobname, const char *text, size_t len);

/* Opens the manifest blob BLOBNAME (bytes BLOB, LEN) into TEXT
 * (NUL-terminated): DSYNC_ECORRUPT naming it on any failure. */
DSYNC_WARN_UNUSED
int dsync_manifest_open(dsync_buf *text, dsync_store *s, const char *blobname, const unsigned char *blob,
			size_t len);

#endif
