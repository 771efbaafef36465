/*
 * Blobs in the relay's storage (docs/relay-protocol.md sections 4, 5, 7
 * and 9): reading, deleting and listing them, and uploads: the quota reserved at the start, the body streamed into tmp/X
 * outside any lock while it is hashed, then under the group's lock the SEQ
 * rule, the rename and the counters.  A resumable upload's temp file is
 * kept when its connection is cut, with its held length in tmp/X.len.
 */
#include "core/base/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/base/array.h"
#include "core/base/buf.h"
#include "transport/relay_disk_store.h"

#define SYNC_EVERY (8ULL << 20)     /* a resumable upload is fsync'd and its length recorded this often */
#define READ_BLOCK (64 * 1024)

struct relay_upload {
	relay_disk *d;
	rd_group *g;
	int gfd, tmp, fd;
	char name[DSYNC_RELAY_NAME_MAX + 1];
	char tname[DSYNC_RELAY_ID_HEX];     /* tmp/TNAME: the upload id, or random for a plain PUT */
	bool resumable;
	bool failed;                        /* the temp file goes whatever ends the upload */
	bool new_name;                      /* counted in the group's inflight */
	uint8_t writer[16];
	uint8_t hash[DSYNC_RELAY_KEY_BYTES];
	uint64_t total, held, synced, reserve;
	crypto_generichash_state st;
	/* A resumed PUT of the same upload by the same device takes it over
	 * from a connection the relay hasn't seen cut yet (section 4.2): MU
	 * orders this connection's writes against that takeover. */
	pthread_mutex_t mu;
	bool stolen;                        /* taken over: its writes are refused, its end touches nothing */
	bool ending;                        /* finishing or dropped: it can no longer be taken over */
};

/* ---- blobs */

/* The folder of group GID (*G) for blob NAME, whose name is checked. */
static int blob_at(relay_disk *d, const char *gid, const char *name, rd_group **g)
{
	int error;

	if ((error = rd_check_name(name)) < 0)
		return error;
	return rd_group_open(d, gid, g);
}

/* Opens blob NAME of group GID for reading: *FD and INFO from its header. */
static int blob_open(relay_disk *d, const char *gid, const char *name, int *fd, relay_blob_info *info)
{
	uint8_t h[DSYNC_RELAY_DISK_HEADER];
	const char *base;
	struct stat st;
	rd_group *g;
	uint64_t len = 0;
	int gfd, dir = -1, in = -1, error = 0, i;

	if ((gfd = blob_at(d, gid, name, &g)) < 0)
		return gfd;
	if ((dir = rd_blob_parent(gfd, name, false, &base)) < 0) {
		error = dir == DSYNC_ENOTFOUND ? dsync_error_set(DSYNC_ENOTFOUND, "no blob %s", name) : dir;
		goto out;
	}
	if ((in = openat(dir, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0) {
		error = errno == ENOENT ? dsync_error_set(DSYNC_ENOTFOUND, "no blob %s", name)
					: dsync_error_sys(errno, "cannot read blob %s", name);
		goto out;
	}
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < DSYNC_RELAY_DISK_HEADER ||
	    pread(in, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, RD_MAGIC, 8) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the relay's copy of %s is damaged", name);
		goto out;
	}
	for (i = 7; i >= 0; i--)
		len = (len << 8) | h[56 + i];
	if (len != (uint64_t)st.st_size - DSYNC_RELAY_DISK_HEADER) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the relay's copy of %s is damaged (its length)", name);
		goto out;
	}
	info->size = len;
	info->mtime = st.st_mtime;
	sodium_bin2hex(info->writer, sizeof(info->writer), h + 8, 16);
	memcpy(info->hash, h + 24, DSYNC_RELAY_KEY_BYTES);
	if (fd) {
		*fd = in;
		in = -1;
	}
out:
	if (in >= 0)
		close(in);
	if (dir >= 0)
		close(dir);
	close(gfd);
	return error;
}

int relay_disk_blob_stat(relay_disk *d, const char *gid, const char *name, relay_blob_info *out)
{
	return blob_open(d, gid, name, NULL, out);
}

int relay_disk_blob_open(relay_disk *d, const char *gid, const char *name, int *fd, relay_blob_info *info)
{
	return blob_open(d, gid, name, fd, info);
}

