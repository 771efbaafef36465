/*
 * Reaching a host through the user's OpenSSH client (docs/sftp.md section
 * 2): `ssh ... -s -- HOST sftp` with its stdin/stdout as the SFTP stream, so
 * everything in ~/.ssh/config works; how it failed read from its stderr.
 */
#ifndef DSYNC_TRANSPORT_SSH_EXEC_H
#define DSYNC_TRANSPORT_SSH_EXEC_H

#include <stdbool.h>

#include "transport/sftp_stream.h"
#include "transport/sftp_url.h"
#include "transport/transport.h"

/* Whether an ssh command exists for O: DSYNC_SSH_COMMAND or O's ssh_command
 * is set, or `ssh` is on PATH. */
bool dsync_ssh_exec_available(const dsync_transport_opts *o);

/* Starts ssh for U and hands its pipes as a stream. */
int dsync_ssh_exec_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o);

#endif
