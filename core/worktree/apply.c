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
 * the next command that takes the lock finishes the update (every path is
 * then at FROM's version, TO's, or changed by the user).
 */
#include "core/base/internal.h"
#include "dsync/merge.h"
#include "dsync/history.h"
#include "dsync/ignore.h"
#include "dsync/snapshot.h"
#include "core/worktree/apply.h"
#include "core/history/head.h"
#include "core/base/path.h"
#include "core/base/chunks.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ROUNDS 10   /* snapshots and merges again before giving up */

static void (*test_hook)(const char *step, const char *path, void *payload);
static void *test_payload;

void dsync_merge_set_test_hook(void (*hook)(const char *step, const char *path, void *payload),
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

/* ------------------------------------------------------- temporary files */

/* Whether each folder above the folder-relative REL under ROOT is a real
 * folder or missing (to be made): never a link, which a write would follow
 * out of the folder, nor a file. */
static bool parents_safe_at(const char *root, const char *rel, size_t *bad)
{
	dsync_buf p = DSYNC_BUF_INIT;
	const char *s;
	struct stat st;
	bool ok = true;

	for (s = strchr(rel, '/'); s && ok; s = strchr(s + 1, '/')) {
		dsync_buf_truncate(&p, 0);
		if (dsync_buf_printf(&p, "%s/%.*s", root, (int)(s - rel), rel) < 0) {
			ok = false;
			break;
		}
		if (lstat(p.ptr, &st) < 0)
			break; /* missing from here on: made as folders */
		ok = S_ISDIR(st.st_mode);
		if (!ok && bad)
			*bad = (size_t)(s - rel);
	}
	dsync_buf_dispose(&p);
	return ok;
}

static bool parents_safe(const char *root, const char *rel)
{
	return parents_safe_at(root, rel, NULL);
}

/* Writes a piece of a big file to the descriptor *PAYLOAD; errno back on
 * failure (positive). */
static int write_fd(const void *data, size_t len, void *payload)
{
	int fd = *(int *)payload;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno ? errno : EIO;
		done += (size_t)n;
	}
	return 0;
}

/* The error for the folder-relative REL that this file system would put
 * into dsync's own .dsync (dsync_path_folds_into_dsync). */
static int folds_error(const char *rel)
{
	return dsync_error_set(DSYNC_ERROR,
		"cannot write '%s' here: this file system does not tell upper from lower case, so it would land "
		"in dsync's own history (.dsync); rename it on a device that made it", rel);
}

int dsync_worktree_temp(dsync_buf *tmp, struct stat *st, git_repository *repo, const git_oid *id,
			uint32_t mode, mode_t perm, const char *root, const char *dest, mode_t umask_bits)
{
	git_blob *blob = NULL;
	char *dircopy = NULL;
	const char *dir;
	size_t rl = root ? strlen(root) : 0;
	bool big = false;
	int fd = -1, err, error;

	dsync_buf_truncate(tmp, 0);
	if (root && strncmp(dest, root, rl) == 0 && dest[rl] == '/' && !parents_safe(root, dest + rl + 1))
		return dsync_error_set(DSYNC_ENOTDIR, "cannot write '%s': a link or a file is in the way", dest);
	if (root && strncmp(dest, root, rl) == 0 && dest[rl] == '/' && dsync_path_folds_into_dsync(root, dest + rl + 1))
		return folds_error(dest + rl + 1);
	if (mode == GIT_FILEMODE_COMMIT || mode == GIT_FILEMODE_TREE) {
		/* a big file's chunk tree: its mode is in its marker */
		dsync_chunked info;

		if ((error = dsync_chunks_info_of(&info, repo, id)) <= 0)
			return error < 0 ? error : dsync_error_set(DSYNC_ECORRUPT, "the stored '%s' is not a file", dest);
		big = true;
		mode = info.mode;
	} else if ((err = git_blob_lookup(&blob, repo, id)) < 0) {
		return dsync_history_read_error(repo, err, id, GIT_OBJECT_BLOB, dest, NULL);
	}
	if ((dircopy = strdup(dest)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	dir = dirname(dircopy);
	if ((error = dsync_path_mkdirs(dir)) < 0 ||
	    (error = dsync_buf_printf(tmp, "%s/.dsync-tmp-XXXXXX", dir)) < 0)
		goto out;
	if (mode == GIT_FILEMODE_LINK) {
		dsync_buf target = DSYNC_BUF_INIT;
		int tries;

		if ((error = dsync_buf_put(&target, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob))) < 0)
			goto out;
		for (tries = 0;; tries++) {
			char *x = tmp->ptr + tmp->len - 6;
			int k;

			for (k = 0; k < 6; k++)
				x[k] = (char)('a' + randombytes_uniform(26));
			if (symlink(dsync_buf_cstr(&target), tmp->ptr) == 0) {
				if (st && lstat(tmp->ptr, st) < 0)
					memset(st, 0, sizeof(*st));
				break;
			}
			if (errno != EEXIST || tries == 100) {
				error = dsync_error_sys(errno, "cannot write '%s'", dest);
				dsync_buf_dispose(&target);
				goto out;
			}
		}
		dsync_buf_dispose(&target);
	} else {
		const char *data = big ? NULL : git_blob_rawcontent(blob);
		size_t len = big ? 0 : (size_t)git_blob_rawsize(blob), done = 0;
		mode_t m = perm ? perm : (mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0777 : 0666) & ~umask_bits;

		if ((fd = mkostemp(tmp->ptr, O_CLOEXEC)) < 0) {
			error = dsync_error_sys(errno, "cannot write '%s'", dest);
			goto out;
		}
		if (big && (error = dsync_chunks_read(repo, id, dest, write_fd, &fd)) != 0) {
			if (error > 0)
				error = dsync_error_sys(error, "cannot write '%s'", dest);
			goto fail;
		}
		while (done < len) {
			ssize_t n = write(fd, data + done, len - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				error = dsync_error_sys(errno, "cannot write '%s'", dest);
				goto fail;
			}
			done += (size_t)n;
		}
		if (fchmod(fd, m) < 0 || (st && fstat(fd, st) < 0) || close(fd) < 0) {
			fd = -1;
			error = dsync_error_sys(errno, "cannot write '%s'", dest);
			goto fail;
		}
		fd = -1;
	}
	error = 0;
	goto out;
fail:
	unlink(tmp->ptr);
out:
	if (fd >= 0)
		close(fd);
	git_blob_free(blob);
	free(dircopy);
	return error;
}

/* Whether NAME is one of dsync_worktree_temp()'s temporary files
 * (".dsync-tmp-" and six letters). */
static bool temp_name(const char *name)
{
	static const char prefix[] = ".dsync-tmp-";

	return strncmp(name, prefix, sizeof(prefix) - 1) == 0 && strlen(name) == sizeof(prefix) - 1 + 6;
}

/* Removes the temporary files in the folder open as DIRFD (closed here),
 * and with DEEP in every folder below it (never through a link, never into
 * a .dsync). */
static void sweep_fd(int dirfd, bool deep)
{
	DIR *dir = fdopendir(dirfd);
	struct dirent *e;

	if (!dir) {
		close(dirfd);
		return;
	}
	while ((e = readdir(dir)) != NULL) {
		struct stat st;
		bool is_dir;
		int sub;

		if (temp_name(e->d_name)) {
			unlinkat(dirfd, e->d_name, 0);
			continue;
		}
		if (!deep || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, DSYNC_DIR) == 0)
			continue;
		if (e->d_type == DT_UNKNOWN)
			is_dir = fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		else
			is_dir = e->d_type == DT_DIR;
		if (is_dir && (sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
			sweep_fd(sub, true);
	}
	closedir(dir);
}

/* Removes the temporary files in the folder DIR (and below it with DEEP). */
static void sweep_dir(const char *dir, bool deep)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0)
		sweep_fd(fd, deep);
}

