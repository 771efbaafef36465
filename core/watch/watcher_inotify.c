/*
 * The watcher on Linux: raw inotify, one watch per directory, in the
 * caller's own poll loop (see core/watcher.h).
 *
 * Watches are found by descriptor in a binary tree (tsearch).  A directory
 * created or moved into a tree gets its watches at once, then is listed, so
 * files made in it before its watch existed are still caught by the
 * snapshot's own walk; a directory moved out loses its watches.  A watch the
 * kernel refuses for want of watches (ENOSPC) is counted, not fatal: the
 * caller falls back to rescanning.
 */
#include "core/base/internal.h"
#include "core/watch/watcher.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "dsync/folder.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_MASK (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | \
		   IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | \
		   IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define PLAIN_MASK (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | \
		    IN_ONLYDIR | IN_EXCL_UNLINK)
#define READ_BUF (64 * 1024)

typedef struct wtree {
	void *tag;
	char *root;
	watcher_skip_cb skip;  /* NULL: a plain directory */
	int root_wd;           /* -1: the root is not watched (gone) */
} wtree;

typedef struct wnode {
	int wd;
	wtree *tree;
	char *path;            /* tree-relative; "" the root */
} wnode;

struct watcher {
	int fd;
	void *by_wd;           /* tsearch tree of wnode *, by wd */
	size_t nodes;
	DSYNC_ARRAY(wtree *) trees;
	char *buf;
};

static int cmp_wd(const void *a, const void *b)
{
	int x = ((const wnode *)a)->wd, y = ((const wnode *)b)->wd;

	return (x > y) - (x < y);
}

static wnode *find_wd(const watcher *w, int wd)
{
	wnode key = { wd, NULL, NULL };
	void *const *hit = tfind(&key, &w->by_wd, cmp_wd);

	return hit ? *(wnode *const *)hit : NULL;
}

static void free_node(void *p)
{
	wnode *n = p;

	free(n->path);
	free(n);
}

/* Forgets node N (its watch is gone or is being removed). */
static void drop_node(watcher *w, wnode *n)
{
	if (n->tree->root_wd == n->wd)
		n->tree->root_wd = -1;
	tdelete(n, &w->by_wd, cmp_wd);
	w->nodes--;
	free_node(n);
}

int watcher_new(watcher **out)
{
	watcher *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w || (w->buf = malloc(READ_BUF)) == NULL) {
		free(w);
		return dsync_error_oom();
	}
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		int e = errno;

		free(w->buf);
		free(w);
		if (e == EMFILE)
			return dsync_error_set(DSYNC_ERROR,
				"cannot watch for changes: too many inotify instances; "
				"raise the limit with 'sysctl fs.inotify.max_user_instances=1024'");
		return dsync_error_sys(e, "cannot watch for changes (inotify)");
	}
	*out = w;
	return 0;
}

void watcher_free(watcher *w)
{
	size_t i;

	if (!w)
		return;
	close(w->fd);
	tdestroy(w->by_wd, free_node);
	for (i = 0; i < w->trees.size; i++) {
		free(w->trees.ptr[i]->root);
		free(w->trees.ptr[i]);
	}
	dsync_array_dispose(w->trees);
	free(w->buf);
	free(w);
}

int watcher_fd(const watcher *w)
{
	return w->fd;
}

static wtree *find_tree(const watcher *w, const void *tag)
{
	size_t i;

	for (i = 0; i < w->trees.size; i++)
		if (w->trees.ptr[i]->tag == tag)
			return w->trees.ptr[i];
	return NULL;
}

/*
 * Watches the directory PATH of tree T (no descent).  *ADDED: a new watch;
 * *LIMIT: refused for want of watches.  Other failures (vanished,
 * unreadable) leave it unwatched: the snapshot's walk reports those.
 */
static int watch_one(watcher *w, wtree *t, const char *path, const char *abs, bool *watched, bool *limit)
{
	int wd = inotify_add_watch(w->fd, abs, t->skip ? TREE_MASK : PLAIN_MASK);
	wnode *n;

	*watched = *limit = false;
	if (wd < 0) {
		if (errno == ENOSPC)
			*limit = true;
		if (errno == ENOMEM)
			return dsync_error_set(DSYNC_ERROR, "out of memory adding a watch on '%s'", abs);
		return 0;
	}
	*watched = true;
	if ((n = find_wd(w, wd)) != NULL) {
		/* already watched (a directory moved within the tree): its new name */
		char *p = strdup(path);

		if (!p)
			return dsync_error_oom();
		free(n->path);
		n->path = p;
		n->tree = t;
	} else {
		if ((n = calloc(1, sizeof(*n))) == NULL || (n->path = strdup(path)) == NULL) {
			free(n);
			inotify_rm_watch(w->fd, wd);
			return dsync_error_oom();
		}
		n->wd = wd;
		n->tree = t;
		if (!tsearch(n, &w->by_wd, cmp_wd)) {
			free_node(n);
			inotify_rm_watch(w->fd, wd);
			return dsync_error_oom();
		}
		w->nodes++;
	}
	if (!*path)
		t->root_wd = wd;
	return 0;
}

