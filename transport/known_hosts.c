/*
 * known_hosts and host keys for the built-in SSH client
 * (transport/known_hosts.h), moved from transport/ssh_config.c.
 */
#include "core/base/internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/sha1.h"
#include "transport/known_hosts.h"
#include "transport/ssh_config.h"

/* a known_hosts file larger than this is refused (as a config file) */
#define SSH_FILE_MAX (4u << 20)

/* Whether PATH is there and not a regular file (/dev/null, a FIFO), which
 * OpenSSH reads as empty: we skip it without opening it. */
static bool not_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

static const struct {
	int type;
	const char *name, *label;
	int mask;
} key_types[] = {
	{ LIBSSH2_HOSTKEY_TYPE_ED25519, "ssh-ed25519", "ED25519", LIBSSH2_KNOWNHOST_KEY_ED25519 },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_521, "ecdsa-sha2-nistp521", "ECDSA", LIBSSH2_KNOWNHOST_KEY_ECDSA_521 },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_384, "ecdsa-sha2-nistp384", "ECDSA", LIBSSH2_KNOWNHOST_KEY_ECDSA_384 },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_256, "ecdsa-sha2-nistp256", "ECDSA", LIBSSH2_KNOWNHOST_KEY_ECDSA_256 },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, "ssh-rsa", "RSA", LIBSSH2_KNOWNHOST_KEY_SSHRSA },
	{ LIBSSH2_HOSTKEY_TYPE_DSS, "ssh-dss", "DSA", LIBSSH2_KNOWNHOST_KEY_SSHDSS },
};

static int key_index(int type)
{
	size_t i;

	for (i = 0; i < DSYNC_ARRAY_SIZE(key_types); i++)
		if (key_types[i].type == type)
			return (int)i;
	return -1;
}

const char *dsync_ssh_hostkey_name(int type)
{
	int i = key_index(type);

	return i < 0 ? NULL : key_types[i].name;
}

const char *dsync_ssh_hostkey_label(int type)
{
	int i = key_index(type);

	return i < 0 ? "unknown" : key_types[i].label;
}

int dsync_ssh_hostkey_knownmask(int type)
{
	int i = key_index(type);

	return i < 0 ? 0 : key_types[i].mask;
}

void dsync_ssh_known_hosts_dispose(dsync_ssh_known_hosts *kh)
{
	size_t i;

	for (i = 0; i < kh->files.size; i++) {
		free(kh->files.ptr[i].path);
		if (kh->files.ptr[i].known)
			libssh2_knownhost_free(kh->files.ptr[i].known);
		dsync_strlist_dispose(&kh->files.ptr[i].revoked);
	}
	dsync_array_dispose(kh->files);
}

/* Decodes a hashed host name "|1|base64(salt)|base64(HMAC-SHA1)" of LEN
 * bytes: false unless both decode and the hash is 20 bytes. */
