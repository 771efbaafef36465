/*
 * SFTP v3 packets (transport/sftp_proto.h): every request against bytes
 * written out by hand from draft-ietf-secsh-filexfer-02, every reply type
 * decoded, and hostile replies (cut at every byte, lengths of 0xFFFFFFFF,
 * counts the packet cannot hold, unknown types and flags) refused as
 * DSYNC_ECORRUPT with a one-line message.
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
#include "transport/sftp_proto.h"

static const dsync_sftp_handle hnd = { 4, "hnd1" };

/* Checks that B holds exactly the LEN bytes of WANT, then empties B. */
static void expect_bytes(dsync_buf *b, const char *want, size_t len)
{
	size_t whole;

	assert_int_equal(b->len, len);
	assert_memory_equal(b->ptr, want, len);
	/* every request is one whole packet by the reader's own measure */
	assert_int_equal(dsync_sftp_frame(&whole, b->ptr, b->len), 1);
	assert_int_equal(whole, len);
	dsync_buf_truncate(b, 0);
}

#define EXPECT(b, lit) expect_bytes((b), (lit), sizeof(lit) - 1)
#define H "\x00\x00\x00\x04hnd1"

static void test_requests(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_sftp_attrs perms = { .flags = DSYNC_SFTP_ATTR_PERMISSIONS, .perms = 0600 };
	dsync_sftp_attrs all = {
		.flags = DSYNC_SFTP_ATTR_SIZE | DSYNC_SFTP_ATTR_UIDGID |
			 DSYNC_SFTP_ATTR_PERMISSIONS | DSYNC_SFTP_ATTR_ACMODTIME |
			 DSYNC_SFTP_ATTR_EXTENDED,
		.size = 0x0102030405060708ull, .uid = 1000, .gid = 1001, .perms = 0100644,
		.atime = 1, .mtime = 2, .extended_count = 5
	};
	(void)state;

	assert_int_equal(dsync_sftp_put_init(&b), 0);
	EXPECT(&b, "\x00\x00\x00\x05\x01\x00\x00\x00\x03");
	assert_int_equal(dsync_sftp_put_open(&b, 7, "/a", DSYNC_SFTP_FXF_READ | DSYNC_SFTP_FXF_WRITE |
					     DSYNC_SFTP_FXF_CREAT | DSYNC_SFTP_FXF_TRUNC, &perms), 0);
	EXPECT(&b, "\x00\x00\x00\x17\x03\x00\x00\x00\x07\x00\x00\x00\x02/a\x00\x00\x00\x1b"
		   "\x00\x00\x00\x04\x00\x00\x01\x80");
	assert_int_equal(dsync_sftp_put_open(&b, 7, "a", DSYNC_SFTP_FXF_WRITE | DSYNC_SFTP_FXF_CREAT |
					     DSYNC_SFTP_FXF_EXCL, NULL), 0);
	EXPECT(&b, "\x00\x00\x00\x12\x03\x00\x00\x00\x07\x00\x00\x00\x01" "a\x00\x00\x00\x2a"
		   "\x00\x00\x00\x00");
	assert_int_equal(dsync_sftp_put_close(&b, 1, &hnd), 0);
	EXPECT(&b, "\x00\x00\x00\x0d\x04\x00\x00\x00\x01" H);
	assert_int_equal(dsync_sftp_put_read(&b, 2, &hnd, 0x100000005ull, 32768), 0);
	EXPECT(&b, "\x00\x00\x00\x19\x05\x00\x00\x00\x02" H "\x00\x00\x00\x01\x00\x00\x00\x05"
		   "\x00\x00\x80\x00");
	assert_int_equal(dsync_sftp_put_write(&b, 3, &hnd, 0, "xyz", 3), 0);
	EXPECT(&b, "\x00\x00\x00\x1c\x06\x00\x00\x00\x03" H "\x00\x00\x00\x00\x00\x00\x00\x00"
		   "\x00\x00\x00\x03xyz");
	assert_int_equal(dsync_sftp_put_lstat(&b, 4, "a/b"), 0);
	EXPECT(&b, "\x00\x00\x00\x0c\x07\x00\x00\x00\x04\x00\x00\x00\x03" "a/b");
	assert_int_equal(dsync_sftp_put_stat(&b, 4, "a/b"), 0);
	EXPECT(&b, "\x00\x00\x00\x0c\x11\x00\x00\x00\x04\x00\x00\x00\x03" "a/b");
	assert_int_equal(dsync_sftp_put_fstat(&b, 5, &hnd), 0);
	EXPECT(&b, "\x00\x00\x00\x0d\x08\x00\x00\x00\x05" H);
	perms.perms = 0644;
	assert_int_equal(dsync_sftp_put_setstat(&b, 6, "f", &perms), 0);
	EXPECT(&b, "\x00\x00\x00\x12\x09\x00\x00\x00\x06\x00\x00\x00\x01" "f"
		   "\x00\x00\x00\x04\x00\x00\x01\xa4");
	/* every field, in the draft's order; extended pairs are never sent */
	assert_int_equal(dsync_sftp_put_setstat(&b, 6, "f", &all), 0);
	EXPECT(&b, "\x00\x00\x00\x2a\x09\x00\x00\x00\x06\x00\x00\x00\x01" "f"
		   "\x00\x00\x00\x0f\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x03\xe8\x00\x00\x03\xe9"
		   "\x00\x00\x81\xa4\x00\x00\x00\x01\x00\x00\x00\x02");
	assert_int_equal(dsync_sftp_put_fsetstat(&b, 7, &hnd, &perms), 0);
	EXPECT(&b, "\x00\x00\x00\x15\x0a\x00\x00\x00\x07" H "\x00\x00\x00\x04\x00\x00\x01\xa4");
	assert_int_equal(dsync_sftp_put_opendir(&b, 8, "d"), 0);
	EXPECT(&b, "\x00\x00\x00\x0a\x0b\x00\x00\x00\x08\x00\x00\x00\x01" "d");
	assert_int_equal(dsync_sftp_put_readdir(&b, 9, &hnd), 0);
	EXPECT(&b, "\x00\x00\x00\x0d\x0c\x00\x00\x00\x09" H);
	assert_int_equal(dsync_sftp_put_remove(&b, 10, "f"), 0);
	EXPECT(&b, "\x00\x00\x00\x0a\x0d\x00\x00\x00\x0a\x00\x00\x00\x01" "f");
	perms.perms = 0700;
	assert_int_equal(dsync_sftp_put_mkdir(&b, 11, "d", &perms), 0);
	EXPECT(&b, "\x00\x00\x00\x12\x0e\x00\x00\x00\x0b\x00\x00\x00\x01" "d"
		   "\x00\x00\x00\x04\x00\x00\x01\xc0");
	assert_int_equal(dsync_sftp_put_rmdir(&b, 12, "d"), 0);
	EXPECT(&b, "\x00\x00\x00\x0a\x0f\x00\x00\x00\x0c\x00\x00\x00\x01" "d");
	assert_int_equal(dsync_sftp_put_realpath(&b, 13, "."), 0);
	EXPECT(&b, "\x00\x00\x00\x0a\x10\x00\x00\x00\x0d\x00\x00\x00\x01.");
	assert_int_equal(dsync_sftp_put_rename(&b, 14, "a", "b"), 0);
	EXPECT(&b, "\x00\x00\x00\x0f\x12\x00\x00\x00\x0e\x00\x00\x00\x01" "a\x00\x00\x00\x01" "b");
	assert_int_equal(dsync_sftp_put_posix_rename(&b, 15, "a", "b"), 0);
	EXPECT(&b, "\x00\x00\x00\x2b\xc8\x00\x00\x00\x0f\x00\x00\x00\x18posix-rename@openssh.com"
		   "\x00\x00\x00\x01" "a\x00\x00\x00\x01" "b");
	assert_int_equal(dsync_sftp_put_fsync(&b, 16, &hnd), 0);
	EXPECT(&b, "\x00\x00\x00\x22\xc8\x00\x00\x00\x10\x00\x00\x00\x11" "fsync@openssh.com" H);
	assert_int_equal(dsync_sftp_put_statvfs(&b, 17, "/"), 0);
	EXPECT(&b, "\x00\x00\x00\x21\xc8\x00\x00\x00\x11\x00\x00\x00\x13statvfs@openssh.com"
		   "\x00\x00\x00\x01/");
	/* the id is big-endian in all four bytes */
	assert_int_equal(dsync_sftp_put_remove(&b, 0xa1b2c3d4u, "f"), 0);
	EXPECT(&b, "\x00\x00\x00\x0a\x0d\xa1\xb2\xc3\xd4\x00\x00\x00\x01" "f");
	dsync_buf_dispose(&b);
}

