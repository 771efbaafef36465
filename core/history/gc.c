/*
 * gc: loose objects and the smaller packs into one pack with deltas, then
 * the loose copies and merged packs removed, safely (see dsync/gc.h); the
 * big packs stay as they are (dsync_gc_choose()).
 */
#include "core/base/internal.h"
#include "core/history/gc.h"
#include "core/folder/folder.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/loose.h"
#include "core/base/oidset.h"
#include "core/base/packw.h"
#include "core/base/path.h"
#include "core/base/zcomp.h"

#include <dirent.h>
#include <git2/sys/odb_backend.h>
#include <sys/stat.h>
#include <unistd.h>

static int du_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	struct stat st;

	(void)name;
	if (!is_dir && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		*(uint64_t *)payload += (uint64_t)st.st_blocks * 512;
	return 0;
}

/* Adds the disk use of the files below DIR (two levels) to *BYTES. */
static void du(const char *dir, uint64_t *bytes)
{
	dsync_path_walk(dir, 1, du_cb, bytes);
}

#define DUE_LOOSE_OBJECTS 2000
#define DUE_LOOSE_BYTES (16u << 20)
#define DUE_PACKS 50   /* as git's gc.autoPackLimit: a big snapshot writes a pack or two of its own */

typedef struct store_use {
	size_t loose, packs;
	uint64_t loose_bytes, pack_bytes;
	uint64_t disk;           /* every regular file's disk use, as du() */
} store_use;

static int use_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	store_use *u = payload;
	size_t plen = strlen(path), nlen = strlen(name);
	struct stat st;

	if (is_dir || lstat(path, &st) < 0)
		return 0;
	if (S_ISREG(st.st_mode))
		u->disk += (uint64_t)st.st_blocks * 512;
	/* objects/xx/<38 hex>, or objects/pack/... */
	if (nlen == GIT_OID_HEXSZ - 2 && plen > nlen + 3 && path[plen - nlen - 4] == '/') {
		u->loose++;
		u->loose_bytes += (uint64_t)st.st_size;
	} else if (plen > nlen + 5 && strncmp(path + plen - nlen - 6, "/pack/", 6) == 0) {
		u->pack_bytes += (uint64_t)st.st_size;
		u->packs += nlen > 9 && strncmp(name, "pack-", 5) == 0 && strcmp(name + nlen - 4, ".idx") == 0;
	}
	return 0;
}

bool dsync_gc_due(const dsync_folder *f)
{
	dsync_buf objects = DSYNC_BUF_INIT;
	store_use u = { 0, 0, 0, 0, 0 };
	uint64_t limit;

	if (dsync_buf_printf(&objects, "%s/objects", f->gitdir) < 0)
		return false;
	dsync_path_walk(objects.ptr, 1, use_cb, &u);
	dsync_buf_dispose(&objects);
	limit = u.pack_bytes / 4 > DUE_LOOSE_BYTES ? u.pack_bytes / 4 : DUE_LOOSE_BYTES;
	return u.loose >= DUE_LOOSE_OBJECTS || u.loose_bytes >= limit || u.packs >= DUE_PACKS;
}

/* A pack of the store: its .idx, the same path without ".idx", the .pack's
 * size, and what gc does with it. */
typedef struct gc_pack {
	char *idx, *base;
	uint64_t size;
	ino_t ino;        /* of the .pack: one written again under its name is another file */
	bool keep_file;   /* a .keep beside it: never merged, never removed */
	bool merge;       /* goes into the new pack, then is removed */
} gc_pack;

typedef DSYNC_ARRAY(gc_pack) gc_packs;

static void packs_dispose(gc_packs *l)
{
	size_t i;

	for (i = 0; i < l->size; i++) {
		free(l->ptr[i].idx);
		free(l->ptr[i].base);
	}
	dsync_array_dispose(*l);
}

