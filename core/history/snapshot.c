/*
 * Snapshots: the working tree into one commit (DESIGN.md section 3), and
 * status, what changed since the last one.
 */
#include "core/base/internal.h"
#include "dsync/snapshot.h"
#include "core/history/snapshot_internal.h"
#include "core/base/chunks.h"
#include "core/history/scan.h"
#include "core/base/buf.h"
#include "core/base/path.h"
#include "core/base/strset.h"
#include "core/history/verify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MASS_DELETE_MIN 10

void dsync_changes_dispose(dsync_changes *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].old_path);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

int dsync_changes_add(dsync_changes *c, char kind, const char *stored_path,
		      const char *stored_old, bool is_link)
{
	dsync_buf p = DSYNC_BUF_INIT, o = DSYNC_BUF_INIT;
	dsync_change *ch;
	int error;

	if (dsync_path_is_dir_marker(stored_path)) {
		/* an empty folder: shown as "dir/" when it appears; its marker
		 * going away (files arrived, or the folder went) is not news */
		if (kind == 'D')
			return 0;
		kind = 'A';
		stored_old = NULL;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		dsync_change *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return dsync_error_oom();
		c->v = v;
		c->cap = cap;
	}
	if ((error = dsync_buf_puts(&p, "")) < 0 ||
	    (error = dsync_path_unescape(&p, stored_path, is_link)) < 0)
		goto out;
	if (dsync_path_is_dir_marker(stored_path))
		dsync_buf_truncate(&p, p.len - strlen(DSYNC_DIR_MARKER));
	if (stored_old && ((error = dsync_buf_puts(&o, "")) < 0 ||
			   (error = dsync_path_unescape(&o, stored_old, is_link)) < 0))
		goto out;
	ch = &c->v[c->n++];
	ch->kind = kind;
	ch->path = dsync_buf_detach(&p);
	ch->old_path = stored_old ? dsync_buf_detach(&o) : NULL;
	if (!ch->path || (stored_old && !ch->old_path)) {
		free(ch->path);
		free(ch->old_path);
		c->n--;
		error = dsync_error_oom();
		goto out;
	}
	error = 0;
out:
	dsync_buf_dispose(&p);
	dsync_buf_dispose(&o);
	return error;
}

static int add_delta(dsync_changes *out, const git_diff_delta *d)
{
	const git_diff_file *file = d->status == GIT_DELTA_DELETED ? &d->old_file : &d->new_file;
	bool link = file->mode == GIT_FILEMODE_LINK;
	char kind;

	switch (d->status) {
	case GIT_DELTA_ADDED:
		kind = 'A';
		break;
	case GIT_DELTA_DELETED:
		kind = 'D';
		break;
	case GIT_DELTA_RENAMED:
		kind = 'R';
		break;
	case GIT_DELTA_TYPECHANGE:
		kind = 'T';
		break;
	default:
		kind = 'M';
		break;
	}
	return dsync_changes_add(out, kind, file->path, kind == 'R' ? d->old_file.path : NULL, link);
}

int dsync_changes_from_diff(dsync_changes *out, git_diff *diff)
{
	size_t i, n = git_diff_num_deltas(diff);
	int error = 0;

	for (i = 0; i < n && !error; i++)
		error = add_delta(out, git_diff_get_delta(diff, i));
	return error;
}

/* The length of P in PATH when PATH looks like a piece of a chunk tree at P
 * ("P/.dsync-chunks", "P/gNNNNNN/cNNNN"), else 0. */
static size_t chunk_piece(const char *path)
{
	const char *s = strrchr(path, '/'), *g;

	if (!s || s == path)
		return 0;
	if (strcmp(s + 1, DSYNC_CHUNKS_MARKER) == 0)
		return (size_t)(s - path);
	if (strlen(s + 1) != 5 || s[1] != 'c' || strspn(s + 2, "0123456789abcdef") != 4)
		return 0;
	for (g = s - 1; g > path && *g != '/'; g--)
		;
	if (g == path || s - g != 8 || g[1] != 'g' || strspn(g + 2, "0123456789abcdef") < 6)
		return 0;
	return (size_t)(g - path);
}

