/*
 * The tree walk: reads the working tree into a sorted list of entries as git
 * would store them, using the index as a stat cache so that an unchanged
 * file costs one lstat.  dsync walks the tree itself: libgit2's add-all
 * stops at a nested repository, obeys the user's ignore files and fails
 * everything on one unreadable file (DESIGN.md section 3).
 */
#include "core/base/internal.h"
#include "core/scan.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

/* Files up to this size are read whole; larger ones are streamed. */
#define SMALL_FILE (1024 * 1024)
#define CHUNK (64 * 1024)
#define READ_TRIES 3

typedef struct walker {
	dsync_folder *f;
	const statcache *cache;
	const struct timespec *index_mtime;
	git_odb *odb;
	dsync_ignore *ign;
	bool write;
	scan_list *out;
	scan_progress_cb progress;
	void *payload;
	size_t seen;
	char *chunk;
	git_oid empty_blob;   /* zero until first needed */
} walker;

static int problem(scan_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int problem(scan_list *l, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->nproblems + 1 >= l->problems_cap) {
		size_t cap = l->problems_cap ? l->problems_cap * 2 : 8;
		char **p = realloc(l->problems, cap * sizeof(*p));

		if (!p)
			return dsync_error_set(DSYNC_ERROR, "out of memory");
		l->problems = p;
		l->problems_cap = cap;
	}
	if ((l->problems[l->nproblems] = strdup(msg)) == NULL)
		return dsync_error_set(DSYNC_ERROR, "out of memory");
	l->nproblems++;
	return 0;
}

