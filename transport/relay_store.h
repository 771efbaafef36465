/*
 * The relay's storage behind one interface (docs/relay-protocol.md sections
 * 9 and 14): what the request handling (relay_server.c, relay_route.c,
 * relay_endpoints.c) asks of wherever groups, devices, blobs and uploads
 * are kept.  A backend fills a relay_store_ops table; the data folder
 * (relay_disk.h, through relay_store_disk.c) is the first.  Every call is
 * thread-safe and returns what relay_disk.h says its disk version returns
 * (0 or a negative DSYNC_E* with the message set); the types below are the
 * ones relay_disk.h has always used, shared by every backend.
 */
#ifndef DSYNC_TRANSPORT_RELAY_STORE_H
#define DSYNC_TRANSPORT_RELAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/relay_proto.h"

typedef struct relay_store relay_store;
typedef struct relay_upload relay_upload;

typedef struct relay_disk_limits {
	uint64_t default_quota;  /* bytes for a new group; 0: none */
	uint64_t max_blob;       /* 256 MiB */
	uint64_t max_blobs;      /* per group: 100,000 */
	uint64_t max_groups;     /* 1,000 */
	uint64_t max_devices;    /* per group: 64 */
} relay_disk_limits;

typedef struct relay_group_info {
	uint8_t token_hash[DSYNC_RELAY_KEY_BYTES];
	uint8_t admit_hash[DSYNC_RELAY_KEY_BYTES];
	int64_t created;
	uint64_t quota;          /* 0: none */
	uint64_t used;           /* stored-file sizes + reserved bytes of uploads in progress */
	uint64_t blobs;
	uint64_t devices;
	uint64_t keys;           /* keys/ blobs */
} relay_group_info;

typedef struct relay_device_info {
	uint8_t pk[DSYNC_RELAY_PK_BYTES];
	uint64_t seq_high;       /* the highest manifest SEQ ever accepted (0: none) */
	int64_t registered;
} relay_device_info;

typedef struct relay_blob_info {
	uint64_t size;           /* the body's */
	int64_t mtime;
	char writer[DSYNC_RELAY_ID_HEX];
	uint8_t hash[DSYNC_RELAY_KEY_BYTES];
} relay_blob_info;

/* A listing's entries: see relay_store_list. */
typedef int (*relay_disk_list_cb)(const char *name, uint64_t size, int64_t mtime, void *payload);

/* A backend.  The upload calls get the upload their begin made (a backend's
 * own type behind relay_upload). */
typedef struct relay_store_ops {
	const char *kind;        /* "disk", "s3": for the log */
	bool remote;             /* reached over the network: a failed call (DSYNC_ERROR) is a 503, not a 500 */
	void (*close)(relay_store *st);
	int (*group)(relay_store *st, const char *gid, relay_group_info *out);
	int (*group_create)(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			    const uint8_t ah[DSYNC_RELAY_KEY_BYTES]);
	int (*group_rotate)(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			    const uint8_t ah[DSYNC_RELAY_KEY_BYTES]);
	int (*group_quota)(relay_store *st, const char *gid, uint64_t quota);
	int (*device)(relay_store *st, const char *gid, const char *dev, relay_device_info *out);
	int (*device_add)(relay_store *st, const char *gid, const char *dev, const uint8_t pk[DSYNC_RELAY_PK_BYTES]);
	int (*device_remove)(relay_store *st, const char *gid, const char *dev);
	int (*blob_stat)(relay_store *st, const char *gid, const char *name, relay_blob_info *out);
	int (*blob_open)(relay_store *st, const char *gid, const char *name, int *fd, uint64_t *body_at,
			 relay_blob_info *info);
	int (*blob_delete)(relay_store *st, const char *gid, const char *name);
	int (*list)(relay_store *st, const char *gid, const char *prefix, const char *after, unsigned limit,
		    bool *more, relay_disk_list_cb cb, void *payload);
	int (*upload_begin)(relay_upload **out, relay_store *st, const char *gid, const char *name,
			    const char *writer, uint64_t total, const uint8_t hash[DSYNC_RELAY_KEY_BYTES],
			    const char *upload_id, uint64_t *offset);
	int (*upload_write)(relay_upload *u, const void *data, size_t len);
	int (*upload_finish)(relay_upload *u, bool *replaced);
	void (*upload_abort)(relay_upload *u);
	int (*upload_offset)(relay_store *st, const char *gid, const char *upload_id, uint64_t *offset);
	int (*expire_uploads)(relay_store *st, int64_t max_age);
	/* The word of this thread's last refusal ("over-quota", ...). */
	const char *(*last_refusal)(void);
	/* A store several relays share (section 14.6): the group's change value
	 * N as every relay on the store computes it, cached briefly unless
	 * FRESH.  NULL: the relay counts its own changes (section 6). */
	int (*change)(relay_store *st, const char *gid, bool fresh, uint64_t *n);
} relay_store_ops;

