/*
 * The relay client's HTTP exchanges (transport/relay_client.h): one request on
 * the store's kept-alive CURL handle, signed when it writes, its reply's
 * headers parsed as untrusted bytes, and refusals in our own words.
 */
#include "core/base/internal.h"

#include <pthread.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "transport/relay_client.h"

#define HEADER_LINE_MAX 1024          /* a longer header is not one of ours */
#define RETRY_AFTER_MAX 60            /* seconds we wait for a 429 or 503 at most */
#define EXPECT_MIN (1024 * 1024)      /* smaller bodies go without Expect: one round trip less */
#define FORBIDDEN "forbidden"

int dsync_relay_client_u64(uint64_t *out, const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* ---- reply headers */

static bool header_is(const char *line, size_t name_len, const char *name)
{
	return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* "bytes START-END/TOTAL" */
static int parse_range(relay_reply *r, const char *v)
{
	const char *dash, *slash;

	if (strncmp(v, "bytes ", 6) != 0)
		return -1;
	v += 6;
	if (!(dash = strchr(v, '-')) || !(slash = strchr(dash, '/')))
		return -1;
	if (dsync_relay_client_u64(&r->range_start, v, (size_t)(dash - v)) < 0 ||
	    dsync_relay_client_u64(&r->range_end, dash + 1, (size_t)(slash - dash - 1)) < 0 ||
	    dsync_relay_client_u64(&r->range_total, slash + 1, strlen(slash + 1)) < 0 || r->range_end < r->range_start ||
	    r->range_end >= r->range_total)
		return -1;
	return 0;
}

static int parse_usage(relay_reply *r, const char *v)
{
	const char *sp = strchr(v, ' ');

	if (!sp || dsync_relay_client_u64(&r->used, v, (size_t)(sp - v)) < 0 ||
	    dsync_relay_client_u64(&r->quota, sp + 1, strlen(sp + 1)) < 0)
		return -1;
	return 0;
}

/* An HTTP date, by libcurl's parser (loaded: the headers of a reply come
 * after dsync_relay_client_open(); a parser tested alone loads it here);
 * 0 when it can't be read. */
static time_t http_date(const char *v)
{
	return dsync_curl_load() == 0 ? curl_getdate(v, NULL) : 0;
}

/* A header we read, set once: a second copy is malformed. */
static bool first(relay_reply *r, bool *has)
{
	if (*has)
		r->bad = true;
	return !*has && (*has = true);
}

void dsync_relay_client_header(relay_reply *r, const char *line, size_t len)
{
	char buf[HEADER_LINE_MAX + 1], epoch[17];
	const char *v;
	size_t name_len, vlen;
	uint64_t n = 0;
	bool had;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* a new reply (a 100 Continue comes before the real one) */
		const char *sp = memchr(line, ' ', len);
		uint64_t status = 0;

		memset(r, 0, sizeof(*r));
		r->retry_after = -1;
		if (!sp || (size_t)(line + len - sp) < 4 || dsync_relay_client_u64(&status, sp + 1, 3) < 0 || status < 100)
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
		had = r->has_length;
		if (dsync_relay_client_u64(&n, v, vlen) < 0 || (had && n != r->length))
			r->bad = true;
		r->has_length = true;
		r->length = n;
	} else if (header_is(buf, name_len, "Dsync-Change")) {
		if (first(r, &r->has_change)) {
			if (vlen < sizeof(r->change) && dsync_relay_change_parse(v, epoch, &n) == 0)
				memcpy(r->change, v, vlen + 1);
			else
				r->bad = true;
		}
	} else if (header_is(buf, name_len, "Dsync-Usage")) {
		if (first(r, &r->has_usage) && parse_usage(r, v) < 0)
			r->bad = true;
	} else if (header_is(buf, name_len, "Dsync-Offset")) {
		if (first(r, &r->has_offset) && dsync_relay_client_u64(&r->offset, v, vlen) < 0)
			r->bad = true;
	} else if (header_is(buf, name_len, "ETag")) {
		/* "HEX64", quoted */
		if (first(r, &r->has_etag)) {
			if (vlen == 66 && v[0] == '"' && v[65] == '"') {
				memcpy(r->etag, v + 1, 64);
				r->etag[64] = '\0';
			}
			if (!r->etag[0] || dsync_relay_hex_parse(NULL, r->etag, 64) < 0)
				r->bad = true;
		}
	} else if (header_is(buf, name_len, "Content-Range")) {
		if (first(r, &r->has_range) && parse_range(r, v) < 0)
			r->bad = true;
	} else if (header_is(buf, name_len, "Retry-After")) {
		if (dsync_relay_client_u64(&n, v, vlen) < 0)
			n = 1;
		r->retry_after = n > 86400 ? 86400 : (long)n;
	} else if (header_is(buf, name_len, "Date")) {
		time_t t = http_date(v);

		r->date = t > 0 ? t : 0;
	} else if (header_is(buf, name_len, "Last-Modified")) {
		time_t t = http_date(v);

		r->last_modified = t > 0 ? t : 0;
	}
}

/* ---- callbacks */

static size_t on_header(char *data, size_t size, size_t nitems, void *ctx)
{
	relay_call *r = ctx;
	size_t len = size * nitems;

	dsync_relay_client_header(&r->reply, data, len);
	/* a 2xx body announced over the caller's bound is refused before it comes */
	if (r->reply.has_length && r->reply.status >= 200 && r->reply.status < 300 && r->max &&
	    r->reply.length > r->max && strcmp(r->method, "HEAD") != 0) {
		r->too_big = true;
		return 0;
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *ctx)
{
	relay_call *r = ctx;
	size_t len = size * nitems, done = 0;

	if (r->reply.status < 200 || r->reply.status >= 300)
		return dsync_buf_put(&r->err, data, len) < 0 ? 0 : len; /* past its bound: the reply is malformed */
#ifdef DSYNC_TESTING
	/* DSYNC_TEST_RELAY_CUT: the first whole read of a store is cut there too */
	if (r->out_fd >= 0 && !r->range && r->store->cut_at && !r->store->cut_get_done &&
	    r->got + len > r->store->cut_at) {
		r->store->cut_get_done = true;
		r->cut_by_test = true;
		return 0;
	}
#endif
	if (r->max && r->got + len > r->max) {
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
				dsync_error_sys(n < 0 ? errno : ENOSPC, "cannot write what the relay sent");
				r->sink_failed = true;
				return 0;
			}
			done += (size_t)n;
		}
	} else if (r->got + len > RELAY_ERROR_BODY_MAX) {
		r->too_big = true; /* a body where none was expected: a little is dropped, not more */
		return 0;
	} else {
		r->got += len;
		return len;
	}
	if (r->hash)
		crypto_generichash_update(r->hash, (const unsigned char *)data, len);
	r->got += len;
	return len;
}

