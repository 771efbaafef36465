/*
 * The child jobs of the loop (see jobs.h): gc and sync rounds in child
 * processes, and their reaping.
 */
#include "core/base/internal.h"
#include "core/watch/jobs.h"
#include "core/watch/notify.h"
#include "dsync/gc.h"
#include "dsync/mirror.h"
#include "dsync/status.h"
#include "dsync/sync.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#define GC_QUIET_MS 30000        /* gc once no snapshot came for this long */
#define GC_LATEST_MS 600000      /* or at the latest this long after it is due */
#define CHILD_TERM_MS 300        /* a child asked to end gets this long before SIGKILL */

/*
 * After a snapshot that recorded something: when loose objects pile up
 * (dsync_gc_due), schedules a gc for when the folder has had no snapshot for
 * a while, so it never delays a save while the user works (and at the
 * latest GC_LATEST_MS after it became due).
 */
void watch_gc_check(wfolder *f, const dsync_folder *df)
{
	int64_t now = f->w->now;

	if (!dsync_gc_due(df))
		return;
	if (!f->gc_due_ms) {
		f->gc_due_ms = now;
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "gc due: loose objects piled up");
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
void watch_gc_start(wfolder *f)
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
		watch_say(f->w, DSYNC_LOG_WARNING, f, "gc: cannot start: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		dsync_gc_result r;
		dsync_folder *df = NULL;
		int error;

		pthread_sigmask(SIG_SETMASK, &f->w->old_mask, NULL);
		if ((error = dsync_folder_open(&df, f->root)) == 0)
			error = dsync_gc(&r, df, LOCK_WAIT_MS);
		if (error == 0 && r.loose_damaged > 0)
			watch_say(f->w, DSYNC_LOG_WARNING, f,
				  "gc: %zu loose object files cut short or damaged taken out of the store "
				  "(into .dsync/objects/damaged); run 'dsync check'", r.loose_damaged);
		if (error < 0)
			watch_say(f->w, DSYNC_LOG_WARNING, f, "gc: %s", dsync_error_last());
		else
			watch_say(f->w, DSYNC_LOG_INFO, f, "gc: packed %zu objects; history takes %.1f MB (was %.1f MB)",
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
 * The child *PID (a gc, a sync round, a wait on a relay) ended, or is made to end (WAIT):
 * reaps it.  Made to end, it gets SIGTERM, then SIGKILL if it is still there
 * after CHILD_TERM_MS (both lose nothing: dsync/gc.h, docs/sync.md), so a
 * stop never waits long for a child; one the kernel holds even then (a dead
 * network mount) is left to init.
 */
/* As watch_reap_child; *EXIT (when not NULL) set to the child's exit code
 * when it ended by itself, else left alone. */
static void reap_child(pid_t *pid, bool wait, int *exit)
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
	if (exit && WIFEXITED(status))
		*exit = WEXITSTATUS(status);
}

void watch_reap_child(pid_t *pid, bool wait)
{
	reap_child(pid, wait, NULL);
}

/* The round with F's remotes ended with EXIT (the child's code: 1 when a
 * remote failed): the third failure in a row is told on the desktop, once;
 * a round that goes through re-arms it. */
static void count_failures(wfolder *f, int exit)
{
	if (exit != 1) {
		if (f->failed_rounds >= NOTIFY_FAILED_ROUNDS)
			watch_say(f->w, DSYNC_LOG_INFO, f, "sync: the remotes answer again");
		f->failed_rounds = 0;
		return;
	}
	if (++f->failed_rounds == NOTIFY_FAILED_ROUNDS)
		watch_notify(f, "dsync: a remote keeps failing",
			     "%s: the sync with its remotes failed %d rounds in a row; the changes stay here "
			     "(see the daemon's log, or run 'dsync sync' in the folder)", f->root, f->failed_rounds);
}

/* Every child (WAIT: made to end first). */
void watch_reap_children(watch *w, bool wait)
{
	pid_t sync_was = w->sync_pid;
	int exit = -1;
	size_t i;

	watch_reap_child(&w->gc_pid, wait);
	reap_child(&w->sync_pid, wait, &exit);
	/* the mirrors' next round counts from the end of this one: a mirror is
	 * due once its interval has passed since its last round ended */
	if (sync_was > 0 && w->sync_pid == 0 && w->sync_of) {
		wfolder *f = w->sync_of;

		if (w->sync_remotes && exit >= 0)
			count_failures(f, exit);
		if (f->mirrors && !f->mirror_soon)
			f->mirror_ms = w->now + f->mirror_interval_ms;
		w->sync_of = NULL;
	}
	/* the waiting children are the caller's (watch.c): waiters.c ends
	 * them through watch_reap_child */
	if (wait)
		return;
	if (w->gc_pid > 0 || w->sync_pid > 0)
		return;
	/* a round put off while another child ran goes now, not a retry
	 * later: a change on a relay is then on this device within the 2 s */
	for (i = 0; i < w->folders.size; i++) {
		wfolder *f = w->folders.ptr[i];

		if (f->sync_waiting) {
			f->sync_waiting = false;
			f->sync_ms = w->now;
		}
	}
}


/* What a mirror was before the child's round (the child is one process
 * with one round: plain statics), so that a pause or an error is told
 * once, not every round. */
static dsync_mirror_info *mirrors_before;
static bool child_mirror_failed;   /* the round's error was a mirror's */
static size_t n_mirrors_before;

static const dsync_mirror_info *mirror_before(const char *name)
{
	size_t i;

	for (i = 0; i < n_mirrors_before; i++)
		if (strcmp(mirrors_before[i].name, name) == 0)
			return &mirrors_before[i];
	return NULL;
}

/* dsync_sync_options.mirror_done in the child: a line in the log. */
static void mirror_logged(const char *name, const dsync_mirror_result *r, int error, void *payload)
{
	wfolder *f = payload;
	const dsync_mirror_info *was = mirror_before(name);
	const char *msg = dsync_error_last();
	/* a snapshot of the phone that changed no file is no news */
	bool recorded = r->recorded &&
			r->recorded_added + r->recorded_changed + r->recorded_deleted + r->recorded_renamed > 0;

	size_t len = strlen(name);
	/* the message without the mirror's name, which the line gives */
	const char *rest = strncmp(msg, "mirror '", 8) == 0 && strncmp(msg + 8, name, len) == 0 &&
			   strncmp(msg + 8 + len, "': ", 3) == 0 ? msg + 8 + len + 3 : msg;

	if (error == DSYNC_EMASSDELETE) {
		/* told once per pause: the next rounds find it paused already */
		watch_say(f->w, was && was->paused ? DSYNC_LOG_DEBUG : DSYNC_LOG_WARNING, f, "mirror '%s' paused: %s", name,
			  rest);
		if (!(was && was->paused))
			watch_notify(f, "dsync: mirror paused", "%s: mirror '%s' paused: %s", f->root, name, rest);
	} else if (error < 0) {
		/* an unreachable phone is common: the same error again is no news */
		bool again = was && was->last_error && strcmp(msg, was->last_error) == 0;

		watch_say(f->w, again ? DSYNC_LOG_DEBUG : DSYNC_LOG_WARNING, f, "mirror '%s': %s", name, rest);
	} else if (r->skipped) {
		return;
	} else if (recorded || r->files_written || r->files_removed || r->merge.conflicts) {
		char line[320] = "";
		size_t n = 0;

		if (recorded)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "; recorded %zu added, %zu changed, %zu deleted, "
					      "%zu renamed", r->recorded_added, r->recorded_changed, r->recorded_deleted,
					      r->recorded_renamed);
		if ((r->files_written || r->files_removed) && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, "; wrote %zu, removed %zu", r->files_written,
					      r->files_removed);
		if (r->merge.open_conflicts && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, "; conflicts wait (dsync conflicts)");
		if (was && was->paused && n < sizeof(line))
			snprintf(line + n, sizeof(line) - n, "; resumed");
		watch_say(f->w, DSYNC_LOG_INFO, f, "mirror '%s': %s", name, line[0] ? line + 2 : "merged");
	} else if (was && was->paused) {
		watch_say(f->w, DSYNC_LOG_INFO, f, "mirror '%s': resumed: up to date", name);
	} else {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "mirror '%s': up to date", name);
	}
	if (r->merge.conflicts)
		watch_notify(f, r->merge.conflicts == 1 ? "dsync: a conflict" : "dsync: conflicts",
			     "%s: %zu file%s changed both here and on mirror '%s'; both versions are kept "
			     "(see 'dsync conflicts')", f->root, r->merge.conflicts, r->merge.conflicts == 1 ? "" : "s",
			     name);
	if (!error && r->kept_back)
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "mirror '%s': %zu file%s still being written there", name, r->kept_back,
			  r->kept_back == 1 ? "" : "s");
}

