/*
 * The relay's client (transport/relay.h, docs/relay-protocol.md): a group on
 * a relay as a blob store.  One CURL handle per store, kept alive for every
 * request (relay_client.c); reads, listings page by page with every line
 * checked, deletes signed, the long-poll as wait_change and the group's
 * quota as usage.  Uploads are in relay_put.c.
 */
#include "core/base/internal.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "transport/relay.h"
#include "transport/relay_client.h"
#include "transport/relay_put.h"

#define ROOT_BODY "dsync-relay 1\n"
#define LIST_BODY_MAX (300 * 1024)     /* section 5: 1,000 lines of at most about 240 bytes */
#define SMALL_BODY_MAX 4096            /* .usage, .poll */
#define POLL_MAX_S 55                  /* section 6: timeout is 1..55 */
#define POLL_SLACK_MS 15000            /* beyond the poll's own timeout before we give up on it */
#define NO_CURSOR "0000000000000000.0" /* an epoch no relay has: answered at once */

static relay_store *store_of(dsync_blobstore *bs)
{
	return (relay_store *)bs;
}

static int check_name(relay_store *s, const char *name)
{
	char q[DSYNC_QUOTE_SIZE];

	if (dsync_blobstore_check_name(name) < 0 || dsync_relay_blob_name_ok(name) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a blob name a relay holds (relay '%s')",
				       dsync_quote(q, name), s->who);
	return 0;
}

/* ---- listing */

/* One page from AFTER (NULL: the start): each blob to CB; *NEXT (a buffer
 * of DSYNC_RELAY_NAME_MAX + 1) set to the next page's AFTER, "" at the end. */
static int list_page(relay_store *s, const char *prefix, const char *after, unsigned limit, dsync_blobstore_list_cb cb,
		     void *payload, char *next)
{
	dsync_buf q = DSYNC_BUF_INIT, body = DSYNC_BUF_INIT;
	dsync_relay_list_line line;
	dsync_blobstore_info info;
	char last[DSYNC_RELAY_NAME_MAX + 1];
	const char *p, *end, *nl;
	size_t count = 0, plen = strlen(prefix);
	relay_call r;
	int error;

	next[0] = '\0';
	snprintf(last, sizeof(last), "%s", after ? after : "");
	dsync_buf_init(&body, LIST_BODY_MAX);
	dsync_relay_call_init(&r, "GET", NULL, "the listing");
	/* values go unescaped: a name or prefix holds no '%', '&' or space (section 3) */
	if ((error = dsync_buf_printf(&q, ".list?limit=%u", limit)) < 0 ||
	    (*prefix && (error = dsync_buf_printf(&q, "&prefix=%s", prefix)) < 0) ||
	    (after && (error = dsync_buf_printf(&q, "&after=%s", after)) < 0))
		goto out;
	r.target = q.ptr;
	r.out = &body;
	if ((error = dsync_relay_call_perform(s, &r)) < 0)
		goto out;
	if (r.reply.status != 200) {
		error = dsync_relay_call_refused(s, &r, "list");
		goto out;
	}
	p = body.ptr ? body.ptr : "";
	end = p + body.len;
	for (; p < end; p = nl + 1) {
		if (!(nl = memchr(p, '\n', (size_t)(end - p))) || next[0] ||
		    dsync_relay_list_line_parse(&line, p, (size_t)(nl - p)) < 0)
			goto corrupt;
		/* sorted, after AFTER, under PREFIX, at most LIMIT: else a relay could loop us */
		if (strcmp(line.name, last) <= 0 && !(line.is_next && strcmp(line.name, last) == 0 && count))
			goto corrupt;
		if (line.is_next) {
			memcpy(next, line.name, strlen(line.name) + 1);
			continue;
		}
		if (strncmp(line.name, prefix, plen) != 0 || ++count > limit)
			goto corrupt;
		memcpy(last, line.name, strlen(line.name) + 1);
		info.size = line.size;
		info.mtime = (time_t)line.mtime;
		if ((error = cb(line.name, &info, payload)) != 0)
			goto out;
	}
	error = 0;
	goto out;
corrupt:
	error = dsync_error_set(DSYNC_ECORRUPT, "relay '%s' sent a malformed listing of '%s'", s->who, prefix);
out:
	dsync_relay_call_dispose(&r);
	dsync_buf_dispose(&q);
	dsync_buf_dispose(&body);
	return error;
}

