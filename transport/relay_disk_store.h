/*
 * What relay_disk_group.c (the data folder, groups, devices, records) and
 * relay_disk_blob.c (blobs, listing, uploads) share: the in-memory group table and the
 * file-system helpers that work relative to a group's folder.  Not a public
 * interface: relay_disk.h is.
 */
#ifndef DSYNC_TRANSPORT_RELAY_DISK_STORE_H
#define DSYNC_TRANSPORT_RELAY_DISK_STORE_H

#include <pthread.h>
#include <sys/stat.h>

#include "core/base/array.h"
#include "core/base/buf.h"
#include "transport/relay_disk.h"

#define RD_MAGIC "dsyncR01"
#define RD_RECORD_MAX 4096                /* a group, device or .len record */

typedef struct rd_device {
	char id[DSYNC_RELAY_ID_HEX];
	relay_device_info info;
} rd_device;

/* A resumable upload whose temp file is kept (tmp/ID, tmp/ID.len). */
typedef struct rd_pending {
	char id[DSYNC_RELAY_ID_HEX];
	uint64_t held;     /* body bytes recorded in ID.len */
	uint64_t total;    /* the whole body's length */
	uint64_t reserve;  /* bytes it holds against the quota */
	bool busy;         /* a connection is appending to it */
	relay_upload *owner; /* that connection's upload once its file is open (NULL: none, or not yet) */
} rd_pending;

typedef struct rd_group {
	char gid[DSYNC_RELAY_ID_HEX];
	pthread_mutex_t lock;        /* everything below */
	uint8_t th[DSYNC_RELAY_KEY_BYTES];
	uint8_t ah[DSYNC_RELAY_KEY_BYTES];
	int64_t created;
	bool quota_set;              /* the group file names a quota; else the relay's default */
	uint64_t quota;
	uint64_t used;               /* stored-file sizes (header included) */
	uint64_t reserved;           /* uploads in progress and kept resumable ones */
	uint64_t inflight;           /* uploads of names not stored yet (for max_blobs) */
	uint64_t blobs, keys;
	DSYNC_ARRAY(rd_device) devices;
	DSYNC_ARRAY(rd_pending) pending;
} rd_group;

struct relay_disk {
	char *dir;
	int groups_fd;               /* DIR/groups */
	relay_disk_limits lim;
	pthread_mutex_t lock;        /* the table itself (not the groups' contents) */
	DSYNC_ARRAY(rd_group *) groups;
};

/* The group GID (NULL and DSYNC_ENOTFOUND set when none). */
rd_group *rd_group_find(relay_disk *d, const char *gid);
/* An O_DIRECTORY fd of G's folder, or a negative DSYNC_E* code. */
int rd_group_fd(relay_disk *d, const rd_group *g);
/* The same for group GID, found into *G (DSYNC_ENOTFOUND: no such group). */
int rd_group_open(relay_disk *d, const char *gid, rd_group **g);
/* The quota that applies to G (0: none). Lock held. */
uint64_t rd_group_quota(const relay_disk *d, const rd_group *g);

/* Opens the folder REL (components split at '/', none followed if a link)
 * under AT, made (each new one fsync'd with its parent) when CREATE. */
int rd_open_dir(int at, const char *rel, bool create);
/* The folder of blob NAME under the group folder GFD (b/ + NAME's folders)
 * and, in *BASE, NAME's last component. */
int rd_blob_parent(int gfd, const char *name, bool create, const char **base);
/* Writes TEXT as the file NAME of the folder DIR: a temp in the group's
 * tmp/ (TMP), fsync, rename, fsync of DIR. */
int rd_record_write(int tmp, int dir, const char *name, const char *text);
/* Reads the small record NAME of DIR (not a link) into BUF, NUL-terminated. */
int rd_record_read(int dir, const char *name, char *buf, size_t size);
/* The value of line KEY in a record ("KEY VALUE\n"), copied into OUT. */
bool rd_record_get(const char *text, const char *key, char *out, size_t size);
bool rd_record_u64(const char *text, const char *key, uint64_t *out);
/* 0 when S is exactly LEN lower-case hex digits, else -1. */
int rd_hex_ok(const char *s, size_t len);
/* For "devices/ID/SEQ": ID and SEQ; false for any other name. */
bool rd_manifest_name(const char *name, char dev[DSYNC_RELAY_ID_HEX], uint64_t *seq);
/* Writes DEV's record (with its info as given) and puts it in G's table. Lock held. */
int rd_device_store(rd_group *g, int gfd, const char *dev, const relay_device_info *info);
/* Sets this thread's refusal word and returns DSYNC_ENOSPACE with MSG. */
int rd_refuse(const char *word, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps the refusal word only (for callers that set their own error). */
void rd_refusal_set(const char *word);

/* A blob name a caller may use here (relay_proto.h checked it; this is a
 * second, cheap guard): 0 or DSYNC_EUSAGE. */
int rd_check_name(const char *name);
/* Device ID of G's table, or NULL. Lock held. */
rd_device *rd_device_find(rd_group *g, const char *id);

/* Calls CB for each regular file under the folder FD (the path so far in
 * PATH), going only where PREFIX can still match and at most DEPTH folders
 * down, never through a link: with the file's folder, its name there and
 * its whole name.  Nothing is stat'ed that the folder's types answer. */
typedef int (*rd_walk_cb)(int dir, const char *base, const char *name, void *payload);
int rd_walk(int fd, dsync_buf *path, const char *prefix, int depth, rd_walk_cb cb, void *payload);

/* relay_disk_group.c (at open): the kept uploads of a group's tmp/ at open (plain
 * temps removed, resumable ones truncated to their recorded length). */
int rd_uploads_load(rd_group *g, int gfd);
/* "ID.len", the record of upload ID's held length, into OUT. */
void rd_len_name(char out[DSYNC_RELAY_ID_HEX + 4], const char *id);
/* Removes upload ID's file and its record from TMP. */
void rd_remove_upload_files(int tmp, const char *id);

#endif
