/*
 * A set of strings (open addressing on a 64-bit FNV-1a hash), so that a
 * walk over every change or every path asks "seen before?" in constant
 * time instead of comparing with each earlier one.
 */
#ifndef DSYNC_BASE_STRSET_H
#define DSYNC_BASE_STRSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dsync_strset {
	char **v;         /* cap slots, NULL where empty; the set owns the copies */
	size_t n, cap;    /* cap a power of two */
} dsync_strset;

#define DSYNC_STRSET_INIT { NULL, 0, 0 }

/* Adds a copy of the LEN bytes at S: 1 when new, 0 when already there, or
 * DSYNC_ERROR (out of memory). */
int dsync_strset_addn(dsync_strset *set, const char *s, size_t len);

/* Adds a copy of the C string S, as dsync_strset_addn. */
int dsync_strset_add(dsync_strset *set, const char *s);

/* Whether the set holds the C string S. */
bool dsync_strset_has(const dsync_strset *set, const char *s);

/* Empties SET and releases its memory. */
void dsync_strset_dispose(dsync_strset *set);

#endif
