/*
 * The pipelined SFTP v3 client (docs/sftp.md section 4) over a byte stream
 * (sftp_stream.h).  It owns the stream, keeps a table of outstanding requests
 * (at most DSYNC_SFTP_CLIENT_MAX_PENDING, DSYNC_SFTP_CLIENT_MAX_INFLIGHT
 * bytes), and matches each reply to its request by id: a reply to an id not
 * outstanding, or of a type its request can't get, is DSYNC_ECORRUPT.
 *
 * A caller queues requests, each with a callback that gets the decoded reply
 * (valid only during the call), and pumps the client until the replies it
 * waits for came.  Callbacks only record what they got: they never queue
 * requests or call back into the client.  Queuing waits (reading replies
 * meanwhile, so neither side can block the other) while the table is full
 * or the rate limit holds the next request back.
 *
 * Once the connection fails (the stream ended, a protocol error, a stall),
 * the client is broken: the outstanding requests are dropped without their
 * callbacks, and every later call returns the same error.
 */
#ifndef DSYNC_TRANSPORT_SFTP_CLIENT_H
#define DSYNC_TRANSPORT_SFTP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/sftp_proto.h"
#include "transport/sftp_stream.h"

#define DSYNC_SFTP_CLIENT_MAX_PENDING 64
#define DSYNC_SFTP_CLIENT_MAX_INFLIGHT (16u * 1024u * 1024u)
/* A stream that received nothing for this long while replies were awaited
 * stalled (tests shorten it with DSYNC_TEST_SFTP_STALL=SECONDS) */
#define DSYNC_SFTP_CLIENT_STALL_SECONDS 60

/* Extensions the client uses (bits of dsync_sftp_client_extensions) */
#define DSYNC_SFTP_CLIENT_EXT_POSIX_RENAME DSYNC_SFTP_EXT_POSIX_RENAME
#define DSYNC_SFTP_CLIENT_EXT_FSYNC DSYNC_SFTP_EXT_FSYNC
#define DSYNC_SFTP_CLIENT_EXT_LIMITS DSYNC_SFTP_EXT_LIMITS

typedef struct dsync_sftp_client dsync_sftp_client;

/* Gets the reply to one request.  CTX and TAG are what the request was
 * queued with. */
typedef void (*dsync_sftp_reply_cb)(const dsync_sftp_reply *reply, void *ctx, uint64_t tag);

/*
 * Starts SFTP on STREAM (taking it: it is closed on failure too): INIT 3,
 * the VERSION reply (a server that does not speak 3 is refused), the
 * extensions we use, and a request for the server's limits when it offers
 * limits@openssh.com (see dsync_sftp_client_ready).  RATE_LIMIT: payload bytes per second each way, 0 for
 * none.
 */
int dsync_sftp_client_open(dsync_sftp_client **out, dsync_sftp_stream *stream, uint64_t rate_limit);

/* Closes the stream and frees C; accepts NULL.  Outstanding requests are
 * dropped. */
void dsync_sftp_client_free(dsync_sftp_client *c);

/* The DSYNC_SFTP_CLIENT_EXT_* bits of the extensions the server offers (and
 * test builds did not hide). */
unsigned dsync_sftp_client_extensions(const dsync_sftp_client *c);

/* Waits for the answer to the start-up's limits@openssh.com request, which
 * open queues but does not wait for (it goes in one flight with the
 * caller's first requests).  READ and WRITE wait for it themselves. */
int dsync_sftp_client_ready(dsync_sftp_client *c);

/* How many bytes a READ should ask for and a WRITE carry: the server's
 * limit, shrunk under a low rate limit so pacing stays smooth (final once
 * dsync_sftp_client_ready returned). */
uint32_t dsync_sftp_client_chunk(const dsync_sftp_client *c);

/* The stream's label ("[user@]host[:port]"), for messages. */
const char *dsync_sftp_client_label(const dsync_sftp_client *c);

/* How many requests are outstanding. */
unsigned dsync_sftp_client_pending(const dsync_sftp_client *c);

/*
 * Sends what is queued and reads replies, calling their callbacks.  Returns
 * once at least one reply was handled (waiting for one when requests are
 * outstanding), at once when none is outstanding, or a negative DSYNC_E*
 * code when the connection failed.
 */
int dsync_sftp_client_pump(dsync_sftp_client *c);

/* Pumps until *COUNT is 0 (callbacks count their replies down). */
int dsync_sftp_client_wait_count(dsync_sftp_client *c, const unsigned *count);

/*
 * Requests.  Each waits for room in the table (and, for READ and WRITE, for
 * the rate limit), queues the packet, and returns 0 or a negative DSYNC_E*
 * code (the connection failed, or a path too long for a packet).  CB gets the
 * reply with CTX and TAG.
 */
int dsync_sftp_client_open_file(dsync_sftp_client *c, const char *path, uint32_t pflags,
				const dsync_sftp_attrs *attrs, dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);
int dsync_sftp_client_close_handle(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb,
				   void *ctx, uint64_t tag);
int dsync_sftp_client_read(dsync_sftp_client *c, const dsync_sftp_handle *h, uint64_t offset, uint32_t len,
			   dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);
int dsync_sftp_client_write(dsync_sftp_client *c, const dsync_sftp_handle *h, uint64_t offset, const void *data,
			    uint32_t len, dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);
int dsync_sftp_client_lstat(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag);
int dsync_sftp_client_stat(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			   uint64_t tag);
int dsync_sftp_client_fstat(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag);
int dsync_sftp_client_opendir(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			      uint64_t tag);
int dsync_sftp_client_readdir(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb, void *ctx,
			      uint64_t tag);
int dsync_sftp_client_remove(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			     uint64_t tag);
int dsync_sftp_client_mkdir(dsync_sftp_client *c, const char *path, const dsync_sftp_attrs *attrs,
			    dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);
int dsync_sftp_client_rmdir(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag);
/* SETSTAT: ATTRS's fields (a file's times, say) set on PATH, links followed */
int dsync_sftp_client_setstat(dsync_sftp_client *c, const char *path, const dsync_sftp_attrs *attrs,
			      dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);
/* RENAME (refused by OpenSSH when NEWPATH exists) */
int dsync_sftp_client_rename(dsync_sftp_client *c, const char *oldpath, const char *newpath,
			     dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);
/* posix-rename@openssh.com (replaces NEWPATH atomically); only when offered */
int dsync_sftp_client_posix_rename(dsync_sftp_client *c, const char *oldpath, const char *newpath,
				   dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);
/* fsync@openssh.com; only when offered */
int dsync_sftp_client_fsync(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag);

#endif