static int push(scan_list *l, const char *path, uint32_t mode, const git_oid *oid,
		const struct stat *st, unsigned flags)
{
	scan_entry *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		scan_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return dsync_error_set(DSYNC_ERROR, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	e = &l->v[l->n];
	if ((e->path = strdup(path)) == NULL)
		return dsync_error_set(DSYNC_ERROR, "out of memory");
	e->mode = mode;
	git_oid_cpy(&e->oid, oid);
	if (st)
		e->st = *st;
	else
		memset(&e->st, 0, sizeof(e->st));
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

/* Keeps the index's version of PATH (stored form), if it has one. */
static int keep_previous(walker *w, const char *path, bool *kept)
{
	const statcache_entry *ie = statcache_find(w->cache, path);
	struct stat st;

	*kept = ie != NULL;
	if (!ie)
		return 0;
	index_entry_stat(&st, ie);
	/* a zero mtime makes the next walk look at it again */
	st.st_mtim.tv_sec = 0;
	st.st_mtim.tv_nsec = 0;
	return push(w->out, path, ie->mode, &ie->id, &st, SCAN_KEPT);
}

/* Keeps every index entry below the stored directory DIR (unreadable). */
static int keep_previous_dir(walker *w, const char *dir)
{
	dsync_buf prefix = DSYNC_BUF_INIT;
	size_t pos;
	int error;

	if ((error = dsync_buf_printf(&prefix, "%s/", dir)) < 0)
		return error;
	for (pos = statcache_lower_bound(w->cache, prefix.ptr); pos < w->cache->n; pos++) {
		const char *path = w->cache->v[pos].path;
		bool kept;

		if (strncmp(path, prefix.ptr, prefix.len) != 0)
			break;
		if ((error = keep_previous(w, path, &kept)) < 0)
			break;
	}
	dsync_buf_dispose(&prefix);
	return error;
}

static bool stat_matches(const statcache_entry *ie, const struct stat *st, uint32_t mode,
			 const struct timespec *index_mtime)
{
	if (ie->mode != mode || ie->mtime_s != (uint32_t)st->st_mtim.tv_sec ||
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

static int store_buffer(walker *w, git_oid *oid, const void *data, size_t len)
{
	int err = w->write ? git_odb_write(oid, w->odb, data, len, GIT_OBJECT_BLOB)
			   : git_odb_hash(oid, data, len, GIT_OBJECT_BLOB);

	return err < 0 ? dsync_error_git(err, "cannot store a file") : 0;
}

/* Reads the open file FD of size SIZE into a blob.  *CHANGED: it did not
 * have SIZE bytes (it changed while being read). */
static int store_fd(walker *w, git_oid *oid, int fd, uint64_t size, const char *abspath,
		    bool *changed)
{
	git_odb_stream *stream = NULL;
	uint64_t done = 0;
	char *whole = NULL;
	int err, error = 0;

	*changed = false;
	if (size <= SMALL_FILE) {
		ssize_t n;

		if ((whole = malloc(size ? size : 1)) == NULL)
			return dsync_error_set(DSYNC_ERROR, "out of memory");
		while (done < size) {
			n = read(fd, whole + done, size - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
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
		error = store_buffer(w, oid, whole, size);
		goto out;
	}
	if (!w->write) {
		/* hashing only: libgit2 streams the file itself */
		if ((err = git_odb_hashfile(oid, abspath, GIT_OBJECT_BLOB)) < 0)
			error = dsync_error_git(err, "cannot read '%s'", abspath);
		goto out;
	}
	if ((err = git_odb_open_wstream(&stream, w->odb, size, GIT_OBJECT_BLOB)) < 0) {
		error = dsync_error_git(err, "cannot store '%s'", abspath);
		goto out;
	}
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t n = read(fd, w->chunk, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = dsync_error_sys(errno, "cannot read '%s'", abspath);
			goto out;
		}
		if (n == 0) {
			*changed = true;
			goto out;
		}
		if ((err = git_odb_stream_write(stream, w->chunk, (size_t)n)) < 0) {
			error = dsync_error_git(err, "cannot store '%s'", abspath);
			goto out;
		}
		done += (uint64_t)n;
		w->out->hashed_bytes += (uint64_t)n;
		if (w->progress && (done % (16 * CHUNK)) == 0)
			w->progress(w->seen, w->out->hashed_bytes, w->payload);
	}
	if ((err = git_odb_stream_finalize_write(oid, stream)) < 0)
		error = dsync_error_git(err, "cannot store '%s'", abspath);
out:
	git_odb_stream_free(stream);
	free(whole);
	return error;
}

/* Reads one regular file or link whose lstat is ST. */
static int scan_file(walker *w, int dfd, const char *name, const char *abspath,
		     const char *stored, struct stat *st)
{
	uint32_t mode = S_ISLNK(st->st_mode) ? GIT_FILEMODE_LINK
		      : (st->st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE
						: GIT_FILEMODE_BLOB;
	const statcache_entry *ie = statcache_find(w->cache, stored);
	git_oid oid;
	const char *why = NULL;
	int tries, error;
	bool kept;

	w->seen++;
	if (w->progress && (w->seen % 1000) == 0)
		w->progress(w->seen, w->out->hashed_bytes, w->payload);
	if (ie && stat_matches(ie, st, mode, w->index_mtime))
		return push(w->out, stored, mode, &ie->id, st, SCAN_CACHED);

	for (tries = 0; tries < READ_TRIES; tries++) {
		struct stat after;
		bool changed = false;

		if (S_ISLNK(st->st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(dfd, name, target, sizeof(target));

			if (n < 0) {
				if (errno == ENOENT || errno == EINVAL)
					return 0; /* vanished or replaced: seen next time */
				why = strerror(errno);
				goto unreadable;
			}
			if ((size_t)n >= sizeof(target))
				return problem(w->out, "cannot store the link '%s': its target is too long", abspath);
			if ((error = store_buffer(w, &oid, target, (size_t)n)) < 0)
				return error;
		} else {
			int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);

			if (fd < 0 && errno == EPERM)
				fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				if (errno == ENOENT || errno == ELOOP)
					return 0; /* vanished or replaced: seen next time */
				why = strerror(errno);
				goto unreadable;
			}
			if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
				close(fd);
				return 0;
			}
			error = store_fd(w, &oid, fd, (uint64_t)st->st_size, abspath, &changed);
			if (!error && !changed && (fstat(fd, &after) < 0 || !same_version(st, &after)))
				changed = true;
			close(fd);
			if (error < 0) {
				if (dsync_error_last_code() == DSYNC_ENOSPACE)
					return error;
				why = dsync_error_last();
				goto unreadable;
			}
			if (changed) {
				if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
					return 0;
				continue;
			}
			mode = (st->st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
		}
		w->out->hashed++;
		if (S_ISREG(st->st_mode) && st->st_size <= SMALL_FILE)
			w->out->hashed_bytes += (uint64_t)st->st_size;
		return push(w->out, stored, mode, &oid, st, SCAN_HASHED);
	}
	/* it kept changing while being read: keep the previous version */
	if ((error = keep_previous(w, stored, &kept)) < 0)
		return error;
	return problem(w->out, "'%s' kept changing while being read; %s", abspath,
		       kept ? "kept its previous version" : "not stored yet");

unreadable:
	{
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", why);
		if ((error = keep_previous(w, stored, &kept)) < 0)
			return error;
		return problem(w->out, "cannot read '%s': %s; %s", abspath, msg,
			       kept ? "kept its previous version" : "not stored yet");
	}
}

typedef struct dent {
	char *name;
	unsigned char type;
} dent;

/* Records the folder STORED (nothing stored below it) as an empty folder. */
static int push_dir_marker(walker *w, const char *stored)
{
	static const git_oid zero;
	dsync_buf p = DSYNC_BUF_INIT;
	const statcache_entry *ie;
	int err, error;

	if (git_oid_equal(&w->empty_blob, &zero)) {
		err = w->write ? git_odb_write(&w->empty_blob, w->odb, "", 0, GIT_OBJECT_BLOB)
			       : git_odb_hash(&w->empty_blob, "", 0, GIT_OBJECT_BLOB);
		if (err < 0)
			return dsync_error_git(err, "cannot store an empty folder");
	}
	if ((error = dsync_buf_printf(&p, "%s/" DSYNC_DIR_MARKER, stored)) < 0)
		return error;
	ie = statcache_find(w->cache, p.ptr);
	if (ie && ie->mode == GIT_FILEMODE_BLOB && git_oid_equal(&ie->id, &w->empty_blob)) {
		struct stat st;

		index_entry_stat(&st, ie);
		error = push(w->out, p.ptr, GIT_FILEMODE_BLOB, &ie->id, &st, SCAN_CACHED);
	} else {
		error = push(w->out, p.ptr, GIT_FILEMODE_BLOB, &w->empty_blob, NULL, SCAN_HASHED);
	}
	dsync_buf_dispose(&p);
	return error;
}

/* NAME in the folder STORED cannot even be stat'ed (a folder that can be
 * listed but not entered): whatever it was, its previous version stays. */
static int keep_unstatable(walker *w, dsync_buf *stored, const char *name, const char *abs,
			   int errnum)
{
	size_t sl = stored->len, before = w->out->n;
	bool kept = false;
	int error;

	if ((sl && (error = dsync_buf_put(stored, "/", 1)) < 0) ||
	    (error = dsync_path_escape(stored, name, false)) < 0)
		goto out;
	if ((error = keep_previous(w, stored->ptr, &kept)) < 0 ||
	    (error = keep_previous_dir(w, stored->ptr)) < 0)
		goto out;
	error = problem(w->out, "cannot read '%s/%s': %s; %s", abs, name, strerror(errnum),
			kept || w->out->n > before ? "kept its previous version" : "not stored yet");
out:
	dsync_buf_truncate(stored, sl);
	return error;
}

static int walk(walker *w, int dfd, dsync_buf *real, dsync_buf *stored, dsync_buf *abs)
{
	DIR *d;
	struct dirent *e;
	dent *list = NULL;
	size_t n = 0, cap = 0, i, before = w->out->n;
	int error = 0;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return dsync_error_sys(errno, "cannot read the folder '%s'", abs->ptr);
	}
	w->out->dirs++;
	while ((errno = 0, e = readdir(d)) != NULL) {
		const char *nm = e->d_name;

		if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
			continue;
		if (strcmp(nm, DSYNC_DIR) == 0)
			continue; /* dsync's own (and a nested folder's) history */
		if (n == cap) {
			dent *nl;

			cap = cap ? cap * 2 : 32;
			if ((nl = realloc(list, cap * sizeof(*nl))) == NULL) {
				error = dsync_error_set(DSYNC_ERROR, "out of memory");
				goto out;
			}
			list = nl;
		}
		if ((list[n].name = strdup(nm)) == NULL) {
			error = dsync_error_set(DSYNC_ERROR, "out of memory");
			goto out;
		}
		list[n++].type = e->d_type;
	}
	if (errno) {
		error = problem(w->out, "cannot read the folder '%s': %s", abs->ptr, strerror(errno));
		goto out;
	}

	for (i = 0; i < n && !error; i++) {
		size_t rl = real->len, sl = stored->len, al = abs->len;
		const char *nm = list[i].name;
		struct stat st;
		bool is_dir, is_link;

		if (list[i].type == DT_DIR) {
			is_dir = true;
			is_link = false;
		} else {
			if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno != ENOENT)
					error = keep_unstatable(w, stored, nm, abs->ptr, errno);
				continue;
			}
			is_dir = S_ISDIR(st.st_mode);
			is_link = S_ISLNK(st.st_mode);
			if (!is_dir && !is_link && !S_ISREG(st.st_mode))
				continue; /* FIFOs, sockets, devices: not kept (docs/format.md) */
		}
		if ((rl && (error = dsync_buf_put(real, "/", 1)) < 0) ||
		    (error = dsync_buf_puts(real, nm)) < 0 ||
		    (sl && (error = dsync_buf_put(stored, "/", 1)) < 0) ||
		    (error = dsync_path_escape(stored, nm, is_link)) < 0 ||
		    (error = dsync_buf_put(abs, "/", 1)) < 0 || (error = dsync_buf_puts(abs, nm)) < 0)
			goto out;
		if (!dsync_ignore_match(w->ign, real->ptr, is_dir)) {
			if (is_dir) {
				int sub = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

				if (sub < 0) {
					int en = errno;

					if (en == ENOENT || en == ENOTDIR || en == ELOOP) {
						/* vanished or replaced while walking */
					} else if ((error = keep_previous_dir(w, stored->ptr)) == 0) {
						error = problem(w->out, "cannot read the folder '%s': %s; kept its previous contents",
								abs->ptr, strerror(en));
					}
				} else {
					error = walk(w, sub, real, stored, abs);
				}
			} else {
				error = scan_file(w, dirfd(d), nm, abs->ptr, stored->ptr, &st);
			}
		}
		dsync_buf_truncate(real, rl);
		dsync_buf_truncate(stored, sl);
		dsync_buf_truncate(abs, al);
	}
	if (!error && w->out->n == before && stored->len > 0)
		error = push_dir_marker(w, stored->ptr);
out:
	for (i = 0; i < n; i++)
		free(list[i].name);
	free(list);
	closedir(d);
	return error;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const scan_entry *)a)->path, ((const scan_entry *)b)->path);
}

