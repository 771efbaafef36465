/*
 * Debounce and pause (see debounce.h): a snapshot is taken once a folder has
 * been quiet for the delay and no file is being written, and at the latest
 * the maximum delay after the first change; files still being written then
 * keep their previous version.  A snapshot that would record the loss of
 * most files pauses the folder until they return or the user confirms.
 */
#include "core/base/internal.h"
#include "core/watch/debounce.h"
#include "dsync/snapshot.h"
#include "dsync/sync.h"
#include "core/base/buf.h"
#include "core/folder/pause.h"
#include "core/watch/jobs.h"
#include "core/watch/notify.h"
#include "core/watch/rescan.h"
#include "core/watch/waiters.h"

#include <malloc.h>
#include <signal.h>

#define ERROR_RETRY_MS 30000     /* a failed snapshot (disk full, ...) */
#define STOP_READ_MS 300         /* after SIGTERM, files are read this long; the rest
				    keep their previous version until the next start */

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
		w->stop_ms = dsync_now_ms();
	if (w->stop_ms && dsync_now_ms() - w->stop_ms >= STOP_READ_MS) {
		w->stop_cut = true;
		return true;
	}
	return writers_has(&f->writers, path);
}


static void pause_for_mass_delete(wfolder *f, const dsync_snapshot_result *r)
{
	dsync_buf refs = DSYNC_BUF_INIT;
	char why[200];

	/* most of them still on disk: the ignore rules leave them out now */
	bool rules = r->left_out > r->deleted / 2;

	if (f->state == FOLDER_PAUSED && f->paused_by_rules == rules) {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "still paused: %zu of %zu files gone", r->deleted, r->files);
		return;
	}
	f->state = FOLDER_PAUSED;
	f->paused_by_rules = rules;
	waiters_stop(f);   /* no round while paused: nothing to wait for */
	/* other processes (dsync status, the dashboard) see it, in the words of the log */
	if (rules)
		snprintf(why, sizeof(why), "the ignore rules would drop %zu of %zu files (still on disk)", r->left_out,
			 r->files);
	else
		snprintf(why, sizeof(why), "%zu of %zu files vanished at once (an unmounted drive?)", r->deleted,
			 r->files);
	if (dsync_pause_watcher_set(f->root, why,
				    rules ? "'.dsyncignore' no longer leaves them out, or 'dsync snapshot "
					    "--allow-mass-delete' (dsync resume does not confirm it)"
					  : "the files return, or 'dsync snapshot --allow-mass-delete' "
					    "(dsync resume does not confirm a deletion)") < 0)
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "pause not written: %s", dsync_error_last());
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
	/* once per pause: the rounds after find it paused (above); a resume re-arms it */
	if (rules)
		watch_notify(f, "dsync: folder paused",
			     "%s: the ignore rules would drop %zu of %zu files; nothing is recorded until "
			     "'.dsyncignore' changes back or you confirm", f->root, r->left_out, r->files);
	else
		watch_notify(f, "dsync: folder paused",
			     "%s: %zu of %zu files vanished at once; nothing is recorded until they return "
			     "or you run 'dsync snapshot --allow-mass-delete'", f->root, r->deleted, r->files);
	if (f->refs_watched)
		return;
	/* the user's confirming snapshot moves the ref: look again then */
	if (dsync_buf_printf(&refs, "%s/" DSYNC_DIR "/refs/heads", f->root) == 0 &&
	    watcher_add_plain(f->w->watcher, &f->refs_tag, refs.ptr) == 0)
		f->refs_watched = true;
	dsync_buf_dispose(&refs);
}

