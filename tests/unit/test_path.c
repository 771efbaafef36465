/*
 * Paths: the ".git" escaping rule is a bijection that git accepts, lexical
 * normalisation, and the safety check on folder-relative paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dsync/common.h"
#include "core/base/buf.h"
#include "core/base/path.h"

static void roundtrip(const char *disk, const char *stored, bool link)
{
	dsync_buf a = DSYNC_BUF_INIT, b = DSYNC_BUF_INIT;

	assert_int_equal(dsync_buf_puts(&a, ""), 0);
	assert_int_equal(dsync_path_escape(&a, disk, link), 0);
	assert_string_equal(a.ptr, stored);
	assert_int_equal(dsync_buf_puts(&b, ""), 0);
	assert_int_equal(dsync_path_unescape(&b, a.ptr, link), 0);
	assert_string_equal(b.ptr, disk);
	dsync_buf_dispose(&a);
	dsync_buf_dispose(&b);
}

static void test_escape(void **state)
{
	(void)state;
	roundtrip("a.txt", "a.txt", false);
	roundtrip(".git", ".git~dsync", false);
	roundtrip("sub/.git/HEAD", "sub/.git~dsync/HEAD", false);
	roundtrip(".GIT", ".GIT~dsync", false);
	roundtrip(".Git/x", ".Git~dsync/x", false);
	roundtrip(".git~dsync", ".git~dsync~dsync", false);
	roundtrip(".git~dsync~dsync", ".git~dsync~dsync~dsync", false);
	roundtrip(".gitignore", ".gitignore", false);
	roundtrip(".git~other", ".git~other", false);
	roundtrip(".git~dsyncx", ".git~dsyncx", false);
	roundtrip("x.git", "x.git", false);
	/* .gitmodules: only a link needs it */
	roundtrip(".gitmodules", ".gitmodules", false);
	roundtrip(".gitmodules", ".gitmodules~dsync", true);
	roundtrip("d/.gitmodules", "d/.gitmodules~dsync", true);
	/* the last component only is the link */
	roundtrip(".gitmodules/.git", ".gitmodules/.git~dsync", true);
	/* no collision between a link .gitmodules and a file .gitmodules~dsync */
	roundtrip(".gitmodules~dsync", ".gitmodules~dsync~dsync", false);
	roundtrip(".gitmodules~dsync", ".gitmodules~dsync~dsync", true);
	roundtrip(".gitmodules~dsync~dsync", ".gitmodules~dsync~dsync~dsync", false);
	roundtrip("odd\xff\x01/na me", "odd\xff\x01/na me", false);
	/* the empty-folder marker: a user's file of that name is escaped */
	roundtrip("d/.dsync-empty", "d/.dsync-empty~dsync", false);
	roundtrip(".dsync-empty~dsync", ".dsync-empty~dsync~dsync", false);
	roundtrip(".DSYNC-EMPTY", ".DSYNC-EMPTY", false);
	/* ".dsync" in another case: escaped, so no stored name reads as
	 * dsync's own history in any case; ".dsync" itself is never stored */
	roundtrip(".DSYNC", ".DSYNC~dsync", false);
	roundtrip("a/b/.Dsync/c", "a/b/.Dsync~dsync/c", false);
	roundtrip(".dSYNC", ".dSYNC~dsync", true);
	roundtrip(".DSYNC~dsync", ".DSYNC~dsync~dsync", false);
	roundtrip(".dsync~dsync", ".dsync~dsync~dsync", false);
	roundtrip(".dsync~dsync~dsync", ".dsync~dsync~dsync~dsync", false);
	roundtrip(".dsyncx", ".dsyncx", false);
	roundtrip(".DSYNC~dsyn", ".DSYNC~dsyn", false);
	assert_true(dsync_path_is_dir_marker("a/b/.dsync-empty"));
	assert_true(dsync_path_is_dir_marker(".dsync-empty"));
	assert_false(dsync_path_is_dir_marker("a/.dsync-empty~dsync"));
}

