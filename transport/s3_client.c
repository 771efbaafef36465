/*
 * The S3 client's handle and requests (transport/s3_client.h, s3_int.h):
 * one kept-alive CURL handle signing with SigV4 (libcurl's own), one
 * request with its reply's headers read as untrusted bytes, the retries,
 * and refusals in our own words (the server's text is never shown; only
 * its error Code, when it is a plain token).
 */
#include "core/base/internal.h"

#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/s3_client.h"
#include "transport/s3_int.h"
#include "transport/s3_xml.h"

#define HEADER_LINE_MAX 1024

/* ---- keys and escapes */

bool dsync_s3_key_ok(const char *key, size_t len)
{
	size_t i, comp = 0;

	if (len == 0)
		return false;
	for (i = 0; i <= len; i++) {
		int c = i < len ? (unsigned char)key[i] : '/';

		if (c == '/') {
			if (comp == 0 || (comp == 1 && key[i - 1] == '.') ||
			    (comp == 2 && key[i - 1] == '.' && key[i - 2] == '.'))
				return false;
			comp = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '_' || c == '.') {
			comp++;
		} else {
			return false;
		}
	}
	return true;
}

int dsync_s3_key_check(const dsync_s3 *c, const char *key)
{
	char q[DSYNC_QUOTE_SIZE];
	size_t len = strnlen(key, 1025);

	if (!dsync_s3_key_ok(key, len) || strlen(c->root) + len > 1024)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a key dsync keeps in the bucket at %s", dsync_quote(q, key),
				       c->who);
	return 0;
}

int dsync_s3_escape(dsync_buf *b, const char *s, bool slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int error;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '_' || ch == '.' || ch == '~' || (slash && ch == '/'))
			error = dsync_buf_put(b, s, 1);
		else
			error = dsync_buf_printf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
		if (error < 0)
			return error;
	}
	return 0;
}

/* ---- reply headers */

