/*
 * Passphrases for relay groups (core/sync/passgen.c): a generated one has
 * six words of the EFF large wordlist (77.5 bits), two are never the same,
 * and the strength check refuses typical weak ones naming why while it
 * takes the generated ones and long random ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "dsync/sync.h"
#include "core/sync/passgen.h"

static int setup(void **state)
{
	(void)state;
	return dsync_lib_init() < 0 ? -1 : 0;
}

/* Whether WORD is in the list. */
static bool in_list(const char *word, size_t len)
{
	size_t i;

	for (i = 0; i < DSYNC_WORDLIST_EFF_SIZE; i++)
		if (strlen(dsync_wordlist_eff[i]) == len && strncmp(dsync_wordlist_eff[i], word, len) == 0)
			return true;
	return false;
}

static void test_wordlist(void **state)
{
	size_t i;

	(void)state;
	/* the list as generated: 7,776 distinct words in order */
	assert_string_equal(dsync_wordlist_eff[0], "abacus");
	assert_string_equal(dsync_wordlist_eff[DSYNC_WORDLIST_EFF_SIZE - 1], "zoom");
	for (i = 1; i < DSYNC_WORDLIST_EFF_SIZE; i++)
		assert_true(strcmp(dsync_wordlist_eff[i - 1], dsync_wordlist_eff[i]) < 0);
}

static void test_generated(void **state)
{
	char *p = NULL, *words[20] = { 0 };
	const char *w, *sp;
	size_t i, j, n;

	(void)state;
	assert_true(fabs(dsync_passphrase_generated_bits(6) - 77.55) < 0.01);
	assert_true(dsync_passphrase_generated_bits(DSYNC_PASSPHRASE_WORDS) >= 77);
	assert_true(dsync_passphrase_generated_bits(0) == dsync_passphrase_generated_bits(DSYNC_PASSPHRASE_WORDS));
	for (i = 0; i < 20; i++) {
		assert_int_equal(dsync_passphrase_generate(&words[i], 0), 0);
		/* six words of the list, one space between */
		for (n = 0, w = words[i];; w = sp + 1) {
			sp = strchr(w, ' ');
			assert_true(in_list(w, sp ? (size_t)(sp - w) : strlen(w)));
			n++;
			if (!sp)
				break;
		}
		assert_int_equal(n, 6);
		/* what it offers passes its own check */
		assert_int_equal(dsync_passphrase_strength(words[i], NULL), 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(words[i], words[j]);
	}
	for (i = 0; i < 20; i++)
		free(words[i]);
	assert_int_equal(dsync_passphrase_generate(&p, 3), 0);
	assert_int_equal(strchr(strchr(p, ' ') + 1, ' ') != NULL, 1);
	assert_null(strchr(strchr(strchr(p, ' ') + 1, ' ') + 1, ' '));
	free(p);
}

/* PASS is refused, the message naming WHY. */
static void weak(const char *pass, const char *why)
{
	double bits = 100;

	assert_int_equal(dsync_passphrase_strength(pass, &bits), DSYNC_EUSAGE);
	assert_true(bits < DSYNC_PASSPHRASE_MIN_BITS);
	assert_non_null(strstr(dsync_error_last(), "the passphrase is too weak (about "));
	if (!strstr(dsync_error_last(), why))
		fail_msg("'%s': '%s' lacks '%s'", pass, dsync_error_last(), why);
	assert_non_null(strstr(dsync_error_last(), "use at least 5 random words (or the one dsync offers at a terminal)"));
	assert_null(strchr(dsync_error_last(), '\n'));
}

static void test_weak(void **state)
{
	(void)state;
	weak("password", "mostly the common word 'password'");
	weak("p@ssw0rd", "with letters swapped");
	weak("qwertyuiop", "qwertyuiop");
	weak("aaaaaaaaaaaaaaaa", "repeated characters");
	weak("abcdefghijkl", "a sequence");
	weak("x7#k", "too short");
	weak("summer2019", "summer");
}

static void test_strong(void **state)
{
	double bits = 0;

	(void)state;
	assert_int_equal(dsync_passphrase_strength("correct horse battery staple", &bits), 0);
	assert_true(bits >= DSYNC_PASSPHRASE_MIN_BITS);
	assert_int_equal(dsync_passphrase_strength("gravel idiom unsnap pouch mocker", NULL), 0);
	assert_int_equal(dsync_passphrase_strength("Vq8#rT2!mZp9@Lw4", NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wordlist),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_weak),
		cmocka_unit_test(test_strong),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
