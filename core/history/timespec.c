/*
 * Time specifications: reads what a person types for "when" ("2 hours ago",
 * "yesterday", "last monday", "2024-03-01 14:00", "@1709300000") into epoch
 * seconds.  Relative and local forms are read in the local time zone (TZ)
 * through localtime_r/mktime, explicit offsets through timegm.  No static
 * mutable state, so it is safe to call from several threads.
 */
#include "core/base/internal.h"

#include "dsync/timespec.h"

#include <time.h>

/* Longest spec read (after trimming blanks); anything longer is not a time. */
#define SPEC_MAX 80
#define WORDS_MAX 3

/*
 * Results are kept within the years 1 to 9999 (UTC).  That is every time a
 * document history can mean, and keeps struct tm's int fields and time_t far
 * from overflow while mktime normalises.
 */
#define TIME_MIN INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define YEARS_MAX 10000

/* How a helper failed; dsync_timespec_parse() turns it into a message. */
enum {
	PARSE_OK = 0,
	PARSE_BAD = -1,    /* not a form we know */
	PARSE_NOSUCH = -2, /* a known form naming no such date, time or offset */
	PARSE_RANGE = -3   /* a number, or the time it names, out of range */
};

enum unit_kind { UNIT_SECONDS, UNIT_MONTHS, UNIT_YEARS };

static const struct unit {
	const char *name;
	bool plural;    /* also read with a trailing 's' */
	enum unit_kind kind;
	int64_t seconds; /* for UNIT_SECONDS */
} units[] = {
	{ "second", true, UNIT_SECONDS, 1 },
	{ "sec", true, UNIT_SECONDS, 1 },
	{ "s", false, UNIT_SECONDS, 1 },
	{ "minute", true, UNIT_SECONDS, 60 },
	{ "min", true, UNIT_SECONDS, 60 },
	{ "m", false, UNIT_SECONDS, 60 },
	{ "hour", true, UNIT_SECONDS, 3600 },
	{ "hr", true, UNIT_SECONDS, 3600 },
	{ "h", false, UNIT_SECONDS, 3600 },
	{ "day", true, UNIT_SECONDS, 86400 },
	{ "d", false, UNIT_SECONDS, 86400 },
	{ "week", true, UNIT_SECONDS, 7 * 86400 },
	{ "w", false, UNIT_SECONDS, 7 * 86400 },
	{ "month", true, UNIT_MONTHS, 0 },
	{ "year", true, UNIT_YEARS, 0 },
	{ "y", false, UNIT_YEARS, 0 },
};

/* Indexed by struct tm's tm_wday. */
static const char *const weekdays[] = {
	"sunday", "monday", "tuesday", "wednesday",
	"thursday", "friday", "saturday",
};

