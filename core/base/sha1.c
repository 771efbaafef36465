/*
 * SHA-1 (FIPS 180-4): portable rounds, and the x86 SHA instructions where
 * the CPU has them.  See sha1.h for what it is for.
 */
#include "core/base/internal.h"

#include "core/base/sha1.h"

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void block(dsync_sha1 *c, const unsigned char *p)
{
	uint32_t w[80], a, b, d, e, f, k, t, cc;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (; i < 80; i++)
		w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = c->h[0];
	b = c->h[1];
	cc = c->h[2];
	d = c->h[3];
	e = c->h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ cc ^ d;
			k = 0xca62c1d6;
		}
		t = ROL(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = ROL(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* Whether the CPU has the SHA extensions (and SSSE3, SSE4.1 for the byte
 * shuffle and the lane extract): 0 unknown, 1 no, 2 yes. */
static int shani_state;

static bool have_shani(void)
{
	int st = __atomic_load_n(&shani_state, __ATOMIC_RELAXED);
	unsigned a, b, c, d;

	if (st == 0) {
		bool yes = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1) &&
			   __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);

		st = yes ? 2 : 1;
		__atomic_store_n(&shani_state, st, __ATOMIC_RELAXED);
	}
	return st == 2;
}

/* Four rounds; the round function's number must be a constant. */
__attribute__((target("sha,sse4.1"))) static __m128i rounds4(__m128i abcd, __m128i e, int i)
{
	switch (i / 5) {
	case 0:
		return _mm_sha1rnds4_epu32(abcd, e, 0);
	case 1:
		return _mm_sha1rnds4_epu32(abcd, e, 1);
	case 2:
		return _mm_sha1rnds4_epu32(abcd, e, 2);
	default:
		return _mm_sha1rnds4_epu32(abcd, e, 3);
	}
}

/* N blocks at P with the SHA instructions: the packs' checksum, over every
 * byte a push sends, took a quarter of its time with the portable rounds. */
__attribute__((target("sha,sse4.1"))) static void blocks_shani(dsync_sha1 *c, const unsigned char *p, size_t n)
{
	const __m128i swap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)c->h), 0x1b);
	__m128i e0 = _mm_set_epi32((int)c->h[4], 0, 0, 0);
	uint32_t out[4];

	for (; n; n--, p += 64) {
		__m128i m[4], e, saved = abcd, abcd0 = abcd, e00 = e0;
		int i;

		for (i = 0; i < 20; i++) {
			if (i < 4) {
				m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), swap);
			} else {
				/* W[t-16..t-13] ^ W[t-14..] ^ W[t-8..], then W[t-3..] and the rotation */
				__m128i x = _mm_sha1msg1_epu32(m[i & 3], m[(i + 1) & 3]);

				m[i & 3] = _mm_sha1msg2_epu32(_mm_xor_si128(x, m[(i + 2) & 3]), m[(i + 3) & 3]);
			}
			e = i == 0 ? _mm_add_epi32(e0, m[0]) : _mm_sha1nexte_epu32(saved, m[i & 3]);
			saved = abcd;
			abcd = rounds4(abcd, e, i);
		}
		e0 = _mm_sha1nexte_epu32(saved, e00);
		abcd = _mm_add_epi32(abcd, abcd0);
	}
	_mm_storeu_si128((__m128i *)out, _mm_shuffle_epi32(abcd, 0x1b));
	memcpy(c->h, out, sizeof(out));
	c->h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}
#else
static bool have_shani(void)
{
	return false;
}

static void blocks_shani(dsync_sha1 *c, const unsigned char *p, size_t n)
{
	(void)c;
	(void)p;
	(void)n;
}
#endif

#ifdef DSYNC_TESTING
static bool portable_only;

void dsync_sha1_portable__(bool on)
{
	portable_only = on;
}
#else
#define portable_only false
#endif

static void blocks(dsync_sha1 *c, const unsigned char *p, size_t n)
{
	if (!portable_only && have_shani()) {
		blocks_shani(c, p, n);
		return;
	}
	for (; n; n--, p += 64)
		block(c, p);
}

void dsync_sha1_init(dsync_sha1 *c)
{
	static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->fill = 0;
}

void dsync_sha1_update(dsync_sha1 *c, const void *data, size_t len)
{
	const unsigned char *p = data;

	c->len += len;
	if (c->fill) {
		size_t take = 64 - c->fill < len ? 64 - c->fill : len;

		memcpy(c->buf + c->fill, p, take);
		c->fill += take;
		p += take;
		len -= take;
		if (c->fill < 64)
			return;
		blocks(c, c->buf, 1);
		c->fill = 0;
	}
	blocks(c, p, len / 64);
	p += len / 64 * 64;
	len %= 64;
	memcpy(c->buf, p, len);
	c->fill = len;
}

void dsync_sha1_final(dsync_sha1 *c, unsigned char out[20])
{
	uint64_t bits = c->len * 8;
	unsigned char pad[72] = { 0x80 };
	size_t padlen = c->fill < 56 ? 56 - c->fill : 120 - c->fill;
	int i;

	for (i = 0; i < 8; i++)
		pad[padlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
	dsync_sha1_update(c, pad, padlen + 8);
	for (i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

void dsync_sha1_object(unsigned char out[20], const char *type, const void *data, size_t len)
{
	char head[32];
	int hl = snprintf(head, sizeof(head), "%s %zu", type, len);
	dsync_sha1 c;

	dsync_sha1_init(&c);
	dsync_sha1_update(&c, head, (size_t)hl + 1);   /* with its NUL */
	dsync_sha1_update(&c, data, len);
	dsync_sha1_final(&c, out);
}
