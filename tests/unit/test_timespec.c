/*
 * Unit tests of core/timespec.c: every accepted form of a time specification
 * against a fixed "now", calendar edges (month ends, leap days, local
 * midnight across daylight saving time in Europe/Berlin), and the specs that
 * must be refused with DSYNC_EUSAGE and a message naming them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/timespec.h"

/* Wednesday 2024-03-13 15:30:00 UTC */
#define NOW INT64_C(1710343800)

#define DAY INT64_C(86400)
#define BERLIN_ZONEINFO "/usr/share/zoneinfo/Europe/Berlin"

/* A sentinel no parse produces, to see that failures leave OUT alone. */
#define UNSET INT64_MIN

static int64_t utc(int year, int mon, int day, int hour, int min, int sec)
{
	struct tm tm = { 0 };

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm);
}

static void expect_time(const char *spec, int64_t now, int64_t want,
			const char *file, int line)
{
	int64_t got = UNSET;
	int rc = dsync_timespec_parse(&got, spec, now);

	if (rc != 0)
		print_error("'%s' refused (%d): %s\n", spec, rc,
			    dsync_error_last());
	else if (got != want)
		print_error("'%s': got %" PRId64 ", want %" PRId64 "\n", spec,
			    got, want);
	_assert_int_equal(cast_to_largest_integral_type(rc), 0, file, line);
	_assert_int_equal(cast_to_largest_integral_type(got),
			  cast_to_largest_integral_type(want), file, line);
}

static void expect_reject(const char *spec, int64_t now, const char *file,
			  int line)
{
	int64_t got = UNSET;
	char quoted[DSYNC_QUOTE_SIZE];
	const char *msg;
	size_t len;
	int rc;

	dsync_error_clear();
	rc = dsync_timespec_parse(&got, spec, now);
	msg = dsync_error_last();
	len = strlen(msg);
	if (rc != DSYNC_EUSAGE)
		print_error("'%s' gave %d (%" PRId64 "), want DSYNC_EUSAGE\n",
			    spec, rc, got);
	else if (!strstr(msg, dsync_quote(quoted, spec)))
		print_error("'%s': message does not name it: %s\n", spec, msg);
	_assert_int_equal(cast_to_largest_integral_type(rc),
			  cast_to_largest_integral_type(DSYNC_EUSAGE), file,
			  line);
	_assert_int_equal(cast_to_largest_integral_type(
				  dsync_error_last_code()),
			  cast_to_largest_integral_type(DSYNC_EUSAGE), file,
			  line);
	_assert_int_equal(cast_to_largest_integral_type(got),
			  cast_to_largest_integral_type(UNSET), file, line);
	_assert_true(cast_to_largest_integral_type(len > 0), "message", file,
		     line);
	/* as dsync_quote shows it: cut to a readable length, control
	 * characters visible */
	_assert_true(cast_to_largest_integral_type(strstr(msg, dsync_quote(quoted, spec)) != NULL),
		     "message names the spec", file, line);
	/* house style: lowercase, no full stop */
	_assert_true(cast_to_largest_integral_type(strncmp(msg, "cannot read time '",
						   18) == 0),
		     "message starts 'cannot read time'", file, line);
	_assert_true(cast_to_largest_integral_type(msg[len - 1] != '.'),
		     "no full stop", file, line);
}

#define TIME_AT(spec, now, want) \
	expect_time((spec), (now), (want), __FILE__, __LINE__)
#define TIME(spec, want) TIME_AT((spec), NOW, (want))
#define REJECT_AT(spec, now) expect_reject((spec), (now), __FILE__, __LINE__)
#define REJECT(spec) REJECT_AT((spec), NOW)

static void test_anchor(void **state)
{
	(void)state;
	/* the fixed now is what the comments say, and local time is UTC */
	assert_int_equal(utc(2024, 3, 13, 15, 30, 0), NOW);
	assert_string_equal(getenv("TZ"), "UTC");
	assert_int_equal(timezone, 0);
}

