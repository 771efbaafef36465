/*
 * The relay's storage in an S3 bucket, its lower half (docs/relay-protocol.md
 * section 14): one S3 connection per thread, keys, refusals, group records,
 * device records and SEQ marks, which relay_s3_blob.c, relay_s3_sweep.c and
 * the store itself (relay_s3.c) build on.  Nothing here is kept that the
 * bucket doesn't hold too: what this relay caches is read again after a
 * second or two (section 14.3), so another relay's writes are seen.
 */
#include "core/base/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/relay_s3_int.h"

static _Thread_local const char *refusal = "";

const char *rs_last_refusal(void)
{
	return refusal;
}

int rs_refuse(const char *word, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	refusal = word;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dsync_error_set(DSYNC_ENOSPACE, "%s", msg);
}

/* ---- keys and connections */

static bool hex32(const char *s)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[32] == '\0';
}

int rs_key(char *out, const char *gid, const char *what, const char *name)
{
	int n;

	if (!hex32(gid))
		return dsync_error_set(DSYNC_EUSAGE, "bad group id");
	n = snprintf(out, RS_KEY_MAX, "g/%s/%s%s%s", gid, what, name ? "/" : "", name ? name : "");
	if (n < 0 || n >= RS_KEY_MAX)
		return dsync_error_set(DSYNC_EUSAGE, "a name too long for the bucket");
	return 0;
}

dsync_s3 *rs_conn(rs_store *s)
{
	dsync_s3 *c = pthread_getspecific(s->key);

	if (c)
		return c;
	if (dsync_s3_open(&c, s->url, NULL) < 0)
		return NULL;
	pthread_mutex_lock(&s->mu);
	if (dsync_array_push(s->conns, c) < 0) {
		pthread_mutex_unlock(&s->mu);
		dsync_s3_free(c);
		dsync_error_oom();
		return NULL;
	}
	pthread_mutex_unlock(&s->mu);
	pthread_setspecific(s->key, c);
	return c;
}

/* ---- groups */

rs_group *rs_group_get(rs_store *s, const char *gid)
{
	rs_group *g;
	size_t i;

	for (i = 0; i < s->groups.size; i++)
		if (strcmp(s->groups.ptr[i]->gid, gid) == 0)
			return s->groups.ptr[i];
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	snprintf(g->gid, sizeof(g->gid), "%s", gid);
	if (dsync_array_push(s->groups, g) < 0) {
		free(g);
		return NULL;
	}
	return g;
}

uint64_t rs_group_quota(const rs_store *s, const rs_group *g)
{
	return g->quota_set ? g->info.quota : s->lim.default_quota;
}

/* The group record's text (the disk's format, section 9). */
static int record_text(dsync_buf *out, const relay_group_info *i, bool quota_set)
{
	char th[DSYNC_RELAY_HEX64], ah[DSYNC_RELAY_HEX64];

	dsync_relay_hex(th, i->token_hash, sizeof(i->token_hash));
	dsync_relay_hex(ah, i->admit_hash, sizeof(i->admit_hash));
	if (dsync_buf_printf(out, "group 1\ntoken-hash %s\nadmit-hash %s\ncreated %" PRId64 "\n", th, ah, i->created) <
		    0 ||
	    (quota_set && dsync_buf_printf(out, "quota %" PRIu64 "\n", i->quota) < 0))
		return dsync_error_oom();
	return 0;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;

	if (!v || !*v || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return errno || *end ? -1 : 0;
}

/* Reads group GID's record into INFO (*QUOTA_SET): DSYNC_ENOTFOUND, or
 * DSYNC_ECORRUPT for a record that isn't one. */
static int record_read(rs_store *s, const char *gid, relay_group_info *info, bool *quota_set)
{
	char key[RS_KEY_MAX];
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_relay_lines l = { 0 };
	const char *t, *a, *c, *q;
	uint64_t created = 0, quota = 0;
	dsync_s3 *conn;
	int error;

	if ((error = rs_key(key, gid, "group", NULL)) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = dsync_s3_get_buf(conn, key, &b, RS_RECORD_MAX, NULL)) < 0)
		goto out;
	if (dsync_relay_lines_parse(&l, b.ptr ? b.ptr : "", b.len) < 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "group %s's record in the bucket is damaged", gid);
		goto out;
	}
	t = dsync_relay_lines_get(&l, "token-hash");
	a = dsync_relay_lines_get(&l, "admit-hash");
	c = dsync_relay_lines_get(&l, "created");
	q = dsync_relay_lines_get(&l, "quota");
	if (!dsync_relay_lines_get(&l, "group") || !t || !a || dsync_relay_hex_parse(info->token_hash, t, 64) < 0 ||
	    dsync_relay_hex_parse(info->admit_hash, a, 64) < 0 || parse_u64(c, &created) < 0 ||
	    (q && parse_u64(q, &quota) < 0)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "group %s's record in the bucket is damaged", gid);
		goto out;
	}
	info->created = (int64_t)created;
	info->quota = quota;
	*quota_set = q != NULL;