static int relay_list(dsync_blobstore *bs, const char *prefix, dsync_blobstore_list_cb cb, void *payload)
{
	relay_store *s = store_of(bs);
	char after[DSYNC_RELAY_NAME_MAX + 1], next[DSYNC_RELAY_NAME_MAX + 1], q[DSYNC_QUOTE_SIZE];
	int error;

	if (dsync_relay_prefix_ok(prefix) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "cannot list '%s' on relay '%s': not a prefix of blob names",
				       dsync_quote(q, prefix), s->who);
	if ((error = list_page(s, prefix, NULL, DSYNC_RELAY_LIST_MAX, cb, payload, next)) != 0)
		return error;
	while (next[0]) {
		memcpy(after, next, sizeof(after));
		if ((error = list_page(s, prefix, after, DSYNC_RELAY_LIST_MAX, cb, payload, next)) != 0)
			return error;
	}
	return 0;
}

static int found_one(const char *name, const dsync_blobstore_info *info, void *payload)
{
	(void)name, (void)info;
	*(bool *)payload = false;
	return 0;
}

static int relay_is_empty(dsync_blobstore *bs, bool *empty)
{
	relay_store *s = store_of(bs);
	char next[DSYNC_RELAY_NAME_MAX + 1];

	/* a group our own PUT .group made holds nothing yet (section 4.5) */
	*empty = true;
	if (s->created)
		return 0;
	return list_page(s, "", NULL, 1, found_one, empty, next);
}

/* ---- reads */

/* Back to the start of FD's part (a resumed read that must start over). */
static int rewind_to(relay_store *s, int fd, off_t start, const char *name)
{
	if (start < 0 || lseek(fd, start, SEEK_SET) < 0 || ftruncate(fd, start) < 0)
		return dsync_error_set(DSYNC_ERROR, "cannot reach relay '%s': reading %s was cut and can't start over",
				       s->who, name);
	return 0;
}

static int relay_get(dsync_blobstore *bs, const char *name, int fd, uint64_t max, dsync_blobstore_xfer_cb xfer,
		     void *payload)
{
	relay_store *s = store_of(bs);
	crypto_generichash_state h;
	unsigned char sum[DSYNC_RELAY_KEY_BYTES];
	char etag[DSYNC_RELAY_HEX64] = "", hex[DSYNC_RELAY_HEX64], range[32];
	off_t start = lseek(fd, 0, SEEK_CUR);
	uint64_t got = 0;
	relay_call r;
	int error, try = 0;

	if ((error = check_name(s, name)) < 0)
		return error;
	crypto_generichash_init(&h, NULL, 0, sizeof(sum));
	dsync_relay_call_init(&r, "GET", name, name);
	for (;;) {
		uint64_t before = got;

		r.out_fd = fd;
		r.max = max ? max - got : 0;
		r.hash = &h;
		r.xfer = xfer;
		r.payload = payload;
		r.xfer_base = got;
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)got);
		r.range = got ? range : NULL;
		error = dsync_relay_call_perform(s, &r);
		got += r.got;
		if (!before && r.reply.status == 200)
			memcpy(etag, r.reply.etag, sizeof(etag)); /* what a resumed read must continue */
		if (error < 0 && dsync_relay_call_is_cut(&r) && ++try < RELAY_CUT_TRIES) {
			dsync_relay_client_backoff(try);
			continue;
		}
		if (error < 0)
			goto out;
		if (r.reply.status != 200 && r.reply.status != 206) {
			error = dsync_relay_call_refused(s, &r, "read");
			goto out;
		}
		/* a resumed read must continue the same blob where it was cut */
		if (before && (r.reply.status != 206 || !r.reply.has_range || r.reply.range_start != before ||
			       strcmp(r.reply.etag, etag) != 0)) {
			if ((error = rewind_to(s, fd, start, name)) < 0)
				goto out;
			got = 0;
			crypto_generichash_init(&h, NULL, 0, sizeof(sum));
			if (++try >= RELAY_CUT_TRIES) {
				error = dsync_error_set(DSYNC_ERROR, "cannot reach relay '%s': reading %s kept failing",
							s->who, name);
				goto out;
			}
			continue;
		}
		if (!before && r.reply.status != 200)
			goto corrupt;
		break;
	}
	crypto_generichash_final(&h, sum, sizeof(sum));
	dsync_relay_hex(hex, sum, sizeof(sum));
	/* the ETag is the hash the blob was stored with: a changed byte on the way shows */
	if (etag[0] && strcmp(hex, etag) != 0)
		goto corrupt;
	error = 0;
	goto out;
