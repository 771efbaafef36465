/*
 * The merge layer's fixed rules: conflict copies' names (DESIGN.md section
 * 6) and the check on trees from another device (section 9), on trees
 * written byte by byte the way a hostile peer could write them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "core/base/buf.h"
#include "core/base/internal.h"
#include "merge/treemerge.h"
#include "merge/names.h"
#include "merge/check.h"
#define SANDBOX_WITH_REPO
#include "sandbox.h"

/* 2024-03-01 14:05:09 UTC */
#define WHEN ((time_t)1709301909)

static void name_is(const char *path, const char *device, unsigned n, const char *want)
{
	dsync_buf b = DSYNC_BUF_INIT;

	assert_int_equal(dsync_copyname_make(&b, path, device, WHEN, n), 0);
	assert_string_equal(b.ptr, want);
	assert_true(dsync_copyname_is_copy(b.ptr));
	dsync_buf_dispose(&b);
}

static void test_names(void **state)
{
	(void)state;
	name_is("report.odt", "laptop", 1, "report.sync-conflict-20240301-140509-laptop.odt");
	name_is("a/b/notes.md", "phone", 1, "a/b/notes.sync-conflict-20240301-140509-phone.md");
	/* the last extension only */
	name_is("a.tar.gz", "box", 1, "a.tar.sync-conflict-20240301-140509-box.gz");
	/* no extension: none, a leading dot, a trailing dot */
	name_is("Makefile", "box", 1, "Makefile.sync-conflict-20240301-140509-box");
	name_is("dir/.bashrc", "box", 1, "dir/.bashrc.sync-conflict-20240301-140509-box");
	name_is("odd.", "box", 1, "odd..sync-conflict-20240301-140509-box");
	/* a clash */
	name_is("report.odt", "laptop", 2, "report.sync-conflict-20240301-140509-laptop-2.odt");
	name_is("report.odt", "laptop", 13, "report.sync-conflict-20240301-140509-laptop-13.odt");
	/* device names made safe for a file name */
	name_is("x.txt", "Anna's phone/2", 1, "x.sync-conflict-20240301-140509-Anna_s_phone_2.txt");
	name_is("x.txt", "", 1, "x.sync-conflict-20240301-140509-_.txt");
	name_is("x.txt", "Ünïcode", 1, "x.sync-conflict-20240301-140509-__n__code.txt");
	/* no '.' in the device (the extension starts at the first '.' after it),
	 * and no final "-DIGITS" (it would read as a clash number) */
	name_is("x.txt", "my.laptop", 1, "x.sync-conflict-20240301-140509-my_laptop.txt");
	name_is("x.txt", "pc-2", 1, "x.sync-conflict-20240301-140509-pc_2.txt");
	name_is("x.txt", "pc-2", 3, "x.sync-conflict-20240301-140509-pc_2-3.txt");
	/* UTF-8 names are kept */
	name_is("résumé.pdf", "box", 1, "résumé.sync-conflict-20240301-140509-box.pdf");
}

static void parsed_is(const char *copy, const char *original, const char *device, unsigned n)
{
	dsync_copyname_parts p;
	dsync_buf b = DSYNC_BUF_INIT;

	assert_int_equal(dsync_copyname_parse(&p, copy), 0);
	assert_string_equal(p.device, device);
	assert_int_equal(p.n, n);
	assert_int_equal((long long)p.when, (long long)WHEN);
	assert_int_equal(dsync_copyname_original(&b, copy), 0);
	assert_string_equal(b.ptr, original);
	dsync_buf_dispose(&b);
}

/* A copy's name read back: what it is a copy of, who wrote it, when. */
static void test_parse(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_copyname_parts p;

	(void)state;
	parsed_is("report.sync-conflict-20240301-140509-laptop.odt", "report.odt", "laptop", 1);
	parsed_is("a/b/notes.sync-conflict-20240301-140509-phone-2.md", "a/b/notes.md", "phone", 2);
	parsed_is("a.tar.sync-conflict-20240301-140509-box.gz", "a.tar.gz", "box", 1);
	parsed_is("dir/.bashrc.sync-conflict-20240301-140509-box", "dir/.bashrc", "box", 1);
	parsed_is("x.sync-conflict-20240301-140509-pc_2-3.txt", "x.txt", "pc_2", 3);
	parsed_is("Makefile.sync-conflict-20240301-140509-my_laptop", "Makefile", "my_laptop", 1);
	assert_int_equal(dsync_copyname_parse(&p, "report.odt"), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_copyname_parse(&p, "d.sync-conflict-20240301-140509-x/a.txt"), DSYNC_ENOTFOUND);
	/* every name dsync_copyname_make makes reads back */
	assert_int_equal(dsync_copyname_make(&b, "dir/a.b.c", "Anna's phone 2", WHEN, 4), 0);
	parsed_is(b.ptr, "dir/a.b.c", "Anna_s_phone_2", 4);
	dsync_buf_truncate(&b, 0);
	assert_int_equal(dsync_copyname_renumber(&b, "dir/a.b.sync-conflict-20240301-140509-box-4.c", 5), 0);
	assert_string_equal(b.ptr, "dir/a.b.sync-conflict-20240301-140509-box-5.c");
	dsync_buf_truncate(&b, 0);
	assert_int_equal(dsync_copyname_renumber(&b, "a.sync-conflict-20240301-140509-box", 2), 0);
	assert_string_equal(b.ptr, "a.sync-conflict-20240301-140509-box-2");
	dsync_buf_dispose(&b);
}

