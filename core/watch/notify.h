/*
 * Desktop notifications from the loop (internal to core/watch/): a
 * conflict made, a folder paused, a remote failing round after round.
 * Freedesktop notifications (org.freedesktop.Notifications.Notify on the
 * session bus) sent by `gdbus call`, else by `notify-send`, as a detached
 * child process; docs/watch.md, "Notifications".
 */
#ifndef DSYNC_CORE_WATCH_NOTIFY_H
#define DSYNC_CORE_WATCH_NOTIFY_H

#include "core/watch/wfolder.h"

/* Remote rounds in a row that must fail before the user is told. */
#define NOTIFY_FAILED_ROUNDS 3

/*
 * Shows SUMMARY with a body (FMT...) about folder F on the desktop, when
 * notifications are on (DSYNC_NOTIFY is not "0", F's watch.notify is not
 * false) and there is a session bus; nothing (no error) without one.
 * Neither tool installed: a one-line note in the log, once per process.
 * The caller sends it once per event (it keeps what it told).
 */
void watch_notify(const wfolder *f, const char *summary, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
