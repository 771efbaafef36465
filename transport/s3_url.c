/*
 * S3 addresses (transport/s3_url.h): every part checked, one normalised
 * form for the config.
 */
#include "core/base/internal.h"

#include <arpa/inet.h>
#include <strings.h>

#include "transport/s3_types.h"
#include "transport/s3_url.h"

#define AWS_SUFFIX ".amazonaws.com"

bool dsync_s3_url_is_s3(const char *in)
{
	return strncasecmp(in, "s3://", 5) == 0 || strncasecmp(in, "s3+http://", 10) == 0;
}

static bool is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* a DNS name: labels of letters, digits and '-' (not at a label's ends),
 * dots between them; lowercased into OUT */
static bool host_name(char *out, const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[len] = '\0';
	return label > 0 && s[len - 1] != '-';
}

/* an IPv6 address between brackets: hex digits, ':' and '.' (an embedded
 * IPv4), at most 45 characters; lowercased into OUT */
static bool host_ipv6(char *out, const char *s, size_t len)
{
	struct in6_addr addr;
	size_t i, colons = 0;

	if (len < 2 || len > 45)
		return false;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == ':')
			colons++;
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.'))
			return false;
		out[i] = (char)(c >= 'A' && c <= 'F' ? c + 32 : c);
	}
	out[len] = '\0';
	/* and an address: "[:::::]" or "[1::2::3]" are not */
	return colons >= 2 && inet_pton(AF_INET6, out, &addr) == 1;
}

/* four decimal numbers 0..255 with dots: S3 refuses such bucket names */
static bool looks_ipv4(const char *s)
{
	int parts = 0, digits = 0, v = 0;

	for (;; s++) {
		if (*s >= '0' && *s <= '9') {
			v = v * 10 + (*s - '0');
			if (++digits > 3 || v > 255)
				return false;
		} else if ((*s == '.' || *s == '\0') && digits) {
			parts++;
			digits = v = 0;
			if (*s == '\0')
				return parts == 4;
		} else {
			return false;
		}
	}
}

/* S3's rules for bucket names: 3..63 lowercase letters, digits, '.' and
 * '-', starting and ending with a letter or digit, no "..", not an IPv4
 * address, not "xn--" first or "-s3alias" last */
static bool bucket_ok(const char *s, size_t len)
{
	size_t i;

	if (len < 3 || len > 63 || !is_lower_alnum((unsigned char)s[0]) || !is_lower_alnum((unsigned char)s[len - 1]))
		return false;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (!is_lower_alnum(c) && c != '-' && c != '.')
			return false;
		if (c == '.' && (s[i + 1] == '.' || s[i - 1] == '-' || s[i + 1] == '-'))
			return false;
	}
	return strncmp(s, "xn--", 4) != 0 && !(len >= 8 && memcmp(s + len - 8, "-s3alias", 8) == 0);
}

/* the prefix's components: letters, digits, '-', '_', '.', none empty (one
 * trailing '/' aside), none "." or ".."; copied without the trailing '/' */