static void test_long_names(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	char name[300];
	const char *last;
	size_t i;

	(void)state;
	/* 250 bytes of two-byte characters, then ".txt": shortened to fit 255,
	 * never in the middle of a character */
	for (i = 0; i < 250; i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	memcpy(name + 250, ".txt", 5);
	assert_int_equal(dsync_copyname_make(&b, name, "box", WHEN, 1), 0);
	last = strrchr(b.ptr, '/');
	last = last ? last + 1 : b.ptr;
	assert_true(strlen(last) <= 255);
	assert_true(strlen(last) >= 250);
	assert_string_equal(last + strlen(last) - 4, ".txt");
	assert_true(((unsigned char)last[0] & 0xC0) != 0x80);
	for (i = 0; last[i] && last[i] != '.'; i++)
		;
	assert_int_equal(i % 2, 0); /* whole characters only */
	assert_true(dsync_copyname_is_copy(b.ptr));
	dsync_buf_dispose(&b);
}

static void test_is_copy(void **state)
{
	(void)state;
	assert_false(dsync_copyname_is_copy("report.odt"));
	assert_false(dsync_copyname_is_copy("my.sync-conflict-notes.txt"));
	assert_false(dsync_copyname_is_copy("a.sync-conflict-2024030-140509-x.txt"));
	assert_false(dsync_copyname_is_copy("a.sync-conflict-20240301-140509-.txt"));
	assert_true(dsync_copyname_is_copy("d.sync-conflict-x/a.sync-conflict-20240301-140509-x"));
	assert_false(dsync_copyname_is_copy("a.sync-conflict-20240301-140509-x/plain.txt"));
}

/* ------------------------------------------------------------ tree check */

/* Writes a raw tree of one entry MODE NAME -> OID, as any peer could. */
static void raw_tree(git_oid *out, const char *mode, const char *name, const git_oid *oid)
{
	char buf[512];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%s %s", mode, name) + 1;
	git_odb *odb;

	memcpy(buf + n, oid->id, GIT_OID_RAWSZ);
	n += GIT_OID_RAWSZ;
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_write(out, odb, buf, n, GIT_OBJECT_TREE), 0);
	git_odb_free(odb);
}

/* dsync_treecheck_all on a tree with one entry; returns its result. */
static int check_one(const char *mode, const char *name, bool nested)
{
	git_oid blob, tree, outer;
	git_tree *t;
	int error;

	assert_int_equal(git_blob_create_from_buffer(&blob, repo, "x", 1), 0);
	raw_tree(&tree, mode, name, &blob);
	if (nested)
		raw_tree(&outer, "40000", "sub", &tree);
	assert_int_equal(git_tree_lookup(&t, repo, nested ? &outer : &tree), 0);
	error = dsync_treecheck_all(repo, t);
	git_tree_free(t);
	return error;
}

static void refused(const char *mode, const char *name, const char *why)
{
	int nested;

	for (nested = 0; nested < 2; nested++) {
		assert_int_equal(check_one(mode, name, nested), DSYNC_ECORRUPT);
		assert_non_null(strstr(dsync_error_last(), why));
		assert_non_null(strstr(dsync_error_last(), nested ? "'sub/" : "'"));
	}
}

static void test_tree_check(void **state)
{
	char longname[300];

	(void)state;
	assert_int_equal(check_one("100644", "fine.txt", false), 0);
	assert_int_equal(check_one("100755", "run.sh", true), 0);
	assert_int_equal(check_one("120000", "link", true), 0);
	assert_int_equal(check_one("100644", ".git~dsync", true), 0);
	refused("100644", ".dsync-empty", "not an empty-folder marker"); /* it holds "x" */
	refused("120000", ".gitmodules", "not in the form");                 /* a link: .gitmodules~dsync */
	assert_int_equal(check_one("120000", ".gitmodules~dsync", true), 0);
	refused("100644", "..", "would leave its folder");
	refused("100644", ".", "would leave its folder");
	refused("100644", ".dsync", ".dsync");
	/* ".dsync" in another case: stored escaped now, and read as that
	 * name in trees that earlier snapshots made */
	assert_int_equal(check_one("100644", ".DSync~dsync", true), 0);
	assert_int_equal(check_one("100644", ".DSync", true), 0);
	assert_int_equal(check_one("100644", ".dsync~dsync~dsync", true), 0);
	refused("100644", ".git", "raw .git");
	refused("100644", ".GIT", "raw .git");
	refused("100644", "a/b", "'/'");
	refused("100644", "/etc", "'/'");
	refused("160000", "module", "submodule");
	refused("100600", "odd", "unknown file mode");
	memset(longname, 'x', 256);
	longname[256] = '\0';
	refused("100644", longname, "longer than 255");
}

