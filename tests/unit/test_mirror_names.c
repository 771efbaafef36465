/*
 * What a phone's storage can hold (core/mirror/names.c): each name rule,
 * transient names, dsync's temporary names, and case clashes between
 * files, folders and nested paths, decided fast for many paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mirror/mirror_internal.h"

#define FILE_MODE 0100644u
#define LINK_MODE 0120000u

static void expect_problem(const char *path, unsigned mode, const char *why)
{
	const char *got = dsync_mirror_name_problem(path, mode);

	if (!why) {
		if (got)
			fail_msg("'%s': unexpected problem '%s'", path, got);
		return;
	}
	if (!got)
		fail_msg("'%s': no problem, expected '%s'", path, why);
	assert_string_equal(got, why);
}

static void test_rules(void **state)
{
	char long_name[300], ok_name[256], path[600];
	const char *c;

	(void)state;
	expect_problem("DCIM/a.jpg", FILE_MODE, NULL);
	expect_problem("Ünïcödé/日本語.txt", FILE_MODE, NULL);
	expect_problem("a b/c d.txt", FILE_MODE, NULL);
	expect_problem(".hidden", FILE_MODE, NULL);
	for (c = ":*?\"<>|\\"; *c; c++) {
		char name[16], why[32];

		snprintf(name, sizeof(name), "d/a%cb.txt", *c);
		snprintf(why, sizeof(why), "name has '%c'", *c);
		expect_problem(name, FILE_MODE, why);
		snprintf(name, sizeof(name), "x%cy/b.txt", *c);
		expect_problem(name, FILE_MODE, why);   /* in a folder's name too */
	}
	expect_problem("a\x01.txt", FILE_MODE, "control character in name");
	expect_problem("a\x1f.txt", FILE_MODE, "control character in name");
	expect_problem("a\nb", FILE_MODE, "control character in name");
	expect_problem("dir\x7f/b", FILE_MODE, "control character in name");
	expect_problem("a.", FILE_MODE, "name ends with '.'");
	expect_problem("dir./b", FILE_MODE, "name ends with '.'");
	expect_problem("a ", FILE_MODE, "name ends with ' '");
	expect_problem("dir /b", FILE_MODE, "name ends with ' '");
	expect_problem("a\xff.txt", FILE_MODE, "name is not UTF-8");
	expect_problem("a\xc3", FILE_MODE, "name is not UTF-8");              /* cut sequence at the end */
	expect_problem("a\xc3/b", FILE_MODE, "name is not UTF-8");            /* cut by a '/' */
	expect_problem("\xc0\xaf", FILE_MODE, "name is not UTF-8");           /* overlong '/' */
	expect_problem("\xed\xa0\x80", FILE_MODE, "name is not UTF-8");       /* a surrogate */
	expect_problem("link", LINK_MODE, "symbolic link");
	expect_problem("run.sh", 0100755u, NULL);
	memset(long_name, 'a', 256);
	long_name[256] = '\0';
	expect_problem(long_name, FILE_MODE, "name longer than 255 bytes");
	memset(ok_name, 'a', 255);
	ok_name[255] = '\0';
	expect_problem(ok_name, FILE_MODE, NULL);
	snprintf(path, sizeof(path), "%s/%s", ok_name, ok_name);   /* a long path of short names is fine */
	expect_problem(path, FILE_MODE, NULL);
}

