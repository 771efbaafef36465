/*
 * zlib streams of whole objects (zcomp.h): libdeflate's whole-buffer
 * compressor, and Huffman-only and stored streams written here.
 *
 * Measured (CPU time a MB, objects of 128 KiB and 32 KiB, a loaded 2-core
 * machine; size as a share of the input), on the hex text of the documents
 * benchmark, English (common-licenses and man pages) and dsync's C source:
 *   zlib level 1:        hex 59.4% 77 MB/s, English 18.6% 205, C 33.6% 124
 *   libdeflate level 1:  hex 55.0% 120,     English 16.5% 373, C 30.8% 231
 *   libdeflate level 2:  hex 51.5% 73,      English 15.8% 234, C 29.7% 145
 *   zlib Huffman-only:   hex 51.3% 166,     English 65.1% 142, C 66.2% 112
 *   huffman_into():      hex 51.2% 600,     English 65.1% 573, C 66.5% 569
 *   zlib level 6:        hex 58.0% 31,      English 13.8% 60,  C 27.6% 33
 *   libdeflate level 6:  hex 51.5% 73,      English 13.9% 125, C 27.6% 54
 * libdeflate at level 1 is smaller and twice as fast as zlib at level 1 on
 * all three.  Where no long strings repeat (hex digits of hashes or keys,
 * base64 of random bytes) looking for matches is wasted: Huffman codes alone
 * give a smaller stream in a quarter of the time (hex 51.2% at 600-780 MB/s
 * where libdeflate gives 54.7% at 137; base64 75.6% at 745, 75.6% at 160),
 * so a sample without them picks Huffman codes (sample_look(); none of the
 * English, C, HTML or /usr/bin objects did).
 */
#include "core/base/internal.h"

#include <libdeflate.h>
#include <pthread.h>

#include "core/base/zcomp.h"

#define FAST_LEVEL 1
#define FINE_LEVEL 6
/*
 * The compressibility test: two samples (the start and the middle) of SAMPLE
 * bytes each, deflated at the fastest level; the object is stored unless
 * each saves at least a tenth.  Small samples: deflating random bytes runs
 * at a tenth of SHA-1's speed, so the test is what storing costs beyond the
 * hash; a cheaper look comes first (sample_look()).
 */
#define SAMPLE 2048
#define SAVES_ENOUGH(in, out) ((out) * 10 <= (in) * 9)

struct dsync_zcomp {
	struct libdeflate_compressor *fast, *fine;   /* fine made when first needed */
};

dsync_zcomp *dsync_zcomp_new(void)
{
	dsync_zcomp *z = calloc(1, sizeof(*z));

	if (z == NULL)
		return NULL;
	if ((z->fast = libdeflate_alloc_compressor(FAST_LEVEL)) == NULL) {
		dsync_zcomp_free(z);
		return NULL;
	}
	return z;
}

void dsync_zcomp_free(dsync_zcomp *z)
{
	if (z == NULL)
		return;
	if (z->fast)
		libdeflate_free_compressor(z->fast);
	if (z->fine)
		libdeflate_free_compressor(z->fine);
	free(z);
}

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;
static int zkey_err;

static void zkey_free(void *p)
{
	dsync_zcomp_free(p);
}

static void zkey_make(void)
{
	zkey_err = pthread_key_create(&zkey, zkey_free);
}

dsync_zcomp *dsync_zcomp_thread(void)
{
	dsync_zcomp *z;

	if (pthread_once(&zonce, zkey_make) != 0 || zkey_err != 0)
		return NULL;
	if ((z = pthread_getspecific(zkey)) != NULL)
		return z;
	if ((z = dsync_zcomp_new()) != NULL && pthread_setspecific(zkey, z) != 0) {
		dsync_zcomp_free(z);
		return NULL;
	}
	return z;
}

/*
 * A cheap look at a sample of LEN bytes at DATA (a few microseconds, where
 * deflating it costs some forty): whether its bytes are spread evenly, and
 * whether strings repeat in it.  Even spread: the sum of the squares of the
 * byte counts is at most LEN^2 / 2^7.5, so the sample's collision entropy,
 * which bounds its Shannon entropy from below, is 7.5 bits a byte or more,
 * and Huffman codes save at most 6%; random bytes give 7.8.  Repeats: the
 * strings of 4 bytes deflate would match cover a sixteenth of it or more;
 * long repeats: those of 8 bytes do.  Where only short strings repeat, as in
 * hex digits or base64 (4 or 6 bits a byte: a 4-byte match saves less than
 * its length and distance cost), matches don't pay over Huffman codes; prose,
 * source code and binaries repeat words and names of 8 bytes or more.
 */
