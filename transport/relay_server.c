/* relay_server.c: being written (issue 15) */
#include "core/base/internal.h"

#include "dsync/relay.h"
