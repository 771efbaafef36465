/*
 * What the S3 client's files share (s3_client.c: the handle, one request
 * and its retries, refusals in our words; s3_ops.c: reads, listings,
 * deletes, the bucket; s3_put.c: uploads): the handle's struct and one
 * request.  Nothing outside transport/s3_*.c includes it.
 */
#ifndef DSYNC_TRANSPORT_S3_INT_H
#define DSYNC_TRANSPORT_S3_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "transport/netlibs.h"

#include "core/base/buf.h"
#include "transport/s3_types.h"
#include "transport/s3_creds.h"
#include "transport/s3_url.h"

#define S3_ERR_BODY_MAX (64 * 1024)    /* a refusal's body read at most (only its Code is used) */
#define S3_TRIES 5                     /* attempts of a request a 5xx, a 429 or a cut connection failed */
#define S3_PART_MIN (5u << 20)         /* S3's smallest part but the last */
#define S3_PARTS_MAX 10000             /* and most parts */

struct dsync_s3 {
	CURL *curl;
	dsync_s3_addr u;
	dsync_s3_creds cr;
	char *base;                    /* "http[s]://host[:port]/bucket" or "http[s]://bucket.host[:port]" */
	char *root;                    /* the URL's prefix and '/' ("" when none) */
	char *who;                     /* what messages call the place */
	char *userpwd;                 /* "key:secret", sodium_malloc'd */
	char sigv4[96];                /* "aws:amz:REGION:s3" */
	long status;                   /* of the last reply */
	char code[DSYNC_S3_CODE_MAX];  /* its error Code, or "" */
	uint64_t part_size;
	long stall_s;
	char errbuf[CURL_ERROR_SIZE];
};

typedef struct s3_req {
	const char *method;            /* GET HEAD PUT POST DELETE */
	const char *key;               /* relative to the URL's prefix; NULL: the bucket itself */
	const char *query;             /* canonical: names sorted, values escaped, every name with '=' (curl 7.88 signs it as it is) */
	const char *range;             /* a GET's "START-", or NULL */
	const char *if_match;          /* an ETag (no quotes), or NULL */
	const char *content_type;      /* a body's, or NULL */
	/* the body sent: LEN bytes at BODY */
	const void *body;
	size_t len;
	bool has_body;
	/* where a 2xx body goes: OUT (from OUT_START on, within its max) or OUT_FD; at most MAX bytes (0: any) */
	dsync_buf *out;
	size_t out_start;
	int out_fd;
	uint64_t max;
	uint64_t max_offset;           /* a ranged read's start: MAX bounds the whole object */
	dsync_s3_xfer_cb xfer;
	void *payload;
	uint64_t xfer_base;
	/* the reply */
	long status;
	bool bad, has_length, has_range, has_etag;
	uint64_t length, range_start, range_total;
	char etag[DSYNC_S3_ETAG_MAX];
	time_t mtime;
	char code[DSYNC_S3_CODE_MAX];
	dsync_buf err;
	uint64_t sent, got;
	CURLcode cc;
	bool too_big, sink_failed;
	bool err_over;                 /* a refusal's body went past S3_ERR_BODY_MAX: cut there */
} s3_req;

void dsync_s3_req_init(s3_req *r, const char *method, const char *key);
void dsync_s3_req_dispose(s3_req *r);

/* Makes the exchange, once: 0 once a reply came (any status; R->status),
 * else DSYNC_ERROR "cannot reach the S3 server at HOST: ..." (cut, refused,
 * stalled: dsync_s3_req_is_cut says whether trying again may help), or the
 * sink's error, or DSYNC_ECORRUPT (a body over its bound, malformed
 * headers). */
int dsync_s3_req_once(dsync_s3 *c, s3_req *r);

/* dsync_s3_req_once, tried again after a backoff (0.25, 0.5, 1, 2 s) while
 * the reply is a 500, 502, 503, 504 or 429 or the connection was cut before
 * a byte reached the sink (a memory sink is emptied again). */
int dsync_s3_req_perform(dsync_s3 *c, s3_req *r);

/* Whether R failed in a way a retry may get past. */
bool dsync_s3_req_is_cut(const s3_req *r);

/* Whether R (the result of attempt TRY, from 1), ERROR its return, is
 * tried again: a cut or refused connection or a busy server
 * (dsync_s3_req_is_cut, 5xx, 429) up to S3_TRIES attempts, a stalled
 * transfer once (60 s more, not five times that). */
bool dsync_s3_req_again(const s3_req *r, int error, int try);

/* Sleeps before retry number TRY (1, 2, 3 ...). */
void dsync_s3_backoff(int try);

/* The error of a reply that is not the caller's success, in our words;
 * WHAT says what was asked ("read", "store", "list" ...). */
int dsync_s3_req_refused(dsync_s3 *c, const s3_req *r, const char *what);

/* 0 when KEY is one this client sends: 1..DSYNC_S3_KEY_MAX bytes with the
 * prefix, components of letters, digits, '-', '_', '.', none empty, "." or
 * "..", else DSYNC_EUSAGE naming it. */
int dsync_s3_key_check(const dsync_s3 *c, const char *key);

/* Whether KEY's components are as dsync_s3_key_check wants (no message). */
bool dsync_s3_key_ok(const char *key, size_t len);

/* Appends S to B %-escaped as SigV4 wants (unreserved kept; '/' kept when
 * SLASH). */
int dsync_s3_escape(dsync_buf *b, const char *s, bool slash);

#endif
