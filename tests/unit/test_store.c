/*
 * The encrypted store's formats (core/store.h, DESIGN.md section 4): padmé
 * padding, packs through crypto_secretstream (round trips at the sizes that
 * matter, names that are keyed hashes of the plaintext, every kind of damage
 * refused as DSYNC_ECORRUPT naming the blob), AEAD manifests bound to their
 * blob name and store, and the store itself: dsync-store and keys/ made,
 * opened and unlocked, a wrong passphrase (DSYNC_EAUTH) told from a damaged
 * blob (DSYNC_ECORRUPT), the key re-sealed under a new passphrase, the
 * per-user key cache, and the default Argon2id limits.
 *
 * Each test runs in its own temporary folder with HOME inside it (so the
 * key cache goes there) and DSYNC_TEST_KDF=min (except where the default
 * limits are checked).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "core/base/buf.h"
#include "core/store/store.h"
#include "transport/transport.h"
#include "core/store/manifest.h"
#include "core/store/pack.h"
#include "transport/blobstore.h"
#include "sandbox.h"

#define PASS "correct horse battery staple"

typedef struct fixture {
	char place_a[300], place_b[300];
	dsync_blobstore *bs_a, *bs_b;
	dsync_store *a, *b;          /* two stores, both unlocked */
} fixture;

static fixture fx;

static int setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(dsync_lib_init(), 0);
	sandbox_open("store", SANDBOX_HOME);
	setenv("DSYNC_TEST_KDF", "min", 1);
	snprintf(fx.place_a, sizeof(fx.place_a), "%s/store-a", sandbox_dir);
	snprintf(fx.place_b, sizeof(fx.place_b), "%s/store-b", sandbox_dir);
	assert_int_equal(dsync_transport_open(&fx.bs_a, fx.place_a, true, NULL), 0);
	assert_int_equal(dsync_transport_open(&fx.bs_b, fx.place_b, true, NULL), 0);
	if (dsync_store_create(&fx.a, fx.bs_a, PASS, NULL) != 0)
		fail_msg("%s", dsync_error_last());
	assert_int_equal(dsync_store_create(&fx.b, fx.bs_b, PASS, NULL), 0);
	assert_true(fx.a->unlocked);
	assert_string_not_equal(fx.a->id, fx.b->id);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dsync_store_free(fx.a);
	dsync_store_free(fx.b);
	dsync_blobstore_free(fx.bs_a);
	dsync_blobstore_free(fx.bs_b);
	sandbox_close();
	return 0;
}

/* ------------------------------------------------------------ files */

/* An unlinked temporary file in the fixture's folder holding LEN bytes. */
static int temp_fd(const void *data, size_t len)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/tmp.XXXXXX", sandbox_dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* The whole content of FD into OUT (appended). */
static void read_fd(dsync_buf *out, int fd)
{
	char buf[65536];
	ssize_t n;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(dsync_buf_puts(out, ""), 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		assert_int_equal(dsync_buf_put(out, buf, (size_t)n), 0);
	assert_true(n == 0);
}

static void read_path(dsync_buf *out, const char *path)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	read_fd(out, fd);
	close(fd);
}