out:
	dsync_relay_lines_dispose(&l);
	dsync_buf_dispose(&b);
	return error;
}

static int record_write(rs_store *s, const char *gid, const relay_group_info *info, bool quota_set)
{
	char key[RS_KEY_MAX];
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_s3 *conn;
	int error;

	if ((error = rs_key(key, gid, "group", NULL)) < 0 || (error = record_text(&b, info, quota_set)) < 0)
		goto out;
	if ((conn = rs_conn(s)) == NULL) {
		error = dsync_error_last_code();
		goto out;
	}
	error = dsync_s3_put_buf(conn, key, b.ptr, b.len);
out:
	dsync_buf_dispose(&b);
	return error;
}

typedef struct counts {
	uint64_t stored, blobs, keys, devices;
	size_t skip;     /* the listing's prefix length */
} counts;

static int count_blob(const char *key, const dsync_s3_object *o, void *payload)
{
	counts *c = payload;

	c->stored += o->size;
	c->blobs++;
	if (strlen(key) > c->skip && strncmp(key + c->skip, "keys/", 5) == 0)
		c->keys++;
	return 0;
}

static int count_device(const char *key, const dsync_s3_object *o, void *payload)
{
	(void)key;
	(void)o;
	((counts *)payload)->devices++;
	return 0;
}

/* Lists group GID's blobs and devices into C. */
static int recount(rs_store *s, const char *gid, counts *c)
{
	char key[RS_KEY_MAX];
	dsync_s3 *conn = rs_conn(s);
	int error;

	memset(c, 0, sizeof(*c));
	if (!conn)
		return dsync_error_last_code();
	if ((error = rs_key(key, gid, "b", "")) < 0)
		return error;
	c->skip = strlen(key);
	if ((error = dsync_s3_list(conn, key, NULL, 0, count_blob, c)) < 0)
		return error;
	if ((error = rs_key(key, gid, "d", "")) < 0)
		return error;
	return dsync_s3_list(conn, key, NULL, 0, count_device, c);
}

