/*
 * The XML replies the S3 client reads (transport/s3_xml.c), from an
 * untrusted server: a small strict scanner (no DTD, no CDATA, no processing
 * but the <?xml ...?> declaration, at most 16 deep, every text at most
 * 2,048 bytes, entities &amp; &lt; &gt; &quot; &apos; and &#N; / &#xN;
 * decoded to UTF-8); anything else is DSYNC_ECORRUPT.  Fuzzed by
 * tests/fuzz/fuzz_s3_xml.c.
 */
#ifndef DSYNC_TRANSPORT_S3_XML_H
#define DSYNC_TRANSPORT_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "transport/s3_types.h"

#define DSYNC_S3_XML_MAX (4u << 20)     /* a reply body read at most */
#define DSYNC_S3_LIST_MAX 1000         /* objects in one ListObjectsV2 page at most */
#define DSYNC_S3_KEY_MAX 1024          /* a key (with the URL's prefix) at most */
#define DSYNC_S3_TOKEN_MAX 1024        /* a continuation token at most */
#define DSYNC_S3_UPLOAD_ID_MAX 512     /* an UploadId at most */

typedef struct dsync_s3_xml_entry {
	char *key;                     /* the whole key, as the server sent it (decoded) */
	dsync_s3_object obj;
} dsync_s3_xml_entry;

/* One ListObjectsV2 page (ListBucketResult). */
typedef struct dsync_s3_xml_list {
	dsync_s3_xml_entry *entries;
	size_t n;
	bool truncated;                /* IsTruncated */
	char *next_token;              /* NextContinuationToken, or NULL */
} dsync_s3_xml_list;

/* Parses a ListBucketResult: every Contents must have a Key (1..1024
 * bytes, no control byte) and a Size; at most DSYNC_S3_LIST_MAX of them; a
 * truncated page must name its next token.  OUT is disposed of by
 * dsync_s3_xml_list_dispose, also after a failure. */
int dsync_s3_xml_list_parse(dsync_s3_xml_list *out, const char *body, size_t len);
void dsync_s3_xml_list_dispose(dsync_s3_xml_list *l);

/* One page of ListMultipartUploadsResult: each Upload's Key, UploadId
 * (as dsync_s3_xml_upload_id checks it) and Initiated; at most
 * DSYNC_S3_LIST_MAX of them. */
typedef struct dsync_s3_xml_upload {
	char *key;
	char *upload_id;
	time_t initiated;              /* 0 when absent */
} dsync_s3_xml_upload;

typedef struct dsync_s3_xml_uploads {
	dsync_s3_xml_upload *uploads;
	size_t n;
	bool truncated;
} dsync_s3_xml_uploads;

int dsync_s3_xml_uploads_parse(dsync_s3_xml_uploads *out, const char *body, size_t len);
void dsync_s3_xml_uploads_dispose(dsync_s3_xml_uploads *u);

/* InitiateMultipartUploadResult's UploadId (1..DSYNC_S3_UPLOAD_ID_MAX
 * bytes of letters, digits and -_.~+/=:) into OUT (DSYNC_S3_UPLOAD_ID_MAX +
 * 1 bytes). */
int dsync_s3_xml_upload_id(char *out, const char *body, size_t len);

/* An Error reply's Code into CODE (DSYNC_S3_CODE_MAX bytes) when it is a
 * plain token (letters, digits, '.'), else "": never fails, the body is
 * only ever looked at, never shown. */
void dsync_s3_xml_error_code(char *code, const char *body, size_t len);

/* LEN (1..20) decimal digits at S as a number into OUT: 0, or -1 when
 * anything else (a sign, a space, an overflow); headers and XML alike. */
int dsync_s3_dec_u64(uint64_t *out, const char *s, size_t len);

/* "2026-12-07T03:06:06.000Z" (the fraction optional) as a time: 0, or -1
 * when malformed. */
int dsync_s3_xml_time(time_t *out, const char *s, size_t len);

/* An ETag (quotes removed when both are there) into OUT
 * (DSYNC_S3_ETAG_MAX bytes): 0, or -1 when it is too long or holds anything
 * but printable ASCII without quotes, backslashes and XML's < > & (a part's
 * ETag goes back into CompleteMultipartUpload's body). */
int dsync_s3_xml_etag(char *out, const char *s, size_t len);

#endif
