/*
 * The scan of a mirror's host folder (steps 3 to 6 of the round,
 * docs/mirror.md): one listing, the mass-vanish guard, the files that are
 * new or changed read (the cache answers for the others by size and
 * mtime), and the mirror's tree built from BASE, the listing and the cache,
 * never from deltas: whatever a killed round left, the next one computes
 * the same tree from what is there.
 */
#include "core/base/internal.h"

#include "core/mirror/mirror_internal.h"
#include "core/base/chunks.h"
#include "core/base/path.h"
#include "core/history/scan.h"
#include "core/history/tree.h"
#include "merge/names.h"
#include "dsync/ignore.h"
#include "transport/sftp_folder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIECE (64 * 1024)

#ifdef DSYNC_TESTING
static void (*test_hook)(const char *step, const char *path, void *payload);
static void *test_payload;

void dsync_mirror_set_test_hook(void (*hook)(const char *step, const char *path, void *payload), void *payload)
{
	test_hook = hook;
	test_payload = payload;
}

void dsync_mirror_test_hook(const char *step, const char *path)
{
	if (test_hook)
		test_hook(step, path ? path : "", test_payload);
}
#endif

void dsync_mirror_warn(mirror_run *r, const char *fmt, ...)
{
	char msg[1024];
	int n;
	va_list ap;

	if (!r->o->warn)
		return;
	n = snprintf(msg, sizeof(msg), "mirror '%s': ", r->cfg->name);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	r->o->warn(msg, r->o->payload);
}

/* ---- paths ------------------------------------------------------------------- */

int dsync_mirror_folder_path(dsync_buf *out, const mirror_run *r, const char *host)
{
	const char *p = r->cfg->path ? r->cfg->path : "";

	dsync_buf_truncate(out, 0);
	if (*p && *host)
		return dsync_buf_printf(out, "%s/%s", p, host);
	return dsync_buf_puts(out, *p ? p : host);
}

/* Whether a component of the stored path STORED is longer than a tree may
 * hold (the host allows what git's check refuses). */
static bool stored_too_long(const char *stored)
{
	const char *s = stored, *e;

	for (;;) {
		e = strchr(s, '/');
		if ((e ? (size_t)(e - s) : strlen(s)) > DSYNC_NAME_MAX)
			return true;
		if (!e)
			return false;
		s = e + 1;
	}
}

/* Why a folder-relative PATH (as on disk) is never taken from the host nor
 * written to it, besides what dsync_mirror_names_check says: NULL when
 * nothing.  The listing skips exactly these, so that what is written is
 * always seen again by the next listing. */
static const char *skipped_because(const mirror_run *r, const char *path, bool is_dir)
{
	if (!dsync_path_is_safe(path))
		return "inside a folder named .dsync";
	if (dsync_mirror_path_transient(path))
		return "name used by apps while writing";
	if (dsync_ignore_match(r->ignore, path, is_dir))
		return "left out by the ignore rules";
	return NULL;
}

bool dsync_mirror_is_kept_back(const mirror_run *r, const char *host)
{
	size_t i;

	if (dsync_strset_has(&r->kept_back, host))
		return true;
	for (i = 0; i < r->unreadable.n; i++) {
		const char *d = r->unreadable.v[i].path;
		size_t len = strlen(d);

		if (len == 0 || (strncmp(host, d, len) == 0 && (host[len] == '/' || host[len] == '\0')))
			return true;
	}
	return false;
}

/* ---- a tree's entries under the mirror's subfolder ----------------------------- */

void dsync_mirror_entries_dispose(mirror_entries *e)
{
	size_t i;

	for (i = 0; i < e->size; i++) {
		free(e->ptr[i].key);
		free(e->ptr[i].stored);
		free(e->ptr[i].problem);
	}
	dsync_array_dispose(*e);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const mirror_entry *)a)->key, ((const mirror_entry *)b)->key);
}

typedef struct by_path {
	const char *path;
	size_t i;
} by_path;

static int cmp_by_path(const void *a, const void *b)
{
	return strcmp(((const by_path *)a)->path, ((const by_path *)b)->path);
}

/* The stored form of the subfolder with a '/' (or "" for the whole folder). */
static int stored_prefix(dsync_buf *out, const mirror_run *r)
{
	int error;

	if (!r->cfg->path || !*r->cfg->path)
		return dsync_buf_puts(out, "");
	if ((error = dsync_history_stored_path(out, r->cfg->path, false)) < 0)
		return error;
	return dsync_buf_puts(out, "/");
}

