/*
 * Uploads to the relay (transport/relay_put.c, docs/relay-protocol.md
 * section 4.2): the relay store's put.
 */
#ifndef DSYNC_TRANSPORT_RELAY_PUT_H
#define DSYNC_TRANSPORT_RELAY_PUT_H

#include "transport/blobstore.h"

/* The blob store's put for a relay store (relay.c's): the bytes of FD from
 * its current offset to its end, signed, resumed when cut. */
int dsync_relay_put_blob(dsync_blobstore *bs, const char *name, int fd, dsync_blobstore_xfer_cb xfer, void *payload);

#endif