/* Whether TREE (may be NULL) holds a chunk tree at the stored path P. */
static bool big_at(git_repository *repo, git_tree *tree, const char *p)
{
	git_tree_entry *e = NULL;
	bool yes;

	if (!tree || git_tree_entry_bypath(&e, tree, p) < 0)
		return false;
	yes = dsync_chunks_entry_is_big(NULL, repo, e);
	git_tree_entry_free(e);
	return yes;
}

/*
 * The changes of DIFF (from FROM to TO), with a big file's chunk tree
 * shown as one change of the file (docs/chunks.md), and a file that became
 * one (or stopped being one) as modified.
 */
/* Adds the change of the big file at the stored path P (LEN bytes of PATH),
 * once: the set SEEN holds those already added.  1 when P is no big file
 * on either side. */
static int add_big(dsync_changes *out, dsync_strset *seen, git_repository *repo, git_tree *from, git_tree *to,
		   const char *path, size_t len)
{
	bool big_from, big_to;
	char *p;
	int error = 0;

	if ((p = strndup(path, len)) == NULL)
		return dsync_error_oom();
	if (!dsync_strset_has(seen, p)) {
		big_from = big_at(repo, from, p);
		big_to = big_at(repo, to, p);
		if (!big_from && !big_to)
			error = 1; /* a folder of the user's that looks like one */
		/* a plain file on the other side has its own change: both
		 * become one "M" below */
		else if ((error = dsync_strset_add(seen, p)) >= 0)
			error = dsync_changes_add(out, big_from && big_to ? 'M' : big_to ? 'A' : 'D', p, NULL, false);
	}
	free(p);
	return error;
}

/* Orders indexes into a change list by path, then by index. */
static int cmp_change_at(const void *a, const void *b, void *payload)
{
	const dsync_change *v = payload;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(v[i].path, v[j].path);

	return c ? c : (i > j) - (i < j);
}

/*
 * Folds each pair of an addition and a deletion of one path in OUT's
 * changes from FIRST on into one modification (a file that became a big
 * file, or the reverse), where the earlier of the two stands.  Sorting the
 * indexes by path puts such pairs side by side, so the cost is n log n.
 */
static int fold_add_delete(dsync_changes *out, size_t first)
{
	size_t m = out->n - first, k, g, w;
	size_t *ix;

	if (m < 2)
		return 0;
	if ((ix = malloc(m * sizeof(*ix))) == NULL)
		return dsync_error_oom();
	for (k = 0; k < m; k++)
		ix[k] = first + k;
	qsort_r(ix, m, sizeof(*ix), cmp_change_at, out->v);
	for (k = 0; k < m; k = g) {
		size_t a, b;

		for (g = k + 1; g < m && strcmp(out->v[ix[g]].path, out->v[ix[k]].path) == 0; g++)
			;
		/* within one path (a few entries), in list order: each change
		 * pairs with the first later unpaired complement */
		for (a = k; a < g; a++) {
			dsync_change *x = &out->v[ix[a]];

			if (x->kind != 'A' && x->kind != 'D')
				continue;
			for (b = a + 1; b < g; b++) {
				dsync_change *y = &out->v[ix[b]];

				if ((x->kind == 'A' && y->kind == 'D') || (x->kind == 'D' && y->kind == 'A')) {
					x->kind = 'M';
					y->kind = 0; /* folded away */
					break;
				}
			}
		}
	}
	free(ix);
	for (k = w = first; k < out->n; k++) {
		if (out->v[k].kind == 0) {
			free(out->v[k].path);
			free(out->v[k].old_path);
			continue;
		}
		out->v[w++] = out->v[k];
	}
	out->n = w;
	return 0;
}

