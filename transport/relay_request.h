/*
 * The relay's request handling without sockets (docs/relay-protocol.md
 * sections 3 to 8): routing, limits, authentication, signatures, writer
 * rules, quota and every endpoint, in relay_server.c.  relay_http.c drives
 * it from libmicrohttpd; tests/fuzz/fuzz_relay_request.c drives the same
 * code through relay_request(), so what the fuzzer reaches is what the
 * network reaches.
 */
#ifndef DSYNC_TRANSPORT_RELAY_REQUEST_H
#define DSYNC_TRANSPORT_RELAY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "dsync/relay.h"

typedef struct relay_srv relay_srv;
typedef struct relay_req relay_req;

/* Opens the storage of C (relay_store.h: the data folder) and makes the
 * start-up secrets (EPOCH, the random TH compared against for unknown
 * groups).  SUSPEND and RESUME park
 * and wake the connection a request was given (relay_req_new's CONN); NULL
 * for callers without connections (the fuzzer). */
int relay_srv_open(relay_srv **out, const dsync_relay_config *c, void (*suspend)(void *conn),
		   void (*resume)(void *conn));
void relay_srv_close(relay_srv *s);
/* Wakes every parked request whose time has come (a poll's timeout, a 403's
 * delay); the timer thread calls it every few tens of milliseconds. */
void relay_srv_tick(relay_srv *s);
/* Stop: every parked request is woken (polls answer "changed 0") and no new
 * upload starts. */
void relay_srv_shutdown(relay_srv *s);
/* Uploads whose body is still arriving. */
unsigned relay_srv_uploads(relay_srv *s);
/* One line on the configured log. */
void relay_srv_log(relay_srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define RELAY_RESP_HEADERS 10

/* An answer: STATUS, headers, and a body in BODY or, when FD >= 0, LEN
 * bytes of FD from OFF (a blob; the response owns FD). */
typedef struct relay_resp {
	unsigned status;
	dsync_buf body;
	int fd;
	uint64_t off, len;
	size_t nh;
	struct {
		const char *name;
		char value[160];
	} h[RELAY_RESP_HEADERS];
} relay_resp;

/* What the front end does next with a request. */
typedef enum relay_next {
	RELAY_ANSWER = 0,  /* queue relay_req_resp() */
	RELAY_BODY,        /* hand over the body: relay_req_body() then relay_req_end() */
	RELAY_PARK         /* the request was parked (suspended): wait for RESUME, then relay_req_resume() */
} relay_next;

/* A request: METHOD, URL (the path without its query), the caller's address
 * PEER (text; NULL: unknown), CONN the front end's handle for parking.
 * NULL when out of memory. */
relay_req *relay_req_new(relay_srv *s, const char *method, const char *url, const char *peer, void *conn);
/* Each request header, then each query argument (values as they came). */
void relay_req_header(relay_req *r, const char *name, const char *value);
void relay_req_arg(relay_req *r, const char *key, const char *value);
/* Decides everything that can be decided before the body. */
relay_next relay_req_start(relay_req *r);
/* A piece of the body; RELAY_BODY to go on, RELAY_ANSWER when the answer
 * is known already (the rest of the body is to be discarded), -1 to drop
 * the connection (a body slower than 1 KiB/s over 60 s). */
int relay_req_body(relay_req *r, const void *data, size_t len);
/* The whole body arrived. */
relay_next relay_req_end(relay_req *r);
/* A parked request was woken. */
relay_next relay_req_resume(relay_req *r);
relay_resp *relay_req_resp(relay_req *r);
/* Ends the request: an upload still open is abandoned (a resumable one
 * kept), a parked request leaves its waiting list. */
void relay_req_free(relay_req *r);

/* One request through the same path without a socket (the fuzzer): HEADERS
 * holds NH name/value pairs, URL may have a query; a poll that would wait
 * is answered as its timeout would be, a delayed 403 at once.  *STATUS and
 * BODY (a blob's bytes read from its file, at most 1 MiB) get the answer. */
int relay_request(relay_srv *s, const char *method, const char *url, const char *const *headers, size_t nh,
		  const void *body, size_t len, unsigned *status, dsync_buf *out);

#endif
