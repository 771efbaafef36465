/*
 * Packs in the store (docs/store-format.md, "Packs"): a git packfile
 * encrypted through crypto_secretstream in messages of DSYNC_PACK_CHUNK
 * bytes, padded (padmé), named by the keyed hash of its plaintext.  Memory
 * stays bounded whatever the size; every message is checked on the way in.
 */
#include "core/base/internal.h"

#include <unistd.h>

#include "core/store/pack.h"

#define PACK_MAGIC "dsyncP01"
#define MAGIC_LEN 8
#define PACK_HEAD_PLAIN 16
#define SS_A crypto_secretstream_xchacha20poly1305_ABYTES
#define MAX_PACK ((uint64_t)1 << 40)

uint64_t dsync_pack_blob_size(uint64_t plain)
{
	uint64_t p = dsync_store_padme(plain);

	return MAGIC_LEN + crypto_secretstream_xchacha20poly1305_HEADERBYTES + PACK_HEAD_PLAIN + SS_A + p +
	       SS_A * ((p + DSYNC_PACK_CHUNK - 1) / DSYNC_PACK_CHUNK);
}

static void pack_ad(unsigned char *ad, const dsync_store *s, const char *name)
{
	memcpy(ad, PACK_MAGIC, MAGIC_LEN);
	memcpy(ad + MAGIC_LEN, s->idraw, 16);
	memcpy(ad + MAGIC_LEN + 16, "packs/", 6);
	memcpy(ad + MAGIC_LEN + 22, name, 64);
}

#define PACK_AD_LEN (MAGIC_LEN + 16 + 6 + 64)

