/*
 * The relay protocol without I/O (docs/relay-protocol.md): what the relay's
 * client (transport/relay.c) and server (transport/relay_server.c) share.
 * Derivations of section 2, the name shapes of section 3, the line format,
 * the listing's lines, the signed message of section 8 and the writer rules.
 * Every input may come from a hostile peer: lengths are checked, nothing is
 * trusted.  Fuzzed by tests/fuzz/fuzz_relay_names.c and fuzz_relay_reply.c.
 */
#ifndef DSYNC_TRANSPORT_RELAY_PROTO_H
#define DSYNC_TRANSPORT_RELAY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"

#define DSYNC_RELAY_ID_HEX 33          /* 32 hex digits + NUL: group and device ids */
#define DSYNC_RELAY_KEY_BYTES 32       /* TOKEN, ADMIT, TH, AH, body hashes */
#define DSYNC_RELAY_HEX64 65           /* 64 hex digits + NUL */
#define DSYNC_RELAY_PK_BYTES 32        /* crypto_sign_PUBLICKEYBYTES */
#define DSYNC_RELAY_SK_BYTES 64        /* crypto_sign_SECRETKEYBYTES */
#define DSYNC_RELAY_SIG_BYTES 64       /* crypto_sign_BYTES */
#define DSYNC_RELAY_NONCE_HEX 33       /* 16 random bytes as hex + NUL */
#define DSYNC_RELAY_NAME_MAX 200       /* a blob name's bytes */
#define DSYNC_RELAY_GROUP_MAX 64       /* a group name's bytes (after folding) */
#define DSYNC_RELAY_LINES_MAX (64 * 1024)
#define DSYNC_RELAY_LINES_COUNT 1000
#define DSYNC_RELAY_LIST_MAX 1000      /* lines of one listing page */
#define DSYNC_RELAY_SKEW 300           /* seconds a signed request's time may be off */

/* ---- section 2: group ids, tokens */

/* The group name as derivations use it: NAME with surrounding spaces removed
 * and ASCII letters lower-cased, into OUT (DSYNC_RELAY_GROUP_MAX + 1 bytes).
 * DSYNC_EUSAGE (with a message naming the rule) for an empty name, one over
 * 64 bytes, control characters or invalid UTF-8. */
int dsync_relay_group_fold(char *out, const char *name);

/* GROUP-ID of a (folded) group name: 32 lower-case hex digits. */
void dsync_relay_group_id(char out[DSYNC_RELAY_ID_HEX], const char *folded);

/* TOKEN and ADMIT from the folded group name and the passphrase
 * (Argon2id MODERATE; the minimum limits when the test build's
 * DSYNC_TEST_KDF=min is set, as for stores).  DSYNC_ERROR when Argon2id
 * can't get its memory (dsync has no DSYNC_ENOMEM; store.c does the same). */
int dsync_relay_derive(uint8_t token[DSYNC_RELAY_KEY_BYTES], uint8_t admit[DSYNC_RELAY_KEY_BYTES],
		       const char *folded, const char *passphrase);

/* TH (LABEL "token") or AH (LABEL "admit") of SECRET for the group GID
 * (hex): what the relay keeps. */
void dsync_relay_secret_hash(uint8_t out[DSYNC_RELAY_KEY_BYTES], const char *label, const char *gid,
			     const uint8_t secret[DSYNC_RELAY_KEY_BYTES]);

/* ---- section 3: names and headers */

/* 0 when S is exactly LEN lower-case hex digits (LEN even), else -1; with
 * OUT not NULL, the LEN/2 bytes decoded. */
int dsync_relay_hex_parse(uint8_t *out, const char *s, size_t len);
/* LEN bytes as lower-case hex into OUT (2*LEN + 1 bytes). */
void dsync_relay_hex(char *out, const uint8_t *in, size_t len);

/* What a path after "/v1/" names (the relay's router and the fuzzer). */
typedef enum dsync_relay_target_kind {
	DSYNC_RELAY_T_BAD = 0,   /* 400 bad-name */
	DSYNC_RELAY_T_ROOT,      /* "/v1/" itself */
	DSYNC_RELAY_T_BLOB,      /* GROUP-ID/NAME */
	DSYNC_RELAY_T_GROUP,     /* GROUP-ID/.group */
	DSYNC_RELAY_T_LIST,      /* GROUP-ID/.list */
	DSYNC_RELAY_T_POLL,      /* GROUP-ID/.poll */
	DSYNC_RELAY_T_USAGE,     /* GROUP-ID/.usage */
	DSYNC_RELAY_T_DEVICE,    /* GROUP-ID/.device/DEVICE-ID */
	DSYNC_RELAY_T_UPLOAD     /* GROUP-ID/.upload/UPLOAD-ID */
} dsync_relay_target_kind;

typedef struct dsync_relay_target {
	dsync_relay_target_kind kind;
	char gid[DSYNC_RELAY_ID_HEX];
	char name[DSYNC_RELAY_NAME_MAX + 1]; /* the blob name, device id or upload id */
} dsync_relay_target;

