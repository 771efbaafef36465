/*
 * The relay's request handling (docs/relay-protocol.md sections 3 to 8),
 * without sockets: relay_http.c hands it each request of libmicrohttpd,
 * the fuzzer hands it made-up ones through relay_request().  In the order of
 * section 3: limits, the name, the caller's penalty, the token (against a
 * random TH for a group that doesn't exist, so both cases cost the same),
 * then per endpoint the signature, the writer rules, the length and the
 * quota, all before the body, so a refused upload is never sent.
 */
#include "core/base/internal.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/relay_disk.h"
#include "transport/relay_proto.h"
#include "transport/relay_server.h"

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
#define GROUP_BUCKETS 256

enum { H_AUTH, H_LEN, H_TE, H_HASH, H_DEV, H_TIME, H_NONCE, H_SIG, H_UPLOAD, H_CRANGE, H_ADMIT, H_RANGE, H_XFF,
       H_COUNT };
static const char *const header_names[H_COUNT] = {
	"Authorization", "Content-Length", "Transfer-Encoding", "Dsync-Body-Hash", "Dsync-Device", "Dsync-Time",
	"Dsync-Nonce", "Dsync-Signature", "Dsync-Upload", "Content-Range", "Dsync-Admission", "Range",
	"X-Forwarded-For"
};

enum { A_PREFIX, A_AFTER, A_LIMIT, A_SINCE, A_TIMEOUT, A_COUNT };
static const char *const arg_names[A_COUNT] = { "prefix", "after", "limit", "since", "timeout" };

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

typedef struct penalty {
	char key[48];
	uint32_t fails;
	int64_t last;   /* ms, monotonic */
} penalty;

typedef struct nonce_seen {
	uint8_t dev[16];
	uint8_t nonce[16];
	int64_t t;
} nonce_seen;

