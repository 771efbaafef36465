/*
 * Small files read without blocking, regular files only (core/base/file.h):
 * a FIFO is refused at once (no writer ever comes here: a blocking open
 * would hang the test), so are a socket, a symlink when asked and a folder;
 * a missing file is DSYNC_ENOTFOUND; reads are bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dsync/common.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"
#include "sandbox.h"


static void at(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", sandbox_dir, name);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("file", 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

static void test_regular(void **state)
{
	char path[300], small[8];
	dsync_buf b = DSYNC_BUF_INIT;
	size_t len;
	int fd;

	(void)state;
	at(path, sizeof(path), "plain");
	write_text(path, "hello\n");
	assert_int_equal(dsync_file_read(&b, path, 6, 0), 0);
	assert_string_equal(b.ptr, "hello\n");
	/* one byte over the limit: refused, nothing added */
	dsync_buf_truncate(&b, 0);
	assert_int_equal(dsync_file_read(&b, path, 5, 0), DSYNC_ERROR);
	assert_int_equal(b.len, 0);
	assert_non_null(strstr(dsync_error_last(), "larger than the 5-byte limit"));
	/* a small buffer reads what fits */
	assert_int_equal(dsync_file_read_small(&len, path, small, sizeof(small), 0), 0);
	assert_int_equal(len, 6);
	assert_string_equal(small, "hello\n");
	assert_int_equal(dsync_file_read_small(&len, path, small, 4, 0), 0);
	assert_int_equal(len, 3);
	assert_string_equal(small, "hel");
	assert_int_equal(dsync_file_open(&fd, path, 0, NULL), 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dsync_file_check(path), 0);
	dsync_buf_dispose(&b);
}

static void test_missing(void **state)
{
	char path[300], small[8];
	dsync_buf b = DSYNC_BUF_INIT;
	size_t len;

	(void)state;
	at(path, sizeof(path), "missing");
	assert_int_equal(dsync_file_read(&b, path, 100, 0), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_file_read_small(&len, path, small, sizeof(small), 0), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_path_read_small(path, small, sizeof(small)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(dsync_file_check(path), 0);
	dsync_buf_dispose(&b);
}

static void test_fifo(void **state)
{
	char path[300], small[8], want[400];
	dsync_buf b = DSYNC_BUF_INIT;
	size_t len;
	int fd;

	(void)state;
	at(path, sizeof(path), "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(want, sizeof(want), "cannot read '%s': not a regular file (a FIFO); remove it", path);
	assert_int_equal(dsync_file_read(&b, path, 100, 0), DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), want);
	assert_int_equal(dsync_file_read_small(&len, path, small, sizeof(small), DSYNC_FILE_NOFOLLOW), DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), want);
	assert_int_equal(dsync_path_read_small(path, small, sizeof(small)), -1);
	assert_int_not_equal(errno, ENOENT);
	assert_int_equal(dsync_file_check(path), DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), want);
	/* as a lock (read-write, made when missing) */
	snprintf(want, sizeof(want), "cannot open '%s': not a regular file (a FIFO); remove it", path);
	assert_int_equal(dsync_file_open(&fd, path, DSYNC_FILE_CREATE | DSYNC_FILE_NOFOLLOW, NULL), DSYNC_ERROR);
	assert_int_equal(fd, -1);
	assert_string_equal(dsync_error_last(), want);
	dsync_buf_dispose(&b);
}

static void test_other_kinds(void **state)
{
	char path[300], link[300], small[8];
	struct sockaddr_un sa;
	size_t len;
	int fd, s;

	(void)state;
	/* a socket */
	at(path, sizeof(path), "sock");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_not_equal(dsync_file_read_small(&len, path, small, sizeof(small), 0), 0);
	close(s);
	/* a symlink: followed unless DSYNC_FILE_NOFOLLOW */
	at(path, sizeof(path), "target");
	write_text(path, "x");
	at(link, sizeof(link), "link");
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(dsync_file_read_small(&len, link, small, sizeof(small), 0), 0);
	assert_string_equal(small, "x");
	assert_int_equal(dsync_file_read_small(&len, link, small, sizeof(small), DSYNC_FILE_NOFOLLOW), DSYNC_ERROR);
	assert_non_null(strstr(dsync_error_last(), "not a regular file (a symlink)"));
	/* a folder */
	at(path, sizeof(path), "sub");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(dsync_file_read_small(&len, path, small, sizeof(small), 0), DSYNC_ERROR);
	assert_int_equal(dsync_file_open(&fd, path, DSYNC_FILE_CREATE, NULL), DSYNC_ERROR);
	/* a lock made when missing */
	at(path, sizeof(path), "new.lock");
	assert_int_equal(dsync_file_open(&fd, path, DSYNC_FILE_CREATE | DSYNC_FILE_NOFOLLOW, NULL), 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "1\n", 2), 2);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regular),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_other_kinds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
