/*
 * Unit tests of core/ignore.c: the built-in defaults, gitignore syntax,
 * rule order, directory rules over deep paths, reading .dsyncignore files,
 * and names that are not plain ASCII.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/ignore.h"
#include "sandbox.h"

/* Assertions that keep the caller's line number in cmocka's report. */
#define IGNORED(ign, path) assert_int_equal(dsync_ignore_match((ign), (path), 0), 1)
#define KEPT(ign, path) assert_int_equal(dsync_ignore_match((ign), (path), 0), 0)
#define IGNORED_DIR(ign, path) assert_int_equal(dsync_ignore_match((ign), (path), 1), 1)
#define KEPT_DIR(ign, path) assert_int_equal(dsync_ignore_match((ign), (path), 1), 0)

/* The defaults plus the rules of TEXT. */
static dsync_ignore *rules(const char *text)
{
	dsync_ignore *ign = NULL;

	assert_int_equal(dsync_ignore_new(&ign), 0);
	assert_non_null(ign);
	assert_int_equal(dsync_ignore_add_rules(ign, text, strlen(text)), 0);
	return ign;
}

/* --- built-in defaults --- */

static void test_default_editor_files(void **state)
{
	dsync_ignore *ign = rules("");

	(void)state;
	IGNORED(ign, "notes.md.swp");
	IGNORED(ign, "notes.md.swo");
	IGNORED(ign, "notes.md.swx");
	IGNORED(ign, "docs/.notes.md.swp");
	IGNORED(ign, ".notes.md.swn");
	IGNORED(ign, "deep/er/.notes.md.swa");
	IGNORED(ign, "notes.md~");
	IGNORED(ign, "docs/notes.md.un~");
	IGNORED(ign, "4913");
	IGNORED(ign, "docs/4913");
	IGNORED(ign, ".#notes.md");
	IGNORED(ign, "#notes.md#");
	IGNORED(ign, ".notes.md.kate-swp");
	KEPT(ign, "notes.md");
	KEPT(ign, "swp");
	KEPT(ign, "notes.swpx");
	KEPT(ign, "notes.sw");
	KEPT(ign, "notes.swn");      /* ".*.sw?" needs the leading dot */
	KEPT(ign, "49130");
	KEPT(ign, "4913.txt");
	KEPT(ign, "#notes.md");
	KEPT(ign, "notes#");
	KEPT(ign, "~notes");
	KEPT(ign, "a~b");
	dsync_ignore_free(ign);
}

static void test_default_office_files(void **state)
{
	dsync_ignore *ign = rules("");

	(void)state;
	IGNORED(ign, "~$report.docx");
	IGNORED(ign, "work/~$budget.xlsx");
	IGNORED(ign, "~WRL0001.tmp");
	IGNORED(ign, ".~lock.report.odt#");
	IGNORED(ign, "work/.~lock.budget.ods#");
	KEPT(ign, "report.docx");
	KEPT(ign, "a~$b.docx");
	KEPT(ign, ".~lock.report.odt");
	KEPT(ign, "report.tmp");     /* no broad "*.tmp" */
	KEPT(ign, "~report.tmpx");
	dsync_ignore_free(ign);
}