/* Watches the directory PATH of tree T and everything below it; PATH's
 * watch comes before its listing, so nothing made meanwhile is missed. */
static int watch_subtree(watcher *w, wtree *t, dsync_buf *path, size_t *missed)
{
	dsync_buf abs = DSYNC_BUF_INIT;
	DIR *d = NULL;
	struct dirent *e;
	bool watched, limit;
	int error;

	if ((error = dsync_buf_printf(&abs, "%s%s%s", t->root, path->len ? "/" : "", path->ptr ? path->ptr : "")) < 0 ||
	    (error = watch_one(w, t, path->ptr ? path->ptr : "", abs.ptr, &watched, &limit)) < 0)
		goto out;
	if (!watched) {
		if (limit)
			(*missed)++;
		goto out; /* below it is walked by the rescans */
	}
	if ((d = opendir(abs.ptr)) == NULL)
		goto out;
	while ((e = readdir(d)) != NULL) {
		size_t len = path->len;
		bool is_dir = e->d_type == DT_DIR;

		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (strcmp(e->d_name, DSYNC_DIR) == 0)
			continue;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;

			is_dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		}
		if (!is_dir)
			continue;
		if ((len && (error = dsync_buf_put(path, "/", 1)) < 0) ||
		    (error = dsync_buf_puts(path, e->d_name)) < 0)
			goto out;
		if (!t->skip(t->tag, path->ptr))
			error = watch_subtree(w, t, path, missed);
		dsync_buf_truncate(path, len);
		if (error < 0)
			goto out;
	}
out:
	if (d)
		closedir(d);
	dsync_buf_dispose(&abs);
	return error;
}

/* A new tree for TAG at ROOT into *OUT (NULL on failure). */
static int add_tree(watcher *w, wtree **out, void *tag, const char *root, watcher_skip_cb skip)
{
	wtree *t;

	*out = NULL;
	if (dsync_array_reserve(w->trees, w->trees.size + 1) < 0)
		return dsync_error_oom();
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->root = strdup(root)) == NULL) {
		free(t);
		return dsync_error_oom();
	}
	t->tag = tag;
	t->skip = skip;
	t->root_wd = -1;
	w->trees.ptr[w->trees.size++] = t;
	*out = t;
	return 0;
}

static int root_error(const wtree *t, bool limit)
{
	struct stat st;

	if (limit)
		return dsync_error_set(DSYNC_ERROR,
			"cannot watch '%s': out of inotify watches; raise the limit with "
			"'sysctl fs.inotify.max_user_watches=524288'", t->root);
	if (stat(t->root, &st) < 0)
		return dsync_error_sys(errno, "cannot watch '%s'", t->root);
	if (!S_ISDIR(st.st_mode))
		return dsync_error_set(DSYNC_ENOTDIR, "cannot watch '%s': not a folder", t->root);
	return dsync_error_set(DSYNC_EACCESS, "cannot watch '%s': permission denied", t->root);
}

int watcher_refresh_tree(watcher *w, void *tag, size_t *missed)
{
	wtree *t = find_tree(w, tag);
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	*missed = 0;
	if (!t)
		return dsync_error_set(DSYNC_EUSAGE, "no such watched folder");
	if ((error = dsync_buf_puts(&path, "")) == 0)
		error = watch_subtree(w, t, &path, missed);
	dsync_buf_dispose(&path);
	if (error == 0 && t->root_wd < 0)
		error = root_error(t, *missed > 0);
	return error;
}

int watcher_add_tree(watcher *w, void *tag, const char *root, watcher_skip_cb skip, size_t *missed)
{
	wtree *t;
	int error;

	*missed = 0;
	if ((error = add_tree(w, &t, tag, root, skip)) < 0)
		return error;
	if ((error = watcher_refresh_tree(w, tag, missed)) < 0)
		watcher_remove(w, tag);
	return error;
}

int watcher_add_plain(watcher *w, void *tag, const char *dir)
{
	wtree *t;
	bool watched, limit;
	int error;

	if ((error = add_tree(w, &t, tag, dir, NULL)) < 0)
		return error;
	if ((error = watch_one(w, t, "", dir, &watched, &limit)) == 0 && !watched)
		error = root_error(t, limit);
	if (error < 0)
		watcher_remove(w, tag);
	return error;
}

typedef struct collect {
	wtree *tree;
	const char *prefix;    /* NULL: every node of the tree */
	size_t plen;
	DSYNC_ARRAY(wnode *) nodes;
	bool oom;
} collect;

