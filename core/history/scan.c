/*
 * The tree walk: reads the working tree into a sorted list of entries as git
 * would store them, using the index as a stat cache so that an unchanged
 * file costs one lstat.  dsync walks the tree itself: libgit2's add-all
 * stops at a nested repository, obeys the user's ignore files and fails
 * everything on one unreadable file (DESIGN.md section 3).
 *
 * Two phases, each adding to one list (scan_list.c).  Discovery
 * (scan_discover.c) lists every folder and lstats every file, in parallel.
 * Reading then hashes or stores the files whose stat changed: in one thread
 * into the object database (scan_read.c; libgit2's objects are not to be
 * shared between threads), or, when a snapshot has much to store, on worker
 * threads into a pack (scan_pack.c).  This file runs the two phases.
 */
#include "core/base/internal.h"
#include "core/history/scan.h"
#include "core/history/scan_discover.h"
#include "core/history/scan_read.h"
#include "core/base/chunks.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
/* A snapshot with at least this much to store writes a pack (scan_pack.c);
 * a smaller one, loose objects as before (a pack per small snapshot would
 * make many packs between two gc runs). */
#define PACK_MIN_FILES 64
#define PACK_MIN_BYTES SCAN_LOOSE_WHOLE

typedef scan_reader reader;

int scan_chunking(uint64_t *threshold, dsync_chunker *chunker, dsync_folder *f)
{
	git_config *cfg = NULL;
	int64_t v = DSYNC_CHUNK_THRESHOLD;
	int err;

	if ((err = git_repository_config_snapshot(&cfg, f->repo)) < 0)
		return dsync_error_git(err, "cannot read the config of '%s'", f->root);
	err = git_config_get_int64(&v, cfg, "dsync.chunkThreshold");
	git_config_free(cfg);
	if (err < 0 && err != GIT_ENOTFOUND)
		return dsync_error_git(err, "bad dsync.chunkThreshold in '%s'", f->root);
	*threshold = v > 0 ? (uint64_t)v : 0;
	return *threshold ? dsync_folder_chunker(chunker, f) : 0;
}

static int chunking(reader *r, dsync_folder *f)
{
	return scan_chunking(&r->threshold, &r->chunker, f);
}

/* Whether the reading phase of OUT has enough to store for a pack. */
static bool worth_a_pack(const scan_list *out, uint32_t *files)
{
	uint64_t bytes = 0;
	int64_t min;
	size_t i, n = 0;

	for (i = 0; i < out->n; i++)
		if (out->v[i].flags & SCAN_READ) {
			n++;
			bytes += out->v[i].st.size;
		}
	*files = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	/* test builds only: DSYNC_TEST_SNAPSHOT_PACK_MIN=N packs from N files
	 * (and never by size), so that a test can make loose objects pile up in
	 * a few snapshots (the daemon's gc) */
	min = DSYNC_TEST_KNOB("DSYNC_TEST_SNAPSHOT_PACK_MIN", -1);
	if (min >= 0)
		return n >= (uint64_t)min;
	return n >= PACK_MIN_FILES || bytes >= PACK_MIN_BYTES;
}

/*
 * How many objects a snapshot writes besides the files read of OUT (sorted):
 * a tree for each folder holding one of them or a folder that does, the
 * root's, and the commit: they go into the same pack (snapshot.c), whose
 * header counts its objects before they are written.  Exact for a first
 * snapshot; a wrong guess costs at most a second hash of a pack (packw.h).
 * Sorted, the files of a folder are next to each other: a folder is new
 * when the file before was not in it.
 */
