/*
 * ssh addresses (transport/sftp_url.h, docs/sftp.md section 1): the URL forms
 * sftp:// and ssh:// with %XX decoded in the user and the path, the scp form
 * [user@]host:path taken as written, and one normalised form for the config.
 */
#include "core/base/internal.h"

#include <strings.h>

#include "transport/sftp_url.h"

#define NOT_SSH "'%s' is neither a local path nor an ssh address (write ./%s for a local name that holds a colon)"

/* "sftp://" or "ssh://" (any case): the length of the prefix, else 0. */
static size_t ssh_scheme(const char *in)
{
	if (strncasecmp(in, "sftp://", 7) == 0)
		return 7;
	if (strncasecmp(in, "ssh://", 6) == 0)
		return 6;
	return 0;
}

/* IN starts with "scheme://" (RFC 3986 scheme characters). */
static bool has_scheme(const char *in)
{
	const char *p = in;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
	       *p == '-' || *p == '.')
		p++;
	return strncmp(p, "://", 3) == 0;
}

bool dsync_sftp_url_is_ssh(const char *in)
{
	const char *colon = strchr(in, ':'), *slash = strchr(in, '/');

	/* git's url_is_local_not_ssh(): no colon, or a slash before it */
	if (!colon || (slash && slash < colon))
		return false;
	if (has_scheme(in))
		return ssh_scheme(in) != 0;
	return true;
}

static bool is_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Copies the LEN bytes at S into OUT (SIZE bytes with the NUL), decoding
 * %XX when DECODE.  WHAT names the part for messages.  Control bytes,
 * encoded or not, are refused.
 */
static int copy_part(char *out, size_t size, const char *s, size_t len, bool decode, const char *in,
		     const char *what)
{
	char q[DSYNC_QUOTE_SIZE];
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (decode && c == '%') {
			int hi = -1, lo = -1;

			if (i + 2 < len) {
				hi = hexval((unsigned char)s[i + 1]);
				lo = hexval((unsigned char)s[i + 2]);
			}
			if (hi < 0 || lo < 0)
				return dsync_error_set(DSYNC_EUSAGE, "'%s': the %s holds a bad %%-escape (%%XX with two hex digits)",
						       dsync_quote(q, in), what);
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (is_control(c))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': the %s holds a control character", dsync_quote(q, in),
					       what);
		if (n + 1 >= size)
			return dsync_error_set(DSYNC_EUSAGE, "'%s': the %s is too long", dsync_quote(q, in), what);
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* Bracketed IPv6 literal content: hex digits, ':' and '.', at least one
 * ':', then an optional %zone. */
static bool is_ipv6(const char *s, size_t len)
{
	size_t i;
	bool colon = false;

	for (i = 0; i < len && s[i] != '%'; i++) {
		if (s[i] == ':')
			colon = true;
		else if (hexval((unsigned char)s[i]) < 0 && s[i] != '.')
			return false;
	}
	if (i < len) {
		if (i + 1 == len)
			return false;
		for (i++; i < len; i++)
			if (!is_host_char((unsigned char)s[i]))
				return false;
	}
	return colon;
}

/*
 * The host at S: "[v6]" or a name of [A-Za-z0-9._-].  Sets *END past it;
 * copies it, without brackets, into OUT->host.
 */
static int parse_host(dsync_sftp_url *out, const char *s, const char **end, const char *in)
{
	char q[DSYNC_QUOTE_SIZE];
	size_t len;

	if (*s == '-')
		return dsync_error_set(DSYNC_EUSAGE, "'%s': an ssh host can't start with '-'", dsync_quote(q, in));
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || !is_ipv6(s + 1, (size_t)(close - s - 1)))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': brackets must hold an IPv6 address", dsync_quote(q, in));
		len = (size_t)(close - s - 1);
		if (len >= sizeof(out->host))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': the host is too long", dsync_quote(q, in));
		memcpy(out->host, s + 1, len);
		out->host[len] = '\0';
		*end = close + 1;
		return 0;
	}
	for (len = 0; is_host_char((unsigned char)s[len]); len++)
		;
	if (len >= sizeof(out->host))
		return dsync_error_set(DSYNC_EUSAGE, "'%s': the host is too long", dsync_quote(q, in));
	memcpy(out->host, s, len);
	out->host[len] = '\0';
	*end = s + len;
	return 0;
}

/* Drops repeated and trailing slashes (the root stays "/"). */
static void tidy_path(char *p)
{
	char *w = p, *r = p;

	while (*r) {
		if (*r == '/' && w > p && w[-1] == '/') {
			r++;
			continue;
		}
		*w++ = *r++;
	}
	while (w > p + 1 && w[-1] == '/')
		w--;
	*w = '\0';
}

