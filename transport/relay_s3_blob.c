/*
 * Blobs of the relay's S3 storage (docs/relay-protocol.md section 14):
 * each blob one object "g/GID/b/NAME", its body then a 64-byte trailer
 * (section 9's header fields: magic, writer, BLAKE2b-256 of the body, its
 * length), so one PUT stores both and a HEAD plus a read of the last 64
 * bytes is a stat.  Uploads go to an unlinked spool file while they are
 * hashed and reach the bucket only whole and checked; a GET is served from
 * a spool copy of the object.  Resumable uploads are held in this relay's
 * spool (section 14.2 designs pieces in the bucket; not built yet).  And
 * the change value N of section 14.6: a digest of the listing of devices/.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/relay_s3_int.h"

#define COPY_BLOCK (64 * 1024)

typedef struct rs_upload {
	rs_store *s;
	char gid[DSYNC_RELAY_ID_HEX];
	char name[DSYNC_RELAY_NAME_MAX + 1];
	char writer[DSYNC_RELAY_ID_HEX];
	uint8_t hash[DSYNC_RELAY_KEY_BYTES];
	uint64_t total, held, reserve;
	uint64_t old_size;       /* the object it replaces (0: none) */
	bool exists, new_name;
	int fd;
	rs_pending *p;           /* a resumable upload's record (it owns FD and the reservation) */
	char rkey[RS_KEY_MAX];   /* the reservation in the bucket ("": none, or P's) */
	int64_t refreshed;       /* when the reservation was last PUT (seconds; 0: not by this request) */
	crypto_generichash_state st;
} rs_upload;

int rs_spool_file(rs_store *s)
{
	char path[4096];
	int fd;

	fd = open(s->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if ((size_t)snprintf(path, sizeof(path), "%s/dsync-relay-XXXXXX", s->spool) >= sizeof(path))
		return dsync_error_set(DSYNC_EUSAGE, "the spool folder's name is too long");
	if ((fd = mkstemp(path)) < 0)
		return dsync_error_sys(errno, "cannot make a spool file in %s", s->spool);
	unlink(path);
	return fd;
}

static int blob_key(char *key, const char *gid, const char *name)
{
	if (dsync_relay_blob_name_ok(name) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "bad blob name");
	return rs_key(key, gid, "b", name);
}

/* The trailer at the end of FD (SIZE bytes) into INFO. */
static int trailer_read(int fd, uint64_t size, off_t at, const char *name, relay_blob_info *info)
{
	uint8_t t[RS_TRAILER];
	uint64_t len = 0;
	int i;

	if (pread(fd, t, sizeof(t), at) != (ssize_t)sizeof(t) || memcmp(t, RS_MAGIC, 8) != 0)
		return dsync_error_set(DSYNC_ECORRUPT, "the bucket's copy of %s is damaged", name);
	for (i = 7; i >= 0; i--)
		len = (len << 8) | t[56 + i];
	if (len != size - RS_TRAILER)
		return dsync_error_set(DSYNC_ECORRUPT, "the bucket's copy of %s is damaged (its length)", name);
	info->size = len;
	sodium_bin2hex(info->writer, sizeof(info->writer), t + 8, 16);
	memcpy(info->hash, t + 24, DSYNC_RELAY_KEY_BYTES);
	return 0;
}

/* Blob NAME of group GID as the bucket has it: its KEY, this thread's
 * connection and the object's HEAD (DSYNC_ENOTFOUND "no blob NAME"). */
static int blob_head(rs_store *s, const char *gid, const char *name, char key[RS_KEY_MAX], dsync_s3 **conn,
		     dsync_s3_object *o)
{
	int error;

	if ((error = blob_key(key, gid, name)) < 0)
		return error;
	if ((*conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = dsync_s3_head(*conn, key, o)) < 0)
		return error == DSYNC_ENOTFOUND ? dsync_error_set(DSYNC_ENOTFOUND, "no blob %s", name) : error;
	return 0;
}

int rs_blob_stat(relay_store *st, const char *gid, const char *name, relay_blob_info *out)
{
	rs_store *s = (rs_store *)st;
	char key[RS_KEY_MAX];
	dsync_s3_object o;
	dsync_s3 *conn;
	struct stat sb;
	int fd = -1, error;

	if ((error = blob_head(s, gid, name, key, &conn, &o)) < 0)
		return error;
	if (o.size < RS_TRAILER)
		return dsync_error_set(DSYNC_ECORRUPT, "the bucket's copy of %s is damaged", name);
	if ((fd = rs_spool_file(s)) < 0)
		return fd;
	if ((error = dsync_s3_get(conn, key, fd, 0, o.size - RS_TRAILER, NULL, NULL, NULL)) < 0)
		goto out;
	if (fstat(fd, &sb) < 0 || sb.st_size != RS_TRAILER) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the bucket's copy of %s changed while it was read", name);
		goto out;
	}
	if ((error = trailer_read(fd, o.size, 0, name, out)) < 0)
		goto out;
	out->mtime = (int64_t)o.mtime;
out:
	close(fd);
	return error;
}

