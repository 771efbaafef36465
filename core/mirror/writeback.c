/*
 * Writing the folder's version back to a mirror's host (step 9 of the
 * round, docs/mirror.md): only where the host differs, each file written
 * to a temporary name first (journalled before it exists there, so a
 * killed round's leftovers are removed by the next, and only they), a
 * file the user changed on the host since the listing never replaced or
 * removed, nothing the host's storage can't hold touched.
 */
#include "core/base/internal.h"

#include "core/mirror/mirror_internal.h"
#include "core/base/chunks.h"
#include "core/base/path.h"
#include "core/base/strset.h"
#include "transport/sftp_folder.h"

#include <sys/stat.h>
#include <unistd.h>

enum { DO_WRITE, DO_REMOVE, DO_MKDIR, DO_RMDIR };

typedef struct action {
	int what;
	const char *key;          /* host path; a folder's ends in '/' for markers */
	const git_oid *id;        /* DO_WRITE */
	unsigned mode;
	const mirror_hfile *was;  /* what the host held there (DO_WRITE over a file, DO_REMOVE) */
} action;

typedef DSYNC_ARRAY(action) actions;

typedef struct writer {
	mirror_run *r;
	mirror_entries t;         /* the folder's version under the subfolder, by key */
	char **folded;            /* the listing's paths case-folded, sorted */
	size_t n_folded;
	dsync_strset made;        /* folders made this round */
	dsync_strlist rmdirs;     /* folders that may have been emptied */
	dsync_strlist removing;   /* host paths removed this round (case-folded) */
} writer;

#ifdef DSYNC_TESTING
static bool test_no_replace;

void dsync_mirror_set_test_no_replace(bool on)
{
	test_no_replace = on;
}
#else
#define test_no_replace false
#endif

static bool can_replace(const mirror_run *r)
{
	return !test_no_replace && dsync_sftp_folder_can_replace(r->pf);
}

/* Whether ERROR is one file's trouble (refused, in the way, gone) rather
 * than the connection's: the path is left for the next round. */
static bool one_file(int error)
{
	return error == DSYNC_EACCESS || error == DSYNC_EEXISTS || error == DSYNC_ENOTFOUND ||
	       error == DSYNC_EUSAGE || error == DSYNC_ENOSPACE || error == DSYNC_ENOTDIR;
}

/* ---- what the listing saw ---------------------------------------------------------- */

static int cmp_rfile(const void *a, const void *b)
{
	return strcmp(((const dsync_rfile *)a)->path, ((const dsync_rfile *)b)->path);
}

