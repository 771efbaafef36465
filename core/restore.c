/*
 * Restore: files and folders as they were at a version, into the folder
 * (after a snapshot, so nothing is lost) or elsewhere.
 */
#include "core/base/internal.h"
#include "dsync/restore.h"
#include "dsync/history.h"
#include "dsync/snapshot.h"
#include "core/folder.h"
#include "core/apply.h"
#include "core/base/chunks.h"
#include "core/snapshot_internal.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct restorer {
	dsync_folder *f;
	const char *root;        /* in place: nothing is written through a link */
	size_t files;
	mode_t umask;
} restorer;

/* Writes one blob to DEST atomically (temporary file beside it, rename). */
static int write_blob(restorer *r, const git_tree_entry *te, const char *dest)
{
	dsync_buf tmp = DSYNC_BUF_INIT;
	struct stat st;
	int error;

	if (lstat(dest, &st) == 0 && S_ISDIR(st.st_mode))
		return dsync_error_set(DSYNC_EEXISTS,
			"cannot restore the file '%s': a folder is in the way; move it aside first", dest);
	if ((error = dsync_worktree_temp(&tmp, NULL, r->f->repo, git_tree_entry_id(te), git_tree_entry_filemode(te),
					 0, r->root, dest, r->umask)) < 0)
		goto out;
	if (rename(tmp.ptr, dest) < 0) {
		error = dsync_error_sys(errno, "cannot write '%s'", dest);
		unlink(tmp.ptr);
		goto out;
	}
	r->files++;
out:
	dsync_buf_dispose(&tmp);
	return error;
}

/* Restores the tree TREE below the on-disk folder DEST. */
static int write_tree(restorer *r, git_tree *tree, const char *dest)
{
	size_t i, n = git_tree_entrycount(tree);
	int error;

	if ((error = dsync_path_mkdirs(dest)) < 0)
		return error;
	for (i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		uint32_t mode = git_tree_entry_filemode(te);
		dsync_buf name = DSYNC_BUF_INIT, path = DSYNC_BUF_INIT;

		if (strcmp(git_tree_entry_name(te), DSYNC_DIR_MARKER) == 0)
			continue; /* an empty folder: made above */

		if ((error = dsync_buf_puts(&name, "")) < 0 ||
		    (error = dsync_path_unescape(&name, git_tree_entry_name(te), mode == GIT_FILEMODE_LINK)) < 0 ||
		    (error = dsync_buf_printf(&path, "%s/%s", dest, name.ptr)) < 0)
			goto next;
		if (!dsync_path_is_safe(name.ptr) || strchr(name.ptr, '/')) {
			error = dsync_error_set(DSYNC_ECORRUPT, "refusing the stored name '%s'", name.ptr);
			goto next;
		}
		if (git_tree_entry_type(te) == GIT_OBJECT_TREE) {
			git_tree *sub = NULL;
			dsync_chunked info;
			int err = git_tree_lookup(&sub, r->f->repo, git_tree_entry_id(te));

			if (err < 0)
				error = dsync_error_git(err, "cannot read the stored '%s'", path.ptr);
			else if ((error = dsync_chunks_info(&info, r->f->repo, sub)) == 1)
				error = write_blob(r, te, path.ptr); /* a big file */
			else if (error == 0)
				error = write_tree(r, sub, path.ptr);
			git_tree_free(sub);
		} else if (git_tree_entry_type(te) == GIT_OBJECT_BLOB) {
			error = write_blob(r, te, path.ptr);
		}
next:
		dsync_buf_dispose(&name);
		dsync_buf_dispose(&path);
		if (error < 0)
			return error;
	}
	return 0;
}

static int restore_one(restorer *r, git_tree *root, const char *path, const char *dest)
{
	git_tree_entry *te = NULL;
	git_tree *sub = NULL;
	int err, error;

	if (!*path)
		return write_tree(r, root, dest);
	if ((error = dsync_tree_lookup(&te, root, path)) < 0)
		return error;
	if (git_tree_entry_type(te) == GIT_OBJECT_TREE) {
		dsync_chunked info;

		if ((err = git_tree_lookup(&sub, r->f->repo, git_tree_entry_id(te))) < 0)
			error = dsync_error_git(err, "cannot read the stored '%s'", path);
		else if ((error = dsync_chunks_info(&info, r->f->repo, sub)) == 1)
			error = write_blob(r, te, dest); /* a big file */
		else if (error == 0)
			error = write_tree(r, sub, dest);
	} else {
		error = write_blob(r, te, dest);
	}
	git_tree_free(sub);
	git_tree_entry_free(te);
	return error;
}

