/*
 * Binary deltas in git's pack format (copy and insert instructions against a
 * base), so that a push sends an edited file as what changed against the
 * version the remote already holds (core/thinpack.c).
 */
#ifndef DSYNC_BASE_DELTA_H
#define DSYNC_BASE_DELTA_H

#include <stddef.h>

#include "core/base/buf.h"

/*
 * Encodes TARGET (TLEN bytes) as a git delta against BASE (BLEN bytes) into
 * OUT (appended).  Returns 0, or 1 when the delta would exceed MAX bytes (not
 * worth it: OUT is then unspecified), or a negative DSYNC_E* code.
 */
int dsync_delta_make(dsync_buf *out, const unsigned char *base, size_t blen, const unsigned char *target,
		     size_t tlen, size_t max);

/* Applies DELTA to BASE into OUT (for tests and checks); DSYNC_ECORRUPT for
 * a delta that doesn't fit BASE. */
int dsync_delta_apply(dsync_buf *out, const unsigned char *base, size_t blen, const unsigned char *delta,
		      size_t dlen);

#endif