int relay_disk_blob_delete(relay_disk *d, const char *gid, const char *name)
{
	const char *base;
	struct stat st;
	rd_group *g;
	int gfd, dir = -1, error = 0;

	if ((gfd = blob_at(d, gid, name, &g)) < 0)
		return gfd;
	if ((dir = rd_blob_parent(gfd, name, false, &base)) < 0) {
		error = dir == DSYNC_ENOTFOUND ? 0 : dir;
		goto out;
	}
	pthread_mutex_lock(&g->lock);
	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		if (unlinkat(dir, base, 0) < 0 || fsync(dir) < 0) {
			error = dsync_error_sys(errno, "cannot remove blob %s", name);
		} else {
			g->used -= (uint64_t)st.st_size < g->used ? (uint64_t)st.st_size : g->used;
			g->blobs -= g->blobs > 0;
			if (strncmp(name, "keys/", 5) == 0)
				g->keys -= g->keys > 0;
		}
	}
	pthread_mutex_unlock(&g->lock);
out:
	if (dir >= 0)
		close(dir);
	close(gfd);
	return error;
}

/* ---- listing */

typedef struct list_item {
	char *name;
	uint64_t size;
	int64_t mtime;
} list_item;

typedef struct lister {
	const char *after;
	unsigned limit;
	const char *bound;   /* once trimmed: the largest name kept; nothing above it can be in the page */
	DSYNC_ARRAY(list_item) items;
} lister;

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const list_item *)a)->name, ((const list_item *)b)->name);
}

/* Keeps the LIMIT + 1 smallest items: enough to answer and to know *more. */
static void list_trim(lister *l)
{
	size_t i, keep = (size_t)l->limit + 1;

	if (l->items.size == 0)
		return;
	qsort(l->items.ptr, l->items.size, sizeof(list_item), item_cmp);
	for (i = keep; i < l->items.size; i++)
		free(l->items.ptr[i].name);
	if (l->items.size > keep) {
		l->items.size = keep;
		l->bound = l->items.ptr[keep - 1].name;
	}
}

static int list_add(int dir, const char *base, const char *name, void *payload)
{
	lister *l = payload;
	list_item it = { NULL, 0, 0 };

	(void)dir;
	(void)base;
	if ((l->after && strcmp(name, l->after) <= 0) || (l->bound && strcmp(name, l->bound) >= 0))
		return 0;
	it.name = strdup(name);   /* stat'ed only if it is in the page */
	if (!it.name || dsync_array_push(l->items, it) < 0) {
		free(it.name);
		return dsync_error_oom();
	}
	if (l->items.size >= 4 * ((size_t)l->limit + 1))
		list_trim(l);   /* memory stays bounded by the page, not the group */
	return 0;
}

int relay_disk_list(relay_disk *d, const char *gid, const char *prefix, const char *after, unsigned limit,
		    bool *more, relay_disk_list_cb cb, void *payload)
{
	dsync_buf path = DSYNC_BUF_INIT;
	lister l = { after, limit ? limit : DSYNC_RELAY_LIST_MAX, NULL, DSYNC_ARRAY_INIT };
	rd_group *g;
	size_t i;
	int gfd, b = -1, error;

	*more = false;
	if (!limit)
		limit = DSYNC_RELAY_LIST_MAX;
	if (!prefix)
		prefix = "";
	if (strlen(prefix) > DSYNC_RELAY_NAME_MAX)
		return dsync_error_set(DSYNC_EUSAGE, "bad prefix");
	if ((gfd = rd_group_open(d, gid, &g)) < 0)
		return gfd;
	if ((b = rd_open_dir(gfd, "b", false)) < 0) {
		error = b == DSYNC_ENOTFOUND ? 0 : b;
		goto out;
	}
	if ((error = rd_walk(b, &path, prefix, 2, list_add, &l)) < 0)
		goto out;
	list_trim(&l);
	for (i = 0; i < l.items.size && i < limit && error == 0; i++) {
		const char *base;
		struct stat st;
		int dir = rd_blob_parent(gfd, l.items.ptr[i].name, false, &base);

		if (dir < 0)
			continue;   /* removed since the walk */
		if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size >= DSYNC_RELAY_DISK_HEADER)
			error = cb(l.items.ptr[i].name, (uint64_t)st.st_size - DSYNC_RELAY_DISK_HEADER, st.st_mtime,
				   payload);
		close(dir);
	}
	*more = l.items.size > limit;
