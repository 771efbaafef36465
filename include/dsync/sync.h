/*
 * dsync — remotes: the encrypted store (DESIGN.md section 4, docs/store-format.md),
 * the sync round (section 5), joining a store from a new device, changing
 * the passphrase and checking a store.
 */
#ifndef DSYNC_SYNC_H
#define DSYNC_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/history.h"
#include "dsync/merge.h"
#include "dsync/mirror.h"

enum {
	DSYNC_PASSPHRASE_CURRENT = 0,  /* the store's passphrase */
	DSYNC_PASSPHRASE_NEW = 1       /* a new one (ask twice on a terminal) */
};

/*
 * Asked for a passphrase of kind KIND for the store at URL: sets *OUT to a
 * malloc'd NUL-terminated string (the library wipes and frees it) and
 * returns 0, or returns a negative DSYNC_E* code (DSYNC_EAUTH: none given).
 */
typedef int (*dsync_passphrase_cb)(char **out, int kind, const char *url, void *payload);

/* What reaching a host over ssh may ask (dsync_prompt_cb's KIND). */
enum {
	DSYNC_PROMPT_KEY_PASSPHRASE = 1, /* a private key's passphrase (echo off) */
	DSYNC_PROMPT_PASSWORD = 2,       /* a login password (echo off) */
	DSYNC_PROMPT_KBDINT = 3,         /* a keyboard-interactive question (ECHO as the server says) */
	DSYNC_PROMPT_HOSTKEY = 4         /* an unknown host key: "yes", "no" or a fingerprint */
};

/*
 * Asks TEXT (one or more lines; the last is the question) at the terminal:
 * sets *OUT to a malloc'd answer (the library wipes and frees it), or returns
 * DSYNC_EAUTH when there is none.  Set only when someone can answer: without
 * it, nothing is asked (ssh runs with BatchMode).
 */
typedef int (*dsync_prompt_cb)(char **out, int kind, const char *text, bool echo, void *payload);

typedef struct dsync_sync_options {
	int lock_wait_ms;
	dsync_passphrase_cb passphrase;
	dsync_transfer_cb progress;      /* may be NULL */
	dsync_warn_cb warn;              /* may be NULL */
	dsync_prompt_cb prompt;          /* may be NULL: nothing is asked */
	void *payload;                   /* for the four callbacks */
	/* Bytes per second each way per remote (0: remote.NAME.limitRate, or
	 * no limit; DSYNC_RATE_UNLIMITED: no limit whatever the config says):
	 * see dsync_rate_parse. */
	uint64_t rate_limit;
	/* A relay remote (an http:// or https:// URL) for dsync_remote_add and
	 * dsync_join: the group's name as typed (required there: DSYNC_EUSAGE
	 * without it), and a CA file (or self-signed certificate) to trust
	 * for https (NULL: the system's).  Kept as remote.NAME.group and
	 * remote.NAME.caFile; the rounds read them from there and ignore
	 * these. */
	const char *relay_group;
	const char *relay_ca_file;
	/* dsync_remote_add on a relay: the group is new (dsync init --relay):
	 * its passphrase is asked as a new one (DSYNC_PASSPHRASE_NEW) and must
	 * pass dsync_passphrase_strength() (else DSYNC_EUSAGE, the reason in
	 * the message).  Without it a group is made only when the passphrase
	 * given passes the check too. */
	bool relay_create;
	/* How long reaching a relay may take, in ms (0: the transport's own,
	 * 30 s): dsync status asks briefly. */
	int connect_timeout_ms;
	/* DSYNC_SYNC_MIRRORS: told after each mirror's round (may be NULL):
	 * its name, what it did, and 0 or its error (a negative DSYNC_E* code,
	 * the message in dsync_error_last()).  Without it a failed mirror is
	 * a warning. */
	void (*mirror_done)(const char *name, const dsync_mirror_result *r, int error, void *payload);
	/* DSYNC_SYNC_MIRRORS: mirrors whose interval has not passed since
	 * their last round are skipped (dsync_mirror_options.only_due: the
	 * watcher's timer) */
	bool mirrors_only_due;
} dsync_sync_options;
#define DSYNC_RATE_UNLIMITED UINT64_MAX
#define DSYNC_SYNC_OPTIONS_INIT { .lock_wait_ms = DSYNC_LOCK_WAIT_MS }

