/*
 * Bandwidths: dsync_rate_parse() (declared in include/dsync/common.h, as
 * both the program and the config reading call it) is defined in rate.c.
 */
#ifndef DSYNC_CORE_BASE_RATE_H
#define DSYNC_CORE_BASE_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "dsync/common.h"

#endif
