/*
 * Lists of changes (added, modified, deleted, renamed files): from a diff of
 * two trees, with a big file's chunk tree shown as one change of the file.
 */
#include "core/base/internal.h"
#include "core/history/changes.h"
#include "core/history/head.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/chunks.h"
#include "core/base/path.h"
#include "core/base/strset.h"

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

/* Room for N changes in C (the public list has the fields of a DSYNC_ARRAY
 * under other names). */
static int reserve(dsync_changes *c, size_t n)
{
	if (n > c->cap && dsync_array_grow_(&c->v, &c->cap, n, sizeof(*c->v)) < 0)
		return dsync_error_oom();
	return 0;
}

int dsync_changes_move(dsync_changes *dst, dsync_changes *src)
{
	int error;

	if ((error = reserve(dst, dst->n + src->n)) < 0)
		return error;
	memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
	dst->n += src->n;
	src->n = 0;
	dsync_changes_dispose(src);
	return 0;
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
	if ((error = reserve(c, c->n + 1)) < 0)
		return error;
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
