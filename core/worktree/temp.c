/*
 * Temporary files in the folder (DESIGN.md section 9): the one writer of a
 * stored version into a file beside its place, which the working-tree
 * update and restore both use before renaming into place, and the records
 * that let the next writer remove what a killed restore left.
 */
#include "core/base/internal.h"
#include "core/worktree/temp.h"
#include "core/history/head.h"
#include "core/base/blobread.h"
#include "core/base/chunks.h"
#include "core/base/oidset.h"
#include "core/base/packidx.h"
#include "core/base/path.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/file.h>
#include <unistd.h>

/* Whether each folder above the folder-relative REL under ROOT is a real
 * folder or missing (to be made): never a link, which a write would follow
 * out of the folder, nor a file. */
bool dsync_worktree_parents_safe(const char *root, const char *rel, size_t *bad)
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
int dsync_worktree_folds_error(const char *rel)
{
	return dsync_error_set(DSYNC_ERROR,
		"cannot write '%s' here: this file system does not tell upper from lower case, so it would land "
		"in dsync's own history (.dsync); rename it on a device that made it", rel);
}

/* TMP: "DIR/.dsync-tmp-XXXXXX" for DEST in DIR, the folder made when it is
 * missing (a restore writes many files per folder, and making it walks
 * every folder above it), unless KNOWN: it was there for the file before. */
static int temp_path(dsync_buf *tmp, const char *dest, bool known)
{
	struct stat dirst;
	char *dircopy = strdup(dest);
	const char *dir;
	int error;

	if (!dircopy)
		return dsync_error_oom();
	dir = dirname(dircopy);
	dsync_buf_truncate(tmp, 0);
	if (!known && (stat(dir, &dirst) < 0 || !S_ISDIR(dirst.st_mode)) && (error = dsync_path_mkdirs(dir)) < 0)
		goto out;
	error = dsync_buf_printf(tmp, "%s/.dsync-tmp-XXXXXX", dir);
out:
	free(dircopy);
	return error;
}

/* A written file's permissions: PERM, else MODE's less the UMASK bits. */
static mode_t file_perm(uint32_t mode, mode_t perm, mode_t umask_bits)
{
	return perm ? perm : (mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0777 : 0666) & ~umask_bits;
}

/* A thread's letters for temporary names: seeded once from the system's
 * randomness, then a splitmix64 sequence.  The names only need to differ
 * (a taken one is retried: O_EXCL, RENAME_NOREPLACE); asking the kernel
 * for each letter cost six system calls per file. */
static _Thread_local uint64_t letters_state;
static _Thread_local bool letters_seeded;