int rs_blob_open(relay_store *st, const char *gid, const char *name, int *fd, uint64_t *body_at, relay_blob_info *info)
{
	rs_store *s = (rs_store *)st;
	char key[RS_KEY_MAX];
	dsync_s3_object o;
	dsync_s3 *conn;
	struct stat sb;
	int f = -1, error;

	if ((error = blob_head(s, gid, name, key, &conn, &o)) < 0)
		return error;
	if ((f = rs_spool_file(s)) < 0)
		return f;
	if ((error = dsync_s3_get(conn, key, f, s->lim.max_blob + RS_TRAILER, 0, NULL, NULL, NULL)) < 0) {
		if (error == DSYNC_ENOTFOUND)
			error = dsync_error_set(DSYNC_ENOTFOUND, "no blob %s", name);
		goto out;
	}
	if (fstat(f, &sb) < 0 || sb.st_size < RS_TRAILER) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the bucket's copy of %s is damaged", name);
		goto out;
	}
	if ((error = trailer_read(f, (uint64_t)sb.st_size, sb.st_size - RS_TRAILER, name, info)) < 0)
		goto out;
	info->mtime = (int64_t)o.mtime;
	*body_at = 0;
	*fd = f;
	f = -1;
out:
	if (f >= 0)
		close(f);
	return error;
}

