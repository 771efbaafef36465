/*
 * The single-writer lock (DESIGN.md section 9).
 *
 * The lock is a file held with flock(): the kernel drops it when its holder
 * dies, so a dead holder's lock is free without guessing from pids.  The
 * holder's pid is written inside, for the message a waiting command prints.
 * Knows nothing of folders: the caller names the file and owns the state.
 */
#include "core/base/internal.h"
#include "core/base/file.h"
#include "core/folder/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static long read_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static long ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int dsync_lock_take(dsync_lock *l, const char *path, const char *what, int wait_ms)
{
	struct timespec start;
	char pid[32];
	int fd = -1, error, len;

	if (l->depth > 0) {
		l->depth++;
		return 0;
	}
	/* without blocking, a regular file only (a FIFO: "remove it") */
	if ((error = dsync_file_open(&fd, path, DSYNC_FILE_CREATE | DSYNC_FILE_NOFOLLOW, NULL)) < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			error = dsync_error_sys(errno, "cannot lock '%s'", path);
			goto out;
		}
		if (ms_since(&start) >= wait_ms) {
			long holder = read_holder(fd);

			if (holder > 0)
				error = dsync_error_set(DSYNC_ELOCKED,
					"'%s' is busy: another dsync (pid %ld) is working on it; try again when it is done",
					what, holder);
			else
				error = dsync_error_set(DSYNC_ELOCKED,
					"'%s' is busy: another process holds '%s'; try again when it is done",
					what, path);
			goto out;
		}
		usleep(50 * 1000);
	}
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		error = dsync_error_sys(errno, "cannot write the lock '%s'", path);
		goto out;
	}
	l->fd = fd;
	l->depth = 1;
	fd = -1;
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	return error;
}

void dsync_lock_release(dsync_lock *l)
{
	if (l->depth <= 0)
		return;
	if (--l->depth == 0) {
		if (ftruncate(l->fd, 0) < 0) {
			/* the pid left inside is harmless: flock is what counts */
		}
		close(l->fd);
		l->fd = -1;
	}
}

bool dsync_lock_held(const dsync_lock *l)
{
	return l->depth > 0;
}
