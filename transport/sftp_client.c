/* The pipelined SFTP v3 client (transport/sftp_client.h).  Placeholder. */
#include "core/base/internal.h"
