/*
 * A request's way through the relay (docs/relay-protocol.md section 3), in
 * its order: limits, the name, the caller's penalty, the method, the token,
 * then the endpoint (relay_endpoints.c), which checks the signature, the
 * writer rules, the length and the quota before the body, so a refused
 * upload is never sent.  relay_http.c hands it each request of
 * libmicrohttpd; the fuzzer hands it made-up ones through relay_request().
 */
#include "core/base/internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "transport/relay_server_int.h"

/* ---------------------------------------------------------------- routing */

typedef struct route {
	dsync_relay_target_kind kind;
	const char *allow;
} route;

static const route routes[] = {
	{ DSYNC_RELAY_T_BLOB, "GET, HEAD, PUT, DELETE" },
	{ DSYNC_RELAY_T_GROUP, "GET, PUT, POST" },
	{ DSYNC_RELAY_T_LIST, "GET" },
	{ DSYNC_RELAY_T_POLL, "GET" },
	{ DSYNC_RELAY_T_USAGE, "GET" },
	{ DSYNC_RELAY_T_DEVICE, "GET, PUT, DELETE" },
	{ DSYNC_RELAY_T_UPLOAD, "HEAD" },
};

/* Whether METHOD is in ALLOW ("GET, HEAD, ..."). */
static bool allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);
	const char *p;

	for (p = allow; n && (p = strstr(p, method)) != NULL; p += n)
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

relay_next relay_req_start(relay_req *r)
{
	const char *peer = r->peer;
	relay_next next;
	size_t i;

	if (strlen(r->url) + r->abytes + strlen(r->method) > URL_MAX)
		return relay_refuse(r, 414, "uri-too-long", "the request line is over 1,024 bytes");
	if (r->hbytes > HEADERS_MAX)
		return relay_refuse(r, 431, "headers-too-large", "the headers are over 8 KiB");
	if (r->s->trust_proxy && r->h[H_XFF]) {
		/* the last entry: the one the proxy added */
		peer = strrchr(r->h[H_XFF], ',') ? strrchr(r->h[H_XFF], ',') + 1 : r->h[H_XFF];
		while (*peer == ' ')
			peer++;
		snprintf(r->peer, sizeof(r->peer), "%.*s", (int)strcspn(peer, " "), peer);
	}
	relay_penalty_key(r->key, sizeof(r->key), r->peer);
	r->path = strstr(r->url, "/v1/");
	if (!r->path || dsync_relay_target_parse(&r->t, r->path) < 0) {
		r->t.kind = DSYNC_RELAY_T_BAD;
		return relay_refuse(r, 400, "bad-name", "not a name of this relay");
	}
	if (r->bad_arg)
		return relay_refuse(r, 400, "bad-name", "a query value holds '%'");
	for (i = 0; i < A_COUNT; i++)
		if (r->an[i] > 1)
			return relay_refuse(r, 400, "bad-name", "a query argument is given twice");
	if (r->t.kind == DSYNC_RELAY_T_ROOT) {
		if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
			return relay_method_not_allowed(r, "GET, HEAD");
		relay_lines_answer(r, 200);
		dsync_buf_puts(&r->resp.body, "dsync-relay 1\n");
		return RELAY_ANSWER;
	}
	{
		int64_t wait = relay_penalty_wait(r->s, r->key);

		if (wait > 0) {
			relay_refuse(r, 429, "slow-down", "too many failures from this address");
			relay_hdr(r, "Retry-After", "%" PRId64, wait);
			return RELAY_ANSWER;
		}
	}
	for (i = 0; i < DSYNC_ARRAY_SIZE(routes); i++)
		if (routes[i].kind == r->t.kind)
			break;
	if (i == DSYNC_ARRAY_SIZE(routes))
		return relay_refuse(r, 400, "bad-name", "not a name of this relay");
	if (!allowed(routes[i].allow, r->method))
		return relay_method_not_allowed(r, routes[i].allow);
	for (i = 0; i < H_COUNT; i++)
		if (r->hn[i] > 1 && i != H_XFF && i != H_AUTH && i != H_RANGE)
			return relay_refuse(r, 400, "bad-header", "a header is given twice");
	if (r->t.kind == DSYNC_RELAY_T_GROUP && strcmp(r->method, "PUT") == 0)
		return relay_ep_group_create(r);
	if (relay_check_token(r, &next) < 0)
		return next;
	switch (r->t.kind) {
	case DSYNC_RELAY_T_BLOB:
		return relay_ep_blob(r);
	case DSYNC_RELAY_T_GROUP:
		return relay_ep_group(r);
	case DSYNC_RELAY_T_LIST:
		return relay_ep_list(r);
	case DSYNC_RELAY_T_POLL:
		return relay_ep_poll_start(r);
	case DSYNC_RELAY_T_USAGE:
		return relay_ep_usage(r);
	case DSYNC_RELAY_T_DEVICE:
		return relay_ep_device(r);
	case DSYNC_RELAY_T_UPLOAD:
		return relay_ep_upload_state(r);
	default:
		return relay_refuse(r, 400, "bad-name", "not a name of this relay");
	}
}