/* Requests queue up in one buffer and the reader's framing takes them
 * apart again, one by one, as a server reading a pipelined stream would. */
static void test_pipelined_requests(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	static char data[DSYNC_SFTP_MAX_DATA];
	size_t at = 0, whole, part, n = 0;
	(void)state;

	for (uint32_t id = 0; id < 8; id++) {
		assert_int_equal(dsync_sftp_put_write(&b, id, &hnd, (uint64_t)id * sizeof(data),
						      data, sizeof(data)), 0);
		assert_int_equal(dsync_sftp_put_read(&b, id, &hnd, 0, DSYNC_SFTP_MAX_DATA), 0);
	}
	while (at < b.len) {
		/* every prefix of the next packet asks for more */
		assert_int_equal(dsync_sftp_frame(&whole, b.ptr + at, 3), 0);
		assert_int_equal(dsync_sftp_frame(&whole, b.ptr + at, b.len - at), 1);
		assert_int_equal(dsync_sftp_frame(&part, b.ptr + at, whole - 1), 0);
		assert_int_equal((unsigned char)b.ptr[at + 4],
				 n % 2 ? DSYNC_SFTP_READ : DSYNC_SFTP_WRITE);
		at += whole;
		n++;
	}
	assert_int_equal(at, b.len);
	assert_int_equal(n, 16);
	dsync_buf_dispose(&b);
}

