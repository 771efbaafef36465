/*
 * Waiting on relays (see waiters.h): one child per relay remote of an active
 * folder, in a loop of long-polls; a change reaches the loop as a byte on a
 * pipe and makes the folder's round due at once.
 *
 * The child keeps its cursor across errors: after a cut connection it goes
 * on from where it was, so a blip costs no round, and a relay that restarted
 * (a new epoch) answers at once.  Errors back off 1, 2, 4 ... 60 s.  It dies
 * with the loop (PR_SET_PDEATHSIG), and holds none of the loop's locks.
 */
#include "core/base/internal.h"
#include "core/watch/waiters.h"
#include "core/watch/jobs.h"
#include "dsync/sync.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 25000           /* one long-poll (the relay's default; it allows 1..55 s) */
#define BACKOFF_MAX_S 60        /* errors wait 1, 2, 4 ... this many seconds */
#define RESTART_MS 10000        /* a child that died is started again after this */

/* Whether F's remotes should be waited on now. */
static bool wanted(const wfolder *f)
{
#ifdef DSYNC_TESTING
	/* benches compare with rounds on the timer alone */
	const char *off = getenv("DSYNC_TEST_NO_LONGPOLL");

	if (off && *off && strcmp(off, "0") != 0)
		return false;
#endif
	return f->state == FOLDER_ACTIVE && !f->user_paused && !f->w->stopping;
}

/* The child must not hold what the loop holds: a watch lock kept by it
 * would outlive the folder's removal from the loop. */
static void close_inherited(const watch *w, int keep)
{
	size_t i, j;

	for (i = 0; i < w->folders.size; i++) {
		const wfolder *f = w->folders.ptr[i];

		if (f->lock_fd >= 0)
			close(f->lock_fd);
		for (j = 0; j < f->polls.size; j++)
			if (f->polls.ptr[j].fd >= 0 && f->polls.ptr[j].fd != keep)
				close(f->polls.ptr[j].fd);
	}
	if (w->watcher)
		close(watcher_fd(w->watcher));
}

/* The child: long-polls REMOTE of F for ever, a byte down FD per change. */
static void __attribute__((noreturn)) child_main(wfolder *f, const char *remote, int fd, pid_t parent)
{
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	char cursor[128] = "", said[512] = "";
	unsigned backoff = 0;

	pthread_sigmask(SIG_SETMASK, &f->w->old_mask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);   /* the loop went before the line above */
	close_inherited(f->w, fd);
	so.warn = wfolder_warn;
	so.payload = f;
	for (;;) {
		dsync_remote_waiter *rw = NULL;
		dsync_folder *df = NULL;
		int error;
		bool changed;

		/* every error backs off, none ends the child: a relay behind a
		 * proxy under maintenance, credentials not kept yet, a remote
		 * being re-added all pass; the loop ends it when the folder or
		 * the remote goes */
		if ((error = dsync_folder_open(&df, f->root)) == 0)
			error = dsync_remote_waiter_open(&rw, df, remote, &so);
		/* the waiter holds what it needs: the folder need not stay open */
		dsync_folder_free(df);
		while (error == 0 && (error = dsync_remote_wait(rw, cursor, sizeof(cursor), WAIT_MS, &changed)) == 0) {
			if (backoff)
				watch_say(f->w, DSYNC_LOG_INFO, f, "remote '%s' answers again", remote);
			backoff = 0;
			*said = '\0';
			/* one byte waiting is enough: a full pipe (EAGAIN) says the same */
			if (changed && write(fd, "c", 1) < 0 && errno != EAGAIN)
				_exit(0);
		}
		dsync_remote_waiter_free(rw);
		backoff = backoff ? (backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2) : 1;
		/* the same failure again and again is said once */
		watch_say(f->w, strcmp(said, dsync_error_last()) == 0 ? DSYNC_LOG_DEBUG : DSYNC_LOG_WARNING, f,
		          "cannot wait for changes on '%s': %s; trying again in %u s", remote, dsync_error_last(),
		          backoff);
		snprintf(said, sizeof(said), "%s", dsync_error_last());
		sleep(backoff);
	}
}