int rs_blob_delete(relay_store *st, const char *gid, const char *name)
{
	rs_store *s = (rs_store *)st;
	char key[RS_KEY_MAX];
	dsync_s3_object o;
	dsync_s3 *conn;
	rs_group *g;
	int error;

	if ((error = blob_key(key, gid, name)) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	if ((error = dsync_s3_head(conn, key, &o)) < 0)
		return error == DSYNC_ENOTFOUND ? 0 : error;
	if ((error = dsync_s3_delete(conn, key)) < 0)
		return error;
	pthread_mutex_lock(&s->mu);
	if ((g = rs_group_get(s, gid)) != NULL && g->count_ms) {
		g->stored = g->stored > o.size ? g->stored - o.size : 0;
		if (g->info.blobs)
			g->info.blobs--;
		if (strncmp(name, "keys/", 5) == 0 && g->info.keys)
			g->info.keys--;
	}
	pthread_mutex_unlock(&s->mu);
	if (strncmp(name, "devices/", 8) == 0) {
		uint64_t n;

		rs_change(s, gid, true, &n);
	}
	return 0;
}

/* ---- listing */

typedef struct lister {
	const char *dir;         /* "g/GID/b/": every key must start with it */
	size_t skip;
	unsigned limit, n;
	bool *more;
	relay_disk_list_cb cb;
	void *payload;
} lister;

static int list_one(const char *key, const dsync_s3_object *o, void *payload)
{
	lister *l = payload;
	int error;

	if (strlen(key) <= l->skip || strncmp(key, l->dir, l->skip) != 0)
		return dsync_error_set(DSYNC_ECORRUPT, "the bucket listed a key outside the group");
	if (l->n == l->limit) {
		*l->more = true;
		return 1;
	}
	l->n++;
	if ((error = l->cb(key + l->skip, o->size >= RS_TRAILER ? o->size - RS_TRAILER : 0, (int64_t)o->mtime,
			   l->payload)) < 0)
		return error;
	return 0;
}

int rs_list(relay_store *st, const char *gid, const char *prefix, const char *after, unsigned limit, bool *more,
	    relay_disk_list_cb cb, void *payload)
{
	rs_store *s = (rs_store *)st;
	char key[RS_KEY_MAX], from[RS_KEY_MAX], dir[RS_KEY_MAX];
	lister l = { 0 };
	dsync_s3 *conn;
	int error, max;

	*more = false;
	if ((error = rs_key(dir, gid, "b", "")) < 0)
		return error;
	l.dir = dir;
	l.skip = strlen(dir);
	if ((error = rs_key(key, gid, "b", prefix ? prefix : "")) < 0)
		return error;
	if (after && (error = rs_key(from, gid, "b", after)) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	l.limit = limit;
	l.more = more;
	l.cb = cb;
	l.payload = payload;
	max = limit >= 1000 ? 1000 : (int)limit + 1;
	error = dsync_s3_list(conn, key, after ? from : NULL, max, list_one, &l);
	return error > 0 ? 0 : error;
}

/* ---- uploads */

static rs_pending *pending_find(rs_store *s, const char *gid, const char *id)
{
	size_t i;

	for (i = 0; i < s->pending.size; i++)
		if (strcmp(s->pending.ptr[i]->id, id) == 0 && strcmp(s->pending.ptr[i]->gid, gid) == 0)
			return s->pending.ptr[i];
	return NULL;
}

/* ---- reservations shared by the relays on a bucket (section 14.4) */

/* KEY (a reservation of ours) is deleted from the bucket AFTER seconds from
 * now, by the next sweep (the lock held). */
static void unreserve_later(rs_store *s, const char *key, int64_t after)
{
	rs_unreserve u;

	if (!key[0])
		return;
	snprintf(u.key, sizeof(u.key), "%s", key);
	u.at = (int64_t)time(NULL) + after;
	if (dsync_array_push(s->unreserve, u) < 0)
		dsync_error_oom();   /* then it ages out: others stop counting it after RS_RESERVE_KEEP */
}

/* Deletes the reservations whose time has come (not under the lock). */
static void unreserve_sweep(rs_store *s)
{
	int64_t now = (int64_t)time(NULL);
	char key[RS_KEY_MAX];
	dsync_s3 *conn;
	size_t i;

	for (;;) {
		key[0] = '\0';
		pthread_mutex_lock(&s->mu);
		for (i = 0; i < s->unreserve.size; i++)
			if (s->unreserve.ptr[i].at <= now) {
				memcpy(key, s->unreserve.ptr[i].key, sizeof(key));
				s->unreserve.ptr[i] = s->unreserve.ptr[--s->unreserve.size];
				break;
			}
		pthread_mutex_unlock(&s->mu);
		if (!key[0] || (conn = rs_conn(s)) == NULL)
			return;
		if (dsync_s3_delete(conn, key) < 0)
			return;   /* the bucket away: it ages out */
	}
}

typedef struct others {
	const char *mine;        /* our relay id */
	size_t skip;
	int64_t now, keep;
	uint64_t bytes;
} others;

/* "RELAY-COUNTER-BYTES": counted when another relay's and younger than
 * RS_RESERVE_KEEP by the bucket's clock; anything else is ignored. */
static int other_one(const char *key, const dsync_s3_object *o, void *payload)
{
	others *t = payload;
	const char *n = key + t->skip, *b;
	char *end;
	unsigned long long v;

	if (strlen(key) < t->skip + 35 || n[16] != '-' || n[33] != '-' || strncmp(n, t->mine, 16) == 0)
		return 0;
	if (o->mtime && t->now - (int64_t)o->mtime > t->keep)
		return 0;
	b = n + 34;
	if (*b < '0' || *b > '9')
		return 0;
	errno = 0;
	v = strtoull(b, &end, 10);
	if (errno || *end || t->bytes + v < t->bytes)
		return 0;
	t->bytes += v;
	return 0;
}

/* U's reservation in the bucket, then the others' read (ours first, so of
 * two relays racing the later LIST sees both): 0, or refused over-quota
 * (U's reservation then queued for deletion). */
static int shared_reserve(rs_store *s, rs_upload *u, uint64_t quota)
{
	char name[64], dir[RS_KEY_MAX];
	others t = { 0 };
	dsync_s3 *conn;
	rs_group *g;
	uint64_t n, used;
	int error;

	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	pthread_mutex_lock(&s->mu);
	n = ++s->reservations;
	pthread_mutex_unlock(&s->mu);
	snprintf(name, sizeof(name), "%s-%016" PRIx64 "-%" PRIu64, s->relay_id, n, u->reserve);
	if ((error = rs_key(u->rkey, u->gid, "r", name)) < 0 || (error = rs_key(dir, u->gid, "r", "")) < 0)
		return error;
	if ((error = dsync_s3_put_buf(conn, u->rkey, "", 0)) < 0) {
		u->rkey[0] = '\0';
		return error;
	}
	u->refreshed = (int64_t)time(NULL);
	t.mine = s->relay_id;
	t.keep = s->keep;
	t.skip = strlen(dir);
	t.now = (int64_t)time(NULL);
	if ((error = dsync_s3_list(conn, dir, NULL, 0, other_one, &t)) < 0)
		return error;
	pthread_mutex_lock(&s->mu);
	g = rs_group_get(s, u->gid);
	used = g ? g->stored + g->reserved + t.bytes : 0;
	pthread_mutex_unlock(&s->mu);
	if (used - u->old_size > quota) {
		dsync_s3_delete(conn, u->rkey);   /* at once: others count it until it goes */
		u->rkey[0] = '\0';
		return rs_refuse("over-quota", "the group's quota is full (with other relays' uploads)");
	}
	return 0;
}

/* Forgets P: its file closed, its reservation given back (the lock held). */
static void pending_drop(rs_store *s, rs_pending *p)
{
	rs_group *g = rs_group_get(s, p->gid);
	size_t i;

	if (g)
		g->reserved = g->reserved > p->reserve ? g->reserved - p->reserve : 0;
	unreserve_later(s, p->rkey, 0);
	if (p->fd >= 0)
		close(p->fd);
	for (i = 0; i < s->pending.size; i++)
		if (s->pending.ptr[i] == p) {
			s->pending.ptr[i] = s->pending.ptr[--s->pending.size];
			break;
		}
	free(p);
}

/* Hashes the held bytes of U's spool file again (a resumed upload). */
static int rehash(rs_upload *u)
{
	uint8_t buf[COPY_BLOCK];
	uint64_t at = 0;
	ssize_t n;

	while (at < u->held) {
		size_t want = u->held - at < sizeof(buf) ? (size_t)(u->held - at) : sizeof(buf);

		if ((n = pread(u->fd, buf, want, (off_t)at)) <= 0)
			return dsync_error_sys(n < 0 ? errno : EIO, "cannot read an upload's spool file");
		crypto_generichash_update(&u->st, buf, (size_t)n);
		at += (uint64_t)n;
	}
	return 0;
}

/* Reserves U's bytes in its group, or refuses (the lock held). */
static int reserve(rs_store *s, rs_upload *u)
{
	rs_group *g = rs_group_get(s, u->gid);
	uint64_t quota, need = u->total + RS_TRAILER, used;

	if (!g)
		return dsync_error_oom();
	quota = rs_group_quota(s, g);
	used = g->stored + g->reserved;
	if (quota && used + need - u->old_size > quota)
		return rs_refuse("over-quota", "the group's quota is full");
	if (!u->exists && g->info.blobs + g->inflight >= s->lim.max_blobs)
		return rs_refuse("too-many-blobs", "the group holds its most blobs");
	g->reserved += need;
	u->reserve = need;
	if (!u->exists) {
		g->inflight++;
		u->new_name = true;
	}
	return 0;
}

static void release(rs_upload *u)
{
	rs_group *g = rs_group_get(u->s, u->gid);

	if (!g)
		return;
	g->reserved = g->reserved > u->reserve ? g->reserved - u->reserve : 0;
	u->reserve = 0;
	if (u->new_name && g->inflight)
		g->inflight--;
	u->new_name = false;
}

int rs_upload_begin(relay_upload **out, relay_store *st, const char *gid, const char *name, const char *writer,
		    uint64_t total, const uint8_t hash[DSYNC_RELAY_KEY_BYTES], const char *upload_id, uint64_t *offset)
{
	rs_store *s = (rs_store *)st;
	char key[RS_KEY_MAX];
	dsync_s3_object o;
	uint64_t quota;
	rs_upload *u;
	rs_pending *p;
	dsync_s3 *conn;
	int error;

	*out = NULL;
	if (offset)
		*offset = 0;
	if (total > s->lim.max_blob)
		return rs_refuse("too-large", "the blob is over the relay's --max-blob");
	if ((error = blob_key(key, gid, name)) < 0 || (error = rs_group_load(s, gid)) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	unreserve_sweep(s);
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return dsync_error_oom();
	u->s = s;
	u->fd = -1;
	snprintf(u->gid, sizeof(u->gid), "%s", gid);
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->writer, sizeof(u->writer), "%s", writer);
	memcpy(u->hash, hash, DSYNC_RELAY_KEY_BYTES);
	u->total = total;
	crypto_generichash_init(&u->st, NULL, 0, DSYNC_RELAY_KEY_BYTES);
	error = dsync_s3_head(conn, key, &o);
	if (error < 0 && error != DSYNC_ENOTFOUND)
		goto fail;
	u->exists = error == 0;
	u->old_size = u->exists ? o.size : 0;
	pthread_mutex_lock(&s->mu);
	if (upload_id && (p = pending_find(s, gid, upload_id)) != NULL) {
		if (p->busy) {
			pthread_mutex_unlock(&s->mu);
			error = dsync_error_set(DSYNC_ELOCKED, "upload %s is in progress", upload_id);
			goto fail;
		}
		if (p->total != total || strcmp(p->writer, writer) != 0 || strcmp(p->name, name) != 0) {
			pending_drop(s, p);   /* another length or writer: it starts over */
			p = NULL;
		} else {
			p->busy = true;
			u->p = p;
			u->fd = p->fd;
			u->held = p->held;
		}
	}
	if (!u->p && (error = reserve(s, u)) < 0) {
		pthread_mutex_unlock(&s->mu);
		goto fail;
	}
	{
		rs_group *g = rs_group_get(s, gid);

		quota = g ? rs_group_quota(s, g) : 0;
	}
	pthread_mutex_unlock(&s->mu);
	/* with a quota, the other relays' uploads count too (section 14.4) */
	if (!u->p && quota && (error = shared_reserve(s, u, quota)) < 0)
		goto fail;
	if (u->p) {
		if (offset)
			*offset = u->held;
		if ((error = rehash(u)) < 0)
			goto fail;
		*out = (relay_upload *)u;
		return 0;
	}
	if ((u->fd = rs_spool_file(s)) < 0) {
		error = u->fd;
		goto fail;
	}
	if (upload_id) {
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			error = dsync_error_oom();
			goto fail;
		}
		snprintf(p->gid, sizeof(p->gid), "%s", gid);
		snprintf(p->id, sizeof(p->id), "%s", upload_id);
		snprintf(p->name, sizeof(p->name), "%s", name);
		snprintf(p->writer, sizeof(p->writer), "%s", writer);
		p->fd = u->fd;
		p->total = total;
		p->reserve = u->reserve;
		memcpy(p->rkey, u->rkey, sizeof(p->rkey));
		u->rkey[0] = '\0';
		p->busy = true;
		p->touched = time(NULL);
		pthread_mutex_lock(&s->mu);
		if (dsync_array_push(s->pending, p) < 0) {
			pthread_mutex_unlock(&s->mu);
			free(p);
			error = dsync_error_oom();
			goto fail;
		}
		u->p = p;
		u->reserve = 0;   /* the record holds it now */
		pthread_mutex_unlock(&s->mu);
	}
	*out = (relay_upload *)u;
	return 0;
fail:
	rs_upload_abort((relay_upload *)u);
	return error;
}

/* PUTs U's reservation again when half its time has passed (section 14.4),
 * so an upload of any length counts for the other relays while its body
 * comes; a resumed upload's at its first write.  A failure is not the
 * upload's: the reservation then ages out as a killed relay's would. */
static void refresh(rs_upload *u)
{
	rs_store *s = u->s;
	int64_t now = (int64_t)time(NULL);
	char key[RS_KEY_MAX];
	dsync_s3 *conn;

	if (u->refreshed && now - u->refreshed < s->keep / 2)
		return;
	u->refreshed = now;
	pthread_mutex_lock(&s->mu);
	memcpy(key, u->p ? u->p->rkey : u->rkey, sizeof(key));
	pthread_mutex_unlock(&s->mu);
	if (key[0] && (conn = rs_conn(s)) != NULL)
		dsync_s3_put_buf(conn, key, "", 0);
}

int rs_upload_write(relay_upload *up, const void *data, size_t len)
{
	rs_upload *u = (rs_upload *)up;
	const uint8_t *d = data;
	ssize_t n;

	if (u->held + len > u->total)
		return dsync_error_set(DSYNC_EUSAGE, "the body is longer than the upload");
	refresh(u);
	crypto_generichash_update(&u->st, d, len);
	while (len) {
		if ((n = pwrite(u->fd, d, len, (off_t)u->held)) < 0) {
			if (errno == EINTR)
				continue;
			return errno == ENOSPC || errno == EDQUOT ? rs_refuse("disk-full", "the relay's spool is full")
								   : dsync_error_sys(errno, "cannot write the spool file");
		}
		d += n;
		len -= (size_t)n;
		u->held += (uint64_t)n;
	}
	return 0;
}

/* Appends the trailer of U to its spool file. */
static int trailer_write(rs_upload *u)
{
	uint8_t t[RS_TRAILER] = { 0 };
	uint64_t len = u->total;
	int i;

	memcpy(t, RS_MAGIC, 8);
	if (sodium_hex2bin(t + 8, 16, u->writer, 32, NULL, NULL, NULL) != 0)
		return dsync_error_set(DSYNC_EUSAGE, "bad writer id");
	memcpy(t + 24, u->hash, DSYNC_RELAY_KEY_BYTES);
	for (i = 0; i < 8; i++, len >>= 8)
		t[56 + i] = (uint8_t)(len & 0xff);
	if (pwrite(u->fd, t, sizeof(t), (off_t)u->total) != (ssize_t)sizeof(t) || lseek(u->fd, 0, SEEK_SET) != 0)
		return dsync_error_sys(errno ? errno : EIO, "cannot write the spool file");
	return 0;
}

int rs_upload_finish(relay_upload *up, bool *replaced)
{
	rs_upload *u = (rs_upload *)up;
	rs_store *s = u->s;
	uint8_t h[DSYNC_RELAY_KEY_BYTES];
	char key[RS_KEY_MAX], dev[DSYNC_RELAY_ID_HEX];
	uint64_t seq, n;
	dsync_s3 *conn;
	rs_group *g;
	int error;

	*replaced = false;
	crypto_generichash_final(&u->st, h, sizeof(h));
	if (u->held != u->total || sodium_memcmp(h, u->hash, sizeof(h)) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the body's hash is not the one announced");
		goto out;
	}
	if (dsync_relay_manifest_name(u->name, dev, &seq) == 0 && (error = rs_seq_mark(s, u->gid, dev, seq)) < 0)
		goto out;
	if ((error = blob_key(key, u->gid, u->name)) < 0 || (error = trailer_write(u)) < 0)
		goto out;
	if ((conn = rs_conn(s)) == NULL) {
		error = dsync_error_last_code();
		goto out;
	}
	if ((error = dsync_s3_put_fd(conn, key, u->fd, NULL, NULL)) < 0)
		goto out;
	*replaced = u->exists;
	pthread_mutex_lock(&s->mu);
	if ((g = rs_group_get(s, u->gid)) != NULL && g->count_ms) {
		g->stored += u->total + RS_TRAILER;
		g->stored = g->stored > u->old_size ? g->stored - u->old_size : 0;
		if (!u->exists) {
			g->info.blobs++;
			if (strncmp(u->name, "keys/", 5) == 0)
				g->info.keys++;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (strncmp(u->name, "devices/", 8) == 0)
		rs_change(s, u->gid, true, &n);   /* this relay's N follows its own write at once */
	error = 0;
out:
	/* done or refused: a resumable upload's record goes too; a stored
	 * blob's reservation stays until every relay's recount has it */
	pthread_mutex_lock(&s->mu);
	if (u->p) {
		if (u->p->fd == u->fd)
			u->fd = -1;
		memcpy(u->rkey, u->p->rkey, sizeof(u->rkey));
		u->p->rkey[0] = '\0';
		pending_drop(s, u->p);
		u->p = NULL;
	}
	unreserve_later(s, u->rkey, error == 0 ? s->keep : 0);
	release(u);
	pthread_mutex_unlock(&s->mu);
	if (u->fd >= 0)
		close(u->fd);
	free(u);
	return error;
}

void rs_upload_abort(relay_upload *up)
{
	rs_upload *u = (rs_upload *)up;
	rs_store *s;

	if (!u)
		return;
	s = u->s;
	pthread_mutex_lock(&s->mu);
	if (u->p) {
		/* kept: the next PUT of this upload id continues it */
		u->p->held = u->held;
		u->p->busy = false;
		u->p->touched = time(NULL);
		u->fd = -1;
	}
	unreserve_later(s, u->rkey, 0);
	release(u);
	pthread_mutex_unlock(&s->mu);
	if (u->fd >= 0)
		close(u->fd);
	free(u);
}

int rs_upload_offset(relay_store *st, const char *gid, const char *upload_id, uint64_t *offset)
{
	rs_store *s = (rs_store *)st;
	rs_pending *p;
	int error = 0;

	pthread_mutex_lock(&s->mu);
	if ((p = pending_find(s, gid, upload_id)) != NULL)
		*offset = p->held;
	else
		error = dsync_error_set(DSYNC_ENOTFOUND, "no upload %s", upload_id);
	pthread_mutex_unlock(&s->mu);
	return error;
}

int rs_expire_uploads(relay_store *st, int64_t max_age)
{
	rs_store *s = (rs_store *)st;
	int64_t before = (int64_t)time(NULL) - max_age;
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = s->pending.size; i-- > 0;) {
		rs_pending *p = s->pending.ptr[i];

		if (!p->busy && p->touched < before)
			pending_drop(s, p);
	}
	pthread_mutex_unlock(&s->mu);
	unreserve_sweep(s);
	return rs_sweep(s);
}

/* ---- the change value (section 14.6) */

typedef struct digest {
	crypto_generichash_state st;
	size_t skip;
} digest;

static int digest_one(const char *key, const dsync_s3_object *o, void *payload)
{
	digest *d = payload;
	char line[32];

	crypto_generichash_update(&d->st, (const uint8_t *)key + d->skip, strlen(key) - d->skip + 1);
	snprintf(line, sizeof(line), "%" PRIu64 "\n", o->size);
	crypto_generichash_update(&d->st, (const uint8_t *)line, strlen(line));
	return 0;
}

int rs_change(rs_store *s, const char *gid, bool fresh, uint64_t *n)
{
	int64_t now = dsync_now_ms();
	char key[RS_KEY_MAX];
	uint8_t h[32];
	uint64_t v = 0;
	digest d;
	rs_group *g;
	dsync_s3 *conn;
	int error, i;

	pthread_mutex_lock(&s->mu);
	g = rs_group_get(s, gid);
	if (g && !fresh && g->change_ms && now - g->change_ms <= RS_CHANGE_TTL_MS) {
		*n = g->change;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	pthread_mutex_unlock(&s->mu);
	if (!g)
		return dsync_error_oom();
	if ((error = rs_key(key, gid, "b", "devices/")) < 0)
		return error;
	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	crypto_generichash_init(&d.st, NULL, 0, sizeof(h));
	d.skip = strlen(key);
	if ((error = dsync_s3_list(conn, key, NULL, 0, digest_one, &d)) < 0)
		return error;
	crypto_generichash_final(&d.st, h, sizeof(h));
	for (i = 7; i >= 0; i--)
		v = (v << 8) | h[i];
	v &= INT64_MAX;
	pthread_mutex_lock(&s->mu);
	g->change = v;
	g->change_ms = now;
	pthread_mutex_unlock(&s->mu);
	*n = v;
	return 0;
}