/* The commit's time as local "YYYY-MM-DD HH:MM". */
static const char *commit_when(char *buf, size_t size, const git_commit *c)
{
	time_t t = (time_t)git_commit_time(c);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
	return buf;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Where PATH goes: in the folder, or under/as TO. */
static int destination(dsync_buf *out, const dsync_folder *f, const char *path, const char *to,
		       bool to_is_dir)
{
	if (!to)
		return *path ? dsync_buf_printf(out, "%s/%s", f->root, path)
			     : dsync_buf_puts(out, f->root);
	if (!to_is_dir)
		return dsync_buf_puts(out, to);
	if (!*path)
		return dsync_buf_puts(out, to);
	return dsync_buf_printf(out, "%s/%s", to, base_name(path));
}

/* Refuses a destination inside the folder's .dsync (anywhere else is fine). */
static int check_dest(const dsync_folder *f, const char *to)
{
	char *rel = NULL;
	int error;

	if ((error = dsync_folder_locate(&rel, f, to)) < 0)
		return error;
	if (rel && *rel && !dsync_path_is_safe(rel))
		error = dsync_error_set(DSYNC_EUSAGE, "cannot restore into '%s': it is inside dsync's own '"
					DSYNC_DIR "'", to);
	free(rel);
	return error;
}

int dsync_restore(dsync_restore_result *out, dsync_folder *f, const char *const *paths,
		  size_t n, const dsync_restore_options *o)
{
	dsync_restore_options defaults = DSYNC_RESTORE_OPTIONS_INIT;
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	dsync_buf msg = DSYNC_BUF_INIT;
	restorer r = { 0 };
	git_oid oid;
	struct stat st;
	bool to_is_dir = false, locked = false;
	size_t i;
	int err, error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if (!o)
		o = &defaults;
	if (n == 0)
		return dsync_error_set(DSYNC_EUSAGE, "nothing to restore: name a file or folder");
	r.f = f;
	r.umask = umask(0);
	umask(r.umask);

	if ((error = dsync_history_resolve(out->rev, f, o->at)) < 0)
		return error;
	git_oid_fromstr(&oid, out->rev);
	if ((err = git_commit_lookup(&commit, f->repo, &oid)) < 0 ||
	    (err = git_commit_tree(&tree, commit)) < 0) {
		error = dsync_error_git(err, "cannot read the version %s", out->rev);
		goto out;
	}
	/* every path must be in that version before anything is written */
	for (i = 0; i < n; i++) {
		git_tree_entry *te = NULL;

		if (!*paths[i])
			continue;
		if ((error = dsync_tree_lookup(&te, tree, paths[i])) < 0) {
			if (error == DSYNC_ENOTFOUND) {
				char when[64];

				error = dsync_error_set(DSYNC_ENOTFOUND,
					"'%s' is not in the version %.8s (%s); see 'dsync versions %s'",
					paths[i], out->rev, commit_when(when, sizeof(when), commit), paths[i]);
			}
			goto out;
		}
		git_tree_entry_free(te);
	}

	if (o->to) {
		if ((error = check_dest(f, o->to)) < 0)
			goto out;
		if (stat(o->to, &st) == 0)
			to_is_dir = S_ISDIR(st.st_mode);
		else if (n > 1 || !*paths[0])
			to_is_dir = true;
		for (i = 0; i < n && !error; i++) {
			dsync_buf dest = DSYNC_BUF_INIT;

			if ((error = destination(&dest, f, paths[i], o->to, to_is_dir)) == 0)
				error = restore_one(&r, tree, paths[i], dest.ptr);
			dsync_buf_dispose(&dest);
		}
		out->files = r.files;
		goto out;
	}

	if ((error = dsync_folder_lock(f, o->lock_wait_ms)) < 0)
		goto out;
	locked = true;
	r.root = f->root; /* in place: never through a link */
	/* what is about to be replaced goes into history first */
	if ((error = dsync_buf_printf(&msg, "before restoring %s", *paths[0] ? paths[0] : "the folder")) < 0)
		goto out;
	if (n > 1 && (error = dsync_buf_printf(&msg, " and %zu more", n - 1)) < 0)
		goto out;
	so.message = msg.ptr;
	so.allow_mass_delete = true;
	so.lock_wait_ms = o->lock_wait_ms;
	so.warn = o->warn;
	so.payload = o->payload;
	if ((error = dsync_snapshot_take(&sr, f, &so)) < 0)
		goto out;
	if (sr.committed)
		memcpy(out->before, sr.commit, sizeof(out->before));
	for (i = 0; i < n && !error; i++) {
		dsync_buf dest = DSYNC_BUF_INIT;

		if ((error = destination(&dest, f, paths[i], NULL, false)) == 0)
			error = restore_one(&r, tree, paths[i], dest.ptr);
		dsync_buf_dispose(&dest);
	}
	out->files = r.files;
	if (error < 0)
		goto out;
	dsync_buf_truncate(&msg, 0);
	{
		char when[64];

		if ((error = dsync_buf_printf(&msg, "restored %s%s from %.8s (%s)",
					      *paths[0] ? paths[0] : "the folder", n > 1 ? " and more" : "",
					      out->rev, commit_when(when, sizeof(when), commit))) < 0)
			goto out;
	}
	so.message = msg.ptr;
	so.allow_mass_delete = false;
	if ((error = dsync_snapshot_take(&sr, f, &so)) < 0)
		goto out;
	if (sr.committed)
		memcpy(out->after, sr.commit, sizeof(out->after));
	error = 0;
out:
	if (locked)
		dsync_folder_unlock(f);
	git_tree_free(tree);
	git_commit_free(commit);
	dsync_buf_dispose(&msg);
	return error;
}