static void test_transient(void **state)
{
	static const char *const yes[] = {
		".pending-1700000000-IMG_1.jpg", ".trashed-1700000000-IMG_2.jpg", "a.tmp", "A.TMP", "video.mp4.part",
		"file.crdownload", ".notes.txt.swp", "~$report.docx", ".a.jpg.dsync-new-0123abcd",
		".a.jpg.dsync-old-deadbeef",
	};
	static const char *const no[] = {
		"pending-1.jpg", "tmp", "a.tmpx", "notes.swp", "$report.docx", "part", "a.jpg.dsync-new-0123abcd",
		".a.jpg.dsync-new-0123abc", ".a.jpg.dsync-new-0123abcg", ".a.jpg.dsync-mid-0123abcd", ".dsync-new-01234567",
		"IMG_1.jpg",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if (!dsync_mirror_name_transient(yes[i]))
			fail_msg("'%s' should be transient", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (dsync_mirror_name_transient(no[i]))
			fail_msg("'%s' should not be transient", no[i]);
	assert_true(dsync_mirror_name_is_temp(".a.jpg.dsync-new-0123abcd"));
	assert_false(dsync_mirror_name_is_temp("a.tmp"));
}

static void test_temp_names(void **state)
{
	dsync_buf a = DSYNC_BUF_INIT, b = DSYNC_BUF_INIT;
	char base[400], path[420];
	const char *name;
	size_t len;

	(void)state;
	assert_int_equal(dsync_mirror_temp_name(&a, "DCIM/Camera/IMG_1.jpg", "new"), 0);
	assert_int_equal(strncmp(a.ptr, "DCIM/Camera/.IMG_1.jpg.dsync-new-", 33), 0);
	assert_int_equal(a.len, 33 + 8);
	name = strrchr(a.ptr, '/') + 1;
	assert_true(dsync_mirror_name_is_temp(name));
	assert_true(dsync_mirror_name_transient(name));
	assert_null(dsync_mirror_name_problem(a.ptr, FILE_MODE));
	/* random: two names differ */
	assert_int_equal(dsync_mirror_temp_name(&b, "DCIM/Camera/IMG_1.jpg", "new"), 0);
	assert_string_not_equal(a.ptr, b.ptr);
	dsync_buf_truncate(&a, 0);
	assert_int_equal(dsync_mirror_temp_name(&a, "top.txt", "old"), 0);
	assert_int_equal(strncmp(a.ptr, ".top.txt.dsync-old-", 19), 0);
	assert_true(dsync_mirror_name_is_temp(a.ptr));
	dsync_buf_truncate(&a, 0);
	assert_true(dsync_mirror_temp_name(&a, "x", "bad") < 0);

	/* a 255-byte name of 2-byte characters: BASE cut on a character's
	 * boundary, the temp name within 255 bytes and valid UTF-8 */
	for (len = 0; len + 2 <= 254; len += 2)
		memcpy(base + len, "\xc3\xa9", 2);
	base[len++] = 'x';
	base[len] = '\0';
	assert_int_equal(len, 255);
	snprintf(path, sizeof(path), "d/%s", base);
	dsync_buf_truncate(&a, 0);
	assert_int_equal(dsync_mirror_temp_name(&a, path, "new"), 0);
	name = strrchr(a.ptr, '/') + 1;
	assert_true(strlen(name) <= 255);
	assert_true(strlen(name) >= 250);
	assert_null(dsync_mirror_name_problem(a.ptr, FILE_MODE));
	assert_true(dsync_mirror_name_is_temp(name));
	dsync_buf_dispose(&a);
	dsync_buf_dispose(&b);
}

/* Runs the check over N paths and compares the reasons with WANT. */
static void check_names(const char *const *paths, const unsigned *modes, const char *const *want, size_t n)
{
	char **problem = calloc(n, sizeof(*problem));
	size_t i;

	assert_non_null(problem);
	assert_int_equal(dsync_mirror_names_check(problem, paths, modes, n), 0);
	for (i = 0; i < n; i++) {
		if (!want[i] && problem[i])
			fail_msg("'%s': unexpected '%s'", paths[i], problem[i]);
		if (want[i] && !problem[i])
			fail_msg("'%s': no problem, expected '%s'", paths[i], want[i]);
		if (want[i])
			assert_string_equal(problem[i], want[i]);
		free(problem[i]);
	}
	free(problem);
}

static void test_clashes(void **state)
{
	/* byte order: upper case before lower case */
	static const char *const paths[] = {
		"A",                       /* a file */
		"DCIM/IMG_1.jpg",
		"DCIM/a:b.txt",            /* kept for its ':', so it clashes with nothing */
		"Dcim/IMG_2.jpg",          /* a folder differing in case: nested clash */
		"Docs/README.txt",
		"Docs/readme.TXT",
		"Docs/sub/x",
		"a/b.txt",                 /* folder 'a' vs file 'A' */
		"dcim/a:B.txt",            /* its own problem first */
		"docs/Sub/y",              /* the first differing folder is named */
		"x.tmp",
		"\xc3\x89t\xc3\xa9/1.jpg", /* Été */
		"\xc3\xa9t\xc3\xa9/2.jpg", /* été: folds to the same */
	};
	static const unsigned modes[] = {
		FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE,
		FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE,
	};
	static const char *const want[] = {
		NULL,
		NULL,
		"name has ':'",
		"folder 'Dcim' differs from 'DCIM' only in case",
		NULL,
		"differs from 'Docs/README.txt' only in case",
		NULL,
		"folder 'a' differs from 'A' only in case",
		"name has ':'",
		"folder 'docs' differs from 'Docs' only in case",
		"name used by apps while writing",
		NULL,
		NULL,   /* replaced below when the system folds beyond ASCII */
	};
	const char *want2[sizeof(want) / sizeof(*want)];

	(void)state;
	memcpy(want2, want, sizeof(want));
	/* "É" lowers to "é" when a UTF-8 locale is there (it is on the test
	 * machines: C.UTF-8); document the ASCII-only fallback otherwise */
	want2[12] = "folder '\xc3\xa9t\xc3\xa9' differs from '\xc3\x89t\xc3\xa9' only in case";
	check_names(paths, modes, want2, sizeof(paths) / sizeof(*paths));
}

static void test_clash_file_then_folder(void **state)
{
	/* "A/b" sorts before "a": a file clashing with an earlier folder */
	static const char *const paths[] = { "A/b", "B", "a", "b/c", "link", "link2" };
	static const unsigned modes[] = { FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE, LINK_MODE, FILE_MODE };
	static const char *const want[] = {
		NULL, NULL, "differs from 'A' only in case", "folder 'b' differs from 'B' only in case", "symbolic link",
		NULL,
	};

	(void)state;
	check_names(paths, modes, want, 6);
}

static void test_clash_kept_paths_block_nothing(void **state)
{
	/* a kept path never reaches the phone: its folders don't either */
	static const char *const paths[] = { "X/a:b", "x/c", "Y/.pending-1-a.jpg", "y/d" };
	static const unsigned modes[] = { FILE_MODE, FILE_MODE, FILE_MODE, FILE_MODE };
	static const char *const want[] = { "name has ':'", NULL, "name used by apps while writing", NULL };

	(void)state;
	check_names(paths, modes, want, 4);
}

static void test_fold(void **state)
{
	char *a;

	(void)state;
	assert_non_null(a = dsync_mirror_fold("DCIM/Été/IMG_1.JPG"));
	assert_string_equal(a, "dcim/été/img_1.jpg");
	free(a);
	assert_non_null(a = dsync_mirror_fold("A\xff\xc3Z"));   /* not UTF-8: those bytes kept */
	assert_string_equal(a, "a\xff\xc3z");
	free(a);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_many_paths(void **state)
{
	enum { N = 100000 };
	char **paths = calloc(N, sizeof(*paths)), **problem = calloc(N, sizeof(*problem));
	unsigned *modes = calloc(N, sizeof(*modes));
	struct timespec t0, t1;
	size_t i, clashes = 0;
	double secs;

	(void)state;
	assert_non_null(paths);
	assert_non_null(problem);
	assert_non_null(modes);
	for (i = 0; i < N; i++) {
		char buf[128];

		/* every 1000th file is the same as the one before but in upper case */
		if (i % 1000 == 999)
			snprintf(buf, sizeof(buf), "Folder%03zu/Sub%02zu/IMG_%06zu.JPG", (i - 1) / 1000 % 100,
				 (i - 1) / 100 % 100, i - 1);
		else
			snprintf(buf, sizeof(buf), "Folder%03zu/Sub%02zu/img_%06zu.jpg", i / 1000 % 100, i / 100 % 100, i);
		paths[i] = strdup(buf);
		modes[i] = FILE_MODE;
	}
	qsort(paths, N, sizeof(*paths), cmp_str);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(dsync_mirror_names_check(problem, (const char *const *)paths, modes, N), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (i = 0; i < N; i++) {
		if (problem[i]) {
			clashes++;
			/* the upper-case one sorts first: the lower-case one is kept */
			assert_non_null(strstr(problem[i], "only in case"));
			assert_non_null(strstr(paths[i], "img_"));
		}
		free(problem[i]);
		free(paths[i]);
	}
	assert_int_equal(clashes, N / 1000);
	/* a quadratic loop takes minutes here; the hash takes a fraction of a second */
	if (secs > 5.0)
		fail_msg("100000 paths took %.1f s", secs);
	free(paths);
	free(problem);
	free(modes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_transient),
		cmocka_unit_test(test_temp_names),
		cmocka_unit_test(test_clashes),
		cmocka_unit_test(test_clash_file_then_folder),
		cmocka_unit_test(test_clash_kept_paths_block_nothing),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_many_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
