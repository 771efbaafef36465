/*
 * Thin packs for pushes (see thinpack.h): which objects, with which delta
 * bases, and the packfile itself (pack-format.txt: "PACK", version 2, the
 * object count, each object as a type-and-size header and zlib data, a
 * REF_DELTA as the base's id and the zlib'd delta, then the SHA-1 of it all).
 */
#include "core/base/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/base/delta.h"
#include "core/base/oidset.h"
#include "core/base/sha1.h"
#include "core/base/zcomp.h"
#include "core/store/thinpack.h"

#define OUT_BLOCK (64 * 1024)
#define OBJ_REF_DELTA 7
#define DELTA_MIN 64          /* smaller objects go whole */

void dsync_thinpack_list_dispose(dsync_thinpack_list *l)
{
	dsync_array_dispose(*l);
}

typedef struct lister {
	dsync_thinpack_list *l;
	git_repository *repo;
	dsync_oidset held;      /* the remote has these */
	dsync_oidset packed;    /* in the pack already */
} lister;

static int add(lister *w, const git_oid *id, const git_oid *base)
{
	dsync_thinpack_entry e = { .id = *id };
	int error;

	if ((error = dsync_oidset_add(&w->packed, id)) <= 0)
		return error;
	if (base && !git_oid_equal(base, id) &&
	    (dsync_oidset_has(&w->held, base) || dsync_oidset_has(&w->packed, base))) {
		e.base = *base;
		e.has_base = true;
	}
	return dsync_array_push(*w->l, e) < 0 ? dsync_error_oom() : 0;
}

static bool known(const lister *w, const git_oid *id)
{
	return dsync_oidset_has(&w->held, id) || dsync_oidset_has(&w->packed, id);
}

/* Marks everything below tree ID as held. */
static int mark_held(lister *w, const git_oid *id)
{
	git_tree *t = NULL;
	size_t i;
	int err, error;

	if ((error = dsync_oidset_add(&w->held, id)) <= 0)
		return error;
	error = 0;
	if ((err = git_tree_lookup(&t, w->repo, id)) < 0)
		return dsync_error_git(err, "cannot read a folder the remote holds");
	for (i = 0; i < git_tree_entrycount(t) && error == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);

		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			error = mark_held(w, git_tree_entry_id(e));
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
			error = dsync_oidset_add(&w->held, git_tree_entry_id(e)) < 0 ? DSYNC_ERROR : 0;
	}
	git_tree_free(t);
	return error;
}

/* Adds tree ID and what below it is new; PARENT (may be NULL) is the same
 * folder in the parent commit, where the bases come from. */
static int add_tree(lister *w, const git_oid *id, const git_tree *parent)
{
	git_tree *t = NULL;
	size_t i;
	int err, error;

	if (known(w, id))
		return 0;
	if ((error = add(w, id, parent ? git_tree_id(parent) : NULL)) < 0)
		return error;
	if ((err = git_tree_lookup(&t, w->repo, id)) < 0)
		return dsync_error_git(err, "cannot read a folder to push");
	for (i = 0; i < git_tree_entrycount(t) && error == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_tree_entry *pe = parent ? git_tree_entry_byname(parent, git_tree_entry_name(e)) : NULL;
		git_object_t type = git_tree_entry_type(e);

		if (known(w, git_tree_entry_id(e)))
			continue;
		if (type == GIT_OBJECT_TREE) {
			git_tree *sub = NULL;

			if (pe && git_tree_entry_type(pe) == GIT_OBJECT_TREE &&
			    git_tree_lookup(&sub, w->repo, git_tree_entry_id(pe)) < 0)
				sub = NULL;
			error = add_tree(w, git_tree_entry_id(e), sub);
			git_tree_free(sub);
		} else if (type == GIT_OBJECT_BLOB) {
			error = add(w, git_tree_entry_id(e),
				    pe && git_tree_entry_type(pe) == GIT_OBJECT_BLOB ? git_tree_entry_id(pe) : NULL);
		}
	}
	git_tree_free(t);
	return error;
}