int rs_group_load(rs_store *s, const char *gid)
{
	relay_group_info info = { 0 };
	bool quota_set = false, need_record, need_count;
	int64_t now = dsync_now_ms();
	rs_group *g;
	counts c;
	int error;

	pthread_mutex_lock(&s->mu);
	g = rs_group_get(s, gid);
	need_record = g && (!g->have_record || now - g->record_ms > RS_GROUP_TTL_MS);
	need_count = g && (!g->count_ms || now - g->count_ms > RS_RECOUNT_MS);
	pthread_mutex_unlock(&s->mu);
	if (!g)
		return dsync_error_oom();
	if (need_record) {
		error = record_read(s, gid, &info, &quota_set);
		if (error == DSYNC_ENOTFOUND) {
			pthread_mutex_lock(&s->mu);
			g->have_record = false;
			pthread_mutex_unlock(&s->mu);
			return dsync_error_set(DSYNC_ENOTFOUND, "no group %s", gid);
		}
		if (error < 0)
			return error;
	}
	if (need_count && (error = recount(s, gid, &c)) < 0)
		return error;
	pthread_mutex_lock(&s->mu);
	if (need_record) {
		uint64_t used = g->info.used, blobs = g->info.blobs, devices = g->info.devices, keys = g->info.keys;

		g->info = info;
		g->info.used = used;
		g->info.blobs = blobs;
		g->info.devices = devices;
		g->info.keys = keys;
		g->quota_set = quota_set;
		g->have_record = true;
		g->record_ms = now;
	}
	if (need_count) {
		g->stored = c.stored;
		g->info.blobs = c.blobs;
		g->info.keys = c.keys;
		g->info.devices = c.devices;
		g->count_ms = now;
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int rs_group_op(relay_store *st, const char *gid, relay_group_info *out)
{
	rs_store *s = (rs_store *)st;
	rs_group *g;
	int error;

	if ((error = rs_group_load(s, gid)) < 0)
		return error;
	pthread_mutex_lock(&s->mu);
	g = rs_group_get(s, gid);
	*out = g->info;
	out->quota = rs_group_quota(s, g);
	out->used = g->stored + g->reserved;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Forgets what is cached of GID's record (it was just written). */
static void record_stale(rs_store *s, const char *gid)
{
	rs_group *g;

	pthread_mutex_lock(&s->mu);
	if ((g = rs_group_get(s, gid)) != NULL)
		g->have_record = false;
	pthread_mutex_unlock(&s->mu);
}

static int count_any(const char *key, const dsync_s3_object *o, void *payload)
{
	(void)key;
	(void)o;
	++*(uint64_t *)payload;
	return 0;
}

int rs_group_create(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
		    const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	rs_store *s = (rs_store *)st;
	relay_group_info info = { 0 }, back = { 0 };
	char key[RS_KEY_MAX];
	bool quota_set;
	uint64_t groups = 0;
	dsync_s3 *conn;
	int error;

	if (!hex32(gid))
		return dsync_error_set(DSYNC_EUSAGE, "bad group id");
	error = record_read(s, gid, &info, &quota_set);
	if (error == 0)
		return sodium_memcmp(info.token_hash, th, DSYNC_RELAY_KEY_BYTES) == 0
			       ? 1 : dsync_error_set(DSYNC_EAUTH, "group %s exists with another token", gid);
	if (error != DSYNC_ENOTFOUND)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	/* --max-groups: counted by the index i/GID (section 14.3: N relays may pass it by N - 1) */
	if ((error = dsync_s3_list(conn, "i/", NULL, 0, count_any, &groups)) < 0)
		return error;
	if (groups >= s->lim.max_groups)
		return rs_refuse("relay-full", "the relay holds its most groups (%" PRIu64 ")", s->lim.max_groups);
	memcpy(info.token_hash, th, DSYNC_RELAY_KEY_BYTES);
	memcpy(info.admit_hash, ah, DSYNC_RELAY_KEY_BYTES);
	info.created = (int64_t)time(NULL);
	snprintf(key, sizeof(key), "i/%s", gid);
	if ((error = dsync_s3_put_buf(conn, key, "", 0)) < 0 || (error = record_write(s, gid, &info, false)) < 0)
		return error;
	record_stale(s, gid);
	/* read back: of two creates racing through two relays the last PUT won */
	if ((error = record_read(s, gid, &back, &quota_set)) < 0)
		return error;
	if (sodium_memcmp(back.token_hash, th, DSYNC_RELAY_KEY_BYTES) != 0)
		return dsync_error_set(DSYNC_EAUTH, "group %s was created meanwhile with another token", gid);
	return 0;
}

/* Reads GID's record, lets SET change it, writes it back. */
static int record_update(rs_store *s, const char *gid, void (*set)(relay_group_info *i, bool *quota_set, const void *arg),
			 const void *arg)
{
	relay_group_info info = { 0 };
	bool quota_set = false;
	int error;

	if ((error = record_read(s, gid, &info, &quota_set)) < 0)
		return error;
	set(&info, &quota_set, arg);
	error = record_write(s, gid, &info, quota_set);
	record_stale(s, gid);
	return error;
}

static void set_keys(relay_group_info *i, bool *quota_set, const void *arg)
{
	const uint8_t *k = arg;

	(void)quota_set;
	memcpy(i->token_hash, k, DSYNC_RELAY_KEY_BYTES);
	memcpy(i->admit_hash, k + DSYNC_RELAY_KEY_BYTES, DSYNC_RELAY_KEY_BYTES);
}

static void set_quota(relay_group_info *i, bool *quota_set, const void *arg)
{
	i->quota = *(const uint64_t *)arg;
	*quota_set = true;
}

int rs_group_rotate(relay_store *st, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
		    const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	uint8_t k[2 * DSYNC_RELAY_KEY_BYTES];

	memcpy(k, th, DSYNC_RELAY_KEY_BYTES);
	memcpy(k + DSYNC_RELAY_KEY_BYTES, ah, DSYNC_RELAY_KEY_BYTES);
	return record_update((rs_store *)st, gid, set_keys, k);
}

int rs_group_quota_set(relay_store *st, const char *gid, uint64_t quota)
{
	return record_update((rs_store *)st, gid, set_quota, &quota);
}

/* ---- devices and SEQ marks */

static int device_read(rs_store *s, const char *gid, const char *dev, relay_device_info *out)
{
	char key[RS_KEY_MAX];
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_relay_lines l = { 0 };
	const char *k, *r;
	uint64_t reg = 0;
	dsync_s3 *conn;
	int error;

	if (!hex32(dev))
		return dsync_error_set(DSYNC_EUSAGE, "bad device id");
	if ((error = rs_key(key, gid, "d", dev)) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = dsync_s3_get_buf(conn, key, &b, RS_RECORD_MAX, NULL)) < 0) {
		if (error == DSYNC_ENOTFOUND)
			error = dsync_error_set(DSYNC_ENOTFOUND, "no device %s", dev);
		goto out;
	}
	if (dsync_relay_lines_parse(&l, b.ptr ? b.ptr : "", b.len) < 0 || !(k = dsync_relay_lines_get(&l, "key")) ||
	    dsync_relay_hex_parse(out->pk, k, 64) < 0 || !(r = dsync_relay_lines_get(&l, "registered")) ||
	    parse_u64(r, &reg) < 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "device %s's record in the bucket is damaged", dev);
		goto out;
	}
	out->registered = (int64_t)reg;
out:
	dsync_relay_lines_dispose(&l);
	dsync_buf_dispose(&b);
	return error;
}

typedef struct seq_max {
	uint64_t high;
	size_t skip;
	bool bad;
} seq_max;

static int seq_one(const char *key, const dsync_s3_object *o, void *payload)
{
	seq_max *m = payload;
	const char *p = key + m->skip;
	uint64_t v = 0;
	size_t i;

	(void)o;
	if (strlen(key) != m->skip + 16) {
		m->bad = true;
		return 0;
	}
	for (i = 0; i < 16; i++) {
		int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10 : -1;

		if (d < 0) {
			m->bad = true;
			return 0;
		}
		v = (v << 4) | (uint64_t)d;
	}
	if (v > m->high)
		m->high = v;
	return 0;
}

/* The highest SEQ mark of DEV (0: none). */
static int seq_high(rs_store *s, const char *gid, const char *dev, uint64_t *high)
{
	char key[RS_KEY_MAX], dir[DSYNC_RELAY_ID_HEX + 1];
	seq_max m = { 0 };
	dsync_s3 *conn;
	int error;

	snprintf(dir, sizeof(dir), "%s/", dev);
	if ((error = rs_key(key, gid, "s", dir)) < 0)
		return error;
	m.skip = strlen(key);
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = dsync_s3_list(conn, key, NULL, 0, seq_one, &m)) < 0)
		return error;
	*high = m.high;
	return 0;
}