static void start(wfolder *f, wpoll *p)
{
	pid_t parent = getpid(), pid;
	int fds[2];

	p->start_ms = 0;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		watch_say(f->w, DSYNC_LOG_WARNING, f, "cannot wait on '%s': %s", p->remote, strerror(errno));
		p->start_ms = f->w->now + RESTART_MS;
		return;
	}
	if ((pid = fork()) < 0) {
		watch_say(f->w, DSYNC_LOG_WARNING, f, "cannot wait on '%s': %s", p->remote, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		p->start_ms = f->w->now + RESTART_MS;
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(f, p->remote, fds[1], parent);
	}
	close(fds[1]);
	p->fd = fds[0];
	p->pid = pid;
	watch_say(f->w, DSYNC_LOG_DEBUG, f, "waiting on '%s' for changes (pid %ld)", p->remote, (long)pid);
}

/* Ends P's child (reaped) and closes its pipe. */
static void end(wpoll *p)
{
	watch_reap_child(&p->pid, true);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

void waiters_stop(wfolder *f)
{
	size_t i;

	for (i = 0; i < f->polls.size; i++) {
		if (f->polls.ptr[i].pid > 0)
			kill(f->polls.ptr[i].pid, SIGTERM);
	}
	for (i = 0; i < f->polls.size; i++) {
		end(&f->polls.ptr[i]);
		free(f->polls.ptr[i].remote);
	}
	dsync_array_dispose(f->polls);
}

void waiters_stop_all(watch *w)
{
	size_t i, j;

	/* all are told first, so that a stop waits for the slowest only */
	for (i = 0; i < w->folders.size; i++)
		for (j = 0; j < w->folders.ptr[i]->polls.size; j++)
			if (w->folders.ptr[i]->polls.ptr[j].pid > 0)
				kill(w->folders.ptr[i]->polls.ptr[j].pid, SIGTERM);
	for (i = 0; i < w->folders.size; i++)
		waiters_stop(w->folders.ptr[i]);
}

void waiters_update(wfolder *f, dsync_folder *df)
{
	dsync_folder *opened = NULL;
	dsync_remote_info *list = NULL;
	size_t n = 0, i, j;

	if (!wanted(f)) {
		waiters_stop(f);
		return;
	}
	if (!df && dsync_folder_open(&opened, f->root) < 0) {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "remotes not read: %s", dsync_error_last());
		return;
	}
	if (dsync_remote_list(&list, &n, df ? df : opened) < 0) {
		watch_say(f->w, DSYNC_LOG_WARNING, f, "remotes not read: %s", dsync_error_last());
		goto out;
	}
	for (j = 0; j < f->polls.size; j++)
		f->polls.ptr[j].listed = false;
	for (i = 0; i < n; i++) {
		wpoll np = { .fd = -1 };

		if (!dsync_remote_url_waits(list[i].url))
			continue;
		for (j = 0; j < f->polls.size && strcmp(f->polls.ptr[j].remote, list[i].name) != 0; j++)
			;
		if (j < f->polls.size) {
			f->polls.ptr[j].listed = true;
			continue;
		}
		if ((np.remote = strdup(list[i].name)) == NULL || dsync_array_push(f->polls, np) < 0) {
			free(np.remote);
			continue;
		}
		f->polls.ptr[f->polls.size - 1].listed = true;
		start(f, &f->polls.ptr[f->polls.size - 1]);
	}
	for (j = f->polls.size; j-- > 0;) {
		if (f->polls.ptr[j].listed)
			continue;
		end(&f->polls.ptr[j]);
		free(f->polls.ptr[j].remote);
		memmove(&f->polls.ptr[j], &f->polls.ptr[j + 1], (f->polls.size - j - 1) * sizeof(*f->polls.ptr));
		f->polls.size--;
	}
out:
	dsync_remote_list_free(list, n);
	dsync_folder_free(opened);
}