static void test_escaped_detection(void **state)
{
	(void)state;
	assert_true(dsync_path_name_needs_escape(".git", 4, false));
	assert_true(dsync_path_name_needs_escape(".git~dsync", 10, false));
	assert_false(dsync_path_name_needs_escape(".gi", 3, false));
	assert_false(dsync_path_name_is_escaped(".git", 4, false));
	assert_true(dsync_path_name_is_escaped(".git~dsync", 10, false));
	assert_false(dsync_path_name_is_escaped(".gitmodules~dsync", 17, false));
	assert_true(dsync_path_name_is_escaped(".gitmodules~dsync~dsync", 23, false));
	assert_true(dsync_path_name_needs_escape(".gitmodules~dsync", 17, false));
	assert_false(dsync_path_name_needs_escape(".gitmodules", 11, false));
	assert_true(dsync_path_name_is_escaped(".gitmodules~dsync", 17, true));
	/* no stored name unescapes to ".dsync" */
	assert_false(dsync_path_name_is_escaped(".dsync~dsync", 12, false));
	assert_true(dsync_path_name_is_escaped(".DSYNC~dsync", 12, false));
	assert_false(dsync_path_name_is_escaped(".DSYNC", 6, false));
	assert_true(dsync_path_name_is_dsync_legacy(".DSYNC"));
	assert_true(dsync_path_name_is_dsync_legacy(".dsynC"));
	assert_false(dsync_path_name_is_dsync_legacy(".dsync"));
	assert_false(dsync_path_name_is_dsync_legacy(".DSYNC~dsync"));
	assert_true(dsync_path_name_is_dsync_legacy(".dsync~dsync"));
	assert_false(dsync_path_name_is_dsync_legacy(".dsync~dsync~dsync"));
}

static void norm(const char *in, const char *want)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", in);
	dsync_path_normalize(buf);
	assert_string_equal(buf, want);
}

static void test_normalize(void **state)
{
	(void)state;
	norm("/a/b/../c", "/a/c");
	norm("/a//b/./c/", "/a/b/c");
	norm("/..", "/");
	norm("/", "/");
	norm("/a/..", "/");
	norm("a/../..", "..");
	norm("../a/../b", "../b");
	norm("./", ".");
	norm("a/./b/.", "a/b");
	norm("/x/y/z/../../w", "/x/w");
}

static void test_safe(void **state)
{
	(void)state;
	assert_true(dsync_path_is_safe("a"));
	assert_true(dsync_path_is_safe("a/b c/d"));
	assert_true(dsync_path_is_safe(".dsyncignore"));
	assert_true(dsync_path_is_safe("x/.dsync-tmp"));
	assert_false(dsync_path_is_safe(""));
	assert_false(dsync_path_is_safe("/a"));
	assert_false(dsync_path_is_safe("a/../b"));
	assert_false(dsync_path_is_safe(".."));
	assert_false(dsync_path_is_safe("a//b"));
	assert_false(dsync_path_is_safe("a/"));
	assert_false(dsync_path_is_safe("./a"));
	assert_false(dsync_path_is_safe(".dsync"));
	assert_false(dsync_path_is_safe("sub/.dsync/config"));
}

static void test_buf_limit(void **state)
{
	dsync_buf b;

	(void)state;
	dsync_buf_init(&b, 8);
	assert_int_equal(dsync_buf_puts(&b, "12345678"), 0);
	assert_int_equal(dsync_buf_puts(&b, "9"), DSYNC_ERROR);
	assert_string_equal(b.ptr, "12345678");
	assert_int_equal(b.len, 8);
	dsync_buf_truncate(&b, 3);
	assert_string_equal(dsync_buf_cstr(&b), "123");
	assert_int_equal(dsync_buf_printf(&b, "%d", 45), 0);
	assert_string_equal(b.ptr, "12345");
	dsync_buf_dispose(&b);
	assert_string_equal(dsync_buf_cstr(&b), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escaped_detection),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_safe),
		cmocka_unit_test(test_buf_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
