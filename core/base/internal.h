/*
 * What every library source includes first: the public common header, the
 * system headers most modules use, and (last, so system headers are not
 * affected) the banned-function list.
 */
#ifndef DSYNC_INTERNAL_H
#define DSYNC_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"

#define DSYNC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DSYNC_STR_(x) #x
#define DSYNC_STR(x) DSYNC_STR_(x)

/*
 * Translates the libgit2 error that GIT_ERR (a negative libgit2 return) left
 * behind into a dsync error, prefixed with a printf-style context, and returns
 * the dsync code.
 */
int dsync_error_git(int git_err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Translates errno (ERRNO) into a dsync error, with a printf-style context
 * before the system's message, and returns the dsync code.
 */
int dsync_error_sys(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Sets the last error to "out of memory" and returns DSYNC_ERROR. */
int dsync_error_oom(void);

/* Room for a SHA-256/BLAKE2b-256 name in hex and its terminating NUL. */
#define DSYNC_HEX256_SIZE 65

/*
 * Initialises libgit2 (once; sealed from the user's git config, strict object
 * creation off).  Every module calls it, directly or through
 * dsync_folder_repo(), before its first libgit2 call.
 */
int dsync_lib_git_init(void);

/* Milliseconds of the monotonic clock (timeouts, deadlines, delays). */
int64_t dsync_now_ms(void);
/* Sleeps MS milliseconds (0 or less: not at all), a signal notwithstanding. */
void dsync_sleep_ms(int64_t ms);
/* How many threads a job that can use them takes: the processors online,
 * or DSYNC_THREADS when set, from 1 to MAX. */
int dsync_thread_count(int max);

/*
 * Test builds only: DFLT, or the value of the environment variable NAME (a
 * whole number from 0, with K, M or G for powers of 1024; anything else is
 * ignored): tests shorten grace periods, packs' sizes and thresholds.  A
 * Release build holds no such name: DSYNC_TEST_KNOB is DFLT itself.
 */
#ifdef DSYNC_TESTING
int64_t dsync_test_knob(const char *name, int64_t dflt);
#define DSYNC_TEST_KNOB(name, dflt) dsync_test_knob(name, dflt)
#else
#define DSYNC_TEST_KNOB(name, dflt) ((int64_t)(dflt))
#endif

#include "core/base/banned.h"

#endif
