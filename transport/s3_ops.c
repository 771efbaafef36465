/*
 * The S3 client's reads, listings, deletes and the bucket
 * (transport/s3_client.h): a read cut mid-way resumed with Range and
 * If-Match, listings page by page with every key checked.
 */
#include "core/base/internal.h"

#include <sys/types.h>
#include <unistd.h>

#include "transport/s3_client.h"
#include "transport/s3_int.h"
#include "transport/s3_xml.h"

#define EMPTY_PAGES_MAX 100            /* truncated pages without a key in a row: a server that loops us */

/* Back to the start of FD's part (a resumed read that must start over). */
static int rewind_to(dsync_s3 *c, int fd, off_t start, const char *key)
{
	if (start < 0 || lseek(fd, start, SEEK_SET) < 0 || ftruncate(fd, start) < 0)
		return dsync_error_set(DSYNC_ERROR, "cannot read %s from the bucket at %s: it changed while it was read",
				       key, c->who);
	return 0;
}

int dsync_s3_get(dsync_s3 *c, const char *key, int fd, uint64_t max, uint64_t range_start, char *etag_out,
		 dsync_s3_xfer_cb xfer, void *payload)
{
	char etag[DSYNC_S3_ETAG_MAX] = "", range[32];
	off_t start = lseek(fd, 0, SEEK_CUR);
	uint64_t got = 0;
	s3_req r;
	int error, try = 0;

	if (etag_out)
		etag_out[0] = '\0';
	if ((error = dsync_s3_key_check(c, key)) < 0)
		return error;
	dsync_s3_req_init(&r, "GET", key);
	for (;;) {
		uint64_t before = got, at = range_start + got;

		r.out_fd = fd;
		r.max = max;
		r.max_offset = at;
		r.xfer = xfer;
		r.payload = payload;
		r.xfer_base = got;
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)at);
		r.range = at ? range : NULL;
		r.if_match = before && etag[0] ? etag : NULL;
		error = dsync_s3_req_once(c, &r);
		got += r.got;
		if (!before && (r.status == 200 || r.status == 206))
			memcpy(etag, r.etag, sizeof(etag)); /* what a resumed read must continue */
		if (dsync_s3_req_again(&r, error, ++try)) {
			dsync_s3_backoff(try);
			continue;
		}
		if (error < 0)
			goto out;
		/* a resumed read whose object changed meanwhile starts over */
		if (before && (r.status == 412 || (r.status == 206 && strcmp(r.etag, etag) != 0))) {
			if ((error = rewind_to(c, fd, start, key)) < 0)
				goto out;
			got = 0;
			etag[0] = '\0';
			if (try >= S3_TRIES) {
				error = dsync_error_set(DSYNC_ERROR, "cannot read %s from the bucket at %s: it kept changing",
							key, c->who);
				goto out;
			}
			continue;
		}
		/* a range from the object's end on: nothing to read */
		if (r.status == 416 && !before && range_start) {
			error = 0;
			goto out;
		}
		if (r.status != 200 && r.status != 206) {
			error = dsync_s3_req_refused(c, &r, "read");
			goto out;
		}
		if ((at && (r.status != 206 || !r.has_range || r.range_start != at)) || (!at && r.status != 200))
			goto corrupt;
		break;
	}
	if (etag_out)
		memcpy(etag_out, etag, DSYNC_S3_ETAG_MAX);
	error = 0;
	goto out;
corrupt:
	error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s sent %s with a range it was not asked for",
				c->u.label, key);
out:
	dsync_s3_req_dispose(&r);
	return error;
}

int dsync_s3_get_buf(dsync_s3 *c, const char *key, dsync_buf *out, size_t max, char *etag_out)
{
	s3_req r;
	size_t at = out->len;
	int error;

	if (etag_out)
		etag_out[0] = '\0';
	if ((error = dsync_s3_key_check(c, key)) < 0)
		return error;
	dsync_s3_req_init(&r, "GET", key);
	r.out = out;
	r.out_start = at;
	r.max = max;
	if ((error = dsync_s3_req_perform(c, &r)) < 0)
		goto out;
	if (r.status != 200) {
		error = r.status == 206 ? dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s sent part of %s only",
							     c->u.label, key)
					  : dsync_s3_req_refused(c, &r, "read");
		goto out;
	}
	if (etag_out)
		memcpy(etag_out, r.etag, DSYNC_S3_ETAG_MAX);
