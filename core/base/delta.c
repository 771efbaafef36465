/*
 * git's delta format (pack-format.txt, "Deltified representation"): the base's
 * and the result's sizes as little-endian base-128 numbers, then instructions:
 * 0x80|flags copies up to 0xffffff bytes from a base offset (the flags say
 * which offset and size bytes follow; a size of 0 means 0x10000), 1..127
 * inserts that many literal bytes.
 *
 * The encoder indexes the base in 16-byte blocks (a hash table of block
 * offsets), rolls a hash along the target, and at each hit extends the match
 * both ways; what matches nothing is inserted.  Linear time, memory of about
 * a quarter of the base.
 */
#include "core/base/internal.h"

#include "core/base/delta.h"

#define BLOCK 16
#define PRIME 16777619u

static int put_varint(dsync_buf *out, size_t v)
{
	unsigned char b[10];
	int n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	return dsync_buf_put(out, b, (size_t)n);
}

static int put_insert(dsync_buf *out, const unsigned char *p, size_t n)
{
	int error = 0;

	while (n && error == 0) {
		unsigned char k = (unsigned char)(n > 127 ? 127 : n);

		if ((error = dsync_buf_put(out, &k, 1)) == 0)
			error = dsync_buf_put(out, p, k);
		p += k;
		n -= k;
	}
	return error;
}

static int put_copy(dsync_buf *out, size_t off, size_t n)
{
	int error = 0;

	while (n && error == 0) {
		size_t len = n > 0xffffff ? 0xffffff : n;
		unsigned char b[8];
		int k = 1, i;

		b[0] = 0x80;
		for (i = 0; i < 4; i++)
			if ((off >> (8 * i)) & 0xff) {
				b[0] |= (unsigned char)(1 << i);
				b[k++] = (unsigned char)(off >> (8 * i));
			}
		for (i = 0; i < 3; i++)
			if ((len >> (8 * i)) & 0xff) {
				b[0] |= (unsigned char)(0x10 << i);
				b[k++] = (unsigned char)(len >> (8 * i));
			}
		error = dsync_buf_put(out, b, (size_t)k);
		off += len;
		n -= len;
	}
	return error;
}

static uint32_t block_hash(const unsigned char *p)
{
	uint32_t h = 0;
	int i;

	for (i = 0; i < BLOCK; i++)
		h = h * PRIME + p[i];
	return h;
}

int dsync_delta_make(dsync_buf *out, const unsigned char *base, size_t blen, const unsigned char *target,
		     size_t tlen, size_t max)
{
	uint32_t *table = NULL, pow = 1, h = 0;
	size_t bits = 10, mask, start = out->len, lit = 0, j = 0, i;
	int error;

	if ((error = put_varint(out, blen)) < 0 || (error = put_varint(out, tlen)) < 0)
		return error;
	/* offsets of four bytes at most, and an index of 32-bit positions */
	if (blen > UINT32_MAX || tlen > UINT32_MAX)
		return 1;
	if (blen < BLOCK || tlen < BLOCK) {
		error = put_insert(out, target, tlen);
		return error < 0 ? error : out->len - start > max;
	}
	while (((size_t)1 << bits) < (blen / BLOCK) * 2 && bits < 28)
		bits++;
	mask = ((size_t)1 << bits) - 1;
	if ((table = calloc((size_t)1 << bits, sizeof(*table))) == NULL)
		return dsync_error_oom();
	/* later blocks win a slot: matches near the end of the base are as
	 * good as any */
	for (i = 0; i + BLOCK <= blen; i += BLOCK)
		table[block_hash(base + i) & mask] = (uint32_t)(i + 1);
	for (i = 0; i < BLOCK - 1; i++)
		pow *= PRIME;
	h = block_hash(target);
	while (j + BLOCK <= tlen) {
		uint32_t slot = table[h & mask];
		size_t bo, len = 0, back = 0;

		if (slot && memcmp(base + slot - 1, target + j, BLOCK) == 0) {
			bo = slot - 1;
			while (bo + len < blen && j + len < tlen && base[bo + len] == target[j + len])
				len++;
			while (back < j - lit && back < bo && base[bo - back - 1] == target[j - back - 1])
				back++;
			if ((error = put_insert(out, target + lit, j - back - lit)) < 0 ||
			    (error = put_copy(out, bo - back, len + back)) < 0)
				goto out;
			j += len;
			lit = j;
			if (out->len - start > max) {
				error = 1;
				goto out;
			}
			if (j + BLOCK <= tlen)
				h = block_hash(target + j);
			continue;
		}
		if (j + BLOCK < tlen)
			h = (h - pow * target[j]) * PRIME + target[j + BLOCK];
		j++;
		if (j - lit > max) {
			error = 1;
			goto out;
		}
	}
	if ((error = put_insert(out, target + lit, tlen - lit)) < 0)
		goto out;
	error = out->len - start > max;
out:
	free(table);
	return error;
}

static int get_varint(size_t *v, const unsigned char **p, const unsigned char *end)
{
	int shift = 0;

	*v = 0;
	do {
		if (*p >= end || shift > 56)
			return -1;
		*v |= (size_t)(**p & 0x7f) << shift;
		shift += 7;
	} while (*(*p)++ & 0x80);
	return 0;
}

int dsync_delta_apply(dsync_buf *out, const unsigned char *base, size_t blen, const unsigned char *delta,
		      size_t dlen)
{
	const unsigned char *p = delta, *end = delta + dlen;
	size_t want_base, want, start = out->len;
	int error;

	if (get_varint(&want_base, &p, end) < 0 || get_varint(&want, &p, end) < 0 || want_base != blen)
		return dsync_error_set(DSYNC_ECORRUPT, "a delta that does not fit its base");
	while (p < end) {
		unsigned char op = *p++;

		if (op & 0x80) {
			size_t off = 0, len = 0;
			int i;

			for (i = 0; i < 4; i++)
				if (op & (1 << i)) {
					if (p >= end)
						return dsync_error_set(DSYNC_ECORRUPT, "a truncated delta");
					off |= (size_t)*p++ << (8 * i);
				}
			for (i = 0; i < 3; i++)
				if (op & (0x10 << i)) {
					if (p >= end)
						return dsync_error_set(DSYNC_ECORRUPT, "a truncated delta");
					len |= (size_t)*p++ << (8 * i);
				}
			if (len == 0)
				len = 0x10000;
			if (off > blen || len > blen - off)
				return dsync_error_set(DSYNC_ECORRUPT, "a delta copying from outside its base");
			if ((error = dsync_buf_put(out, base + off, len)) < 0)
				return error;
		} else if (op) {
			if ((size_t)(end - p) < op)
				return dsync_error_set(DSYNC_ECORRUPT, "a truncated delta");
			if ((error = dsync_buf_put(out, p, op)) < 0)
				return error;
			p += op;
		} else {
			return dsync_error_set(DSYNC_ECORRUPT, "a delta with a reserved instruction");
		}
	}
	if (out->len - start != want)
		return dsync_error_set(DSYNC_ECORRUPT, "a delta of the wrong size");
	return 0;
}