int dsync_thinpack_list_build(dsync_thinpack_list *out, git_repository *repo, const git_oid *head,
			      const git_oid *hide, size_t n)
{
	lister w = { out, repo, { 0 }, { 0 } };
	git_revwalk *walk = NULL;
	git_oid id;
	size_t i;
	int err, error = 0;

	memset(out, 0, sizeof(*out));
	if ((err = git_revwalk_new(&walk, repo)) < 0 ||
	    (err = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE)) < 0 ||
	    (err = git_revwalk_push(walk, head)) < 0) {
		error = dsync_error_git(err, "cannot walk the history to push");
		goto out;
	}
	for (i = 0; i < n && error == 0; i++) {
		git_commit *c = NULL;

		if (git_commit_lookup(&c, repo, &hide[i]) < 0)
			continue;   /* not here: nothing of it can be left out */
		git_revwalk_hide(walk, &hide[i]);
		error = mark_held(&w, git_commit_tree_id(c));
		git_commit_free(c);
	}
	while (error == 0 && (err = git_revwalk_next(&id, walk)) == 0) {
		git_commit *c = NULL, *p = NULL;
		git_tree *pt = NULL;

		if ((err = git_commit_lookup(&c, repo, &id)) < 0) {
			error = dsync_error_git(err, "cannot read a version to push");
			break;
		}
		if (git_commit_parentcount(c) > 0 && git_commit_parent(&p, c, 0) == 0 && git_commit_tree(&pt, p) < 0)
			pt = NULL;
		if ((error = add(&w, &id, NULL)) == 0)
			error = add_tree(&w, git_commit_tree_id(c), pt);
		git_tree_free(pt);
		git_commit_free(p);
		git_commit_free(c);
	}
	if (error == 0 && err != GIT_ITEROVER && err != 0)
		error = dsync_error_git(err, "cannot walk the history to push");
out:
	dsync_oidset_dispose(&w.held);
	dsync_oidset_dispose(&w.packed);
	git_revwalk_free(walk);
	if (error < 0)
		dsync_thinpack_list_dispose(out);
	return error;
}

/* ---- entries of the local packs, copied as they are --------------------- */

typedef struct reuse_ent {
	git_oid id;
	uint32_t pack;       /* index into packs */
	uint32_t crc;        /* the index's CRC-32 of the entry's bytes */
	uint64_t off, end;   /* the entry: its header and zlib stream */
} reuse_ent;

typedef DSYNC_ARRAY(reuse_ent) reuse_ents;

struct dsync_thinpack_reuse {
	int *packs;          /* the pack files' descriptors */
	size_t npacks;
	reuse_ent *ents;     /* sorted by id */
	size_t n;
};

#define IDX_HEAD (8 + 256 * 4)
#define IDX_BLOCK 4096       /* ids read at a time */
#define REUSE_RATIO 64       /* an index is read for at least one object in this many */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int pread_full(int fd, void *buf, size_t len, uint64_t at)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(at + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_ent(const void *a, const void *b)
{
	return git_oid_cmp(&((const reuse_ent *)a)->id, &((const reuse_ent *)b)->id);
}

/* Adds to R the entries of the pack index IDX (version 2, its pack PACK
 * of PACK_SIZE bytes, R->packs[NUM]) whose ids WANT holds.  An index that
 * does not add up is skipped whole: the objects are then read through
 * libgit2, which says what is wrong. */