out:
	if (error < 0)
		dsync_buf_truncate(out, at);
	dsync_s3_req_dispose(&r);
	return error;
}

int dsync_s3_head(dsync_s3 *c, const char *key, dsync_s3_object *out)
{
	s3_req r;
	int error;

	if ((error = dsync_s3_key_check(c, key)) < 0)
		return error;
	dsync_s3_req_init(&r, "HEAD", key);
	if ((error = dsync_s3_req_perform(c, &r)) < 0)
		goto out;
	if (r.status != 200) {
		/* a HEAD has no body: only the status is known */
		error = dsync_s3_req_refused(c, &r, "look at");
		goto out;
	}
	if (!r.has_length) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s gave no size for %s", c->u.label, key);
		goto out;
	}
	if (out) {
		out->size = r.length;
		out->mtime = r.mtime;
		memcpy(out->etag, r.etag, sizeof(out->etag));
	}
out:
	dsync_s3_req_dispose(&r);
	return error;
}

int dsync_s3_delete(dsync_s3 *c, const char *key)
{
	s3_req r;
	int error;

	if ((error = dsync_s3_key_check(c, key)) < 0)
		return error;
	dsync_s3_req_init(&r, "DELETE", key);
	if ((error = dsync_s3_req_perform(c, &r)) < 0)
		goto out;
	if (r.status != 204 && r.status != 200 && !(r.status == 404 && strcmp(r.code, "NoSuchBucket") != 0))
		error = dsync_s3_req_refused(c, &r, "remove");
out:
	dsync_s3_req_dispose(&r);
	return error;
}

/* ---- listings */

static int list_query(dsync_buf *q, const char *token, int max_keys, const char *prefix, const char *after)
{
	int error;

	/* the names in order: curl 7.88 signs the query as it is */
	if (token && ((error = dsync_buf_puts(q, "continuation-token=")) < 0 ||
		      (error = dsync_s3_escape(q, token, false)) < 0 || (error = dsync_buf_puts(q, "&")) < 0))
		return error;
	if ((error = dsync_buf_printf(q, "list-type=2&max-keys=%d&prefix=", max_keys)) < 0 ||
	    (error = dsync_s3_escape(q, prefix, false)) < 0)
		return error;
	if (!token && after && ((error = dsync_buf_puts(q, "&start-after=")) < 0 ||
				(error = dsync_s3_escape(q, after, false)) < 0))
		return error;
	return 0;
}