/* Writes a raw tree of two entries, in the order given. */
static void raw_tree2(git_oid *out, const char *m1, const char *n1, const git_oid *o1, const char *m2,
		      const char *n2, const git_oid *o2)
{
	char buf[512];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%s %s", m1, n1) + 1;
	git_odb *odb;

	memcpy(buf + n, o1->id, GIT_OID_RAWSZ);
	n += GIT_OID_RAWSZ;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %s", m2, n2) + 1;
	memcpy(buf + n, o2->id, GIT_OID_RAWSZ);
	n += GIT_OID_RAWSZ;
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_write(out, odb, buf, n, GIT_OBJECT_TREE), 0);
	git_odb_free(odb);
}

static int check_two(const char *m1, const char *n1, const char *m2, const char *n2)
{
	git_oid blob, sub, tree;
	git_tree *t;
	int error;

	assert_int_equal(git_blob_create_from_buffer(&blob, repo, "/etc", 4), 0);
	raw_tree(&sub, "100644", "passwd", &blob);
	raw_tree2(&tree, m1, n1, strcmp(m1, "40000") ? &blob : &sub, m2, n2, strcmp(m2, "40000") ? &blob : &sub);
	assert_int_equal(git_tree_lookup(&t, repo, &tree), 0);
	error = dsync_treecheck_all(repo, t);
	git_tree_free(t);
	return error;
}

/* A name twice (a link "a" to /etc and a folder "a" holding "passwd": a
 * checkout would write through the link) or out of order is refused. */
static void test_tree_check_order(void **state)
{
	(void)state;
	assert_int_equal(check_two("100644", "a", "100644", "b"), 0);
	assert_int_equal(check_two("100644", "a.txt", "40000", "a"), 0);   /* "a/" sorts after "a.txt" */
	assert_int_equal(check_two("120000", "a", "40000", "a"), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "twice"));
	assert_int_equal(check_two("100644", "a", "100644", "a"), DSYNC_ECORRUPT);
	assert_int_equal(check_two("100644", "b", "100644", "a"), DSYNC_ECORRUPT);
	assert_int_equal(check_two("40000", "a", "100644", "a.txt"), DSYNC_ECORRUPT);
	/* a file ".gitmodules" and a link stored as ".gitmodules~dsync" are
	 * one name on disk */
	assert_int_equal(check_two("100644", ".gitmodules", "120000", ".gitmodules~dsync"), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "twice"));
}

/* A tree of one link whose target is DATA (LEN bytes). */
static int check_link(const char *data, size_t len)
{
	git_oid blob, tree;
	git_tree *t;
	int error;

	assert_int_equal(git_blob_create_from_buffer(&blob, repo, data, len), 0);
	raw_tree(&tree, "120000", "link", &blob);
	assert_int_equal(git_tree_lookup(&t, repo, &tree), 0);
	error = dsync_treecheck_all(repo, t);
	git_tree_free(t);
	return error;
}

/* Links dsync could not write, and empty-folder markers. */
static void test_tree_check_links(void **state)
{
	static char big[5000];
	git_oid empty, tree;
	git_tree *t;

	(void)state;
	assert_int_equal(check_link("target", 6), 0);
	assert_int_equal(check_link("", 0), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "empty target"));
	assert_int_equal(check_link("a\0b", 3), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "NUL"));
	memset(big, 'x', sizeof(big));
	assert_int_equal(check_link(big, sizeof(big)), DSYNC_ECORRUPT);
	assert_int_equal(check_link(big, 4095), 0);
	/* a marker is an empty file */
	assert_int_equal(git_blob_create_from_buffer(&empty, repo, "", 0), 0);
	raw_tree(&tree, "100644", ".dsync-empty", &empty);
	assert_int_equal(git_tree_lookup(&t, repo, &tree), 0);
	assert_int_equal(dsync_treecheck_all(repo, t), 0);
	git_tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_is_copy),
		cmocka_unit_test(test_tree_check),
		cmocka_unit_test(test_tree_check_order),
		cmocka_unit_test(test_tree_check_links),
	};

	return cmocka_run_group_tests(tests, sandbox_repo_setup, sandbox_repo_teardown);
}