static int reuse_add_idx(reuse_ents *ents, int idx, uint64_t idx_size, uint64_t pack_size, uint32_t num,
			 const dsync_oidset *want, size_t nwant)
{
	unsigned char head[IDX_HEAD], *blk = NULL, *tab = NULL;
	uint64_t *sorted = NULL, nlarge = 0, base;
	size_t first = ents->size;
	uint32_t n, i, j;
	int error = 0;

	if (pread_full(idx, head, sizeof(head), 0) < 0 || memcmp(head, "\377tOc\0\0\0\2", 8) != 0)
		return 0;
	n = be32(head + 8 + 255 * 4);
	for (i = 1; i < 256; i++)
		if (be32(head + 8 + 4 * i) < be32(head + 8 + 4 * (i - 1)))
			return 0;
	base = IDX_HEAD;
	/* reading a big index for a few objects costs more than it saves
	 * (an incremental push): they are read through libgit2 */
	if (n / REUSE_RATIO > nwant)
		return 0;
	if (n == 0 || idx_size < base + (uint64_t)n * 28 + 40 || pack_size < 32)
		return 0;
	nlarge = (idx_size - base - (uint64_t)n * 28 - 40) / 8;
	if (base + (uint64_t)n * 28 + nlarge * 8 + 40 != idx_size || nlarge > n)
		return 0;
	/* the offsets (4 bytes each, then the large ones), for the entries' ends */
	if ((tab = malloc((size_t)n * 4 + (size_t)nlarge * 8)) == NULL || (sorted = malloc((size_t)n * 8)) == NULL ||
	    (blk = malloc(IDX_BLOCK * 20)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	if (pread_full(idx, tab, (size_t)n * 4 + (size_t)nlarge * 8, base + (uint64_t)n * 24) < 0)
		goto skip;
	for (i = 0; i < n; i++) {
		uint32_t o = be32(tab + 4 * (size_t)i);

		if (o & 0x80000000u) {
			const unsigned char *l = tab + (size_t)n * 4 + 8 * (size_t)(o & 0x7fffffffu);

			if ((o & 0x7fffffffu) >= nlarge)
				goto skip;
			sorted[i] = (uint64_t)be32(l) << 32 | be32(l + 4);
		} else {
			sorted[i] = o;
		}
		if (sorted[i] < 12 || sorted[i] >= pack_size - 20)
			goto skip;
	}
	/* the ids, a block at a time; the offsets of the wanted ones */
	for (i = 0; i < n; i += IDX_BLOCK) {
		uint32_t take = n - i < IDX_BLOCK ? n - i : IDX_BLOCK;

		if (pread_full(idx, blk, (size_t)take * 20, base + (uint64_t)i * 20) < 0)
			goto skip;
		for (j = 0; j < take; j++) {
			reuse_ent e = { .pack = num, .off = sorted[i + j] };

			git_oid_fromraw(&e.id, blk + 20 * (size_t)j);
			if (!dsync_oidset_has(want, &e.id))
				continue;
			e.crc = i + j;   /* its position, for its CRC below */
			if (dsync_array_push(*ents, e) < 0) {
				error = dsync_error_oom();
				goto out;
			}
		}
	}
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	for (i = 1; i < n; i++)
		if (sorted[i] == sorted[i - 1])
			goto skip;
	for (j = (uint32_t)first; j < ents->size; j++) {
		reuse_ent *e = &ents->ptr[j];
		uint64_t *at = bsearch(&e->off, sorted, n, sizeof(*sorted), cmp_u64);
		unsigned char crc[4];

		e->end = at && at + 1 < sorted + n ? at[1] : pack_size - 20;
		if (pread_full(idx, crc, 4, base + (uint64_t)n * 20 + 4 * (uint64_t)e->crc) < 0)
			goto skip;
		e->crc = be32(crc);
	}
	goto out;
skip:
	ents->size = first;
out:
	free(tab);
	free(sorted);
	free(blk);
	return error;
}

int dsync_thinpack_reuse_open(dsync_thinpack_reuse **out, git_repository *repo, const dsync_thinpack_list *l)
{
	reuse_ents ents = DSYNC_ARRAY_INIT;
	dsync_thinpack_reuse *r;
	dsync_oidset want = { 0 };
	dsync_buf dir = DSYNC_BUF_INIT, path = DSYNC_BUF_INIT;
	DIR *d = NULL;
	struct dirent *de;
	size_t i, nwant = 0, before;
	int error = 0;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return dsync_error_oom();
	for (i = 0; i < l->size && error == 0; i++)
		if (!l->ptr[i].has_base) {
			error = dsync_oidset_add(&want, &l->ptr[i].id) < 0 ? DSYNC_ERROR : 0;
			nwant++;
		}
	if (error < 0 || (error = dsync_buf_printf(&dir, "%sobjects/pack", git_repository_path(repo))) < 0)
		goto out;
	if ((d = opendir(dir.ptr)) == NULL)
		goto out;   /* no packs: nothing to reuse */
	while (error == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct stat ist, pst;
		int idx = -1, pack = -1, *more;

		if (len < 10 || strncmp(de->d_name, "pack-", 5) != 0 || strcmp(de->d_name + len - 4, ".idx") != 0)
			continue;
		dsync_buf_truncate(&path, 0);
		if ((error = dsync_buf_printf(&path, "%s/%.*s.pack", dir.ptr, (int)(len - 4), de->d_name)) < 0)
			break;
		if ((pack = open(path.ptr, O_RDONLY | O_CLOEXEC)) < 0 || fstat(pack, &pst) < 0 ||
		    (idx = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC)) < 0 || fstat(idx, &ist) < 0 ||
		    (more = realloc(r->packs, (r->npacks + 1) * sizeof(*r->packs))) == NULL) {
			if (pack >= 0)
				close(pack);
			if (idx >= 0)
				close(idx);
			continue;   /* gone meanwhile, or unreadable: read through libgit2 */
		}
		r->packs = more;
		before = ents.size;
		error = reuse_add_idx(&ents, idx, (uint64_t)ist.st_size, (uint64_t)pst.st_size, (uint32_t)r->npacks,
				      &want, nwant);
		if (ents.size > before)
			r->packs[r->npacks++] = pack;
		else
			close(pack);
		close(idx);
	}
	if (error == 0 && ents.size > 0)
		qsort(ents.ptr, ents.size, sizeof(*ents.ptr), cmp_ent);
out:
	if (d)
		closedir(d);
	dsync_oidset_dispose(&want);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&path);
	r->ents = ents.ptr;
	r->n = ents.size;
	if (error < 0) {
		dsync_thinpack_reuse_free(r);
		return error;
	}
	*out = r;
	return 0;
}

