/*
 * Merging other heads into the folder and updating the working tree to the
 * result without ever overwriting what the user saved (DESIGN.md sections 5
 * and 6; docs/merge.md).
 *
 * The update goes from the folder's head FROM to the merged commit TO and
 * touches only the paths where they differ.  Each such path is first
 * compared with both versions: on disk as FROM has it (to be replaced), as
 * TO has it (done already: an update that was killed, or the same edit), or
 * neither (the user changed it after the snapshot: "dirty").  When a path is
 * dirty nothing is written: the folder is snapshotted (FROM' = that
 * snapshot) and TO merged again onto it (TO' = merge(FROM', TO)), and the
 * comparison starts over.  Otherwise each path is replaced (temporary file,
 * then rename) after checking once more that it is still as compared; a
 * file changed in that instant is left alone and the round repeats.  Last
 * the index (the stat cache) is updated, and refs/heads/main moves to TO.
 *
 * .dsync/dsync-merge ("FROM TO") is written, durably, before the first file
 * and removed after the ref moved: a dsync killed in between leaves it, and
 * the next command that begins a write finishes the update (every path is
 * then at FROM's version, TO's, or changed by the user).
 */
#include "core/base/internal.h"
#include "dsync/merge.h"
#include "dsync/history.h"
#include "dsync/ignore.h"
#include "dsync/snapshot.h"
#include "core/worktree/apply.h"
#include "core/worktree/batch.h"
#include "merge/names.h"
#include "merge/treemerge.h"
#include "merge/heads.h"
#include "merge/check.h"
#include "core/worktree/journal.h"
#include "core/worktree/plan.h"
#include "core/worktree/temp.h"
#include "core/history/head.h"
#include "core/history/snapshot.h"
#include "core/base/path.h"
#include "core/base/chunks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ROUNDS 10   /* snapshots and merges again before giving up */

#ifdef DSYNC_TESTING
static void (*test_hook)(const char *step, const char *path, void *payload);
static void *test_payload;

void dsync_worktree_set_test_hook(void (*hook)(const char *step, const char *path, void *payload),
				  void *payload)
{
	test_hook = hook;
	test_payload = payload;
}

static void hook(const char *step, const char *path)
{
	if (test_hook)
		test_hook(step, path ? path : "", test_payload);
}
#else
#define hook(step, path) ((void)0)
#endif

/* ------------------------------------------------------ writing the disk */

typedef struct applier {
	dsync_folder *f;
	git_repository *repo;
	dsync_merge_outcome *out;
	const dsync_merge_options *o;
	mode_t umask;
	size_t raced;        /* paths changed while being replaced */
	size_t blocked;      /* folders in the way, holding the user's files */
	bool resuming;       /* finishing an update that was killed */
	dsync_chunker chunker;  /* the folder's, to compare big files */
} applier;

/* Removes the temporary files a killed update may have left in the folder
 * of the folder-relative DISK (ours, made under the lock that is held
 * now). */
static void sweep_temps(const dsync_folder *f, const char *disk)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *d = strdup(disk), *s;

	if (!d)
		return;
	if ((s = strrchr(d, '/')) != NULL)
		*s = '\0';
	else
		*d = '\0';
	if (dsync_plan_abs_path(&path, f, d) == 0)
		dsync_worktree_sweep_dir(path.ptr, false);
	free(d);
	dsync_buf_dispose(&path);
}

/* Removes the now empty folders above the folder-relative DISK. */
static void prune_dirs(const dsync_folder *f, const char *disk)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *d = strdup(disk), *s;

	while (d && (s = strrchr(d, '/')) != NULL) {
		*s = '\0';
		if (dsync_plan_abs_path(&path, f, d) < 0 || rmdir(path.ptr) < 0)
			break;
	}
	free(d);
	dsync_buf_dispose(&path);
}

