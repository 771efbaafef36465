/*
 * The relay's endpoints (docs/relay-protocol.md sections 4 to 8), reached
 * from relay_server.c's router once the name, the penalty and the token are
 * checked: blobs (GET/HEAD from where the store says the body starts, PUT
 * streamed into the store after every check, DELETE under the writer
 * rules), .group, .device, .list, .usage, .upload and the long-poll (for a
 * store several relays share, also the thread that answers polls after
 * their pushes).
 */
#include "core/base/internal.h"

#include <inttypes.h>
#include <time.h>

#include <sodium.h>

#include "core/base/array.h"
#include "transport/relay_server_int.h"

/* ---------------------------------------------------------------- blobs */

static void add_blob_headers(relay_req *r, const relay_blob_info *b)
{
	char hex[DSYNC_RELAY_HEX64], date[64];
	struct tm tm;
	time_t t = (time_t)b->mtime;

	dsync_relay_hex(hex, b->hash, sizeof(b->hash));
	relay_hdr(r, "ETag", "\"%s\"", hex);
	if (gmtime_r(&t, &tm) && strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		relay_hdr(r, "Last-Modified", "%s", date);
}

static relay_next blob_get(relay_req *r)
{
	relay_blob_info b;
	uint64_t from = 0, body_at = 0;
	int fd, error;
	const char *range = r->h[H_RANGE];

	if ((error = relay_store_blob_open(r->s->store, r->t.gid, r->t.name, &fd, &body_at, &b)) < 0)
		return error == DSYNC_ENOTFOUND ? relay_refuse(r, 404, "not-found", "no such blob") : relay_internal(r, error);
	/* "bytes=START-" only; any other Range is ignored (section 4.1) */
	if (range && r->hn[H_RANGE] == 1 && strncmp(range, "bytes=", 6) == 0 && strchr(range, '-') &&
	    strchr(range, '-')[1] == '\0') {
		char num[24];
		size_t n = (size_t)(strchr(range, '-') - (range + 6));

		if (n > 0 && n < sizeof(num)) {
			memcpy(num, range + 6, n);
			num[n] = '\0';
			if (relay_parse_u64(num, &from) < 0 || from >= b.size)
				from = 0;
		}
	}
	relay_answer(r, from ? 206 : 200);
	r->resp.fd = fd;
	r->resp.off = body_at + from;
	r->resp.len = b.size - from;
	relay_hdr(r, "Content-Type", "application/octet-stream");
	add_blob_headers(r, &b);
	if (from)
		relay_hdr(r, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, b.size - 1, b.size);
	relay_add_change(r);
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

	if ((error = relay_store_blob_stat(r->s->store, r->t.gid, r->t.name, &b)) < 0 && error != DSYNC_ENOTFOUND) {
		*next = relay_internal(r, error);
		return -1;
	}
	in.is_delete = is_delete;
	in.name = r->t.name;
	in.signer = r->signer;
	in.exists = *exists = error == 0;
	in.writer = in.exists ? b.writer : NULL;
	if (dsync_relay_manifest_name(r->t.name, dev, &seq) == 0) {
		if ((error = relay_store_device(r->s->store, r->t.gid, dev, &d)) == 0)
			in.seq_high = d.seq_high;
		else if (error != DSYNC_ENOTFOUND) {
			*next = relay_internal(r, error);
			return -1;
		}
	}
	in.other_keys = r->g.keys - (in.exists && strncmp(r->t.name, "keys/", 5) == 0 && r->g.keys ? 1 : 0);
	v = dsync_relay_rules_allow(&in);
	if (v == DSYNC_RELAY_ALLOW)
		return 0;
	if (v == DSYNC_RELAY_DENY_METHOD)
		*next = relay_method_not_allowed(r, "GET, HEAD, PUT");
	else
		*next = relay_refuse(r, 409, dsync_relay_verdict_code(v), "the writer rules refuse this");
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
	if (relay_parse_u64(a, &r->start) < 0 || relay_parse_u64(b, &end) < 0 || relay_parse_u64(c, &r->total) < 0)
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

	if (relay_check_length(r, r->s->lim.max_blob, &next) < 0)
		return next;
	if (!r->h[H_HASH] || dsync_relay_hex_parse(r->hash, r->h[H_HASH], 64) < 0)
		return relay_refuse(r, 400, "bad-header", "Dsync-Body-Hash must be 64 hex digits");
	memcpy(r->hash_hex, r->h[H_HASH], sizeof(r->hash_hex));
	r->total = r->clen;
	if (r->h[H_UPLOAD]) {
		if (dsync_relay_hex_parse(NULL, r->h[H_UPLOAD], 32) < 0)
			return relay_refuse(r, 400, "bad-header", "Dsync-Upload must be 32 hex digits");
		if (parse_content_range(r) < 0)
			return relay_refuse(r, 400, "bad-header", "Content-Range must be bytes START-END/TOTAL");
		r->resumable = true;
	}
	/* the shapes and the size first: they say nothing about the group */
	if (r->total > r->s->lim.max_blob)
		return relay_refuse(r, 413, "too-large", "the blob is over the relay's --max-blob");
	snprintf(total, sizeof(total), "%" PRIu64, r->total);
	if (relay_check_signature(r, r->hash_hex, total, &next) < 0 || check_rules(r, false, &exists, &next) < 0)
		return next;
	pthread_mutex_lock(&r->s->mu);
	if (r->s->stopping || r->s->uploads >= r->s->max_uploads) {
		pthread_mutex_unlock(&r->s->mu);
		relay_refuse(r, 503, "busy", "too many uploads at once");
		relay_hdr(r, "Retry-After", "1");
		return RELAY_ANSWER;
	}
	r->s->uploads++;
	r->upload_counted = true;
	pthread_mutex_unlock(&r->s->mu);
	error = relay_store_upload_begin(&r->up, r->s->store, r->t.gid, r->t.name, r->signer, r->total, r->hash,
					r->resumable ? r->h[H_UPLOAD] : NULL, &offset);
	if (error < 0) {
		r->up = NULL;
		relay_upload_done(r);
		if (error == DSYNC_ENOSPACE) {
			const char *why = relay_store_last_refusal(r->s->store);

			if (why && strcmp(why, "too-large") == 0)
				return relay_refuse(r, 413, "too-large", "the blob is over the relay's --max-blob");
			next = relay_refuse(r, 507, why ? why : "over-quota", "the upload does not fit");
			relay_add_usage(r);
			return next;
		}
		if (error == DSYNC_ELOCKED) {
			/* another connection holds it and can't be taken over: it is
			 * finishing, failed, or it is another device's or length's */
			relay_refuse(r, 503, "busy", "this upload is in progress on another connection");
			relay_hdr(r, "Retry-After", "5");
			return RELAY_ANSWER;
		}
		return relay_internal(r, error);
	}
	if (r->resumable && offset != r->start) {
		relay_store_upload_abort(r->s->store, r->up);
		r->up = NULL;
		relay_upload_done(r);
		relay_refuse(r, 409, "offset", "Content-Range does not start where the upload is");
		relay_hdr(r, "Dsync-Offset", "%" PRIu64, offset);
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
	if ((m = relay_group_mem_get(s, r->t.gid)) != NULL) {
		m->n++;
		memcpy(m->writer, r->signer, sizeof(m->writer));
	}
	for (w = s->parked; w; w = next) {
		next = w->next;
		if (w->park == PARK_POLL && strcmp(w->t.gid, r->t.gid) == 0)
			relay_wake(s, w);
	}
	pthread_mutex_unlock(&s->mu);
}

relay_next relay_ep_blob_put_end(relay_req *r)
{
	relay_upload *u = r->up;
	bool replaced = false;
	relay_next next;
	int error;

	r->up = NULL;
	if (r->got != r->clen) {
		relay_store_upload_abort(r->s->store, u);
		relay_upload_done(r);
		return relay_refuse(r, 400, "short-body", "the body ended before Content-Length");
	}
	if (r->resumable && r->start + r->clen < r->total) {
		/* a part: kept, the next part continues it */
		relay_store_upload_abort(r->s->store, u);
		relay_upload_done(r);
		relay_ok(r, 202);
		relay_hdr(r, "Dsync-Offset", "%" PRIu64, r->start + r->clen);
		relay_add_usage(r);
		return RELAY_ANSWER;
	}
	error = relay_store_upload_finish(r->s->store, u, &replaced);
	relay_upload_done(r);
	if (error == DSYNC_ECORRUPT)
		return relay_refuse(r, 400, "hash-mismatch", "the body's hash is not Dsync-Body-Hash");
	if (error == DSYNC_ECONFLICT)
		return relay_refuse(r, 409, "seq-not-newer", "a manifest as new was accepted already");
	if (error == DSYNC_ENOTFOUND)   /* its device was removed meanwhile */
		return relay_refuse(r, 409, "not-writer", "the manifest's device is not registered");
	if (error == DSYNC_ENOSPACE) {
		next = relay_refuse(r, 507, "disk-full", "the relay's disk is full");
		relay_add_usage(r);
		return next;
	}
	if (error < 0)
		return relay_internal(r, error);
	if (strncmp(r->t.name, "devices/", 8) == 0)
		changed(r);
	relay_ok(r, replaced ? 204 : 201);
	relay_add_usage(r);
	return RELAY_ANSWER;
}

static relay_next blob_delete(relay_req *r)
{
	relay_next next;
	bool exists;
	int error;

	if (relay_check_signature(r, "", "", &next) < 0 || check_rules(r, true, &exists, &next) < 0)
		return next;
	if (exists && (error = relay_store_blob_delete(r->s->store, r->t.gid, r->t.name)) < 0)
		return relay_internal(r, error);
	relay_ok(r, 204);
	relay_add_usage(r);
	return RELAY_ANSWER;
}

relay_next relay_ep_blob(relay_req *r)
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

	if (relay_check_length(r, SMALL_BODY_MAX, &next) < 0)
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
		*next = relay_refuse(r, 400, "bad-body", "the body is not the line format");
		return -1;
	}
	t = dsync_relay_lines_get(&l, "token-hash");
	a = dsync_relay_lines_get(&l, "admit-hash");
	if (!t || !a || dsync_relay_hex_parse(th, t, 64) < 0 || dsync_relay_hex_parse(ah, a, 64) < 0)
		*next = relay_refuse(r, 400, "bad-body", "token-hash and admit-hash must be 64 hex digits");
	else
		rc = 0;
	dsync_relay_lines_dispose(&l);
	return rc;
}