void dsync_thinpack_reuse_free(dsync_thinpack_reuse *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->npacks; i++)
		close(r->packs[i]);
	free(r->packs);
	free(r->ents);
	free(r);
}

static const reuse_ent *reuse_find(const dsync_thinpack_reuse *r, const git_oid *id)
{
	reuse_ent key;

	if (!r || r->n == 0)
		return NULL;
	key.id = *id;
	return bsearch(&key, r->ents, r->n, sizeof(*r->ents), cmp_ent);
}

/* Whether entry E of R holds a whole object (not a delta): its type code,
 * raw size and (HL, may be NULL) the length of its header. */
static bool entry_head(const dsync_thinpack_reuse *r, const reuse_ent *e, int *type, uint64_t *size, size_t *hl)
{
	unsigned char head[16];
	size_t n = e->end - e->off < sizeof(head) ? (size_t)(e->end - e->off) : sizeof(head), i;
	unsigned shift = 4;

	if (n < 2 || pread_full(r->packs[e->pack], head, n, e->off) < 0)
		return false;
	*type = (head[0] >> 4) & 7;
	*size = head[0] & 15;
	for (i = 0; head[i] & 0x80; i++) {
		if (i + 1 >= n || shift > 57)
			return false;
		*size |= (uint64_t)(head[i + 1] & 0x7f) << shift;
		shift += 7;
	}
	if (hl)
		*hl = i + 1;
	return *type >= 1 && *type <= 4 && i + 1 < e->end - e->off;
}