/* The entry E's problems: the names check over every path (sorted), then
 * what a listing skips. */
static int check_entries(mirror_entries *v, mirror_run *r, char **disk)
{
	by_path *order = NULL;
	const char **paths = NULL;
	unsigned *modes = NULL;
	char **problem = NULL;
	size_t i, n = v->size;
	int error = 0;

	if (n == 0)
		return 0;
	order = calloc(n, sizeof(*order));
	paths = calloc(n, sizeof(*paths));
	modes = calloc(n, sizeof(*modes));
	problem = calloc(n, sizeof(*problem));
	if (!order || !paths || !modes || !problem) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < n; i++) {
		order[i].path = disk[i];
		order[i].i = i;
	}
	qsort(order, n, sizeof(*order), cmp_by_path);
	for (i = 0; i < n; i++) {
		paths[i] = order[i].path;
		modes[i] = v->ptr[order[i].i].mode == GIT_FILEMODE_LINK ? GIT_FILEMODE_LINK : GIT_FILEMODE_BLOB;
	}
	if ((error = dsync_mirror_names_check(problem, (const char *const *)paths, modes, n)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		mirror_entry *e = &v->ptr[order[i].i];
		const char *why;

		if (!*paths[i]) {
			/* the subfolder itself (its empty-folder marker) */
			free(problem[i]);
		} else if (problem[i]) {
			e->problem = problem[i];
		} else if ((why = skipped_because(r, paths[i], e->marker)) != NULL &&
			   (e->problem = strdup(why)) == NULL) {
			error = dsync_error_oom();
		}
		problem[i] = NULL;
	}
out:
	if (problem)
		for (i = 0; i < n; i++)
			free(problem[i]);
	free(problem);
	free(order);
	free(paths);
	free(modes);
	return error;
}

int dsync_mirror_tree_entries(mirror_entries *out, mirror_run *r, git_index *index)
{
	dsync_buf prefix = DSYNC_BUF_INIT, un = DSYNC_BUF_INIT;
	const char *p = r->cfg->path ? r->cfg->path : "";
	size_t pos = 0, i, plen = *p ? strlen(p) + 1 : 0;
	DSYNC_ARRAY(char *) disk = DSYNC_ARRAY_INIT;
	const git_index_entry *ie;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = stored_prefix(&prefix, r)) < 0)
		goto out;
	if (prefix.len && git_index_find_prefix(&pos, index, prefix.ptr) < 0)
		goto out; /* nothing under the subfolder */
	for (; (ie = git_index_get_byindex(index, pos)) != NULL; pos++) {
		mirror_entry e = { 0 };
		bool link = ie->mode == GIT_FILEMODE_LINK;
		char *d;

		if (strncmp(ie->path, prefix.ptr, prefix.len) != 0)
			break;
		e.marker = dsync_path_is_dir_marker(ie->path);
		e.mode = ie->mode;
		git_oid_cpy(&e.id, &ie->id);
		dsync_buf_truncate(&un, 0);
		if ((error = dsync_path_unescape(&un, ie->path, link)) < 0)
			goto out;
		if (e.marker) {
			/* the folder's path: "DIR/.dsync-empty" -> "DIR" */
			char *slash = strrchr(un.ptr, '/');

			dsync_buf_truncate(&un, slash ? (size_t)(slash - un.ptr) : 0);
		}
		d = strdup(un.ptr);
		e.stored = strdup(ie->path);
		e.key = malloc((un.len >= plen ? un.len - plen : 0) + 2);
		if (!d || !e.stored || !e.key || dsync_array_push(disk, d) < 0) {
			free(d);
			free(e.stored);
			free(e.key);
			error = dsync_error_oom();
			goto out;
		}
		if (un.len < plen) /* the subfolder's own marker */
			snprintf(e.key, 2, "/");
		else
			snprintf(e.key, un.len - plen + 2, "%s%s", un.ptr + plen, e.marker ? "/" : "");
		if (dsync_array_push(*out, e) < 0) {
			free(e.stored);
			free(e.key);
			error = dsync_error_oom();
			goto out;
		}
	}
	error = check_entries(out, r, disk.ptr);
	if (error == 0 && out->size)
		qsort(out->ptr, out->size, sizeof(*out->ptr), cmp_entry);