#define TEMPS_PREFIX "restore-"

int dsync_worktree_temps_begin(dsync_temps *t, const dsync_folder *f, const char *const *dirs,
			       const bool *deep, size_t n)
{
	dsync_buf path = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT;
	struct stat a, b;
	size_t i, done;
	int tries, fd = -1, error;

	t->fd = -1;
	t->path = NULL;
	for (i = 0; i < n; i++)
		if ((error = dsync_buf_put(&text, deep[i] ? "D" : "F", 1)) < 0 ||
		    (error = dsync_buf_put(&text, dirs[i], strlen(dirs[i]) + 1)) < 0)
			goto out;
	for (tries = 0;; tries++) {
		char *x;
		int k;

		dsync_buf_truncate(&path, 0);
		if ((error = dsync_buf_printf(&path, "%s/" TEMPS_PREFIX "XXXXXX", f->gitdir)) < 0)
			goto out;
		x = path.ptr + path.len - 6;
		for (k = 0; k < 6; k++)
			x[k] = (char)('a' + randombytes_uniform(26));
		fd = open(path.ptr, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno == EEXIST && tries < 100)
			continue;
		if (fd < 0) {
			error = dsync_error_sys(errno, "cannot write '%s'", path.ptr);
			goto out;
		}
		/* held while the writes go on: a sweep skips it; one that took
		 * it first (between the open and the flock) has removed it */
		if (flock(fd, LOCK_EX) < 0) {
			error = dsync_error_sys(errno, "cannot lock '%s'", path.ptr);
			goto out;
		}
		if (fstat(fd, &a) == 0 && lstat(path.ptr, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			break;
		close(fd);
		fd = -1;
	}
	for (done = 0; done < text.len;) {
		ssize_t w = write(fd, text.ptr + done, text.len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			error = dsync_error_sys(errno, "cannot write '%s'", path.ptr);
			goto out;
		}
		done += (size_t)w;
	}
	if (fsync(fd) < 0) {
		error = dsync_error_sys(errno, "cannot write '%s'", path.ptr);
		goto out;
	}
	{
		int dfd = open(f->gitdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			if (fsync(dfd) < 0) {
				/* the temporaries themselves are not flushed either */
			}
			close(dfd);
		}
	}
	if ((t->path = strdup(path.ptr)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	t->fd = fd;
	fd = -1;
	error = 0;
out:
	if (fd >= 0) {
		unlink(path.ptr);
		close(fd);
	}
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&text);
	return error;
}

void dsync_worktree_temps_end(dsync_temps *t)
{
	if (t->path)
		unlink(t->path);
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	t->path = NULL;
	t->fd = -1;
}

/* Sweeps what the record NAME in the open folder DIRFD lists, then removes
 * it, unless its writer still holds it. */
static void sweep_record(int dirfd, const char *name)
{
	char *text = NULL;
	struct stat st;
	size_t i;
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto out; /* a restore at work */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024 ||
	    (text = malloc((size_t)st.st_size + 1)) == NULL)
		goto drop;
	n = pread(fd, text, (size_t)st.st_size, 0);
	if (n < 0)
		goto drop;
	text[n] = '\0';
	/* records: 'D' or 'F', a folder's path, NUL; a cut one is left out */
	for (i = 0; i < (size_t)n;) {
		size_t len = strlen(text + i);

		if (i + len == (size_t)n)
			break;
		if (len > 1 && text[i + 1] == '/')
			sweep_dir(text + i + 1, text[i] == 'D');
		i += len + 1;
	}
drop:
	unlinkat(dirfd, name, 0);
out:
	free(text);
	close(fd);
}

void dsync_worktree_temps_sweep(const dsync_folder *f)
{
	DIR *dir = opendir(f->gitdir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir)) != NULL)
		if (strncmp(e->d_name, TEMPS_PREFIX, sizeof(TEMPS_PREFIX) - 1) == 0)
			sweep_record(dirfd(dir), e->d_name);
	closedir(dir);
}

