/*
 * Bandwidths (include/dsync/common.h's dsync_rate_parse) and their text.
 */
#ifndef DSYNC_CORE_BASE_RATE_H
#define DSYNC_CORE_BASE_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "dsync/common.h"

#endif
