/*
 * The fetch step of the round (DESIGN.md section 5; docs/sync.md): the other
 * devices' manifests checked against those seen before (a rollback or a fork
 * of the store is refused), their packs downloaded, decrypted and indexed
 * (oldest first: thin packs' delta bases come in older ones), their histories
 * checked complete and holding only names dsync may write, and only then
 * their heads recorded as refs/remotes/REMOTE/DEVICE.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/oidset.h"
#include "core/base/packidx.h"
#include "core/store/pack.h"
#include "core/sync/sync_internal.h"
#include "merge/treemerge.h"
#include "merge/check.h"
#include "merge/heads.h"

/* Sets the last error to CODE, with PREFIX (may be "") before the message
 * already there (copied first: the message buffer is the one written). */
static int error_rewrap(int code, const char *prefix)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", dsync_error_last());
	return dsync_error_set(code, "%s%s", prefix, msg);
}

/* ---- fetching packs --------------------------------------------------------- */

typedef struct index_sink {
	git_indexer *idx;
	git_indexer_progress stats;
	sync_conn *c;
	const char *name;
	uint64_t bytes;
	bool local;         /* the failure was this machine's (disk full, ...) */
} index_sink;

/* The error for git failing to index pack NAME: this machine's own trouble
 * (a full disk) is not the store's fault. */
static int index_error(index_sink *s)
{
	const git_error *e = git_error_last();

	if (e && e->klass == GIT_ERROR_OS) {
		s->local = true;
		return dsync_error_set(DSYNC_ERROR, "cannot store packs/%s here: %s", s->name, e->message);
	}
	return dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s is not a valid git pack: %s", s->name, s->c->bs->url,
			       e ? e->message : "bad data");
}

static int feed_indexer(const void *data, size_t len, void *payload)
{
	index_sink *s = payload;

	if (git_indexer_append(s->idx, data, len, &s->stats) < 0)
		return index_error(s);
	s->bytes += len;
	return 0;
}

/*
 * A pack downloaded and decrypted into a temporary file, verified whole
 * (its hash is its name) before git reads a byte of it.  Apart from the
 * indexing so that another thread can do it for the next pack while this
 * one is indexed: the download, the decryption and git's indexing (which
 * hashes every object) then overlap.
 */
typedef struct pack_plain {
	const char *name;
	uint64_t size;      /* the blob's, as its manifest says */
	uint64_t got;       /* the blob's bytes downloaded */
	size_t objects;     /* indexed already: its objects (another thread did it) */
	bool indexed;
	dsync_buf path;
	int fd;             /* -1: none */
	dsync_buf ct;       /* the download, until decrypted */
	int ct_fd;          /* -1: none */
	int error;          /* from another thread: its code and message */
	char *msg;
} pack_plain;

static void plain_init(pack_plain *p, const char *name, uint64_t size)
{
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->size = size;
	p->fd = -1;
	p->ct_fd = -1;
}

/* Closes and removes a temporary file (*FD: -1 when none) at PATH. */
static void temp_drop(int *fd, dsync_buf *path)
{
	if (*fd >= 0) {
		close(*fd);
		/* none: the store's own file, opened (pack_download) */
		if (path->len)
			unlink(path->ptr);
	}
	*fd = -1;
	dsync_buf_dispose(path);
}

/* Removes P's download. */
static void ct_drop(pack_plain *p)
{
	temp_drop(&p->ct_fd, &p->ct);
}

static void plain_dispose(pack_plain *p)
{
	temp_drop(&p->fd, &p->path);
	ct_drop(p);
	free(p->msg);
	p->msg = NULL;
}

static int write_plain(const void *data, size_t len, void *payload)
{
	pack_plain *p = payload;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(p->fd, (const char *)data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dsync_error_sys(errno, "cannot write '%s'", p->path.ptr);
		done += (size_t)n;
	}
	return 0;
}

static void no_progress(uint64_t bytes, void *payload)
{
	(void)bytes;
	(void)payload;
}

/* Downloads P's pack into a temporary file of its own (P->ct, open on
 * P->ct_fd) and checks its size; X: progress (NULL: none, off the caller's
 * thread).  The only step that touches the store. */