/* ------------------------------------------------------------ the journal */

static int journal_path(dsync_buf *out, const dsync_folder *f)
{
	return dsync_buf_printf(out, "%s/" DSYNC_MERGE_JOURNAL, f->gitdir);
}

/* Writes the journal FROM TO durably (the objects TO needs first). */
static int journal_write(dsync_folder *f, const git_oid *from, const git_oid *to)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char text[2 * GIT_OID_HEXSZ + 2];
	int error;

	git_oid_fmt(text, from);
	text[GIT_OID_HEXSZ] = ' ';
	git_oid_fmt(text + GIT_OID_HEXSZ + 1, to);
	text[2 * GIT_OID_HEXSZ + 1] = '\n';
	if ((error = dsync_folder_sync(f)) < 0 || (error = journal_path(&path, f)) < 0 ||
	    (error = dsync_path_write_atomic(path.ptr, text, sizeof(text), 0644, false)) < 0)
		goto out;
	error = dsync_folder_sync(f);
out:
	dsync_buf_dispose(&path);
	return error;
}

/* Reads the journal: 1 with FROM and TO, 0 when there is none. */
static int journal_read(dsync_folder *f, git_oid *from, git_oid *to)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char text[256];
	ssize_t n;
	int error = 0;

	if ((error = journal_path(&path, f)) < 0)
		return error;
	n = dsync_path_read_small(path.ptr, text, sizeof(text));
	if (n < 0 && errno == ENOENT)
		error = 0;
	else if (n != 2 * GIT_OID_HEXSZ + 2 || text[GIT_OID_HEXSZ] != ' ' ||
		 git_oid_fromstrn(from, text, GIT_OID_HEXSZ) < 0 ||
		 git_oid_fromstrn(to, text + GIT_OID_HEXSZ + 1, GIT_OID_HEXSZ) < 0)
		unlink(path.ptr); /* damaged: the next snapshot records the folder as it is */
	else
		error = 1;
	dsync_buf_dispose(&path);
	return error;
}

static void journal_remove(dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;

	if (journal_path(&path, f) == 0)
		unlink(path.ptr);
	dsync_buf_dispose(&path);
}

/* ------------------------------------------------- comparing with the disk */

enum { AT_FROM, AT_TO, DIRTY };

typedef struct side {
	git_oid id;
	uint32_t mode;      /* 0: absent */
	char *disk;         /* folder-relative, as on disk */
	bool exists;        /* something is at DISK */
	struct stat st;     /* its lstat when compared */
} side;

typedef struct change {
	char *path;         /* stored path */
	bool marker;        /* an empty folder's marker: the folder itself */
	bool folder_goes;   /* a folder at the path, which FROM had as a folder
			       (or not at all): it goes when emptied */
	side from, to;      /* DISK equal in both unless the escape differs */
	int state;
	bool written;       /* TO's version written by this update ... */
	struct stat done;   /* ... and its lstat right after */
} change;

typedef struct plan {
	change *v;
	size_t n, cap;
} plan;

static void plan_dispose(plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].from.disk);
		free(p->v[i].to.disk);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static int disk_path(char **out, const char *stored, uint32_t mode)
{
	dsync_buf b = DSYNC_BUF_INIT;

	if (dsync_buf_puts(&b, "") < 0 || dsync_path_unescape(&b, stored, mode == GIT_FILEMODE_LINK) < 0) {
		dsync_buf_dispose(&b);
		return dsync_error_oom();
	}
	*out = dsync_buf_detach(&b);
	if (!dsync_path_is_safe(*out))
		return dsync_error_set(DSYNC_ECORRUPT, "refusing the stored path '%s'", *out);
	return 0;
}