static void sample_look(const unsigned char *data, size_t len, bool *even, bool *repeats, bool *long_repeats)
{
	uint32_t count[256] = { 0 };
	uint16_t last[4096] = { 0 };   /* position + 1 of the last 4 bytes of each hash */
	uint64_t sq = 0;
	size_t i, matched = 0, matched_long = 0;

	for (i = 0; i < len; i++)
		count[data[i]]++;
	for (i = 0; i < 256; i++)
		sq += (uint64_t)count[i] * count[i];
	/* sq / len^2 <= 2^-7.5, in integers: sq * 181 <= len^2 (2^7.5 = 181.02) */
	*even = sq * 181 <= (uint64_t)len * len;
	for (i = 0; i + 4 <= len; i++) {
		uint32_t v, h;
		size_t j;

		memcpy(&v, data + i, 4);
		h = (v * 2654435761u) >> 20;
		j = last[h];
		if (j && memcmp(data + j - 1, data + i, 4) == 0) {
			matched += 4;
			if (i + 8 <= len && memcmp(data + j - 1 + 4, data + i + 4, 4) == 0)
				matched_long += 8;
		}
		last[h] = (uint16_t)(i + 1);
	}
	*repeats = matched * 16 >= len;
	*long_repeats = matched_long * 16 >= len;
}

/* What a sample says: STORE, HUFFMAN (compresses, no long repeats) or FAST. */
static int sample_method(dsync_zcomp *z, const unsigned char *data, size_t len)
{
	unsigned char out[SAMPLE + 256];
	bool even, repeats, long_repeats;
	size_t n;

	sample_look(data, len, &even, &repeats, &long_repeats);
	if (even && !repeats)
		return DSYNC_ZCOMP_STORE;
	n = libdeflate_zlib_compress(z->fast, data, len, out, sizeof(out));
	if (n == 0 || !SAVES_ENOUGH(len, n))
		return DSYNC_ZCOMP_STORE;
	return long_repeats ? DSYNC_ZCOMP_FAST : DSYNC_ZCOMP_HUFFMAN;
}

int dsync_zcomp_choose(dsync_zcomp *z, const unsigned char *data, size_t len, bool fine)
{
	int a, b;

	if (len > 2 * SAMPLE) {
		if ((a = sample_method(z, data, SAMPLE)) == DSYNC_ZCOMP_STORE ||
		    (b = sample_method(z, data + len / 2, SAMPLE)) == DSYNC_ZCOMP_STORE)
			return DSYNC_ZCOMP_STORE;
		if (a == DSYNC_ZCOMP_HUFFMAN && b == DSYNC_ZCOMP_HUFFMAN)
			return DSYNC_ZCOMP_HUFFMAN;
	}
	return fine ? DSYNC_ZCOMP_FINE : DSYNC_ZCOMP_FAST;
}

/*
 * The zlib stream of LEN bytes in stored blocks (RFC 1950/1951): a header,
 * blocks of up to 65535 bytes copied as they are, the Adler-32.  Written
 * here rather than by a compressor: this is a memcpy and a checksum.
 */
static size_t stored_bound(size_t len)
{
	return 2 + (len / 65535 + 1) * 5 + len + 4;
}

size_t dsync_zcomp_bound(size_t len)
{
	/* libdeflate's bound is stored_bound plus 5 bytes each 10,000 and 9;
	 * huffman_into() falls back to stored blocks of 60 KiB, whose
	 * alignment bits and 4-byte flushes stay within 16 bytes of stored:
	 * a sixty-fourth and 64 bytes over stored covers both */
	return stored_bound(len) + len / 64 + 64;
}

static size_t stored_into(unsigned char *out, const unsigned char *data, size_t len)
{
	unsigned char *p = out;
	size_t left = len;
	uint32_t adler = len ? libdeflate_adler32(1, data, len) : 1;

	*p++ = 0x78;   /* deflate, 32 KiB window */
	*p++ = 0x01;   /* no dictionary, "fastest"; (0x78 << 8 | 0x01) % 31 == 0 */
	do {
		size_t n = left < 65535 ? left : 65535;

		*p++ = n == left ? 1 : 0;   /* BFINAL on the last; BTYPE 00 (stored) */
		p[0] = (unsigned char)(n & 0xff);
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)(~n & 0xff);
		p[3] = (unsigned char)((~n >> 8) & 0xff);
		memcpy(p + 4, data, n);
		p += 4 + n;
		data += n;
		left -= n;
	} while (left);
	p[0] = (unsigned char)(adler >> 24);
	p[1] = (unsigned char)(adler >> 16);
	p[2] = (unsigned char)(adler >> 8);
	p[3] = (unsigned char)adler;
	return (size_t)(p + 4 - out);
}

