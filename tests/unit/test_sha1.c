/*
 * SHA-1 (core/base/sha1.h): the FIPS 180 test vectors, and the same digest
 * whatever the pieces the bytes come in (the buffered head, whole blocks
 * handed over many at a time, the tail), against git's blob ids computed by
 * libgit2 for sizes around the block and padding boundaries; with the SHA
 * instructions where the CPU has them and with the portable rounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "core/base/sha1.h"

static void hex(char *out, const unsigned char *d)
{
	int i;

	for (i = 0; i < 20; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_vectors(void **state)
{
	static const char *million_a = "34aa973cd4c4daa4f61eeb2bdbad27316534016f";
	dsync_sha1 c;
	unsigned char d[20], *a = malloc(1000000);
	char h[41];

	(void)state;
	assert_non_null(a);
	dsync_sha1_init(&c);
	dsync_sha1_update(&c, "abc", 3);
	dsync_sha1_final(&c, d);
	hex(h, d);
	assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
	dsync_sha1_init(&c);
	dsync_sha1_update(&c, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	dsync_sha1_final(&c, d);
	hex(h, d);
	assert_string_equal(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	memset(a, 'a', 1000000);
	dsync_sha1_init(&c);
	dsync_sha1_update(&c, a, 1000000);
	dsync_sha1_final(&c, d);
	hex(h, d);
	assert_string_equal(h, million_a);
	free(a);
}

/* Git's id of a blob of SIZE bytes, hashed here in pieces of 1 to 300
 * bytes and once whole, against libgit2's. */
static void test_pieces_against_git(void **state)
{
	static const size_t sizes[] = { 0, 1, 40, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4096, 65536 + 7, 300000 };
	unsigned char *data = malloc(300000), d[20];
	size_t k, i;

	(void)state;
	assert_non_null(data);
	srand(7);
	for (i = 0; i < 300000; i++)
		data[i] = (unsigned char)rand();
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char head[64];
		int hl = snprintf(head, sizeof(head), "blob %zu", sizes[k]);
		git_oid want;
		int whole;

		assert_int_equal(git_odb_hash(&want, data, sizes[k], GIT_OBJECT_BLOB), 0);
		for (whole = 0; whole < 2; whole++) {
			dsync_sha1 c;
			size_t at = 0;

			dsync_sha1_init(&c);
			dsync_sha1_update(&c, head, (size_t)hl + 1);
			while (at < sizes[k]) {
				size_t take = whole ? sizes[k] - at : 1 + (size_t)rand() % 300;

				if (take > sizes[k] - at)
					take = sizes[k] - at;
				dsync_sha1_update(&c, data + at, take);
				at += take;
			}
			dsync_sha1_final(&c, d);
			assert_memory_equal(d, want.id, 20);
		}
	}
	free(data);
}

/* The same with the portable rounds (the CPU's instructions above, where
 * it has them). */
static void test_portable(void **state)
{
	dsync_sha1_portable__(true);
	test_vectors(state);
	test_pieces_against_git(state);
	dsync_sha1_portable__(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_pieces_against_git),
		cmocka_unit_test(test_portable),
	};
	int rc;

	git_libgit2_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return rc;
}