out:
	for (i = 0; i < l.items.size; i++)
		free(l.items.ptr[i].name);
	dsync_array_dispose(l.items);
	dsync_buf_dispose(&path);
	if (b >= 0)
		close(b);
	close(gfd);
	return error;
}

/* ---- uploads */

static rd_pending *pending_find(rd_group *g, const char *id)
{
	size_t i;

	for (i = 0; i < g->pending.size; i++)
		if (strcmp(g->pending.ptr[i].id, id) == 0)
			return &g->pending.ptr[i];
	return NULL;
}

static void pending_drop(rd_group *g, const char *id)
{
	rd_pending *p = pending_find(g, id);

	if (p)
		*p = g->pending.ptr[--g->pending.size];
}

/* Records in tmp/ID.len that ID holds HELD of TOTAL body bytes of NAME. */
static int len_write(int tmp, const char *id, uint64_t held, uint64_t total, const char *name)
{
	char lname[DSYNC_RELAY_ID_HEX + 4], text[DSYNC_RELAY_NAME_MAX + 80];

	rd_len_name(lname, id);
	snprintf(text, sizeof(text), "held %llu\ntotal %llu\nname %s\n", (unsigned long long)held,
		 (unsigned long long)total, name);
	return rd_record_write(tmp, tmp, lname, text);
}

/* ---- one upload */

static void release(relay_upload *u)
{
	rd_group *g = u->g;

	g->reserved -= u->reserve <= g->reserved ? u->reserve : g->reserved;
	u->reserve = 0;
	if (u->new_name) {
		g->inflight -= g->inflight > 0;
		u->new_name = false;
	}
}

static void upload_free(relay_upload *u)
{
	pthread_mutex_destroy(&u->mu);
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmp >= 0)
		close(u->tmp);
	if (u->gfd >= 0)
		close(u->gfd);
	free(u);
}

/* Ends U without storing it: the temp goes (a plain or failed upload) or is
 * kept with its length recorded (a resumable one). */
static void upload_drop(relay_upload *u)
{
	rd_group *g = u->g;
	bool keep = u->resumable && !u->failed && u->fd >= 0, stolen;

	pthread_mutex_lock(&u->mu);
	stolen = u->stolen;
	u->ending = true;
	pthread_mutex_unlock(&u->mu);
	if (stolen) {
		/* the file, its record and its reservation are the new connection's */
		pthread_mutex_lock(&g->lock);
		if (u->new_name)
			g->inflight -= g->inflight > 0;
		pthread_mutex_unlock(&g->lock);
		upload_free(u);
		return;
	}
	if (keep && (fsync(u->fd) < 0 || len_write(u->tmp, u->tname, u->held, u->total, u->name) < 0))
		keep = false;
	pthread_mutex_lock(&g->lock);
	if (keep) {
		rd_pending *p = pending_find(g, u->tname);

		if (p) {
			p->held = u->held;
			p->busy = false;
			p->owner = NULL;
		}
		if (u->new_name) {
			g->inflight -= g->inflight > 0;
			u->new_name = false;
		}
	} else {
		if (u->tname[0])
			rd_remove_upload_files(u->tmp, u->tname);
		if (u->resumable)
			pending_drop(g, u->tname);
		release(u);
	}
	pthread_mutex_unlock(&g->lock);
	upload_free(u);
}