size_t waiters_count(const watch *w)
{
	size_t i, n = 0;

	for (i = 0; i < w->folders.size; i++)
		n += w->folders.ptr[i]->polls.size;
	return n;
}

nfds_t waiters_pollfds(const watch *w, struct pollfd *p)
{
	nfds_t n = 0;
	size_t i, j;

	for (i = 0; i < w->folders.size; i++) {
		const wfolder *f = w->folders.ptr[i];

		for (j = 0; j < f->polls.size; j++) {
			if (f->polls.ptr[j].fd < 0)
				continue;
			p[n].fd = f->polls.ptr[j].fd;
			p[n].events = POLLIN;
			p[n].revents = 0;
			n++;
		}
	}
	return n;
}

/* A change on F's remote: its round is due now, or as soon as the child
 * running ends (a round under way may have listed the store before it). */
static void changed(wfolder *f, const wpoll *p)
{
	watch_say(f->w, DSYNC_LOG_DEBUG, f, "remote '%s' changed", p->remote);
	if (f->w->sync_pid > 0 || f->w->gc_pid > 0)
		f->sync_waiting = true;
	f->sync_ms = f->w->now;
}

void waiters_read(watch *w, const struct pollfd *p, nfds_t n)
{
	size_t i, j;
	nfds_t k;

	for (k = 0; k < n; k++) {
		if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (i = 0; i < w->folders.size; i++) {
			wfolder *f = w->folders.ptr[i];

			for (j = 0; j < f->polls.size; j++) {
				wpoll *wp = &f->polls.ptr[j];
				char buf[64];
				ssize_t got;
				bool any = false;

				if (wp->fd != p[k].fd)
					continue;
				while ((got = read(wp->fd, buf, sizeof(buf))) > 0)
					any = true;
				if (got == 0) {
					/* the child went: its reaping starts it again */
					close(wp->fd);
					wp->fd = -1;
				}
				if (any)
					changed(f, wp);
			}
		}
	}
}

void waiters_reap(watch *w)
{
	size_t i, j;

	for (i = 0; i < w->folders.size; i++) {
		wfolder *f = w->folders.ptr[i];

		for (j = 0; j < f->polls.size; j++) {
			wpoll *p = &f->polls.ptr[j];
			int status;

			if (p->pid <= 0 || waitpid(p->pid, &status, WNOHANG) != p->pid)
				continue;
			p->pid = 0;
			if (p->fd >= 0)
				close(p->fd);
			p->fd = -1;
			watch_say(w, DSYNC_LOG_WARNING, f, "waiting on '%s' stopped (%s %d); again in %d s", p->remote,
			          WIFSIGNALED(status) ? "signal" : "status",
			          WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), RESTART_MS / 1000);
			p->start_ms = w->now + RESTART_MS;
		}
	}
}

int64_t waiters_deadline(const wfolder *f)
{
	int64_t d = 0;
	size_t j;

	if (f->polls_gen != f->gen)
		return f->w->now;
	for (j = 0; j < f->polls.size; j++)
		if (f->polls.ptr[j].start_ms > 0 && (d == 0 || f->polls.ptr[j].start_ms < d))
			d = f->polls.ptr[j].start_ms;
	return d;
}

void waiters_tick(wfolder *f)
{
	size_t j;

	if (f->polls_gen != f->gen) {
		/* the folder stopped or started since: its children go, and
		 * come back (remotes read again) if it is active */
		f->polls_gen = f->gen;
		waiters_stop(f);
		waiters_update(f, NULL);
	}
	for (j = 0; j < f->polls.size; j++) {
		wpoll *p = &f->polls.ptr[j];

		if (p->start_ms > 0 && f->w->now >= p->start_ms && p->pid <= 0 && wanted(f))
			start(f, p);
	}
}
