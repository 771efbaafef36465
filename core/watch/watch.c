/*
 * watch: the loop behind `dsync watch` and `dsync daemon` (see dsync/watch.h).
 *
 * One thread, one poll(): the watcher's descriptor, a signalfd for
 * SIGTERM/SIGINT/SIGHUP and, while a folder is missing, the mount table.
 * The poll's timeout is the nearest deadline of any folder (its debounce, a
 * retry, a rescan while it cannot be watched whole); with nothing pending it
 * waits for ever, so an idle daemon costs nothing.
 *
 * Per folder: events mark it dirty; a snapshot is taken once it has been
 * quiet for the delay and no file is being written (a file is "being
 * written" from its first write until it is closed, or until nothing has
 * been written to it for the maximum delay), and at the latest the maximum
 * delay after the first change; files still being written then keep their
 * previous version.  A snapshot that would record the loss of most files
 * pauses the folder; a folder whose root or marker went is "missing" until
 * it comes back.
 */
#include "core/base/internal.h"
#include "dsync/watch.h"
#include "dsync/gc.h"
#include "dsync/snapshot.h"
#include "dsync/sync.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"
#include "core/folder/folder.h"
#include "core/watch/watcher.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <search.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DELAY_MS 1000
#define DEFAULT_MAX_DELAY_MS 30000
#define DEFAULT_RESCAN_MS 60000
#define MAX_DELAY_LIMIT_MS (24 * 3600 * 1000)
#define MISSING_CHECK_MS 60000   /* a missing folder looked for again */
#define LOCK_WAIT_MS 200         /* another dsync holds the folder ... */
#define LOCK_RETRY_MS 1000       /* ... so try again after this */
#define ERROR_RETRY_MS 30000     /* a failed snapshot (disk full, ...) */
#define GC_QUIET_MS 30000        /* gc once no snapshot came for this long */
#define GC_LATEST_MS 600000      /* or at the latest this long after it is due */
#define DEFAULT_SYNC_MS 60000    /* a folder with remotes syncs this often (sync.interval) */
#define CHILD_TERM_MS 300        /* a child asked to end gets this long before SIGKILL */
#define STOP_READ_MS 300         /* after SIGTERM, files are read this long; the rest
				    keep their previous version until the next start */

typedef enum fstate {
	FOLDER_ACTIVE,
	FOLDER_PAUSED,   /* a snapshot would record a mass deletion */
	FOLDER_MISSING   /* the root or its marker went (a missing mount) */
} fstate;

typedef struct writer {
	char *path;
	int64_t last_ms;  /* its last write */
} writer;

typedef struct wfolder {
	struct watch *w;
	char *root;
	char id[33];         /* folder id, from the marker ("" unknown yet) */
	fstate state;
	bool paused_by_rules; /* FOLDER_PAUSED: by the ignore rules, not a loss */
	bool watched;        /* its tree is in the watcher */
	bool listed;         /* still registered (while reloading) */
	int lock_fd;         /* holds its watch lock (take_watch_lock); -1 none */
	dsync_ignore *ign;
	int delay_ms, max_delay_ms;
	bool dirty;
	int64_t first_ms, last_ms;  /* first and last change not yet recorded */
	int64_t retry_ms;    /* > 0: snapshot again at this time */
	int64_t rescan_ms;   /* > 0: rescan at this time (unwatched folders) */
	int64_t missing_ms;  /* > 0: look for a missing folder at this time */
	size_t unwatched;    /* folders below it without a watch */
	void *writers;       /* tsearch tree of writer *, by path */
	size_t nwriters;
	bool gone, limit, ignore_changed;  /* from events, handled after them */
	bool limit_warned;   /* told the user that watches ran out */
	int64_t gc_ms;       /* > 0: pack the store at this time ... */
	int64_t gc_due_ms;   /* ... which has been due since then */
	bool remotes;        /* it has remotes: sync after snapshots and on a timer */
	int sync_interval_ms;
	int64_t sync_ms;     /* > 0: a sync round at this time */
	char refs_tag, parent_tag;  /* tags for its plain watches */
	bool refs_watched, parent_watched;
} wfolder;

