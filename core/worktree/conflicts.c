/*
 * Open conflicts: the conflict copies a merge left in the folder, and the
 * user's choice among the versions (DESIGN.md section 6; docs/merge.md).
 */
#include "core/base/internal.h"
#include "core/base/array.h"
#include "dsync/merge.h"
#include "dsync/snapshot.h"
#include "core/folder/folder.h"
#include "merge/names.h"
#include "core/worktree/begin.h"
#include "core/history/snapshot.h"
#include "core/history/head.h"
#include "core/base/path.h"
#include "core/base/chunks.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void dsync_conflicts_dispose(dsync_conflicts *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].copy);
		free(c->v[i].path);
		free(c->v[i].device);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

typedef struct lister {
	dsync_folder *f;
	dsync_conflicts *out;
	dsync_strlist stored;   /* each candidate's path as stored, as out->v */
	int error;
} lister;

static bool exists_in(const dsync_folder *f, const char *rel)
{
	dsync_buf p = DSYNC_BUF_INIT;
	struct stat st;
	bool yes = dsync_buf_printf(&p, "%s/%s", f->root, rel) == 0 && lstat(p.ptr, &st) == 0;

	dsync_buf_dispose(&p);
	return yes;
}

static int list_cb(const char *root, const git_tree_entry *te, void *payload)
{
	lister *l = payload;
	dsync_buf stored = DSYNC_BUF_INIT, disk = DSYNC_BUF_INIT, orig = DSYNC_BUF_INIT;
	dsync_copyname_parts parts;
	dsync_conflict *c;
	bool is_link = git_tree_entry_filemode(te) == GIT_FILEMODE_LINK;
	int error;

	if (!dsync_copyname_is_copy(git_tree_entry_name(te)))
		return 0;
	/* a file, or a big file's chunk tree */
	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB && !dsync_chunks_entry_is_big(NULL, l->f->repo, te))
		return 0;
	if ((error = dsync_buf_printf(&stored, "%s%s", root, git_tree_entry_name(te))) < 0 ||
	    (error = dsync_buf_puts(&disk, "")) < 0 ||
	    (error = dsync_path_unescape(&disk, stored.ptr, is_link)) < 0 ||
	    (error = dsync_buf_puts(&orig, "")) < 0 ||
	    (error = dsync_copyname_original(&orig, disk.ptr)) < 0 ||
	    (error = dsync_copyname_parse(&parts, disk.ptr)) < 0)
		goto out;
	if (!exists_in(l->f, disk.ptr))
		goto out; /* removed since the snapshot: resolved */
	/* the public list keeps its own fields (include/dsync/merge.h) */
	if (l->out->n == l->out->cap &&
	    dsync_array_grow_(&l->out->v, &l->out->cap, l->out->n + 1, sizeof(*l->out->v)) < 0) {
		error = dsync_error_oom();
		goto out;
	}
	if (dsync_array_reserve(l->stored, l->stored.size + 1) < 0) {
		error = dsync_error_oom();
		goto out;
	}
	l->stored.ptr[l->stored.size++] = dsync_buf_detach(&stored);
	c = &l->out->v[l->out->n];
	memset(c, 0, sizeof(*c));
	c->copy = dsync_buf_detach(&disk);
	c->path = dsync_buf_detach(&orig);
	c->device = strdup(parts.device);
	c->when = parts.when;
	l->out->n++;
	if (!c->copy || !c->path || !c->device || !l->stored.ptr[l->stored.size - 1]) {
		error = dsync_error_oom();
		goto out;
	}
	c->path_exists = exists_in(l->f, c->path);
out:
	dsync_buf_dispose(&stored);
	dsync_buf_dispose(&disk);
	dsync_buf_dispose(&orig);
	if (error < 0) {
		l->error = error;
		return -1;
	}
	return git_tree_entry_type(te) == GIT_OBJECT_TREE; /* not into a big file's chunks */
}

static int cmp_conflict(const void *a, const void *b)
{
	return strcmp(((const dsync_conflict *)a)->copy, ((const dsync_conflict *)b)->copy);
}

/*
 * Marks in MADE which of the N candidates (stored paths, STORED) a merge
 * made: a conflict is what a merge made, not what a name looks like, so a
 * user's own file named like a copy is none.  dsync_merge_commit() lists
 * the copies a merge made in its message ("PATH -> COPY" lines), so every
 * device reads the same answer from the history, whichever device merged.
 * The walk from HEAD stops once every candidate is found; it goes through
 * the whole history only while a name that looks like a copy is not one.
 */