corrupt:
	error = dsync_error_set(DSYNC_ECORRUPT, "relay '%s' sent %s with bytes that don't match its hash", s->who, name);
out:
	dsync_relay_call_dispose(&r);
	return error;
}

static int relay_stat(dsync_blobstore *bs, const char *name, dsync_blobstore_info *out)
{
	relay_store *s = store_of(bs);
	relay_call r;
	int error;

	if ((error = check_name(s, name)) < 0)
		return error;
	dsync_relay_call_init(&r, "HEAD", name, name);
	if ((error = dsync_relay_call_perform(s, &r)) < 0)
		goto out;
	if (r.reply.status != 200) {
		/* a HEAD has no body: the code is not known, only the status */
		error = dsync_relay_call_refused(s, &r, "look at");
		goto out;
	}
	if (!r.reply.has_length) {
		error = dsync_error_set(DSYNC_ECORRUPT, "relay '%s' gave no size for %s", s->who, name);
		goto out;
	}
	out->size = r.reply.length;
	out->mtime = r.reply.last_modified;
out:
	dsync_relay_call_dispose(&r);
	return error;
}

static int relay_del(dsync_blobstore *bs, const char *name)
{
	relay_store *s = store_of(bs);
	relay_call r;
	int error;

	if ((error = check_name(s, name)) < 0)
		return error;
	dsync_relay_call_init(&r, "DELETE", name, name);
	r.sign = true;
	if ((error = dsync_relay_call_perform(s, &r)) < 0)
		goto out;
	dsync_relay_call_note_usage(s, &r);
	if (r.reply.status != 204 && r.reply.status != 200 && r.reply.status != 404)
		error = dsync_relay_call_refused(s, &r, "remove");
out:
	dsync_relay_call_dispose(&r);
	return error;
}

/* ---- the line-format answers: .usage and .poll */

static int small_get(relay_store *s, relay_call *r, dsync_buf *body, dsync_relay_lines *l, const char *what)
{
	int error;

	dsync_buf_init(body, SMALL_BODY_MAX);
	r->out = body;
	if ((error = dsync_relay_call_perform(s, r)) < 0)
		return error;
	if (r->reply.status != 200)
		return dsync_relay_call_refused(s, r, what);
	if (dsync_relay_lines_parse(l, body->ptr ? body->ptr : "", body->len) < 0)
		return dsync_error_set(DSYNC_ECORRUPT, "relay '%s' sent a malformed answer to %s", s->who, what);
	return 0;
}

static int line_u64(const dsync_relay_lines *l, const char *key, uint64_t *out)
{
	const char *v = dsync_relay_lines_get(l, key);

	return v ? dsync_relay_client_u64(out, v, strlen(v)) : -1;
}

static int relay_usage(dsync_blobstore *bs, uint64_t *used, uint64_t *quota)
{
	relay_store *s = store_of(bs);
	dsync_relay_lines l = { 0 };
	dsync_buf body = DSYNC_BUF_INIT;
	relay_call r;
	int error = 0;

	if (!s->have_usage) {
		dsync_relay_call_init(&r, "GET", ".usage", NULL);
		if ((error = small_get(s, &r, &body, &l, "read the group's usage")) == 0) {
			if (line_u64(&l, "used", &s->used) < 0 || line_u64(&l, "quota", &s->quota) < 0)
				error = dsync_error_set(DSYNC_ECORRUPT, "relay '%s' sent a malformed usage", s->who);
			else
				s->have_usage = true;
		}
		dsync_relay_lines_dispose(&l);
		dsync_relay_call_dispose(&r);
		dsync_buf_dispose(&body);
	}
	*used = s->used;
	*quota = s->quota;
	return error;
}