/*
 * A scp-form PATH as written: "~" or "~/rel" is relative to the login
 * folder; "~user" is refused; anything else is kept.  Sets OUT->path.
 */
static int set_path(dsync_sftp_url *out, char *path, const char *in)
{
	char q[DSYNC_QUOTE_SIZE];

	if (path[0] == '~') {
		if (path[1] != '\0' && path[1] != '/')
			return dsync_error_set(DSYNC_EUSAGE, "'%s': only ~/ is supported: write the path from the root",
					       dsync_quote(q, in));
		path += path[1] ? 2 : 1;
		while (*path == '/')
			path++;
	}
	memmove(out->path, path, strlen(path) + 1);
	tidy_path(out->path);
	return 0;
}

static int check_names(const dsync_sftp_url *u, const char *in)
{
	char q[DSYNC_QUOTE_SIZE];

	if (u->host[0] == '\0')
		return dsync_error_set(DSYNC_EUSAGE, "'%s': no host given", dsync_quote(q, in));
	if (u->host[0] == '-')
		return dsync_error_set(DSYNC_EUSAGE, "'%s': an ssh host can't start with '-'", dsync_quote(q, in));
	if (u->user[0] == '-')
		return dsync_error_set(DSYNC_EUSAGE, "'%s': an ssh user can't start with '-'", dsync_quote(q, in));
	return 0;
}

static int parse_url(dsync_sftp_url *out, const char *in, size_t skip)
{
	char q[DSYNC_QUOTE_SIZE];
	const char *auth = in + skip, *auth_end, *at = NULL, *p, *h;
	char *path = NULL;
	int error;

	auth_end = auth + strcspn(auth, "/");
	for (p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	if (at) {
		if (memchr(auth, ':', (size_t)(at - auth)))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': a password in the URL is not supported (ssh asks for it)",
					       dsync_quote(q, in));
		if ((error = copy_part(out->user, sizeof(out->user), auth, (size_t)(at - auth), true, in, "user")) < 0)
			return error;
		if (out->user[0] == '\0')
			return dsync_error_set(DSYNC_EUSAGE, "'%s': empty user before '@'", dsync_quote(q, in));
		h = at + 1;
	} else {
		h = auth;
	}
	if ((error = parse_host(out, h, &p, in)) < 0)
		return error;
	if (p < auth_end && *p == ':') {
		long port = 0;

		for (p++; p < auth_end && *p >= '0' && *p <= '9' && port <= 65535; p++)
			port = port * 10 + (*p - '0');
		if (p != auth_end || port < 1 || port > 65535 || p[-1] == ':')
			return dsync_error_set(DSYNC_EUSAGE, "'%s': bad port (a number from 1 to 65535)", dsync_quote(q, in));
		out->port = (int)port;
	}
	if (p != auth_end)
		return dsync_error_set(DSYNC_EUSAGE, "'%s': the host may hold only letters, digits, '.', '_' and '-' (or [IPv6])",
				       dsync_quote(q, in));
	if ((error = check_names(out, in)) < 0)
		return error;
	/* the path: "/" is the root, none or "/~" the login folder, "/~/x" its
	 * x; a '~' counts only as written (%7E is a name like any other) */
	if (!(path = malloc(sizeof(out->path))))
		return dsync_error_oom();
	if (auth_end[0] == '\0' || (auth_end[1] == '~' && (auth_end[2] == '\0' || auth_end[2] == '/'))) {
		const char *rel = auth_end[0] ? auth_end + 2 : auth_end;
		char *r;

		if ((error = copy_part(path, sizeof(out->path), rel, strlen(rel), true, in, "path")) < 0)
			goto out;
		for (r = path; *r == '/'; r++)
			;
		memcpy(out->path, r, strlen(r) + 1);
	} else if (auth_end[1] == '~') {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s': only ~/ is supported: write the path from the root",
					dsync_quote(q, in));
		goto out;
	} else {
		if ((error = copy_part(path, sizeof(out->path), auth_end, strlen(auth_end), true, in, "path")) < 0)
			goto out;
		memcpy(out->path, path, strlen(path) + 1);
	}
	tidy_path(out->path);
out:
	free(path);
	return error;
}

