/*
 * Logging in with the built-in SSH client (docs/sftp.md section 3), after
 * the host key was checked: ssh-agent (RSA identities passed over: libssh2
 * 1.10 signs only with ssh-rsa, which OpenSSH 8.8 and later refuse), then
 * the config's IdentityFiles or ~/.ssh/id_ed25519 and id_ecdsa (RSA key
 * files last; a key's passphrase asked on a terminal, three tries), then
 * keyboard-interactive and password on a terminal.
 */
#ifndef DSYNC_TRANSPORT_SSH_AUTH_H
#define DSYNC_TRANSPORT_SSH_AUTH_H

#include <libssh2.h>

#include "transport/opts.h"
#include "transport/ssh_config.h"

/* Logs in to session S (after its handshake) as CFG's user; LABEL
 * ("user@host[:port]") and HOME are for messages.  0, DSYNC_EAUTH with one
 * line (what was tried; for an RSA-only setup, why it can't work and what
 * to do), or DSYNC_ERROR when the connection ended. */
int dsync_ssh_auth_login(LIBSSH2_SESSION *s, const dsync_ssh_config *cfg, const dsync_transport_opts *o,
			 const char *label, const char *home);

#endif