int rs_seq_mark(rs_store *s, const char *gid, const char *dev, uint64_t seq)
{
	relay_device_info d;
	char key[RS_KEY_MAX], name[DSYNC_RELAY_ID_HEX + 20];
	uint64_t high = 0;
	dsync_s3 *conn;
	int error;

	if ((error = device_read(s, gid, dev, &d)) < 0 || (error = seq_high(s, gid, dev, &high)) < 0)
		return error;
	if (seq <= high)
		return dsync_error_set(DSYNC_ECONFLICT, "a manifest as new was accepted already");
	snprintf(name, sizeof(name), "%s/%016" PRIx64, dev, seq);
	if ((error = rs_key(key, gid, "s", name)) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = dsync_s3_put_buf(conn, key, "", 0)) < 0)
		return error;
	/* our mark first, then the list: of two racing, the later list sees both */
	if ((error = seq_high(s, gid, dev, &high)) < 0)
		return error;
	if (high > seq)
		return dsync_error_set(DSYNC_ECONFLICT, "a newer manifest was accepted meanwhile");
	return 0;
}

int rs_device(relay_store *st, const char *gid, const char *dev, relay_device_info *out)
{
	rs_store *s = (rs_store *)st;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = device_read(s, gid, dev, out)) < 0)
		return error;
	return seq_high(s, gid, dev, &out->seq_high);
}