/* Adds the delta's side to the plan (one change per stored path). */
static int plan_add(plan *p, const git_diff_delta *d)
{
	const git_diff_file *df;
	change *c;
	bool is_from = d->status == GIT_DELTA_DELETED;
	int error;

	if (d->status != GIT_DELTA_ADDED && d->status != GIT_DELTA_DELETED && d->status != GIT_DELTA_MODIFIED)
		return dsync_error_set(DSYNC_ERROR, "unexpected change at '%s'", d->new_file.path);
	if (p->n && strcmp(p->v[p->n - 1].path, d->new_file.path) == 0) {
		c = &p->v[p->n - 1]; /* a type change: deleted, then added */
	} else {
		if (p->n == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 64;
			change *v = realloc(p->v, cap * sizeof(*v));

			if (!v)
				return dsync_error_oom();
			p->v = v;
			p->cap = cap;
		}
		c = &p->v[p->n];
		memset(c, 0, sizeof(*c));
		if ((c->path = strdup(d->new_file.path)) == NULL)
			return dsync_error_oom();
		p->n++;
		c->marker = dsync_path_is_dir_marker(c->path);
	}
	if (d->status == GIT_DELTA_MODIFIED || is_from) {
		df = &d->old_file;
		c->from.id = df->id;
		c->from.mode = df->mode;
		if ((error = disk_path(&c->from.disk, df->path, df->mode)) < 0)
			return error;
	}
	if (d->status != GIT_DELTA_DELETED) {
		df = &d->new_file;
		c->to.id = df->id;
		c->to.mode = df->mode;
		if ((error = disk_path(&c->to.disk, df->path, df->mode)) < 0)
			return error;
	}
	return 0;
}

/* The paths where FROM_TREE (may be NULL) and TO_TREE differ. */
static int plan_make(plan *out, git_repository *repo, git_tree *from_tree, git_tree *to_tree)
{
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	git_diff *diff = NULL;
	size_t i, n;
	int err, error = 0;

	plan_dispose(out);
	if ((err = git_diff_tree_to_tree(&diff, repo, from_tree, to_tree, &opts)) < 0)
		return dsync_error_git(err, "cannot compare the versions to merge");
	n = git_diff_num_deltas(diff);
	for (i = 0; i < n && !error; i++)
		error = plan_add(out, git_diff_get_delta(diff, i));
	for (i = 0; i < out->n; i++) {
		change *c = &out->v[i];

		/* each side names the same place unless the escape of a link
		 * differs from a file's (".gitmodules") */
		if (!c->from.disk && (c->from.disk = strdup(c->to.disk)) == NULL)
			error = dsync_error_oom();
		if (!c->to.disk && (c->to.disk = strdup(c->from.disk)) == NULL)
			error = dsync_error_oom();
	}
	git_diff_free(diff);
	return error;
}

/* Refuses the plan P before anything is written when one of its paths
 * would land in .dsync on this file system (".DSYNC" where case folds). */
static int plan_folds(const plan *p, const dsync_folder *f)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const change *c = &p->v[i];

		if (c->to.mode && dsync_path_folds_into_dsync(f->root, c->to.disk))
			return folds_error(c->to.disk);
		if (c->from.mode && dsync_path_folds_into_dsync(f->root, c->from.disk))
			return folds_error(c->from.disk);
	}
	return 0;
}

/* The folder a marker stands for ("" for the root). */
static void marker_dir(char *disk)
{
	char *s = strrchr(disk, '/');

	if (s)
		*s = '\0';
	else
		*disk = '\0';
}

static int abs_path(dsync_buf *out, const dsync_folder *f, const char *rel)
{
	dsync_buf_truncate(out, 0);
	return *rel ? dsync_buf_printf(out, "%s/%s", f->root, rel) : dsync_buf_puts(out, f->root);
}

/*
 * Looks at S->disk: whether something is there (S->exists, S->st) and
 * whether it is S's version (*MATCH; nothing there matches an absent S).
 */
static int look(bool *match, side *s, const dsync_folder *f, const dsync_chunker *ck)
{
	dsync_buf path = DSYNC_BUF_INIT, target = DSYNC_BUF_INIT;
	git_oid id;
	int err, error = 0;

	*match = false;
	if ((error = abs_path(&path, f, s->disk)) < 0)
		return error;
	if (lstat(path.ptr, &s->st) < 0) {
		s->exists = false;
		memset(&s->st, 0, sizeof(s->st));
		if (errno != ENOENT && errno != ENOTDIR)
			error = dsync_error_sys(errno, "cannot read '%s'", path.ptr);
		*match = s->mode == 0;
		goto out;
	}
	s->exists = true;
	if (s->mode == 0)
		goto out;
	if (S_ISLNK(s->st.st_mode)) {
		ssize_t n;

		if (s->mode != GIT_FILEMODE_LINK)
			goto out;
		if ((error = dsync_buf_grow(&target, (size_t)s->st.st_size + 2)) < 0)
			goto out;
		n = readlink(path.ptr, target.ptr, target.cap);
		if (n < 0 || (size_t)n >= target.cap)
			goto out; /* changing under us: not a match */
		if ((err = git_odb_hash(&id, target.ptr, (size_t)n, GIT_OBJECT_BLOB)) < 0) {
			error = dsync_error_git(err, "cannot read '%s'", path.ptr);
			goto out;
		}
	} else if (S_ISREG(s->st.st_mode) && s->mode == GIT_FILEMODE_COMMIT) {
		/* a big file: its chunk tree's id, hashed (the mode is in it) */
		int fd = open(path.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

		if (fd < 0)
			goto out; /* changing under us: not a match */
		error = dsync_chunks_from_fd(&id, NULL, NULL, ck, fd, (s->st.st_mode & S_IXUSR)
					     ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB, NULL);
		close(fd);
		if (error < 0)
			goto out;
	} else if (S_ISREG(s->st.st_mode)) {
		uint32_t mode = (s->st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;

		if (mode != s->mode)
			goto out;
		if ((err = git_odb_hashfile(&id, path.ptr, GIT_OBJECT_BLOB)) < 0) {
			error = dsync_error_git(err, "cannot read '%s'", path.ptr);
			goto out;
		}
	} else {
		goto out;
	}
	*match = git_oid_equal(&id, &s->id);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&target);
	return error;
}

/* Whether the plan P removes the file or link at the first LEN bytes of
 * DISK, as it is now (its deletions come before anything is written). */
static bool removed_first(const plan *p, const char *disk, size_t len)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const change *c = &p->v[i];

		if (!c->to.mode && c->state == AT_FROM && strlen(c->from.disk) == len &&
		    strncmp(c->from.disk, disk, len) == 0)
			return true;
	}
	return false;
}