/* Writes the header (zero hash: the body's is written at the end). */
static int header_write(relay_upload *u)
{
	uint8_t h[DSYNC_RELAY_DISK_HEADER] = { 0 };
	uint64_t n = u->total;
	int i;

	memcpy(h, RD_MAGIC, 8);
	memcpy(h + 8, u->writer, 16);
	for (i = 0; i < 8; i++, n >>= 8)
		h[56 + i] = (uint8_t)n;
	if (pwrite(u->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return errno == ENOSPC || errno == EDQUOT ? rd_refuse("disk-full", "the relay's disk is full")
							   : dsync_error_sys(errno, "cannot write an upload's temp file");
	return 0;
}

/* Hashes the HELD body bytes already in a resumed upload's file. */
static int rehash(relay_upload *u)
{
	uint8_t *block = malloc(READ_BLOCK);
	uint64_t off = 0;
	int error = 0;

	if (!block)
		return dsync_error_oom();
	while (off < u->held) {
		size_t want = u->held - off < READ_BLOCK ? (size_t)(u->held - off) : READ_BLOCK;
		ssize_t n = pread(u->fd, block, want, (off_t)(DSYNC_RELAY_DISK_HEADER + off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error = dsync_error_sys(n < 0 ? errno : EIO, "cannot read a resumed upload");
			break;
		}
		crypto_generichash_update(&u->st, block, (size_t)n);
		off += (uint64_t)n;
	}
	free(block);
	return error;
}

/* Opens the temp file: a new one (O_EXCL) or the kept one cut to HELD. */
static int temp_open(relay_upload *u, bool resume)
{
	struct stat st;
	int error;

	if (resume) {
		u->fd = openat(u->tmp, u->tname, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (u->fd < 0 || fstat(u->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size < DSYNC_RELAY_DISK_HEADER + u->held ||
		    ftruncate(u->fd, (off_t)(DSYNC_RELAY_DISK_HEADER + u->held)) < 0)
			return dsync_error_sys(errno ? errno : EIO, "cannot resume upload %s", u->tname);
		if ((error = rehash(u)) < 0)
			return error;
	} else {
		unlinkat(u->tmp, u->tname, 0);
		u->fd = openat(u->tmp, u->tname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (u->fd < 0)
			return errno == ENOSPC || errno == EDQUOT ? rd_refuse("disk-full", "the relay's disk is full")
								   : dsync_error_sys(errno, "cannot start an upload");
	}
	if ((error = header_write(u)) < 0)
		return error;
	if (lseek(u->fd, (off_t)(DSYNC_RELAY_DISK_HEADER + u->held), SEEK_SET) < 0)
		return dsync_error_sys(errno, "cannot start an upload");
	if (u->resumable && !resume)
		return len_write(u->tmp, u->tname, 0, u->total, u->name);
	return 0;
}

/* Under the group's lock: U, a PUT of P's upload by the device that holds
 * it, takes it from the connection that holds it, which the relay has not
 * yet seen cut (a half-open connection is seen only at the idle timeout).
 * That connection's writes are refused from here on; P's length becomes
 * what it wrote, fsync'd now.  DSYNC_ELOCKED when it can't be taken. */
static int take_over(rd_pending *p, const relay_upload *u)
{
	relay_upload *o = p->owner;
	int error = 0;

	if (!o || p->total != u->total || sodium_memcmp(o->writer, u->writer, sizeof(u->writer)) != 0)
		return dsync_error_set(DSYNC_ELOCKED, "upload %s is in progress on another connection", p->id);
	pthread_mutex_lock(&o->mu);
	if (o->ending || o->failed || fsync(o->fd) < 0 || len_write(o->tmp, o->tname, o->held, o->total, o->name) < 0) {
		error = dsync_error_set(DSYNC_ELOCKED, "upload %s is in progress on another connection", p->id);
	} else {
		o->stolen = true;
		p->held = o->held;
		p->owner = NULL;   /* U's once its file is open */
	}
	pthread_mutex_unlock(&o->mu);
	return error;
}

/* Under the group's lock: takes the kept upload back, or reserves the
 * bytes of a new one (the quota and blob-count checks). *RESUME says which. */
static int reserve(relay_upload *u, const char *upload_id, uint64_t replaced, bool exists, bool *resume)
{
	relay_disk *d = u->d;
	rd_group *g = u->g;
	rd_pending *p = upload_id ? pending_find(g, upload_id) : NULL;
	uint64_t quota = rd_group_quota(d, g), need;

	*resume = false;
	if (p && p->busy) {
		int error = take_over(p, u);

		if (error < 0)
			return error;
	}
	if (p && p->total == u->total) {
		p->busy = true;
		u->held = u->synced = p->held;
		u->reserve = p->reserve;
		*resume = true;
	} else {
		if (p) {
			/* the same id for another length: that upload is void */
			g->reserved -= p->reserve <= g->reserved ? p->reserve : g->reserved;
			pending_drop(g, upload_id);
		}
		need = g->used + g->reserved + u->total + DSYNC_RELAY_DISK_HEADER;
		if (quota && need > replaced && need - replaced > quota)
			return rd_refuse("over-quota", "group %s would pass its quota (%llu bytes)", g->gid,
					 (unsigned long long)quota);
		if (!exists && g->blobs + g->inflight >= d->lim.max_blobs)
			return rd_refuse("too-many-blobs", "group %s holds its most blobs (%llu)", g->gid,
					 (unsigned long long)d->lim.max_blobs);
		u->reserve = u->total + DSYNC_RELAY_DISK_HEADER;
		g->reserved += u->reserve;
		if (upload_id) {
			rd_pending n = { { 0 }, 0, u->total, u->reserve, true };

			memcpy(n.id, upload_id, DSYNC_RELAY_ID_HEX);
			if (dsync_array_push(g->pending, n) < 0) {
				g->reserved -= u->reserve;
				u->reserve = 0;
				return dsync_error_oom();
			}
		}
	}
	if (!exists) {
		g->inflight++;
		u->new_name = true;
	}
	return 0;
}

int relay_disk_upload_begin(relay_upload **out, relay_disk *d, const char *gid, const char *name, const char *writer,
			    uint64_t total, const uint8_t hash[DSYNC_RELAY_KEY_BYTES], const char *upload_id,
			    uint64_t *offset)
{
	relay_upload *u = NULL;
	relay_blob_info old;
	uint64_t replaced = 0;
	bool exists, resume = false;
	int error;

	*out = NULL;
	if (offset)
		*offset = 0;
	rd_refusal_set("");
	if ((error = rd_check_name(name)) < 0)
		return error;
	if (!writer || rd_hex_ok(writer, 32) < 0 || (upload_id && rd_hex_ok(upload_id, DSYNC_RELAY_ID_HEX - 1) < 0))
		return dsync_error_set(DSYNC_EUSAGE, "bad upload");
	if (total > d->lim.max_blob)
		return rd_refuse("too-large", "a blob of %llu bytes is over the relay's limit", (unsigned long long)total);
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return dsync_error_oom();
	u->d = d;
	u->gfd = u->tmp = u->fd = -1;
	pthread_mutex_init(&u->mu, NULL);
	u->resumable = upload_id != NULL;
	u->total = total;
	memcpy(u->name, name, strlen(name) + 1);
	memcpy(u->hash, hash, sizeof(u->hash));
	sodium_hex2bin(u->writer, sizeof(u->writer), writer, 32, NULL, NULL, NULL);
	if ((u->gfd = rd_group_open(d, gid, &u->g)) < 0 || (u->tmp = rd_open_dir(u->gfd, "tmp", true)) < 0) {
		error = u->gfd < 0 ? u->gfd : u->tmp;
		upload_free(u);
		return error;
	}
	/* the blob it would replace (its stored file's size), read outside the lock:
	 * finish takes the size again when it renames */
	error = relay_disk_blob_stat(d, gid, name, &old);
	if (error < 0 && error != DSYNC_ENOTFOUND) {
		upload_free(u);
		return error;
	}
	exists = error == 0;
	if (exists)
		replaced = old.size + DSYNC_RELAY_DISK_HEADER;
	pthread_mutex_lock(&u->g->lock);
	error = reserve(u, upload_id, replaced, exists, &resume);
	pthread_mutex_unlock(&u->g->lock);
	if (error < 0) {
		upload_free(u);
		return error;
	}
	if (upload_id) {
		memcpy(u->tname, upload_id, DSYNC_RELAY_ID_HEX);
	} else {
		uint8_t rnd[16];

		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(u->tname, sizeof(u->tname), rnd, sizeof(rnd));
	}
	crypto_generichash_init(&u->st, NULL, 0, DSYNC_RELAY_KEY_BYTES);
	if ((error = temp_open(u, resume)) < 0) {
		u->failed = true;
		upload_drop(u);
		return error;
	}
	if (u->resumable) {
		rd_pending *p;

		pthread_mutex_lock(&u->g->lock);
		if ((p = pending_find(u->g, u->tname)) != NULL)
			p->owner = u;
		pthread_mutex_unlock(&u->g->lock);
	}
	if (offset)
		*offset = u->held;
	*out = u;
	return 0;
}

static int upload_write(relay_upload *u, const void *data, size_t len);

int relay_disk_upload_write(relay_upload *u, const void *data, size_t len)
{
	int error;

	pthread_mutex_lock(&u->mu);
	if (u->stolen)
		error = dsync_error_set(DSYNC_ELOCKED, "the upload was taken over by another connection");
	else
		error = upload_write(u, data, len);
	pthread_mutex_unlock(&u->mu);
	return error;
}

static int upload_write(relay_upload *u, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t left = len;

	if (u->failed)
		return dsync_error_set(DSYNC_ERROR, "the upload failed already");
	if (len > u->total - u->held)
		return dsync_error_set(DSYNC_EUSAGE, "the body is longer than announced");
	while (left > 0) {
		ssize_t n = write(u->fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			u->failed = true;
			return e == ENOSPC || e == EDQUOT ? rd_refuse("disk-full", "the relay's disk is full")
							  : dsync_error_sys(e, "cannot write an upload's temp file");
		}
		p += n;
		left -= (size_t)n;
	}
	crypto_generichash_update(&u->st, data, len);
	u->held += len;
	if (u->resumable && u->held - u->synced >= SYNC_EVERY) {
		/* what a crash keeps: the bytes fsync'd, then their length recorded */
		if (fsync(u->fd) < 0 || len_write(u->tmp, u->tname, u->held, u->total, u->name) < 0) {
			u->failed = true;
			return errno == ENOSPC || errno == EDQUOT ? rd_refuse("disk-full", "the relay's disk is full")
								   : dsync_error_sys(errno, "cannot flush an upload");
		}
		u->synced = u->held;
	}
	return 0;
}

/* Under the group's lock: the SEQ rule and device record for a manifest,
 * the rename, the counters. */
static int commit(relay_upload *u, int dir, const char *base, bool *replaced)
{
	rd_group *g = u->g;
	char dev[DSYNC_RELAY_ID_HEX];
	struct stat st;
	uint64_t seq, old = 0;
	int error;

	if (rd_manifest_name(u->name, dev, &seq)) {
		relay_device_info info;
		rd_device *e;

		if ((e = rd_device_find(g, dev)) == NULL)
			return dsync_error_set(DSYNC_ENOTFOUND, "no device %s in group %s", dev, g->gid);
		if (seq <= e->info.seq_high)
			return dsync_error_set(DSYNC_ECONFLICT, "%s is not newer than SEQ %llu", u->name,
					       (unsigned long long)e->info.seq_high);
		/* raised before the rename: a crash between them refuses a replay, never forgets the SEQ */
		info = e->info;
		info.seq_high = seq;
		if ((error = rd_device_store(g, u->gfd, dev, &info)) < 0)
			return error;
	}
	*replaced = fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	if (*replaced)
		old = (uint64_t)st.st_size;
	if (renameat(u->tmp, u->tname, dir, base) < 0)
		return dsync_error_sys(errno, "cannot store %s", u->name);
	u->tname[0] = '\0';   /* nothing left to remove */
	if (fsync(dir) < 0)
		return dsync_error_sys(errno, "cannot flush the folder of %s", u->name);
	g->used += DSYNC_RELAY_DISK_HEADER + u->total;
	g->used -= old <= g->used ? old : g->used;
	if (!*replaced) {
		g->blobs++;
		if (strncmp(u->name, "keys/", 5) == 0)
			g->keys++;
	}
	return 0;
}

int relay_disk_upload_finish(relay_upload *u, bool *replaced)
{
	uint8_t h[DSYNC_RELAY_KEY_BYTES];
	char id[DSYNC_RELAY_ID_HEX];
	const char *base;
	int dir = -1, error;

	*replaced = false;
	pthread_mutex_lock(&u->mu);
	error = u->stolen ? dsync_error_set(DSYNC_ELOCKED, "the upload was taken over by another connection") : 0;
	u->ending = true;
	pthread_mutex_unlock(&u->mu);
	if (error < 0) {
		upload_drop(u);
		return error;
	}
	if (u->failed || u->held != u->total) {
		error = dsync_error_set(DSYNC_EUSAGE, "the upload of %s is not whole (%llu of %llu bytes)", u->name,
					(unsigned long long)u->held, (unsigned long long)u->total);
		upload_drop(u);
		return error;
	}
	crypto_generichash_final(&u->st, h, sizeof(h));
	if (sodium_memcmp(h, u->hash, sizeof(h)) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the body of %s does not have its announced hash", u->name);
		goto fail;
	}
	if (pwrite(u->fd, h, sizeof(h), 24) != (ssize_t)sizeof(h) || fsync(u->fd) < 0) {
		error = errno == ENOSPC || errno == EDQUOT ? rd_refuse("disk-full", "the relay's disk is full")
							   : dsync_error_sys(errno, "cannot flush the upload of %s", u->name);
		goto fail;
	}
	if ((error = dir = rd_blob_parent(u->gfd, u->name, true, &base)) < 0)
		goto fail;
	memcpy(id, u->tname, sizeof(id));
	pthread_mutex_lock(&u->g->lock);
	error = commit(u, dir, base, replaced);
	if (error == 0) {
		if (u->resumable) {
			char lname[DSYNC_RELAY_ID_HEX + 4];

			rd_len_name(lname, id);
			unlinkat(u->tmp, lname, 0);
			pending_drop(u->g, id);
		}
		release(u);
	}
	pthread_mutex_unlock(&u->g->lock);
	close(dir);
	if (error < 0)
		goto fail;   /* a refused manifest is dropped whole, not kept to resume */
	upload_free(u);
	return 0;
fail:
	/* the message is set: U (whose name it may quote) can go */
	u->failed = true;
	upload_drop(u);
	return error;
}

void relay_disk_upload_abort(relay_upload *u)
{
	if (u)
		upload_drop(u);
}

int relay_disk_upload_offset(relay_disk *d, const char *gid, const char *upload_id, uint64_t *offset)
{
	rd_group *g = rd_group_find(d, gid);
	rd_pending *p;
	int error = 0;

	if (!g)
		return dsync_error_last_code();
	pthread_mutex_lock(&g->lock);
	if ((p = upload_id ? pending_find(g, upload_id) : NULL) != NULL)
		*offset = p->held;
	else
		error = dsync_error_set(DSYNC_ENOTFOUND, "no upload %s", upload_id ? upload_id : "");
	pthread_mutex_unlock(&g->lock);
	return error;
}

/* Deletes G's kept uploads untouched since BEFORE. */
static void expire_group(relay_disk *d, rd_group *g, time_t before)
{
	char lname[DSYNC_RELAY_ID_HEX + 4];
	struct stat st, ls;
	size_t i;
	int gfd, tmp;

	if ((gfd = rd_group_fd(d, g)) < 0)
		return;
	if ((tmp = rd_open_dir(gfd, "tmp", true)) < 0) {
		close(gfd);
		return;
	}
	pthread_mutex_lock(&g->lock);
	for (i = 0; i < g->pending.size;) {
		rd_pending *p = &g->pending.ptr[i];
		time_t t = 0;

		rd_len_name(lname, p->id);
		if (fstatat(tmp, p->id, &st, AT_SYMLINK_NOFOLLOW) == 0)
			t = st.st_mtime;
		if (fstatat(tmp, lname, &ls, AT_SYMLINK_NOFOLLOW) == 0 && ls.st_mtime > t)
			t = ls.st_mtime;
		if (p->busy || t >= before) {
			i++;
			continue;
		}
		rd_remove_upload_files(tmp, p->id);
		g->reserved -= p->reserve <= g->reserved ? p->reserve : g->reserved;
		*p = g->pending.ptr[--g->pending.size];
	}
	pthread_mutex_unlock(&g->lock);
	fsync(tmp);
	close(tmp);
	close(gfd);
}

int relay_disk_expire_uploads(relay_disk *d, int64_t max_age)
{
	time_t before = time(NULL) - (time_t)max_age;
	size_t i, n;

	pthread_mutex_lock(&d->lock);
	n = d->groups.size;
	pthread_mutex_unlock(&d->lock);
	/* groups are never removed nor moved (the table holds pointers), so the first N stay valid */
	for (i = 0; i < n; i++) {
		rd_group *g;

		pthread_mutex_lock(&d->lock);
		g = d->groups.ptr[i];
		pthread_mutex_unlock(&d->lock);
		expire_group(d, g, before);
	}
	return 0;
}