static bool header_is(const char *line, size_t name_len, const char *name)
{
	return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* "bytes START-END/TOTAL" */
static int parse_range(s3_req *r, const char *v)
{
	const char *dash, *slash;
	uint64_t end;

	if (strncmp(v, "bytes ", 6) != 0)
		return -1;
	v += 6;
	if (!(dash = strchr(v, '-')) || !(slash = strchr(dash, '/')))
		return -1;
	if (dsync_s3_dec_u64(&r->range_start, v, (size_t)(dash - v)) < 0 ||
	    dsync_s3_dec_u64(&end, dash + 1, (size_t)(slash - dash - 1)) < 0 ||
	    dsync_s3_dec_u64(&r->range_total, slash + 1, strlen(slash + 1)) < 0 || end < r->range_start ||
	    end >= r->range_total)
		return -1;
	return 0;
}

static void on_header_line(s3_req *r, const char *line, size_t len)
{
	char buf[HEADER_LINE_MAX + 1];
	const char *v;
	size_t name_len, vlen;
	uint64_t n = 0;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* a new reply (a 100 Continue comes before the real one) */
		const char *sp = memchr(line, ' ', len);
		uint64_t status = 0;

		r->status = 0;
		r->bad = r->has_length = r->has_range = r->has_etag = false;
		r->etag[0] = '\0';
		r->mtime = 0;
		if (!sp || (size_t)(line + len - sp) < 4 || dsync_s3_dec_u64(&status, sp + 1, 3) < 0 || status < 100)
			r->bad = true;
		r->status = (long)status;
		return;
	}
	if (len == 0 || len > HEADER_LINE_MAX)
		return;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (!(v = memchr(buf, ':', len)))
		return;
	name_len = (size_t)(v - buf);
	for (v++; *v == ' ' || *v == '\t'; v++)
		;
	vlen = strlen(v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	buf[v - buf + (ptrdiff_t)vlen] = '\0';
	if (header_is(buf, name_len, "Content-Length")) {
		if (dsync_s3_dec_u64(&n, v, vlen) < 0 || (r->has_length && n != r->length))
			r->bad = true;
		r->has_length = true;
		r->length = n;
	} else if (header_is(buf, name_len, "ETag")) {
		if (r->has_etag || dsync_s3_xml_etag(r->etag, v, vlen) < 0)
			r->bad = true;
		r->has_etag = true;
	} else if (header_is(buf, name_len, "Content-Range")) {
		if (r->has_range || parse_range(r, v) < 0)
			r->bad = true;
		r->has_range = true;
	} else if (header_is(buf, name_len, "Last-Modified")) {
		time_t t = curl_getdate(v, NULL);

		r->mtime = t > 0 ? t : 0;
	}
}

static bool ok_status(long st)
{
	return st >= 200 && st < 300;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ctx)
{
	s3_req *r = ctx;
	size_t len = size * nitems;

	on_header_line(r, data, len);
	/* a body announced over the caller's bound is refused before it comes */
	if (r->max && ok_status(r->status) && strcmp(r->method, "HEAD") != 0 &&
	    ((r->status == 200 && r->has_length && r->length > r->max) ||
	     (r->status == 206 && r->has_range && r->range_total > r->max))) {
		r->too_big = true;
		return 0;
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *ctx)
{
	s3_req *r = ctx;
	size_t len = size * nitems, done = 0;

	if (!ok_status(r->status)) {
		/* a refusal's body is read to its bound, no further (an endless one
		 * would hold us until the stall limit): its Code is then unknown */
		if (r->err.len + len > S3_ERR_BODY_MAX) {
			dsync_buf_truncate(&r->err, 0);
			r->err_over = true;
			return 0;
		}
		(void)dsync_buf_put(&r->err, data, len);
		return len;
	}
	if (r->max && r->max_offset + r->got + len > r->max) {
		r->too_big = true;
		return 0;
	}
	if (r->out) {
		if (dsync_buf_put(r->out, data, len) < 0) {
			r->too_big = true;
			return 0;
		}
	} else if (r->out_fd >= 0) {
		while (done < len) {
			ssize_t n = write(r->out_fd, data + done, len - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				dsync_error_sys(n < 0 ? errno : ENOSPC, "cannot write what the S3 server sent");
				r->sink_failed = true;
				return 0;
			}
			done += (size_t)n;
		}
	} else if (r->got + len > S3_ERR_BODY_MAX) {
		r->too_big = true;
		return 0;
	}
	r->got += len;
	return len;
}

static size_t on_read(char *data, size_t size, size_t nitems, void *ctx)
{
	s3_req *r = ctx;
	size_t want = size * nitems;

	if (want > r->len - r->sent)
		want = r->len - r->sent;
	if (want == 0)
		return 0;
	memcpy(data, (const char *)r->body + r->sent, want);
	r->sent += want;
	return want;
}

/* libcurl sends a body again (a kept-alive connection found closed) */
static int on_seek(void *ctx, curl_off_t offset, int origin)
{
	s3_req *r = ctx;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

typedef struct xfer_ctx {
	s3_req *r;
	uint64_t last;
} xfer_ctx;

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	xfer_ctx *x = ctx;
	uint64_t now = x->r->xfer_base + (uint64_t)(x->r->has_body ? ulnow : dlnow);

	(void)dltotal, (void)ultotal;
	if (x->r->xfer && now != x->last) {
		x->last = now;
		x->r->xfer(now, x->r->payload);
	}
	return 0;
}

/* ---- one request */

void dsync_s3_req_init(s3_req *r, const char *method, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->key = key;
	r->out_fd = -1;
	dsync_buf_init(&r->err, S3_ERR_BODY_MAX);
}

void dsync_s3_req_dispose(s3_req *r)
{
	dsync_buf_dispose(&r->err);
}

static int add_header(struct curl_slist **list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int add_header(struct curl_slist **list, const char *fmt, ...)
{
	dsync_buf line = DSYNC_BUF_INIT;
	struct curl_slist *l;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || dsync_buf_grow(&line, (size_t)n + 1) < 0)
		return dsync_error_oom();
	va_start(ap, fmt);
	vsnprintf(line.ptr, (size_t)n + 1, fmt, ap);
	va_end(ap);
	l = curl_slist_append(*list, line.ptr);
	sodium_memzero(line.ptr, (size_t)n); /* a session token's header */
	dsync_buf_dispose(&line);
	if (!l)
		return dsync_error_oom();
	*list = l;
	return 0;
}

static int headers(dsync_s3 *c, const s3_req *r, struct curl_slist **list)
{
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	int error;

	/* the body's hash, signed: a body changed on the way is refused (RGW checks it) */
	crypto_hash_sha256(sum, (const unsigned char *)(r->body ? r->body : ""), r->has_body ? r->len : 0);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	if ((error = add_header(list, "x-amz-content-sha256: %s", hex)) < 0)
		return error;
	if (c->cr.token && (error = add_header(list, "x-amz-security-token: %s", c->cr.token)) < 0)
		return error;
	if (r->if_match && (error = add_header(list, "If-Match: \"%s\"", r->if_match)) < 0)
		return error;
	if (r->has_body && (error = add_header(list, "Content-Type: %s", r->content_type ? r->content_type :
					       "application/octet-stream")) < 0)
		return error;
	return 0;
}

static int request_url(dsync_s3 *c, const s3_req *r, dsync_buf *url)
{
	int error;

	if ((error = dsync_buf_puts(url, c->base)) < 0)
		return error;
	if (r->key) {
		if ((error = dsync_buf_puts(url, "/")) < 0 || (error = dsync_s3_escape(url, c->root, true)) < 0 ||
		    (error = dsync_s3_escape(url, r->key, true)) < 0)
			return error;
	} else if (!dsync_s3_url_path_style(&c->u, c->cr.style) && (error = dsync_buf_puts(url, "/")) < 0) {
		return error;
	}
	if (r->query && (error = dsync_buf_printf(url, "?%s", r->query)) < 0)
		return error;
	return 0;
}

int dsync_s3_req_once(dsync_s3 *c, s3_req *r)
{
	struct curl_slist *list = NULL;
	dsync_buf url = DSYNC_BUF_INIT;
	xfer_ctx x = { r, UINT64_MAX };
	CURL *h = c->curl;
	int error;

	r->status = 0;
	r->bad = r->has_length = r->has_range = r->has_etag = false;
	r->etag[0] = r->code[0] = '\0';
	r->mtime = 0;
	r->sent = r->got = 0;
	r->too_big = r->sink_failed = r->err_over = false;
	r->cc = CURLE_OK;
	dsync_buf_truncate(&r->err, 0);
	if (r->out)
		dsync_buf_truncate(r->out, r->out_start);
	c->status = 0;
	c->code[0] = '\0';
	if ((error = request_url(c, r, &url)) < 0 || (error = headers(c, r, &list)) < 0)
		goto out;
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url.ptr);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* resets NOBODY, UPLOAD and POST */
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(h, CURLOPT_RANGE, r->range);
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
	} else if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	curl_easy_setopt(h, CURLOPT_READDATA, r);
	curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, r->xfer ? 0L : 1L);
	r->cc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	c->status = r->status;
	if (r->sink_failed) {
		error = dsync_error_last_code() ? dsync_error_last_code() : DSYNC_ERROR;
		goto out;
	}
	if (r->too_big) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the bucket at %s is larger than it may be (over %llu bytes)",
					r->key ? r->key : "a reply", c->who,
					(unsigned long long)(r->max ? r->max : r->out ? r->out->max : S3_ERR_BODY_MAX));
		goto out;
	}
	if (r->bad) {
		/* headers we refuse (two Content-Lengths, a bad Content-Range ...),
		 * whatever libcurl made of them: never tried again */
		error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s sent a malformed reply (HTTP %ld)%s%s",
					c->u.label, r->status, r->key ? " for " : "", r->key ? r->key : "");
		goto out;
	}
	if (r->cc == CURLE_WEIRD_SERVER_REPLY || r->cc == CURLE_BAD_CONTENT_ENCODING ||
	    r->cc == CURLE_RANGE_ERROR || r->cc == CURLE_UNSUPPORTED_PROTOCOL) {
		/* libcurl refused the reply itself (a negative or doubled
		 * Content-Length, a broken status line ...): not a cut connection */
		error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s sent a malformed reply: %s", c->u.label,
					c->errbuf[0] ? c->errbuf : curl_easy_strerror(r->cc));
		goto out;
	}
	if (r->cc == CURLE_WRITE_ERROR && r->err_over)
		r->cc = CURLE_OK; /* a refusal cut at its bound: its status is known, its Code not */
	if (r->cc != CURLE_OK) {
		error = dsync_error_set(DSYNC_ERROR, "cannot reach the S3 server at %s: %s%s", c->u.label,
					c->errbuf[0] ? c->errbuf : curl_easy_strerror(r->cc),
					r->cc == CURLE_PEER_FAILED_VERIFICATION ? " (a private CA: AWS_CA_BUNDLE=FILE)" : "");
		goto out;
	}
	if (r->status < 200 ||
	    (ok_status(r->status) && r->has_length && strcmp(r->method, "HEAD") != 0 && r->length != r->got &&
	     (r->out || r->out_fd >= 0))) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the S3 server at %s sent a malformed reply (HTTP %ld)%s%s",
					c->u.label, r->status, r->key ? " for " : "", r->key ? r->key : "");
		goto out;
	}
	if (!ok_status(r->status)) {
		dsync_s3_xml_error_code(r->code, r->err.ptr ? r->err.ptr : "", r->err.len);
		memcpy(c->code, r->code, sizeof(c->code));
	}
	error = 0;