/* PUT .group, before its body: the token's shape, the admission's, and a
 * group taken by another TH is refused at once. */
relay_next relay_ep_group_create(relay_req *r)
{
	uint8_t token[DSYNC_RELAY_KEY_BYTES], th[DSYNC_RELAY_KEY_BYTES];
	const char *a = r->h[H_AUTH];
	bool found;
	int error;

	if (!a || r->hn[H_AUTH] != 1 || strncmp(a, "Dsync-Token ", 12) != 0 ||
	    dsync_relay_hex_parse(token, a + 12, 64) < 0)
		return relay_forbidden(r);
	if (!r->h[H_ADMIT] || dsync_relay_hex_parse(r->admit, r->h[H_ADMIT], 64) < 0)
		return relay_refuse(r, 400, "bad-header", "Dsync-Admission must be 64 hex digits");
	error = relay_store_group(r->s->store, r->t.gid, &r->g);
	if (error < 0 && error != DSYNC_ENOTFOUND && r->s->store->ops->remote) {
		sodium_memzero(token, sizeof(token));
		return relay_internal(r, error);
	}
	found = error == 0;
	dsync_relay_secret_hash(th, "token", r->t.gid, token);
	sodium_memzero(token, sizeof(token));
	if (sodium_memcmp(th, found ? r->g.token_hash : r->s->fake_th, sizeof(th)) != 0 && found)
		return relay_forbidden(r);
	return small_body(r);
}