static int made_by_merge(bool *made, git_repository *repo, const git_oid *head, char **stored, size_t n)
{
	git_revwalk *walk = NULL;
	dsync_buf *needle = NULL;
	git_oid oid;
	size_t i, left = n;
	int err, error = 0;

	if ((needle = calloc(n, sizeof(*needle))) == NULL)
		return dsync_error_oom();
	for (i = 0; i < n && !error; i++) /* calloc: each an empty buffer */
		error = dsync_buf_printf(&needle[i], " -> %s\n", stored[i]);
	if (error < 0)
		goto out;
	if ((err = git_revwalk_new(&walk, repo)) < 0 || (err = git_revwalk_push(walk, head)) < 0) {
		error = dsync_error_git(err, "cannot walk the history");
		goto out;
	}
	while (left > 0 && (err = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *c;
		const char *msg;

		if ((err = git_commit_lookup(&c, repo, &oid)) < 0)
			break;
		msg = git_commit_parentcount(c) > 1 ? git_commit_message(c) : NULL;
		for (i = 0; msg && i < n; i++) {
			if (!made[i] && strstr(msg, needle[i].ptr)) {
				made[i] = true;
				left--;
			}
		}
		git_commit_free(c);
	}
	if (left > 0 && err < 0 && err != GIT_ITEROVER)
		error = dsync_error_git(err, "cannot walk the history");
out:
	for (i = 0; needle && i < n; i++)
		dsync_buf_dispose(&needle[i]);
	free(needle);
	git_revwalk_free(walk);
	return error;
}

int dsync_conflicts_list(dsync_conflicts *out, dsync_folder *f)
{
	git_tree *tree = NULL;
	git_oid head;
	lister l = { .f = f, .out = out, .stored = DSYNC_STRLIST_INIT };
	bool born, *made = NULL;
	size_t i, kept;
	int err, error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_history_head_tree(&tree, &head, &born, f->repo)) < 0)
		return error;
	if (!born)
		return 0;
	err = git_tree_walk(tree, GIT_TREEWALK_PRE, list_cb, &l);
	git_tree_free(tree);
	if (l.error < 0 || err < 0) {
		error = l.error < 0 ? l.error : dsync_error_git(err, "cannot read the last snapshot of '%s'", f->root);
		goto out;
	}
	if (out->n == 0)
		goto out;
	if ((made = calloc(out->n, sizeof(*made))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	if ((error = made_by_merge(made, f->repo, &head, l.stored.ptr, out->n)) < 0)
		goto out;
	for (i = kept = 0; i < out->n; i++) {
		if (made[i]) {
			out->v[kept++] = out->v[i];
			continue;
		}
		free(out->v[i].copy);
		free(out->v[i].path);
		free(out->v[i].device);
	}
	out->n = kept;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_conflict);
out:
	if (error < 0)
		dsync_conflicts_dispose(out);
	dsync_strlist_dispose(&l.stored);
	free(made);
	return error;
}

/* The plain name a kept copy gets: "NAME (DEVICE YYYY-MM-DD HHMMSS).EXT",
 * " 2", " 3" ... before ".EXT" when that is taken. */
