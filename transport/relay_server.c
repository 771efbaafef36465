/*
 * The relay's request state and checks (docs/relay-protocol.md sections 3
 * to 8), without sockets: answers, the parking of polls and delayed 403s,
 * the caller's penalty, the token (against a random TH for a group that
 * doesn't exist, so both cases cost the same), signatures with the nonce
 * table, lengths; the server's life.  relay_route.c takes a request through
 * them in section 3's order and hands it to relay_endpoints.c; neither of
 * those is called from here.
 */
#include "core/base/internal.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/relay_server_int.h"

static const char *const header_names[H_COUNT] = {
	"Authorization", "Content-Length", "Transfer-Encoding", "Dsync-Body-Hash", "Dsync-Device", "Dsync-Time",
	"Dsync-Nonce", "Dsync-Signature", "Dsync-Upload", "Content-Range", "Dsync-Admission", "Range",
	"X-Forwarded-For"
};
static const char *const arg_names[A_COUNT] = { "prefix", "after", "limit", "since", "timeout" };

/* ---------------------------------------------------------------- small helpers */

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
int relay_parse_u64(const char *s, uint64_t *out)
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

void relay_hdr(relay_req *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void relay_hdr(relay_req *r, const char *name, const char *fmt, ...)
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

relay_next relay_answer(relay_req *r, unsigned status)
{
	resp_clear(&r->resp);
	r->resp.status = status;
	return RELAY_ANSWER;
}

/* An error answer: STATUS with the line-format body of CODE and TEXT. */
relay_next relay_refuse(relay_req *r, unsigned status, const char *code, const char *text)
{
	relay_answer(r, status);
	r->failed = true;
	relay_hdr(r, "Content-Type", "text/plain; charset=utf-8");
	if (dsync_relay_error_body(&r->resp.body, code, text) < 0)
		dsync_buf_truncate(&r->resp.body, 0);
	relay_srv_log(r->s, "refused %s: %u %s (%s %s)", r->peer[0] ? r->peer : "-", status, code, r->method,
		      r->t.kind == DSYNC_RELAY_T_BAD ? "-" : r->t.gid);
	return RELAY_ANSWER;
}

relay_next relay_lines_answer(relay_req *r, unsigned status)
{
	relay_answer(r, status);
	relay_hdr(r, "Content-Type", "text/plain; charset=utf-8");
	return RELAY_ANSWER;
}

relay_next relay_internal(relay_req *r, int error)
{
	relay_srv_log(r->s, "internal error: %s", error < 0 ? dsync_error_last() : "?");
	if (error == DSYNC_ERROR && r->s->store && r->s->store->ops->remote) {
		/* the bucket did not answer (section 14.7): the client waits and tries again */
		relay_refuse(r, 503, "storage", "the relay's storage does not answer; the request had no effect");
		relay_hdr(r, "Retry-After", "5");
		return RELAY_ANSWER;
	}
	return relay_refuse(r, 500, "internal", "the relay failed; the request had no effect");
}

/* ---------------------------------------------------------------- group counters */

group_mem *relay_group_mem_get(relay_srv *s, const char *gid)
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

void relay_change_now(relay_srv *s, const char *gid, uint64_t *n, char writer[DSYNC_RELAY_ID_HEX])
{
	group_mem *m;

	*n = 0;
	writer[0] = '\0';
	if (s->store->ops->change) {
		/* unreadable (the bucket away): 0, so a poll is answered and
		 * its client's round meets the outage itself */
		if (s->store->ops->change(s->store, gid, false, n) < 0) {
			relay_srv_log(s, "reading group %s's changes: %s", gid, dsync_error_last());
			*n = 0;
		}
		return;
	}
	pthread_mutex_lock(&s->mu);
	if ((m = relay_group_mem_get(s, gid)) != NULL) {
		*n = m->n;
		memcpy(writer, m->writer, DSYNC_RELAY_ID_HEX);
	}
	pthread_mutex_unlock(&s->mu);
}

/* Dsync-Change of the request's group, as it is now. */
void relay_add_change(relay_req *r)
{
	char writer[DSYNC_RELAY_ID_HEX];
	uint64_t n;

	relay_change_now(r->s, r->t.gid, &n, writer);
	relay_hdr(r, "Dsync-Change", "%s.%" PRIu64, r->s->epoch, n);
}

void relay_add_usage(relay_req *r)
{
	relay_group_info g;

	if (relay_store_group(r->s->store, r->t.gid, &g) == 0)
		relay_hdr(r, "Dsync-Usage", "%" PRIu64 " %" PRIu64, g.used, g.quota);
}

/* A 2xx under a group: STATUS with Dsync-Change. */
relay_next relay_ok(relay_req *r, unsigned status)
{
	relay_lines_answer(r, status);
	relay_add_change(r);
	return RELAY_ANSWER;
}

/* ---------------------------------------------------------------- parking */

void relay_unpark(relay_srv *s, relay_req *r)
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
void relay_wake(relay_srv *s, relay_req *r)
{
	relay_unpark(s, r);
	if (s->resume)
		s->resume(r->conn);
}

/* Parks R for WHY until DEADLINE (the lock held): suspended first, so no
 * waker can resume a connection not yet suspended. */
relay_next relay_park(relay_req *r, int why, int64_t deadline)
{
	relay_srv *s = r->s;

	/* stopping: nothing may stay suspended when the daemon stops (a 403
	 * goes out at once; a poll never gets here then) */
	if (s->stopping)
		return RELAY_ANSWER;
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
	int64_t now = dsync_now_ms();
	relay_req *r, *next;
	bool expire = false;

	pthread_mutex_lock(&s->mu);
	for (r = s->parked; r; r = next) {
		next = r->next;
		if (r->deadline <= now)
			relay_wake(s, r);
	}
	if (now - s->last_expire >= s->sweep_ms) {
		s->last_expire = now;
		expire = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (expire && relay_store_expire_uploads(s->store, UPLOAD_MAX_AGE) < 0)
		relay_srv_log(s, "expiring old uploads: %s", dsync_error_last());
}

void relay_srv_shutdown(relay_srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	while (s->parked)
		relay_wake(s, s->parked);
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
				p->fails = p->nseen = 0;   /* aged out */
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
int64_t relay_penalty_wait(relay_srv *s, const char *key)
{
	int64_t now = dsync_now_ms(), wait = 0, span;
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

/* Counts a refused token against KEY's address: only a (group, token)
 * pair (TAG) not among its last few refused ones is a new guess. */
static void penalty_fail(relay_srv *s, const char *key, uint32_t tag)
{
	int64_t now = dsync_now_ms();
	penalty *p;
	uint32_t i;

	pthread_mutex_lock(&s->mu);
	if ((p = penalty_find(s, key, true, now)) != NULL) {
		for (i = 0; i < p->nseen && i < PENALTY_SEEN && p->seen[i] != tag; i++)
			;
		if (i == p->nseen || i == PENALTY_SEEN) {
			p->seen[p->nseen++ % PENALTY_SEEN] = tag;
			p->fails++;
			p->last = now;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* The penalty key of address ADDR: itself for IPv4, the /64 for IPv6. */
void relay_penalty_key(char *out, size_t size, const char *addr)
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
relay_next relay_forbidden(relay_req *r)
{
	const char *auth = r->h[H_AUTH] ? r->h[H_AUTH] : "";
	crypto_generichash_state st;
	uint8_t h[8];
	uint32_t tag;
	relay_next next;

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)r->t.gid, strlen(r->t.gid) + 1);
	crypto_generichash_update(&st, (const uint8_t *)auth, strlen(auth));
	crypto_generichash_final(&st, h, sizeof(h));
	memcpy(&tag, h, sizeof(tag));
	penalty_fail(r->s, r->key, tag);
	relay_refuse(r, 403, "forbidden", "wrong token, or no such group");
	pthread_mutex_lock(&r->s->mu);
	next = relay_park(r, PARK_DELAY, dsync_now_ms() + DELAY_403_MS);
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
	relay_store_config sc = { 0 };
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
	/* the first sweep SWEEP_FIRST after the start, then every SWEEP_PERIOD */
	s->sweep_ms = DSYNC_TEST_KNOB("DSYNC_TEST_RELAY_SWEEP", SWEEP_PERIOD) * 1000;
	s->last_expire = dsync_now_ms() - s->sweep_ms + DSYNC_TEST_KNOB("DSYNC_TEST_RELAY_SWEEP_FIRST", SWEEP_FIRST) * 1000;
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
	sc.data_dir = c->data_dir;
	sc.s3_url = c->s3_url;
	sc.spool = c->s3_spool;
	sc.lim = s->lim;
	if ((error = relay_store_open(&s->store, &sc)) < 0) {
		relay_srv_close(s);
		return error;
	}
	if (s->store->epoch[0])
		memcpy(s->epoch, s->store->epoch, sizeof(s->epoch));
	if (s->store->ops->change) {
		pthread_cond_init(&s->watch_cv, NULL);
		if (pthread_create(&s->watcher, NULL, relay_poll_watch, s) != 0) {
			pthread_cond_destroy(&s->watch_cv);
			relay_srv_close(s);
			return dsync_error_set(DSYNC_ERROR, "cannot start the relay's change watcher");
		}
		s->watching = true;
	}
	*out = s;
	return 0;
}

void relay_srv_close(relay_srv *s)
{
	size_t i;

	if (!s)
		return;
	if (s->watching) {
		pthread_mutex_lock(&s->mu);
		s->watch_stop = true;
		pthread_cond_signal(&s->watch_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->watcher, NULL);
		pthread_cond_destroy(&s->watch_cv);
	}
	relay_store_close(s->store);
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

void relay_upload_done(relay_req *r)
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
		relay_unpark(r->s, r);
	pthread_mutex_unlock(&r->s->mu);
	if (r->up) {
		relay_store_upload_abort(r->s->store, r->up);
		r->up = NULL;
	}
	relay_upload_done(r);
	resp_clear(&r->resp);
	dsync_buf_dispose(&r->resp.body);
	dsync_buf_dispose(&r->small);
	free(r->url);
	free(r);
}

/* ---------------------------------------------------------------- authentication */

/* Step 3 and 4 of section 3: the token against the group's TH, or against
 * the random one when there is no such group.  0, or an answer. */
int relay_check_token(relay_req *r, relay_next *next)
{
	uint8_t token[DSYNC_RELAY_KEY_BYTES], th[DSYNC_RELAY_KEY_BYTES];
	const char *a = r->h[H_AUTH];
	const uint8_t *want = r->s->fake_th;
	bool found;
	int error;

	if (!a || r->hn[H_AUTH] != 1 || strncmp(a, "Dsync-Token ", 12) != 0 ||
	    dsync_relay_hex_parse(token, a + 12, 64) < 0) {
		*next = relay_forbidden(r);
		return -1;
	}
	error = relay_store_group(r->s->store, r->t.gid, &r->g);
	if (error < 0 && error != DSYNC_ENOTFOUND && r->s->store->ops->remote) {
		/* a bucket that did not answer: not a wrong token */
		sodium_memzero(token, sizeof(token));
		*next = relay_internal(r, error);
		return -1;
	}
	found = error == 0;
	if (found)
		want = r->g.token_hash;
	dsync_relay_secret_hash(th, "token", r->t.gid, token);
	sodium_memzero(token, sizeof(token));
	if (sodium_memcmp(th, want, sizeof(th)) != 0 || !found) {
		*next = relay_forbidden(r);
		return -1;
	}
	return 0;
}

/* Dsync-Admission against the group's AH: 0, or an answer. */
int relay_check_admission(relay_req *r, relay_next *next)
{
	uint8_t ah[DSYNC_RELAY_KEY_BYTES];

	if (!r->h[H_ADMIT]) {
		*next = relay_refuse(r, 403, "bad-admission", "Dsync-Admission is required");
		return -1;
	}
	if (dsync_relay_hex_parse(r->admit, r->h[H_ADMIT], 64) < 0) {
		*next = relay_refuse(r, 400, "bad-header", "Dsync-Admission is not 64 hex digits");
		return -1;
	}
	dsync_relay_secret_hash(ah, "admit", r->t.gid, r->admit);
	if (sodium_memcmp(ah, r->g.admit_hash, sizeof(ah)) != 0) {
		*next = relay_refuse(r, 403, "bad-admission", "wrong admission");
		return -1;
	}
	return 0;
}

/* A write without the signature headers is refused before any other
 * header is looked at. */
bool relay_unsigned_request(relay_req *r, relay_next *next)
{
	if (r->h[H_DEV] && r->h[H_TIME] && r->h[H_NONCE] && r->h[H_SIG])
		return false;
	*next = relay_refuse(r, 403, "bad-signature", "the request is not signed");
	return true;
}

/* The device signature of section 8 over BODY_HASH and TOTAL: 0 (the
 * signer in R->signer), or an answer. */
int relay_check_signature(relay_req *r, const char *body_hash, const char *total, relay_next *next)
{
	uint8_t dev[16], nonce[16], sig[DSYNC_RELAY_SIG_BYTES];
	relay_device_info d;
	uint64_t t;
	int64_t now = time(NULL);
	dsync_buf m;
	int rc, error;

	if (relay_unsigned_request(r, next))
		return -1;
	if (dsync_relay_hex_parse(dev, r->h[H_DEV], 32) < 0 || relay_parse_u64(r->h[H_TIME], &t) < 0 ||
	    dsync_relay_hex_parse(nonce, r->h[H_NONCE], 32) < 0 ||
	    dsync_relay_hex_parse(sig, r->h[H_SIG], 2 * DSYNC_RELAY_SIG_BYTES) < 0) {
		*next = relay_refuse(r, 400, "bad-header", "a signature header is malformed");
		return -1;
	}
	if ((error = relay_store_device(r->s->store, r->t.gid, r->h[H_DEV], &d)) < 0) {
		*next = error == DSYNC_ENOTFOUND ? relay_refuse(r, 403, "unknown-device", "no such device in the group")
						 : relay_internal(r, error);
		return -1;
	}
	dsync_buf_init(&m, 0);
	if (dsync_relay_sig_message(&m, r->method, r->path, r->t.gid, body_hash, total, (int64_t)t,
				    r->h[H_NONCE]) < 0) {
		dsync_buf_dispose(&m);
		*next = relay_internal(r, DSYNC_ERROR);
		return -1;
	}
	rc = crypto_sign_verify_detached(sig, (const uint8_t *)m.ptr, m.len, d.pk);
	dsync_buf_dispose(&m);
	if (rc != 0) {
		*next = relay_refuse(r, 403, "bad-signature", "the signature does not verify");
		return -1;
	}
	if ((int64_t)t > now + DSYNC_RELAY_SKEW || (int64_t)t < now - DSYNC_RELAY_SKEW) {
		*next = relay_refuse(r, 403, "clock-skew", "Dsync-Time is more than 300 s away from the relay's clock");
		return -1;
	}
	if ((rc = nonce_check(r->s, dev, nonce)) != 0) {
		*next = rc > 0 ? relay_refuse(r, 403, "replayed", "this nonce was used")
			       : relay_refuse(r, 503, "busy", "too many signed requests");
		if (rc < 0)
			relay_hdr(r, "Retry-After", "1");
		return -1;
	}
	memcpy(r->signer, r->h[H_DEV], sizeof(r->signer));
	return 0;
}

/* Content-Length for a PUT or POST, at most MAX: 0, or an answer. */
int relay_check_length(relay_req *r, uint64_t max, relay_next *next)
{
	if (r->h[H_TE] && strcasecmp(r->h[H_TE], "identity") != 0) {
		*next = relay_refuse(r, 411, "length-required", "chunked bodies are refused");
		return -1;
	}
	if (!r->h[H_LEN]) {
		*next = relay_refuse(r, 411, "length-required", "Content-Length is required");
		return -1;
	}
	if (relay_parse_u64(r->h[H_LEN], &r->clen) < 0) {
		*next = relay_refuse(r, 400, "bad-header", "Content-Length is not a number");
		return -1;
	}
	if (max && r->clen > max) {
		*next = relay_refuse(r, 413, "too-large", "the body is over the limit");
		return -1;
	}
	return 0;
}

relay_next relay_method_not_allowed(relay_req *r, const char *allow)
{
	relay_refuse(r, 405, "method", "the target does not take this method");
	relay_hdr(r, "Allow", "%s", allow);
	return RELAY_ANSWER;
}
