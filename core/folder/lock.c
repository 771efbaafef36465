/*
 * The folder's single-writer lock (DESIGN.md section 9) and the repair of
 * what a writer killed mid-way leaves behind.
 *
 * The lock is .dsync/dsync.lock held with flock(): the kernel drops it when
 * its holder dies, so a dead holder's lock is free without guessing from
 * pids.  The holder's pid is written inside, for the message a waiting
 * command prints.
 */
#include "core/base/internal.h"
#include "core/folder/folder.h"
#include "core/worktree/apply.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Folder-walk callbacks: remove libgit2's temporary files ("*_git2_*"), and
 * with LOCKS also stale "*.lock" files. */
static int stale_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	bool locks = *(bool *)payload;

	if (!is_dir && ((locks && has_suffix(name, ".lock")) || strstr(name, "_git2_") != NULL))
		unlink(path);
	return 0;
}

static int sync_tmp_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	(void)payload;
	if (strncmp(name, "dsync-tmp-", 10) == 0)
		dsync_path_remove(path, is_dir);
	return 0;
}

static void remove_stale(const char *dir, int depth, bool locks)
{
	dsync_path_walk(dir, depth, stale_cb, &locks);
}

static void repair(dsync_folder *f)
{
	static const char *const files[] = { "index.lock", "HEAD.lock", "config.lock", "dsync-head.lock",
					     "packed-refs.lock" };
	dsync_buf p = DSYNC_BUF_INIT;
	size_t i;

	for (i = 0; i < DSYNC_ARRAY_SIZE(files); i++) {
		dsync_buf_truncate(&p, 0);
		if (dsync_buf_printf(&p, "%s/%s", f->gitdir, files[i]) == 0)
			unlink(p.ptr);
	}
	/* a sync killed half-way: its temporary packs (dsync-tmp-*) */
	dsync_path_walk(f->gitdir, 0, sync_tmp_cb, NULL);
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/refs", f->gitdir) == 0)
		remove_stale(p.ptr, 8, true);
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/logs", f->gitdir) == 0)
		remove_stale(p.ptr, 8, true);
	/* libgit2 makes its temporary files in objects/ itself (loose objects)
	 * and objects/pack/ (packs): no need to visit the 256 fan-out folders */
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/objects", f->gitdir) == 0)
		remove_stale(p.ptr, 0, false);
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/objects/pack", f->gitdir) == 0)
		remove_stale(p.ptr, 0, false);
	dsync_buf_dispose(&p);
}

static long read_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

int dsync_folder_lock(dsync_folder *f, int wait_ms)
{
	dsync_buf path = DSYNC_BUF_INIT;
	struct timespec start, now;
	char pid[32];
	int fd = -1, error, len;

	if (f->lock_depth > 0) {
		f->lock_depth++;
		return 0;
	}
	if ((error = dsync_buf_printf(&path, "%s/dsync.lock", f->gitdir)) < 0)
		goto out;
	/* without blocking, a regular file only (a FIFO: "remove it") */
	if ((error = dsync_file_open(&fd, path.ptr, DSYNC_FILE_CREATE | DSYNC_FILE_NOFOLLOW, NULL)) < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		long waited;

		if (errno != EWOULDBLOCK && errno != EINTR) {
			error = dsync_error_sys(errno, "cannot lock '%s'", path.ptr);
			goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= wait_ms) {
			long holder = read_holder(fd);

			if (holder > 0)
				error = dsync_error_set(DSYNC_ELOCKED,
					"'%s' is busy: another dsync (pid %ld) is working on it; try again when it is done",
					f->root, holder);
			else
				error = dsync_error_set(DSYNC_ELOCKED,
					"'%s' is busy: another process holds '%s'; try again when it is done",
					f->root, path.ptr);
			goto out;
		}
		usleep(50 * 1000);
	}
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		error = dsync_error_sys(errno, "cannot write the lock '%s'", path.ptr);
		goto out;
	}
	f->lock_fd = fd;
	f->lock_depth = 1;
	fd = -1;
	repair(f);
	/* a restore killed while writing: its temporary files */
	dsync_worktree_temps_sweep(f);
	/* a merge killed while updating the working tree is finished first;
	 * if that fails, its journal is gone and the folder is as it is: the
	 * holder goes on (a snapshot records it; nothing is lost) */
	if (dsync_merge_resume(f) < 0)
		dsync_error_clear();
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	dsync_buf_dispose(&path);
	return error;
}

void dsync_folder_unlock(dsync_folder *f)
{
	if (f->lock_depth <= 0)
		return;
	if (--f->lock_depth == 0) {
		if (ftruncate(f->lock_fd, 0) < 0) {
			/* the pid left inside is harmless: flock is what counts */
		}
		close(f->lock_fd);
		f->lock_fd = -1;
	}
}
