/*
 * FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking, level 2:
 * a gear hash fp = (fp << 1) + gear[byte] over the bytes since the last cut,
 * a cut where the top bits of fp are zero, with two more bits asked for
 * before the normal size and two fewer after it, so chunk sizes gather
 * around it.  The gear table comes from the folder's secret.
 */
#include "core/base/internal.h"
#include "core/base/chunker.h"

#include <sodium.h>

/* log2 of DSYNC_CHUNK_AVG */
#define AVG_BITS 15
#define NORMAL 2         /* normalization level */
#define GROUP_BITS 8     /* a group ends at 1 cut in 256 */

/* The top N bits of a 64-bit word. */
static uint64_t top_bits(unsigned n)
{
	return n ? ~UINT64_C(0) << (64 - n) : 0;
}

void dsync_chunker_init(dsync_chunker *c, const unsigned char seed[DSYNC_CHUNK_SEED_BYTES])
{
	randombytes_buf_deterministic(c->gear, sizeof(c->gear), seed);
	c->mask_small = top_bits(AVG_BITS + NORMAL);
	c->mask_large = top_bits(AVG_BITS - NORMAL);
	/* the bits just below the cut's: independent of whether it cut */
	c->mask_group = top_bits(AVG_BITS + NORMAL + GROUP_BITS) & ~top_bits(AVG_BITS + NORMAL);
}

size_t dsync_chunker_next(const dsync_chunker *c, const unsigned char *data, size_t len, bool eof,
			bool *group_end)
{
	size_t i, n = len < DSYNC_CHUNK_MAX ? len : DSYNC_CHUNK_MAX, normal;
	uint64_t fp = 0;

	*group_end = false;
	if (len < DSYNC_CHUNK_MAX && !eof)
		return 0;
	if (n <= DSYNC_CHUNK_MIN) {
		*group_end = eof && n == len;
		return n;
	}
	normal = n < DSYNC_CHUNK_AVG ? n : DSYNC_CHUNK_AVG;
	/* the hash needs 64 bytes to fill; start it before the minimum so
	 * that a cut at the minimum depends on bytes before it too */
	for (i = DSYNC_CHUNK_MIN - 64; i < DSYNC_CHUNK_MIN; i++)
		fp = (fp << 1) + c->gear[data[i]];
	for (; i < normal; i++) {
		fp = (fp << 1) + c->gear[data[i]];
		if (!(fp & c->mask_small))
			goto cut;
	}
	for (; i < n; i++) {
		fp = (fp << 1) + c->gear[data[i]];
		if (!(fp & c->mask_large))
			goto cut;
	}
	*group_end = eof && n == len;
	return n;
cut:
	*group_end = !(fp & c->mask_group) || (eof && i + 1 == len);
	return i + 1;
}
