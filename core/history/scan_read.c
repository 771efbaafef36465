/*
 * The walk's reading of one file at a time (see scan_read.h): a file hashed
 * or stored into the object database, or into the pack a big snapshot
 * writes (scan_pack.c falls back on it for anything unusual), and the
 * entries finished in the walk's order.  scan.c runs the walk; both it and
 * scan_pack.c call these.
 */
#include "core/base/internal.h"
#include "core/history/scan_read.h"
#include "core/base/chunks.h"
#include "core/base/loose.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <fcntl.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define READ_TRIES 3

bool scan_same_version(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

/* ------------------------------------------------------------- reading */

typedef scan_reader reader;

bool scan_chunked(const reader *r, uint64_t size)
{
	return r->threshold && size > r->threshold;
}

int scan_put_pack(git_oid *out, git_object_t type, const void *data, size_t len, void *payload)
{
	return dsync_packw_put(payload, out, type, data, len);
}

/* Writes (into the pack or the ODB) or hashes a blob.  An error here is the
 * store's, never the user file's: a full disk fails the snapshot. */
static int store_buffer(reader *r, git_oid *oid, const void *data, size_t len)
{
	int err;

	if (r->write && r->pack)
		return dsync_packw_put(r->pack, oid, GIT_OBJECT_BLOB, data, len);
	if (r->write)
		return dsync_loose_write(oid, r->odb, r->gitdir, GIT_OBJECT_BLOB, data, len);
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
	if (scan_chunked(r, size)) {
		/* a big file: a chunk tree (docs/chunks.md) */
		struct stat st;
		uint64_t got = 0;

		if (fstat(fd, &st) < 0) {
			*read_failed = true;
			return dsync_error_sys(errno, "cannot read '%s'", abspath);
		}
		error = r->write && r->pack ? dsync_chunks_from_fd_put(oid, &got, scan_put_pack, r->pack, &r->chunker, fd,
								       scan_git_mode(&st), read_failed)
					    : dsync_chunks_from_fd(oid, &got, r->write ? r->odb : NULL, &r->chunker, fd,
								   scan_git_mode(&st), read_failed);
		if (error < 0)
			return error;
		r->out->hashed_bytes += got;
		*changed = got != size;
		return 0;
	}
	/* read whole: a small file, or one written as a loose object (a
	 * snapshot that reads more goes into a pack) */
	if (size <= SCAN_SMALL_FILE || (r->write && !r->pack && size <= SCAN_LOOSE_WHOLE)) {
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
		if ((error = store_buffer(r, oid, whole, size)) < 0 && r->write) {
			/* the store's error (a full disk), naming the file */
			char why[512];

			snprintf(why, sizeof(why), "%s", dsync_error_last());
			error = dsync_error_set(error, "cannot store '%s': %s", abspath, why);
		}
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

/* E takes the cache's version IE (a zero mtime: looked at again next time). */
static void keep_cached(scan_entry *e, const statcache_entry *ie)
{
	struct stat st;

	scan_stat_of_cache(&st, ie);
	st.st_mtim.tv_sec = 0;
	st.st_mtim.tv_nsec = 0;
	scan_stat_set(&e->st, &st);
	e->mode = ie->mode;
	git_oid_cpy(&e->oid, &ie->id);
	e->flags = SCAN_KEPT;
}

void scan_hold_back(reader *r, scan_entry *e, bool *drop)
{
	/* still being written: its previous version, or nothing yet */
	const statcache_entry *ie = statcache_find(r->cache, e->path);

	r->out->busy++;
	*drop = !ie;
	if (ie)
		keep_cached(e, ie);
}

int scan_read_entry(reader *r, scan_entry *e, bool ask_keep, bool *drop)
{
	dsync_buf abs = DSYNC_BUF_INIT;
	const char *why = NULL;
	char whybuf[512];
	git_oid oid;
	int tries, error = 0;

	*drop = false;
	if (ask_keep && r->keep && r->keep(scan_entry_real(e), r->payload)) {
		scan_hold_back(r, e, drop);
		return 0;
	}
	if (r->write)
		scan_test_pause();
	if ((error = dsync_buf_printf(&abs, "%s/%s", strcmp(r->root, "/") ? r->root : "", scan_entry_real(e))) < 0)
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
				error = scan_list_problem(r->out, "cannot store the link '%s': its target is too long", abs.ptr);
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
			if (!error && !changed && (fstat(fd, &after) < 0 || !scan_same_version(&st, &after)))
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
				scan_stat_set(&e->st, &st);
				continue;
			}
			/* (a big file's bytes were counted as it was cut) */
			if (st.st_size <= SCAN_SMALL_FILE && !scan_chunked(r, (uint64_t)st.st_size))
				r->out->hashed_bytes += (uint64_t)st.st_size;
			scan_stat_set(&e->st, &st); /* a link keeps the walk's lstat */
		}
		e->mode = is_link ? GIT_FILEMODE_LINK
			  : scan_chunked(r, (uint64_t)st.st_size) ? GIT_FILEMODE_COMMIT : scan_git_mode(&st);
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
		error = scan_list_problem(r->out, "cannot read '%s': %s; %s", abs.ptr, why,
				ie ? "kept its previous version" : "not stored yet");
		goto out;
	}
vanished:
	*drop = true;
out:
	dsync_buf_dispose(&abs);
	return error;
}

/* Finishes entry I, read or needing no reading: the empty blob stored for
 * an empty folder's marker, progress, and the entry moved down over the
 * dropped ones (DROP: it goes). */
static int finish_one(reader *r, size_t i, bool drop)
{
	scan_list *out = r->out;
	scan_entry *e = &out->v[i];
	int error;

	if ((e->flags & SCAN_MARKER) && r->write && !r->marker_written) {
		if ((error = store_buffer(r, &e->oid, "", 0)) < 0)
			return error;
		r->marker_written = true;
	}
	if (r->progress && (e->flags & SCAN_HASHED))
		r->progress(r->seen, out->hashed_bytes, r->payload);
	free(e->real);
	e->real = NULL;
	if (drop) {
		free(e->path);
		e->path = NULL;
		return 0;
	}
	if (r->kept != i) {
		/* moved: the old slot no longer owns the path */
		out->v[r->kept] = *e;
		e->path = NULL;
	}
	r->kept++;
	return 0;
}

int scan_finish_to(reader *r, size_t i, bool drop)
{
	int error;

	for (; r->next < i && r->next < r->out->n; r->next++)
		if ((error = finish_one(r, r->next, false)) < 0)
			return error;
	if (i >= r->out->n)
		return 0;
	r->next = i + 1;
	return finish_one(r, i, drop);
}

#ifdef DSYNC_TESTING
void scan_test_pause(void)
{
	static int ms = -1;   /* the walk's reading runs on one thread */

	if (ms < 0)
		ms = (int)DSYNC_TEST_KNOB("DSYNC_TEST_SCAN_PAUSE_MS", 0);
	if (ms > 0)
		dsync_sleep_ms(ms);
}
#endif