out:
	curl_slist_free_all(list);
	dsync_buf_dispose(&url);
	return error;
}

bool dsync_s3_req_is_cut(const s3_req *r)
{
	if (r->too_big || r->sink_failed || r->bad)
		return false;
	switch (r->cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
		return true;
	default:
		return false;
	}
}

void dsync_s3_backoff(int try)
{
	dsync_sleep_ms(250LL << (try < 1 ? 0 : try > 5 ? 4 : try - 1));
}

static bool server_busy(const s3_req *r)
{
	return r->status == 500 || r->status == 502 || r->status == 503 || r->status == 504 || r->status == 429;
}

bool dsync_s3_req_again(const s3_req *r, int error, int try)
{
	if (try >= S3_TRIES)
		return false;
	if (error < 0)
		return dsync_s3_req_is_cut(r) && (r->cc != CURLE_OPERATION_TIMEDOUT || try < 2);
	return server_busy(r);
}

int dsync_s3_req_perform(dsync_s3 *c, s3_req *r)
{
	int error, try = 0;

	for (;;) {
		error = dsync_s3_req_once(c, r);
		/* a read into a file that got bytes resumes in dsync_s3_get, not here */
		if (dsync_s3_req_again(r, error, ++try) && (r->out_fd < 0 || r->got == 0)) {
			dsync_s3_backoff(try);
			continue;
		}
		return error;
	}
}