/*
 * The changes of DIFF (from FROM to TO), with a big file's chunk tree
 * shown as one change of the file (docs/chunks.md), and a file that became
 * one (or stopped being one) as modified.  A rename that pairs pieces of
 * chunk trees (or a piece with a file) is a deletion and an addition: big
 * files are not followed across renames.
 */
static int changes_collapsed(dsync_changes *out, git_diff *diff, git_repository *repo, git_tree *from, git_tree *to)
{
	size_t i, n = git_diff_num_deltas(diff), first = out->n;
	dsync_strset seen = DSYNC_STRSET_INIT;
	int error = 0;

	for (i = 0; i < n && !error; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		bool renamed = d->status == GIT_DELTA_RENAMED;
		const char *old_path = d->old_file.path, *new_path = d->new_file.path;
		size_t lo = d->status != GIT_DELTA_ADDED ? chunk_piece(old_path) : 0;
		size_t ln = d->status != GIT_DELTA_DELETED ? chunk_piece(new_path) : 0;

		if (lo && (error = add_big(out, &seen, repo, from, to, old_path, lo)) != 0) {
			if (error < 0)
				break;
			lo = 0; /* not a big file's piece after all */
		}
		if (ln && (error = add_big(out, &seen, repo, from, to, new_path, ln)) != 0) {
			if (error < 0)
				break;
			ln = 0;
		}
		error = 0;
		if (!lo && !ln) {
			error = add_delta(out, d);
			continue;
		}
		/* the other side of a rename is a plain file */
		if (renamed && !lo)
			error = dsync_changes_add(out, 'D', old_path, NULL, d->old_file.mode == GIT_FILEMODE_LINK);
		else if (renamed && !ln)
			error = dsync_changes_add(out, 'A', new_path, NULL, d->new_file.mode == GIT_FILEMODE_LINK);
	}
	dsync_strset_dispose(&seen);
	/* a file that became a big file (or the reverse): one change */
	if (error == 0)
		error = fold_add_delete(out, first);
	return error;
}

int dsync_changes_between(dsync_changes *out, git_repository *repo, git_tree *from,
			  git_tree *to, const char *pathspec, int renames)
{
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	git_diff *diff = NULL;
	char *specs[1];
	int err, error;

	memset(out, 0, sizeof(*out));
	opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_SKIP_BINARY_CHECK;
	if (pathspec && *pathspec) {
		specs[0] = (char *)pathspec;
		opts.pathspec.strings = specs;
		opts.pathspec.count = 1;
		opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH;
	}
	if ((err = git_diff_tree_to_tree(&diff, repo, from, to, &opts)) < 0)
		return dsync_history_compare_error(repo, err);
	if (renames) {
		git_diff_find_options fo = GIT_DIFF_FIND_OPTIONS_INIT;

		fo.flags = GIT_DIFF_FIND_RENAMES |
			   (renames == DSYNC_RENAMES_SIMILAR ? 0 : GIT_DIFF_FIND_EXACT_MATCH_ONLY);
		if ((err = git_diff_find_similar(diff, &fo)) < 0) {
			error = dsync_history_compare_error(repo, err);
			goto out;
		}
	}
	error = changes_collapsed(out, diff, repo, from, to);
out:
	git_diff_free(diff);
	if (error < 0)
		dsync_changes_dispose(out);
	return error;
}

static int make_message(dsync_buf *msg, const dsync_changes *ch, bool first,
			const char *user_message, const char *device_id)
{
	size_t i;
	int error;

	if (user_message && *user_message) {
		size_t len = strlen(user_message);

		while (len > 0 && user_message[len - 1] == '\n')
			len--;
		error = dsync_buf_put(msg, user_message, len);
	} else if (first) {
		error = dsync_buf_printf(msg, "first snapshot: %zu file%s", ch->n,
					 ch->n == 1 ? "" : "s");
	} else {
		error = dsync_buf_printf(msg, "%zu file%s changed: ", ch->n, ch->n == 1 ? "" : "s");
		/* names cut and made visible: a newline in one must not make
		 * lines (or a trailer) of the message */
		for (i = 0; i < ch->n && i < 3 && !error; i++) {
			char q[DSYNC_QUOTE_SIZE];

			error = dsync_buf_printf(msg, "%s%s", i ? ", " : "", dsync_quote(q, ch->v[i].path));
		}
		if (!error && ch->n > 3)
			error = dsync_buf_puts(msg, ", …");
	}
	if (!error)
		error = dsync_buf_printf(msg, "\n\nDsync-Device: %s\n", device_id);
	return error;
}

