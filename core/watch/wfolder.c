/*
 * A watched folder (see wfolder.h): a snapshot is taken once it has been
 * quiet for the delay and no file is being written, and at the latest the
 * maximum delay after the first change; files still being written then keep
 * their previous version.  A snapshot that would record the loss of most
 * files pauses the folder.
 */
#include "core/base/internal.h"
#include "core/watch/wfolder.h"
#include "dsync/snapshot.h"
#include "dsync/sync.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"
#include "core/watch/jobs.h"
#include "core/watch/rescan.h"

#include <malloc.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define MAX_DELAY_LIMIT_MS (24 * 3600 * 1000)
#define ERROR_RETRY_MS 30000     /* a failed snapshot (disk full, ...) */
#define DEFAULT_SYNC_MS 60000    /* a folder with remotes syncs this often (sync.interval) */
#define STOP_READ_MS 300         /* after SIGTERM, files are read this long; the rest
				    keep their previous version until the next start */

int64_t watch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void watch_say(const watch *w, dsync_log_level level, const wfolder *f, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void watch_say(const watch *w, dsync_log_level level, const wfolder *f, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!w->opts->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->opts->log(level, f ? f->root : NULL, msg, w->opts->payload);
}

/* Whether SIGTERM or SIGINT waits on the signalfd, unread. */
void wfolder_warn(const char *message, void *payload)
{
	wfolder *f = payload;

	watch_say(f->w, DSYNC_LOG_WARNING, f, "%s", message);
}

/* Whether SIGTERM or SIGINT waits on the signalfd, unread. */
static bool stop_pending(void)
{
	sigset_t set;

	return sigpending(&set) == 0 && (sigismember(&set, SIGTERM) == 1 || sigismember(&set, SIGINT) == 1);
}

/*
 * Asked by the snapshot before it reads each changed file: true keeps the
 * file's previous version.  So are files still being written; and, once a
 * stop has been asked for STOP_READ_MS, every file not read yet, so a long
 * snapshot (a first one, a big copy) never holds a stop for long: what it
 * read is recorded, the rest at the next start.
 */
static bool keep_cb(const char *path, void *payload)
{
	wfolder *f = payload;
	watch *w = f->w;

	if (!w->stop_ms && stop_pending())
		w->stop_ms = watch_now_ms();
	if (w->stop_ms && watch_now_ms() - w->stop_ms >= STOP_READ_MS) {
		w->stop_cut = true;
		return true;
	}
	return writers_has(&f->writers, path);
}


static bool skip_cb(void *tag, const char *path)
{
	wfolder *f = tag;

	return f->ign && dsync_ignore_match_walked(f->ign, path, 1) == 1;
}

void wfolder_mark_dirty(wfolder *f, int64_t now)
{
	if (!f->dirty) {
		f->dirty = true;
		f->first_ms = now;
	}
	f->last_ms = now;
}

/* Dirty, due at once. */
void wfolder_mark_due(wfolder *f, int64_t now)
{
	f->dirty = true;
	f->first_ms = f->last_ms = now - (f->max_delay_ms > f->delay_ms ? f->max_delay_ms : f->delay_ms);
}

static void unwatch_plain(wfolder *f)
{
	if (f->refs_watched)
		watcher_remove(f->w->watcher, &f->refs_tag);
	if (f->parent_watched)
		watcher_remove(f->w->watcher, &f->parent_tag);
	f->refs_watched = f->parent_watched = false;
}

void wfolder_stop(wfolder *f)
{
	if (f->watched)
		watcher_remove(f->w->watcher, f);
	f->watched = false;
	unwatch_plain(f);
	if (f->lock_fd >= 0)
		close(f->lock_fd);
	f->lock_fd = -1;
	dsync_ignore_free(f->ign);
	f->ign = NULL;
	writers_clear(&f->writers);
}

void wfolder_free(wfolder *f)
{
	if (!f)
		return;
	wfolder_stop(f);
	free(f->root);
	free(f);
}

bool dsync_parse_seconds(const char *s, int *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !(v >= 0) || v * 1000 > MAX_DELAY_LIMIT_MS)
		return false;
	if (*end == 's')
		end++;
	if (*end)
		return false;
	*ms = (int)(v * 1000 + 0.5);
	return true;
}