struct relay_srv {
	relay_disk *disk;
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
	int64_t last_expire;
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

/* ---------------------------------------------------------------- small helpers */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void relay_srv_log(relay_srv *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->log(line, s->payload);
}

/* A decimal number of at most 19 digits, nothing else; -1 otherwise. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!s || !*s)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 19)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------- answers */

static void resp_clear(relay_resp *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->nh = 0;
	p->status = 0;
	dsync_buf_truncate(&p->body, 0);
}

static void hdr(relay_req *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void hdr(relay_req *r, const char *name, const char *fmt, ...)
{
	relay_resp *p = &r->resp;
	va_list ap;

	if (p->nh >= RELAY_RESP_HEADERS)
		return;
	p->h[p->nh].name = name;
	va_start(ap, fmt);
	vsnprintf(p->h[p->nh].value, sizeof(p->h[p->nh].value), fmt, ap);
	va_end(ap);
	p->nh++;
}

static relay_next answer(relay_req *r, unsigned status)
{
	resp_clear(&r->resp);
	r->resp.status = status;
	return RELAY_ANSWER;
}

/* An error answer: STATUS with the line-format body of CODE and TEXT. */
static relay_next refuse(relay_req *r, unsigned status, const char *code, const char *text)
{
	answer(r, status);
	r->failed = true;
	hdr(r, "Content-Type", "text/plain; charset=utf-8");
	if (dsync_relay_error_body(&r->resp.body, code, text) < 0)
		dsync_buf_truncate(&r->resp.body, 0);
	relay_srv_log(r->s, "refused %s: %u %s (%s %s)", r->peer[0] ? r->peer : "-", status, code, r->method,
		      r->t.kind == DSYNC_RELAY_T_BAD ? "-" : r->t.gid);
	return RELAY_ANSWER;
}

static relay_next lines_answer(relay_req *r, unsigned status)
{
	answer(r, status);
	hdr(r, "Content-Type", "text/plain; charset=utf-8");
	return RELAY_ANSWER;
}

static relay_next internal(relay_req *r, int error)
{
	relay_srv_log(r->s, "internal error: %s", error < 0 ? dsync_error_last() : "?");
	return refuse(r, 500, "internal", "the relay failed; the request had no effect");
}

/* ---------------------------------------------------------------- group counters */

static group_mem *group_mem_get(relay_srv *s, const char *gid)
{
	unsigned b = 0;
	group_mem *m;

	sscanf(gid, "%2x", &b);
	b %= GROUP_BUCKETS;
	for (m = s->groups[b]; m; m = m->next)
		if (strcmp(m->gid, gid) == 0)
			return m;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	memcpy(m->gid, gid, sizeof(m->gid));
	m->next = s->groups[b];
	s->groups[b] = m;
	return m;
}

/* Dsync-Change of the request's group, as it is now. */
static void add_change(relay_req *r)
{
	group_mem *m;
	uint64_t n = 0;

	pthread_mutex_lock(&r->s->mu);
	if ((m = group_mem_get(r->s, r->t.gid)) != NULL)
		n = m->n;
	pthread_mutex_unlock(&r->s->mu);
	hdr(r, "Dsync-Change", "%s.%" PRIu64, r->s->epoch, n);
}

static void add_usage(relay_req *r)
{
	relay_group_info g;

	if (relay_disk_group(r->s->disk, r->t.gid, &g) == 0)
		hdr(r, "Dsync-Usage", "%" PRIu64 " %" PRIu64, g.used, g.quota);
}

/* A 2xx under a group: STATUS with Dsync-Change. */
static relay_next ok(relay_req *r, unsigned status)
{
	lines_answer(r, status);
	add_change(r);
	return RELAY_ANSWER;
}

/* ---------------------------------------------------------------- parking */

static void unlink_parked(relay_srv *s, relay_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		s->parked = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	if (r->park == PARK_POLL)
		s->polls--;
	r->park = PARK_NONE;
}

/* Wakes R (the lock held). */
static void wake(relay_srv *s, relay_req *r)
{
	unlink_parked(s, r);
	if (s->resume)
		s->resume(r->conn);
}

/* Parks R for WHY until DEADLINE (the lock held): suspended first, so no
 * waker can resume a connection not yet suspended. */
static relay_next park(relay_req *r, int why, int64_t deadline)
{
	relay_srv *s = r->s;

	if (s->suspend)
		s->suspend(r->conn);
	r->park = why;
	r->deadline = deadline;
	r->prev = NULL;
	r->next = s->parked;
	if (s->parked)
		s->parked->prev = r;
	s->parked = r;
	if (why == PARK_POLL)
		s->polls++;
	return RELAY_PARK;
}

void relay_srv_tick(relay_srv *s)
{
	int64_t now = now_ms();
	relay_req *r, *next;
	bool expire = false;

	pthread_mutex_lock(&s->mu);
	for (r = s->parked; r; r = next) {
		next = r->next;
		if (r->deadline <= now)
			wake(s, r);
	}
	if (now - s->last_expire > 3600 * 1000) {
		s->last_expire = now;
		expire = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (expire && relay_disk_expire_uploads(s->disk, UPLOAD_MAX_AGE) < 0)
		relay_srv_log(s, "expiring old uploads: %s", dsync_error_last());
}

void relay_srv_shutdown(relay_srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	while (s->parked)
		wake(s, s->parked);
	pthread_mutex_unlock(&s->mu);
}

unsigned relay_srv_uploads(relay_srv *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->uploads;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---------------------------------------------------------------- penalties */

static size_t slot_of(const char *key, size_t slots)
{
	uint64_t h;

	crypto_generichash((uint8_t *)&h, sizeof(h), (const uint8_t *)key, strlen(key), NULL, 0);
	return (size_t)(h % slots);
}

/* The caller's slot in the penalty table (the lock held); NULL when it has
 * none and ADD is false.  A full neighbourhood gives up its oldest entry. */
static penalty *penalty_find(relay_srv *s, const char *key, bool add, int64_t now)
{
	size_t i, at = slot_of(key, PENALTY_SLOTS), oldest = at;

	for (i = 0; i < PENALTY_PROBES; i++) {
		penalty *p = &s->penalties[(at + i) % PENALTY_SLOTS];

		if (p->key[0] && strcmp(p->key, key) == 0) {
			if (now - p->last > PENALTY_WINDOW * 1000)
				p->fails = 0;   /* aged out */
			return p;
		}
		if (!p->key[0] || now - p->last > PENALTY_WINDOW * 1000 || p->last < s->penalties[oldest].last)
			oldest = (at + i) % PENALTY_SLOTS;
	}
	if (!add)
		return NULL;
	memset(&s->penalties[oldest], 0, sizeof(penalty));
	snprintf(s->penalties[oldest].key, sizeof(s->penalties[oldest].key), "%s", key);
	return &s->penalties[oldest];
}

/* Seconds the caller still has to wait (rounded up), 0 when none. */
static int64_t penalty_wait(relay_srv *s, const char *key)
{
	int64_t now = now_ms(), wait = 0, span;
	penalty *p;

	pthread_mutex_lock(&s->mu);
	if ((p = penalty_find(s, key, false, now)) != NULL && p->fails >= PENALTY_FROM) {
		span = p->fails - PENALTY_FROM >= 10 ? PENALTY_CAP : (int64_t)1 << (p->fails - PENALTY_FROM);
		if (span > PENALTY_CAP)
			span = PENALTY_CAP;
		if (p->last + span * 1000 > now)
			wait = (p->last + span * 1000 - now + 999) / 1000;
	}
	pthread_mutex_unlock(&s->mu);
	return wait;
}

static void penalty_fail(relay_srv *s, const char *key)
{
	int64_t now = now_ms();
	penalty *p;

	pthread_mutex_lock(&s->mu);
	if ((p = penalty_find(s, key, true, now)) != NULL) {
		p->fails++;
		p->last = now;
	}
	pthread_mutex_unlock(&s->mu);
}

/* The penalty key of address ADDR: itself for IPv4, the /64 for IPv6. */
static void penalty_key(char *out, size_t size, const char *addr)
{
	uint8_t a6[16];
	char hex[17];

	if (strchr(addr, ':') && inet_pton(AF_INET6, addr, a6) == 1) {
		dsync_relay_hex(hex, a6, 8);
		snprintf(out, size, "%s/64", hex);
	} else {
		snprintf(out, size, "%.40s", addr);
	}
}

/* 403 forbidden: the same bytes for a wrong token and an unknown group,
 * counted against the caller and answered 250 ms later. */
static relay_next forbidden(relay_req *r)
{
	relay_next next;

	penalty_fail(r->s, r->key);
	refuse(r, 403, "forbidden", "wrong token, or no such group");
	pthread_mutex_lock(&r->s->mu);
	next = park(r, PARK_DELAY, now_ms() + DELAY_403_MS);
	pthread_mutex_unlock(&r->s->mu);
	return next;
}

/* ---------------------------------------------------------------- nonces */

/* 0 when (DEV, NONCE) is new (and is now remembered), 1 when seen in the
 * last 600 s, -1 when the table has no room near it. */
static int nonce_check(relay_srv *s, const uint8_t dev[16], const uint8_t nonce[16])
{
	int64_t now = time(NULL);
	size_t i, at;
	uint64_t h;
	int rc = -1;

	memcpy(&h, nonce, sizeof(h));
	at = (size_t)(h % NONCE_SLOTS);
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < NONCE_PROBES; i++) {
		nonce_seen *n = &s->nonces[(at + i) % NONCE_SLOTS];

		if (n->t && now - n->t <= NONCE_KEEP && memcmp(n->nonce, nonce, 16) == 0 &&
		    memcmp(n->dev, dev, 16) == 0) {
			rc = 1;
			break;
		}
	}
	for (i = 0; rc < 0 && i < NONCE_PROBES; i++) {
		nonce_seen *n = &s->nonces[(at + i) % NONCE_SLOTS];

		if (!n->t || now - n->t > NONCE_KEEP) {
			memcpy(n->dev, dev, 16);
			memcpy(n->nonce, nonce, 16);
			n->t = now;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---------------------------------------------------------------- the server */

int relay_srv_open(relay_srv **out, const dsync_relay_config *c, void (*suspend)(void *conn),
		   void (*resume)(void *conn))
{
	relay_srv *s;
	uint8_t e[8];
	int error;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return dsync_error_oom();
	s->lim.default_quota = c->quota;
	s->lim.max_blob = c->max_blob ? c->max_blob : (uint64_t)256 << 20;
	s->lim.max_blobs = c->max_blobs ? c->max_blobs : 100000;
	s->lim.max_groups = c->max_groups ? c->max_groups : 1000;
	s->lim.max_devices = 64;
	s->max_polls = c->max_polls ? c->max_polls : 3500;
	s->max_uploads = 64;
	s->trust_proxy = c->trust_proxy;
	s->log = c->log;
	s->payload = c->payload;
	s->suspend = suspend;
	s->resume = resume;
	s->last_expire = now_ms();
	randombytes_buf(e, sizeof(e));
	dsync_relay_hex(s->epoch, e, sizeof(e));
	randombytes_buf(s->fake_th, sizeof(s->fake_th));
	pthread_mutex_init(&s->mu, NULL);
	/* calloc'd pages are not resident until touched: the tables cost what
	 * they hold */
	s->penalties = calloc(PENALTY_SLOTS, sizeof(penalty));
	s->nonces = calloc(NONCE_SLOTS, sizeof(nonce_seen));
	if (!s->penalties || !s->nonces) {
		relay_srv_close(s);
		return dsync_error_oom();
	}
	if ((error = relay_disk_open(&s->disk, c->data_dir, &s->lim)) < 0) {
		relay_srv_close(s);
		return error;
	}
	*out = s;
	return 0;
}

void relay_srv_close(relay_srv *s)
{
	size_t i;

	if (!s)
		return;
	if (s->disk)
		relay_disk_close(s->disk);
	for (i = 0; i < GROUP_BUCKETS; i++)
		while (s->groups[i]) {
			group_mem *m = s->groups[i];

			s->groups[i] = m->next;
			free(m);
		}
	free(s->penalties);
	free(s->nonces);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---------------------------------------------------------------- requests */

relay_req *relay_req_new(relay_srv *s, const char *method, const char *url, const char *peer, void *conn)
{
	relay_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if ((r->url = strdup(url ? url : "")) == NULL) {
		free(r);
		return NULL;
	}
	r->s = s;
	r->conn = conn;
	snprintf(r->method, sizeof(r->method), "%s", method ? method : "");
	if (method && strlen(method) >= sizeof(r->method))
		r->method[0] = '?';   /* no method of ours is that long: 405 */
	snprintf(r->peer, sizeof(r->peer), "%s", peer ? peer : "");
	r->resp.fd = -1;
	dsync_buf_init(&r->resp.body, 0);
	dsync_buf_init(&r->small, SMALL_BODY_MAX);
	return r;
}

void relay_req_header(relay_req *r, const char *name, const char *value)
{
	size_t i;

	if (!name || !value)
		return;
	r->hbytes += strlen(name) + strlen(value) + 4;
	for (i = 0; i < H_COUNT; i++)
		if (strcasecmp(name, header_names[i]) == 0) {
			r->h[i] = value;   /* X-Forwarded-For: the last one counts */
			r->hn[i]++;
		}
}

void relay_req_arg(relay_req *r, const char *key, const char *value)
{
	size_t i;

	if (!key)
		return;
	r->abytes += strlen(key) + (value ? strlen(value) : 0) + 2;
	if (strchr(key, '%') || (value && strchr(value, '%')))
		r->bad_arg = true;   /* never decoded, so never allowed (section 3) */
	for (i = 0; i < A_COUNT; i++)
		if (strcmp(key, arg_names[i]) == 0) {
			r->a[i] = value ? value : "";
			r->an[i]++;
		}
}

relay_resp *relay_req_resp(relay_req *r)
{
	return &r->resp;
}

static void upload_done(relay_req *r)
{
	if (r->upload_counted) {
		pthread_mutex_lock(&r->s->mu);
		r->s->uploads--;
		pthread_mutex_unlock(&r->s->mu);
		r->upload_counted = false;
	}
}

void relay_req_free(relay_req *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->s->mu);
	if (r->park != PARK_NONE)
		unlink_parked(r->s, r);
	pthread_mutex_unlock(&r->s->mu);
	if (r->up) {
		relay_disk_upload_abort(r->up);
		r->up = NULL;
	}
	upload_done(r);
	resp_clear(&r->resp);
	dsync_buf_dispose(&r->resp.body);
	dsync_buf_dispose(&r->small);
	free(r->url);
	free(r);
}

/* ---------------------------------------------------------------- authentication */

/* Step 3 and 4 of section 3: the token against the group's TH, or against
 * the random one when there is no such group.  0, or an answer. */
static int check_token(relay_req *r, relay_next *next)
{
	uint8_t token[DSYNC_RELAY_KEY_BYTES], th[DSYNC_RELAY_KEY_BYTES];
	const char *a = r->h[H_AUTH];
	const uint8_t *want = r->s->fake_th;
	bool found;

	if (!a || r->hn[H_AUTH] != 1 || strncmp(a, "Dsync-Token ", 12) != 0 ||
	    dsync_relay_hex_parse(token, a + 12, 64) < 0) {
		*next = forbidden(r);
		return -1;
	}
	found = relay_disk_group(r->s->disk, r->t.gid, &r->g) == 0;
	if (found)
		want = r->g.token_hash;
	dsync_relay_secret_hash(th, "token", r->t.gid, token);
	sodium_memzero(token, sizeof(token));
	if (sodium_memcmp(th, want, sizeof(th)) != 0 || !found) {
		*next = forbidden(r);
		return -1;
	}
	return 0;
}

/* Dsync-Admission against the group's AH: 0, or an answer. */
static int check_admission(relay_req *r, relay_next *next)
{
	uint8_t ah[DSYNC_RELAY_KEY_BYTES];

	if (!r->h[H_ADMIT]) {
		*next = refuse(r, 403, "bad-admission", "Dsync-Admission is required");
		return -1;
	}
	if (dsync_relay_hex_parse(r->admit, r->h[H_ADMIT], 64) < 0) {
		*next = refuse(r, 400, "bad-header", "Dsync-Admission is not 64 hex digits");
		return -1;
	}
	dsync_relay_secret_hash(ah, "admit", r->t.gid, r->admit);
	if (sodium_memcmp(ah, r->g.admit_hash, sizeof(ah)) != 0) {
		*next = refuse(r, 403, "bad-admission", "wrong admission");
		return -1;
	}
	return 0;
}

/* A write without the signature headers is refused before any other
 * header is looked at. */
static bool unsigned_request(relay_req *r, relay_next *next)
{
	if (r->h[H_DEV] && r->h[H_TIME] && r->h[H_NONCE] && r->h[H_SIG])
		return false;
	*next = refuse(r, 403, "bad-signature", "the request is not signed");
	return true;
}

/* The device signature of section 8 over BODY_HASH and TOTAL: 0 (the
 * signer in R->signer), or an answer. */
static int check_signature(relay_req *r, const char *body_hash, const char *total, relay_next *next)
{
	uint8_t dev[16], nonce[16], sig[DSYNC_RELAY_SIG_BYTES];
	relay_device_info d;
	uint64_t t;
	int64_t now = time(NULL);
	dsync_buf m;
	int rc, error;

	if (unsigned_request(r, next))
		return -1;
	if (dsync_relay_hex_parse(dev, r->h[H_DEV], 32) < 0 || parse_u64(r->h[H_TIME], &t) < 0 ||
	    dsync_relay_hex_parse(nonce, r->h[H_NONCE], 32) < 0 ||
	    dsync_relay_hex_parse(sig, r->h[H_SIG], 2 * DSYNC_RELAY_SIG_BYTES) < 0) {
		*next = refuse(r, 400, "bad-header", "a signature header is malformed");
		return -1;
	}
	if ((error = relay_disk_device(r->s->disk, r->t.gid, r->h[H_DEV], &d)) < 0) {
		*next = error == DSYNC_ENOTFOUND ? refuse(r, 403, "unknown-device", "no such device in the group")
						 : internal(r, error);
		return -1;
	}
	dsync_buf_init(&m, 0);
	if (dsync_relay_sig_message(&m, r->method, r->path, r->t.gid, body_hash, total, (int64_t)t,
				    r->h[H_NONCE]) < 0) {
		dsync_buf_dispose(&m);
		*next = internal(r, DSYNC_ERROR);
		return -1;
	}
	rc = crypto_sign_verify_detached(sig, (const uint8_t *)m.ptr, m.len, d.pk);
	dsync_buf_dispose(&m);
	if (rc != 0) {
		*next = refuse(r, 403, "bad-signature", "the signature does not verify");
		return -1;
	}
	if ((int64_t)t > now + DSYNC_RELAY_SKEW || (int64_t)t < now - DSYNC_RELAY_SKEW) {
		*next = refuse(r, 403, "clock-skew", "Dsync-Time is more than 300 s away from the relay's clock");
		return -1;
	}
	if ((rc = nonce_check(r->s, dev, nonce)) != 0) {
		*next = rc > 0 ? refuse(r, 403, "replayed", "this nonce was used")
			       : refuse(r, 503, "busy", "too many signed requests");
		if (rc < 0)
			hdr(r, "Retry-After", "1");
		return -1;
	}
	memcpy(r->signer, r->h[H_DEV], sizeof(r->signer));
	return 0;
}

/* Content-Length for a PUT or POST, at most MAX: 0, or an answer. */
static int check_length(relay_req *r, uint64_t max, relay_next *next)
{
	if (r->h[H_TE] && strcasecmp(r->h[H_TE], "identity") != 0) {
		*next = refuse(r, 411, "length-required", "chunked bodies are refused");
		return -1;
	}
	if (!r->h[H_LEN]) {
		*next = refuse(r, 411, "length-required", "Content-Length is required");
		return -1;
	}
	if (parse_u64(r->h[H_LEN], &r->clen) < 0) {
		*next = refuse(r, 400, "bad-header", "Content-Length is not a number");
		return -1;
	}
	if (max && r->clen > max) {
		*next = refuse(r, 413, "too-large", "the body is over the limit");
		return -1;
	}
	return 0;
}

static relay_next method_not_allowed(relay_req *r, const char *allow)
{
	refuse(r, 405, "method", "the target does not take this method");
	hdr(r, "Allow", "%s", allow);
	return RELAY_ANSWER;
}

/* ---------------------------------------------------------------- blobs */

static void add_blob_headers(relay_req *r, const relay_blob_info *b)
{
	char hex[DSYNC_RELAY_HEX64], date[64];
	struct tm tm;
	time_t t = (time_t)b->mtime;

	dsync_relay_hex(hex, b->hash, sizeof(b->hash));
	hdr(r, "ETag", "\"%s\"", hex);
	if (gmtime_r(&t, &tm) && strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		hdr(r, "Last-Modified", "%s", date);
}

static relay_next blob_get(relay_req *r)
{
	relay_blob_info b;
	uint64_t from = 0;
	int fd, error;
	const char *range = r->h[H_RANGE];

	if ((error = relay_disk_blob_open(r->s->disk, r->t.gid, r->t.name, &fd, &b)) < 0)
		return error == DSYNC_ENOTFOUND ? refuse(r, 404, "not-found", "no such blob") : internal(r, error);
	/* "bytes=START-" only; any other Range is ignored (section 4.1) */
	if (range && r->hn[H_RANGE] == 1 && strncmp(range, "bytes=", 6) == 0 && strchr(range, '-') &&
	    strchr(range, '-')[1] == '\0') {
		char num[24];
		size_t n = (size_t)(strchr(range, '-') - (range + 6));

		if (n > 0 && n < sizeof(num)) {
			memcpy(num, range + 6, n);
			num[n] = '\0';
			if (parse_u64(num, &from) < 0 || from >= b.size)
				from = 0;
		}
	}
	answer(r, from ? 206 : 200);
	r->resp.fd = fd;
	r->resp.off = DSYNC_RELAY_DISK_HEADER + from;
	r->resp.len = b.size - from;
	hdr(r, "Content-Type", "application/octet-stream");
	add_blob_headers(r, &b);
	if (from)
		hdr(r, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, b.size - 1, b.size);
	add_change(r);
	return RELAY_ANSWER;
}

/* The writer rules of section 8 for a PUT or DELETE of R's blob by
 * R->signer: 0, or an answer.  *EXISTS says whether the blob is there. */
static int check_rules(relay_req *r, bool is_delete, bool *exists, relay_next *next)
{
	relay_blob_info b;
	relay_device_info d;
	dsync_relay_rule_in in = { 0 };
	dsync_relay_verdict v;
	char dev[DSYNC_RELAY_ID_HEX];
	uint64_t seq;
	int error;

	if ((error = relay_disk_blob_stat(r->s->disk, r->t.gid, r->t.name, &b)) < 0 && error != DSYNC_ENOTFOUND) {
		*next = internal(r, error);
		return -1;
	}
	in.is_delete = is_delete;
	in.name = r->t.name;
	in.signer = r->signer;
	in.exists = *exists = error == 0;
	in.writer = in.exists ? b.writer : NULL;
	if (dsync_relay_manifest_name(r->t.name, dev, &seq) == 0) {
		if ((error = relay_disk_device(r->s->disk, r->t.gid, dev, &d)) == 0)
			in.seq_high = d.seq_high;
		else if (error != DSYNC_ENOTFOUND) {
			*next = internal(r, error);
			return -1;
		}
	}
	in.other_keys = r->g.keys - (in.exists && strncmp(r->t.name, "keys/", 5) == 0 && r->g.keys ? 1 : 0);
	v = dsync_relay_rules_allow(&in);
	if (v == DSYNC_RELAY_ALLOW)
		return 0;
	if (v == DSYNC_RELAY_DENY_METHOD)
		*next = method_not_allowed(r, "GET, HEAD, PUT");
	else
		*next = refuse(r, 409, dsync_relay_verdict_code(v), "the writer rules refuse this");
	return -1;
}

/* "bytes START-END/TOTAL" into R: 0, or -1. */
static int parse_content_range(relay_req *r)
{
	const char *s = r->h[H_CRANGE];
	char a[24], b[24], c[24];
	size_t i, n;
	char *parts[3] = { a, b, c };
	const char seps[3] = { '-', '/', '\0' };
	uint64_t end;

	if (!s || r->hn[H_CRANGE] != 1 || strncmp(s, "bytes ", 6) != 0)
		return -1;
	s += 6;
	for (i = 0; i < 3; i++) {
		for (n = 0; s[n] && s[n] != seps[i]; n++)
			;
		if (s[n] != seps[i] || n == 0 || n >= sizeof(a))
			return -1;
		memcpy(parts[i], s, n);
		parts[i][n] = '\0';
		s += n + (seps[i] ? 1 : 0);
	}
	if (parse_u64(a, &r->start) < 0 || parse_u64(b, &end) < 0 || parse_u64(c, &r->total) < 0)
		return -1;
	if (r->start > end || end >= r->total || end - r->start + 1 != r->clen)
		return -1;
	return 0;
}

static relay_next blob_put(relay_req *r)
{
	relay_next next;
	char total[24];
	uint64_t offset = 0;
	bool exists;
	int error;

	if (check_length(r, r->s->lim.max_blob, &next) < 0)
		return next;
	if (!r->h[H_HASH] || dsync_relay_hex_parse(r->hash, r->h[H_HASH], 64) < 0)
		return refuse(r, 400, "bad-header", "Dsync-Body-Hash must be 64 hex digits");
	memcpy(r->hash_hex, r->h[H_HASH], sizeof(r->hash_hex));
	r->total = r->clen;
	if (r->h[H_UPLOAD]) {
		if (dsync_relay_hex_parse(NULL, r->h[H_UPLOAD], 32) < 0)
			return refuse(r, 400, "bad-header", "Dsync-Upload must be 32 hex digits");
		if (parse_content_range(r) < 0)
			return refuse(r, 400, "bad-header", "Content-Range must be bytes START-END/TOTAL");
		r->resumable = true;
	}
	/* the shapes and the size first: they say nothing about the group */
	if (r->total > r->s->lim.max_blob)
		return refuse(r, 413, "too-large", "the blob is over the relay's --max-blob");
	snprintf(total, sizeof(total), "%" PRIu64, r->total);
	if (check_signature(r, r->hash_hex, total, &next) < 0 || check_rules(r, false, &exists, &next) < 0)
		return next;
	pthread_mutex_lock(&r->s->mu);
	if (r->s->stopping || r->s->uploads >= r->s->max_uploads) {
		pthread_mutex_unlock(&r->s->mu);
		refuse(r, 503, "busy", "too many uploads at once");
		hdr(r, "Retry-After", "1");
		return RELAY_ANSWER;
	}
	r->s->uploads++;
	r->upload_counted = true;
	pthread_mutex_unlock(&r->s->mu);
	error = relay_disk_upload_begin(&r->up, r->s->disk, r->t.gid, r->t.name, r->signer, r->total, r->hash,
					r->resumable ? r->h[H_UPLOAD] : NULL, &offset);
	if (error < 0) {
		r->up = NULL;
		upload_done(r);
		if (error == DSYNC_ENOSPACE) {
			const char *why = relay_disk_last_refusal();

			if (why && strcmp(why, "too-large") == 0)
				return refuse(r, 413, "too-large", "the blob is over the relay's --max-blob");
			next = refuse(r, 507, why ? why : "over-quota", "the upload does not fit");
			add_usage(r);
			return next;
		}
		if (error == DSYNC_ELOCKED) {
			/* its connection was cut and the relay hasn't noticed yet */
			refuse(r, 503, "busy", "this upload is in progress on another connection");
			hdr(r, "Retry-After", "5");
			return RELAY_ANSWER;
		}
		return internal(r, error);
	}
	if (r->resumable && offset != r->start) {
		relay_disk_upload_abort(r->up);
		r->up = NULL;
		upload_done(r);
		refuse(r, 409, "offset", "Content-Range does not start where the upload is");
		hdr(r, "Dsync-Offset", "%" PRIu64, offset);
		return RELAY_ANSWER;
	}
	r->body = BODY_UPLOAD;
	r->body_t0 = time(NULL);
	return RELAY_BODY;
}

/* Wakes the group's polls after a change under devices/ by SIGNER. */
static void changed(relay_req *r)
{
	relay_srv *s = r->s;
	relay_req *w, *next;
	group_mem *m;

	pthread_mutex_lock(&s->mu);
	if ((m = group_mem_get(s, r->t.gid)) != NULL) {
		m->n++;
		memcpy(m->writer, r->signer, sizeof(m->writer));
	}
	for (w = s->parked; w; w = next) {
		next = w->next;
		if (w->park == PARK_POLL && strcmp(w->t.gid, r->t.gid) == 0)
			wake(s, w);
	}
	pthread_mutex_unlock(&s->mu);
}

static relay_next blob_put_end(relay_req *r)
{
	relay_upload *u = r->up;
	bool replaced = false;
	relay_next next;
	int error;

	r->up = NULL;
	if (r->got != r->clen) {
		relay_disk_upload_abort(u);
		upload_done(r);
		return refuse(r, 400, "short-body", "the body ended before Content-Length");
	}
	if (r->resumable && r->start + r->clen < r->total) {
		/* a part: kept, the next part continues it */
		relay_disk_upload_abort(u);
		upload_done(r);
		ok(r, 202);
		hdr(r, "Dsync-Offset", "%" PRIu64, r->start + r->clen);
		add_usage(r);
		return RELAY_ANSWER;
	}
	error = relay_disk_upload_finish(u, &replaced);
	upload_done(r);
	if (error == DSYNC_ECORRUPT)
		return refuse(r, 400, "hash-mismatch", "the body's hash is not Dsync-Body-Hash");
	if (error == DSYNC_ECONFLICT)
		return refuse(r, 409, "seq-not-newer", "a manifest as new was accepted already");
	if (error == DSYNC_ENOTFOUND)   /* its device was removed meanwhile */
		return refuse(r, 409, "not-writer", "the manifest's device is not registered");
	if (error == DSYNC_ENOSPACE) {
		next = refuse(r, 507, "disk-full", "the relay's disk is full");
		add_usage(r);
		return next;
	}
	if (error < 0)
		return internal(r, error);
	if (strncmp(r->t.name, "devices/", 8) == 0)
		changed(r);
	ok(r, replaced ? 204 : 201);
	add_usage(r);
	return RELAY_ANSWER;
}

static relay_next blob_delete(relay_req *r)
{
	relay_next next;
	bool exists;
	int error;

	if (check_signature(r, "", "", &next) < 0 || check_rules(r, true, &exists, &next) < 0)
		return next;
	if (exists && (error = relay_disk_blob_delete(r->s->disk, r->t.gid, r->t.name)) < 0)
		return internal(r, error);
	ok(r, 204);
	add_usage(r);
	return RELAY_ANSWER;
}

static relay_next blob(relay_req *r)
{
	if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
		return blob_get(r);
	if (strcmp(r->method, "PUT") == 0)
		return blob_put(r);
	return blob_delete(r);
}

/* ---------------------------------------------------------------- .group, .device */

/* A small body (.group, .device) follows: at most 1 KiB. */
static relay_next small_body(relay_req *r)
{
	relay_next next;

	if (check_length(r, SMALL_BODY_MAX, &next) < 0)
		return next;
	r->body = BODY_SMALL;
	return RELAY_BODY;
}

/* "token-hash HEX64\nadmit-hash HEX64\n" of the body into TH and AH: 0, or an answer. */
static int group_hashes(relay_req *r, uint8_t th[DSYNC_RELAY_KEY_BYTES], uint8_t ah[DSYNC_RELAY_KEY_BYTES],
			relay_next *next)
{
	dsync_relay_lines l;
	const char *t, *a;
	int rc = -1;

	if (dsync_relay_lines_parse(&l, r->small.ptr ? r->small.ptr : "", r->small.len) < 0) {
		*next = refuse(r, 400, "bad-body", "the body is not the line format");
		return -1;
	}
	t = dsync_relay_lines_get(&l, "token-hash");
	a = dsync_relay_lines_get(&l, "admit-hash");
	if (!t || !a || dsync_relay_hex_parse(th, t, 64) < 0 || dsync_relay_hex_parse(ah, a, 64) < 0)
		*next = refuse(r, 400, "bad-body", "token-hash and admit-hash must be 64 hex digits");
	else
		rc = 0;
	dsync_relay_lines_dispose(&l);
	return rc;
}

/* PUT .group, before its body: the token's shape, the admission's, and a
 * group taken by another TH is refused at once. */
static relay_next group_create(relay_req *r)
{
	uint8_t token[DSYNC_RELAY_KEY_BYTES], th[DSYNC_RELAY_KEY_BYTES];
	const char *a = r->h[H_AUTH];
	bool found;

	if (!a || r->hn[H_AUTH] != 1 || strncmp(a, "Dsync-Token ", 12) != 0 ||
	    dsync_relay_hex_parse(token, a + 12, 64) < 0)
		return forbidden(r);
	if (!r->h[H_ADMIT] || dsync_relay_hex_parse(r->admit, r->h[H_ADMIT], 64) < 0)
		return refuse(r, 400, "bad-header", "Dsync-Admission must be 64 hex digits");
	found = relay_disk_group(r->s->disk, r->t.gid, &r->g) == 0;
	dsync_relay_secret_hash(th, "token", r->t.gid, token);
	sodium_memzero(token, sizeof(token));
	if (sodium_memcmp(th, found ? r->g.token_hash : r->s->fake_th, sizeof(th)) != 0 && found)
		return forbidden(r);
	return small_body(r);
}

static relay_next group_create_end(relay_req *r)
{
	uint8_t th[DSYNC_RELAY_KEY_BYTES], ah[DSYNC_RELAY_KEY_BYTES], want[DSYNC_RELAY_KEY_BYTES];
	uint8_t token[DSYNC_RELAY_KEY_BYTES];
	relay_next next;
	int error;

	if (group_hashes(r, th, ah, &next) < 0)
		return next;
	/* the hashes must be of what the caller holds */
	if (dsync_relay_hex_parse(token, r->h[H_AUTH] + 12, 64) < 0)
		return forbidden(r);
	dsync_relay_secret_hash(want, "token", r->t.gid, token);
	sodium_memzero(token, sizeof(token));
	if (sodium_memcmp(want, th, sizeof(th)) != 0)
		return refuse(r, 400, "bad-body", "token-hash is not the hash of the token");
	dsync_relay_secret_hash(want, "admit", r->t.gid, r->admit);
	if (sodium_memcmp(want, ah, sizeof(ah)) != 0)
		return refuse(r, 400, "bad-body", "admit-hash is not the hash of Dsync-Admission");
	error = relay_disk_group_create(r->s->disk, r->t.gid, th, ah);
	if (error == DSYNC_EAUTH)
		return forbidden(r);
	if (error == DSYNC_ENOSPACE)
		return refuse(r, 507, "relay-full", "the relay holds as many groups as it takes");
	if (error < 0)
		return internal(r, error);
	if (error == 0)
		relay_srv_log(r->s, "group %s created", r->t.gid);
	return ok(r, error == 0 ? 201 : 200);
}

static relay_next group_rotate_end(relay_req *r)
{
	uint8_t th[DSYNC_RELAY_KEY_BYTES], ah[DSYNC_RELAY_KEY_BYTES], bh[DSYNC_RELAY_KEY_BYTES];
	char bhex[DSYNC_RELAY_HEX64];
	relay_next next;
	int error;

	crypto_generichash(bh, sizeof(bh), (const uint8_t *)r->small.ptr, r->small.len, NULL, 0);
	dsync_relay_hex(bhex, bh, sizeof(bh));
	if (check_signature(r, bhex, "", &next) < 0 || group_hashes(r, th, ah, &next) < 0)
		return next;
	if ((error = relay_disk_group_rotate(r->s->disk, r->t.gid, th, ah)) < 0)
		return internal(r, error);
	relay_srv_log(r->s, "group %s: token rotated by device %s", r->t.gid, r->signer);
	return ok(r, 204);
}

static relay_next group(relay_req *r)
{
	relay_next next;

	if (strcmp(r->method, "GET") == 0) {
		ok(r, 200);
		dsync_buf_printf(&r->resp.body, "group 1\ncreated %" PRId64 "\ndevices %" PRIu64 "\n", r->g.created,
				 r->g.devices);
		return RELAY_ANSWER;
	}
	/* POST: the signature covers the body, checked at its end */
	if (check_admission(r, &next) < 0)
		return next;
	return small_body(r);
}

static relay_next device(relay_req *r)
{
	relay_device_info d;
	relay_next next;
	char hex[DSYNC_RELAY_HEX64];
	int error;

	if (strcmp(r->method, "GET") == 0) {
		if ((error = relay_disk_device(r->s->disk, r->t.gid, r->t.name, &d)) < 0)
			return error == DSYNC_ENOTFOUND ? refuse(r, 404, "not-found", "no such device")
							: internal(r, error);
		dsync_relay_hex(hex, d.pk, sizeof(d.pk));
		ok(r, 200);
		dsync_buf_printf(&r->resp.body, "key %s\nseq %" PRIu64 "\n", hex, d.seq_high);
		return RELAY_ANSWER;
	}
	if (strcmp(r->method, "DELETE") == 0) {
		if (check_signature(r, "", "", &next) < 0)
			return next;
		if (strcmp(r->signer, r->t.name) == 0)
			return refuse(r, 409, "not-writer", "a device is removed by another device");
		if ((error = relay_disk_device_remove(r->s->disk, r->t.gid, r->t.name)) < 0)
			return error == DSYNC_ENOTFOUND ? refuse(r, 404, "not-found", "no such device")
							: internal(r, error);
		relay_srv_log(r->s, "group %s: device %s removed by %s", r->t.gid, r->t.name, r->signer);
		return ok(r, 204);
	}
	if (check_admission(r, &next) < 0)
		return next;
	return small_body(r);
}

static relay_next device_add_end(relay_req *r)
{
	uint8_t pk[DSYNC_RELAY_PK_BYTES], proof[DSYNC_RELAY_SIG_BYTES];
	dsync_relay_lines l;
	const char *k, *p;
	dsync_buf m;
	int error, rc;

	if (dsync_relay_lines_parse(&l, r->small.ptr ? r->small.ptr : "", r->small.len) < 0)
		return refuse(r, 400, "bad-body", "the body is not the line format");
	k = dsync_relay_lines_get(&l, "key");
	p = dsync_relay_lines_get(&l, "proof");
	rc = !k || !p || dsync_relay_hex_parse(pk, k, 64) < 0 || dsync_relay_hex_parse(proof, p, 128) < 0;
	dsync_relay_lines_dispose(&l);
	if (rc)
		return refuse(r, 400, "bad-body", "key and proof must be hex");
	dsync_buf_init(&m, 0);
	if (dsync_relay_register_message(&m, r->t.gid, r->t.name, pk) < 0) {
		dsync_buf_dispose(&m);
		return internal(r, DSYNC_ERROR);
	}
	rc = crypto_sign_verify_detached(proof, (const uint8_t *)m.ptr, m.len, pk);
	dsync_buf_dispose(&m);
	if (rc != 0)
		return refuse(r, 400, "bad-signature", "the proof does not verify");
	error = relay_disk_device_add(r->s->disk, r->t.gid, r->t.name, pk);
	if (error == DSYNC_EEXISTS)
		return refuse(r, 409, "device-exists", "this device id has another key");
	if (error == DSYNC_ENOSPACE)
		return refuse(r, 409, "too-many-devices", "the group has as many devices as it takes");
	if (error < 0)
		return internal(r, error);
	if (error == 0)
		relay_srv_log(r->s, "group %s: device %s registered", r->t.gid, r->t.name);
	return ok(r, error == 0 ? 201 : 200);
}

/* ---------------------------------------------------------------- .list, .usage, .upload */

typedef struct list_out {
	dsync_buf *b;
	char last[DSYNC_RELAY_NAME_MAX + 1];
} list_out;

static int list_line(const char *name, uint64_t size, int64_t mtime, void *payload)
{
	list_out *o = payload;

	snprintf(o->last, sizeof(o->last), "%s", name);
	return dsync_buf_printf(o->b, "%s %" PRIu64 " %" PRId64 "\n", name, size, mtime);
}

static relay_next list(relay_req *r)
{
	const char *prefix = r->a[A_PREFIX] ? r->a[A_PREFIX] : "", *after = r->a[A_AFTER];
	uint64_t limit = DSYNC_RELAY_LIST_MAX;
	list_out o = { 0 };
	bool more = false;
	int error;

	if (dsync_relay_prefix_ok(prefix) < 0 || (after && dsync_relay_blob_name_ok(after) < 0) ||
	    (r->a[A_LIMIT] && (parse_u64(r->a[A_LIMIT], &limit) < 0 || limit < 1 || limit > DSYNC_RELAY_LIST_MAX)))
		return refuse(r, 400, "bad-name", "prefix, after or limit is malformed");
	ok(r, 200);   /* the counter is read before the folder (section 6) */
	o.b = &r->resp.body;
	error = relay_disk_list(r->s->disk, r->t.gid, prefix, after, (unsigned)limit, &more, list_line, &o);
	if (error < 0)
		return internal(r, error);
	if (more && o.last[0])
		dsync_buf_printf(&r->resp.body, "next %s\n", o.last);
	return RELAY_ANSWER;
}

static relay_next usage(relay_req *r)
{
	ok(r, 200);
	dsync_buf_printf(&r->resp.body, "used %" PRIu64 "\nquota %" PRIu64 "\nblobs %" PRIu64 "\nmax-blob %" PRIu64 "\n",
			 r->g.used, r->g.quota, r->g.blobs, r->s->lim.max_blob);
	hdr(r, "Dsync-Usage", "%" PRIu64 " %" PRIu64, r->g.used, r->g.quota);
	return RELAY_ANSWER;
}

static relay_next upload_state(relay_req *r)
{
	uint64_t offset;
	int error;

	if ((error = relay_disk_upload_offset(r->s->disk, r->t.gid, r->t.name, &offset)) < 0)
		return error == DSYNC_ENOTFOUND ? refuse(r, 404, "not-found", "no such upload") : internal(r, error);
	ok(r, 200);
	hdr(r, "Dsync-Offset", "%" PRIu64, offset);
	return RELAY_ANSWER;
}

/* ---------------------------------------------------------------- .poll */

/* The poll's answer, now: "changed 1" when the counter is not SINCE. */
static relay_next poll_answer(relay_req *r)
{
	group_mem *m;
	uint64_t n = 0;
	char writer[DSYNC_RELAY_ID_HEX] = "";
	bool differs;

	pthread_mutex_lock(&r->s->mu);
	if ((m = group_mem_get(r->s, r->t.gid)) != NULL) {
		n = m->n;
		memcpy(writer, m->writer, sizeof(writer));
	}
	pthread_mutex_unlock(&r->s->mu);
	differs = !r->has_since || strcmp(r->since_epoch, r->s->epoch) != 0 || r->since_n != n;
	lines_answer(r, 200);
	hdr(r, "Dsync-Change", "%s.%" PRIu64, r->s->epoch, n);
	dsync_buf_printf(&r->resp.body, "change %s.%" PRIu64 "\nchanged %d\n", r->s->epoch, n, differs ? 1 : 0);
	if (differs && writer[0])
		dsync_buf_printf(&r->resp.body, "writer %s\n", writer);
	return RELAY_ANSWER;
}

static relay_next poll_start(relay_req *r)
{
	uint64_t timeout = POLL_TIMEOUT_DEFAULT;
	relay_next next;
	group_mem *m;
	bool differs;

	if (r->a[A_SINCE]) {
		if (dsync_relay_change_parse(r->a[A_SINCE], r->since_epoch, &r->since_n) < 0)
			return refuse(r, 400, "bad-name", "since is not EPOCH.N");
		r->has_since = true;
	}
	if (r->a[A_TIMEOUT] && (parse_u64(r->a[A_TIMEOUT], &timeout) < 0 || timeout < 1 || timeout > POLL_TIMEOUT_MAX))
		return refuse(r, 400, "bad-name", "timeout is not 1..55");
	pthread_mutex_lock(&r->s->mu);
	m = group_mem_get(r->s, r->t.gid);
	differs = !m || !r->has_since || strcmp(r->since_epoch, r->s->epoch) != 0 || r->since_n != m->n;
	if (differs || r->s->stopping) {
		pthread_mutex_unlock(&r->s->mu);
		return poll_answer(r);
	}
	if (r->s->polls >= r->s->max_polls) {
		pthread_mutex_unlock(&r->s->mu);
		refuse(r, 503, "busy", "too many polls");
		hdr(r, "Retry-After", "5");
		return RELAY_ANSWER;
	}
	/* checked and parked under one lock: a change can't slip between */
	next = park(r, PARK_POLL, now_ms() + (int64_t)timeout * 1000);
	pthread_mutex_unlock(&r->s->mu);
	return next;
}

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
		return refuse(r, 414, "uri-too-long", "the request line is over 1,024 bytes");
	if (r->hbytes > HEADERS_MAX)
		return refuse(r, 431, "headers-too-large", "the headers are over 8 KiB");
	if (r->s->trust_proxy && r->h[H_XFF]) {
		/* the last entry: the one the proxy added */
		peer = strrchr(r->h[H_XFF], ',') ? strrchr(r->h[H_XFF], ',') + 1 : r->h[H_XFF];
		while (*peer == ' ')
			peer++;
		snprintf(r->peer, sizeof(r->peer), "%.*s", (int)strcspn(peer, " "), peer);
	}
	penalty_key(r->key, sizeof(r->key), r->peer);
	r->path = strstr(r->url, "/v1/");
	if (!r->path || dsync_relay_target_parse(&r->t, r->path) < 0) {
		r->t.kind = DSYNC_RELAY_T_BAD;
		return refuse(r, 400, "bad-name", "not a name of this relay");
	}
	if (r->bad_arg)
		return refuse(r, 400, "bad-name", "a query value holds '%'");
	for (i = 0; i < A_COUNT; i++)
		if (r->an[i] > 1)
			return refuse(r, 400, "bad-name", "a query argument is given twice");
	if (r->t.kind == DSYNC_RELAY_T_ROOT) {
		if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
			return method_not_allowed(r, "GET, HEAD");
		lines_answer(r, 200);
		dsync_buf_puts(&r->resp.body, "dsync-relay 1\n");
		return RELAY_ANSWER;
	}
	{
		int64_t wait = penalty_wait(r->s, r->key);

		if (wait > 0) {
			refuse(r, 429, "slow-down", "too many failures from this address");
			hdr(r, "Retry-After", "%" PRId64, wait);
			return RELAY_ANSWER;
		}
	}
	for (i = 0; i < DSYNC_ARRAY_SIZE(routes); i++)
		if (routes[i].kind == r->t.kind)
			break;
	if (i == DSYNC_ARRAY_SIZE(routes))
		return refuse(r, 400, "bad-name", "not a name of this relay");
	if (!allowed(routes[i].allow, r->method))
		return method_not_allowed(r, routes[i].allow);
	for (i = 0; i < H_COUNT; i++)
		if (r->hn[i] > 1 && i != H_XFF && i != H_AUTH && i != H_RANGE)
			return refuse(r, 400, "bad-header", "a header is given twice");
	if (r->t.kind == DSYNC_RELAY_T_GROUP && strcmp(r->method, "PUT") == 0)
		return group_create(r);
	if (check_token(r, &next) < 0)
		return next;
	switch (r->t.kind) {
	case DSYNC_RELAY_T_BLOB:
		return blob(r);
	case DSYNC_RELAY_T_GROUP:
		return group(r);
	case DSYNC_RELAY_T_LIST:
		return list(r);
	case DSYNC_RELAY_T_POLL:
		return poll_start(r);
	case DSYNC_RELAY_T_USAGE:
		return usage(r);
	case DSYNC_RELAY_T_DEVICE:
		return device(r);
	case DSYNC_RELAY_T_UPLOAD:
		return upload_state(r);
	default:
		return refuse(r, 400, "bad-name", "not a name of this relay");
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
			relay_disk_upload_abort(r->up);
			r->up = NULL;
			upload_done(r);
		}
		return refuse(r, 400, "bad-body", "the body is longer than Content-Length");
	}
	r->got += len;
	if (r->body == BODY_SMALL)
		return dsync_buf_put(&r->small, data, len) < 0 ? refuse(r, 413, "too-large", "the body is too long")
							      : RELAY_BODY;
	now = time(NULL);
	if (now - r->body_t0 >= SLOW_BODY_SECONDS && r->got < (uint64_t)(now - r->body_t0) * 1024) {
		relay_srv_log(r->s, "dropped %s: a body slower than 1 KiB/s", r->peer);
		return -1;
	}
	if ((error = relay_disk_upload_write(r->up, data, len)) < 0) {
		relay_disk_upload_abort(r->up);
		r->up = NULL;
		upload_done(r);
		return error == DSYNC_ENOSPACE ? refuse(r, 507, "disk-full", "the relay's disk is full")
					       : internal(r, error);
	}
	return RELAY_BODY;
}

relay_next relay_req_end(relay_req *r)
{
	if (r->failed || r->body == BODY_NONE)
		return r->resp.status ? RELAY_ANSWER : internal(r, DSYNC_ERROR);
	if (r->body == BODY_UPLOAD)
		return blob_put_end(r);
	if (r->got != r->clen)
		return refuse(r, 400, "short-body", "the body ended before Content-Length");
	if (r->t.kind == DSYNC_RELAY_T_DEVICE)
		return device_add_end(r);
	if (strcmp(r->method, "PUT") == 0)
		return group_create_end(r);
	return group_rotate_end(r);
}

relay_next relay_req_resume(relay_req *r)
{
	pthread_mutex_lock(&r->s->mu);
	if (r->park != PARK_NONE)
		unlink_parked(r->s, r);
	pthread_mutex_unlock(&r->s->mu);
	if (r->resp.status)
		return RELAY_ANSWER;   /* a delayed 403 */
	return poll_answer(r);
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
