/*
 * Restore: files and folders as they were at a version, into the folder
 * (after a snapshot, so nothing is lost) or elsewhere.
 */
#include "core/base/internal.h"
#include "core/history/head.h"
#include "core/history/snapshot.h"
#include "dsync/restore.h"
#include "dsync/history.h"
#include "dsync/snapshot.h"
#include "dsync/ignore.h"
#include "core/folder/folder.h"
#include "core/folder/relpath.h"
#include "core/worktree/plan.h"
#include "core/worktree/temp.h"
#include "core/worktree/batch.h"
#include "core/worktree/begin.h"
#include "core/base/chunks.h"
#include "core/history/tree.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct restorer {
	dsync_folder *f;
	const char *root;        /* in place: nothing is written through a link */
	dsync_ignore *rules;     /* in place: what a snapshot leaves out */
	dsync_chunker ck;        /* to compare big files (made when first needed) */
	bool have_ck;
	bool checking;           /* the first pass: looks for what is in the way */
	bool force;              /* replace files that are in no version */
	size_t files;
	mode_t umask;
	dsync_wbatch batch;      /* the files to write next */
} restorer;

/* Whether what is at DEST (lstat ST) is the file or link the tree entry
 * ID/MODE stores, byte for byte (the executable bit aside). */
static int same_content(bool *same, restorer *r, const git_oid *id, uint32_t mode, const char *dest,
			const struct stat *st)
{
	git_oid have;
	int err, error = 0;

	*same = false;
	if (mode == GIT_FILEMODE_LINK) {
		char target[4096];
		ssize_t n;

		if (!S_ISLNK(st->st_mode) || (n = readlink(dest, target, sizeof(target))) < 0 ||
		    (size_t)n >= sizeof(target))
			return 0;
		if ((err = git_odb_hash(&have, target, (size_t)n, GIT_OBJECT_BLOB)) < 0)
			return dsync_error_git(err, "cannot read '%s'", dest);
	} else if (!S_ISREG(st->st_mode)) {
		return 0;
	} else if (mode == GIT_FILEMODE_TREE) {
		/* a big file: its chunk tree's id, hashed */
		dsync_chunked info;
		int fd;

		if ((error = dsync_chunks_info_of(&info, r->f->repo, id)) <= 0)
			return error;
		if ((uint64_t)st->st_size != info.size)
			return 0;
		if (!r->have_ck) {
			if ((error = dsync_folder_chunker(&r->ck, r->f)) < 0)
				return error;
			r->have_ck = true;
		}
		if ((fd = open(dest, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			return 0;
		error = dsync_chunks_from_fd(&have, NULL, NULL, &r->ck, fd, info.mode, NULL);
		close(fd);
		if (error < 0)
			return error;
	} else {
		git_odb *odb = NULL;
		git_object_t type;
		size_t size;

		/* a different size is a different file: nothing to read */
		if (git_repository_odb(&odb, r->f->repo) == 0 && git_odb_read_header(&size, &type, odb, id) == 0 &&
		    (uint64_t)st->st_size != (uint64_t)size) {
			git_odb_free(odb);
			return 0;
		}
		git_odb_free(odb);
		if (git_odb_hashfile(&have, dest, GIT_OBJECT_BLOB) < 0) {
			git_error_clear();
			return 0; /* unreadable: not known to be the same */
		}
	}
	*same = git_oid_equal(&have, id);
	return 0;
}

/* In place: whether what is at DEST (lstat ST) is in the snapshot taken
 * before the restore, so that replacing it loses nothing. */
static bool recorded(restorer *r, const char *dest, const struct stat *st)
{
	int fd;

	if (dsync_plan_ignored(r->rules, dest + strlen(r->root) + 1))
		return false;
	if (S_ISLNK(st->st_mode))
		return true;
	if (!S_ISREG(st->st_mode) || (fd = open(dest, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return false; /* unreadable: the snapshot kept an older version */
	close(fd);
	return true;
}

/* The first pass at the file DEST: a folder in its place is always in the
 * way; a different file or link is when no version holds it (outside the
 * folder, or ignored, unreadable, not a file in it), unless forced. */
static int check_file(restorer *r, const git_tree_entry *te, const char *dest)
{
	struct stat st;
	bool same;
	int error;

	if (lstat(dest, &st) < 0)
		return 0; /* nothing there (or the write says why) */
	if (S_ISDIR(st.st_mode))
		return dsync_error_set(DSYNC_EEXISTS,
			"cannot restore the file '%s': a folder is in the way; move it aside first", dest);
	if (r->force || (r->root && recorded(r, dest, &st)))
		return 0;
	if ((error = same_content(&same, r, git_tree_entry_id(te), git_tree_entry_filemode(te), dest, &st)) < 0)
		return error;
	if (same)
		return 0;
	if (r->root)
		return dsync_error_set(DSYNC_EEXISTS,
			"cannot restore '%s': what it holds now is in no version (ignored, unreadable or not "
			"a file); move it aside, or use --force to replace it", dest);
	return dsync_error_set(DSYNC_EEXISTS,
		"cannot restore to '%s': a different file is there; move it aside, or use --force to "
		"replace it", dest);
}

/* The first pass at the folder DEST: 1 when nothing is there (nothing below
 * can be in the way), 0 for a folder (a link to one when FOLLOW), else in
 * the way. */
static int check_folder(const restorer *r, const char *dest, bool follow)
{
	struct stat st;

	if (lstat(dest, &st) < 0)
		return 1;
	if (S_ISDIR(st.st_mode) || (follow && !r->root && stat(dest, &st) == 0 && S_ISDIR(st.st_mode)))
		return 0;
	char q[DSYNC_QUOTE_SIZE];

	return dsync_error_set(DSYNC_EEXISTS, "cannot restore the folder '%s': a %s is in the way; move it "
			       "aside first", dsync_quote(q, dest), S_ISLNK(st.st_mode) ? "link" : "file");
}

/* The first pass above the top-level DEST: each existing folder on the way
 * must be one (in place: a real one, never a link). */
static int check_parents(const restorer *r, const char *dest)
{
	size_t from = r->root ? strlen(r->root) : 0;
	char *p = strdup(dest), *s;
	struct stat st;
	int error = 0;

	if (!p)
		return dsync_error_oom();
	for (s = strlen(p) > from + 1 ? strchr(p + from + 1, '/') : NULL; s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if ((r->root ? lstat(p, &st) : stat(p, &st)) < 0)
			break; /* missing from here on: made as folders */
		if (!S_ISDIR(st.st_mode)) {
			char q[DSYNC_QUOTE_SIZE], q2[DSYNC_QUOTE_SIZE];

			error = dsync_error_set(DSYNC_ENOTDIR, "cannot restore to '%s': '%s' is a %s, not a folder; "
						"move it aside first", dsync_quote(q, dest), dsync_quote(q2, p), S_ISLNK(st.st_mode) ? "link" : "file");
			break;
		}
		*s = '/';
	}
	free(p);
	return error;
}

/* Writes the batch's files (two threads, flushed once), then renames each
 * into place, in order. */
static int flush_batch(restorer *r)
{
	dsync_buf tmp = DSYNC_BUF_INIT;
	size_t i;
	int error = 0;

	if (r->batch.n && (error = dsync_wbatch_write(&r->batch)) == 0) {
		for (i = 0; i < r->batch.n && error == 0; i++) {
			const char *dest = r->batch.jobs[i].dest;
			char q[DSYNC_QUOTE_SIZE];

			if ((error = dsync_wbatch_take(&r->batch, i, &tmp, NULL)) < 0)
				break;
			if (rename(tmp.ptr, dest) < 0) {
				error = dsync_error_sys(errno, "cannot write '%s'", dsync_quote(q, dest));
				unlink(tmp.ptr);
				break;
			}
			r->files++;
		}
	}
	dsync_wbatch_clear(&r->batch);
	dsync_buf_dispose(&tmp);
	return error;
}

/* Writes one blob to DEST atomically (temporary file beside it, rename),
 * with the batch it joins. */
static int write_blob(restorer *r, const git_tree_entry *te, const char *dest)
{
	struct stat st;
	int error;

	if (r->checking)
		return check_file(r, te, dest);
	char q[DSYNC_QUOTE_SIZE];

	if (lstat(dest, &st) == 0 && S_ISDIR(st.st_mode))
		return dsync_error_set(DSYNC_EEXISTS,
			"cannot restore the file '%s': a folder is in the way; move it aside first", dsync_quote(q, dest));
	if ((error = dsync_wbatch_add(&r->batch, git_tree_entry_id(te), git_tree_entry_filemode(te), 0, dest, 0)) < 0)
		return error;
	return dsync_wbatch_full(&r->batch) ? flush_batch(r) : 0;
}

/* Restores the tree TREE below the on-disk folder DEST (FOLLOW: DEST may be
 * a link to a folder, which the user named). */
static int write_tree(restorer *r, git_tree *tree, const char *dest, bool follow)
{
	size_t i, n = git_tree_entrycount(tree);
	int error;

	if (r->checking) {
		if ((error = check_folder(r, dest, follow)) != 0)
			return error < 0 ? error : 0;
	} else if ((error = dsync_path_mkdirs(dest)) < 0) {
		return error;
	}
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
			if ((error = dsync_history_lookup((git_object **)&sub, r->f->repo, git_tree_entry_id(te),
							  GIT_OBJECT_TREE, path.ptr, NULL)) < 0)
				;
			else if ((error = dsync_chunks_info(&info, r->f->repo, sub)) == 1)
				error = write_blob(r, te, path.ptr); /* a big file */
			else if (error == 0)
				error = write_tree(r, sub, path.ptr, false);
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
	int error;

	if (!*path)
		return write_tree(r, root, dest, true);
	if ((error = dsync_history_tree_lookup(&te, root, path)) < 0)
		return error;
	if (git_tree_entry_type(te) == GIT_OBJECT_TREE) {
		dsync_chunked info;

		if ((error = dsync_history_lookup((git_object **)&sub, r->f->repo, git_tree_entry_id(te), GIT_OBJECT_TREE,
						  path, NULL)) < 0)
			;
		else if ((error = dsync_chunks_info(&info, r->f->repo, sub)) == 1)
			error = write_blob(r, te, dest); /* a big file */
		else if (error == 0)
			error = write_tree(r, sub, dest, false);
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

/* Where PATH goes: in the folder (TO NULL), or under/as TO. */
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

/*
 * Where --to TO writes, into *OUT: inside the folder (named so, or through
 * a link to a folder in it), the folder's own path to it (*INSIDE set: a
 * restore in place); elsewhere, TO made absolute.  Inside the folder's
 * .dsync: refused.
 */
static int target(dsync_buf *out, bool *inside, const dsync_folder *f, const char *to)
{
	char *rel = NULL, cwd[PATH_MAX], q[DSYNC_QUOTE_SIZE];
	int error;

	*inside = false;
	if ((error = dsync_folder_locate(&rel, f, to)) < 0)
		return error;
	if (!rel) {
		/* a link from elsewhere to a folder inside: in place too */
		char *real = realpath(to, NULL);

		if (real)
			error = dsync_folder_locate(&rel, f, real);
		free(real);
		if (error < 0)
			return error;
	}
	if (rel && *rel && !dsync_path_is_safe(rel))
		error = dsync_error_set(DSYNC_EUSAGE, "cannot restore into '%s': it is inside dsync's own '"
					DSYNC_DIR "'", dsync_quote(q, to));
	else if (rel)
		error = *rel ? dsync_buf_printf(out, "%s/%s", f->root, rel) : dsync_buf_puts(out, f->root);
	else if (to[0] == '/')
		error = dsync_buf_puts(out, to);
	else if (!getcwd(cwd, sizeof(cwd)))
		error = dsync_error_sys(errno, "cannot find the current directory");
	else
		error = dsync_buf_printf(out, "%s/%s", cwd, to);
	*inside = rel != NULL;
	free(rel);
	return error;
}

/* Whether PATH in TREE is restored as a folder ("" is the whole tree). */
static bool restores_folder(git_repository *repo, git_tree *tree, const char *path)
{
	git_tree_entry *te = NULL;
	bool folder;

	if (!*path)
		return true;
	if (dsync_history_tree_lookup(&te, tree, path) < 0)
		return false;
	folder = git_tree_entry_type(te) == GIT_OBJECT_TREE && !dsync_chunks_entry_is_big(NULL, repo, te);
	git_tree_entry_free(te);
	return folder;
}

/*
 * Records where the writes make temporary files (each restored folder, and
 * below; each file's folder), so that a killed restore's are swept.
 * Outside the folder, a .dsync that cannot be written (a read-only copy of
 * a folder) holds no record: the restore goes on without one.
 */
static int record_temps(dsync_temps *t, restorer *r, git_tree *tree, const char *const *paths,
			char **dests, size_t n)
{
	char **dirs = calloc(n ? n : 1, sizeof(*dirs));
	bool *deep = calloc(n ? n : 1, sizeof(*deep));
	size_t i;
	int error = 0;

	if (!dirs || !deep) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < n; i++) {
		char *s;

		deep[i] = restores_folder(r->f->repo, tree, paths[i]);
		if ((dirs[i] = strdup(dests[i])) == NULL) {
			error = dsync_error_oom();
			goto out;
		}
		if (!deep[i] && (s = strrchr(dirs[i], '/')) != NULL)
			s[s == dirs[i] ? 1 : 0] = '\0';
	}
	error = dsync_worktree_temps_begin(t, r->f, (const char *const *)dirs, deep, n);
	if (error == DSYNC_EACCESS && !r->root) {
		dsync_error_clear();
		error = 0;
	}
out:
	for (i = 0; dirs && i < n; i++)
		free(dirs[i]);
	free(dirs);
	free(deep);
	return error;
}

/* Runs the pass R is set for over every path. */
static int each_path(restorer *r, git_tree *tree, const char *const *paths, char **dests, size_t n)
{
	size_t i;
	int error = 0;

	for (i = 0; i < n && !error; i++)
		if (!r->checking || (error = check_parents(r, dests[i])) == 0)
			error = restore_one(r, tree, paths[i], dests[i]);
	if (!error && !r->checking)
		error = flush_batch(r);
	dsync_wbatch_clear(&r->batch);
	return error;
}

static void free_dests(char **dests, size_t n)
{
	size_t i;

	for (i = 0; dests && i < n; i++)
		free(dests[i]);
	free(dests);
}

/* Checks that every one of the N PATHS is in TREE, the tree of COMMIT
 * (REV in hex), before anything is written. */
static int check_paths(git_tree *tree, git_commit *commit, const char *rev, const char *const *paths, size_t n)
{
	size_t i;
	int error;

	for (i = 0; i < n; i++) {
		git_tree_entry *te = NULL;

		if (!*paths[i])
			continue;
		if ((error = dsync_history_tree_lookup(&te, tree, paths[i])) < 0) {
			if (error == DSYNC_ENOTFOUND) {
				char when[64], q[DSYNC_QUOTE_SIZE];

				/* the hint only when the path fits on the line */
				dsync_quote(q, paths[i]);
				if (strlen(paths[i]) <= DSYNC_QUOTE_KEEP && strcmp(q, paths[i]) == 0)
					error = dsync_error_set(DSYNC_ENOTFOUND,
						"'%s' is not in the version %.8s (%s); see 'dsync versions %s'",
						q, rev, commit_when(when, sizeof(when), commit), q);
				else
					error = dsync_error_set(DSYNC_ENOTFOUND,
						"'%s' is not in the version %.8s (%s); see 'dsync versions PATH'",
						q, rev, commit_when(when, sizeof(when), commit));
			}
			return error;
		}
		git_tree_entry_free(te);
	}
	return 0;
}

/* Where each of the N PATHS goes into *OUT (N paths on disk, freed by the
 * caller with free_dests): in the folder, or under O->to; *INSIDE: O->to
 * lies inside the folder (a restore in place). */
static int destinations(char ***out, bool *inside, dsync_folder *f, const char *const *paths, size_t n,
			const dsync_restore_options *o)
{
	dsync_buf to = DSYNC_BUF_INIT;
	char **dests = NULL;
	struct stat st;
	bool to_is_dir = false;
	size_t i, j;
	int error;

	*out = NULL;
	/* where each path goes: --to inside the folder is a restore in place */
	if (o->to) {
		if ((error = target(&to, inside, f, o->to)) < 0)
			goto out;
		/* a DEST ending in '/' is a folder, made when missing */
		bool slash = o->to[strlen(o->to) - 1] == '/';

		while (to.len > 1 && to.ptr[to.len - 1] == '/')
			to.ptr[--to.len] = '\0';
		if (stat(to.ptr, &st) == 0)
			to_is_dir = S_ISDIR(st.st_mode);
		else if (n > 1 || !*paths[0] || slash)
			to_is_dir = true;
		if (slash && !to_is_dir) {
			char q[DSYNC_QUOTE_SIZE];

			error = dsync_error_set(DSYNC_ENOTDIR, "cannot restore into '%s': it is a file, not a folder",
						dsync_quote(q, o->to));
			goto out;
		}
	}
	if ((dests = calloc(n, sizeof(*dests))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < n; i++) {
		dsync_buf dest = DSYNC_BUF_INIT;

		if ((error = destination(&dest, f, paths[i], o->to ? to.ptr : NULL, to_is_dir)) < 0)
			goto out;
		if ((dests[i] = dsync_buf_detach(&dest)) == NULL) {
			error = dsync_error_oom();
			goto out;
		}
		for (j = 0; j < i; j++)
			if (strcmp(dests[i], dests[j]) == 0 && strcmp(paths[i], paths[j]) != 0) {
				char q[DSYNC_QUOTE_SIZE], q2[DSYNC_QUOTE_SIZE], q3[DSYNC_QUOTE_SIZE];

				error = dsync_error_set(DSYNC_EUSAGE, "'%s' and '%s' would both be restored as '%s'; "
							"restore them one at a time", dsync_quote(q, paths[j]),
							dsync_quote(q2, paths[i]), dsync_quote(q3, dests[i]));
				goto out;
			}
	}
	*out = dests;
	dests = NULL;
	error = 0;
out:
	free_dests(dests, n);
	dsync_buf_dispose(&to);
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
	dsync_temps temps = { -1, NULL };
	restorer r = { 0 };
	char **dests = NULL;
	git_oid oid;
	bool locked = false, inside = false;
	int err, error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if (!o)
		o = &defaults;
	if (n == 0)
		return dsync_error_set(DSYNC_EUSAGE, "nothing to restore: name a file or folder");
	r.f = f;
	r.force = o->force;
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
	if ((error = check_paths(tree, commit, out->rev, paths, n)) < 0 ||
	    (error = destinations(&dests, &inside, f, paths, n, o)) < 0)
		goto out;

	if (!o->to || inside) {
		if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
			goto out;
		locked = true;
		r.root = f->root; /* in place: never through a link */
		if ((error = dsync_folder_load_ignore(&r.rules, f)) < 0)
			goto out;
	}
	dsync_wbatch_init(&r.batch, f->repo, f->gitdir, r.root, r.umask);
	/* what is in the way is found before anything is written */
	r.checking = true;
	if ((error = each_path(&r, tree, paths, dests, n)) < 0)
		goto out;
	r.checking = false;

	if (!locked) {
		if ((error = record_temps(&temps, &r, tree, paths, dests, n)) < 0)
			goto out;
		error = each_path(&r, tree, paths, dests, n);
		out->files = r.files;
		goto out;
	}

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
	if ((error = dsync_snapshot_take_locked(&sr, f, &so)) < 0)
		goto out;
	if (sr.committed)
		memcpy(out->before, sr.commit, sizeof(out->before));
	if ((error = record_temps(&temps, &r, tree, paths, dests, n)) < 0)
		goto out;
	error = each_path(&r, tree, paths, dests, n);
	out->files = r.files;
	if (error < 0)
		goto out;
	dsync_worktree_temps_end(&temps);
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
	if ((error = dsync_snapshot_take_locked(&sr, f, &so)) < 0)
		goto out;
	if (sr.committed)
		memcpy(out->after, sr.commit, sizeof(out->after));
	error = 0;
out:
	dsync_worktree_temps_end(&temps);
	if (locked)
		dsync_write_end(f);
	free_dests(dests, n);
	dsync_wbatch_dispose(&r.batch);
	dsync_ignore_free(r.rules);
	git_tree_free(tree);
	git_commit_free(commit);
	dsync_buf_dispose(&msg);
	return error;
}