static size_t on_read(char *data, size_t size, size_t nitems, void *ctx)
{
	relay_call *r = ctx;
	size_t want = size * nitems;
	ssize_t n;

	if (want > r->len - r->sent)
		want = (size_t)(r->len - r->sent);
	if (want == 0)
		return 0;
#ifdef DSYNC_TESTING
	/* DSYNC_TEST_RELAY_CUT: the first upload of a store is cut after that many bytes */
	if (r->upload && r->store->cut_at && !r->store->cut_done && r->range_start + r->sent >= r->store->cut_at) {
		r->store->cut_done = true;
		r->cut_by_test = true;
		return CURL_READFUNC_ABORT;
	}
#endif
	if (r->mem) {
		memcpy(data, (const char *)r->mem + r->sent, want);
		r->sent += want;
		return want;
	}
	do
		n = pread(r->fd, data, want, (off_t)(r->fd_off + r->sent));
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		dsync_error_sys(n < 0 ? errno : EIO, "cannot read the blob to upload");
		r->sink_failed = true;
		return CURL_READFUNC_ABORT;
	}
	r->sent += (uint64_t)n;
	return (size_t)n;
}

typedef struct xfer_ctx {
	relay_call *r;
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

/* ---- the request */

void dsync_relay_call_init(relay_call *r, const char *method, const char *target, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->target = target;
	r->name = name;
	r->fd = -1;
	r->out_fd = -1;
	dsync_buf_init(&r->err, RELAY_ERROR_BODY_MAX);
}

void dsync_relay_call_dispose(relay_call *r)
{
	dsync_buf_dispose(&r->err);
}

static int add_header(struct curl_slist **list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int add_header(struct curl_slist **list, const char *fmt, ...)
{
	char line[512];
	struct curl_slist *l;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || !(l = curl_slist_append(*list, line)))
		return dsync_error_oom();
	*list = l;
	return 0;
}

/* Section 8's four headers over M for R (path from "/v1/" on, no query). */
static int sign(relay_store *s, const relay_call *r, struct curl_slist **list)
{
	unsigned char nonce[16], sig[DSYNC_RELAY_SIG_BYTES];
	char nonce_hex[DSYNC_RELAY_NONCE_HEX], sig_hex[2 * DSYNC_RELAY_SIG_BYTES + 1], total[24] = "";
	dsync_buf path = DSYNC_BUF_INIT, m = DSYNC_BUF_INIT;
	int64_t now = (int64_t)time(NULL) + s->clock_offset;
	int error;

	randombytes_buf(nonce, sizeof(nonce));
	dsync_relay_hex(nonce_hex, nonce, sizeof(nonce));
	/* TOTAL is a PUT's alone: a POST signs its body's hash and "" (section 8) */
	if (r->body_hash && strcmp(r->method, "PUT") == 0)
		snprintf(total, sizeof(total), "%llu", (unsigned long long)r->total);
	if ((error = dsync_buf_printf(&path, "/v1/%s/%s", s->gid, r->target)) < 0 ||
	    (error = dsync_relay_sig_message(&m, r->method, path.ptr, s->gid, r->body_hash ? r->body_hash : "",
					     total, now, nonce_hex)) < 0)
		goto out;
	crypto_sign_detached(sig, NULL, (const unsigned char *)m.ptr, m.len, s->sk);
	dsync_relay_hex(sig_hex, sig, sizeof(sig));
	if ((error = add_header(list, "Dsync-Device: %s", s->device)) < 0 ||
	    (error = add_header(list, "Dsync-Time: %lld", (long long)now)) < 0 ||
	    (error = add_header(list, "Dsync-Nonce: %s", nonce_hex)) < 0 ||
	    (error = add_header(list, "Dsync-Signature: %s", sig_hex)) < 0)
		goto out;
	error = 0;
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&m);
	return error;
}

