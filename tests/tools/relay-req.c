/*
 * relay-req: the relay protocol's derivations and signatures from a shell,
 * so e2e tests can send real signed requests with curl
 * (docs/relay-protocol.md sections 2 and 8).  It uses the library's own
 * functions (transport/relay_proto.h), not a second implementation.
 *
 *   relay-req derive GROUP        passphrase from $DSYNC_PASSPHRASE
 *       gid HEX / token HEX / admit HEX / th HEX / ah HEX
 *   relay-req keygen              pk HEX / sk HEX
 *   relay-req sign SKHEX DEVICE GID METHOD PATH [BODYFILE] [--time T] [--nonce HEX]
 *       the headers to add, in curl -H form: Dsync-Device, Dsync-Time,
 *       Dsync-Nonce, Dsync-Signature, and Dsync-Body-Hash for a PUT with a
 *       body (its BLAKE2b-256; TOTAL is the file's size; a POST signs the
 *       body's hash with no TOTAL)
 *   relay-req register SKHEX GID DEVICE
 *       the body of PUT .device/DEVICE: key HEX / proof HEX
 *
 * Exit 0, or 2 with one line on stderr for bad arguments or files.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsync/common.h"
#include "transport/relay_proto.h"

static int usage(const char *why)
{
	fprintf(stderr, "relay-req: %s\n", why);
	return 2;
}

static void print_hex(const char *label, const uint8_t *b, size_t len)
{
	char hex[2 * 64 + 1];

	dsync_relay_hex(hex, b, len);
	printf("%s %s\n", label, hex);
}

static int derive(const char *group)
{
	const char *pass = getenv("DSYNC_PASSPHRASE");
	char folded[DSYNC_RELAY_GROUP_MAX + 1], gid[DSYNC_RELAY_ID_HEX];
	uint8_t token[32], admit[32], th[32], ah[32];

	if (!pass)
		return usage("DSYNC_PASSPHRASE is not set");
	if (dsync_relay_group_fold(folded, group) != 0)
		return usage(dsync_error_last());
	dsync_relay_group_id(gid, folded);
	if (dsync_relay_derive(token, admit, folded, pass) != 0)
		return usage(dsync_error_last());
	dsync_relay_secret_hash(th, "token", gid, token);
	dsync_relay_secret_hash(ah, "admit", gid, admit);
	printf("gid %s\n", gid);
	print_hex("token", token, 32);
	print_hex("admit", admit, 32);
	print_hex("th", th, 32);
	print_hex("ah", ah, 32);
	return 0;
}

static int keygen(void)
{
	uint8_t pk[DSYNC_RELAY_PK_BYTES], sk[DSYNC_RELAY_SK_BYTES];

	crypto_sign_keypair(pk, sk);
	print_hex("pk", pk, sizeof(pk));
	print_hex("sk", sk, sizeof(sk));
	return 0;
}

static int secret_key(uint8_t sk[DSYNC_RELAY_SK_BYTES], const char *hex)
{
	if (dsync_relay_hex_parse(sk, hex, 2 * DSYNC_RELAY_SK_BYTES) != 0)
		return usage("the secret key is not 128 lower-case hex digits");
	return 0;
}

/* The BLAKE2b-256 of PATH's bytes as hex, and its size. */
static int hash_file(char hex[DSYNC_RELAY_HEX64], uint64_t *size, const char *path)
{
	crypto_generichash_state st;
	uint8_t buf[65536], h[32];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f)
		return usage("cannot read the body file");
	*size = 0;
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		crypto_generichash_update(&st, buf, n);
		*size += n;
	}
	if (ferror(f)) {
		fclose(f);
		return usage("cannot read the body file");
	}
	fclose(f);
	crypto_generichash_final(&st, h, sizeof(h));
	dsync_relay_hex(hex, h, sizeof(h));
	return 0;
}

static int sign(int argc, char **argv)
{
	uint8_t sk[DSYNC_RELAY_SK_BYTES], sig[DSYNC_RELAY_SIG_BYTES], nonce_raw[16];
	char nonce[DSYNC_RELAY_NONCE_HEX], hash[DSYNC_RELAY_HEX64] = "", total[24] = "";
	const char *pos[6] = {NULL};
	int npos = 0;
	int64_t t = (int64_t)time(NULL);
	dsync_buf m = DSYNC_BUF_INIT;

	randombytes_buf(nonce_raw, sizeof(nonce_raw));
	dsync_relay_hex(nonce, nonce_raw, sizeof(nonce_raw));
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
			t = strtoll(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc) {
			/* taken as given: a test may send a malformed one */
			snprintf(nonce, sizeof(nonce), "%s", argv[++i]);
		} else if (npos < 6) {
			pos[npos++] = argv[i];
		} else {
			return usage("too many arguments to sign");
		}
	}
	if (npos < 5)
		return usage("sign SKHEX DEVICE GID METHOD PATH [BODYFILE] [--time T] [--nonce HEX]");
	if (secret_key(sk, pos[0]) != 0)
		return 2;
	if (pos[5]) {
		uint64_t size;

		if (hash_file(hash, &size, pos[5]) != 0)
			return 2;
		if (strcmp(pos[3], "PUT") == 0)
			snprintf(total, sizeof(total), "%" PRIu64, size);
	}
	if (dsync_relay_sig_message(&m, pos[3], pos[4], pos[2], hash, total, t, nonce) != 0)
		return usage(dsync_error_last());
	crypto_sign_detached(sig, NULL, (const unsigned char *)m.ptr, m.len, sk);
	dsync_buf_dispose(&m);
	printf("Dsync-Device: %s\nDsync-Time: %" PRId64 "\nDsync-Nonce: %s\n", pos[1], t, nonce);
	print_hex("Dsync-Signature:", sig, sizeof(sig));
	if (pos[5] && strcmp(pos[3], "PUT") == 0)
		printf("Dsync-Body-Hash: %s\n", hash);
	return 0;
}

static int register_body(const char *skhex, const char *gid, const char *device)
{
	uint8_t sk[DSYNC_RELAY_SK_BYTES], pk[DSYNC_RELAY_PK_BYTES], sig[DSYNC_RELAY_SIG_BYTES];
	dsync_buf m = DSYNC_BUF_INIT;

	if (secret_key(sk, skhex) != 0)
		return 2;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	if (dsync_relay_register_message(&m, gid, device, pk) != 0)
		return usage(dsync_error_last());
	crypto_sign_detached(sig, NULL, (const unsigned char *)m.ptr, m.len, sk);
	dsync_buf_dispose(&m);
	print_hex("key", pk, sizeof(pk));
	print_hex("proof", sig, sizeof(sig));
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return usage("libsodium failed to start");
	if (argc == 3 && strcmp(argv[1], "derive") == 0)
		return derive(argv[2]);
	if (argc == 2 && strcmp(argv[1], "keygen") == 0)
		return keygen();
	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return sign(argc - 2, argv + 2);
	if (argc == 5 && strcmp(argv[1], "register") == 0)
		return register_body(argv[2], argv[3], argv[4]);
	return usage("usage: relay-req derive GROUP | keygen | sign SKHEX DEVICE GID METHOD PATH [BODYFILE] "
		     "[--time T] [--nonce HEX] | register SKHEX GID DEVICE");
}
