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
 * Initialises libgit2 (once; sealed from the user's git config, strict object
 * creation off).  Every module calls it, directly or through
 * dsync_folder_repo(), before its first libgit2 call.
 */
int dsync_git_init(void);

#include "core/base/banned.h"

#endif
