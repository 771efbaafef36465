/* cmd/mirror.c: dsync mirror (to be written) */
#include "dsync/mirror.h"

#include "cmd.h"