static uint32_t trees_to_write(const scan_list *out)
{
	const char *prev = "";
	size_t prevlen = 0, i;
	uint64_t n = 2;   /* the root's tree, the commit */

	for (i = 0; i < out->n; i++) {
		const char *p = out->v[i].path, *slash = strrchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : 0, m = 0, j;
		uint64_t comps = len > 0, shared = 0;

		if (!(out->v[i].flags & SCAN_READ))
			continue;
		while (m < len && m < prevlen && p[m] == prev[m])
			m++;
		for (j = 0; j < len; j++)
			if (p[j] == '/') {
				comps++;
				shared += j < m;
			}
		/* the folder ending where the match ends, in both */
		shared += m > 0 && (m == len || p[m] == '/') && (m == prevlen || prev[m] == '/');
		n += comps - shared;
		prev = p;
		prevlen = len;
	}
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* The mean chunk of random bytes (a 1 GiB file cut into 28,851 chunks):
 * media, archives and the like cut alike; a file of repeats cuts fewer,
 * longer chunks, and dedup drops some, which the pack writer's guess
 * allows for (packw.h). */
#define CHUNK_MEAN_GUESS (36u * 1024)

/*
 * How many objects the big files read of OUT (those over THRESHOLD, 0:
 * none) add to the one each counts as: a guess of their chunks, a tree per
 * group of chunks, the marker and the chunk tree, less the file itself.
 */
static uint64_t chunks_to_write(const scan_list *out, uint64_t threshold)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; threshold && i < out->n; i++)
		if ((out->v[i].flags & SCAN_READ) && (uint64_t)out->v[i].st.size > threshold) {
			uint64_t chunks = (uint64_t)out->v[i].st.size / CHUNK_MEAN_GUESS + 1;

			n += chunks + (chunks + DSYNC_GROUP_MAX - 1) / DSYNC_GROUP_MAX + 1;
		}
	return n;
}

int scan_worktree(scan_list *out, dsync_folder *f, const statcache *cache, bool write, dsync_packw **pack,
		  scan_progress_cb progress, scan_keep_cb keep, void *payload)
{
	reader r;
	size_t i, seen = 0;
	uint32_t files;
	int err, error;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if (pack)
		*pack = NULL;
	r.root = f->root;
	r.gitdir = f->gitdir;
	r.cache = cache;
	r.progress = progress;
	r.payload = payload;
	r.write = write;
	r.keep = keep;
	r.out = out;
	if ((error = scan_discover(out, &seen, f, cache, progress, payload)) < 0)
		goto out;
	r.seen = seen;

	/* every file matched its own cache entry, and there are as many: the
	 * tree is the cache's, and the caller need not even sort */
	for (i = 0; i < out->n && out->v[i].flags == SCAN_CACHED; i++)
		;
	if (i == out->n && out->n == cache->n) {
		out->unchanged = true;
		if (progress)
			progress(seen, 0, payload);
		error = 0;
		goto out;
	}

	/* discovery's per-thread lists, grown by doubling in their own malloc
	 * arenas and freed once copied into OUT, would stay resident through
	 * the reading (a third of a big walk's memory): their pages go back.
	 * Not for a small walk's few pages, nor when nothing is to be read */
	if (out->n >= SCAN_TRIM_MIN)
		malloc_trim(0);

	/* read what changed, in a stable order */
	scan_list_sort(out);
	if ((r.chunk = malloc(CHUNK)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	if ((error = dsync_folder_repo(f)) < 0)
		goto out;
	if ((err = git_repository_odb(&r.odb, f->repo)) < 0) {
		error = dsync_error_git(err, "cannot open the object store of '%s'", f->root);
		goto out;
	}
	if ((error = chunking(&r, f)) < 0)
		goto out;
	if (write && pack && worth_a_pack(out, &files)) {
		uint64_t objects = (uint64_t)files + trees_to_write(out) + chunks_to_write(out, r.threshold);

		if ((error = dsync_packw_open(&r.pack, r.odb, f->gitdir,
					      objects > UINT32_MAX ? UINT32_MAX : (uint32_t)objects)) < 0)
			goto out;
		if ((error = scan_read_parallel(&r)) < 0)
			goto out;
	}
	for (i = r.next; i < out->n; i++) {
		bool drop = false;

		if ((out->v[i].flags & SCAN_READ) && (error = scan_read_entry(&r, &out->v[i], true, &drop)) < 0)
			goto out;
		if ((error = scan_finish_to(&r, i, drop)) < 0)
			goto out;
	}
	out->n = r.kept;
	if (progress)
		progress(seen, out->hashed_bytes, payload);
	if (pack) {
		*pack = r.pack;
		r.pack = NULL;
	}
	error = 0;
out:
	if (error < 0)
		scan_list_dispose(out);
	dsync_packw_free(r.pack);
	git_odb_free(r.odb);
	free(r.chunk);
	return error;
}