out:
	for (i = 0; i < disk.size; i++)
		free(disk.ptr[i]);
	dsync_array_dispose(disk);
	dsync_buf_dispose(&prefix);
	dsync_buf_dispose(&un);
	if (error < 0)
		dsync_mirror_entries_dispose(out);
	return error;
}

/* ---- reading a file ---------------------------------------------------------- */

int dsync_mirror_tmp(mirror_run *r, int *fd)
{
	dsync_buf dir = DSYNC_BUF_INIT;
	int error = 0;

	if (r->tmp_fd < 0) {
		if ((error = dsync_buf_printf(&dir, "%s/" DSYNC_MIRROR_STATE_DIR "/%s/tmp", r->f->gitdir,
					      r->cfg->name)) < 0 ||
		    (error = dsync_path_mkdirs(dir.ptr)) < 0)
			goto out;
		/* unnamed: nothing to leave behind when the round is killed */
		r->tmp_fd = open(dir.ptr, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (r->tmp_fd < 0) {
			char *name;

			if ((error = dsync_buf_puts(&dir, "/download-XXXXXX")) < 0)
				goto out;
			name = dir.ptr;
			if ((r->tmp_fd = mkstemp(name)) < 0) {
				error = dsync_error_sys(errno, "cannot make a temporary file in '%s'", r->f->gitdir);
				goto out;
			}
			unlink(name);
		}
	}
	if (ftruncate(r->tmp_fd, 0) < 0 || lseek(r->tmp_fd, 0, SEEK_SET) < 0) {
		error = dsync_error_sys(errno, "cannot empty a temporary file in '%s'", r->f->gitdir);
		goto out;
	}
	*fd = r->tmp_fd;
out:
	dsync_buf_dispose(&dir);
	return error;
}

/* Stores what FD holds (SIZE bytes, from offset 0) as a blob. */
static int store_blob(git_oid *out, git_odb *odb, int fd, uint64_t size)
{
	git_odb_stream *stream = NULL;
	char *piece = NULL;
	uint64_t done = 0;
	int err, error = 0;

	git_error_clear();
	if ((piece = malloc(PIECE)) == NULL)
		return dsync_error_oom();
	if ((err = git_odb_open_wstream(&stream, odb, size, GIT_OBJECT_BLOB)) < 0) {
		error = dsync_error_git(err, "cannot store a file of the mirror");
		goto out;
	}
	while (done < size) {
		size_t want = size - done < PIECE ? (size_t)(size - done) : PIECE;
		ssize_t n = pread(fd, piece, want, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error = dsync_error_sys(n < 0 ? errno : EIO, "cannot read a downloaded file");
			goto out;
		}
		if ((err = git_odb_stream_write(stream, piece, (size_t)n)) < 0) {
			error = dsync_error_git(err, "cannot store a file of the mirror");
			goto out;
		}
		done += (uint64_t)n;
	}
	if ((err = git_odb_stream_finalize_write(out, stream)) < 0)
		error = dsync_error_git(err, "cannot store a file of the mirror");
out:
	git_odb_stream_free(stream);
	free(piece);
	return error;
}

typedef struct reading {
	git_odb *odb;
	uint64_t threshold;
	dsync_chunker chunker;
} reading;

/*
 * Reads the host's file F (listed as LISTED) into the store: its id and
 * mode into F.  *KEPT: it is still being written (its size or mtime moved
 * since the listing) or could not be read; nothing of it is recorded.  A
 * failure of the connection or of the store fails the round.
 */
static int read_file(mirror_run *r, reading *rd, mirror_hfile *f, unsigned base_mode, bool *kept)
{
	dsync_rfile st = { 0 };
	struct stat fs;
	bool exec = base_mode == GIT_FILEMODE_BLOB_EXECUTABLE;
	int fd, error;

	*kept = false;
	if ((error = dsync_mirror_tmp(r, &fd)) < 0)
		return error;
	dsync_mirror_test_hook("read", f->key);
	if (f->size == 0) {
		/* nothing to read (and a read's limit of 0 would be none: a
		 * hostile host could send without end); a file that grew since
		 * the listing is seen by the second look or the next round */
		if ((error = store_blob(&f->id, rd->odb, fd, 0)) < 0)
			return error;
		f->mode = exec ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
		return 0;
	}
	error = dsync_sftp_folder_read(r->pf, f->key, fd, f->size, &st);
	if (error == DSYNC_ERROR && st.size > f->size) {
		*kept = true; /* grew past its listed size: still being written */
		return 0;
	}
	if (error == DSYNC_ENOTFOUND || error == DSYNC_EUSAGE || error == DSYNC_EACCESS) {
		/* gone, no longer a file, or not readable: the next round sees */
		if (error == DSYNC_EACCESS)
			dsync_mirror_warn(r, "%s; kept back", dsync_error_last());
		*kept = true;
		return 0;
	}
	if (error < 0)
		return error;
	if (fstat(fd, &fs) < 0)
		return dsync_error_sys(errno, "cannot read a downloaded file");
	if (st.size != f->size || st.mtime != f->mtime || (uint64_t)fs.st_size != st.size) {
		*kept = true; /* still being written */
		return 0;
	}
	if (rd->threshold && st.size > rd->threshold) {
		uint64_t got = 0;

		if (lseek(fd, 0, SEEK_SET) < 0)
			return dsync_error_sys(errno, "cannot read a downloaded file");
		if ((error = dsync_chunks_from_fd(&f->id, &got, rd->odb, &rd->chunker, fd,
						  exec ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB, NULL)) < 0)
			return error;
		f->mode = GIT_FILEMODE_COMMIT;
		return 0;
	}
	if ((error = store_blob(&f->id, rd->odb, fd, st.size)) < 0)
		return error;
	f->mode = exec ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
	return 0;
}

/* The mode in the mirror's tree of the content ID that the cache named. */
static int cached_mode(unsigned *mode, git_odb *odb, const git_oid *id, unsigned base_mode, bool *missing)
{
	git_object_t type;
	size_t len;

	*missing = false;
	if (git_odb_read_header(&len, &type, odb, id) < 0) {
		*missing = true; /* read again */
		return 0;
	}
	if (type == GIT_OBJECT_TREE)
		*mode = GIT_FILEMODE_COMMIT;
	else
		*mode = base_mode == GIT_FILEMODE_BLOB_EXECUTABLE ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
	return 0;
}

/* ---- the listing -------------------------------------------------------------- */

static int cmp_hfile(const void *a, const void *b)
{
	return strcmp(((const mirror_hfile *)a)->key, ((const mirror_hfile *)b)->key);
}


/* The files and folders of the listing the round records, into R->host
 * (files: size and mtime; ids later) and DIRS (host paths). */
static int take_listing(mirror_run *r, dsync_strlist *dirs)
{
	dsync_buf fp = DSYNC_BUF_INIT, st = DSYNC_BUF_INIT;
	size_t i, links = 0;
	int error = 0;

	for (i = 0; i < r->listing.n && !error; i++) {
		const dsync_rfile *e = &r->listing.v[i];
		mirror_hfile h = { 0 };

		if (e->kind == DSYNC_RFILE_LINK || e->kind == DSYNC_RFILE_OTHER) {
			links++;
			continue;
		}
		if ((error = dsync_mirror_folder_path(&fp, r, e->path)) < 0)
			break;
		if (skipped_because(r, fp.ptr, e->kind == DSYNC_RFILE_DIR))
			continue;
		if ((error = dsync_history_stored_path(&st, fp.ptr, false)) < 0)
			break;
		if (stored_too_long(st.ptr)) {
			dsync_mirror_warn(r, "'%s' on the host has a name too long to record; left there", e->path);
			continue;
		}
		if (e->kind == DSYNC_RFILE_DIR) {
			if (dsync_strlist_add(dirs, e->path) < 0)
				error = dsync_error_oom();
			continue;
		}
		h.size = e->size;
		h.mtime = e->mtime;
		if ((h.key = strdup(e->path)) == NULL || dsync_array_push(r->host, h) < 0) {
			free(h.key);
			error = dsync_error_oom();
		}
	}
	if (links)
		dsync_mirror_warn(r, "%zu symbolic link%s or special file%s on the host left alone (not followed, "
				  "not recorded)", links, links == 1 ? "" : "s", links == 1 ? "" : "s");
	dsync_buf_dispose(&fp);
	dsync_buf_dispose(&st);
	return error;
}

/* ---- the guard ------------------------------------------------------------------- */

static void sort_host(mirror_run *r)
{
	if (r->host.size)
		qsort(r->host.ptr, r->host.size, sizeof(*r->host.ptr), cmp_hfile);
}

/* Whether the host path KEY is among R's host files (sorted). */
static mirror_hfile *find_host(mirror_run *r, const char *key)
{
	mirror_hfile k = { .key = (char *)key };

	if (!r->host.size)
		return NULL;
	return bsearch(&k, r->host.ptr, r->host.size, sizeof(*r->host.ptr), cmp_hfile);
}

static int guard(mirror_run *r, const mirror_entries *base)
{
	size_t i, n = 0, vanished = 0, listed = 0;
	char msg[512];

	for (i = 0; i < r->host.size; i++)
		listed += !r->host.ptr[i].marker;
	for (i = 0; i < base->size; i++) {
		const mirror_entry *e = &base->ptr[i];

		if (e->marker || e->problem || dsync_mirror_is_kept_back(r, e->key))
			continue;
		n++;
		if (!find_host(r, e->key))
			vanished++;
	}
	if (r->o->allow_mass_delete || n == 0 ||
	    !((listed == 0) || (vanished > n / 2 && vanished > DSYNC_MIRROR_MASS_DELETE_MIN)))
		return dsync_mirror_status_write(r->f, r->cfg->name, "paused", NULL);
	snprintf(msg, sizeof(msg), "%zu of %zu files vanished on the host at once (storage not mounted?)", vanished,
		 n);
	dsync_mirror_status_write(r->f, r->cfg->name, "paused", msg);
	r->res->paused = true;
	return dsync_error_set(DSYNC_EMASSDELETE,
			       "mirror '%s': %zu of %zu files vanished at once on %s (storage not mounted?); nothing "
			       "recorded. When they are really gone: dsync mirror sync %s --allow-mass-delete",
			       r->cfg->name, vanished, n, r->label, r->cfg->name);
}

/* ---- the scan ---------------------------------------------------------------------- */

static int read_base(git_index **out, mirror_run *r)
{
	git_reference *ref = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid index_form;
	dsync_buf name = DSYNC_BUF_INIT;
	int err, error = 0;

	if ((err = git_index_new(out)) < 0)
		return dsync_error_git(err, "cannot make an index");
	if ((error = dsync_buf_printf(&name, DSYNC_MIRROR_REF_PREFIX "%s", r->cfg->name)) < 0)
		goto out;
	if ((err = git_reference_lookup(&ref, r->f->repo, name.ptr)) == GIT_ENOTFOUND)
		goto out; /* never completed a round: an empty BASE */
	if (err < 0 || (err = git_reference_peel((git_object **)&c, ref, GIT_OBJECT_COMMIT)) < 0 ||
	    (err = git_commit_tree(&tree, c)) < 0) {
		error = dsync_error_git(err, "cannot read '%s'", name.ptr);
		goto out;
	}
	r->has_base = true;
	git_oid_cpy(&r->base_commit, git_commit_id(c));
	git_oid_cpy(&r->base_tree, git_tree_id(tree));
	if ((error = dsync_chunks_to_index_form(&index_form, r->f->repo, tree)) < 0)
		goto out;
	git_tree_free(tree);
	tree = NULL;
	if ((err = git_tree_lookup(&tree, r->f->repo, &index_form)) < 0 || (err = git_index_read_tree(*out, tree)) < 0)
		error = dsync_error_git(err, "cannot read '%s'", name.ptr);
out:
	git_tree_free(tree);
	git_commit_free(c);
	git_reference_free(ref);
	dsync_buf_dispose(&name);
	return error;
}

static int put_entry(git_index *m, const char *stored, const git_oid *id, unsigned mode)
{
	git_index_entry ie;
	int err;

	memset(&ie, 0, sizeof(ie));
	ie.path = stored;
	ie.mode = mode;
	git_oid_cpy(&ie.id, id);
	if ((err = git_index_add(m, &ie)) < 0)
		return dsync_error_git(err, "cannot record '%s'", stored);
	return 0;
}

/* The empty blob in the odb, as the snapshot stores it for its markers: a
 * tree naming it is committed, so it must be there (fsck, check, push). */
static int store_empty(mirror_run *r, bool *stored)
{
	git_odb *odb = NULL;
	git_oid id;
	int err;

	if ((err = git_repository_odb(&odb, r->f->repo)) < 0 ||
	    (err = git_odb_write(&id, odb, "", 0, GIT_OBJECT_BLOB)) < 0) {
		git_odb_free(odb);
		return dsync_error_git(err, "cannot store an empty folder");
	}
	git_odb_free(odb);
	*stored = true;
	return 0;
}

/* Adds an empty-folder marker for every listed folder (and the subfolder
 * itself) that has nothing below it in M; the same markers go to R->host.
 * Deepest first (the listing is sorted, so backwards): a folder whose only
 * content is an empty folder holds that one's marker, and gets none of its
 * own (as a snapshot stores it; one of its own the merge would drop and
 * the next round make again). */
static int add_markers(mirror_run *r, git_index *m, const dsync_strlist *dirs)
{
	dsync_buf fp = DSYNC_BUF_INIT, st = DSYNC_BUF_INIT;
	git_oid empty;
	bool stored = false;
	size_t i, pos;
	int err, error = 0;

	if ((err = git_odb_hash(&empty, "", 0, GIT_OBJECT_BLOB)) < 0)
		return dsync_error_git(err, "cannot hash");
	for (i = dirs->size + 1; i-- > 0 && !error;) {
		const char *d = i > 0 ? dirs->ptr[i - 1] : "";
		mirror_hfile h = { 0 };
		size_t len;

		if (i == 0 && (!r->cfg->path || !*r->cfg->path))
			break; /* the whole folder: no marker for its root */
		if (dsync_mirror_is_kept_back(r, d))
			continue;
		if ((error = dsync_mirror_folder_path(&fp, r, d)) < 0 ||
		    (error = dsync_history_stored_path(&st, fp.ptr, false)) < 0 ||
		    (error = dsync_buf_puts(&st, "/")) < 0)
			break;
		if (git_index_find_prefix(&pos, m, st.ptr) == 0)
			continue;
		/* nothing on the host below it either: the host's files are in M */
		if ((error = dsync_buf_puts(&st, DSYNC_DIR_MARKER)) < 0 ||
		    (!stored && (error = store_empty(r, &stored)) < 0) ||
		    (error = put_entry(m, st.ptr, &empty, GIT_FILEMODE_BLOB)) < 0)
			break;
		len = strlen(d);
		if ((h.key = malloc(len + 2)) == NULL) {
			error = dsync_error_oom();
			break;
		}
		snprintf(h.key, len + 2, "%s/", d);
		h.marker = true;
		h.mode = GIT_FILEMODE_BLOB;
		git_oid_cpy(&h.id, &empty);
		if (dsync_array_push(r->host, h) < 0) {
			free(h.key);
			error = dsync_error_oom();
		}
	}
	dsync_buf_dispose(&fp);
	dsync_buf_dispose(&st);
	return error;
}

/* Reads (or takes from the cache) every host file's content; files still
 * being written go to R->kept_back.  BASE: BASE's entries (sorted by key). */
/*
 * The second look at the files just read (the "size or mtime still
 * changing between two listings"): the read's own FSTAT catches a file that
 * grew while it was read, but a writer that paused for the length of a
 * short read would slip through.  So once at least STABLE_MS have passed
 * since the listing (mtimes have whole seconds), the files read are looked
 * at again in one flight; one whose size or mtime moved is kept back, its
 * cache entry dropped.  Only when a file read was modified recently by our
 * clock (or is dated in the future): an old photo read on a first round
 * costs no wait.
 */
#define STABLE_MS 1100
#define RECENT_S 120

static int look_again(mirror_run *r, const size_t *idx, size_t n, int64_t listed_ms)
{
	const char **paths = NULL;
	dsync_rfile *now = NULL;
	time_t clock = time(NULL);
	bool recent = false;
	int64_t waited;
	size_t i;
	int error = 0;

	for (i = 0; i < n && !recent; i++)
		recent = (int64_t)r->host.ptr[idx[i]].mtime + RECENT_S >= (int64_t)clock;
	if (!n || !recent)
		return 0;
	if ((waited = dsync_now_ms() - listed_ms) < STABLE_MS)
		dsync_sleep_ms(STABLE_MS - waited);
	if (!(paths = calloc(n, sizeof(*paths))) || !(now = calloc(n, sizeof(*now)))) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < n; i++)
		paths[i] = r->host.ptr[idx[i]].key;
	dsync_mirror_test_hook("look-again", NULL);
	if ((error = dsync_sftp_folder_lstat(r->pf, paths, n, now)) < 0)
		goto out;
	for (i = 0; i < n && !error; i++) {
		mirror_hfile *h = &r->host.ptr[idx[i]];

		if (now[i].kind == DSYNC_RFILE_FILE && now[i].size == h->size && now[i].mtime == h->mtime)
			continue;
		/* still being written (or gone, or replaced): the next round sees */
		dsync_mirror_cache_del(&r->cache, h->key);
		r->res->kept_back++;
		if (dsync_strset_add(&r->kept_back, h->key) < 0)
			error = dsync_error_oom();
	}
out:
	free(paths);
	free(now);
	return error;
}