static int pack_download(sync_conn *c, pack_plain *p, sync_xfer *x)
{
	dsync_buf blobname = DSYNC_BUF_INIT;
	struct stat st;
	int error;

	if ((error = dsync_buf_printf(&blobname, "packs/%s", p->name)) < 0)
		goto out;
	/* a store on this machine: its file is read as it is decrypted
	 * (once, each message authenticated), not copied first */
	if (c->bs->open) {
		if ((p->ct_fd = c->bs->open(c->bs, blobname.ptr, p->size)) >= 0) {
			if (x)
				dsync_conn_on_xfer(p->size, x);
			goto check;
		}
		error = p->ct_fd;
		p->ct_fd = -1;
		if (error == DSYNC_ENOTFOUND || error == DSYNC_ECORRUPT)
			goto out;
		dsync_error_clear();   /* copied, then */
		error = 0;
	}
	if ((p->ct_fd = dsync_conn_temp_file(c, &p->ct)) < 0) {
		error = p->ct_fd < 0 ? p->ct_fd : error;
		p->ct_fd = -1;
		goto out;
	}
	if ((error = c->bs->get(c->bs, blobname.ptr, p->ct_fd, p->size, x ? dsync_conn_on_xfer : no_progress, x)) < 0)
		goto out;
check:
	if (fstat(p->ct_fd, &st) < 0) {
		error = dsync_error_sys(errno, "cannot read packs/%s", p->name);
		goto out;
	}
	p->got = (uint64_t)st.st_size;
	if ((uint64_t)st.st_size != p->size)
		error = dsync_error_set(DSYNC_ECORRUPT,
					"packs/%s in %s has %llu bytes, its manifest says %llu (truncated?)", p->name,
					c->bs->url, (unsigned long long)st.st_size, (unsigned long long)p->size);
out:
	dsync_buf_dispose(&blobname);
	return error;
}

/* Decrypts P's downloaded pack into P's temporary file (P->path, P->fd),
 * dropping the download.  Touches only the store's keys, not the store:
 * another thread may download meanwhile. */
static int pack_decrypt(sync_conn *c, pack_plain *p)
{
	int error;

	if ((p->fd = dsync_conn_temp_file(c, &p->path)) < 0) {
		error = p->fd;
		p->fd = -1;
		goto out;
	}
	if ((error = dsync_pack_decrypt(c->st, p->name, p->ct_fd, write_plain, p)) < 0)
		goto out;
	if (lseek(p->fd, 0, SEEK_SET) < 0)
		error = dsync_error_sys(errno, "cannot read '%s'", p->path.ptr);
out:
	if (error < 0 && p->fd >= 0) {
		close(p->fd);
		unlink(p->path.ptr);
		p->fd = -1;
	}
	ct_drop(p);
	return error;
}

/* Downloads P's pack and decrypts it into P's temporary file; X: progress
 * (NULL: none, off the caller's thread). */
static int pack_get(sync_conn *c, pack_plain *p, sync_xfer *x)
{
	int error = pack_download(c, p, x);

	if (error == 0)
		return pack_decrypt(c, p);
	ct_drop(p);
	return error;
}

/* Indexes the decrypted pack P into DIR (see dsync_fetch_pack()); its
 * objects are counted into P.  Touches nothing of C's but to read it: the
 * thread that downloads may call it too. */
static int pack_index(sync_conn *c, pack_plain *p, const char *dir, git_odb *odb, dsync_buf *idx_path, bool *retry)
{
	git_indexer_options io = GIT_INDEXER_OPTIONS_INIT;
	index_sink sink = { 0 };
	unsigned char *buf = malloc(1 << 20);
	int err, error = 0;

	sink.c = c;
	sink.name = p->name;
	io.verify = 0;   /* connectivity: checked once all packs are in (check_history) */
	/* a pack of whole objects (dsync's own) in one pass; any other, or
	 * one that is wrong, goes through libgit2's indexer */
	if ((error = dsync_packidx_index(p->fd, p->path.ptr, dir, &p->objects, idx_path)) <= 0) {
		p->indexed = error == 0;
		goto out;
	}
	error = 0;
	if (!buf) {
		error = dsync_error_oom();
		goto out;
	}
	if (lseek(p->fd, 0, SEEK_SET) < 0) {
		error = dsync_error_sys(errno, "cannot read '%s'", p->path.ptr);
		goto out;
	}
	if ((err = git_indexer_new(&sink.idx, dir, 0, odb, &io)) < 0) {
		error = dsync_error_git(err, "cannot index a pack in '%s'", dir);
		goto out;
	}
	for (;;) {
		ssize_t n = read(p->fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = dsync_error_sys(errno, "cannot read '%s'", p->path.ptr);
			goto out;
		}
		if (n == 0)
			break;
		if ((error = feed_indexer(buf, (size_t)n, &sink)) < 0)
			goto out;
	}
	if (git_indexer_commit(sink.idx, &sink.stats) < 0) {
		error = index_error(&sink);
		if (retry)
			*retry = !sink.local;
		goto out;
	}
	p->objects = sink.stats.total_objects;
	p->indexed = true;
	if (idx_path) {
		dsync_buf_truncate(idx_path, 0);
		error = dsync_buf_printf(idx_path, "%s/pack-%s.idx", dir, git_indexer_name(sink.idx));
	}
out:
	git_indexer_free(sink.idx);
	free(buf);
	return error;
}