/* A request that cannot be made leaves the buffer as it was. */
static void test_request_refusals(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT, small;
	static char data[DSYNC_SFTP_MAX_DATA + 1];
	dsync_sftp_handle big = { DSYNC_SFTP_MAX_HANDLE + 1, { 0 } };
	char *longpath = malloc(DSYNC_SFTP_MAX_PACKET + 2);
	(void)state;

	assert_non_null(longpath);
	memset(longpath, 'a', DSYNC_SFTP_MAX_PACKET + 1);
	longpath[DSYNC_SFTP_MAX_PACKET + 1] = '\0';
	assert_int_equal(dsync_sftp_put_init(&b), 0);
	assert_int_equal(b.len, 9);
	assert_int_equal(dsync_sftp_put_write(&b, 1, &hnd, 0, data, sizeof(data)), DSYNC_EUSAGE);
	assert_int_equal(dsync_sftp_put_read(&b, 1, &hnd, 0, DSYNC_SFTP_MAX_DATA + 1), DSYNC_EUSAGE);
	assert_int_equal(dsync_sftp_put_close(&b, 1, &big), DSYNC_EUSAGE);
	assert_int_equal(dsync_sftp_put_stat(&b, 1, longpath), DSYNC_EUSAGE);
	/* a path that fits a string but not a packet with another one */
	longpath[DSYNC_SFTP_MAX_PACKET - 20] = '\0';
	assert_int_equal(dsync_sftp_put_rename(&b, 1, longpath, longpath), DSYNC_EUSAGE);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.ptr, "\x00\x00\x00\x05\x01\x00\x00\x00\x03", 9);

	/* a buffer that may not grow takes back the half packet */
	dsync_buf_init(&small, 20);
	assert_int_equal(dsync_sftp_put_stat(&small, 1, "0123456789"), DSYNC_ERROR);
	assert_int_equal(small.len, 0);
	assert_int_equal(dsync_sftp_put_stat(&small, 1, "0"), 0);
	assert_int_equal(small.len, 14);
	dsync_buf_dispose(&small);
	dsync_buf_dispose(&b);
	free(longpath);
}

/* ---- replies, built field by field ---- */

static void u32(dsync_buf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };

	assert_int_equal(dsync_buf_put(b, x, 4), 0);
}

static void u64(dsync_buf *b, uint64_t v)
{
	u32(b, (uint32_t)(v >> 32));
	u32(b, (uint32_t)v);
}

