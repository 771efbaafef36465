/*
 * Conflict copies' names (DESIGN.md section 6): made the same on every
 * device, told apart from other names, and read back.
 */
#ifndef DSYNC_NAMES_H
#define DSYNC_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/base/buf.h"

/* The longest name a conflict copy gets, in bytes (the common file-system
 * limit); a longer original is shortened before the suffix. */
#define DSYNC_NAME_MAX 255

/*
 * Appends to OUT the conflict copy's path for PATH ('/'-separated; only the
 * last component changes): NAME.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.EXT,
 * with WHEN the UTC time of the commit that made the copy's content, DEVICE
 * the name of the device that wrote it (made safe for a file name), EXT the
 * last extension only (a.tar.gz -> a.tar.sync-conflict-...gz; .bashrc has
 * none), and "-N" after DEVICE when N > 1 (a clash).  Every device computes
 * the same name from the same inputs.
 */
int dsync_copyname_make(dsync_buf *out, const char *path, const char *device, time_t when, unsigned n);

/* Whether the last component of PATH is a conflict copy's name (a conflict
 * copy is never itself conflict-copied). */
bool dsync_copyname_is_copy(const char *path);

/* A conflict copy's name, read back (offsets are into the whole path). */
typedef struct dsync_copyname_parts {
	time_t when;          /* the UTC time in the name */
	char device[33];      /* the device as in the name (made safe) */
	unsigned n;           /* the clash number (1: none) */
	size_t dir_len;       /* the folder part, up to and with the last '/' */
	size_t base_end;      /* where ".sync-conflict-" starts */
	size_t device_end;    /* where the device ends (before any "-N") */
	size_t ext;           /* where the extension starts (the end: none) */
} dsync_copyname_parts;

/* Reads the conflict copy's PATH into OUT; DSYNC_ENOTFOUND (no message)
 * when its last component is not a conflict copy's name. */
int dsync_copyname_parse(dsync_copyname_parts *out, const char *path);

/* Appends to OUT the path the conflict copy PATH is a copy of (as named
 * when it was made; a name shortened to fit 255 bytes stays short). */
int dsync_copyname_original(dsync_buf *out, const char *path);

/* Appends to OUT the conflict copy PATH's name with the clash number N
 * (1: none) instead of its own: where a second version of a conflict copy
 * goes (a copy is never itself conflict-copied). */
int dsync_copyname_renumber(dsync_buf *out, const char *path, unsigned n);

#endif