static int plain_name(dsync_buf *out, const dsync_folder *f, const dsync_conflict *c)
{
	dsync_copyname_parts p;
	char stamp[32];
	struct tm tm;
	unsigned n;
	int error;

	if ((error = dsync_copyname_parse(&p, c->copy)) < 0)
		return dsync_error_set(DSYNC_ERROR, "cannot read the conflict copy's name '%s'", c->copy);
	gmtime_r(&c->when, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H%M%S", &tm);
	for (n = 1;; n++) {
		dsync_buf_truncate(out, 0);
		if (dsync_buf_put(out, c->copy, p.base_end) < 0 ||
		    dsync_buf_printf(out, " (%s %s)", p.device, stamp) < 0 ||
		    (n > 1 && dsync_buf_printf(out, " %u", n) < 0) || dsync_buf_puts(out, c->copy + p.ext) < 0)
			return dsync_error_oom();
		if (!exists_in(f, out->ptr))
			return 0;
	}
}

static int move(const dsync_folder *f, const char *from, const char *to)
{
	dsync_buf a = DSYNC_BUF_INIT, b = DSYNC_BUF_INIT;
	int error = 0;

	if (dsync_buf_printf(&a, "%s/%s", f->root, from) < 0 || dsync_buf_printf(&b, "%s/%s", f->root, to) < 0)
		error = dsync_error_oom();
	else if (rename(a.ptr, b.ptr) < 0)
		error = dsync_error_sys(errno, "cannot move '%s' to '%s'", from, to);
	dsync_buf_dispose(&a);
	dsync_buf_dispose(&b);
	return error;
}

static int remove_copy(const dsync_folder *f, const char *rel)
{
	dsync_buf a = DSYNC_BUF_INIT;
	int error = 0;

	if (dsync_buf_printf(&a, "%s/%s", f->root, rel) < 0)
		error = dsync_error_oom();
	else if (unlink(a.ptr) < 0 && errno != ENOENT)
		error = dsync_error_sys(errno, "cannot remove '%s'", rel);
	dsync_buf_dispose(&a);
	return error;
}

int dsync_conflict_resolve(char *commit, dsync_folder *f, const char *path, int keep,
			   const dsync_merge_options *o)
{
	static const char *const kept[] = { "the file", "the copy", "both" };
	dsync_merge_options defaults = DSYNC_MERGE_OPTIONS_INIT;
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	dsync_conflicts all = { 0 };
	dsync_buf msg = DSYNC_BUF_INIT, name = DSYNC_BUF_INIT;
	size_t i, picked = 0;
	dsync_conflict *one = NULL;
	bool locked = false;
	int error;

	*commit = '\0';
	if (!o)
		o = &defaults;
	if (keep < DSYNC_KEEP_FILE || keep > DSYNC_KEEP_BOTH)
		return dsync_error_set(DSYNC_EUSAGE, "keep what? 'file', 'copy' or 'both'");
	if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		return error;
	locked = true;
	so.lock_wait_ms = o->lock_wait_ms;
	so.warn = o->warn;
	so.payload = o->payload;
	/* what is there now goes into history first */
	if ((error = dsync_snapshot_take_locked(&sr, f, &so)) < 0 || (error = dsync_conflicts_list(&all, f)) < 0)
		goto out;
	for (i = 0; i < all.n; i++) {
		if (strcmp(all.v[i].copy, path) == 0 || strcmp(all.v[i].path, path) == 0) {
			picked++;
			one = &all.v[i];
		}
	}
	if (picked == 0) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' has no conflict; see 'dsync conflicts'",
					dsync_quote(q, path));
		goto out;
	}
	if (keep == DSYNC_KEEP_COPY && picked > 1) {
		error = dsync_error_set(DSYNC_EUSAGE,
			"'%s' has %zu conflict copies: name the one to keep ('dsync conflicts' lists them)", path, picked);
		goto out;
	}
	if (keep == DSYNC_KEEP_COPY && !one->path_exists) {
		const char *base = strrchr(one->copy, '/');

		/* a copy's name at the length limit may have been shortened:
		 * the name read back from it need not be the file's */
		if (strlen(base ? base + 1 : one->copy) >= DSYNC_NAME_MAX - 6) {
			error = dsync_error_set(DSYNC_EUSAGE,
				"'%s' has a shortened name: rename it to the file's name yourself", one->copy);
			goto out;
		}
	}
	if (keep == DSYNC_KEEP_COPY && one->path_exists) {
		dsync_buf p = DSYNC_BUF_INIT;
		struct stat st;
		bool dir = dsync_buf_printf(&p, "%s/%s", f->root, one->path) == 0 && lstat(p.ptr, &st) == 0 &&
			   S_ISDIR(st.st_mode);

		dsync_buf_dispose(&p);
		if (dir) {
			error = dsync_error_set(DSYNC_EEXISTS,
				"'%s' is a folder: move it aside first, or keep both", one->path);
			goto out;
		}
	}
	for (i = 0; i < all.n && !error; i++) {
		dsync_conflict *c = &all.v[i];

		if (strcmp(c->copy, path) != 0 && strcmp(c->path, path) != 0)
			continue;
		if (keep == DSYNC_KEEP_FILE)
			error = remove_copy(f, c->copy);
		else if (keep == DSYNC_KEEP_COPY)
			error = move(f, c->copy, c->path);
		else if ((error = plain_name(&name, f, c)) == 0)
			error = move(f, c->copy, name.ptr);
	}
	if (error < 0)
		goto out;
	if ((error = dsync_buf_printf(&msg, "resolved the conflict at %s: kept %s", one->path, kept[keep])) < 0)
		goto out;
	so.message = msg.ptr;
	if ((error = dsync_snapshot_take_locked(&sr, f, &so)) < 0)
		goto out;
	memcpy(commit, sr.commit, sizeof(sr.commit));
	error = 0;
out:
	if (locked)
		dsync_write_end(f);
	dsync_conflicts_dispose(&all);
	dsync_buf_dispose(&msg);
	dsync_buf_dispose(&name);
	return error;
}
