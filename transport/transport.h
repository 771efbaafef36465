/*
 * Opening a blob store by its URL (transport/transport.c): the scheme picks
 * the transport; everything after works through transport/blobstore.h.
 */
#ifndef DSYNC_TRANSPORT_TRANSPORT_H
#define DSYNC_TRANSPORT_TRANSPORT_H

#include <stdbool.h>

struct dsync_blobstore;

/*
 * Opens the blob store at URL: "file:///abs/path", or a plain path (absolute
 * or relative to the current directory), for now.  CREATE makes the place
 * (mkdir -p) when it doesn't exist.  An unknown scheme is DSYNC_EUSAGE.
 */
int dsync_transport_open(struct dsync_blobstore **out, const char *url, bool create);

#endif
