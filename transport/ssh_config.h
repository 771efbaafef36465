/*
 * What the built-in SSH client takes from OpenSSH's files (docs/sftp.md
 * section 3): the subset of ~/.ssh/config that says where, as whom and with
 * which keys to connect, and known_hosts read line by line by us (hashed
 * entries, [host]:port, @revoked cut off into a collection of its own), the
 * host-key preference taken from it, and one line appended for a key the
 * user accepted.
 *
 * ~/.ssh is $HOME/.ssh here: OpenSSH's client looks the home up in the
 * password database, but dsync's own files follow $HOME, and so does this.
 */
#ifndef DSYNC_TRANSPORT_SSH_CONFIG_H
#define DSYNC_TRANSPORT_SSH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh2.h>

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

/* A host key type as libssh2_session_hostkey() gives it
 * (LIBSSH2_HOSTKEY_TYPE_*): its name in a known_hosts line ("ssh-ed25519"),
 * for people ("ED25519"), and as a libssh2_knownhost type mask; NULL / 0
 * for one it does not know. */
const char *dsync_ssh_hostkey_name(int type);
const char *dsync_ssh_hostkey_label(int type);
int dsync_ssh_hostkey_knownmask(int type);

/* One known-hosts file, read by us: its entries and, separately, its
 * @revoked lines (marker cut off), which we match ourselves: libssh2 1.10
 * knows no wildcards, and "@revoked * KEY" is the usual way to revoke a
 * key for every host. */
typedef struct dsync_ssh_known_file {
	char *path;
	LIBSSH2_KNOWNHOSTS *known;
	dsync_strlist revoked;
} dsync_ssh_known_file;

/* Whether the known_hosts host field PATTERNS (comma-separated; "!"
 * negation; '*' and '?'; or one hashed "|1|salt|hash" name) names NAME. */
bool dsync_ssh_known_hosts_name_match(const char *patterns, size_t len, const char *name);

typedef struct dsync_ssh_known_hosts {
	DSYNC_ARRAY(dsync_ssh_known_file) files;
} dsync_ssh_known_hosts;

#define DSYNC_SSH_KNOWN_HOSTS_INIT { DSYNC_ARRAY_INIT }

/*
 * Reads each of the N files of PATHS that exists (missing ones are
 * skipped) line by line: "@revoked " lines go, with the marker cut off,
 * into the file's revoked list, "@cert-authority" lines and lines
 * libssh2 cannot read (other key types) are skipped, the rest go into
 * known.  S is any session (libssh2 needs one).  Never writes them.
 */
int dsync_ssh_known_hosts_load(dsync_ssh_known_hosts *kh, LIBSSH2_SESSION *s, char *const *paths, size_t n);

void dsync_ssh_known_hosts_dispose(dsync_ssh_known_hosts *kh);

/* Which host key types (bit 1 << LIBSSH2_HOSTKEY_TYPE_*) the files hold
 * for HOST:PORT, by probing with a dummy key of each type (a MISMATCH
 * means an entry of that type exists). */
unsigned dsync_ssh_known_hosts_types(const dsync_ssh_known_hosts *kh, const char *host, int port);

/* The host-key preference for TYPES (as above), in the order ed25519,
 * ECDSA 521/384/256, RSA, into OUT; "" when TYPES holds none libssh2 can
 * use (then libssh2's default stays). */
void dsync_ssh_known_hosts_pref(char *out, size_t size, unsigned types);

enum {
	DSYNC_SSH_KNOWN_MATCH = 0,   /* the key is recorded for the host */
	DSYNC_SSH_KNOWN_CHANGED = 1, /* another key of its type is recorded */
	DSYNC_SSH_KNOWN_NEW = 2,     /* nothing of its type for the host */
	DSYNC_SSH_KNOWN_REVOKED = 3  /* an @revoked line names this key */
};

/* Checks the host key KEY (LEN raw bytes, TYPE as libssh2 gives it) of
 * HOST:PORT: revoked (any file) first, then a match in any file, then a
 * changed one; *FILE (may be NULL) is the file that said REVOKED or
 * CHANGED.  Returns a DSYNC_SSH_KNOWN_* value. */
int dsync_ssh_known_hosts_check(const char **file, const dsync_ssh_known_hosts *kh, const char *host, int port,
				const char *key, size_t len, int type);

/* HOST:PORT as known_hosts names it: "host", or "[host]:port" when PORT is
 * not 22. */
void dsync_ssh_known_hosts_name(char *out, size_t size, const char *host, int port);

/* Appends one line for KEY (LEN raw bytes, TYPE) of HOST:PORT to PATH
 * (O_APPEND, made 0600 with its folder 0700 when missing), the name hashed
 * (|1|salt|HMAC-SHA1) when HASH. */
int dsync_ssh_known_hosts_append(const char *path, const char *host, int port, const char *key, size_t len,
				 int type, bool hash);

/* "SHA256:" and the base64 (no padding) of the SHA-256 of the raw key, as
 * ssh-keygen -l shows it, from libssh2_hostkey_hash()'s 32 bytes. */
void dsync_ssh_fingerprint(char out[64], const unsigned char sha256[32]);

#endif