static int read_files(mirror_run *r, const mirror_entries *base)
{
	DSYNC_ARRAY(size_t) got = DSYNC_ARRAY_INIT;
	int64_t listed_ms = dsync_now_ms();
	reading rd;
	size_t i, j = 0;
	int err, error = 0;

	memset(&rd, 0, sizeof(rd));
	if ((err = git_repository_odb(&rd.odb, r->f->repo)) < 0)
		return dsync_error_git(err, "cannot open the store of '%s'", r->f->root);
	if ((error = scan_chunking(&rd.threshold, &rd.chunker, r->f)) < 0)
		goto out;
	for (i = 0; i < r->host.size && !error; i++) {
		mirror_hfile *h = &r->host.ptr[i];
		const mirror_entry *b = NULL;
		const mirror_cache_entry *c;
		unsigned base_mode = 0;
		bool kept = false, missing = true;

		while (j < base->size && strcmp(base->ptr[j].key, h->key) < 0)
			j++;
		if (j < base->size && strcmp(base->ptr[j].key, h->key) == 0) {
			b = &base->ptr[j];
			base_mode = b->mode;
			if (b->mode == GIT_FILEMODE_COMMIT) {
				dsync_chunked info;

				if (dsync_chunks_info_of(&info, r->f->repo, &b->id) > 0)
					base_mode = info.mode;
			}
		}
		c = dsync_mirror_cache_find(&r->cache, h->key);
		if (c && c->size == h->size && c->mtime == h->mtime) {
			git_oid_cpy(&h->id, &c->id);
			if (b && git_oid_equal(&b->id, &c->id)) {
				h->mode = b->mode == GIT_FILEMODE_COMMIT || b->mode == GIT_FILEMODE_BLOB_EXECUTABLE
						  ? b->mode : GIT_FILEMODE_BLOB;
				missing = false;
			} else if ((error = cached_mode(&h->mode, rd.odb, &c->id, base_mode, &missing)) < 0) {
				break;
			}
		}
		if (!missing)
			continue;
		if ((error = read_file(r, &rd, h, base_mode, &kept)) < 0)
			break;
		if (kept) {
			r->res->kept_back++;
			if (dsync_strset_add(&r->kept_back, h->key) < 0)
				error = dsync_error_oom();
			continue;
		}
		if (dsync_mirror_cache_put(&r->cache, h->key, h->size, h->mtime, &h->id) < 0 ||
		    dsync_array_push(got, i) < 0)
			error = dsync_error_oom();
		r->cache_dirty = true;
	}
	if (!error)
		error = look_again(r, got.ptr, got.size, listed_ms);
out:
	dsync_array_dispose(got);
	git_odb_free(rd.odb);
	return error;
}