typedef struct watch {
	const dsync_watch_options *opts;
	watcher *watcher;
	wfolder **v;
	size_t n, cap;
	char *cfgdir;
	bool registry_changed, overflow;
	int64_t now;
	bool stopping;       /* SIGTERM or SIGINT came */
	int64_t stop_ms;     /* > 0: when it came (seen pending during a snapshot) */
	bool stop_cut;       /* a snapshot left files unread for the stop */
	pid_t gc_pid;        /* > 0: a gc runs in this child process */
	pid_t sync_pid;      /* > 0: a sync round runs in this child process */
	sigset_t old_mask;   /* the caller's signal mask (for the child) */
} watch;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(const watch *w, dsync_log_level level, const wfolder *f, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void say(const watch *w, dsync_log_level level, const wfolder *f, const char *fmt, ...)
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

/* ------------------------------------------------------------- writers */

static int cmp_writer(const void *a, const void *b)
{
	return strcmp(((const writer *)a)->path, ((const writer *)b)->path);
}

static void free_writer(void *p)
{
	writer *wr = p;

	free(wr->path);
	free(wr);
}

static void writer_seen(wfolder *f, const char *path, int64_t now)
{
	writer key = { (char *)path, 0 }, *wr;
	void **hit = tfind(&key, &f->writers, cmp_writer);

	if (hit) {
		(*(writer **)hit)->last_ms = now;
		return;
	}
	if ((wr = calloc(1, sizeof(*wr))) == NULL || (wr->path = strdup(path)) == NULL) {
		free(wr);
		return; /* untracked: at worst a file is read while written, and
			   the snapshot's own check keeps its previous version */
	}
	wr->last_ms = now;
	if (!tsearch(wr, &f->writers, cmp_writer)) {
		free_writer(wr);
		return;
	}
	f->nwriters++;
}

static void writer_done(wfolder *f, const char *path)
{
	writer key = { (char *)path, 0 }, *wr;
	void **hit = tfind(&key, &f->writers, cmp_writer);

	if (!hit)
		return;
	wr = *(writer **)hit;
	tdelete(wr, &f->writers, cmp_writer);
	free_writer(wr);
	f->nwriters--;
}

static void writers_clear(wfolder *f)
{
	tdestroy(f->writers, free_writer);
	f->writers = NULL;
	f->nwriters = 0;
}

typedef struct stale_ctx {
	int64_t before;      /* writes older than this are over */
	writer **v;
	size_t n, cap;
	int64_t oldest;      /* the oldest write still counted */
} stale_ctx;

static void stale_cb(const void *nodep, VISIT which, void *payload)
{
	writer *wr = *(writer *const *)nodep;
	stale_ctx *c = payload;

	if (which != postorder && which != leaf)
		return;
	if (wr->last_ms >= c->before) {
		if (!c->oldest || wr->last_ms < c->oldest)
			c->oldest = wr->last_ms;
		return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		writer **v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = wr;
}

/*
 * Forgets the writers that wrote nothing for the maximum delay (a truncate
 * with no open, a program that keeps a file open for days); returns the time
 * of the oldest write still counted (0: none).
 */
static int64_t writers_prune(wfolder *f, int64_t now)
{
	stale_ctx c = { now - f->max_delay_ms, NULL, 0, 0, 0 };
	size_t i;

	twalk_r(f->writers, stale_cb, &c);
	for (i = 0; i < c.n; i++) {
		tdelete(c.v[i], &f->writers, cmp_writer);
		free_writer(c.v[i]);
		f->nwriters--;
	}
	free(c.v);
	return c.oldest;
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
	writer key = { (char *)path, 0 };

	if (!w->stop_ms && stop_pending())
		w->stop_ms = now_ms();
	if (w->stop_ms && now_ms() - w->stop_ms >= STOP_READ_MS) {
		w->stop_cut = true;
		return true;
	}
	return f->nwriters && tfind(&key, &f->writers, cmp_writer) != NULL;
}

/* ------------------------------------------------------------- folders */

static bool skip_cb(void *tag, const char *path)
{
	wfolder *f = tag;

	return f->ign && dsync_ignore_match_walked(f->ign, path, 1) == 1;
}

static void mark_dirty(wfolder *f, int64_t now)
{
	if (!f->dirty) {
		f->dirty = true;
		f->first_ms = now;
	}
	f->last_ms = now;
}

/* Dirty, due at once. */
static void mark_due(wfolder *f, int64_t now)
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

static void folder_stop(wfolder *f)
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
	writers_clear(f);
}

static void folder_free(wfolder *f)
{
	if (!f)
		return;
	folder_stop(f);
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
			say(f->w, DSYNC_LOG_WARNING, f, "sync.interval '%s' is not a number of seconds (1 or more); using 60", v);
			f->sync_interval_ms = DEFAULT_SYNC_MS;
		}
		git_config_free(cfg);
		cfg = NULL;
	}
	if ((o->delay_ms < 0 || o->max_delay_ms < 0) && dsync_folder_repo(df) == 0 &&
	    git_repository_config_snapshot(&cfg, df->repo) == 0) {
		if (git_config_get_string(&v, cfg, "watch.delay") == 0 && !dsync_parse_seconds(v, &f->delay_ms))
			say(f->w, DSYNC_LOG_WARNING, f, "watch.delay '%s' is not a number of seconds; using 1", v);
		if (git_config_get_string(&v, cfg, "watch.maxDelay") == 0 &&
		    !dsync_parse_seconds(v, &f->max_delay_ms))
			say(f->w, DSYNC_LOG_WARNING, f, "watch.maxDelay '%s' is not a number of seconds; using 30", v);
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
static int folder_start(wfolder *f)
{
	dsync_folder *df = NULL;
	size_t missed = 0;
	int error;

	folder_stop(f);
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
	mark_due(f, f->w->now);
out:
	if (error < 0)
		folder_stop(f);
	dsync_folder_free(df);
	return error;
}

/*
 * Watches the nearest existing folder on the way to a missing folder's
 * marker (its .dsync, its root, a parent) for entries appearing; a mount
 * shows only in the mount table, which the loop polls meanwhile.
 */
static void watch_parent(wfolder *f)
{
	dsync_buf dir = DSYNC_BUF_INIT;
	struct stat st;

	if (f->parent_watched)
		watcher_remove(f->w->watcher, &f->parent_tag);
	f->parent_watched = false;
	if (dsync_buf_printf(&dir, "%s/" DSYNC_DIR, f->root) < 0)
		return;
	for (;;) {
		char *slash;

		if (stat(dir.ptr, &st) == 0 && S_ISDIR(st.st_mode)) {
			f->parent_watched = watcher_add_plain(f->w->watcher, &f->parent_tag, dir.ptr) == 0;
			break;
		}
		if (dir.len == 1 || (slash = strrchr(dir.ptr, '/')) == NULL)
			break;
		dsync_buf_truncate(&dir, slash == dir.ptr ? 1 : (size_t)(slash - dir.ptr));
	}
	dsync_buf_dispose(&dir);
}

/* Something moved on the way to a missing folder: look once it settles (a
 * folder being copied back is not back until the copy is done). */
static void missing_soon(wfolder *f)
{
	f->missing_ms = f->w->now + f->delay_ms;
}

static void go_missing(wfolder *f, const char *why)
{
	/* its marker still there: not a drive that went, something in the
	 * folder that cannot be read (a FIFO as .dsyncignore, say) */
	bool there = *f->id && dsync_folder_present(f->root, f->id);

	folder_stop(f);
	if (f->state != FOLDER_MISSING && there)
		say(f->w, DSYNC_LOG_WARNING, f,
		    "paused: %s; nothing is recorded until that is fixed (looked at again every minute)", why);
	else if (f->state != FOLDER_MISSING)
		say(f->w, DSYNC_LOG_WARNING, f,
		    "paused: %s (an unmounted drive?); nothing is recorded until it returns", why);
	f->state = FOLDER_MISSING;
	f->dirty = false;
	watch_parent(f);
	f->missing_ms = f->w->now + MISSING_CHECK_MS;
}

/* A missing folder: back? */
static void check_missing(wfolder *f)
{
	struct stat st;
	bool back;

	back = *f->id ? dsync_folder_present(f->root, f->id) : stat(f->root, &st) == 0;
	if (back && folder_start(f) == 0) {
		say(f->w, DSYNC_LOG_INFO, f, "resumed: the folder is back");
		return;
	}
	watch_parent(f);
	f->missing_ms = f->w->now + MISSING_CHECK_MS;
}

static void warn_limit(wfolder *f)
{
	f->limit = false;
	if (!f->rescan_ms)
		f->rescan_ms = f->w->now + f->w->opts->rescan_ms;
	if (f->limit_warned) {
		say(f->w, DSYNC_LOG_DEBUG, f, "out of inotify watches: %zu folders unwatched", f->unwatched);
		return;
	}
	f->limit_warned = true;
	say(f->w, DSYNC_LOG_WARNING, f,
	    "out of inotify watches: %zu folder%s in it (and what lies below) cannot be watched; "
	    "rescanning it every %g s instead (raise the limit: sysctl fs.inotify.max_user_watches=524288)",
	    f->unwatched, f->unwatched == 1 ? "" : "s", f->w->opts->rescan_ms / 1000.0);
}

/* Adds the watches missing from F's tree; schedules rescans while some stay
 * missing. */
static void refresh(wfolder *f)
{
	size_t missed = 0;
	int error;

	if (!f->watched)
		return;
	if ((error = watcher_refresh_tree(f->w->watcher, f, &missed)) < 0) {
		go_missing(f, dsync_error_last());
		return;
	}
	if (missed && !f->unwatched)
		f->limit = true;
	if (!missed && f->limit_warned) {
		say(f->w, DSYNC_LOG_INFO, f, "every folder in it is watched again");
		f->limit_warned = false;
	}
	f->unwatched = missed;
	f->rescan_ms = missed ? f->w->now + f->w->opts->rescan_ms : 0;
}

/* ------------------------------------------------------------- the store */

/*
 * After a snapshot that recorded something: when loose objects pile up
 * (dsync_gc_due), schedules a gc for when the folder has had no snapshot for
 * a while, so it never delays a save while the user works (and at the
 * latest GC_LATEST_MS after it became due).
 */
static void check_gc(wfolder *f, const dsync_folder *df)
{
	int64_t now = f->w->now;

	if (!dsync_gc_due(df))
		return;
	if (!f->gc_due_ms) {
		f->gc_due_ms = now;
		say(f->w, DSYNC_LOG_DEBUG, f, "gc due: loose objects piled up");
	}
	f->gc_ms = now + GC_QUIET_MS;
	if (f->gc_ms > f->gc_due_ms + GC_LATEST_MS)
		f->gc_ms = f->gc_due_ms + GC_LATEST_MS;
}

/*
 * Packs F's store in a child process, so that the loop goes on watching and
 * answering signals while thousands of loose objects are packed and removed
 * (a slow disk, a USB stick).  Snapshots of this folder wait for its lock
 * meanwhile (gc holds it only while it packs); killed half-way, gc loses
 * nothing (dsync/gc.h).
 */
static void start_gc(wfolder *f)
{
	pid_t pid;

	if (f->w->stopping)
		return;
	if (f->w->gc_pid > 0 || f->w->sync_pid > 0) {
		f->gc_ms = f->w->now + LOCK_RETRY_MS; /* one at a time */
		return;
	}
	f->gc_ms = f->gc_due_ms = 0;
	if ((pid = fork()) < 0) {
		say(f->w, DSYNC_LOG_WARNING, f, "gc: cannot start: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		dsync_gc_result r;
		dsync_folder *df = NULL;
		int error;

		pthread_sigmask(SIG_SETMASK, &f->w->old_mask, NULL);
		if ((error = dsync_folder_open(&df, f->root)) == 0)
			error = dsync_gc(&r, df, LOCK_WAIT_MS);
		if (error < 0)
			say(f->w, DSYNC_LOG_WARNING, f, "gc: %s", dsync_error_last());
		else
			say(f->w, DSYNC_LOG_INFO, f, "gc: packed %zu objects; history takes %.1f MB (was %.1f MB)",
			    r.objects, (double)r.bytes_after / 1e6, (double)r.bytes_before / 1e6);
		_exit(error < 0 ? 1 : 0);
	}
	f->w->gc_pid = pid;
}

/* Waits up to MS for the child PID to end; whether it did (and was reaped). */
static bool reaped_within(pid_t pid, int ms)
{
	int status, waited;

	for (waited = 0;; waited += 10) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid || (got < 0 && errno == ECHILD))
			return true;
		if (waited >= ms)
			return false;
		usleep(10 * 1000);
	}
}

