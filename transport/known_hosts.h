/*
 * known_hosts for the built-in SSH client (docs/sftp.md section 3), moved
 * from transport/ssh_config.h: read line by line by us (hashed entries,
 * [host]:port, @revoked cut off into a collection of its own), the host-key
 * preference taken from it, and one line appended for a key the user
 * accepted; host key type names and fingerprints.
 */
#ifndef DSYNC_TRANSPORT_KNOWN_HOSTS_H
#define DSYNC_TRANSPORT_KNOWN_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh2.h>

#include "core/base/array.h"

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
