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

#include "core/base/banned.h"

#endif