/* One poll of at most SECONDS from SINCE: the answer's change into CHANGE,
 * *CHANGED and the writer (hex, "" when none). */
static int poll_once(relay_store *s, const char *since, int seconds, char change[RELAY_CHANGE_MAX], bool *changed,
		     char writer[DSYNC_RELAY_ID_HEX])
{
	dsync_relay_lines l = { 0 };
	dsync_buf q = DSYNC_BUF_INIT, body = DSYNC_BUF_INIT;
	const char *c, *ch, *w;
	char epoch[17];
	uint64_t n;
	relay_call r;
	int error;

	dsync_relay_call_init(&r, "GET", NULL, NULL);
	if ((error = dsync_buf_printf(&q, ".poll?since=%s&timeout=%d", since, seconds)) < 0)
		goto out;
	r.target = q.ptr;
	r.timeout_ms = seconds * 1000L + POLL_SLACK_MS;
	if ((error = small_get(s, &r, &body, &l, "wait for changes")) < 0)
		goto out;
	c = dsync_relay_lines_get(&l, "change");
	ch = dsync_relay_lines_get(&l, "changed");
	w = dsync_relay_lines_get(&l, "writer");
	if (!c || strlen(c) >= RELAY_CHANGE_MAX || dsync_relay_change_parse(c, epoch, &n) < 0 || !ch ||
	    (strcmp(ch, "0") != 0 && strcmp(ch, "1") != 0) ||
	    (w && (strlen(w) != 32 || dsync_relay_hex_parse(NULL, w, 32) < 0))) {
		error = dsync_error_set(DSYNC_ECORRUPT, "relay '%s' sent a malformed answer to a poll", s->who);
		goto out;
	}
	memcpy(change, c, strlen(c) + 1);
	*changed = ch[0] == '1';
	snprintf(writer, DSYNC_RELAY_ID_HEX, "%s", w ? w : "");
out:
	dsync_relay_lines_dispose(&l);
	dsync_relay_call_dispose(&r);
	dsync_buf_dispose(&q);
	dsync_buf_dispose(&body);
	return error;
}

/* Section 6's writer rule: the only change since SINCE is this device's own. */
static bool only_mine(relay_store *s, const char *since, const char *change, const char *writer)
{
	char e1[17], e2[17];
	uint64_t n1, n2;

	return dsync_relay_change_parse(since, e1, &n1) == 0 && dsync_relay_change_parse(change, e2, &n2) == 0 &&
	       strcmp(e1, e2) == 0 && n2 == n1 + 1 && strcmp(writer, s->device) == 0;
}

static int relay_wait_change(dsync_blobstore *bs, char *cursor, size_t cursor_size, int timeout_ms, bool *changed)
{
	relay_store *s = store_of(bs);
	char change[RELAY_CHANGE_MAX], writer[DSYNC_RELAY_ID_HEX];
	int64_t deadline = dsync_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int error;

	*changed = false;
	for (;;) {
		int64_t left = deadline - dsync_now_ms();
		int seconds = left <= 1000 ? 1 : left >= POLL_MAX_S * 1000 ? POLL_MAX_S : (int)((left + 999) / 1000);
		const char *since = NO_CURSOR;
		char e[17];
		uint64_t n;

		if (cursor[0] && dsync_relay_change_parse(cursor, e, &n) == 0)
			since = cursor;
		else
			cursor[0] = '\0';

		if ((error = poll_once(s, since, seconds, change, changed, writer)) < 0)
			return error;
		if (strlen(change) >= cursor_size)
			return dsync_error_set(DSYNC_EUSAGE, "no room for the relay's change cursor");
		if (*changed && cursor[0] && only_mine(s, cursor, change, writer))
			*changed = false;
		else if (!*changed && cursor[0] && strcmp(change, cursor) != 0)
			*changed = true; /* a heartbeat from another epoch: the relay restarted */
		memcpy(cursor, change, strlen(change) + 1);
		if (*changed || dsync_now_ms() >= deadline)
			return 0;
	}
}

