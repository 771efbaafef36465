/*
 * Opening a blob store by its URL (transport/transport.c): the scheme picks
 * the transport; everything after works through transport/blobstore.h.
 */
#ifndef DSYNC_TRANSPORT_TRANSPORT_H
#define DSYNC_TRANSPORT_TRANSPORT_H

#include <stdbool.h>

struct dsync_blobstore;

/* The options (prompts, ssh mode, rate limit) are in transport/opts.h, which
 * the transports include without this header: transport.c includes theirs. */
#include "transport/opts.h"

/*
 * Opens the blob store at URL: "file:///abs/path", a plain path (absolute or
 * relative to the current directory), "sftp://[user@]host[:port]/path",
 * "ssh://..." or the scp form "[user@]host:path", or a relay's
 * "http[s]://host[:port][/path/]" (O->relay required: the group's
 * credentials), or an S3 bucket's "s3://host[:port]/bucket[/prefix]" or
 * "s3+http://..." (transport/s3.h; CREATE makes a missing bucket).  CREATE makes the place (mkdir -p; a relay's group, when
 * O->relay->admit is given) when it doesn't exist.  O may be NULL
 * (defaults: not interactive, auto, no limit).  An unknown scheme is
 * DSYNC_EUSAGE.
 */
int dsync_transport_open(struct dsync_blobstore **out, const char *url, bool create,
			 const dsync_transport_opts *o);

/*
 * Opens the plain folder at URL (sftp://, ssh:// or the scp form; anything
 * else is DSYNC_EUSAGE: "a mirror needs an ssh location") for a mirror:
 * transport/sftp_folder.h.  CREATE makes it when missing.
 */
struct dsync_sftp_folder;
int dsync_transport_open_folder(struct dsync_sftp_folder **out, const char *url, bool create,
				const dsync_transport_opts *o);

/* Whether URL names a place reached over ssh (any of the three forms). */
bool dsync_transport_is_ssh(const char *url);

/* Whether URL names a relay (http:// or https://). */
bool dsync_transport_is_relay(const char *url);

#endif
