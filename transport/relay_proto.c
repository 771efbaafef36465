/*
 * The relay protocol without I/O (transport/relay_proto.h,
 * docs/relay-protocol.md sections 2, 3, 5, 6 and 8): what the relay's
 * client and server both compute or parse.  Every string may come from a
 * hostile peer, so each parser checks the exact shape and never reads past
 * the bytes it was given.
 */
#include "core/base/internal.h"

#include <inttypes.h>
#include <sodium.h>

#include "transport/relay_proto.h"

/* The labels of section 2, each followed by its NUL in the hashed bytes. */
#define GROUP_LABEL "dsync-relay-group-1"
#define SALT_LABEL "dsync-relay-salt-1"
#define REGISTER_LABEL "dsync-relay-register-1"
#define SIG_LABEL "dsync-relay-sig-1"
#define KDF_CONTEXT "dsyncrl1"

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A character of a blob name's component ([A-Za-z0-9_-]). */
static bool is_name_char(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

/* N lower-case hex digits at S, and nothing checked beyond them. */
static bool hex_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_hex((unsigned char)s[i]))
			return false;
	return true;
}

/* N decimal digits at S. */
static bool digit_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit((unsigned char)s[i]))
			return false;
	return true;
}

/* LEN bytes at S as a decimal number: 1..20 digits, no sign, no leading
 * zero (one canonical text per value, so the peers compare texts safely),
 * at most MAX.  -1 for anything else. */
static int decimal(uint64_t *out, const char *s, size_t len, uint64_t max)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* ---- section 2: group ids, tokens */

int dsync_relay_group_fold(char *out, const char *name)
{
	const char *end;
	size_t len, i;

	while (*name == ' ')
		name++;
	end = name + strlen(name);
	while (end > name && end[-1] == ' ')
		end--;
	len = (size_t)(end - name);
	if (len == 0)
		return dsync_error_set(DSYNC_EUSAGE, "the group name is empty");
	if (len > DSYNC_RELAY_GROUP_MAX)
		return dsync_error_set(DSYNC_EUSAGE, "the group name is longer than %d bytes", DSYNC_RELAY_GROUP_MAX);
	for (i = 0; i < len;) {
		unsigned cp;
		size_t n = dsync_utf8_next((const unsigned char *)name + i, &cp);

		/* dsync_utf8_next stops at the NUL after END, so a sequence
		 * cut by END can't pass */
		if (n == 0 || i + n > len)
			return dsync_error_set(DSYNC_EUSAGE, "the group name is not valid UTF-8");
		/* C0, DEL and C1 controls: a name must print as it was typed */
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			return dsync_error_set(DSYNC_EUSAGE, "the group name holds a control character");
		i += n;
	}
	for (i = 0; i < len; i++) {
		char c = name[i];

		/* ASCII only (section 12, decision 7): folding beyond it would
		 * depend on a locale or a Unicode table neither side has */
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return 0;
}

/* BLAKE2b of LABEL (with its NUL) then DATA, OUTLEN bytes, no key. */
static void labelled_hash(uint8_t *out, size_t outlen, const char *label, const void *data, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, outlen);
	crypto_generichash_update(&st, (const unsigned char *)label, strlen(label) + 1);
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, out, outlen);
}

void dsync_relay_group_id(char out[DSYNC_RELAY_ID_HEX], const char *folded)
{
	uint8_t id[16];

	labelled_hash(id, sizeof(id), GROUP_LABEL, folded, strlen(folded));
	dsync_relay_hex(out, id, sizeof(id));
}

