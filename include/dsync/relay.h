/*
 * dsync — the relay server (DESIGN.md section 7, docs/relay-protocol.md):
 * `dsync relay` stores ciphertext for groups of devices and tells them the
 * moment something changed.
 */
#ifndef DSYNC_RELAY_H
#define DSYNC_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "dsync/common.h"

typedef struct dsync_relay_config {
	const char *listen;       /* "ADDR:PORT" ("127.0.0.1:0": a free port; "[::1]:P" for IPv6) */
	const char *data_dir;     /* its whole state (made when missing) */
	const char *s3_url;       /* or a bucket several relays may share (docs/relay-protocol.md section 14) */
	const char *s3_spool;     /* the folder of uploads in progress with s3_url (NULL: $TMPDIR or /tmp) */
	uint64_t quota;           /* default quota of a new group, bytes; 0: none */
	const char *tls_cert;     /* PEM files: both or neither */
	const char *tls_key;
	uint64_t max_blob;        /* 0: the defaults of docs/relay-protocol.md section 3 */
	uint64_t max_blobs;
	uint64_t max_groups;
	unsigned max_polls;
	unsigned threads;         /* 0: the number of cores */
	bool trust_proxy;         /* the client's address from X-Forwarded-For */
	/* Called once the socket listens, with "ADDR:PORT" as bound (the port
	 * picked when 0 was asked): `dsync relay` prints "listening on ...". */
	void (*ready)(const char *addr, void *payload);
	/* One line per refused request and per event (never a token); NULL:
	 * none. */
	dsync_warn_cb log;
	void *payload;
} dsync_relay_config;

/*
 * Runs the relay until SIGTERM or SIGINT (then: stops accepting, answers
 * every waiting poll, lets uploads finish for up to 10 s).  0 after a clean
 * stop; DSYNC_EUSAGE for a bad address, a data folder that isn't a relay's
 * or unreadable TLS files (one line says which).
 */
int dsync_relay_run(const dsync_relay_config *c);

#endif
