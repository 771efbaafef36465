/*
 * A byte stream that carries SFTP (docs/sftp.md section 0): the pipes of an
 * `ssh -s HOST sftp` process (ssh_exec.c), a libssh2 channel running the
 * sftp subsystem (ssh_builtin.c), or, in tests, a socket to a local
 * sftp-server.  The SFTP client (sftp_client.c) talks only to this, so it
 * does not care which carries its bytes.
 *
 * Nothing here blocks except wait(): the client sends requests while it reads
 * replies, and a server whose replies we do not read stops reading requests.
 */
#ifndef DSYNC_TRANSPORT_SFTP_STREAM_H
#define DSYNC_TRANSPORT_SFTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DSYNC_SFTP_WANT_SEND 1u
#define DSYNC_SFTP_WANT_RECV 2u

typedef struct dsync_sftp_stream dsync_sftp_stream;

struct dsync_sftp_stream {
	/* Takes up to LEN bytes of BUF without waiting: how many it took (0
	 * when none can go now), or a negative DSYNC_E* code with the message
	 * set.  Never raises SIGPIPE. */
	ssize_t (*send)(dsync_sftp_stream *s, const void *buf, size_t len);
	/* Gives up to LEN bytes without waiting: how many (0 when none are
	 * there now; *EOF set when the stream has ended), or a negative
	 * DSYNC_E* code. */
	ssize_t (*recv)(dsync_sftp_stream *s, void *buf, size_t len, bool *eof);
	/* Waits until send (WANT_SEND) or recv (WANT_RECV) can make progress,
	 * or TIMEOUT_MS pass (-1: no limit); sends keep-alives meanwhile.
	 * Returns 0 (progress may be possible, or the time passed) or a
	 * negative DSYNC_E* code. */
	int (*wait)(dsync_sftp_stream *s, unsigned want, int timeout_ms);
	/* The stream ended early (EOF before the client closed it, or an I/O
	 * error): waits a little for the carrier to end, sets the error from
	 * why it did (ssh's stderr classified: DSYNC_EAUTH for a refused login
	 * or host key, DSYNC_ERROR for an unreachable or dropped host) and
	 * returns that code. */
	int (*ended)(dsync_sftp_stream *s);
	/* Ends the stream (EOF to the server, the carrier waited for, killed
	 * after a few seconds) and frees it. */
	void (*close)(dsync_sftp_stream *s);
	/* "[user@]host[:port]" as the user wrote it, for messages. */
	char label[256];
};

#endif
