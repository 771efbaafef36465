/*
 * zlib streams of whole objects (zcomp.h): libdeflate's whole-buffer
 * compressor, zlib's Huffman-only strategy, stored blocks written here.
 *
 * Measured (CPU time a MB, objects of 128 KiB and 32 KiB, a loaded 2-core
 * machine; size as a share of the input), on the hex text of the documents
 * benchmark, English (common-licenses and man pages) and dsync's C source:
 *   zlib level 1:        hex 59.4% 77 MB/s, English 18.6% 205, C 33.6% 124
 *   libdeflate level 1:  hex 55.0% 120,     English 16.5% 373, C 30.8% 231
 *   libdeflate level 2:  hex 51.5% 73,      English 15.8% 234, C 29.7% 145
 *   zlib Huffman-only:   hex 51.3% 166,     English 65.1% 142, C 66.2% 112
 *   zlib level 6:        hex 58.0% 31,      English 13.8% 60,  C 27.6% 33
 *   libdeflate level 6:  hex 51.5% 73,      English 13.9% 125, C 27.6% 54
 * libdeflate at level 1 is smaller and twice as fast as zlib at level 1 on
 * all three.  Where no long strings repeat (hex digits of hashes or keys,
 * base64 of random bytes) looking for matches is wasted: Huffman codes alone
 * give a smaller stream in less time (hex 51.3% at 163 MB/s where libdeflate
 * gives 54.7% at 137; base64 75.7% at 188, 75.6% at 160), so a sample
 * without them picks Huffman codes (sample_look(); none of the English, C,
 * HTML or /usr/bin objects did).
 */
#include "core/base/internal.h"

#include <libdeflate.h>
#include <pthread.h>
#include <zlib.h>

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
	z_stream huff;                               /* Huffman-only */
	bool huff_ok;
};

dsync_zcomp *dsync_zcomp_new(void)
{
	dsync_zcomp *z = calloc(1, sizeof(*z));

	if (z == NULL)
		return NULL;
	/* a 32 KiB window and the default memLevel: Huffman-only uses neither
	 * for matches, but memLevel sets the symbols a block, hence how often
	 * the codes adapt to the data */
	z->huff_ok = deflateInit2(&z->huff, 1, Z_DEFLATED, 15, 8, Z_HUFFMAN_ONLY) == Z_OK;
	if (!z->huff_ok || (z->fast = libdeflate_alloc_compressor(FAST_LEVEL)) == NULL) {
		dsync_zcomp_free(z);
		return NULL;
	}
	return z;
}

void dsync_zcomp_free(dsync_zcomp *z)
{
	if (z == NULL)
		return;
	if (z->huff_ok)
		deflateEnd(&z->huff);
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
	/* libdeflate's bound is stored_bound plus a little; zlib's Huffman-only
	 * bound (deflateBound for a non-default strategy) is about len + len/4096
	 * + 13 + 6: a sixty-fourth and 64 bytes over stored covers them all */
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

static size_t huffman_into(dsync_zcomp *z, unsigned char *out, size_t cap, const void *data, size_t len)
{
	z_stream *s = &z->huff;

	if (deflateReset(s) != Z_OK)
		return 0;
	s->next_in = (Bytef *)(uintptr_t)data;
	s->avail_in = (uInt)len;
	s->next_out = out;
	s->avail_out = (uInt)cap;
	if (deflate(s, Z_FINISH) != Z_STREAM_END)
		return 0;
	return cap - s->avail_out;
}

size_t dsync_zcomp_write(dsync_zcomp *z, int method, unsigned char *out, const void *data, size_t len)
{
	size_t cap = dsync_zcomp_bound(len), n = 0;

	if (method == DSYNC_ZCOMP_FINE && z->fine == NULL)
		z->fine = libdeflate_alloc_compressor(FINE_LEVEL);   /* out of memory: the fast level */
	if (method == DSYNC_ZCOMP_HUFFMAN)
		n = huffman_into(z, out, cap, data, len);
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