relay_next relay_ep_group_create_end(relay_req *r)
{
	uint8_t th[DSYNC_RELAY_KEY_BYTES], ah[DSYNC_RELAY_KEY_BYTES], want[DSYNC_RELAY_KEY_BYTES];
	uint8_t token[DSYNC_RELAY_KEY_BYTES];
	relay_next next;
	int error;

	if (group_hashes(r, th, ah, &next) < 0)
		return next;
	/* the hashes must be of what the caller holds */
	if (dsync_relay_hex_parse(token, r->h[H_AUTH] + 12, 64) < 0)
		return relay_forbidden(r);
	dsync_relay_secret_hash(want, "token", r->t.gid, token);
	sodium_memzero(token, sizeof(token));
	if (sodium_memcmp(want, th, sizeof(th)) != 0)
		return relay_refuse(r, 400, "bad-body", "token-hash is not the hash of the token");
	dsync_relay_secret_hash(want, "admit", r->t.gid, r->admit);
	if (sodium_memcmp(want, ah, sizeof(ah)) != 0)
		return relay_refuse(r, 400, "bad-body", "admit-hash is not the hash of Dsync-Admission");
	error = relay_store_group_create(r->s->store, r->t.gid, th, ah);
	if (error == DSYNC_EAUTH)
		return relay_forbidden(r);
	if (error == DSYNC_ENOSPACE)
		return relay_refuse(r, 507, "relay-full", "the relay holds as many groups as it takes");
	if (error < 0)
		return relay_internal(r, error);
	if (error == 0)
		relay_srv_log(r->s, "group %s created", r->t.gid);
	return relay_ok(r, error == 0 ? 201 : 200);
}

