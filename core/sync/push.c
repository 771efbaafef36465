/*
 * The push step of the round (DESIGN.md section 5; docs/sync.md,
 * docs/sftp.md section 5): this device's new objects as thin packs of
 * bounded size, encrypted and uploaded one by one (each recorded in `mine`
 * before it is sent, so a push cut off resumes without sending them again
 * and nothing it left is orphaned);
 * its small packs consolidated into one (the old ones retired, deleted
 * once their grace is over); then its next manifest, its older manifests
 * deleted, and the packs it wrote that no manifest names collected after
 * a day.
 */
#include "core/base/internal.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/file.h"
#include "core/base/path.h"
#include "core/store/pack.h"
#include "core/store/thinpack.h"
#include "core/sync/sync_internal.h"

#define SMALL_PACK ((uint64_t)16 << 20)   /* packs up to this size get consolidated */
#define MAX_SMALL_PACKS 32
#define RETIRE_GRACE 3600                 /* seconds a retired pack stays for readers in flight */
#define PACK_MAX ((uint64_t)32 << 20)     /* a push's packs hold at most this much raw object data */
#define UNNAMED_GRACE (24 * 3600)         /* seconds an unnamed pack waits for the push that wrote it */

/* The packs of packs/ a listing found (their names without "packs/"). */
typedef struct found_pack {
	char name[DSYNC_HEX256_SIZE];
	uint64_t size;
	time_t mtime;
} found_pack;

typedef DSYNC_ARRAY(found_pack) found_packs;

static const found_pack *found_find(const found_packs *f, const char *name)
{
	size_t i;

	for (i = 0; f && i < f->size; i++)
		if (strcmp(f->ptr[i].name, name) == 0)
			return &f->ptr[i];
	return NULL;
}

typedef struct lister {
	found_packs *out;
	const sync_packset *only;   /* keep only these names */
} lister;

static int on_listed(const char *name, const dsync_blobstore_info *info, void *payload)
{
	lister *l = payload;
	found_pack p = { .size = info->size, .mtime = info->mtime };

	if (strncmp(name, "packs/", 6) == 0)
		name += 6;
	if (strlen(name) >= sizeof(p.name) || !dsync_state_packset_has(l->only, name))
		return 0;
	memcpy(p.name, name, strlen(name) + 1);
	return dsync_array_push(*l->out, p) < 0 ? dsync_error_oom() : 0;
}

/* The packs of the store that are in ONLY, into OUT (one listing). */
static int list_packs(found_packs *out, sync_conn *c, const sync_packset *only)
{
	lister l = { out, only };

	return c->bs->list(c->bs, "packs/", on_listed, &l);
}

/* A plaintext pack in a temporary file, named (the keyed hash of its bytes)
 * as it was written, so that it is read once more only to be encrypted. */
typedef struct plain_pack {
	int fd;
	dsync_buf path;
	char name[DSYNC_HEX256_SIZE];
	uint64_t len;
	size_t objects;
} plain_pack;

#define PLAIN_PACK_INIT { -1, DSYNC_BUF_INIT, "", 0, 0 }

static void plain_dispose(plain_pack *p)
{
	if (p->fd >= 0) {
		close(p->fd);
		unlink(p->path.ptr);
	}
	p->fd = -1;
	dsync_buf_dispose(&p->path);
}

typedef struct pack_out {
	int fd;
	int error;
	dsync_pack_namer namer;
} pack_out;

static void on_pack_bytes(const void *data, size_t len, void *payload)
{
	dsync_pack_namer_update(payload, data, len);
}

static int write_pack_data(void *buf, size_t size, void *payload)
{
	pack_out *p = payload;
	size_t at = 0;

	dsync_pack_namer_update(&p->namer, buf, size);
	while (at < size) {
		ssize_t n = write(p->fd, (char *)buf + at, size - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			p->error = dsync_error_sys(errno, "cannot write a pack");
			return -1;
		}
		at += (size_t)n;
	}
	return 0;
}

static int on_pack_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
	sync_conn *c = payload;

	dsync_conn_progress(c, "pack", current, total, 0, 0, stage == GIT_PACKBUILDER_DELTAFICATION && current == total);
	return 0;
}

/* Writes a plaintext pack: a packbuilder's (consolidation) or a thin pack
 * list's (push). */
typedef struct pack_source {
	git_packbuilder *pb;
	const dsync_thinpack_list *list;
	dsync_thinpack_progress_cb cb;    /* a list's progress (may be NULL) */
	void *payload;
	const dsync_thinpack_reuse *reuse; /* a list's entries in local packs (may be NULL) */
} pack_source;

/* Writes SRC to a temporary file, named on the way, into *OUT (disposed by
 * the caller, also on failure).  Touches nothing of C but its temporary
 * folder, its store's keys and its history: the push runs it on another
 * thread. */
