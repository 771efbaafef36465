/*
 * The deterministic merge commit, and merging several devices' heads one at
 * a time in device-id order, so that every device that merges the same
 * heads makes the same commit (DESIGN.md section 6).
 */
#include "core/base/internal.h"
#include "merge/heads.h"

#include <stdlib.h>

static int cmp_oid(const void *a, const void *b)
{
	return git_oid_cmp(git_commit_id(*(git_commit *const *)a), git_commit_id(*(git_commit *const *)b));
}

int dsync_merge_commit(git_oid *out, git_repository *repo, const git_oid *tree_id, git_commit *a,
		       git_commit *b, const dsync_merge_result *r)
{
	git_commit *parents[2] = { a, b };
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	dsync_buf msg = DSYNC_BUF_INIT;
	char ha[DSYNC_OID_HEX_SIZE], hb[DSYNC_OID_HEX_SIZE];
	git_time_t when;
	size_t i;
	int err, error;

	qsort(parents, 2, sizeof(parents[0]), cmp_oid);
	when = git_commit_time(a) > git_commit_time(b) ? git_commit_time(a) : git_commit_time(b);
	git_oid_tostr(ha, sizeof(ha), git_commit_id(parents[0]));
	git_oid_tostr(hb, sizeof(hb), git_commit_id(parents[1]));
	if ((error = dsync_buf_printf(&msg, "merge %.12s and %.12s", ha, hb)) < 0)
		goto out;
	if (r->n && (error = dsync_buf_printf(&msg, ": %zu conflict%s\n\n", r->n, r->n == 1 ? "" : "s")) < 0)
		goto out;
	for (i = 0; i < r->n && !error; i++)
		error = dsync_buf_printf(&msg, "%s -> %s\n", r->v[i].path, r->v[i].copy);
	if (error < 0 || (!r->n && (error = dsync_buf_puts(&msg, "\n")) < 0))
		goto out;
	if ((err = git_signature_new(&sig, "dsync", "dsync", when, 0)) < 0 ||
	    (err = git_tree_lookup(&tree, repo, tree_id)) < 0 ||
	    (err = git_commit_create(out, repo, NULL, sig, sig, NULL, msg.ptr, tree, 2,
				     (const git_commit **)parents)) < 0)
		error = dsync_error_git(err, "cannot record the merge");
out:
	git_signature_free(sig);
	git_tree_free(tree);
	dsync_buf_dispose(&msg);
	return error;
}

static int cmp_head(const void *a, const void *b)
{
	const dsync_merge_head *x = a, *y = b;
	int c = strcmp(x->device_id, y->device_id);

	return c ? c : git_oid_cmp(&x->commit, &y->commit);
}

/* Merges the commit NEXT into *CUR (see dsync_merge_heads). */
static int fold(git_oid *cur, dsync_merge_result *all, git_repository *repo, const git_oid *next)
{
	dsync_merge_result r;
	git_commit *a = NULL, *b = NULL;
	git_oid merged;
	size_t i;
	int err, error;

	if (git_oid_equal(cur, next) || git_graph_descendant_of(repo, cur, next) == 1)
		return 0; /* already in */
	if (git_graph_descendant_of(repo, next, cur) == 1) {
		git_oid_cpy(cur, next);
		return 0;
	}
	if ((err = git_commit_lookup(&a, repo, cur)) < 0 || (err = git_commit_lookup(&b, repo, next)) < 0) {
		error = dsync_error_git(err, "cannot read a head to merge");
		goto out;
	}
	if ((error = dsync_merge_trees_of(&r, repo, a, b)) < 0)
		goto out;
	if ((error = dsync_merge_commit(&merged, repo, &r.tree, a, b, &r)) == 0) {
		git_oid_cpy(cur, &merged);
		git_oid_cpy(&all->tree, &r.tree);
		for (i = 0; i < r.n && !error; i++)
			error = dsync_merge_result_add(all, r.v[i].kind, r.v[i].path, r.v[i].copy);
	}
	dsync_merge_result_dispose(&r);
out:
	git_commit_free(a);
	git_commit_free(b);
	return error;
}

int dsync_merge_heads(git_oid *out, dsync_merge_result *conflicts, git_repository *repo,
		      const dsync_merge_head *heads, size_t n)
{
	dsync_merge_head *v;
	size_t i;
	int error = 0;

	memset(conflicts, 0, sizeof(*conflicts));
	if (n == 0)
		return dsync_error_set(DSYNC_EUSAGE, "no heads to merge");
	if ((v = malloc(n * sizeof(*v))) == NULL)
		return dsync_error_oom();
	memcpy(v, heads, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_head);
	git_oid_cpy(out, &v[0].commit);
	for (i = 1; i < n && !error; i++)
		error = fold(out, conflicts, repo, &v[i].commit);
	free(v);
	if (error < 0)
		dsync_merge_result_dispose(conflicts);
	return error;
}