/* Counts the fetched pack P into the progress X and C's results. */
static void count_pack(sync_conn *c, const pack_plain *p, sync_xfer *x)
{
	x->base += p->got;
	x->objects += p->objects;
	c->res->bytes_fetched += p->got;
}

int dsync_fetch_pack(sync_conn *c, const char *name, uint64_t size, const char *dir, git_odb *odb, sync_xfer *x,
		     dsync_buf *idx_path, bool *retry)
{
	pack_plain p;
	int error;

	if (retry)
		*retry = false;
	plain_init(&p, name, size);
	if ((error = pack_get(c, &p, x)) == 0 && (error = pack_index(c, &p, dir, odb, idx_path, retry)) == 0)
		count_pack(c, &p, x);
	plain_dispose(&p);
	return error;
}

/*
 * The next pack downloaded and decrypted by a thread of its own while the
 * caller indexes one: at most one at a time, and the caller touches the
 * store (c->bs) only once it is joined.  In a fetch (INDEX) the thread also
 * indexes it, into DIR with an object database of its own (libgit2's are
 * not shared between threads), so that two packs are indexed at once; one
 * it could not index (its delta bases come with the pack the caller is
 * indexing, say) the caller indexes again from the decrypted file, so
 * that its outcome is exactly as if the caller alone had fetched it.
 */
typedef struct prefetch {
	sync_conn *c;
	const char *dir;
	bool index;
	pthread_t thread;
	bool running;
	pack_plain p;
} prefetch;

static void *prefetch_run(void *payload)
{
	prefetch *pf = payload;
	dsync_buf objects = DSYNC_BUF_INIT;
	git_odb *odb = NULL;

	if ((pf->p.error = pack_get(pf->c, &pf->p, NULL)) < 0) {
		pf->p.msg = strdup(dsync_error_last());
		return NULL;
	}
	if (pf->index && dsync_buf_printf(&objects, "%s/objects", pf->c->f->gitdir) == 0 &&
	    git_odb_open(&odb, objects.ptr) == 0 && pack_index(pf->c, &pf->p, pf->dir, odb, NULL, NULL) < 0)
		dsync_error_clear();   /* the caller indexes it, and says why not */
	git_odb_free(odb);
	dsync_buf_dispose(&objects);
	return NULL;
}

/* Starts fetching the pack P (none when a thread can't be made: the
 * caller fetches it in its turn). */
static void prefetch_start(prefetch *pf, const dsync_manifest_pack *p)
{
	plain_init(&pf->p, p->name, p->size);
	pf->running = pthread_create(&pf->thread, NULL, prefetch_run, pf) == 0;
}

/* Waits for the thread; with P, when it fetched the pack NAME, hands it
 * over (1, or its error); else drops what it fetched (0). */
static int prefetch_take(prefetch *pf, const char *name, pack_plain *p)
{
	if (!pf->running)
		return 0;
	pthread_join(pf->thread, NULL);
	pf->running = false;
	if (!p || strcmp(pf->p.name, name) != 0) {
		plain_dispose(&pf->p);
		return 0;
	}
	*p = pf->p;
	if (p->error < 0)
		return dsync_error_set(p->error, "%s", p->msg ? p->msg : "cannot fetch a pack");
	return 1;
}

/* Fetches the pack P into DIR as dsync_fetch_pack() does, maybe begun (or
 * done) already by PF; NEXT (may be NULL): the pack for PF to begin while
 * this one is indexed. */
