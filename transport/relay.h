/*
 * The relay's client (docs/relay-protocol.md): a relay group as a blob store
 * over libcurl (transport/relay.c), one connection kept alive for the
 * store's life, every write signed by the device's key, the long-poll as
 * the store's wait_change and the group's quota as its usage.
 */
#ifndef DSYNC_TRANSPORT_RELAY_H
#define DSYNC_TRANSPORT_RELAY_H

#include <stdbool.h>

#include "transport/blobstore.h"
#include "transport/opts.h"

/*
 * Opens the group O->relay names on the relay at URL ("http[s]://host[:port]
 * [/path/]"): checks that URL is a relay (GET v1/: DSYNC_EUSAGE "'URL' is not
 * a dsync relay" otherwise); with O->relay->admit, makes the group first
 * when CREATE (PUT .group) and registers the device (PUT .device/ID).  A
 * wrong token or no such group: DSYNC_EAUTH, one message for both.
 */
int dsync_blobstore_relay_open(dsync_blobstore **out, const char *url, bool create, const dsync_transport_opts *o);

#endif
