/*
 * The file-system watcher behind `dsync watch`: tells the watch loop that
 * something changed below a folder, and which file, without polling
 * (internal to core/).  One implementation today, Linux inotify
 * (watcher_inotify.c); FSEvents or kqueue can follow behind the same calls.
 *
 * A "tree" is a folder watched recursively: every directory below its root
 * that the skip callback accepts gets a watch, and the watcher follows the
 * tree as it changes (new directories, directories moved in and out).  A
 * "plain" directory is watched alone, for entries appearing in it (the
 * config directory, a missing folder's parent).
 */
#ifndef DSYNC_CORE_WATCHER_H
#define DSYNC_CORE_WATCHER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct watcher watcher;

typedef enum watcher_kind {
	WATCHER_CHANGED,   /* an entry was created, changed, renamed or removed */
	WATCHER_WRITTEN,   /* a file's content was written (it may be open still) */
	WATCHER_CLOSED,    /* a file open for writing was closed */
	WATCHER_GONE,      /* a file was removed or moved away */
	WATCHER_ROOT_GONE, /* the tree's root went (deleted, moved, unmounted) */
	WATCHER_OVERFLOW,  /* the kernel dropped events: trust nothing, rescan */
	WATCHER_LIMIT,     /* a new directory could not be watched: out of
			      watches (the tree needs rescans) */
	WATCHER_PLAIN      /* an entry appeared or changed in a plain directory */
} watcher_kind;

typedef struct watcher_event {
	watcher_kind kind;
	void *tag;         /* the tree's or plain directory's tag (NULL: overflow) */
	const char *path;  /* tree-relative path ("" the root), or the entry's
			      name in a plain directory */
	bool is_dir;
} watcher_event;

typedef void (*watcher_event_cb)(const watcher_event *ev, void *payload);

/* True: the directory PATH (tree-relative, never "") is not watched, nor
 * anything below it (ignored folders, .dsync). */
typedef bool (*watcher_skip_cb)(void *tag, const char *path);

int watcher_new(watcher **out);
void watcher_free(watcher *w);

/* The descriptor to poll for input; then call watcher_read(). */
int watcher_fd(const watcher *w);

/*
 * Watches ROOT and every directory below it that SKIP accepts, events tagged
 * TAG.  Directories that cannot be watched because the per-user limit is
 * reached are counted in *MISSED (the caller rescans them itself); any other
 * failure on the root is an error.
 */
int watcher_add_tree(watcher *w, void *tag, const char *root, watcher_skip_cb skip, size_t *missed);

/*
 * Walks TAG's tree again, adding watches to directories that have none (after
 * an overflow, when watches ran out, when the ignore rules changed).  *MISSED
 * as above.
 */
int watcher_refresh_tree(watcher *w, void *tag, size_t *missed);

/* Stops watching TAG's tree or plain directory. */
void watcher_remove(watcher *w, void *tag);

/* Watches the directory DIR alone (not recursively), events tagged TAG. */
int watcher_add_plain(watcher *w, void *tag, const char *dir);

/* Reads every pending event and hands it to CB; never blocks. */
int watcher_read(watcher *w, watcher_event_cb cb, void *payload);

#endif