relay_next relay_ep_group_rotate_end(relay_req *r)
{
	uint8_t th[DSYNC_RELAY_KEY_BYTES], ah[DSYNC_RELAY_KEY_BYTES], bh[DSYNC_RELAY_KEY_BYTES];
	char bhex[DSYNC_RELAY_HEX64];
	relay_next next;
	int error;

	crypto_generichash(bh, sizeof(bh), (const uint8_t *)r->small.ptr, r->small.len, NULL, 0);
	dsync_relay_hex(bhex, bh, sizeof(bh));
	if (relay_check_signature(r, bhex, "", &next) < 0 || group_hashes(r, th, ah, &next) < 0)
		return next;
	if ((error = relay_store_group_rotate(r->s->store, r->t.gid, th, ah)) < 0)
		return relay_internal(r, error);
	relay_srv_log(r->s, "group %s: token rotated by device %s", r->t.gid, r->signer);
	return relay_ok(r, 204);
}

relay_next relay_ep_group(relay_req *r)
{
	relay_next next;

	if (strcmp(r->method, "GET") == 0) {
		relay_ok(r, 200);
		dsync_buf_printf(&r->resp.body, "group 1\ncreated %" PRId64 "\ndevices %" PRIu64 "\n", r->g.created,
				 r->g.devices);
		return RELAY_ANSWER;
	}
	/* POST: the signature covers the body, checked at its end */
	if (relay_check_admission(r, &next) < 0)
		return next;
	return small_body(r);
}

relay_next relay_ep_device(relay_req *r)
{
	relay_device_info d;
	relay_next next;
	char hex[DSYNC_RELAY_HEX64];
	int error;

	if (strcmp(r->method, "GET") == 0) {
		if ((error = relay_store_device(r->s->store, r->t.gid, r->t.name, &d)) < 0)
			return error == DSYNC_ENOTFOUND ? relay_refuse(r, 404, "not-found", "no such device")
							: relay_internal(r, error);
		dsync_relay_hex(hex, d.pk, sizeof(d.pk));
		relay_ok(r, 200);
		dsync_buf_printf(&r->resp.body, "key %s\nseq %" PRIu64 "\n", hex, d.seq_high);
		return RELAY_ANSWER;
	}
	if (strcmp(r->method, "DELETE") == 0) {
		if (relay_check_signature(r, "", "", &next) < 0)
			return next;
		if (strcmp(r->signer, r->t.name) == 0)
			return relay_refuse(r, 409, "not-writer", "a device is removed by another device");
		if ((error = relay_store_device_remove(r->s->store, r->t.gid, r->t.name)) < 0)
			return error == DSYNC_ENOTFOUND ? relay_refuse(r, 404, "not-found", "no such device")
							: relay_internal(r, error);
		relay_srv_log(r->s, "group %s: device %s removed by %s", r->t.gid, r->t.name, r->signer);
		return relay_ok(r, 204);
	}
	if (relay_check_admission(r, &next) < 0)
		return next;
	return small_body(r);
}

