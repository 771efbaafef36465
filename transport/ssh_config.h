/*
 * What the built-in SSH client takes from OpenSSH's files (docs/sftp.md
 * section 3): the subset of ~/.ssh/config that says where, as whom and with
 * which keys to connect (known_hosts is transport/known_hosts.h).
 *
 * ~/.ssh is $HOME/.ssh here: OpenSSH's client looks the home up in the
 * password database, but dsync's own files follow $HOME, and so does this.
 */
#ifndef DSYNC_TRANSPORT_SSH_CONFIG_H
#define DSYNC_TRANSPORT_SSH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/array.h"

typedef struct dsync_ssh_config {
	/* Set by the config files (first value wins), NULL / 0 / -1 when no
	 * line set them; dsync_ssh_config_finish() fills every one. */
	char *hostname;
	int port;
	char *user;
	dsync_strlist identity_files;     /* IdentityFile lines add up, in order */
	bool identity_files_default;      /* (finish) none was set: id_ed25519, id_ecdsa */
	int identities_only;              /* -1, 0, 1 */
	char *identity_agent;             /* "none", a socket path or "SSH_AUTH_SOCK" */
	dsync_strlist user_known_hosts;   /* one UserKnownHostsFile line's words */
	bool user_known_hosts_set;
	dsync_strlist global_known_hosts; /* GlobalKnownHostsFile, only read */
	bool global_known_hosts_set;
	int hash_known_hosts;             /* -1, 0, 1 */
	int connect_timeout;              /* seconds; 0 when unset */
	/* The first option of a matching block that would change where we
	 * connect or with which key, and that the built-in client ignores
	 * (ProxyJump, ProxyCommand, Include, CertificateFile, HostKeyAlias,
	 * Match); "" when none. */
	char ignored[32];
	char ignored_file[256];
} dsync_ssh_config;

void dsync_ssh_config_init(dsync_ssh_config *c);
void dsync_ssh_config_dispose(dsync_ssh_config *c);

/* Whether HOST matches the ssh_config(5) PATTERN ('*' any run, '?' one
 * character; letters compared without case). */
bool dsync_ssh_config_pattern_match(const char *pattern, const char *host);

/* Whether HOST matches a Host line's PATTERNS (several, blank-separated):
 * one positive pattern matches and no "!pattern" does. */
bool dsync_ssh_config_host_match(const char *patterns, const char *host);

/*
 * Applies the LEN bytes of config TEXT (one file's contents; FILE names it
 * for messages) to C for HOST as typed: lines before the first Host and in
 * Host blocks that match apply, Match blocks are skipped, and a value
 * already set is kept.  0, or DSYNC_EUSAGE for a line it cannot read (an
 * unterminated quote, a bad port or yes/no) naming FILE and the line.
 */
int dsync_ssh_config_parse(dsync_ssh_config *c, const char *text, size_t len, const char *host, const char *file);

/* The same for the file at PATH; a missing file is 0. */
int dsync_ssh_config_read_file(dsync_ssh_config *c, const char *path, const char *host);

/*
 * After the files: the URL's USER and PORT (when given) win over the
 * config's, the rest gets OpenSSH's defaults (the host as typed, port 22,
 * LOCAL_USER, ~/.ssh/id_ed25519 and id_ecdsa, ~/.ssh/known_hosts and
 * known_hosts2, /etc/ssh/ssh_known_hosts and ssh_known_hosts2), and the
 * tokens of the file names are expanded (~, %d HOME, %u LOCAL_USER, %h,
 * %p, %r, %n, %%).  0, or DSYNC_EUSAGE for an unknown %-token.
 */
int dsync_ssh_config_finish(dsync_ssh_config *c, const char *host, const char *user, int port, const char *home,
			    const char *local_user);

/* Expands the tokens of IN (as above) into a malloc'd *OUT. */
int dsync_ssh_config_expand(char **out, const char *in, const dsync_ssh_config *c, const char *host,
			    const char *home, const char *local_user);

/*
 * $HOME/.ssh/config, then /etc/ssh/ssh_config, then finish() with $HOME
 * and the login name.
 */
int dsync_ssh_config_read(dsync_ssh_config *c, const char *host, const char *user, int port);

/* PATH with HOME shown as "~", into BUF (SIZE bytes), for messages. */
const char *dsync_ssh_tilde(char *buf, size_t size, const char *path, const char *home);

#endif
