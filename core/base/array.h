/*
 * Growable arrays: one definition instead of a hand-rolled pointer, count and
 * capacity in every module (the shape libgit2's git_array_t has).
 *
 *	DSYNC_ARRAY(git_oid) ids = DSYNC_ARRAY_INIT;
 *	if (dsync_array_push(ids, *oid) < 0)
 *		return dsync_error_oom();
 *	...
 *	dsync_array_dispose(ids);
 *
 * Growth doubles (from 16 items) and checks every multiplication for overflow;
 * on failure the array is unchanged.  The fields are plain: ptr[0..size) are
 * the items, asize the room allocated.
 */
#ifndef DSYNC_ARRAY_H
#define DSYNC_ARRAY_H

#include <stddef.h>
#include <stdlib.h>

#define DSYNC_ARRAY(type) struct { type *ptr; size_t size, asize; }
#define DSYNC_ARRAY_INIT { NULL, 0, 0 }

/* Makes room for at least NEED items of ITEM_SIZE bytes in the array whose
 * pointer is at PTRP (any T **, passed as void *) and capacity at ASIZE.
 * Returns 0, or -1 (nothing changed) when out of memory or on overflow; it
 * sets no error: callers report dsync_error_oom(). */
int dsync_array_grow_(void *ptrp, size_t *asize, size_t need, size_t item_size);

/* Room for N items in all: 0 or -1. */
#define dsync_array_reserve(a, n) \
	((size_t)(n) <= (a).asize ? 0 : dsync_array_grow_(&(a).ptr, &(a).asize, (n), sizeof(*(a).ptr)))

/* Appends ITEM (copied): 0 or -1 (out of memory; the array is unchanged). */
#define dsync_array_push(a, item) \
	(dsync_array_reserve((a), (a).size + 1) < 0 ? -1 : ((a).ptr[(a).size++] = (item), 0))

/* Frees the items' storage (not what they point to) and empties the array. */
#define dsync_array_dispose(a) \
	do { free((a).ptr); (a).ptr = NULL; (a).size = (a).asize = 0; } while (0)

/*
 * The one list of owned strings (messages, names, paths): each item a copy
 * the list frees.
 */
typedef DSYNC_ARRAY(char *) dsync_strlist;
#define DSYNC_STRLIST_INIT DSYNC_ARRAY_INIT

/* Appends a copy of S: 0, or -1 with the error set. */
int dsync_strlist_add(dsync_strlist *l, const char *s);

/* Appends a printf-style formatted string: 0, or -1 with the error set. */
int dsync_strlist_addf(dsync_strlist *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Hands the strings over as a NULL-terminated vector (*OUT, the caller frees
 * each and the vector; *COUNT the number, may be NULL) and empties L. */
int dsync_strlist_detach(char ***out, size_t *count, dsync_strlist *l);

/* Frees every string and the storage. */
void dsync_strlist_dispose(dsync_strlist *l);

#endif