static void str(dsync_buf *b, const char *s, size_t len)
{
	u32(b, (uint32_t)len);
	assert_int_equal(dsync_buf_put(b, s, len), 0);
}

#define STR(b, lit) str((b), (lit), sizeof(lit) - 1)

static void start(dsync_buf *b, uint8_t type)
{
	dsync_buf_truncate(b, 0);
	u32(b, 0);
	assert_int_equal(dsync_buf_put(b, &type, 1), 0);
}

static void finish(dsync_buf *b)
{
	uint32_t n = (uint32_t)b->len - 4;

	b->ptr[0] = (char)(n >> 24);
	b->ptr[1] = (char)(n >> 16);
	b->ptr[2] = (char)(n >> 8);
	b->ptr[3] = (char)n;
}

/* Parses B, which must be refused as corrupt with a one-line message. */
static void refused(dsync_buf *b)
{
	dsync_sftp_reply r;

	assert_int_equal(dsync_sftp_parse_reply(&r, b->ptr, b->len), DSYNC_ECORRUPT);
	assert_null(strchr(dsync_error_last(), '\n'));
	assert_true(strlen(dsync_error_last()) > 10);
}

static void build_version(dsync_buf *b)
{
	start(b, DSYNC_SFTP_VERSION_REPLY);
	u32(b, 3);
	STR(b, "posix-rename@openssh.com"); STR(b, "1");
	STR(b, "statvfs@openssh.com"); STR(b, "2");
	STR(b, "hardlink@openssh.com"); STR(b, "1");
	STR(b, "fsync@openssh.com"); STR(b, "1");
	finish(b);
}

static void build_status(dsync_buf *b)
{
	start(b, DSYNC_SFTP_STATUS);
	u32(b, 42);
	u32(b, DSYNC_SFTP_FX_NO_SUCH_FILE);
	STR(b, "No such file");
	STR(b, "");
	finish(b);
}

static void build_handle(dsync_buf *b)
{
	start(b, DSYNC_SFTP_HANDLE);
	u32(b, 43);
	STR(b, "\x00\x01\x02\x03");
	finish(b);
}

static void build_data(dsync_buf *b)
{
	start(b, DSYNC_SFTP_DATA);
	u32(b, 44);
	STR(b, "hello");
	finish(b);
}

static void build_attrs_block(dsync_buf *b)
{
	u32(b, 0x8000000f);
	u64(b, 123456789012ull);
	u32(b, 1000);
	u32(b, 1001);
	u32(b, 0100644);
	u32(b, 1700000000);
	u32(b, 1700000001);
	u32(b, 1);
	STR(b, "ext@example.com");
	STR(b, "value");
}

static void build_name(dsync_buf *b)
{
	start(b, DSYNC_SFTP_NAME);
	u32(b, 45);
	u32(b, 4);
	STR(b, "doc.txt"); STR(b, "-rw-r--r-- 1 u u 5 Jan 1 doc.txt");
	build_attrs_block(b);
	STR(b, ".."); STR(b, ""); u32(b, 0);
	STR(b, "../etc"); STR(b, ""); u32(b, DSYNC_SFTP_ATTR_PERMISSIONS); u32(b, 040755);
	STR(b, "a\0b"); STR(b, ""); u32(b, 0);
	finish(b);
}

static void build_attrs(dsync_buf *b)
{
	start(b, DSYNC_SFTP_ATTRS);
	u32(b, 46);
	build_attrs_block(b);
	finish(b);
}

static void build_statvfs(dsync_buf *b)
{
	start(b, DSYNC_SFTP_EXTENDED_REPLY);
	u32(b, 47);
	for (uint64_t i = 1; i <= 11; i++)
		u64(b, i * 1000);
	finish(b);
}

