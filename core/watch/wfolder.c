/*
 * A watched folder (see wfolder.h): its start (marker, delays, ignore rules,
 * the watch lock, the watches on its tree) and stop.
 */
#include "core/base/internal.h"
#include "core/watch/wfolder.h"
#include "dsync/mirror.h"
#include "dsync/sync.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"
#include "core/folder/pause.h"

#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define MAX_DELAY_LIMIT_MS (24 * 3600 * 1000)
#define DEFAULT_SYNC_MS 60000    /* a folder with remotes syncs this often (sync.interval) */

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

void wfolder_warn(const char *message, void *payload)
{
	wfolder *f = payload;

	watch_say(f->w, DSYNC_LOG_WARNING, f, "%s", message);
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
	if (f->config_watched)
		watcher_remove(f->w->watcher, &f->config_tag);
	f->refs_watched = f->parent_watched = f->config_watched = false;
}

void wfolder_stop(wfolder *f)
{
	f->gen++; /* its waiting children go (waiters_tick) */
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
	if (f->w && f->w->sync_of == f)
		f->w->sync_of = NULL;
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
	f->notify = true;
	wfolder_read_mirrors(f, df);
	if (dsync_folder_repo(df) == 0 && git_repository_config_snapshot(&cfg, df->repo) == 0) {
		int on;

		if (git_config_get_bool(&on, cfg, "watch.notify") == 0)
			f->notify = on != 0;
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

void wfolder_read_mirrors(wfolder *f, dsync_folder *df)
{
	f->mirrors = dsync_folder_has_mirrors(df);
	f->mirror_interval_ms = f->mirrors ? dsync_mirror_interval_ms(df) : 0;
	if (f->mirrors && f->mirror_interval_ms < 1000)
		f->mirror_interval_ms = 1000;
	if (!f->mirrors)
		f->mirror_ms = 0;
}

static void watch_config(wfolder *f)
{
	dsync_buf dir = DSYNC_BUF_INIT;

	if (dsync_buf_printf(&dir, "%s/" DSYNC_DIR, f->root) == 0 &&
	    watcher_add_plain(f->w->watcher, &f->config_tag, dir.ptr) == 0)
		f->config_watched = true;
	else
		dsync_error_clear(); /* mirrors then change at the next snapshot that records something */
	dsync_buf_dispose(&dir);
}

void wfolder_config_changed(wfolder *f)
{
	dsync_folder *df = NULL;
	bool had = f->mirrors;

	f->config_changed = false;
	if (dsync_folder_open(&df, f->root) < 0) {
		dsync_error_clear();
		return;
	}
	wfolder_read_mirrors(f, df);
	if (f->mirrors && !had) {
		/* a new mirror: its first round now */
		watch_say(f->w, DSYNC_LOG_INFO, f, "mirrors: rounds every %d s", f->mirror_interval_ms / 1000);
		f->mirror_ms = f->w->now;
		f->mirror_soon = true;
	} else if (f->mirrors && f->mirror_ms > f->w->now + f->mirror_interval_ms) {
		f->mirror_ms = f->w->now + f->mirror_interval_ms;   /* a shorter interval */
	}
	dsync_folder_free(df);
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
	int fd = -1, error, tries = 0;
	bool locked;

	if ((error = dsync_buf_printf(&path, "%s/watch", f->w->cfgdir)) < 0 ||
	    (error = dsync_path_mkdirs(path.ptr)) < 0)
		goto out;
	dsync_buf_truncate(&path, 0);
	if ((error = dsync_pause_lock_path(&path, f->w->cfgdir, f->id)) < 0)
		goto out;
	if ((error = dsync_file_open(&fd, path.ptr, DSYNC_FILE_CREATE | DSYNC_FILE_NOFOLLOW, NULL)) < 0)
		goto out;
	/* a reader (dsync status: dsync_watch_state_read) holds it shared for
	 * a moment: a few tries before another watcher is assumed */
	while (!(locked = flock(fd, LOCK_EX | LOCK_NB) == 0) && errno == EWOULDBLOCK && ++tries < 10)
		usleep(20 * 1000);
	if (!locked) {
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

int wfolder_hold_lock(wfolder *f)
{
	return f->lock_fd >= 0 || !*f->id ? 0 : take_watch_lock(f);
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
	/* a mirror added or changed while watching ('dsync mirror add'
	 * promises a round within its interval) is heard of at once */
	watch_config(f);
	f->unwatched = missed;
	f->limit = missed > 0;
	f->state = FOLDER_ACTIVE;
	f->retry_ms = f->missing_ms = 0;
	/* a pause of an earlier watcher is not this one's: its first snapshot
	 * finds out again; the user's pause holds */
	dsync_pause_watcher_clear(f->root);
	f->user_paused = dsync_pause_user_on(f->root);
	f->pause_check_ms = f->config_watched ? 0 : f->w->now + PAUSE_CHECK_MS;
	wfolder_mark_due(f, f->w->now);
	f->gen++; /* its relays are waited on (waiters_tick) */
out:
	if (error < 0)
		wfolder_stop(f);
	dsync_folder_free(df);
	return error;
}