int dsync_relay_derive(uint8_t token[DSYNC_RELAY_KEY_BYTES], uint8_t admit[DSYNC_RELAY_KEY_BYTES],
		       const char *folded, const char *passphrase)
{
#ifdef DSYNC_TESTING
	/* Test builds only, as for stores (core/store/store.c); a shipped
	 * build never reads this (tests/build/release-check.sh) */
	const char *weak = getenv("DSYNC_TEST_KDF");
#else
	const char *weak = NULL;
#endif
	unsigned long long ops = crypto_pwhash_OPSLIMIT_MODERATE;
	size_t mem = crypto_pwhash_MEMLIMIT_MODERATE;
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t *r;
	int error = 0;

	if (weak && strcmp(weak, "min") == 0) {
		ops = crypto_pwhash_OPSLIMIT_MIN;
		mem = crypto_pwhash_MEMLIMIT_MIN;
	}
	labelled_hash(salt, sizeof(salt), SALT_LABEL, folded, strlen(folded));
	if ((r = sodium_malloc(DSYNC_RELAY_KEY_BYTES)) == NULL)
		return dsync_error_oom();
	if (crypto_pwhash(r, DSYNC_RELAY_KEY_BYTES, passphrase, strlen(passphrase), salt, ops, mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		error = dsync_error_set(DSYNC_ERROR, "out of memory deriving the relay token (%zu MiB needed)",
					mem >> 20);
		goto out;
	}
	crypto_kdf_derive_from_key(token, DSYNC_RELAY_KEY_BYTES, 1, KDF_CONTEXT, r);
	crypto_kdf_derive_from_key(admit, DSYNC_RELAY_KEY_BYTES, 2, KDF_CONTEXT, r);
out:
	sodium_free(r); /* zeroes it first */
	return error;
}

void dsync_relay_secret_hash(uint8_t out[DSYNC_RELAY_KEY_BYTES], const char *label, const char *gid,
			     const uint8_t secret[DSYNC_RELAY_KEY_BYTES])
{
	crypto_generichash_state st;
	char full[32];
	uint8_t raw[16] = {0};

	/* "dsync-relay-token-1" or "-admit-1", then its NUL; GROUP-ID raw.  A
	 * malformed GID (callers check it first) hashes as zeros: a hash no
	 * stored one equals, never a read past the string */
	snprintf(full, sizeof(full), "dsync-relay-%s-1", label);
	(void)dsync_relay_hex_parse(raw, gid, 32);
	crypto_generichash_init(&st, NULL, 0, DSYNC_RELAY_KEY_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)full, strlen(full) + 1);
	crypto_generichash_update(&st, raw, sizeof(raw));
	crypto_generichash_update(&st, secret, DSYNC_RELAY_KEY_BYTES);
	crypto_generichash_final(&st, out, DSYNC_RELAY_KEY_BYTES);
}

/* ---- section 3: names */

/* The value of a lower-case hex digit (checked by the caller). */
static unsigned nibble(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

int dsync_relay_hex_parse(uint8_t *out, const char *s, size_t len)
{
	/* strnlen: S may be shorter than LEN, never read past its NUL */
	if (len % 2 || strnlen(s, len + 1) != len || !hex_run(s, len))
		return -1;
	if (out)
		for (size_t i = 0; i < len / 2; i++)
			out[i] = (uint8_t)(nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]));
	return 0;
}

void dsync_relay_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* S (LEN bytes) is exactly "PREFIX" followed by N hex digits. */
static bool prefixed_hex(const char *s, size_t len, const char *prefix, size_t n)
{
	size_t p = strlen(prefix);

	return len == p + n && memcmp(s, prefix, p) == 0 && hex_run(s + p, n);
}

/* The shapes of the store's blobs (docs/store-format.md): each implies the
 * rules of section 3 (components of name characters, no dot, at most three,
 * at most 200 bytes), which are checked first anyway so that a shape added
 * later can't loosen them. */
int dsync_relay_blob_name_ok(const char *name)
{
	size_t len = strnlen(name, DSYNC_RELAY_NAME_MAX + 1), comps = 1;

	if (len == 0 || len > DSYNC_RELAY_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '/') {
			if (name[i + 1] == '/' || ++comps > 3)
				return -1;
		} else if (!is_name_char((unsigned char)name[i])) {
			return -1;
		}
	}
	if (strcmp(name, "dsync-store") == 0 || prefixed_hex(name, len, "keys/", 16) ||
	    prefixed_hex(name, len, "packs/", 64))
		return 0;
	/* devices/ + 32 hex + / + 16 digits */
	if (len == 8 + 32 + 1 + 16 && memcmp(name, "devices/", 8) == 0 && hex_run(name + 8, 32) && name[40] == '/' &&
	    digit_run(name + 41, 16))
		return 0;
	return -1;
}

