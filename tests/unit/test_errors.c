/*
 * Error paths of the library: each gives the documented code and a
 * one-line message naming the thing (not a folder, unknown revision, path
 * never in history, unwritable destination, and more).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/history.h"
#include "dsync/restore.h"
#include "dsync/snapshot.h"
#include "sandbox.h"


static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void one_line(void)
{
	const char *msg = dsync_error_last();

	assert_true(strlen(msg) > 0);
	assert_null(strchr(msg, '\n'));
}

static int setup(void **state)
{
	(void)state;
	/* in /tmp: the test of an unwritable place runs as nobody when root */
	sandbox_open("errors", SANDBOX_HOME | SANDBOX_IN_TMP);
	return dsync_lib_init();
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	dsync_lib_shutdown();
	return 0;
}

/* A folder with one file and one snapshot. */
static dsync_folder *make_folder(const char *name)
{
	char dir[400], file[500];
	dsync_folder *f = NULL;
	dsync_snapshot_result r;

	snprintf(dir, sizeof(dir), "%s/%s", sandbox_dir, name);
	assert_int_equal(dsync_folder_init(&f, dir, "unit"), 0);
	snprintf(file, sizeof(file), "%s/a.txt", dir);
	write_text(file, "hello\n");
	assert_int_equal(dsync_snapshot_take(&r, f, NULL), 0);
	assert_true(r.committed);
	return f;
}

static void test_init_on_a_file(void **state)
{
	char path[300];
	dsync_folder *f = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/plain-file", sandbox_dir);
	write_text(path, "x");
	assert_int_equal(dsync_folder_init(&f, path, "unit"), DSYNC_ENOTDIR);
	assert_null(f);
	assert_non_null(strstr(dsync_error_last(), "is not a folder"));
	assert_non_null(strstr(dsync_error_last(), "plain-file"));
	one_line();
}

static void test_open_outside_any_folder(void **state)
{
	dsync_folder *f = NULL;
	char dir[300];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/not-a-folder", sandbox_dir);
	mkdir(dir, 0755);
	assert_int_equal(dsync_folder_open(&f, dir), DSYNC_ENOTFOLDER);
	assert_non_null(strstr(dsync_error_last(), "dsync init"));
	one_line();
	assert_int_equal(dsync_error_exit_code(DSYNC_ENOTFOLDER), 1);
}

static void test_init_twice_and_nested(void **state)
{
	dsync_folder *f = make_folder("twice"), *g = NULL;
	char dir[400];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/twice", sandbox_dir);
	assert_int_equal(dsync_folder_init(&g, dir, "unit"), DSYNC_EEXISTS);
	assert_non_null(strstr(dsync_error_last(), "already a dsync folder"));
	snprintf(dir, sizeof(dir), "%s/twice/inner/deeper", sandbox_dir);
	assert_int_equal(dsync_folder_init(&g, dir, "unit"), DSYNC_EEXISTS);
	assert_non_null(strstr(dsync_error_last(), "inside the dsync folder"));
	one_line();
	assert_null(g);
	dsync_folder_free(f);
}

static void test_bad_device_name(void **state)
{
	dsync_folder *f = NULL;
	char dir[300];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/badname", sandbox_dir);
	assert_int_equal(dsync_folder_init(&f, dir, "evil <name>"), DSYNC_EUSAGE);
	assert_int_equal(dsync_error_exit_code(DSYNC_EUSAGE), 2);
	one_line();
}

static void test_unknown_revision(void **state)
{
	dsync_folder *f = make_folder("revs");
	char hex[41];

	(void)state;
	/* neither a version nor a time: a bad argument, as a bad --since */
	assert_int_equal(dsync_history_resolve(hex, f, "no-such-version"), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "unknown version 'no-such-version'"));
	one_line();
	/* an id no snapshot has: not found */
	assert_int_equal(dsync_history_resolve(hex, f, "deadbeef"), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "no snapshot has the id 'deadbeef'"));
	assert_int_equal(dsync_history_resolve(hex, f, "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_history_resolve(hex, f, ""), DSYNC_EUSAGE);
	assert_int_equal(dsync_history_resolve(hex, f, "HEAD~5"), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_history_resolve(hex, f, "1999-01-01"), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "no snapshot at or before '1999-01-01'"));
	/* the good ones */
	assert_int_equal(dsync_history_resolve(hex, f, "HEAD"), 0);
	assert_int_equal(strlen(hex), 40);
	{
		char again[41], shortid[9];

		memcpy(shortid, hex, 8);
		shortid[8] = '\0';
		assert_int_equal(dsync_history_resolve(again, f, shortid), 0);
		assert_string_equal(again, hex);
		assert_int_equal(dsync_history_resolve(again, f, "now"), 0);
		assert_string_equal(again, hex);
	}
	dsync_folder_free(f);
}

