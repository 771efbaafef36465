/*
 * What relay_s3.c (the bucket, connections, groups, devices, SEQ marks, the
 * change value) and relay_s3_blob.c (blobs, listings, uploads) share: the
 * store's state and the helpers both call.  Internal to those two files;
 * the interface is relay_store.h.  Layout and limits: docs/relay-protocol.md
 * section 14.
 */
#ifndef DSYNC_TRANSPORT_RELAY_S3_INT_H
#define DSYNC_TRANSPORT_RELAY_S3_INT_H

#include <pthread.h>

#include "core/base/array.h"
#include "core/base/buf.h"
#include "transport/relay_store.h"
#include "transport/s3_client.h"

#define RS_TRAILER 64                  /* writer, hash and length after a blob's body (section 14.1) */
#define RS_MAGIC "dsyncR01"
#define RS_RECORD_MAX 4096             /* group and device records */
#define RS_GROUP_TTL_MS 2000           /* a group record is read again after this */
#define RS_CHANGE_TTL_MS 1000          /* the change value is recomputed after this */
#define RS_RECOUNT_MS (300 * 1000)     /* stored bytes are recounted after this */
#define RS_KEY_MAX 400                 /* a key under the URL's prefix */
#define RS_RESERVE_KEEP 600            /* seconds a reservation counts (section 14.4); refreshed after half */
#define RS_SWEEP_DELETES 1000          /* objects a sweep deletes at most (section 14.8) */
#define RS_SWEEP_KEYS 100000           /* keys a sweep lists at most */
#define RS_SWEEP_GROUPS 1000           /* groups a sweep visits at most */

/* A resumable upload held in this relay's spool (section 14.2, as built:
 * per relay; the bucket's pieces are designed, not built). */
typedef struct rs_pending {
	char gid[DSYNC_RELAY_ID_HEX];
	char id[DSYNC_RELAY_ID_HEX];
	char name[DSYNC_RELAY_NAME_MAX + 1];
	char writer[DSYNC_RELAY_ID_HEX];
	int fd;                  /* the spool file: the body so far */
	char rkey[RS_KEY_MAX];   /* its reservation in the bucket ("": none) */
	uint64_t held, total, reserve;
	int64_t touched;         /* seconds */
	bool busy;
} rs_pending;

/* What this relay knows of a group. */
typedef struct rs_group {
	char gid[DSYNC_RELAY_ID_HEX];
	bool have_record;
	int64_t record_ms;       /* when the record was read (monotonic ms) */
	relay_group_info info;   /* token, admit, created, quota (quota 0 and !quota_set: the default) */
	bool quota_set;
	int64_t count_ms;        /* when stored/blobs/keys/devices were counted (0: never) */
	uint64_t stored;         /* object sizes (body + 64) */
	uint64_t reserved;       /* this relay's uploads in progress */
	uint64_t inflight;       /* of names not stored yet */
	int64_t change_ms;       /* when N was computed (0: never) */
	uint64_t change;         /* N of section 14.6 */
} rs_group;

/* A reservation of this relay's to delete from the bucket once its time has come. */
typedef struct rs_unreserve {
	char key[RS_KEY_MAX];
	int64_t at;              /* seconds */
} rs_unreserve;

typedef struct rs_store {
	relay_store base;
	char relay_id[17];       /* this process's, in its reservations' names */
	uint64_t reservations;   /* made so far (their names' counter) */
	char *url;
	char *spool;             /* folder of spool files */
	relay_disk_limits lim;
	char epoch[17];
	int64_t keep;            /* RS_RESERVE_KEEP (a test knob shortens it) */
	char sweep_after[DSYNC_RELAY_ID_HEX];   /* the group the last sweep stopped after ("": none); the sweeping thread's */
	pthread_mutex_t mu;      /* everything below */
	pthread_key_t key;       /* this thread's connection */
	DSYNC_ARRAY(dsync_s3 *) conns;
	DSYNC_ARRAY(rs_group *) groups;
	DSYNC_ARRAY(rs_pending *) pending;
	DSYNC_ARRAY(rs_unreserve) unreserve;
} rs_store;