int dsync_local_signature(git_signature **out, const char *name, const char *email)
{
	time_t now = time(NULL);
	struct tm tm;
	int err;

	localtime_r(&now, &tm);
	if ((err = git_signature_new(out, name, email, (git_time_t)now, (int)(tm.tm_gmtoff / 60))) < 0)
		return dsync_error_git(err, "cannot make the commit's author");
	return 0;
}

/* The index file's path. */
static int index_path(dsync_buf *out, const dsync_folder *f)
{
	return dsync_buf_printf(out, "%s/index", f->gitdir);
}

int dsync_load_statcache(statcache *out, const dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if ((error = index_path(&path, f)) == 0)
		error = statcache_load(out, path.ptr);
	dsync_buf_dispose(&path);
	return error;
}

/* Opens F's index for writing, standalone: libgit2's own racy-entry check
 * would diff the work tree with its own rules; the walk does that check. */
static int open_index(git_index **out, const dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int err, error = 0;

	if ((error = index_path(&path, f)) < 0)
		return error;
	if ((err = git_index_open(out, path.ptr)) < 0)
		error = dsync_error_git(err, "cannot read the index of '%s'", f->root);
	dsync_buf_dispose(&path);
	return error;
}

/*
 * Compares the walk SCAN with the cache C (both sorted): *CONTENT true when a
 * file was added or changed content or mode, *STAT true when only stat data
 * needs refreshing, *DELETED the number of cached files the walk did not see.
 */
static void compare_with_cache(const scan_list *scan, const statcache *c, bool *content,
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

/*
 * Of the files in the cache C that the walk SCAN (sorted) no longer has, how
 * many are still on disk: the ignore rules leave them out now, they did not
 * vanish (a mass deletion's cause: a changed .dsyncignore, not a missing
 * drive).
 */
static size_t count_left_out(const dsync_folder *f, const statcache *c, const scan_list *scan)
{
	dsync_buf abs = DSYNC_BUF_INIT;
	struct stat st;
	size_t i = 0, j = 0, n = 0;

	while (i < c->n) {
		int cmp = j >= scan->n ? -1 : strcmp(c->v[i].path, scan->v[j].path);
		const char *path = c->v[i].path;

		if (cmp > 0) {
			j++;
			continue;
		}
		i++;
		if (cmp == 0) {
			j++;
			continue;
		}
		dsync_buf_truncate(&abs, 0);
		if (dsync_buf_printf(&abs, "%s/", f->root) < 0 ||
		    dsync_path_unescape(&abs, path, (c->v[i - 1].mode & 0170000) == 0120000) < 0)
			break;
		if (dsync_path_is_dir_marker(path)) {
			char *slash = strrchr(abs.ptr, '/');

			*slash = '\0'; /* an empty folder: the folder itself */
		}
		if (lstat(abs.ptr, &st) == 0)
			n++;
	}
	dsync_buf_dispose(&abs);
	return n;
}

/*
 * The head as the last snapshot recorded it, without libgit2:
 * .dsync/dsync-head holds "COMMIT TREE\n", and is believed only while the
 * loose ref refs/heads/main still names COMMIT.  False when it can't tell.
 */
static bool cached_head(const dsync_folder *f, git_oid *commit, git_oid *tree)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char ref[128], rec[256];
	bool ok = false;

	if (dsync_buf_printf(&path, "%s/" MAIN_REF, f->gitdir) < 0 ||
	    dsync_path_read_small(path.ptr, ref, sizeof(ref)) != GIT_OID_HEXSZ + 1)
		goto out;
	dsync_buf_truncate(&path, 0);
	if (dsync_buf_printf(&path, "%s/dsync-head", f->gitdir) < 0 ||
	    dsync_path_read_small(path.ptr, rec, sizeof(rec)) != 2 * GIT_OID_HEXSZ + 2)
		goto out;
	if (memcmp(ref, rec, GIT_OID_HEXSZ) != 0 || rec[GIT_OID_HEXSZ] != ' ')
		goto out;
	ok = git_oid_fromstrn(commit, rec, GIT_OID_HEXSZ) == 0 &&
	     git_oid_fromstrn(tree, rec + GIT_OID_HEXSZ + 1, GIT_OID_HEXSZ) == 0;
out:
	dsync_buf_dispose(&path);
	return ok;
}