/* Removes S's file when it is still as compared. */
static int remove_side(applier *a, const dsync_plan_side *s)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error = 0;

	if (!s->exists)
		return 0;
	hook("write", s->disk);
	if (!dsync_plan_unchanged(s, a->f) || !dsync_worktree_parents_safe(a->f->root, s->disk, NULL)) {
		a->raced++;
		return 1;
	}
	if ((error = dsync_plan_abs_path(&path, a->f, s->disk)) == 0 && unlink(path.ptr) < 0 && errno != ENOENT)
		error = dsync_error_sys(errno, "cannot remove '%s'", path.ptr);
	dsync_buf_dispose(&path);
	if (error == 0) {
		a->out->removed++;
		prune_dirs(a->f, s->disk);
		hook("written", s->disk);
	}
	return error;
}

/* Whether what is at PATH now is the file or link ST was taken of (moved
 * there or not). */
static bool still(const char *path, const struct stat *st)
{
	struct stat now;

	return lstat(path, &now) == 0 && dsync_plan_same_stat(&now, st, false);
}

/* Makes the folder a marker stands for (after the deletions: a folder the
 * plan emptied and removed comes back when TO keeps it, empty). */
static int make_marker_dir(applier *a, const dsync_plan_change *c)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *d = strdup(c->to.disk);
	int error;

	if (!d)
		return dsync_error_oom();
	dsync_plan_marker_dir(d);
	if (*d && !dsync_worktree_parents_safe(a->f->root, d, NULL)) {
		a->raced++; /* a link appeared above it: compared again */
		error = 0;
	} else if ((error = dsync_plan_abs_path(&path, a->f, d)) == 0 && (error = dsync_path_mkdirs(path.ptr)) == DSYNC_ENOTDIR) {
		dsync_error_clear();
		a->raced++;
		error = 0;
	}
	free(d);
	dsync_buf_dispose(&path);
	return error;
}

/*
 * Puts the temporary file TMP at PATH in place of what C was compared with.
 * Where something is there, the two are swapped atomically and what came
 * out is checked: not the compared version (the user saved meanwhile), it
 * goes back.  Returns 1 when it went back.
 */
static int replace(applier *a, dsync_plan_change *c, const char *tmp, const char *path)
{
	if (c->to.exists && !c->folder_goes) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
			if (still(tmp, &c->to.st)) {
				unlink(tmp); /* the version replaced: in history */
				return 0;
			}
			/* the user's: back where it was, ours goes */
			if (rename(tmp, path) < 0)
				return dsync_error_sys(errno, "cannot put '%s' back", path);
			return 1;
		}
		if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != ENOENT)
			return dsync_error_sys(errno, "cannot write '%s'", path);
		/* a file system without atomic exchange: check, then rename;
		 * or gone: removed by the plan (see classify) */
		if (errno != ENOENT && !dsync_plan_unchanged(&c->to, a->f)) {
			unlink(tmp);
			return 1;
		}
	}
	if (c->folder_goes || !c->to.exists || errno == ENOENT) {
		/* nothing was there (or an emptied folder): nothing may be now */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST) {
			unlink(tmp);
			return 1;
		}
		if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return dsync_error_sys(errno, "cannot write '%s'", path);
		if (!dsync_plan_unchanged(&c->to, a->f)) {
			unlink(tmp);
			return 1;
		}
	}
	if (rename(tmp, path) < 0)
		return dsync_error_sys(errno, "cannot write '%s'", path);
	return 0;
}

/* The permissions TO's version of C is written with (0: the default): a
 * file replaced keeps its own, only the executable bits follow TO; *SIZE
 * gets a big file's size (0 for another). */
static mode_t change_perm(applier *a, const dsync_plan_change *c, uint64_t *size)
{
	bool same = strcmp(c->from.disk, c->to.disk) == 0;
	uint32_t to_mode = c->to.mode;
	mode_t perm = 0;

	*size = 0;
	if (c->to.mode == GIT_FILEMODE_COMMIT) {
		/* a big file's mode is in its marker */
		dsync_chunked info;

		if (dsync_chunks_info_of(&info, a->repo, &c->to.id) == 1) {
			to_mode = info.mode;
			*size = info.size;
		} else {
			dsync_error_clear();
		}
	}
	if (same && c->from.exists && S_ISREG(c->from.st.st_mode) && to_mode != GIT_FILEMODE_LINK &&
	    to_mode != GIT_FILEMODE_COMMIT) {
		perm = c->from.st.st_mode & 07777 & ~(mode_t)0111;
		if (to_mode == GIT_FILEMODE_BLOB_EXECUTABLE)
			perm |= S_IXUSR | (perm & S_IRGRP ? S_IXGRP : 0) | (perm & S_IROTH ? S_IXOTH : 0);
		if (!perm)
			perm = S_IRUSR | S_IWUSR; /* never "no permissions": 0 means the default */
	}
	return perm;
}