static void test_default_os_litter(void **state)
{
	dsync_ignore *ign = rules("");

	(void)state;
	/* macOS */
	IGNORED(ign, ".DS_Store");
	IGNORED(ign, "photos/2024/.DS_Store");
	IGNORED(ign, "._IMG_0001.jpg");
	IGNORED(ign, "Icon\r");
	IGNORED_DIR(ign, ".AppleDouble");
	IGNORED_DIR(ign, ".Spotlight-V100");
	IGNORED_DIR(ign, ".Trashes");
	IGNORED_DIR(ign, ".fseventsd");
	IGNORED_DIR(ign, ".TemporaryItems");
	IGNORED_DIR(ign, ".DocumentRevisions-V100");
	KEPT(ign, "Icon");
	KEPT(ign, "DS_Store");
	KEPT(ign, ".DS_Store.txt");
	/* Windows */
	IGNORED(ign, "Thumbs.db");
	IGNORED(ign, "pics/Thumbs.db");
	IGNORED(ign, "ehthumbs.db");
	IGNORED(ign, "desktop.ini");
	IGNORED_DIR(ign, "$RECYCLE.BIN");
	IGNORED_DIR(ign, "System Volume Information");
	KEPT(ign, "thumbs.db");      /* exact case, as the OS writes it */
	KEPT(ign, "Thumbs.db.bak");
	/* Linux desktops */
	IGNORED(ign, ".directory");
	IGNORED_DIR(ign, ".Trash-1000");
	KEPT(ign, "directory");
	/* the directory rules leave files of those names alone */
	KEPT(ign, ".Trashes");
	KEPT(ign, ".Trash-1000");
	KEPT(ign, "$RECYCLE.BIN");
	/* and take what is below them */
	IGNORED(ign, ".Trashes/501/old.txt");
	IGNORED(ign, ".Spotlight-V100/Store-V2/x");
	IGNORED(ign, "usb/.Trash-1000/files/a.txt");
	dsync_ignore_free(ign);
}

static void test_default_partial_downloads(void **state)
{
	dsync_ignore *ign = rules("");

	(void)state;
	IGNORED(ign, "film.mkv.part");
	IGNORED(ign, "Downloads/setup.exe.crdownload");
	IGNORED(ign, "data.zip.partial");
	IGNORED_DIR(ign, "Downloads/data.zip.download");
	IGNORED(ign, "Downloads/data.zip.download/data.zip");
	KEPT(ign, "data.zip.download");   /* Safari's is a folder */
	KEPT(ign, "part");
	KEPT(ign, "film.part.mkv");
	KEPT(ign, "counterpart");
	dsync_ignore_free(ign);
}

static void test_default_dsync_tmp(void **state)
{
	dsync_ignore *ign = rules("");

	(void)state;
	IGNORED(ign, "notes.md.dsync-tmp");
	IGNORED(ign, "a/b/notes.md.dsync-tmp");
	IGNORED(ign, ".dsync-tmp-4711");
	IGNORED(ign, "a/.dsync-tmp-XXXXXX");
	KEPT(ign, "dsync-tmp");
	KEPT(ign, "dsync-tmp-1");
	KEPT(ign, "notes.dsync-tmp.md");
	dsync_ignore_free(ign);
}

static void test_defaults_keep_git_and_documents(void **state)
{
	dsync_ignore *ign = rules("");

	(void)state;
	KEPT_DIR(ign, ".git");
	KEPT(ign, ".git/config");
	KEPT(ign, "project/.git/objects/ab/cdef");
	KEPT(ign, ".gitignore");
	KEPT(ign, ".dsyncignore");
	KEPT(ign, "notes.tmp");
	KEPT(ign, "report.bak");
	KEPT(ign, "a/b/c/report.pdf");
	KEPT_DIR(ign, "Documents");
	dsync_ignore_free(ign);
}

/* --- gitignore syntax --- */

static void test_comments_and_blank_lines(void **state)
{
	dsync_ignore *ign = rules("# a comment\n"
				  "\n"
				  "   \n"
				  "\\#hash\n"
				  "plain\n");

	(void)state;
	KEPT(ign, "# a comment");
	KEPT(ign, "a comment");
	KEPT(ign, "   ");
	KEPT(ign, "");
	IGNORED(ign, "#hash");
	KEPT(ign, "\\#hash");
	IGNORED(ign, "plain");
	dsync_ignore_free(ign);
}