void dsync_record_head(const dsync_folder *f, const git_oid *commit, const git_oid *tree)
{
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT;
	char text[2 * GIT_OID_HEXSZ + 3];
	int fd;

	git_oid_fmt(text, commit);
	text[GIT_OID_HEXSZ] = ' ';
	git_oid_fmt(text + GIT_OID_HEXSZ + 1, tree);
	text[2 * GIT_OID_HEXSZ + 1] = '\n';
	if (dsync_buf_printf(&path, "%s/dsync-head", f->gitdir) < 0 ||
	    dsync_buf_printf(&tmp, "%s.lock", path.ptr) < 0)
		goto out;
	if ((fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0644)) < 0)
		goto out;
	if (write(fd, text, 2 * GIT_OID_HEXSZ + 2) != 2 * GIT_OID_HEXSZ + 2 || close(fd) < 0 ||
	    rename(tmp.ptr, path.ptr) < 0)
		unlink(tmp.ptr);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&tmp);
}

/*
 * The quick paths' one look at the store: the head the stat cache stands
 * on (the ref names it, as cached_head() checked) can still be read.  One object read, so
 * an unchanged folder whose history was lost says so instead of "nothing
 * changed"; no tree is read.
 */
static int head_readable(dsync_folder *f)
{
	git_oid head;
	int error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	return dsync_history_head(&head, f->repo);
}

int dsync_head_tree(git_tree **out, git_oid *head, bool *born, git_repository *repo)
{
	git_commit *c = NULL;
	int err;

	*out = NULL;
	*born = false;
	/* a head that can't be read is a damaged history, never "no
	 * snapshot yet": a new first snapshot would start a second history */
	if ((err = dsync_history_head(head, repo)) == DSYNC_ENOTFOUND)
		return 0;
	if (err < 0)
		return err;
	*born = true;
	if ((err = git_commit_lookup(&c, repo, head)) < 0 || (err = git_commit_tree(out, c)) < 0) {
		git_commit_free(c);
		return dsync_history_walk_error(repo, err);
	}
	git_commit_free(c);
	return 0;
}

/* Marks stale every entry of C named in PATHS: true when one was. */
static bool forget_all(statcache *c, const dsync_strset *paths)
{
	bool any = false;
	size_t i;

	for (i = 0; i < paths->cap; i++)
		if (paths->v[i] && statcache_forget(c, paths->v[i]))
			any = true;
	return any;
}