/* Whether the plan writes TO's version of C. */
static bool writes(const dsync_plan_change *c)
{
	return (c->state == DSYNC_PLAN_AT_FROM || c->marker) && c->to.mode;
}

/* Whether TO's version of C can be written ahead, in a batch: a file whose
 * old version, if any, is in the same place (one elsewhere goes first: it
 * may be in the way of the new one's folder). */
static bool batchable(const dsync_plan_change *c)
{
	return writes(c) && !c->marker && (strcmp(c->from.disk, c->to.disk) == 0 || !c->from.exists);
}

/* Adds TO's version of C to the batch B. */
static int batch_add(applier *a, dsync_wbatch *b, const dsync_plan_change *c)
{
	dsync_buf path = DSYNC_BUF_INIT;
	uint64_t size;
	mode_t perm = change_perm(a, c, &size);
	int error;

	if ((error = dsync_plan_abs_path(&path, a->f, c->to.disk)) == 0)
		error = dsync_wbatch_add(b, &c->to.id, c->to.mode, perm, path.ptr, size);
	dsync_buf_dispose(&path);
	return error;
}

/* TO's version of C into a durable temporary file TMP (*ST its stat):
 * written already as job AT of the batch B, or now, alone. */
static int change_temp(applier *a, dsync_plan_change *c, dsync_wbatch *b, size_t at, dsync_buf *tmp,
		       struct stat *st)
{
	dsync_wbatch one;
	int error;

	if (b)
		return dsync_wbatch_take(b, at, tmp, st);
	dsync_wbatch_init(&one, a->repo, a->f->gitdir, a->f->root, a->umask);
	if ((error = batch_add(a, &one, c)) == 0 && (error = dsync_wbatch_write(&one)) == 0)
		error = dsync_wbatch_take(&one, 0, tmp, st);
	dsync_wbatch_dispose(&one);
	return error;
}

/* Writes TO's version of C over what was compared: the new version's
 * temporary file is job AT of the batch B, or (B NULL) written here. */
static int write_change(applier *a, dsync_plan_change *c, dsync_wbatch *b, size_t at)
{
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT;
	bool same = strcmp(c->from.disk, c->to.disk) == 0;
	struct stat st;
	int error;

	if (c->marker)
		return make_marker_dir(a, c);
	if (!same && (error = remove_side(a, &c->from)) != 0)
		return error < 0 ? error : 0;
	if ((error = dsync_plan_abs_path(&path, a->f, c->to.disk)) < 0)
		goto out;
	error = change_temp(a, c, b, at, &tmp, &st);
	if (error == DSYNC_ENOTDIR) {
		/* a file in the way of the folder: the user's, recorded next */
		dsync_error_clear();
		a->raced++;
		error = 0;
		goto out;
	}
	if (error < 0)
		goto out;
	hook("write", c->to.disk);
	if (c->folder_goes && rmdir(path.ptr) < 0 && errno != ENOENT) {
		/* not empty: the user's files (or ignored ones) are in it */
		unlink(tmp.ptr);
		a->blocked++;
		goto out;
	}
	if (!dsync_worktree_parents_safe(a->f->root, c->to.disk, NULL)) {
		unlink(tmp.ptr);
		a->raced++;
		goto out;
	}
	if ((error = replace(a, c, tmp.ptr, path.ptr)) != 0) {
		if (error > 0) {
			a->raced++;
			error = 0;
		} else {
			unlink(tmp.ptr);
		}
		goto out;
	}
	/* the stat the index gets: ours only while it is still our file (one
	 * lstat for both) */
	c->written = lstat(path.ptr, &c->done) == 0 && dsync_plan_same_stat(&c->done, &st, false);
	a->out->written++;
	hook("written", c->to.disk);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&tmp);
	return error;
}