static void write_path(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* LEN bytes of reproducible noise. */
static unsigned char *noise(size_t len, unsigned char tag)
{
	unsigned char *p = malloc(len ? len : 1), seed[randombytes_SEEDBYTES] = { tag, 0x5a };

	assert_non_null(p);
	randombytes_buf_deterministic(p, len, seed);
	return p;
}

static bool is_hex64(const char *s)
{
	size_t i;

	if (strlen(s) != 64)
		return false;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ------------------------------------------------------------ padmé */

/* The reference padmé (Nikitin et al., PETS 2019), written out with loops. */
static uint64_t padme_ref(uint64_t len)
{
	unsigned e = 0, s = 0, last;
	uint64_t v, mask;

	if (len < 2)
		return len;
	for (v = len; v > 1; v >>= 1)
		e++;                       /* floor(log2 len) */
	for (v = e; v > 1; v >>= 1)
		s++;                       /* floor(log2 e) */
	s++;
	last = e - s;
	mask = ((uint64_t)1 << last) - 1;
	return (len + mask) & ~mask;
}

static void test_padme(void **state)
{
	static const struct { uint64_t in, out; } known[] = {
		{ 0, 0 }, { 1, 1 }, { 2, 2 }, { 3, 3 }, { 7, 7 }, { 8, 8 }, { 9, 10 }, { 100, 104 },
		{ 256, 256 }, { 257, 272 }, { 512, 512 }, { 513, 544 }, { 1000, 1024 }, { 1025, 1088 },
		{ 65536, 65536 }, { 65537, 67584 }, { 1000000, 1015808 },
	};
	unsigned char seed[randombytes_SEEDBYTES] = { 42 };
	uint64_t l, prev = 0, r[4096];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (dsync_store_padme(known[i].in) != known[i].out)
			fail_msg("padme(%llu) = %llu, expected %llu", (unsigned long long)known[i].in,
				 (unsigned long long)dsync_store_padme(known[i].in), (unsigned long long)known[i].out);
	for (l = 0; l < 300000; l++) {
		uint64_t p = dsync_store_padme(l);

		assert_true(p >= l);
		assert_true(p >= prev);                 /* never smaller for a longer input */
		assert_int_equal(dsync_store_padme(p), p);    /* idempotent */
		assert_int_equal(p, padme_ref(l));
		if (l >= 256)
			assert_true((p - l) * 100 <= l * 12);
		prev = p;
	}
	/* large sizes, up to the largest pack (1 TiB) */
	randombytes_buf_deterministic(r, sizeof(r), seed);
	for (i = 0; i < 4096; i++) {
		uint64_t p;

		l = r[i] >> (24 + i % 40);
		p = dsync_store_padme(l);
		assert_true(p >= l);
		assert_int_equal(dsync_store_padme(p), p);
		assert_int_equal(p, padme_ref(l));
		if (l >= 256)
			assert_true((double)(p - l) <= 0.12 * (double)l);
	}
	/* powers of two are kept */
	for (i = 0; i < 41; i++)
		assert_int_equal(dsync_store_padme((uint64_t)1 << i), (uint64_t)1 << i);
	/* the blob size of a pack grows with its padded size only */
	assert_int_equal(dsync_pack_blob_size(9), dsync_pack_blob_size(10));
	assert_true(dsync_pack_blob_size(11) > dsync_pack_blob_size(10));
}

/* ------------------------------------------------------------ packs */

typedef struct sink {
	dsync_buf b;
	size_t calls;
} sink;

static int collect(const void *data, size_t len, void *payload)
{
	sink *s = payload;

	assert_true(len > 0 && len <= DSYNC_PACK_CHUNK);
	s->calls++;
	return dsync_buf_put(&s->b, data, len);
}

/* Encrypts DATA with S into BLOB (appended); the name into NAME. */
static void encrypt_bytes(dsync_store *s, const unsigned char *data, size_t len, char *name, dsync_buf *blob)
{
	int in = temp_fd(data, len), out = temp_fd(NULL, 0);
	uint64_t size = 0;
	struct stat st;

	if (dsync_pack_encrypt(s, in, out, name, &size) != 0)
		fail_msg("%s", dsync_error_last());
	assert_int_equal(size, len);
	assert_true(is_hex64(name));
	assert_int_equal(fstat(out, &st), 0);
	assert_int_equal((uint64_t)st.st_size, dsync_pack_blob_size(len));
	read_fd(blob, out);
	close(in);
	close(out);
}

/* Decrypts the blob BLOB (LEN bytes) as packs/NAME with S into OUT. */
static int decrypt_bytes(dsync_store *s, const char *name, const void *blob, size_t len, sink *out)
{
	int fd = temp_fd(blob, len), error;

	assert_int_equal(dsync_buf_puts(&out->b, ""), 0);
	error = dsync_pack_decrypt(s, name, fd, collect, out);
	close(fd);
	return error;
}

/* Decrypting must fail as damage naming packs/NAME. */
static void refused(dsync_store *s, const char *name, const void *blob, size_t len, const char *what)
{
	sink out = { DSYNC_BUF_INIT, 0 };
	char want[80];
	int error = decrypt_bytes(s, name, blob, len, &out);

	snprintf(want, sizeof(want), "packs/%s", name);
	if (error != DSYNC_ECORRUPT)
		fail_msg("%s: decrypt returned %d (%s), expected DSYNC_ECORRUPT", what, error, dsync_error_last());
	if (!strstr(dsync_error_last(), want))
		fail_msg("%s: the message does not name %s: %s", what, want, dsync_error_last());
	dsync_buf_dispose(&out.b);
}

static void test_pack_round_trip(void **state)
{
	static const size_t sizes[] = { 1, 100, 65535, 65536, 65537, 3 * 65536 + 5, (1u << 20) + 12345 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *data = noise(sizes[i], (unsigned char)i);
		dsync_buf b1 = DSYNC_BUF_INIT, b2 = DSYNC_BUF_INIT, b3 = DSYNC_BUF_INIT;
		sink out = { DSYNC_BUF_INIT, 0 };
		char n1[65], n2[65], n3[65];

		encrypt_bytes(fx.a, data, sizes[i], n1, &b1);
		assert_true(memcmp(b1.ptr, "dsyncP01", 8) == 0);
		if (decrypt_bytes(fx.a, n1, b1.ptr, b1.len, &out) != 0)
			fail_msg("size %zu: %s", sizes[i], dsync_error_last());
		assert_int_equal(out.b.len, sizes[i]);
		assert_memory_equal(out.b.ptr, data, sizes[i]);
		/* the same plaintext: the same name, another stream header */
		encrypt_bytes(fx.a, data, sizes[i], n2, &b2);
		assert_string_equal(n1, n2);
		assert_int_equal(b1.len, b2.len);
		assert_memory_not_equal(b1.ptr + 8, b2.ptr + 8, crypto_secretstream_xchacha20poly1305_HEADERBYTES);
		/* another plaintext of the same size: another name, the same size */
		data[sizes[i] / 2] ^= 1;
		encrypt_bytes(fx.a, data, sizes[i], n3, &b3);
		assert_string_not_equal(n1, n3);
		assert_int_equal(b1.len, b3.len);
		/* no plaintext shows through (a 32-byte stretch of noise) */
		if (sizes[i] >= 32)
			assert_null(memmem(b1.ptr, b1.len, data + sizes[i] - 32, 32));
		free(data);
		dsync_buf_dispose(&b1);
		dsync_buf_dispose(&b2);
		dsync_buf_dispose(&b3);
		dsync_buf_dispose(&out.b);
	}
}

static void test_pack_empty(void **state)
{
	int in = temp_fd(NULL, 0), out = temp_fd(NULL, 0);
	char name[65];
	struct stat st;

	(void)state;
	/* nothing to encrypt: refused, saying so, and no blob written */
	assert_int_equal(dsync_pack_encrypt(fx.a, in, out, name, NULL), DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), "cannot encrypt a pack of 0 bytes");
	assert_int_equal(fstat(out, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(in);
	close(out);
}

static void test_pack_tamper(void **state)
{
	const size_t len = 3 * 65536 + 5;
	unsigned char *data = noise(len, 77), *bad;
	dsync_buf blob = DSYNC_BUF_INIT, other = DSYNC_BUF_INIT, small = DSYNC_BUF_INIT;
	sink out = { DSYNC_BUF_INIT, 0 };
	char name[65], oname[65], sname[65], what[80], notname[65];
	const size_t msg = DSYNC_PACK_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES;
	const size_t first = 8 + crypto_secretstream_xchacha20poly1305_HEADERBYTES + 16 +
			     crypto_secretstream_xchacha20poly1305_ABYTES;
	size_t n, i, pos[200], npos = 0;

	(void)state;
	encrypt_bytes(fx.a, data, len, name, &blob);
	n = blob.len;
	assert_int_equal(decrypt_bytes(fx.a, name, blob.ptr, n, &out), 0);
	bad = malloc(n + 64);
	assert_non_null(bad);

	/* a flipped byte anywhere */
	pos[npos++] = 0;
	pos[npos++] = 8;
	pos[npos++] = 31;
	pos[npos++] = 32;
	pos[npos++] = n / 2;
	pos[npos++] = n - 1;
	for (i = 1; i < 64; i++)
		pos[npos++] = i;                 /* magic, header, first message */
	for (i = first; i < n && npos < 190; i += 4099)
		pos[npos++] = i;                 /* through every message */
	pos[npos++] = first + msg - 1;       /* the end of the first data message */
	pos[npos++] = first + msg;           /* the start of the second */
	pos[npos++] = n - 17;                /* the last message's tag */
	for (i = 0; i < npos; i++) {
		memcpy(bad, blob.ptr, n);
		bad[pos[i]] ^= 0x01;
		snprintf(what, sizeof(what), "byte %zu of %zu flipped", pos[i], n);
		refused(fx.a, name, bad, n, what);
		memcpy(bad, blob.ptr, n);
		bad[pos[i]] ^= 0x80;
		refused(fx.a, name, bad, n, what);
	}

	/* truncated, extended */
	refused(fx.a, name, blob.ptr, n - 1, "the last byte dropped");
	refused(fx.a, name, blob.ptr, n - 17, "the last 17 bytes dropped");
	refused(fx.a, name, blob.ptr, n / 2, "cut at half");
	refused(fx.a, name, blob.ptr, n - msg, "the last message dropped");
	refused(fx.a, name, blob.ptr, first + msg, "cut after the first data message");
	refused(fx.a, name, blob.ptr, first, "cut after the header");
	refused(fx.a, name, blob.ptr, 31, "cut inside the header");
	refused(fx.a, name, blob.ptr, 0, "empty");
	memcpy(bad, blob.ptr, n);
	bad[n] = 0;
	refused(fx.a, name, bad, n + 1, "a byte appended");
	memset(bad + n, 0, 17);
	refused(fx.a, name, bad, n + 17, "17 bytes appended");

	/* messages dropped, swapped, repeated inside the stream */
	memcpy(bad, blob.ptr, first + msg);
	memcpy(bad + first + msg, blob.ptr + first + 2 * msg, n - first - 2 * msg);
	refused(fx.a, name, bad, n - msg, "the second message dropped");
	memcpy(bad, blob.ptr, n);
	memcpy(bad + first, blob.ptr + first + msg, msg);
	memcpy(bad + first + msg, blob.ptr + first, msg);
	refused(fx.a, name, bad, n, "two messages swapped");
	memcpy(bad, blob.ptr, n);
	memcpy(bad + first + msg, blob.ptr + first, msg);
	refused(fx.a, name, bad, n, "a message repeated");

	/* under another name: another pack's, one that is not a name at all */
	data[0] ^= 1;
	encrypt_bytes(fx.a, data, len, oname, &other);
	data[0] ^= 1;
	refused(fx.a, oname, blob.ptr, n, "under another pack's name");
	refused(fx.a, name, other.ptr, other.len, "another pack under this name");
	memcpy(notname, name, 65);
	notname[63] = notname[63] == '0' ? '1' : '0';
	refused(fx.a, notname, blob.ptr, n, "under a name one digit off");
	/* the header of one pack, the messages of another */
	memcpy(bad, other.ptr, first);
	memcpy(bad + first, blob.ptr + first, n - first);
	refused(fx.a, name, bad, n, "another pack's header");
	refused(fx.a, oname, bad, n, "another pack's messages");
	/* a short pack spliced onto a long one's header, and the reverse */
	encrypt_bytes(fx.a, data, 1000, sname, &small);
	memcpy(bad, blob.ptr, first);
	memcpy(bad + first, small.ptr + first, small.len - first);
	refused(fx.a, name, bad, small.len, "a short pack's messages after a long pack's header");

	/* from another store: the same plaintext */
	dsync_buf_truncate(&other, 0);
	encrypt_bytes(fx.b, data, len, oname, &other);
	assert_string_not_equal(oname, name);   /* names are keyed per store */
	refused(fx.a, oname, other.ptr, other.len, "a pack of another store");
	refused(fx.a, name, other.ptr, other.len, "a pack of another store under this store's name");
	assert_int_equal(decrypt_bytes(fx.b, oname, other.ptr, other.len, &out), 0);

	/* and the pristine blob still decrypts */
	dsync_buf_truncate(&out.b, 0);
	assert_int_equal(decrypt_bytes(fx.a, name, blob.ptr, n, &out), 0);
	assert_int_equal(out.b.len, len);
	assert_memory_equal(out.b.ptr, data, len);

	free(bad);
	free(data);
	dsync_buf_dispose(&blob);
	dsync_buf_dispose(&other);
	dsync_buf_dispose(&small);
	dsync_buf_dispose(&out.b);
}

/* A pack made with the store's own subkeys (as a member could), of LEN
 * bytes ("forged" then NULs) padded to PADDED, into BLOB; its name into NAME. */
static void forge_pack(dsync_buf *blob, char *name, uint64_t len, uint64_t padded)
{
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char head[8 + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	unsigned char ad[8 + 16 + 6 + 64], first[16], firstc[16 + crypto_secretstream_xchacha20poly1305_ABYTES];
	unsigned char body[256 + crypto_secretstream_xchacha20poly1305_ABYTES], plain[256] = "forged";
	unsigned char hash[32];
	size_t i;

	assert_true(len <= padded && padded <= sizeof(plain));
	crypto_generichash(hash, 32, plain, (size_t)len, DSYNC_STORE_KNAME(fx.a), 32);
	sodium_bin2hex(name, 65, hash, 32);
	memcpy(head, "dsyncP01", 8);
	crypto_secretstream_xchacha20poly1305_init_push(&st, head + 8, DSYNC_STORE_KPACK(fx.a));
	memcpy(ad, "dsyncP01", 8);
	memcpy(ad + 8, fx.a->idraw, 16);
	memcpy(ad + 24, "packs/", 6);
	memcpy(ad + 30, name, 64);
	for (i = 0; i < 8; i++) {
		first[i] = (unsigned char)(len >> (8 * i));
		first[8 + i] = (unsigned char)(padded >> (8 * i));
	}
	crypto_secretstream_xchacha20poly1305_push(&st, firstc, NULL, first, sizeof(first), ad, sizeof(ad), 0);
	crypto_secretstream_xchacha20poly1305_push(&st, body, NULL, plain, (size_t)padded, NULL, 0,
						  crypto_secretstream_xchacha20poly1305_TAG_FINAL);
	dsync_buf_truncate(blob, 0);
	assert_int_equal(dsync_buf_put(blob, head, sizeof(head)), 0);
	assert_int_equal(dsync_buf_put(blob, firstc, sizeof(firstc)), 0);
	assert_int_equal(dsync_buf_put(blob, body, (size_t)padded + crypto_secretstream_xchacha20poly1305_ABYTES), 0);
}

/* Sizes in a pack that authenticates are checked too: padding must be
 * padmé's, and the length is bound to the name. */
static void test_pack_sizes_checked(void **state)
{
	dsync_buf blob = DSYNC_BUF_INIT;
	sink out = { DSYNC_BUF_INIT, 0 };
	char name[65];

	(void)state;
	/* the forgery method itself is right */
	forge_pack(&blob, name, 100, dsync_store_padme(100));
	if (decrypt_bytes(fx.a, name, blob.ptr, blob.len, &out) != 0)
		fail_msg("%s", dsync_error_last());
	assert_int_equal(out.b.len, 100);
	assert_int_equal(blob.len, dsync_pack_blob_size(100));
	/* more padding than padmé's */
	forge_pack(&blob, name, 100, 200);
	refused(fx.a, name, blob.ptr, blob.len, "padded to 200 bytes, not padme(100)");
	/* less */
	forge_pack(&blob, name, 100, 100);
	refused(fx.a, name, blob.ptr, blob.len, "padded to 100 bytes, not padme(100)");
	dsync_buf_dispose(&blob);
	dsync_buf_dispose(&out.b);
}

/* ------------------------------------------------------------ manifests */

#define DEV "0123456789abcdef0123456789abcdef"
#define BLOB1 "devices/" DEV "/0000000000000001"
#define BLOB2 "devices/" DEV "/0000000000000002"
#define MAN_OVER (8 + 24 + 16)

static void manifest_refused(dsync_store *s, const char *blobname, const void *blob, size_t len, const char *what)
{
	dsync_buf text = DSYNC_BUF_INIT;
	int error = dsync_manifest_open(&text, s, blobname, blob, len);

	if (error != DSYNC_ECORRUPT)
		fail_msg("%s: open returned %d (%s), expected DSYNC_ECORRUPT", what, error, dsync_error_last());
	if (!strstr(dsync_error_last(), blobname))
		fail_msg("%s: the message does not name %s: %s", what, blobname, dsync_error_last());
	dsync_buf_dispose(&text);
}

static void test_manifest(void **state)
{
	static const size_t lens[] = { 0, 1, 100, 510, 511, 512, 513, 1000, 4095, 4096, 70000 };
	const char *sample = "dsync-manifest 1\nstore x\ndevice y\nseq 1\ntime 0\nhead none\nend\n";
	dsync_buf blob = DSYNC_BUF_INIT, again = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT, other = DSYNC_BUF_INIT;
	unsigned char *bad;
	char what[80];
	size_t i;

	(void)state;
	/* round trip, and the sizes padded */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *t = malloc(lens[i] + 1);
		size_t plain;

		assert_non_null(t);
		memset(t, 'a' + (int)(i % 26), lens[i]);
		t[lens[i]] = '\0';
		dsync_buf_truncate(&blob, 0);
		dsync_buf_truncate(&text, 0);
		assert_int_equal(dsync_buf_puts(&blob, ""), 0);
		if (dsync_manifest_seal(&blob, fx.a, BLOB1, t, lens[i]) != 0)
			fail_msg("%s", dsync_error_last());
		assert_memory_equal(blob.ptr, "dsyncM01", 8);
		assert_true(blob.len > MAN_OVER);
		plain = blob.len - MAN_OVER;
		assert_true(plain >= 512);
		assert_true(plain > lens[i]);
		assert_int_equal(dsync_store_padme(plain), plain);
		if (lens[i] < 512)
			assert_int_equal(plain, 512);
		if (dsync_manifest_open(&text, fx.a, BLOB1, (unsigned char *)blob.ptr, blob.len) != 0)
			fail_msg("length %zu: %s", lens[i], dsync_error_last());
		assert_int_equal(text.len, lens[i]);
		assert_memory_equal(text.ptr, t, lens[i]);
		assert_int_equal(text.ptr[text.len], '\0');
		free(t);
	}

	/* a real-looking manifest; sealed twice: other nonces */
	dsync_buf_truncate(&blob, 0);
	dsync_buf_truncate(&text, 0);
	assert_int_equal(dsync_buf_puts(&blob, ""), 0);
	assert_int_equal(dsync_buf_puts(&again, ""), 0);
	assert_int_equal(dsync_manifest_seal(&blob, fx.a, BLOB1, sample, strlen(sample)), 0);
	assert_int_equal(dsync_manifest_seal(&again, fx.a, BLOB1, sample, strlen(sample)), 0);
	assert_int_equal(blob.len, again.len);
	assert_memory_not_equal(blob.ptr + 8, again.ptr + 8, 24);
	assert_null(memmem(blob.ptr, blob.len, "dsync-manifest", 14));
	assert_int_equal(dsync_manifest_open(&text, fx.a, BLOB1, (unsigned char *)blob.ptr, blob.len), 0);
	assert_string_equal(text.ptr, sample);

	/* every byte flipped */
	bad = malloc(blob.len + 1);
	assert_non_null(bad);
	for (i = 0; i < blob.len; i++) {
		memcpy(bad, blob.ptr, blob.len);
		bad[i] ^= 0x01;
		snprintf(what, sizeof(what), "byte %zu of %zu flipped", i, blob.len);
		manifest_refused(fx.a, BLOB1, bad, blob.len, what);
	}
	/* truncated, extended */
	manifest_refused(fx.a, BLOB1, blob.ptr, blob.len - 1, "the last byte dropped");
	manifest_refused(fx.a, BLOB1, blob.ptr, blob.len - 16, "the tag dropped");
	manifest_refused(fx.a, BLOB1, blob.ptr, blob.len / 2, "cut at half");
	manifest_refused(fx.a, BLOB1, blob.ptr, 20, "cut in the nonce");
	memcpy(bad, blob.ptr, blob.len);
	bad[blob.len] = 0;
	manifest_refused(fx.a, BLOB1, bad, blob.len + 1, "a byte appended");
	/* under another blob name: another sequence number, another device */
	manifest_refused(fx.a, BLOB2, blob.ptr, blob.len, "opened as sequence 2");
	manifest_refused(fx.a, "devices/fedcba9876543210fedcba9876543210/0000000000000001", blob.ptr, blob.len,
			 "opened as another device's");
	/* from another store: the same text and name */
	assert_int_equal(dsync_buf_puts(&other, ""), 0);
	assert_int_equal(dsync_manifest_seal(&other, fx.b, BLOB1, sample, strlen(sample)), 0);
	manifest_refused(fx.a, BLOB1, other.ptr, other.len, "a manifest of another store");
	dsync_buf_truncate(&text, 0);
	assert_int_equal(dsync_manifest_open(&text, fx.b, BLOB1, (unsigned char *)other.ptr, other.len), 0);
	assert_string_equal(text.ptr, sample);

	free(bad);
	dsync_buf_dispose(&blob);
	dsync_buf_dispose(&again);
	dsync_buf_dispose(&text);
	dsync_buf_dispose(&other);
}

/* A manifest sealed with the right key whose padding is not all NULs (text,
 * a NUL, then more text) is refused: the text can't hide a second part. */
static void test_manifest_padding(void **state)
{
	unsigned char plain[512], *blob = malloc(MAN_OVER + 512);
	unsigned char ad[8 + 16 + sizeof(BLOB1) - 1];
	dsync_buf text = DSYNC_BUF_INIT;

	(void)state;
	assert_non_null(blob);
	memset(plain, 0, sizeof(plain));
	memcpy(plain, "first part", 10);
	memcpy(plain + 20, "hidden part", 11);
	memcpy(ad, "dsyncM01", 8);
	memcpy(ad + 8, fx.a->idraw, 16);
	memcpy(ad + 24, BLOB1, sizeof(BLOB1) - 1);
	memcpy(blob, "dsyncM01", 8);
	randombytes_buf(blob + 8, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 32, NULL, plain, sizeof(plain), ad, sizeof(ad), NULL,
						   blob + 8, DSYNC_STORE_KMANIFEST(fx.a));
	/* the forgery itself is right: with clean padding it opens */
	manifest_refused(fx.a, BLOB1, blob, MAN_OVER + 512, "text after the padding");
	memset(plain + 20, 0, 11);
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 32, NULL, plain, sizeof(plain), ad, sizeof(ad), NULL,
						   blob + 8, DSYNC_STORE_KMANIFEST(fx.a));
	assert_int_equal(dsync_manifest_open(&text, fx.a, BLOB1, blob, MAN_OVER + 512), 0);
	assert_string_equal(text.ptr, "first part");
	dsync_buf_dispose(&text);
	free(blob);
}

/* ------------------------------------------------------------ the store */

/* The path of the only key blob of the store at PLACE into OUT. */
static void key_blob_path(char *out, size_t size, const char *place, size_t *count)
{
	char dir[300];
	struct dirent *d;
	DIR *dh;
	size_t n = 0;

	assert_true(snprintf(dir, sizeof(dir), "%s/keys", place) < (int)sizeof(dir));
	dh = opendir(dir);
	assert_non_null(dh);
	while ((d = readdir(dh)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(out, size, "%s/%s", dir, d->d_name);
		n++;
	}
	closedir(dh);
	if (count)
		*count = n;
	else
		assert_int_equal(n, 1);
}

/* Opens the store at PLACE (locked) into *OUT with a blob store *BS. */
static void reopen(dsync_store **out, dsync_blobstore **bs, const char *place)
{
	assert_int_equal(dsync_transport_open(bs, place, false, NULL), 0);
	if (dsync_store_open(out, *bs) != 0)
		fail_msg("%s", dsync_error_last());
	assert_false((*out)->unlocked);
}

/* The key cache in dsync's per-user config folder, found as the library
 * finds it (HOME, or XDG_CONFIG_HOME when set). */
static int cache_save(const dsync_store *s)
{
	char *dir = NULL;
	int error;

	if ((error = dsync_config_dir(&dir)) == 0)
		error = dsync_store_cache_save(s, dir);
	free(dir);
	return error;
}

static int unlock_cached(dsync_store *s, bool *found)
{
	char *dir = NULL;
	int error;

	*found = false;
	if ((error = dsync_config_dir(&dir)) == 0)
		error = dsync_store_unlock_cached(s, dir, found);
	free(dir);
	return error;
}

static void test_store_unlock(void **state)
{
	dsync_blobstore *bs, *empty_bs;
	dsync_store *s, *none;
	dsync_buf header = DSYNC_BUF_INIT;
	char path[400], empty[400];
	size_t count;

	(void)state;
	/* dsync-store is plain text: format, id, KDF (the minimum here), salt */
	snprintf(path, sizeof(path), "%s/dsync-store", fx.place_a);
	read_path(&header, path);
	snprintf(empty, sizeof(empty), "dsync-store 1\nid %s\nkdf argon2id13 %llu %zu\nsalt ", fx.a->id,
		 (unsigned long long)crypto_pwhash_OPSLIMIT_MIN, (size_t)crypto_pwhash_MEMLIMIT_MIN);
	if (strncmp(header.ptr, empty, strlen(empty)) != 0)
		fail_msg("dsync-store: %s", header.ptr);
	assert_non_null(strstr(header.ptr, "\nsum "));
	assert_non_null(strstr(header.ptr, "\nmac "));

	/* the right passphrase: the same keys (master, seed, every subkey) */
	reopen(&s, &bs, fx.place_a);
	assert_string_equal(s->id, fx.a->id);
	assert_memory_equal(s->idraw, fx.a->idraw, 16);
	if (dsync_store_unlock(s, PASS) != 0)
		fail_msg("%s", dsync_error_last());
	assert_true(s->unlocked);
	assert_memory_equal(DSYNC_STORE_MASTER(s), DSYNC_STORE_MASTER(fx.a), 32);
	assert_memory_equal(s->keys, fx.a->keys, DSYNC_STORE_KEYS_SIZE);
	assert_int_equal(dsync_store_check_keys(s, &count), 0);
	assert_int_equal(count, 1);
	dsync_store_free(s);

	/* a wrong one */
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_int_equal(dsync_store_unlock(s, "correct horse battery stapl"), DSYNC_EAUTH);
	assert_false(s->unlocked);
	assert_int_equal(dsync_store_unlock(s, ""), DSYNC_EAUTH);
	/* then the right one; the other store (same passphrase) has another key */
	assert_int_equal(dsync_store_unlock(s, PASS), 0);
	assert_memory_not_equal(DSYNC_STORE_MASTER(s), DSYNC_STORE_MASTER(fx.b), 32);
	dsync_store_free(s);
	dsync_blobstore_free(bs);

	/* no store at all */
	snprintf(empty, sizeof(empty), "%s/empty", sandbox_dir);
	assert_int_equal(dsync_transport_open(&empty_bs, empty, true, NULL), 0);
	assert_int_equal(dsync_store_open(&none, empty_bs), DSYNC_ENOTFOUND);
	assert_null(none);
	dsync_blobstore_free(empty_bs);
	dsync_buf_dispose(&header);
}

static void test_store_damaged_key(void **state)
{
	dsync_blobstore *bs;
	dsync_store *s;
	dsync_buf orig = DSYNC_BUF_INIT;
	char path[1024], what[80];
	unsigned char *bad;
	size_t i;

	(void)state;
	key_blob_path(path, sizeof(path), fx.place_a, NULL);
	read_path(&orig, path);
	bad = malloc(orig.len + 1);
	assert_non_null(bad);
	reopen(&s, &bs, fx.place_a);
	for (i = 0; i <= orig.len + 2; i++) {
		size_t len = orig.len;
		int error;

		memcpy(bad, orig.ptr, orig.len);
		if (i < orig.len) {
			bad[i] ^= 0x01;
			snprintf(what, sizeof(what), "byte %zu of %zu flipped", i, orig.len);
		} else if (i == orig.len) {
			len--;
			snprintf(what, sizeof(what), "the last byte dropped");
		} else if (i == orig.len + 1) {
			bad[len++] = 0;
			snprintf(what, sizeof(what), "a byte appended");
		} else {
			len = 0;
			snprintf(what, sizeof(what), "empty");
		}
		write_path(path, bad, len);
		error = dsync_store_unlock(s, PASS);
		if (error != DSYNC_ECORRUPT)
			fail_msg("keys/: %s: unlock returned %d (%s), expected DSYNC_ECORRUPT", what, error,
				 dsync_error_last());
		if (!strstr(dsync_error_last(), "keys/"))
			fail_msg("keys/: %s: the message does not name the key blob: %s", what, dsync_error_last());
		assert_false(s->unlocked);
	}
	/* put back: it opens again */
	write_path(path, orig.ptr, orig.len);
	assert_int_equal(dsync_store_unlock(s, PASS), 0);
	/* no key blob at all: damage, not a wrong passphrase */
	unlink(path);
	dsync_store_free(s);
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_int_equal(dsync_store_unlock(s, PASS), DSYNC_ECORRUPT);
	write_path(path, orig.ptr, orig.len);
	dsync_store_free(s);
	dsync_blobstore_free(bs);
	free(bad);
	dsync_buf_dispose(&orig);
}

/* A key blob from another store, put under this store's keys/: damage or a
 * wrong passphrase, never an unlock. */
static void test_store_foreign_key(void **state)
{
	dsync_blobstore *bs;
	dsync_store *s;
	char pa[1024], pb[1024], moved[1100];
	dsync_buf kb = DSYNC_BUF_INIT;
	int error;

	(void)state;
	key_blob_path(pa, sizeof(pa), fx.place_a, NULL);
	key_blob_path(pb, sizeof(pb), fx.place_b, NULL);
	read_path(&kb, pb);
	snprintf(moved, sizeof(moved), "%s.orig", pa);
	assert_int_equal(rename(pa, moved), 0);
	write_path(pa, kb.ptr, kb.len);   /* B's blob under A's key id */
	reopen(&s, &bs, fx.place_a);
	error = dsync_store_unlock(s, PASS);
	assert_true(error == DSYNC_EAUTH || error == DSYNC_ECORRUPT);
	assert_false(s->unlocked);
	assert_int_equal(rename(moved, pa), 0);
	dsync_store_free(s);
	dsync_blobstore_free(bs);
	dsync_buf_dispose(&kb);
}

static void test_store_damaged_header(void **state)
{
	dsync_blobstore *bs;
	dsync_store *s;
	dsync_buf orig = DSYNC_BUF_INIT, misses = DSYNC_BUF_INIT;
	char path[400], what[80];
	unsigned char *bad;
	size_t i, at_open = 0, at_unlock = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/dsync-store", fx.place_a);
	read_path(&orig, path);
	bad = malloc(orig.len + 2);
	assert_non_null(bad);
	assert_int_equal(dsync_transport_open(&bs, fx.place_a, false, NULL), 0);
	for (i = 0; i <= orig.len + 1; i++) {
		size_t len = orig.len;
		int error;

		memcpy(bad, orig.ptr, orig.len);
		if (i < orig.len) {
			bad[i] ^= 0x01;
			snprintf(what, sizeof(what), "byte %zu of %zu ('%c') flipped", i, orig.len,
				 orig.ptr[i] >= ' ' ? orig.ptr[i] : '?');
		} else if (i == orig.len) {
			len--;
			snprintf(what, sizeof(what), "the last byte dropped");
		} else {
			bad[len++] = '\n';
			snprintf(what, sizeof(what), "a newline appended");
		}
		write_path(path, bad, len);
		error = dsync_store_open(&s, bs);
		if (error == 0) {
			error = dsync_store_unlock(s, PASS);
			dsync_store_free(s);
			at_unlock++;
		} else {
			at_open++;
		}
		/* every case is tried; the misses are listed at the end */
		if (error != DSYNC_ECORRUPT)
			assert_int_equal(dsync_buf_printf(&misses, "  %s: returned %d (%s), expected DSYNC_ECORRUPT\n",
							  what, error,
							  error ? dsync_error_last() : "it opened and unlocked"), 0);
		else if (!strstr(dsync_error_last(), "dsync-store"))
			assert_int_equal(dsync_buf_printf(&misses, "  %s: the message does not name it: %s\n", what,
							  dsync_error_last()), 0);
	}
	assert_true(at_open > 0 && at_unlock > 0);   /* the checksum, and the mac */
	write_path(path, orig.ptr, orig.len);
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_int_equal(dsync_store_unlock(s, PASS), 0);
	dsync_store_free(s);
	dsync_blobstore_free(bs);
	free(bad);
	dsync_buf_dispose(&orig);
	if (misses.len) {
		static char report[4096];

		snprintf(report, sizeof(report), "%s", misses.ptr);
		dsync_buf_dispose(&misses);
		fail_msg("damage to dsync-store that was not refused:\n%s", report);
	}
}

/* dsync-store changed with its checksum made to match (a forgery): a kept
 * key finds the mac wrong (DSYNC_ECORRUPT); a passphrase cannot open the
 * key any more, or finds the mac wrong. */
static void test_store_forged_header(void **state)
{
	dsync_blobstore *bs;
	dsync_store *s;
	dsync_buf orig = DSYNC_BUF_INIT, forged = DSYNC_BUF_INIT;
	unsigned char sum[32];
	char path[400], hex[65], *p, *sumline;
	bool found;
	int error;

	(void)state;
	assert_int_equal(cache_save(fx.a), 0);
	snprintf(path, sizeof(path), "%s/dsync-store", fx.place_a);
	read_path(&orig, path);
	/* another salt (its first hex digit changed), the sum recomputed */
	assert_int_equal(dsync_buf_put(&forged, orig.ptr, orig.len), 0);
	p = strstr(forged.ptr, "\nsalt ");
	assert_non_null(p);
	p[6] = p[6] == '0' ? '1' : '0';
	sumline = strstr(forged.ptr, "\nsum ");
	assert_non_null(sumline);
	crypto_generichash(sum, 32, (unsigned char *)forged.ptr, (size_t)(sumline + 1 - forged.ptr), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), sum, 32);
	memcpy(sumline + 5, hex, 64);
	write_path(path, forged.ptr, forged.len);
	reopen(&s, &bs, fx.place_a);
	error = unlock_cached(s, &found);
	if (error != DSYNC_ECORRUPT || !strstr(dsync_error_last(), "dsync-store"))
		fail_msg("a forged dsync-store with a kept key: %d (%s)", error, dsync_error_last());
	assert_false(s->unlocked);
	error = dsync_store_unlock(s, PASS);
	assert_true(error == DSYNC_EAUTH || error == DSYNC_ECORRUPT);
	assert_false(s->unlocked);
	dsync_store_free(s);
	dsync_blobstore_free(bs);
	write_path(path, orig.ptr, orig.len);
	dsync_buf_dispose(&orig);
	dsync_buf_dispose(&forged);
}

static void test_store_reseal(void **state)
{
	dsync_blobstore *bs;
	dsync_store *s;
	dsync_buf before = DSYNC_BUF_INIT, after = DSYNC_BUF_INIT, oldkey = DSYNC_BUF_INIT;
	char path[400], keypath[1024], newkey[1024];
	size_t count;

	(void)state;
	snprintf(path, sizeof(path), "%s/dsync-store", fx.place_a);
	read_path(&before, path);
	key_blob_path(keypath, sizeof(keypath), fx.place_a, NULL);
	read_path(&oldkey, keypath);
	if (dsync_store_reseal(fx.a, "a new passphrase") != 0)
		fail_msg("%s", dsync_error_last());
	/* one key blob, a new one; dsync-store unchanged */
	key_blob_path(newkey, sizeof(newkey), fx.place_a, &count);
	assert_int_equal(count, 1);
	assert_string_not_equal(newkey, keypath);
	assert_int_equal(access(keypath, F_OK), -1);
	read_path(&after, path);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.ptr, before.ptr, before.len);
	/* the old passphrase no longer opens it, the new one does: the same key */
	reopen(&s, &bs, fx.place_a);
	assert_int_equal(dsync_store_unlock(s, PASS), DSYNC_EAUTH);
	if (dsync_store_unlock(s, "a new passphrase") != 0)
		fail_msg("%s", dsync_error_last());
	assert_memory_equal(s->keys, fx.a->keys, DSYNC_STORE_KEYS_SIZE);
	assert_int_equal(dsync_store_check_keys(s, &count), 0);
	assert_int_equal(count, 1);
	/* and once more, from the reopened store */
	assert_int_equal(dsync_store_reseal(s, PASS), 0);
	dsync_store_free(s);
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_int_equal(dsync_store_unlock(s, "a new passphrase"), DSYNC_EAUTH);
	assert_int_equal(dsync_store_unlock(s, PASS), 0);
	assert_memory_equal(DSYNC_STORE_MASTER(s), DSYNC_STORE_MASTER(fx.a), 32);
	/* the old key blob put back beside the new: still the same key */
	write_path(keypath, oldkey.ptr, oldkey.len);
	dsync_store_free(s);
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_int_equal(dsync_store_unlock(s, PASS), 0);
	assert_memory_equal(DSYNC_STORE_MASTER(s), DSYNC_STORE_MASTER(fx.a), 32);
	dsync_store_free(s);
	dsync_blobstore_free(bs);
	dsync_buf_dispose(&before);
	dsync_buf_dispose(&after);
	dsync_buf_dispose(&oldkey);
}

static void test_store_cache(void **state)
{
	dsync_blobstore *bs;
	dsync_store *s;
	struct stat st;
	char path[600], dir[400], other_home[400], path_b[600];
	dsync_buf kept = DSYNC_BUF_INIT;
	bool found = true;

	(void)state;
	reopen(&s, &bs, fx.place_a);
	/* nothing kept yet */
	assert_int_equal(unlock_cached(s, &found), 0);
	assert_false(found);
	assert_false(s->unlocked);
	/* kept: 0600 in a private folder under HOME */
	if (cache_save(fx.a) != 0)
		fail_msg("%s", dsync_error_last());
	sandbox_path(dir, sizeof(dir), "home/.config/dsync/keys");
	snprintf(path, sizeof(path), "%s/%s", dir, fx.a->id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	assert_int_equal(unlock_cached(s, &found), 0);
	assert_true(found);
	assert_true(s->unlocked);
	assert_memory_equal(s->keys, fx.a->keys, DSYNC_STORE_KEYS_SIZE);
	dsync_store_free(s);
	/* XDG_CONFIG_HOME wins over HOME */
	snprintf(other_home, sizeof(other_home), "%s/xdg", sandbox_dir);
	setenv("XDG_CONFIG_HOME", other_home, 1);
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_int_equal(unlock_cached(s, &found), 0);
	assert_false(found);
	unsetenv("XDG_CONFIG_HOME");
	dsync_store_free(s);
	/* another store's key kept under this store's id: refused */
	assert_int_equal(cache_save(fx.b), 0);
	snprintf(path_b, sizeof(path_b), "%s/%s", dir, fx.b->id);
	read_path(&kept, path_b);
	write_path(path, kept.ptr, kept.len);
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_int_equal(unlock_cached(s, &found), DSYNC_ECORRUPT);
	assert_false(found);
	assert_false(s->unlocked);
	dsync_store_free(s);
	/* a damaged kept key: an error, not an unlock */
	write_path(path, "dsync-key 1\nmaster zz\n", 22);
	assert_int_equal(dsync_store_open(&s, bs), 0);
	assert_true(unlock_cached(s, &found) < 0);
	assert_false(found);
	assert_false(s->unlocked);
	/* the passphrase still opens it */
	assert_int_equal(dsync_store_unlock(s, PASS), 0);
	dsync_store_free(s);
	dsync_blobstore_free(bs);
	dsync_buf_dispose(&kept);
}

/* Without DSYNC_TEST_KDF a store asks at least Argon2id's moderate limits
 * (the one slow key derivation of this program). */
/* A file:// store opens a blob for reading in place (what a fetch
 * decrypts without a copy): its bytes as get() gives them, with get()'s
 * refusals (missing, larger than allowed, a link, not a file). */
static void test_file_open(void **state)
{
	char path[400], link[400], buf[64];
	int fd;
	ssize_t n;

	(void)state;
	assert_non_null(fx.bs_a->open);
	assert_int_equal(dsync_blobstore_put_buf(fx.bs_a, "packs/p1", "pack bytes", 10), 0);
	fd = fx.bs_a->open(fx.bs_a, "packs/p1", 10);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	assert_int_equal(n, 10);
	assert_memory_equal(buf, "pack bytes", 10);
	close(fd);
	assert_int_equal(fx.bs_a->open(fx.bs_a, "packs/none", 0), DSYNC_ENOTFOUND);
	assert_int_equal(fx.bs_a->open(fx.bs_a, "packs/p1", 9), DSYNC_ECORRUPT);
	snprintf(path, sizeof(path), "%s/packs/p1", fx.place_a);
	snprintf(link, sizeof(link), "%s/packs/l1", fx.place_a);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(fx.bs_a->open(fx.bs_a, "packs/l1", 0), DSYNC_ECORRUPT);
	snprintf(path, sizeof(path), "%s/packs/d1", fx.place_a);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(fx.bs_a->open(fx.bs_a, "packs/d1", 0), DSYNC_ECORRUPT);
}

static void test_store_default_kdf(void **state)
{
	dsync_blobstore *bs;
	dsync_store *s, *o;
	dsync_buf header = DSYNC_BUF_INIT;
	char place[400], path[500], alg[32];
	unsigned long long ops = 0;
	size_t mem = 0;

	(void)state;
	unsetenv("DSYNC_TEST_KDF");
	snprintf(place, sizeof(place), "%s/store-default", sandbox_dir);
	assert_int_equal(dsync_transport_open(&bs, place, true, NULL), 0);
	if (dsync_store_create(&s, bs, PASS, NULL) != 0)
		fail_msg("%s", dsync_error_last());
	setenv("DSYNC_TEST_KDF", "min", 1);
	snprintf(path, sizeof(path), "%s/dsync-store", place);
	read_path(&header, path);
	{
		const char *k = strstr(header.ptr, "\nkdf ");

		assert_non_null(k);
		assert_int_equal(sscanf(k + 1, "kdf %31s %llu %zu", alg, &ops, &mem), 3);
	}
	assert_string_equal(alg, "argon2id13");
	assert_true(ops >= crypto_pwhash_OPSLIMIT_MODERATE);
	assert_true(mem >= crypto_pwhash_MEMLIMIT_MODERATE);
	assert_int_equal(dsync_store_open(&o, bs), 0);
	assert_int_equal(o->opslimit, ops);
	assert_int_equal(o->memlimit, mem);
	dsync_store_free(o);
	dsync_store_free(s);
	dsync_blobstore_free(bs);
	dsync_buf_dispose(&header);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_padme),
		cmocka_unit_test_setup_teardown(test_pack_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_sizes_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_padding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_unlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_damaged_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_foreign_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_damaged_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_forged_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_reseal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_default_kdf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_open, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