static int parse_scp(dsync_sftp_url *out, const char *in)
{
	char q[DSYNC_QUOTE_SIZE], q2[DSYNC_QUOTE_SIZE];
	const char *h = in, *p, *at;
	size_t i;
	int error;

	/* the user ends at the last '@' before the host: no '/', ':' or '@' in it */
	at = NULL;
	for (p = in; *p && *p != ':' && *p != '/' && *p != '['; p++)
		if (*p == '@')
			at = p;
	if (at) {
		for (p = in; p < at; p++)
			if (*p == '@')
				goto bad;
		if (at == in)
			goto bad;
		if ((error = copy_part(out->user, sizeof(out->user), in, (size_t)(at - in), false, in, "user")) < 0)
			return error;
		h = at + 1;
	}
	if ((error = parse_host(out, h, &p, in)) < 0)
		return error;
	if (*p != ':')
		goto bad;
	if ((error = check_names(out, in)) < 0)
		return error;
	p++;
	for (i = 0; p[i]; i++)
		if (is_control((unsigned char)p[i]))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': the path holds a control character", dsync_quote(q, in));
	if (strlen(p) >= sizeof(out->path))
		return dsync_error_set(DSYNC_EUSAGE, "'%s': the path is too long", dsync_quote(q, in));
	return set_path(out, (char *)memcpy(out->path, p, strlen(p) + 1), in);
bad:
	return dsync_error_set(DSYNC_EUSAGE, NOT_SSH, dsync_quote(q, in), dsync_quote(q2, in));
}

/* Appends S percent-encoded (%, space, non-ASCII and the bytes of EXTRA). */
static int put_enc(char *dst, size_t size, size_t *n, const char *s, const char *extra)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool enc = c == '%' || c == ' ' || c >= 0x80 || (extra && strchr(extra, c));

		if (*n + (enc ? 3 : 1) >= size)
			return -1;
		if (enc) {
			dst[(*n)++] = '%';
			dst[(*n)++] = hex[c >> 4];
			dst[(*n)++] = hex[c & 15];
		} else {
			dst[(*n)++] = (char)c;
		}
	}
	dst[*n] = '\0';
	return 0;
}

static int put_raw(char *dst, size_t size, size_t *n, const char *s)
{
	size_t len = strlen(s);

	if (*n + len >= size)
		return -1;
	memcpy(dst + *n, s, len + 1);
	*n += len;
	return 0;
}

static int normalise(dsync_sftp_url *u, const char *in)
{
	char q[DSYNC_QUOTE_SIZE], port[16] = "";
	bool v6 = strchr(u->host, ':') != NULL;
	size_t n = 0, l = 0;

	if (u->port)
		snprintf(port, sizeof(port), ":%d", u->port);
	if (put_raw(u->url, sizeof(u->url), &n, "sftp://") < 0 ||
	    (u->user[0] && (put_enc(u->url, sizeof(u->url), &n, u->user, "@:/;?#") < 0 ||
			    put_raw(u->url, sizeof(u->url), &n, "@") < 0)) ||
	    put_raw(u->url, sizeof(u->url), &n, v6 ? "[" : "") < 0 || put_raw(u->url, sizeof(u->url), &n, u->host) < 0 ||
	    put_raw(u->url, sizeof(u->url), &n, v6 ? "]" : "") < 0 || put_raw(u->url, sizeof(u->url), &n, port) < 0 ||
	    (u->path[0] != '/' && put_raw(u->url, sizeof(u->url), &n, "/~/") < 0) ||
	    /* an absolute path's leading '~' is a name, not the login folder */
	    (u->path[0] == '/' && u->path[1] == '~' && put_raw(u->url, sizeof(u->url), &n, "/%7E") < 0) ||
	    put_enc(u->url, sizeof(u->url), &n, u->path + (u->path[0] == '/' && u->path[1] == '~' ? 2 : 0), "?#") < 0)
		return dsync_error_set(DSYNC_EUSAGE, "'%s': the address is too long", dsync_quote(q, in));
	if ((u->user[0] && (put_raw(u->label, sizeof(u->label), &l, u->user) < 0 ||
			    put_raw(u->label, sizeof(u->label), &l, "@") < 0)) ||
	    put_raw(u->label, sizeof(u->label), &l, v6 ? "[" : "") < 0 ||
	    put_raw(u->label, sizeof(u->label), &l, u->host) < 0 || put_raw(u->label, sizeof(u->label), &l, v6 ? "]" : "") < 0 ||
	    put_raw(u->label, sizeof(u->label), &l, port) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "'%s': the address is too long", dsync_quote(q, in));
	return 0;
}

int dsync_sftp_url_parse(const char *in, dsync_sftp_url *out)
{
	char q[DSYNC_QUOTE_SIZE];
	size_t skip;
	int error;

	memset(out, 0, sizeof(*out));
	if (!dsync_sftp_url_is_ssh(in)) {
		if (has_scheme(in))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': not an sftp:// or ssh:// address", dsync_quote(q, in));
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is a local path, not an ssh address", dsync_quote(q, in));
	}
	if ((skip = ssh_scheme(in)) != 0)
		error = parse_url(out, in, skip);
	else
		error = parse_scp(out, in);
	if (error == 0)
		error = normalise(out, in);
	if (error < 0) {
		memset(out, 0, sizeof(*out));
		return error;
	}
	return 0;
}
