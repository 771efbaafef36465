/*
 * watch: the loop behind `dsync watch` and `dsync daemon` (see dsync/watch.h).
 *
 * One thread, one poll(): the watcher's descriptor, a signalfd for
 * SIGTERM/SIGINT/SIGHUP and, while a folder is missing, the mount table.
 * The poll's timeout is the nearest deadline of any folder (its debounce, a
 * retry, a rescan while it cannot be watched whole); with nothing pending it
 * waits for ever, so an idle daemon costs nothing.
 *
 * Per folder (wfolder.c): events mark it dirty; a snapshot is taken once
 * it has been quiet for the delay and no file is being written
 * (debounce.c, writers.c).  Folders the watcher cannot see are looked for again or
 * rescanned (rescan.c); gc and sync rounds run as child jobs (jobs.c).
 */
#include "core/base/internal.h"
#include "dsync/watch.h"
#include "core/base/array.h"
#include "core/base/path.h"
#include "core/folder/folder.h"
#include "core/folder/pause.h"
#include "core/watch/debounce.h"
#include "core/watch/jobs.h"
#include "core/watch/rescan.h"
#include "core/watch/waiters.h"
#include "core/watch/watcher.h"
#include "core/watch/wfolder.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define DEFAULT_RESCAN_MS 60000

/* ------------------------------------------------------------- events */

static wfolder *folder_by_tag(watch *w, const void *tag, bool *refs)
{
	size_t i;

	for (i = 0; i < w->folders.size; i++) {
		wfolder *f = w->folders.ptr[i];

		if (tag == f || tag == &f->refs_tag || tag == &f->parent_tag) {
			*refs = tag == &f->refs_tag;
			return f;
		}
	}
	return NULL;
}

static wfolder *folder_by_config_tag(watch *w, const void *tag)
{
	size_t i;

	for (i = 0; i < w->folders.size; i++)
		if (tag == &w->folders.ptr[i]->config_tag)
			return w->folders.ptr[i];
	return NULL;
}

/* Whether an event on PATH (tree-relative) can change what is recorded. */
static bool relevant(const wfolder *f, const char *path, bool is_dir)
{
	const char *name = strrchr(path, '/');

	name = name ? name + 1 : path;
	if (strcmp(name, DSYNC_DIR) == 0)
		return false;
	return !f->ign || dsync_ignore_match_walked(f->ign, path, is_dir) != 1;
}

static void on_event(const watcher_event *ev, void *payload)
{
	watch *w = payload;
	wfolder *f;
	bool refs = false;

	if (ev->kind == WATCHER_OVERFLOW) {
		w->overflow = true;
		return;
	}
	if (ev->kind == WATCHER_PLAIN && ev->tag == &w->cfgdir) {
		if (strncmp(ev->path, "folders", 7) == 0)
			w->registry_changed = true;
		return;
	}
	if (ev->kind == WATCHER_PLAIN && (f = folder_by_config_tag(w, ev->tag)) != NULL) {
		if (strcmp(ev->path, "config") == 0)
			f->config_changed = true;
		else if (strcmp(ev->path, DSYNC_PAUSE_USER_FILE) == 0)
			f->pause_changed = true;   /* dsync pause or resume */
		return;
	}
	if ((f = folder_by_tag(w, ev->tag, &refs)) == NULL)
		return;
	switch (ev->kind) {
	case WATCHER_PLAIN:
		if (refs && f->state == FOLDER_PAUSED)
			wfolder_mark_due(f, w->now);
		else if (!refs && f->state == FOLDER_MISSING)
			rescan_soon(f);
		return;
	case WATCHER_ROOT_GONE:
		f->gone = true;
		return;
	case WATCHER_LIMIT:
		f->limit = true;
		f->unwatched++;
		return;
	default:
		break;
	}
	/* .dsyncignore itself counts whatever the rules say of it: rules that
	 * leave everything out (".dsyncignore" too) must still hear of the
	 * edit, or the deletion, that takes them back */
	if (!ev->is_dir && strcmp(ev->path, ".dsyncignore") == 0)
		f->ignore_changed = true;
	else if (!relevant(f, ev->path, ev->is_dir))
		return;
	if (ev->kind == WATCHER_WRITTEN)
		writers_seen(&f->writers, ev->path, w->now);
	else if (ev->kind == WATCHER_CLOSED || ev->kind == WATCHER_GONE)
		writers_done(&f->writers, ev->path);
	if (!f->dirty)
		watch_say(w, DSYNC_LOG_DEBUG, f, "changed: %s", ev->path);
	wfolder_mark_dirty(f, w->now);
}