static int headers(relay_store *s, const relay_call *r, struct curl_slist **list)
{
	int error;

	if (r->target && (error = add_header(list, "%s", s->auth)) < 0)
		return error;
	if (r->body_hash && strcmp(r->method, "PUT") == 0 &&
	    (error = add_header(list, "Dsync-Body-Hash: %s", r->body_hash)) < 0)
		return error;
	if (r->admission && (error = add_header(list, "Dsync-Admission: %s", r->admission)) < 0)
		return error;
	if (r->upload &&
	    ((error = add_header(list, "Dsync-Upload: %s", r->upload)) < 0 ||
	     (error = add_header(list, "Content-Range: bytes %llu-%llu/%llu", (unsigned long long)r->range_start,
				 (unsigned long long)(r->total - 1), (unsigned long long)r->total)) < 0))
		return error;
	if (r->has_body && r->len < EXPECT_MIN && (error = add_header(list, "Expect:")) < 0)
		return error;
	if (r->has_body && (error = add_header(list, "Content-Type: application/octet-stream")) < 0)
		return error;
	if (r->sign && (error = sign(s, r, list)) < 0)
		return error;
	return 0;
}

/* One exchange, no retries. */
static int exchange(relay_store *s, relay_call *r)
{
	struct curl_slist *list = NULL;
	dsync_buf url = DSYNC_BUF_INIT;
	xfer_ctx x = { r, UINT64_MAX };
	CURL *c = s->curl;
	int error;

	r->store = s;
	memset(&r->reply, 0, sizeof(r->reply));
	r->reply.retry_after = -1;
	r->code[0] = '\0';
	r->sent = r->got = 0;
	r->too_big = r->sink_failed = r->cut_by_test = false;
	dsync_buf_truncate(&r->err, 0);
	if (r->out)
		dsync_buf_truncate(r->out, 0);
	if (r->target)
		error = dsync_buf_printf(&url, "%sv1/%s/%s", s->root, s->gid, r->target);
	else
		error = dsync_buf_printf(&url, "%sv1/", s->root);
	if (error < 0 || (error = headers(s, r, &list)) < 0)
		goto out;
	s->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url.ptr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L); /* resets NOBODY and UPLOAD */
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(c, CURLOPT_RANGE, r->range);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
	} else if (strcmp(r->method, "POST") == 0) {
		/* the body from on_read, as a PUT's (no POSTFIELDS: libcurl then reads) */
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	}
	curl_easy_setopt(c, CURLOPT_READDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, r->xfer ? 0L : 1L);
	r->cc = curl_easy_perform(c);
