/*
 * libFuzzer target for the relay's request handling (transport/relay_server.c
 * through relay_request(): the same routing, limits, token, signature,
 * rules, quota and endpoint code the HTTP side calls), with a data folder in
 * a temp directory (tmpfs when there is one).  An input is a request as text:
 *
 *     METHOD URL
 *     Name: value          (headers, up to an empty line)
 *
 *     BODY
 *
 * so seeds read like the requests t49 sends.  A known group and two
 * registered devices are made at start; in the input @GID@, @TOKEN@,
 * @ADMIT@, @DEV@ and @DEV2@ stand for them, "Dsync-Body-Hash: @HASH@" for
 * the body's real hash, and a header line "@SIGN@" (or "@SIGN2@") for the
 * four signature headers of @DEV@ (or @DEV2@) made now, so signed requests
 * get past the signature to the rules, the quota and the disk.
 * The answer must be a known status with a body that fits; a refusal's body
 * is the line format with an error word.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "dsync/common.h"
#include "dsync/relay.h"
#include "transport/relay_proto.h"
#include "transport/relay_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GID "5eed5eed5eed5eed5eed5eed5eed5eed"
#define DEV "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define MAX_HEADERS 64

static relay_srv *srv;
static char token_hex[65], admit_hex[65];
static uint8_t sk[2][64];

static __attribute__((noreturn)) void fail(const char *why)
{
	fprintf(stderr, "fuzz_relay_request: %s\n", why);
	abort();
}

static const char *data_dir;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? 0 : 0;
}

/* The data folder goes when the run ends (the replay in ctest runs often). */
static void remove_data(void)
{
	relay_srv_close(srv);
	srv = NULL;
	if (data_dir)
		nftw(data_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_request(const char *method, const char *url, const char *const *h, size_t nh, const char *body)
{
	unsigned status;
	dsync_buf out;

	dsync_buf_init(&out, 0);
	if (relay_request(srv, method, url, h, nh, body, strlen(body), &status, &out) < 0 || status >= 300)
		fail("setting up the group failed");
	dsync_buf_dispose(&out);
}

static void setup(void)
{
	static char dir[] = "/dev/shm/dsync-fuzz-relay.XXXXXX", dir2[] = "/tmp/dsync-fuzz-relay.XXXXXX";
	uint8_t token[32], admit[32], th[32], ah[32], pk[32], seed[32];
	char th_hex[65], ah_hex[65], auth[80], len[16], body[512], url[128], *d;
	dsync_relay_config c = { 0 };
	const char *h[8];
	dsync_buf m;
	int i;

	if (dsync_lib_init() < 0 || ((d = mkdtemp(dir)) == NULL && (d = mkdtemp(dir2)) == NULL))
		fail("no temp folder");
	data_dir = d;
	atexit(remove_data);
	c.data_dir = d;
	c.quota = 1 << 20;        /* bounds what a long run stores */
	c.max_blob = 256 << 10;
	c.max_groups = 8;
	c.trust_proxy = true;     /* each input its own address: no run is slowed down by earlier ones */
	if (relay_srv_open(&srv, &c, NULL, NULL) < 0)
		fail(dsync_error_last());
	memset(token, 0x11, sizeof(token));
	memset(admit, 0x22, sizeof(admit));
	dsync_relay_hex(token_hex, token, 32);
	dsync_relay_hex(admit_hex, admit, 32);
	dsync_relay_secret_hash(th, "token", GID, token);
	dsync_relay_secret_hash(ah, "admit", GID, admit);
	dsync_relay_hex(th_hex, th, 32);
	dsync_relay_hex(ah_hex, ah, 32);
	snprintf(auth, sizeof(auth), "Dsync-Token %s", token_hex);
	snprintf(body, sizeof(body), "token-hash %s\nadmit-hash %s\n", th_hex, ah_hex);
	snprintf(len, sizeof(len), "%zu", strlen(body));
	h[0] = "Authorization", h[1] = auth, h[2] = "Dsync-Admission", h[3] = admit_hex;
	h[4] = "Content-Length", h[5] = len;
	setup_request("PUT", "/v1/" GID "/.group", h, 3, body);
	for (i = 0; i < 2; i++) {
		char pk_hex[65], proof_hex[129];
		uint8_t proof[64];

		memset(seed, 0x33 + i, sizeof(seed));
		crypto_sign_seed_keypair(pk, sk[i], seed);
		dsync_buf_init(&m, 0);
		if (dsync_relay_register_message(&m, GID, i ? DEV2 : DEV, pk) < 0)
			fail("register message");
		crypto_sign_detached(proof, NULL, (const uint8_t *)m.ptr, m.len, sk[i]);
		dsync_buf_dispose(&m);
		dsync_relay_hex(pk_hex, pk, 32);
		dsync_relay_hex(proof_hex, proof, 64);
		snprintf(body, sizeof(body), "key %s\nproof %s\n", pk_hex, proof_hex);
		snprintf(len, sizeof(len), "%zu", strlen(body));
		snprintf(url, sizeof(url), "/v1/" GID "/.device/%s", i ? DEV2 : DEV);
		setup_request("PUT", url, h, 3, body);
	}
}

/* S with every @WORD@ of the known group replaced, into a new string. */
static char *expand(const char *s, size_t len)
{
	static const struct {
		const char *from;
		const char *to;
	} subst[] = { { "@GID@", GID }, { "@DEV@", DEV }, { "@DEV2@", DEV2 }, { "@TOKEN@", token_hex },
		      { "@ADMIT@", admit_hex } };
	dsync_buf b;
	size_t i, k;

	dsync_buf_init(&b, 0);
	for (i = 0; i < len;) {
		for (k = 0; k < sizeof(subst) / sizeof(subst[0]); k++) {
			size_t n = strlen(subst[k].from);

			if (len - i >= n && memcmp(s + i, subst[k].from, n) == 0) {
				dsync_buf_puts(&b, subst[k].to);
				i += n;
				break;
			}
		}
		if (k == sizeof(subst) / sizeof(subst[0]))
			dsync_buf_put(&b, s + i++, 1);
	}
	dsync_buf_put(&b, "", 1);
	return dsync_buf_detach(&b);
}

static const char *find(char **h, size_t nh, const char *name)
{
	size_t i;

	for (i = 0; i < nh; i++)
		if (strcasecmp(h[2 * i], name) == 0)
			return h[2 * i + 1];
	return NULL;
}

/* The signature headers of device WHO for this request, appended to H. */
static size_t sign(char **h, size_t nh, int who, const char *method, const char *url, const char *body,
		   size_t blen, char store[4][160])
{
	char path[1100], hash[65] = "", total[24] = "", nonce[33];
	uint8_t n[16], bh[32], sig[64];
	const char *v, *slash;
	int64_t t = (int64_t)time(NULL);
	dsync_buf m;

	snprintf(path, sizeof(path), "%.*s", (int)strcspn(url, "?"), url);
	if (strcmp(method, "PUT") == 0) {
		if ((v = find(h, nh, "Dsync-Body-Hash")) != NULL)
			snprintf(hash, sizeof(hash), "%s", v);
		if ((v = find(h, nh, "Content-Range")) != NULL && (slash = strchr(v, '/')) != NULL)
			snprintf(total, sizeof(total), "%s", slash + 1);
		else if ((v = find(h, nh, "Content-Length")) != NULL)
			snprintf(total, sizeof(total), "%s", v);
		else
			snprintf(total, sizeof(total), "%zu", blen);
	} else if (strcmp(method, "POST") == 0) {
		crypto_generichash(bh, 32, (const uint8_t *)body, blen, NULL, 0);
		dsync_relay_hex(hash, bh, 32);
	}
	randombytes_buf(n, sizeof(n));
	dsync_relay_hex(nonce, n, sizeof(n));
	dsync_buf_init(&m, 0);
	if (dsync_relay_sig_message(&m, method, strstr(path, "/v1/") ? strstr(path, "/v1/") : path, GID, hash, total,
				    t, nonce) < 0) {
		dsync_buf_dispose(&m);
		return nh;
	}
	crypto_sign_detached(sig, NULL, (const uint8_t *)m.ptr, m.len, sk[who]);
	dsync_buf_dispose(&m);
	snprintf(store[0], 160, "%s", who ? DEV2 : DEV);
	snprintf(store[1], 160, "%lld", (long long)t);
	snprintf(store[2], 160, "%s", nonce);
	dsync_relay_hex(store[3], sig, 64);
	h[2 * nh] = "Dsync-Device", h[2 * nh + 1] = store[0], nh++;
	h[2 * nh] = "Dsync-Time", h[2 * nh + 1] = store[1], nh++;
	h[2 * nh] = "Dsync-Nonce", h[2 * nh + 1] = store[2], nh++;
	h[2 * nh] = "Dsync-Signature", h[2 * nh + 1] = store[3], nh++;
	return nh;
}

static void check_answer(unsigned status, const dsync_buf *out)
{
	static const unsigned known[] = { 200, 201, 202, 204, 206, 400, 403, 404, 405, 409, 411, 413,
					  414, 429, 431, 500, 503, 507 };
	dsync_relay_lines l;
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (status == known[i])
			break;
	if (i == sizeof(known) / sizeof(known[0]))
		fail("an unknown status");
	if (out->len > (1 << 20))
		fail("a body over 1 MiB");
	if (status >= 400) {
		if (dsync_relay_lines_parse(&l, out->ptr ? out->ptr : "", out->len) < 0)
			fail("an error body not in the line format");
		if (!dsync_relay_lines_get(&l, "error"))
			fail("an error body without its error word");
		dsync_relay_lines_dispose(&l);
	}
	if (status == 500)
		fail("an internal error");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *line, *next, *method, *url, *body, *hdrs[2 * (MAX_HEADERS + 8)], store[4][160], xff[32];
	char hash[65];
	size_t nh = 0, blen;
	int sign_as = -1;
	unsigned status;
	dsync_buf out;

	if (!srv)
		setup();
	text = expand((const char *)data, size);
	/* the body: after the first empty line (its length from the input, NULs included) */
	body = strstr(text, "\n\n");
	blen = 0;
	if (body) {
		*body = '\0';
		body += 2;
		blen = strlen(body);
	}
	method = text;
	if ((url = strchr(text, ' ')) == NULL) {
		free(text);
		return 0;
	}
	*url++ = '\0';
	if ((next = strchr(url, '\n')) != NULL)
		*next++ = '\0';
	for (line = next; line && *line && nh < MAX_HEADERS; line = next) {
		char *colon;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strcmp(line, "@SIGN@") == 0 || strcmp(line, "@SIGN2@") == 0) {
			sign_as = line[5] == '2';
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		if (strcmp(colon, "@HASH@") == 0) {
			uint8_t h[32];

			crypto_generichash(h, 32, (const uint8_t *)(body ? body : ""), blen, NULL, 0);
			dsync_relay_hex(hash, h, 32);
			colon = hash;
		}
		hdrs[2 * nh] = line, hdrs[2 * nh + 1] = colon, nh++;
	}
	if (!find(hdrs, nh, "X-Forwarded-For")) {
		snprintf(xff, sizeof(xff), "10.%u.%u.%u", randombytes_uniform(256), randombytes_uniform(256),
			 randombytes_uniform(256));
		hdrs[2 * nh] = "X-Forwarded-For", hdrs[2 * nh + 1] = xff, nh++;
	}
	if (sign_as >= 0)
		nh = sign(hdrs, nh, sign_as, method, url, body ? body : "", blen, store);
	dsync_buf_init(&out, 0);
	if (relay_request(srv, method, url, (const char *const *)hdrs, nh, body ? body : "", blen, &status, &out) == 0)
		check_answer(status, &out);
	if (getenv("DSYNC_FUZZ_VERBOSE"))   /* what each seed reaches */
		fprintf(stderr, "%s %.60s -> %u %.*s\n", method, url, status, (int)strcspn(out.ptr ? out.ptr : "", "\n"),
			out.ptr ? out.ptr : "");
	dsync_buf_dispose(&out);
	free(text);
	return 0;
}