int relay_req_body(relay_req *r, const void *data, size_t len)
{
	time_t now;
	int error;

	if (r->failed || r->body == BODY_NONE)
		return RELAY_ANSWER;   /* the answer is set: the rest is dropped */
	if (r->got + len > r->clen || r->got + len < r->got) {
		if (r->up) {
			relay_store_upload_abort(r->s->store, r->up);
			r->up = NULL;
			relay_upload_done(r);
		}
		return relay_refuse(r, 400, "bad-body", "the body is longer than Content-Length");
	}
	r->got += len;
	if (r->body == BODY_SMALL)
		return dsync_buf_put(&r->small, data, len) < 0 ? relay_refuse(r, 413, "too-large", "the body is too long")
							      : RELAY_BODY;
	now = time(NULL);
	if (now - r->body_t0 >= SLOW_BODY_SECONDS && r->got < (uint64_t)(now - r->body_t0) * 1024) {
		relay_srv_log(r->s, "dropped %s: a body slower than 1 KiB/s", r->peer);
		return -1;
	}
	if ((error = relay_store_upload_write(r->s->store, r->up, data, len)) < 0) {
		relay_store_upload_abort(r->s->store, r->up);
		r->up = NULL;
		relay_upload_done(r);
		if (error == DSYNC_ELOCKED) {
			/* a resumed PUT of the same device took the upload over: this connection is stale */
			relay_srv_log(r->s, "dropped %s: its upload was taken over by a resumed PUT", r->peer);
			return -1;
		}
		return error == DSYNC_ENOSPACE ? relay_refuse(r, 507, "disk-full", "the relay's disk is full")
					       : relay_internal(r, error);
	}
	return RELAY_BODY;
}

relay_next relay_req_end(relay_req *r)
{
	if (r->failed || r->body == BODY_NONE)
		return r->resp.status ? RELAY_ANSWER : relay_internal(r, DSYNC_ERROR);
	if (r->body == BODY_UPLOAD)
		return relay_ep_blob_put_end(r);
	if (r->got != r->clen)
		return relay_refuse(r, 400, "short-body", "the body ended before Content-Length");
	if (r->t.kind == DSYNC_RELAY_T_DEVICE)
		return relay_ep_device_add_end(r);
	if (strcmp(r->method, "PUT") == 0)
		return relay_ep_group_create_end(r);
	return relay_ep_group_rotate_end(r);
}

relay_next relay_req_resume(relay_req *r)
{
	pthread_mutex_lock(&r->s->mu);
	if (r->park != PARK_NONE)
		relay_unpark(r->s, r);
	pthread_mutex_unlock(&r->s->mu);
	if (r->resp.status)
		return RELAY_ANSWER;   /* a delayed 403 */
	return relay_ep_poll_answer(r);
}

/* ---------------------------------------------------------------- without sockets */

int relay_request(relay_srv *s, const char *method, const char *url, const char *const *headers, size_t nh,
		  const void *body, size_t len, unsigned *status, dsync_buf *out)
{
	relay_req *r;
	char *copy, *q, *arg, *next_arg;
	relay_next next;
	size_t i, piece;

	*status = 0;
	if ((copy = strdup(url)) == NULL)
		return dsync_error_oom();
	if ((q = strchr(copy, '?')) != NULL)
		*q++ = '\0';
	if ((r = relay_req_new(s, method, copy, "127.0.0.1", NULL)) == NULL) {
		free(copy);
		return dsync_error_oom();
	}
	for (i = 0; i + 1 < nh * 2; i += 2)
		relay_req_header(r, headers[i], headers[i + 1]);
	/* as MHD parses a query: '&' between arguments, '=' in each, '+' a space */
	for (arg = q; arg && *arg; arg = next_arg) {
		char *eq, *p;

		if ((next_arg = strchr(arg, '&')) != NULL)
			*next_arg++ = '\0';
		for (p = arg; *p; p++)
			if (*p == '+')
				*p = ' ';
		if ((eq = strchr(arg, '=')) != NULL)
			*eq++ = '\0';
		relay_req_arg(r, arg, eq);
	}
	next = relay_req_start(r);
	if (next == RELAY_BODY) {
		for (i = 0; i < len; i += piece) {
			piece = len - i < 16384 ? len - i : 16384;
			if (relay_req_body(r, (const char *)body + i, piece) != RELAY_BODY)
				break;
		}
		next = relay_req_end(r);
	}
	if (next == RELAY_PARK)
		next = relay_req_resume(r);   /* as the timer would: a poll's timeout, the 403's delay */
	*status = r->resp.status;
	dsync_buf_truncate(out, 0);
	if (r->resp.fd >= 0) {
		char chunk[65536];
		uint64_t off = r->resp.off, left = r->resp.len < (1 << 20) ? r->resp.len : (1 << 20);
		ssize_t n;

		while (left > 0 && (n = pread(r->resp.fd, chunk, left < sizeof(chunk) ? left : sizeof(chunk),
					      (off_t)off)) > 0) {
			dsync_buf_put(out, chunk, (size_t)n);
			off += (uint64_t)n;
			left -= (uint64_t)n;
		}
	} else {
		dsync_buf_put(out, r->resp.body.ptr ? r->resp.body.ptr : "", r->resp.body.len);
	}
	relay_req_free(r);
	free(copy);
	return next == RELAY_ANSWER ? 0 : DSYNC_ERROR;
}