/* Whether remote NAME of DF was at or over DSYNC_QUOTA_FULL_PERCENT of a
 * quota when a round last saw it (its space in *R). */
static bool quota_full(dsync_remote_summary *r, dsync_folder *df, const char *name)
{
	bool full;

	memset(r, 0, sizeof(*r));
	r->name = (char *)name;
	full = dsync_status_remote_space(r, df) == 0 && r->quota &&
	       (double)r->used >= (double)r->quota * DSYNC_QUOTA_FULL_PERCENT / 100;
	dsync_error_clear();
	return full;
}

/* Which remotes of DF were almost full before the round (*FULL, one per
 * remote of *RL), so that the round that takes one over is told on the
 * desktop once: the rounds after it find it full already, and one that
 * finds it under again re-arms it.  The state the rounds record is kept, so
 * a restarted daemon doesn't tell it again. */
static void quota_before(dsync_remote_info **rl, size_t *n, bool **full, dsync_folder *df)
{
	dsync_remote_summary r;
	size_t i;

	*rl = NULL;
	*n = 0;
	*full = NULL;
	if (dsync_remote_list(rl, n, df) < 0 || *n == 0 || !(*full = calloc(*n, sizeof(bool)))) {
		dsync_error_clear();
		return;
	}
	for (i = 0; i < *n; i++)
		(*full)[i] = quota_full(&r, df, (*rl)[i].name);
}

