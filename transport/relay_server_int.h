/*
 * What relay_server.c (answers, authentication, the server's tables),
 * relay_route.c (a request's way through them) and relay_endpoints.c (each
 * endpoint of docs/relay-protocol.md sections 4 to 8) share: the server's
 * and a request's state, and the helpers that build answers and check a
 * request.  Internal to those three files.
 */
#ifndef DSYNC_TRANSPORT_RELAY_SERVER_INT_H
#define DSYNC_TRANSPORT_RELAY_SERVER_INT_H

#include <arpa/inet.h>
#include <pthread.h>
#include <time.h>

#include "transport/relay_store.h"
#include "transport/relay_proto.h"
#include "transport/relay_request.h"

#define URL_MAX 1024                 /* request line + path: 414 beyond */
#define HEADERS_MAX (8 * 1024)       /* all headers together: 431 beyond */
#define SMALL_BODY_MAX 1024          /* .group and .device bodies */
#define DELAY_403_MS 250
#define PENALTY_FROM 5               /* failures before 429 */
#define PENALTY_WINDOW 600           /* seconds a failure counts */
#define PENALTY_CAP 900              /* the longest wait */
#define PENALTY_SLOTS 65536
#define PENALTY_PROBES 8
#define NONCE_SLOTS 65536
#define NONCE_PROBES 16
#define NONCE_KEEP 600               /* seconds a (device, nonce) is remembered */
#define POLL_TIMEOUT_DEFAULT 25
#define POLL_TIMEOUT_MAX 55
#define SLOW_BODY_SECONDS 60         /* a body under 1 KiB/s over this long is dropped */
#define UPLOAD_MAX_AGE (24 * 3600)
#define SWEEP_PERIOD 3600            /* seconds between the store's sweeps (old uploads, a bucket's leftovers) */
#define SWEEP_FIRST 300              /* seconds after the start to the first one (a restart cleans up) */
#define GROUP_BUCKETS 256

enum { H_AUTH, H_LEN, H_TE, H_HASH, H_DEV, H_TIME, H_NONCE, H_SIG, H_UPLOAD, H_CRANGE, H_ADMIT, H_RANGE, H_XFF,
       H_COUNT };

enum { A_PREFIX, A_AFTER, A_LIMIT, A_SINCE, A_TIMEOUT, A_COUNT };

/* What a request's body is for. */
enum { BODY_NONE, BODY_UPLOAD, BODY_SMALL };
/* Why a request is parked. */
enum { PARK_NONE, PARK_DELAY, PARK_POLL };

/* A group's state in memory: the change counter of section 6. */
typedef struct group_mem {
	char gid[DSYNC_RELAY_ID_HEX];
	uint64_t n;
	char writer[DSYNC_RELAY_ID_HEX];  /* of the last change; "" none since the start */
	struct group_mem *next;
} group_mem;

#define PENALTY_SEEN 4               /* distinct refused tokens remembered per address */

typedef struct penalty {
	char key[48];
	uint32_t fails;
	int64_t last;   /* ms, monotonic */
	/* tags of the last refused (group, token) pairs: the same stale token
	 * sent again (a device whose group's passphrase changed) is not a new
	 * guess, so it doesn't slow down every device behind that address */
	uint32_t seen[PENALTY_SEEN];
	uint32_t nseen;
} penalty;

typedef struct nonce_seen {
	uint8_t dev[16];
	uint8_t nonce[16];
	int64_t t;
} nonce_seen;

struct relay_srv {
	relay_store *store;            /* the data folder or the bucket (relay_store.h) */
	relay_disk_limits lim;
	unsigned max_polls, max_uploads;
	bool trust_proxy;
	dsync_warn_cb log;
	void *payload;
	void (*suspend)(void *conn);
	void (*resume)(void *conn);
	char epoch[17];
	uint8_t fake_th[DSYNC_RELAY_KEY_BYTES];
	pthread_mutex_t mu;            /* everything below */
	group_mem *groups[GROUP_BUCKETS];
	relay_req *parked;             /* doubly linked */
	unsigned uploads, polls;
	bool stopping;
	penalty *penalties;
	nonce_seen *nonces;
	int64_t last_expire;           /* when the store was last swept (monotonic ms) */
	int64_t sweep_ms;              /* SWEEP_PERIOD (a test knob shortens it) */
	/* a store several relays share (its ops->change): a thread reads the
	 * change value of each group with waiting polls once a second */
	pthread_t watcher;
	bool watching, watch_stop;
	pthread_cond_t watch_cv;
};