/* Whether the folder-relative DISK under F is in the way of what the plan
 * writes there: a link or a file above it, or (WHOLE) at it, that the plan
 * does not remove first. */
static bool in_the_way(const plan *p, const dsync_folder *f, const char *disk, bool whole)
{
	dsync_buf path = DSYNC_BUF_INIT;
	struct stat st;
	size_t bad = 0;
	bool way = false;

	if (!parents_safe_at(f->root, disk, &bad))
		return !removed_first(p, disk, bad);
	if (whole && abs_path(&path, f, disk) == 0 && lstat(path.ptr, &st) == 0 && !S_ISDIR(st.st_mode))
		way = !removed_first(p, disk, strlen(disk));
	dsync_buf_dispose(&path);
	return way;
}

/* The ignore rules TREE's .dsyncignore makes (with the defaults) into
 * *OUT. */
static int tree_rules(dsync_ignore **out, git_repository *repo, git_tree *tree)
{
	git_tree_entry *e = NULL;
	git_blob *b = NULL;
	int error;

	if ((error = dsync_ignore_new(out)) < 0)
		return error;
	if (git_tree_entry_bypath(&e, tree, ".dsyncignore") == 0 && git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
	    git_blob_lookup(&b, repo, git_tree_entry_id(e)) == 0 && git_blob_rawsize(b) <= 1024 * 1024)
		error = dsync_ignore_add_rules(*out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
	git_blob_free(b);
	git_tree_entry_free(e);
	return error;
}

bool dsync_worktree_ignored(const dsync_ignore *rules, const char *disk)
{
	char *d = strdup(disk), *s;
	bool yes = false;

	if (!d)
		return false;
	for (s = strchr(d, '/'); s && !yes; s = strchr(s + 1, '/')) {
		*s = '\0';
		yes = dsync_ignore_match(rules, d, 1) == 1;
		*s = '/';
	}
	yes = yes || dsync_ignore_match(rules, d, 0) == 1;
	free(d);
	return yes;
}

/* Compares every path of P with the disk; the number of dirty ones into
 * *DIRTY.  A file that TO no longer has
 * because RULES (TO's) leave it out stays on disk: ignoring a file stops
 * syncing it, it never deletes it on the other devices. */
static int classify(plan *p, const dsync_folder *f, const dsync_chunker *ck, const dsync_ignore *rules,
		    size_t *dirty)
{
	size_t i;
	int error;

	*dirty = 0;
	/* first each path by itself ... */
	for (i = 0; i < p->n; i++) {
		change *c = &p->v[i];
		bool same = strcmp(c->from.disk, c->to.disk) == 0, at_from, at_to;

		c->written = false;
		if (c->marker) {
			c->state = AT_FROM; /* folders are made (again) after the deletions */
			continue;
		}
		if ((error = look(&at_from, &c->from, f, ck)) < 0 || (error = look(&at_to, &c->to, f, ck)) < 0)
			return error;
		if (!same) {
			at_from = at_from && !c->to.exists;
			at_to = at_to && !c->from.exists;
		}
		/* a file where a folder is that the plan empties (its files
		 * are removed first): the folder goes; anything else left in
		 * it is the user's, found when it is removed */
		c->folder_goes = same && !c->from.mode && c->to.mode && c->to.exists && S_ISDIR(c->to.st.st_mode);
		if (c->folder_goes)
			at_from = true;
		c->state = at_to ? AT_TO : at_from ? AT_FROM : DIRTY;
		if (!c->to.mode && rules && dsync_worktree_ignored(rules, c->from.disk))
			c->state = AT_TO; /* left alone, whatever it holds */
	}
	/* ... then against each other: something in the way of a path that
	 * the plan itself removes first is not the user's */
	for (i = 0; i < p->n; i++) {
		change *c = &p->v[i];

		if (c->state == DIRTY && !c->from.mode && c->to.exists && !S_ISDIR(c->to.st.st_mode) &&
		    removed_first(p, c->to.disk, strlen(c->to.disk)))
			c->state = AT_FROM;
		/* a link or a file above a path (or where a folder is to be
		 * made): the user's, recorded before anything goes through it */
		if (c->state == AT_FROM && ((c->to.mode && in_the_way(p, f, c->to.disk, false)) ||
					   (c->from.mode && !c->marker && in_the_way(p, f, c->from.disk, false))))
			c->state = DIRTY;
		if (c->state == AT_FROM && c->marker && c->to.mode) {
			char *d = strdup(c->to.disk);

			if (!d)
				return dsync_error_oom();
			marker_dir(d);
			if (*d && in_the_way(p, f, d, true))
				c->state = DIRTY;
			free(d);
		}
		if (c->state == DIRTY)
			(*dirty)++;
	}
	return 0;
}

/* Whether A and B are the lstat of one version of one file: the same inode,
 * type, size and modification time, and (CTIME) change time (a rename
 * changes only that). */
static bool same_stat(const struct stat *a, const struct stat *b, bool ctime)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
	       a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       (!ctime || (a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec));
}