static void quota_after(wfolder *f, dsync_folder *df, dsync_remote_info *rl, size_t n, bool *full)
{
	dsync_remote_summary r;
	char u[32], q[32];
	size_t i;

	for (i = 0; full && i < n; i++)
		if (!full[i] && quota_full(&r, df, rl[i].name))
			watch_notify(f, "dsync: a relay is almost full",
				     "%s: relay '%s' is %d%% full (%s of %s); ask its operator for more space or "
				     "remove old versions", f->root, rl[i].name,
				     (int)(r.used >= r.quota ? 100 : r.used * 100.0 / (double)r.quota),
				     dsync_size_text(u, sizeof(u), r.used), dsync_size_text(q, sizeof(q), r.quota));
	if (rl)
		dsync_remote_list_free(rl, n);
	free(full);
}

/* The round of F's child: its remotes when due (ALL, and the due mirrors
 * with them), else its mirrors alone; what it did, told. */
static int child_round(wfolder *f, dsync_folder *df, unsigned what, bool only_due)
{
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result r;
	dsync_remote_info *rl = NULL;   /* the remotes, and which were almost full before the round */
	size_t nr = 0;
	bool *full = NULL;
	int error;

	so.lock_wait_ms = 30000;
	so.warn = wfolder_warn;
	so.payload = f;
	so.mirror_done = mirror_logged;
	so.mirrors_only_due = only_due;
	if ((what & DSYNC_SYNC_MIRRORS) && dsync_mirror_list(&mirrors_before, &n_mirrors_before, df) < 0)
		dsync_error_clear();
	if (what & DSYNC_SYNC_PUSH)
		quota_before(&rl, &nr, &full, df);
	error = dsync_sync(&r, df, NULL, what, &so);
	child_mirror_failed = error < 0 && r.mirror_error;
	if (error < 0 && r.mirror_error)
		;   /* each mirror's error is told as it ends */
	else if (error < 0)
		watch_say(f->w, error == DSYNC_ECORRUPT ? DSYNC_LOG_ERROR : DSYNC_LOG_WARNING, f, "sync: %s",
			  dsync_error_last());
	else if (r.packs_fetched || r.merge.merged || r.pushed)
		watch_say(f->w, DSYNC_LOG_INFO, f,
			  "sync: %zu pack%s fetched, %s, %s%s", r.packs_fetched, r.packs_fetched == 1 ? "" : "s",
			  !r.merge.merged ? "nothing to merge"
			  : r.merge.fast_forward ? "fast-forwarded" : "merged",
			  r.pushed ? "pushed" : "nothing to push",
			  r.merge.open_conflicts ? "; conflicts wait (dsync conflicts)" : "");
	else if (r.remotes)
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "sync: up to date");
	/* the merge that made them runs once: told once */
	if (r.merge.conflicts)
		watch_notify(f, r.merge.conflicts == 1 ? "dsync: a conflict" : "dsync: conflicts",
			     "%s: %zu file%s changed both here and on another device; both versions are "
			     "kept (see 'dsync conflicts')", f->root, r.merge.conflicts,
			     r.merge.conflicts == 1 ? "" : "s");
	/* after the round's own lines: it reads the state, clearing the error */
	quota_after(f, df, rl, nr, full);
	return error;
}