static bool prefix_ok(char *out, const char *s, size_t len)
{
	size_t i, comp = 0;

	if (len && s[len - 1] == '/' && --len == 0)
		return false; /* "BUCKET//" */
	if (len > DSYNC_S3_PREFIX_MAX)
		return false;
	for (i = 0; i <= len; i++) {
		int c = i < len ? (unsigned char)s[i] : '/';

		if (c == '/') {
			if (len && (comp == 0 || (comp == 1 && s[i - 1] == '.') ||
				    (comp == 2 && s[i - 1] == '.' && s[i - 2] == '.')))
				return false;
			comp = 0;
		} else if (is_alnum(c) || c == '-' || c == '_' || c == '.') {
			comp++;
		} else {
			return false;
		}
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

static int parse(const char *in, dsync_s3_addr *out)
{
	char q[DSYNC_QUOTE_SIZE];
	const char *p, *auth, *slash, *colon, *host_end, *bucket_end;
	size_t host_len;
	int n;

	memset(out, 0, sizeof(*out));
	dsync_quote(q, in);
	if (strncasecmp(in, "s3://", 5) == 0) {
		out->https = true;
		p = in + 5;
	} else if (strncasecmp(in, "s3+http://", 10) == 0) {
		p = in + 10;
	} else {
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not an S3 address: s3://HOST[:PORT]/BUCKET/PREFIX", q);
	}
	if (strlen(in) > 900)
		return dsync_error_set(DSYNC_EUSAGE, "'%s': an S3 address of over 900 bytes", q);
	for (const char *c = in; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '%' || *c == '?' || *c == '#' || *c == '\\')
			return dsync_error_set(DSYNC_EUSAGE, "'%s': an S3 address holds no spaces, control characters, "
					       "'%%', '?', '#' or '\\'", q);
	auth = p;
	if (!(slash = strchr(auth, '/')))
		return dsync_error_set(DSYNC_EUSAGE, "'%s' names no bucket: s3://HOST[:PORT]/BUCKET/PREFIX", q);
	if (memchr(auth, '@', (size_t)(slash - auth)))
		return dsync_error_set(DSYNC_EUSAGE, "'%s': an S3 address holds no credentials; set AWS_ACCESS_KEY_ID "
				       "and AWS_SECRET_ACCESS_KEY, or use ~/.aws/credentials", q);
	/* the host, an IPv6 one in brackets */
	if (*auth == '[') {
		if (!(host_end = memchr(auth, ']', (size_t)(slash - auth))) ||
		    !host_ipv6(out->host, auth + 1, (size_t)(host_end - auth - 1)))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': not an IPv6 address between the brackets", q);
		out->ipv6 = true;
		colon = host_end + 1 < slash ? host_end + 1 : NULL;
		if (colon && *colon != ':')
			return dsync_error_set(DSYNC_EUSAGE, "'%s': a bad host", q);
	} else {
		colon = memchr(auth, ':', (size_t)(slash - auth));
		host_end = colon ? colon : slash;
		host_len = (size_t)(host_end - auth);
		if (host_len >= sizeof(out->host) || !host_name(out->host, auth, host_len))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': a bad host name", q);
	}
	if (colon) {
		const char *d = colon + 1;
		long port = 0;

		if (d == slash || slash - d > 5)
			return dsync_error_set(DSYNC_EUSAGE, "'%s': a bad port", q);
		for (; d < slash; d++) {
			if (*d < '0' || *d > '9')
				return dsync_error_set(DSYNC_EUSAGE, "'%s': a bad port", q);
			port = port * 10 + (*d - '0');
		}
		if (port < 1 || port > 65535)
			return dsync_error_set(DSYNC_EUSAGE, "'%s': a bad port", q);
		out->port = (int)port;
	}
	/* the bucket, then the prefix */
	p = slash + 1;
	bucket_end = strchr(p, '/');
	if (!bucket_end)
		bucket_end = p + strlen(p);
	if (!bucket_ok(p, (size_t)(bucket_end - p)))
		return dsync_error_set(DSYNC_EUSAGE, "'%s': not a bucket name (3 to 63 lowercase letters, digits, '-' "
				       "and '.', starting and ending with a letter or digit)", q);
	memcpy(out->bucket, p, (size_t)(bucket_end - p));
	out->bucket[bucket_end - p] = '\0';
	if (looks_ipv4(out->bucket))
		return dsync_error_set(DSYNC_EUSAGE, "'%s': a bucket name can't be an IP address", q);
	if (*bucket_end == '/' && !prefix_ok(out->prefix, bucket_end + 1, strlen(bucket_end + 1)))
		return dsync_error_set(DSYNC_EUSAGE, "'%s': a bad prefix (folders of letters, digits, '-', '_' and '.'; "
				       "no '.' or '..', no empty one)", q);
	if (out->port)
		snprintf(out->label, sizeof(out->label), out->ipv6 ? "[%s]:%d" : "%s:%d", out->host, out->port);
	else
		snprintf(out->label, sizeof(out->label), out->ipv6 ? "[%s]" : "%s", out->host);
	n = snprintf(out->url, sizeof(out->url), "%s://%s/%s%s%s", out->https ? "s3" : "s3+http", out->label,
		     out->bucket, out->prefix[0] ? "/" : "", out->prefix);
	if (n < 0 || (size_t)n >= sizeof(out->url))
		return dsync_error_set(DSYNC_EUSAGE, "'%s': an S3 address too long", q);
	return 0;
}

int dsync_s3_url_parse(const char *in, dsync_s3_addr *out)
{
	int error = parse(in, out);

	if (error < 0)
		memset(out, 0, sizeof(*out));
	return error;
}

bool dsync_s3_url_path_style(const dsync_s3_addr *u, int style)
{
	size_t hl = strlen(u->host), sl = strlen(AWS_SUFFIX);

	if (style == DSYNC_S3_STYLE_PATH)
		return true;
	if (style == DSYNC_S3_STYLE_VHOST)
		return false;
	return !(u->https && !u->port && !u->ipv6 && hl > sl && strcmp(u->host + hl - sl, AWS_SUFFIX) == 0 &&
		 !strchr(u->bucket, '.'));
}
