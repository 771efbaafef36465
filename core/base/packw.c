/*
 * Objects written straight into a pack of the local object store (see
 * packw.h; the format is git's pack v2 and idx v2, docs/format.md "Local
 * packs"): the writer, the .idx, commit, and reading the pack in progress.
 */
#include "core/base/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/packw.h"
#include "core/base/zcomp.h"
#include "core/base/packw_int.h"

#define WBUF_SIZE (1024 * 1024)   /* small objects are written in batches */
#define TMP_PREFIX "tmp-dsync-"
#define PACK_HDR 12
/* entries reserved at most for the objects a pack announces (32 MB) */
#define RESERVE_MAX (1u << 20)

/* --- the writer --- */

static uint32_t id_hash(const git_oid *id)
{
	/* ids are SHA-1: their bytes are already uniform */
	return (uint32_t)id->id[0] << 24 | (uint32_t)id->id[1] << 16 | (uint32_t)id->id[2] << 8 | id->id[3];
}

/* The slot of ID: where it is, or the empty one where it would go. */
static size_t slot_of(const dsync_packw *w, const git_oid *id)
{
	size_t mask = w->nslots - 1, i = id_hash(id) & mask;

	while (w->slots[i] && git_oid_cmp(&w->ents.ptr[w->slots[i] - 1].id, id))
		i = (i + 1) & mask;
	return i;
}

static int slots_grow(dsync_packw *w)
{
	size_t n = w->nslots ? w->nslots * 2 : 1024, old = w->nslots;
	uint32_t *o = w->slots;

	if (n > SIZE_MAX / sizeof(uint32_t) || (w->slots = calloc(n, sizeof(uint32_t))) == NULL) {
		w->slots = o;
		return dsync_error_oom();
	}
	w->nslots = n;
	for (size_t i = 0; i < old; i++)
		if (o[i])
			w->slots[slot_of(w, &w->ents.ptr[o[i] - 1].id)] = o[i];
	free(o);
	return 0;
}

bool dsync_packw_has(const dsync_packw *w, const git_oid *id)
{
	return w->nslots && w->slots[slot_of(w, id)] != 0;
}

uint32_t dsync_packw_count(const dsync_packw *w)
{
	return w->before + (uint32_t)w->ents.size;
}

uint64_t dsync_packw_rehashed__(const dsync_packw *w)
{
	return w->rehashed;
}

uint32_t dsync_packw_rechecked(const dsync_packw *w)
{
	return w->rechecked;
}

bool dsync_packw_live__(const dsync_packw *w)
{
	return !w->done && !w->sealed && !w->failed;
}

static int fail(dsync_packw *w, int error)
{
	w->failed = true;
	return error;
}

