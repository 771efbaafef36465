/* ~/.ssh/config and known_hosts for the built-in client.  Placeholder. */
#include "core/base/internal.h"
