/*
 * The files kept only on this device (docs/status.md): the rule of
 * dsync_status_holders (holders.c) applied to every file of this device's
 * latest snapshot at once.  A file is held elsewhere when any of the heads
 * known for another device, remote or mirror has the same content at its
 * path; so the files kept only here are those that every such head lacks
 * or has otherwise: the intersection, over the heads, of the paths a tree
 * diff from the head to this device's finds added or changed.  Tree diffs
 * skip the subtrees two snapshots share, so this stays fast on a big folder
 * whose heads differ a little.  No network call.
 *
 * The answer is kept in .dsync/dsync-onlyhere under a key of the trees it
 * came from (this device's latest and every holder's): the dashboard asks
 * every 10 s, and a folder of 100,000 files whose holders have old
 * snapshots diffs every file changed since; asked again with the same
 * trees, the file answers.  With no holder at all, every file is kept only
 * here: a walk of the tree counts them (every_file).
 */
#include "core/base/internal.h"

#include "core/base/path.h"
#include "core/base/file.h"
#include "core/base/sha1.h"
#include "core/sync/sync_internal.h"

#include <stdlib.h>

typedef DSYNC_ARRAY(git_oid) oid_list;

/* Adds tree of commit ID to TREES, once. */
static int add_tree(oid_list *trees, git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;
	const git_oid *t;
	size_t i;
	int error = 0;

	if (git_commit_lookup(&c, repo, id) < 0)
		return 0;   /* a head whose history is not here: it holds nothing known */
	t = git_commit_tree_id(c);
	for (i = 0; i < trees->size; i++)
		if (git_oid_equal(&trees->ptr[i], t))
			break;
	if (i == trees->size && dsync_array_push(*trees, *t) < 0)
		error = dsync_error_oom();
	git_commit_free(c);
	return error;
}

/* The trees of every head known for another device, remote or mirror: the
 * heads fetched (refs/remotes/REMOTE/DEVICE), those last pushed to each
 * remote (the state file "pushed") and what each mirror's last round left
 * (refs/mirrors/NAME). */
static int holder_trees(oid_list *trees, dsync_folder *f)
{
	static const char *const globs[] = { "refs/remotes/*", "refs/mirrors/*" };
	dsync_remote_info *rl = NULL;
	dsync_buf pushed = DSYNC_BUF_INIT;
	size_t nr = 0, i;
	int err, error = 0;

	for (i = 0; i < sizeof(globs) / sizeof(globs[0]) && error == 0; i++) {
		git_reference_iterator *it = NULL;
		git_reference *r;

		if ((err = git_reference_iterator_glob_new(&it, f->repo, globs[i])) < 0)
			return dsync_error_git(err, "cannot list the heads known in '%s'", f->root);
		while (error == 0 && git_reference_next(&r, it) == 0) {
			if (git_reference_target(r))
				error = add_tree(trees, f->repo, git_reference_target(r));
			git_reference_free(r);
		}
		git_reference_iterator_free(it);
	}
	if (error == 0 && (error = dsync_remote_list(&rl, &nr, f)) == 0)
		for (i = 0; i < nr && error == 0; i++) {
			git_oid id;

			if ((error = dsync_state_read(&pushed, f, rl[i].name, "pushed")) == 0 &&
			    pushed.len >= GIT_OID_HEXSZ && git_oid_fromstrn(&id, pushed.ptr, GIT_OID_HEXSZ) == 0)
				error = add_tree(trees, f->repo, &id);
		}
	if (rl)
		dsync_remote_list_free(rl, nr);
	dsync_buf_dispose(&pushed);
	return error;
}