static int write_plain(sync_conn *c, const pack_source *src, plain_pack *out)
{
	pack_out po = { .fd = -1 };
	int err, error;

	dsync_pack_namer_init(&po.namer, c->st);
	if ((out->fd = dsync_conn_temp_file(c, &out->path)) < 0) {
		error = out->fd;
		out->fd = -1;
		return error;
	}
	po.fd = out->fd;
	if (src->list) {
		out->objects = src->list->size;
		error = dsync_thinpack_write_tap(out->fd, c->f->repo, src->list, src->cb, src->payload, src->reuse,
						 on_pack_bytes, &po.namer);
	} else {
		out->objects = git_packbuilder_object_count(src->pb);
		error = 0;
		if ((err = git_packbuilder_foreach(src->pb, write_pack_data, &po)) < 0)
			error = po.error ? po.error
					 : dsync_error_git(err, "cannot pack the history of '%s'", c->f->root);
	}
	if (error < 0)
		return error;
	dsync_pack_namer_final(&po.namer, out->name);
	out->len = po.namer.len;
	return 0;
}

/* Sends the plaintext pack P encrypted to the store; its reference into
 * *OUT.  A pack of PRESENT (may be NULL) is not sent again: *REUSED says so. */
static int send_plain(sync_conn *c, const plain_pack *p, const found_packs *present, sync_packset *mine,
		      dsync_manifest_pack *out, bool *reused)
{
	dsync_buf cipher = DSYNC_BUF_INIT, name = DSYNC_BUF_INIT;
	sync_xfer x = { c, "push", 0, 0, 0 };
	const found_pack *there;
	int cfd = -1, error;
	struct stat st;

	memset(out, 0, sizeof(*out));
	*reused = false;
	out->time = (int64_t)time(NULL);
	x.objects = p->objects;
	memcpy(out->name, p->name, sizeof(out->name));
	if ((there = found_find(present, out->name)) != NULL) {
		/* a push cut off sent it: a name only ever holds a whole blob */
		out->size = there->size;
		*reused = true;
		dsync_conn_progress(c, "push", x.objects, x.objects, out->size, out->size, true);
		c->res->packs_reused++;
		c->res->bytes_reused += out->size;
		return 0;
	}
	if ((cfd = dsync_conn_temp_file(c, &cipher)) < 0) {
		error = cfd;
		goto out;
	}
	if ((error = dsync_pack_encrypt_named(c->st, p->fd, cfd, p->name, p->len)) < 0)
		goto out;
	if (fstat(cfd, &st) < 0 || lseek(cfd, 0, SEEK_SET) < 0) {
		error = dsync_error_sys(errno, "cannot read '%s'", cipher.ptr);
		goto out;
	}
	out->size = (uint64_t)st.st_size;
	x.total = out->size;
	/* MINE names it before the store holds it: killed after the put, the
	 * pack is still this device's to reuse or to collect */
	if ((error = dsync_state_packset_add(mine, out->name)) < 0 ||
	    (error = dsync_state_packset_write(mine, c->f, c->r->name, "mine")) < 0 ||
	    (error = dsync_buf_printf(&name, "packs/%s", out->name)) < 0 ||
	    (error = c->bs->put(c->bs, name.ptr, cfd, dsync_conn_on_xfer, &x)) < 0)
		goto out;
	dsync_conn_progress(c, "push", x.objects, x.objects, out->size, out->size, true);
	c->res->packs_pushed++;
	c->res->objects_pushed += x.objects;
	c->res->bytes_pushed += out->size;
out:
	if (cfd >= 0) {
		close(cfd);
		unlink(cipher.ptr);
	}
	dsync_buf_dispose(&cipher);
	dsync_buf_dispose(&name);
	return error;
}

/* Writes SRC as an encrypted pack to the store (see send_plain). */
static int upload_pack(sync_conn *c, const pack_source *src, const found_packs *present, sync_packset *mine,
		       dsync_manifest_pack *out, bool *reused)
{
	plain_pack p = PLAIN_PACK_INIT;
	int error;

	if ((error = write_plain(c, src, &p)) == 0)
		error = send_plain(c, &p, present, mine, out, reused);
	plain_dispose(&p);
	return error;
}

static int new_packbuilder(git_packbuilder **pb, sync_conn *c)
{
	int err;

	if ((err = git_packbuilder_new(pb, c->f->repo)) < 0)
		return dsync_error_git(err, "cannot pack the history of '%s'", c->f->root);
	git_packbuilder_set_threads(*pb, 0);
	git_packbuilder_set_callbacks(*pb, on_pack_progress, c);
	return 0;
}

