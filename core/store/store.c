/*
 * The encrypted store (docs/store-format.md): dsync-store, the master key and
 * its subkeys, the key blobs, the per-user key cache, padmé (packs are in
 * pack.c, manifests in manifest.c).  libsodium only.  Every byte read from the
 * store is checked before it is used; a failure is DSYNC_ECORRUPT (a damaged
 * or forged blob, named in the message) or DSYNC_EAUTH (a passphrase that
 * opens no key).
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/array.h"
#include "core/base/file.h"
#include "core/base/path.h"
#include "core/store/store.h"

#define KEY_MAGIC "dsyncK01"
#define MAGIC_LEN 8
#define KEYID_LEN 16
_Static_assert(DSYNC_STORE_KEYID_SIZE == KEYID_LEN + 1, "store.h's key id size");
#define KEY_PLAIN 64                     /* master key, chunk secret */
#define KEY_CT (KEY_PLAIN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define KEY_BLOB (MAGIC_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + KEY_CT + 32 + 32)
#define MAX_MEMLIMIT ((size_t)1 << 30)   /* a store asking more is refused */
#define MAX_OPSLIMIT 32ULL

uint64_t dsync_store_padme(uint64_t len)
{
	unsigned e, s, last;
	uint64_t mask;

	if (len < 2)
		return len;
	e = 63 - (unsigned)__builtin_clzll(len);          /* floor(log2 len) */
	s = 32 - (unsigned)__builtin_clz(e) ;             /* floor(log2 e) + 1 */
	last = e - s;
	mask = ((uint64_t)1 << last) - 1;
	return (len + mask) & ~mask;
}

static void tohex(char *out, const unsigned char *in, size_t n)
{
	sodium_bin2hex(out, n * 2 + 1, in, n);
}

static bool fromhex(unsigned char *out, size_t n, const char *hex, size_t hexlen)
{
	size_t got = 0;

	return hexlen == n * 2 &&
	       sodium_hex2bin(out, n, hex, hexlen, NULL, &got, NULL) == 0 && got == n;
}

static void derive_keys(dsync_store *s)
{
	static const int ids[] = { DSYNC_SUBKEY_PACK, DSYNC_SUBKEY_MANIFEST, DSYNC_SUBKEY_NAME,
				   DSYNC_SUBKEY_HEADER, DSYNC_SUBKEY_KEYS };
	size_t i;

	for (i = 0; i < DSYNC_ARRAY_SIZE(ids); i++)
		crypto_kdf_derive_from_key(s->keys + 64 + 32 * i, 32, (uint64_t)ids[i], DSYNC_KDF_CONTEXT,
					   DSYNC_STORE_MASTER(s));
	s->unlocked = true;
}

static int alloc_keys(dsync_store *s)
{
	if (!s->keys && (s->keys = sodium_malloc(DSYNC_STORE_KEYS_SIZE)) == NULL)
		return dsync_error_oom();
	return 0;
}

void dsync_store_free(dsync_store *s)
{
	if (!s)
		return;
	if (s->keys)
		sodium_free(s->keys);
	free(s->header);
	free(s);
}

/* ---- dsync-store ---------------------------------------------------- */

static void header_mac(unsigned char *mac, const dsync_store *s)
{
	crypto_generichash(mac, 32, (const unsigned char *)s->header, s->header_signed, DSYNC_STORE_KHEADER(s), 32);
}

static int header_check_mac(const dsync_store *s)
{
	unsigned char mac[32];

	header_mac(mac, s);
	if (sodium_memcmp(mac, s->mac, 32) != 0)
		return dsync_error_set(DSYNC_ECORRUPT,
				       "dsync-store in %s failed verification: it was changed after the store was made",
				       s->bs->url);
	return 0;
}

static int store_text(dsync_buf *out, dsync_store *s)
{
	unsigned char sum[32];
	char hex[DSYNC_HEX256_SIZE], salt[2 * crypto_pwhash_SALTBYTES + 1];
	size_t upto;
	int error;

	tohex(salt, s->salt, sizeof(s->salt));
	if ((error = dsync_buf_printf(out, "%s %d\nid %s\nkdf argon2id13 %llu %zu\nsalt %s\n", DSYNC_STORE_HEADER,
				      DSYNC_STORE_VERSION, s->id, s->opslimit, s->memlimit, salt)) < 0)
		return error;
	crypto_generichash(sum, 32, (const unsigned char *)out->ptr, out->len, NULL, 0);
	tohex(hex, sum, 32);
	if ((error = dsync_buf_printf(out, "sum %s\n", hex)) < 0)
		return error;
	upto = out->len;
	free(s->header);
	s->header = strdup(out->ptr);
	s->header_signed = upto;
	if (!s->header)
		return dsync_error_oom();
	header_mac(s->mac, s);
	tohex(hex, s->mac, 32);
	return dsync_buf_printf(out, "mac %s\n", hex);
}