int dsync_snapshot_take_locked(dsync_snapshot_result *out, dsync_folder *f,
			const dsync_snapshot_options *opts)
{
	dsync_snapshot_options defaults = DSYNC_SNAPSHOT_OPTIONS_INIT;
	git_index *index = NULL;
	git_tree *old_tree = NULL, *new_tree = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_reference *ref = NULL;
	git_oid head, tree_oid, commit_oid, index_tree;
	statcache cache = { 0 };
	scan_list scan = { 0 };
	dsync_changes changes = { 0 };
	dsync_buf msg = DSYNC_BUF_INIT;
	dsync_strset unreadable = DSYNC_STRSET_INIT;
	bool born, content, stat_only, fast, locked = false, healing = false;
	size_t i, j, deleted;
	int err, error;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if ((error = dsync_folder_lock(f, opts->lock_wait_ms)) < 0)
		return error;
	locked = true;
	if ((error = dsync_load_statcache(&cache, f)) < 0)
		goto out;
	fast = cache.has_tree && cached_head(f, &head, &tree_oid) && git_oid_equal(&cache.tree, &tree_oid);
rescan:
	if ((error = scan_worktree(&scan, f, &cache, true, opts->progress, opts->keep, opts->payload)) < 0)
		goto out;
	for (i = 0; i < scan.nproblems; i++)
		if (opts->warn && !healing)
			opts->warn(scan.problems[i], opts->payload);
	out->problems = scan.nproblems;
	out->busy = scan.busy;
	out->files = scan.n;
	/* the fast path: the walk matches the index, and the index the head;
	 * only the head commit is read (no tree, no file) */
	if (scan.unchanged && fast) {
		if ((error = head_readable(f)) < 0)
			goto out;
		git_oid_tostr(out->commit, sizeof(out->commit), &head);
		error = 0;
		goto out;
	}
	if ((error = dsync_folder_repo(f)) < 0 ||
	    (error = dsync_head_tree(&old_tree, &head, &born, f->repo)) < 0)
		goto out;
	if (scan.unchanged && born && cache.has_tree && git_oid_equal(&cache.tree, git_tree_id(old_tree))) {
		dsync_record_head(f, &head, git_tree_id(old_tree));
		git_oid_tostr(out->commit, sizeof(out->commit), &head);
		error = 0;
		goto out;
	}
	scan_list_sort(&scan);
	compare_with_cache(&scan, &cache, &content, &stat_only, &deleted);
	if (deleted > cache.n / 2 && deleted > MASS_DELETE_MIN && !opts->allow_mass_delete) {
		out->deleted = deleted;
		out->files = cache.n;
		out->left_out = count_left_out(f, &cache, &scan);
		if (out->left_out > deleted / 2)
			error = dsync_error_set(DSYNC_EMASSDELETE,
				"the ignore rules changed and would drop %zu of %zu files in '%s' from the "
				"snapshots (they are still on disk); nothing recorded; fix '.dsyncignore', or "
				"if you meant it, run 'dsync snapshot --allow-mass-delete'",
				out->left_out, cache.n, f->root);
		else
			error = dsync_error_set(DSYNC_EMASSDELETE,
				"%zu of %zu files in '%s' are gone (an unmounted drive?); nothing recorded; "
				"if you deleted them, run 'dsync snapshot --allow-mass-delete'",
				deleted, cache.n, f->root);
		goto out;
	}

	/* apply the walk to the index: deletions, then additions and changes */
	if ((error = open_index(&index, f)) < 0)
		goto out;
	for (i = 0, j = 0; i < cache.n; i++) {
		int c = 1;

		while (j < scan.n && (c = strcmp(scan.v[j].path, cache.v[i].path)) < 0)
			j++;
		if ((j >= scan.n || c != 0) &&
		    (err = git_index_remove(index, cache.v[i].path, 0)) < 0 && err != GIT_ENOTFOUND) {
			error = dsync_error_git(err, "cannot update the index");
			goto out;
		}
	}
	for (i = 0; i < scan.n; i++) {
		git_index_entry ie;

		if (!(scan.v[i].flags & SCAN_HASHED))
			continue;
		scan_entry_to_index(&ie, &scan.v[i]);
		if ((err = git_index_add(index, &ie)) < 0) {
			error = dsync_error_git(err, "cannot record '%s'", scan.v[i].path);
			goto out;
		}
	}
	if ((err = git_index_write_tree_to(&index_tree, index, f->repo)) < 0) {
		error = dsync_error_git(err, "cannot record the folder's tree");
		goto out;
	}
	/* the index holds big files as links to their chunk trees: the
	 * stored tree has the chunk trees themselves (docs/chunks.md) */
	git_oid_cpy(&tree_oid, &index_tree);
	if ((error = dsync_chunks_id_to_stored_form(&tree_oid, f->repo, &unreadable)) < 0) {
		/* a big file whose chunk tree or marker is gone from the
		 * store: the cache's entry for it is forgotten and the file on
		 * disk read and stored again, once */
		if (healing || !forget_all(&cache, &unreadable))
			goto out;
		healing = true;
		scan_list_dispose(&scan);
		git_index_free(index);
		index = NULL;
		git_tree_free(old_tree);
		old_tree = NULL;
		goto rescan;
	}
	if (born && git_oid_equal(&tree_oid, git_tree_id(old_tree))) {
		/* nothing changed; keep refreshed stat data for next time */
		if ((err = git_index_write(index)) < 0) {
			error = dsync_error_git(err, "cannot write the index");
			goto out;
		}
		dsync_record_head(f, &head, &index_tree);
		git_oid_tostr(out->commit, sizeof(out->commit), &head);
		error = 0;
		goto out;
	}
	if ((err = git_tree_lookup(&new_tree, f->repo, &tree_oid)) < 0) {
		error = dsync_error_git(err, "cannot read the new tree");
		goto out;
	}
	if ((error = dsync_changes_between(&changes, f->repo, old_tree, new_tree, NULL, DSYNC_RENAMES_EXACT)) < 0)
		goto out;
	for (i = 0; i < changes.n; i++) {
		if (changes.v[i].kind == 'A')
			out->added++;
		else if (changes.v[i].kind == 'D')
			out->deleted++;
		else if (changes.v[i].kind == 'R')
			out->renamed++;
		else
			out->modified++;
	}
	if ((error = make_message(&msg, &changes, !born, opts->message, f->device_id)) < 0 ||
	    (error = dsync_local_signature(&sig, f->device_name, f->device_id)) < 0)
		goto out;
	if (born && (err = git_commit_lookup(&parent, f->repo, &head)) < 0) {
		error = dsync_error_git(err, "cannot read the last snapshot");
		goto out;
	}
	if ((err = git_commit_create(&commit_oid, f->repo, NULL, sig, sig, NULL, msg.ptr, new_tree,
				     born ? 1 : 0, (const git_commit **)&parent)) < 0) {
		error = dsync_error_git(err, "cannot record the snapshot");
		goto out;
	}
	if ((err = git_index_write(index)) < 0) {
		error = dsync_error_git(err, "cannot write the index");
		goto out;
	}
	/* objects and index durable before the ref names them */
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	if ((err = git_reference_create_matching(&ref, f->repo, MAIN_REF, &commit_oid, 1,
						 born ? &head : NULL, "snapshot")) < 0) {
		error = dsync_error_git(err, "cannot move '" MAIN_REF "'");
		goto out;
	}
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	dsync_record_head(f, &commit_oid, &index_tree);
	out->committed = true;
	git_oid_tostr(out->commit, sizeof(out->commit), &commit_oid);
	error = 0;
out:
	if (locked)
		dsync_folder_unlock(f);
	scan_list_dispose(&scan);
	statcache_dispose(&cache);
	dsync_strset_dispose(&unreadable);
	dsync_changes_dispose(&changes);
	dsync_buf_dispose(&msg);
	git_reference_free(ref);
	git_signature_free(sig);
	git_commit_free(parent);
	git_tree_free(old_tree);
	git_tree_free(new_tree);
	git_index_free(index);
	return error;
}

