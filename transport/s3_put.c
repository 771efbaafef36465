/*
 * The S3 client's uploads (transport/s3_client.h): a single PUT up to the
 * part size, a multipart upload above it with the parts read from the fd
 * into one buffer (the only memory an upload takes), aborted when it
 * fails.  CompleteMultipartUpload's reply is checked for an Error (S3 may
 * answer 200 and fail in the body), never for its ETag (RGW 16.2 leaves it
 * empty).
 */
#include "core/base/internal.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "transport/s3_client.h"
#include "transport/s3_int.h"
#include "transport/s3_xml.h"

#define SMALL_REPLY_MAX (64 * 1024)

typedef struct upload {
	dsync_s3 *c;
	const char *key;
	dsync_s3_xfer_cb xfer;
	void *payload;
	uint64_t done;                 /* bytes of the parts sent before this one */
} upload;

/* Reads up to LEN bytes of FD into BUF (fewer only at its end): the count,
 * or a negative code. */
static ssize_t read_full(int fd, char *buf, size_t len, const char *key)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dsync_error_sys(errno, "cannot read %s to upload it", key);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* One PUT of LEN bytes at DATA: the object itself, or a part (QUERY);
 * the reply's ETag into ETAG when not NULL. */
static int put_body(upload *u, const char *query, const void *data, size_t len, char *etag)
{
	s3_req r;
	int error;

	dsync_s3_req_init(&r, "PUT", u->key);
	r.query = query;
	r.body = data;
	r.len = len;
	r.has_body = true;
	r.xfer = u->xfer;
	r.payload = u->payload;
	r.xfer_base = u->done;
	if ((error = dsync_s3_req_perform(u->c, &r)) < 0)
		goto out;
	if (r.status != 200) {
		error = dsync_s3_req_refused(u->c, &r, "store");
		goto out;
	}
	if (etag) {
		if (!r.has_etag || !r.etag[0]) {
			error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s gave no ETag for a part of %s",
						u->c->u.label, u->key);
			goto out;
		}
		memcpy(etag, r.etag, DSYNC_S3_ETAG_MAX);
	}
	u->done += len;
	if (u->xfer)
		u->xfer(u->done, u->payload);
out:
	dsync_s3_req_dispose(&r);
	return error;
}

int dsync_s3_put_buf(dsync_s3 *c, const char *key, const void *data, size_t len)
{
	upload u = { c, key, NULL, NULL, 0 };
	int error;

	if ((error = dsync_s3_key_check(c, key)) < 0)
		return error;
	return put_body(&u, NULL, data, len, NULL);
}

/* A POST of BODY (may be NULL) with QUERY; its 200 reply's body into OUT. */
static int post(upload *u, const char *query, const dsync_buf *body, dsync_buf *out, const char *what)
{
	s3_req r;
	int error;

	dsync_s3_req_init(&r, "POST", u->key);
	r.query = query;
	r.body = body ? body->ptr : NULL;
	r.len = body ? body->len : 0;
	r.has_body = true;
	r.content_type = "application/xml";
	r.out = out;
	r.out_start = 0;
	r.max = SMALL_REPLY_MAX;
	if ((error = dsync_s3_req_perform(u->c, &r)) < 0)
		goto out;
	if (r.status != 200)
		error = dsync_s3_req_refused(u->c, &r, what);
out:
	dsync_s3_req_dispose(&r);
	return error;
}

/* Aborts upload ID; the error that made us abort stays the one reported. */
static void abort_upload(upload *u, const char *query)
{
	char *msg = strdup(dsync_error_last());
	int code = dsync_error_last_code();
	s3_req r;

	dsync_s3_req_init(&r, "DELETE", u->key);
	r.query = query;
	(void)dsync_s3_req_once(u->c, &r);
	dsync_s3_req_dispose(&r);
	dsync_error_set(code ? code : DSYNC_ERROR, "%s", msg ? msg : "out of memory");
	free(msg);
}

/* The part size for FD: the client's, or larger when FD is a file too big
 * for S3_PARTS_MAX of them (whole MiB). */
static size_t part_size(dsync_s3 *c, int fd)
{
	struct stat st;
	uint64_t size = c->part_size, need;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		need = (uint64_t)st.st_size / (S3_PARTS_MAX - 100) + 1;
		need = (need + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
		if (need > size)
			size = need;
	}
	return (size_t)size;
}