static const dsync_rfile *listed(const mirror_run *r, const char *path)
{
	dsync_rfile k = { .path = (char *)path };

	if (!r->listing.n)
		return NULL;
	return bsearch(&k, r->listing.v, r->listing.n, sizeof(*r->listing.v), cmp_rfile);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fold_listing(writer *w)
{
	size_t i;

	if (!w->r->listing.n)
		return 0;
	if ((w->folded = calloc(w->r->listing.n, sizeof(*w->folded))) == NULL)
		return dsync_error_oom();
	for (i = 0; i < w->r->listing.n; i++, w->n_folded++)
		if ((w->folded[i] = dsync_mirror_fold(w->r->listing.v[i].path)) == NULL)
			return dsync_error_oom();
	qsort(w->folded, w->n_folded, sizeof(*w->folded), cmp_str);
	return 0;
}

static bool in_sorted(char **v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

/*
 * What stands in the way of writing PATH (a file) on the host, as the
 * listing saw it: 0 nothing; 1 something this round removes first (a file
 * where a folder goes, a folder where the file goes, a name that differs
 * only in case): the write waits for the removals; -1 something it must
 * not touch (a link above it, a name differing only in case that stays):
 * WHY says what.
 */
static int in_the_way(writer *w, const char *path, char *why, size_t size)
{
	char *p = strdup(path), *slash, *l;
	const dsync_rfile *e;
	int ret = 0;

	if (!p)
		return -1;
	for (slash = strchr(p, '/');; slash = strchr(slash + 1, '/')) {
		bool last = slash == NULL;

		if (slash)
			*slash = '\0';
		e = listed(w->r, p);
		if (e && (e->kind == DSYNC_RFILE_LINK || e->kind == DSYNC_RFILE_OTHER)) {
			snprintf(why, size, "'%s' on the host is a link or special file", p);
			ret = -1;
		} else if (e && ((last && e->kind == DSYNC_RFILE_DIR) || (!last && e->kind == DSYNC_RFILE_FILE))) {
			ret = 1;
		} else if (!e && (l = dsync_mirror_fold(p)) != NULL) {
			if (in_sorted(w->folded, w->n_folded, l)) {
				if (in_sorted(w->removing.ptr, w->removing.size, l))
					ret = 1;
				else {
					snprintf(why, size, "differs from a name on the host only in case");
					ret = -1;
				}
			}
			free(l);
		}
		if (last || ret < 0)
			break;
		*slash = '/';
	}
	free(p);
	return ret;
}

/* ---- the content of a version ------------------------------------------------------ */

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dsync_error_sys(errno, "cannot write a temporary file");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int chunk_to_fd(const void *data, size_t len, void *payload)
{
	return write_all(*(int *)payload, data, len);
}

/* The content ID (index form, of MODE) into a temporary file: *FD. */
static int content(writer *w, int *fd, const char *path, const git_oid *id, unsigned mode)
{
	git_blob *b = NULL;
	int err, error;

	if ((error = dsync_mirror_tmp(w->r, fd)) < 0)
		return error;
	if (mode == GIT_FILEMODE_COMMIT)
		return dsync_chunks_read(w->r->f->repo, id, path, chunk_to_fd, fd);
	if ((err = git_blob_lookup(&b, w->r->f->repo, id)) < 0)
		return dsync_error_git(err, "cannot read '%s' to write it to the host", path);
	error = write_all(*fd, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
	git_blob_free(b);
	return error;
}

/* ---- the host's operations ------------------------------------------------------- */

static bool same_as_listed(const dsync_rfile *now, const mirror_hfile *was)
{
	return now->kind == DSYNC_RFILE_FILE && now->size == was->size && now->mtime == was->mtime;
}

/* Makes the folders above PATH that the host lacks. */
static int make_parents(writer *w, const char *path, bool after_removals)
{
	char *p = strdup(path), *slash;
	int error = 0;

	if (!p)
		return dsync_error_oom();
	for (slash = strchr(p, '/'); slash && !error; slash = strchr(slash + 1, '/')) {
		const dsync_rfile *e;

		*slash = '\0';
		e = listed(w->r, p);
		if ((!e || e->kind != DSYNC_RFILE_DIR || after_removals) && !dsync_strset_has(&w->made, p)) {
			error = dsync_sftp_folder_mkdir(w->r->pf, p);
			if (error == 0)
				w->r->res->dirs_made++;
			if (error == DSYNC_EEXISTS)
				error = 0;
			if (error == 0 && dsync_strset_add(&w->made, p) < 0)
				error = dsync_error_oom();
		}
		*slash = '/';
	}
	free(p);
	return error;
}

/* Removes the temporary TMP after a failed or abandoned write (its journal
 * entry removes it next time if this fails). */
static void drop_temp(writer *w, const char *tmp)
{
	int error = dsync_sftp_folder_remove(w->r->pf, tmp);

	if (error < 0 && error != DSYNC_ENOTFOUND)
		w->r->keep_journal = true;
}

/* Writes A (a file) to the host. */
static int do_write(writer *w, const action *a, bool after_removals)
{
	mirror_run *r = w->r;
	dsync_buf tmp = DSYNC_BUF_INIT, old = DSYNC_BUF_INIT;
	dsync_rfile now = { 0 };
	const char *path = a->key;
	bool replace = a->was && !after_removals;
	int fd, error;

	if ((error = make_parents(w, path, after_removals)) < 0)
		goto failed;
	if ((error = dsync_mirror_temp_name(&tmp, path, "new")) < 0 ||
	    (error = content(w, &fd, path, a->id, a->mode)) < 0)
		goto out;
	/* the journal names the temporary before it exists there */
	if ((error = dsync_mirror_journal_add(r->f, r->cfg->name, 'n', tmp.ptr, path)) < 0)
		goto out;
	dsync_mirror_test_hook("write", path);
	if ((error = dsync_sftp_folder_write_new(r->pf, tmp.ptr, fd,
						 a->mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644, 0)) < 0)
		goto failed;
	dsync_mirror_test_hook("renaming", path);
	if (replace) {
		const char *one = path;

		/* the user's edit since the listing is never overwritten */
		if ((error = dsync_sftp_folder_lstat(r->pf, &one, 1, &now)) < 0)
			goto failed;
		if (!same_as_listed(&now, a->was)) {
			drop_temp(w, tmp.ptr);
			r->res->kept_back++;
			r->incomplete = true;
			goto out;
		}
		if (can_replace(r)) {
			error = dsync_sftp_folder_rename(r->pf, tmp.ptr, path, true);
		} else {
			/* no atomic replace: the old file moved aside first */
			if ((error = dsync_mirror_temp_name(&old, path, "old")) < 0 ||
			    (error = dsync_mirror_journal_add(r->f, r->cfg->name, 'o', old.ptr, path)) < 0)
				goto out;
			if ((error = dsync_sftp_folder_rename(r->pf, path, old.ptr, false)) == 0) {
				dsync_mirror_test_hook("moved-aside", path);
				if ((error = dsync_sftp_folder_rename(r->pf, tmp.ptr, path, false)) == 0) {
					if (dsync_sftp_folder_remove(r->pf, old.ptr) < 0)
						r->keep_journal = true; /* the next round removes it */
				} else if (dsync_sftp_folder_rename(r->pf, old.ptr, path, false) < 0) {
					/* the user's file stays aside: the journal keeps its
					 * name, and the next round puts it back */
					r->keep_journal = true;
				}
			}
		}
	} else if ((error = dsync_sftp_folder_rename(r->pf, tmp.ptr, path, false)) < 0 && can_replace(r)) {
		const char *one = path;

		/* a server whose RENAME makes a hard link first (OpenSSH's
		 * sftp-server outside Termux) is refused it on a phone's shared
		 * storage: when nothing is at PATH, posix-rename does it */
		if (dsync_sftp_folder_lstat(r->pf, &one, 1, &now) == 0 && now.kind == DSYNC_RFILE_NONE)
			error = dsync_sftp_folder_rename(r->pf, tmp.ptr, path, true);
	}
	if (error < 0) {
		drop_temp(w, tmp.ptr);
		goto failed;
	}
	r->res->files_written++;
	{
		const char *one = path;

		if (dsync_sftp_folder_lstat(r->pf, &one, 1, &now) == 0 && now.kind == DSYNC_RFILE_FILE) {
			if (dsync_mirror_cache_put(&r->cache, path, now.size, now.mtime, a->id) < 0) {
				error = dsync_error_oom();
				goto out;
			}
			r->cache_dirty = true;
		}
	}
	error = 0;
	goto out;
failed:
	if (error < 0 && one_file(error)) {
		dsync_mirror_warn(r, "cannot write '%s' on the host: %s; left for the next round", path,
				  dsync_error_last());
		r->incomplete = true;
		error = 0;
	}
out:
	dsync_buf_dispose(&tmp);
	dsync_buf_dispose(&old);
	return error;
}

/* Adds the folders above PATH to the folders that may have been emptied. */
static int may_empty(writer *w, const char *path)
{
	char *p = strdup(path), *slash;
	int error = 0;

	if (!p)
		return dsync_error_oom();
	while (!error && (slash = strrchr(p, '/')) != NULL) {
		*slash = '\0';
		if (dsync_strlist_add(&w->rmdirs, p) < 0)
			error = dsync_error_oom();
	}
	free(p);
	return error;
}

/* Removes the host's file A->was (unless the user changed it since). */
static int do_remove(writer *w, const action *a)
{
	mirror_run *r = w->r;
	dsync_rfile now = { 0 };
	const char *one = a->key;
	int error;

	if ((error = dsync_sftp_folder_lstat(r->pf, &one, 1, &now)) < 0)
		return error;
	if (now.kind == DSYNC_RFILE_NONE) {
		dsync_mirror_cache_del(&r->cache, a->key);
		r->cache_dirty = true;
		return may_empty(w, a->key);
	}
	if (!same_as_listed(&now, a->was)) {
		r->res->kept_back++;
		r->incomplete = true;
		return 0;
	}
	dsync_mirror_test_hook("remove", a->key);
	if ((error = dsync_sftp_folder_remove(r->pf, a->key)) < 0 && error != DSYNC_ENOTFOUND) {
		if (!one_file(error))
			return error;
		dsync_mirror_warn(r, "cannot remove '%s' on the host: %s; left for the next round", a->key,
				  dsync_error_last());
		r->incomplete = true;
		return 0;
	}
	r->res->files_removed++;
	dsync_mirror_cache_del(&r->cache, a->key);
	r->cache_dirty = true;
	return may_empty(w, a->key);
}

/* Whether the folder's version has anything at or below the folder DIR. */
static bool needed(const writer *w, const char *dir)
{
	size_t lo = 0, hi = w->t.size, len = strlen(dir);

	/* the first key not below "DIR/" in byte order: one below it, if any,
	 * is there (never a walk over "DIR.txt", "DIR-2", ... before it) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = w->t.ptr[mid].key;
		int c = strncmp(k, dir, len);

		if (c == 0)
			c = k[len] == '\0' ? -1 : (unsigned char)k[len] - (unsigned char)'/';
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->t.size && strncmp(w->t.ptr[lo].key, dir, len) == 0 && w->t.ptr[lo].key[len] == '/';
}

static int cmp_deepest(const void *a, const void *b)
{
	return -strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the folders this round emptied that the folder's version has
 * not (deepest first; a folder with anything left in it stays). */
static void remove_dirs(writer *w)
{
	size_t i;

	if (w->rmdirs.size)
		qsort(w->rmdirs.ptr, w->rmdirs.size, sizeof(*w->rmdirs.ptr), cmp_deepest);
	for (i = 0; i < w->rmdirs.size; i++) {
		const char *d = w->rmdirs.ptr[i];

		if (i > 0 && strcmp(d, w->rmdirs.ptr[i - 1]) == 0)
			continue;
		if (!*d || needed(w, d) || dsync_mirror_is_kept_back(w->r, d))
			continue;
		if (dsync_sftp_folder_rmdir(w->r->pf, d) == 0)
			w->r->res->dirs_removed++;
	}
}

/* ---- the plan ---------------------------------------------------------------------- */

static int keep_on_computer(writer *w, const mirror_entry *e)
{
	dsync_buf fp = DSYNC_BUF_INIT;
	size_t len = strlen(e->key);
	char *host = strdup(e->key);
	int error;

	if (!host)
		return dsync_error_oom();
	if (e->marker && len)
		host[len - 1] = '\0';
	if ((error = dsync_mirror_folder_path(&fp, w->r, host)) == 0 &&
	    (dsync_strlist_add(&w->r->kept, fp.ptr) < 0 || dsync_strlist_add(&w->r->kept, e->problem) < 0))
		error = dsync_error_oom();
	w->r->res->computer_only++;
	free(host);
	dsync_buf_dispose(&fp);
	return error;
}

/* What differs between the folder's version and the host, into V. */
static int plan(writer *w, actions *v)
{
	mirror_run *r = w->r;
	size_t i = 0, j = 0;
	int error = 0;

	while ((i < w->t.size || j < r->host.size) && !error) {
		const mirror_entry *t = i < w->t.size ? &w->t.ptr[i] : NULL;
		const mirror_hfile *h = j < r->host.size ? &r->host.ptr[j] : NULL;
		int c = !t ? 1 : !h ? -1 : strcmp(t->key, h->key);
		action a = { 0 };

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (t && c <= 0 && t->problem) {
			/* kept on the computer only: never written, never removed */
			error = keep_on_computer(w, t);
			continue;
		}
		if (strcmp(c <= 0 ? t->key : h->key, "/") == 0)
			continue; /* the subfolder itself */
		if (dsync_mirror_is_kept_back(r, c <= 0 ? t->key : h->key)) {
			r->incomplete = true;
			continue;
		}
		if (c < 0) {
			a.what = t->marker ? DO_MKDIR : DO_WRITE;
			a.key = t->key;
			a.id = &t->id;
			a.mode = t->mode;
		} else if (c > 0) {
			a.what = h->marker ? DO_RMDIR : DO_REMOVE;
			a.key = h->key;
			a.was = h;
		} else if (!t->marker && !git_oid_equal(&t->id, &h->id)) {
			a.what = DO_WRITE;
			a.key = t->key;
			a.id = &t->id;
			a.mode = t->mode;
			a.was = h;
		} else {
			continue;
		}
		if (dsync_array_push(*v, a) < 0)
			error = dsync_error_oom();
		if (a.what == DO_REMOVE) {
			char *l = dsync_mirror_fold(a.key);

			if (!l || dsync_array_push(w->removing, l) < 0) {
				free(l);
				error = dsync_error_oom();
			}
		}
	}
	if (w->removing.size)
		qsort(w->removing.ptr, w->removing.size, sizeof(*w->removing.ptr), cmp_str);
	return error;
}

/* Makes the empty folder DIR ("DIR/" as a key). */
static int do_mkdir(writer *w, const char *key)
{
	char *d = strdup(key);
	size_t len;
	int error;

	if (!d)
		return dsync_error_oom();
	len = strlen(d);
	d[len - 1] = '\0';
	if ((error = make_parents(w, key, false)) == 0 && !dsync_strset_has(&w->made, d)) {
		const dsync_rfile *e = listed(w->r, d);

		if (!e || e->kind != DSYNC_RFILE_DIR) {
			if ((error = dsync_sftp_folder_mkdir(w->r->pf, d)) == 0)
				w->r->res->dirs_made++;
			if (error == DSYNC_EEXISTS)
				error = 0;
		}
	}
	if (error < 0 && one_file(error)) {
		dsync_mirror_warn(w->r, "cannot make the folder '%s' on the host: %s", d, dsync_error_last());
		w->r->incomplete = true;
		error = 0;
	}
	free(d);
	return error;
}

int dsync_mirror_writeback(mirror_run *r, git_index *head)
{
	writer w;
	actions v = DSYNC_ARRAY_INIT;
	DSYNC_ARRAY(size_t) later = DSYNC_ARRAY_INIT;
	size_t i;
	int error;

	memset(&w, 0, sizeof(w));
	w.r = r;
	if ((error = dsync_mirror_tree_entries(&w.t, r, head)) < 0 || (error = fold_listing(&w)) < 0 ||
	    (error = plan(&w, &v)) < 0)
		goto out;
	/* writes first (a rename cut short leaves both names, never none),
	 * except those waiting for a removal */
	for (i = 0; i < v.size && !error; i++) {
		char why[300];
		int way;

		if (v.ptr[i].what == DO_MKDIR) {
			error = do_mkdir(&w, v.ptr[i].key);
			continue;
		}
		if (v.ptr[i].what != DO_WRITE)
			continue;
		way = in_the_way(&w, v.ptr[i].key, why, sizeof(why));
		if (way < 0) {
			dsync_buf fp = DSYNC_BUF_INIT;

			if ((error = dsync_mirror_folder_path(&fp, r, v.ptr[i].key)) == 0 &&
			    (dsync_strlist_add(&r->kept, fp.ptr) < 0 || dsync_strlist_add(&r->kept, why) < 0))
				error = dsync_error_oom();
			dsync_buf_dispose(&fp);
			r->res->computer_only++;
			r->incomplete = true;
		} else if (way > 0 && dsync_array_push(later, i) < 0) {
			error = dsync_error_oom();
		} else if (way == 0) {
			error = do_write(&w, &v.ptr[i], false);
		}
	}
	for (i = 0; i < v.size && !error; i++) {
		if (v.ptr[i].what == DO_REMOVE)
			error = do_remove(&w, &v.ptr[i]);
		else if (v.ptr[i].what == DO_RMDIR && dsync_strlist_add(&w.rmdirs, v.ptr[i].key) == 0)
			w.rmdirs.ptr[w.rmdirs.size - 1][strlen(v.ptr[i].key) - 1] = '\0';
	}
	if (!error)
		remove_dirs(&w);
	for (i = 0; i < later.size && !error; i++)
		error = do_write(&w, &v.ptr[later.ptr[i]], true);
out:
	dsync_array_dispose(v);
	dsync_array_dispose(later);
	dsync_mirror_entries_dispose(&w.t);
	for (i = 0; i < w.n_folded; i++)
		free(w.folded[i]);
	free(w.folded);
	dsync_strset_dispose(&w.made);
	dsync_strlist_dispose(&w.rmdirs);
	dsync_strlist_dispose(&w.removing);
	return error;
}
