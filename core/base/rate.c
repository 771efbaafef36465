/* Bandwidths as rsync's --bwlimit takes them (core/base/rate.h). */
#include "core/base/internal.h"

#include "core/base/rate.h"

int dsync_rate_parse(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return dsync_error_set(DSYNC_EUSAGE, "invalid rate '%s': give e.g. 500k, 2M or 20mbit", s);
	*out = (uint64_t)v * 1024;
	return 0;
}