/* Every backend's handle starts with this. */
struct relay_store {
	const relay_store_ops *ops;
	char epoch[17];          /* a shared store's EPOCH (section 14.6); "": the relay makes its own */
};

typedef struct relay_store_config {
	const char *data_dir;    /* the data folder (section 9) */
	const char *s3_url;      /* or a bucket (section 14) */
	const char *spool;       /* the S3 store's spool folder (NULL: $TMPDIR or /tmp) */
	relay_disk_limits lim;
} relay_store_config;

/* Opens the backend C names; DSYNC_EUSAGE with one line when it can't be
 * used (a folder that isn't a relay's, ...). */
int relay_store_open(relay_store **out, const relay_store_config *c);
/* The data folder as a store (relay_store_disk.c). */
int relay_store_disk_open(relay_store **out, const char *dir, const relay_disk_limits *lim);
/* A bucket as a store (relay_s3.c): URL as s3_client.h takes it, SPOOL the
 * folder of uploads in progress (NULL: $TMPDIR or /tmp). */
int relay_store_s3_open(relay_store **out, const char *url, const char *spool, const relay_disk_limits *lim);

/* ---- the calls, each as relay_disk.h describes its disk version */

static inline void relay_store_close(relay_store *st)
{
	if (st)
		st->ops->close(st);
}

static inline int relay_store_group(relay_store *st, const char *gid, relay_group_info *out)
{
	return st->ops->group(st, gid, out);
}

static inline int relay_store_group_create(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
					   const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	return st->ops->group_create(st, gid, th, ah);
}

static inline int relay_store_group_rotate(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
					   const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	return st->ops->group_rotate(st, gid, th, ah);
}

static inline int relay_store_group_quota(relay_store *st, const char *gid, uint64_t quota)
{
	return st->ops->group_quota(st, gid, quota);
}

static inline int relay_store_device(relay_store *st, const char *gid, const char *dev, relay_device_info *out)
{
	return st->ops->device(st, gid, dev, out);
}

static inline int relay_store_device_add(relay_store *st, const char *gid, const char *dev,
					 const uint8_t pk[DSYNC_RELAY_PK_BYTES])
{
	return st->ops->device_add(st, gid, dev, pk);
}

static inline int relay_store_device_remove(relay_store *st, const char *gid, const char *dev)
{
	return st->ops->device_remove(st, gid, dev);
}

static inline int relay_store_blob_stat(relay_store *st, const char *gid, const char *name, relay_blob_info *out)
{
	return st->ops->blob_stat(st, gid, name, out);
}

/* An fd open for reading whose offset *BODY_AT holds the body's first
 * byte, INFO->size bytes of it; the caller closes FD. */
static inline int relay_store_blob_open(relay_store *st, const char *gid, const char *name, int *fd,
					uint64_t *body_at, relay_blob_info *info)
{
	return st->ops->blob_open(st, gid, name, fd, body_at, info);
}

static inline int relay_store_blob_delete(relay_store *st, const char *gid, const char *name)
{
	return st->ops->blob_delete(st, gid, name);
}

static inline int relay_store_list(relay_store *st, const char *gid, const char *prefix, const char *after,
				   unsigned limit, bool *more, relay_disk_list_cb cb, void *payload)
{
	return st->ops->list(st, gid, prefix, after, limit, more, cb, payload);
}

static inline int relay_store_upload_begin(relay_upload **out, relay_store *st, const char *gid, const char *name,
					   const char *writer, uint64_t total,
					   const uint8_t hash[DSYNC_RELAY_KEY_BYTES], const char *upload_id,
					   uint64_t *offset)
{
	return st->ops->upload_begin(out, st, gid, name, writer, total, hash, upload_id, offset);
}

static inline int relay_store_upload_write(relay_store *st, relay_upload *u, const void *data, size_t len)
{
	return st->ops->upload_write(u, data, len);
}

static inline int relay_store_upload_finish(relay_store *st, relay_upload *u, bool *replaced)
{
	return st->ops->upload_finish(u, replaced);
}

static inline void relay_store_upload_abort(relay_store *st, relay_upload *u)
{
	st->ops->upload_abort(u);
}

static inline int relay_store_upload_offset(relay_store *st, const char *gid, const char *upload_id, uint64_t *offset)
{
	return st->ops->upload_offset(st, gid, upload_id, offset);
}

static inline int relay_store_expire_uploads(relay_store *st, int64_t max_age)
{
	return st->ops->expire_uploads(st, max_age);
}

static inline const char *relay_store_last_refusal(relay_store *st)
{
	return st->ops->last_refusal();
}

#endif