int dsync_relay_prefix_ok(const char *prefix)
{
	size_t len = strnlen(prefix, DSYNC_RELAY_NAME_MAX + 1);

	if (len > DSYNC_RELAY_NAME_MAX)
		return -1;
	/* name characters and single '/'s not leading: '.' and '%' never, so
	 * no "." or ".." component and nothing left to unescape */
	for (size_t i = 0; i < len; i++) {
		if (prefix[i] == '/') {
			if (i == 0 || prefix[i - 1] == '/')
				return -1;
		} else if (!is_name_char((unsigned char)prefix[i])) {
			return -1;
		}
	}
	return 0;
}

int dsync_relay_manifest_name(const char *name, char dev[DSYNC_RELAY_ID_HEX], uint64_t *seq)
{
	if (strncmp(name, "devices/", 8) != 0 || dsync_relay_blob_name_ok(name) != 0)
		return -1;
	memcpy(dev, name + 8, 32);
	dev[32] = '\0';
	*seq = 0;
	/* sixteen digits always fit in 64 bits; leading zeros are the shape */
	for (size_t i = 41; i < 57; i++)
		*seq = *seq * 10 + (uint64_t)(name[i] - '0');
	return 0;
}

int dsync_relay_change_parse(const char *s, char epoch[17], uint64_t *n)
{
	size_t len = strnlen(s, 64);

	if (len < 18 || len > 16 + 1 + 20 || !hex_run(s, 16) || s[16] != '.' ||
	    decimal(n, s + 17, len - 17, UINT64_MAX) != 0)
		return -1;
	memcpy(epoch, s, 16);
	epoch[16] = '\0';
	return 0;
}

/* The control targets of section 1 that take no id. */
static const struct {
	const char *name;
	dsync_relay_target_kind kind;
} controls[] = {
	{".group", DSYNC_RELAY_T_GROUP},
	{".list", DSYNC_RELAY_T_LIST},
	{".poll", DSYNC_RELAY_T_POLL},
	{".usage", DSYNC_RELAY_T_USAGE},
};

int dsync_relay_target_parse(dsync_relay_target *t, const char *url)
{
	const char *rest;
	size_t len;

	memset(t, 0, sizeof(*t));
	t->kind = DSYNC_RELAY_T_BAD;
	if (strncmp(url, "/v1/", 4) != 0)
		return -1;
	if (url[4] == '\0') {
		t->kind = DSYNC_RELAY_T_ROOT;
		return 0;
	}
	/* GROUP-ID: exactly 32 lower-case hex digits, then '/' */
	if (strnlen(url + 4, 33) < 33 || !hex_run(url + 4, 32) || url[36] != '/')
		return -1;
	rest = url + 37;
	len = strnlen(rest, DSYNC_RELAY_NAME_MAX + 1);
	if (len > DSYNC_RELAY_NAME_MAX)
		return -1;
	memcpy(t->gid, url + 4, 32);
	t->gid[32] = '\0';
	for (size_t i = 0; i < DSYNC_ARRAY_SIZE(controls); i++)
		if (strcmp(rest, controls[i].name) == 0) {
			t->kind = controls[i].kind;
			return 0;
		}
	if (prefixed_hex(rest, len, ".device/", 32) || prefixed_hex(rest, len, ".upload/", 32)) {
		memcpy(t->name, rest + 8, 32);
		t->kind = rest[1] == 'd' ? DSYNC_RELAY_T_DEVICE : DSYNC_RELAY_T_UPLOAD;
		return 0;
	}
	if (dsync_relay_blob_name_ok(rest) == 0) {
		memcpy(t->name, rest, len + 1);
		t->kind = DSYNC_RELAY_T_BLOB;
		return 0;
	}
	t->gid[0] = '\0';
	return -1;
}

/* ---- the line format */

static bool is_key_char(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || c == '-';
}