/* Deletions first (a file may give way to a folder), then the rest. */
static int write_plan(applier *a, dsync_plan *p)
{
	dsync_wbatch b;
	size_t i, j, k, at;
	int error = 0;

	for (i = 0; i < p->size && !error; i++) {
		dsync_plan_change *c = &p->ptr[i];

		if (c->state != DSYNC_PLAN_AT_FROM || c->to.mode)
			continue;
		if (c->marker) {
			dsync_buf path = DSYNC_BUF_INIT;
			char *d = strdup(c->from.disk);

			if (d) {
				dsync_plan_marker_dir(d);
				if (*d && dsync_plan_abs_path(&path, a->f, d) == 0 && rmdir(path.ptr) == 0)
					prune_dirs(a->f, d);
			}
			free(d);
			dsync_buf_dispose(&path);
			continue;
		}
		if ((error = remove_side(a, &c->from)) > 0)
			error = 0;
	}
	/* the new versions in batches: written ahead (two threads, one
	 * flush), then each put in place in the plan's order */
	dsync_wbatch_init(&b, a->repo, a->f->gitdir, a->f->root, a->umask);
	for (i = 0; i < p->size && !error; i = j) {
		for (j = i; j < p->size && !dsync_wbatch_full(&b) && !error; j++)
			if (batchable(&p->ptr[j]))
				error = batch_add(a, &b, &p->ptr[j]);
		if (!error && b.n)
			error = dsync_wbatch_write(&b);
		for (k = i, at = 0; k < j && !error; k++) {
			dsync_plan_change *c = &p->ptr[k];

			if (batchable(c))
				error = write_change(a, c, &b, at++);
			else if (writes(c))
				error = write_change(a, c, NULL, 0);
		}
		dsync_wbatch_clear(&b);
	}
	dsync_wbatch_dispose(&b);
	return error;
}

/* --------------------------------------------------------------- the index */

/* Points the index at TO: the plan's paths with their stat on disk now. */
static int update_index(dsync_folder *f, dsync_plan *p, git_tree *to_tree)
{
	dsync_buf path = DSYNC_BUF_INIT;
	git_index *index = NULL;
	git_oid tree;
	size_t i;
	int err, error = 0;

	if ((error = dsync_buf_printf(&path, "%s/index", f->gitdir)) < 0)
		return error;
	if ((err = git_index_open(&index, path.ptr)) < 0) {
		error = dsync_error_git(err, "cannot read the index of '%s'", f->root);
		goto out;
	}
	for (i = 0; i < p->size; i++) {
		dsync_plan_change *c = &p->ptr[i];
		git_index_entry e;
		struct stat st;

		if (!c->to.mode) {
			if ((err = git_index_remove(index, c->path, 0)) < 0 && err != GIT_ENOTFOUND)
				break;
			err = 0;
			continue;
		}
		memset(&e, 0, sizeof(e));
		/* stat data only for a file this update wrote and that is still
		 * exactly as written; any other gets none, so the next snapshot
		 * reads it (a save right after the write is never missed) */
		if (!c->marker && c->written && dsync_plan_abs_path(&path, f, c->to.disk) == 0 && lstat(path.ptr, &st) == 0 &&
		    dsync_plan_same_stat(&st, &c->done, true)) {
			e.ctime.seconds = (int32_t)st.st_ctim.tv_sec;
			e.ctime.nanoseconds = (uint32_t)st.st_ctim.tv_nsec;
			e.mtime.seconds = (int32_t)st.st_mtim.tv_sec;
			e.mtime.nanoseconds = (uint32_t)st.st_mtim.tv_nsec;
			e.dev = (uint32_t)st.st_dev;
			e.ino = (uint32_t)st.st_ino;
			e.uid = st.st_uid;
			e.gid = st.st_gid;
			e.file_size = (uint32_t)st.st_size;
		}
		e.mode = c->to.mode;
		e.path = c->path;
		e.id = c->to.id;
		if ((err = git_index_add(index, &e)) < 0)
			break;
	}
	if (err < 0) {
		error = dsync_error_git(err, "cannot update the index of '%s'", f->root);
		goto out;
	}
	/* the index now is TO; if it somehow is not, it becomes TO without
	 * stat data (the next snapshot reads every file: slower, right) */
	if ((err = git_index_write_tree_to(&tree, index, f->repo)) < 0 ||
	    !git_oid_equal(&tree, git_tree_id(to_tree))) {
		if ((err = git_index_read_tree(index, to_tree)) < 0) {
			error = dsync_error_git(err, "cannot update the index of '%s'", f->root);
			goto out;
		}
	}
	hook("index", NULL);
	if ((err = git_index_write(index)) < 0)
		error = dsync_error_git(err, "cannot write the index of '%s'", f->root);
out:
	git_index_free(index);
	dsync_buf_dispose(&path);
	return error;
}