static void test_escapes(void **state)
{
	dsync_ignore *ign = rules("\\!bang\n"
				  "star\\*\n"
				  "\\[x]\n"
				  "q\\?\n"
				  "back\\\\slash\n");

	(void)state;
	IGNORED(ign, "!bang");
	KEPT(ign, "bang");
	IGNORED(ign, "star*");
	KEPT(ign, "starry");
	IGNORED(ign, "[x]");
	KEPT(ign, "x");
	IGNORED(ign, "q?");
	KEPT(ign, "qa");
	IGNORED(ign, "back\\slash");
	dsync_ignore_free(ign);
}

static void test_trailing_spaces(void **state)
{
	dsync_ignore *ign = rules("trimmed   \n"
				  "kept\\ \n"
				  "two\\  \n"
				  "tab\t\n"
				  "in side\n");

	(void)state;
	IGNORED(ign, "trimmed");
	KEPT(ign, "trimmed ");
	KEPT(ign, "trimmed   ");
	IGNORED(ign, "kept ");
	KEPT(ign, "kept");
	IGNORED(ign, "two ");
	KEPT(ign, "two  ");
	IGNORED(ign, "tab\t");      /* only spaces are trimmed, as in git */
	KEPT(ign, "tab");
	IGNORED(ign, "in side");
	dsync_ignore_free(ign);
}

static void test_negation_order(void **state)
{
	dsync_ignore *a = rules("*.log\n!keep.log\n");
	dsync_ignore *b = rules("!keep.log\n*.log\n");
	dsync_ignore *c = rules("*.log\n!*.log\n*.log\n");

	(void)state;
	IGNORED(a, "error.log");
	KEPT(a, "keep.log");
	KEPT(a, "notes.txt");
	IGNORED(b, "error.log");
	IGNORED(b, "keep.log");    /* the later rule wins */
	IGNORED(c, "keep.log");
	dsync_ignore_free(a);
	dsync_ignore_free(b);
	dsync_ignore_free(c);
}

static void test_directory_only(void **state)
{
	dsync_ignore *ign = rules("build/\n");

	(void)state;
	IGNORED_DIR(ign, "build");
	IGNORED_DIR(ign, "src/build");
	KEPT(ign, "build");
	KEPT(ign, "src/build");
	KEPT_DIR(ign, "builds");
	IGNORED(ign, "build/main.o");
	IGNORED(ign, "src/build/x/main.o");
	KEPT(ign, "src/builder/main.o");
	dsync_ignore_free(ign);
}

static void test_anchoring(void **state)
{
	dsync_ignore *ign = rules("/todo.txt\n"
				  "doc/*.txt\n"
				  "name.md\n"
				  "/top/\n");

	(void)state;
	IGNORED(ign, "todo.txt");
	KEPT(ign, "a/todo.txt");
	IGNORED(ign, "doc/a.txt");
	KEPT(ign, "x/doc/a.txt");   /* a middle slash anchors too */
	KEPT(ign, "doc/sub/a.txt");
	KEPT(ign, "doc/a.md");
	IGNORED(ign, "name.md");
	IGNORED(ign, "a/b/c/name.md");
	KEPT(ign, "a/b/c/name.mdx");
	IGNORED_DIR(ign, "top");
	IGNORED(ign, "top/a/b.txt");
	KEPT_DIR(ign, "x/top");
	KEPT(ign, "x/top/a.txt");
	dsync_ignore_free(ign);
}

static void test_star_and_question_mark(void **state)
{
	dsync_ignore *ign = rules("d/a*z\n"
				  "e/a?c\n"
				  "f*g\n"
				  "*\\*\n");

	(void)state;
	IGNORED(ign, "d/az");
	IGNORED(ign, "d/abcz");
	KEPT(ign, "d/ab/cz");       /* '*' does not match '/' */
	KEPT(ign, "d/a/z");
	KEPT(ign, "d/abc");
	IGNORED(ign, "e/abc");
	KEPT(ign, "e/ac");          /* '?' is exactly one byte */
	KEPT(ign, "e/abbc");
	KEPT(ign, "e/a/c");
	IGNORED(ign, "x/fg");
	IGNORED(ign, "x/f.g");
	KEPT(ign, "f/g");
	IGNORED(ign, "hello*");
	KEPT(ign, "hello");
	dsync_ignore_free(ign);
}