#ifdef DSYNC_TESTING
	s->requests++;
	s->bytes_sent += r->sent;
	s->bytes_received += r->got;
#endif
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	if (r->sink_failed) {
		error = dsync_error_last_code() ? dsync_error_last_code() : DSYNC_ERROR;
		goto out;
	}
	if (r->too_big) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s on relay '%s' is larger than it may be (over %llu bytes)",
					r->name ? r->name : "a reply", s->who, (unsigned long long)r->max);
		goto out;
	}
	if (r->cc != CURLE_OK) {
		error = dsync_error_set(DSYNC_ERROR, "cannot reach relay '%s': %s", s->who,
					s->errbuf[0] ? s->errbuf : curl_easy_strerror(r->cc));
		goto out;
	}
	if (r->reply.bad || r->reply.status < 200 ||
	    (r->reply.status < 300 && r->target && !r->reply.has_change) ||
	    (r->reply.status < 300 && r->reply.has_length && !r->too_big && strcmp(r->method, "HEAD") != 0 &&
	     r->reply.length != r->got)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "relay '%s' sent a malformed reply (HTTP %ld)%s%s", s->who,
					r->reply.status, r->name ? " for " : "", r->name ? r->name : "");
		goto out;
	}
	if (r->reply.status >= 300) {
		dsync_relay_lines l;
		const char *code;
		size_t i;

		if (dsync_relay_lines_parse(&l, r->err.ptr ? r->err.ptr : "", r->err.len) == 0) {
			if ((code = dsync_relay_lines_get(&l, "error")) && strlen(code) < sizeof(r->code)) {
				for (i = 0; code[i] && ((code[i] >= 'a' && code[i] <= 'z') || code[i] == '-'); i++)
					;
				if (!code[i])
					memcpy(r->code, code, i + 1);
			}
			dsync_relay_lines_dispose(&l);
		}
	}
	error = 0;
out:
	curl_slist_free_all(list);
	dsync_buf_dispose(&url);
	return error;
}

void dsync_relay_client_backoff(int try)
{
	dsync_sleep_ms((int64_t)(try < 1 ? 1 : try > 4 ? 10 : 1L << (try - 1)) * 1000);
}

int dsync_relay_call_perform(relay_store *s, relay_call *r)
{
	bool waited = false, skewed = false;
	int error;

	for (;;) {
		if ((error = exchange(s, r)) < 0)
			return error;
		if ((r->reply.status == 429 || r->reply.status == 503) && !waited &&
		    r->reply.retry_after <= RETRY_AFTER_MAX) {
			waited = true;
			dsync_sleep_ms((int64_t)(r->reply.retry_after < 1 ? 1 : r->reply.retry_after) * 1000);
			continue;
		}
		if (r->reply.status == 403 && r->sign && !skewed && strcmp(r->code, "clock-skew") == 0 &&
		    r->reply.date) {
			skewed = true;
			s->clock_offset = (int64_t)r->reply.date - (int64_t)time(NULL);
			continue;
		}
		return 0;
	}
}

