/*
 * Discovery, the tree walk's first phase (see scan_discover.h): every folder
 * listed and every file lstat'ed, in parallel like git's preload-index.
 * Folders are jobs on a shared queue; the stat cache and the ignore rules
 * are read-only, each thread keeps its own list.
 */
#include "core/base/internal.h"
#include "core/history/scan_discover.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#define MAX_THREADS 4

/* Keeps the cache's version of PATH (stored form) in L, if it has one. */
static int keep_previous(scan_list *l, const statcache *cache, const char *path, bool *kept)
{
	const statcache_entry *ie = statcache_find(cache, path);
	struct stat st;

	*kept = ie != NULL;
	if (!ie)
		return 0;
	scan_stat_of_cache(&st, ie);
	/* a zero mtime makes the next walk look at it again */
	st.st_mtim.tv_sec = 0;
	st.st_mtim.tv_nsec = 0;
	return scan_list_push(l, path, ie->mode, &ie->id, &st, SCAN_KEPT);
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
	uint32_t mode = scan_git_mode(st);
	const statcache_entry *ie = find_in(d->cache, lo, hi, stored);
	size_t seen = __atomic_add_fetch(&d->seen, 1, __ATOMIC_RELAXED);
	int error;

	if (w->main && d->progress && (seen % 1000) == 0)
		d->progress(seen, 0, d->payload);
	/* a big file is a chunk tree, held in the index as a 160000 entry */
	if (ie && ie->mode == GIT_FILEMODE_COMMIT && S_ISREG(st->st_mode))
		mode = GIT_FILEMODE_COMMIT;
	if (ie && stat_matches(ie, st, mode, d->index_mtime))
		return scan_list_push(&w->out, stored, mode, &ie->id, st, SCAN_CACHED);
	if ((error = scan_list_push(&w->out, stored, mode, NULL, st, ie ? SCAN_READ | SCAN_WAS : SCAN_READ)) < 0)
		return error;
	if (strcmp(real, stored) != 0 && (w->out.v[w->out.n - 1].real = strdup(real)) == NULL)
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

		scan_stat_of_cache(&st, ie);
		error = scan_list_push(&w->out, p.ptr, GIT_FILEMODE_BLOB, &ie->id, &st, SCAN_CACHED);
	} else {
		error = scan_list_push(&w->out, p.ptr, GIT_FILEMODE_BLOB, &w->d->empty_blob, NULL,
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
	return scan_list_problem(&w->out, "cannot read '%s/%s': %s; %s", w->d->root, real, strerror(errnum),
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
		return scan_list_problem(&w->out, "cannot read the folder '%s/%s': %s; kept its previous contents",
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
		error = scan_list_problem(&w->out, "cannot read the folder '%s/%s': %s", d->root, j->real,
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
	return dsync_thread_count(MAX_THREADS);
}

/* Moves the entries and problems of SRC to the end of DST. */
static int append_list(scan_list *dst, scan_list *src)
{
	size_t i;
	int error;

	if ((error = scan_list_reserve(dst, dst->n + src->n)) < 0)
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
		if (total > out->cap) {
			/* exactly: doubling would make room for 131,072 entries
			 * (3.5 MB more) to hold 100,000 */
			scan_entry *v = realloc(out->v, total * sizeof(*v));

			if (v) {
				out->v = v;
				out->cap = total;
			} else {
				error = dsync_error_oom();
			}
		}
	}
	for (i = 0; i < started; i++) {
		if (!error)
			error = append_list(out, &w[i].out);
		scan_list_dispose(&w[i].out);
	}
	return error;
}

int scan_discover(scan_list *out, size_t *seen, dsync_folder *f, const statcache *cache,
		  scan_progress_cb progress, void *payload)
{
	discovery d;
	dsync_ignore *ign = NULL;
	size_t i;
	int error;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.cond, NULL);
	d.rootfd = -1;
	d.root = f->root;
	d.cache = cache;
	d.index_mtime = cache->has_mtime ? &cache->mtime : NULL;
	d.progress = progress;
	d.payload = payload;
	if ((error = dsync_folder_load_ignore(&ign, f)) < 0)
		goto out;
	d.ign = ign;
	if ((d.rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		error = dsync_error_sys(errno, "cannot read the folder '%s'", f->root);
		goto out;
	}
	/* the empty blob's id, a constant (libgit2 need not be started) */
	git_oid_fromstr(&d.empty_blob, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	error = discover(out, &d);
out:
	*seen = d.seen;
	for (i = 0; i < d.jobs.size; i++) {
		free(d.jobs.ptr[i].real);
		free(d.jobs.ptr[i].stored);
	}
	dsync_array_dispose(d.jobs);
	if (d.rootfd >= 0)
		close(d.rootfd);
	pthread_mutex_destroy(&d.lock);
	pthread_cond_destroy(&d.cond);
	dsync_ignore_free(ign);
	return error;
}