/* A date and time of day as written, before it is checked. */
struct stamp {
	int year, mon, day;   /* mon 1-12 */
	int hour, min, sec;
	bool zoned;           /* an explicit Z or offset was given */
	int zone_sign, zone_hour, zone_min;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Reads exactly N digits at *P into *OUT and moves *P past them. */
static bool fixed_digits(const char **p, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* Reads W, all digits, as a non-negative number. */
static int number(int64_t *out, const char *w)
{
	const char *p;
	int64_t v = 0;

	if (!*w)
		return PARSE_BAD;
	for (p = w; *p; p++) {
		if (!is_digit(*p))
			return PARSE_BAD;
	}
	for (p = w; *p; p++) {
		int d = *p - '0';

		if (v > (INT64_MAX - d) / 10)
			return PARSE_RANGE;
		v = v * 10 + d;
	}
	*out = v;
	return PARSE_OK;
}

static int in_range(int64_t *out, int64_t t)
{
	if (t < TIME_MIN || t > TIME_MAX)
		return PARSE_RANGE;
	*out = t;
	return PARSE_OK;
}

/* NOW broken down in the local time zone. */
static int local_now(struct tm *tm, int64_t now)
{
	time_t t = (time_t)now;

	if ((int64_t)t != now || now < TIME_MIN || now > TIME_MAX)
		return PARSE_RANGE;
	if (!localtime_r(&t, tm))
		return PARSE_RANGE;
	return PARSE_OK;
}

/*
 * The time TM names in the local time zone, letting mktime normalise
 * out-of-bounds fields (the 31st of February, day 0) and choose daylight
 * saving time.
 */
static int from_local(int64_t *out, struct tm *tm)
{
	time_t t;

	tm->tm_isdst = -1;
	tm->tm_wday = -1;
	t = mktime(tm);
	/* -1 is also 1969-12-31T23:59:59Z; mktime fills tm_wday on success */
	if (t == (time_t)-1 && tm->tm_wday == -1)
		return PARSE_RANGE;
	return in_range(out, (int64_t)t);
}

static const struct unit *find_unit(const char *w, bool *plural)
{
	size_t i;

	for (i = 0; i < DSYNC_ARRAY_SIZE(units); i++) {
		size_t len = strlen(units[i].name);

		if (strncmp(w, units[i].name, len) != 0)
			continue;
		if (w[len] == '\0') {
			*plural = false;
			return &units[i];
		}
		if (units[i].plural && w[len] == 's' && w[len + 1] == '\0') {
			*plural = true;
			return &units[i];
		}
	}
	return NULL;
}

/* The tm_wday W names (full or three letters), or -1. */
static int find_weekday(const char *w)
{
	size_t i;

	for (i = 0; i < DSYNC_ARRAY_SIZE(weekdays); i++) {
		if (strcmp(w, weekdays[i]) == 0 ||
		    (strlen(w) == 3 && strncmp(w, weekdays[i], 3) == 0))
			return (int)i;
	}
	return -1;
}

/* Days from today that "today", "yesterday", "tomorrow" mean; false if none. */
static bool find_day(const char *w, int *offset)
{
	if (strcmp(w, "today") == 0)
		*offset = 0;
	else if (strcmp(w, "yesterday") == 0)
		*offset = -1;
	else if (strcmp(w, "tomorrow") == 0)
		*offset = 1;
	else
		return false;
	return true;
}

/* NOW minus N UNITs. */
static int go_back(int64_t *out, const struct unit *u, int64_t n, int64_t now)
{
	struct tm tm;
	int64_t span, t;
	int r;

	if (u->kind == UNIT_SECONDS) {
		if (__builtin_mul_overflow(n, u->seconds, &span) ||
		    __builtin_sub_overflow(now, span, &t))
			return PARSE_RANGE;
		return in_range(out, t);
	}
	if (n > (u->kind == UNIT_MONTHS ? 12 * YEARS_MAX : YEARS_MAX))
		return PARSE_RANGE;
	if ((r = local_now(&tm, now)) < 0)
		return r;
	if (u->kind == UNIT_MONTHS)
		tm.tm_mon -= (int)n;
	else
		tm.tm_year -= (int)n;
	return from_local(out, &tm);
}

/* "N UNIT[s] [ago]" and "a/an UNIT ago". */
static int relative(int64_t *out, const char *nw, const char *uw, bool ago,
		    int64_t now)
{
	const struct unit *u;
	bool plural;
	int64_t n;
	int r;

	if (!(u = find_unit(uw, &plural)))
		return PARSE_BAD;
	if (strcmp(nw, "a") == 0 || strcmp(nw, "an") == 0) {
		if (!ago || plural)
			return PARSE_BAD;
		n = 1;
	} else if ((r = number(&n, nw)) < 0) {
		return r;
	}
	return go_back(out, u, n, now);
}

/* Local midnight OFFSET days from NOW's day, at HOUR:MIN:SEC. */
static int day_at(int64_t *out, int64_t now, int offset, int hour, int min,
		  int sec)
{
	struct tm tm;
	int r;

	if ((r = local_now(&tm, now)) < 0)
		return r;
	tm.tm_mday += offset;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	return from_local(out, &tm);
}

/* Midnight of the most recent WDAY strictly before NOW's day. */
static int last_weekday(int64_t *out, int64_t now, int wday)
{
	struct tm tm;
	int r, back;

	if ((r = local_now(&tm, now)) < 0)
		return r;
	back = (tm.tm_wday - wday + 7) % 7;
	if (back == 0)
		back = 7;
	return day_at(out, now, -back, 0, 0, 0);
}

/* Moves *P past C if it is there. */
static bool take(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* YYYY-MM-DD */
static bool scan_date(const char **p, struct stamp *st)
{
	return fixed_digits(p, 4, &st->year) && take(p, '-') &&
	       fixed_digits(p, 2, &st->mon) && take(p, '-') &&
	       fixed_digits(p, 2, &st->day);
}

/* HH:MM[:SS], and [.frac] after seconds when FRAC (the fraction is dropped) */
static bool scan_clock(const char **p, struct stamp *st, bool frac)
{
	st->sec = 0;
	if (!fixed_digits(p, 2, &st->hour) || !take(p, ':') ||
	    !fixed_digits(p, 2, &st->min))
		return false;
	if (!take(p, ':'))
		return true;
	if (!fixed_digits(p, 2, &st->sec))
		return false;
	if (frac && take(p, '.')) {
		if (!is_digit(**p))
			return false;
		while (is_digit(**p))
			(*p)++;
	}
	return true;
}

/* [Z|+HH:MM|+HHMM|-HH:MM|-HHMM] */
static bool scan_zone(const char **p, struct stamp *st)
{
	st->zoned = false;
	if (take(p, 'z')) {
		st->zoned = true;
		st->zone_sign = 1;
		st->zone_hour = st->zone_min = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return true;
	st->zone_sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!fixed_digits(p, 2, &st->zone_hour))
		return false;
	take(p, ':');
	if (!fixed_digits(p, 2, &st->zone_min))
		return false;
	st->zoned = true;
	return true;
}

static int days_in_month(int year, int mon)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 && leap ? 29 : days[mon - 1];
}

static bool clock_valid(const struct stamp *st)
{
	return st->hour <= 23 && st->min <= 59 && st->sec <= 59;
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS][.frac][zone]", "YYYY-MM-DD HH:MM[:SS]" */
static int date_time(int64_t *out, const char *w, const char *clock)
{
	struct stamp st = { 0 };
	struct tm tm = { 0 };
	const char *p = w;

	if (!scan_date(&p, &st))
		return PARSE_BAD;
	if (*p == 't' && !clock) {
		p++;
		if (!scan_clock(&p, &st, true) || !scan_zone(&p, &st))
			return PARSE_BAD;
	}
	if (*p)
		return PARSE_BAD;
	if (clock) {
		p = clock;
		if (!scan_clock(&p, &st, false) || *p)
			return PARSE_BAD;
	}

	if (st.mon < 1 || st.mon > 12 || st.day < 1 ||
	    st.day > days_in_month(st.year, st.mon) || !clock_valid(&st) ||
	    (st.zoned && (st.zone_hour > 23 || st.zone_min > 59)))
		return PARSE_NOSUCH;
	if (st.year < 1)
		return PARSE_RANGE;

	tm.tm_year = st.year - 1900;
	tm.tm_mon = st.mon - 1;
	tm.tm_mday = st.day;
	tm.tm_hour = st.hour;
	tm.tm_min = st.min;
	tm.tm_sec = st.sec;
	if (st.zoned) {
		int64_t offset = st.zone_sign *
				 (st.zone_hour * 3600 + st.zone_min * 60);

		return in_range(out, (int64_t)timegm(&tm) - offset);
	}
	return from_local(out, &tm);
}

/* "HH:MM[:SS]" on the day OFFSET days from NOW's, local */
static int clock_on_day(int64_t *out, const char *w, int offset, int64_t now)
{
	struct stamp st = { 0 };
	const char *p = w;

	if (!scan_clock(&p, &st, false) || *p)
		return PARSE_BAD;
	if (!clock_valid(&st))
		return PARSE_NOSUCH;
	return day_at(out, now, offset, st.hour, st.min, st.sec);
}

static bool looks_like_date(const char *w)
{
	return is_digit(w[0]) && is_digit(w[1]) && is_digit(w[2]) &&
	       is_digit(w[3]) && w[4] == '-';
}

static int one_word(int64_t *out, const char *w, int64_t now)
{
	int64_t n;
	int offset, wday, r;

	if (strcmp(w, "now") == 0)
		return in_range(out, now);
	if (find_day(w, &offset))
		return day_at(out, now, offset, 0, 0, 0);
	if ((wday = find_weekday(w)) >= 0)
		return last_weekday(out, now, wday);
	if (w[0] == '@') {
		if ((r = number(&n, w + 1)) < 0)
			return r;
		return in_range(out, n);
	}
	if (looks_like_date(w))
		return date_time(out, w, NULL);
	return clock_on_day(out, w, 0, now);
}

static int two_words(int64_t *out, const char *w0, const char *w1,
		     int64_t now)
{
	bool plural;
	int offset, wday;

	if (strcmp(w0, "last") == 0) {
		if ((wday = find_weekday(w1)) >= 0)
			return last_weekday(out, now, wday);
		if (strcmp(w1, "week") == 0 || strcmp(w1, "month") == 0 ||
		    strcmp(w1, "year") == 0)
			return go_back(out, find_unit(w1, &plural), 1, now);
		return PARSE_BAD;
	}
	if (find_day(w0, &offset) && offset <= 0)
		return clock_on_day(out, w1, offset, now);
	if (looks_like_date(w0))
		return date_time(out, w0, w1);
	return relative(out, w0, w1, false, now);
}

static int read_spec(int64_t *out, const char *spec, int64_t now)
{
	char buf[SPEC_MAX + 1];
	char *words[WORDS_MAX];
	const char *start = spec, *end;
	size_t i, len, nwords = 0;

	while (is_blank(*start))
		start++;
	end = start + strlen(start);
	while (end > start && is_blank(end[-1]))
		end--;
	len = (size_t)(end - start);
	if (len == 0 || len > SPEC_MAX)
		return PARSE_BAD;

	/* lower-cased words, split at runs of blanks */
	for (i = 0; i < len; i++)
		buf[i] = is_blank(start[i]) ? '\0' : lower(start[i]);
	buf[len] = '\0';
	for (i = 0; i < len; i++) {
		if (buf[i] == '\0' || (i > 0 && buf[i - 1] != '\0'))
			continue;
		if (nwords == WORDS_MAX)
			return PARSE_BAD;
		words[nwords++] = &buf[i];
	}

	/* local forms follow TZ as it is now, as mktime does */
	tzset();
	switch (nwords) {
	case 1:
		return one_word(out, words[0], now);
	case 2:
		return two_words(out, words[0], words[1], now);
	case 3:
		if (strcmp(words[2], "ago") != 0)
			return PARSE_BAD;
		return relative(out, words[0], words[1], true, now);
	default:
		return PARSE_BAD;
	}
}

int dsync_timespec_parse(int64_t *out, const char *spec, int64_t now)
{
	int64_t t = 0;
	char q[DSYNC_QUOTE_SIZE];
	int error;

	if (!out || !spec) {
		error = dsync_error_set(DSYNC_EUSAGE, "no time given");
		goto out;
	}

	dsync_quote(q, spec);
	switch (read_spec(&t, spec, now)) {
	case PARSE_OK:
		*out = t;
		error = 0;
		break;
	case PARSE_NOSUCH:
		error = dsync_error_set(DSYNC_EUSAGE,
			"cannot read time '%s': no such date, time of day or offset",
			q);
		break;
	case PARSE_RANGE:
		error = dsync_error_set(DSYNC_EUSAGE,
			"cannot read time '%s': out of range (years 1 to 9999)",
			q);
		break;
	default:
		error = dsync_error_set(DSYNC_EUSAGE,
			"cannot read time '%s'; try '2 hours ago', 'yesterday' or '2024-03-01 14:00'",
			q);
		break;
	}
out:
	return error;
}
