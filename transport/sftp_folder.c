/* transport/sftp_folder.c: see sftp_folder.h (to be written) */
#include "core/base/internal.h"

#include "transport/sftp_folder.h"