static int fetch_pack_ahead(sync_conn *c, const dsync_manifest_pack *p, const char *dir, git_odb *odb, sync_xfer *x,
			    bool *retry, prefetch *pf, const dsync_manifest_pack *next)
{
	pack_plain plain;
	int error;

	*retry = false;
	plain_init(&plain, p->name, p->size);
	if ((error = prefetch_take(pf, p->name, &plain)) == 0) {
		/* the thread takes the next pack as soon as the store is free:
		 * this one's decryption and indexing overlap it too */
		if ((error = pack_download(c, &plain, x)) == 0) {
			if (next)
				prefetch_start(pf, next);
			error = pack_decrypt(c, &plain);
		}
		ct_drop(&plain);
	} else if (error > 0) {
		error = 0;
		if (!plain.indexed && next)
			prefetch_start(pf, next);
	}
	if (error == 0 && !plain.indexed)
		error = pack_index(c, &plain, dir, odb, NULL, retry);
	if (error == 0)
		count_pack(c, &plain, x);
	plain_dispose(&plain);
	return error;
}

/* Whether every pack named in FROM ("A,B,...") is held, or is ALSO (may
 * be NULL). */
static bool holds_all(const sync_packset *have, const char *from, const char *also)
{
	char name[DSYNC_HEX256_SIZE];

	/* the list was checked when its manifest was read (pack_list_ok) */
	for (;; from += 65) {
		memcpy(name, from, 64);
		name[64] = '\0';
		if (!dsync_state_packset_has(have, name) && !(also && strcmp(name, also) == 0))
			return false;
		if (from[64] != ',')
			return true;
	}
}

/* ---- checking histories --------------------------------------------------- */

/*
 * Checks that every object below tree ID is present: folders read, files
 * looked up, or with READ read whole (so that their hashes are checked).
 * SEEN holds the objects checked already, each visited once however many
 * versions share it; COUNT (may be NULL) counts them.
 */
static int check_tree_complete(git_repository *repo, git_odb *odb, const git_oid *id, dsync_oidset *seen,
			       bool read, size_t *count)
{
	git_tree *t = NULL;
	size_t i, n;
	int err, error = 0;

	if ((error = dsync_oidset_add(seen, id)) <= 0)
		return error;
	error = 0;   /* 1: new, walked below */
	if ((err = git_tree_lookup(&t, repo, id)) < 0) {
		char hex[DSYNC_OID_HEX_SIZE];

		git_oid_tostr(hex, sizeof(hex), id);
		return dsync_error_set(DSYNC_ECORRUPT, "folder %s is missing or damaged", hex);
	}
	if (count)
		(*count)++;
	n = git_tree_entrycount(t);
	for (i = 0; i < n && error == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_oid *eid = git_tree_entry_id(e);
		git_odb_object *obj = NULL;
		bool ok;

		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			error = check_tree_complete(repo, odb, eid, seen, read, count);
			continue;
		}
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || (error = dsync_oidset_add(seen, eid)) <= 0)
			continue;
		error = 0;
		ok = read ? git_odb_read(&obj, odb, eid) == 0 : git_odb_exists(odb, eid);
		git_odb_object_free(obj);
		if (!ok) {
			char hex[DSYNC_OID_HEX_SIZE];

			git_oid_tostr(hex, sizeof(hex), eid);
			error = dsync_error_set(DSYNC_ECORRUPT, "file %s (%s) is missing or damaged", hex,
						git_tree_entry_name(e));
		} else if (count) {
			(*count)++;
		}
	}
	git_tree_free(t);
	return error;
}

/* Checks that the history of HEAD is complete locally, walking only what no
 * local ref already reaches, and that every new version holds only names
 * dsync may write; SEEN and CHECKED carry what an earlier head's check
 * covered (objects present, folders checked), so shared history is walked
 * once. */