/* ------------------------------------------------------------ the update */

static int lookup_tree(git_tree **out, git_repository *repo, const git_oid *commit)
{
	git_commit *c = NULL;
	int err;

	*out = NULL;
	if (git_oid_is_zero(commit))
		return 0;
	if ((err = git_commit_lookup(&c, repo, commit)) < 0 || (err = git_commit_tree(out, c)) < 0) {
		git_commit_free(c);
		return dsync_error_git(err, "cannot read the version to merge");
	}
	git_commit_free(c);
	return 0;
}

/* Merges TO onto the snapshot FROM (whose parent TO descends from) into
 * *OUT: a user's change met during the update. */
static int remerge(git_oid *out, applier *a, const git_oid *from, const git_oid *to)
{
	git_commit *ours = NULL, *theirs = NULL;
	dsync_merge_result r;
	int err, error;

	if ((err = git_commit_lookup(&ours, a->repo, from)) < 0 || (err = git_commit_lookup(&theirs, a->repo, to)) < 0) {
		error = dsync_error_git(err, "cannot read the versions to merge");
		goto out;
	}
	if ((error = dsync_merge_trees_ours(&r, a->repo, ours, theirs)) < 0)
		goto out;
	error = dsync_merge_commit(out, a->repo, &r.tree, ours, theirs, &r);
	a->out->conflicts += r.n;
	dsync_merge_result_dispose(&r);
out:
	git_commit_free(ours);
	git_commit_free(theirs);
	return error;
}

/* Snapshots the user's changes met during the update; the new head into
 * FROM. */
static int snapshot_changes(applier *a, git_oid *from)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	int error;

	so.message = NULL;
	so.allow_mass_delete = true; /* the merge's own deletions, half done */
	so.lock_wait_ms = a->o->lock_wait_ms;
	so.warn = a->o->warn;
	so.payload = a->o->payload;
	if ((error = dsync_snapshot_take_locked(&sr, a->f, &so)) < 0)
		return error;
	if (!sr.committed)
		return 1; /* what is in the way is not recorded here (ignored) */
	return git_oid_fromstr(from, sr.commit) < 0 ? dsync_error_set(DSYNC_ERROR, "bad snapshot id") : 0;
}

/*
 * Moves aside what is in the way of the plan P and that a snapshot does not
 * record (ignored here, so it never leaves this device): renamed to a
 * conflict copy's name with this device and the time now, and reported.
 */
static int move_aside(applier *a, dsync_plan *p)
{
	dsync_buf from = DSYNC_BUF_INIT, to = DSYNC_BUF_INIT, name = DSYNC_BUF_INIT, msg = DSYNC_BUF_INIT;
	size_t i, moved = 0;
	int error = 0;

	for (i = 0; i < p->size && !error; i++) {
		dsync_plan_change *c = &p->ptr[i];
		const char *disk = c->to.mode ? c->to.disk : c->from.disk;
		char *d = NULL;
		size_t bad = 0;
		unsigned n;

		if (c->state != DSYNC_PLAN_DIRTY && !(c->folder_goes && c->to.exists))
			continue;
		if ((d = strdup(disk)) == NULL)
			return dsync_error_oom();
		if (c->marker)
			dsync_plan_marker_dir(d);
		/* what is in the way: a link or file above, or the path */
		if (!dsync_worktree_parents_safe(a->f->root, d, &bad))
			d[bad] = '\0';
		for (n = 1;; n++) {
			dsync_buf_truncate(&name, 0);
			if ((error = dsync_copyname_make(&name, d, a->f->device_name, time(NULL), n)) < 0 ||
			    (error = dsync_plan_abs_path(&to, a->f, name.ptr)) < 0)
				break;
			if (access(to.ptr, F_OK) != 0)
				break;
		}
		if (!error && (error = dsync_plan_abs_path(&from, a->f, d)) == 0 && rename(from.ptr, to.ptr) == 0) {
			moved++;
			dsync_buf_truncate(&msg, 0);
			if (a->o->warn && dsync_buf_printf(&msg, "'%s' (not synced here) was in the way of a merge: "
							   "kept as '%s'", d, name.ptr) == 0)
				a->o->warn(msg.ptr, a->o->payload);
		}
		free(d);
	}
	dsync_buf_dispose(&from);
	dsync_buf_dispose(&to);
	dsync_buf_dispose(&name);
	dsync_buf_dispose(&msg);
	if (!error && moved == 0)
		error = dsync_error_set(DSYNC_ERROR, "cannot merge into '%s': files keep getting in the way; "
					"nothing is lost, try again", a->f->root);
	return error;
}