static void test_double_star_leading(void **state)
{
	dsync_ignore *ign = rules("**/cache\n**/x/y\n");

	(void)state;
	IGNORED(ign, "cache");
	IGNORED(ign, "a/cache");
	IGNORED(ign, "a/b/c/cache");
	KEPT(ign, "cached");
	IGNORED(ign, "x/y");
	IGNORED(ign, "a/b/x/y");
	KEPT(ign, "x/z/y");
	KEPT(ign, "y");
	dsync_ignore_free(ign);
}

static void test_double_star_trailing(void **state)
{
	dsync_ignore *ign = rules("logs/**\n");

	(void)state;
	KEPT_DIR(ign, "logs");      /* what is inside, not the folder itself */
	IGNORED(ign, "logs/a.log");
	IGNORED_DIR(ign, "logs/2024");
	IGNORED(ign, "logs/2024/01/a.log");
	KEPT(ign, "x/logs/a.log");
	KEPT(ign, "logsx/a.log");
	dsync_ignore_free(ign);
}

static void test_double_star_middle(void **state)
{
	dsync_ignore *ign = rules("a/**/b\nm/**/n/**/o.txt\n");

	(void)state;
	IGNORED(ign, "a/b");
	IGNORED(ign, "a/x/b");
	IGNORED(ign, "a/x/y/z/b");
	KEPT(ign, "a/xb");
	KEPT(ign, "x/a/b");
	IGNORED(ign, "a/x/b/c");     /* below the directory "a/x/b" */
	IGNORED(ign, "m/n/o.txt");
	IGNORED(ign, "m/1/n/2/3/o.txt");
	IGNORED(ign, "m/n/n/o.txt");
	KEPT(ign, "m/1/o.txt");
	dsync_ignore_free(ign);
}

static void test_double_star_elsewhere_is_a_star(void **state)
{
	dsync_ignore *ign = rules("foo**bar\nd/x**z\n");

	(void)state;
	IGNORED(ign, "fooXbar");
	IGNORED(ign, "a/foobar");
	KEPT(ign, "foo/bar");
	IGNORED(ign, "d/xyz");
	IGNORED(ign, "d/xz");
	KEPT(ign, "d/xy/z");         /* "x**z" stays in one segment */
	KEPT_DIR(ign, "d/y");
	dsync_ignore_free(ign);
}

static void test_character_classes(void **state)
{
	dsync_ignore *ign = rules("[abc].txt\n"
				  "file[0-9]\n"
				  "[!a-c]x\n"
				  "[^a-c]y\n"
				  "[]]z\n"
				  "[a-]w\n"
				  "[[:digit:]]n\n"
				  "[[:upper:][:punct:]]u\n"
				  "v[\\]]\n");

	(void)state;
	IGNORED(ign, "a.txt");
	IGNORED(ign, "c.txt");
	KEPT(ign, "d.txt");
	KEPT(ign, "ab.txt");
	IGNORED(ign, "file0");
	IGNORED(ign, "file9");
	KEPT(ign, "filex");
	KEPT(ign, "file10");
	IGNORED(ign, "dx");
	KEPT(ign, "ax");
	KEPT(ign, "cx");
	IGNORED(ign, "dy");
	KEPT(ign, "by");
	IGNORED(ign, "]z");
	KEPT(ign, "az");
	IGNORED(ign, "aw");
	IGNORED(ign, "-w");
	KEPT(ign, "bw");
	IGNORED(ign, "7n");
	KEPT(ign, "xn");
	IGNORED(ign, "Qu");
	IGNORED(ign, "!u");
	KEPT(ign, "qu");
	IGNORED(ign, "v]");
	KEPT(ign, "v\\");
	dsync_ignore_free(ign);
}