static int check_history(dsync_folder *f, const git_oid *head, const char *blob, dsync_oidset *seen,
			 dsync_oidset *checked)
{
	git_revwalk *walk = NULL;
	git_odb *odb = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid id;
	int err, error = 0;

	if ((err = git_repository_odb(&odb, f->repo)) < 0 || (err = git_revwalk_new(&walk, f->repo)) < 0) {
		error = dsync_error_git(err, "cannot read the history of '%s'", f->root);
		goto out;
	}
	if (git_commit_lookup(&c, f->repo, head) < 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the head named by %s is missing from its packs", blob);
		goto out;
	}
	git_revwalk_push(walk, head);
	git_revwalk_hide_glob(walk, "refs/heads/*");
	git_revwalk_hide_glob(walk, "refs/remotes/*");
	while ((err = git_revwalk_next(&id, walk)) == 0) {
		git_commit *cc = NULL;

		if (git_commit_lookup(&cc, f->repo, &id) < 0) {
			error = dsync_error_set(DSYNC_ECORRUPT, "a version named by %s is missing from its packs", blob);
			goto out;
		}
		error = check_tree_complete(f->repo, odb, git_commit_tree_id(cc), seen, false, NULL);
		if (error < 0) {
			char prefix[160];

			git_commit_free(cc);
			snprintf(prefix, sizeof(prefix), "%s names a history that is incomplete: ", blob);
			error_rewrap(DSYNC_ECORRUPT, prefix);
			goto out;
		}
		/* every version, not only the head: an old one could be
		 * restored later */
		if (git_commit_tree(&tree, cc) == 0)
			error = dsync_treecheck_new(f->repo, tree, checked);
		git_tree_free(tree);
		tree = NULL;
		git_commit_free(cc);
		if (error < 0) {
			char prefix[160];

			snprintf(prefix, sizeof(prefix), "%s: refused: ", blob);
			error_rewrap(DSYNC_ECORRUPT, prefix);
			goto out;
		}
	}
	if (err != GIT_ITEROVER) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s names a history that is incomplete (%s)", blob,
					git_error_last() ? git_error_last()->message : "missing versions");
		goto out;
	}
	if ((err = git_commit_tree(&tree, c)) < 0 || (error = dsync_treecheck_all(f->repo, tree)) < 0) {
		char prefix[160];

		snprintf(prefix, sizeof(prefix), "%s: refused: ", blob);
		if (err < 0)
			dsync_error_set(DSYNC_ECORRUPT, "the head named by %s has no folder", blob);
		else
			error_rewrap(DSYNC_ECORRUPT, prefix);
		error = DSYNC_ECORRUPT;
	}
out:
	git_tree_free(tree);
	git_commit_free(c);
	git_revwalk_free(walk);
	git_odb_free(odb);
	return error;
}

/* ---- the fetch step ---------------------------------------------------------- */

/*
 * Checks every device's newest manifest against the newest seen of it: an
 * older one (or none at all) is a rollback, the same number with other text a
 * fork.  This device's own: a newer one than it wrote is another copy of this
 * device writing (a folder copied to a second machine), unless it is the one
 * a push that was killed before recording it wrote (its number is below the
 * next one this device will use).
 */
static int check_rollback(sync_conn *c, const sync_seen_list *seen)
{
	uint64_t next = 0;
	size_t i, j;
	int error;

	if ((error = dsync_state_next_seq(&next, c)) < 0)
		return error;
	for (i = 0; i < c->devs.size; i++) {
		const sync_seen *s;
		bool own = strcmp(c->devs.ptr[i].id, c->f->device_id) == 0;

		if (!c->have_man[i] || (s = dsync_state_seen_find(seen, c->devs.ptr[i].id)) == NULL)
			continue;
		if (c->mans[i].seq < s->seq)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "%s in %s is older than manifest %llu of that device, seen before: the store was rolled back",
					       c->mans[i].blob, c->bs->url, (unsigned long long)s->seq);
		if (c->mans[i].seq == s->seq && strcmp(c->mans[i].hash, s->hash) != 0)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "%s in %s differs from the manifest with that number seen before: the device's history forked (two copies of one device?)",
					       c->mans[i].blob, c->bs->url);
		if (own && c->mans[i].seq > s->seq && c->mans[i].seq >= next)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "%s in %s was not written here: another copy of this device writes to the store (a copied folder? run 'dsync join' on the other machine instead)",
					       c->mans[i].blob, c->bs->url);
	}
	for (j = 0; j < seen->size; j++) {
		for (i = 0; i < c->devs.size; i++)
			if (strcmp(c->devs.ptr[i].id, seen->ptr[j].dev) == 0)
				break;
		if (i == c->devs.size)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "devices/%s has vanished from %s (its manifest %llu was seen before): the store was damaged or rolled back",
					       seen->ptr[j].dev, c->bs->url, (unsigned long long)seen->ptr[j].seq);
	}
	return 0;
}