/* Acts on what the events of one read said. */
static void after_events(watch *w)
{
	size_t i;

	if (w->overflow) {
		watch_say(w, DSYNC_LOG_WARNING, NULL,
		          "the kernel's inotify queue overflowed and changes were missed; rescanning every "
		          "folder (raise the limit: sysctl fs.inotify.max_queued_events=65536)");
		w->overflow = false;
		for (i = 0; i < w->folders.size; i++) {
			wfolder *f = w->folders.ptr[i];

			if (f->state == FOLDER_MISSING)
				continue;
			writers_clear(&f->writers); /* closes may have been lost */
			rescan_refresh(f);
			if (f->state != FOLDER_MISSING)
				wfolder_mark_due(f, w->now);
		}
	}
	for (i = 0; i < w->folders.size; i++) {
		wfolder *f = w->folders.ptr[i];

		if (f->gone) {
			f->gone = false;
			if (f->state != FOLDER_MISSING)
				rescan_missing(f, "the folder went away");
			continue;
		}
		if (f->ignore_changed) {
			dsync_folder *df = NULL;
			dsync_ignore *ign = NULL;

			f->ignore_changed = false;
			if (dsync_folder_open(&df, f->root) == 0 && dsync_folder_load_ignore(&ign, df) == 0) {
				dsync_ignore_free(f->ign);
				f->ign = ign;
				watch_say(w, DSYNC_LOG_INFO, f, "ignore rules reloaded");
				rescan_refresh(f);
			} else {
				watch_say(w, DSYNC_LOG_WARNING, f, "ignore rules not reloaded: %s; keeping the previous ones",
				          dsync_error_last());
			}
			dsync_folder_free(df);
		}
		if (f->config_changed && f->state != FOLDER_MISSING)
			wfolder_config_changed(f);
		if (f->pause_changed && f->state != FOLDER_MISSING)
			debounce_pause_check(f);
		if (f->limit)
			rescan_warn_limit(f);
	}
}

/* ------------------------------------------------------------- folder list */

static int add_folder(watch *w, wfolder **out, const char *root)
{
	wfolder *f;

	if (dsync_array_reserve(w->folders, w->folders.size + 1) < 0)
		return dsync_error_oom();
	if ((f = calloc(1, sizeof(*f))) == NULL || (f->root = strdup(root)) == NULL) {
		free(f);
		return dsync_error_oom();
	}
	f->w = w;
	f->lock_fd = -1;
	f->delay_ms = DEFAULT_DELAY_MS;
	f->max_delay_ms = DEFAULT_MAX_DELAY_MS;
	w->folders.ptr[w->folders.size++] = f;
	*out = f;
	return 0;
}

static void remove_folder(watch *w, size_t i)
{
	waiters_stop(w->folders.ptr[i]);
	wfolder_free(w->folders.ptr[i]);
	memmove(&w->folders.ptr[i], &w->folders.ptr[i + 1], (w->folders.size - i - 1) * sizeof(*w->folders.ptr));
	w->folders.size--;
}

static void started(wfolder *f)
{
	watch_say(f->w, DSYNC_LOG_INFO, f, "watching (snapshot after %.1f s quiet, at most %.1f s)",
	          f->delay_ms / 1000.0, f->max_delay_ms / 1000.0);
	if (f->user_paused)
		debounce_say_user_pause(f);
	if (f->limit)
		rescan_warn_limit(f);
}

/* Starts a folder that is new to the loop: it is snapshotted at once. */
static void begin(wfolder *f)
{
	if (wfolder_start(f) < 0) {
		if (dsync_error_last_code() == DSYNC_ELOCKED) {
			watch_say(f->w, DSYNC_LOG_WARNING, f, "%s; not watching it", dsync_error_last());
			f->state = FOLDER_MISSING;
			f->missing_ms = 0;
			return;
		}
		rescan_missing(f, dsync_error_last());
		return;
	}
	debounce_snapshot(f);
	if (f->state != FOLDER_MISSING)
		started(f);
}

/* Brings the loop's folders in step with the registered ones; false when
 * the list cannot be read (said). */