/* Whether the place S was looked at is still as it was. */
static bool unchanged(const side *s, const dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	struct stat st;
	bool exists;

	if (abs_path(&path, f, s->disk) < 0)
		return false;
	exists = lstat(path.ptr, &st) == 0;
	dsync_buf_dispose(&path);
	if (exists != s->exists)
		return false;
	return !exists || same_stat(&st, &s->st, true);
}

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
	if (abs_path(&path, f, d) == 0)
		sweep_dir(path.ptr, false);
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
		if (abs_path(&path, f, d) < 0 || rmdir(path.ptr) < 0)
			break;
	}
	free(d);
	dsync_buf_dispose(&path);
}

/* Removes S's file when it is still as compared. */
static int remove_side(applier *a, const side *s)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error = 0;

	if (!s->exists)
		return 0;
	hook("write", s->disk);
	if (!unchanged(s, a->f) || !parents_safe(a->f->root, s->disk)) {
		a->raced++;
		return 1;
	}
	if ((error = abs_path(&path, a->f, s->disk)) == 0 && unlink(path.ptr) < 0 && errno != ENOENT)
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

	return lstat(path, &now) == 0 && same_stat(&now, st, false);
}

/* Makes the folder a marker stands for (after the deletions: a folder the
 * plan emptied and removed comes back when TO keeps it, empty). */
static int make_marker_dir(applier *a, const change *c)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *d = strdup(c->to.disk);
	int error;

	if (!d)
		return dsync_error_oom();
	marker_dir(d);
	if (*d && !parents_safe(a->f->root, d)) {
		a->raced++; /* a link appeared above it: compared again */
		error = 0;
	} else if ((error = abs_path(&path, a->f, d)) == 0 && (error = dsync_path_mkdirs(path.ptr)) == DSYNC_ENOTDIR) {
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
static int replace(applier *a, change *c, const char *tmp, const char *path)
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
		if (errno != ENOENT && !unchanged(&c->to, a->f)) {
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
		if (!unchanged(&c->to, a->f)) {
			unlink(tmp);
			return 1;
		}
	}
	if (rename(tmp, path) < 0)
		return dsync_error_sys(errno, "cannot write '%s'", path);
	return 0;
}

/* Writes TO's version of C over what was compared. */
static int write_change(applier *a, change *c)
{
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT;
	bool same = strcmp(c->from.disk, c->to.disk) == 0;
	uint32_t to_mode = c->to.mode;
	struct stat st;
	mode_t perm = 0;
	int error;

	if (c->marker)
		return make_marker_dir(a, c);
	if (!same && (error = remove_side(a, &c->from)) != 0)
		return error < 0 ? error : 0;
	if ((error = abs_path(&path, a->f, c->to.disk)) < 0)
		goto out;
	/* a file replaced keeps its permissions; only the executable bits
	 * follow TO */
	if (c->to.mode == GIT_FILEMODE_COMMIT) {
		/* a big file's mode is in its marker */
		dsync_chunked info;

		if (dsync_chunks_info_of(&info, a->repo, &c->to.id) == 1)
			to_mode = info.mode;
		else
			dsync_error_clear();
	}
	if (same && c->from.exists && S_ISREG(c->from.st.st_mode) && to_mode != GIT_FILEMODE_LINK &&
	    to_mode != GIT_FILEMODE_COMMIT) {
		perm = c->from.st.st_mode & 07777 & ~(mode_t)0111;
		if (to_mode == GIT_FILEMODE_BLOB_EXECUTABLE)
			perm |= S_IXUSR | (perm & S_IRGRP ? S_IXGRP : 0) | (perm & S_IROTH ? S_IXOTH : 0);
		if (!perm)
			perm = S_IRUSR | S_IWUSR; /* never "no permissions": 0 means the default */
	}
	error = dsync_worktree_temp(&tmp, &st, a->repo, &c->to.id, c->to.mode, perm, a->f->root, path.ptr,
				    a->umask);
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
	if (!parents_safe(a->f->root, c->to.disk)) {
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
	/* the stat the index gets: ours only while it is still our file */
	c->written = still(path.ptr, &st) && lstat(path.ptr, &c->done) == 0;
	a->out->written++;
	hook("written", c->to.disk);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&tmp);
	return error;
}