/* The delays: flags first, then the folder's config, then the defaults. */
static void read_delays(wfolder *f, dsync_folder *df)
{
	const dsync_watch_options *o = f->w->opts;
	git_config *cfg = NULL;
	const char *v;

	f->delay_ms = DEFAULT_DELAY_MS;
	f->max_delay_ms = DEFAULT_MAX_DELAY_MS;
	f->sync_interval_ms = DEFAULT_SYNC_MS;
	f->remotes = dsync_folder_has_remotes(df);
	if (dsync_folder_repo(df) == 0 && git_repository_config_snapshot(&cfg, df->repo) == 0) {
		if (git_config_get_string(&v, cfg, "sync.interval") == 0 &&
		    (!dsync_parse_seconds(v, &f->sync_interval_ms) || f->sync_interval_ms < 1000)) {
			watch_say(f->w, DSYNC_LOG_WARNING, f, "sync.interval '%s' is not a number of seconds (1 or more); using 60", v);
			f->sync_interval_ms = DEFAULT_SYNC_MS;
		}
		git_config_free(cfg);
		cfg = NULL;
	}
	if ((o->delay_ms < 0 || o->max_delay_ms < 0) && dsync_folder_repo(df) == 0 &&
	    git_repository_config_snapshot(&cfg, df->repo) == 0) {
		if (git_config_get_string(&v, cfg, "watch.delay") == 0 && !dsync_parse_seconds(v, &f->delay_ms))
			watch_say(f->w, DSYNC_LOG_WARNING, f, "watch.delay '%s' is not a number of seconds; using 1", v);
		if (git_config_get_string(&v, cfg, "watch.maxDelay") == 0 &&
		    !dsync_parse_seconds(v, &f->max_delay_ms))
			watch_say(f->w, DSYNC_LOG_WARNING, f, "watch.maxDelay '%s' is not a number of seconds; using 30", v);
		git_config_free(cfg);
	}
	if (o->delay_ms >= 0)
		f->delay_ms = o->delay_ms;
	if (o->max_delay_ms >= 0)
		f->max_delay_ms = o->max_delay_ms;
	if (f->max_delay_ms < f->delay_ms)
		f->max_delay_ms = f->delay_ms;
}

/*
 * One watcher per folder: a lock in the per-user config directory, named
 * after the folder id.  Not in .dsync/: an open file there would keep the
 * user from unmounting the drive the folder is on.
 */
static int take_watch_lock(wfolder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char pid[32];
	int fd = -1, error;

	if ((error = dsync_buf_printf(&path, "%s/watch", f->w->cfgdir)) < 0 ||
	    (error = dsync_path_mkdirs(path.ptr)) < 0 ||
	    (error = dsync_buf_printf(&path, "/%s.lock", f->id)) < 0)
		goto out;
	if ((error = dsync_file_open(&fd, path.ptr, DSYNC_FILE_CREATE | DSYNC_FILE_NOFOLLOW, NULL)) < 0)
		goto out;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);

		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		error = dsync_error_set(DSYNC_ELOCKED, "'%s' is already watched by another dsync (pid %s)",
					f->root, *pid ? pid : "unknown");
		close(fd);
		goto out;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
		/* the lock holds all the same; the pid is for messages only */
	}
	f->lock_fd = fd;
	error = 0;
out:
	dsync_buf_dispose(&path);
	return error;
}

/*
 * Starts watching F: opens it, reads its marker, delays and ignore rules,
 * takes the watch lock and puts watches on its tree; then it is due for a
 * snapshot (changes made while nothing watched).
 */
