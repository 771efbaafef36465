/*
 * What a caller tells a transport when it opens a store
 * (transport/transport.h's dsync_transport_open): whether and how to ask the
 * person at the terminal, which ssh client, the rate limit.  A header of its
 * own so that the transports transport.c includes can see it without
 * including transport.h.
 */
#ifndef DSYNC_TRANSPORT_OPTS_H
#define DSYNC_TRANSPORT_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "dsync/common.h"

/* What a transport may ask the person at the terminal (the same values as
 * include/dsync/sync.h's DSYNC_PROMPT_*, which transport/ may not see). */
enum {
	DSYNC_TRANSPORT_PROMPT_KEY_PASSPHRASE = 1, /* a private key's passphrase (echo off) */
	DSYNC_TRANSPORT_PROMPT_PASSWORD = 2,       /* a login password (echo off) */
	DSYNC_TRANSPORT_PROMPT_KBDINT = 3,         /* a keyboard-interactive question (echo as the server says) */
	DSYNC_TRANSPORT_PROMPT_HOSTKEY = 4         /* an unknown host key: the answer "yes", "no" or a fingerprint */
};

/* Asks TEXT (one or more lines; the last is the question) and sets *OUT to
 * a malloc'd answer (the caller wipes and frees it); DSYNC_EAUTH when there
 * is no answer (no terminal, end of input). */
typedef int (*dsync_transport_prompt_cb)(char **out, int kind, const char *text, bool echo, void *payload);

/* ssh modes: remote.NAME.ssh */
enum {
	DSYNC_SSH_AUTO = 0,    /* the user's ssh when one is on PATH (or a command is set), else built in */
	DSYNC_SSH_OPENSSH = 1, /* the user's OpenSSH client */
	DSYNC_SSH_BUILTIN = 2  /* libssh2 */
};

/* What a relay remote (http://, https://) needs besides its URL
 * (docs/relay-protocol.md sections 2 and 8): the core derives these from
 * the group name and the passphrase, and keeps all but ADMIT per user. */
typedef struct dsync_relay_creds {
	char group_id[33];          /* 32 hex digits */
	unsigned char token[32];    /* TOKEN: sent with every request */
	/* ADMIT (32 bytes), only while a device joins: NULL otherwise.  With it
	 * the open registers the device's signing key (PUT .device/ID), and
	 * with CREATE first makes the group (PUT .group). */
	const unsigned char *admit;
	char device_id[33];         /* this device's id (hex) */
	unsigned char sign_pk[32];  /* its ed25519 public key */
	unsigned char sign_sk[64];  /* and secret key: signs every write */
	const char *ca_file;        /* remote.NAME.caFile: a CA (or self-signed certificate) to trust; NULL: the system's */
	/* Added by the client (transport/relay.c) for its messages, which the
	 * CLI fixes: the group name as typed ("refused group 'NAME'") and the
	 * remote's name ("relay 'NAME' refused the upload"); NULL: the group
	 * id and the URL are named instead. */
	const char *group_name;
	const char *remote_name;
	/* Added by the core for a remote opened with its kept token: what the
	 * message of a refused token ("wrong passphrase, or no such group")
	 * adds, the way out when the group's passphrase changed on another
	 * device; NULL: nothing. */
	const char *refused_hint;
} dsync_relay_creds;

typedef struct dsync_transport_opts {
	/* May ask questions (a terminal is there and this is not the watcher):
	 * false makes ssh run with BatchMode and the built-in client refuse
	 * what it would ask. */
	bool interactive;
	int ssh_mode;                     /* DSYNC_SSH_* */
	const char *ssh_command;          /* remote.NAME.sshCommand (NULL: none; DSYNC_SSH_COMMAND wins) */
	uint64_t rate_limit;              /* bytes per second, each way, per connection; 0: none */
	dsync_transport_prompt_cb prompt; /* may be NULL: nothing is asked */
	void *payload;
	dsync_warn_cb warn;               /* may be NULL: one-line warnings (ssh config the built-in client ignores) */
	const dsync_relay_creds *relay;   /* a relay remote's credentials (required for http:// and https://) */
	/* Added by the core for dsync status's quick question to a relay: how
	 * long making the connection may take, in ms (0: the transport's own). */
	int connect_timeout_ms;
} dsync_transport_opts;

#endif
