/*
 * The watcher (core/watcher.h) on a real temporary tree: which events it
 * reports, with which paths, and that it follows the tree as it changes:
 * new directories, directories moved in, within and out, skipped (ignored)
 * directories and .dsync, the root going away, plain directories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsync/common.h"
#include "core/watch/watcher.h"
#include "sandbox.h"

#define MAX_EVENTS 256

typedef struct seen {
	int n;
	watcher_kind kind[MAX_EVENTS];
	char path[MAX_EVENTS][256];
	void *tag[MAX_EVENTS];
} seen;

static char root[300], outside[300];

static void on_event(const watcher_event *ev, void *payload)
{
	seen *s = payload;

	if (s->n == MAX_EVENTS)
		return;
	s->kind[s->n] = ev->kind;
	s->tag[s->n] = ev->tag;
	snprintf(s->path[s->n], sizeof(s->path[0]), "%s", ev->path ? ev->path : "");
	s->n++;
}

/* Reads what the watcher has, waiting up to 2 s for the first event and
 * then while more keep coming. */
static void drain(watcher *w, seen *s)
{
	struct pollfd p = { watcher_fd(w), POLLIN, 0 };
	int timeout = 2000;

	memset(s, 0, sizeof(*s));
	while (poll(&p, 1, timeout) > 0) {
		assert_int_equal(watcher_read(w, on_event, s), 0);
		timeout = 100;
	}
}

static bool has(const seen *s, watcher_kind kind, const char *path)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (s->kind[i] == kind && strcmp(s->path[i], path) == 0)
			return true;
	return false;
}

static bool has_path(const seen *s, const char *path)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->path[i], path) == 0)
			return true;
	return false;
}

static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static bool skip_ignored(void *tag, const char *path)
{
	(void)tag;
	return strcmp(path, "ignored") == 0;
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("watcher", 0);
	snprintf(root, sizeof(root), "%s/tree", sandbox_dir);
	snprintf(outside, sizeof(outside), "%s/outside", sandbox_dir);
	sh("mkdir -p '%s/a/b' '%s/ignored/deep' '%s/.dsync/objects' '%s/moved/in'", root, root, root, outside);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

static void test_tree(void **state)
{
	static int tag;
	watcher *w = NULL;
	size_t missed = 99;
	seen s;

	(void)state;
	assert_int_equal(watcher_new(&w), 0);
	assert_int_equal(watcher_add_tree(w, &tag, root, skip_ignored, &missed), 0);
	assert_int_equal(missed, 0);

	/* a file written in place: written, then closed */
	sh("echo one > '%s/a/b/f.txt'", root);
	drain(w, &s);
	assert_true(has(&s, WATCHER_CHANGED, "a/b/f.txt"));
	assert_true(has(&s, WATCHER_WRITTEN, "a/b/f.txt"));
	assert_true(has(&s, WATCHER_CLOSED, "a/b/f.txt"));
	assert_ptr_equal(s.tag[0], &tag);

	/* nothing from .dsync or a skipped directory */
	sh("echo x > '%s/.dsync/objects/o'; echo x > '%s/ignored/deep/i'", root, root);
	drain(w, &s);
	assert_int_equal(s.n, 0);

	/* a new directory with a file made at once, then one more later: the
	 * later one is seen (the new directory got its watch) */
	sh("mkdir -p '%s/new/sub' && echo 1 > '%s/new/sub/g'", root, root);
	drain(w, &s);
	assert_true(has_path(&s, "new"));
	sh("echo 2 > '%s/new/sub/h'", root);
	drain(w, &s);
	assert_true(has(&s, WATCHER_CLOSED, "new/sub/h"));

	/* a directory moved in from outside: watched below */
	sh("mv '%s/moved' '%s/movedin'", outside, root);
	drain(w, &s);
	assert_true(has_path(&s, "movedin"));
	sh("echo 3 > '%s/movedin/in/k'", root);
	drain(w, &s);
	assert_true(has(&s, WATCHER_CLOSED, "movedin/in/k"));

	/* renamed within the tree: events carry the new name */
	sh("mv '%s/movedin' '%s/renamed'", root, root);
	drain(w, &s);
	assert_true(has_path(&s, "movedin") && has_path(&s, "renamed"));
	sh("echo 4 > '%s/renamed/in/k'", root);
	drain(w, &s);
	assert_true(has(&s, WATCHER_WRITTEN, "renamed/in/k"));

	/* moved out: gone, and nothing more from it */
	sh("mv '%s/renamed' '%s/gone'", root, outside);
	drain(w, &s);
	assert_true(has_path(&s, "renamed"));
	sh("echo 5 > '%s/gone/in/k'", outside);
	drain(w, &s);
	assert_int_equal(s.n, 0);

	/* a file deleted, a file renamed */
	sh("mv '%s/a/b/f.txt' '%s/a/f2.txt' && rm '%s/new/sub/g'", root, root, root);
	drain(w, &s);
	assert_true(has(&s, WATCHER_GONE, "a/b/f.txt"));
	assert_true(has(&s, WATCHER_CHANGED, "a/f2.txt"));
	assert_true(has(&s, WATCHER_GONE, "new/sub/g"));

	/* the root moved away: one ROOT_GONE, then silence */
	sh("mv '%s' '%s/tree-away'", root, outside);
	drain(w, &s);
	assert_true(has(&s, WATCHER_ROOT_GONE, ""));
	sh("echo 6 > '%s/tree-away/a/f3.txt'", outside);
	drain(w, &s);
	assert_int_equal(s.n, 0);
	/* and back: a refresh watches it again */
	sh("mv '%s/tree-away' '%s'", outside, root);
	assert_int_equal(watcher_refresh_tree(w, &tag, &missed), 0);
	sh("echo 7 > '%s/a/f4.txt'", root);
	drain(w, &s);
	assert_true(has(&s, WATCHER_CLOSED, "a/f4.txt"));

	watcher_remove(w, &tag);
	sh("echo 8 > '%s/a/f5.txt'", root);
	drain(w, &s);
	assert_int_equal(s.n, 0);
	watcher_free(w);
}

static void test_plain(void **state)
{
	static int tag;
	watcher *w = NULL;
	seen s;

	(void)state;
	assert_int_equal(watcher_new(&w), 0);
	assert_int_equal(watcher_add_plain(w, &tag, root), 0);
	sh("echo x > '%s/plain.txt' && echo y > '%s/a/not-seen'", root, root);
	drain(w, &s);
	assert_true(has(&s, WATCHER_PLAIN, "plain.txt"));
	assert_false(has_path(&s, "a/not-seen"));
	assert_false(has_path(&s, "not-seen"));
	watcher_free(w);
}

static void test_missing_root(void **state)
{
	static int tag;
	watcher *w = NULL;
	size_t missed;
	char path[400];

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such-folder", root);
	assert_int_equal(watcher_new(&w), 0);
	assert_int_equal(watcher_add_tree(w, &tag, path, skip_ignored, &missed), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "no-such-folder"));
	watcher_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_missing_root),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
