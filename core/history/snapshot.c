/*
 * Snapshots: the working tree into one commit (DESIGN.md section 3).
 */
#include "core/base/internal.h"
#include "dsync/snapshot.h"
#include "core/history/snapshot.h"
#include "core/base/chunks.h"
#include "core/base/buf.h"
#include "core/base/path.h"
#include "core/base/strset.h"
#include "core/history/changes.h"
#include "core/history/head.h"
#include "core/history/scan.h"

#include <fcntl.h>
#include <malloc.h>
#include <git2/sys/odb_backend.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MASS_DELETE_MIN 10

/* The message of a snapshot whose changes are CH; FIRST: the first one, of
 * FILES files (CH then unused: a first snapshot lists no change). */
static int make_message(dsync_buf *msg, const dsync_changes *ch, bool first, size_t files,
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
		error = dsync_buf_printf(msg, "first snapshot: %zu file%s", files, files == 1 ? "" : "s");
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

static int local_signature(git_signature **out, const char *name, const char *email)
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

/* The error of a snapshot that would record the loss of DELETED of the
 * CACHE's files (the walk SCAN no longer has them), with OUT's counts. */
static int mass_delete(dsync_snapshot_result *out, const dsync_folder *f, const statcache *cache,
		       const scan_list *scan, size_t deleted)
{
	out->deleted = deleted;
	out->files = cache->n;
	out->left_out = count_left_out(f, cache, scan);
	if (out->left_out > deleted / 2)
		return dsync_error_set(DSYNC_EMASSDELETE,
			"the ignore rules changed and would drop %zu of %zu files in '%s' from the "
			"snapshots (they are still on disk); nothing recorded; fix '.dsyncignore', or "
			"if you meant it, run 'dsync snapshot --allow-mass-delete'",
			out->left_out, cache->n, f->root);
	return dsync_error_set(DSYNC_EMASSDELETE,
		"%zu of %zu files in '%s' are gone (an unmounted drive?); nothing recorded; "
		"if you deleted them, run 'dsync snapshot --allow-mass-delete'",
		deleted, cache->n, f->root);
}

/* Whether the walk SCAN (sorted) has PATH. */
static bool scan_has(const scan_list *scan, const char *path)
{
	size_t lo = 0, hi = scan->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(scan->v[mid].path, path);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Applies the walk SCAN (sorted) to INDEX: deletions (from the end, so
 * that the positions still to look at stay), then additions and changes.
 * The stat cache, read from the same file, is not needed: it can go before
 * the index is loaded (each holds 100,000 files in 15 MB).  The paths of
 * SCAN's entries added go: only scan_list_dispose() is left for it. */
static int update_index(git_index *index, scan_list *scan)
{
	size_t i;
	int err;

	for (i = git_index_entrycount(index); i-- > 0;) {
		const git_index_entry *ie = git_index_get_byindex(index, i);

		if (!ie || git_index_entry_stage(ie) != 0 || scan_has(scan, ie->path))
			continue;
		if ((err = git_index_remove(index, ie->path, 0)) < 0 && err != GIT_ENOTFOUND)
			return dsync_error_git(err, "cannot update the index");
	}
	for (i = 0; i < scan->n; i++) {
		git_index_entry ie;

		if (!(scan->v[i].flags & SCAN_HASHED))
			continue;
		scan_entry_to_index(&ie, &scan->v[i]);
		if ((err = git_index_add(index, &ie)) < 0)
			return dsync_error_git(err, "cannot record '%s'", scan->v[i].path);
		/* the index has its own copy: the walk's goes now, its room
		 * reused for the index's entries (else both lists of paths are
		 * held at once, 7 MB for 100,000 files) */
		free(scan->v[i].path);
		scan->v[i].path = NULL;
	}
	return 0;
}

/* Whether INDEX holds a big file (a link to its chunk tree): else the stored
 * tree is the index's, and no tree need be read to convert it (reading all
 * of them kept every tree of the folder in libgit2's cache: 7 MB for
 * 100,000 files). */
static bool has_big_file(git_index *index)
{
	size_t i, n = git_index_entrycount(index);

	for (i = 0; i < n; i++) {
		const git_index_entry *ie = git_index_get_byindex(index, i);

		if (ie && ie->mode == GIT_FILEMODE_COMMIT)
			return true;
	}
	return false;
}

/*
 * A big snapshot's pack stays open for its trees and its commit (1,000 trees
 * for 100,000 files would go loose, one file each): *OUT, a repository over
 * F's objects whose first backend is the pack PACK in progress, so that
 * libgit2's writes land in the pack and its reads of them are served from
 * it.  F's own repository is left as it is: libgit2 cannot remove a backend.
 */
static int pack_repo(git_repository **out, const dsync_folder *f, dsync_packw *pack)
{
	dsync_buf dir = DSYNC_BUF_INIT;
	git_odb *odb = NULL;
	git_odb_backend *be = NULL;
	int err = 0, error;

	*out = NULL;
	if ((error = dsync_buf_printf(&dir, "%s/objects", f->gitdir)) < 0)
		return error;
	if ((err = git_odb_open(&odb, dir.ptr)) < 0 || (error = dsync_packw_backend(&be, pack)) < 0)
		goto out;
	/* above the loose (1) and packed (2) backends */
	if ((err = git_odb_add_backend(odb, be, 1000)) < 0) {
		be->free(be);
		goto out;
	}
	err = git_repository_wrap_odb(out, odb);
out:
	if (err < 0)
		error = dsync_error_git(err, "cannot open the object store of '%s'", f->root);
	git_odb_free(odb);
	dsync_buf_dispose(&dir);
	return error;
}

/* Counts the kinds of CH into OUT. */
static void count_changes(dsync_snapshot_result *out, const dsync_changes *ch)
{
	size_t i;

	for (i = 0; i < ch->n; i++) {
		if (ch->v[i].kind == 'A')
			out->added++;
		else if (ch->v[i].kind == 'D')
			out->deleted++;
		else if (ch->v[i].kind == 'R')
			out->renamed++;
		else
			out->modified++;
	}
}

/*
 * Records TREE (whose changes against the head are CH; the first of FILES
 * files when HEAD is NULL) as a new snapshot whose parent is HEAD, its id
 * into OUT, and INDEX; the objects and the index are durable before
 * refs/heads/main names the new snapshot, and the ref after.  REPO: F's, or
 * the one over PACK (TREE's), where the commit is written; PACK (may be
 * NULL) is committed once it holds the commit.
 */
static int commit_snapshot(git_oid *out, dsync_folder *f, git_repository *repo, dsync_packw *pack,
			   git_index *index, git_tree *tree, const dsync_changes *ch, size_t files,
			   const git_oid *head, const char *message)
{
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_reference *ref = NULL;
	dsync_buf msg = DSYNC_BUF_INIT;
	int err, error;

	if ((error = make_message(&msg, ch, !head, files, message, f->device_id)) < 0 ||
	    (error = local_signature(&sig, f->device_name, f->device_id)) < 0)
		goto out;
	if (head && (err = git_commit_lookup(&parent, repo, head)) < 0) {
		error = dsync_error_git(err, "cannot read the last snapshot");
		goto out;
	}
	if ((err = git_commit_create(out, repo, NULL, sig, sig, NULL, msg.ptr, tree, head ? 1 : 0,
				     (const git_commit **)&parent)) < 0) {
		error = dsync_error_git(err, "cannot record the snapshot");
		goto out;
	}
	/* the pack in place (and flushed) before the index and the ref */
	if (pack && (error = dsync_packw_commit(pack)) < 0)
		goto out;
	if ((err = git_index_write(index)) < 0) {
		error = dsync_error_git(err, "cannot write the index");
		goto out;
	}
	/* objects and index durable before the ref names them */
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	if ((err = git_reference_create_matching(&ref, f->repo, DSYNC_MAIN_REF, out, 1, head, "snapshot")) < 0) {
		error = dsync_error_git(err, "cannot move '" DSYNC_MAIN_REF "'");
		goto out;
	}
	error = dsync_folder_sync(f);
out:
	git_reference_free(ref);
	git_signature_free(sig);
	git_commit_free(parent);
	dsync_buf_dispose(&msg);
	return error;
}

int dsync_history_commit_device(git_oid *out, dsync_snapshot_result *counts, dsync_folder *f, const char *refname,
				const git_oid *tree_id, const git_oid *parent, const char *name, const char *device_id)
{
	git_commit *pc = NULL;
	git_tree *old_tree = NULL, *tree = NULL;
	git_signature *sig = NULL;
	git_reference *ref = NULL;
	dsync_changes ch = { 0 };
	dsync_buf msg = DSYNC_BUF_INIT;
	int err, error;

	memset(counts, 0, sizeof(*counts));
	if (parent && (err = git_commit_lookup(&pc, f->repo, parent)) < 0) {
		error = dsync_error_git(err, "cannot read the version '%s' starts from", refname);
		goto out;
	}
	if ((pc && (err = git_commit_tree(&old_tree, pc)) < 0) ||
	    (err = git_tree_lookup(&tree, f->repo, tree_id)) < 0) {
		error = dsync_error_git(err, "cannot read the tree to record on '%s'", refname);
		goto out;
	}
	if ((error = dsync_changes_between(&ch, f->repo, old_tree, tree, NULL, DSYNC_RENAMES_EXACT)) < 0)
		goto out;
	count_changes(counts, &ch);
	if ((error = make_message(&msg, &ch, !parent, ch.n, NULL, device_id)) < 0 ||
	    (error = local_signature(&sig, name, device_id)) < 0)
		goto out;
	if ((err = git_commit_create(out, f->repo, NULL, sig, sig, NULL, msg.ptr, tree, pc ? 1 : 0,
				     (const git_commit **)&pc)) < 0) {
		error = dsync_error_git(err, "cannot record the version of '%s'", name);
		goto out;
	}
	/* objects durable before the ref names them */
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	err = parent ? git_reference_create_matching(&ref, f->repo, refname, out, 1, parent, "snapshot")
		     : git_reference_create(&ref, f->repo, refname, out, 0, "snapshot");
	if (err < 0) {
		error = dsync_error_git(err, "cannot move '%s'", refname);
		goto out;
	}
	error = dsync_folder_sync(f);
	git_oid_tostr(counts->commit, sizeof(counts->commit), out);
	counts->committed = error == 0;
out:
	git_reference_free(ref);
	git_signature_free(sig);
	git_tree_free(tree);
	git_tree_free(old_tree);
	git_commit_free(pc);
	dsync_changes_dispose(&ch);
	dsync_buf_dispose(&msg);
	return error;
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
	git_repository *repo, *prepo = NULL;
	git_tree *old_tree = NULL, *new_tree = NULL, *old_in_pack = NULL;
	git_oid head, tree_oid, commit_oid, index_tree;
	statcache cache = { 0 };
	scan_list scan = { 0 };
	dsync_changes changes = { 0 };
	dsync_strset unreadable = DSYNC_STRSET_INIT;
	dsync_packw *pack = NULL;
	bool born, content, stat_only, fast, locked = false, healing = false;
	size_t i, deleted;
	int err, error;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if ((error = dsync_folder_lock(f, opts->lock_wait_ms)) < 0)
		return error;
	locked = true;
	if ((error = statcache_load_folder(&cache, f)) < 0)
		goto out;
	/* glibc raises its mmap threshold to the size of each big block freed
	 * (up to 32 MB): once the walk's list of 100,000 files (11 MB) was
	 * freed, the pack's sort buffer, the index's tables and the like came
	 * from the heap and stayed resident after use (10 MB of a first
	 * snapshot's peak).  A fixed threshold keeps blocks of 1 MiB and more
	 * mapped apart, given back when freed (smaller ones, as the reading's
	 * rooms, stay in the heap: mapping each cost system time).  Only for a
	 * first snapshot or a big folder: a small folder's snapshot reads its
	 * changed files whole, and mapping each of a few MB apart cost page
	 * faults every time */
	if (cache.n == 0 || cache.n >= SCAN_TRIM_MIN)
		mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	fast = cache.has_tree && dsync_history_cached_head(f, &head, &tree_oid) && git_oid_equal(&cache.tree, &tree_oid);
rescan:
	if ((error = scan_worktree(&scan, f, &cache, true, &pack, opts->progress, opts->keep, opts->payload)) < 0)
		goto out;
	for (i = 0; i < scan.problems.size; i++)
		if (opts->warn && !healing)
			opts->warn(scan.problems.ptr[i], opts->payload);
	out->problems = scan.problems.size;
	out->busy = scan.busy;
	out->files = scan.n;
	/* the fast path: the walk matches the index, and the index the head;
	 * only the head commit is read (no tree, no file) */
	if (scan.unchanged && fast) {
		if ((error = dsync_history_head_readable(f, &head)) < 0)
			goto out;
		git_oid_tostr(out->commit, sizeof(out->commit), &head);
		error = 0;
		goto out;
	}
	if ((error = dsync_folder_repo(f)) < 0 ||
	    (error = dsync_history_head_tree(&old_tree, &head, &born, f->repo)) < 0)
		goto out;
	if (scan.unchanged && born && cache.has_tree && git_oid_equal(&cache.tree, git_tree_id(old_tree))) {
		dsync_history_record_head(f, &head, git_tree_id(old_tree));
		git_oid_tostr(out->commit, sizeof(out->commit), &head);
		error = 0;
		goto out;
	}
	scan_list_sort(&scan);
	scan_list_compare(&scan, &cache, &content, &stat_only, &deleted);
	if (deleted > cache.n / 2 && deleted > MASS_DELETE_MIN && !opts->allow_mass_delete) {
		error = mass_delete(out, f, &cache, &scan, deleted);
		goto out;
	}
	statcache_dispose(&cache);
	if ((error = open_index(&index, f)) < 0 || (error = update_index(index, &scan)) < 0)
		goto out;
	/* the index holds it all now: the walk's list goes before the trees
	 * are written (a walk of 100,000 files holds 17 MB) */
	scan_list_dispose(&scan);
	/* its paths, freed among the index's entries: the pages left free
	 * go back before the trees are written (a big walk's) */
	if (git_index_entrycount(index) >= SCAN_TRIM_MIN)
		malloc_trim(0);
	/* a big snapshot's files went into a pack, still open: the trees and
	 * the commit go there too; the pack is put in place and flushed before
	 * the index is written, and durable with the syncfs before the ref
	 * moves, as loose objects are */
	repo = f->repo;
	if (pack) {
		if ((error = pack_repo(&prepo, f, pack)) < 0)
			goto out;
		repo = prepo;
	}
	if ((err = git_index_write_tree_to(&index_tree, index, repo)) < 0) {
		error = dsync_error_git(err, "cannot record the folder's tree");
		goto out;
	}
	/* the index holds big files as links to their chunk trees: the
	 * stored tree has the chunk trees themselves (docs/chunks.md) */
	git_oid_cpy(&tree_oid, &index_tree);
	if (has_big_file(index) && (error = dsync_chunks_id_to_stored_form(&tree_oid, repo, &unreadable)) < 0) {
		/* a big file whose chunk tree or marker is gone from the
		 * store: the cache's entry for it is forgotten and the file on
		 * disk read and stored again, once */
		if (healing)
			goto out;
		/* the index file is still the one the cache was read from */
		if ((err = statcache_load_folder(&cache, f)) < 0) {
			error = err;
			goto out;
		}
		if (!forget_all(&cache, &unreadable))
			goto out;
		/* what was read is kept: the new walk finds it stored */
		if (pack && (error = dsync_packw_commit(pack)) < 0)
			goto out;
		dsync_packw_free(pack);
		pack = NULL;
		git_repository_free(prepo);
		prepo = NULL;
		healing = true;
		scan_list_dispose(&scan);
		git_index_free(index);
		index = NULL;
		git_tree_free(old_tree);
		old_tree = NULL;
		goto rescan;
	}
	if (born && git_oid_equal(&tree_oid, git_tree_id(old_tree))) {
		/* nothing changed; keep refreshed stat data for next time (the
		 * index may name what the pack holds: in place first) */
		if (pack && (error = dsync_packw_commit(pack)) < 0)
			goto out;
		if ((err = git_index_write(index)) < 0) {
			error = dsync_error_git(err, "cannot write the index");
			goto out;
		}
		dsync_history_record_head(f, &head, &index_tree);
		git_oid_tostr(out->commit, sizeof(out->commit), &head);
		error = 0;
		goto out;
	}
	if ((err = git_tree_lookup(&new_tree, repo, &tree_oid)) < 0) {
		error = dsync_error_git(err, "cannot read the new tree");
		goto out;
	}
	if (!born) {
		/* the first snapshot adds every entry of the index (a big file
		 * is one, an empty folder's marker one): the diff from nothing
		 * would list 100,000 files to count them (22 MB) */
		out->added = git_index_entrycount(index);
	} else {
		/* both trees of one repository, as libgit2's diff wants */
		if (prepo && (err = git_tree_lookup(&old_in_pack, prepo, git_tree_id(old_tree))) < 0) {
			error = dsync_error_git(err, "cannot read the last snapshot's tree");
			goto out;
		}
		if ((error = dsync_changes_between(&changes, repo, old_in_pack ? old_in_pack : old_tree, new_tree,
						   NULL, DSYNC_RENAMES_EXACT)) < 0)
			goto out;
		count_changes(out, &changes);
	}
	if ((error = commit_snapshot(&commit_oid, f, repo, pack, index, new_tree, &changes, out->added,
				     born ? &head : NULL, opts->message)) < 0)
		goto out;
	dsync_history_record_head(f, &commit_oid, &index_tree);
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
	git_tree_free(old_tree);
	git_tree_free(old_in_pack);
	git_tree_free(new_tree);
	git_index_free(index);
	/* the objects of PREPO before it; the pack (not committed: its temp
	 * files removed) after the repository that reads it */
	git_repository_free(prepo);
	dsync_packw_free(pack);
	return error;
}