static void test_malformed_patterns_match_nothing(void **state)
{
	dsync_ignore *ign = rules("[abc\n"
				  "trail\\\n"
				  "[[:bogus:]]\n"
				  "ok\n");

	(void)state;
	KEPT(ign, "[abc");
	KEPT(ign, "a");
	KEPT(ign, "trail");
	KEPT(ign, "trail\\");
	KEPT(ign, "b");
	KEPT(ign, ":");
	IGNORED(ign, "ok");          /* the lines after them still count */
	dsync_ignore_free(ign);
}

static void test_reinclude_default(void **state)
{
	dsync_ignore *ign = rules("!*.swp\n!.DS_Store\n!/Thumbs.db\n");

	(void)state;
	KEPT(ign, "notes.swp");
	KEPT(ign, "a/b/notes.swp");
	KEPT(ign, ".DS_Store");
	KEPT(ign, "a/.DS_Store");
	KEPT(ign, "Thumbs.db");
	IGNORED(ign, "pics/Thumbs.db");    /* only the top one re-included */
	IGNORED(ign, "notes.swo");         /* the other defaults stay */
	IGNORED(ign, "desktop.ini");
	dsync_ignore_free(ign);
}

static void test_parent_directory_rules(void **state)
{
	dsync_ignore *ign = rules("secret/\n"
				  "!secret/keep.txt\n"
				  "tmpdir\n"
				  "/only-top/\n");
	dsync_ignore *all = rules("*\n!*/\n!*.md\n");
	dsync_ignore *inside = rules("secret/*\n!secret/keep.txt\n");

	(void)state;
	IGNORED(ign, "secret/deep/er/file.txt");
	IGNORED(ign, "a/secret/file.txt");
	/* a file below an ignored directory cannot be re-included */
	IGNORED(ign, "secret/keep.txt");
	IGNORED(ign, "tmpdir/a/b");
	IGNORED(ign, "x/tmpdir/a");
	IGNORED(ign, "only-top/a/b/c");
	KEPT(ign, "x/only-top/a");
	KEPT(ign, "secretive/file.txt");
	/* a negated directory rule keeps the walk going */
	KEPT(all, "docs/a.md");
	KEPT(all, "docs/sub/b.md");
	IGNORED(all, "docs/a.txt");
	IGNORED(all, "a.txt");
	KEPT_DIR(all, "docs");
	/* leaving out the contents, not the directory, lets one file back */
	KEPT_DIR(inside, "secret");
	KEPT(inside, "secret/keep.txt");
	IGNORED(inside, "secret/other.txt");
	IGNORED(inside, "secret/sub/keep.txt");
	dsync_ignore_free(ign);
	dsync_ignore_free(all);
	dsync_ignore_free(inside);
}

