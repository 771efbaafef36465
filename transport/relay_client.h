/*
 * The relay client's HTTP exchanges (docs/relay-protocol.md sections 3, 8
 * and 9's client part), shared by relay.c (open, reads, listings, the poll)
 * and relay_put.c (uploads): the store's one CURL handle, one request with
 * its signature, the reply's headers parsed as untrusted bytes, the 429 and
 * clock-skew retries, and the refusals mapped to our own messages (the
 * relay's message text is never shown).
 */
#ifndef DSYNC_TRANSPORT_RELAY_CLIENT_H
#define DSYNC_TRANSPORT_RELAY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "transport/netlibs.h"

#include "core/base/buf.h"
#include "transport/blobstore.h"
#include "transport/opts.h"
#include "transport/relay_proto.h"

#define RELAY_CHANGE_MAX 40            /* "EPOCH.N": 16 + 1 + 20 digits + NUL, with room */
#define RELAY_ERROR_BODY_MAX DSYNC_RELAY_LINES_MAX
#define RELAY_CUT_TRIES 4              /* attempts of a get or put whose connection is cut */

typedef struct relay_store {
	dsync_blobstore base;
	CURL *curl;
	char *root;                    /* BASE: the URL, ending in '/' */
	char *who;                     /* the remote's name for messages (else the URL) */
	char *group;                   /* the group's name for messages (else its id) */
	char *hint;                    /* what a refused token's message adds (the creds' refused_hint), or NULL */
	char gid[DSYNC_RELAY_ID_HEX];
	char device[DSYNC_RELAY_ID_HEX];
	char auth[96];                 /* "Authorization: Dsync-Token HEX64" */
	unsigned char *sk;             /* the signing key (sodium_malloc'd) */
	int64_t clock_offset;          /* the relay's clock minus ours, learnt from a clock-skew refusal */
	bool created;                  /* our PUT .group made the group: it is empty */
	bool have_usage;
	uint64_t used, quota;          /* from the last Dsync-Usage */
	char errbuf[CURL_ERROR_SIZE];
#ifdef DSYNC_TESTING
	uint64_t cut_at;               /* DSYNC_TEST_RELAY_CUT: cut the first upload and read after this many bytes */
	bool cut_done, cut_get_done;
	uint64_t requests, bytes_sent, bytes_received; /* DSYNC_TEST_RELAY_STATS */
#endif
} relay_store;

/* The headers of one reply this client reads; every one checked as it comes
 * (a malformed or repeated one sets BAD). */
typedef struct relay_reply {
	long status;
	bool bad;
	bool has_length, has_change, has_usage, has_offset, has_etag, has_range;
	uint64_t length;
	char change[RELAY_CHANGE_MAX];
	uint64_t used, quota;
	uint64_t offset;
	char etag[DSYNC_RELAY_HEX64];
	uint64_t range_start, range_end, range_total;
	time_t date, last_modified;    /* 0: absent */
	long retry_after;              /* -1: absent */
} relay_reply;

/* Parses one header line (LINE, LEN bytes, with or without its CRLF) into
 * R; a status line ("HTTP/1.1 200 OK") starts a new reply.  Never fails:
 * anything malformed in a header this client reads sets R->bad. */
void dsync_relay_client_header(relay_reply *r, const char *line, size_t len);

/* One request. */
typedef struct relay_call {
	const char *method;            /* GET, HEAD, PUT, DELETE, POST */
	const char *target;            /* after "GROUP-ID/" (".list?...", a blob name); NULL: "v1/" itself */
	const char *name;              /* what messages name (a blob name), or NULL */
	bool sign;                     /* section 8's headers */
	const char *body_hash;         /* hex: the signature's (and a PUT's Dsync-Body-Hash); NULL: none */
	uint64_t total;                /* a PUT's whole blob's length for the signature */
	const char *admission;         /* hex ADMIT for Dsync-Admission, or NULL */
	const char *upload;            /* Dsync-Upload id, with Content-Range from RANGE_START to TOTAL */
	uint64_t range_start;
	const char *range;             /* a GET's Range ("START-"), or NULL */
	long timeout_ms;               /* 0: none (the low-speed limit still holds) */
	/* the body sent: LEN bytes of MEM, or of FD from FD_OFF */
	const void *mem;
	int fd;
	uint64_t fd_off, len;
	bool has_body;
	/* where a 2xx body goes: OUT (bounded by its max) or OUT_FD (at most MAX bytes, 0: any),
	 * hashed into HASH when not NULL */
	dsync_buf *out;
	int out_fd;
	uint64_t max;
	crypto_generichash_state *hash;
	dsync_blobstore_xfer_cb xfer;
	void *payload;
	uint64_t xfer_base;            /* bytes moved before this request (a resumed transfer) */
	/* results */
	relay_store *store;
	relay_reply reply;
	char code[32];                 /* the error body's `error` word, "" when none or malformed */
	uint64_t sent, got;            /* body bytes sent, and received into the sink */
	CURLcode cc;
	bool too_big, sink_failed, cut_by_test;
	dsync_buf err;                 /* a non-2xx body */
} relay_call;

/* Makes S's CURL handle: http and https only, no redirects, CA_FILE trusted
 * when not NULL, RATE bytes/s each way (0: none), a stalled transfer cut
 * after 60 s. */
int dsync_relay_client_open(relay_store *s, const char *ca_file, uint64_t rate);

/* Fills R for METHOD on TARGET. */
void dsync_relay_call_init(relay_call *r, const char *method, const char *target, const char *name);
void dsync_relay_call_dispose(relay_call *r);

/* Makes the exchange: 0 once a reply came (any status: the caller reads
 * R->reply.status), after one wait and retry on 429/503 (Retry-After at most
 * 60 s) and one retry with the clock corrected on 403 clock-skew.  A
 * transport failure: DSYNC_ERROR "cannot reach relay ..." (R->cc says which,
 * dsync_relay_call_is_cut() whether a retry may help); a reply that breaks the
 * protocol (malformed headers, no Dsync-Change on a 2xx under the group, a
 * body over its bound): DSYNC_ECORRUPT. */
int dsync_relay_call_perform(relay_store *s, relay_call *r);

/* True when R failed by a cut connection (or a stall) that a retry may
 * get past. */
bool dsync_relay_call_is_cut(const relay_call *r);

/* Sleeps before retry number TRY (1, 2, 4, 8, then 10 seconds). */
void dsync_relay_client_backoff(int try);

/* The error of a refusal (R's status not the caller's success): the codes
 * of section 9's client part, in our own words; WHAT says what was asked
 * ("store", "read", "list" ...). */
int dsync_relay_call_refused(relay_store *s, const relay_call *r, const char *what);

/* Records R's Dsync-Usage in S. */
void dsync_relay_call_note_usage(relay_store *s, const relay_call *r);

/* Strict decimal: 1..20 digits, no sign, no overflow; -1 otherwise. */
int dsync_relay_client_u64(uint64_t *out, const char *s, size_t len);

#endif