static void test_now_today_yesterday_tomorrow(void **state)
{
	(void)state;
	TIME("now", NOW);
	TIME("today", utc(2024, 3, 13, 0, 0, 0));
	TIME("yesterday", utc(2024, 3, 12, 0, 0, 0));
	TIME("tomorrow", utc(2024, 3, 14, 0, 0, 0));

	/* at exactly midnight, today is that midnight */
	TIME_AT("today", utc(2024, 3, 13, 0, 0, 0), utc(2024, 3, 13, 0, 0, 0));
	TIME_AT("yesterday", utc(2024, 3, 13, 0, 0, 0),
		utc(2024, 3, 12, 0, 0, 0));
	/* a second before midnight is still the old day */
	TIME_AT("today", utc(2024, 3, 12, 23, 59, 59),
		utc(2024, 3, 12, 0, 0, 0));

	/* across month, leap day and year ends */
	TIME_AT("yesterday", utc(2024, 3, 1, 9, 0, 0), utc(2024, 2, 29, 0, 0, 0));
	TIME_AT("yesterday", utc(2023, 3, 1, 9, 0, 0), utc(2023, 2, 28, 0, 0, 0));
	TIME_AT("tomorrow", utc(2024, 2, 28, 9, 0, 0), utc(2024, 2, 29, 0, 0, 0));
	TIME_AT("tomorrow", utc(2023, 12, 31, 9, 0, 0), utc(2024, 1, 1, 0, 0, 0));
	TIME_AT("yesterday", utc(2024, 1, 1, 9, 0, 0),
		utc(2023, 12, 31, 0, 0, 0));
}

static void test_units_seconds(void **state)
{
	(void)state;
	TIME("30 seconds ago", NOW - 30);
	TIME("30 second ago", NOW - 30);
	TIME("1 second ago", NOW - 1);
	TIME("30 secs ago", NOW - 30);
	TIME("30 sec ago", NOW - 30);
	TIME("30 s ago", NOW - 30);
	TIME("30 seconds", NOW - 30);
	TIME("30 s", NOW - 30);
	TIME("1000000 seconds ago", NOW - 1000000);
}

static void test_units_minutes_hours(void **state)
{
	(void)state;
	TIME("5 minutes ago", NOW - 300);
	TIME("5 minute ago", NOW - 300);
	TIME("5 mins ago", NOW - 300);
	TIME("5 min ago", NOW - 300);
	TIME("5 m ago", NOW - 300);
	TIME("5 min", NOW - 300);
	TIME("90 minutes", NOW - 5400);

	TIME("2 hours ago", NOW - 7200);
	TIME("2 hour ago", NOW - 7200);
	TIME("2 hrs ago", NOW - 7200);
	TIME("2 hr ago", NOW - 7200);
	TIME("2 h ago", NOW - 7200);
	TIME("2 hours", NOW - 7200);
	TIME("2 h", NOW - 7200);
	TIME("48 hours ago", NOW - 2 * DAY);
}

static void test_units_days_weeks(void **state)
{
	(void)state;
	TIME("3 days ago", NOW - 3 * DAY);
	TIME("3 day ago", NOW - 3 * DAY);
	TIME("3 d ago", NOW - 3 * DAY);
	TIME("3 days", NOW - 3 * DAY);
	TIME("1 day ago", utc(2024, 3, 12, 15, 30, 0));
	/* days are 24 hours: 13 days back lands on the leap day */
	TIME("13 days ago", utc(2024, 2, 29, 15, 30, 0));

	TIME("2 weeks ago", NOW - 14 * DAY);
	TIME("2 week ago", NOW - 14 * DAY);
	TIME("2 w ago", NOW - 14 * DAY);
	TIME("2 weeks", NOW - 14 * DAY);
	TIME("1 week ago", utc(2024, 3, 6, 15, 30, 0));
}

