/*
 * A set of object ids (open addressing), for walks over histories.
 */
#ifndef DSYNC_BASE_OIDSET_H
#define DSYNC_BASE_OIDSET_H

#include <git2.h>
#include <stdbool.h>

typedef struct dsync_oidset {
	git_oid *v;
	size_t n, cap;    /* cap a power of two; zero ids are empty slots */
} dsync_oidset;

/* Adds ID: 1 when it was new, 0 when already there, or DSYNC_ERROR. */
int dsync_oidset_add(dsync_oidset *s, const git_oid *id);
bool dsync_oidset_has(const dsync_oidset *s, const git_oid *id);
void dsync_oidset_dispose(dsync_oidset *s);

#endif