static int multipart(upload *u, int fd, char *buf, size_t part, size_t first)
{
	dsync_buf q = DSYNC_BUF_INIT, reply = DSYNC_BUF_INIT, done = DSYNC_BUF_INIT;
	char id[DSYNC_S3_UPLOAD_ID_MAX + 1], etag[DSYNC_S3_ETAG_MAX], code[DSYNC_S3_CODE_MAX];
	size_t len = first;
	unsigned n = 0;
	bool started = false;
	int error;

	dsync_buf_init(&reply, SMALL_REPLY_MAX);
	if ((error = post(u, "uploads=", NULL, &reply, "start an upload of")) < 0)
		goto out;
	if ((error = dsync_s3_xml_upload_id(id, reply.ptr ? reply.ptr : "", reply.len)) < 0) {
		error = dsync_error_set(error, "the S3 server at %s sent a malformed answer to starting an upload",
					u->c->u.label);
		goto out;
	}
	started = true;
	if ((error = dsync_buf_puts(&done, "<CompleteMultipartUpload>")) < 0)
		goto out;
	while (len > 0) {
		ssize_t got;

		if (++n > S3_PARTS_MAX) {
			error = dsync_error_set(DSYNC_ERROR, "%s is too large for one S3 object", u->key);
			goto out;
		}
		dsync_buf_truncate(&q, 0);
		/* partNumber before uploadId: the order curl signs */
		if ((error = dsync_buf_printf(&q, "partNumber=%u&uploadId=", n)) < 0 ||
		    (error = dsync_s3_escape(&q, id, false)) < 0 || (error = put_body(u, q.ptr, buf, len, etag)) < 0 ||
		    (error = dsync_buf_printf(&done, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>", n,
					      etag)) < 0)
			goto out;
		if ((got = read_full(fd, buf, part, u->key)) < 0) {
			error = (int)got;
			goto out;
		}
		len = (size_t)got;
	}
	if ((error = dsync_buf_puts(&done, "</CompleteMultipartUpload>")) < 0)
		goto out;
	dsync_buf_truncate(&q, 0);
	if ((error = dsync_buf_puts(&q, "uploadId=")) < 0 || (error = dsync_s3_escape(&q, id, false)) < 0 ||
	    (error = post(u, q.ptr, &done, &reply, "finish the upload of")) < 0)
		goto out;
	/* a 200 whose body is an Error failed all the same */
	dsync_s3_xml_error_code(code, reply.ptr ? reply.ptr : "", reply.len);
	if (code[0]) {
		error = dsync_error_set(DSYNC_ERROR, "the S3 server at %s refused to finish the upload of %s (%s)",
					u->c->u.label, u->key, code);
		goto out;
	}
	started = false;
	error = 0;
out:
	if (error < 0 && started) {
		dsync_buf_truncate(&q, 0);
		if (dsync_buf_puts(&q, "uploadId=") == 0 && dsync_s3_escape(&q, id, false) == 0)
			abort_upload(u, q.ptr);
	}
	dsync_buf_dispose(&q);
	dsync_buf_dispose(&reply);
	dsync_buf_dispose(&done);
	return error;
}

int dsync_s3_put_fd(dsync_s3 *c, const char *key, int fd, dsync_s3_xfer_cb xfer, void *payload)
{
	upload u = { c, key, xfer, payload, 0 };
	size_t part;
	ssize_t got;
	char *buf;
	int error;

	if ((error = dsync_s3_key_check(c, key)) < 0)
		return error;
	part = part_size(c, fd);
	if (!(buf = malloc(part)))
		return dsync_error_oom();
	if ((got = read_full(fd, buf, part, key)) < 0) {
		error = (int)got;
		goto out;
	}
	/* the whole object in one part: one PUT */
	if ((size_t)got < part)
		error = put_body(&u, NULL, buf, (size_t)got, NULL);
	else
		error = multipart(&u, fd, buf, part, (size_t)got);
out:
	free(buf);
	return error;
}

int dsync_s3_abort_stale_uploads(dsync_s3 *c, int64_t age)
{
	dsync_buf q = DSYNC_BUF_INIT, body = DSYNC_BUF_INIT;
	dsync_s3_xml_uploads l = { 0 };
	size_t root_len = strlen(c->root), i;
	time_t now = time(NULL);
	int error, count = 0;
	s3_req r;

	dsync_s3_req_init(&r, "GET", NULL);
	dsync_buf_init(&body, DSYNC_S3_XML_MAX);
	/* the names in order: curl 7.88 signs the query as it is */
	if ((error = dsync_buf_puts(&q, "max-uploads=1000&prefix=")) < 0 ||
	    (error = dsync_s3_escape(&q, c->root, false)) < 0 || (error = dsync_buf_puts(&q, "&uploads=")) < 0)
		goto out;
	r.query = q.ptr;
	r.out = &body;
	if ((error = dsync_s3_req_perform(c, &r)) < 0)
		goto out;
	if (r.status != 200) {
		error = dsync_s3_req_refused(c, &r, "list the uploads");
		goto out;
	}
	if ((error = dsync_s3_xml_uploads_parse(&l, body.ptr ? body.ptr : "", body.len)) < 0) {
		error = dsync_error_set(error, "the S3 server at %s sent a malformed list of uploads", c->u.label);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		dsync_s3_xml_upload *e = &l.uploads[i];
		const char *key;
		s3_req d;

		if (strncmp(e->key, c->root, root_len) != 0)
			continue;
		key = e->key + root_len;
		if (!dsync_s3_key_ok(key, strlen(key)) || !e->initiated || (int64_t)(now - e->initiated) < age)
			continue;
		dsync_buf_truncate(&q, 0);
		if ((error = dsync_buf_puts(&q, "uploadId=")) < 0 || (error = dsync_s3_escape(&q, e->upload_id, false)) < 0)
			goto out;
		dsync_s3_req_init(&d, "DELETE", key);
		d.query = q.ptr;
		error = dsync_s3_req_perform(c, &d);
		if (error == 0 && (d.status == 204 || d.status == 200 || d.status == 404))
			count++;
		dsync_s3_req_dispose(&d);
		if (error < 0)
			goto out;
	}
	error = count;
out:
	dsync_s3_xml_uploads_dispose(&l);
	dsync_s3_req_dispose(&r);
	dsync_buf_dispose(&q);
	dsync_buf_dispose(&body);
	return error;
}
