/*
 * libFuzzer target for the OpenSSH files the built-in client reads
 * (transport/ssh_config.h): the first byte picks one.  0: the rest is a
 * ~/.ssh/config, applied for a few hosts and finished (tokens expanded);
 * what it sets must be sane (a port 1..65535, no error message over one
 * line).  1: the rest is a known_hosts file (given to the reader through a
 * memfd, as the client reads files), probed and checked for a few hosts
 * with keys cut from the input itself, and each of its lines' host fields
 * matched by the pattern and hashed-name matcher.  replay.c runs the same
 * function over the seed corpus without clang.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libssh2.h>

#include "dsync/common.h"
#include "transport/known_hosts.h"
#include "transport/ssh_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const hosts[] = { "nas", "127.0.0.1", "pi.lan", "[::1]", "" };

static void one_line(void)
{
	if (strchr(dsync_error_last(), '\n'))
		abort();
}

static void config(const char *text, size_t len)
{
	dsync_ssh_config c;
	size_t i, j;

	for (i = 0; i < sizeof(hosts) / sizeof(*hosts); i++) {
		dsync_ssh_config_init(&c);
		if (dsync_ssh_config_parse(&c, text, len, hosts[i], "config") == 0) {
			if (dsync_ssh_config_finish(&c, hosts[i], i % 2 ? "ann" : NULL, (int)i * 1000, "/home/x", "x") == 0) {
				if (c.port < 1 || c.port > 65535 || !c.hostname || !c.user ||
				    c.identity_files.size == 0)
					abort();
				for (j = 0; j < c.identity_files.size; j++)
					if (!c.identity_files.ptr[j])
						abort();
			} else {
				one_line();
			}
		} else {
			one_line();
		}
		if (c.ignored[sizeof(c.ignored) - 1] != '\0')
			abort();
		dsync_ssh_config_dispose(&c);
	}
}

static void known_hosts(const uint8_t *data, size_t len)
{
	static LIBSSH2_SESSION *s;
	dsync_ssh_known_hosts kh = DSYNC_SSH_KNOWN_HOSTS_INIT;
	char path[64], pref[200], *paths[1];
	const uint8_t *p, *end = data + len;
	size_t i;
	int fd, t, r;

	if (!s) {
		if (libssh2_init(0) != 0 || !(s = libssh2_session_init()))
			abort();
	}
	if ((fd = memfd_create("known_hosts", MFD_CLOEXEC)) < 0)
		return;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	paths[0] = path;
	if (dsync_ssh_known_hosts_load(&kh, s, paths, 1) == 0) {
		for (i = 0; i < sizeof(hosts) / sizeof(*hosts); i++) {
			unsigned types = dsync_ssh_known_hosts_types(&kh, hosts[i], i ? 22 : 2222);

			dsync_ssh_known_hosts_pref(pref, sizeof(pref), types);
			/* keys: pieces of the input, of every type */
			for (t = LIBSSH2_HOSTKEY_TYPE_RSA; t <= LIBSSH2_HOSTKEY_TYPE_ED25519; t++) {
				size_t kl = len > 51 ? 51 : len;

				r = dsync_ssh_known_hosts_check(NULL, &kh, hosts[i], 2222, (const char *)data, kl, t);
				if (r < DSYNC_SSH_KNOWN_MATCH || r > DSYNC_SSH_KNOWN_REVOKED)
					abort();
			}
		}
	} else {
		one_line();
	}
	dsync_ssh_known_hosts_dispose(&kh);
	close(fd);
	/* every line's first field through the name matcher */
	for (p = data; p < end;) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t hl = 0;

		while (hl < ll && p[hl] != ' ' && p[hl] != '\t')
			hl++;
		(void)dsync_ssh_known_hosts_name_match((const char *)p, hl, "nas");
		(void)dsync_ssh_known_hosts_name_match((const char *)p, hl, "[127.0.0.1]:2222");
		p += ll + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		config((const char *)data + 1, size - 1);
	else
		known_hosts(data + 1, size - 1);
	return 0;
}
