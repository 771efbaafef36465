/*
 * libFuzzer target for what transport/ reads that a person or ssh wrote:
 * the first byte picks one.  0: the rest is an address for
 * dsync_sftp_url_parse; an address taken must hold no control byte, no host
 * or user starting with '-', and its normalised URL must read back as the
 * same place.  1: the rest is ssh's stderr (part of it the server's words)
 * for dsync_ssh_exec_classify; the message must be one line without control
 * bytes.  replay.c runs the same function over the seed corpus without clang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/sftp_url.h"
#include "transport/ssh_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

static void url(const char *in)
{
	static dsync_sftp_url u, again;

	if (dsync_sftp_url_parse(in, &u) != 0) {
		if (strchr(dsync_error_last(), '\n'))
			abort();
		return;
	}
	no_control(u.user);
	no_control(u.host);
	no_control(u.path);
	no_control(u.url);
	if (u.host[0] == '\0' || u.host[0] == '-' || u.user[0] == '-' || u.port < 0 || u.port > 65535)
		abort();
	if (dsync_sftp_url_parse(u.url, &again) != 0 || strcmp(again.user, u.user) != 0 ||
	    strcmp(again.host, u.host) != 0 || again.port != u.port || strcmp(again.path, u.path) != 0 ||
	    strcmp(again.url, u.url) != 0)
		abort();
}

static void ssh_stderr(const char *text, int status)
{
	static dsync_sftp_url u;
	int kind = -1, code;

	if (u.host[0] == '\0' && dsync_sftp_url_parse("sftp://ann@nas.local:2222/x", &u) != 0)
		abort();
	code = dsync_ssh_exec_classify(&kind, text, status, &u, NULL);
	if ((code != DSYNC_EAUTH && code != DSYNC_ERROR) || kind < DSYNC_SSH_EXEC_ENDED ||
	    kind > DSYNC_SSH_EXEC_NO_COMMAND)
		abort();
	no_control(dsync_error_last());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 70000)
		return 0;
	if (!(s = malloc(size)))
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1)
		ssh_stderr(s, data[0] & 2 ? -1 : (data[0] >> 2) << 8);
	else
		url(s);
	free(s);
	return 0;
}