int scan_worktree(scan_list *out, dsync_folder *f, const statcache *cache, bool write,
		  scan_progress_cb progress, void *payload)
{
	walker w = { 0 };
	dsync_buf real = DSYNC_BUF_INIT, stored = DSYNC_BUF_INIT, abs = DSYNC_BUF_INIT;
	int dfd, err, error;

	memset(out, 0, sizeof(*out));
	w.f = f;
	w.cache = cache;
	w.index_mtime = cache->has_mtime ? &cache->mtime : NULL;
	w.write = write;
	w.out = out;
	w.progress = progress;
	w.payload = payload;
	if ((w.chunk = malloc(CHUNK)) == NULL)
		return dsync_error_set(DSYNC_ERROR, "out of memory");
	if ((err = git_repository_odb(&w.odb, f->repo)) < 0) {
		error = dsync_error_git(err, "cannot open the object store of '%s'", f->root);
		goto out;
	}
	if ((error = dsync_folder_load_ignore(&w.ign, f)) < 0)
		goto out;
	if ((error = dsync_buf_puts(&abs, strcmp(f->root, "/") ? f->root : "")) < 0 ||
	    (error = dsync_buf_puts(&real, "")) < 0 || (error = dsync_buf_puts(&stored, "")) < 0)
		goto out;
	if ((dfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		error = dsync_error_sys(errno, "cannot read the folder '%s'", f->root);
		goto out;
	}
	if ((error = walk(&w, dfd, &real, &stored, &abs)) < 0)
		goto out;
	qsort(out->v, out->n, sizeof(*out->v), cmp_entry);
	if (progress)
		progress(w.seen, out->hashed_bytes, payload);
	error = 0;
out:
	if (error < 0)
		scan_list_dispose(out);
	git_odb_free(w.odb);
	dsync_ignore_free(w.ign);
	free(w.chunk);
	dsync_buf_dispose(&real);
	dsync_buf_dispose(&stored);
	dsync_buf_dispose(&abs);
	return error;
}

void scan_list_dispose(scan_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].path);
	for (i = 0; i < l->nproblems; i++)
		free(l->problems[i]);
	free(l->v);
	free(l->problems);
	memset(l, 0, sizeof(*l));
}

const scan_entry *scan_list_find(const scan_list *l, const char *path)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->v[mid].path, path);

		if (c == 0)
			return &l->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void scan_entry_to_index(git_index_entry *out, const scan_entry *e)
{
	memset(out, 0, sizeof(*out));
	out->ctime.seconds = (int32_t)e->st.st_ctim.tv_sec;
	out->ctime.nanoseconds = (uint32_t)e->st.st_ctim.tv_nsec;
	out->mtime.seconds = (int32_t)e->st.st_mtim.tv_sec;
	out->mtime.nanoseconds = (uint32_t)e->st.st_mtim.tv_nsec;
	out->dev = (uint32_t)e->st.st_dev;
	out->ino = (uint32_t)e->st.st_ino;
	out->mode = e->mode;
	out->uid = (uint32_t)e->st.st_uid;
	out->gid = (uint32_t)e->st.st_gid;
	out->file_size = (uint32_t)e->st.st_size;
	out->path = e->path;
	git_oid_cpy(&out->id, &e->oid);
}
