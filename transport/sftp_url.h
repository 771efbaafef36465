/*
 * ssh addresses (docs/sftp.md section 1): sftp://[user@]host[:port]/path,
 * ssh://... and the scp form [user@]host:path, told apart from local paths
 * by git's rule (no ':' before the first '/').
 */
#ifndef DSYNC_TRANSPORT_SFTP_URL_H
#define DSYNC_TRANSPORT_SFTP_URL_H

#include <stdbool.h>

typedef struct dsync_sftp_url {
	char user[128];  /* "" when the URL names none (~/.ssh/config decides) */
	char host[256];  /* without brackets for IPv6 */
	int port;        /* 0 when the URL names none */
	char path[4096]; /* absolute ("/srv/x"), or relative to the login folder ("x", "" for the login folder itself) */
	char url[4500];  /* normalised: sftp://[user@]host[:port]/abs or sftp://.../~/rel */
	char label[300]; /* [user@]host[:port] for messages */
} dsync_sftp_url;

/* True when IN is an ssh address (any form); false for local paths and
 * other schemes. */
bool dsync_sftp_url_is_ssh(const char *in);

/* Parses IN into OUT: 0, or DSYNC_EUSAGE with a one-line message (a host
 * or user starting with '-', ~user/, a control byte, a bad port...). */
int dsync_sftp_url_parse(const char *in, dsync_sftp_url *out);

#endif
