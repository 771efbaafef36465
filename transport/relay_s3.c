/*
 * The relay's storage in an S3 bucket (docs/relay-protocol.md section 14):
 * the store itself, its table of operations, the bucket's marker and epoch.
 * Connections, groups, devices and SEQ marks are in relay_s3_group.c; blobs,
 * listings, uploads and the change value N in relay_s3_blob.c; the sweep in
 * relay_s3_sweep.c: each of those calls only the ones listed before it.
 */
#include "core/base/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/relay_s3_int.h"

#define RS_MARKER "dsync-relay-s3 1\n"

static int rs_change_op(relay_store *st, const char *gid, bool fresh, uint64_t *n)
{
	return rs_change((rs_store *)st, gid, fresh, n);
}

/* ---- the store */

static void rs_close(relay_store *st)
{
	rs_store *s = (rs_store *)st;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->pending.size; i++) {
		if (s->pending.ptr[i]->fd >= 0)
			close(s->pending.ptr[i]->fd);
		free(s->pending.ptr[i]);
	}
	for (i = 0; i < s->groups.size; i++)
		free(s->groups.ptr[i]);
	for (i = 0; i < s->conns.size; i++)
		dsync_s3_free(s->conns.ptr[i]);
	dsync_array_dispose(s->unreserve);
	dsync_array_dispose(s->pending);
	dsync_array_dispose(s->groups);
	dsync_array_dispose(s->conns);
	pthread_key_delete(s->key);
	pthread_mutex_destroy(&s->mu);
	free(s->url);
	free(s->spool);
	free(s);
}

static const relay_store_ops s3_ops = {
	.kind = "s3",
	.remote = true,
	.close = rs_close,
	.group = rs_group_op,
	.group_create = rs_group_create,
	.group_rotate = rs_group_rotate,
	.group_quota = rs_group_quota_set,
	.device = rs_device,
	.device_add = rs_device_add,
	.device_remove = rs_device_remove,
	.blob_stat = rs_blob_stat,
	.blob_open = rs_blob_open,
	.blob_delete = rs_blob_delete,
	.list = rs_list,
	.upload_begin = rs_upload_begin,
	.upload_write = rs_upload_write,
	.upload_finish = rs_upload_finish,
	.upload_abort = rs_upload_abort,
	.upload_offset = rs_upload_offset,
	.expire_uploads = rs_expire_uploads,
	.last_refusal = rs_last_refusal,
	.change = rs_change_op,
};

static int any_object(const char *key, const dsync_s3_object *o, void *payload)
{
	(void)key;
	(void)o;
	(void)payload;
	return 1;
}

/* The bucket's marker (section 14.1): read, or made when the bucket (or
 * its prefix) is new; its epoch into S->epoch. */
static int marker(rs_store *s)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_relay_lines l = { 0 };
	const char *e;
	dsync_s3 *conn = rs_conn(s);
	uint8_t r[8];
	char hex[17];
	int error, tries;

	if (!conn)
		return dsync_error_last_code();
	for (tries = 0; tries < 2; tries++) {
		dsync_buf_truncate(&b, 0);
		error = dsync_s3_get_buf(conn, "relay", &b, RS_RECORD_MAX, NULL);
		if (error == DSYNC_ENOTFOUND && strcmp(dsync_s3_error_code(conn), "NoSuchBucket") == 0 && tries == 0 &&
		    (error = dsync_s3_make_bucket(conn)) == 0)
			error = DSYNC_ENOTFOUND;
		if (error != DSYNC_ENOTFOUND)
			break;
		if (tries)
			break;
		/* no marker: only an empty prefix becomes a relay's (never an s3:// remote's store) */
		if ((error = dsync_s3_list(conn, "", NULL, 1, any_object, NULL)) != 0) {
			if (error > 0)
				error = dsync_error_set(DSYNC_EUSAGE, "%s holds objects but no relay's marker: not a relay's bucket",
							dsync_s3_url(conn));
			break;
		}
		randombytes_buf(r, sizeof(r));
		dsync_relay_hex(hex, r, sizeof(r));
		dsync_buf_truncate(&b, 0);
		if (dsync_buf_printf(&b, RS_MARKER "epoch %s\n", hex) < 0) {
			error = dsync_error_oom();
			break;
		}
		/* two first relays may both write it: both read back the last one */
		if ((error = dsync_s3_put_buf(conn, "relay", b.ptr, b.len)) < 0)
			break;
	}
	if (error < 0)
		goto out;
	if (b.len < strlen(RS_MARKER) || memcmp(b.ptr, RS_MARKER, strlen(RS_MARKER)) != 0 ||
	    dsync_relay_lines_parse(&l, b.ptr, b.len) < 0 || !(e = dsync_relay_lines_get(&l, "epoch")) ||
	    strlen(e) != 16 || dsync_relay_hex_parse(r, e, 16) < 0) {
		error = dsync_error_set(DSYNC_EUSAGE, "%s is not a relay's bucket (its 'relay' object says otherwise)",
					dsync_s3_url(conn));
		goto out;
	}
	memcpy(s->epoch, e, 17);
out:
	dsync_relay_lines_dispose(&l);
	dsync_buf_dispose(&b);
	return error;
}

int relay_store_s3_open(relay_store **out, const char *url, const char *spool, const relay_disk_limits *lim)
{
	rs_store *s;
	int error;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return dsync_error_oom();
	s->base.ops = &s3_ops;
	s->lim = *lim;
	s->keep = DSYNC_TEST_KNOB("DSYNC_TEST_RELAY_RESERVE_KEEP", RS_RESERVE_KEEP);
	{
		uint8_t id[8];

		randombytes_buf(id, sizeof(id));
		dsync_relay_hex(s->relay_id, id, sizeof(id));
	}
	pthread_mutex_init(&s->mu, NULL);
	if (pthread_key_create(&s->key, NULL) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return dsync_error_oom();
	}
	s->url = strdup(url);
	s->spool = strdup(spool && *spool ? spool : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!s->url || !s->spool) {
		rs_close(&s->base);
		return dsync_error_oom();
	}
	if ((error = marker(s)) < 0) {
		rs_close(&s->base);
		return error;
	}
	memcpy(s->base.epoch, s->epoch, sizeof(s->epoch));
	*out = &s->base;
	return 0;
}