/* Records the user's changes met during the update as a snapshot, the new
 * *FROM, and merges *TO again on top of it; what a snapshot does not record
 * (ignored files in the way of the plan P) is moved aside instead. */
static int redo(applier *a, git_oid *from, git_oid *to, dsync_plan *p)
{
	git_oid snap;
	int error;

	if ((error = snapshot_changes(a, &snap)) < 0)
		return error;
	if (error > 0)
		return move_aside(a, p);
	if ((error = remerge(to, a, &snap, to)) < 0)
		return error;
	git_oid_cpy(from, &snap);
	a->out->redone++;
	return 0;
}

/*
 * Updates the working tree and the head from the commit FROM (the head now;
 * zero before the first snapshot) to TO; *TO may change when the user's
 * changes are met (snapshotted, merged again).  The caller holds the lock.
 */
static int update(applier *a, git_oid *from, git_oid *to)
{
	dsync_ignore *rules = NULL;
	git_tree *from_tree = NULL, *to_tree = NULL;
	git_reference *ref = NULL;
	dsync_plan p = { 0 };
	char folder_id[33];
	size_t dirty, round;
	int err, error;

	/* a missing mount would look like a folder whose files all went */
	if ((error = dsync_folder_marker(folder_id, a->f)) < 0 || (error = dsync_folder_chunker(&a->chunker, a->f)) < 0)
		return error;
	if (!dsync_folder_present(a->f->root, folder_id))
		return dsync_error_set(DSYNC_ERROR, "'%s' is missing (an unmounted drive?); nothing merged",
				       a->f->root);
	for (round = 0;; round++) {
		git_tree_free(from_tree);
		git_tree_free(to_tree);
		from_tree = to_tree = NULL;
		if (round == MAX_ROUNDS) {
			error = dsync_error_set(DSYNC_ERROR,
				"files in '%s' keep changing while merging; nothing is lost, try again later",
				a->f->root);
			goto out;
		}
		if ((error = lookup_tree(&from_tree, a->repo, from)) < 0 ||
		    (error = lookup_tree(&to_tree, a->repo, to)) < 0)
			goto out;
		/* nothing from another device is written unchecked */
		dsync_ignore_free(rules);
		rules = NULL;
		if ((error = dsync_treecheck_all(a->repo, to_tree)) < 0 ||
		    /* a big file is one entry of the plan (docs/chunks.md) */
		    (from_tree && (error = dsync_chunks_swap_to_index_form(&from_tree, a->repo)) < 0) ||
		    (error = dsync_chunks_swap_to_index_form(&to_tree, a->repo)) < 0 ||
		    (error = dsync_plan_make(&p, a->repo, from_tree, to_tree)) < 0 ||
		    (error = dsync_plan_check_folds(&p, a->f)) < 0 ||
		    (error = dsync_plan_rules(&rules, a->repo, to_tree)) < 0 ||
		    (error = dsync_journal_write(a->f, from, to)) < 0 ||
		    (error = dsync_plan_classify(&p, a->f, &a->chunker, rules, &dirty)) < 0)
			goto out;
		if (a->resuming) {
			size_t i;

			for (i = 0; i < p.size; i++) {
				sweep_temps(a->f, p.ptr[i].from.disk);
				if (strcmp(p.ptr[i].from.disk, p.ptr[i].to.disk) != 0)
					sweep_temps(a->f, p.ptr[i].to.disk);
			}
		}
		hook("classified", NULL);
		if (dirty) {
			/* the user changed files since the snapshot */
			if ((error = redo(a, from, to, &p)) < 0)
				goto out;
			continue;
		}
		a->raced = a->blocked = 0;
		if ((error = write_plan(a, &p)) < 0)
			goto out;
		if (a->blocked) {
			if ((error = redo(a, from, to, &p)) < 0)
				goto out;
			continue;
		}
		if (a->raced)
			continue; /* compared again: the changed ones are dirty */
		break;
	}
	if ((error = update_index(a->f, &p, to_tree)) < 0 || (error = dsync_folder_sync(a->f)) < 0)
		goto out;
	hook("ref", NULL);
	if ((err = git_reference_create_matching(&ref, a->repo, DSYNC_MAIN_REF, to, !git_oid_is_zero(from),
						 git_oid_is_zero(from) ? NULL : from, "merge")) < 0) {
		error = dsync_error_git(err, "cannot move '" DSYNC_MAIN_REF "' of '%s'", a->f->root);
		goto out;
	}
	if ((error = dsync_folder_sync(a->f)) < 0)
		goto out;
	dsync_history_record_head(a->f, to, git_tree_id(to_tree));
	dsync_journal_remove(a->f);
	error = 0;
out:
	/* failed, not killed: the journal goes, so the folder is not held up;
	 * whatever the update wrote is TO's (in history) and the next
	 * snapshot records the folder as it is, so nothing is lost */
	if (error < 0)
		dsync_journal_remove(a->f);
	dsync_ignore_free(rules);
	git_reference_free(ref);
	git_tree_free(from_tree);
	git_tree_free(to_tree);
	dsync_plan_dispose(&p);
	return error;
}