/* Reads the object ids of the pack index IDX into PB. */
static int insert_from_idx(git_packbuilder *pb, const char *idx)
{
	unsigned char head[8 + 256 * 4], raw[GIT_OID_RAWSZ];
	git_oid id;
	uint32_t n, i;
	FILE *fp;
	int fd, err, error;

	if ((error = dsync_file_open(&fd, idx, 0, NULL)) < 0)
		return error;
	if ((fp = fdopen(fd, "rb")) == NULL) {
		error = dsync_error_sys(errno, "cannot read '%s'", idx);
		close(fd);
		return error;
	}
	if (fread(head, 1, sizeof(head), fp) != sizeof(head) || memcmp(head, "\377tOc\0\0\0\2", 8) != 0) {
		error = dsync_error_set(DSYNC_ERROR, "'%s' is not a pack index", idx);
		goto out;
	}
	n = (uint32_t)head[8 + 255 * 4] << 24 | (uint32_t)head[8 + 255 * 4 + 1] << 16 |
	    (uint32_t)head[8 + 255 * 4 + 2] << 8 | head[8 + 255 * 4 + 3];
	for (i = 0; i < n; i++) {
		if (fread(raw, 1, sizeof(raw), fp) != sizeof(raw)) {
			error = dsync_error_set(DSYNC_ERROR, "'%s' is truncated", idx);
			goto out;
		}
		git_oid_fromraw(&id, raw);
		if ((err = git_packbuilder_insert(pb, &id, NULL)) < 0) {
			error = dsync_error_git(err, "cannot repack an object this device pushed");
			goto out;
		}
	}
out:
	fclose(fp);
	return error;
}



/* Replaces this device's small packs in M by one (the objects they held, read
 * back from the store) and retires them: readers in flight still find them
 * until the grace period is over. */
static int consolidate(sync_conn *c, dsync_manifest *m, sync_packset *mine)
{
	dsync_buf dir = DSYNC_BUF_INIT, idx = DSYNC_BUF_INIT, from = DSYNC_BUF_INIT;
	git_packbuilder *pb = NULL;
	sync_xfer x = { c, "fetch", 0, 0, 0 };
	pack_source src = { NULL, NULL, NULL, NULL, NULL };
	git_odb *odb = NULL;
	dsync_manifest_pack merged = { 0 };
	size_t i, nsmall = 0, keep = 0;
	int64_t now = (int64_t)time(NULL);
	bool reused;
	int err, error;

	for (i = 0; i < m->packs.size; i++)
		if (m->packs.ptr[i].size <= SMALL_PACK)
			nsmall++;
	if (nsmall <= MAX_SMALL_PACKS)
		return 0;
	if ((error = dsync_buf_printf(&dir, "%s/dsync-tmp-XXXXXX", c->f->gitdir)) < 0)
		return error;
	if (!mkdtemp(dir.ptr)) {
		error = dsync_error_sys(errno, "cannot make a temporary folder in '%s'", c->f->gitdir);
		goto out;
	}
	if ((error = new_packbuilder(&pb, c)) < 0)
		goto out;
	if ((err = git_repository_odb(&odb, c->f->repo)) < 0) {
		error = dsync_error_git(err, "cannot open the history of '%s'", c->f->root);
		goto out;
	}
	for (i = 0; i < m->packs.size && error == 0; i++) {
		if (m->packs.ptr[i].size > SMALL_PACK)
			continue;
		if ((error = dsync_fetch_pack(c, m->packs.ptr[i].name, m->packs.ptr[i].size, dir.ptr, odb, &x, &idx,
					      NULL)) == 0)
			error = insert_from_idx(pb, idx.ptr);
		if (error == 0)
			error = dsync_buf_printf(&from, "%s%s", from.len ? "," : "", m->packs.ptr[i].name);
	}
	src.pb = pb;
	if (error < 0 || (error = upload_pack(c, &src, NULL, mine, &merged, &reused)) < 0)
		goto out;
	/* its objects are as old as the oldest pack it replaces: packs pushed
	 * since may have deltas against them */
	for (i = 0; i < m->packs.size; i++)
		if (m->packs.ptr[i].size <= SMALL_PACK && m->packs.ptr[i].time < merged.time)
			merged.time = m->packs.ptr[i].time;
	/* everything that can fail comes before M changes */
	if ((error = dsync_state_packset_add(&c->have, merged.name)) < 0 ||
	    (error = dsync_state_packset_add(mine, merged.name)) < 0)
		goto out;
	if (dsync_array_reserve(m->retired, m->retired.size + nsmall) < 0 ||
	    (merged.from = dsync_buf_detach(&from)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < m->packs.size; i++) {
		dsync_manifest_retired r = { .since = now };

		if (m->packs.ptr[i].size > SMALL_PACK) {
			m->packs.ptr[keep++] = m->packs.ptr[i];
			continue;
		}
		memcpy(r.name, m->packs.ptr[i].name, 65);
		m->retired.ptr[m->retired.size++] = r;   /* room reserved above */
		free(m->packs.ptr[i].from);
	}
	m->packs.size = keep;
	m->packs.ptr[m->packs.size++] = merged;
	c->res->consolidated = true;
out:
	if (error < 0 && c->o->warn) {
		char msg[512];

		snprintf(msg, sizeof(msg), "could not consolidate this device's packs in %s: %s (kept them)",
			 c->bs->url, dsync_error_last());
		c->o->warn(msg, c->o->payload);
		error = 0;   /* the old packs still hold everything */
	}
	git_packbuilder_free(pb);
	git_odb_free(odb);
	if (dir.ptr && dir.ptr[dir.len - 1] != 'X')
		dsync_path_remove(dir.ptr, true);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&idx);
	dsync_buf_dispose(&from);
	return error;
}