/* ---- open */

static void relay_free(dsync_blobstore *bs)
{
	relay_store *s = store_of(bs);

	if (!s)
		return;
#ifdef DSYNC_TESTING
	{
		const char *path = getenv("DSYNC_TEST_RELAY_STATS"); /* test builds only */
		FILE *f;

		if (path && *path && (f = fopen(path, "a")) != NULL) {
			fprintf(f, "requests=%llu bytes_sent=%llu bytes_received=%llu\n",
				(unsigned long long)s->requests, (unsigned long long)s->bytes_sent,
				(unsigned long long)s->bytes_received);
			fclose(f);
		}
	}
#endif
	if (s->curl)
		curl_easy_cleanup(s->curl);
	if (s->sk)
		sodium_free(s->sk);
	sodium_memzero(s->auth, sizeof(s->auth));
	free(s->root);
	free(s->who);
	free(s->group);
	free(s->hint);
	free(s);
}

/* BASE of section 1: http[s]://HOST[:PORT][/PATH]/ with nothing after
 * (no user, query or fragment: a token never rides in a URL). */
static int base_url(char **out, const char *url)
{
	char q[DSYNC_QUOTE_SIZE];
	size_t skip = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
	size_t len = strlen(url), i;

	for (i = 0; i < len; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f || strchr("?#@\\", url[i]))
			break;
	if (!skip || i < len || len > 512 || !url[skip] || url[skip] == '/')
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a relay URL (http[s]://HOST[:PORT][/PATH/])",
				       dsync_quote(q, url));
	if (!(*out = malloc(len + 2)))
		return dsync_error_oom();
	memcpy(*out, url, len + 1);
	if (url[len - 1] != '/')
		memcpy(*out + len, "/", 2);
	return 0;
}

/* GET v1/: "dsync-relay 1" */
static int check_relay(relay_store *s)
{
	dsync_buf body = DSYNC_BUF_INIT;
	char q[DSYNC_QUOTE_SIZE];
	relay_call r;
	int error;

	dsync_buf_init(&body, 64);
	dsync_relay_call_init(&r, "GET", NULL, NULL);
	r.out = &body;
	error = dsync_relay_call_perform(s, &r);
	if (error == DSYNC_ECORRUPT || (error == 0 && (r.reply.status != 200 || body.len != strlen(ROOT_BODY) ||
						       memcmp(body.ptr, ROOT_BODY, body.len) != 0)))
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' is not a dsync relay", dsync_quote(q, s->base.url));
	dsync_relay_call_dispose(&r);
	dsync_buf_dispose(&body);
	return error;
}

/* A PUT of BODY to TARGET with Dsync-Admission (not signed: section 4.6
 * and 8's registration); *STATUS its 2xx status. */
static int admitted_put(relay_store *s, const char *target, const dsync_buf *body, const char *admit_hex,
			const char *what, long *status)
{
	relay_call r;
	int error;

	dsync_relay_call_init(&r, "PUT", target, NULL);
	r.admission = admit_hex;
	r.mem = body->ptr;
	r.len = body->len;
	r.has_body = true;
	if ((error = dsync_relay_call_perform(s, &r)) == 0) {
		*status = r.reply.status;
		if (r.reply.status != 201 && r.reply.status != 200)
			error = dsync_relay_call_refused(s, &r, what);
	}
	dsync_relay_call_dispose(&r);
	return error;
}

