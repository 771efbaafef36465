/*
 * What the sftp:// blob store (sftp.c, sftp_list.c) and the plain folder of
 * a mirror (sftp_folder.c) share on the pipelined SFTP client
 * (transport/sftp_xfer.c): one request's reply as a callback saw it, and a
 * file's bytes moved between a local fd and an open SFTP handle with the
 * READs or WRITEs pipelined, in bounded memory.
 */
#ifndef DSYNC_TRANSPORT_SFTP_XFER_H
#define DSYNC_TRANSPORT_SFTP_XFER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "transport/sftp_client.h"
#include "transport/sftp_url.h"

/* The reply to one request, as a callback saw it */
typedef struct one {
	unsigned *left; /* counted down when the reply comes */
	uint8_t type;
	uint32_t status;
	char message[DSYNC_SFTP_MESSAGE_SIZE];
	dsync_sftp_handle handle;
	dsync_sftp_attrs attrs;
} one;

/* Records a reply into the `one` at CTX and counts its left down */
void dsync_sftp_got_one(const dsync_sftp_reply *r, void *ctx, uint64_t tag);
/* For replies nobody waits for (a CLOSE after the work is done) */
void dsync_sftp_got_nothing(const dsync_sftp_reply *r, void *ctx, uint64_t tag);

/* Sends one request (CALL, which must use dsync_sftp_got_one with O) on the
 * client C and waits for its reply into O. */
#define DSYNC_SFTP_ONE_CALL(c, o, call)                                        \
	({                                                                     \
		unsigned left_ = 1;                                            \
		int e_;                                                        \
		(o)->left = &left_;                                            \
		e_ = (call);                                                   \
		if (e_ == 0)                                                   \
			e_ = dsync_sftp_client_wait_count((c), &left_);        \
		e_;                                                            \
	})

static inline bool dsync_sftp_is_status(const one *o, uint32_t status)
{
	return o->type == DSYNC_SFTP_STATUS && o->status == status;
}

bool dsync_sftp_attrs_is_file(const dsync_sftp_attrs *a);
bool dsync_sftp_attrs_is_dir(const dsync_sftp_attrs *a);

/* The error for reply O, which was not what was hoped for: "WHAT NAME
 * WHERE: MESSAGE" (NAME may be ""; WHERE is "in the store at URL", "on
 * HOST"...). */
int dsync_sftp_reply_error(const one *o, const char *what, const char *name, const char *where);

/* OUT: the server's path of NAME in the folder ROOT ("" for the login
 * folder, "/", or a path without a trailing '/'); NAME "" is ROOT itself. */
int dsync_sftp_path_join(dsync_buf *out, const char *root, const char *name);

/* mkdir -p PATH (a server path), new folders with PERMS; DEPTH bounds the
 * climb; a folder already there is fine, a file there DSYNC_ENOTDIR.
 * WHERE is for messages. */
int dsync_sftp_mkdirs(dsync_sftp_client *c, const char *path, uint32_t perms, int depth, const char *where);

/*
 * Starts the client *C on STREAM (taking it: closed on failure too) and
 * reaches U's folder as opening a store or a mirror's folder finds it:
 * *ROOT is U->path without a trailing '/' (malloc'd); STAT (links
 * followed), a file there DSYNC_ENOTDIR ("URL is not a folder"), a missing
 * one made with CREATE (mkdir -p, 0700, DEPTH deep at most) or
 * DSYNC_ENOTFOUND ("no KIND at URL"); then the client's start-up is
 * waited for.  WHERE is for messages.  On failure *C and *ROOT are NULL.
 */
int dsync_sftp_open_top(dsync_sftp_client **c, char **root, dsync_sftp_stream *stream, const dsync_sftp_url *u,
			bool create, uint64_t rate_limit, int depth, const char *kind, const char *where);

/* Reports the bytes moved so far (a blob store's progress) */
typedef void (*dsync_sftp_xfer_cb)(uint64_t bytes, void *payload);

/* A read of an open handle into a local fd */
typedef struct dsync_sftp_get {
	dsync_sftp_client *c;
	const dsync_sftp_handle *h;
	const char *name;  /* for messages */
	const char *where; /* for messages: "in the store at URL", "on HOST" */
	uint64_t size;     /* what LSTAT said (0: unknown); set to what the handle's FSTAT said */
	uint64_t max;      /* a larger file is refused (0: no limit) */
	int max_code;      /* with this code */
	/* A file that shrank while it was read ends where it ends (a
	 * folder's files are live; the caller compares the FSTAT after);
	 * without, that is DSYNC_ECORRUPT (a store's blobs never change). */
	bool to_eof;
	dsync_sftp_xfer_cb xfer;
	void *payload;
	uint64_t written; /* out: bytes written to the fd */
	bool over_max;    /* out: refused for MAX */
} dsync_sftp_get;

/* FSTATs G->h, then READs it (pipelined, at most the client's window in
 * memory) into FD from its current position, up to the size FSTAT said. */
int dsync_sftp_xfer_get(dsync_sftp_get *g, int fd);

/* WRITEs what FD holds from its current position to its end into the open
 * handle H (pipelined) and waits for every answer; *WRITTEN (may be NULL):
 * the bytes the server took.  NAME and WHERE are for messages. */
int dsync_sftp_xfer_put(dsync_sftp_client *c, const dsync_sftp_handle *h, int fd, const char *name,
			const char *where, dsync_sftp_xfer_cb xfer, void *payload, uint64_t *written);

#endif