/* Whether a pack named NAME is live in M or in another device's manifest. */
static bool named_live(const sync_conn *c, const dsync_manifest *m, const char *name)
{
	size_t i, j;

	for (j = 0; j < m->packs.size; j++)
		if (strcmp(m->packs.ptr[j].name, name) == 0)
			return true;
	for (i = 0; i < c->devs.size; i++)
		for (j = 0; dsync_conn_is_other(c, i) && j < c->mans[i].packs.size; j++)
			if (strcmp(c->mans[i].packs.ptr[j].name, name) == 0)
				return true;
	return false;
}

/* Whether the store holds this device's HEAD already, with nothing to
 * consolidate or delete (OWN: its newest manifest there, may be NULL). */
static bool up_to_date(const dsync_manifest *own, const git_oid *head, int64_t now, int64_t grace)
{
	size_t i, nsmall = 0;

	if (!own || !own->has_head || !git_oid_equal(&own->head, head))
		return false;
	for (i = 0; i < own->packs.size; i++)
		nsmall += own->packs.ptr[i].size <= SMALL_PACK;
	for (i = 0; i < own->retired.size; i++)
		if (now - own->retired.ptr[i].since >= grace)
			return false;
	return nsmall <= MAX_SMALL_PACKS;
}

/* Starts this device's next manifest M: its number (above any of its own
 * in the store), HEAD, and the packs of its newest one OWN (may be NULL). */
static int begin_manifest(dsync_manifest *m, sync_conn *c, const sync_device *dev, const dsync_manifest *own,
			  const git_oid *head, int64_t now)
{
	size_t i;
	int error;

	if ((error = dsync_state_next_seq(&m->seq, c)) < 0)
		return error;
	if (dev && dev->newest >= m->seq)
		m->seq = dev->newest + 1;
	memcpy(m->device, c->f->device_id, 33);
	m->time = now;
	m->has_head = true;
	m->head = *head;
	dsync_manifest_name(m->blob, sizeof(m->blob), m->device, m->seq);
	for (i = 0; own && i < own->packs.size && error == 0; i++)
		error = dsync_manifest_add_pack(m, own->packs.ptr[i].name, own->packs.ptr[i].size, own->packs.ptr[i].time,
						own->packs.ptr[i].from);
	for (i = 0; own && i < own->retired.size && error == 0; i++)
		error = dsync_manifest_add_retired(m, own->retired.ptr[i].name, own->retired.ptr[i].since);
	return error;
}

/* Whether manifest M names pack NAME, live or retired. */
static bool names_pack(const dsync_manifest *m, const char *name)
{
	size_t j;

	for (j = 0; j < m->packs.size; j++)
		if (strcmp(m->packs.ptr[j].name, name) == 0)
			return true;
	for (j = 0; j < m->retired.size; j++)
		if (strcmp(m->retired.ptr[j].name, name) == 0)
			return true;
	return false;
}

/* Whether M or another device's newest manifest names pack NAME, live or
 * retired (a reader in flight may still want a retired one). */
static bool named_any(const sync_conn *c, const dsync_manifest *m, const char *name)
{
	size_t i;

	if (m && names_pack(m, name))
		return true;
	for (i = 0; i < c->devs.size; i++)
		if (dsync_conn_is_other(c, i) && names_pack(&c->mans[i], name))
			return true;
	return false;
}

/* The packs of MINE that no manifest names (M for this device), into OUT:
 * written by a push that was cut off before its manifest. */
static int unnamed_mine(sync_packset *out, const sync_conn *c, const dsync_manifest *m, const sync_packset *mine)
{
	size_t i;
	int error = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < mine->set.cap && error == 0; i++)
		if (mine->set.v[i] && !named_any(c, m, mine->set.v[i]))
			error = dsync_state_packset_add(out, mine->set.v[i]);
	return error;
}