/*
 * Huffman codes only: dynamic blocks (RFC 1951 3.2.7) of literals, no
 * matches, a block's codes made from its own byte counts.  Written here:
 * zlib's Z_HUFFMAN_ONLY ran at 163 MB/s on the hex text where this runs at
 * 600 (the same size, 51.2%), and libdeflate has no such mode.
 */
#define HUFF_BLOCK 61440   /* input bytes a block: its stored form fits one stored block */
#define LL_SYMS 257        /* the literals and end-of-block: no lengths, no distances */
#define CL_SYMS 19

typedef struct bitw {
	unsigned char *p;
	uint64_t acc;
	unsigned n;
} bitw;

/* Appends the N low bits of V (N <= 32). */
static inline void bits_put(bitw *b, uint64_t v, unsigned n)
{
	b->acc |= v << b->n;
	b->n += n;
	if (b->n >= 32) {
		b->p[0] = (unsigned char)b->acc;
		b->p[1] = (unsigned char)(b->acc >> 8);
		b->p[2] = (unsigned char)(b->acc >> 16);
		b->p[3] = (unsigned char)(b->acc >> 24);
		b->p += 4;
		b->acc >>= 32;
		b->n -= 32;
	}
}

/* Writes out the bits left, padded with zeros to a byte. */
static void bits_align(bitw *b)
{
	while (b->n > 0) {
		*b->p++ = (unsigned char)b->acc;
		b->acc >>= 8;
		b->n = b->n > 8 ? b->n - 8 : 0;
	}
	b->acc = 0;
}

static int u64_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/*
 * Code lengths of the N symbols of FREQ (those of 0 get none), at most MAXB
 * bits, and a complete code (what inflate demands).  Huffman's two-queue
 * construction; lengths over MAXB are cut, then the Kraft sum is put right,
 * over one by lengthening the longest codes under MAXB, under one by
 * shortening the longest codes.  One used symbol gets a partner (a complete
 * code needs two).
 */
static void code_lengths(const uint32_t *freq, unsigned n, unsigned maxb, uint8_t *len)
{
	uint64_t sorted[LL_SYMS];
	uint32_t w[2 * LL_SYMS];
	int16_t parent[2 * LL_SYMS];
	uint8_t depth[2 * LL_SYMS];
	uint32_t kraft = 0, one = 1u << maxb;
	unsigned used = 0, i, leaf = 0, inner, made;

	memset(len, 0, n);
	for (i = 0; i < n; i++)
		if (freq[i])
			sorted[used++] = (uint64_t)freq[i] << 9 | i;
	if (used < 2) {   /* never none: end-of-block, or a length code */
		len[sorted[0] & 511] = 1;
		len[(sorted[0] & 511) == 0 ? 1 : 0] = 1;
		return;
	}
	qsort(sorted, used, sizeof(sorted[0]), u64_cmp);
	for (i = 0; i < used; i++)
		w[i] = (uint32_t)(sorted[i] >> 9);
	inner = made = used;
	while (made < 2 * used - 1) {
		unsigned pick[2], k;

		for (k = 0; k < 2; k++)
			pick[k] = leaf < used && (inner >= made || w[leaf] <= w[inner]) ? leaf++ : inner++;
		w[made] = w[pick[0]] + w[pick[1]];
		parent[pick[0]] = parent[pick[1]] = (int16_t)made;
		made++;
	}
	depth[made - 1] = 0;
	for (i = made - 1; i-- > 0;)
		depth[i] = (uint8_t)(depth[parent[i]] + 1);
	for (i = 0; i < used; i++) {
		unsigned s = sorted[i] & 511, d = depth[i] < maxb ? depth[i] : maxb;

		len[s] = (uint8_t)d;
		kraft += one >> d;
	}
	while (kraft > one) {   /* lengthen the longest code shorter than MAXB */
		unsigned best = n;

		for (i = 0; i < n; i++)
			if (len[i] && len[i] < maxb && (best == n || len[i] > len[best]))
				best = i;
		kraft -= one >> (len[best] + 1);
		len[best]++;
	}
	while (kraft < one) {   /* shorten the longest code: its share fits what is missing */
		unsigned best = n;

		for (i = 0; i < n; i++)
			if (len[i] > 1 && (best == n || len[i] > len[best]))
				best = i;
		kraft += one >> len[best];
		len[best]--;
	}
}