int wfolder_start(wfolder *f)
{
	dsync_folder *df = NULL;
	size_t missed = 0;
	int error;

	wfolder_stop(f);
	if ((error = dsync_folder_open(&df, f->root)) < 0)
		goto out;
	if (strcmp(dsync_folder_root(df), f->root) != 0) {
		error = dsync_error_set(DSYNC_ENOTFOLDER, "'%s' is not a dsync folder (it lies inside '%s')",
					f->root, dsync_folder_root(df));
		goto out;
	}
	if ((error = dsync_folder_marker(f->id, df)) < 0 ||
	    (error = dsync_folder_load_ignore(&f->ign, df)) < 0 ||
	    (error = take_watch_lock(f)) < 0)
		goto out;
	read_delays(f, df);
	if ((error = watcher_add_tree(f->w->watcher, f, f->root, skip_cb, &missed)) < 0)
		goto out;
	f->watched = true;
	f->unwatched = missed;
	f->limit = missed > 0;
	f->state = FOLDER_ACTIVE;
	f->retry_ms = f->missing_ms = 0;
	wfolder_mark_due(f, f->w->now);
out:
	if (error < 0)
		wfolder_stop(f);
	dsync_folder_free(df);
	return error;
}

static void pause_for_mass_delete(wfolder *f, const dsync_snapshot_result *r)
{
	dsync_buf refs = DSYNC_BUF_INIT;

	/* most of them still on disk: the ignore rules leave them out now */
	bool rules = r->left_out > r->deleted / 2;

	if (f->state == FOLDER_PAUSED && f->paused_by_rules == rules) {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "still paused: %zu of %zu files gone", r->deleted, r->files);
		return;
	}
	f->state = FOLDER_PAUSED;
	f->paused_by_rules = rules;
	if (rules)
		watch_say(f->w, DSYNC_LOG_WARNING, f,
		          "paused: the ignore rules changed and would drop %zu of %zu files from the snapshots "
		          "(they are still on disk); nothing recorded; recording resumes when '.dsyncignore' "
		          "no longer leaves them out, or run 'dsync snapshot --allow-mass-delete' in the folder "
		          "if you meant it", r->left_out, r->files);
	else
		watch_say(f->w, DSYNC_LOG_WARNING, f,
		          "paused: %zu of %zu files vanished at once (an unmounted drive?); nothing recorded; "
		          "recording resumes when they return, or run 'dsync snapshot --allow-mass-delete' "
		          "in the folder if you deleted them", r->deleted, r->files);
	if (f->refs_watched)
		return;
	/* the user's confirming snapshot moves the ref: look again then */
	if (dsync_buf_printf(&refs, "%s/" DSYNC_DIR "/refs/heads", f->root) == 0 &&
	    watcher_add_plain(f->w->watcher, &f->refs_tag, refs.ptr) == 0)
		f->refs_watched = true;
	dsync_buf_dispose(&refs);
}