/* MINE without the names in DROP (dirty when any was in it). */
static int packset_remove(sync_packset *mine, const sync_packset *drop)
{
	sync_packset keep = { 0 };
	size_t i;
	int error = 0;

	for (i = 0; i < mine->set.cap && error == 0; i++)
		if (mine->set.v[i] && !dsync_state_packset_has(drop, mine->set.v[i]))
			error = dsync_state_packset_add(&keep, mine->set.v[i]);
	if (error < 0) {
		dsync_state_packset_dispose(&keep);
		return error;
	}
	keep.dirty = mine->set.n != keep.set.n || mine->dirty;
	dsync_state_packset_dispose(mine);
	*mine = keep;
	return 0;
}

/*
 * The push's packs are written by BUILDERS threads (pack K by thread K mod
 * BUILDERS) while the main thread encrypts and sends them in order: reading,
 * compressing and hashing the objects of a pack take longer than encrypting
 * and storing it, and both cores are kept busy.  Each builder hands its
 * packs over through its own slot, one at a time, so at most BUILDERS
 * written packs wait on disk.  The builders touch nothing the main thread
 * uses but the history (libgit2 reads it from any thread) and the slots.
 */
#define BUILDERS 2

typedef struct builder builder;

typedef struct build_slot {
	builder *b;
	pthread_t thread;
	plain_pack p;
	bool full;          /* P is the next pack of this builder */
	bool ended;         /* the builder wrote its last pack or failed */
	int error;          /* its failure, the message in MSG */
	char msg[512];
	size_t done;        /* objects of the pack it writes, so far */
} build_slot;

struct builder {
	sync_conn *c;
	const dsync_thinpack_list *list;
	const size_t *cuts;
	const dsync_thinpack_reuse *reuse;
	size_t ncuts, nthreads, started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;          /* the main thread wants no more */
	build_slot slot[BUILDERS];
};

static void on_built_progress(size_t done, size_t total, void *payload)
{
	build_slot *s = payload;

	(void)total;
	pthread_mutex_lock(&s->b->mu);
	s->done = done;
	pthread_mutex_unlock(&s->b->mu);
}