/*
 * The child *PID (a gc or a sync round) ended, or is made to end (WAIT):
 * reaps it.  Made to end, it gets SIGTERM, then SIGKILL if it is still there
 * after CHILD_TERM_MS (both lose nothing: dsync/gc.h, docs/sync.md), so a
 * stop never waits long for a child; one the kernel holds even then (a dead
 * network mount) is left to init.
 */
static void reap(pid_t *pid, bool wait)
{
	int status;

	if (*pid <= 0)
		return;
	if (wait) {
		kill(*pid, SIGTERM);
		if (!reaped_within(*pid, CHILD_TERM_MS)) {
			kill(*pid, SIGKILL);
			reaped_within(*pid, CHILD_TERM_MS);
		}
		*pid = 0;
		return;
	}
	if (waitpid(*pid, &status, WNOHANG) != *pid)
		return;
	*pid = 0;
}

/* Both children (WAIT: made to end first). */
static void reap_children(watch *w, bool wait)
{
	reap(&w->gc_pid, wait);
	reap(&w->sync_pid, wait);
}

/* ------------------------------------------------------------- sync */

static void warn_cb(const char *message, void *payload)
{
	wfolder *f = payload;

	say(f->w, DSYNC_LOG_WARNING, f, "%s", message);
}


/*
 * Runs a sync round with every remote of F (DESIGN.md section 5) in a child
 * process, so that the loop goes on watching while packs travel.  It uses
 * the key kept for each store (a first 'dsync sync' in a terminal keeps it);
 * the next round comes after the folder's sync.interval, or after the next
 * snapshot that records something.
 */