/* relay_s3.c */
/* This thread's connection (opened on first use); NULL and the error set. */
dsync_s3 *rs_conn(rs_store *s);
/* "g/GID/WHAT" (NAME NULL) or "g/GID/WHAT/NAME" ("": "g/GID/WHAT/", a
 * listing's prefix) into OUT (RS_KEY_MAX): 0 or DSYNC_EUSAGE. */
int rs_key(char *out, const char *gid, const char *what, const char *name);
/* The group GID's entry (made when new; the lock held). */
rs_group *rs_group_get(rs_store *s, const char *gid);
/* The group's record read (cached RS_GROUP_TTL_MS) and counted (RS_RECOUNT_MS):
 * DSYNC_ENOTFOUND when there is no such group.  Not under the lock. */
int rs_group_load(rs_store *s, const char *gid);
/* The quota that applies to G (the lock held). */
uint64_t rs_group_quota(const rs_store *s, const rs_group *g);
/* A manifest's SEQ mark (section 14.5): 0, DSYNC_ECONFLICT when a mark as
 * high is there, DSYNC_ENOTFOUND when DEV is not registered. */
int rs_seq_mark(rs_store *s, const char *gid, const char *dev, uint64_t seq);
/* The group and device operations of the store's table (relay_store.h's
 * meanings), in relay_s3_group.c. */
int rs_group_op(relay_store *st, const char *gid, relay_group_info *out);
int rs_group_create(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
		    const uint8_t ah[DSYNC_RELAY_KEY_BYTES]);
int rs_group_rotate(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
		    const uint8_t ah[DSYNC_RELAY_KEY_BYTES]);
int rs_group_quota_set(relay_store *st, const char *gid, uint64_t quota);
int rs_device(relay_store *st, const char *gid, const char *dev, relay_device_info *out);
int rs_device_add(relay_store *st, const char *gid, const char *dev, const uint8_t pk[DSYNC_RELAY_PK_BYTES]);
int rs_device_remove(relay_store *st, const char *gid, const char *dev);
/* The change value N of GID, recomputed when FRESH or older than
 * RS_CHANGE_TTL_MS. */
int rs_change(rs_store *s, const char *gid, bool fresh, uint64_t *n);
/* Refusal words (relay_store_last_refusal). */
int rs_refuse(const char *word, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rs_last_refusal(void);

/* relay_s3_blob.c */
int rs_blob_stat(relay_store *st, const char *gid, const char *name, relay_blob_info *out);
int rs_blob_open(relay_store *st, const char *gid, const char *name, int *fd, uint64_t *body_at,
		 relay_blob_info *info);
int rs_blob_delete(relay_store *st, const char *gid, const char *name);
int rs_list(relay_store *st, const char *gid, const char *prefix, const char *after, unsigned limit, bool *more,
	    relay_disk_list_cb cb, void *payload);
int rs_upload_begin(relay_upload **out, relay_store *st, const char *gid, const char *name, const char *writer,
		    uint64_t total, const uint8_t hash[DSYNC_RELAY_KEY_BYTES], const char *upload_id, uint64_t *offset);
int rs_upload_write(relay_upload *u, const void *data, size_t len);
int rs_upload_finish(relay_upload *u, bool *replaced);
void rs_upload_abort(relay_upload *u);
int rs_upload_offset(relay_store *st, const char *gid, const char *upload_id, uint64_t *offset);
int rs_expire_uploads(relay_store *st, int64_t max_age);

/* relay_s3_sweep.c */
/* Deletes SEQ marks below each device's highest and reservations older
 * than S->keep, group after group from where the last sweep stopped, within
 * RS_SWEEP_* (section 14.8). */
int rs_sweep(rs_store *s);
/* An unlinked file in the spool folder, open for reading and writing. */
int rs_spool_file(rs_store *s);

#endif