static int write_all(dsync_packw *w, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(w, dsync_error_sys(errno, "cannot write '%s'", w->tmp_pack));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int flush(dsync_packw *w)
{
	int error = 0;

	if (w->wfill)
		error = write_all(w, w->wbuf, w->wfill);
	w->wfill = 0;
	return error;
}

/* Appends LEN bytes to the pack: hashed, buffered when small. */
static int emit(dsync_packw *w, const void *data, size_t len)
{
	int error;

	dsync_sha1_update(&w->sha, data, len);
	w->off += len;
	if (w->wfill + len <= WBUF_SIZE) {
		memcpy(w->wbuf + w->wfill, data, len);
		w->wfill += len;
		return 0;
	}
	if ((error = flush(w)) < 0)
		return error;
	if (len < WBUF_SIZE / 2) {
		memcpy(w->wbuf, data, len);
		w->wfill = len;
		return 0;
	}
	return write_all(w, data, len);
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void pack_header(unsigned char hdr[PACK_HDR], uint32_t count)
{
	memcpy(hdr, "PACK", 4);
	put_be32(hdr + 4, 2);
	put_be32(hdr + 8, count);
}

/* An entry's header: its type in bits 4-6 of the first byte, its size in
 * the low 4 bits and then 7 bits a byte, the high bit saying more follow. */
static size_t entry_header(unsigned char *h, git_object_t type, uint64_t size)
{
	size_t n = 0;

	h[n] = (unsigned char)((unsigned)type << 4 | (size & 0x0f));
	size >>= 4;
	while (size) {
		h[n++] |= 0x80;
		h[n] = (unsigned char)(size & 0x7f);
		size >>= 7;
	}
	return n + 1;
}

/* Starts a pack of COUNT objects (its header's count) in W's folder: a new
 * temp file, the header written and hashed. */
static int start_pack(dsync_packw *w, uint32_t count)
{
	dsync_buf path = DSYNC_BUF_INIT;
	unsigned char hdr[PACK_HDR];

	w->expect = count;
	w->off = 0;
	w->wfill = 0;
	if (dsync_buf_printf(&path, "%s/" TMP_PREFIX "XXXXXX.pack", w->dir) < 0 ||
	    (w->tmp_pack = dsync_buf_detach(&path)) == NULL)
		return fail(w, dsync_error_oom());
	if ((w->fd = mkostemps(w->tmp_pack, 5, O_CLOEXEC)) < 0) {
		int error = dsync_error_sys(errno, "cannot make a pack in '%s'", w->dir);

		free(w->tmp_pack);   /* no file of ours to remove */
		w->tmp_pack = NULL;
		return fail(w, error);
	}
	dsync_sha1_init(&w->sha);
	pack_header(hdr, count);
	return emit(w, hdr, sizeof(hdr));
}

int dsync_packw_open(dsync_packw **out, git_odb *odb, const char *gitdir, uint32_t expect)
{
	dsync_packw *w;
	dsync_buf path = DSYNC_BUF_INIT;
	uint32_t first = expect;
	int error;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return dsync_error_oom();
	w->fd = -1;
	w->odb = odb;
	w->guess = expect;
	/* a big guess: the first pack announces all but its last eighth, which
	 * goes to a second pack (packw.h) */
	if (expect >= DSYNC_PACKW_SPLIT_MIN)
		first = expect - expect / 8;
	else
		w->split = true;
	if ((error = dsync_buf_printf(&path, "%s/objects/pack", gitdir)) < 0 ||
	    (w->dir = dsync_buf_detach(&path)) == NULL)
		goto oom;
	/* a folder made by an older release, or by git init, may lack it */
	if (mkdir(w->dir, 0755) < 0 && errno != EEXIST) {
		error = dsync_error_sys(errno, "cannot make '%s'", w->dir);
		goto out;
	}
	dsync_packw_clean_temp(gitdir, DSYNC_PACKW_TEMP_AGE);
	if ((w->wbuf = malloc(WBUF_SIZE)) == NULL)
		goto oom;
	/* the entries of the objects announced, exactly: grown by doubling,
	 * 100,000 of them took 4 MB, and 6 MB while moved (a wrong guess only
	 * grows the table) */
	if (first > 0 && first <= RESERVE_MAX) {
		if ((w->ents.ptr = malloc(first * sizeof(*w->ents.ptr))) == NULL)
			goto oom;
		w->ents.asize = first;
	}
	if ((error = start_pack(w, first)) < 0)
		goto out;
	*out = w;
	w = NULL;
	error = 0;
	goto out;
oom:
	error = dsync_error_oom();
out:
	dsync_buf_dispose(&path);
	dsync_packw_free(w);
	return error;
}

/* Whether the store (not this pack) holds ID; no refresh of its pack list
 * (that is a directory read per miss, and most lookups here miss). */
static bool odb_has(dsync_packw *w, const git_oid *id)
{
	return w->odb && git_odb_exists_ext(w->odb, id, GIT_ODB_LOOKUP_NO_REFRESH);
}

/*
 * O's id is already in this pack or the store, so O is about to be dropped:
 * its bytes (RAW, or inflated from its entry when NULL) are hashed again
 * with libgit2's SHA-1DC first, unless its id came from it.  SHA-1DC fails
 * on either half of a crafted colliding pair, so a file made to collide
 * with another cannot pass for it and vanish from the snapshot.  Hits are
 * files and chunks already stored: rare in a first snapshot.
 */
static int recheck(dsync_packw *w, const dsync_packw_obj *o, const void *raw)
{
	char hex[GIT_OID_HEXSZ + 1];
	unsigned char *data = NULL;
	git_oid id;
	int error;

	if (o->checked)
		return 0;
	git_oid_tostr(hex, sizeof(hex), &o->id);
	if (raw == NULL) {
		if ((data = malloc(o->size ? (size_t)o->size : 1)) == NULL)
			return dsync_error_oom();
		if ((error = dsync_zcomp_read(o->z, o->zlen, data, (size_t)o->size)) < 0) {
			if (error == DSYNC_ECORRUPT)   /* else out of memory, said */
				dsync_error_set(error, "cannot check object %s: its entry does not inflate", hex);
			goto out;
		}
		raw = data;
	}
	w->rechecked++;
	if ((error = git_odb_hash(&id, raw, (size_t)o->size, o->type)) < 0) {
		/* what libgit2 says when SHA-1DC sees a collision attack */
		error = dsync_error_set(DSYNC_ECORRUPT, "object %s: %s", hex,
					git_error_last() ? git_error_last()->message : "cannot hash it");
		goto out;
	}
	if (!git_oid_equal(&id, &o->id))
		error = dsync_error_set(DSYNC_ECORRUPT, "object %s: SHA-1DC gives its bytes another id", hex);
out:
	free(data);
	return error;
}

static int split(dsync_packw *w);

static int add(dsync_packw *w, const dsync_packw_obj *o, bool check_odb, const void *raw)
{
	unsigned char h[16];
	size_t hl, slot;
	dsync_packw_ent e;
	int error;

	if (!dsync_packw_live__(w))
		return dsync_error_set(DSYNC_EUSAGE, "cannot add to pack '%s': %s", packw_name__(w),
				       w->failed ? "an earlier write failed" : "already committed");
	if (o->zlen < 2 || o->type < GIT_OBJECT_COMMIT || o->type > GIT_OBJECT_TAG)
		return dsync_error_set(DSYNC_EUSAGE, "cannot add to pack '%s': the object was not prepared",
				       packw_name__(w));
	if (dsync_packw_has(w, &o->id) || (check_odb && odb_has(w, &o->id))) {
		w->given++;
		return recheck(w, o, raw);
	}
	if (w->ents.size == w->expect && !w->split && (error = split(w)) < 0)
		return error;
	if (w->ents.size >= UINT32_MAX - 1)
		return dsync_error_set(DSYNC_ERROR, "cannot add to pack '%s': too many objects", w->tmp_pack);
	if ((w->ents.size + 1) * 2 > w->nslots && (error = slots_grow(w)) < 0)
		return error;
	hl = entry_header(h, o->type, o->size);
	e.id = o->id;
	e.offset = w->off;
	e.crc = dsync_crc32(dsync_crc32(0, h, hl), o->z, o->zlen);
	if (dsync_array_push(w->ents, e) < 0)
		return dsync_error_oom();
	if ((error = emit(w, h, hl)) < 0 || (error = emit(w, o->z, o->zlen)) < 0) {
		w->ents.size--;
		return error;
	}
	slot = slot_of(w, &o->id);
	w->slots[slot] = (uint32_t)w->ents.size;
	w->given++;
	return 0;
}

int dsync_packw_add__(dsync_packw *w, const dsync_packw_obj *o, bool check_odb)
{
	return add(w, o, check_odb, NULL);
}

int dsync_packw_add(dsync_packw *w, const dsync_packw_obj *o)
{
	return add(w, o, true, NULL);
}

int dsync_packw_put(dsync_packw *w, git_oid *id, git_object_t type, const void *data, size_t len)
{
	int error;

	if ((error = dsync_packw_prepare__(&w->scratch, type, data, len, NULL)) < 0)
		return error;
	if (id)
		*id = w->scratch.id;
	return add(w, &w->scratch, true, data);
}

/* --- the .idx and commit --- */

static int ent_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const dsync_packw_ent *)a)->id, &((const dsync_packw_ent *)b)->id);
}

