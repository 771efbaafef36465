/*
 * Manifests and their text format (docs/store-format.md, "Manifests"): the
 * text a device writes as devices/ID/SEQ, its parser (every line checked:
 * the text comes from the store), its name, and the AEAD seal around it.
 */
#include "core/base/internal.h"

#include <sodium.h>

#include "core/store/manifest.h"

#define MANIFEST_MAGIC "dsyncM01"
#define MAGIC_LEN 8
#define MANIFEST_MIN 512
#define SEQ_DIGITS 16

void dsync_manifest_dispose(dsync_manifest *m)
{
	size_t i;

	for (i = 0; i < m->packs.size; i++)
		free(m->packs.ptr[i].from);
	dsync_array_dispose(m->packs);
	dsync_array_dispose(m->retired);
	memset(m, 0, sizeof(*m));
}

static bool is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0' || s[n] == ' ' || s[n] == '\n' || s[n] == '/' || s[n] == ',';
}

static int bad_manifest(const dsync_manifest *m, const char *url, const char *what)
{
	return dsync_error_set(DSYNC_ECORRUPT, "%s in %s is malformed (%s)", m->blob, url, what);
}

int dsync_manifest_add_pack(dsync_manifest *m, const char *name, uint64_t size, int64_t when, const char *from)
{
	dsync_manifest_pack p = { .size = size, .time = when };

	memcpy(p.name, name, 64);
	if (from && (p.from = strdup(from)) == NULL)
		return dsync_error_oom();
	if (dsync_array_push(m->packs, p) < 0) {
		free(p.from);
		return dsync_error_oom();
	}
	return 0;
}

int dsync_manifest_add_retired(dsync_manifest *m, const char *name, int64_t since)
{
	dsync_manifest_retired r = { .since = since };

	memcpy(r.name, name, 64);
	return dsync_array_push(m->retired, r) < 0 ? dsync_error_oom() : 0;
}

/* A manifest text's hash as the seen state records it (65 bytes: hex). */
void dsync_manifest_hash(char *hex, const char *text, size_t len)
{
	unsigned char hash[32];

	crypto_generichash(hash, 32, (const unsigned char *)text, len, NULL, 0);
	sodium_bin2hex(hex, 65, hash, 32);
}

/* Whether S is "NAME,NAME,..." of 64 hex digits each. */
static bool pack_list_ok(const char *s)
{
	for (;;) {
		if (strlen(s) < 64 || !is_hex(s, 64))
			return false;
		s += 64;
		if (!*s)
			return true;
		if (*s++ != ',')
			return false;
	}
}

/* Parses manifest TEXT of blob M->blob (device and seq already set from the
 * name) and checks that it says what its name says. */
int dsync_manifest_parse(dsync_manifest *m, const char *text, const char *store_id, const char *url)
{
	char *copy = strdup(text), *line, *save = NULL;
	int error = 0, field = 0;
	bool ended = false;

	if (!copy)
		return dsync_error_oom();
	dsync_manifest_hash(m->hash, text, strlen(text));
	for (line = strtok_r(copy, "\n", &save); line && error == 0; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long u;
		long long t;
		char name[80];
		int n = 0;

		if (ended) {
			error = bad_manifest(m, url, "text after its end");
		} else if (field == 0) {
			if (strcmp(line, "dsync-manifest 1") != 0)
				error = bad_manifest(m, url, "unknown version");
			field++;
		} else if (field == 1) {
			if (strncmp(line, "store ", 6) != 0 || strcmp(line + 6, store_id) != 0)
				error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s belongs to another store", m->blob, url);
			field++;
		} else if (field == 2) {
			if (strncmp(line, "device ", 7) != 0 || strcmp(line + 7, m->device) != 0)
				error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s names another device", m->blob, url);
			field++;
		} else if (field == 3) {
			if (sscanf(line, "seq %llu%n", &u, &n) != 1 || line[n] || u != m->seq)
				error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s has another sequence number", m->blob,
							url);
			field++;
		} else if (field == 4) {
			if (sscanf(line, "time %lld%n", &t, &n) != 1 || line[n])
				error = bad_manifest(m, url, "time");
			m->time = t;
			field++;
		} else if (field == 5) {
			if (strcmp(line, "head none") == 0)
				m->has_head = false;
			else if (strncmp(line, "head ", 5) == 0 && strlen(line) == 45 && is_hex(line + 5, 40) &&
				 git_oid_fromstr(&m->head, line + 5) == 0)
				m->has_head = true;
			else
				error = bad_manifest(m, url, "head");
			field++;
		} else if (strcmp(line, "end") == 0) {
			ended = true;
		} else if (strncmp(line, "pack ", 5) == 0) {
			const char *from = NULL;

			if (sscanf(line, "pack %79s %llu %lld%n", name, &u, &t, &n) != 3 || strlen(name) != 64 ||
			    !is_hex(name, 64) || (line[n] && (strncmp(line + n, " from ", 6) != 0 ||
							     !pack_list_ok(from = line + n + 6))))
				error = bad_manifest(m, url, "pack line");
			else
				error = dsync_manifest_add_pack(m, name, u, t, from);
		} else if (strncmp(line, "retired ", 8) == 0) {
			if (sscanf(line, "retired %79s %lld%n", name, &t, &n) != 2 || line[n] || strlen(name) != 64 ||
			    !is_hex(name, 64))
				error = bad_manifest(m, url, "retired line");
			else
				error = dsync_manifest_add_retired(m, name, t);
		} else {
			error = bad_manifest(m, url, "unknown line");
		}
	}
	if (error == 0 && (!ended || field < 6))
		error = bad_manifest(m, url, "incomplete");
	free(copy);
	return error;
}