static void test_quote(void **state)
{
	char q[DSYNC_QUOTE_SIZE], want[DSYNC_QUOTE_SIZE], arg[400];

	(void)state;
	assert_string_equal(dsync_quote(q, "plain name.txt"), "plain name.txt");
	assert_string_equal(dsync_quote(q, ""), "");
	assert_string_equal(dsync_quote(q, NULL), "");
	/* control characters and bytes that are not UTF-8 made visible */
	assert_string_equal(dsync_quote(q, "a\nb\tc\rd\x1b[31m\x7f\xff"), "a\\nb\\tc\\rd\\x1b[31m\\x7f\\xff");
	/* UTF-8 kept */
	assert_string_equal(dsync_quote(q, "caf\xc3\xa9"), "caf\xc3\xa9");
	/* characters that reorder the text shown as \uXXXX, their neighbours kept */
	assert_string_equal(dsync_quote(q, "a\xe2\x80\xae" "b\xe2\x80\xaa\xe2\x81\xa6\xe2\x81\xa9\xe2\x80\xa9"),
			    "a\\u202eb\\u202a\\u2066\\u2069\xe2\x80\xa9");
	/* cut at 60 bytes, with an ellipsis */
	memset(arg, 'x', 300);
	arg[300] = '\0';
	memset(want, 'x', DSYNC_QUOTE_KEEP);
	memcpy(want + DSYNC_QUOTE_KEEP, "\xe2\x80\xa6", 4);
	assert_string_equal(dsync_quote(q, arg), want);
	arg[DSYNC_QUOTE_KEEP] = '\0';
	assert_string_equal(dsync_quote(q, arg), arg);
	/* never inside a character: 59 bytes, then a 2-byte one that would end at 61 */
	memset(arg, 'y', 59);
	memcpy(arg + 59, "\xc3\xa9\xc3\xa9", 5);
	memset(want, 'y', 59);
	memcpy(want + 59, "\xe2\x80\xa6", 4);
	assert_string_equal(dsync_quote(q, arg), want);
	/* the worst case fits: every byte shown as \xNN */
	memset(arg, 1, 300);
	arg[300] = '\0';
	assert_int_equal(strlen(dsync_quote(q, arg)), DSYNC_QUOTE_KEEP * 4 + 3);
}

static int sink(const void *data, size_t len, void *payload)
{
	(void)data;
	(void)len;
	(void)payload;
	return 0;
}

static int dir_sink(const dsync_dir_entry *e, void *payload)
{
	(void)e;
	(void)payload;
	return 0;
}

static int version_sink(const dsync_version *v, void *payload)
{
	(void)v;
	(*(int *)payload)++;
	return 0;
}

static void test_path_never_in_history(void **state)
{
	dsync_folder *f = make_folder("never");
	dsync_restore_options ro = DSYNC_RESTORE_OPTIONS_INIT;
	dsync_restore_result rr;
	const char *paths[] = { "nope.txt" };
	bool is_dir;
	int n = 0;

	(void)state;
	assert_int_equal(dsync_history_versions(f, "nope.txt", version_sink, &n), DSYNC_ENOTFOUND);
	assert_int_equal(n, 0);
	assert_non_null(strstr(dsync_error_last(), "'nope.txt' was never in the history"));
	one_line();
	assert_int_equal(dsync_history_cat(f, NULL, "nope.txt", &is_dir, sink, dir_sink, NULL),
			 DSYNC_ENOTFOUND);
	one_line();
	assert_int_equal(dsync_restore(&rr, f, paths, 1, &ro), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "'nope.txt' is not in the version"));
	one_line();
	/* a path that exists has versions */
	assert_int_equal(dsync_history_versions(f, "a.txt", version_sink, &n), 0);
	assert_int_equal(n, 1);
	dsync_folder_free(f);
}

static void test_path_outside_folder(void **state)
{
	dsync_folder *f = make_folder("outside");
	char *rel = NULL;

	(void)state;
	/* each refusal says why, in one line, and leaves nothing to free */
	assert_int_equal(dsync_folder_relpath(&rel, f, "/etc/passwd"), DSYNC_EUSAGE);
	assert_null(rel);
	assert_non_null(strstr(dsync_error_last(), "outside the dsync folder"));
	one_line();
	assert_int_equal(dsync_folder_relpath(&rel, f, "../.."), DSYNC_EUSAGE);
	assert_null(rel);
	assert_non_null(strstr(dsync_error_last(), "outside the dsync folder"));
	{
		char p[400];

		snprintf(p, sizeof(p), "%s/outside/.dsync/config", sandbox_dir);
		assert_int_equal(dsync_folder_relpath(&rel, f, p), DSYNC_EUSAGE);
		assert_null(rel);
		assert_non_null(strstr(dsync_error_last(), "inside dsync's own '.dsync'"));
		one_line();
		snprintf(p, sizeof(p), "%s/outside/sub/../a.txt", sandbox_dir);
		assert_int_equal(dsync_folder_relpath(&rel, f, p), 0);
		assert_string_equal(rel, "a.txt");
		free(rel);
	}
	dsync_folder_free(f);
}