/* Drops from the cache the paths no longer on the host. */
static void cache_forget_gone(mirror_run *r)
{
	DSYNC_ARRAY(char *) gone = DSYNC_ARRAY_INIT;
	size_t i;

	for (i = 0; i < r->cache.n; i++)
		if (!find_host(r, r->cache.v[i].path) && !dsync_mirror_is_kept_back(r, r->cache.v[i].path))
			if (dsync_array_push(gone, r->cache.v[i].path) < 0)
				break;
	for (i = 0; i < gone.size; i++) {
		char *p = strdup(gone.ptr[i]);

		if (p)
			dsync_mirror_cache_del(&r->cache, p);
		free(p);
		r->cache_dirty = true;
	}
	dsync_array_dispose(gone);
}

/* A name the server listed twice is taken once (the listing is the
 * server's word, and one name is one file). */
static void drop_twice(mirror_run *r)
{
	size_t i, k = 0;

	for (i = 0; i < r->host.size; i++) {
		if (k && strcmp(r->host.ptr[k - 1].key, r->host.ptr[i].key) == 0) {
			free(r->host.ptr[i].key);
			continue;
		}
		r->host.ptr[k++] = r->host.ptr[i];
	}
	r->host.size = k;
}

/* Removes from R->host the files kept back (their BASE entries stand). */
static void drop_kept_back(mirror_run *r)
{
	size_t i, k = 0;

	for (i = 0; i < r->host.size; i++) {
		if (!r->host.ptr[i].marker && dsync_mirror_is_kept_back(r, r->host.ptr[i].key)) {
			free(r->host.ptr[i].key);
			continue;
		}
		r->host.ptr[k++] = r->host.ptr[i];
	}
	r->host.size = k;
}