static int cmp_wanted(const void *a, const void *b)
{
	const dsync_manifest_pack *x = ((const sync_wanted *)a)->p, *y = ((const sync_wanted *)b)->p;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->name, y->name);
}

int dsync_fetch_want(sync_wanted_list *v, const dsync_manifest_pack *p, const char *by)
{
	sync_wanted w = { p, by };

	return dsync_array_push(*v, w) < 0 ? dsync_error_oom() : 0;
}

/* Whether this pass takes P without fetching it (RECORD: a fetch), once
 * the pack ALSO (may be NULL) is held too. */
static bool skipped(const sync_conn *c, const dsync_manifest_pack *p, bool record, const char *also)
{
	return record && (dsync_state_packset_has(&c->have, p->name) ||
			  (p->from && holds_all(&c->have, p->from, also)));
}

/* The pack after V[I] this pass fetches, if V[I] comes in: a guess (one
 * that turns out wrong is dropped, and the right one fetched in its turn). */
static const dsync_manifest_pack *next_fetched(const sync_conn *c, const sync_wanted *v, size_t i, size_t n,
					       bool record)
{
	size_t k;

	for (k = i + 1; k < n; k++)
		if (v[k].p && !skipped(c, v[k].p, record, v[i].p->name))
			return v[k].p;
	return NULL;
}

/* Oldest first: a thin pack's delta bases come in older packs; one that
 * can't be indexed yet is tried again after the others.  A pack that
 * vanished was retired under us: the caller reads the manifests again.
 * The next pack is downloaded and decrypted while one is indexed. */
int dsync_fetch_index_packs(sync_conn *c, sync_wanted_list *list, git_odb *odb, const char *dir, bool record,
			    sync_xfer *x)
{
	sync_wanted *v = list->ptr;
	size_t i, n = list->size, left = n;
	bool progress_made = true;
	prefetch pf = { 0 };
	int error = 0;

	pf.c = c;
	pf.dir = dir;
	/* a check indexes into a folder of its own */
	pf.index = record && dsync_thread_count(2) > 1;

	if (n)
		qsort(v, n, sizeof(*v), cmp_wanted);
	while (left && progress_made && error == 0) {
		progress_made = false;
		for (i = 0; i < n && error == 0; i++) {
			const dsync_manifest_pack *p = v[i].p;
			bool retry = false;

			if (!p)
				continue;
			if (record && dsync_state_packset_has(&c->have, p->name)) {
				/* came with a consolidated pack's sources */
			} else if (record && p->from && holds_all(&c->have, p->from, NULL)) {
				error = dsync_state_packset_add(&c->have, p->name);
			} else if ((error = fetch_pack_ahead(c, p, dir, odb, x, &retry, &pf,
							     next_fetched(c, v, i, n, record))) == 0) {
				git_odb_refresh(odb);
				if (record) {
					c->res->packs_fetched++;
					error = dsync_state_packset_add(&c->have, p->name);
				}
			} else if (error == DSYNC_ENOTFOUND) {
				dsync_error_set(DSYNC_ENOTFOUND, "packs/%s named by %s is missing from %s", p->name, v[i].by,
						c->bs->url);
				break;
			} else if (retry) {
				error = 0;   /* after the others */
				continue;
			}
			v[i].p = NULL;
			left--;
			progress_made = true;
		}
	}
	/* a pack begun for nothing (the last pass failed) */
	prefetch_take(&pf, NULL, NULL);
	if (error == 0 && left)
		error = DSYNC_ECORRUPT;   /* the last failure's message stands */
	return error;
}

/* Downloads and indexes every pack the other devices' manifests name that
 * this folder doesn't hold. */
static int fetch_packs(sync_conn *c, git_odb *odb, const char *packdir)
{
	sync_xfer x = { c, "fetch", 0, 0, 0 };
	sync_wanted_list v = DSYNC_ARRAY_INIT;
	size_t i, j;
	int error = 0;

	for (i = 0; i < c->devs.size && error == 0; i++)
		for (j = 0; dsync_conn_is_other(c, i) && j < c->mans[i].packs.size && error == 0; j++)
			if (!dsync_state_packset_has(&c->have, c->mans[i].packs.ptr[j].name)) {
				error = dsync_fetch_want(&v, &c->mans[i].packs.ptr[j], c->mans[i].blob);
				x.total += c->mans[i].packs.ptr[j].size;
			}
	if (error == 0)
		error = dsync_fetch_index_packs(c, &v, odb, packdir, true, &x);
	dsync_array_dispose(v);
	if (x.total || x.objects)
		dsync_conn_progress(c, "fetch", x.objects, x.objects, x.base, x.total, true);
	return error;
}