static int damaged_header(const dsync_store *s, const char *what)
{
	return dsync_error_set(DSYNC_ECORRUPT, "dsync-store in %s is damaged (%s); the store cannot be opened",
			       s->bs->url, what);
}

/* Parses dsync-store's text TEXT (LEN bytes) into S. */
static int parse_header(dsync_store *s, const char *text, size_t len)
{
	unsigned char sum[32], want[32];
	char id[40], salt[80], sumhex[80], machex[80], alg[20];
	unsigned long long ops;
	size_t mem;
	int version, n = 0;
	const char *sumline, *macline;

	if (memchr(text, '\0', len) || len > 2048)
		return damaged_header(s, "not text");
	if ((sumline = strstr(text, "\nsum ")) == NULL || (macline = strstr(text, "\nmac ")) == NULL ||
	    macline < sumline)
		return damaged_header(s, "no checksum");
	crypto_generichash(sum, 32, (const unsigned char *)text, (size_t)(sumline + 1 - text), NULL, 0);
	if (sscanf(text, "dsync-store %d\nid %39s\nkdf %19s %llu %zu\nsalt %79s\nsum %79s\nmac %79s\n%n", &version,
		   id, alg, &ops, &mem, salt, sumhex, machex, &n) != 8 ||
	    (size_t)n != len)
		return damaged_header(s, "unreadable");
	if (!fromhex(want, 32, sumhex, strlen(sumhex)) || memcmp(want, sum, 32) != 0)
		return damaged_header(s, "checksum mismatch");
	/* the mac line, which nothing else covers: exactly "mac HEX\n", last */
	if (len != (size_t)(macline + 1 - text) + 4 + 64 + 1 || text[len - 1] != '\n')
		return damaged_header(s, "bad mac line");
	if (version != DSYNC_STORE_VERSION)
		return dsync_error_set(DSYNC_ERROR, "the store in %s has format %d; this dsync reads format %d (update dsync)",
				       s->bs->url, version, DSYNC_STORE_VERSION);
	if (strcmp(alg, "argon2id13") != 0 || ops < crypto_pwhash_OPSLIMIT_MIN || ops > MAX_OPSLIMIT ||
	    mem < crypto_pwhash_MEMLIMIT_MIN || mem > MAX_MEMLIMIT)
		return damaged_header(s, "key derivation parameters out of range");
	if (!fromhex(s->idraw, 16, id, strlen(id)) || !fromhex(s->salt, sizeof(s->salt), salt, strlen(salt)) ||
	    !fromhex(s->mac, 32, machex, strlen(machex)))
		return damaged_header(s, "bad field");
	memcpy(s->id, id, 33);
	s->opslimit = ops;
	s->memlimit = mem;
	if ((s->header = strndup(text, len)) == NULL)
		return dsync_error_oom();
	s->header_signed = (size_t)(macline + 1 - text);
	return 0;
}

int dsync_store_open(dsync_store **out, dsync_blobstore *bs)
{
	dsync_buf text = DSYNC_BUF_INIT;
	dsync_store *s;
	int error;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return dsync_error_oom();
	s->bs = bs;
	if ((error = dsync_blobstore_get_buf(bs, DSYNC_STORE_HEADER, &text, 4096)) < 0) {
		if (error == DSYNC_ENOTFOUND)
			dsync_error_set(DSYNC_ENOTFOUND, "no dsync store at %s", bs->url);
		goto fail;
	}
	if ((error = parse_header(s, text.ptr ? text.ptr : "", text.len)) < 0)
		goto fail;
	dsync_buf_dispose(&text);
	*out = s;
	return 0;
fail:
	dsync_buf_dispose(&text);
	dsync_store_free(s);
	return error;
}

/* ---- keys/ ---------------------------------------------------------- */

static void key_ad(unsigned char *ad, const dsync_store *s, const char *keyid)
{
	memcpy(ad, KEY_MAGIC, MAGIC_LEN);
	memcpy(ad + MAGIC_LEN, s->idraw, 16);
	memcpy(ad + MAGIC_LEN + 16, keyid, KEYID_LEN);
}