static void test_replies(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_sftp_reply r;
	dsync_sftp_name n;
	dsync_sftp_statvfs sv;
	size_t pos = 0;
	(void)state;

	build_version(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.type, DSYNC_SFTP_VERSION_REPLY);
	assert_int_equal(r.version, 3);
	assert_int_equal(r.extensions, DSYNC_SFTP_EXT_POSIX_RENAME | DSYNC_SFTP_EXT_FSYNC |
				       DSYNC_SFTP_EXT_STATVFS);
	/* an extension at a version we do not know is not offered */
	start(&b, DSYNC_SFTP_VERSION_REPLY);
	u32(&b, 3);
	STR(&b, "fsync@openssh.com"); STR(&b, "2");
	finish(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.extensions, 0);

	build_status(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.type, DSYNC_SFTP_STATUS);
	assert_int_equal(r.id, 42);
	assert_int_equal(r.status, DSYNC_SFTP_FX_NO_SUCH_FILE);
	assert_string_equal(r.message, "No such file");
	assert_int_equal(dsync_sftp_status_error(&r, "cannot open 'x'"), DSYNC_ENOTFOUND);
	assert_string_equal(dsync_error_last(), "cannot open 'x': No such file (sftp status 2)");

	build_handle(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.id, 43);
	assert_int_equal(r.handle.len, 4);
	assert_memory_equal(r.handle.bytes, "\x00\x01\x02\x03", 4);

	build_data(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.id, 44);
	assert_int_equal(r.data_len, 5);
	assert_memory_equal(r.data, "hello", 5);

	build_name(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.id, 45);
	assert_int_equal(r.count, 4);
	assert_int_equal(dsync_sftp_name_next(&n, &r, &pos), 1);
	assert_int_equal(n.name_len, 7);
	assert_memory_equal(n.name, "doc.txt", 7);
	assert_int_equal(n.name_flags, 0);
	assert_int_equal(n.attrs.size, 123456789012ull);
	assert_int_equal(n.attrs.perms, 0100644);
	assert_int_equal(n.attrs.mtime, 1700000001);
	assert_int_equal(n.attrs.extended_count, 1);
	assert_int_equal(dsync_sftp_name_next(&n, &r, &pos), 1);
	assert_int_equal(n.name_flags, DSYNC_SFTP_NAME_DOT);
	assert_int_equal(dsync_sftp_name_next(&n, &r, &pos), 1);
	assert_int_equal(n.name_flags, DSYNC_SFTP_NAME_SLASH);
	assert_int_equal(n.attrs.flags, DSYNC_SFTP_ATTR_PERMISSIONS);
	assert_int_equal(n.attrs.perms, 040755);
	assert_int_equal(dsync_sftp_name_next(&n, &r, &pos), 1);
	assert_int_equal(n.name_flags, DSYNC_SFTP_NAME_NUL);
	assert_int_equal(n.name_len, 3);
	assert_int_equal(dsync_sftp_name_next(&n, &r, &pos), 0);

	build_attrs(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.id, 46);
	assert_int_equal(r.attrs.flags, 0x8000000f);
	assert_int_equal(r.attrs.uid, 1000);
	assert_int_equal(r.attrs.gid, 1001);
	assert_int_equal(r.attrs.atime, 1700000000);

	build_statvfs(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.id, 47);
	assert_int_equal(dsync_sftp_parse_statvfs(&sv, &r), 0);
	assert_int_equal(sv.bsize, 1000);
	assert_int_equal(sv.bavail, 5000);
	assert_int_equal(sv.namemax, 11000);
	/* a statvfs answer one byte short */
	r.data_len--;
	assert_int_equal(dsync_sftp_parse_statvfs(&sv, &r), DSYNC_ECORRUPT);
	dsync_buf_dispose(&b);
}

/* A server's message cannot put a newline, an escape or a right-to-left
 * override into our error, nor bytes that are not UTF-8. */