/* ---- refusals */

static bool code_is(const s3_req *r, const char *code)
{
	return strcmp(r->code, code) == 0;
}

int dsync_s3_req_refused(dsync_s3 *c, const s3_req *r, const char *what)
{
	const char *key = r->key;
	long st = r->status;

	if (code_is(r, "NoSuchBucket"))
		return dsync_error_set(DSYNC_ENOTFOUND, "the S3 server at %s has no bucket '%s' (dsync remote add makes it)",
				       c->u.label, c->u.bucket);
	if (code_is(r, "QuotaExceeded") || st == 507)
		return dsync_error_set(DSYNC_ENOSPACE, "the S3 server at %s refused to %s%s%s: the quota is full",
				       c->u.label, what, key ? " " : "", key ? key : "");
	if (code_is(r, "AuthorizationHeaderMalformed") || code_is(r, "PermanentRedirect") ||
	    code_is(r, "IllegalLocationConstraintException"))
		return dsync_error_set(DSYNC_EUSAGE, "the S3 server at %s refused region '%s' for bucket '%s' (%s): set "
				       "AWS_REGION, or the profile's region in ~/.aws/config, to the bucket's", c->u.label,
				       c->cr.region, c->u.bucket, r->code);
	if (code_is(r, "RequestTimeTooSkewed"))
		return dsync_error_set(DSYNC_EAUTH, "the S3 server at %s refused the request: this machine's clock is off "
				       "by more than 15 minutes", c->u.label);
	if (st == 403 || st == 401)
		return dsync_error_set(DSYNC_EAUTH, "the S3 server at %s refused the credentials (%s): %s", c->u.label,
				       c->cr.from, r->code[0] ? r->code : "HTTP 403");
	if (st == 404)
		return dsync_error_set(DSYNC_ENOTFOUND, "%s is not in the bucket at %s", key ? key : "what was asked",
				       c->who);
	if (st >= 500)
		return dsync_error_set(DSYNC_ERROR, "the S3 server at %s failed to %s%s%s (HTTP %ld%s%s); try again later",
				       c->u.label, what, key ? " " : "", key ? key : "", st, r->code[0] ? " " : "",
				       r->code);
	return dsync_error_set(DSYNC_ERROR, "the S3 server at %s refused to %s%s%s (HTTP %ld%s%s)", c->u.label, what,
			       key ? " " : "", key ? key : "", st, r->code[0] ? " " : "", r->code);
}

const char *dsync_s3_error_code(const dsync_s3 *c)
{
	return c->code;
}

long dsync_s3_last_status(const dsync_s3 *c)
{
	return c->status;
}

const char *dsync_s3_url(const dsync_s3 *c)
{
	return c->u.url;
}

/* ---- the handle */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result;

