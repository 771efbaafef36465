/*
 * The S3 client's plain types and limits (transport/s3_client.h has its
 * calls): a header of their own so that the client's parts (s3_url.c,
 * s3_creds.c, s3_xml.c and the handle's struct in s3_int.h) use them
 * without including the client's calls, which would make an include cycle.
 */
#ifndef DSYNC_TRANSPORT_S3_TYPES_H
#define DSYNC_TRANSPORT_S3_TYPES_H

#include <stdint.h>
#include <time.h>

#define DSYNC_S3_PART_SIZE (16u << 20) /* a put over this goes up as a multipart upload of such parts */
#define DSYNC_S3_ETAG_MAX 72           /* an ETag (quotes removed) and its NUL: "md5hex-NNNNN" fits */
#define DSYNC_S3_CODE_MAX 48           /* an S3 error Code and its NUL */

typedef struct dsync_s3 dsync_s3;

/* How the bucket is addressed. */
enum {
	DSYNC_S3_STYLE_AUTO = 0,   /* virtual-host for *.amazonaws.com (https, no port, no '.' in the bucket), path-style otherwise */
	DSYNC_S3_STYLE_PATH = 1,   /* http://host[:port]/bucket/key */
	DSYNC_S3_STYLE_VHOST = 2   /* http://bucket.host[:port]/key */
};

typedef struct dsync_s3_opts {
	const char *ca_file;       /* a CA (or self-signed certificate) file to trust; NULL: the system's */
	uint64_t rate_limit;       /* bytes per second, each way; 0: none */
	int style;                 /* DSYNC_S3_STYLE_*; AUTO: the profile's addressing_style in ~/.aws/config, else the rule above */
	int connect_timeout_ms;    /* 0: curl's own */
	const char *who;           /* what messages call the place (a remote's name); NULL: the URL */
} dsync_s3_opts;

/* One object, as a HEAD or a listing saw it. */
typedef struct dsync_s3_object {
	uint64_t size;
	time_t mtime;                   /* Last-Modified / LastModified; 0 when absent */
	char etag[DSYNC_S3_ETAG_MAX];   /* quotes removed; "" when absent */
} dsync_s3_object;

/* Called for each object a listing finds, KEY relative to the URL's prefix;
 * a non-zero return stops the listing and is returned by it. */
typedef int (*dsync_s3_list_cb)(const char *key, const dsync_s3_object *obj, void *payload);

/* Bytes moved so far by one get or put (called now and then). */
typedef void (*dsync_s3_xfer_cb)(uint64_t bytes, void *payload);

#endif