/* ------------------------------------------------------- the entries */

static void applier_init(applier *a, dsync_folder *f, dsync_merge_outcome *out, const dsync_merge_options *o)
{
	memset(a, 0, sizeof(*a));
	a->f = f;
	a->repo = f->repo;
	a->out = out;
	a->o = o;
	a->umask = umask(0);
	umask(a->umask);
}

int dsync_worktree_head(git_oid *out, dsync_folder *f)
{
	int error = dsync_history_head(out, f->repo);

	if (error == DSYNC_ENOTFOUND) {
		memset(out, 0, sizeof(*out));
		error = 0;
	}
	return error;
}

int dsync_worktree_update(dsync_merge_outcome *out, dsync_folder *f, git_oid *from, git_oid *to,
			  const dsync_merge_options *o)
{
	applier a;

	applier_init(&a, f, out, o);
	return update(&a, from, to);
}

int dsync_worktree_resume(dsync_folder *f)
{
	dsync_merge_options o = DSYNC_MERGE_OPTIONS_INIT;
	dsync_merge_outcome out;
	applier a;
	git_oid from, to, head;
	int error;

	if ((error = dsync_journal_read(f, &from, &to)) <= 0)
		return error;
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	memset(&out, 0, sizeof(out));
	applier_init(&a, f, &out, &o);
	a.resuming = true;
	if ((error = dsync_worktree_head(&head, f)) < 0)
		return error;
	if (git_oid_equal(&head, &to)) {
		/* killed after the head moved: done */
		dsync_journal_remove(f);
		return 0;
	}
	if (!git_oid_equal(&head, &from)) {
		/* killed after a snapshot of the user's changes, before the
		 * merge was redone on it (or the head was moved by hand):
		 * merge again on what the head is now */
		if (git_oid_is_zero(&head) || (!git_oid_is_zero(&from) &&
					       git_graph_descendant_of(f->repo, &head, &from) != 1)) {
			dsync_journal_remove(f);
			return 0;
		}
		if ((error = remerge(&to, &a, &head, &to)) < 0)
			return error;
		from = head;
	}
	return update(&a, &from, &to);
}