static void test_units_months_years(void **state)
{
	(void)state;
	TIME("1 month ago", utc(2024, 2, 13, 15, 30, 0));
	TIME("2 months ago", utc(2024, 1, 13, 15, 30, 0));
	TIME("2 month ago", utc(2024, 1, 13, 15, 30, 0));
	TIME("2 months", utc(2024, 1, 13, 15, 30, 0));
	TIME("3 months ago", utc(2023, 12, 13, 15, 30, 0));
	TIME("14 months ago", utc(2023, 1, 13, 15, 30, 0));

	TIME("2 years ago", utc(2022, 3, 13, 15, 30, 0));
	TIME("2 year ago", utc(2022, 3, 13, 15, 30, 0));
	TIME("2 y ago", utc(2022, 3, 13, 15, 30, 0));
	TIME("2 years", utc(2022, 3, 13, 15, 30, 0));
	TIME("1 y", utc(2023, 3, 13, 15, 30, 0));
	/* before the epoch is fine */
	TIME("100 years ago", utc(1924, 3, 13, 15, 30, 0));
	TIME("2023 years ago", utc(1, 3, 13, 15, 30, 0));
}

static void test_numbers(void **state)
{
	(void)state;
	TIME("0 seconds ago", NOW);
	TIME("0 years ago", NOW);
	TIME("007 minutes ago", NOW - 7 * 60);
	TIME("1 hours ago", NOW - 3600); /* plural with 1 is fine */
}

static void test_a_an(void **state)
{
	(void)state;
	TIME("a second ago", NOW - 1);
	TIME("a sec ago", NOW - 1);
	TIME("a minute ago", NOW - 60);
	TIME("a min ago", NOW - 60);
	TIME("an hour ago", NOW - 3600);
	TIME("a hour ago", NOW - 3600);
	TIME("an hr ago", NOW - 3600);
	TIME("a day ago", NOW - DAY);
	TIME("a week ago", NOW - 7 * DAY);
	TIME("a month ago", utc(2024, 2, 13, 15, 30, 0));
	TIME("a year ago", utc(2023, 3, 13, 15, 30, 0));
}

static void test_calendar_edges(void **state)
{
	int64_t mar31 = utc(2024, 3, 31, 12, 0, 0);
	int64_t leap = utc(2024, 2, 29, 8, 0, 0);
	int64_t jan15 = utc(2024, 1, 15, 9, 0, 0);

	(void)state;
	/* months are calendar months; mktime carries February 31 into March */
	TIME_AT("a month ago", mar31, utc(2024, 3, 2, 12, 0, 0));
	TIME_AT("last month", mar31, utc(2024, 3, 2, 12, 0, 0));
	TIME_AT("2 months ago", mar31, utc(2024, 1, 31, 12, 0, 0));
	TIME_AT("13 months ago", mar31, utc(2023, 3, 3, 12, 0, 0));
	TIME_AT("a month ago", utc(2024, 5, 31, 12, 0, 0),
		utc(2024, 5, 1, 12, 0, 0));
	TIME_AT("a month ago", utc(2024, 3, 30, 12, 0, 0),
		utc(2024, 3, 1, 12, 0, 0));
	TIME_AT("a month ago", utc(2024, 3, 29, 12, 0, 0),
		utc(2024, 2, 29, 12, 0, 0));

	/* the leap day: a year back has no February 29 */
	TIME_AT("a year ago", leap, utc(2023, 3, 1, 8, 0, 0));
	TIME_AT("last year", leap, utc(2023, 3, 1, 8, 0, 0));
	TIME_AT("4 years ago", leap, utc(2020, 2, 29, 8, 0, 0));
	TIME_AT("12 months ago", leap, utc(2023, 3, 1, 8, 0, 0));
	TIME_AT("1 day ago", leap, utc(2024, 2, 28, 8, 0, 0));
	TIME_AT("yesterday", leap, utc(2024, 2, 28, 0, 0, 0));
	TIME_AT("tomorrow", leap, utc(2024, 3, 1, 0, 0, 0));

	/* across the year boundary */
	TIME_AT("1 month ago", jan15, utc(2023, 12, 15, 9, 0, 0));
	TIME_AT("13 months ago", jan15, utc(2022, 12, 15, 9, 0, 0));
	TIME_AT("3 weeks ago", jan15, utc(2023, 12, 25, 9, 0, 0));
}