static void *build_packs(void *arg)
{
	build_slot *s = arg;
	builder *b = s->b;
	size_t i;
	int error = 0;

	for (i = (size_t)(s - b->slot); i < b->ncuts && error == 0; i += b->nthreads) {
		dsync_thinpack_list seg = { b->list->ptr + (i ? b->cuts[i - 1] : 0),
					    b->cuts[i] - (i ? b->cuts[i - 1] : 0), 0 };
		pack_source src = { NULL, &seg, on_built_progress, s, b->reuse };
		plain_pack p = PLAIN_PACK_INIT;

		if ((error = write_plain(b->c, &src, &p)) == 0) {
			pthread_mutex_lock(&b->mu);
			while (s->full && !b->stop)
				pthread_cond_wait(&b->cv, &b->mu);
			if (!b->stop) {
				s->p = p;
				s->full = true;
				p.fd = -1;
				memset(&p.path, 0, sizeof(p.path));
				pthread_cond_broadcast(&b->cv);
			} else {
				error = DSYNC_ERROR;
			}
			pthread_mutex_unlock(&b->mu);
		}
		plain_dispose(&p);
	}
	pthread_mutex_lock(&b->mu);
	if (error < 0 && !b->stop) {
		s->error = error;
		snprintf(s->msg, sizeof(s->msg), "%s", dsync_error_last());
	}
	s->ended = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Pack I of B into *OUT (the caller's to dispose); reports the packing's
 * progress while it waits (DONE: the objects of the packs before it). */
static int next_built(builder *b, size_t i, plain_pack *out, size_t done)
{
	build_slot *s = &b->slot[i % b->nthreads];
	size_t total = b->list->size, at;
	bool full;
	int error;

	pthread_mutex_lock(&b->mu);
	while (!s->full && !s->ended) {
		struct timespec until;

		at = s->done;
		pthread_mutex_unlock(&b->mu);
		dsync_conn_progress(b->c, "pack", done + at, total, 0, 0, false);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000 * 1000 * 1000) {
			until.tv_sec++;
			until.tv_nsec -= 1000 * 1000 * 1000;
		}
		pthread_mutex_lock(&b->mu);
		if (!s->full && !s->ended)
			pthread_cond_timedwait(&b->cv, &b->mu, &until);
	}
	error = s->error;
	if ((full = s->full)) {
		*out = s->p;
		s->full = false;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	if (!full)
		return error < 0 ? dsync_error_set(error, "%s", s->msg)
				 : dsync_error_set(DSYNC_ERROR, "the push's packs ended early");
	/* the packing's line gives way to the sending's */
	dsync_conn_progress(b->c, "pack", done + out->objects, total, 0, 0, true);
	return 0;
}

/* Starts B's threads for the NCUTS packs CUTS of LIST. */
static int builders_start(builder *b, sync_conn *c, const dsync_thinpack_list *list, const size_t *cuts,
			  size_t ncuts, const dsync_thinpack_reuse *reuse)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;
	int error = 0;

	memset(b, 0, sizeof(*b));
	b->c = c;
	b->list = list;
	b->cuts = cuts;
	b->reuse = reuse;
	b->ncuts = ncuts;
	b->nthreads = cpus > 1 && ncuts > 1 ? BUILDERS : 1;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	for (i = 0; i < BUILDERS; i++) {
		b->slot[i].b = b;
		b->slot[i].p.fd = -1;
		b->slot[i].ended = true;
	}
	for (i = 0; i < b->nthreads; i++) {
		b->slot[i].ended = false;
		if ((errno = pthread_create(&b->slot[i].thread, NULL, build_packs, &b->slot[i])) != 0) {
			error = dsync_error_sys(errno, "cannot start writing the packs");
			break;
		}
		b->started++;
	}
	return error;
}

/* Stops B's threads and removes the packs they left. */
static void builders_stop(builder *b)
{
	size_t i;

	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	for (i = 0; i < b->started; i++) {
		pthread_join(b->slot[i].thread, NULL);
		if (b->slot[i].full)
			plain_dispose(&b->slot[i].p);
	}
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
}

/*
 * Uploads the objects M's head reaches that no head in the store reaches,
 * changed files as deltas against what the store holds, as packs of at most
 * PACK_MAX bytes of objects, each added to M and to MINE (written at once,
 * before the next one is sent).  Packs that a push cut off sent already
 * (in MINE, named by no manifest, still in the store) are not sent again:
 * the same objects give the same pack, so the same name.
 */
static int push_objects(sync_conn *c, dsync_manifest *m, sync_packset *mine)
{
	dsync_thinpack_list list = DSYNC_ARRAY_INIT;
	DSYNC_ARRAY(git_oid) hide = DSYNC_ARRAY_INIT;
	sync_packset pending = { 0 };
	found_packs present = DSYNC_ARRAY_INIT;
	dsync_thinpack_reuse *reuse = NULL;
	builder b;
	bool started = false;
	size_t i, *cuts = NULL, ncuts = 0;
	int64_t last = 0;
	int error = 0;

	for (i = 0; i < c->devs.size && error == 0; i++)
		if (c->have_man[i] && c->mans[i].has_head && dsync_array_push(hide, c->mans[i].head) < 0)
			error = dsync_error_oom();
	if (error == 0)
		error = dsync_thinpack_list_build(&list, c->f->repo, &m->head, hide.ptr, hide.size);
	if (error == 0 && list.size > 0)
		error = dsync_thinpack_reuse_open(&reuse, c->f->repo, &list);
	if (error == 0)
		error = dsync_thinpack_list_cut(&cuts, &ncuts, &list, c->f->repo, reuse,
						(uint64_t)DSYNC_TEST_KNOB("DSYNC_TEST_PACK_MAX", (int64_t)PACK_MAX));
	/* a push was cut off: which of its packs are there (one listing) */
	if (error == 0 && ncuts > 0 && (error = unnamed_mine(&pending, c, m, mine)) == 0 && pending.set.n > 0)
		error = list_packs(&present, c, &pending);
	if (error == 0 && ncuts > 0) {
		started = true;
		error = builders_start(&b, c, &list, cuts, ncuts, reuse);
	}
	for (i = 0; i < ncuts && error == 0; i++) {
		plain_pack pp = PLAIN_PACK_INIT;
		dsync_manifest_pack p;
		bool reused;

		if ((error = next_built(&b, i, &pp, i ? cuts[i - 1] : 0)) == 0)
			error = send_plain(c, &pp, &present, mine, &p, &reused);
		plain_dispose(&pp);
		if (error < 0)
			break;
		/* oldest first for readers: a segment's delta bases are in the
		 * ones before it */
		if (p.time <= last)
			p.time = last + 1;
		last = p.time;
		if ((error = dsync_manifest_add_pack(m, p.name, p.size, p.time, NULL)) < 0 ||
		    (error = dsync_state_packset_add(&c->have, p.name)) < 0 ||
		    (error = dsync_state_packset_add(mine, p.name)) < 0)
			break;
		error = dsync_state_packset_write(mine, c->f, c->r->name, "mine");
	}
	if (started)
		builders_stop(&b);
	dsync_thinpack_reuse_free(reuse);
	free(cuts);
	dsync_array_dispose(present);
	dsync_state_packset_dispose(&pending);
	dsync_thinpack_list_dispose(&list);
	dsync_array_dispose(hide);
	return error;
}

/*
 * Deletes the packs of MINE that no manifest names (M: this device's, may
 * be NULL) once they are older than the grace period, and drops them and
 * those already gone from MINE (written).  A push cut off leaves them; the
 * grace lets its re-run reuse them.  Costs a listing only when there are
 * any.
 */
static int collect_unnamed(sync_conn *c, const dsync_manifest *m, sync_packset *mine, int64_t now)
{
	sync_packset cand = { 0 }, drop = { 0 };
	found_packs present = DSYNC_ARRAY_INIT;
	int64_t grace = DSYNC_TEST_KNOB("DSYNC_TEST_UNNAMED_GRACE", UNNAMED_GRACE);
	dsync_buf name = DSYNC_BUF_INIT;
	size_t i;
	int error;

	if ((error = unnamed_mine(&cand, c, m, mine)) < 0 || cand.set.n == 0 ||
	    (error = list_packs(&present, c, &cand)) < 0)
		goto out;
	for (i = 0; i < cand.set.cap && error == 0; i++) {
		const char *n = cand.set.v[i];
		const found_pack *p;

		if (!n)
			continue;
		if ((p = found_find(&present, n)) != NULL) {
			if (now - (int64_t)p->mtime < grace)
				continue;
			dsync_buf_truncate(&name, 0);
			if ((error = dsync_buf_printf(&name, "packs/%s", n)) < 0 ||
			    (error = c->bs->del(c->bs, name.ptr)) < 0)
				break;
		}
		error = dsync_state_packset_add(&drop, n);
	}
	if (error == 0 && drop.set.n > 0 && (error = packset_remove(mine, &drop)) == 0)
		error = dsync_state_packset_write(mine, c->f, c->r->name, "mine");
out:
	dsync_array_dispose(present);
	dsync_buf_dispose(&name);
	dsync_state_packset_dispose(&cand);
	dsync_state_packset_dispose(&drop);
	return error;
}

/*
 * Retired packs whose grace is over leave the manifest M, and go into GONE
 * to be deleted once it is written: only packs this device wrote itself
 * (whatever a manifest claims), and none that a manifest of another device
 * still names (two devices can write the same pack).
 */
static int drop_retired(dsync_strlist *gone, sync_conn *c, dsync_manifest *m, const sync_packset *mine,
			int64_t now, int64_t grace)
{
	size_t i, keep = 0;
	int error = 0;

	for (i = 0; i < m->retired.size && error == 0; i++) {
		const char *name = m->retired.ptr[i].name;

		if (now - m->retired.ptr[i].since < grace)
			m->retired.ptr[keep++] = m->retired.ptr[i];
		else if (dsync_state_packset_has(mine, name) && !named_live(c, m, name))
			error = dsync_strlist_addf(gone, "packs/%s", name);
	}
	if (error == 0)
		m->retired.size = keep;
	return error;
}

/* Writes manifest M: its number and the packs this device wrote (MINE)
 * made durable first, then the sealed blob, then what this device expects
 * to read back of it. */
static int write_manifest(sync_conn *c, const dsync_manifest *m, sync_packset *mine)
{
	dsync_buf text = DSYNC_BUF_INIT, blob = DSYNC_BUF_INIT, seqtext = DSYNC_BUF_INIT;
	sync_seen_list seen = DSYNC_ARRAY_INIT;
	sync_seen self;
	int error;

	if ((error = dsync_buf_printf(&seqtext, "%llu\n", (unsigned long long)(m->seq + 1))) < 0 ||
	    (error = dsync_state_write(c->f, c->r->name, "seq", seqtext.ptr, seqtext.len)) < 0 ||
	    (error = dsync_state_packset_write(mine, c->f, c->r->name, "mine")) < 0)
		goto out;
	if ((error = dsync_manifest_text(&text, m, c->st->id)) < 0 ||
	    (error = dsync_manifest_seal(&blob, c->st, m->blob, text.ptr, text.len)) < 0 ||
	    (error = dsync_blobstore_put_buf(c->bs, m->blob, blob.ptr, blob.len)) < 0)
		goto out;
	c->res->bytes_pushed += blob.len;
	c->res->pushed = true;
	c->pushed_len = blob.len;
	dsync_manifest_hash(self.hash, text.ptr, text.len);
	memcpy(self.dev, m->device, 33);
	self.seq = m->seq;
	if ((error = dsync_state_seen_read(&seen, c->f, c->r->name)) == 0)
		error = dsync_state_seen_write(c, &seen, &self);
	if (error == 0 && m->has_head) {
		/* the head the remote now holds from this device (dsync status PATH) */
		char hex[GIT_OID_HEXSZ + 2];
		dsync_buf was = DSYNC_BUF_INIT;
		git_oid wasid;

		if ((error = dsync_state_read(&was, c->f, c->r->name, "pushed")) == 0 &&
		    (was.len < GIT_OID_HEXSZ || git_oid_fromstrn(&wasid, was.ptr, GIT_OID_HEXSZ) < 0 ||
		     !git_oid_equal(&wasid, &m->head)))
			error = dsync_state_heads_note(c->f, c->r->name, c->f->device_id, &m->head,
						       (int64_t)time(NULL));
		dsync_buf_dispose(&was);

		git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &m->head);
		hex[GIT_OID_HEXSZ] = '\n';
		hex[GIT_OID_HEXSZ + 1] = '\0';
		if (error == 0)
			error = dsync_state_write(c->f, c->r->name, "pushed", hex, GIT_OID_HEXSZ + 1);
	}
out:
	dsync_array_dispose(seen);
	dsync_buf_dispose(&text);
	dsync_buf_dispose(&blob);
	dsync_buf_dispose(&seqtext);
	return error;
}

