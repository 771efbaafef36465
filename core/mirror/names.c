/* core/mirror/names.c: see mirror_internal.h (to be written) */
#include "core/base/internal.h"

#include "core/mirror/mirror_internal.h"