static void test_weekdays(void **state)
{
	(void)state;
	/* now is Wednesday the 13th; strictly before today */
	TIME("sunday", utc(2024, 3, 10, 0, 0, 0));
	TIME("monday", utc(2024, 3, 11, 0, 0, 0));
	TIME("tuesday", utc(2024, 3, 12, 0, 0, 0));
	TIME("wednesday", utc(2024, 3, 6, 0, 0, 0));
	TIME("thursday", utc(2024, 3, 7, 0, 0, 0));
	TIME("friday", utc(2024, 3, 8, 0, 0, 0));
	TIME("saturday", utc(2024, 3, 9, 0, 0, 0));

	TIME("sun", utc(2024, 3, 10, 0, 0, 0));
	TIME("mon", utc(2024, 3, 11, 0, 0, 0));
	TIME("tue", utc(2024, 3, 12, 0, 0, 0));
	TIME("wed", utc(2024, 3, 6, 0, 0, 0));
	TIME("thu", utc(2024, 3, 7, 0, 0, 0));
	TIME("fri", utc(2024, 3, 8, 0, 0, 0));
	TIME("sat", utc(2024, 3, 9, 0, 0, 0));

	TIME("last sunday", utc(2024, 3, 10, 0, 0, 0));
	TIME("last monday", utc(2024, 3, 11, 0, 0, 0));
	TIME("last tuesday", utc(2024, 3, 12, 0, 0, 0));
	TIME("last wednesday", utc(2024, 3, 6, 0, 0, 0));
	TIME("last thursday", utc(2024, 3, 7, 0, 0, 0));
	TIME("last friday", utc(2024, 3, 8, 0, 0, 0));
	TIME("last saturday", utc(2024, 3, 9, 0, 0, 0));
	TIME("last thu", utc(2024, 3, 7, 0, 0, 0));
	TIME("last sat", utc(2024, 3, 9, 0, 0, 0));
}

static void test_weekday_today(void **state)
{
	int64_t monday = utc(2024, 3, 11, 10, 0, 0);
	int64_t monday0 = utc(2024, 3, 11, 0, 0, 0);

	(void)state;
	/* today is Monday: 'last monday' is a week ago */
	TIME_AT("last monday", monday, utc(2024, 3, 4, 0, 0, 0));
	TIME_AT("monday", monday, utc(2024, 3, 4, 0, 0, 0));
	TIME_AT("mon", monday, utc(2024, 3, 4, 0, 0, 0));
	TIME_AT("sunday", monday, utc(2024, 3, 10, 0, 0, 0));
	TIME_AT("tuesday", monday, utc(2024, 3, 5, 0, 0, 0));
	/* at Monday's midnight it is already Monday */
	TIME_AT("last monday", monday0, utc(2024, 3, 4, 0, 0, 0));
	TIME_AT("last sunday", monday0, utc(2024, 3, 10, 0, 0, 0));
	/* a second earlier it is still Sunday */
	TIME_AT("last monday", monday0 - 1, utc(2024, 3, 4, 0, 0, 0));
	TIME_AT("last sunday", monday0 - 1, utc(2024, 3, 3, 0, 0, 0));
	/* across a month end */
	TIME_AT("friday", utc(2024, 3, 2, 12, 0, 0), utc(2024, 3, 1, 0, 0, 0));
	TIME_AT("thursday", utc(2024, 3, 2, 12, 0, 0),
		utc(2024, 2, 29, 0, 0, 0));
}

static void test_last_unit(void **state)
{
	(void)state;
	TIME("last week", NOW - 7 * DAY);
	TIME("last month", utc(2024, 2, 13, 15, 30, 0));
	TIME("last year", utc(2023, 3, 13, 15, 30, 0));
}

