/*
 * sftp:// blob stores (docs/sftp.md section 4): the blob store interface on
 * the pipelined SFTP client, over whichever stream reached the host.
 */
#ifndef DSYNC_TRANSPORT_SFTP_H
#define DSYNC_TRANSPORT_SFTP_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/blobstore.h"
#include "transport/sftp_stream.h"
#include "transport/sftp_url.h"

/*
 * Opens the store at U->path on the host STREAM reaches (taking STREAM: it
 * is closed on failure too): starts SFTP (INIT/VERSION, the extensions and
 * limits offered), and with CREATE makes the folder (mkdir -p, 0700) when
 * missing; without, a missing folder is DSYNC_ENOTFOUND ("no store at URL").
 * RATE_LIMIT: payload bytes per second each way, 0 for none.  The store's
 * url is U->url.  The connection stays open until the store is freed.
 */
int dsync_blobstore_sftp_open(dsync_blobstore **out, dsync_sftp_stream *stream, const dsync_sftp_url *u,
			      bool create, uint64_t rate_limit);

#endif
