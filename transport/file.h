/*
 * The file:// blob store (transport/file.c): blobs are files under a folder
 * on a file system this machine mounts.
 */
#ifndef DSYNC_TRANSPORT_FILE_H
#define DSYNC_TRANSPORT_FILE_H

#include <stdbool.h>

#include "transport/blobstore.h"

/* Opens the blob store in the folder PATH (absolute, or relative to the
 * current directory); CREATE makes it (mkdir -p) when missing. */
int dsync_blobstore_file_open(dsync_blobstore **out, const char *path, bool create);

#endif