static void test_dates(void **state)
{
	(void)state;
	TIME("2024-03-01", utc(2024, 3, 1, 0, 0, 0));
	TIME("1970-01-01", 0);
	TIME("2024-02-29", utc(2024, 2, 29, 0, 0, 0));
	TIME("2000-02-29", utc(2000, 2, 29, 0, 0, 0));
	TIME("2024-12-31", utc(2024, 12, 31, 0, 0, 0));
	TIME("2030-06-15", utc(2030, 6, 15, 0, 0, 0)); /* the future is fine */

	TIME("2024-03-01 14:00", utc(2024, 3, 1, 14, 0, 0));
	TIME("2024-03-01 14:00:30", utc(2024, 3, 1, 14, 0, 30));
	TIME("2024-03-01 00:00", utc(2024, 3, 1, 0, 0, 0));
	TIME("2024-03-01 23:59:59", utc(2024, 3, 1, 23, 59, 59));
	/* local, and exactly mktime's error value */
	TIME("1969-12-31 23:59:59", -1);
}

static void test_iso(void **state)
{
	int64_t t = utc(2024, 3, 1, 14, 0, 30);

	(void)state;
	TIME("2024-03-01T14:00", utc(2024, 3, 1, 14, 0, 0));
	TIME("2024-03-01T14:00:30", t);
	TIME("2024-03-01T14:00:30.123", t);
	TIME("2024-03-01T14:00Z", utc(2024, 3, 1, 14, 0, 0));
	TIME("2024-03-01T14:00:30Z", t);
	TIME("2024-03-01T14:00:30.999999999Z", t); /* fraction dropped */
	TIME("2024-03-01t14:00:30z", t);
	TIME("2024-03-01T14:00:30+00:00", t);
	TIME("2024-03-01T14:00:30-00:00", t);
	TIME("2024-03-01T15:00:30+01:00", t);
	TIME("2024-03-01T15:00:30+0100", t);
	TIME("2024-03-01T15:00:30.5+01:00", t);
	TIME("2024-03-01T08:30:30-05:30", t);
	TIME("2024-03-01T08:30:30-0530", t);
	TIME("2024-03-01T15:00+01:00", utc(2024, 3, 1, 14, 0, 0));
	TIME("2024-03-02T03:45:30+13:45", t);
	TIME("2024-03-01T00:30+01:00", utc(2024, 2, 29, 23, 30, 0));
	TIME("2024-12-31T23:30:00-01:00", utc(2025, 1, 1, 0, 30, 0));
	TIME("1969-12-31T23:59:59Z", -1);
	TIME("1970-01-01T00:00:00Z", 0);

	/* the bounds: years 1 to 9999 */
	TIME("0001-01-01T00:00:00Z", INT64_C(-62135596800));
	TIME("0001-01-01", INT64_C(-62135596800));
	TIME("9999-12-31T23:59:59Z", INT64_C(253402300799));
	TIME("9999-12-31 23:59:59", INT64_C(253402300799));
}

static void test_clock(void **state)
{
	(void)state;
	TIME("14:00", utc(2024, 3, 13, 14, 0, 0));
	TIME("09:05:07", utc(2024, 3, 13, 9, 5, 7));
	TIME("00:00", utc(2024, 3, 13, 0, 0, 0));
	TIME("23:59:59", utc(2024, 3, 13, 23, 59, 59));
	TIME("16:00", utc(2024, 3, 13, 16, 0, 0)); /* later today, still today */

	TIME("today 09:00", utc(2024, 3, 13, 9, 0, 0));
	TIME("today 09:00:15", utc(2024, 3, 13, 9, 0, 15));
	TIME("yesterday 23:59:59", utc(2024, 3, 12, 23, 59, 59));
	TIME("yesterday 00:00", utc(2024, 3, 12, 0, 0, 0));
	TIME("yesterday 14:00", utc(2024, 3, 12, 14, 0, 0));
	TIME_AT("yesterday 12:00", utc(2024, 3, 1, 9, 0, 0),
		utc(2024, 2, 29, 12, 0, 0));
}