/* Lists the packs of PACKDIR (pack-*.idx) into *L (a missing folder: none). */
static int list_packs(gc_packs *l, const char *packdir)
{
	DIR *d = opendir(packdir);
	struct dirent *e;
	int error = 0;

	if (!d)
		return errno == ENOENT ? 0 : dsync_error_sys(errno, "cannot read '%s'", packdir);
	while (error == 0 && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		dsync_buf idx = DSYNC_BUF_INIT, path = DSYNC_BUF_INIT;
		gc_pack p = { NULL, NULL, 0, 0, false, false };
		struct stat st;

		if (n < 5 || strncmp(e->d_name, "pack-", 5) != 0 || strcmp(e->d_name + n - 4, ".idx") != 0)
			continue;
		if (dsync_buf_printf(&idx, "%s/%s", packdir, e->d_name) < 0 ||
		    dsync_buf_put(&path, idx.ptr, idx.len - 4) < 0 || (p.base = dsync_buf_detach(&path)) == NULL ||
		    (p.idx = dsync_buf_detach(&idx)) == NULL || dsync_buf_printf(&path, "%s.keep", p.base) < 0) {
			error = dsync_error_oom();
		} else {
			p.keep_file = stat(path.ptr, &st) == 0;
			dsync_buf_truncate(&path, 0);
			/* an index without its pack: libgit2 ignores it; so does gc */
			if (dsync_buf_printf(&path, "%s.pack", p.base) < 0)
				error = dsync_error_oom();
			else if (stat(path.ptr, &st) < 0)
				p.keep_file = true;
			else
				p.size = (uint64_t)st.st_size, p.ino = st.st_ino;
			if (error == 0 && dsync_array_push(*l, p) < 0)
				error = dsync_error_oom();
			else if (error == 0)
				p.idx = p.base = NULL;   /* the list's now */
		}
		free(p.idx);
		free(p.base);
		dsync_buf_dispose(&idx);
		dsync_buf_dispose(&path);
	}
	closedir(d);
	return error;
}

size_t dsync_gc_choose(bool *merge, const uint64_t *sizes, size_t n, uint64_t loose, uint64_t small)
{
	uint64_t total = loose;
	size_t *o, m = 0, i, t;

	if ((o = malloc(n ? n * sizeof(*o) : 1)) == NULL) {
		for (i = 0; i < n; i++)
			merge[i] = true;   /* out of memory: as gc did before, all */
		return 0;
	}
	for (i = 0; i < n; i++) {
		merge[i] = sizes[i] < small;
		if (merge[i])
			total += sizes[i];
		else
			o[m++] = i;
	}
	/* the bigger ones by size, smallest first (a few dozen at most) */
	for (i = 1; i < m; i++) {
		size_t v = o[i], j = i;

		for (; j > 0 && sizes[o[j - 1]] > sizes[v]; j--)
			o[j] = o[j - 1];
		o[j] = v;
	}
	/* the largest run at the top that at least doubles at each step */
	for (t = m ? m - 1 : 0; t > 0 && sizes[o[t]] / 2 >= sizes[o[t - 1]]; t--)
		;
	for (i = 0; i < t; i++) {
		merge[o[i]] = true;
		total += sizes[o[i]];
	}
	/* then each that what is merged would not leave twice as big */
	for (; i < m && sizes[o[i]] / 2 < total; i++) {
		merge[o[i]] = true;
		total += sizes[o[i]];
	}
	free(o);
	return m - i;
}

/* The biggest blob packed around the builder (dsync_packw_prepare()'s). */
#define GC_MEDIA_MAX (1u << 30)

/* What the new pack is built from: the history, less what stays packed. */
typedef struct pack_ctx {
	git_repository *repo;
	git_odb *odb;           /* the repository's */
	git_packbuilder *pb;
	git_odb *kept;          /* the packs that stay (later the new one too) */
	git_odb *merged;        /* the packs merged */
	dsync_oidset trees;     /* the trees walked */
	dsync_oidset blobs;     /* the blobs offered */
	dsync_oidset media;     /* those that go around the builder (media()) */
	DSYNC_ARRAY(git_oid) media_order;
	dsync_zcomp *z;         /* the thread's, for media() */
	size_t to_media, to_pb; /* objects offered by insert_cb(), by where they went */
} pack_ctx;