relay_next relay_ep_device_add_end(relay_req *r)
{
	uint8_t pk[DSYNC_RELAY_PK_BYTES], proof[DSYNC_RELAY_SIG_BYTES];
	dsync_relay_lines l;
	const char *k, *p;
	dsync_buf m;
	int error, rc;

	if (dsync_relay_lines_parse(&l, r->small.ptr ? r->small.ptr : "", r->small.len) < 0)
		return relay_refuse(r, 400, "bad-body", "the body is not the line format");
	k = dsync_relay_lines_get(&l, "key");
	p = dsync_relay_lines_get(&l, "proof");
	rc = !k || !p || dsync_relay_hex_parse(pk, k, 64) < 0 || dsync_relay_hex_parse(proof, p, 128) < 0;
	dsync_relay_lines_dispose(&l);
	if (rc)
		return relay_refuse(r, 400, "bad-body", "key and proof must be hex");
	dsync_buf_init(&m, 0);
	if (dsync_relay_register_message(&m, r->t.gid, r->t.name, pk) < 0) {
		dsync_buf_dispose(&m);
		return relay_internal(r, DSYNC_ERROR);
	}
	rc = crypto_sign_verify_detached(proof, (const uint8_t *)m.ptr, m.len, pk);
	dsync_buf_dispose(&m);
	if (rc != 0)
		return relay_refuse(r, 400, "bad-signature", "the proof does not verify");
	error = relay_store_device_add(r->s->store, r->t.gid, r->t.name, pk);
	if (error == DSYNC_EEXISTS)
		return relay_refuse(r, 409, "device-exists", "this device id has another key");
	if (error == DSYNC_ENOSPACE)
		return relay_refuse(r, 409, "too-many-devices", "the group has as many devices as it takes");
	if (error < 0)
		return relay_internal(r, error);
	if (error == 0)
		relay_srv_log(r->s, "group %s: device %s registered", r->t.gid, r->t.name);
	return relay_ok(r, error == 0 ? 201 : 200);
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

relay_next relay_ep_list(relay_req *r)
{
	const char *prefix = r->a[A_PREFIX] ? r->a[A_PREFIX] : "", *after = r->a[A_AFTER];
	uint64_t limit = DSYNC_RELAY_LIST_MAX;
	list_out o = { 0 };
	bool more = false;
	int error;

	if (dsync_relay_prefix_ok(prefix) < 0 || (after && dsync_relay_blob_name_ok(after) < 0) ||
	    (r->a[A_LIMIT] && (relay_parse_u64(r->a[A_LIMIT], &limit) < 0 || limit < 1 || limit > DSYNC_RELAY_LIST_MAX)))
		return relay_refuse(r, 400, "bad-name", "prefix, after or limit is malformed");
	relay_ok(r, 200);   /* the counter is read before the folder (section 6) */
	o.b = &r->resp.body;
	error = relay_store_list(r->s->store, r->t.gid, prefix, after, (unsigned)limit, &more, list_line, &o);
	if (error < 0)
		return relay_internal(r, error);
	if (more && o.last[0])
		dsync_buf_printf(&r->resp.body, "next %s\n", o.last);
	return RELAY_ANSWER;
}

relay_next relay_ep_usage(relay_req *r)
{
	relay_ok(r, 200);
	dsync_buf_printf(&r->resp.body, "used %" PRIu64 "\nquota %" PRIu64 "\nblobs %" PRIu64 "\nmax-blob %" PRIu64 "\n",
			 r->g.used, r->g.quota, r->g.blobs, r->s->lim.max_blob);
	relay_hdr(r, "Dsync-Usage", "%" PRIu64 " %" PRIu64, r->g.used, r->g.quota);
	return RELAY_ANSWER;
}

relay_next relay_ep_upload_state(relay_req *r)
{
	uint64_t offset;
	int error;

	if ((error = relay_store_upload_offset(r->s->store, r->t.gid, r->t.name, &offset)) < 0)
		return error == DSYNC_ENOTFOUND ? relay_refuse(r, 404, "not-found", "no such upload") : relay_internal(r, error);
	relay_ok(r, 200);
	relay_hdr(r, "Dsync-Offset", "%" PRIu64, offset);
	return RELAY_ANSWER;
}

/* ---------------------------------------------------------------- .poll */

/* The poll's answer, now: "changed 1" when the counter is not SINCE. */
relay_next relay_ep_poll_answer(relay_req *r)
{
	uint64_t n = 0;
	char writer[DSYNC_RELAY_ID_HEX] = "";
	bool differs;

	relay_change_now(r->s, r->t.gid, &n, writer);
	differs = !r->has_since || strcmp(r->since_epoch, r->s->epoch) != 0 || r->since_n != n;
	relay_lines_answer(r, 200);
	relay_hdr(r, "Dsync-Change", "%s.%" PRIu64, r->s->epoch, n);
	dsync_buf_printf(&r->resp.body, "change %s.%" PRIu64 "\nchanged %d\n", r->s->epoch, n, differs ? 1 : 0);
	if (differs && writer[0])
		dsync_buf_printf(&r->resp.body, "writer %s\n", writer);
	return RELAY_ANSWER;
}

relay_next relay_ep_poll_start(relay_req *r)
{
	uint64_t timeout = POLL_TIMEOUT_DEFAULT;
	relay_next next;
	bool differs;

	if (r->a[A_SINCE]) {
		if (dsync_relay_change_parse(r->a[A_SINCE], r->since_epoch, &r->since_n) < 0)
			return relay_refuse(r, 400, "bad-name", "since is not EPOCH.N");
		r->has_since = true;
	}
	if (r->a[A_TIMEOUT] && (relay_parse_u64(r->a[A_TIMEOUT], &timeout) < 0 || timeout < 1 || timeout > POLL_TIMEOUT_MAX))
		return relay_refuse(r, 400, "bad-name", "timeout is not 1..55");
	if (r->s->store->ops->change) {
		/* a shared store: N read first; a change after it is the watcher's to see */
		char writer[DSYNC_RELAY_ID_HEX];
		uint64_t n;

		relay_change_now(r->s, r->t.gid, &n, writer);
		pthread_mutex_lock(&r->s->mu);
		differs = !r->has_since || strcmp(r->since_epoch, r->s->epoch) != 0 || r->since_n != n;
	} else {
		group_mem *m;

		pthread_mutex_lock(&r->s->mu);
		m = relay_group_mem_get(r->s, r->t.gid);
		differs = !m || !r->has_since || strcmp(r->since_epoch, r->s->epoch) != 0 || r->since_n != m->n;
	}
	if (differs || r->s->stopping) {
		pthread_mutex_unlock(&r->s->mu);
		return relay_ep_poll_answer(r);
	}
	if (r->s->polls >= r->s->max_polls) {
		pthread_mutex_unlock(&r->s->mu);
		relay_refuse(r, 503, "busy", "too many polls");
		relay_hdr(r, "Retry-After", "5");
		return RELAY_ANSWER;
	}
	/* checked and parked under one lock: a change can't slip between */
	next = relay_park(r, PARK_POLL, dsync_now_ms() + (int64_t)timeout * 1000);
	pthread_mutex_unlock(&r->s->mu);
	return next;
}

typedef struct { char gid[DSYNC_RELAY_ID_HEX]; } gid_item;

/* Once a second: the change value of each group with waiting polls, read
 * from the shared store, and those polls whose `since` it no longer is
 * answered (docs/relay-protocol.md section 14.6). */
void *relay_poll_watch(void *arg)
{
	relay_srv *s = arg;
	DSYNC_ARRAY(gid_item) gids = DSYNC_ARRAY_INIT;
	relay_req *r, *next;
	struct timespec ts;
	size_t i, j;
	uint64_t n;

	pthread_mutex_lock(&s->mu);
	while (!s->watch_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&s->watch_cv, &s->mu, &ts);
		if (s->watch_stop)
			break;
		gids.size = 0;
		for (r = s->parked; r; r = r->next) {
			if (r->park != PARK_POLL)
				continue;
			for (j = 0; j < gids.size && strcmp(gids.ptr[j].gid, r->t.gid) != 0; j++)
				;
			if (j == gids.size && dsync_array_push(gids, (gid_item){ { 0 } }) == 0)
				memcpy(gids.ptr[j].gid, r->t.gid, DSYNC_RELAY_ID_HEX);
		}
		pthread_mutex_unlock(&s->mu);
		for (i = 0; i < gids.size; i++) {
			if (s->store->ops->change(s->store, gids.ptr[i].gid, true, &n) < 0) {
				relay_srv_log(s, "reading group %s's changes: %s", gids.ptr[i].gid, dsync_error_last());
				continue;
			}
			pthread_mutex_lock(&s->mu);
			for (r = s->parked; r; r = next) {
				next = r->next;
				if (r->park == PARK_POLL && strcmp(r->t.gid, gids.ptr[i].gid) == 0 &&
				    (!r->has_since || strcmp(r->since_epoch, s->epoch) != 0 || r->since_n != n))
					relay_wake(s, r);
			}
			pthread_mutex_unlock(&s->mu);
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	dsync_array_dispose(gids);
	return NULL;
}