/*
 * Restore --to an unwritable place fails with DSYNC_EACCESS and a message
 * naming it.  Root may write anywhere, so as root the call runs in a child
 * that has become 'nobody'.
 */
static void test_unwritable_destination(void **state)
{
	dsync_folder *f = make_folder("unwritable");
	char ro[300], dest[400], root[400];
	pid_t pid;
	int status;

	(void)state;
	snprintf(ro, sizeof(ro), "%s/readonly", sandbox_dir);
	assert_int_equal(mkdir(ro, 0555), 0);
	chmod(ro, 0555);
	snprintf(dest, sizeof(dest), "%s/readonly/a-copy.txt", sandbox_dir);
	snprintf(root, sizeof(root), "%s/unwritable", sandbox_dir);
	if (geteuid() == 0) {
		/* let 'nobody' read the folder's history */
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "chmod -R a+rX '%s' '%s/home'", root, sandbox_dir);
		assert_int_equal(system(cmd), 0);
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dsync_restore_options o = DSYNC_RESTORE_OPTIONS_INIT;
		dsync_restore_result rr;
		const char *paths[] = { "a.txt" };
		dsync_folder *g = NULL;
		int rc;

		if (geteuid() == 0) {
			struct passwd *pw = getpwnam("nobody");

			if (!pw || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
				_exit(90);
		}
		if (dsync_folder_open(&g, root) < 0)
			_exit(91);
		o.to = dest;
		rc = dsync_restore(&rr, g, paths, 1, &o);
		if (rc != DSYNC_EACCESS)
			_exit(92);
		if (!strstr(dsync_error_last(), "a-copy.txt") || !strstr(dsync_error_last(), "Permission denied"))
			_exit(93);
		if (strchr(dsync_error_last(), '\n'))
			_exit(94);
		dsync_folder_free(g);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(dest, F_OK), -1);
	assert_int_equal(dsync_error_exit_code(DSYNC_EACCESS), 1);
	dsync_folder_free(f);
}

static void test_lock_held(void **state)
{
	dsync_folder *f = make_folder("locked"), *g = NULL;
	char dir[400];
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result r;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/locked", sandbox_dir);
	assert_int_equal(dsync_folder_open(&g, dir), 0);
	assert_int_equal(dsync_folder_lock(f, 0), 0);
	so.lock_wait_ms = 100;
	assert_int_equal(dsync_snapshot_take(&r, g, &so), DSYNC_ELOCKED);
	assert_non_null(strstr(dsync_error_last(), "another dsync"));
	assert_int_equal(dsync_error_exit_code(DSYNC_ELOCKED), 4);
	dsync_folder_unlock(f);
	assert_int_equal(dsync_snapshot_take(&r, g, &so), 0);
	assert_false(r.committed);
	dsync_folder_free(g);
	dsync_folder_free(f);
}

static void test_mass_delete_refused(void **state)
{
	dsync_folder *f = NULL;
	dsync_snapshot_result r;
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	char dir[400], file[500];
	int i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/mass", sandbox_dir);
	assert_int_equal(dsync_folder_init(&f, dir, "unit"), 0);
	for (i = 0; i < 30; i++) {
		snprintf(file, sizeof(file), "%s/f%02d", dir, i);
		write_text(file, "x");
	}
	assert_int_equal(dsync_snapshot_take(&r, f, NULL), 0);
	for (i = 0; i < 20; i++) {
		snprintf(file, sizeof(file), "%s/f%02d", dir, i);
		unlink(file);
	}
	assert_int_equal(dsync_snapshot_take(&r, f, NULL), DSYNC_EMASSDELETE);
	assert_non_null(strstr(dsync_error_last(), "--allow-mass-delete"));
	one_line();
	so.allow_mass_delete = true;
	assert_int_equal(dsync_snapshot_take(&r, f, &so), 0);
	assert_int_equal(r.deleted, 20);
	dsync_folder_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_on_a_file),
		cmocka_unit_test(test_open_outside_any_folder),
		cmocka_unit_test(test_init_twice_and_nested),
		cmocka_unit_test(test_bad_device_name),
		cmocka_unit_test(test_unknown_revision),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_path_never_in_history),
		cmocka_unit_test(test_path_outside_folder),
		cmocka_unit_test(test_unwritable_destination),
		cmocka_unit_test(test_lock_held),
		cmocka_unit_test(test_mass_delete_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