static bool reload_registry(watch *w)
{
	char **list = NULL;
	size_t count = 0, i, j;

	if (dsync_folder_list_registered(&list, &count) < 0) {
		watch_say(w, DSYNC_LOG_ERROR, NULL, "cannot read the folder list: %s", dsync_error_last());
		return false;
	}
	for (i = 0; i < w->folders.size; i++)
		w->folders.ptr[i]->listed = false;
	for (j = 0; j < count; j++) {
		wfolder *f = NULL;

		for (i = 0; i < w->folders.size && !f; i++)
			if (strcmp(w->folders.ptr[i]->root, list[j]) == 0)
				f = w->folders.ptr[i];
		if (f) {
			f->listed = true;
			continue;
		}
		if (add_folder(w, &f, list[j]) < 0)
			continue;
		f->listed = true;
		begin(f);
	}
	for (i = w->folders.size; i-- > 0;) {
		if (!w->folders.ptr[i]->listed) {
			watch_say(w, DSYNC_LOG_INFO, w->folders.ptr[i], "no longer registered; not watching it");
			remove_folder(w, i);
		}
	}
	dsync_folder_list_free(list);
	return true;
}

/* SIGHUP: the folder list, each folder's config and ignore rules again. */
static void reload_all(watch *w)
{
	size_t i;

	watch_say(w, DSYNC_LOG_INFO, NULL, "reloading");
	if (w->opts->registered)
		reload_registry(w);
	for (i = 0; i < w->folders.size; i++) {
		wfolder *f = w->folders.ptr[i];

		if (f->state == FOLDER_MISSING)
			rescan_check_missing(f);
		else if (f->state != FOLDER_MISSING && wfolder_start(f) < 0)
			rescan_missing(f, dsync_error_last());
	}
}

static int watch_config_dir(watch *w)
{
	int error;

	if ((error = dsync_path_mkdirs(w->cfgdir)) < 0)
		return error;
	return watcher_add_plain(w->watcher, &w->cfgdir, w->cfgdir);
}

/* ------------------------------------------------------------- the loop */

static int start_folders(watch *w, const char *const *dirs, size_t ndirs)
{
	size_t i;
	int error;

	if (w->opts->registered) {
		if ((error = watch_config_dir(w)) < 0)
			return error;
		if (reload_registry(w) && w->folders.size == 0)
			watch_say(w, DSYNC_LOG_INFO, NULL, "no folders registered yet; waiting for 'dsync init'");
		return 0;
	}
	for (i = 0; i < ndirs; i++) {
		dsync_folder *df = NULL;
		wfolder *f;
		size_t j;

		if ((error = dsync_folder_open(&df, dirs[i])) < 0)
			return error;
		for (j = 0; j < w->folders.size && strcmp(w->folders.ptr[j]->root, dsync_folder_root(df)) != 0; j++)
			;
		error = j < w->folders.size ? 0 : add_folder(w, &f, dsync_folder_root(df));
		dsync_folder_free(df);
		if (error < 0)
			return error;
	}
	for (i = 0; i < w->folders.size; i++) {
		wfolder *f = w->folders.ptr[i];

		if ((error = wfolder_start(f)) < 0)
			return error;
		debounce_snapshot(f);
		if (f->state != FOLDER_MISSING)
			started(f);
	}
	return 0;
}