bool dsync_relay_call_is_cut(const relay_call *r)
{
	if (r->cut_by_test)
		return true;
	switch (r->cc) {
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
		return !r->too_big && !r->sink_failed;
	default:
		return false;
	}
}

void dsync_relay_call_note_usage(relay_store *s, const relay_call *r)
{
	if (r->reply.has_usage) {
		s->have_usage = true;
		s->used = r->reply.used;
		s->quota = r->reply.quota;
	}
}

/* ---- refusals in our own words */

static int refused_403(relay_store *s, const relay_call *r, const char *what, const char *name)
{
	static const struct {
		const char *code, *text;
	} why[] = {
		{ "bad-admission", "the passphrase does not admit devices to the group" },
		{ "unknown-device", "this device is not registered in the group (join it again)" },
		{ "bad-signature", "the device's signature was refused (its key is not the one registered)" },
		{ "clock-skew", "this device's clock is more than 5 minutes off the relay's" },
		{ "replayed", "the request was taken for a replay" },
	};
	char q[DSYNC_QUOTE_SIZE];
	size_t i;

	if (strcmp(r->code, FORBIDDEN) == 0 || !r->code[0]) {
		/* the relay's delay of a wrong token already spaces out retries: none here */
		return dsync_error_set(DSYNC_EAUTH,
				       "relay '%s' refused group '%s': wrong passphrase, or no such group%s%s", s->base.url,
				       dsync_quote(q, s->group), s->hint ? "; " : "", s->hint ? s->hint : "");
	}
	for (i = 0; i < DSYNC_ARRAY_SIZE(why); i++)
		if (strcmp(r->code, why[i].code) == 0)
			return dsync_error_set(DSYNC_EAUTH, "relay '%s' refused to %s%s%s: %s", s->who, what,
					       name ? " " : "", name ? name : "", why[i].text);
	return dsync_error_set(DSYNC_EAUTH, "relay '%s' refused to %s%s%s (%s)", s->who, what, name ? " " : "",
			       name ? name : "", r->code);
}

static int refused_409(relay_store *s, const relay_call *r, const char *what, const char *name)
{
	const char *n = name ? name : "it";

	if (strcmp(r->code, "exists") == 0) {
		if (name && strncmp(name, "packs/", 6) == 0)
			return dsync_error_set(DSYNC_EEXISTS,
					       "relay '%s' holds pack %s written by another device of the group: this "
					       "device can't replace it (a member squatted its name?)", s->who, name);
		return dsync_error_set(DSYNC_EEXISTS, "relay '%s' already holds %s, which is written once", s->who, n);
	}
	if (strcmp(r->code, "not-writer") == 0)
		return dsync_error_set(DSYNC_EAUTH, "relay '%s' refused to %s %s: another device of the group wrote it",
				       s->who, what, n);
	if (strcmp(r->code, "seq-not-newer") == 0)
		return dsync_error_set(DSYNC_EAUTH,
				       "relay '%s' refused to %s %s: this device already wrote a newer manifest there",
				       s->who, what, n);
	if (strcmp(r->code, "device-exists") == 0)
		return dsync_error_set(DSYNC_EAUTH,
				       "relay '%s' already has device %s in group '%s' with another key; this device can't "
				       "take its id", s->who, s->device, s->group);
	if (strcmp(r->code, "too-many-devices") == 0)
		return dsync_error_set(DSYNC_ENOSPACE, "relay '%s' refused device %s: group '%s' has as many devices as "
				       "it may", s->who, s->device, s->group);
	if (strcmp(r->code, "last-key") == 0)
		return dsync_error_set(DSYNC_EUSAGE, "relay '%s' refused to remove %s: it is the group's last key blob",
				       s->who, n);
	return dsync_error_set(DSYNC_ERROR, "relay '%s' refused to %s %s (%s)", s->who, what, n,
			       r->code[0] ? r->code : "conflict");
}