static void test_add_rules_buffer(void **state)
{
	static const char text[] = "first\nsecond";
	dsync_ignore *ign = NULL;

	(void)state;
	assert_int_equal(dsync_ignore_new(&ign), 0);
	/* the length decides, not a NUL */
	assert_int_equal(dsync_ignore_add_rules(ign, text, 5), 0);
	IGNORED(ign, "first");
	KEPT(ign, "second");
	assert_int_equal(dsync_ignore_add_rules(ign, NULL, 0), 0);
	/* a byte order mark is not part of the first pattern */
	assert_int_equal(dsync_ignore_add_rules(ign, "\xef\xbb\xbf" "bom\n", 7), 0);
	IGNORED(ign, "bom");
	assert_int_equal(dsync_ignore_add_rules(NULL, "x", 1), DSYNC_EUSAGE);
	assert_int_equal(dsync_ignore_add_rules(ign, NULL, 1), DSYNC_EUSAGE);
	KEPT(NULL, "x");
	KEPT(ign, NULL);
	dsync_ignore_free(ign);
	dsync_ignore_free(NULL);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_add_file_crlf_no_final_newline(void **state)
{
	static const char text[] = "# comment\r\n"
				   "*.log\r\n"
				   "!keep.log\r\n"
				   "/build/\r\n"
				   "exact\r\n"
				   "\r\n"
				   "spaced  \r\n"
				   "last";
	char dir[256], path[300];
	dsync_ignore *ign = NULL;

	(void)state;
	sandbox_mkdtemp(dir, sizeof(dir), "ignore");
	snprintf(path, sizeof(path), "%s/.dsyncignore", dir);
	write_file(path, text, sizeof(text) - 1);

	assert_int_equal(dsync_ignore_new(&ign), 0);
	assert_int_equal(dsync_ignore_add_file(ign, path), 0);
	IGNORED(ign, "error.log");
	KEPT(ign, "keep.log");
	IGNORED_DIR(ign, "build");
	IGNORED(ign, "build/out.o");
	KEPT_DIR(ign, "src/build");
	IGNORED(ign, "exact");
	KEPT(ign, "exact\r");
	IGNORED(ign, "spaced");
	IGNORED(ign, "last");
	KEPT(ign, "las");
	KEPT(ign, "# comment");
	dsync_ignore_free(ign);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_add_file_missing_and_errors(void **state)
{
	char dir[256], path[300];
	dsync_ignore *ign = NULL;
	int fd;

	(void)state;
	sandbox_mkdtemp(dir, sizeof(dir), "ignore");
	assert_int_equal(dsync_ignore_new(&ign), 0);

	/* missing: not an error, nothing added */
	snprintf(path, sizeof(path), "%s/.dsyncignore", dir);
	assert_int_equal(dsync_ignore_add_file(ign, path), 0);
	IGNORED(ign, ".DS_Store");
	KEPT(ign, "a.txt");

	/* a directory in its place */
	dsync_error_clear();
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(dsync_ignore_add_file(ign, path), DSYNC_ERROR);
	{
		char want[400];

		snprintf(want, sizeof(want), "cannot read '%s': %s", path, strerror(EISDIR));
		assert_string_equal(dsync_error_last(), want);
	}
	assert_int_equal(rmdir(path), 0);

	/* larger than 1 MiB: refused, with nothing added */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a.txt\n", 6), 6);
	assert_int_equal(ftruncate(fd, 1024 * 1024 + 1), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(dsync_ignore_add_file(ign, path), DSYNC_ERROR);
	{
		char want[400];

		snprintf(want, sizeof(want),
			 "cannot read '%s': larger than the 1 MiB limit",
			 path);
		assert_string_equal(dsync_error_last(), want);
	}
	KEPT(ign, "a.txt");

	/* exactly 1 MiB is allowed */
	assert_int_equal(truncate(path, 1024 * 1024), 0);
	assert_int_equal(dsync_ignore_add_file(ign, path), 0);
	IGNORED(ign, "a.txt");
	assert_int_equal(unlink(path), 0);

	assert_int_equal(dsync_ignore_add_file(NULL, path), DSYNC_EUSAGE);
	assert_int_equal(dsync_ignore_add_file(ign, NULL), DSYNC_EUSAGE);
	dsync_ignore_free(ign);
	assert_int_equal(rmdir(dir), 0);
}

/* --- names --- */

static void test_spaces_utf8_and_odd_bytes(void **state)
{
	dsync_ignore *ign = rules("with space.txt\n"
				  "r\xc3\xa9sum\xc3\xa9*.pdf\n"
				  "*.\xe2\x9c\x93\n"
				  "caf??\n"
				  "\xff*\n"
				  "[\x80-\xfe]x\n"
				  "/\xe6\x97\xa5\xe8\xa8\x98/\n");

	(void)state;
	IGNORED(ign, "with space.txt");
	IGNORED(ign, "a b/with space.txt");
	KEPT(ign, "with  space.txt");
	KEPT(ign, "withspace.txt");
	IGNORED(ign, "r\xc3\xa9sum\xc3\xa9-2024.pdf");
	KEPT(ign, "resume-2024.pdf");
	IGNORED(ign, "done.\xe2\x9c\x93");
	KEPT(ign, "done.\xe2\x9c");
	/* '?' is one byte, as in git: "é" takes two */
	IGNORED(ign, "caf\xc3\xa9");
	KEPT(ign, "cafe");
	IGNORED(ign, "\xff");
	IGNORED(ign, "d/\xff\x01\x7f");
	KEPT(ign, "d/a\xff");
	IGNORED(ign, "\xe9x");
	KEPT(ign, "\x7fx");          /* outside the class */
	IGNORED_DIR(ign, "\xe6\x97\xa5\xe8\xa8\x98");
	IGNORED(ign, "\xe6\x97\xa5\xe8\xa8\x98/2024-01-01.md");
	KEPT(ign, "x/\xe6\x97\xa5\xe8\xa8\x98/2024-01-01.md");
	/* the defaults take odd names in their stride */
	IGNORED(ign, "\x01\x02.swp");
	KEPT(ign, "\x01\x02\x03");
	KEPT(ign, "d\xc3\xa9j\xc3\xa0/notes.txt");
	dsync_ignore_free(ign);
}

static void test_tolerated_slashes(void **state)
{
	dsync_ignore *ign = rules("build/\n");

	(void)state;
	IGNORED(ign, "build/");      /* a trailing slash says "directory" */
	IGNORED(ign, "/src/build/");
	KEPT(ign, "/");
	KEPT(ign, "");
	dsync_ignore_free(ign);
}

/* Patterns that make naive backtracking exponential stay fast. */
static void test_pathological_patterns(void **state)
{
	static const char text[] = "*a*a*a*a*a*a*a*a*a*a*b\n"
				   "**/a*/**/a*/**/a*/**/b\n";
	char name[4096];
	dsync_ignore *ign;
	struct timespec t0, t1;
	double secs;
	size_t i;

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ign = rules(text);
	for (i = 0; i < sizeof(name) - 1; i += 64)
		name[i] = '/';
	name[0] = 'a';
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	KEPT(ign, name);
	memset(name, 'a', sizeof(name) - 1);
	KEPT(ign, name);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t1), 0);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 2.0);
	dsync_ignore_free(ign);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_editor_files),
		cmocka_unit_test(test_default_office_files),
		cmocka_unit_test(test_default_os_litter),
		cmocka_unit_test(test_default_partial_downloads),
		cmocka_unit_test(test_default_dsync_tmp),
		cmocka_unit_test(test_defaults_keep_git_and_documents),
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_trailing_spaces),
		cmocka_unit_test(test_negation_order),
		cmocka_unit_test(test_directory_only),
		cmocka_unit_test(test_anchoring),
		cmocka_unit_test(test_star_and_question_mark),
		cmocka_unit_test(test_double_star_leading),
		cmocka_unit_test(test_double_star_trailing),
		cmocka_unit_test(test_double_star_middle),
		cmocka_unit_test(test_double_star_elsewhere_is_a_star),
		cmocka_unit_test(test_character_classes),
		cmocka_unit_test(test_malformed_patterns_match_nothing),
		cmocka_unit_test(test_reinclude_default),
		cmocka_unit_test(test_parent_directory_rules),
		cmocka_unit_test(test_add_rules_buffer),
		cmocka_unit_test(test_add_file_crlf_no_final_newline),
		cmocka_unit_test(test_add_file_missing_and_errors),
		cmocka_unit_test(test_spaces_utf8_and_odd_bytes),
		cmocka_unit_test(test_tolerated_slashes),
		cmocka_unit_test(test_pathological_patterns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