/*
 * Runs a sync round with every remote and mirror of F (DESIGN.md section
 * 5) in a child process, so that the loop goes on watching while packs
 * travel.  It uses the key kept for each store (a first 'dsync sync' in a
 * terminal keeps it); the next round comes after the folder's
 * sync.interval, or after the next snapshot that records something.  The
 * mirrors have their own timer (the shortest of their intervals): when
 * only it is due, the round is theirs alone.
 */
void watch_sync_start(wfolder *f)
{
	int64_t now = f->w->now;
	bool remotes_due = f->sync_ms && now >= f->sync_ms;
	bool mirrors_due = f->mirrors && f->mirror_ms && now >= f->mirror_ms;
	unsigned what = remotes_due ? DSYNC_SYNC_ALL : DSYNC_SYNC_MIRRORS;
	bool only_due = !f->mirror_soon;
	pid_t pid;

	if (f->w->stopping || (!remotes_due && !mirrors_due))
		return;
	if (f->w->sync_pid > 0 || f->w->gc_pid > 0) {
		/* one child at a time: this round goes when that one ends */
		if (remotes_due) {
			f->sync_ms = now + LOCK_RETRY_MS;
			f->sync_waiting = true;
		}
		if (mirrors_due)
			f->mirror_ms = now + LOCK_RETRY_MS;
		return;
	}
	if (remotes_due) {
		f->sync_waiting = false;
		f->sync_ms = now + f->sync_interval_ms;
	}
	/* a round with the remotes takes the due mirrors along */
	if (f->mirrors) {
		f->mirror_ms = now + f->mirror_interval_ms;
		f->mirror_soon = false;
	}
	if ((pid = fork()) < 0) {
		watch_say(f->w, DSYNC_LOG_WARNING, f, "sync: cannot start: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		dsync_folder *df = NULL;
		int error;

		pthread_sigmask(SIG_SETMASK, &f->w->old_mask, NULL);
		if ((error = dsync_folder_open(&df, f->root)) == 0)
			error = child_round(f, df, what, only_due);
		else
			watch_say(f->w, DSYNC_LOG_WARNING, f, "sync: %s", dsync_error_last());
		dsync_folder_free(df);
		/* 1: the round with the remotes failed (count_failures); 2: a
		 * mirror did, conflicts wait, or the folder's own snapshot
		 * would record a mass deletion (the pause, told as such) */
		_exit(error == 0 ? 0
		      : error == DSYNC_ECONFLICT || error == DSYNC_EMASSDELETE || child_mirror_failed ? 2 : 1);
	}
	f->w->sync_pid = pid;
	f->w->sync_of = f;
	f->w->sync_remotes = remotes_due;
}