/* Lists the files of TREE (stored paths, sorted as the index sorts them). */
typedef struct files_walk {
	scan_list *l;
	git_repository *repo;
} files_walk;

static int tree_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	files_walk *w = payload;
	scan_list *l = w->l;
	dsync_buf p = DSYNC_BUF_INIT;
	scan_entry *e;
	bool big = false;
	int error;

	/* a file, or a big file's chunk tree: one file, as the index holds it */
	if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB &&
	    !(big = dsync_chunks_entry_is_big(NULL, w->repo, entry)))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		scan_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if ((error = dsync_buf_printf(&p, "%s%s", root, git_tree_entry_name(entry))) < 0)
		return -1;
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->path = dsync_buf_detach(&p);
	e->mode = big ? GIT_FILEMODE_COMMIT : git_tree_entry_filemode(entry);
	git_oid_cpy(&e->oid, git_tree_entry_id(entry));
	return big ? 1 : 0; /* not into the chunks */
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const scan_entry *)a)->path, ((const scan_entry *)b)->path);
}

int dsync_tree_files(scan_list *out, git_tree *tree)
{
	files_walk w = { out, NULL };

	memset(out, 0, sizeof(*out));
	if (!tree)
		return 0;
	w.repo = git_tree_owner(tree);
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, tree_cb, &w) < 0) {
		scan_list_dispose(out);
		return dsync_error_set(DSYNC_ERROR, "cannot list the last snapshot");
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_path);
	return 0;
}