/* Fills the six X's that end TMP with random letters. */
static void temp_letters(dsync_buf *tmp)
{
	char *x = tmp->ptr + tmp->len - 6;
	uint64_t z;
	int k;

	if (!letters_seeded) {
		randombytes_buf(&letters_state, sizeof(letters_state));
		letters_seeded = true;
	}
	z = (letters_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	for (k = 0; k < 6; k++, z /= 26)
		x[k] = (char)('a' + z % 26);
}

/* Below this size a written file is left to the batch's syncfs: asking the
 * disk to start on each small file (one request per file) cost more than
 * the one flush of them all. */
#define EARLY_WRITEBACK (256u << 10)

/*
 * The folder (in a batch's thread) whose folders above were last found
 * real folders and which exists: the next file in it skips those checks.
 * A batch only writes temporary files, so nothing of its own replaces a
 * folder while it runs; dsync_worktree_temp_forget() drops it at each
 * batch's start and end.
 */
static _Thread_local char *safe_dir;
static _Thread_local dev_t safe_dev;   /* its file system */

void dsync_worktree_temp_forget(void)
{
	free(safe_dir);
	safe_dir = NULL;
}

/* Whether DEST's folder is the one last checked (see safe_dir). */
static bool dir_known(const char *dest)
{
	const char *slash = strrchr(dest, '/');
	size_t n = slash ? (size_t)(slash - dest) : 0;

	return safe_dir && slash && strncmp(safe_dir, dest, n) == 0 && safe_dir[n] == '\0';
}

/* Notes DEST's folder as checked and made. */
static void dir_note(const char *dest)
{
	const char *slash = strrchr(dest, '/');
	struct stat st;

	dsync_worktree_temp_forget();
	if (slash && (safe_dir = strndup(dest, (size_t)(slash - dest))) != NULL)
		safe_dev = stat(safe_dir, &st) == 0 ? st.st_dev : (dev_t)-1;
}

/* A new file at TMP (its X's filled here) with the permissions M (less the
 * process's umask, put right by the caller): its descriptor, or -1 and
 * errno. */
static int temp_create(dsync_buf *tmp, mode_t m)
{
	int tries, fd;

	for (tries = 0;; tries++) {
		temp_letters(tmp);
		fd = open(tmp->ptr, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, m);
		if (fd >= 0 || errno != EEXIST || tries == 100)
			return fd;
	}
}

/* The blobs of the staging folder given to a file already (another file
 * of the same bytes is written as usual), for as long as it is set. */
static pthread_mutex_t taken_lock = PTHREAD_MUTEX_INITIALIZER;
static dsync_oidset taken;

/*
 * The blob ID as a join's indexing of its packs staged it (see
 * dsync_packidx_stage()), given to the caller as it is: TMP gets its path
 * in the staging folder, which the caller renames into place (a rename
 * to a temporary name beside it first cost a second rename per file; a
 * killed join's staging folder is removed whole by the next writer).  Its
 * permissions become M and *ST (may be NULL) its stat.  0 done, 1 not
 * staged (given already to another file of the same bytes, or on another
 * file system than DEST's folder, safe_dev), <0 an error.
 */
static int take_staged(dsync_buf *tmp, const git_oid *id, mode_t m, struct stat *st)
{
	char from[4096];
	struct stat fst;
	bool mine;

	if (dsync_packidx_stage_path(from, sizeof(from), id) < 0)
		return 1;
	pthread_mutex_lock(&taken_lock);
	mine = dsync_oidset_add(&taken, id) == 1;
	pthread_mutex_unlock(&taken_lock);
	dsync_error_clear();
	if (!mine || lstat(from, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_dev != safe_dev)
		return 1;
	if (chmod(from, m) < 0 || lstat(from, &fst) < 0)
		return dsync_error_sys(errno, "cannot write '%s'", from);
	if (st)
		*st = fst;
	dsync_buf_truncate(tmp, 0);
	return dsync_buf_puts(tmp, from);
}

int dsync_worktree_temp(dsync_buf *tmp, struct stat *st, git_repository *repo, const git_oid *id,
			uint32_t mode, mode_t perm, const char *root, const char *dest, mode_t umask_bits)
{
	git_blob *blob = NULL;
	dsync_blobread raw = { 0 };
	const char *data = NULL;
	size_t len = 0;
	size_t rl = root ? strlen(root) : 0;
	bool big = false, known = dir_known(dest);
	int fd = -1, err, error;

	dsync_buf_truncate(tmp, 0);
	if (!known && root && strncmp(dest, root, rl) == 0 && dest[rl] == '/' &&
	    !dsync_worktree_parents_safe(root, dest + rl + 1, NULL))
		return dsync_error_set(DSYNC_ENOTDIR, "cannot write '%s': a link or a file is in the way", dest);
	if (root && strncmp(dest, root, rl) == 0 && dest[rl] == '/' && dsync_path_folds_into_dsync(root, dest + rl + 1))
		return dsync_worktree_folds_error(dest + rl + 1);
	if ((mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) && dsync_packidx_stage_dir()) {
		if ((error = temp_path(tmp, dest, known)) < 0)
			return error;
		if (!known)
			dir_note(dest);
		known = true;
		if ((error = take_staged(tmp, id, file_perm(mode, perm, umask_bits), st)) <= 0)
			return error;
		dsync_buf_truncate(tmp, 0);
	}
	if (mode == GIT_FILEMODE_COMMIT || mode == GIT_FILEMODE_TREE) {
		/* a big file's chunk tree: its mode is in its marker */
		dsync_chunked info;

		if ((error = dsync_chunks_info_of(&info, repo, id)) <= 0)
			return error < 0 ? error : dsync_error_set(DSYNC_ECORRUPT, "the stored '%s' is not a file", dest);
		big = true;
		mode = info.mode;
	} else if ((error = dsync_blobread_get(&raw, repo, id)) == 0) {
		data = raw.data;
		len = raw.len;
	} else if (error < 0 || (err = git_blob_lookup(&blob, repo, id)) < 0) {
		/* not read that way: libgit2 says why (missing, damaged) */
		dsync_blobread_free(&raw);
		return error < 0 ? error : dsync_history_read_error(repo, err, id, GIT_OBJECT_BLOB, dest, NULL);
	} else {
		data = git_blob_rawcontent(blob);
		len = (size_t)git_blob_rawsize(blob);
	}
	if ((error = temp_path(tmp, dest, known)) < 0)
		goto out;
	if (!known)
		dir_note(dest);
	if (mode == GIT_FILEMODE_LINK) {
		dsync_buf target = DSYNC_BUF_INIT;
		int tries;

		if ((error = dsync_buf_put(&target, data, len)) < 0)
			goto out;
		for (tries = 0;; tries++) {
			temp_letters(tmp);
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
		size_t done = 0;
		mode_t m = file_perm(mode, perm, umask_bits);
		struct stat fst;

		if ((fd = temp_create(tmp, m)) < 0) {
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
		/* a big file's bytes: the disk starts on them now, while the
		 * next files are read and written, so the batch's one syncfs
		 * waits for what is left, not for all of it (only a hint:
		 * errors don't matter) */
		if (big || len >= EARLY_WRITEBACK)
			(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		/* made with M less the process's umask: M itself when the umask
		 * took nothing from it (the common case, no fchmod) */
		if (fstat(fd, &fst) < 0 || ((fst.st_mode & 07777) != m && (fchmod(fd, m) < 0 || fstat(fd, &fst) < 0))) {
			error = dsync_error_sys(errno, "cannot write '%s'", dest);
			goto fail;
		}
		err = close(fd);
		fd = -1;
		if (err < 0) {
			error = dsync_error_sys(errno, "cannot write '%s'", dest);
			goto fail;
		}
		if (st)
			*st = fst;
	}
	error = 0;
	goto out;
fail:
	unlink(tmp->ptr);
out:
	if (fd >= 0)
		close(fd);
	git_blob_free(blob);
	dsync_blobread_free(&raw);
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
void dsync_worktree_sweep_dir(const char *dir, bool deep)
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
			dsync_worktree_sweep_dir(text + i + 1, text[i] == 'D');
		i += len + 1;
	}
drop:
	unlinkat(dirfd, name, 0);
out:
	free(text);
	close(fd);
}

#define STAGE_PREFIX "stage-"

/* Removes the staging folder NAME in GITDIR (open as DIRFD) that a killed
 * join left, not one still held. */
static void sweep_stage(const char *gitdir, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dsync_buf path = DSYNC_BUF_INIT;

	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && dsync_buf_printf(&path, "%s/%s", gitdir, name) == 0)
		dsync_path_remove(path.ptr, true);
	dsync_error_clear();
	dsync_buf_dispose(&path);
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
		else if (strncmp(e->d_name, STAGE_PREFIX, sizeof(STAGE_PREFIX) - 1) == 0)
			sweep_stage(f->gitdir, dirfd(dir), e->d_name);
	closedir(dir);
}

void dsync_worktree_stage_begin(dsync_stage *s, const dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;

	s->fd = -1;
	s->path = NULL;
	if (dsync_buf_printf(&path, "%s/" STAGE_PREFIX "XXXXXX", f->gitdir) < 0 || !mkdtemp(path.ptr)) {
		dsync_error_clear();
		dsync_buf_dispose(&path);
		return;
	}
	s->path = dsync_buf_detach(&path);
	if ((s->fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || flock(s->fd, LOCK_EX) < 0) {
		dsync_worktree_stage_end(s);
		return;
	}
	dsync_packidx_stage(s->path);
}

void dsync_worktree_stage_end(dsync_stage *s)
{
	dsync_packidx_stage(NULL);
	pthread_mutex_lock(&taken_lock);
	dsync_oidset_dispose(&taken);
	pthread_mutex_unlock(&taken_lock);
	if (s->path)
		dsync_path_remove(s->path, true);
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	s->fd = -1;
	s->path = NULL;
}