int dsync_manifest_text(dsync_buf *out, const dsync_manifest *m, const char *store_id)
{
	char head[DSYNC_OID_HEX_SIZE];
	size_t i;
	int error;

	if (m->has_head)
		git_oid_tostr(head, sizeof(head), &m->head);
	if ((error = dsync_buf_printf(out, "dsync-manifest 1\nstore %s\ndevice %s\nseq %llu\ntime %lld\nhead %s\n",
				      store_id, m->device, (unsigned long long)m->seq, (long long)m->time,
				      m->has_head ? head : "none")) < 0)
		return error;
	for (i = 0; i < m->packs.size && error == 0; i++)
		error = dsync_buf_printf(out, "pack %s %llu %lld%s%s\n", m->packs.ptr[i].name,
					 (unsigned long long)m->packs.ptr[i].size, (long long)m->packs.ptr[i].time,
					 m->packs.ptr[i].from ? " from " : "",
					 m->packs.ptr[i].from ? m->packs.ptr[i].from : "");
	for (i = 0; i < m->retired.size && error == 0; i++)
		error = dsync_buf_printf(out, "retired %s %lld\n", m->retired.ptr[i].name, (long long)m->retired.ptr[i].since);
	if (error == 0)
		error = dsync_buf_puts(out, "end\n");
	return error;
}

int dsync_manifest_parse_name(const char *name, char *dev, uint64_t *seq)
{
	const char *p = name + 8;
	size_t i;

	if (strncmp(name, "devices/", 8) != 0 || strlen(p) != 32 + 1 + SEQ_DIGITS || p[32] != '/' || !is_hex(p, 32))
		return -1;
	*seq = 0;
	for (i = 33; i < 33 + SEQ_DIGITS; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*seq = *seq * 10 + (uint64_t)(p[i] - '0');
	}
	memcpy(dev, p, 32);
	dev[32] = '\0';
	return 0;
}

void dsync_manifest_name(char *out, size_t size, const char *dev, uint64_t seq)
{
	snprintf(out, size, "devices/%s/%0*llu", dev, SEQ_DIGITS, (unsigned long long)seq);
}


/* ---- the seal ------------------------------------------------------------ */

static int manifest_ad(dsync_buf *ad, const dsync_store *s, const char *blobname)
{
	int error;

	if ((error = dsync_buf_put(ad, MANIFEST_MAGIC, MAGIC_LEN)) < 0 || (error = dsync_buf_put(ad, s->idraw, 16)) < 0)
		return error;
	return dsync_buf_puts(ad, blobname);
}

int dsync_manifest_seal(dsync_buf *out, dsync_store *s, const char *blobname, const char *text, size_t len)
{
	dsync_buf ad = DSYNC_BUF_INIT;
	unsigned char *plain = NULL;
	uint64_t padded = dsync_store_padme(len < MANIFEST_MIN ? MANIFEST_MIN : len + 1);
	size_t at = out->len;
	int error;

	if ((plain = calloc(1, (size_t)padded)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	memcpy(plain, text, len);
	if ((error = manifest_ad(&ad, s, blobname)) < 0 ||
	    (error = dsync_buf_grow(out, MAGIC_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)padded +
					      crypto_aead_xchacha20poly1305_ietf_ABYTES)) < 0)
		goto out;
	memcpy(out->ptr + at, MANIFEST_MAGIC, MAGIC_LEN);
	randombytes_buf(out->ptr + at + MAGIC_LEN, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		(unsigned char *)out->ptr + at + MAGIC_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, plain,
		(size_t)padded, (const unsigned char *)ad.ptr, ad.len, NULL,
		(const unsigned char *)out->ptr + at + MAGIC_LEN, DSYNC_STORE_KMANIFEST(s));
	out->len = at + MAGIC_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)padded +
		    crypto_aead_xchacha20poly1305_ietf_ABYTES;
out:
	free(plain);
	dsync_buf_dispose(&ad);
	return error;
}

int dsync_manifest_open(dsync_buf *text, dsync_store *s, const char *blobname, const unsigned char *blob,
			size_t len)
{
	dsync_buf ad = DSYNC_BUF_INIT;
	const size_t over = MAGIC_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
			    crypto_aead_xchacha20poly1305_ietf_ABYTES;
	unsigned long long plen = 0;
	size_t at = text->len, end;
	int error;

	if (len < over + MANIFEST_MIN || memcmp(blob, MANIFEST_MAGIC, MAGIC_LEN) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s is damaged (%s)", blobname, s->bs->url,
					len < over + MANIFEST_MIN ? "too short" : "bad magic");
		goto out;
	}
	if ((error = manifest_ad(&ad, s, blobname)) < 0 || (error = dsync_buf_grow(text, len - over + 1)) < 0)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    (unsigned char *)text->ptr + at, &plen, NULL, blob + MAGIC_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
		    len - MAGIC_LEN - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, (const unsigned char *)ad.ptr, ad.len,
		    blob + MAGIC_LEN, DSYNC_STORE_KMANIFEST(s)) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT,
					"%s in %s failed verification (damaged, forged, renamed or from another store)",
					blobname, s->bs->url);
		goto out;
	}
	/* the text, then NUL padding only */
	end = strnlen(text->ptr + at, (size_t)plen);
	for (size_t i = end; i < plen; i++)
		if (text->ptr[at + i]) {
			error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s is malformed (padding)", blobname, s->bs->url);
			goto out;
		}
	text->len = at + end;
	text->ptr[text->len] = '\0';
out:
	dsync_buf_dispose(&ad);
	return error;
}