/*
 * Whether ID, an object not packed yet, is a blob of bytes that don't
 * compress (photos, videos, archives: what dsync_zcomp_choose() would
 * store), once each: 1 then, and it joins C->media.  Those go around
 * libgit2's pack builder into a pack of dsync's own, stored as they are:
 * the builder searched deltas among them (a video's thousands of chunks)
 * and deflated them again at zlib's default level, 4.5 MB/s; deltas don't
 * come of such bytes, and dedup of chunks already did what they would.
 */
static int media(pack_ctx *c, const git_oid *id, git_object_t type)
{
	git_odb_object *o = NULL;
	size_t size;
	int got, stored;

	if (type == GIT_OBJECT_ANY && git_odb_read_header(&size, &type, c->odb, id) < 0) {
		git_error_clear();
		return 0;   /* the builder says what is wrong */
	}
	if (type != GIT_OBJECT_BLOB || (got = dsync_oidset_add(&c->blobs, id)) == 0)
		return dsync_oidset_has(&c->media, id);
	if (got < 0)
		return dsync_error_oom();
	if (git_odb_read(&o, c->odb, id) < 0) {
		git_error_clear();
		return 0;
	}
	size = git_odb_object_size(o);
	stored = size > 4096 && size <= GC_MEDIA_MAX && c->z &&
		 dsync_zcomp_choose(c->z, git_odb_object_data(o), size, false) == DSYNC_ZCOMP_STORE;
	git_odb_object_free(o);
	if (!stored)
		return 0;
	if (dsync_oidset_add(&c->media, id) < 0 || dsync_array_push(c->media_order, *id) < 0)
		return dsync_error_oom();
	return 1;
}

static int add(pack_ctx *c, const git_oid *id, git_object_t type, const char *name)
{
	int err;

	if (git_odb_exists(c->kept, id) || (err = media(c, id, type)) > 0)
		return 0;
	if (err < 0)
		return err;
	if ((err = git_packbuilder_insert(c->pb, id, name)) == GIT_ENOTFOUND)
		return dsync_error_set(DSYNC_ECORRUPT, "the history is damaged: object %s is missing; nothing "
				       "was removed; run 'dsync check'", git_oid_tostr_s(id));
	if (err < 0) {
		/* (libgit2 says GIT_ELOCKED for a file it may not open: not a lock) */
		const git_error *ge = git_error_last();

		return dsync_error_set(DSYNC_ERROR, "cannot pack the object %s: %s", git_oid_tostr_s(id),
				       ge && ge->message ? ge->message : "unreadable");
	}
	return 0;
}

/* Adds the tree ID and, once each, every tree and blob below it (NAME: its
 * name, for the pack builder's choice of delta bases). */
static int add_tree(pack_ctx *c, const git_oid *id, const char *name)
{
	git_tree *t = NULL;
	size_t i, n;
	int err;

	if ((err = dsync_oidset_add(&c->trees, id)) <= 0)
		return err < 0 ? dsync_error_oom() : 0;
	if ((err = add(c, id, GIT_OBJECT_TREE, name)) < 0)
		return err;
	if ((err = git_tree_lookup(&t, c->repo, id)) < 0)
		return dsync_error_git(err, "cannot read the tree %s", git_oid_tostr_s(id));
	n = git_tree_entrycount(t);
	for (i = 0; err == 0 && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);

		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			err = add_tree(c, git_tree_entry_id(e), git_tree_entry_name(e));
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
			err = add(c, git_tree_entry_id(e), GIT_OBJECT_BLOB, git_tree_entry_name(e));
		/* a gitlink names a commit of another store: not ours */
	}
	git_tree_free(t);
	return err;
}

static int push_ref(const char *name, void *payload)
{
	git_revwalk *walk = payload;

	/* refs that are not commits (none today) are simply not walked */
	git_revwalk_push_ref(walk, name);
	return 0;
}