#define KEY_AD_LEN (MAGIC_LEN + 16 + KEYID_LEN)

static void key_mac(unsigned char *mac, const dsync_store *s, const unsigned char *blob, const char *keyid)
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, DSYNC_STORE_KKEYS(s), 32, 32);
	crypto_generichash_update(&h, (const unsigned char *)keyid, KEYID_LEN);
	crypto_generichash_update(&h, blob, MAGIC_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + KEY_CT);
	crypto_generichash_final(&h, mac, 32);
}

static int kek_derive(unsigned char *kek, const dsync_store *s, const char *passphrase)
{
	if (crypto_pwhash(kek, 32, passphrase, strlen(passphrase), s->salt, s->opslimit, s->memlimit,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return dsync_error_set(DSYNC_ERROR, "out of memory deriving the key from the passphrase (%zu MiB needed)",
				       s->memlimit >> 20);
	return 0;
}

static int write_key_blob(dsync_store *s, const char *passphrase, char *keyid_out)
{
	unsigned char blob[KEY_BLOB], ad[KEY_AD_LEN], raw[KEYID_LEN / 2];
	unsigned char *kek = sodium_malloc(32);
	unsigned char *n = blob + MAGIC_LEN, *ct = n + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	char keyid[KEYID_LEN + 1], name[32];
	int error;

	if (!kek)
		return dsync_error_oom();
	if ((error = kek_derive(kek, s, passphrase)) < 0)
		goto out;
	randombytes_buf(raw, sizeof(raw));
	tohex(keyid, raw, sizeof(raw));
	memcpy(blob, KEY_MAGIC, MAGIC_LEN);
	randombytes_buf(n, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	key_ad(ad, s, keyid);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, s->keys, KEY_PLAIN, ad, sizeof(ad), NULL, n, kek);
	key_mac(ct + KEY_CT, s, blob, keyid);
	crypto_generichash(ct + KEY_CT + 32, 32, blob, KEY_BLOB - 32, NULL, 0);
	snprintf(name, sizeof(name), "keys/%s", keyid);
	if ((error = dsync_blobstore_put_buf(s->bs, name, blob, sizeof(blob))) == 0 && keyid_out)
		memcpy(keyid_out, keyid, KEYID_LEN + 1);
out:
	sodium_free(kek);
	return error;
}

int dsync_store_create(dsync_store **out, dsync_blobstore *bs, const char *passphrase,
		       const unsigned char *seed)
{
	dsync_buf text = DSYNC_BUF_INIT;
#ifdef DSYNC_TESTING
	/* Test builds only: tests create many stores; a shipped build never
	 * reads this (tests/build/release-check.sh) */
	const char *weak = getenv("DSYNC_TEST_KDF");
#else
	const char *weak = NULL;
#endif
	dsync_store *s;
	int error;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return dsync_error_oom();
	s->bs = bs;
	if ((error = alloc_keys(s)) < 0)
		goto fail;
	randombytes_buf(s->idraw, sizeof(s->idraw));
	tohex(s->id, s->idraw, sizeof(s->idraw));
	randombytes_buf(s->salt, sizeof(s->salt));
	if (weak && strcmp(weak, "min") == 0) {
		s->opslimit = crypto_pwhash_OPSLIMIT_MIN;
		s->memlimit = crypto_pwhash_MEMLIMIT_MIN;
	} else {
		s->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
		s->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
	}
	crypto_kdf_keygen(DSYNC_STORE_MASTER(s));
	if (seed)
		memcpy(DSYNC_STORE_SEED(s), seed, 32);
	else
		randombytes_buf(DSYNC_STORE_SEED(s), 32);
	derive_keys(s);
	if ((error = store_text(&text, s)) < 0 || (error = write_key_blob(s, passphrase, NULL)) < 0 ||
	    (error = dsync_blobstore_put_buf(bs, DSYNC_STORE_HEADER, text.ptr, text.len)) < 0)
		goto fail;
	dsync_buf_dispose(&text);
	*out = s;
	return 0;
fail:
	dsync_buf_dispose(&text);
	dsync_store_free(s);
	return error;
}

static int collect_name(const char *name, const dsync_blobstore_info *info, void *payload)
{
	(void)info;
	return dsync_strlist_add(payload, name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads key blob NAME into BLOB and checks its checksum (and, when S is
 * unlocked, its mac).  KEYID gets its id. */
static int read_key_blob(unsigned char *blob, char *keyid, dsync_store *s, const char *name)
{
	dsync_buf b = DSYNC_BUF_INIT;
	unsigned char sum[32], mac[32];
	int error;

	if (strlen(name) != 5 + KEYID_LEN) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s is not a key blob (bad name)", name, s->bs->url);
		goto out;
	}
	memcpy(keyid, name + 5, KEYID_LEN + 1);
	if ((error = dsync_blobstore_get_buf(s->bs, name, &b, 4096)) < 0)
		goto out;
	if (b.len != KEY_BLOB || memcmp(b.ptr, KEY_MAGIC, MAGIC_LEN) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s is damaged (%s)", name, s->bs->url,
					b.len != KEY_BLOB ? "wrong size" : "bad magic");
		goto out;
	}
	memcpy(blob, b.ptr, KEY_BLOB);
	crypto_generichash(sum, 32, blob, KEY_BLOB - 32, NULL, 0);
	if (sodium_memcmp(sum, blob + KEY_BLOB - 32, 32) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s is damaged (checksum mismatch)", name, s->bs->url);
		goto out;
	}
	if (s->unlocked) {
		key_mac(mac, s, blob, keyid);
		if (sodium_memcmp(mac, blob + KEY_BLOB - 64, 32) != 0)
			error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s failed verification (forged key blob)", name,
						s->bs->url);
	}
out:
	dsync_buf_dispose(&b);
	return error;
}

static int list_keys(dsync_strlist *l, dsync_store *s)
{
	int error;

	if ((error = s->bs->list(s->bs, "keys/", collect_name, l)) < 0)
		return error;
	if (l->size == 0)
		return dsync_error_set(DSYNC_ECORRUPT, "the store in %s has no key (keys/ is empty): it was damaged",
				       s->bs->url);
	qsort(l->ptr, l->size, sizeof(*l->ptr), cmp_str);
	return 0;
}

int dsync_store_unlock(dsync_store *s, const char *passphrase)
{
	dsync_strlist keys = DSYNC_STRLIST_INIT;
	unsigned char blob[KEY_BLOB], ad[KEY_AD_LEN], mac[32];
	unsigned char *kek = sodium_malloc(32);
	char keyid[KEYID_LEN + 1];
	size_t i;
	int error;

	if (!kek)
		return dsync_error_oom();
	if ((error = alloc_keys(s)) < 0 || (error = list_keys(&keys, s)) < 0 ||
	    (error = kek_derive(kek, s, passphrase)) < 0)
		goto out;
	error = dsync_error_set(DSYNC_EAUTH, "wrong passphrase for the store in %s", s->bs->url);
	for (i = 0; i < keys.size; i++) {
		const unsigned char *n = blob + MAGIC_LEN, *ct = n + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
		int e;

		if ((e = read_key_blob(blob, keyid, s, keys.ptr[i])) < 0) {
			error = e;
			goto out;
		}
		key_ad(ad, s, keyid);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(s->keys, NULL, NULL, ct, KEY_CT, ad, sizeof(ad), n,
							       kek) != 0)
			continue;
		derive_keys(s);
		key_mac(mac, s, blob, keyid);
		if (sodium_memcmp(mac, ct + KEY_CT, 32) != 0) {
			error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s failed verification", keys.ptr[i], s->bs->url);
			s->unlocked = false;
			goto out;
		}
		if ((error = header_check_mac(s)) < 0)
			s->unlocked = false;
		goto out;
	}
out:
	sodium_free(kek);
	dsync_strlist_dispose(&keys);
	return error;
}