int dsync_s3_list(dsync_s3 *c, const char *prefix, const char *start_after, int max_keys, dsync_s3_list_cb cb,
		  void *payload)
{
	dsync_buf full = DSYNC_BUF_INIT, after = DSYNC_BUF_INIT, q = DSYNC_BUF_INIT, body = DSYNC_BUF_INIT;
	dsync_s3_xml_list l = { 0 };
	char *token = NULL, last[DSYNC_S3_KEY_MAX + 1] = "", qp[DSYNC_QUOTE_SIZE];
	size_t root_len = strlen(c->root), i;
	int error, empties = 0;
	s3_req r;

	dsync_s3_req_init(&r, "GET", NULL);
	if (max_keys <= 0 || max_keys > DSYNC_S3_LIST_MAX)
		max_keys = DSYNC_S3_LIST_MAX;
	/* a prefix is a key's start: its characters a key's, no ".." or "//" */
	if ((*prefix && !dsync_s3_key_ok(prefix, strlen(prefix)) &&
	     !(prefix[strlen(prefix) - 1] == '/' && dsync_s3_key_ok(prefix, strlen(prefix) - 1))) ||
	    strlen(prefix) > DSYNC_S3_KEY_MAX / 2) {
		error = dsync_error_set(DSYNC_EUSAGE, "cannot list '%s' in the bucket at %s: not a prefix of keys",
					dsync_quote(qp, prefix), c->who);
		goto out;
	}
	if (start_after && *start_after && (error = dsync_s3_key_check(c, start_after)) < 0)
		goto out;
	if ((error = dsync_buf_printf(&full, "%s%s", c->root, prefix)) < 0 ||
	    (start_after && *start_after && (error = dsync_buf_printf(&after, "%s%s", c->root, start_after)) < 0))
		goto out;
	dsync_buf_init(&body, DSYNC_S3_XML_MAX);
	for (;;) {
		dsync_buf_truncate(&q, 0);
		if ((error = list_query(&q, token, max_keys, dsync_buf_cstr(&full), after.ptr)) < 0)
			goto out;
		r.query = q.ptr;
		r.out = &body;
		if ((error = dsync_s3_req_perform(c, &r)) < 0)
			goto out;
		if (r.status != 200) {
			error = dsync_s3_req_refused(c, &r, "list");
			goto out;
		}
		dsync_s3_xml_list_dispose(&l);
		if ((error = dsync_s3_xml_list_parse(&l, body.ptr ? body.ptr : "", body.len)) < 0) {
			error = dsync_error_set(error, "the S3 server at %s sent a malformed listing", c->u.label);
			goto out;
		}
		for (i = 0; i < l.n; i++) {
			const char *key = l.entries[i].key;

			/* under the prefix, in order, after where we were: else a server could loop us */
			if (strncmp(key, dsync_buf_cstr(&full), full.len) != 0 || strcmp(key, last) <= 0 ||
			    (after.ptr && strcmp(key, after.ptr) <= 0)) {
				error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s sent a listing out of order "
							"or outside '%s'", c->u.label, dsync_buf_cstr(&full));
				goto out;
			}
			memcpy(last, key, strlen(key) + 1);
			/* what dsync can't have written (a folder marker "x/", a space) is not ours */
			if (!dsync_s3_key_ok(key + root_len, strlen(key + root_len)))
				continue;
			if ((error = cb(key + root_len, &l.entries[i].obj, payload)) != 0)
				goto out;
		}
		if (!l.truncated)
			break;
		if ((token && strcmp(token, l.next_token) == 0) || (l.n == 0 && ++empties > EMPTY_PAGES_MAX)) {
			error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s sent a listing that does not end",
						c->u.label);
			goto out;
		}
		if (l.n)
			empties = 0;
		free(token);
		token = l.next_token;
		l.next_token = NULL;
	}
	error = 0;
out:
	free(token);
	dsync_s3_xml_list_dispose(&l);
	dsync_s3_req_dispose(&r);
	dsync_buf_dispose(&full);
	dsync_buf_dispose(&after);
	dsync_buf_dispose(&q);
	dsync_buf_dispose(&body);
	return error;
}

/* ---- the bucket */

int dsync_s3_make_bucket(dsync_s3 *c)
{
	dsync_buf body = DSYNC_BUF_INIT;
	s3_req r;
	int error;

	dsync_s3_req_init(&r, "PUT", NULL);
	/* us-east-1 is the default, and AWS refuses it named */
	if (strcmp(c->cr.region, "us-east-1") != 0 &&
	    (error = dsync_buf_printf(&body, "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				      "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
				      c->cr.region)) < 0)
		goto out;
	r.body = body.ptr;
	r.len = body.len;
	r.has_body = true;
	r.content_type = "application/xml";
	if ((error = dsync_s3_req_perform(c, &r)) < 0)
		goto out;
	if (r.status == 200 || (r.status == 409 && strcmp(r.code, "BucketAlreadyOwnedByYou") == 0))
		goto out;
	if (r.status == 409 && strcmp(r.code, "BucketAlreadyExists") == 0)
		error = dsync_error_set(DSYNC_EEXISTS, "bucket '%s' at %s belongs to another account: choose another name",
					c->u.bucket, c->u.label);
	else if (r.status == 403)
		error = dsync_error_set(DSYNC_EAUTH, "the S3 server at %s refused to make bucket '%s' with the credentials "
					"of %s (%s): make it there first, or use keys that may", c->u.label, c->u.bucket,
					c->cr.from, r.code[0] ? r.code : "HTTP 403");
	else
		error = dsync_s3_req_refused(c, &r, "make the bucket");
out:
	dsync_s3_req_dispose(&r);
	dsync_buf_dispose(&body);
	return error;
}
