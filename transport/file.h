/*
 * The file:// blob store (transport/file.c): blobs are files under a folder
 * on a file system this machine mounts.
 */
#ifndef DSYNC_TRANSPORT_FILE_H
#define DSYNC_TRANSPORT_FILE_H

#include <stdbool.h>

/* The interface is transport/blobstore.h's, which opens this store by its
 * URL: the handle is named, not included, so the two headers make no circle. */
struct dsync_blobstore;

/* Opens the blob store in the folder PATH (absolute, or relative to the
 * current directory); CREATE makes it (mkdir -p) when missing. */
int dsync_blobstore_file_open(struct dsync_blobstore **out, const char *path, bool create);

#endif