/* Deletions first (a file may give way to a folder), then the rest. */
static int write_plan(applier *a, plan *p)
{
	size_t i;
	int error = 0;

	for (i = 0; i < p->n && !error; i++) {
		change *c = &p->v[i];

		if (c->state != AT_FROM || c->to.mode)
			continue;
		if (c->marker) {
			dsync_buf path = DSYNC_BUF_INIT;
			char *d = strdup(c->from.disk);

			if (d) {
				marker_dir(d);
				if (*d && abs_path(&path, a->f, d) == 0 && rmdir(path.ptr) == 0)
					prune_dirs(a->f, d);
			}
			free(d);
			dsync_buf_dispose(&path);
			continue;
		}
		if ((error = remove_side(a, &c->from)) > 0)
			error = 0;
	}
	for (i = 0; i < p->n && !error; i++)
		if ((p->v[i].state == AT_FROM || p->v[i].marker) && p->v[i].to.mode)
			error = write_change(a, &p->v[i]);
	return error;
}

/* --------------------------------------------------------------- the index */

/* Points the index at TO: the plan's paths with their stat on disk now. */
static int update_index(dsync_folder *f, plan *p, git_tree *to_tree)
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
	for (i = 0; i < p->n; i++) {
		change *c = &p->v[i];
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
		if (!c->marker && c->written && abs_path(&path, f, c->to.disk) == 0 && lstat(path.ptr, &st) == 0 &&
		    same_stat(&st, &c->done, true)) {
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
	if ((error = dsync_snapshot_take(&sr, a->f, &so)) < 0)
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
static int move_aside(applier *a, plan *p)
{
	dsync_buf from = DSYNC_BUF_INIT, to = DSYNC_BUF_INIT, name = DSYNC_BUF_INIT, msg = DSYNC_BUF_INIT;
	size_t i, moved = 0;
	int error = 0;

	for (i = 0; i < p->n && !error; i++) {
		change *c = &p->v[i];
		const char *disk = c->to.mode ? c->to.disk : c->from.disk;
		char *d = NULL;
		size_t bad = 0;
		unsigned n;

		if (c->state != DIRTY && !(c->folder_goes && c->to.exists))
			continue;
		if ((d = strdup(disk)) == NULL)
			return dsync_error_oom();
		if (c->marker)
			marker_dir(d);
		/* what is in the way: a link or file above, or the path */
		if (!parents_safe_at(a->f->root, d, &bad))
			d[bad] = '\0';
		for (n = 1;; n++) {
			dsync_buf_truncate(&name, 0);
			if ((error = dsync_conflict_name(&name, d, a->f->device_name, time(NULL), n)) < 0 ||
			    (error = abs_path(&to, a->f, name.ptr)) < 0)
				break;
			if (access(to.ptr, F_OK) != 0)
				break;
		}
		if (!error && (error = abs_path(&from, a->f, d)) == 0 && rename(from.ptr, to.ptr) == 0) {
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
static int redo(applier *a, git_oid *from, git_oid *to, plan *p)
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
	plan p = { 0 };
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
		if ((error = dsync_tree_check(a->repo, to_tree)) < 0 ||
		    /* a big file is one entry of the plan (docs/chunks.md) */
		    (from_tree && (error = dsync_tree_swap_to_index_form(&from_tree, a->repo)) < 0) ||
		    (error = dsync_tree_swap_to_index_form(&to_tree, a->repo)) < 0 ||
		    (error = plan_make(&p, a->repo, from_tree, to_tree)) < 0 ||
		    (error = plan_folds(&p, a->f)) < 0 ||
		    (error = tree_rules(&rules, a->repo, to_tree)) < 0 ||
		    (error = journal_write(a->f, from, to)) < 0 ||
		    (error = classify(&p, a->f, &a->chunker, rules, &dirty)) < 0)
			goto out;
		if (a->resuming) {
			size_t i;

			for (i = 0; i < p.n; i++) {
				sweep_temps(a->f, p.v[i].from.disk);
				if (strcmp(p.v[i].from.disk, p.v[i].to.disk) != 0)
					sweep_temps(a->f, p.v[i].to.disk);
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
	journal_remove(a->f);
	error = 0;
out:
	/* failed, not killed: the journal goes, so the folder is not held up;
	 * whatever the update wrote is TO's (in history) and the next
	 * snapshot records the folder as it is, so nothing is lost */
	if (error < 0)
		journal_remove(a->f);
	dsync_ignore_free(rules);
	git_reference_free(ref);
	git_tree_free(from_tree);
	git_tree_free(to_tree);
	plan_dispose(&p);
	return error;
}

/* ------------------------------------------------------------ merging */

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

/* F's head into *OUT (zero before the first snapshot; a head that can't
 * be read, or lost after snapshots, is a damaged history, not "none"). */
static int head_of(git_oid *out, dsync_folder *f)
{
	int error = dsync_history_head(out, f->repo);

	if (error == DSYNC_ENOTFOUND) {
		memset(out, 0, sizeof(*out));
		error = 0;
	}
	return error;
}

/* Counts the conflict copies in the tree of the head HEAD present on disk. */
static size_t open_conflicts(dsync_folder *f)
{
	dsync_conflicts c;
	size_t n = 0;

	if (dsync_conflicts_list(&c, f) == 0)
		n = c.n;
	dsync_conflicts_dispose(&c);
	return n;
}

int dsync_merge_into(dsync_merge_outcome *out, dsync_folder *f, const dsync_head *heads, size_t n,
		     const dsync_merge_options *o)
{
	dsync_merge_options defaults = DSYNC_MERGE_OPTIONS_INIT;
	dsync_merge_result r = { 0 };
	dsync_head *all = NULL;
	git_commit *head_commit = NULL;
	applier a;
	git_oid from, to;
	char key[DSYNC_OID_HEX_SIZE];
	size_t i;
	int err, error;

	if (!o)
		o = &defaults;
	applier_init(&a, f, out, o);
	if ((error = head_of(&from, f)) < 0)
		return error;
	if ((all = calloc(n + 1, sizeof(*all))) == NULL)
		return dsync_error_oom();
	memcpy(all, heads, n * sizeof(*all));
	if (!git_oid_is_zero(&from)) {
		if ((err = git_commit_lookup(&head_commit, f->repo, &from)) < 0) {
			error = dsync_error_git(err, "cannot read the history of '%s'", f->root);
			goto out;
		}
		dsync_commit_key(key, head_commit);
		all[n].device_id = key;
		all[n].commit = from;
		n++;
	}
	if ((error = dsync_merge_heads(&to, &r, f->repo, all, n)) < 0)
		goto out;
	out->conflicts = r.n;
	if (git_oid_equal(&to, &from)) {
		git_oid_tostr(out->head, sizeof(out->head), &from);
		out->open_conflicts = open_conflicts(f);
		error = 0;
		goto out;
	}
	out->merged = true;
	for (i = 0; i < n; i++)
		if (git_oid_equal(&all[i].commit, &to))
			out->fast_forward = true;
	if ((error = update(&a, &from, &to)) < 0)
		goto out;
	git_oid_tostr(out->head, sizeof(out->head), &to);
	out->open_conflicts = open_conflicts(f);
	error = 0;
out:
	dsync_merge_result_dispose(&r);
	git_commit_free(head_commit);
	free(all);
	return error;
}

int dsync_merge_revs(dsync_merge_outcome *out, dsync_folder *f, const char *const *revs, size_t n,
		     const dsync_merge_options *o)
{
	dsync_merge_options defaults = DSYNC_MERGE_OPTIONS_INIT;
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	dsync_head *heads = NULL;
	char (*keys)[DSYNC_OID_HEX_SIZE] = NULL;
	bool locked = false;
	size_t i;
	int err, error;

	memset(out, 0, sizeof(*out));
	if (!o)
		o = &defaults;
	if (n == 0)
		return dsync_error_set(DSYNC_EUSAGE, "nothing to merge: name a version");
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	heads = calloc(n, sizeof(*heads));
	keys = calloc(n, sizeof(*keys));
	if (!heads || !keys) {
		error = dsync_error_oom();
		goto out;
	}
	if ((error = dsync_folder_lock(f, o->lock_wait_ms)) < 0)
		goto out;
	locked = true;
	/* every revision must exist before anything is done */
	for (i = 0; i < n; i++) {
		git_commit *c = NULL;
		char hex[DSYNC_OID_HEX_SIZE], q[DSYNC_QUOTE_SIZE];

		if ((error = dsync_history_resolve(hex, f, revs[i])) < 0)
			goto out;
		if (git_oid_fromstr(&heads[i].commit, hex) < 0 ||
		    (err = git_commit_lookup(&c, f->repo, &heads[i].commit)) < 0) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a version in '%s'", dsync_quote(q, revs[i]),
						f->root);
			goto out;
		}
		dsync_commit_key(keys[i], c);
		heads[i].device_id = keys[i];
		git_commit_free(c);
	}
	so.lock_wait_ms = o->lock_wait_ms;
	so.warn = o->warn;
	so.payload = o->payload;
	if ((error = dsync_snapshot_take(&sr, f, &so)) < 0)
		goto out;
	error = dsync_merge_into(out, f, heads, n, o);
out:
	if (locked)
		dsync_folder_unlock(f);
	free(heads);
	free(keys);
	return error;
}

int dsync_merge_resume(dsync_folder *f)
{
	dsync_merge_options o = DSYNC_MERGE_OPTIONS_INIT;
	dsync_merge_outcome out;
	applier a;
	git_oid from, to, head;
	int error;

	if ((error = journal_read(f, &from, &to)) <= 0)
		return error;
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	memset(&out, 0, sizeof(out));
	applier_init(&a, f, &out, &o);
	a.resuming = true;
	if ((error = head_of(&head, f)) < 0)
		return error;
	if (git_oid_equal(&head, &to)) {
		/* killed after the head moved: done */
		journal_remove(f);
		return 0;
	}
	if (!git_oid_equal(&head, &from)) {
		/* killed after a snapshot of the user's changes, before the
		 * merge was redone on it (or the head was moved by hand):
		 * merge again on what the head is now */
		if (git_oid_is_zero(&head) || (!git_oid_is_zero(&from) &&
					       git_graph_descendant_of(f->repo, &head, &from) != 1)) {
			journal_remove(f);
			return 0;
		}
		if ((error = remerge(&to, &a, &head, &to)) < 0)
			return error;
		from = head;
	}
	return update(&a, &from, &to);
}
