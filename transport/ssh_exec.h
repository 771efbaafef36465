/*
 * Reaching a host through the user's OpenSSH client (docs/sftp.md section
 * 2): `ssh ... -s -- HOST sftp` with its stdin/stdout as the SFTP stream, so
 * everything in ~/.ssh/config works; how it failed read from its stderr.
 */
#ifndef DSYNC_TRANSPORT_SSH_EXEC_H
#define DSYNC_TRANSPORT_SSH_EXEC_H

#include <stdbool.h>

#include "transport/opts.h"
#include "transport/sftp_stream.h"
#include "transport/sftp_url.h"

/* Whether an ssh command exists for O: DSYNC_SSH_COMMAND or O's ssh_command
 * is set, or `ssh` is on PATH. */
bool dsync_ssh_exec_available(const dsync_transport_opts *o);

/* Starts ssh for U and hands its pipes as a stream.  ssh runs on: a refused
 * login or host key shows when the stream ends (its ended() classifies
 * ssh's stderr).  Fails only when ssh cannot be started. */
int dsync_ssh_exec_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o);

/*
 * The command that replaces `ssh`, from DSYNC_SSH_COMMAND (when set and not
 * empty) or O's ssh_command; NULL for plain `ssh`.  Not a copy.
 */
const char *dsync_ssh_exec_command(const dsync_transport_opts *o);

/*
 * The argument vector for U (docs/sftp.md section 2): CMD (NULL: "ssh") as
 * git runs GIT_SSH_COMMAND (one word when it holds no shell
 * metacharacter or blank, else `/bin/sh -c 'CMD "$@"' CMD ...`), then our
 * -o options, -oBatchMode=yes when BATCH, EXTRA (e.g. "-v") when not NULL, a
 * shared connection (ControlMaster=auto, ControlPath=SHARE/%C-%n,
 * ControlPersist) when
 * SHARE is not NULL, -p and -l when U names them, `-s -- HOST sftp`.  *OUT is
 * a NULL-ended malloc'd vector of malloc'd strings for
 * dsync_ssh_exec_argv_free().
 */
int dsync_ssh_exec_argv(char ***out, const dsync_sftp_url *u, const char *cmd, bool batch, const char *extra,
			const char *share);
void dsync_ssh_exec_argv_free(char **argv);

/*
 * The folder for shared connections' sockets (docs/sftp.md section 2.2), in
 * BUF: $XDG_RUNTIME_DIR/dsync, else $XDG_CACHE_HOME/dsync/ssh (or
 * ~/.cache/dsync/ssh), made 0700 when missing; only one that is ours alone
 * (our uid, no access for others, not a link) and short enough for a socket
 * name.  (A connection is shared only when, besides, its host's name fits
 * too and the user's own ssh config sets no ControlPath for it.)  Returns 1 with BUF set, or 0 (BUF empty) when connections are not
 * shared: DSYNC_SSH_SHARE is 0, no, false or off, or no folder qualifies.
 */
int dsync_ssh_exec_share_dir(char *buf, size_t n);

/* How ssh ended, as dsync_ssh_exec_classify() reads it. */
enum {
	DSYNC_SSH_EXEC_ENDED = 0,        /* no message we know: the connection ended */
	DSYNC_SSH_EXEC_AUTH,             /* Permission denied, too many failures... */
	DSYNC_SSH_EXEC_HOSTKEY_CHANGED,  /* REMOTE HOST IDENTIFICATION HAS CHANGED */
	DSYNC_SSH_EXEC_HOSTKEY_REVOKED,  /* REVOKED HOST KEY DETECTED */
	DSYNC_SSH_EXEC_HOSTKEY_UNKNOWN,  /* Host key verification failed, no warning */
	DSYNC_SSH_EXEC_UNREACHABLE,      /* refused, timed out, not resolved, closed before login */
	DSYNC_SSH_EXEC_NO_SFTP,          /* subsystem request failed */
	DSYNC_SSH_EXEC_DROPPED,          /* closed by the host or timed out after login */
	DSYNC_SSH_EXEC_NO_COMMAND        /* the command could not run (exit 126/127) */
};

/*
 * Reads ssh's stderr TEXT (NUL-ended; may hold \r) and its wait status
 * STATUS (-1 when it has not ended), sets a one-line error naming U and
 * returns it: DSYNC_EAUTH for a refused login or host key, DSYNC_ERROR
 * otherwise.  *KIND says which DSYNC_SSH_EXEC_* row matched.  For an
 * unknown host key, a `debug1: Server host key: TYPE SHA256:...` line in
 * TEXT (ssh -v) puts the fingerprint in the message; the message names the
 * command that accepts the key, run through CMD (NULL: "ssh").
 */
int dsync_ssh_exec_classify(int *kind, const char *text, int status, const dsync_sftp_url *u, const char *cmd);

#endif