int dsync_status(dsync_changes *out, dsync_folder *f, dsync_warn_cb warn, void *payload)
{
	git_tree *tree = NULL;
	git_oid head, cached_tree;
	statcache cache = { 0 };
	scan_list work = { 0 }, old = { 0 };
	bool born, content, stat_only, fast;
	size_t i = 0, j = 0, deleted;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_load_statcache(&cache, f)) < 0)
		goto out;
	fast = cache.has_tree && cached_head(f, &head, &cached_tree) && git_oid_equal(&cache.tree, &cached_tree);
	if ((error = scan_worktree(&work, f, &cache, false, NULL, NULL, NULL)) < 0)
		goto out;
	for (i = 0; i < work.nproblems; i++)
		if (warn)
			warn(work.problems[i], payload);
	if (work.unchanged && fast) {
		/* the walk matches the index, and the index the head */
		error = head_readable(f);
		goto out;
	}
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_head_tree(&tree, &head, &born, f->repo)) < 0)
		goto out;
	if (born && cache.has_tree && git_oid_equal(&cache.tree, git_tree_id(tree))) {
		if (work.unchanged)
			goto out; /* the walk matches the index, and the index the head */
		scan_list_sort(&work);
		compare_with_cache(&work, &cache, &content, &stat_only, &deleted);
		if (!content && !deleted)
			goto out;
	}
	scan_list_sort(&work);
	if ((error = dsync_tree_files(&old, tree)) < 0)
		goto out;
	for (i = 0; (i < old.n || j < work.n) && !error;) {
		int c = i >= old.n ? 1 : j >= work.n ? -1 : strcmp(old.v[i].path, work.v[j].path);

		if (c < 0) {
			error = dsync_changes_add(out, 'D', old.v[i].path, NULL, old.v[i].mode == GIT_FILEMODE_LINK);
			i++;
		} else if (c > 0) {
			error = dsync_changes_add(out, 'A', work.v[j].path, NULL, work.v[j].mode == GIT_FILEMODE_LINK);
			j++;
		} else {
			bool was_link = old.v[i].mode == GIT_FILEMODE_LINK;
			bool is_link = work.v[j].mode == GIT_FILEMODE_LINK;

			if (was_link != is_link)
				error = dsync_changes_add(out, 'T', work.v[j].path, NULL, is_link);
			else if (old.v[i].mode != work.v[j].mode || !git_oid_equal(&old.v[i].oid, &work.v[j].oid))
				error = dsync_changes_add(out, 'M', work.v[j].path, NULL, is_link);
			i++;
			j++;
		}
	}
out:
	if (error < 0)
		dsync_changes_dispose(out);
	scan_list_dispose(&work);
	scan_list_dispose(&old);
	statcache_dispose(&cache);
	git_tree_free(tree);
	return error;
}
