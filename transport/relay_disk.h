/*
 * The relay's storage (docs/relay-protocol.md section 9): its data directory
 * is its whole state.  Groups (token and admission hashes, quota), devices
 * (signing key, highest manifest SEQ), blobs (a 64-byte header naming the
 * writer and the body's hash, then the body), uploads in progress, usage.
 * Every write is temp + fsync + rename + fsync of the folder, so whatever
 * was answered 2xx survives kill -9 and power loss.  Thread-safe: the HTTP
 * side (relay_server.c) calls it from several threads; one mutex per group
 * covers its records, usage and the rename step, never a body transfer.
 * Every name it is given has passed relay_proto.h's checks; it still opens
 * everything relative to the group's folder with O_NOFOLLOW.  The request
 * handling reaches it through relay_store.h (relay_store_disk.c), whose
 * types it uses.
 */
#ifndef DSYNC_TRANSPORT_RELAY_DISK_H
#define DSYNC_TRANSPORT_RELAY_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport/relay_proto.h"
#include "transport/relay_store.h"

typedef struct relay_disk relay_disk;

/* Opens (CREATE: makes when missing or empty) the data directory DIR:
 * refuses a non-empty folder without DIR/relay ("dsync-relay-data 1"),
 * removes temp files of plain PUTs, truncates resumable uploads to their
 * recorded length, recomputes every group's usage.  DSYNC_EUSAGE with a
 * one-line message for a folder that isn't a relay's. */
int relay_disk_open(relay_disk **out, const char *dir, const relay_disk_limits *lim);
void relay_disk_close(relay_disk *d);

/* DSYNC_ENOTFOUND when there is no such group. */
int relay_disk_group(relay_disk *d, const char *gid, relay_group_info *out);
/* Creates group GID with TH and AH: 0 created, 1 it exists with the same TH
 * (nothing changed), DSYNC_EAUTH it exists with another, DSYNC_ENOSPACE the
 * relay holds max_groups (refusal "relay-full"). */
int relay_disk_group_create(relay_disk *d, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			    const uint8_t ah[DSYNC_RELAY_KEY_BYTES]);
/* Replaces the group's TH and AH (a passphrase change). */
int relay_disk_group_rotate(relay_disk *d, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			    const uint8_t ah[DSYNC_RELAY_KEY_BYTES]);
/* Sets the group's quota (0: none). */
int relay_disk_group_quota(relay_disk *d, const char *gid, uint64_t quota);

/* DSYNC_ENOTFOUND for no such device. */
int relay_disk_device(relay_disk *d, const char *gid, const char *dev, relay_device_info *out);
/* Registers DEV with PK: 0 registered, 1 the same key was there,
 * DSYNC_EEXISTS another key is, DSYNC_ENOSPACE max_devices (refusal
 * "too-many-devices"). */
int relay_disk_device_add(relay_disk *d, const char *gid, const char *dev, const uint8_t pk[DSYNC_RELAY_PK_BYTES]);
/* Forgets DEV (its blobs stay). */
int relay_disk_device_remove(relay_disk *d, const char *gid, const char *dev);

/* DSYNC_ENOTFOUND when the blob is not there. */
int relay_disk_blob_stat(relay_disk *d, const char *gid, const char *name, relay_blob_info *out);
/* An fd open for reading on the stored file, positioned nowhere: the body
 * is at offset DSYNC_RELAY_DISK_HEADER for INFO->size bytes. */
#define DSYNC_RELAY_DISK_HEADER 64
int relay_disk_blob_open(relay_disk *d, const char *gid, const char *name, int *fd, relay_blob_info *info);
/* Removes the blob (and syncs its folder); 0 also when it wasn't there. */
int relay_disk_blob_delete(relay_disk *d, const char *gid, const char *name);

/* Calls CB for each blob whose name starts with PREFIX and is greater than
 * AFTER (NULL: from the start), in byte order, at most LIMIT of them; *MORE
 * set when more remain.  Uploads in progress are never listed. */
int relay_disk_list(relay_disk *d, const char *gid, const char *prefix, const char *after, unsigned limit,
		    bool *more, relay_disk_list_cb cb, void *payload);

/*
 * Starts storing blob NAME of group GID (TOTAL bytes whose BLAKE2b-256 is
 * HASH) written by device WRITER.  Reserves TOTAL against the quota (minus
 * the size of the blob it replaces).  UPLOAD_ID NULL: a plain PUT whose
 * temp file goes when it is aborted; else a resumable upload, continued at
 * *OFFSET (its bytes held so far; a new one starts at 0).
 * DSYNC_ENOSPACE with relay_disk_last_refusal() saying "over-quota",
 * "too-many-blobs" or "disk-full" (or "too-large" past max_blob).
 * (Added with the code:) DSYNC_ELOCKED when another connection is appending
 * to UPLOAD_ID; an UPLOAD_ID kept for another TOTAL is voided and starts over.
 * After a failed write the caller still calls relay_disk_upload_abort.
 */
int relay_disk_upload_begin(relay_upload **out, relay_disk *d, const char *gid, const char *name, const char *writer,
			    uint64_t total, const uint8_t hash[DSYNC_RELAY_KEY_BYTES], const char *upload_id,
			    uint64_t *offset);
/* Appends LEN bytes (hashed as they come). */
int relay_disk_upload_write(relay_upload *u, const void *data, size_t len);
/* All TOTAL bytes are there: checks the hash (DSYNC_ECORRUPT, nothing
 * stored), for devices/ID/SEQ raises ID's seq_high first (DSYNC_ECONFLICT
 * when SEQ is no longer above it; DSYNC_ENOTFOUND when ID is not
 * registered), fsyncs, renames, fsyncs the folder.
 * *REPLACED set when a blob of that name was there.  Frees U. */
int relay_disk_upload_finish(relay_upload *u, bool *replaced);
/* The connection ended early: a plain upload's temp file is removed; a
 * resumable one is fsync'd and kept with its length recorded.  Frees U. */
void relay_disk_upload_abort(relay_upload *u);
/* Bytes held by resumable upload UPLOAD_ID of GID; DSYNC_ENOTFOUND. */
int relay_disk_upload_offset(relay_disk *d, const char *gid, const char *upload_id, uint64_t *offset);
/* Deletes resumable uploads untouched for MAX_AGE seconds (a timer calls it). */
int relay_disk_expire_uploads(relay_disk *d, int64_t max_age);

/* The word of the last refusal of this thread ("over-quota", ...). */
const char *relay_disk_last_refusal(void);

#endif
