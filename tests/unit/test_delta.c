/*
 * The pieces of a thin pack (core/base/delta.h, sha1.h): deltas round-trip
 * at every shape of edit and stay small for small edits, a delta that doesn't
 * fit its base is refused, and SHA-1 agrees with git's object ids.  Whole
 * thin packs are indexed by the e2e sync tests (t18 to t23).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

#include "dsync/common.h"
#include "core/base/buf.h"
#include "core/base/delta.h"
#include "core/base/sha1.h"

static unsigned char *noise(size_t len, unsigned char tag)
{
	unsigned char *p = malloc(len ? len : 1), seed[randombytes_SEEDBYTES] = { tag };

	assert_non_null(p);
	randombytes_buf_deterministic(p, len, seed);
	return p;
}

/* Encodes TARGET against BASE, applies it, and returns the delta's size. */
static size_t round_trip(const unsigned char *base, size_t blen, const unsigned char *target, size_t tlen)
{
	dsync_buf d = DSYNC_BUF_INIT, back = DSYNC_BUF_INIT;
	size_t len;

	assert_int_equal(dsync_delta_make(&d, base, blen, target, tlen, (size_t)-1), 0);
	assert_int_equal(dsync_delta_apply(&back, base, blen, (const unsigned char *)d.ptr, d.len), 0);
	assert_int_equal(back.len, tlen);
	if (tlen)
		assert_memory_equal(back.ptr, target, tlen);
	len = d.len;
	dsync_buf_dispose(&d);
	dsync_buf_dispose(&back);
	return len;
}

static void test_delta_edits(void **state)
{
	const size_t n = 3 * 1000 * 1000;
	unsigned char *base = noise(n, 1), *t = malloc(n + 100000), *other = noise(n, 2);
	size_t len;

	(void)state;
	assert_non_null(t);
	/* the same */
	assert_true(round_trip(base, n, base, n) < 64);
	/* 24 bytes overwritten in the middle */
	memcpy(t, base, n);
	memset(t + n / 2, 'X', 24);
	len = round_trip(base, n, t, n);
	assert_true(len < 200);
	/* 10,000 bytes inserted at the start, 5 bytes cut at the end */
	memcpy(t, other, 10000);
	memcpy(t + 10000, base, n - 5);
	len = round_trip(base, n, t, n + 10000 - 5);
	assert_true(len < 10000 + 200);
	/* unrelated content: a delta no smaller than the file, and refused
	 * under a cap */
	len = round_trip(base, n, other, n);
	assert_true(len >= n);
	{
		dsync_buf d = DSYNC_BUF_INIT;

		assert_int_equal(dsync_delta_make(&d, base, n, other, n, n / 2), 1);
		dsync_buf_dispose(&d);
	}
	/* edges: empty, tiny, a copy longer than 0xffffff would be split */
	round_trip(base, 0, base, 0);
	round_trip(base, 5, base + 5, 7);
	round_trip(base, n, base, 10);
	round_trip(base, 100, base, n);
	free(base);
	free(t);
	free(other);
}

static void test_delta_apply_refuses(void **state)
{
	const unsigned char base[4] = "abcd";
	const unsigned char bad_size[] = { 5, 4, 0x91, 0, 4 };       /* base size 5, not 4 */
	const unsigned char outside[] = { 4, 4, 0x91, 2, 4 };        /* copy 4 from offset 2 */
	const unsigned char short_ins[] = { 4, 4, 4, 'a' };          /* insert 4, one given */
	const unsigned char reserved[] = { 4, 0, 0 };
	const unsigned char wrong_len[] = { 4, 9, 0x91, 0, 4 };      /* says 9, makes 4 */
	dsync_buf out = DSYNC_BUF_INIT;

	(void)state;
	assert_int_equal(dsync_delta_apply(&out, base, 4, bad_size, sizeof(bad_size)), DSYNC_ECORRUPT);
	assert_int_equal(dsync_delta_apply(&out, base, 4, outside, sizeof(outside)), DSYNC_ECORRUPT);
	assert_int_equal(dsync_delta_apply(&out, base, 4, short_ins, sizeof(short_ins)), DSYNC_ECORRUPT);
	assert_int_equal(dsync_delta_apply(&out, base, 4, reserved, sizeof(reserved)), DSYNC_ECORRUPT);
	assert_int_equal(dsync_delta_apply(&out, base, 4, wrong_len, sizeof(wrong_len)), DSYNC_ECORRUPT);
	dsync_buf_dispose(&out);
}

/* SHA-1 of "blob LEN\0" + data must be git's blob id, at sizes around the
 * 64-byte block edges. */
static void test_sha1_is_git(void **state)
{
	static const size_t sizes[] = { 0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 1000, 100000 };
	unsigned char *data = noise(100000, 3), raw[20];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		dsync_sha1 c;
		git_oid want;
		char head[32];
		int hl = snprintf(head, sizeof(head), "blob %zu", sizes[i]);

		dsync_sha1_init(&c);
		dsync_sha1_update(&c, head, (size_t)hl + 1);
		/* in uneven pieces */
		dsync_sha1_update(&c, data, sizes[i] / 3);
		dsync_sha1_update(&c, data + sizes[i] / 3, sizes[i] - sizes[i] / 3);
		dsync_sha1_final(&c, raw);
		assert_int_equal(git_odb_hash(&want, data, sizes[i], GIT_OBJECT_BLOB), 0);
		assert_memory_equal(raw, want.id, 20);
	}
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta_edits),
		cmocka_unit_test(test_delta_apply_refuses),
		cmocka_unit_test(test_sha1_is_git),
	};

	if (sodium_init() < 0)
		return 1;
	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