static int loop(watch *w, int sfd)
{
	int mountfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	DSYNC_ARRAY(struct pollfd) pfds = DSYNC_ARRAY_INIT;
	struct pollfd *p;
	bool stop = false;
	size_t i;
	int error = 0;

	while (!stop) {
		int64_t next = 0, timeout;
		bool missing = false;
		nfds_t np = 2, nw;

		/* the pipes of the waits on relays follow the first three */
		if (dsync_array_reserve(pfds, 3 + waiters_count(w)) < 0) {
			error = dsync_error_oom();
			break;
		}
		p = pfds.ptr;

		w->now = dsync_now_ms();
		for (i = 0; i < w->folders.size; i++) {
			int64_t d = debounce_deadline(w->folders.ptr[i]);

			if (d > 0 && (next == 0 || d < next))
				next = d;
			missing |= w->folders.ptr[i]->state == FOLDER_MISSING;
		}
		timeout = next == 0 ? -1 : next <= w->now ? 0 : next - w->now;
		p[0].fd = sfd;
		p[0].events = POLLIN;
		p[1].fd = watcher_fd(w->watcher);
		p[1].events = POLLIN;
		if (missing && mountfd >= 0) {
			p[2].fd = mountfd;
			p[2].events = POLLPRI;
			np = 3;
		}
		nw = waiters_pollfds(w, p + np);
		for (i = 0; i < np; i++)
			p[i].revents = 0;
		if (poll(p, np + nw, (int)(timeout > INT32_MAX ? INT32_MAX : timeout)) < 0 && errno != EINTR) {
			error = dsync_error_sys(errno, "cannot wait for changes");
			break;
		}
		w->now = dsync_now_ms();
		waiters_read(w, p + np, nw);
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					waiters_reap(w);
					watch_reap_children(w, false);
				} else if (si.ssi_signo == SIGHUP) {
					reload_all(w);
				} else {
					watch_say(w, DSYNC_LOG_INFO, NULL, "stopping (%s)", strsignal((int)si.ssi_signo));
					stop = true;
					if (!w->stop_ms)
						w->stop_ms = w->now;
				}
			}
		}
		if (p[1].revents & POLLIN) {
			if ((error = watcher_read(w->watcher, on_event, w)) < 0)
				break;
			after_events(w);
		}
		if (np == 3 && (p[2].revents & (POLLPRI | POLLERR)))
			for (i = 0; i < w->folders.size; i++)
				if (w->folders.ptr[i]->state == FOLDER_MISSING)
					rescan_soon(w->folders.ptr[i]);
		if (w->registry_changed) {
			w->registry_changed = false;
			reload_registry(w);
		}
		if (stop)
			break;
		for (i = 0; i < w->folders.size; i++)
			debounce_tick(w->folders.ptr[i]);
	}
	dsync_array_dispose(pfds);
	/* what changed since the last snapshot is recorded before leaving */
	w->stopping = true;
	watch_reap_children(w, true);
	waiters_stop_all(w);
	for (i = 0; i < w->folders.size; i++) {
		wfolder *f = w->folders.ptr[i];

		if (f->dirty && f->state != FOLDER_MISSING) {
			w->now = dsync_now_ms();
			f->retry_ms = 0;
			debounce_snapshot(f);
		}
	}
	if (w->stop_cut)
		watch_say(w, DSYNC_LOG_INFO, NULL,
		          "stopped before every changed file was read: those keep their previous version "
		          "until the next start records them");
	if (mountfd >= 0)
		close(mountfd);
	return error;
}

int dsync_watch_run(const char *const *dirs, size_t ndirs, const dsync_watch_options *opts)
{
	dsync_watch_options o = DSYNC_WATCH_OPTIONS_INIT;
	watch w;
	struct sigaction old_term;
	sigset_t set, old;
	int sfd = -1, error;
	size_t i;

	if (opts)
		o = *opts;
	if (o.rescan_ms <= 0)
		o.rescan_ms = DEFAULT_RESCAN_MS;
	memset(&w, 0, sizeof(w));
	memset(&old_term, 0, sizeof(old_term));
	w.opts = &o;
	/* each snapshot's walk starts new threads; without a cap each may get
	 * (and keep) a malloc arena of its own */
	mallopt(M_ARENA_MAX, 2);
	w.now = dsync_now_ms();
	/* before any thread starts (a snapshot's walk), so all inherit it */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	/* a SIGTERM its starter left ignored would never reach the signalfd:
	 * a watcher must always hear it (SIGINT stays as it was: a shell's
	 * background job ignores it on purpose) */
	sigaction(SIGTERM, NULL, &old_term);
	if (old_term.sa_handler == SIG_IGN)
		signal(SIGTERM, SIG_DFL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	w.old_mask = old;
	if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		error = dsync_error_sys(errno, "cannot wait for signals");
		goto out;
	}
	if ((error = dsync_config_dir(&w.cfgdir)) < 0 || (error = watcher_new(&w.watcher)) < 0 ||
	    (error = start_folders(&w, dirs, ndirs)) < 0)
		goto out;
	error = loop(&w, sfd);
out:
	watch_reap_children(&w, true);
	waiters_stop_all(&w);
	for (i = 0; i < w.folders.size; i++) {
		waiters_stop(w.folders.ptr[i]);
		wfolder_free(w.folders.ptr[i]);
	}
	dsync_array_dispose(w.folders);
	free(w.cfgdir);
	watcher_free(w.watcher);
	if (sfd >= 0)
		close(sfd);
	/* ignored again before the mask lifts: one that came late is dropped */
	if (old_term.sa_handler == SIG_IGN)
		sigaction(SIGTERM, &old_term, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return error;
}