int rs_device_add(relay_store *st, const char *gid, const char *dev, const uint8_t pk[DSYNC_RELAY_PK_BYTES])
{
	rs_store *s = (rs_store *)st;
	relay_device_info d;
	char key[RS_KEY_MAX], hex[DSYNC_RELAY_HEX64];
	dsync_buf b = DSYNC_BUF_INIT;
	uint64_t n = 0;
	dsync_s3 *conn;
	int error;

	error = device_read(s, gid, dev, &d);
	if (error == 0)
		return sodium_memcmp(d.pk, pk, DSYNC_RELAY_PK_BYTES) == 0
			       ? 1 : dsync_error_set(DSYNC_EEXISTS, "device %s has another key", dev);
	if (error != DSYNC_ENOTFOUND)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = rs_key(key, gid, "d", "")) < 0)
		return error;
	if ((error = dsync_s3_list(conn, key, NULL, 0, count_any, &n)) < 0)
		return error;
	if (n >= s->lim.max_devices)
		return rs_refuse("too-many-devices", "the group has its most devices (%" PRIu64 ")", s->lim.max_devices);
	dsync_relay_hex(hex, pk, DSYNC_RELAY_PK_BYTES);
	if ((error = rs_key(key, gid, "d", dev)) < 0)
		return error;
	if (dsync_buf_printf(&b, "key %s\nregistered %lld\n", hex, (long long)time(NULL)) < 0)
		return dsync_error_oom();
	error = dsync_s3_put_buf(conn, key, b.ptr, b.len);
	dsync_buf_dispose(&b);
	if (error < 0)
		return error;
	/* read back: the last PUT of two racing registrations won (section 14.3) */
	if ((error = device_read(s, gid, dev, &d)) < 0)
		return error;
	if (sodium_memcmp(d.pk, pk, DSYNC_RELAY_PK_BYTES) != 0)
		return dsync_error_set(DSYNC_EEXISTS, "device %s was registered meanwhile with another key", dev);
	pthread_mutex_lock(&s->mu);
	{
		rs_group *g = rs_group_get(s, gid);

		if (g)
			g->info.devices++;
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int rs_device_remove(relay_store *st, const char *gid, const char *dev)
{
	rs_store *s = (rs_store *)st;
	relay_device_info d;
	char key[RS_KEY_MAX];
	dsync_s3 *conn;
	int error;

	if ((error = device_read(s, gid, dev, &d)) < 0)
		return error;
	if ((error = rs_key(key, gid, "d", dev)) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = dsync_s3_delete(conn, key)) < 0)
		return error;
	pthread_mutex_lock(&s->mu);
	{
		rs_group *g = rs_group_get(s, gid);

		if (g && g->info.devices)
			g->info.devices--;
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}