static void test_status_message_cleaned(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_sftp_reply r;
	char longmsg[1000];
	(void)state;

	start(&b, DSYNC_SFTP_STATUS);
	u32(&b, 1);
	u32(&b, DSYNC_SFTP_FX_PERMISSION_DENIED);
	STR(&b, "no\n\x1b[31mway\xe2\x80\xae\xff caf\xc3\xa9\0x");
	STR(&b, "en");
	finish(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_string_equal(r.message, "no??[31mway?? caf\xc3\xa9?x");
	assert_int_equal(dsync_sftp_status_error(&r, "cannot write"), DSYNC_EACCESS);

	/* a long message is cut to the room it has, never mid-character */
	memset(longmsg, 'x', sizeof(longmsg));
	memcpy(longmsg + DSYNC_SFTP_MESSAGE_SIZE - 2, "\xc3\xa9", 2);
	start(&b, DSYNC_SFTP_STATUS);
	u32(&b, 1);
	u32(&b, DSYNC_SFTP_FX_FAILURE);
	str(&b, longmsg, sizeof(longmsg));
	STR(&b, "");
	finish(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(strlen(r.message), DSYNC_SFTP_MESSAGE_SIZE - 2);

	/* no message: the status's own name */
	start(&b, DSYNC_SFTP_STATUS);
	u32(&b, 1);
	u32(&b, DSYNC_SFTP_FX_FAILURE);
	STR(&b, "");
	STR(&b, "");
	finish(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(dsync_sftp_status_error(&r, "cannot rename"), DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), "cannot rename: failure (sftp status 4)");
	r.status = DSYNC_SFTP_FX_OK;
	assert_int_equal(dsync_sftp_status_error(&r, "x"), 0);
	dsync_buf_dispose(&b);
}

static void test_status_codes(void **state)
{
	(void)state;
	assert_int_equal(dsync_sftp_status_code(DSYNC_SFTP_FX_OK), 0);
	assert_int_equal(dsync_sftp_status_code(DSYNC_SFTP_FX_EOF), DSYNC_ERROR);
	assert_int_equal(dsync_sftp_status_code(DSYNC_SFTP_FX_NO_SUCH_FILE), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_sftp_status_code(DSYNC_SFTP_FX_PERMISSION_DENIED), DSYNC_EACCESS);
	assert_int_equal(dsync_sftp_status_code(DSYNC_SFTP_FX_FAILURE), DSYNC_ERROR);
	assert_int_equal(dsync_sftp_status_code(DSYNC_SFTP_FX_BAD_MESSAGE), DSYNC_ERROR);
	assert_int_equal(dsync_sftp_status_code(DSYNC_SFTP_FX_OP_UNSUPPORTED), DSYNC_ERROR);
	assert_int_equal(dsync_sftp_status_code(11), DSYNC_EEXISTS);
	assert_int_equal(dsync_sftp_status_code(14), DSYNC_ENOSPACE);
	assert_int_equal(dsync_sftp_status_code(19), DSYNC_ENOTDIR);
	assert_int_equal(dsync_sftp_status_code(0xffffffffu), DSYNC_ERROR);
}

/* Every valid reply cut short at every byte: the framing asks for more,
 * and a packet whose length field was rewritten to the cut is refused (or,
 * for the two replies whose tail is a list to the end, parsed whole). */
static void test_truncated_everywhere(void **state)
{
	void (*builders[])(dsync_buf *) = { build_version, build_status, build_handle,
					    build_data, build_name, build_attrs, build_statvfs };
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_sftp_reply r;
	size_t whole;
	(void)state;

	for (size_t i = 0; i < sizeof(builders) / sizeof(builders[0]); i++) {
		builders[i](&b);
		for (size_t cut = 0; cut < b.len; cut++) {
			/* an exact-size copy, so a sanitizer build sees any overread */
			unsigned char *p = malloc(cut ? cut : 1);
			int rc;

			assert_non_null(p);
			memcpy(p, b.ptr, cut);
			assert_int_equal(dsync_sftp_frame(&whole, p, cut), 0);
			assert_int_equal(dsync_sftp_parse_reply(&r, p, cut), DSYNC_ECORRUPT);
			if (cut >= 5) {
				uint32_t n = (uint32_t)cut - 4;

				p[0] = n >> 24; p[1] = n >> 16; p[2] = n >> 8; p[3] = n;
				rc = dsync_sftp_parse_reply(&r, p, cut);
				if (b.ptr[4] == (char)DSYNC_SFTP_VERSION_REPLY ||
				    b.ptr[4] == (char)DSYNC_SFTP_EXTENDED_REPLY)
					assert_true(rc == 0 || rc == DSYNC_ECORRUPT);
				else
					assert_int_equal(rc, DSYNC_ECORRUPT);
			}
			free(p);
		}
	}
	dsync_buf_dispose(&b);
}

static void test_hostile(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_sftp_reply r;
	size_t whole;
	static const unsigned char bad_types[] = { 0, 1, 3, 100, 106, 200, 255 };
	char big[DSYNC_SFTP_MAX_HANDLE + 1] = { 0 };
	(void)state;

	/* lengths the framing refuses as soon as it sees them */
	assert_int_equal(dsync_sftp_frame(&whole, "\x00\x00\x00\x00", 4), DSYNC_ECORRUPT);
	assert_int_equal(dsync_sftp_frame(&whole, "\xff\xff\xff\xff", 4), DSYNC_ECORRUPT);
	assert_int_equal(dsync_sftp_frame(&whole, "\x00\x04\x04\x01", 4), DSYNC_ECORRUPT);
	assert_int_equal(dsync_sftp_frame(&whole, "\x00\x04\x04\x00", 4), 0);

	for (size_t i = 0; i < sizeof(bad_types); i++) {
		start(&b, bad_types[i]);
		u32(&b, 1);
		u32(&b, 0);
		finish(&b);
		refused(&b);
	}
	/* a reply with only its type */
	start(&b, DSYNC_SFTP_STATUS);
	finish(&b);
	refused(&b);

	/* 0xFFFFFFFF in every length and count */
	start(&b, DSYNC_SFTP_VERSION_REPLY); u32(&b, 3); u32(&b, 0xffffffff); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_VERSION_REPLY); u32(&b, 3); STR(&b, "x"); u32(&b, 0xffffffff);
	finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_STATUS); u32(&b, 1); u32(&b, 2); u32(&b, 0xffffffff); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_STATUS); u32(&b, 1); u32(&b, 2); STR(&b, "m"); u32(&b, 0xffffffff);
	finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_HANDLE); u32(&b, 1); u32(&b, 0xffffffff); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_DATA); u32(&b, 1); u32(&b, 0xffffffff); STR(&b, "abc"); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_NAME); u32(&b, 1); u32(&b, 0xffffffff); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_NAME); u32(&b, 1); u32(&b, 1); u32(&b, 0xffffffff); STR(&b, "");
	u32(&b, 0); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_NAME); u32(&b, 1); u32(&b, 1); STR(&b, "a"); u32(&b, 0xffffffff);
	u32(&b, 0); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_ATTRS); u32(&b, 1); u32(&b, DSYNC_SFTP_ATTR_EXTENDED);
	u32(&b, 0xffffffff); STR(&b, "a"); STR(&b, "b"); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_ATTRS); u32(&b, 1); u32(&b, DSYNC_SFTP_ATTR_EXTENDED);
	u32(&b, 1); STR(&b, "a"); u32(&b, 0xffffffff); finish(&b);
	refused(&b);
	/* a count of entries each smaller than the packet, but more of them */
	start(&b, DSYNC_SFTP_NAME); u32(&b, 1); u32(&b, 2); STR(&b, "a"); STR(&b, ""); u32(&b, 0);
	finish(&b);
	refused(&b);

	/* a handle over 256 bytes; 256 is fine */
	start(&b, DSYNC_SFTP_HANDLE); u32(&b, 1); str(&b, big, sizeof(big)); finish(&b);
	refused(&b);
	start(&b, DSYNC_SFTP_HANDLE); u32(&b, 1); str(&b, big, sizeof(big) - 1); finish(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len), 0);
	assert_int_equal(r.handle.len, DSYNC_SFTP_MAX_HANDLE);

	/* attribute flags v3 does not define (their fields cannot be skipped) */
	start(&b, DSYNC_SFTP_ATTRS); u32(&b, 1); u32(&b, 0x10); u32(&b, 0); finish(&b);
	refused(&b);
	/* a byte past the last field */
	build_data(&b);
	assert_int_equal(dsync_buf_put(&b, "!", 1), 0);
	finish(&b);
	refused(&b);
	build_name(&b);
	assert_int_equal(dsync_buf_put(&b, "\0\0\0", 3), 0);
	finish(&b);
	refused(&b);
	/* a length field that disagrees with the bytes handed over */
	build_handle(&b);
	assert_int_equal(dsync_sftp_parse_reply(&r, b.ptr, b.len - 1), DSYNC_ECORRUPT);
	dsync_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_pipelined_requests),
		cmocka_unit_test(test_request_refusals),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_status_message_cleaned),
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