int dsync_relay_call_refused(relay_store *s, const relay_call *r, const char *what)
{
	const char *name = r->name;
	char size[32];
	long st = r->reply.status;

	switch (st) {
	case 403:
		return refused_403(s, r, what, name);
	case 404:
		return dsync_error_set(DSYNC_ENOTFOUND, "%s is not on relay '%s'", name ? name : "what was asked", s->who);
	case 409:
		return refused_409(s, r, what, name);
	case 413:
		return dsync_error_set(DSYNC_ENOSPACE, "relay '%s' refused %s: larger than the relay accepts", s->who,
				       name ? name : "the request");
	case 429:
		return dsync_error_set(DSYNC_ERROR, "relay '%s' asks this address to slow down (too many refused "
				       "requests); try again later", s->who);
	case 507:
		if (strcmp(r->code, "too-many-blobs") == 0)
			return dsync_error_set(DSYNC_ENOSPACE, "relay '%s' refused the upload: the group holds as many "
					       "blobs as the relay allows", s->who);
		if (strcmp(r->code, "disk-full") == 0)
			return dsync_error_set(DSYNC_ENOSPACE, "relay '%s' refused the upload: the relay's disk is full",
					       s->who);
		if (strcmp(r->code, "relay-full") == 0)
			return dsync_error_set(DSYNC_ENOSPACE, "relay '%s' refused to make group '%s': it holds as many "
					       "groups as it may", s->who, s->group);
		if (s->have_usage && s->quota)
			return dsync_error_set(DSYNC_ENOSPACE, "relay '%s' refused the upload: the group's quota (%s) is "
					       "full", s->who, dsync_size_text(size, sizeof(size), s->quota));
		return dsync_error_set(DSYNC_ENOSPACE, "relay '%s' refused the upload: the group's quota is full",
				       s->who);
	default:
		break;
	}
	if (st >= 500)
		return dsync_error_set(DSYNC_ERROR, "cannot reach relay '%s': it failed (HTTP %ld%s%s)", s->who, st,
				       r->code[0] ? " " : "", r->code);
	if (st == 400 && strcmp(r->code, "hash-mismatch") == 0)
		return dsync_error_set(DSYNC_ERROR, "relay '%s' refused %s: it changed while it was sent", s->who,
				       name ? name : "the upload");
	return dsync_error_set(DSYNC_ERROR, "relay '%s' refused to %s%s%s (HTTP %ld%s%s)", s->who, what,
			       name ? " " : "", name ? name : "", st, r->code[0] ? " " : "", r->code);
}

/* ---- the handle */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result;

static void global_init(void)
{
	global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int dsync_relay_client_open(relay_store *s, const char *ca_file, uint64_t rate)
{
	const char *env = getenv("no_proxy");
	dsync_buf noproxy = DSYNC_BUF_INIT;
	CURL *c;
	int error;

	if ((error = dsync_curl_load()) < 0)
		return error;
	pthread_once(&global_once, global_init);
	if (global_result != CURLE_OK)
		return dsync_error_set(DSYNC_ERROR, "cannot start libcurl: %s", curl_easy_strerror(global_result));
	if (!(c = s->curl = curl_easy_init()))
		return dsync_error_oom();
	/* A relay on this machine is never reached through a proxy (tests, a
	 * relay beside its devices), whatever http_proxy says; the user's own
	 * no_proxy list still holds for the rest, as libcurl reads it. */
	if (!env || !*env)
		env = getenv("NO_PROXY");
	if ((error = dsync_buf_printf(&noproxy, "127.0.0.1,localhost,::1%s%s", env && *env ? "," : "",
				      env && *env ? env : "")) < 0)
		return error;
	if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOPROXY, noproxy.ptr) != CURLE_OK ||
	    (ca_file && curl_easy_setopt(c, CURLOPT_CAINFO, ca_file) != CURLE_OK)) {
		dsync_buf_dispose(&noproxy);
		return dsync_error_set(DSYNC_ERROR, "this libcurl can't be set up for relays (it needs 7.85 or later)");
	}
	dsync_buf_dispose(&noproxy); /* libcurl keeps its own copy of every string option */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* the watcher polls from its own thread */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "dsync");
	if (rate) {
		curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)rate);
		curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)rate);
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	return 0;
}