int dsync_relay_lines_parse(dsync_relay_lines *l, const char *body, size_t len)
{
	char *p, *end;

	l->n = 0;
	l->text = NULL;
	if (len > DSYNC_RELAY_LINES_MAX || (len > 0 && body[len - 1] != '\n'))
		return dsync_error_set(DSYNC_ECORRUPT, "malformed reply from the relay (%zu bytes, %s)", len,
				       len > DSYNC_RELAY_LINES_MAX ? "too long" : "no final newline");
	if ((l->text = malloc(len + 1)) == NULL)
		return dsync_error_oom();
	memcpy(l->text, body, len);
	l->text[len] = '\0';
	p = l->text;
	end = l->text + len;
	while (p < end) {
		char *key = p, *value;

		while (is_key_char((unsigned char)*p))
			p++;
		if (p == key || *p != ' ' || l->n == DSYNC_RELAY_LINES_COUNT)
			goto bad;
		*p++ = '\0';
		value = p;
		/* printable ASCII: a NUL in the body stops here too */
		while (*p >= 0x20 && *p < 0x7f)
			p++;
		if (*p != '\n')
			goto bad;
		*p++ = '\0';
		l->v[l->n].key = key;
		l->v[l->n].value = value;
		l->n++;
	}
	return 0;
bad:
	/* the line's number, never its bytes: they are the peer's */
	len = l->n + 1;
	dsync_relay_lines_dispose(l);
	return dsync_error_set(DSYNC_ECORRUPT, "malformed reply from the relay (line %zu)", len);
}

const char *dsync_relay_lines_get(const dsync_relay_lines *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

void dsync_relay_lines_dispose(dsync_relay_lines *l)
{
	free(l->text);
	l->text = NULL;
	l->n = 0;
}

int dsync_relay_list_line_parse(dsync_relay_list_line *out, const char *line, size_t len)
{
	const char *sp1, *sp2;
	size_t nlen;
	uint64_t mtime;

	memset(out, 0, sizeof(*out));
	if (len >= 5 && memcmp(line, "next ", 5) == 0) {
		out->is_next = true;
		nlen = len - 5;
		if (nlen == 0 || nlen > DSYNC_RELAY_NAME_MAX || memchr(line + 5, '\0', nlen))
			goto bad;
		memcpy(out->name, line + 5, nlen);
		out->name[nlen] = '\0';
		if (dsync_relay_blob_name_ok(out->name) != 0)
			goto bad;
		return 0;
	}
	/* NAME SIZE MTIME: two spaces, a name never holds one */
	if (!(sp1 = memchr(line, ' ', len)) || !(sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line))))
		goto bad;
	nlen = (size_t)(sp1 - line);
	if (nlen == 0 || nlen > DSYNC_RELAY_NAME_MAX || memchr(line, '\0', nlen))
		goto bad;
	memcpy(out->name, line, nlen);
	out->name[nlen] = '\0';
	if (dsync_relay_blob_name_ok(out->name) != 0 ||
	    decimal(&out->size, sp1 + 1, (size_t)(sp2 - sp1 - 1), UINT64_MAX) != 0 ||
	    decimal(&mtime, sp2 + 1, len - (size_t)(sp2 + 1 - line), INT64_MAX) != 0)
		goto bad;
	out->mtime = (int64_t)mtime;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return dsync_error_set(DSYNC_ECORRUPT, "malformed listing line from the relay");
}

int dsync_relay_error_body(dsync_buf *out, const char *code, const char *text)
{
	size_t start = out->len;
	int error;

	/* the code is a key of the format's shape, so it can't add a line */
	if (!*code || code[strspn(code, "abcdefghijklmnopqrstuvwxyz0123456789-")])
		return dsync_error_set(DSYNC_EUSAGE, "an error code must be a word of [a-z0-9-]");
	if ((error = dsync_buf_printf(out, "error %s\nmessage ", code)) < 0)
		return error;
	/* the text is for logs and may quote a peer's bytes: anything outside
	 * printable ASCII becomes '?', so the body stays the line format */
	for (size_t i = 0; text[i] && i < 1000; i++) {
		unsigned char c = (unsigned char)text[i];
		char ch = (c >= 0x20 && c < 0x7f) ? (char)c : '?';

		if ((error = dsync_buf_put(out, &ch, 1)) < 0)
			goto fail;
	}
	if ((error = dsync_buf_puts(out, "\n")) == 0)
		return 0;
fail:
	dsync_buf_truncate(out, start);
	return error;
}

/* ---- section 8: signatures */