/* What a round did. */
typedef struct dsync_sync_result {
	size_t remotes;          /* remotes visited */
	size_t devices;          /* other devices' heads seen */
	size_t packs_fetched;
	uint64_t bytes_fetched;  /* encrypted bytes downloaded */
	size_t packs_pushed;
	size_t packs_reused;     /* packs a push cut off earlier had sent already: not sent again */
	uint64_t bytes_reused;   /* their encrypted bytes */
	size_t objects_pushed;
	uint64_t bytes_pushed;   /* encrypted bytes uploaded (packs and manifests) */
	bool pushed;             /* a new manifest was written */
	bool consolidated;       /* this device's small packs became one */
	bool join_finished;      /* a join cut off earlier in this folder was finished */
	dsync_merge_outcome merge;
	dsync_mirror_result mirror; /* the mirrors' rounds, summed (DSYNC_SYNC_MIRRORS) */
	size_t mirrors_failed;   /* mirrors whose round failed */
	bool mirror_error;       /* the error returned is the first failed mirror's: the rest of the round went */
} dsync_sync_result;

enum {
	DSYNC_SYNC_FETCH = 1,    /* fetch: every device's head into refs/remotes */
	DSYNC_SYNC_MERGE = 2,    /* merge them into the folder (needs FETCH) */
	DSYNC_SYNC_PUSH = 4,     /* push this device's head */
	DSYNC_SYNC_MIRRORS = 8,  /* a round with every mirror, between the merge and the push */
	DSYNC_SYNC_ALL = 15
};

/* A configured remote. */
typedef struct dsync_remote_info {
	char *name;
	char *url;
	char *store_id;
	char *group;     /* a relay's group (remote.NAME.group), NULL for other stores */
} dsync_remote_info;

/*
 * Adds remote NAME at URL to F.  An empty (or missing) place gets a new store
 * (asks for a new passphrase; *CREATED true); a place holding a store is
 * opened with its passphrase (or the key kept for it in the per-user config);
 * anything else is refused.  The unsealed key is kept per user (0600).
 * Takes no snapshot and moves nothing: the next sync merges.
 */
int dsync_remote_add(dsync_folder *f, const char *name, const char *url, bool *created,
		     const dsync_sync_options *o);
/* Lists F's remotes (sorted by name) into *OUT (freed with dsync_remote_list_free). */
int dsync_remote_list(dsync_remote_info **out, size_t *n, dsync_folder *f);
void dsync_remote_list_free(dsync_remote_info *list, size_t n);
/* Whether F has a remote (false when its config cannot be read). */
bool dsync_folder_has_remotes(dsync_folder *f);
/* Forgets remote NAME (its refs and state); the store itself is untouched. */
int dsync_remote_remove(dsync_folder *f, const char *name);
/*
 * Sets how remote NAME is reached: KEY "ssh" (auto, openssh or builtin),
 * "sshCommand" (one line), "limitRate" (as dsync_rate_parse takes it) or,
 * for a relay, "caFile" (a readable file, kept as an absolute path),
 * stored as remote.NAME.KEY; VALUE NULL removes it.  DSYNC_EUSAGE for
 * another key or a value not taken, DSYNC_ENOTFOUND for no such remote.
 */
int dsync_remote_set(dsync_folder *f, const char *name, const char *key, const char *value);

/*
 * Waiting for a remote to change (the watcher's long-poll; only a relay can
 * tell: dsync_remote_url_waits).  A waiter holds REMOTE's store open, so
 * that each wait costs no new connection; the key is not needed.  Opening
 * one for a remote that can't tell is DSYNC_EUSAGE.
 */
typedef struct dsync_remote_waiter dsync_remote_waiter;

/* Whether a remote at URL can tell when it changes (a relay). */
bool dsync_remote_url_waits(const char *url);

int dsync_remote_waiter_open(dsync_remote_waiter **out, dsync_folder *f, const char *remote,
			     const dsync_sync_options *o);

/*
 * Waits at most TIMEOUT_MS (at least 1000 is used) for another device to
 * push to W's remote.  CURSOR (CURSOR_SIZE bytes, "" at first) is where the
 * last wait left off, and is updated: keep it across waiters (a new waiter
 * after an error goes on from it).  *CHANGED is set when something changed
 * since CURSOR that a round should fetch (this device's own push alone is
 * not); a first wait with "" sets it at once.
 */
int dsync_remote_wait(dsync_remote_waiter *w, char *cursor, size_t cursor_size, int timeout_ms, bool *changed);

/* Closes W's store and frees it (NULL is fine). */
void dsync_remote_waiter_free(dsync_remote_waiter *w);

/*
 * One sync round with REMOTE (NULL: every remote), doing the steps in WHAT
 * (DSYNC_SYNC_*): snapshot, fetch every other device's newest manifest and
 * the packs not held yet (each decrypted, indexed and checked before any ref
 * moves), merge the heads into the folder, a round with each mirror
 * (dsync/mirror.h: what a phone recorded and merged goes out in the same
 * round), push the objects the remote lacks and a new manifest.  REMOTE
 * may name a mirror: that mirror's round alone, no remote.  A folder with
 * mirrors and no remote still syncs (its mirrors).  A mirror that fails
 * (an unreachable phone is common) does not stop the round: its error
 * (the first one's, with OUT->mirrors_failed) is returned after the push.
 * A round that merges or pushes first finishes a join
 * cut off in F (dsync_join()).  DSYNC_ECONFLICT when conflicts wait after a merge,
 * DSYNC_EAUTH for a wrong passphrase, DSYNC_ECORRUPT for data that failed
 * verification (the folder and its refs are then unchanged).
 */