static bool hex_name(const char *s, size_t len, char first)
{
	size_t i;

	if (s[0] != first || strlen(s) != len + 1)
		return false;
	for (i = 1; i <= len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The file a changed PATH of tree T belongs to, into OUT: PATH itself, or
 * the big file whose chunk tree holds it (PATH/.dsync-chunks,
 * PATH/gNNNNNN/cNNNN; docs/chunks.md). */
static int file_of(dsync_buf *out, const git_tree *t, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len = strlen(path);

	dsync_buf_truncate(out, 0);
	if (base && strcmp(base + 1, ".dsync-chunks") == 0)
		return dsync_buf_put(out, path, (size_t)(base - path));
	if (base && base - path > 9 && hex_name(base + 1, 4, 'c') && base[-8] == '/') {
		char group[9];
		git_tree_entry *e = NULL;

		memcpy(group, base - 7, 7);
		group[7] = '\0';
		if (hex_name(group, 6, 'g')) {
			int error = dsync_buf_put(out, path, (size_t)(base - 8 - path));

			if (error == 0)
				error = dsync_buf_puts(out, "/.dsync-chunks");
			if (error < 0)
				return error;
			if (git_tree_entry_bypath(&e, t, out->ptr) == 0) {
				git_tree_entry_free(e);
				dsync_buf_truncate(out, out->len - strlen("/.dsync-chunks"));
				return 0;
			}
			dsync_buf_truncate(out, 0);
		}
	}
	return dsync_buf_put(out, path, len);
}

/* The files of HEAD_TREE that differ from (or are missing in) OLD and are
 * in CUR (NULL: any), into NEXT.  (With no OLD at all, every_file walks.) */
static int changed_files(dsync_strset *next, const dsync_strset *cur, git_repository *repo, const git_tree *old,
			 const git_tree *head_tree)
{
	git_diff_options o = GIT_DIFF_OPTIONS_INIT;
	git_diff *d = NULL;
	dsync_buf file = DSYNC_BUF_INIT;
	size_t i, n;
	int err, error = 0;

	o.flags = GIT_DIFF_SKIP_BINARY_CHECK;
	if ((err = git_diff_tree_to_tree(&d, repo, (git_tree *)old, (git_tree *)head_tree, &o)) < 0)
		return dsync_error_git(err, "cannot compare snapshots");
	n = git_diff_num_deltas(d);
	for (i = 0; i < n && error == 0; i++) {
		const git_diff_delta *x = git_diff_get_delta(d, i);

		if (x->status != GIT_DELTA_ADDED && x->status != GIT_DELTA_MODIFIED &&
		    x->status != GIT_DELTA_TYPECHANGE)
			continue;
		if (x->status == GIT_DELTA_MODIFIED && git_oid_equal(&x->old_file.id, &x->new_file.id))
			continue;   /* a mode alone: the same content */
		if ((error = file_of(&file, head_tree, x->new_file.path)) < 0)
			break;
		if (cur && !dsync_strset_has(cur, file.ptr))
			continue;
		if (dsync_strset_add(next, file.ptr) < 0)
			error = dsync_error_oom();
	}
	dsync_buf_dispose(&file);
	git_diff_free(d);
	return error;
}

/* ---- with no holder: every file of the snapshot ------------------------------ */

typedef struct walk_ctx {
	dsync_folder_summary *out;
	git_repository *repo;
	dsync_buf path;
	int error;
} walk_ctx;

static int count_file(const char *root, const git_tree_entry *e, void *payload)
{
	walk_ctx *w = payload;
	bool chunked = false;

	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		git_tree *t = NULL;
		int err;

		if ((err = git_tree_lookup(&t, w->repo, git_tree_entry_id(e))) < 0) {
			w->error = dsync_error_git(err, "cannot read the latest snapshot");
			return -1;
		}
		/* a big file's chunk tree is one file (docs/chunks.md) */
		chunked = git_tree_entry_byname(t, ".dsync-chunks") != NULL;
		git_tree_free(t);
		if (!chunked)
			return 0;
	}
	w->out->only_here++;
	if (w->out->n_only_here_paths < DSYNC_ONLY_HERE_PATHS) {
		dsync_buf_truncate(&w->path, 0);
		if (dsync_buf_printf(&w->path, "%s%s", root, git_tree_entry_name(e)) < 0 ||
		    !(w->out->only_here_paths[w->out->n_only_here_paths] = strdup(w->path.ptr))) {
			w->error = dsync_error_oom();
			return -1;
		}
		w->out->n_only_here_paths++;
	}
	return chunked ? 1 : 0;   /* 1: not into the chunk tree */
}

/*
 * Every file of HEAD_TREE into OUT (its count and first paths): a walk in
 * the tree's order, which is the order of the paths (a folder sorts as its
 * name and '/'), in memory that does not grow with the folder.  The diff
 * from the empty tree that the general case would make held every path:
 * 65 MB for 100,000 files.
 */
static int every_file(dsync_folder_summary *out, git_repository *repo, const git_tree *head_tree)
{
	walk_ctx w = { out, repo, DSYNC_BUF_INIT, 0 };
	int err;

	if (!(out->only_here_paths = calloc(DSYNC_ONLY_HERE_PATHS, sizeof(char *))))
		return dsync_error_oom();
	err = git_tree_walk(head_tree, GIT_TREEWALK_PRE, count_file, &w);
	dsync_buf_dispose(&w.path);
	if (w.error < 0)
		return w.error;
	if (err < 0)
		return dsync_error_git(err, "cannot read the latest snapshot");
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first DSYNC_ONLY_HERE_PATHS paths of SET, in order, into OUT. */
static int first_paths(dsync_folder_summary *out, const dsync_strset *set)
{
	char **all;
	size_t i, n = 0;

	if (set->n == 0)
		return 0;
	if (!(all = malloc(set->n * sizeof(*all))))
		return dsync_error_oom();
	for (i = 0; i < set->cap; i++)
		if (set->v[i])
			all[n++] = set->v[i];
	qsort(all, n, sizeof(*all), by_path);
	if (n > DSYNC_ONLY_HERE_PATHS)
		n = DSYNC_ONLY_HERE_PATHS;
	if (!(out->only_here_paths = calloc(n, sizeof(char *)))) {
		free(all);
		return dsync_error_oom();
	}
	for (i = 0; i < n; i++) {
		if (!(out->only_here_paths[i] = strdup(all[i]))) {
			free(all);
			return dsync_error_oom();
		}
		out->n_only_here_paths++;
	}
	free(all);
	return 0;
}

/* ---- the answer kept: .dsync/dsync-onlyhere ------------------------------ */

/*
 * The file: "dsync-onlyhere 1\n", the key (40 hex digits) and a newline,
 * the count and a newline, the first paths each ended by a NUL, then the
 * SHA-1 (40 hex digits) of all that, so that a file two writers mixed, or
 * cut short, is not taken.  A file that is not so is ignored (and
 * replaced).
 */
#define KEEP_MAGIC "dsync-onlyhere 1\n"
#define KEEP_MAX ((size_t)1 << 20)

static int cmp_oid(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* The key of HEAD_TREE and TREES (sorted here): the SHA-1 of their ids, in hex. */
static void keep_key(char out[GIT_OID_HEXSZ + 1], const git_oid *head_tree, oid_list *trees)
{
	unsigned char h[20];
	dsync_sha1 c;
	git_oid id;
	size_t i;

	if (trees->size > 1)
		qsort(trees->ptr, trees->size, sizeof(git_oid), cmp_oid);
	dsync_sha1_init(&c);
	dsync_sha1_update(&c, head_tree->id, GIT_OID_RAWSZ);
	for (i = 0; i < trees->size; i++)
		dsync_sha1_update(&c, trees->ptr[i].id, GIT_OID_RAWSZ);
	dsync_sha1_final(&c, h);
	git_oid_fromraw(&id, h);
	git_oid_tostr(out, GIT_OID_HEXSZ + 1, &id);
}

static void keep_sum(char out[GIT_OID_HEXSZ + 1], const char *data, size_t len)
{
	unsigned char h[20];
	git_oid id;

	dsync_sha1_object(h, "blob", data, len);
	git_oid_fromraw(&id, h);
	git_oid_tostr(out, GIT_OID_HEXSZ + 1, &id);
}

/* The kept answer for KEY into OUT: true when there was one. */
static bool keep_read(dsync_folder_summary *out, const char *path, const char *key)
{
	dsync_buf b = DSYNC_BUF_INIT;
	char sum[GIT_OID_HEXSZ + 1], *p, *q, *end, *nl;
	unsigned long long count;
	size_t n = 0, i, body;
	bool ok = false;
	int error;

	if ((error = dsync_file_read(&b, path, KEEP_MAX, DSYNC_FILE_NOFOLLOW)) < 0) {
		if (error != DSYNC_ENOTFOUND)
			dsync_error_clear();   /* unreadable: counted again, and replaced */
		goto out;
	}
	if (b.len < strlen(KEEP_MAGIC) + GIT_OID_HEXSZ)
		goto out;
	body = b.len - GIT_OID_HEXSZ;
	keep_sum(sum, b.ptr, body);
	if (memcmp(sum, b.ptr + body, GIT_OID_HEXSZ) != 0 || memcmp(b.ptr, KEEP_MAGIC, strlen(KEEP_MAGIC)) != 0)
		goto out;
	p = b.ptr + strlen(KEEP_MAGIC);
	end = b.ptr + body;
	if (end - p < GIT_OID_HEXSZ + 1 || memcmp(p, key, GIT_OID_HEXSZ) != 0 || p[GIT_OID_HEXSZ] != '\n')
		goto out;
	p += GIT_OID_HEXSZ + 1;
	if (!(nl = memchr(p, '\n', (size_t)(end - p))) || nl == p || *p < '0' || *p > '9')
		goto out;
	errno = 0;
	count = strtoull(p, &p, 10);
	if (errno || p != nl)
		goto out;
	p = nl + 1;
	/* the paths: at most DSYNC_ONLY_HERE_PATHS, and as many as the count allows */
	for (q = p; q < end; q += strlen(q) + 1) {
		if (!memchr(q, '\0', (size_t)(end - q)) || !*q)
			goto out;
		n++;
	}
	if (n > DSYNC_ONLY_HERE_PATHS || n > count || (n < DSYNC_ONLY_HERE_PATHS && n != count))
		goto out;
	if (n && !(out->only_here_paths = calloc(n, sizeof(char *))))
		goto out;
	for (i = 0; i < n; i++, p += strlen(p) + 1) {
		if (!(out->only_here_paths[i] = strdup(p)))
			goto out;
		out->n_only_here_paths++;
	}
	out->only_here = (size_t)count;
	ok = true;
out:
	if (!ok) {
		for (i = 0; i < out->n_only_here_paths; i++)
			free(out->only_here_paths[i]);
		free(out->only_here_paths);
		out->only_here_paths = NULL;
		out->n_only_here_paths = 0;
	}
	dsync_buf_dispose(&b);
	return ok;
}

/* Keeps OUT's answer for KEY in PATH (a failure only costs the next ask). */
static void keep_write(const dsync_folder_summary *out, const char *path, const char *key)
{
	dsync_buf b = DSYNC_BUF_INIT;
	char sum[GIT_OID_HEXSZ + 1];
	size_t i;
	int error;

	error = dsync_buf_printf(&b, "%s%s\n%zu\n", KEEP_MAGIC, key, out->only_here);
	for (i = 0; i < out->n_only_here_paths && error == 0; i++)
		error = dsync_buf_put(&b, out->only_here_paths[i], strlen(out->only_here_paths[i]) + 1);
	if (error == 0) {
		keep_sum(sum, b.ptr, b.len);
		error = dsync_buf_put(&b, sum, GIT_OID_HEXSZ);
	}
	if (error == 0 && b.len <= KEEP_MAX)
		error = dsync_path_write_atomic(path, b.ptr, b.len, 0600, false);
	if (error < 0)
		dsync_error_clear();
	dsync_buf_dispose(&b);
}

int dsync_only_here(dsync_folder_summary *out, dsync_folder *f)
{
	oid_list trees = DSYNC_ARRAY_INIT;
	dsync_strset a = DSYNC_STRSET_INIT, b = DSYNC_STRSET_INIT, *cur = NULL, *next = &a;
	git_commit *c = NULL;
	git_tree *head_tree = NULL, *t = NULL;
	dsync_buf keep = DSYNC_BUF_INIT;
	char key[GIT_OID_HEXSZ + 1];
	git_oid head;
	size_t i;
	int err, error = 0;

	if (git_reference_name_to_id(&head, f->repo, "refs/heads/main") < 0)
		return 0;   /* no snapshot yet: nothing here */
	if ((err = git_commit_lookup(&c, f->repo, &head)) < 0 || (err = git_commit_tree(&head_tree, c)) < 0) {
		error = dsync_error_git(err, "cannot read the latest snapshot of '%s'", f->root);
		goto out;
	}
	if ((error = holder_trees(&trees, f)) < 0 ||
	    (error = dsync_buf_printf(&keep, "%s/dsync-onlyhere", f->gitdir)) < 0)
		goto out;
	keep_key(key, git_tree_id(head_tree), &trees);
	if (keep_read(out, keep.ptr, key))
		goto out;
	if (trees.size == 0) {
		/* nobody else: every file */
		if ((error = every_file(out, f->repo, head_tree)) == 0)
			keep_write(out, keep.ptr, key);
		goto out;
	}
	for (i = 0; i < trees.size; i++) {
		if (git_oid_equal(&trees.ptr[i], git_tree_id(head_tree))) {
			/* a head with this very snapshot holds every file */
			dsync_strset_dispose(next);
			cur = next;
			break;
		}
		if ((err = git_tree_lookup(&t, f->repo, &trees.ptr[i])) < 0) {
			error = dsync_error_git(err, "cannot read a snapshot known in '%s'", f->root);
			goto out;
		}
		dsync_strset_dispose(next);
		error = changed_files(next, cur, f->repo, t, head_tree);
		git_tree_free(t);
		t = NULL;
		if (error < 0)
			goto out;
		cur = next;
		next = cur == &a ? &b : &a;
		if (cur->n == 0)
			break;
	}
	out->only_here = cur ? cur->n : 0;
	if (cur)
		error = first_paths(out, cur);
	if (error == 0)
		keep_write(out, keep.ptr, key);
out:
	dsync_buf_dispose(&keep);
	dsync_strset_dispose(&a);
	dsync_strset_dispose(&b);
	git_tree_free(head_tree);
	git_commit_free(c);
	dsync_array_dispose(trees);
	return error;
}