/* Parses URL (the raw path as MHD hands it, from "/v1/" on; anything
 * before, a reverse proxy's prefix, is the caller's) into T.  Returns 0, or
 * -1 with T->kind DSYNC_RELAY_T_BAD for anything section 3 refuses. */
int dsync_relay_target_parse(dsync_relay_target *t, const char *url);

/* 0 when NAME is a blob name of one of the store's shapes (dsync-store,
 * keys/16hex, packs/64hex, devices/32hex/16digits), else -1. */
int dsync_relay_blob_name_ok(const char *name);
/* 0 when PREFIX may be listed (empty, or name characters and '/', at most
 * 200 bytes, no '.' component; a '/' neither first nor doubled, as no blob
 * name has one there), else -1. */
int dsync_relay_prefix_ok(const char *prefix);
/* For "devices/ID/SEQ": ID (hex, 33 bytes) and SEQ; -1 for any other name. */
int dsync_relay_manifest_name(const char *name, char dev[DSYNC_RELAY_ID_HEX], uint64_t *seq);

/* "EPOCH.N" (16 hex digits, '.', decimal) parsed; -1 when malformed. */
int dsync_relay_change_parse(const char *s, char epoch[17], uint64_t *n);

/* ---- the line format: "KEY VALUE\n" lines */

typedef struct dsync_relay_lines {
	size_t n;
	struct {
		const char *key;
		const char *value;
	} v[DSYNC_RELAY_LINES_COUNT];
	char *text;  /* a copy of the body the keys and values point into */
} dsync_relay_lines;

/* Parses BODY (LEN bytes, not NUL-terminated) into L: at most 64 KiB and
 * 1,000 lines, keys of [a-z0-9-], one space, values of printable ASCII.
 * DSYNC_ECORRUPT for anything else (L then holds nothing). */
int dsync_relay_lines_parse(dsync_relay_lines *l, const char *body, size_t len);
/* The value of the first line with KEY, or NULL. */
const char *dsync_relay_lines_get(const dsync_relay_lines *l, const char *key);
void dsync_relay_lines_dispose(dsync_relay_lines *l);

/* One line of a listing ("NAME SIZE MTIME"), or its last "next NAME". */
typedef struct dsync_relay_list_line {
	bool is_next;
	char name[DSYNC_RELAY_NAME_MAX + 1];
	uint64_t size;
	int64_t mtime;
} dsync_relay_list_line;
/* Parses one listing line (LINE, LEN bytes, without its '\n');
 * DSYNC_ECORRUPT for a malformed line or a name that isn't a blob name. */
int dsync_relay_list_line_parse(dsync_relay_list_line *out, const char *line, size_t len);

/* An error body ("error CODE\nmessage TEXT\n") for CODE and TEXT into OUT
 * (appended).  TEXT may quote a peer: bytes outside printable ASCII become
 * '?' and it is cut at 1,000 bytes.  DSYNC_EUSAGE for a CODE not of [a-z0-9-]+. */
int dsync_relay_error_body(dsync_buf *out, const char *code, const char *text);

/* ---- section 8: signatures */

/* The message M of section 8 into OUT. METHOD "PUT"/"DELETE"/"POST", PATH
 * from "/v1/" on without a query, GID hex, BODY_HASH hex or "", TOTAL as
 * text or "", TIME, NONCE hex. */
int dsync_relay_sig_message(dsync_buf *out, const char *method, const char *path, const char *gid,
			    const char *body_hash, const char *total, int64_t time, const char *nonce);
/* The registration proof's message ("dsync-relay-register-1\0" GID DEVICE-ID KEY):
 * GID and DEVICE as their 32 hex characters, KEY as its 32 raw bytes.
 * DSYNC_EUSAGE when an id is not 32 lower-case hex digits. */
int dsync_relay_register_message(dsync_buf *out, const char *gid, const char *device,
				 const uint8_t pk[DSYNC_RELAY_PK_BYTES]);

/* ---- section 8: writer rules, as a pure function */

typedef enum dsync_relay_verdict {
	DSYNC_RELAY_ALLOW = 0,
	DSYNC_RELAY_DENY_NOT_WRITER,    /* 409 not-writer */
	DSYNC_RELAY_DENY_EXISTS,        /* 409 exists */
	DSYNC_RELAY_DENY_SEQ,           /* 409 seq-not-newer */
	DSYNC_RELAY_DENY_LAST_KEY,      /* 409 last-key */
	DSYNC_RELAY_DENY_METHOD         /* 405 method */
} dsync_relay_verdict;

typedef struct dsync_relay_rule_in {
	bool is_delete;        /* else a PUT */
	const char *name;      /* the blob name (valid) */
	const char *signer;    /* the signing device's id */
	bool exists;           /* the blob is there now */
	const char *writer;    /* its writer's id when it exists */
	uint64_t seq_high;     /* for devices/ID/SEQ: the highest SEQ accepted for ID (0: none) */
	size_t other_keys;     /* keys/ blobs other than NAME */
} dsync_relay_rule_in;

dsync_relay_verdict dsync_relay_rules_allow(const dsync_relay_rule_in *in);
/* The error word of a verdict ("not-writer", ...), NULL for ALLOW. */
const char *dsync_relay_verdict_code(dsync_relay_verdict v);

#endif
