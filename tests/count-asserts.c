/*
 * Counts the cmocka checks a unit test program executes (for count.sh):
 * preloaded, it stands in front of libcmocka's _assert_* and _fail, counts
 * each call and passes it on; at exit it prints "asserts: N" to stderr.
 * Every one of these takes at most six integer or pointer arguments, so on
 * x86-64 one forwarder with six register-sized arguments fits them all (the
 * float comparisons are left out).
 *
 *   cc -shared -fPIC -o count-asserts.so tests/count-asserts.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

typedef long word;
typedef void (*fwd)(word, word, word, word, word, word);

static unsigned long calls;

static void report(void) __attribute__((destructor));
static void report(void)
{
	fprintf(stderr, "asserts: %lu\n", calls);
}

#define FORWARD(name)                                                              \
	void name(word a, word b, word c, word d, word e, word f);                 \
	void name(word a, word b, word c, word d, word e, word f)                  \
	{                                                                          \
		static fwd real;                                                   \
		if (!real)                                                         \
			real = (fwd)dlsym(RTLD_NEXT, #name);                       \
		calls++;                                                           \
		real(a, b, c, d, e, f);                                            \
	}

FORWARD(_assert_true)
FORWARD(_assert_int_equal)
FORWARD(_assert_int_not_equal)
FORWARD(_assert_string_equal)
FORWARD(_assert_string_not_equal)
FORWARD(_assert_memory_equal)
FORWARD(_assert_memory_not_equal)
FORWARD(_assert_in_range)
FORWARD(_assert_not_in_range)
FORWARD(_assert_in_set)
FORWARD(_assert_not_in_set)
FORWARD(_assert_return_code)
FORWARD(_fail)