static int read_full(int fd, void *buf, size_t len, size_t *got)
{
	size_t at = 0;

	while (at < len) {
		ssize_t n = read(fd, (char *)buf + at, len - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		at += (size_t)n;
	}
	*got = at;
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t at = 0;

	while (at < len) {
		ssize_t n = write(fd, (const char *)buf + at, len - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		at += (size_t)n;
	}
	return 0;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void dsync_pack_namer_init(dsync_pack_namer *n, const dsync_store *s)
{
	crypto_generichash_init(&n->h, DSYNC_STORE_KNAME(s), 32, 32);
	n->len = 0;
}

void dsync_pack_namer_update(dsync_pack_namer *n, const void *data, size_t len)
{
	crypto_generichash_update(&n->h, data, len);
	n->len += len;
}

void dsync_pack_namer_final(dsync_pack_namer *n, char *name)
{
	unsigned char hash[32];

	crypto_generichash_final(&n->h, hash, 32);
	sodium_bin2hex(name, DSYNC_HEX256_SIZE, hash, 32);
}

int dsync_pack_encrypt(dsync_store *s, int plain_fd, int out_fd, char *name, uint64_t *plain_size)
{
	dsync_pack_namer n;
	unsigned char *buf = malloc(DSYNC_PACK_CHUNK);
	size_t got;
	int error;

	if (!buf)
		return dsync_error_oom();
	dsync_pack_namer_init(&n, s);
	if (lseek(plain_fd, 0, SEEK_SET) < 0) {
		free(buf);
		return dsync_error_sys(errno, "cannot encrypt a pack");
	}
	for (;;) {
		if (read_full(plain_fd, buf, DSYNC_PACK_CHUNK, &got) < 0) {
			free(buf);
			return dsync_error_sys(errno, "cannot encrypt a pack");
		}
		if (got == 0)
			break;
		dsync_pack_namer_update(&n, buf, got);
	}
	free(buf);
	dsync_pack_namer_final(&n, name);
	if ((error = dsync_pack_encrypt_named(s, plain_fd, out_fd, name, n.len)) == 0 && plain_size)
		*plain_size = n.len;
	return error;
}

int dsync_pack_encrypt_named(dsync_store *s, int plain_fd, int out_fd, const char *name, uint64_t len)
{
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char head[MAGIC_LEN + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	unsigned char ad[PACK_AD_LEN], first[PACK_HEAD_PLAIN], firstc[PACK_HEAD_PLAIN + SS_A];
	unsigned char *buf = malloc(DSYNC_PACK_CHUNK), *ct = malloc(DSYNC_PACK_CHUNK + SS_A);
	uint64_t padded, done = 0;
	size_t got;
	int error = 0;

	if (!buf || !ct) {
		error = dsync_error_oom();
		goto out;
	}
	if (len == 0 || len > MAX_PACK) {
		error = dsync_error_set(DSYNC_ERROR, "cannot encrypt a pack of %llu bytes", (unsigned long long)len);
		goto out;
	}
	padded = dsync_store_padme(len);
	memcpy(head, PACK_MAGIC, MAGIC_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&st, head + MAGIC_LEN, DSYNC_STORE_KPACK(s));
	pack_ad(ad, s, name);
	put_le64(first, len);
	put_le64(first + 8, padded);
	crypto_secretstream_xchacha20poly1305_push(&st, firstc, NULL, first, sizeof(first), ad, sizeof(ad), 0);
	if (write_full(out_fd, head, sizeof(head)) < 0 || write_full(out_fd, firstc, sizeof(firstc)) < 0)
		goto ioerr;
	if (lseek(plain_fd, 0, SEEK_SET) < 0)
		goto ioerr;
	while (done < padded) {
		size_t want = padded - done < DSYNC_PACK_CHUNK ? (size_t)(padded - done) : DSYNC_PACK_CHUNK;
		size_t data = done >= len ? 0 : (len - done < want ? (size_t)(len - done) : want);
		unsigned char tag = done + want == padded ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;

		if (data) {
			if (read_full(plain_fd, buf, data, &got) < 0)
				goto ioerr;
			if (got != data) {
				error = dsync_error_set(DSYNC_ERROR, "the pack changed while it was encrypted");
				goto out;
			}
		}
		memset(buf + data, 0, want - data);
		crypto_secretstream_xchacha20poly1305_push(&st, ct, NULL, buf, want, NULL, 0, tag);
		if (write_full(out_fd, ct, want + SS_A) < 0)
			goto ioerr;
		done += want;
	}
	/* a pack that grew after it was named would go out cut short */
	if (read_full(plain_fd, buf, 1, &got) < 0)
		goto ioerr;
	if (got != 0)
		error = dsync_error_set(DSYNC_ERROR, "the pack changed while it was encrypted");
	goto out;
ioerr:
	error = dsync_error_sys(errno, "cannot encrypt a pack");
out:
	sodium_memzero(&st, sizeof(st));
	free(buf);
	free(ct);
	return error;
}

int dsync_pack_decrypt(dsync_store *s, const char *name, int fd, dsync_pack_sink sink, void *payload)
{
	crypto_secretstream_xchacha20poly1305_state st;
	crypto_generichash_state h;
	unsigned char head[MAGIC_LEN + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	unsigned char ad[PACK_AD_LEN], first[PACK_HEAD_PLAIN], firstc[PACK_HEAD_PLAIN + SS_A], hash[32], want_hash[32];
	unsigned char *buf = malloc(DSYNC_PACK_CHUNK), *ct = malloc(DSYNC_PACK_CHUNK + SS_A + 1), tag;
	uint64_t len, padded, done = 0;
	size_t got, i;
	int error = 0;

	if (!buf || !ct) {
		error = dsync_error_oom();
		goto out;
	}
	if (strlen(name) != 64 || sodium_hex2bin(want_hash, 32, name, 64, NULL, &got, NULL) != 0 || got != 32) {
		error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s: not a pack name", name, s->bs->url);
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) < 0 || read_full(fd, head, sizeof(head), &got) < 0 ||
	    (got == sizeof(head) && read_full(fd, firstc, sizeof(firstc), &got) < 0)) {
		error = dsync_error_sys(errno, "cannot read packs/%s", name);
		goto out;
	}
	pack_ad(ad, s, name);
	if (got != sizeof(firstc) || memcmp(head, PACK_MAGIC, MAGIC_LEN) != 0 ||
	    crypto_secretstream_xchacha20poly1305_init_pull(&st, head + MAGIC_LEN, DSYNC_STORE_KPACK(s)) != 0 ||
	    crypto_secretstream_xchacha20poly1305_pull(&st, first, NULL, &tag, firstc, sizeof(firstc), ad, sizeof(ad)) != 0 ||
	    tag != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s failed verification (damaged or forged header)",
					name, s->bs->url);
		goto out;
	}
	len = get_le64(first);
	padded = get_le64(first + 8);
	if (len == 0 || len > MAX_PACK || padded != dsync_store_padme(len)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s failed verification (bad sizes)", name, s->bs->url);
		goto out;
	}
	crypto_generichash_init(&h, DSYNC_STORE_KNAME(s), 32, 32);
	while (done < padded) {
		size_t want = padded - done < DSYNC_PACK_CHUNK ? (size_t)(padded - done) : DSYNC_PACK_CHUNK;
		size_t data = done >= len ? 0 : (len - done < want ? (size_t)(len - done) : want);
		unsigned char final = done + want == padded ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;

		if (read_full(fd, ct, want + SS_A, &got) < 0) {
			error = dsync_error_sys(errno, "cannot read packs/%s", name);
			goto out;
		}
		if (got != want + SS_A) {
			error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s is truncated", name, s->bs->url);
			goto out;
		}
		if (crypto_secretstream_xchacha20poly1305_pull(&st, buf, NULL, &tag, ct, want + SS_A, NULL, 0) != 0 ||
		    tag != final) {
			error = dsync_error_set(DSYNC_ECORRUPT,
						"packs/%s in %s failed verification (damaged at byte %llu)", name,
						s->bs->url, (unsigned long long)(done + sizeof(head)));
			goto out;
		}
		for (i = data; i < want; i++)
			if (buf[i]) {
				error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s failed verification (padding)",
							name, s->bs->url);
				goto out;
			}
		if (data) {
			crypto_generichash_update(&h, buf, data);
			if ((error = sink(buf, data, payload)) < 0)
				goto out;
		}
		done += want;
	}
	if (read_full(fd, ct, 1, &got) < 0 || got != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s failed verification (bytes after its end)", name,
					s->bs->url);
		goto out;
	}
	crypto_generichash_final(&h, hash, 32);
	if (sodium_memcmp(hash, want_hash, 32) != 0)
		error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s failed verification (its content is not its name)",
					name, s->bs->url);
out:
	sodium_memzero(&st, sizeof(st));
	free(buf);
	free(ct);
	return error;
}
