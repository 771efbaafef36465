/*
 * Reaching a host with the built-in SSH client, libssh2 1.10 (docs/sftp.md
 * section 3): the subset of ~/.ssh/config that says where and as whom,
 * known_hosts read by us (hashed entries, [host]:port, @revoked), the
 * host-key preference taken from it, ssh-agent, key files, then
 * keyboard-interactive and password on a terminal; a channel running the
 * sftp subsystem as the stream.
 */
#ifndef DSYNC_TRANSPORT_SSH_BUILTIN_H
#define DSYNC_TRANSPORT_SSH_BUILTIN_H

#include "transport/opts.h"
#include "transport/sftp_stream.h"
#include "transport/sftp_url.h"

/* Connects, checks the host key, logs in and opens the sftp subsystem:
 * DSYNC_EAUTH (exit 5) for a refused login or host key, DSYNC_ERROR for an
 * unreachable host, each with a one-line message. */
int dsync_ssh_builtin_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o);

#endif
