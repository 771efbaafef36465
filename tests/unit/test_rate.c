/*
 * Unit tests of core/base/rate.c: every row of the table in docs/sftp.md
 * section 6 (rsync's --bwlimit units, and the bit forms links are sold in),
 * the other forms rsync takes, and what must be refused with DSYNC_EUSAGE
 * and the message the program prints (exit 2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dsync/common.h"

/* A sentinel no parse produces, to see that a refusal leaves OUT alone. */
#define UNSET UINT64_C(0xdeadbeefdeadbeef)

#define KI UINT64_C(1024)
#define MI (KI * KI)
#define GI (MI * KI)

static void expect_rate(const char *s, uint64_t want, const char *file, int line)
{
	uint64_t got = UNSET;
	int rc = dsync_rate_parse(s, &got);

	if (rc != 0)
		print_error("'%s' refused (%d): %s\n", s, rc, dsync_error_last());
	else if (got != want)
		print_error("'%s': got %" PRIu64 ", want %" PRIu64 "\n", s, got, want);
	_assert_int_equal(cast_to_largest_integral_type(rc), 0, file, line);
	_assert_int_equal(cast_to_largest_integral_type(got), cast_to_largest_integral_type(want), file, line);
}

static void expect_refused(const char *s, const char *file, int line)
{
	uint64_t got = UNSET;
	int rc = dsync_rate_parse(s, &got);
	char want[256];

	snprintf(want, sizeof(want), "invalid rate '%s': ", s);
	if (rc != DSYNC_EUSAGE)
		print_error("'%s': got %d (%" PRIu64 "), want DSYNC_EUSAGE\n", s, rc, got);
	_assert_int_equal(cast_to_largest_integral_type(rc), cast_to_largest_integral_type(DSYNC_EUSAGE), file,
			  line);
	_assert_int_equal(cast_to_largest_integral_type(got), cast_to_largest_integral_type(UNSET), file, line);
	if (strncmp(dsync_error_last(), want, strlen(want)) != 0)
		print_error("'%s': message '%s'\n", s, dsync_error_last());
	_assert_true(strncmp(dsync_error_last(), want, strlen(want)) == 0, "message names the rate", file, line);
}

#define RATE(s, want) expect_rate(s, want, __FILE__, __LINE__)
#define REFUSED(s) expect_refused(s, __FILE__, __LINE__)

/* `500`, `500k`, `500K`, `500KiB`: 512,000 */
static void test_kibibytes(void **state)
{
	(void)state;
	RATE("500", 500 * KI);
	RATE("500k", 512000);
	RATE("500K", 512000);
	RATE("500KiB", 512000);
	RATE("500kib", 512000);
	RATE("500kiB", 512000);
}

/* `500KB`: 500,000 */
static void test_kilobytes(void **state)
{
	(void)state;
	RATE("500KB", 500000);
	RATE("500kb", 500000);
	RATE("500kB", 500000);
}

/* `2m`, `2M`, `2MiB` / `2MB`: 2,097,152 / 2,000,000 */
static void test_megabytes(void **state)
{
	(void)state;
	RATE("2m", 2097152);
	RATE("2M", 2097152);
	RATE("2MiB", 2097152);
	RATE("2MB", 2000000);
	RATE("2mb", 2000000);
}

/* `1.5g` ...: x1024^3; fractions in any unit, a bare one in KiB */
static void test_fractions(void **state)
{
	(void)state;
	RATE("1.5g", 3 * GI / 2);
	RATE("1.5G", 3 * GI / 2);
	RATE("1.5GiB", 3 * GI / 2);
	RATE("1.5GB", 1500000000);
	RATE("1.5", 1536);
	RATE("0.5m", 512 * KI);
	RATE(".5m", 512 * KI);
	RATE("2.", 2048);
	RATE("1T", GI * KI);
	RATE("1TB", UINT64_C(1000000000000));
	RATE("1p", GI * MI);
	/* rounded to the nearest byte */
	RATE("1.0001k", 1024);
	RATE("1.0005k", 1025);
}

/* `20mbit`, `20Mbit`: 2,500,000 (links are sold in bits per second) */
static void test_bits(void **state)
{
	(void)state;
	RATE("20mbit", 2500000);
	RATE("20Mbit", 2500000);
	RATE("20MBIT", 2500000);
	RATE("800kbit", 100000);
	RATE("1gbit", 125000000);
	RATE("1.5Mbit", 187500);
	RATE("8000bit", 1000);
}

/* rsync's "b" (bytes) and "+1" / "-1" */
static void test_rsync_forms(void **state)
{
	(void)state;
	RATE("4096b", 4096);
	RATE("4096B", 4096);
	RATE("1k+1", 1025);
	RATE("1k-1", 1023);
	RATE("1KB+1", 1001);
	RATE("1+1", 1025);
	RATE("1MiB-1", MI - 1);
}

/* `0`: no limit */
static void test_zero(void **state)
{
	(void)state;
	RATE("0", 0);
	RATE("0k", 0);
	RATE("0.0", 0);
	RATE("0mbit", 0);
	RATE("000", 0);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", "k", "M", ".", ".k", "-1", "-5k", "+5k", " 5k", "5k ", "5 k", "5x", "5kx", "5kbb", "5kibx",
		"5mbits", "5mbps", "5kbyte", "1e3", "0x10", "inf", "nan", "5,5k", "5..5", "1.2.3", "5k+2", "5k+",
		"5k-", "5k+1x", "5kk", "5ki", "5KiBit", "abc", "20 mbit", "99999999999999999999", "1000000p",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		REFUSED(bad[i]);
}

/* below rsync's 512 bytes a second (but not 0): refused, saying so */
static void test_too_low(void **state)
{
	(void)state;
	REFUSED("1b");
	REFUSED("511b");
	REFUSED("0.4");
	REFUSED("1kbit");
	REFUSED("512b-1");
	assert_non_null(strstr(dsync_error_last(), "at least 512 bytes"));
	RATE("512b", 512);
	RATE("0.5", 512);
	RATE("511b+1", 512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kibibytes),
		cmocka_unit_test(test_kilobytes),
		cmocka_unit_test(test_megabytes),
		cmocka_unit_test(test_fractions),
		cmocka_unit_test(test_bits),
		cmocka_unit_test(test_rsync_forms),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_low),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