int dsync_sync(dsync_sync_result *out, dsync_folder *f, const char *remote, unsigned what,
	       const dsync_sync_options *o);

/*
 * A new device: opens the store at URL (passphrase first: a wrong one leaves
 * nothing behind), makes DIR a folder (created when missing; a non-empty
 * folder is snapshotted first and keeps every file; NULL: the current
 * folder, only when it is empty, else DSYNC_EUSAGE), adds the remote as
 * REMOTE_NAME (NULL: "origin"), and syncs.  *OUT is the folder.  The remote
 * and a mark of the join in progress are in the folder from its first
 * moment: on a DIR where a join was cut off, this finishes it (the same
 * store; its remote name and device identity are kept; another store is
 * DSYNC_EEXISTS), as does dsync_sync().  A failure before the store's
 * history is fetched and checked removes .dsync only, and the key it kept.
 */
int dsync_join(dsync_folder **out, dsync_sync_result *r, const char *url, const char *dir,
	       const char *remote_name, const char *device_name, const dsync_sync_options *o);

/*
 * A relay remote's usage: bytes used by its group and its quota (0: none),
 * asked of the relay with the credentials kept (the passphrase is never
 * asked: DSYNC_EAUTH when none are kept).  DSYNC_EUSAGE when REMOTE is not
 * a relay.
 */
int dsync_remote_usage(dsync_folder *f, const char *remote, uint64_t *used, uint64_t *quota,
		       const dsync_sync_options *o);

/* ---- passphrases for relay groups (core/sync/passgen.c) ---- */

#define DSYNC_PASSPHRASE_WORDS 6       /* a generated passphrase's words */
#define DSYNC_PASSPHRASE_MIN_BITS 50   /* the least a typed relay passphrase may have */

/* A new passphrase: WORDS words (0: DSYNC_PASSPHRASE_WORDS) picked
 * uniformly from the EFF large wordlist (7,776 words: 12.9 bits each),
 * joined by spaces, into *OUT (malloc'd: wipe and free it). */
int dsync_passphrase_generate(char **out, unsigned words);
/* The entropy of a generated passphrase of WORDS words (0: the default), in bits. */
double dsync_passphrase_generated_bits(unsigned words);
/* 0 when PASS is strong enough for a relay group (zxcvbn's estimate at
 * least DSYNC_PASSPHRASE_MIN_BITS), else DSYNC_EUSAGE with one line
 * naming what makes it guessable.  *BITS (may be NULL): the estimate. */
int dsync_passphrase_strength(const char *pass, double *bits);

/* Changes the passphrase of REMOTE's store (NULL: the only remote):
 * asks for the current one and a new one, re-seals the key, nothing else.
 * A relay group's (docs/relays.md): the current one is checked against the
 * token kept here (DSYNC_EAUTH), the new one for strength (DSYNC_EUSAGE),
 * then the key is re-sealed, the relay's token rotated and the new one
 * kept: the other devices are refused until dsync_remote_passphrase. */
int dsync_passphrase_change(dsync_folder *f, const char *remote, const dsync_sync_options *o);

/* For relay remote REMOTE whose group's passphrase was changed on another
 * device: asks for the new one, checks it against the relay (DSYNC_EAUTH
 * when refused) and keeps its token in place of the old. */
int dsync_remote_passphrase(dsync_folder *f, const char *remote, const dsync_sync_options *o);

/*
 * Checks F's history, as `git fsck` does: every version reachable from any
 * ref, and every folder, file and chunk in each, is read once and its hash
 * checked; each pack's index is checked against its pack.  What is missing
 * or damaged is listed in OUT->problems, and makes the result
 * DSYNC_ECORRUPT once the stores are checked too.  Then REMOTE's store
 * (NULL: every remote; none: the local history only, OUT->stores 0): its
 * key blobs and header verify, every manifest decrypts, every pack it names
 * is there; READ_DATA also decrypts and indexes every pack (in a temporary
 * place).  A damaged store is DSYNC_ECORRUPT naming the first damaged blob.
 * OUT is filled in either case: dispose of it with dsync_check_result_dispose.
 */
int dsync_check(dsync_check_result *out, dsync_folder *f, const char *remote, bool read_data,
		const dsync_sync_options *o);

/* Frees what dsync_check left in R (the problem lines). */
void dsync_check_result_dispose(dsync_check_result *r);

#endif