/* Adds every commit reachable from the folder's refs, and its trees and
 * blobs, but what the packs that stay hold. */
static int add_history(pack_ctx *c)
{
	git_revwalk *walk = NULL;
	git_commit *commit = NULL;
	git_oid id;
	int err, error = 0;

	if ((err = git_revwalk_new(&walk, c->repo)) < 0 ||
	    (err = git_reference_foreach_name(c->repo, push_ref, walk)) < 0) {
		git_revwalk_free(walk);
		return dsync_error_git(err, "cannot list the objects to pack");
	}
	while (error == 0 && (err = git_revwalk_next(&id, walk)) == 0) {
		if ((error = add(c, &id, GIT_OBJECT_COMMIT, NULL)) < 0)
			break;
		if ((err = git_commit_lookup(&commit, c->repo, &id)) < 0) {
			error = dsync_error_git(err, "cannot read the snapshot %s", git_oid_tostr_s(&id));
			break;
		}
		error = add_tree(c, git_commit_tree_id(commit), NULL);
		git_commit_free(commit);
	}
	if (error == 0 && err != GIT_ITEROVER)
		error = dsync_error_git(err, "cannot list the snapshots to pack");
	git_revwalk_free(walk);
	return error;
}

/* Adds an odb backend over the pack IDX to ODB; best effort (a pack that
 * can't be read holds nothing gc can count on). */
static void add_pack_backend(git_odb *odb, const char *idx)
{
	git_odb_backend *b = NULL;

	if (git_odb_backend_one_pack(&b, idx) < 0 || git_odb_add_backend(odb, b, 1) < 0) {
		if (b)
			b->free(b);
		git_error_clear();
	}
}

/* Opens an object database holding only the pack whose index is IDX. */
static int open_pack(git_odb **out, const char *idx)
{
	git_odb_backend *b = NULL;
	int err;

	*out = NULL;
	if ((err = git_odb_new(out)) < 0 || (err = git_odb_backend_one_pack(&b, idx)) < 0 ||
	    (err = git_odb_add_backend(*out, b, 1)) < 0) {
		if (b && *out == NULL)
			b->free(b);
		git_odb_free(*out);
		*out = NULL;
		return dsync_error_git(err, "cannot read the pack '%s'", idx);
	}
	return 0;
}

/* Removes the fan-out folders of OBJECTS (a path, kept as it was) left empty. */
static void remove_empty_fanout(dsync_buf *objects)
{
	size_t len = objects->len;
	int i;

	for (i = 0; i < 256; i++) {
		if (dsync_buf_printf(objects, "/%02x", i) == 0)
			rmdir(objects->ptr);   /* only when empty */
		dsync_buf_truncate(objects, len);
	}
}

typedef struct remove_ctx {
	git_odb *held;
	size_t removed;
} remove_ctx;

static int remove_loose_cb(const git_oid *id, const char *path, void *payload)
{
	remove_ctx *rc = payload;

	if (git_odb_exists(rc->held, id) && unlink(path) == 0)
		rc->removed++;
	return 0;
}

typedef struct covered_ctx {
	git_odb *held;
	bool all;
} covered_ctx;

static int covered_cb(const git_oid *id, void *payload)
{
	covered_ctx *c = payload;

	if (!git_odb_exists(c->held, id)) {
		c->all = false;
		return 1;
	}
	return 0;
}

static int insert_cb(const git_oid *id, void *payload)
{
	pack_ctx *c = payload;
	int got;

	if (git_odb_exists(c->kept, id))
		return 0;
	if ((got = media(c, id, GIT_OBJECT_ANY)) != 0) {
		c->to_media += got > 0;
		return got < 0 ? got : 0;
	}
	c->to_pb++;
	return git_packbuilder_insert(c->pb, id, NULL);
}

