/* relay_proto.c: being written (issue 15) */
#include "core/base/internal.h"

#include "transport/relay_proto.h"