static void test_epoch(void **state)
{
	(void)state;
	TIME("@0", 0);
	TIME("@1700000000", INT64_C(1700000000));
	TIME("@1710343800", NOW);
	TIME("@0001710343800", NOW);
	TIME("@253402300799", INT64_C(253402300799));
}

static void test_blanks_and_case(void **state)
{
	(void)state;
	TIME("  now  ", NOW);
	TIME("NOW", NOW);
	TIME("\t2 Hours   AGO\n", NOW - 7200);
	TIME("2\thours\tago", NOW - 7200);
	TIME("YESTERDAY", utc(2024, 3, 12, 0, 0, 0));
	TIME("Last   FRIDAY", utc(2024, 3, 8, 0, 0, 0));
	TIME("Mon", utc(2024, 3, 11, 0, 0, 0));
	TIME("An Hour Ago", NOW - 3600);
	TIME("LAST WEEK", NOW - 7 * DAY);
	TIME(" 2024-03-01   14:00 ", utc(2024, 3, 1, 14, 0, 0));
	TIME("Today 09:00", utc(2024, 3, 13, 9, 0, 0));
	TIME(" @0 ", 0);
}

static void test_reject_unknown(void **state)
{
	static const char *const specs[] = {
		"",
		"   ",
		"\t\n",
		"garbage",
		"5 parsecs ago",
		"-5 hours ago",
		"+5 hours ago",
		"1.5 hours ago",
		"1,5 hours ago",
		"2 hours ago ago",
		"2 hours hence",
		"2 hours from now",
		"ago",
		"hours ago",
		"2 ago",
		"last",
		"last day",
		"last hour",
		"last 2 weeks",
		"next monday",
		"mondays",
		"mond",
		"mo",
		"a hour",
		"an hours ago",
		"a 2 hours ago",
		"the hour ago",
		"2 ss ago",
		"2 ms ago",
		"2 hs ago",
		"2 ys ago",
		"2 mon ago",
		"2 hourss ago",
		"now ago",
		"yesterday noon",
		"today 9:00",
		"today 09",
		"2024-3-1",
		"24-03-01",
		"2024/03/01",
		"20240301",
		"2024-03-01x",
		"2024-03-01T",
		"2024-03-01T14",
		"2024-03-01T14:00:",
		"2024-03-01T14:0",
		"2024-03-01T14:00+01",
		"2024-03-01T14:00+1:00",
		"2024-03-01T14:00:30.",
		"2024-03-01T14:00.5",
		"2024-03-01T14:00:30Zjunk",
		"2024-03-01 14:00 extra",
		"2024-03-01 14",
		"2024-03-01 afternoon",
		"14",
		"14:0",
		"1400",
		"14:00:00:00",
		"14:00:00.5",
		"@",
		"@-5",
		"@+5",
		"@1e9",
		"@ 5",
		"@5 ago",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		REJECT(specs[i]);
	/* the generic message shows what would work */
	REJECT("garbage");
	assert_non_null(strstr(dsync_error_last(),
			       "try '2 hours ago', 'yesterday' or '2024-03-01 14:00'"));
}

static void test_reject_no_such(void **state)
{
	static const char *const specs[] = {
		"2024-13-01",
		"2024-00-10",
		"2024-02-30",
		"2023-02-29",
		"1900-02-29",
		"2024-04-31",
		"2024-03-00",
		"2024-03-32",
		"25:00",
		"24:00",
		"12:60",
		"12:30:60",
		"99:99",
		"2024-03-01 24:00",
		"2024-03-01T14:60",
		"2024-03-01T14:00+24:00",
		"2024-03-01T14:00+01:60",
		"yesterday 25:00",
		"today 23:61",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		REJECT(specs[i]);
}

static void test_reject_range(void **state)
{
	static const char *const specs[] = {
		"99999999999999999999 hours ago",
		"9223372036854775807 seconds ago",
		"9223372036854775808 seconds ago",
		"9223372036854775807 weeks ago",
		"9999999 weeks ago",
		"99999999999 days",
		"3000 years ago",
		"10001 years ago",
		"999999999999 years ago",
		"2147483648 years ago",
		"120001 months ago",
		"99999999999999 months",
		"@99999999999999999999",
		"@9223372036854775807",
		"@253402300800",
		"0000-01-01",
		"0001-01-01T00:00:00+00:01",
		"9999-12-31T23:59:59-00:01",
	};
	size_t i;
	char huge[200];

	(void)state;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		REJECT(specs[i]);

	/* an absurd now */
	REJECT_AT("now", INT64_MAX);
	REJECT_AT("today", INT64_MAX);
	REJECT_AT("monday", INT64_MIN);
	REJECT_AT("2 hours ago", INT64_MIN);
	REJECT_AT("a month ago", INT64_MAX);
	REJECT_AT("14:00", INT64_MAX);

	/* a very long spec */
	memset(huge, '9', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	REJECT(huge);
}

static void test_bad_arguments(void **state)
{
	int64_t t = UNSET;

	(void)state;
	assert_int_equal(dsync_timespec_parse(NULL, "now", NOW), DSYNC_EUSAGE);
	assert_true(dsync_error_last()[0] != '\0');
	assert_int_equal(dsync_timespec_parse(&t, NULL, NOW), DSYNC_EUSAGE);
	assert_true(dsync_error_last()[0] != '\0');
	assert_true(t == UNSET);
}

/* Europe/Berlin: CET (+1), CEST (+2) from 2024-03-31 02:00 to 2024-10-27 03:00 */
static char *saved_tz;
static int had_tz;

static int setup_berlin(void **state)
{
	const char *tz = getenv("TZ");

	(void)state;
	had_tz = tz != NULL;
	saved_tz = had_tz ? strdup(tz) : NULL;
	if (had_tz && !saved_tz)
		return -1;
	if (setenv("TZ", "Europe/Berlin", 1) != 0)
		return -1;
	tzset();
	return 0;
}

static int teardown_tz(void **state)
{
	(void)state;
	if (had_tz)
		setenv("TZ", saved_tz, 1);
	else
		unsetenv("TZ");
	free(saved_tz);
	saved_tz = NULL;
	tzset();
	return 0;
}

static void test_berlin_spring(void **state)
{
	/* Monday 2024-04-01 12:00 CEST, the day after clocks went forward */
	int64_t now = utc(2024, 4, 1, 10, 0, 0);
	int64_t today = utc(2024, 3, 31, 22, 0, 0);
	int64_t yesterday = utc(2024, 3, 30, 23, 0, 0);
	int64_t got = UNSET;

	(void)state;
	if (access(BERLIN_ZONEINFO, R_OK) != 0)
		skip();
	TIME_AT("today", now, today);
	TIME_AT("yesterday", now, yesterday);
	TIME_AT("tomorrow", now, utc(2024, 4, 1, 22, 0, 0));
	/* Sunday the 31st had 23 hours */
	assert_int_equal(today - yesterday, 23 * 3600);

	TIME_AT("last sunday", now, yesterday);
	TIME_AT("sun", now, yesterday);
	TIME_AT("last monday", now, utc(2024, 3, 24, 23, 0, 0));
	TIME_AT("12:00", now, now);
	TIME_AT("yesterday 12:00", now, utc(2024, 3, 31, 10, 0, 0));
	TIME_AT("yesterday 01:30", now, utc(2024, 3, 31, 0, 30, 0));
	/* days are 24 hours; months keep the wall clock */
	TIME_AT("1 day ago", now, utc(2024, 3, 31, 10, 0, 0));
	TIME_AT("a month ago", now, utc(2024, 3, 1, 11, 0, 0));
	TIME_AT("last year", now, utc(2023, 4, 1, 10, 0, 0));
	TIME_AT("2 hours ago", now, now - 7200);

	TIME_AT("2024-03-01", now, utc(2024, 2, 29, 23, 0, 0));
	TIME_AT("2024-03-01 14:00", now, utc(2024, 3, 1, 13, 0, 0));
	TIME_AT("2024-03-01T14:00", now, utc(2024, 3, 1, 13, 0, 0));
	TIME_AT("2024-07-01 14:00", now, utc(2024, 7, 1, 12, 0, 0));
	TIME_AT("2024-07-01", now, utc(2024, 6, 30, 22, 0, 0));
	/* explicit offsets do not care about TZ */
	TIME_AT("2024-03-01T14:00Z", now, utc(2024, 3, 1, 14, 0, 0));
	TIME_AT("2024-07-01T14:00+05:00", now, utc(2024, 7, 1, 9, 0, 0));
	TIME_AT("@0", now, 0);

	/* 02:30 does not exist that night; it reads as one side of the gap */
	assert_int_equal(dsync_timespec_parse(&got, "2024-03-31 02:30", now), 0);
	assert_true(got == utc(2024, 3, 31, 0, 30, 0) ||
		    got == utc(2024, 3, 31, 1, 30, 0));
}

static void test_berlin_autumn(void **state)
{
	/* Monday 2024-10-28 12:00 CET, the day after clocks went back */
	int64_t now = utc(2024, 10, 28, 11, 0, 0);
	int64_t today = utc(2024, 10, 27, 23, 0, 0);
	int64_t yesterday = utc(2024, 10, 26, 22, 0, 0);

	(void)state;
	if (access(BERLIN_ZONEINFO, R_OK) != 0)
		skip();
	TIME_AT("today", now, today);
	TIME_AT("yesterday", now, yesterday);
	/* Sunday the 27th had 25 hours */
	assert_int_equal(today - yesterday, 25 * 3600);
	TIME_AT("last sunday", now, yesterday);
	TIME_AT("yesterday 12:00", now, utc(2024, 10, 27, 11, 0, 0));
	TIME_AT("a month ago", now, utc(2024, 9, 28, 10, 0, 0));
	TIME_AT("last week", now, now - 7 * DAY);
}

static void test_berlin_local_day(void **state)
{
	/* Wednesday 2024-03-13 00:30 CET, still Tuesday in UTC */
	int64_t now = utc(2024, 3, 12, 23, 30, 0);

	(void)state;
	if (access(BERLIN_ZONEINFO, R_OK) != 0)
		skip();
	TIME_AT("today", now, utc(2024, 3, 12, 23, 0, 0));
	TIME_AT("yesterday", now, utc(2024, 3, 11, 23, 0, 0));
	TIME_AT("tuesday", now, utc(2024, 3, 11, 23, 0, 0));
	TIME_AT("last wednesday", now, utc(2024, 3, 5, 23, 0, 0));
	TIME_AT("00:15", now, utc(2024, 3, 12, 23, 15, 0));
	TIME_AT("23:00", now, utc(2024, 3, 13, 22, 0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchor),
		cmocka_unit_test(test_now_today_yesterday_tomorrow),
		cmocka_unit_test(test_units_seconds),
		cmocka_unit_test(test_units_minutes_hours),
		cmocka_unit_test(test_units_days_weeks),
		cmocka_unit_test(test_units_months_years),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_a_an),
		cmocka_unit_test(test_calendar_edges),
		cmocka_unit_test(test_weekdays),
		cmocka_unit_test(test_weekday_today),
		cmocka_unit_test(test_last_unit),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_epoch),
		cmocka_unit_test(test_blanks_and_case),
		cmocka_unit_test(test_reject_unknown),
		cmocka_unit_test(test_reject_no_such),
		cmocka_unit_test(test_reject_range),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test_setup_teardown(test_berlin_spring,
						setup_berlin, teardown_tz),
		cmocka_unit_test_setup_teardown(test_berlin_autumn,
						setup_berlin, teardown_tz),
		cmocka_unit_test_setup_teardown(test_berlin_local_day,
						setup_berlin, teardown_tz),
	};

	/* ctest sets TZ=UTC; make sure of it when run by hand, too */
	if (setenv("TZ", "UTC", 1) != 0)
		return 1;
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
