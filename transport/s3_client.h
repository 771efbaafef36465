/*
 * A small S3 request layer over one bucket and key prefix
 * (transport/s3_client.c, docs/remotes-s3.md): the s3:// and s3+http://
 * blob store (transport/s3.c) and the relay's storage on S3 both use it.
 *
 * A connection (dsync_s3) is one kept-alive CURL handle and is NOT
 * thread-safe: a thread that makes requests opens its own (the open makes no
 * request and costs nothing but the credentials' lookup).  Requests are
 * signed by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3"); every body is
 * sent with its sha256 in x-amz-content-sha256 (so an http endpoint can't
 * take a changed body for ours).  No redirects; loopback is never proxied;
 * https is verified (CA_FILE when given).  A transfer that moves no byte for
 * 60 s is cut.
 *
 * Keys: every KEY and PREFIX argument is relative to the URL's PREFIX (the
 * URL "s3://host/bkt/some/where" and key "packs/x" is the object
 * "some/where/packs/x" of bucket "bkt"); listings give keys relative to it
 * too.  A key is a blob name (transport/blobstore.h's
 * dsync_blobstore_check_name rules, plus a leading dot allowed for the
 * relay's own records: ".group"), at most 900 bytes with the prefix: anything
 * else is DSYNC_EUSAGE before any request.
 *
 * Every call returns 0 or a negative DSYNC_E* code with the message set
 * (one line; the server's text is never shown, only its error Code when it
 * is a plain token):
 *   DSYNC_ENOTFOUND  404 NoSuchKey (no such object); also NoSuchBucket, with
 *                    its own message ("no bucket 'B' at HOST ...");
 *                    dsync_s3_error_code() tells them apart
 *   DSYNC_EAUTH      403 SignatureDoesNotMatch, InvalidAccessKeyId,
 *                    AccessDenied and the like: "the S3 server at HOST
 *                    refused the credentials: CODE"; no credentials found
 *   DSYNC_ECORRUPT   a reply that breaks the protocol (bad XML, a body over
 *                    its bound, a size over MAX, a changed ETag on resume)
 *   DSYNC_EUSAGE     a bad URL or key
 *   DSYNC_ERROR      anything else: "cannot reach the S3 server at HOST:
 *                    connection refused", 5xx after the retries ...
 * 500/InternalError, 503/SlowDown, 429 and cut connections are retried with
 * a backoff (0.25, 0.5, 1, 2 s ...; about 8 s in all) before they fail;
 * reads are resumed with Range from where they were cut.
 *
 * In a DSYNC_TESTING build only: DSYNC_TEST_S3_STALL (seconds, instead of
 * the 60 s stall limit) and DSYNC_TEST_S3_PART (bytes, the multipart part
 * size instead of DSYNC_S3_PART_SIZE; at least 5 MiB: S3's smallest part).
 */
#ifndef DSYNC_TRANSPORT_S3_CLIENT_H
#define DSYNC_TRANSPORT_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/base/buf.h"

#include "transport/s3_types.h"


/*
 * Parses URL ("s3://HOST[:PORT]/BUCKET[/PREFIX]" over https,
 * "s3+http://HOST[:PORT]/BUCKET[/PREFIX]" over plain http; transport/s3_url.h)
 * and finds the credentials and the region (transport/s3_creds.h: the
 * AWS_* environment, else ~/.aws/credentials and ~/.aws/config, as the AWS
 * CLI reads them).  Makes no request.  O may be NULL (defaults).  The secret
 * is kept in sodium_malloc'd memory until dsync_s3_free.
 */
int dsync_s3_open(dsync_s3 **out, const char *url, const dsync_s3_opts *o);

/* Closes the connection and wipes the credentials; accepts NULL. */
void dsync_s3_free(dsync_s3 *c);

/* The URL in its normalised form (what the config keeps): "s3://host/bkt/prefix"
 * (no trailing '/', the port only when not the scheme's default). */
