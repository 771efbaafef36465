/*
 * The s3:// blob store (transport/s3.h): each blob one object under the
 * URL's prefix.  A put is atomic by S3's nature (an object appears whole
 * or not at all, a multipart upload only when completed); a get is resumed
 * after a cut (Range, If-Match); a listing pages through ListObjectsV2.
 */
#include "core/base/internal.h"

#include "transport/s3.h"
#include "transport/s3_client.h"

#define STALE_UPLOAD_S 3600       /* a multipart upload older than this was killed: aborted */

typedef struct s3_store {
	dsync_blobstore base;
	dsync_s3 *c;
	bool swept;
} s3_store;

static s3_store *store_of(dsync_blobstore *bs)
{
	return (s3_store *)bs;
}

typedef struct list_ctx {
	dsync_blobstore_list_cb cb;
	void *payload;
} list_ctx;

static int on_object(const char *key, const dsync_s3_object *obj, void *payload)
{
	list_ctx *l = payload;
	dsync_blobstore_info info;

	/* what is not a blob name (".x", another tool's object) is not ours */
	if (dsync_blobstore_check_name(key) < 0) {
		dsync_error_clear();
		return 0;
	}
	info.size = obj->size;
	info.mtime = obj->mtime;
	return l->cb(key, &info, l->payload);
}

static int s3_list(dsync_blobstore *bs, const char *prefix, dsync_blobstore_list_cb cb, void *payload)
{
	list_ctx l = { cb, payload };

	/* tests make pages small (DSYNC_TEST_S3_LIST_PAGE) to walk many of them */
	return dsync_s3_list(store_of(bs)->c, prefix, NULL, (int)DSYNC_TEST_KNOB("DSYNC_TEST_S3_LIST_PAGE", 0), on_object,
			     &l);
}

static int s3_get(dsync_blobstore *bs, const char *name, int fd, uint64_t max, dsync_blobstore_xfer_cb xfer,
		  void *payload)
{
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0)
		return error;
	return dsync_s3_get(store_of(bs)->c, name, fd, max, 0, NULL, xfer, payload);
}

static int s3_put(dsync_blobstore *bs, const char *name, int fd, dsync_blobstore_xfer_cb xfer, void *payload)
{
	s3_store *s = store_of(bs);
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0)
		return error;
	/* once per handle, as file.c sweeps its temporary files: the parts of
	 * uploads killed over an hour ago (their keys may not allow it: then not) */
	if (!s->swept) {
		s->swept = true;
		if (dsync_s3_abort_stale_uploads(s->c, STALE_UPLOAD_S) < 0)
			dsync_error_clear();
	}
	return dsync_s3_put_fd(s->c, name, fd, xfer, payload);
}

static int s3_del(dsync_blobstore *bs, const char *name)
{
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0)
		return error;
	return dsync_s3_delete(store_of(bs)->c, name);
}

static int s3_stat(dsync_blobstore *bs, const char *name, dsync_blobstore_info *out)
{
	dsync_s3_object obj;
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0 || (error = dsync_s3_head(store_of(bs)->c, name, &obj)) < 0)
		return error;
	out->size = obj.size;
	out->mtime = obj.mtime;
	return 0;
}

static int found_one(const char *key, const dsync_s3_object *obj, void *payload)
{
	(void)key, (void)obj;
	*(bool *)payload = false;
	return 1;
}

/* One page of one key: *EMPTY when the prefix holds no object at all. */
static int probe(dsync_s3 *c, bool *empty)
{
	int error;

	*empty = true;
	error = dsync_s3_list(c, "", NULL, 1, found_one, empty);
	return error < 0 ? error : 0;
}

static int s3_is_empty(dsync_blobstore *bs, bool *empty)
{
	return probe(store_of(bs)->c, empty);
}

static void s3_free(dsync_blobstore *bs)
{
	s3_store *s = store_of(bs);

	dsync_s3_free(s->c);
	free(s->base.url);
	free(s);
}

int dsync_blobstore_s3_open(dsync_blobstore **out, const char *url, bool create, const dsync_transport_opts *o)
{
	dsync_s3_opts so = { 0 };
	s3_store *s;
	bool empty;
	int error;

	*out = NULL;
	if (o) {
		so.rate_limit = o->rate_limit;
		so.connect_timeout_ms = o->connect_timeout_ms;
	}
	if (!(s = calloc(1, sizeof(*s))))
		return dsync_error_oom();
	s->base.list = s3_list;
	s->base.get = s3_get;
	s->base.put = s3_put;
	s->base.del = s3_del;
	s->base.stat = s3_stat;
	s->base.is_empty = s3_is_empty;
	s->base.free = s3_free;
	if ((error = dsync_s3_open(&s->c, url, &so)) < 0)
		goto fail;
	if (!(s->base.url = strdup(dsync_s3_url(s->c)))) {
		error = dsync_error_oom();
		goto fail;
	}
	/* the credentials, the bucket and the server, told apart now */
	error = probe(s->c, &empty);
	if (error == DSYNC_ENOTFOUND && strcmp(dsync_s3_error_code(s->c), "NoSuchBucket") == 0 && create)
		error = dsync_s3_make_bucket(s->c);
	if (error < 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	s3_free(&s->base);
	return error;
}