/* PUT .group (section 4.6) */
static int make_group(relay_store *s, const uint8_t admit[DSYNC_RELAY_KEY_BYTES], const uint8_t token[32],
		      const char *admit_hex)
{
	uint8_t th[DSYNC_RELAY_KEY_BYTES], ah[DSYNC_RELAY_KEY_BYTES];
	char th_hex[DSYNC_RELAY_HEX64], ah_hex[DSYNC_RELAY_HEX64];
	dsync_buf body = DSYNC_BUF_INIT;
	long status = 0;
	int error;

	dsync_relay_secret_hash(th, "token", s->gid, token);
	dsync_relay_secret_hash(ah, "admit", s->gid, admit);
	dsync_relay_hex(th_hex, th, sizeof(th));
	dsync_relay_hex(ah_hex, ah, sizeof(ah));
	if ((error = dsync_buf_printf(&body, "token-hash %s\nadmit-hash %s\n", th_hex, ah_hex)) == 0 &&
	    (error = admitted_put(s, ".group", &body, admit_hex, "make the group", &status)) == 0)
		s->created = status == 201;
	dsync_buf_dispose(&body);
	return error;
}

/* PUT .device/ID (section 8) */
static int register_device(relay_store *s, const uint8_t pk[DSYNC_RELAY_PK_BYTES], const char *admit_hex)
{
	unsigned char sig[DSYNC_RELAY_SIG_BYTES];
	char pk_hex[DSYNC_RELAY_HEX64], sig_hex[2 * DSYNC_RELAY_SIG_BYTES + 1], target[64];
	dsync_buf m = DSYNC_BUF_INIT, body = DSYNC_BUF_INIT;
	long status;
	int error;

	snprintf(target, sizeof(target), ".device/%s", s->device);
	if ((error = dsync_relay_register_message(&m, s->gid, s->device, pk)) < 0)
		goto out;
	crypto_sign_detached(sig, NULL, (const unsigned char *)m.ptr, m.len, s->sk);
	dsync_relay_hex(pk_hex, pk, DSYNC_RELAY_PK_BYTES);
	dsync_relay_hex(sig_hex, sig, sizeof(sig));
	if ((error = dsync_buf_printf(&body, "key %s\nproof %s\n", pk_hex, sig_hex)) == 0)
		error = admitted_put(s, target, &body, admit_hex, "register the device", &status);
out:
	dsync_buf_dispose(&m);
	dsync_buf_dispose(&body);
	return error;
}

/* POST .group (section 4.6): the group's token and admission replaced, with
 * the current ADMIT and this device's signature; the store then goes on
 * with NEW_TOKEN. */
static int relay_rotate_token(dsync_blobstore *bs, const unsigned char *admit, const unsigned char *new_token,
			      const unsigned char *new_admit)
{
	relay_store *s = store_of(bs);
	uint8_t th[DSYNC_RELAY_KEY_BYTES], ah[DSYNC_RELAY_KEY_BYTES], bh[DSYNC_RELAY_KEY_BYTES];
	char th_hex[DSYNC_RELAY_HEX64], ah_hex[DSYNC_RELAY_HEX64], bh_hex[DSYNC_RELAY_HEX64];
	char admit_hex[DSYNC_RELAY_HEX64], token_hex[DSYNC_RELAY_HEX64];
	dsync_buf body = DSYNC_BUF_INIT;
	relay_call r;
	int error;

	dsync_relay_secret_hash(th, "token", s->gid, new_token);
	dsync_relay_secret_hash(ah, "admit", s->gid, new_admit);
	dsync_relay_hex(th_hex, th, sizeof(th));
	dsync_relay_hex(ah_hex, ah, sizeof(ah));
	if ((error = dsync_buf_printf(&body, "token-hash %s\nadmit-hash %s\n", th_hex, ah_hex)) < 0)
		return error;
	/* the signature covers the body's BLAKE2b-256 (section 8) */
	crypto_generichash(bh, sizeof(bh), (const unsigned char *)body.ptr, body.len, NULL, 0);
	dsync_relay_hex(bh_hex, bh, sizeof(bh));
	dsync_relay_hex(admit_hex, admit, DSYNC_RELAY_KEY_BYTES);
	dsync_relay_call_init(&r, "POST", ".group", NULL);
	r.sign = true;
	r.body_hash = bh_hex;
	r.admission = admit_hex;
	r.mem = body.ptr;
	r.len = body.len;
	r.has_body = true;
	if ((error = dsync_relay_call_perform(s, &r)) == 0 && r.reply.status != 204 && r.reply.status != 200)
		error = dsync_relay_call_refused(s, &r, "change the group's token");
	if (error == 0) {
		dsync_relay_hex(token_hex, new_token, DSYNC_RELAY_KEY_BYTES);
		snprintf(s->auth, sizeof(s->auth), "Authorization: Dsync-Token %s", token_hex);
		sodium_memzero(token_hex, sizeof(token_hex));
	}
	sodium_memzero(admit_hex, sizeof(admit_hex));
	dsync_relay_call_dispose(&r);
	dsync_buf_dispose(&body);
	return error;
}