void debounce_snapshot(wfolder *f)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result r;
	dsync_folder *df = NULL;
	int error;

	if (!dsync_folder_present(f->root, f->id)) {
		rescan_missing(f, "its history (" DSYNC_DIR ") is gone");
		return;
	}
	if (f->user_paused) {
		/* recorded after 'dsync resume' (debounce_pause_check) */
		wfolder_mark_dirty(f, f->w->now);
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
	f->w->now = dsync_now_ms();
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
			dsync_pause_watcher_clear(f->root);
			if (f->refs_watched)
				watcher_remove(f->w->watcher, &f->refs_tag);
			f->refs_watched = false;
			waiters_update(f, df);
		}
		/* a recorded change goes to the remotes now; the first
		 * snapshot also fetches what came meanwhile */
		/* a remote added while watching counts from its first
		 * snapshot (the history is open then anyway) */
		if (r.committed) {
			f->remotes = dsync_folder_has_remotes(df);
			wfolder_read_mirrors(f, df);
			waiters_update(f, df);
		}
		if (f->remotes && (r.committed || f->sync_ms == 0))
			f->sync_ms = f->w->now;
		/* a recorded change goes to the phones now too, whatever their
		 * interval; the first snapshot also brings what they hold */
		if (f->mirrors && (r.committed || f->mirror_ms == 0)) {
			f->mirror_ms = f->w->now;
			f->mirror_soon = true;
		}
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
int64_t debounce_deadline(wfolder *f)
{
	int64_t d = 0;

#define EARLIER(t) do { if ((t) > 0 && (d == 0 || (t) < d)) d = (t); } while (0)
	if (f->state == FOLDER_MISSING) {
		EARLIER(f->missing_ms);
		return d;
	}
	EARLIER(f->pause_check_ms);
	if (f->user_paused)
		return d;   /* nothing else until 'dsync resume' */
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
	EARLIER(waiters_deadline(f));
	if (!f->dirty) {
		EARLIER(f->gc_ms);
		if (f->state != FOLDER_PAUSED) {
			EARLIER(f->sync_ms);
			EARLIER(f->mirror_ms);
		}
	}
#undef EARLIER
	return d;
}

/* Does what is due for F at W->now. */
void debounce_tick(wfolder *f)
{
	int64_t now = f->w->now;

	waiters_tick(f);
	if (f->state == FOLDER_MISSING) {
		if (f->missing_ms && now >= f->missing_ms)
			rescan_check_missing(f);
		return;
	}
	if (f->pause_check_ms && now >= f->pause_check_ms) {
		f->pause_check_ms = now + PAUSE_CHECK_MS;
		debounce_pause_check(f);
	}
	if (f->user_paused)
		return;
	if (f->rescan_ms && now >= f->rescan_ms) {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "rescanning (%zu folders unwatched)", f->unwatched);
		rescan_refresh(f);
		if (f->state == FOLDER_MISSING)
			return;
		wfolder_mark_due(f, now);
	}
	if (!f->dirty) {
		/* paused on a mass deletion: a round would only meet the same
		 * deletion in its own snapshot, and warn every interval */
		if (f->state != FOLDER_PAUSED &&
		    ((f->sync_ms && now >= f->sync_ms) || (f->mirror_ms && now >= f->mirror_ms)))
			watch_sync_start(f);
		else if (f->gc_ms && now >= f->gc_ms)
			watch_gc_start(f);
		return;
	}
	if (f->retry_ms) {
		if (now >= f->retry_ms)
			debounce_snapshot(f);
		return;
	}
	if (now >= f->first_ms + f->max_delay_ms ||
	    (now >= f->last_ms + f->delay_ms && (writers_prune(&f->writers, now - f->max_delay_ms), f->writers.n == 0)))
		debounce_snapshot(f);
}


void debounce_say_user_pause(wfolder *f)
{
	dsync_pause_info p;

	if (dsync_pause_read(&p, f->root, DSYNC_PAUSE_USER_FILE) < 0) {
		dsync_error_clear();
		memset(&p, 0, sizeof(p));
	}
	/* the user's own doing: the log says it, no notification */
	watch_say(f->w, DSYNC_LOG_INFO, f, "paused by the user%s%s; no snapshot and no sync until 'dsync resume'",
		  p.why && strcmp(p.why, "paused by the user") != 0 ? ": " : "",
		  p.why && strcmp(p.why, "paused by the user") != 0 ? p.why : "");
	dsync_pause_info_dispose(&p);
}

void debounce_pause_check(wfolder *f)
{
	bool on = dsync_pause_user_on(f->root);

	f->pause_changed = false;
	if (on == f->user_paused)
		return;
	f->user_paused = on;
	if (on) {
		debounce_say_user_pause(f);
		waiters_stop(f);   /* no round while paused: nothing to wait for */
		return;
	}
	/* what changed meanwhile is recorded now, and goes to the remotes and
	 * mirrors at once, whatever their interval */
	watch_say(f->w, DSYNC_LOG_INFO, f, "resumed by the user: recording what changed meanwhile");
	wfolder_mark_due(f, f->w->now);
	if (f->remotes)
		f->sync_ms = f->w->now;
	if (f->mirrors) {
		f->mirror_ms = f->w->now;
		f->mirror_soon = true;
	}
	f->gen++;   /* its relays are waited on again (waiters_tick) */
}