int dsync_store_check_keys(dsync_store *s, size_t *count)
{
	dsync_strlist keys = DSYNC_STRLIST_INIT;
	unsigned char blob[KEY_BLOB];
	char keyid[KEYID_LEN + 1];
	size_t i;
	int error;

	if ((error = list_keys(&keys, s)) == 0)
		for (i = 0; i < keys.size && error == 0; i++)
			error = read_key_blob(blob, keyid, s, keys.ptr[i]);
	if (error == 0)
		error = header_check_mac(s);
	if (count)
		*count = keys.size;
	dsync_strlist_dispose(&keys);
	return error;
}

int dsync_store_reseal_add(dsync_store *s, const char *new_passphrase, char *keyid)
{
	return write_key_blob(s, new_passphrase, keyid);
}

int dsync_store_reseal_prune(dsync_store *s, const char *keyid)
{
	dsync_strlist keys = DSYNC_STRLIST_INIT;
	size_t i;
	int error;

	if ((error = s->bs->list(s->bs, "keys/", collect_name, &keys)) < 0)
		goto out;
	for (i = 0; i < keys.size && error == 0; i++)
		if (strcmp(keys.ptr[i] + 5, keyid) != 0)
			error = s->bs->del(s->bs, keys.ptr[i]);
out:
	dsync_strlist_dispose(&keys);
	return error;
}