/* The canonical codes (RFC 1951 3.2.2) of the N lengths LEN, bit-reversed as
 * deflate sends them, into CODE. */
static void codes_of(const uint8_t *len, unsigned n, uint16_t *code)
{
	unsigned count[16] = { 0 }, next[16], i, c = 0, b;

	for (i = 0; i < n; i++)
		count[len[i]]++;
	count[0] = 0;
	for (b = 1; b < 16; b++) {
		c = (c + count[b - 1]) << 1;
		next[b] = c;
	}
	for (i = 0; i < n; i++) {
		unsigned v = len[i] ? next[len[i]]++ : 0, r = 0;

		for (b = 0; b < len[i]; b++)
			r |= ((v >> b) & 1) << (len[i] - 1 - b);
		code[i] = (uint16_t)r;
	}
}

/*
 * The lengths of the literal code and of two unused distance codes (a
 * complete code of 1 bit each) as code-length symbols (RFC 1951 3.2.7):
 * runs of zeros as 17 and 18, runs of another length as 16.  SYM gets the
 * symbols, EXTRA their extra bits; returns how many.
 */
static unsigned lengths_rle(const uint8_t *ll, uint8_t *sym, uint8_t *extra)
{
	uint8_t all[LL_SYMS + 2];
	unsigned n = 0, i = 0, total = LL_SYMS + 2;

	memcpy(all, ll, LL_SYMS);
	all[LL_SYMS] = all[LL_SYMS + 1] = 1;
	while (i < total) {
		unsigned run = 1;

		while (i + run < total && all[i + run] == all[i])
			run++;
		if (all[i] == 0 && run >= 3) {
			run = run > 138 ? 138 : run;
			sym[n] = run >= 11 ? 18 : 17;
			extra[n++] = (uint8_t)(run >= 11 ? run - 11 : run - 3);
			i += run;
		} else if (all[i] != 0 && run >= 4) {
			sym[n] = all[i];
			extra[n++] = 0;
			run = run - 1 > 6 ? 6 : run - 1;
			sym[n] = 16;
			extra[n++] = (uint8_t)(run - 3);
			i += 1 + run;
		} else {
			sym[n] = all[i];
			extra[n++] = 0;
			i++;
		}
	}
	return n;
}

static const uint8_t cl_order[CL_SYMS] = { 16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15 };
static const uint8_t cl_extra_bits[CL_SYMS] = { [16] = 2, [17] = 3, [18] = 7 };

/* One block of LEN bytes at DATA (FINAL: the last), Huffman-coded, or stored
 * when that would be smaller. */