static int insert_loose_cb(const git_oid *id, const char *path, void *payload)
{
	pack_ctx *c = payload;

	(void)path;
	if (git_odb_exists(c->merged, id))
		return 0;   /* a loose copy of a merged pack's: offered with the pack */
	/* one libgit2 can't read stays where it is */
	if (insert_cb(id, payload) < 0)
		git_error_clear();
	return 0;
}

/* Puts into the new pack every object of the pack P (the builder skips
 * those it has) but those the packs that stay hold.  Best effort, as
 * removing packs is: a pack that can't be read whole is not wholly in the
 * new pack, so it stays (and is not counted as merged: false), and gc
 * goes on. */
static bool insert_pack(pack_ctx *c, const gc_pack *p)
{
	git_odb *old = NULL;
	bool whole = true;

	if (open_pack(&old, p->idx) < 0 || git_odb_foreach(old, insert_cb, c) < 0) {
		dsync_error_clear();
		git_error_clear();
		whole = false;
	}
	git_odb_free(old);
	return whole;
}

/* Writes the blobs of C->media into a pack (or two, packw.h) of GITDIR,
 * as they are (stored, not deflated), in the order they came. */
static int write_media(pack_ctx *c, const char *gitdir)
{
	dsync_packw *w = NULL;
	size_t i;
	int err, error;

	if (c->media_order.size == 0)
		return 0;
	if ((error = dsync_packw_open(&w, NULL, gitdir, (uint32_t)c->media_order.size)) < 0)
		return error;
	for (i = 0; error == 0 && i < c->media_order.size; i++) {
		const git_oid *id = &c->media_order.ptr[i];
		git_odb_object *o = NULL;
		git_oid got;

		if ((err = git_odb_read(&o, c->odb, id)) < 0)
			error = dsync_error_git(err, "cannot read the object %s", git_oid_tostr_s(id));
		else if ((error = dsync_packw_put(w, &got, GIT_OBJECT_BLOB, git_odb_object_data(o),
						  git_odb_object_size(o))) == 0 && !git_oid_equal(&got, id))
			error = dsync_error_set(DSYNC_ECORRUPT, "the history is damaged: object %s does not hold its "
					       "bytes; nothing was removed; run 'dsync check'", git_oid_tostr_s(id));
		git_odb_object_free(o);
	}
	if (error == 0)
		error = dsync_packw_commit(w);
	dsync_packw_free(w);
	return error;
}

/* Removes the pack P when HELD (the new pack and those that stay) holds
 * every object of it (best effort: a pack that can't be read or removed
 * stays); whether it went. */
static bool remove_pack(git_odb *held, const gc_pack *p)
{
	dsync_buf path = DSYNC_BUF_INIT;
	git_odb *old = NULL;
	covered_ctx c = { held, true };
	bool gone = false;

	struct stat st;

	/* written again by this gc under its own name (a pack is named by its
	 * objects): it is one of the new packs */
	if (dsync_buf_printf(&path, "%s.pack", p->base) < 0 || lstat(path.ptr, &st) < 0 || st.st_ino != p->ino) {
		dsync_buf_dispose(&path);
		return false;
	}
	dsync_buf_truncate(&path, 0);
	if (open_pack(&old, p->idx) < 0) {
		dsync_error_clear();
		dsync_buf_dispose(&path);
		return false;
	}
	if (git_odb_foreach(old, covered_cb, &c) < 0 && c.all)
		c.all = false;
	git_odb_free(old);
	if (c.all && dsync_buf_printf(&path, "%s.pack", p->base) == 0 && unlink(path.ptr) == 0) {
		unlink(p->idx);
		dsync_buf_truncate(&path, 0);
		if (dsync_buf_printf(&path, "%s.rev", p->base) == 0)
			unlink(path.ptr);
		gone = true;
	}
	dsync_buf_dispose(&path);
	return gone;
}

/* Whether P is the pack named NAME (a pack is named by its objects: a gc
 * that merges one pack alone writes that very pack again). */
static bool same_pack(const gc_pack *p, const char *name)
{
	size_t n = strlen(p->base), k = strlen(name);

	return k > 0 && n > k + 5 && strcmp(p->base + n - k, name) == 0 &&
	       strncmp(p->base + n - k - 5, "pack-", 5) == 0;
}