/* A buffered writer of the .idx, hashing as it goes. */
struct idxw {
	int fd;
	dsync_sha1 sha;
	unsigned char buf[65536];
	size_t fill;
	int error;
};

static void idx_flush(struct idxw *x)
{
	size_t done = 0;

	while (!x->error && done < x->fill) {
		ssize_t n = write(x->fd, x->buf + done, x->fill - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			x->error = dsync_error_sys(errno, "cannot write a pack index");
		else
			done += (size_t)n;
	}
	x->fill = 0;
}

static void idx_put(struct idxw *x, const void *data, size_t len)
{
	if (x->error)
		return;
	dsync_sha1_update(&x->sha, data, len);
	if (x->fill + len > sizeof(x->buf))
		idx_flush(x);
	memcpy(x->buf + x->fill, data, len);   /* every piece here is at most 20 bytes */
	x->fill += len;
}

static void idx_be32(struct idxw *x, uint32_t v)
{
	unsigned char b[4];

	put_be32(b, v);
	idx_put(x, b, 4);
}

int dsync_packw_write_idx__(int fd, dsync_packw_ent *e, size_t n, const unsigned char pack_sha[20],
			    unsigned char idx_sha_out[20])
{
	static const unsigned char magic[8] = { 0xff, 't', 'O', 'c', 0, 0, 0, 2 };
	struct idxw *x;
	size_t i, j, large = 0;
	int error;

	if (n > UINT32_MAX)
		return dsync_error_set(DSYNC_EUSAGE, "cannot index %zu objects in one pack", n);
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return dsync_error_oom();
	x->fd = fd;
	dsync_sha1_init(&x->sha);
	qsort(e, n, sizeof(*e), ent_cmp);
	idx_put(x, magic, sizeof(magic));
	/* fan-out: how many ids start with a byte up to each value */
	for (i = 0, j = 0; i < 256; i++) {
		while (j < n && e[j].id.id[0] <= i)
			j++;
		idx_be32(x, (uint32_t)j);
	}
	for (i = 0; i < n; i++)
		idx_put(x, e[i].id.id, GIT_OID_RAWSZ);
	for (i = 0; i < n; i++)
		idx_be32(x, e[i].crc);
	/* offsets past 2^31 - 1: the high bit set, the rest an index into the 8-byte table */
	for (i = 0; i < n; i++)
		idx_be32(x, e[i].offset < 0x80000000u ? (uint32_t)e[i].offset : 0x80000000u | (uint32_t)large++);
	for (i = 0; i < n; i++) {
		if (e[i].offset >= 0x80000000u) {
			idx_be32(x, (uint32_t)(e[i].offset >> 32));
			idx_be32(x, (uint32_t)e[i].offset);
		}
	}
	idx_put(x, pack_sha, 20);
	dsync_sha1_final(&x->sha, idx_sha_out);
	if (!x->error) {
		if (x->fill + 20 > sizeof(x->buf))
			idx_flush(x);
		memcpy(x->buf + x->fill, idx_sha_out, 20);
		x->fill += 20;
		idx_flush(x);
	}
	error = x->error;
	free(x);
	return error;
}

/* The pack's header says COUNT now: hashes the file again from its start
 * (what git fast-import does when its guess was wrong). */
static int rehash(dsync_packw *w, uint32_t count)
{
	unsigned char hdr[PACK_HDR];
	uint64_t pos = 0;

	pack_header(hdr, count);
	if (pwrite(w->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return fail(w, dsync_error_sys(errno ? errno : EIO, "cannot write '%s'", w->tmp_pack));
	dsync_sha1_init(&w->sha);
	while (pos < w->off) {
		size_t want = w->off - pos < WBUF_SIZE ? (size_t)(w->off - pos) : WBUF_SIZE;
		ssize_t n = pread(w->fd, w->wbuf, want, (off_t)pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(w, dsync_error_sys(n < 0 ? errno : EIO, "cannot read '%s'", w->tmp_pack));
		dsync_sha1_update(&w->sha, w->wbuf, (size_t)n);
		pos += (uint64_t)n;
	}
	w->rehashed += w->off;
	return 0;
}

static int sync_fd(int fd, const char *path)
{
	/* the pack and its index are whole on disk before they get names git
	 * reads: a power cut before the caller's syncfs must not leave a named
	 * pack of zeros that makes every lookup in the store fail */
	if (fdatasync(fd) < 0 && errno != EINVAL)
		return dsync_error_sys(errno, "cannot flush '%s' to disk", path);
	return 0;
}

/* Finishes the pack in progress (see dsync_packw_commit()): after it, its
 * files have their names, or there are none when it is empty; *RENAMED:
 * so, and its temp names are no longer ours to remove. */
static int finish_pack(dsync_packw *w, bool *renamed)
{
	unsigned char sha[20], idx_sha[20];
	char hex[GIT_OID_HEXSZ + 1];
	dsync_buf path = DSYNC_BUF_INIT;
	git_oid packid;
	char *final_pack = NULL;
	int ifd = -1, error;

	*renamed = false;
	if (w->ents.size == 0) {
		/* nothing new: no pack */
		close(w->fd);
		w->fd = -1;
		unlink(w->tmp_pack);
		*renamed = true;
		return 0;
	}
	if ((error = flush(w)) < 0)
		goto out;
	if (w->ents.size != w->expect && (error = rehash(w, (uint32_t)w->ents.size)) < 0)
		goto out;
	dsync_sha1_final(&w->sha, sha);
	if ((error = write_all(w, sha, sizeof(sha))) < 0 || (error = sync_fd(w->fd, w->tmp_pack)) < 0)
		goto out;
	if (fchmod(w->fd, 0444) < 0) {
		error = dsync_error_sys(errno, "cannot make '%s' read-only", w->tmp_pack);
		goto out;
	}

	/* not "*.idx": git takes any NAME.idx beside a NAME.pack for a pack, and
	 * fsck would fail on one cut short by a kill */
	if (dsync_buf_printf(&path, "%.*stmpidx", (int)strlen(w->tmp_pack) - 4, w->tmp_pack) < 0 ||
	    (w->tmp_idx = dsync_buf_detach(&path)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	if ((ifd = open(w->tmp_idx, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444)) < 0) {
		error = dsync_error_sys(errno, "cannot make '%s'", w->tmp_idx);
		goto out;
	}
	if ((error = dsync_packw_write_idx__(ifd, w->ents.ptr, w->ents.size, sha, idx_sha)) < 0 ||
	    (error = sync_fd(ifd, w->tmp_idx)) < 0)
		goto out;
	/* the ents are sorted now: the id set is no longer valid, and no more
	 * adds or reads of the pack in progress come */
	w->sealed = true;
	free(w->slots);
	w->slots = NULL;
	w->nslots = 0;

	/* git names a pack by its trailer; the .pack first, as git finds packs by their .idx */
	git_oid_fromraw(&packid, sha);
	git_oid_tostr(hex, sizeof(hex), &packid);
	if (dsync_buf_printf(&path, "%s/pack-%s.pack", w->dir, hex) < 0 ||
	    (final_pack = dsync_buf_detach(&path)) == NULL || dsync_buf_printf(&path, "%s/pack-%s.idx", w->dir, hex) < 0) {
		error = dsync_error_oom();
		goto out;
	}
	if (rename(w->tmp_pack, final_pack) < 0) {
		error = dsync_error_sys(errno, "cannot rename '%s' to '%s'", w->tmp_pack, final_pack);
		goto out;
	}
	if (rename(w->tmp_idx, path.ptr) < 0) {
		error = dsync_error_sys(errno, "cannot rename '%s' to '%s'", w->tmp_idx, path.ptr);
		goto out;
	}
	*renamed = true;
	if (w->odb && (error = git_odb_refresh(w->odb)) < 0) {
		error = dsync_error_git(error, "cannot read the new pack '%s'", final_pack);
		goto out;
	}
	error = 0;
out:
	if (error < 0)
		w->failed = true;
	if (ifd >= 0)
		close(ifd);
	free(final_pack);
	dsync_buf_dispose(&path);
	return error;
}

/*
 * The first pack holds the objects it announced and one more comes: it is
 * finished (named, so the store reads it), and the rest go to a second
 * pack that announces what is left of the caller's guess (dedup'd objects
 * count as given).  A first pack that never fills is hashed again at
 * commit, as a single pack was.
 */
static int split(dsync_packw *w)
{
	uint64_t left = w->guess > w->given ? w->guess - w->given : 0;
	bool renamed;
	int error;

	w->split = true;
	if ((error = finish_pack(w, &renamed)) < 0)
		return error;
	w->before += (uint32_t)w->ents.size;
	w->ents.size = 0;
	w->sealed = false;
	close(w->fd);
	w->fd = -1;
	free(w->tmp_pack);
	free(w->tmp_idx);
	w->tmp_pack = w->tmp_idx = NULL;
	return start_pack(w, left > UINT32_MAX ? UINT32_MAX : (uint32_t)left);
}

int dsync_packw_commit(dsync_packw *w)
{
	bool renamed = false;
	int error;

	if (!dsync_packw_live__(w))
		return dsync_error_set(DSYNC_EUSAGE, "cannot commit pack '%s': %s", packw_name__(w),
				       w->failed ? "an earlier write failed" : "already committed");
	error = finish_pack(w, &renamed);
	/* the temp names are no longer ours to remove */
	if (renamed)
		w->done = true;
	return error;
}

void dsync_packw_free(dsync_packw *w)
{
	if (!w)
		return;
	if (w->backref)
		*w->backref = NULL;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->done) {
		if (w->tmp_pack)
			unlink(w->tmp_pack);
		if (w->tmp_idx)
			unlink(w->tmp_idx);
	}
	dsync_array_dispose(w->ents);
	free(w->slots);
	free(w->wbuf);
	dsync_packw_obj_dispose(&w->scratch);
	free(w->tmp_idx);
	free(w->tmp_pack);
	free(w->dir);
	free(w);
}

int dsync_packw_clean_temp(const char *gitdir, int64_t min_age)
{
	dsync_buf path = DSYNC_BUF_INIT;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int removed = 0;
	time_t now = time(NULL);

	if (dsync_buf_printf(&path, "%s/objects/pack", gitdir) < 0 || (d = opendir(path.ptr)) == NULL) {
		dsync_buf_dispose(&path);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((int64_t)(now - st.st_mtime) < min_age)
			continue;   /* maybe another process's pack in progress */
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	dsync_buf_dispose(&path);
	return removed;
}

/* --- reading the pack in progress (for the odb backend) --- */

int dsync_packw_read__(dsync_packw *w, uint64_t off, void *out, size_t len)
{
	uint64_t buffered = w->off - w->wfill;
	unsigned char *p = out;

	if (off < buffered && off + len > buffered && flush(w) < 0)
		goto fail;
	buffered = w->off - w->wfill;
	if (off >= buffered) {
		memcpy(out, w->wbuf + (off - buffered), len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(w->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
fail:
	git_error_set_str(GIT_ERROR_ODB, "cannot read the pack being written");
	return -1;
}

int dsync_packw_entry__(dsync_packw *w, const git_oid *id, git_object_t *type, uint64_t *size, uint64_t *zoff,
			 size_t *zlen)
{
	unsigned char h[16];
	size_t i, hl, avail;
	uint64_t end, sz;
	uint32_t k;
	int shift;

	if (!w || !dsync_packw_live__(w) || !dsync_packw_has(w, id))
		return GIT_ENOTFOUND;
	k = w->slots[slot_of(w, id)] - 1;
	end = k + 1 < w->ents.size ? w->ents.ptr[k + 1].offset : w->off;
	avail = end - w->ents.ptr[k].offset < sizeof(h) ? (size_t)(end - w->ents.ptr[k].offset) : sizeof(h);
	if (dsync_packw_read__(w, w->ents.ptr[k].offset, h, avail) < 0)
		return -1;
	/* written here, so well formed: type, then the size 4 + 7 * n bits */
	*type = (git_object_t)((h[0] >> 4) & 7);
	sz = h[0] & 0x0f;
	for (i = 0, shift = 4; h[i] & 0x80 && i + 1 < avail; shift += 7)
		sz |= (uint64_t)(h[++i] & 0x7f) << shift;
	hl = i + 1;
	*size = sz;
	*zoff = w->ents.ptr[k].offset + hl;
	*zlen = (size_t)(end - *zoff);
	return 0;
}