static void huff_block(bitw *b, const unsigned char *data, size_t len, bool final)
{
	uint32_t freq[LL_SYMS] = { 0 }, f4[4][256] = { { 0 } }, clf[CL_SYMS] = { 0 };
	uint8_t ll[LL_SYMS], cl[CL_SYMS], sym[LL_SYMS + 2], extra[LL_SYMS + 2];
	uint16_t code[LL_SYMS], clc[CL_SYMS];
	uint64_t bits = 3 + 5 + 5 + 4;
	size_t i;
	unsigned nsym, ncl, k;

	for (i = 0; i + 4 <= len; i += 4) {   /* four tables: no stall on a repeated byte */
		f4[0][data[i]]++;
		f4[1][data[i + 1]]++;
		f4[2][data[i + 2]]++;
		f4[3][data[i + 3]]++;
	}
	for (; i < len; i++)
		f4[0][data[i]]++;
	for (k = 0; k < 256; k++)
		freq[k] = f4[0][k] + f4[1][k] + f4[2][k] + f4[3][k];
	freq[256] = 1;
	code_lengths(freq, LL_SYMS, 15, ll);
	nsym = lengths_rle(ll, sym, extra);
	for (k = 0; k < nsym; k++)
		clf[sym[k]]++;
	code_lengths(clf, CL_SYMS, 7, cl);
	for (ncl = CL_SYMS; ncl > 4 && cl[cl_order[ncl - 1]] == 0; ncl--)
		;
	bits += 3 * ncl;
	for (k = 0; k < nsym; k++)
		bits += cl[sym[k]] + cl_extra_bits[sym[k]];
	for (k = 0; k < LL_SYMS; k++)
		bits += (uint64_t)freq[k] * ll[k];
	if (bits > 3 + 7 + 32 + 8 * (uint64_t)len) {
		bits_put(b, final, 3);   /* BTYPE 00: stored */
		bits_align(b);
		b->p[0] = (unsigned char)len;
		b->p[1] = (unsigned char)(len >> 8);
		b->p[2] = (unsigned char)~len;
		b->p[3] = (unsigned char)(~len >> 8);
		memcpy(b->p + 4, data, len);
		b->p += 4 + len;
		return;
	}
	codes_of(ll, LL_SYMS, code);
	codes_of(cl, CL_SYMS, clc);
	bits_put(b, final | 2 << 1, 3);   /* BTYPE 10: dynamic codes */
	bits_put(b, 0, 5);                /* HLIT: 257 literal/length codes */
	bits_put(b, 1, 5);                /* HDIST: 2 distance codes */
	bits_put(b, ncl - 4, 4);
	for (k = 0; k < ncl; k++)
		bits_put(b, cl[cl_order[k]], 3);
	for (k = 0; k < nsym; k++) {
		bits_put(b, clc[sym[k]], cl[sym[k]]);
		bits_put(b, extra[k], cl_extra_bits[sym[k]]);
	}
	for (i = 0; i + 2 <= len; i += 2)   /* two codes of 15 bits at most a time */
		bits_put(b, code[data[i]] | (uint32_t)code[data[i + 1]] << ll[data[i]], ll[data[i]] + ll[data[i + 1]]);
	if (i < len)
		bits_put(b, code[data[i]], ll[data[i]]);
	bits_put(b, code[256], ll[256]);
}

/* The zlib stream of LEN bytes (1 or more) at DATA, Huffman-coded, into OUT
 * (stored_bound(LEN) bytes of room, plus 8); its length. */
static size_t huffman_into(unsigned char *out, const unsigned char *data, size_t len)
{
	bitw b = { out + 2, 0, 0 };
	uint32_t adler = libdeflate_adler32(1, data, len);
	size_t at = 0;

	out[0] = 0x78;
	out[1] = 0x01;
	do {
		size_t n = len - at < HUFF_BLOCK ? len - at : HUFF_BLOCK;

		huff_block(&b, data + at, n, at + n == len);
		at += n;
	} while (at < len);
	bits_align(&b);
	b.p[0] = (unsigned char)(adler >> 24);
	b.p[1] = (unsigned char)(adler >> 16);
	b.p[2] = (unsigned char)(adler >> 8);
	b.p[3] = (unsigned char)adler;
	return (size_t)(b.p + 4 - out);
}

size_t dsync_zcomp_write(dsync_zcomp *z, int method, unsigned char *out, const void *data, size_t len)
{
	size_t cap = dsync_zcomp_bound(len), n = 0;

	if (method == DSYNC_ZCOMP_FINE && z->fine == NULL)
		z->fine = libdeflate_alloc_compressor(FINE_LEVEL);   /* out of memory: the fast level */
	if (method == DSYNC_ZCOMP_HUFFMAN)
		n = len ? huffman_into(out, data, len) : 0;
	else if (method == DSYNC_ZCOMP_FINE && z->fine)
		n = libdeflate_zlib_compress(z->fine, data, len, out, cap);
	else if (method != DSYNC_ZCOMP_STORE)
		n = libdeflate_zlib_compress(z->fast, data, len, out, cap);
	/* stored when asked, when the room was short (neither compressor
	 * allocates: nothing else fails) and when a small object did not shrink */
	if (n == 0 || (len <= 2 * SAMPLE && n > stored_bound(len)))
		n = stored_into(out, data, len);
	return n;
}

uint32_t dsync_crc32(uint32_t crc, const void *data, size_t len)
{
	return libdeflate_crc32(crc, data, len);
}

int dsync_zcomp_read(const unsigned char *z, size_t zlen, unsigned char *out, size_t len)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	size_t used = 0;
	enum libdeflate_result rc;

	if (d == NULL)
		return dsync_error_oom();
	/* no out count asked: anything but LEN bytes is an error */
	rc = libdeflate_zlib_decompress_ex(d, z, zlen, out, len, &used, NULL);
	libdeflate_free_decompressor(d);
	if (rc != LIBDEFLATE_SUCCESS || used != zlen)
		return dsync_error_set(DSYNC_ECORRUPT, "a zlib stream does not inflate to its %zu bytes", len);
	return 0;
}
