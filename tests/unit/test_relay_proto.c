/*
 * The relay protocol's pure functions (transport/relay_proto.h,
 * docs/relay-protocol.md sections 2, 3, 5, 6 and 8): the derivations against
 * vectors computed by a second implementation (Python's hashlib.blake2b and
 * the reference libargon2 through ctypes; ed25519 signatures by OpenSSL over
 * the same bytes), every row of section 3's name rules with hostile paths,
 * the line format's edges, listing lines, the signed messages byte for byte
 * and the writer rules table exhaustively.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/relay_proto.h"

#define GID "06ddca791fdb30c263046ff6df32da5c" /* GROUP-ID of "smith-family" */
#define DEV_A "0123456789abcdef0123456789abcdef"
#define DEV_B "fedcba9876543210fedcba9876543210"
#define PACK "packs/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MANIFEST_A "devices/" DEV_A "/0000000000000007"

static void hex_equal(const uint8_t *b, size_t len, const char *want)
{
	char hex[129];

	dsync_relay_hex(hex, b, len);
	assert_string_equal(hex, want);
}

/* ---- section 2 */

static void test_fold(void **state)
{
	char out[DSYNC_RELAY_GROUP_MAX + 1];
	char long_name[80];

	(void)state;
	assert_int_equal(dsync_relay_group_fold(out, "  Smith-Family "), 0);
	assert_string_equal(out, "smith-family");
	/* only ASCII is folded: É stays as typed */
	assert_int_equal(dsync_relay_group_fold(out, "\xc3\x89T\xc3\xa9"), 0);
	assert_string_equal(out, "\xc3\x89t\xc3\xa9");
	assert_int_equal(dsync_relay_group_fold(out, "a b"), 0);
	assert_string_equal(out, "a b");
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	assert_int_equal(dsync_relay_group_fold(out, long_name), 0);
	assert_int_equal(strlen(out), 64);
	/* 64 bytes once trimmed */
	memmove(long_name + 2, long_name, 65);
	memcpy(long_name, "  ", 2);
	memcpy(long_name + 66, "  ", 3);
	assert_int_equal(dsync_relay_group_fold(out, long_name), 0);
	assert_int_equal(strlen(out), 64);
	memset(long_name, 'x', 65);
	long_name[65] = '\0';
	assert_int_equal(dsync_relay_group_fold(out, long_name), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_group_fold(out, ""), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_group_fold(out, "    "), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_group_fold(out, "a\tb"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_group_fold(out, "a\nb"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_group_fold(out, "a\x7f"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_group_fold(out, "a\xc2\x85"), DSYNC_EUSAGE);  /* C1 NEL */
	assert_int_equal(dsync_relay_group_fold(out, "a\xc3"), DSYNC_EUSAGE);      /* cut sequence */
	assert_int_equal(dsync_relay_group_fold(out, "a\xc3 "), DSYNC_EUSAGE);     /* cut, then a space */
	assert_int_equal(dsync_relay_group_fold(out, "\xc0\xaf"), DSYNC_EUSAGE);   /* overlong */
	assert_int_equal(dsync_relay_group_fold(out, "\xed\xa0\x80"), DSYNC_EUSAGE); /* surrogate */
	assert_int_equal(dsync_relay_group_fold(out, "\xff"), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "UTF-8"));
}

static void test_group_id(void **state)
{
	char gid[DSYNC_RELAY_ID_HEX], folded[DSYNC_RELAY_GROUP_MAX + 1];

	(void)state;
	dsync_relay_group_id(gid, "smith-family");
	assert_string_equal(gid, GID);
	assert_int_equal(dsync_relay_group_fold(folded, " Smith-FAMILY"), 0);
	dsync_relay_group_id(gid, folded);
	assert_string_equal(gid, GID);
}

/* The minimum limits (DSYNC_TEST_KDF=min): Argon2id t=1, 8 KiB, one lane. */
static void test_derive_min(void **state)
{
	uint8_t token[32], admit[32], th[32], ah[32];

	(void)state;
	setenv("DSYNC_TEST_KDF", "min", 1);
	assert_int_equal(dsync_relay_derive(token, admit, "smith-family", "correct horse battery staple"), 0);
	unsetenv("DSYNC_TEST_KDF");
	hex_equal(token, 32, "15a320a3ecfbc41f13167fbde0dd29bcdad49abb475af948fb2d836b71a714a2");
	hex_equal(admit, 32, "9004e6685972df8ec0fff0afc54d302294e9f3fe01a5916805a672da33e86ab9");
	dsync_relay_secret_hash(th, "token", GID, token);
	dsync_relay_secret_hash(ah, "admit", GID, admit);
	hex_equal(th, 32, "3d9e2aff590f05fa3523de0b543b6d51c8b06dba08ee1ea8db09418a38b9a94b");
	hex_equal(ah, 32, "1c5e1894b36a570e6dea282999b2aa04572f932b186f0a2c91b470198e2f2a7c");
}

/* The shipped limits (MODERATE: t=3, 256 MiB): about a second. */
static void test_derive_moderate(void **state)
{
	uint8_t token[32], admit[32];

	(void)state;
	unsetenv("DSYNC_TEST_KDF");
	assert_int_equal(dsync_relay_derive(token, admit, "smith-family", "correct horse battery staple"), 0);
	hex_equal(token, 32, "f21d6650214e9a76bcabe04cd2270ed55a145d92fd49f07012ce30751a9c4ea2");
	hex_equal(admit, 32, "68587c1b037d865523305f1ee5223d1da19461667a5d0420475642a20280de2c");
}

static void test_hex(void **state)
{
	uint8_t b[4];
	char s[9];

	(void)state;
	assert_int_equal(dsync_relay_hex_parse(b, "00ff10a9", 8), 0);
	assert_int_equal(b[0], 0x00);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(b[3], 0xa9);
	dsync_relay_hex(s, b, 4);
	assert_string_equal(s, "00ff10a9");
	assert_int_equal(dsync_relay_hex_parse(NULL, "00FF10a9", 8), -1); /* upper case */
	assert_int_equal(dsync_relay_hex_parse(NULL, "00ff10a", 8), -1);  /* short */
	assert_int_equal(dsync_relay_hex_parse(NULL, "00ff10a99", 8), -1); /* long */
	assert_int_equal(dsync_relay_hex_parse(NULL, "00ff10ag", 8), -1);
	assert_int_equal(dsync_relay_hex_parse(NULL, "abc", 3), -1); /* odd */
	assert_int_equal(dsync_relay_hex_parse(NULL, "", 0), 0);
}

/* ---- section 3 */

static void target(const char *url, dsync_relay_target_kind kind, const char *name)
{
	dsync_relay_target t;
	int rc = dsync_relay_target_parse(&t, url);

	if (t.kind != kind)
		fail_msg("'%s': kind %d, want %d", url, t.kind, kind);
	assert_int_equal(rc, kind == DSYNC_RELAY_T_BAD ? -1 : 0);
	if (kind != DSYNC_RELAY_T_BAD && kind != DSYNC_RELAY_T_ROOT)
		assert_string_equal(t.gid, GID);
	if (name)
		assert_string_equal(t.name, name);
}

static void bad(const char *url)
{
	target(url, DSYNC_RELAY_T_BAD, NULL);
}

static void test_targets(void **state)
{
	char url[400];

	(void)state;
	target("/v1/", DSYNC_RELAY_T_ROOT, NULL);
	target("/v1/" GID "/.group", DSYNC_RELAY_T_GROUP, NULL);
	target("/v1/" GID "/.list", DSYNC_RELAY_T_LIST, NULL);
	target("/v1/" GID "/.poll", DSYNC_RELAY_T_POLL, NULL);
	target("/v1/" GID "/.usage", DSYNC_RELAY_T_USAGE, NULL);
	target("/v1/" GID "/.device/" DEV_A, DSYNC_RELAY_T_DEVICE, DEV_A);
	target("/v1/" GID "/.upload/" DEV_B, DSYNC_RELAY_T_UPLOAD, DEV_B);
	target("/v1/" GID "/dsync-store", DSYNC_RELAY_T_BLOB, "dsync-store");
	target("/v1/" GID "/keys/0123456789abcdef", DSYNC_RELAY_T_BLOB, "keys/0123456789abcdef");
	target("/v1/" GID "/" PACK, DSYNC_RELAY_T_BLOB, PACK);
	target("/v1/" GID "/" MANIFEST_A, DSYNC_RELAY_T_BLOB, MANIFEST_A);

	/* the prefix and the group id */
	bad("");
	bad("/");
	bad("/v1");
	bad("/v2/");
	bad("v1/");
	bad("/V1/");
	bad("//v1/");
	bad("/v1//");
	bad("/v1/" GID);
	bad("/v1/" GID "/");
	bad("/v1/06DDCA791FDB30C263046FF6DF32DA5C/dsync-store");
	bad("/v1/06ddca791fdb30c263046ff6df32da5/dsync-store");   /* 31 digits */
	bad("/v1/06ddca791fdb30c263046ff6df32da5cc/dsync-store"); /* 33 */
	bad("/v1/06ddca791fdb30c263046ff6df32da5g/dsync-store");
	bad("/v1/" GID "//dsync-store");
	/* section 11's hostile paths, raw (the relay never unescapes) */
	bad("/v1/" GID "/..%2f..%2fetc/passwd");
	bad("/v1/" GID "/%2e%2e/x");
	bad("/v1/" GID "//etc/passwd");
	bad("/v1/" GID "/packs/../../x");
	bad("/v1/../../etc/passwd");
	bad("/v1/%2e%2e/x");
	bad("/v1/" GID "/..");
	bad("/v1/" GID "/.");
	bad("/v1/" GID "/./dsync-store");
	bad("/v1/" GID "/keys/./0123456789abcdef");
	bad("/v1/" GID "/dsync-store/");
	bad("/v1/" GID "/dsync-store?x=1");
	bad("/v1/" GID "/dsync-stor%65");
	bad("/v1/" GID "/dsync-store\n");
	bad("/v1/" GID "/.git");
	bad("/v1/" GID "/.groups");
	bad("/v1/" GID "/.group/x");
	bad("/v1/" GID "/.Group");
	bad("/v1/" GID "/.list/");
	/* control targets with ids of the wrong shape */
	bad("/v1/" GID "/.device/");
	bad("/v1/" GID "/.device/0123456789ABCDEF0123456789abcdef");
	bad("/v1/" GID "/.device/0123456789abcdef0123456789abcde");
	bad("/v1/" GID "/.device/0123456789abcdef0123456789abcdef0");
	bad("/v1/" GID "/.device/" DEV_A "/x");
	bad("/v1/" GID "/.upload/../" DEV_A);
	bad("/v1/" GID "/.upload/%2e%2e%2f0123456789abcdef0123456789");
	bad("/v1/" GID "/.devices/" DEV_A);
	/* blob names: each shape, and each way of missing it */
	bad("/v1/" GID "/keys/0123456789ABCDEF");
	bad("/v1/" GID "/keys/0123456789abcde");
	bad("/v1/" GID "/keys/0123456789abcdef0");
	bad("/v1/" GID "/keys/0123456789abcdef/x");
	bad("/v1/" GID "/keys");
	bad("/v1/" GID "/keys/");
	bad("/v1/" GID "/packs/00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff");
	bad("/v1/" GID "/packs/00112233445566778899aabbccddeeff00112233445566778899aabbccddeef");
	bad("/v1/" GID "/" PACK "0");
	bad("/v1/" GID "/" PACK ".tmp");
	bad("/v1/" GID "/devices/" DEV_A "/000000000000007");
	bad("/v1/" GID "/devices/" DEV_A "/00000000000000070");
	bad("/v1/" GID "/devices/" DEV_A "/000000000000000a");
	bad("/v1/" GID "/devices/" DEV_A "/-000000000000007");
	bad("/v1/" GID "/devices/0123456789ABCDEF0123456789abcdef/0000000000000007");
	bad("/v1/" GID "/devices/" DEV_A);
	bad("/v1/" GID "/devices/" DEV_A "/");
	bad("/v1/" GID "/devices/" DEV_A "/0000000000000007/x");
	bad("/v1/" GID "/devices//0000000000000007");
	bad("/v1/" GID "/Dsync-store");
	bad("/v1/" GID "/other");
	bad("/v1/" GID "/a/b/c/d");
	bad("/v1/" GID "/dsync-store\xc3\xa9");
	/* long: a name over 200 bytes, and a path of 1 KiB */
	memset(url, 0, sizeof(url));
	snprintf(url, sizeof(url), "/v1/" GID "/");
	memset(url + strlen(url), 'a', 201);
	bad(url);
	memset(url + 4, 'a', sizeof(url) - 5);
	bad(url);
}

static void test_blob_names(void **state)
{
	char name[300];

	(void)state;
	assert_int_equal(dsync_relay_blob_name_ok("dsync-store"), 0);
	assert_int_equal(dsync_relay_blob_name_ok("keys/0123456789abcdef"), 0);
	assert_int_equal(dsync_relay_blob_name_ok(PACK), 0);
	assert_int_equal(dsync_relay_blob_name_ok(MANIFEST_A), 0);
	assert_int_equal(dsync_relay_blob_name_ok(""), -1);
	assert_int_equal(dsync_relay_blob_name_ok("/dsync-store"), -1);
	assert_int_equal(dsync_relay_blob_name_ok("dsync-store/"), -1);
	assert_int_equal(dsync_relay_blob_name_ok("keys//0123456789abcdef"), -1);
	assert_int_equal(dsync_relay_blob_name_ok("./dsync-store"), -1);
	assert_int_equal(dsync_relay_blob_name_ok("../dsync-store"), -1);
	assert_int_equal(dsync_relay_blob_name_ok("keys/.0123456789abcde"), -1);
	assert_int_equal(dsync_relay_blob_name_ok("keys/0123456789abcdef "), -1);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(dsync_relay_blob_name_ok(name), -1);
}

static void test_prefix(void **state)
{
	char p[210];

	(void)state;
	assert_int_equal(dsync_relay_prefix_ok(""), 0);
	assert_int_equal(dsync_relay_prefix_ok("devices/"), 0);
	assert_int_equal(dsync_relay_prefix_ok("devices/" DEV_A "/"), 0);
	assert_int_equal(dsync_relay_prefix_ok("packs/"), 0);
	assert_int_equal(dsync_relay_prefix_ok("keys/"), 0);
	assert_int_equal(dsync_relay_prefix_ok("pa"), 0);
	assert_int_equal(dsync_relay_prefix_ok("devices/../"), -1);
	assert_int_equal(dsync_relay_prefix_ok("."), -1);
	assert_int_equal(dsync_relay_prefix_ok(".."), -1);
	assert_int_equal(dsync_relay_prefix_ok("/"), -1);
	assert_int_equal(dsync_relay_prefix_ok("/etc"), -1);
	assert_int_equal(dsync_relay_prefix_ok("devices//"), -1);
	assert_int_equal(dsync_relay_prefix_ok("devices%2f"), -1);
	assert_int_equal(dsync_relay_prefix_ok("dev ices"), -1);
	assert_int_equal(dsync_relay_prefix_ok("devices\n"), -1);
	memset(p, 'a', 200);
	p[200] = '\0';
	assert_int_equal(dsync_relay_prefix_ok(p), 0);
	p[200] = 'a';
	p[201] = '\0';
	assert_int_equal(dsync_relay_prefix_ok(p), -1);
}

static void test_manifest_name(void **state)
{
	char dev[DSYNC_RELAY_ID_HEX];
	uint64_t seq;

	(void)state;
	assert_int_equal(dsync_relay_manifest_name(MANIFEST_A, dev, &seq), 0);
	assert_string_equal(dev, DEV_A);
	assert_int_equal(seq, 7);
	assert_int_equal(dsync_relay_manifest_name("devices/" DEV_B "/9999999999999999", dev, &seq), 0);
	assert_true(seq == 9999999999999999ULL);
	assert_int_equal(dsync_relay_manifest_name("devices/" DEV_B "/0000000000000000", dev, &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(dsync_relay_manifest_name(PACK, dev, &seq), -1);
	assert_int_equal(dsync_relay_manifest_name("devices/" DEV_B "/000000000000000x", dev, &seq), -1);
	assert_int_equal(dsync_relay_manifest_name("devices/" DEV_B, dev, &seq), -1);
}

static void test_change(void **state)
{
	char epoch[17];
	uint64_t n;

	(void)state;
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.0", epoch, &n), 0);
	assert_string_equal(epoch, "0123456789abcdef");
	assert_int_equal(n, 0);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.18446744073709551615", epoch, &n), 0);
	assert_true(n == UINT64_MAX);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.18446744073709551616", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.01", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.-1", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.+1", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef.1 ", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789ABCDEF.1", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcde.1", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef0.1", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("0123456789abcdef1", epoch, &n), -1);
	assert_int_equal(dsync_relay_change_parse("", epoch, &n), -1);
}

/* ---- the line format */

static int parse(dsync_relay_lines *l, const char *body)
{
	return dsync_relay_lines_parse(l, body, strlen(body));
}

static void test_lines(void **state)
{
	dsync_relay_lines *l = calloc(1, sizeof(*l));
	char *big;

	(void)state;
	assert_non_null(l);
	assert_int_equal(parse(l, "change 0123456789abcdef.3\nchanged 1\nwriter " DEV_A "\nx-new a b  c~\n"), 0);
	assert_int_equal(l->n, 4);
	assert_string_equal(dsync_relay_lines_get(l, "change"), "0123456789abcdef.3");
	assert_string_equal(dsync_relay_lines_get(l, "changed"), "1");
	assert_string_equal(dsync_relay_lines_get(l, "writer"), DEV_A);
	assert_string_equal(dsync_relay_lines_get(l, "x-new"), "a b  c~");
	assert_null(dsync_relay_lines_get(l, "chang"));
	assert_null(dsync_relay_lines_get(l, "missing"));
	dsync_relay_lines_dispose(l);
	/* the first of two lines with one key; an empty value */
	assert_int_equal(parse(l, "a 1\na 2\nb \n"), 0);
	assert_string_equal(dsync_relay_lines_get(l, "a"), "1");
	assert_string_equal(dsync_relay_lines_get(l, "b"), "");
	dsync_relay_lines_dispose(l);
	assert_int_equal(parse(l, ""), 0);
	assert_int_equal(l->n, 0);
	dsync_relay_lines_dispose(l);

	/* refused: L then holds nothing */
	const char *hostile[] = {
		"a 1",            /* no final newline */
		"a 1\nb 2",
		"\n",             /* empty line */
		"a\n",            /* no space */
		" a\n",           /* no key */
		"A 1\n",          /* upper-case key */
		"a_b 1\n",
		"a.b 1\n",
		"a\t1\n",
		"a 1\r\n",        /* CR is a control character */
		"a \x1b[31m\n",
		"a \x7f\n",
		"a \xc3\xa9\n",   /* not ASCII */
		"\xff 1\n",
	};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		if (parse(l, hostile[i]) != DSYNC_ECORRUPT)
			fail_msg("accepted '%s'", hostile[i]);
		assert_int_equal(l->n, 0);
		assert_null(l->text);
	}
	/* a NUL inside */
	assert_int_equal(dsync_relay_lines_parse(l, "a 1\0\n", 5), DSYNC_ECORRUPT);
	assert_int_equal(dsync_relay_lines_parse(l, "a\0 1\n", 5), DSYNC_ECORRUPT);

	/* 64 KiB exactly, and one byte over */
	big = malloc(DSYNC_RELAY_LINES_MAX + 2);
	assert_non_null(big);
	memset(big, 'v', DSYNC_RELAY_LINES_MAX + 1);
	memcpy(big, "k ", 2);
	big[DSYNC_RELAY_LINES_MAX - 1] = '\n';
	assert_int_equal(dsync_relay_lines_parse(l, big, DSYNC_RELAY_LINES_MAX), 0);
	assert_int_equal(l->n, 1);
	assert_int_equal(strlen(dsync_relay_lines_get(l, "k")), DSYNC_RELAY_LINES_MAX - 3);
	dsync_relay_lines_dispose(l);
	big[DSYNC_RELAY_LINES_MAX - 1] = 'v';
	big[DSYNC_RELAY_LINES_MAX] = '\n';
	assert_int_equal(dsync_relay_lines_parse(l, big, DSYNC_RELAY_LINES_MAX + 1), DSYNC_ECORRUPT);
	/* 1,000 lines, and 1,001 */
	for (size_t i = 0; i < 1001; i++)
		memcpy(big + 4 * i, "k 1\n", 4);
	assert_int_equal(dsync_relay_lines_parse(l, big, 4000), 0);
	assert_int_equal(l->n, 1000);
	dsync_relay_lines_dispose(l);
	assert_int_equal(dsync_relay_lines_parse(l, big, 4004), DSYNC_ECORRUPT);
	assert_int_equal(l->n, 0);
	free(big);
	free(l);
}

static void list_ok(const char *line, bool is_next, const char *name, uint64_t size, int64_t mtime)
{
	dsync_relay_list_line ll;

	if (dsync_relay_list_line_parse(&ll, line, strlen(line)) != 0)
		fail_msg("refused '%s'", line);
	assert_int_equal(ll.is_next, is_next);
	assert_string_equal(ll.name, name);
	assert_true(ll.size == size);
	assert_true(ll.mtime == mtime);
}

static void list_bad(const char *line)
{
	dsync_relay_list_line ll;

	if (dsync_relay_list_line_parse(&ll, line, strlen(line)) != DSYNC_ECORRUPT)
		fail_msg("accepted '%s'", line);
}

static void test_list_lines(void **state)
{
	dsync_relay_list_line ll;

	(void)state;
	list_ok(MANIFEST_A " 4312 1796554712", false, MANIFEST_A, 4312, 1796554712);
	list_ok("dsync-store 0 0", false, "dsync-store", 0, 0);
	list_ok(PACK " 18446744073709551615 9223372036854775807", false, PACK, UINT64_MAX, INT64_MAX);
	list_ok("next " PACK, true, PACK, 0, 0);
	list_bad("");
	list_bad("next ");
	list_bad("next");
	list_bad("next ../x");
	list_bad("next " PACK " 1 2");
	list_bad("dsync-store");
	list_bad("dsync-store 1");
	list_bad("dsync-store 1 ");
	list_bad("dsync-store  1 2");
	list_bad("dsync-store 1 2 ");
	list_bad("dsync-store 1 2 3");
	list_bad("dsync-store -1 2");
	list_bad("dsync-store 1 -2");
	list_bad("dsync-store 01 2");
	list_bad("dsync-store 1 9223372036854775808");
	list_bad("dsync-store 18446744073709551616 1");
	list_bad("dsync-store 1x 2");
	list_bad("../etc/passwd 1 2");
	list_bad("other 1 2");
	list_bad(" 1 2");
	list_bad("dsync-store 1 2\n");
	/* a NUL in the name */
	assert_int_equal(dsync_relay_list_line_parse(&ll, "dsync-store\0x 1 2", 17), DSYNC_ECORRUPT);
	/* LEN is respected: the bytes after it are not read as part of the line */
	assert_int_equal(dsync_relay_list_line_parse(&ll, "dsync-store 1 23", 15), 0);
	assert_true(ll.mtime == 2);
}

static void test_error_body(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_relay_lines *l = calloc(1, sizeof(*l));

	(void)state;
	assert_non_null(l);
	assert_int_equal(dsync_relay_error_body(&b, "bad-name", "the path has the wrong shape"), 0);
	assert_string_equal(b.ptr, "error bad-name\nmessage the path has the wrong shape\n");
	dsync_buf_dispose(&b);
	/* a peer's bytes quoted in the text can't break the format */
	assert_int_equal(dsync_relay_error_body(&b, "forbidden", "a\nerror ok\r\x1b\xc3\xa9"), 0);
	assert_string_equal(b.ptr, "error forbidden\nmessage a?error ok????\n");
	assert_int_equal(dsync_relay_lines_parse(l, b.ptr, b.len), 0);
	assert_string_equal(dsync_relay_lines_get(l, "error"), "forbidden");
	assert_int_equal(l->n, 2);
	dsync_relay_lines_dispose(l);
	dsync_buf_dispose(&b);
	/* the code is ours, but never a second line */
	assert_int_equal(dsync_relay_error_body(&b, "a\nmessage x", "t"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_error_body(&b, "", "t"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_error_body(&b, "Bad", "t"), DSYNC_EUSAGE);
	assert_int_equal(b.len, 0);
	dsync_buf_dispose(&b);
	free(l);
}

/* ---- section 8 */

static void test_sig_message(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	uint8_t pk[32], sk[64], seed[32], sig[64];
	const char *hash = "93becc6e9882211c3ec3708c95bcd69baab7bb59c7f4bc84ce637b88a534b783";

	(void)state;
	assert_int_equal(dsync_relay_sig_message(&b, "PUT", "/v1/" GID "/" PACK, GID, hash, "6", 1796554712,
						 "000102030405060708090a0b0c0d0e0f"),
			 0);
	assert_string_equal(b.ptr, "dsync-relay-sig-1\nPUT\n/v1/" GID "/" PACK "\n" GID "\n"
				   "93becc6e9882211c3ec3708c95bcd69baab7bb59c7f4bc84ce637b88a534b783\n6\n"
				   "1796554712\n000102030405060708090a0b0c0d0e0f\n");
	dsync_buf_dispose(&b);
	/* a DELETE, signed: the signature OpenSSL made over M as printf wrote it */
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	crypto_sign_seed_keypair(pk, sk, seed);
	assert_int_equal(dsync_relay_sig_message(&b, "DELETE", "/v1/" GID "/" PACK, GID, "", "", 1796554712,
						 "000102030405060708090a0b0c0d0e0f"),
			 0);
	crypto_sign_detached(sig, NULL, (const unsigned char *)b.ptr, b.len, sk);
	hex_equal(sig, 64, "3242b0e2668dcf5da685c0144bd39a0ed8d4a31e5fedc2f718472fddaf48d22d"
			   "13aba6f81af3a3a452fbbccea007e76d687d302676c417da7d81dcca521d7f02");
	dsync_buf_dispose(&b);
	assert_int_equal(dsync_relay_sig_message(&b, "DELETE", "/v1/" GID "/" MANIFEST_A, GID, "", "", 1, "00"), 0);
	assert_string_equal(b.ptr, "dsync-relay-sig-1\nDELETE\n/v1/" GID "/" MANIFEST_A "\n" GID "\n\n\n1\n00\n");
	dsync_buf_dispose(&b);
	/* no field can hold a line break and so pose as two */
	assert_int_equal(dsync_relay_sig_message(&b, "PUT\nDELETE", "/v1/", GID, "", "", 1, "00"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_sig_message(&b, "PUT", "/v1/\n", GID, "", "", 1, "00"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_sig_message(&b, "PUT", "/v1/", GID, "", "1\n2", 1, "00"), DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_sig_message(&b, "PUT", "/v1/", GID, "", "", 1, "0\n"), DSYNC_EUSAGE);
	dsync_buf_dispose(&b);
}

static void test_register_message(void **state)
{
	dsync_buf b = DSYNC_BUF_INIT;
	uint8_t pk[32], sk[64], seed[32], sig[64];
	static const char label[] = "dsync-relay-register-1";

	(void)state;
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	crypto_sign_seed_keypair(pk, sk, seed);
	assert_int_equal(dsync_relay_register_message(&b, GID, DEV_A, pk), 0);
	assert_int_equal(b.len, sizeof(label) + 32 + 32 + 32);
	assert_memory_equal(b.ptr, label, sizeof(label)); /* with its NUL */
	assert_memory_equal(b.ptr + sizeof(label), GID DEV_A, 64);
	assert_memory_equal(b.ptr + sizeof(label) + 64, pk, 32);
	/* ed25519 is deterministic: the proof OpenSSL made over the same bytes */
	hex_equal(pk, 32, "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
	crypto_sign_detached(sig, NULL, (const unsigned char *)b.ptr, b.len, sk);
	hex_equal(sig, 64, "70daf328745001c52434ae73b0b55057d0870968a50989c57f54f8ab5d1391ea"
			   "8ae0afa9ea0569d44f5b3da87172da2ec408ff4df1eb69a97274280efbd5bc09");
	dsync_buf_dispose(&b);
	assert_int_equal(dsync_relay_register_message(&b, "06DDCA791FDB30C263046FF6DF32DA5C", DEV_A, pk),
			 DSYNC_EUSAGE);
	assert_int_equal(dsync_relay_register_message(&b, GID, "x", pk), DSYNC_EUSAGE);
	dsync_buf_dispose(&b);
}

/* One row of the writer rules: every combination of the inputs that
 * matter, against what section 8's table says. */
static dsync_relay_verdict rule(bool del, const char *name, const char *signer, bool exists, const char *writer,
				uint64_t seq_high, size_t other_keys)
{
	dsync_relay_rule_in in = {del, name, signer, exists, writer, seq_high, other_keys};

	return dsync_relay_rules_allow(&in);
}

/* Section 8's table for one combination: signer S and writer W index DEVS. */
static void rules_row(bool del, int s, bool exists, int w, size_t keys, uint64_t high)
{
	const char *devs[] = {DEV_A, DEV_B};
	const char *signer = devs[s], *writer = exists ? devs[w] : NULL;
	dsync_relay_verdict want;

	/* devices/A/7: only A; a PUT only above the highest SEQ */
	if (s != 0)
		want = DSYNC_RELAY_DENY_NOT_WRITER;
	else if (!del && high >= 7)
		want = DSYNC_RELAY_DENY_SEQ;
	else
		want = DSYNC_RELAY_ALLOW;
	assert_int_equal(rule(del, MANIFEST_A, signer, exists, writer, high, keys), want);
	/* packs: anyone when absent, else only the writer */
	if (!exists || s == w)
		want = DSYNC_RELAY_ALLOW;
	else
		want = del ? DSYNC_RELAY_DENY_NOT_WRITER : DSYNC_RELAY_DENY_EXISTS;
	assert_int_equal(rule(del, PACK, signer, exists, writer, high, keys), want);
	/* keys/: written once; deleted while another remains */
	if (!exists)
		want = DSYNC_RELAY_ALLOW;
	else if (!del)
		want = DSYNC_RELAY_DENY_EXISTS;
	else
		want = keys > 0 ? DSYNC_RELAY_ALLOW : DSYNC_RELAY_DENY_LAST_KEY;
	assert_int_equal(rule(del, "keys/0123456789abcdef", signer, exists, writer, high, keys), want);
	/* dsync-store: written once, never deleted */
	if (del)
		want = DSYNC_RELAY_DENY_METHOD;
	else
		want = exists ? DSYNC_RELAY_DENY_EXISTS : DSYNC_RELAY_ALLOW;
	assert_int_equal(rule(del, "dsync-store", signer, exists, writer, high, keys), want);
}

static void test_rules(void **state)
{
	(void)state;
	for (int del = 0; del < 2; del++)
		for (int s = 0; s < 2; s++)
			for (int exists = 0; exists < 2; exists++)
				for (int w = 0; w < 2; w++)
					for (size_t keys = 0; keys < 3; keys++)
						for (uint64_t high = 0; high < 10; high++)
							rules_row(del, s, exists, w, keys, high);
	/* an existing pack with no recorded writer is nobody's */
	assert_int_equal(rule(false, PACK, DEV_A, true, NULL, 0, 0), DSYNC_RELAY_DENY_EXISTS);
	assert_int_equal(rule(true, PACK, DEV_A, true, NULL, 0, 0), DSYNC_RELAY_DENY_NOT_WRITER);
	/* the SEQ rule at the edge: 7 over a high of 6 passes, of 7 doesn't */
	assert_int_equal(rule(false, MANIFEST_A, DEV_A, false, NULL, 6, 0), DSYNC_RELAY_ALLOW);
	assert_int_equal(rule(false, MANIFEST_A, DEV_A, false, NULL, 7, 0), DSYNC_RELAY_DENY_SEQ);
	/* names that aren't blobs are refused, never allowed */
	assert_int_equal(rule(false, "../x", DEV_A, false, NULL, 0, 0), DSYNC_RELAY_DENY_METHOD);
	assert_int_equal(rule(false, "devices/" DEV_A "/7", DEV_A, false, NULL, 0, 0), DSYNC_RELAY_DENY_METHOD);
	assert_string_equal(dsync_relay_verdict_code(DSYNC_RELAY_DENY_NOT_WRITER), "not-writer");
	assert_string_equal(dsync_relay_verdict_code(DSYNC_RELAY_DENY_EXISTS), "exists");
	assert_string_equal(dsync_relay_verdict_code(DSYNC_RELAY_DENY_SEQ), "seq-not-newer");
	assert_string_equal(dsync_relay_verdict_code(DSYNC_RELAY_DENY_LAST_KEY), "last-key");
	assert_string_equal(dsync_relay_verdict_code(DSYNC_RELAY_DENY_METHOD), "method");
	assert_null(dsync_relay_verdict_code(DSYNC_RELAY_ALLOW));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_group_id),
		cmocka_unit_test(test_derive_min),
		cmocka_unit_test(test_derive_moderate),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_blob_names),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_manifest_name),
		cmocka_unit_test(test_change),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_list_lines),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_sig_message),
		cmocka_unit_test(test_register_message),
		cmocka_unit_test(test_rules),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
