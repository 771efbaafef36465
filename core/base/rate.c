/*
 * Bandwidths as rsync's --bwlimit takes them (core/base/rate.h; docs/sftp.md
 * section 6): a number, a fraction allowed, then a unit.  rsync's
 * parse_size_arg() reads K, M, G, T, P as binary, KB.. as decimal, KiB.. as
 * binary, in either case, a bare number in KiB, and a trailing "+1" or "-1"
 * to nudge the result by a byte; links are sold in bits per second, so the
 * bit forms (kbit, mbit, gbit) are taken too, decimal as their makers
 * count them.
 */
#include "core/base/internal.h"

#include "core/base/rate.h"

/* The lowest limit taken besides 0 (no limit): rsync's too. */
#define RATE_MIN 512

/* Whether S starts with the ASCII word W in any case; *LEN is W's length. */
static bool word(const char *s, const char *w, size_t *len)
{
	size_t i;

	for (i = 0; w[i]; i++)
		if (s[i] == '\0' || (s[i] | 0x20) != w[i])
			return false;
	*len = i;
	return true;
}

/* The number of bytes per second one unit at S stands for into *MULT, and
 * how many characters the unit takes into *LEN; false when S starts with
 * no unit.  An empty unit (a bare number) is KiB. */
static bool unit(const char *s, long double *mult, size_t *len)
{
	static const char letters[] = "kmgtp";
	const char *at;
	long double bin = 1, dec = 1;
	size_t n;
	int i;

	*len = 0;
	*mult = 1024;
	if (*s == '\0' || *s == '+' || *s == '-')
		return true;
	if (word(s, "bit", &n)) {
		*mult = 1.0L / 8;
		*len = n;
		return true;
	}
	if ((*s | 0x20) == 'b') {   /* bytes, as rsync's "b" */
		*mult = 1;
		*len = 1;
		return true;
	}
	if ((at = strchr(letters, *s | 0x20)) == NULL)
		return false;
	for (i = 0; i <= at - letters; i++) {
		bin *= 1024;
		dec *= 1000;
	}
	s++;
	if (word(s, "bit", &n)) {
		*mult = dec / 8;
		*len = 1 + n;
	} else if (word(s, "ib", &n)) {
		*mult = bin;
		*len = 1 + n;
	} else if ((*s | 0x20) == 'b') {
		*mult = dec;
		*len = 2;
	} else {
		*mult = bin;
		*len = 1;
	}
	return true;
}

int dsync_rate_parse(const char *s, uint64_t *out)
{
	const char *p = s;
	long double v = 0, scale = 1, mult;
	size_t len;
	bool digits = false;
	int adjust = 0;

	if (!s)
		return dsync_error_set(DSYNC_EUSAGE, "invalid rate '': give e.g. 500k, 2M or 20mbit");
	for (; *p >= '0' && *p <= '9'; p++, digits = true)
		v = v * 10 + (*p - '0');
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
			v += (*p - '0') * (scale /= 10);
	}
	if (!digits || !unit(p, &mult, &len))
		goto bad;
	p += len;
	if ((p[0] == '+' || p[0] == '-') && p[1] == '1' && p[2] == '\0') {
		adjust = p[0] == '+' ? 1 : -1;
		p += 2;
	}
	if (*p != '\0')
		goto bad;
	v = v * mult + 0.5L;
	if (v >= 1e18L)   /* a million terabytes a second: a typo */
		goto bad;
	if ((uint64_t)v == 0 && adjust == 0) {
		*out = 0;
		return 0;
	}
	if ((long double)adjust + v < RATE_MIN)
		return dsync_error_set(DSYNC_EUSAGE, "invalid rate '%s': give at least 512 bytes a second "
				       "(0.5k), or 0 for no limit", s);
	*out = adjust < 0 ? (uint64_t)v - 1 : (uint64_t)v + (uint64_t)adjust;
	return 0;
bad:
	return dsync_error_set(DSYNC_EUSAGE, "invalid rate '%s': give e.g. 500k, 2M or 20mbit", s);
}

const char *dsync_size_text(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}
