/*
 * Missing and unwatched folders (see rescan.h).
 */
#include "core/base/internal.h"
#include "core/watch/rescan.h"
#include "core/base/buf.h"
#include "core/folder/pause.h"

#include <sys/stat.h>

#define MISSING_CHECK_MS 60000   /* a missing folder looked for again */

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
void rescan_soon(wfolder *f)
{
	f->missing_ms = f->w->now + f->delay_ms;
}

void rescan_missing(wfolder *f, const char *reason)
{
	/* its marker still there: not a drive that went, something in the
	 * folder that cannot be read (a FIFO as .dsyncignore, say) */
	bool there = *f->id && dsync_folder_present(f->root, f->id);
	/* there: still its watcher, so the watch lock stays (or is taken) and
	 * other processes see the pause below (wfolder_start takes it anew) */
	int keep = there ? f->lock_fd : -1;
	char why[512];

	/* a copy: REASON is often the last error, which the calls below may set */
	snprintf(why, sizeof(why), "%s", reason);
	if (there)
		f->lock_fd = -1;
	wfolder_stop(f);
	f->lock_fd = keep;
	if (there && wfolder_hold_lock(f) < 0)
		dsync_error_clear();
	/* other processes see it (when .dsync/ is there to hold it) */
	if (f->state != FOLDER_MISSING && there &&
	    dsync_pause_watcher_set(f->root, why, "that is fixed (looked at again every minute)") < 0)
		dsync_error_clear();
	if (f->state != FOLDER_MISSING && there)
		watch_say(f->w, DSYNC_LOG_WARNING, f,
		          "paused: %s; nothing is recorded until that is fixed (looked at again every minute)", why);
	else if (f->state != FOLDER_MISSING)
		watch_say(f->w, DSYNC_LOG_WARNING, f,
		          "paused: %s (an unmounted drive?); nothing is recorded until it returns", why);
	f->state = FOLDER_MISSING;
	f->dirty = false;
	watch_parent(f);
	f->missing_ms = f->w->now + MISSING_CHECK_MS;
}

/* A missing folder: back? */
void rescan_check_missing(wfolder *f)
{
	struct stat st;
	bool back;

	back = *f->id ? dsync_folder_present(f->root, f->id) : stat(f->root, &st) == 0;
	if (back && wfolder_start(f) == 0) {
		watch_say(f->w, DSYNC_LOG_INFO, f, "resumed: the folder is back");
		return;
	}
	/* there but still unreadable: still this watcher's (its pause stays
	 * visible to dsync status) */
	if (*f->id && dsync_folder_present(f->root, f->id) && wfolder_hold_lock(f) < 0)
		dsync_error_clear();
	watch_parent(f);
	f->missing_ms = f->w->now + MISSING_CHECK_MS;
}

void rescan_warn_limit(wfolder *f)
{
	f->limit = false;
	if (!f->rescan_ms)
		f->rescan_ms = f->w->now + f->w->opts->rescan_ms;
	if (f->limit_warned) {
		watch_say(f->w, DSYNC_LOG_DEBUG, f, "out of inotify watches: %zu folders unwatched", f->unwatched);
		return;
	}
	f->limit_warned = true;
	watch_say(f->w, DSYNC_LOG_WARNING, f,
	          "out of inotify watches: %zu folder%s in it (and what lies below) cannot be watched; "
	          "rescanning it every %g s instead (raise the limit: sysctl fs.inotify.max_user_watches=524288)",
	          f->unwatched, f->unwatched == 1 ? "" : "s", f->w->opts->rescan_ms / 1000.0);
}

/* Adds the watches missing from F's tree; schedules rescans while some stay
 * missing. */
void rescan_refresh(wfolder *f)
{
	size_t missed = 0;
	int error;

	if (!f->watched)
		return;
	if ((error = watcher_refresh_tree(f->w->watcher, f, &missed)) < 0) {
		rescan_missing(f, dsync_error_last());
		return;
	}
	if (missed && !f->unwatched)
		f->limit = true;
	if (!missed && f->limit_warned) {
		watch_say(f->w, DSYNC_LOG_INFO, f, "every folder in it is watched again");
		f->limit_warned = false;
	}
	f->unwatched = missed;
	f->rescan_ms = missed ? f->w->now + f->w->opts->rescan_ms : 0;
}