/* In the git directory: the packs the last gc wrote, "pack-<sha>" a line. */
#define GC_RECORD "dsync-gc-packs"

/* Whether the pack P is one the last gc wrote (RECORD: GC_RECORD's path),
 * and is still that file (listed before it: the record is written after
 * the packs, so a pack it names is older than it). */
static bool recorded(const char *record, const gc_pack *p)
{
	char buf[4096], line[80];
	const char *name = strrchr(p->base, '/') + 1;
	struct stat rs, ps;
	size_t len = 0;
	dsync_buf pack = DSYNC_BUF_INIT;
	bool found;

	/* "\n" then the record, searched for "\nNAME\n" */
	buf[0] = '\n';
	if (dsync_file_read_small(&len, record, buf + 1, sizeof(buf) - 1, 0) < 0) {
		dsync_error_clear();
		return false;
	}
	found = (size_t)snprintf(line, sizeof(line), "\n%s\n", name) < sizeof(line) &&
		memmem(buf, len + 1, line, strlen(line)) != NULL;
	/* a pack written again after the record under that name: not the
	 * record's (a snapshot's pack of the same objects can't be, but a
	 * copy of a store can be anything) */
	if (found && (dsync_buf_printf(&pack, "%s.pack", p->base) < 0 || stat(record, &rs) < 0 ||
		      stat(pack.ptr, &ps) < 0 || ps.st_mtime > rs.st_mtime))
		found = false;
	dsync_buf_dispose(&pack);
	return found;
}

/* Chooses which of the packs L go into the new pack (P->merge), the loose
 * objects' LOOSE bytes beside them; how many stay. */
static size_t choose(gc_packs *l, uint64_t loose)
{
	uint64_t *sizes = calloc(l->size + 1, sizeof(*sizes));
	bool *merge = calloc(l->size + 1, sizeof(*merge));
	size_t i, n = 0, stay = 0;

	for (i = 0; i < l->size; i++) {
		l->ptr[i].merge = !l->ptr[i].keep_file;   /* out of memory: all, as before */
		if (sizes && !l->ptr[i].keep_file)
			sizes[n++] = l->ptr[i].size;
	}
	if (sizes && merge) {
		dsync_gc_choose(merge, sizes, n, loose,
				(uint64_t)DSYNC_TEST_KNOB("DSYNC_TEST_GC_SMALL_PACK", (int64_t)DSYNC_GC_SMALL_PACK));
		for (i = n = 0; i < l->size; i++)
			if (!l->ptr[i].keep_file)
				l->ptr[i].merge = merge[n++];
	}
	for (i = 0; i < l->size; i++)
		stay += !l->ptr[i].merge;
	free(sizes);
	free(merge);
	return stay;
}