static void start_sync(wfolder *f)
{
	pid_t pid;

	if (f->w->stopping)
		return;
	if (f->w->sync_pid > 0 || f->w->gc_pid > 0) {
		f->sync_ms = f->w->now + LOCK_RETRY_MS; /* one child at a time */
		return;
	}
	f->sync_ms = f->w->now + f->sync_interval_ms;
	if ((pid = fork()) < 0) {
		say(f->w, DSYNC_LOG_WARNING, f, "sync: cannot start: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
		dsync_sync_result r;
		dsync_folder *df = NULL;
		int error;

		pthread_sigmask(SIG_SETMASK, &f->w->old_mask, NULL);
		so.lock_wait_ms = 30000;
		so.warn = warn_cb;
		so.payload = f;
		if ((error = dsync_folder_open(&df, f->root)) == 0)
			error = dsync_sync(&r, df, NULL, DSYNC_SYNC_ALL, &so);
		if (error < 0)
			say(f->w, error == DSYNC_ECORRUPT ? DSYNC_LOG_ERROR : DSYNC_LOG_WARNING, f, "sync: %s",
			    dsync_error_last());
		else if (r.packs_fetched || r.merge.merged || r.pushed)
			say(f->w, DSYNC_LOG_INFO, f,
			    "sync: %zu pack%s fetched, %s, %s%s", r.packs_fetched, r.packs_fetched == 1 ? "" : "s",
			    !r.merge.merged ? "nothing to merge"
			    : r.merge.fast_forward ? "fast-forwarded" : "merged",
			    r.pushed ? "pushed" : "nothing to push",
			    r.merge.open_conflicts ? "; conflicts wait (dsync conflicts)" : "");
		else
			say(f->w, DSYNC_LOG_DEBUG, f, "sync: up to date");
		dsync_folder_free(df);
		_exit(error < 0 ? 1 : 0);
	}
	f->w->sync_pid = pid;
}

/* ------------------------------------------------------------- snapshots */

static void pause_for_mass_delete(wfolder *f, const dsync_snapshot_result *r)
{
	dsync_buf refs = DSYNC_BUF_INIT;

	/* most of them still on disk: the ignore rules leave them out now */
	bool rules = r->left_out > r->deleted / 2;

	if (f->state == FOLDER_PAUSED && f->paused_by_rules == rules) {
		say(f->w, DSYNC_LOG_DEBUG, f, "still paused: %zu of %zu files gone", r->deleted, r->files);
		return;
	}
	f->state = FOLDER_PAUSED;
	f->paused_by_rules = rules;
	if (rules)
		say(f->w, DSYNC_LOG_WARNING, f,
		    "paused: the ignore rules changed and would drop %zu of %zu files from the snapshots "
		    "(they are still on disk); nothing recorded; recording resumes when '.dsyncignore' "
		    "no longer leaves them out, or run 'dsync snapshot --allow-mass-delete' in the folder "
		    "if you meant it", r->left_out, r->files);
	else
		say(f->w, DSYNC_LOG_WARNING, f,
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

static void snapshot(wfolder *f)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result r;
	dsync_folder *df = NULL;
	int error;

	if (!dsync_folder_present(f->root, f->id)) {
		go_missing(f, "its history (" DSYNC_DIR ") is gone");
		return;
	}
	f->dirty = false;
	f->retry_ms = 0;
	writers_prune(f, f->w->now);
	so.lock_wait_ms = LOCK_WAIT_MS;
	so.warn = warn_cb;
	so.keep = keep_cb;
	so.payload = f;
	if ((error = dsync_folder_open(&df, f->root)) == 0)
		error = dsync_snapshot_take(&r, df, &so);
	f->w->now = now_ms();
	if (error == DSYNC_ELOCKED) {
		say(f->w, DSYNC_LOG_DEBUG, f, "%s; trying again", dsync_error_last());
		mark_dirty(f, f->w->now);
		f->retry_ms = f->w->now + LOCK_RETRY_MS;
	} else if (error == DSYNC_EMASSDELETE) {
		pause_for_mass_delete(f, &r);
	} else if (error < 0) {
		say(f->w, DSYNC_LOG_ERROR, f, "snapshot failed: %s; trying again in %d s", dsync_error_last(),
		    ERROR_RETRY_MS / 1000);
		mark_dirty(f, f->w->now);
		f->retry_ms = f->w->now + ERROR_RETRY_MS;
	} else {
		if (f->state == FOLDER_PAUSED) {
			say(f->w, DSYNC_LOG_INFO, f, "resumed: the folder's files are recorded again");
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
			say(f->w, DSYNC_LOG_INFO, f, "snapshot %.8s: %zu added, %zu modified, %zu deleted, %zu renamed%s",
			    r.commit, r.added, r.modified, r.deleted, r.renamed,
			    !r.busy ? ""
			    : f->w->stop_cut ? " (stopping: files not read yet keep their previous version)"
			    : " (files still being written keep their previous version)");
			check_gc(f, df);
		} else {
			say(f->w, DSYNC_LOG_DEBUG, f, "no change to record%s",
			    r.busy ? " (files still being written)" : "");
		}
		if (r.busy)
			mark_dirty(f, f->w->now);
	}
	dsync_folder_free(df);
	/* a snapshot of a large folder needs tens of MB for a moment; a
	 * daemon that lives for weeks gives them back */
	malloc_trim(0);
}

/* When F next needs attention (0: not until an event). */
static int64_t folder_deadline(wfolder *f)
{
	int64_t d = 0;

#define EARLIER(t) do { if ((t) > 0 && (d == 0 || (t) < d)) d = (t); } while (0)
	if (f->state == FOLDER_MISSING) {
		EARLIER(f->missing_ms);
		return d;
	}
	if (f->dirty && f->retry_ms == 0) {
		int64_t oldest = writers_prune(f, f->w->now);

		EARLIER(f->first_ms + f->max_delay_ms);
		if (f->nwriters == 0)
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
static void folder_tick(wfolder *f)
{
	int64_t now = f->w->now;

	if (f->state == FOLDER_MISSING) {
		if (f->missing_ms && now >= f->missing_ms)
			check_missing(f);
		return;
	}
	if (f->rescan_ms && now >= f->rescan_ms) {
		say(f->w, DSYNC_LOG_DEBUG, f, "rescanning (%zu folders unwatched)", f->unwatched);
		refresh(f);
		if (f->state == FOLDER_MISSING)
			return;
		mark_due(f, now);
	}
	if (!f->dirty) {
		if (f->sync_ms && now >= f->sync_ms)
			start_sync(f);
		else if (f->gc_ms && now >= f->gc_ms)
			start_gc(f);
		return;
	}
	if (f->retry_ms) {
		if (now >= f->retry_ms)
			snapshot(f);
		return;
	}
	if (now >= f->first_ms + f->max_delay_ms ||
	    (now >= f->last_ms + f->delay_ms && (writers_prune(f, now), f->nwriters == 0)))
		snapshot(f);
}

/* ------------------------------------------------------------- events */

static wfolder *folder_by_tag(watch *w, const void *tag, bool *refs)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (tag == w->v[i] || tag == &w->v[i]->refs_tag || tag == &w->v[i]->parent_tag) {
			*refs = tag == &w->v[i]->refs_tag;
			return w->v[i];
		}
	}
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
	if ((f = folder_by_tag(w, ev->tag, &refs)) == NULL)
		return;
	switch (ev->kind) {
	case WATCHER_PLAIN:
		if (refs && f->state == FOLDER_PAUSED)
			mark_due(f, w->now);
		else if (!refs && f->state == FOLDER_MISSING)
			missing_soon(f);
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
		writer_seen(f, ev->path, w->now);
	else if (ev->kind == WATCHER_CLOSED || ev->kind == WATCHER_GONE)
		writer_done(f, ev->path);
	if (!f->dirty)
		say(w, DSYNC_LOG_DEBUG, f, "changed: %s", ev->path);
	mark_dirty(f, w->now);
}

/* Acts on what the events of one read said. */
static void after_events(watch *w)
{
	size_t i;

	if (w->overflow) {
		say(w, DSYNC_LOG_WARNING, NULL,
		    "the kernel's inotify queue overflowed and changes were missed; rescanning every "
		    "folder (raise the limit: sysctl fs.inotify.max_queued_events=65536)");
		w->overflow = false;
		for (i = 0; i < w->n; i++) {
			wfolder *f = w->v[i];

			if (f->state == FOLDER_MISSING)
				continue;
			writers_clear(f); /* closes may have been lost */
			refresh(f);
			if (f->state != FOLDER_MISSING)
				mark_due(f, w->now);
		}
	}
	for (i = 0; i < w->n; i++) {
		wfolder *f = w->v[i];

		if (f->gone) {
			f->gone = false;
			if (f->state != FOLDER_MISSING)
				go_missing(f, "the folder went away");
			continue;
		}
		if (f->ignore_changed) {
			dsync_folder *df = NULL;
			dsync_ignore *ign = NULL;

			f->ignore_changed = false;
			if (dsync_folder_open(&df, f->root) == 0 && dsync_folder_load_ignore(&ign, df) == 0) {
				dsync_ignore_free(f->ign);
				f->ign = ign;
				say(w, DSYNC_LOG_INFO, f, "ignore rules reloaded");
				refresh(f);
			} else {
				say(w, DSYNC_LOG_WARNING, f, "ignore rules not reloaded: %s; keeping the previous ones",
				    dsync_error_last());
			}
			dsync_folder_free(df);
		}
		if (f->limit)
			warn_limit(f);
	}
}

/* ------------------------------------------------------------- folder list */

static int add_folder(watch *w, wfolder **out, const char *root)
{
	wfolder *f;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		wfolder **v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return dsync_error_oom();
		w->v = v;
		w->cap = cap;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL || (f->root = strdup(root)) == NULL) {
		free(f);
		return dsync_error_oom();
	}
	f->w = w;
	f->lock_fd = -1;
	f->delay_ms = DEFAULT_DELAY_MS;
	f->max_delay_ms = DEFAULT_MAX_DELAY_MS;
	w->v[w->n++] = f;
	*out = f;
	return 0;
}

static void remove_folder(watch *w, size_t i)
{
	folder_free(w->v[i]);
	memmove(&w->v[i], &w->v[i + 1], (w->n - i - 1) * sizeof(*w->v));
	w->n--;
}

static void started(wfolder *f)
{
	say(f->w, DSYNC_LOG_INFO, f, "watching (snapshot after %.1f s quiet, at most %.1f s)",
	    f->delay_ms / 1000.0, f->max_delay_ms / 1000.0);
	if (f->limit)
		warn_limit(f);
}

/* Starts a folder that is new to the loop: it is snapshotted at once. */
static void begin(wfolder *f)
{
	if (folder_start(f) < 0) {
		if (dsync_error_last_code() == DSYNC_ELOCKED) {
			say(f->w, DSYNC_LOG_WARNING, f, "%s; not watching it", dsync_error_last());
			f->state = FOLDER_MISSING;
			f->missing_ms = 0;
			return;
		}
		go_missing(f, dsync_error_last());
		return;
	}
	snapshot(f);
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
		say(w, DSYNC_LOG_ERROR, NULL, "cannot read the folder list: %s", dsync_error_last());
		return false;
	}
	for (i = 0; i < w->n; i++)
		w->v[i]->listed = false;
	for (j = 0; j < count; j++) {
		wfolder *f = NULL;

		for (i = 0; i < w->n && !f; i++)
			if (strcmp(w->v[i]->root, list[j]) == 0)
				f = w->v[i];
		if (f) {
			f->listed = true;
			continue;
		}
		if (add_folder(w, &f, list[j]) < 0)
			continue;
		f->listed = true;
		begin(f);
	}
	for (i = w->n; i-- > 0;) {
		if (!w->v[i]->listed) {
			say(w, DSYNC_LOG_INFO, w->v[i], "no longer registered; not watching it");
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

	say(w, DSYNC_LOG_INFO, NULL, "reloading");
	if (w->opts->registered)
		reload_registry(w);
	for (i = 0; i < w->n; i++) {
		wfolder *f = w->v[i];

		if (f->state == FOLDER_MISSING)
			check_missing(f);
		else if (f->state != FOLDER_MISSING && folder_start(f) < 0)
			go_missing(f, dsync_error_last());
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
		if (reload_registry(w) && w->n == 0)
			say(w, DSYNC_LOG_INFO, NULL, "no folders registered yet; waiting for 'dsync init'");
		return 0;
	}
	for (i = 0; i < ndirs; i++) {
		dsync_folder *df = NULL;
		wfolder *f;
		size_t j;

		if ((error = dsync_folder_open(&df, dirs[i])) < 0)
			return error;
		for (j = 0; j < w->n && strcmp(w->v[j]->root, dsync_folder_root(df)) != 0; j++)
			;
		error = j < w->n ? 0 : add_folder(w, &f, dsync_folder_root(df));
		dsync_folder_free(df);
		if (error < 0)
			return error;
	}
	for (i = 0; i < w->n; i++) {
		wfolder *f = w->v[i];

		if ((error = folder_start(f)) < 0)
			return error;
		snapshot(f);
		if (f->state != FOLDER_MISSING)
			started(f);
	}
	return 0;
}

static int loop(watch *w, int sfd)
{
	int mountfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	bool stop = false;
	size_t i;
	int error = 0;

	while (!stop) {
		struct pollfd p[3];
		int64_t next = 0, timeout;
		bool missing = false;
		nfds_t np = 2;

		w->now = now_ms();
		for (i = 0; i < w->n; i++) {
			int64_t d = folder_deadline(w->v[i]);

			if (d > 0 && (next == 0 || d < next))
				next = d;
			missing |= w->v[i]->state == FOLDER_MISSING;
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
		if (poll(p, np, (int)(timeout > INT32_MAX ? INT32_MAX : timeout)) < 0 && errno != EINTR) {
			error = dsync_error_sys(errno, "cannot wait for changes");
			break;
		}
		w->now = now_ms();
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					reap_children(w, false);
				} else if (si.ssi_signo == SIGHUP) {
					reload_all(w);
				} else {
					say(w, DSYNC_LOG_INFO, NULL, "stopping (%s)", strsignal((int)si.ssi_signo));
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
			for (i = 0; i < w->n; i++)
				if (w->v[i]->state == FOLDER_MISSING)
					missing_soon(w->v[i]);
		if (w->registry_changed) {
			w->registry_changed = false;
			reload_registry(w);
		}
		if (stop)
			break;
		for (i = 0; i < w->n; i++)
			folder_tick(w->v[i]);
	}
	/* what changed since the last snapshot is recorded before leaving */
	w->stopping = true;
	reap_children(w, true);
	for (i = 0; i < w->n; i++) {
		wfolder *f = w->v[i];

		if (f->dirty && f->state != FOLDER_MISSING) {
			w->now = now_ms();
			f->retry_ms = 0;
			snapshot(f);
		}
	}
	if (w->stop_cut)
		say(w, DSYNC_LOG_INFO, NULL,
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
	w.now = now_ms();
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
	reap_children(&w, true);
	for (i = 0; i < w.n; i++)
		folder_free(w.v[i]);
	free(w.v);
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