static bool hashed_decode(const char *pat, size_t len, unsigned char salt[64], size_t *sl, unsigned char want[64])
{
	const char *bar;
	size_t wl;

	size_t i;

	if (len < 4 || memcmp(pat, "|1|", 3) != 0 || !(bar = memchr(pat + 3, '|', len - 3)))
		return false;
	/* base64 characters only: libssh2 skips others where libsodium may
	 * not, and the two must read the same name */
	for (i = 3; i < len; i++)
		if (!isalnum((unsigned char)pat[i]) && pat[i] != '+' && pat[i] != '/' && pat[i] != '=' &&
		    pat + i != bar)
			return false;
	return sodium_base642bin(salt, 64, pat + 3, (size_t)(bar - pat - 3), NULL, sl, NULL,
				 sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       sodium_base642bin(want, 64, bar + 1, len - (size_t)(bar + 1 - pat), NULL, &wl, NULL,
				 sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       wl == 20;
}

static void load_text(dsync_ssh_known_file *f, const char *text, size_t len)
{
	dsync_buf one = DSYNC_BUF_INIT;
	size_t pos = 0, ll;

	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);

		ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + 1;
		while (ll && (*line == ' ' || *line == '\t')) {
			line++;
			ll--;
		}
		while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' ' || line[ll - 1] == '\t'))
			ll--;
		if (!ll || *line == '#' || memchr(line, '\0', ll))
			continue;
		if (*line == '@') {
			size_t m = strcspn(line, " \t");

			if (m > ll)
				m = ll;
			if (m != 8 || memcmp(line, "@revoked", 8) != 0)
				continue; /* @cert-authority, or a marker we do not know */
			line += m;
			ll -= m;
			while (ll && (*line == ' ' || *line == '\t')) {
				line++;
				ll--;
			}
			dsync_buf_truncate(&one, 0);
			if (ll && dsync_buf_put(&one, line, ll) == 0)
				(void)dsync_strlist_add(&f->revoked, one.ptr);
			continue;
		}
		if (*line == '|') {
			unsigned char salt[64], want[64];
			size_t sl, hl = strcspn(line, " \t");

			/* a hashed name libssh2 would not take (1.10 also leaks
			 * an HMAC context checking one whose hash is not 20
			 * bytes): skipped, as OpenSSH skips it */
			if (!hashed_decode(line, hl < ll ? hl : ll, salt, &sl, want))
				continue;
		}
		/* libssh2 1.10 drops the key's last character from a line
		 * that does not end in a newline: give it one */
		dsync_buf_truncate(&one, 0);
		if (dsync_buf_put(&one, line, ll) < 0 || dsync_buf_put(&one, "\n", 1) < 0)
			break;
		/* lines libssh2 cannot read (key types it does not know) are
		 * skipped, as ssh skips what it does not understand */
		(void)libssh2_knownhost_readline(f->known, one.ptr, one.len, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	dsync_buf_dispose(&one);
}

int dsync_ssh_known_hosts_load(dsync_ssh_known_hosts *kh, LIBSSH2_SESSION *s, char *const *paths, size_t n)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_ssh_known_file f;
	size_t i;
	int error = 0;

	for (i = 0; i < n; i++) {
		dsync_buf_truncate(&b, 0);
		if (not_regular(paths[i]))
			continue;
		error = dsync_file_read(&b, paths[i], SSH_FILE_MAX, 0);
		if (error == DSYNC_ENOTFOUND) {
			error = 0;
			continue;
		}
		if (error < 0)
			break;
		memset(&f, 0, sizeof(f));
		f.path = strdup(paths[i]);
		f.known = libssh2_knownhost_init(s);
		if (!f.path || !f.known || dsync_array_push(kh->files, f) < 0) {
			free(f.path);
			if (f.known)
				libssh2_knownhost_free(f.known);
			error = dsync_error_oom();
			break;
		}
		load_text(&kh->files.ptr[kh->files.size - 1], b.ptr ? b.ptr : "", b.len);
	}
	dsync_buf_dispose(&b);
	return error;
}

void dsync_ssh_known_hosts_name(char *out, size_t size, const char *host, int port)
{
	if (port <= 0 || port == 22)
		snprintf(out, size, "%s", host);
	else
		snprintf(out, size, "[%s]:%d", host, port);
}

static int check_one(LIBSSH2_KNOWNHOSTS *h, const char *name, const char *key, size_t len, int mask)
{
	/* the name already carries the port as known_hosts writes it, so
	 * libssh2 compares it as it is (no fall back to the plain host for
	 * another port, as OpenSSH does not either) */
	return libssh2_knownhost_checkp(h, name, -1, key, len,
					LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | mask, NULL);
}

unsigned dsync_ssh_known_hosts_types(const dsync_ssh_known_hosts *kh, const char *host, int port)
{
	static const char dummy[] = "\0\0\0\x0b" "dsync-probe";
	char name[300];
	unsigned types = 0;
	size_t i, j;
	int r;

	dsync_ssh_known_hosts_name(name, sizeof(name), host, port);
	for (i = 0; i < DSYNC_ARRAY_SIZE(key_types); i++)
		for (j = 0; j < kh->files.size; j++) {
			r = check_one(kh->files.ptr[j].known, name, dummy, sizeof(dummy) - 1, key_types[i].mask);
			if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH || r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
				types |= 1u << key_types[i].type;
		}
	return types;
}