/* Deletes the packs GONE, then this device's manifests older than M (DEV:
 * this device in the store, may be NULL). */
static int delete_old(sync_conn *c, const dsync_strlist *gone, const sync_device *dev, const dsync_manifest *m)
{
	size_t i;
	int error = 0;

	for (i = 0; i < gone->size && error == 0; i++)
		error = c->bs->del(c->bs, gone->ptr[i]);
	for (i = 0; dev && i <= dev->older.size && error == 0; i++) {
		uint64_t old = i < dev->older.size ? dev->older.ptr[i] : dev->newest;
		char name[96];

		if (old == m->seq)
			continue;
		dsync_manifest_name(name, sizeof(name), m->device, old);
		error = c->bs->del(c->bs, name);
	}
	return error;
}

/* Drops from MINE the packs GONE ("packs/NAME") that were deleted. */
static int forget_gone(sync_packset *mine, const dsync_strlist *gone)
{
	sync_packset drop = { 0 };
	size_t i;
	int error = 0;

	for (i = 0; i < gone->size && error == 0; i++)
		error = dsync_state_packset_add(&drop, gone->ptr[i] + strlen("packs/"));
	if (error == 0 && drop.set.n > 0)
		error = packset_remove(mine, &drop);
	dsync_state_packset_dispose(&drop);
	return error;
}

