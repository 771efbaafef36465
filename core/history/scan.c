/*
 * The tree walk: reads the working tree into a sorted list of entries as git
 * would store them, using the index as a stat cache so that an unchanged
 * file costs one lstat.  dsync walks the tree itself: libgit2's add-all
 * stops at a nested repository, obeys the user's ignore files and fails
 * everything on one unreadable file (DESIGN.md section 3).
 *
 * Two phases.  Discovery lists every folder and lstats every file, in
 * parallel like git's preload-index (folders are jobs on a shared queue; the
 * stat cache and the ignore rules are read-only, each thread keeps its own
 * list).  Reading then hashes or stores the files whose stat changed, in one
 * thread, since libgit2's objects are not to be shared between threads.
 */
#include "core/base/internal.h"
#include "core/history/scan.h"
#include "core/base/chunks.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

/* Files up to this size are read whole; larger ones are streamed. */
#define SMALL_FILE (1024 * 1024)
#define CHUNK (64 * 1024)
#define READ_TRIES 3
#define MAX_THREADS 4

enum { SCAN_READ = 1 << 8 };  /* discovery: content must be read */

/* ---------------------------------------------------------------- lists */

static int problem(scan_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int problem(scan_list *l, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dsync_strlist_add(&l->problems, msg);
}

/* Room for N entries in L. */
static int reserve(scan_list *l, size_t n)
{
	if (n > l->cap && dsync_array_grow_(&l->v, &l->cap, n, sizeof(*l->v)) < 0)
		return dsync_error_oom();
	return 0;
}

static void to_scan_stat(scan_stat *out, const struct stat *st)
{
	out->mtime_s = st->st_mtim.tv_sec;
	out->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	out->ctime_s = st->st_ctim.tv_sec;
	out->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
	out->dev = (uint64_t)st->st_dev;
	out->ino = (uint64_t)st->st_ino;
	out->size = (uint64_t)st->st_size;
	out->uid = st->st_uid;
	out->gid = st->st_gid;
	out->st_mode = st->st_mode;
}

static int push(scan_list *l, const char *path, uint32_t mode, const git_oid *oid,
		const struct stat *st, unsigned flags)
{
	scan_entry *e;
	int error;

	if ((error = reserve(l, l->n + 1)) < 0)
		return error;
	e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	if ((e->path = strdup(path)) == NULL)
		return dsync_error_oom();
	e->mode = mode;
	if (oid)
		git_oid_cpy(&e->oid, oid);
	if (st)
		to_scan_stat(&e->st, st);
	e->flags = flags;
	l->n++;
	return 0;
}

static void index_entry_stat(struct stat *st, const statcache_entry *ie)
{
	memset(st, 0, sizeof(*st));
	st->st_mtim.tv_sec = ie->mtime_s;
	st->st_mtim.tv_nsec = ie->mtime_ns;
	st->st_ctim.tv_sec = ie->ctime_s;
	st->st_ctim.tv_nsec = ie->ctime_ns;
	st->st_dev = ie->dev;
	st->st_ino = ie->ino;
	st->st_uid = ie->uid;
	st->st_gid = ie->gid;
	st->st_size = ie->size;
}

/* Keeps the cache's version of PATH (stored form) in L, if it has one. */
static int keep_previous(scan_list *l, const statcache *cache, const char *path, bool *kept)
{
	const statcache_entry *ie = statcache_find(cache, path);
	struct stat st;

	*kept = ie != NULL;
	if (!ie)
		return 0;
	index_entry_stat(&st, ie);
	/* a zero mtime makes the next walk look at it again */
	st.st_mtim.tv_sec = 0;
	st.st_mtim.tv_nsec = 0;
	return push(l, path, ie->mode, &ie->id, &st, SCAN_KEPT);
}

/* Keeps every cached entry below the stored folder DIR (unreadable). */
static int keep_previous_dir(scan_list *l, const statcache *cache, const char *dir)
{
	dsync_buf prefix = DSYNC_BUF_INIT;
	size_t pos;
	int error;

	if ((error = dsync_buf_printf(&prefix, "%s/", dir)) < 0)
		return error;
	for (pos = statcache_lower_bound(cache, prefix.ptr); pos < cache->n; pos++) {
		const char *path = cache->v[pos].path;
		bool kept;

		if (strncmp(path, prefix.ptr, prefix.len) != 0)
			break;
		if ((error = keep_previous(l, cache, path, &kept)) < 0)
			break;
	}
	dsync_buf_dispose(&prefix);
	return error;
}

static bool stat_matches(const statcache_entry *ie, const struct stat *st, uint32_t mode,
			 const struct timespec *index_mtime)
{
	if (ie->stale || ie->mode != mode || ie->mtime_s != (uint32_t)st->st_mtim.tv_sec ||
	    ie->mtime_ns != (uint32_t)st->st_mtim.tv_nsec ||
	    ie->ctime_s != (uint32_t)st->st_ctim.tv_sec ||
	    ie->ctime_ns != (uint32_t)st->st_ctim.tv_nsec ||
	    ie->ino != (uint32_t)st->st_ino || ie->size != (uint32_t)st->st_size)
		return false;
	/* racily clean: changed in the same instant the index was written */
	if (index_mtime && (st->st_mtim.tv_sec > index_mtime->tv_sec ||
			    (st->st_mtim.tv_sec == index_mtime->tv_sec &&
			     st->st_mtim.tv_nsec >= index_mtime->tv_nsec)))
		return false;
	return true;
}

static bool same_version(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

static uint32_t git_mode(const struct stat *st)
{
	return S_ISLNK(st->st_mode) ? GIT_FILEMODE_LINK
	       : (st->st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE
					 : GIT_FILEMODE_BLOB;
}

/* ------------------------------------------------------------ discovery */

typedef struct job {
	char *real;    /* folder-relative, as on disk ("" the root) */
	char *stored;  /* as stored */
} job;

typedef struct discovery {
	const char *root;
	int rootfd;
	const statcache *cache;
	const struct timespec *index_mtime;
	const dsync_ignore *ign;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	DSYNC_ARRAY(job) jobs;  /* the queue (a stack: depth first) */
	size_t busy;           /* jobs being worked on */
	bool failed;
	int error;             /* the first error, with its message */
	char message[1024];
	size_t seen;           /* files seen (atomic) */
	git_oid empty_blob;    /* the empty blob's id, for empty-folder markers */
	scan_progress_cb progress;
	void *payload;
} discovery;

typedef struct worker {
	discovery *d;
	scan_list out;
	bool main;             /* the calling thread: reports progress */
	pthread_t thread;
} worker;

static int add_job(discovery *d, const char *real, const char *stored)
{
	job j;
	int error = 0;

	if ((j.real = strdup(real)) == NULL || (j.stored = strdup(stored)) == NULL) {
		free(j.real);
		return dsync_error_oom();
	}
	pthread_mutex_lock(&d->lock);
	if (dsync_array_push(d->jobs, j) < 0) {
		error = dsync_error_oom();
	} else {
		j.real = j.stored = NULL;
		pthread_cond_signal(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
	free(j.real);
	free(j.stored);
	return error;
}

/* The cache entry for STORED within the cache's range [LO, HI) (the folder's
 * entries: a short search). */
static const statcache_entry *find_in(const statcache *c, size_t lo, size_t hi, const char *stored)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->v[mid].path, stored);

		if (cmp == 0)
			return &c->v[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Records one file or link of the folder being discovered; the folder's
 * cache entries are in [LO, HI). */
static int discover_file(worker *w, const char *real, const char *stored, const struct stat *st,
			 size_t lo, size_t hi)
{
	discovery *d = w->d;
	uint32_t mode = git_mode(st);
	const statcache_entry *ie = find_in(d->cache, lo, hi, stored);
	size_t seen = __atomic_add_fetch(&d->seen, 1, __ATOMIC_RELAXED);
	int error;

	if (w->main && d->progress && (seen % 1000) == 0)
		d->progress(seen, 0, d->payload);
	/* a big file is a chunk tree, held in the index as a 160000 entry */
	if (ie && ie->mode == GIT_FILEMODE_COMMIT && S_ISREG(st->st_mode))
		mode = GIT_FILEMODE_COMMIT;
	if (ie && stat_matches(ie, st, mode, d->index_mtime))
		return push(&w->out, stored, mode, &ie->id, st, SCAN_CACHED);
	if ((error = push(&w->out, stored, mode, NULL, st, SCAN_READ)) < 0)
		return error;
	if ((w->out.v[w->out.n - 1].real = strdup(real)) == NULL)
		return dsync_error_oom();
	return 0;
}

/* Records the stored folder DIR as empty: a marker file in it (the cache's
 * entries for DIR are in [LO, HI)). */
static int push_marker(worker *w, const char *dir, size_t lo, size_t hi)
{
	dsync_buf p = DSYNC_BUF_INIT;
	const statcache_entry *ie;
	int error;

	if ((error = dsync_buf_printf(&p, "%s/" DSYNC_DIR_MARKER, dir)) < 0)
		return error;
	ie = find_in(w->d->cache, lo, hi, p.ptr);
	if (ie && ie->mode == GIT_FILEMODE_BLOB && git_oid_equal(&ie->id, &w->d->empty_blob)) {
		struct stat st;

		index_entry_stat(&st, ie);
		error = push(&w->out, p.ptr, GIT_FILEMODE_BLOB, &ie->id, &st, SCAN_CACHED);
	} else {
		error = push(&w->out, p.ptr, GIT_FILEMODE_BLOB, &w->d->empty_blob, NULL,
			     SCAN_HASHED | SCAN_MARKER);
	}
	dsync_buf_dispose(&p);
	return error;
}

/* NAME cannot even be stat'ed (a folder that can be listed but not entered):
 * whatever it was, its previous version stays. */
static int keep_unstatable(worker *w, const char *real, const char *stored, int errnum)
{
	size_t before = w->out.n;
	bool kept = false;
	int error;

	if ((error = keep_previous(&w->out, w->d->cache, stored, &kept)) < 0 ||
	    (error = keep_previous_dir(&w->out, w->d->cache, stored)) < 0)
		return error;
	return problem(&w->out, "cannot read '%s/%s': %s; %s", w->d->root, real, strerror(errnum),
		       kept || w->out.n > before ? "kept its previous version" : "not stored yet");
}

/* Lists the folder of job J: files are recorded, folders become jobs. */
static int discover_dir(worker *w, const job *j)
{
	discovery *d = w->d;
	dsync_buf real = DSYNC_BUF_INIT, stored = DSYNC_BUF_INIT;
	DIR *dir = NULL;
	struct dirent *e;
	size_t lo, hi, before = w->out.n, subdirs = 0;
	int fd, error = 0;

	fd = *j->real ? openat(d->rootfd, j->real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
		      : openat(d->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		int en = errno;

		if (fd >= 0)
			close(fd);
		if (!*j->real)
			return dsync_error_sys(en, "cannot read the folder '%s'", d->root);
		if (en == ENOENT || en == ENOTDIR || en == ELOOP)
			return 0; /* vanished or replaced while walking */
		if ((error = keep_previous_dir(&w->out, d->cache, j->stored)) < 0)
			return error;
		return problem(&w->out, "cannot read the folder '%s/%s': %s; kept its previous contents",
			       d->root, j->real, strerror(en));
	}
	if ((error = dsync_buf_puts(&real, j->real)) < 0 || (error = dsync_buf_puts(&stored, j->stored)) < 0)
		goto out;
	/* the folder's cache entries: those starting "STORED/" (all at the root) */
	if (*j->stored) {
		if ((error = dsync_buf_put(&stored, "/", 1)) < 0)
			goto out;
		lo = statcache_lower_bound(d->cache, stored.ptr);
		stored.ptr[stored.len - 1] = '0'; /* '/' + 1: just past the range */
		hi = statcache_lower_bound(d->cache, stored.ptr);
		dsync_buf_truncate(&stored, stored.len - 1);
	} else {
		lo = 0;
		hi = d->cache->n;
	}
	while ((errno = 0, e = readdir(dir)) != NULL) {
		const char *nm = e->d_name;
		size_t rl = real.len, sl = stored.len;
		struct stat st;
		bool is_dir, is_link;
		int stat_errno = 0;

		if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
			continue;
		if (strcmp(nm, DSYNC_DIR) == 0)
			continue; /* dsync's own (and a nested folder's) history */
		if (e->d_type == DT_DIR) {
			is_dir = true;
			is_link = false;
		} else if (fstatat(dirfd(dir), nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			is_dir = is_link = false;
			if (errno == ENOENT)
				continue;
			stat_errno = errno; /* unknown type: handled below */
		} else {
			is_dir = S_ISDIR(st.st_mode);
			is_link = S_ISLNK(st.st_mode);
			if (!is_dir && !is_link && !S_ISREG(st.st_mode))
				continue; /* FIFOs, sockets, devices: not kept (docs/format.md) */
		}
		if ((rl && (error = dsync_buf_put(&real, "/", 1)) < 0) ||
		    (error = dsync_buf_puts(&real, nm)) < 0 ||
		    (sl && (error = dsync_buf_put(&stored, "/", 1)) < 0) ||
		    (error = dsync_path_escape(&stored, nm, is_link)) < 0)
			goto out;
		if (stat_errno) {
			error = keep_unstatable(w, real.ptr, stored.ptr, stat_errno);
		} else if (dsync_ignore_match_walked(d->ign, real.ptr, is_dir)) {
			error = 0;
		} else if (is_dir) {
			if ((error = add_job(d, real.ptr, stored.ptr)) == 0)
				subdirs++;
		} else {
			error = discover_file(w, real.ptr, stored.ptr, &st, lo, hi);
		}
		dsync_buf_truncate(&real, rl);
		dsync_buf_truncate(&stored, sl);
		if (error < 0)
			goto out;
	}
	if (errno) {
		error = problem(&w->out, "cannot read the folder '%s/%s': %s", d->root, j->real,
				strerror(errno));
		goto out;
	}
	/* a folder with no file and no folder to store: an empty-folder marker
	 * (a folder holding only empty folders holds their markers) */
	if (*j->stored && w->out.n == before && subdirs == 0)
		error = push_marker(w, stored.ptr, lo, hi);
out:
	closedir(dir);
	dsync_buf_dispose(&real);
	dsync_buf_dispose(&stored);
	return error;
}

static void *discover_loop(void *arg)
{
	worker *w = arg;
	discovery *d = w->d;

	pthread_mutex_lock(&d->lock);
	while (!d->failed) {
		job j;
		int error;

		if (d->jobs.size == 0) {
			if (d->busy == 0)
				break;
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		j = d->jobs.ptr[--d->jobs.size];
		d->busy++;
		pthread_mutex_unlock(&d->lock);
		error = discover_dir(w, &j);
		free(j.real);
		free(j.stored);
		pthread_mutex_lock(&d->lock);
		d->busy--;
		if (error < 0 && !d->failed) {
			d->failed = true;
			d->error = error;
			snprintf(d->message, sizeof(d->message), "%s", dsync_error_last());
		}
		if (d->jobs.size == 0 && d->busy == 0)
			pthread_cond_broadcast(&d->cond);
	}
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static int thread_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("DSYNC_THREADS");

	if (env && *env)
		n = strtol(env, NULL, 10);
	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* Moves the entries and problems of SRC to the end of DST. */
static int append_list(scan_list *dst, scan_list *src)
{
	size_t i;
	int error;

	if ((error = reserve(dst, dst->n + src->n)) < 0)
		return error;
	for (i = 0; i < src->n; i++)
		dst->v[dst->n++] = src->v[i];
	src->n = 0;
	for (i = 0; i < src->problems.size; i++) {
		if ((error = dsync_strlist_add(&dst->problems, src->problems.ptr[i])) < 0)
			return error;
	}
	return 0;
}

static int discover(scan_list *out, discovery *d)
{
	worker w[MAX_THREADS];
	int i, n = thread_count(), started = 1, error;

	memset(w, 0, sizeof(w));
	if ((error = add_job(d, "", "")) < 0)
		return error;
	for (i = 0; i < n; i++) {
		w[i].d = d;
		w[i].main = i == 0;
	}
	for (i = 1; i < n; i++) {
		if (pthread_create(&w[i].thread, NULL, discover_loop, &w[i]) != 0)
			break;
		started++;
	}
	discover_loop(&w[0]);
	for (i = 1; i < started; i++)
		pthread_join(w[i].thread, NULL);
	error = 0;
	if (d->failed)
		error = dsync_error_set(d->error, "%s", d->message);
	if (!error) {
		/* one list of exactly the size needed, each worker's freed as it
		 * is copied: a walk of 100,000 files holds them once, not thrice */
		size_t total = 0;

		for (i = 0; i < started; i++)
			total += w[i].out.n;
		error = reserve(out, total);
	}
	for (i = 0; i < started; i++) {
		if (!error)
			error = append_list(out, &w[i].out);
		scan_list_dispose(&w[i].out);
	}
	return error;
}

/* ------------------------------------------------------------- reading */

typedef struct reader {
	const char *root;
	const statcache *cache;
	git_odb *odb;
	bool write;
	uint64_t threshold;      /* files above it are chunked (0: none) */
	dsync_chunker chunker;
	scan_list *out;
	char *chunk;
	scan_progress_cb progress;
	scan_keep_cb keep;
	void *payload;
} reader;

/* Whether a file of SIZE bytes is stored as a chunk tree. */
static bool chunked(const reader *r, uint64_t size)
{
	return r->threshold && size > r->threshold;
}

/* Writes (or hashes) a blob.  An error here is the store's, never the
 * user file's: a full disk fails the snapshot. */
static int store_buffer(reader *r, git_oid *oid, const void *data, size_t len)
{
	int err;

	git_error_clear(); /* a failed write may say nothing: errno then */
	err = r->write ? git_odb_write(oid, r->odb, data, len, GIT_OBJECT_BLOB)
		       : git_odb_hash(oid, data, len, GIT_OBJECT_BLOB);
	return err < 0 ? dsync_error_git(err, "cannot store a file") : 0;
}

/* Reads the open file FD of size SIZE into a blob.  *CHANGED: it did not
 * have SIZE bytes (it changed while being read).  On failure, *READ_FAILED
 * tells whether reading the file failed (its fault: kept as unreadable)
 * rather than writing the store (the machine's: the snapshot fails). */
static int store_fd(reader *r, git_oid *oid, int fd, uint64_t size, const char *abspath,
		    bool *changed, bool *read_failed)
{
	git_odb_stream *stream = NULL;
	uint64_t done = 0;
	char *whole = NULL;
	int err, error = 0;

	*changed = false;
	if (chunked(r, size)) {
		/* a big file: a chunk tree (docs/chunks.md) */
		struct stat st;
		uint64_t got = 0;

		if (fstat(fd, &st) < 0) {
			*read_failed = true;
			return dsync_error_sys(errno, "cannot read '%s'", abspath);
		}
		if ((error = dsync_chunks_from_fd(oid, &got, r->write ? r->odb : NULL, &r->chunker, fd,
						  git_mode(&st), read_failed)) < 0)
			return error;
		r->out->hashed_bytes += got;
		*changed = got != size;
		return 0;
	}
	if (size <= SMALL_FILE) {
		ssize_t n;

		if ((whole = malloc(size ? size : 1)) == NULL)
			return dsync_error_oom();
		while (done < size) {
			n = read(fd, whole + done, size - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				*read_failed = true;
				error = dsync_error_sys(errno, "cannot read '%s'", abspath);
				goto out;
			}
			if (n == 0)
				break;
			done += (uint64_t)n;
		}
		if (done != size) {
			*changed = true;
			goto out;
		}
		error = store_buffer(r, oid, whole, size);
		goto out;
	}
	if (!r->write) {
		/* hashing only: libgit2 streams the file itself */
		if ((err = git_odb_hashfile(oid, abspath, GIT_OBJECT_BLOB)) < 0) {
			*read_failed = true; /* hashing writes nothing */
			error = dsync_error_git(err, "cannot read '%s'", abspath);
		}
		goto out;
	}
	git_error_clear(); /* a failed write may say nothing: errno then */
	if ((err = git_odb_open_wstream(&stream, r->odb, size, GIT_OBJECT_BLOB)) < 0) {
		error = dsync_error_git(err, "cannot store '%s'", abspath);
		goto out;
	}
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t n = read(fd, r->chunk, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*read_failed = true;
			error = dsync_error_sys(errno, "cannot read '%s'", abspath);
			goto out;
		}
		if (n == 0) {
			*changed = true;
			goto out;
		}
		if ((err = git_odb_stream_write(stream, r->chunk, (size_t)n)) < 0) {
			error = dsync_error_git(err, "cannot store '%s'", abspath);
			goto out;
		}
		done += (uint64_t)n;
		r->out->hashed_bytes += (uint64_t)n;
		if (r->progress && (done % (16 * CHUNK)) == 0)
			r->progress(r->out->n, r->out->hashed_bytes, r->payload);
	}
	if ((err = git_odb_stream_finalize_write(oid, stream)) < 0)
		error = dsync_error_git(err, "cannot store '%s'", abspath);
out:
	git_odb_stream_free(stream);
	free(whole);
	return error;
}

/* The folder's chunking: its threshold (dsync.chunkThreshold, bytes;
 * default 8 MiB; 0: none) and, when there is one, its keyed chunker. */
static int chunking(reader *r, dsync_folder *f)
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
	r->threshold = v > 0 ? (uint64_t)v : 0;
	return r->threshold ? dsync_folder_chunker(&r->chunker, f) : 0;
}


/* E takes the cache's version IE (a zero mtime: looked at again next time). */
static void keep_cached(scan_entry *e, const statcache_entry *ie)
{
	struct stat st;

	index_entry_stat(&st, ie);
	st.st_mtim.tv_sec = 0;
	st.st_mtim.tv_nsec = 0;
	to_scan_stat(&e->st, &st);
	e->mode = ie->mode;
	git_oid_cpy(&e->oid, &ie->id);
	e->flags = SCAN_KEPT;
}

/*
 * Reads the file of entry E (found changed by discovery): its oid, mode and
 * stat as read.  *DROP: it vanished (or stays unreadable with no previous
 * version), so the entry goes.
 */
static int read_entry(reader *r, scan_entry *e, bool *drop)
{
	dsync_buf abs = DSYNC_BUF_INIT;
	const char *why = NULL;
	char whybuf[512];
	git_oid oid;
	int tries, error = 0;

	*drop = false;
	if (r->keep && r->keep(e->real, r->payload)) {
		/* still being written: its previous version, or nothing yet */
		const statcache_entry *ie = statcache_find(r->cache, e->path);

		r->out->busy++;
		if (!ie) {
			*drop = true;
			return 0;
		}
		keep_cached(e, ie);
		return 0;
	}
	if ((error = dsync_buf_printf(&abs, "%s/%s", strcmp(r->root, "/") ? r->root : "", e->real)) < 0)
		return error;
	for (tries = 0; tries < READ_TRIES; tries++) {
		struct stat st, after;
		bool changed = false, read_failed = false, is_link = S_ISLNK(e->st.st_mode);

		if (is_link) {
			char target[4096];
			ssize_t n = readlink(abs.ptr, target, sizeof(target));

			if (n < 0) {
				if (errno == ENOENT || errno == EINVAL)
					goto vanished;
				why = strerror(errno);
				goto unreadable;
			}
			if ((size_t)n >= sizeof(target)) {
				error = problem(r->out, "cannot store the link '%s': its target is too long", abs.ptr);
				goto vanished;
			}
			if ((error = store_buffer(r, &oid, target, (size_t)n)) < 0)
				goto out;
		} else {
			int fd = open(abs.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOATIME);

			if (fd < 0 && errno == EPERM)
				fd = open(abs.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0) {
				if (errno == ENOENT || errno == ELOOP)
					goto vanished; /* gone or replaced: seen next time */
				why = strerror(errno);
				goto unreadable;
			}
			if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
				close(fd);
				goto vanished;
			}
			error = store_fd(r, &oid, fd, (uint64_t)st.st_size, abs.ptr, &changed, &read_failed);
			if (!error && !changed && (fstat(fd, &after) < 0 || !same_version(&st, &after)))
				changed = true;
			close(fd);
			if (error < 0) {
				/* the store's failure (a full disk) fails the
				 * snapshot; only the file's own is kept as
				 * unreadable */
				if (!read_failed)
					goto out;
				snprintf(whybuf, sizeof(whybuf), "%s", dsync_error_last());
				why = whybuf;
				error = 0;
				goto unreadable;
			}
			if (changed) {
				if (lstat(abs.ptr, &st) < 0 || !S_ISREG(st.st_mode))
					goto vanished;
				to_scan_stat(&e->st, &st);
				continue;
			}
			if (st.st_size <= SMALL_FILE)
				r->out->hashed_bytes += (uint64_t)st.st_size;
			to_scan_stat(&e->st, &st); /* a link keeps the walk's lstat */
		}
		e->mode = is_link ? GIT_FILEMODE_LINK
			  : chunked(r, (uint64_t)st.st_size) ? GIT_FILEMODE_COMMIT : git_mode(&st);
		git_oid_cpy(&e->oid, &oid);
		e->flags = SCAN_HASHED;
		goto out;
	}
	why = "it kept changing while being read";
unreadable:
	{
		const statcache_entry *ie = statcache_find(r->cache, e->path);

		if (ie)
			keep_cached(e, ie);
		else
			*drop = true;
		error = problem(r->out, "cannot read '%s': %s; %s", abs.ptr, why,
				ie ? "kept its previous version" : "not stored yet");
		goto out;
	}
vanished:
	*drop = true;
out:
	dsync_buf_dispose(&abs);
	return error;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const scan_entry *)a)->path, ((const scan_entry *)b)->path);
}

void scan_list_sort(scan_list *l)
{
	if (!l->sorted && l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
	l->sorted = true;
}

int scan_worktree(scan_list *out, dsync_folder *f, const statcache *cache, bool write,
		  scan_progress_cb progress, scan_keep_cb keep, void *payload)
{
	discovery d;
	reader r;
	dsync_ignore *ign = NULL;
	size_t i, kept;
	bool marker_written = false;
	int err, error;

	memset(out, 0, sizeof(*out));
	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.cond, NULL);
	d.rootfd = -1;
	r.root = d.root = f->root;
	r.cache = d.cache = cache;
	d.index_mtime = cache->has_mtime ? &cache->mtime : NULL;
	d.progress = r.progress = progress;
	d.payload = r.payload = payload;
	r.write = write;
	r.keep = keep;
	r.out = out;
	if ((error = dsync_folder_load_ignore(&ign, f)) < 0)
		goto out;
	d.ign = ign;
	if ((d.rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		error = dsync_error_sys(errno, "cannot read the folder '%s'", f->root);
		goto out;
	}
	/* the empty blob's id, a constant (libgit2 need not be started) */
	git_oid_fromstr(&d.empty_blob, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	if ((error = discover(out, &d)) < 0)
		goto out;

	/* every file matched its own cache entry, and there are as many: the
	 * tree is the cache's, and the caller need not even sort */
	for (i = 0; i < out->n && out->v[i].flags == SCAN_CACHED; i++)
		;
	if (i == out->n && out->n == cache->n) {
		out->unchanged = true;
		if (progress)
			progress(d.seen, 0, payload);
		error = 0;
		goto out;
	}

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
	for (i = 0, kept = 0; i < out->n; i++) {
		scan_entry *e = &out->v[i];
		bool drop = false;

		if ((e->flags & SCAN_READ) && (error = read_entry(&r, e, &drop)) < 0)
			goto out;
		if ((e->flags & SCAN_MARKER) && write && !marker_written) {
			if ((err = git_odb_write(&e->oid, r.odb, "", 0, GIT_OBJECT_BLOB)) < 0) {
				error = dsync_error_git(err, "cannot store an empty folder");
				goto out;
			}
			marker_written = true;
		}
		if (progress && (e->flags & SCAN_HASHED))
			progress(d.seen, out->hashed_bytes, payload);
		free(e->real);
		e->real = NULL;
		if (drop) {
			free(e->path);
			continue;
		}
		out->v[kept++] = *e;
	}
	out->n = kept;
	if (progress)
		progress(d.seen, out->hashed_bytes, payload);
	error = 0;
out:
	if (error < 0)
		scan_list_dispose(out);
	for (i = 0; i < d.jobs.size; i++) {
		free(d.jobs.ptr[i].real);
		free(d.jobs.ptr[i].stored);
	}
	dsync_array_dispose(d.jobs);
	if (d.rootfd >= 0)
		close(d.rootfd);
	pthread_mutex_destroy(&d.lock);
	pthread_cond_destroy(&d.cond);
	git_odb_free(r.odb);
	dsync_ignore_free(ign);
	free(r.chunk);
	return error;
}

void scan_list_dispose(scan_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].real);
	}
	free(l->v);
	dsync_strlist_dispose(&l->problems);
	memset(l, 0, sizeof(*l));
}

/*
 * Compares the walk SCAN with the cache C (both sorted): *CONTENT true when a
 * file was added or changed content or mode, *STAT true when only stat data
 * needs refreshing, *DELETED the number of cached files the walk did not see.
 */
void scan_list_compare(const scan_list *scan, const statcache *c, bool *content,
			       bool *stat_only, size_t *deleted)
{
	size_t i = 0, j = 0;

	*content = *stat_only = false;
	*deleted = 0;
	while (i < c->n || j < scan->n) {
		int cmp = i >= c->n ? 1 : j >= scan->n ? -1 : strcmp(c->v[i].path, scan->v[j].path);

		if (cmp < 0) {
			(*deleted)++;
			i++;
		} else if (cmp > 0) {
			*content = true;
			j++;
		} else {
			if (scan->v[j].flags & SCAN_HASHED) {
				if (c->v[i].mode != scan->v[j].mode || !git_oid_equal(&c->v[i].id, &scan->v[j].oid))
					*content = true;
				else
					*stat_only = true;
			}
			i++;
			j++;
		}
	}
}


void scan_entry_to_index(git_index_entry *out, const scan_entry *e)
{
	memset(out, 0, sizeof(*out));
	out->ctime.seconds = (int32_t)e->st.ctime_s;
	out->ctime.nanoseconds = e->st.ctime_ns;
	out->mtime.seconds = (int32_t)e->st.mtime_s;
	out->mtime.nanoseconds = e->st.mtime_ns;
	out->dev = (uint32_t)e->st.dev;
	out->ino = (uint32_t)e->st.ino;
	out->mode = e->mode;
	out->uid = e->st.uid;
	out->gid = e->st.gid;
	out->file_size = (uint32_t)e->st.size;
	out->path = e->path;
	git_oid_cpy(&out->id, &e->oid);
}