int dsync_gc_locked(dsync_gc_result *out, dsync_folder *f, int lock_wait_ms)
{
	pack_ctx c;
	gc_packs packs = DSYNC_ARRAY_INIT;
	store_use u = { 0, 0, 0, 0, 0 };
	dsync_buf objects = DSYNC_BUF_INIT, packdir = DSYNC_BUF_INIT, idx = DSYNC_BUF_INIT;
	git_odb *pack_check = NULL;
	bool locked = false;
	dsync_buf record = DSYNC_BUF_INIT;
	size_t i;
	bool same;
	int err, error;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((error = dsync_folder_lock(f, lock_wait_ms)) < 0)
		return error;
	locked = true;
	c.repo = f->repo;
	c.z = dsync_zcomp_thread();   /* NULL (no memory): every blob to the builder */
	if ((error = dsync_buf_printf(&objects, "%s/objects", f->gitdir)) < 0 ||
	    (error = dsync_buf_printf(&packdir, "%s/pack", objects.ptr)) < 0)
		goto out;
	dsync_path_walk(objects.ptr, 1, use_cb, &u);
	out->bytes_before = u.disk;
	if ((error = list_packs(&packs, packdir.ptr)) < 0)
		goto out;
	out->packs_kept = choose(&packs, u.loose_bytes);

	if ((err = git_packbuilder_new(&c.pb, f->repo)) < 0 || (err = git_odb_new(&c.kept)) < 0 ||
	    (err = git_odb_new(&c.merged)) < 0 || (err = git_repository_odb(&c.odb, f->repo)) < 0) {
		error = dsync_error_git(err, "cannot start packing");
		goto out;
	}
	git_packbuilder_set_threads(c.pb, 0);
	for (i = 0; i < packs.size; i++)
		add_pack_backend(packs.ptr[i].merge ? c.merged : c.kept, packs.ptr[i].idx);
	/* libgit2 1.5 loops forever on a loose object cut short (a power
	 * cut): every loose file is read by dsync first, and a damaged one
	 * moved aside, so that reading it fails plainly */
	{
		size_t stuck = 0;

		if ((error = dsync_loose_sweep(f->gitdir, 0, &out->loose_damaged, &stuck)) < 0)
			goto out;
		if (stuck > 0) {
			error = dsync_error_set(DSYNC_ECORRUPT,
						"%zu damaged loose object file%s in '%s' can be neither moved "
						"aside nor removed (a read-only folder?); nothing was changed; "
						"run 'dsync check'",
						stuck, stuck == 1 ? "" : "s", objects.ptr);
			goto out;
		}
	}
	if ((error = add_history(&c)) < 0)
		goto out;
	/* and what nothing refers to: the loose objects and those of the
	 * merged packs (the index's trees of big files, which the next
	 * snapshot reads back; chunks of a file that changed while read).
	 * Else a pack holding one of them stayed whole beside the new one (a
	 * first snapshot with a big file doubled the store), and loose ones
	 * piled up until gc was due at every check */
	if ((error = dsync_loose_each(f->gitdir, 0, insert_loose_cb, &c)) < 0)
		goto out;
	same = c.to_media + c.to_pb == 0;   /* no loose object to pack */
	if ((error = dsync_buf_printf(&record, "%s/" GC_RECORD, f->gitdir)) < 0)
		goto out;
	for (i = 0; i < packs.size; i++)
		if (packs.ptr[i].merge) {
			if (!insert_pack(&c, &packs.ptr[i])) {
				packs.ptr[i].merge = false;   /* it stays */
				continue;
			}
			same = same && recorded(record.ptr, &packs.ptr[i]);
		}
	out->objects = git_packbuilder_object_count(c.pb) + c.media_order.size;
	/*
	 * Nothing; or nothing loose and the merged packs all written by the
	 * last gc: the new packs would be those very packs again (a pack is
	 * named by its objects).  Everything is in them: loose copies go still.
	 */
	if (out->objects == 0 || same) {
		remove_ctx rc;

		/* still, loose copies of packed objects go (a gc killed while
		 * removing them left them) */
		for (i = 0; i < packs.size; i++)
			if (packs.ptr[i].merge)
				add_pack_backend(c.kept, packs.ptr[i].idx);
		rc.held = c.kept;
		rc.removed = 0;
		error = dsync_loose_each(f->gitdir, 0, remove_loose_cb, &rc);
		out->loose_removed = rc.removed;
		out->objects = 0;
		dsync_packw_clean_temp(f->gitdir, DSYNC_PACKW_TEMP_AGE);
		du(objects.ptr, &out->bytes_after);
		goto out;
	}
	if (mkdir(packdir.ptr, 0777) < 0 && errno != EEXIST) {
		error = dsync_error_sys(errno, "cannot create '%s'", packdir.ptr);
		goto out;
	}
	if ((error = write_media(&c, f->gitdir)) < 0)
		goto out;
	if (git_packbuilder_object_count(c.pb) > 0) {
		if ((err = git_packbuilder_write(c.pb, packdir.ptr, 0, NULL, NULL)) < 0) {
			error = dsync_error_git(err, "cannot write a pack");
			goto out;
		}
		snprintf(out->pack, sizeof(out->pack), "%s", git_packbuilder_name(c.pb));
	}
	/* the packs are durable before any copy of their objects goes */
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	{
		gc_packs now = DSYNC_ARRAY_INIT;
		git_oid head;

		/* what is held now: the packs that stay and the new ones (a pack
		 * not listed before, or one written again under its name) */
		dsync_buf names = DSYNC_BUF_INIT;

		if ((error = list_packs(&now, packdir.ptr)) < 0)
			goto out;
		for (i = 0; i < now.size; i++) {
			size_t k;

			for (k = 0; k < packs.size && strcmp(packs.ptr[k].idx, now.ptr[i].idx) != 0; k++)
				;
			if (k == packs.size || packs.ptr[k].ino != now.ptr[i].ino) {
				add_pack_backend(c.kept, now.ptr[i].idx);
				if (dsync_buf_printf(&names, "%s\n", strrchr(now.ptr[i].base, '/') + 1) < 0)
					error = dsync_error_oom();
			}
		}
		packs_dispose(&now);
		/* what this gc wrote, for the next one (best effort: without it,
		 * the next one writes them again) */
		if (error == 0 && dsync_path_write_atomic(record.ptr, names.ptr ? names.ptr : "", names.len, 0644,
							   false) < 0)
			dsync_error_clear();
		dsync_buf_dispose(&names);
		if (error < 0)
			goto out;
		if (out->pack[0] && ((error = dsync_buf_printf(&idx, "%s/pack-%s.idx", packdir.ptr, out->pack)) < 0 ||
				     (error = open_pack(&pack_check, idx.ptr)) < 0))
			goto out;
		if (git_reference_name_to_id(&head, f->repo, "refs/heads/main") == 0 &&
		    !git_odb_exists(c.kept, &head)) {
			error = dsync_error_set(DSYNC_ECORRUPT,
				"the new packs in '%s' do not hold the last snapshot; nothing removed", packdir.ptr);
			goto out;
		}
	}
	/*
	 * Every object the loose copies and merged packs hold is in the
	 * durable new pack or in one that stays, so removing them needs no
	 * lock: a snapshot meanwhile that finds an object "already stored"
	 * finds it in a pack all the same.  Removing thousands of files can
	 * take long (a slow disk, discard on unlink); writers need not wait.
	 */
	dsync_folder_unlock(f);
	locked = false;
	{
		remove_ctx rc = { c.kept, 0 };

		error = dsync_loose_each(f->gitdir, 0, remove_loose_cb, &rc);
		out->loose_removed = rc.removed;
		if (error < 0)
			goto out;
		remove_empty_fanout(&objects);
	}
	for (i = 0; i < packs.size; i++)
		if (packs.ptr[i].merge && !same_pack(&packs.ptr[i], out->pack) && remove_pack(c.kept, &packs.ptr[i]))
			out->packs_removed++;
	/* packs a killed snapshot left half-written */
	dsync_packw_clean_temp(f->gitdir, DSYNC_PACKW_TEMP_AGE);
	{
		git_odb *odb = NULL;

		if (git_repository_odb(&odb, f->repo) == 0)
			git_odb_refresh(odb);
		git_odb_free(odb);
	}
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	du(objects.ptr, &out->bytes_after);
	error = 0;
out:
	if (locked)
		dsync_folder_unlock(f);
	git_odb_free(pack_check);
	git_odb_free(c.kept);
	git_odb_free(c.merged);
	git_odb_free(c.odb);
	git_packbuilder_free(c.pb);
	dsync_oidset_dispose(&c.trees);
	dsync_oidset_dispose(&c.blobs);
	dsync_oidset_dispose(&c.media);
	dsync_array_dispose(c.media_order);
	packs_dispose(&packs);
	dsync_buf_dispose(&objects);
	dsync_buf_dispose(&packdir);
	dsync_buf_dispose(&idx);
	dsync_buf_dispose(&record);
	return error;
}