int dsync_thinpack_list_cut(size_t **cuts, size_t *ncuts, const dsync_thinpack_list *l, git_repository *repo,
			    const dsync_thinpack_reuse *reuse, uint64_t max)
{
	DSYNC_ARRAY(size_t) v = DSYNC_ARRAY_INIT;
	git_odb *odb = NULL;
	uint64_t sum = 0;
	size_t i;
	int err, error = 0;

	*cuts = NULL;
	*ncuts = 0;
	if (l->size == 0)
		return 0;
	if ((err = git_repository_odb(&odb, repo)) < 0)
		return dsync_error_git(err, "cannot read the history to push");
	for (i = 0; i < l->size && error == 0; i++) {
		const reuse_ent *e = l->ptr[i].has_base ? NULL : reuse_find(reuse, &l->ptr[i].id);
		git_object_t type;
		size_t size;
		uint64_t esize;
		int etype;

		/* from the local pack's entry when it is whole: libgit2 would map
		 * the pack's pages around every header into memory */
		if (e && entry_head(reuse, e, &etype, &esize, NULL) && esize <= SIZE_MAX) {
			size = (size_t)esize;
		} else if ((err = git_odb_read_header(&size, &type, odb, &l->ptr[i].id)) < 0) {
			error = dsync_error_git(err, "cannot read an object to push");
			break;
		}
		if (i > 0 && sum > 0 && (uint64_t)size > max - (sum < max ? sum : max)) {
			if (dsync_array_push(v, i) < 0)
				error = dsync_error_oom();
			sum = 0;
		}
		sum += (uint64_t)size;
	}
	if (error == 0 && dsync_array_push(v, l->size) < 0)
		error = dsync_error_oom();
	git_odb_free(odb);
	if (error < 0) {
		dsync_array_dispose(v);
		return error;
	}
	*cuts = v.ptr;
	*ncuts = v.size;
	return 0;
}

/* ---- the packfile ------------------------------------------------------- */

/* How an object's zlib stream is made (core/base/zcomp.h, as the local
 * packs decide): what does not compress goes in stored blocks, which cost a
 * copy and an adler32 and which every zlib reads; deltas, and whole objects
 * that compress while the pack has deflated less than FINE_BUDGET of them
 * (what an incremental push sends), at the default level; beyond that at the
 * fastest level (on the corpus of bench/corpus.pl, level 1 made its text 2%
 * larger than level 6 in a third of the time). */
#define FINE_BUDGET ((uint64_t)1 << 20)

/* Objects up to this size are compressed whole, into a buffer as big (files
 * up to 8 MiB are one object, docs/chunks.md); a bigger one (chunking turned
 * off) streams through zlib in OUT_BLOCK pieces, so memory stays bounded. */
#define WHOLE_MAX ((size_t)8 << 20)

typedef struct writer {
	int fd;
	dsync_sha1 sha;
	unsigned char *buf, *zout;
	size_t fill;
	dsync_zcomp *zc;
	unsigned char *whole;   /* the stream of an object of WHOLE_MAX or less */
	size_t whole_cap;
	z_stream z;             /* the stream of a bigger one */
	bool z_ready;
	uint64_t fine;          /* bytes of whole objects deflated at the default level */
	dsync_thinpack_tap tap;
	void *tap_payload;
} writer;