int dsync_mirror_guard_missing(mirror_run *r)
{
	git_index *m = NULL;
	mirror_entries base = { 0 };
	int error;

	if ((error = read_base(&m, r)) == 0 && (error = dsync_mirror_tree_entries(&base, r, m)) == 0)
		error = guard(r, &base);
	dsync_mirror_entries_dispose(&base);
	git_index_free(m);
	return error;
}

int dsync_mirror_scan(mirror_run *r)
{
	git_index *m = NULL;
	mirror_entries base = { 0 };
	dsync_strlist dirs = DSYNC_STRLIST_INIT;
	dsync_buf fp = DSYNC_BUF_INIT, st = DSYNC_BUF_INIT;
	bool root_missing = false, *stale = NULL;
	size_t i;
	int err, error;

	if ((error = dsync_sftp_folder_list(r->pf, &r->listing, &r->unreadable, &root_missing)) < 0)
		goto out;
	dsync_mirror_test_hook("listed", NULL);
	for (i = 0; i < r->unreadable.n; i++)
		dsync_mirror_warn(r, "cannot list '%s' on the host; what is below it is kept as it was",
				  r->unreadable.v[i].path);
	if ((error = take_listing(r, &dirs)) < 0)
		goto out;
	sort_host(r);
	drop_twice(r);
	if ((error = read_base(&m, r)) < 0 || (error = dsync_mirror_tree_entries(&base, r, m)) < 0)
		goto out;
	if ((error = guard(r, &base)) < 0)
		goto out;
	if ((error = read_files(r, &base)) < 0)
		goto out;
	drop_kept_back(r);
	cache_forget_gone(r);
	/* M: BASE without what the host could hold, then what it holds */
	for (i = 0; i < base.size; i++) {
		const mirror_entry *e = &base.ptr[i];

		if (e->problem || dsync_mirror_is_kept_back(r, e->key))
			continue;
		if ((err = git_index_remove(m, e->stored, 0)) < 0 && err != GIT_ENOTFOUND) {
			error = dsync_error_git(err, "cannot update the mirror's tree");
			goto out;
		}
	}
	/* A name the host can't hold by the rules that a host holds anyway
	 * (a case-sensitive or non-FAT storage: "a.jpg" beside "A.jpg") is
	 * never written there, so once recorded the host's copy goes stale:
	 * taken again it would undo the computer's edits and never record a
	 * deletion. BASE's version stays; only a first sight records it. */
	sort_host(r);
	if (r->host.size && (stale = calloc(r->host.size, sizeof(*stale))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < base.size; i++) {
		const mirror_hfile *h;

		if (base.ptr[i].problem && !base.ptr[i].marker && (h = find_host(r, base.ptr[i].key)) != NULL)
			stale[h - r->host.ptr] = true;
	}
	for (i = 0; i < r->host.size; i++) {
		const mirror_hfile *h = &r->host.ptr[i];

		if (stale[i])
			continue;
		if ((error = dsync_mirror_folder_path(&fp, r, h->key)) < 0 ||
		    (error = dsync_history_stored_path(&st, fp.ptr, false)) < 0 ||
		    (error = put_entry(m, st.ptr, &h->id, h->mode)) < 0)
			goto out;
	}
	if ((error = add_markers(r, m, &dirs)) < 0)
		goto out;
	sort_host(r);
	if ((err = git_index_write_tree_to(&r->m_tree, m, r->f->repo)) < 0) {
		error = dsync_error_git(err, "cannot record the mirror's tree");
		goto out;
	}
	error = dsync_chunks_id_to_stored_form(&r->m_tree, r->f->repo, NULL);
out:
	free(stale);
	for (i = 0; i < dirs.size; i++)
		free(dirs.ptr[i]);
	dsync_array_dispose(dirs);
	dsync_mirror_entries_dispose(&base);
	git_index_free(m);
	dsync_buf_dispose(&fp);
	dsync_buf_dispose(&st);
	return error;
}