void dsync_ssh_known_hosts_pref(char *out, size_t size, unsigned types)
{
	size_t i, used = 0;
	int k;

	out[0] = '\0';
	for (i = 0; i < DSYNC_ARRAY_SIZE(key_types); i++) {
		if (key_types[i].type == LIBSSH2_HOSTKEY_TYPE_DSS || !(types & (1u << key_types[i].type)))
			continue;
		k = snprintf(out + used, size - used, "%s%s", used ? "," : "", key_types[i].name);
		if (k < 0 || (size_t)k >= size - used)
			break;
		used += (size_t)k;
	}
}

static void hmac_sha1(unsigned char out[20], const unsigned char *key, size_t klen, const char *msg, size_t mlen)
{
	unsigned char pad[64], inner[20];
	dsync_sha1 c;
	size_t i;

	memset(pad, 0, sizeof(pad));
	memcpy(pad, key, klen < 64 ? klen : 64);
	for (i = 0; i < 64; i++)
		pad[i] ^= 0x36;
	dsync_sha1_init(&c);
	dsync_sha1_update(&c, pad, 64);
	dsync_sha1_update(&c, msg, mlen);
	dsync_sha1_final(&c, inner);
	for (i = 0; i < 64; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	dsync_sha1_init(&c);
	dsync_sha1_update(&c, pad, 64);
	dsync_sha1_update(&c, inner, 20);
	dsync_sha1_final(&c, out);
}

static bool hashed_match(const char *pat, size_t len, const char *name)
{
	unsigned char salt[64], want[64], mac[20];
	size_t sl;

	if (!hashed_decode(pat, len, salt, &sl, want))
		return false;
	hmac_sha1(mac, salt, sl, name, strlen(name));
	return memcmp(mac, want, sizeof(mac)) == 0;
}

bool dsync_ssh_known_hosts_name_match(const char *patterns, size_t len, const char *name)
{
	char one[512];
	size_t pos = 0, n;
	bool matched = false;

	if (len >= 3 && memcmp(patterns, "|1|", 3) == 0)
		return hashed_match(patterns, len, name);
	while (pos < len) {
		const char *p = patterns + pos, *comma = memchr(p, ',', len - pos);

		n = comma ? (size_t)(comma - p) : len - pos;
		pos += n + 1;
		if (n == 0 || n >= sizeof(one))
			continue;
		memcpy(one, p, n);
		one[n] = '\0';
		if (one[0] == '!') {
			if (dsync_ssh_config_pattern_match(one + 1, name))
				return false;
		} else if (dsync_ssh_config_pattern_match(one, name)) {
			matched = true;
		}
	}
	return matched;
}

/* Whether the @revoked LINE (marker cut off: "hosts keytype base64 ...")
 * names NAME and the raw KEY. */
static bool revoked_match(const char *line, const char *name, const char *key, size_t len)
{
	unsigned char *bin;
	const char *type, *b64;
	size_t hl, bl, got;
	bool same;

	hl = strcspn(line, " \t");
	type = line + hl + strspn(line + hl, " \t");
	b64 = type + strcspn(type, " \t");
	b64 += strspn(b64, " \t");
	bl = strcspn(b64, " \t\r\n");
	if (!hl || !bl || !dsync_ssh_known_hosts_name_match(line, hl, name))
		return false;
	if (!(bin = malloc(bl)))
		return false;
	same = sodium_base642bin(bin, bl, b64, bl, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       got == len && memcmp(bin, key, len) == 0;
	free(bin);
	return same;
}

int dsync_ssh_known_hosts_check(const char **file, const dsync_ssh_known_hosts *kh, const char *host, int port,
				const char *key, size_t len, int type)
{
	int mask = dsync_ssh_hostkey_knownmask(type);
	char name[300];
	const char *changed = NULL;
	size_t i, j;
	int r;

	if (file)
		*file = NULL;
	dsync_ssh_known_hosts_name(name, sizeof(name), host, port);
	/* (libssh2 takes a key of length 0 as a C string) */
	if (!mask || len == 0)
		return DSYNC_SSH_KNOWN_NEW;
	for (i = 0; i < kh->files.size; i++)
		for (j = 0; j < kh->files.ptr[i].revoked.size; j++)
			if (revoked_match(kh->files.ptr[i].revoked.ptr[j], name, key, len)) {
				if (file)
					*file = kh->files.ptr[i].path;
				return DSYNC_SSH_KNOWN_REVOKED;
			}
	for (i = 0; i < kh->files.size; i++) {
		r = check_one(kh->files.ptr[i].known, name, key, len, mask);
		if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
			return DSYNC_SSH_KNOWN_MATCH;
		if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH && !changed)
			changed = kh->files.ptr[i].path;
	}
	if (changed) {
		if (file)
			*file = changed;
		return DSYNC_SSH_KNOWN_CHANGED;
	}
	return DSYNC_SSH_KNOWN_NEW;
}

static int put_b64(dsync_buf *b, const void *bin, size_t len)
{
	size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	int error;

	if ((error = dsync_buf_grow(b, need)) < 0)
		return error;
	sodium_bin2base64(b->ptr + b->len, need, bin, len, sodium_base64_VARIANT_ORIGINAL);
	b->len += strlen(b->ptr + b->len);
	return 0;
}

static int mkdir_for(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return dsync_error_sys(errno, "cannot make '%s' for the known hosts", dir);
	return 0;
}

int dsync_ssh_known_hosts_append(const char *path, const char *host, int port, const char *key, size_t len,
				 int type, bool hash)
{
	dsync_buf b = DSYNC_BUF_INIT;
	const char *kname = dsync_ssh_hostkey_name(type);
	char name[300];
	unsigned char salt[20], mac[20];
	int fd = -1, error;
	ssize_t w;

	if (!kname)
		return dsync_error_set(DSYNC_ERROR, "cannot record a host key of an unknown type");
	dsync_ssh_known_hosts_name(name, sizeof(name), host, port);
	if (hash) {
		randombytes_buf(salt, sizeof(salt));
		hmac_sha1(mac, salt, sizeof(salt), name, strlen(name));
		if ((error = dsync_buf_puts(&b, "|1|")) < 0 || (error = put_b64(&b, salt, sizeof(salt))) < 0 ||
		    (error = dsync_buf_puts(&b, "|")) < 0 || (error = put_b64(&b, mac, sizeof(mac))) < 0)
			goto out;
	} else if ((error = dsync_buf_puts(&b, name)) < 0) {
		goto out;
	}
	if ((error = dsync_buf_printf(&b, " %s ", kname)) < 0 || (error = put_b64(&b, key, len)) < 0 ||
	    (error = dsync_buf_puts(&b, "\n")) < 0)
		goto out;
	if ((error = mkdir_for(path)) < 0)
		goto out;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		error = dsync_error_sys(errno, "cannot add the host key to '%s'", path);
		goto out;
	}
	w = write(fd, b.ptr, b.len);
	if (w < 0 || (size_t)w != b.len) {
		error = dsync_error_sys(w < 0 ? errno : EIO, "cannot add the host key to '%s'", path);
		goto out;
	}
	if (fsync(fd) < 0) {
		error = dsync_error_sys(errno, "cannot add the host key to '%s'", path);
		goto out;
	}
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	dsync_buf_dispose(&b);
	return error;
}

void dsync_ssh_fingerprint(char out[64], const unsigned char sha256[32])
{
	memcpy(out, "SHA256:", 7);
	sodium_bin2base64(out + 7, 64 - 7, sha256, 32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}