static void global_init(void)
{
	global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int curl_setup(dsync_s3 *c, const dsync_s3_opts *o)
{
	const char *env = getenv("no_proxy"), *ca = o->ca_file ? o->ca_file : c->cr.ca_bundle;
	dsync_buf noproxy = DSYNC_BUF_INIT;
	CURL *h;
	int error;

	if ((error = dsync_curl_load()) < 0)
		return error;
	pthread_once(&global_once, global_init);
	if (global_result != CURLE_OK)
		return dsync_error_set(DSYNC_ERROR, "cannot start libcurl: %s", curl_easy_strerror(global_result));
	if (!(h = c->curl = curl_easy_init()))
		return dsync_error_oom();
	/* a server on this machine is never reached through a proxy (tests, a
	 * gateway beside its users), whatever http_proxy says */
	if (!env || !*env)
		env = getenv("NO_PROXY");
	if ((error = dsync_buf_printf(&noproxy, "127.0.0.1,localhost,::1%s%s", env && *env ? "," : "",
				      env && *env ? env : "")) < 0)
		return error;
	if (curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->u.https ? "https" : "http") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOPROXY, noproxy.ptr) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd) != CURLE_OK ||
	    (ca && curl_easy_setopt(h, CURLOPT_CAINFO, ca) != CURLE_OK)) {
		dsync_buf_dispose(&noproxy);
		return dsync_error_set(DSYNC_ERROR, "this libcurl can't be set up for S3 (it needs 7.85 or later with "
				       "AWS SigV4)");
	}
	dsync_buf_dispose(&noproxy);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->stall_s);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	else
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "dsync");
	if (o->rate_limit) {
		curl_easy_setopt(h, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)o->rate_limit);
		curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)o->rate_limit);
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	return 0;
}

int dsync_s3_open(dsync_s3 **out, const char *url, const dsync_s3_opts *o)
{
	static const dsync_s3_opts defaults = { 0 };
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_s3 *c;
	size_t n;
	int64_t part;
	int error;

	*out = NULL;
	if (!o)
		o = &defaults;
	if (!(c = calloc(1, sizeof(*c))))
		return dsync_error_oom();
	if ((error = dsync_s3_url_parse(url, &c->u)) < 0 || (error = dsync_s3_creds_find(&c->cr)) < 0)
		goto fail;
	if (o->style != DSYNC_S3_STYLE_AUTO)
		c->cr.style = o->style;
	if (c->u.ipv6 && !dsync_s3_url_path_style(&c->u, c->cr.style)) {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s': an IPv6 address takes path-style requests only", c->u.url);
		goto fail;
	}
	if (dsync_s3_url_path_style(&c->u, c->cr.style))
		error = dsync_buf_printf(&b, "%s://%s/%s", c->u.https ? "https" : "http", c->u.label, c->u.bucket);
	else
		error = dsync_buf_printf(&b, "%s://%s.%s", c->u.https ? "https" : "http", c->u.bucket, c->u.label);
	if (error < 0 || !(c->base = dsync_buf_detach(&b)))
		goto oom;
	if ((error = dsync_buf_printf(&b, "%s%s", c->u.prefix, c->u.prefix[0] ? "/" : "")) < 0 ||
	    !(c->root = dsync_buf_detach(&b)) || !(c->who = strdup(o->who ? o->who : c->u.url)))
		goto oom;
	n = strlen(c->cr.key_id) + 1 + strlen(c->cr.secret) + 1;
	if (!(c->userpwd = sodium_malloc(n)))
		goto oom;
	snprintf(c->userpwd, n, "%s:%s", c->cr.key_id, c->cr.secret);
	snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3", c->cr.region);
	part = DSYNC_TEST_KNOB("DSYNC_TEST_S3_PART", DSYNC_S3_PART_SIZE);
	c->part_size = part < S3_PART_MIN ? S3_PART_MIN : (uint64_t)part;
	c->stall_s = (long)DSYNC_TEST_KNOB("DSYNC_TEST_S3_STALL", 60);
	if (c->stall_s < 1)
		c->stall_s = 1;
	if ((error = curl_setup(c, o)) < 0)
		goto fail;
	*out = c;
	return 0;
oom:
	error = dsync_error_oom();
fail:
	dsync_buf_dispose(&b);
	dsync_s3_free(c);
	return error;
}

void dsync_s3_free(dsync_s3 *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	sodium_free(c->userpwd);
	dsync_s3_creds_dispose(&c->cr);
	free(c->base);
	free(c->root);
	free(c->who);
	free(c);
}
