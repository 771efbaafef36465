/*
 * What the watcher cannot see: folders that went missing (an unmounted
 * drive) and are looked for again, and folders left unwatched when inotify's
 * watches ran out, rescanned on a timer (internal to core/watch/).
 */
#ifndef DSYNC_CORE_WATCH_RESCAN_H
#define DSYNC_CORE_WATCH_RESCAN_H

#include "core/watch/wfolder.h"

/* Something moved on the way to a missing folder: look once it settles (a
 * folder being copied back is not back until the copy is done). */
void rescan_soon(wfolder *f);

/* F went missing (WHY, told once): stopped, and looked for again every
 * minute and whenever something moves on the way to it. */
void rescan_missing(wfolder *f, const char *why);

/* A missing folder: back?  Started again if so. */
void rescan_check_missing(wfolder *f);

/* Tells that watches ran out in F (once; later only at debug level) and
 * schedules its rescans. */
void rescan_warn_limit(wfolder *f);

/* Adds the watches missing from F's tree; schedules rescans while some stay
 * missing. */
void rescan_refresh(wfolder *f);

#endif