int dsync_store_reseal(dsync_store *s, const char *new_passphrase)
{
	char keyid[KEYID_LEN + 1];
	int error;

	if ((error = dsync_store_reseal_add(s, new_passphrase, keyid)) < 0)
		return error;
	return dsync_store_reseal_prune(s, keyid);
}

/* ---- the per-user key cache ------------------------------------------ */

static int cache_path(dsync_buf *out, const char *config_dir, const char *store_id, bool make_dir)
{
	int error;

	if ((error = dsync_buf_printf(out, "%s/keys", config_dir)) < 0)
		return error;
	if (make_dir) {
		mode_t old = umask(077);

		error = dsync_path_mkdirs(out->ptr);
		umask(old);
		if (error < 0)
			return error;
	}
	return dsync_buf_printf(out, "/%s", store_id);
}

int dsync_store_cache_save(const dsync_store *s, const char *config_dir)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *text = sodium_malloc(200), m[DSYNC_HEX256_SIZE], sd[DSYNC_HEX256_SIZE];
	size_t len;
	int error;

	if (!text)
		return dsync_error_oom();
	if ((error = cache_path(&path, config_dir, s->id, true)) < 0)
		goto out;
	tohex(m, DSYNC_STORE_MASTER(s), 32);
	tohex(sd, DSYNC_STORE_SEED(s), 32);
	len = (size_t)snprintf(text, 200, "dsync-key 1\nmaster %s\nseed %s\n", m, sd);
	sodium_memzero(m, sizeof(m));
	sodium_memzero(sd, sizeof(sd));
	if ((error = dsync_path_write_atomic(path.ptr, text, len, 0600, true)) < 0)
		dsync_error_set(error, "cannot keep the store's key in '%s': %s", path.ptr, strerror(errno));
out:
	sodium_memzero(text, 200);
	sodium_free(text);
	dsync_buf_dispose(&path);
	return error;
}

int dsync_store_cache_remove(const char *config_dir, const char *store_id)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if ((error = cache_path(&path, config_dir, store_id, false)) == 0 && unlink(path.ptr) < 0 && errno != ENOENT)
		error = dsync_error_sys(errno, "cannot remove the kept key '%s'", path.ptr);
	dsync_buf_dispose(&path);
	return error;
}

int dsync_store_unlock_cached(dsync_store *s, const char *config_dir, bool *found)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *text = sodium_malloc(256);
	size_t len;
	int error;

	*found = false;
	if (!text)
		return dsync_error_oom();
	if ((error = alloc_keys(s)) < 0 || (error = cache_path(&path, config_dir, s->id, false)) < 0)
		goto out;
	/* without blocking, a regular file only, not through a symlink */
	if ((error = dsync_file_read_small(&len, path.ptr, text, 256, DSYNC_FILE_NOFOLLOW)) < 0) {
		if (error == DSYNC_ENOTFOUND)
			error = 0;
		goto out;
	}
	if (len != 12 + 7 + 64 + 1 + 5 + 64 + 1 || strncmp(text, "dsync-key 1\nmaster ", 19) != 0 ||
	    strncmp(text + 19 + 64, "\nseed ", 6) != 0 ||
	    !fromhex(DSYNC_STORE_MASTER(s), 32, text + 19, 64) || !fromhex(DSYNC_STORE_SEED(s), 32, text + 89, 64)) {
		error = dsync_error_set(DSYNC_ERROR, "the kept key '%s' is damaged: remove it and give the passphrase",
					path.ptr);
		goto out;
	}
	derive_keys(s);
	if ((error = header_check_mac(s)) < 0) {
		s->unlocked = false;
		goto out;
	}
	*found = true;
out:
	sodium_memzero(text, 256);
	sodium_free(text);
	dsync_buf_dispose(&path);
	return error;
}