int dsync_fetch_checked(sync_conn *c)
{
	sync_seen_list seen = DSYNC_ARRAY_INIT;
	int error;

	if ((error = dsync_conn_read_manifests(c)) == 0 &&
	    (error = dsync_state_seen_read(&seen, c->f, c->r->name)) == 0)
		error = check_rollback(c, &seen);
	dsync_array_dispose(seen);
	return error;
}

static int remote_ref_name(dsync_buf *out, const char *remote_name, const char *dev)
{
	dsync_buf_truncate(out, 0);
	return dsync_buf_printf(out, "refs/remotes/%s/%s", remote_name, dev);
}

int dsync_fetch_heads(sync_conn *c)
{
	dsync_buf packdir = DSYNC_BUF_INIT, ref = DSYNC_BUF_INIT;
	dsync_oidset present = { 0 }, checked = { 0 };
	sync_seen_list seen = DSYNC_ARRAY_INIT;
	git_odb *odb = NULL;
	size_t i;
	int err, error, tries;

	if ((err = git_repository_odb(&odb, c->f->repo)) < 0)
		return dsync_error_git(err, "cannot open the history of '%s'", c->f->root);
	if ((error = dsync_buf_printf(&packdir, "%s/objects/pack", c->f->gitdir)) < 0 ||
	    (error = dsync_state_seen_read(&seen, c->f, c->r->name)) < 0)
		goto out;
	for (tries = 0;; tries++) {
		if ((error = dsync_conn_read_manifests(c)) < 0 || (error = check_rollback(c, &seen)) < 0)
			goto out;
		error = fetch_packs(c, odb, packdir.ptr);
		if (error != DSYNC_ENOTFOUND || tries == 2)
			break;
	}
	if (error == DSYNC_ENOTFOUND)
		error = error_rewrap(DSYNC_ECORRUPT, "");
	if (error < 0)
		goto out;
	git_odb_refresh(odb);
	/* everything is here and checked before any ref moves (what several
	 * heads share, once) */
	for (i = 0; i < c->devs.size; i++)
		if (dsync_conn_is_other(c, i) && c->mans[i].has_head &&
		    (error = check_history(c->f, &c->mans[i].head, c->mans[i].blob, &present, &checked)) < 0)
			goto out;
	if ((error = dsync_folder_sync(c->f)) < 0)
		goto out;
	for (i = 0; i < c->devs.size; i++) {
		git_reference *r = NULL;

		if (!dsync_conn_is_other(c, i))
			continue;
		c->res->devices++;
		if (!c->mans[i].has_head)
			continue;
		if ((error = remote_ref_name(&ref, c->r->name, c->devs.ptr[i].id)) < 0)
			goto out;
		{
			git_oid was;

			if ((git_reference_name_to_id(&was, c->f->repo, ref.ptr) < 0 ||
			     !git_oid_equal(&was, &c->mans[i].head)) &&
			    (error = dsync_state_heads_note(c->f, c->r->name, c->devs.ptr[i].id, &c->mans[i].head,
							    (int64_t)time(NULL))) < 0)
				goto out;
		}
		if ((err = git_reference_create(&r, c->f->repo, ref.ptr, &c->mans[i].head, 1, "dsync fetch")) < 0) {
			error = dsync_error_git(err, "cannot record the head of device %s", c->devs.ptr[i].id);
			goto out;
		}
		git_reference_free(r);
	}
	if ((error = dsync_state_seen_write(c, &seen, NULL)) < 0 ||
	    (error = dsync_state_packset_write(&c->have, c->f, c->r->name, "packs")) < 0)
		goto out;
out:
	dsync_oidset_dispose(&present);
	dsync_oidset_dispose(&checked);
	dsync_array_dispose(seen);
	git_odb_free(odb);
	dsync_buf_dispose(&packdir);
	dsync_buf_dispose(&ref);
	return error;
}