const char *dsync_s3_url(const dsync_s3 *c);

/* The S3 error Code of the last reply that had one ("NoSuchBucket",
 * "SlowDown" ...), "" when the last reply had none; the HTTP status of the
 * last reply (0: none came). */
const char *dsync_s3_error_code(const dsync_s3 *c);
long dsync_s3_last_status(const dsync_s3 *c);

/* Creates the bucket (PUT /BUCKET); a bucket that is already there and ours
 * (BucketAlreadyOwnedByYou) is no error. */
int dsync_s3_make_bucket(dsync_s3 *c);

/*
 * Writes object KEY's bytes from offset RANGE_START to its end to FD (at
 * FD's current offset).  An object of more than MAX bytes (0: no limit) is
 * refused (DSYNC_ECORRUPT) from its Content-Length before a byte is written.
 * A connection cut mid-way is resumed with Range and If-Match on the first
 * reply's ETag (a changed object: DSYNC_ECORRUPT).  XFER (may be NULL) sees
 * the bytes written so far.  ETAG_OUT, when not NULL, gets the object's ETag
 * (DSYNC_S3_ETAG_MAX bytes).
 */
int dsync_s3_get(dsync_s3 *c, const char *key, int fd, uint64_t max, uint64_t range_start, char *etag_out,
		 dsync_s3_xfer_cb xfer, void *payload);

/* Reads object KEY whole into OUT (appended), refusing one over MAX bytes
 * (DSYNC_ECORRUPT); ETAG_OUT as dsync_s3_get's (may be NULL). */
int dsync_s3_get_buf(dsync_s3 *c, const char *key, dsync_buf *out, size_t max, char *etag_out);

/*
 * Stores the bytes of FD from its current offset to its end as object KEY,
 * replacing any object of that name; a reader sees the old object or the new
 * one, never a part.  Up to DSYNC_S3_PART_SIZE bytes: one PUT; more: a
 * multipart upload, parts read from FD into one buffer of that size (the
 * only memory it takes; FD may be a pipe), aborted when a part fails.  XFER
 * (may be NULL) sees the bytes sent so far.
 */
int dsync_s3_put_fd(dsync_s3 *c, const char *key, int fd, dsync_s3_xfer_cb xfer, void *payload);

/* Aborts the multipart uploads under the URL's prefix that started more
 * than AGE seconds ago (a put killed mid-way leaves its parts stored,
 * never an object); the first 1,000 looked at.  The count aborted, or a
 * negative code. */
int dsync_s3_abort_stale_uploads(dsync_s3 *c, int64_t age);

/* Stores LEN bytes at DATA as object KEY (one PUT). */
int dsync_s3_put_buf(dsync_s3 *c, const char *key, const void *data, size_t len);

/* Size, time and ETag of object KEY (HEAD); OUT may be NULL (existence only:
 * 0 or DSYNC_ENOTFOUND). */
int dsync_s3_head(dsync_s3 *c, const char *key, dsync_s3_object *out);

/* Removes object KEY; one that is not there is no error. */
int dsync_s3_delete(dsync_s3 *c, const char *key);

/*
 * Lists the objects whose keys start with PREFIX ("" for all), in S3's order
 * (ascending UTF-8 bytes), from the first key after START_AFTER (NULL or "":
 * from the start), following ListObjectsV2's continuation pages; CB as
 * dsync_s3_list_cb says (a non-zero return ends the listing: that is how a
 * caller takes one page of its own).  MAX_KEYS (1..1000; 0: 1000) is the
 * page size asked of the server.  Keys the server sends that are not under
 * the URL's prefix or out of order are DSYNC_ECORRUPT (a listing that could
 * loop); keys dsync can't have written ("..", a space, a folder marker) are
 * skipped.
 */
int dsync_s3_list(dsync_s3 *c, const char *prefix, const char *start_after, int max_keys, dsync_s3_list_cb cb,
		  void *payload);

#endif