static void collect_cb(const void *nodep, VISIT which, void *payload)
{
	wnode *n = *(wnode *const *)nodep;
	collect *c = payload;

	if ((which != postorder && which != leaf) || n->tree != c->tree)
		return;
	if (c->prefix && !(strncmp(n->path, c->prefix, c->plen) == 0 &&
			   (n->path[c->plen] == '\0' || n->path[c->plen] == '/')))
		return;
	if (dsync_array_push(c->nodes, n) < 0)
		c->oom = true;
}

/* Removes the watches of tree T at PREFIX and below (NULL: all of them). */
static void unwatch(watcher *w, wtree *t, const char *prefix)
{
	collect c = { .tree = t, .prefix = prefix, .plen = prefix ? strlen(prefix) : 0 };
	size_t i;

	twalk_r(w->by_wd, collect_cb, &c);
	for (i = 0; i < c.nodes.size; i++) {
		inotify_rm_watch(w->fd, c.nodes.ptr[i]->wd);
		drop_node(w, c.nodes.ptr[i]);
	}
	dsync_array_dispose(c.nodes);
}

void watcher_remove(watcher *w, void *tag)
{
	size_t i;

	for (i = 0; i < w->trees.size; i++) {
		wtree *t = w->trees.ptr[i];

		if (t->tag != tag)
			continue;
		unwatch(w, t, NULL);
		free(t->root);
		free(t);
		memmove(&w->trees.ptr[i], &w->trees.ptr[i + 1], (w->trees.size - i - 1) * sizeof(*w->trees.ptr));
		w->trees.size--;
		return;
	}
}

/* Hands one event of a tree's node N to CB. */
static int tree_event(watcher *w, wnode *n, const struct inotify_event *ev, watcher_event_cb cb, void *payload)
{
	wtree *t = n->tree;
	dsync_buf path = DSYNC_BUF_INIT;
	watcher_event out = { WATCHER_CHANGED, t->tag, NULL, (ev->mask & IN_ISDIR) != 0 };
	size_t missed = 0;
	int error = 0;

	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		if (n->wd != t->root_wd)
			return 0; /* the parent's event tells (or it is moving away) */
		unwatch(w, t, NULL);
		out.kind = WATCHER_ROOT_GONE;
		out.path = "";
		out.is_dir = true;
		cb(&out, payload);
		return 0;
	}
	if (ev->len == 0)
		return 0;
	if ((error = dsync_buf_printf(&path, "%s%s%s", n->path, *n->path ? "/" : "", ev->name)) < 0)
		return error;
	out.path = path.ptr;
	if (ev->mask & IN_ISDIR) {
		if (strcmp(ev->name, DSYNC_DIR) == 0)
			goto out; /* a nested folder's own history */
		if (ev->mask & IN_MOVED_FROM) {
			unwatch(w, t, path.ptr);
		} else if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && !t->skip(t->tag, path.ptr)) {
			dsync_buf sub = DSYNC_BUF_INIT;

			error = dsync_buf_puts(&sub, path.ptr);
			if (error == 0)
				error = watch_subtree(w, t, &sub, &missed);
			dsync_buf_dispose(&sub);
			if (error < 0)
				goto out;
			if (missed) {
				watcher_event lim = { WATCHER_LIMIT, t->tag, path.ptr, true };

				cb(&lim, payload);
			}
		}
	} else if (ev->mask & IN_MODIFY) {
		out.kind = WATCHER_WRITTEN;
	} else if (ev->mask & IN_CLOSE_WRITE) {
		out.kind = WATCHER_CLOSED;
	} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
		out.kind = WATCHER_GONE;
	}
	cb(&out, payload);
out:
	dsync_buf_dispose(&path);
	return error;
}

int watcher_read(watcher *w, watcher_event_cb cb, void *payload)
{
	for (;;) {
		ssize_t len = read(w->fd, w->buf, READ_BUF);
		size_t off;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return dsync_error_sys(errno, "cannot read file-system events");
		}
		for (off = 0; off + sizeof(struct inotify_event) <= (size_t)len;) {
			const struct inotify_event *ev = (const struct inotify_event *)(w->buf + off);
			wnode *n;
			int error;

			off += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				watcher_event of = { WATCHER_OVERFLOW, NULL, "", true };

				cb(&of, payload);
				continue;
			}
			if ((n = find_wd(w, ev->wd)) == NULL)
				continue; /* a watch already removed */
			if (ev->mask & IN_IGNORED) {
				wtree *t = n->tree;
				bool root = n->wd == t->root_wd;

				drop_node(w, n);
				if (root && t->skip) {
					watcher_event gone = { WATCHER_ROOT_GONE, t->tag, "", true };

					unwatch(w, t, NULL);
					cb(&gone, payload);
				}
				continue;
			}
			if (!n->tree->skip) {
				watcher_event pe = { WATCHER_PLAIN, n->tree->tag, ev->len ? ev->name : "",
						     (ev->mask & IN_ISDIR) != 0 };

				cb(&pe, payload);
				continue;
			}
			if ((error = tree_event(w, n, ev, cb, payload)) < 0)
				return error;
		}
	}
}