/* A field of M: printable ASCII without '\n', so no field can pose as two. */
static bool field_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int dsync_relay_sig_message(dsync_buf *out, const char *method, const char *path, const char *gid,
			    const char *body_hash, const char *total, int64_t time, const char *nonce)
{
	if (!field_ok(method) || !field_ok(path) || !field_ok(gid) || !field_ok(body_hash) || !field_ok(total) ||
	    !field_ok(nonce))
		return dsync_error_set(DSYNC_EUSAGE, "a signed field holds a control character");
	return dsync_buf_printf(out, SIG_LABEL "\n%s\n%s\n%s\n%s\n%s\n%" PRId64 "\n%s\n", method, path, gid,
				body_hash, total, time, nonce);
}

int dsync_relay_register_message(dsync_buf *out, const char *gid, const char *device,
				 const uint8_t pk[DSYNC_RELAY_PK_BYTES])
{
	int error;

	/* the ids as the URL spells them (32 hex each), the key raw */
	if (dsync_relay_hex_parse(NULL, gid, 32) != 0 || dsync_relay_hex_parse(NULL, device, 32) != 0)
		return dsync_error_set(DSYNC_EUSAGE, "a group or device id is not 32 hex digits");
	if ((error = dsync_buf_put(out, REGISTER_LABEL, sizeof(REGISTER_LABEL))) < 0 ||
	    (error = dsync_buf_put(out, gid, 32)) < 0 || (error = dsync_buf_put(out, device, 32)) < 0 ||
	    (error = dsync_buf_put(out, pk, DSYNC_RELAY_PK_BYTES)) < 0)
		return error;
	return 0;
}

/* ---- section 8: writer rules */

static bool is_writer(const dsync_relay_rule_in *in)
{
	return in->writer && in->signer && strcmp(in->writer, in->signer) == 0;
}

dsync_relay_verdict dsync_relay_rules_allow(const dsync_relay_rule_in *in)
{
	char dev[DSYNC_RELAY_ID_HEX];
	uint64_t seq;

	if (dsync_relay_manifest_name(in->name, dev, &seq) == 0) {
		/* devices/ID/SEQ: only ID, and a PUT only forward */
		if (!in->signer || strcmp(dev, in->signer) != 0)
			return DSYNC_RELAY_DENY_NOT_WRITER;
		if (!in->is_delete && seq <= in->seq_high)
			return DSYNC_RELAY_DENY_SEQ;
		return DSYNC_RELAY_ALLOW;
	}
	if (strncmp(in->name, "packs/", 6) == 0) {
		/* deleting what isn't there is no error (blobstore.h) */
		if (!in->exists || is_writer(in))
			return DSYNC_RELAY_ALLOW;
		return in->is_delete ? DSYNC_RELAY_DENY_NOT_WRITER : DSYNC_RELAY_DENY_EXISTS;
	}
	if (strncmp(in->name, "keys/", 5) == 0) {
		if (!in->exists)
			return DSYNC_RELAY_ALLOW;
		if (!in->is_delete)
			return DSYNC_RELAY_DENY_EXISTS;
		return in->other_keys > 0 ? DSYNC_RELAY_ALLOW : DSYNC_RELAY_DENY_LAST_KEY;
	}
	if (strcmp(in->name, "dsync-store") == 0) {
		if (in->is_delete)
			return DSYNC_RELAY_DENY_METHOD;
		return in->exists ? DSYNC_RELAY_DENY_EXISTS : DSYNC_RELAY_ALLOW;
	}
	/* not a blob name: the caller should have refused it; refuse anyway */
	return DSYNC_RELAY_DENY_METHOD;
}

const char *dsync_relay_verdict_code(dsync_relay_verdict v)
{
	switch (v) {
	case DSYNC_RELAY_DENY_NOT_WRITER:
		return "not-writer";
	case DSYNC_RELAY_DENY_EXISTS:
		return "exists";
	case DSYNC_RELAY_DENY_SEQ:
		return "seq-not-newer";
	case DSYNC_RELAY_DENY_LAST_KEY:
		return "last-key";
	case DSYNC_RELAY_DENY_METHOD:
		return "method";
	case DSYNC_RELAY_ALLOW:
		break;
	}
	return NULL;
}
