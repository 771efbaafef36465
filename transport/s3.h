/*
 * The s3:// and s3+http:// blob store (transport/s3.c, docs/remotes-s3.md):
 * a bucket and key prefix on any S3-compatible server, each blob one
 * object, over the S3 client (transport/s3_client.h).
 */
#ifndef DSYNC_TRANSPORT_S3_H
#define DSYNC_TRANSPORT_S3_H

#include <stdbool.h>

#include "transport/blobstore.h"
#include "transport/opts.h"

/*
 * Opens the store at URL (s3://HOST[:PORT]/BUCKET[/PREFIX], or s3+http://
 * for plain http): finds the credentials, then lists one key under the
 * prefix, which tells a refused key (DSYNC_EAUTH), a missing bucket (made
 * when CREATE; else DSYNC_ENOTFOUND) or a server that can't be reached
 * (DSYNC_ERROR) at once.  O may be NULL.
 */
int dsync_blobstore_s3_open(dsync_blobstore **out, const char *url, bool create, const dsync_transport_opts *o);

#endif