static int flush_out(writer *w)
{
	size_t at = 0;

	while (at < w->fill) {
		ssize_t n = write(w->fd, w->buf + at, w->fill - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dsync_error_sys(errno, "cannot write a pack");
		at += (size_t)n;
	}
	w->fill = 0;
	return 0;
}

static int emit(writer *w, const void *data, size_t len)
{
	const unsigned char *p = data;
	int error;

	dsync_sha1_update(&w->sha, data, len);
	if (w->tap)
		w->tap(data, len, w->tap_payload);
	while (len) {
		size_t take = OUT_BLOCK - w->fill < len ? OUT_BLOCK - w->fill : len;

		memcpy(w->buf + w->fill, p, take);
		w->fill += take;
		p += take;
		len -= take;
		if (w->fill == OUT_BLOCK && (error = flush_out(w)) < 0)
			return error;
	}
	return 0;
}

static int emit_header(writer *w, int type, size_t size)
{
	unsigned char b[16];
	size_t n = 0;

	b[n] = (unsigned char)((type << 4) | (size & 15));
	size >>= 4;
	while (size) {
		b[n++] |= 0x80;
		b[n] = (unsigned char)(size & 0x7f);
		size >>= 7;
	}
	return emit(w, b, n + 1);
}

/* How an object of LEN bytes at DATA is compressed (DSYNC_ZCOMP_*), as
 * FINE_BUDGET says.  Depends only on the bytes and the objects before it,
 * so a pack written again is the same. */
static int object_method(writer *w, const unsigned char *data, size_t len)
{
	int m = dsync_zcomp_choose(w->zc, data, len, w->fine < FINE_BUDGET && len <= FINE_BUDGET - w->fine);

	if (m == DSYNC_ZCOMP_FINE)
		w->fine += len;
	return m;
}

/* The zlib stream of an object bigger than WHOLE_MAX, by METHOD, a piece at
 * a time. */
static int emit_streamed(writer *w, int method, const unsigned char *data, size_t len)
{
	z_stream *z = &w->z;
	int zr, error;

	if (!w->z_ready) {
		if (deflateInit(z, Z_BEST_SPEED) != Z_OK)
			return dsync_error_set(DSYNC_ERROR, "cannot compress a pack");
		w->z_ready = true;
	}
	if (deflateReset(z) != Z_OK ||
	    deflateParams(z, method == DSYNC_ZCOMP_STORE  ? Z_NO_COMPRESSION
			     : method == DSYNC_ZCOMP_FINE ? Z_DEFAULT_COMPRESSION
							  : Z_BEST_SPEED,
			  method == DSYNC_ZCOMP_HUFFMAN ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY) != Z_OK)
		return dsync_error_set(DSYNC_ERROR, "cannot compress a pack");
	z->next_in = (Bytef *)(uintptr_t)data;
	do {
		/* zlib counts in uInt: feed it at most 1 GiB at a time */
		if (z->avail_in == 0 && len) {
			size_t take = len > (1u << 30) ? (1u << 30) : len;

			z->avail_in = (uInt)take;
			len -= take;
		}
		z->next_out = w->zout;
		z->avail_out = OUT_BLOCK;
		zr = deflate(z, len ? Z_NO_FLUSH : Z_FINISH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return dsync_error_set(DSYNC_ERROR, "cannot compress a pack");
		if ((error = emit(w, w->zout, OUT_BLOCK - z->avail_out)) < 0)
			return error;
	} while (zr != Z_STREAM_END);
	return 0;
}

static int emit_compressed(writer *w, int method, const void *data, size_t len)
{
	size_t need = dsync_zcomp_bound(len);

	if (len > WHOLE_MAX)
		return emit_streamed(w, method, data, len);
	if (need > w->whole_cap) {
		unsigned char *p = realloc(w->whole, need);

		if (p == NULL)
			return dsync_error_oom();
		w->whole = p;
		w->whole_cap = need;
	}
	return emit(w, w->whole, dsync_zcomp_write(w->zc, method, w->whole, data, len));
}

/* Copies entry E of a local pack into the pack as it is, when it holds a
 * whole object (*USED set); the CRC-32 the pack's index keeps is checked
 * on the way (a damaged local pack fails the push rather than going out). */
static int emit_reused(writer *w, const dsync_thinpack_reuse *r, const reuse_ent *e, bool *used)
{
	uint64_t at = e->off, size;
	uint32_t crc = 0;
	int type, error;

	*used = entry_head(r, e, &type, &size, NULL);
	while (*used && at < e->end) {
		size_t take = e->end - at < OUT_BLOCK ? (size_t)(e->end - at) : OUT_BLOCK;

		if (pread_full(r->packs[e->pack], w->zout, take, at) < 0)
			return dsync_error_sys(errno ? errno : EIO, "cannot read a pack of the history");
		crc = dsync_crc32(crc, w->zout, take);
		if ((error = emit(w, w->zout, take)) < 0)
			return error;
		at += take;
	}
	if (*used && crc != e->crc)
		return dsync_error_set(DSYNC_ECORRUPT,
				       "a pack of the history is damaged (an entry's checksum differs)");
	return 0;
}

static int type_code(git_object_t t)
{
	switch (t) {
	case GIT_OBJECT_COMMIT:
		return 1;
	case GIT_OBJECT_TREE:
		return 2;
	case GIT_OBJECT_BLOB:
		return 3;
	case GIT_OBJECT_TAG:
		return 4;
	default:
		return -1;
	}
}

int dsync_thinpack_write(int fd, git_repository *repo, const dsync_thinpack_list *l, dsync_thinpack_progress_cb cb,
			 void *payload)
{
	return dsync_thinpack_write_tap(fd, repo, l, cb, payload, NULL, NULL, NULL);
}

int dsync_thinpack_write_tap(int fd, git_repository *repo, const dsync_thinpack_list *l,
			     dsync_thinpack_progress_cb cb, void *payload, const dsync_thinpack_reuse *reuse,
			     dsync_thinpack_tap tap, void *tap_payload)
{
	writer w = { .tap = tap, .tap_payload = tap_payload };
	git_odb *odb = NULL;
	dsync_buf delta = DSYNC_BUF_INIT;
	unsigned char head[12] = { 'P', 'A', 'C', 'K', 0, 0, 0, 2 }, sum[20];
	size_t i;
	int err, error = 0;

	w.fd = fd;
	dsync_sha1_init(&w.sha);
	w.buf = malloc(OUT_BLOCK);
	w.zout = malloc(OUT_BLOCK);
	w.zc = dsync_zcomp_new();
	if (!w.buf || !w.zout || !w.zc || l->size > UINT32_MAX) {
		error = dsync_error_oom();
		goto out;
	}
	if ((err = git_repository_odb(&odb, repo)) < 0) {
		error = dsync_error_git(err, "cannot read the history to push");
		goto out;
	}
	head[8] = (unsigned char)(l->size >> 24);
	head[9] = (unsigned char)(l->size >> 16);
	head[10] = (unsigned char)(l->size >> 8);
	head[11] = (unsigned char)l->size;
	if ((error = emit(&w, head, sizeof(head))) < 0)
		goto out;
	for (i = 0; i < l->size && error == 0; i++) {
		git_odb_object *obj = NULL, *base = NULL;
		const unsigned char *data;
		const reuse_ent *re;
		size_t size;
		bool used = false;
		int type;

		if (!l->ptr[i].has_base && (re = reuse_find(reuse, &l->ptr[i].id)) != NULL &&
		    ((error = emit_reused(&w, reuse, re, &used)) < 0 || used)) {
			if (cb && (i % 64 == 0 || i + 1 == l->size))
				cb(i + 1, l->size, payload);
			continue;
		}
		if ((err = git_odb_read(&obj, odb, &l->ptr[i].id)) < 0) {
			error = dsync_error_git(err, "cannot read an object to push");
			break;
		}
		data = git_odb_object_data(obj);
		size = git_odb_object_size(obj);
		type = type_code(git_odb_object_type(obj));
		dsync_buf_truncate(&delta, 0);
		if (type < 0) {
			error = dsync_error_set(DSYNC_ERROR, "cannot push an object of an unknown type");
		} else if (l->ptr[i].has_base && size >= DELTA_MIN && git_odb_read(&base, odb, &l->ptr[i].base) == 0 &&
			   git_odb_object_type(base) == git_odb_object_type(obj) &&
			   (error = dsync_delta_make(&delta, git_odb_object_data(base), git_odb_object_size(base),
						     data, size, size / 2)) == 0) {
			if ((error = emit_header(&w, OBJ_REF_DELTA, delta.len)) == 0 &&
			    (error = emit(&w, l->ptr[i].base.id, GIT_OID_RAWSZ)) == 0)
				error = emit_compressed(&w, DSYNC_ZCOMP_FINE, delta.ptr, delta.len);
		} else if (error >= 0) {
			if ((error = emit_header(&w, type, size)) == 0)
				error = emit_compressed(&w, object_method(&w, data, size), data, size);
		}
		git_odb_object_free(base);
		git_odb_object_free(obj);
		if (cb && (i % 64 == 0 || i + 1 == l->size))
			cb(i + 1, l->size, payload);
	}
	if (error < 0)
		goto out;
	dsync_sha1_final(&w.sha, sum);
	if ((error = emit(&w, sum, sizeof(sum))) == 0)
		error = flush_out(&w);
out:
	if (w.z_ready)
		deflateEnd(&w.z);
	dsync_zcomp_free(w.zc);
	free(w.whole);
	git_odb_free(odb);
	dsync_buf_dispose(&delta);
	free(w.buf);
	free(w.zout);
	return error;
}