int dsync_push_head(sync_conn *c)
{
	dsync_manifest m = { 0 }, *own = dsync_conn_own_manifest(c);
	dsync_strlist gone = DSYNC_STRLIST_INIT;
	sync_packset mine = { 0 };
	const sync_device *dev = NULL;
	git_oid head;
	int64_t now = (int64_t)time(NULL), grace = DSYNC_TEST_KNOB("DSYNC_TEST_RETIRE_GRACE", RETIRE_GRACE);
	size_t i;
	int err, error;

	for (i = 0; i < c->devs.size; i++)
		if (strcmp(c->devs.ptr[i].id, c->f->device_id) == 0)
			dev = &c->devs.ptr[i];
	if ((err = git_reference_name_to_id(&head, c->f->repo, "refs/heads/main")) < 0)
		return err == GIT_ENOTFOUND ? 0 : dsync_error_git(err, "cannot read the head of '%s'", c->f->root);
	if ((error = dsync_state_packset_read(&mine, c->f, c->r->name, "mine")) < 0)
		goto out;
	if (up_to_date(own, &head, now, grace)) {
		error = collect_unnamed(c, own, &mine, now);
		goto out;
	}
	if ((error = begin_manifest(&m, c, dev, own, &head, now)) < 0 ||
	    (error = push_objects(c, &m, &mine)) < 0 || (error = consolidate(c, &m, &mine)) < 0 ||
	    (error = drop_retired(&gone, c, &m, &mine, now, grace)) < 0 ||
	    (error = write_manifest(c, &m, &mine)) < 0 || (error = delete_old(c, &gone, dev, &m)) < 0 ||
	    (error = forget_gone(&mine, &gone)) < 0 || (error = collect_unnamed(c, &m, &mine, now)) < 0 ||
	    (error = dsync_state_packset_write(&mine, c->f, c->r->name, "mine")) < 0)
		goto out;
	error = dsync_state_packset_write(&c->have, c->f, c->r->name, "packs");
	/* kept for the space the store takes now (space.c) */
	dsync_manifest_dispose(&c->pushed);
	c->pushed = m;
	memset(&m, 0, sizeof(m));
out:
	dsync_manifest_dispose(&m);
	dsync_strlist_dispose(&gone);
	dsync_state_packset_dispose(&mine);
	return error;
}
