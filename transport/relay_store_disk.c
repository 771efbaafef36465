/*
 * The data folder (relay_disk.h, docs/relay-protocol.md section 9) as a
 * relay_store: each call goes to its relay_disk_* function unchanged.
 */
#include "core/base/internal.h"

#include "transport/relay_disk.h"
#include "transport/relay_store.h"

typedef struct disk_store {
	relay_store base;
	relay_disk *d;
} disk_store;

static relay_disk *disk_of(relay_store *st)
{
	return ((disk_store *)st)->d;
}

static void ds_close(relay_store *st)
{
	relay_disk_close(disk_of(st));
	free(st);
}

static int ds_group(relay_store *st, const char *gid, relay_group_info *out)
{
	return relay_disk_group(disk_of(st), gid, out);
}

static int ds_group_create(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			   const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	return relay_disk_group_create(disk_of(st), gid, th, ah);
}

static int ds_group_rotate(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			   const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	return relay_disk_group_rotate(disk_of(st), gid, th, ah);
}

static int ds_group_quota(relay_store *st, const char *gid, uint64_t quota)
{
	return relay_disk_group_quota(disk_of(st), gid, quota);
}

static int ds_device(relay_store *st, const char *gid, const char *dev, relay_device_info *out)
{
	return relay_disk_device(disk_of(st), gid, dev, out);
}

static int ds_device_add(relay_store *st, const char *gid, const char *dev, const uint8_t pk[DSYNC_RELAY_PK_BYTES])
{
	return relay_disk_device_add(disk_of(st), gid, dev, pk);
}

static int ds_device_remove(relay_store *st, const char *gid, const char *dev)
{
	return relay_disk_device_remove(disk_of(st), gid, dev);
}

static int ds_blob_stat(relay_store *st, const char *gid, const char *name, relay_blob_info *out)
{
	return relay_disk_blob_stat(disk_of(st), gid, name, out);
}

static int ds_blob_open(relay_store *st, const char *gid, const char *name, int *fd, uint64_t *body_at,
			relay_blob_info *info)
{
	*body_at = DSYNC_RELAY_DISK_HEADER;
	return relay_disk_blob_open(disk_of(st), gid, name, fd, info);
}

static int ds_blob_delete(relay_store *st, const char *gid, const char *name)
{
	return relay_disk_blob_delete(disk_of(st), gid, name);
}

static int ds_list(relay_store *st, const char *gid, const char *prefix, const char *after, unsigned limit, bool *more,
		   relay_disk_list_cb cb, void *payload)
{
	return relay_disk_list(disk_of(st), gid, prefix, after, limit, more, cb, payload);
}

static int ds_upload_begin(relay_upload **out, relay_store *st, const char *gid, const char *name, const char *writer,
			   uint64_t total, const uint8_t hash[DSYNC_RELAY_KEY_BYTES], const char *upload_id,
			   uint64_t *offset)
{
	return relay_disk_upload_begin(out, disk_of(st), gid, name, writer, total, hash, upload_id, offset);
}

static int ds_upload_offset(relay_store *st, const char *gid, const char *upload_id, uint64_t *offset)
{
	return relay_disk_upload_offset(disk_of(st), gid, upload_id, offset);
}

static int ds_expire_uploads(relay_store *st, int64_t max_age)
{
	return relay_disk_expire_uploads(disk_of(st), max_age);
}

static const relay_store_ops disk_ops = {
	.kind = "disk",
	.close = ds_close,
	.group = ds_group,
	.group_create = ds_group_create,
	.group_rotate = ds_group_rotate,
	.group_quota = ds_group_quota,
	.device = ds_device,
	.device_add = ds_device_add,
	.device_remove = ds_device_remove,
	.blob_stat = ds_blob_stat,
	.blob_open = ds_blob_open,
	.blob_delete = ds_blob_delete,
	.list = ds_list,
	.upload_begin = ds_upload_begin,
	.upload_write = relay_disk_upload_write,
	.upload_finish = relay_disk_upload_finish,
	.upload_abort = relay_disk_upload_abort,
	.upload_offset = ds_upload_offset,
	.expire_uploads = ds_expire_uploads,
	.last_refusal = relay_disk_last_refusal,
};

int relay_store_disk_open(relay_store **out, const char *dir, const relay_disk_limits *lim)
{
	disk_store *s;
	int error;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return dsync_error_oom();
	s->base.ops = &disk_ops;
	if ((error = relay_disk_open(&s->d, dir, lim)) < 0) {
		free(s);
		return error;
	}
	*out = &s->base;
	return 0;
}
