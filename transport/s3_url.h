/*
 * S3 addresses (docs/remotes-s3.md section 1):
 * s3://HOST[:PORT]/BUCKET[/PREFIX] (https) and
 * s3+http://HOST[:PORT]/BUCKET[/PREFIX] (plain http, for a trusted network),
 * parsed strictly: a host name, an IPv4 address or a bracketed IPv6 one; a
 * bucket by S3's naming rules; a prefix of plain components (letters,
 * digits, '-', '_', '.'; no "." or "..", no '%', no empty component).
 */
#ifndef DSYNC_TRANSPORT_S3_URL_H
#define DSYNC_TRANSPORT_S3_URL_H

#include <stdbool.h>

#define DSYNC_S3_PREFIX_MAX 512

typedef struct dsync_s3_addr {
	bool https;
	char host[256];                      /* lowercase; an IPv6 address without its brackets */
	int port;                            /* 0 when the URL names none (443 or 80) */
	bool ipv6;
	char bucket[64];
	char prefix[DSYNC_S3_PREFIX_MAX + 1]; /* "" or "a/b": no leading or trailing '/' */
	char url[1024];                      /* normalised: s3[+http]://host[:port]/bucket[/prefix] */
	char label[300];                     /* host[:port] for messages */
} dsync_s3_addr;

/* True when IN starts with "s3://" or "s3+http://" (any case). */
bool dsync_s3_url_is_s3(const char *in);

/* Parses IN into OUT: 0, or DSYNC_EUSAGE with a one-line message. */
int dsync_s3_url_parse(const char *in, dsync_s3_addr *out);

/* Whether requests go path-style (http://host/bucket/key) for U under STYLE
 * (DSYNC_S3_STYLE_*): AUTO is virtual-host for *.amazonaws.com endpoints
 * whose bucket has no '.', path-style for everything else (an explicit
 * port, an IP address, s3+http, any other host). */
bool dsync_s3_url_path_style(const dsync_s3_addr *u, int style);

#endif