void wfolder_snapshot(wfolder *f)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result r;
	dsync_folder *df = NULL;
	int error;

	if (!dsync_folder_present(f->root, f->id)) {
		rescan_missing(f, "its history (" DSYNC_DIR ") is gone");
		return;
	}
	f->dirty = false;
	f->retry_ms = 0;
	writers_prune(&f->writers, f->w->now - f->max_delay_ms);
	so.lock_wait_ms = LOCK_WAIT_MS;
	so.warn = wfolder_warn;
	so.keep = keep_cb;
	so.payload = f;
	if ((error = dsync_folder_open(&df, f->root)) == 0)
		error = dsync_snapshot_take(&r, df, &so);
	f->w->now = watch_now_ms();
	if (error == DSYNC_ELOCKED) {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "%s; trying again", dsync_error_last());
		wfolder_mark_dirty(f, f->w->now);
		f->retry_ms = f->w->now + LOCK_RETRY_MS;
	} else if (error == DSYNC_EMASSDELETE) {
		pause_for_mass_delete(f, &r);
	} else if (error < 0) {
		watch_say(f->w, DSYNC_LOG_ERROR, f, "snapshot failed: %s; trying again in %d s", dsync_error_last(),
		          ERROR_RETRY_MS / 1000);
		wfolder_mark_dirty(f, f->w->now);
		f->retry_ms = f->w->now + ERROR_RETRY_MS;
	} else {
		if (f->state == FOLDER_PAUSED) {
			watch_say(f->w, DSYNC_LOG_INFO, f, "resumed: the folder's files are recorded again");
			f->state = FOLDER_ACTIVE;
			if (f->refs_watched)
				watcher_remove(f->w->watcher, &f->refs_tag);
			f->refs_watched = false;
		}
		/* a recorded change goes to the remotes now; the first
		 * snapshot also fetches what came meanwhile */
		/* a remote added while watching counts from its first
		 * snapshot (the history is open then anyway) */
		if (r.committed)
			f->remotes = dsync_folder_has_remotes(df);
		if (f->remotes && (r.committed || f->sync_ms == 0))
			f->sync_ms = f->w->now;
		if (r.committed) {
			watch_say(f->w, DSYNC_LOG_INFO, f, "snapshot %.8s: %zu added, %zu modified, %zu deleted, %zu renamed%s",
			          r.commit, r.added, r.modified, r.deleted, r.renamed,
			          !r.busy ? ""
			          : f->w->stop_cut ? " (stopping: files not read yet keep their previous version)"
			          : " (files still being written keep their previous version)");
			watch_gc_check(f, df);
		} else {
			watch_say(f->w, DSYNC_LOG_DEBUG, f, "no change to record%s",
			          r.busy ? " (files still being written)" : "");
		}
		if (r.busy)
			wfolder_mark_dirty(f, f->w->now);
	}
	dsync_folder_free(df);
	/* a snapshot of a large folder needs tens of MB for a moment; a
	 * daemon that lives for weeks gives them back */
	malloc_trim(0);
}

/* When F next needs attention (0: not until an event). */
int64_t wfolder_deadline(wfolder *f)
{
	int64_t d = 0;

#define EARLIER(t) do { if ((t) > 0 && (d == 0 || (t) < d)) d = (t); } while (0)
	if (f->state == FOLDER_MISSING) {
		EARLIER(f->missing_ms);
		return d;
	}
	if (f->dirty && f->retry_ms == 0) {
		int64_t oldest = writers_prune(&f->writers, f->w->now - f->max_delay_ms);

		EARLIER(f->first_ms + f->max_delay_ms);
		if (f->writers.n == 0)
			EARLIER(f->last_ms + f->delay_ms);
		else
			EARLIER(oldest + f->max_delay_ms + 1); /* when it is pruned */
	}
	EARLIER(f->retry_ms);
	EARLIER(f->rescan_ms);
	if (!f->dirty) {
		EARLIER(f->gc_ms);
		EARLIER(f->sync_ms);
	}
#undef EARLIER
	return d;
}

/* Does what is due for F at W->now. */
void wfolder_tick(wfolder *f)
{
	int64_t now = f->w->now;

	if (f->state == FOLDER_MISSING) {
		if (f->missing_ms && now >= f->missing_ms)
			rescan_check_missing(f);
		return;
	}
	if (f->rescan_ms && now >= f->rescan_ms) {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "rescanning (%zu folders unwatched)", f->unwatched);
		rescan_refresh(f);
		if (f->state == FOLDER_MISSING)
			return;
		wfolder_mark_due(f, now);
	}
	if (!f->dirty) {
		if (f->sync_ms && now >= f->sync_ms)
			watch_sync_start(f);
		else if (f->gc_ms && now >= f->gc_ms)
			watch_gc_start(f);
		return;
	}
	if (f->retry_ms) {
		if (now >= f->retry_ms)
			wfolder_snapshot(f);
		return;
	}
	if (now >= f->first_ms + f->max_delay_ms ||
	    (now >= f->last_ms + f->delay_ms && (writers_prune(&f->writers, now - f->max_delay_ms), f->writers.n == 0)))
		wfolder_snapshot(f);
}