struct relay_req {
	relay_srv *s;
	void *conn;
	char method[8];
	char *url;
	const char *path;              /* from "/v1/" on */
	char peer[INET6_ADDRSTRLEN + 8];
	char key[48];                  /* the penalty table's key: IPv4, or the IPv6 /64 */
	const char *h[H_COUNT];
	unsigned hn[H_COUNT];
	size_t hbytes;
	const char *a[A_COUNT];
	unsigned an[A_COUNT];
	size_t abytes;
	bool bad_arg;
	dsync_relay_target t;
	relay_group_info g;
	relay_resp resp;
	int body;                      /* BODY_* */
	bool failed;                   /* an answer is set; the rest of the body is dropped */
	relay_upload *up;
	uint64_t clen, got, start, total;
	bool resumable, upload_counted;
	uint8_t hash[DSYNC_RELAY_KEY_BYTES];
	char hash_hex[DSYNC_RELAY_HEX64];
	dsync_buf small;
	uint8_t admit[DSYNC_RELAY_KEY_BYTES];
	char signer[DSYNC_RELAY_ID_HEX];
	time_t body_t0;
	int park;                      /* PARK_*: on the parked list */
	int64_t deadline;              /* ms, monotonic */
	relay_req *prev, *next;
	char since_epoch[17];
	uint64_t since_n;
	bool has_since;
};

/* ---- answers, counters, parking, checks (relay_server.c) */

int relay_parse_u64(const char *s, uint64_t *out);
void relay_hdr(relay_req *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
relay_next relay_answer(relay_req *r, unsigned status);
relay_next relay_refuse(relay_req *r, unsigned status, const char *code, const char *text);
relay_next relay_lines_answer(relay_req *r, unsigned status);
relay_next relay_internal(relay_req *r, int error);
relay_next relay_ok(relay_req *r, unsigned status);
void relay_add_change(relay_req *r);
/* Group GID's change value N now and, when the relay counts its own
 * changes, the writer of the last one into WRITER (else ""). */
void relay_change_now(relay_srv *s, const char *gid, uint64_t *n, char writer[DSYNC_RELAY_ID_HEX]);
void relay_add_usage(relay_req *r);
group_mem *relay_group_mem_get(relay_srv *s, const char *gid);
relay_next relay_park(relay_req *r, int why, int64_t deadline);
void relay_wake(relay_srv *s, relay_req *r);
void relay_upload_done(relay_req *r);
int relay_check_signature(relay_req *r, const char *body_hash, const char *total, relay_next *next);
int relay_check_admission(relay_req *r, relay_next *next);
int relay_check_length(relay_req *r, uint64_t max, relay_next *next);
bool relay_unsigned_request(relay_req *r, relay_next *next);
relay_next relay_method_not_allowed(relay_req *r, const char *allow);
relay_next relay_forbidden(relay_req *r);
/* For relay_route.c: a request leaves the parked list (the lock held); the
 * caller's penalty key (IPv4 address or IPv6 /64) and its wait in seconds
 * (0: none); the token against the group's (-1 and *NEXT the 403). */
void relay_unpark(relay_srv *s, relay_req *r);
void relay_penalty_key(char *out, size_t size, const char *addr);
int64_t relay_penalty_wait(relay_srv *s, const char *key);
int relay_check_token(relay_req *r, relay_next *next);

/* ---- the endpoints (relay_endpoints.c): each returns what comes next */

relay_next relay_ep_blob(relay_req *r);
relay_next relay_ep_blob_put_end(relay_req *r);
relay_next relay_ep_group_create(relay_req *r);
relay_next relay_ep_group_create_end(relay_req *r);
relay_next relay_ep_group(relay_req *r);
relay_next relay_ep_group_rotate_end(relay_req *r);
relay_next relay_ep_device(relay_req *r);
relay_next relay_ep_device_add_end(relay_req *r);
relay_next relay_ep_list(relay_req *r);
relay_next relay_ep_usage(relay_req *r);
relay_next relay_ep_upload_state(relay_req *r);
relay_next relay_ep_poll_start(relay_req *r);
relay_next relay_ep_poll_answer(relay_req *r);
/* The thread of a shared store (its ops->change): once a second, wakes the
 * polls whose group's change value is no longer their `since`. */
void *relay_poll_watch(void *srv);

#endif