static bool is_id(const char *s)
{
	return strlen(s) == 32 && dsync_relay_hex_parse(NULL, s, 32) == 0;
}

int dsync_blobstore_relay_open(dsync_blobstore **out, const char *url, bool create, const dsync_transport_opts *o)
{
	const dsync_relay_creds *c = o ? o->relay : NULL;
	char token_hex[DSYNC_RELAY_HEX64], admit_hex[DSYNC_RELAY_HEX64], q[DSYNC_QUOTE_SIZE];
	relay_store *s;
	int error;

	*out = NULL;
	if (!c || !is_id(c->group_id) || !is_id(c->device_id))
		return dsync_error_set(DSYNC_EUSAGE, "relay remote '%s' needs its group's credentials (join the group)",
				       dsync_quote(q, url));
	if (!(s = calloc(1, sizeof(*s))))
		return dsync_error_oom();
	if ((error = base_url(&s->root, url)) < 0)
		goto fail;
	s->base.url = s->root;
	s->who = strdup(c->remote_name ? c->remote_name : s->root);
	s->group = strdup(c->group_name ? c->group_name : c->group_id);
	s->hint = c->refused_hint ? strdup(c->refused_hint) : NULL;
	if (!s->who || !s->group || (c->refused_hint && !s->hint) || !(s->sk = sodium_malloc(DSYNC_RELAY_SK_BYTES))) {
		error = dsync_error_oom();
		goto fail;
	}
	memcpy(s->sk, c->sign_sk, DSYNC_RELAY_SK_BYTES);
	memcpy(s->gid, c->group_id, sizeof(s->gid));
	memcpy(s->device, c->device_id, sizeof(s->device));
	dsync_relay_hex(token_hex, c->token, sizeof(c->token));
	snprintf(s->auth, sizeof(s->auth), "Authorization: Dsync-Token %s", token_hex);
	sodium_memzero(token_hex, sizeof(token_hex));
	s->base.list = relay_list;
	s->base.get = relay_get;
	s->base.put = dsync_relay_put_blob;
	s->base.del = relay_del;
	s->base.stat = relay_stat;
	s->base.is_empty = relay_is_empty;
	s->base.free = relay_free;
	s->base.wait_change = relay_wait_change;
	s->base.usage = relay_usage;
	s->base.rotate_token = relay_rotate_token;
#ifdef DSYNC_TESTING
	{
		const char *cut = getenv("DSYNC_TEST_RELAY_CUT"); /* test builds only */

		if (cut && *cut)
			s->cut_at = strtoull(cut, NULL, 10);
	}
#endif
	if ((error = dsync_relay_client_open(s, c->ca_file, o->rate_limit)) < 0)
		goto fail;
	/* a caller that can't wait long (dsync status) */
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	if ((error = check_relay(s)) < 0)
		goto fail;
	if (c->admit) {
		dsync_relay_hex(admit_hex, c->admit, DSYNC_RELAY_KEY_BYTES);
		error = create ? make_group(s, c->admit, c->token, admit_hex) : 0;
		if (error == 0)
			error = register_device(s, c->sign_pk, admit_hex);
		sodium_memzero(admit_hex, sizeof(admit_hex));
		if (error < 0)
			goto fail;
	}
	*out = &s->base;
	return 0;
fail:
	relay_free(&s->base);
	return error;
}
