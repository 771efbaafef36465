/*
 * The encrypted remote store (DESIGN.md section 4; docs/store-format.md):
 * the plaintext header dsync-store, the master key sealed under keys/, the
 * key kept per user, padmé.  Packs (pack.h) and manifests (manifest.h) are
 * sealed with the keys of an unlocked store.  Knows nothing of folders or
 * git: core/sync/ puts them together.
 */
#ifndef DSYNC_CORE_STORE_H
#define DSYNC_CORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>

#include "dsync/common.h"
#include "core/base/buf.h"
#include "transport/blobstore.h"

#define DSYNC_STORE_HEADER "dsync-store"
#define DSYNC_STORE_VERSION 1

typedef struct dsync_store {
	dsync_blobstore *bs;             /* not owned */
	char id[33];                     /* the store id, hex */
	unsigned char idraw[16];
	unsigned long long opslimit;     /* Argon2id limits and salt */
	size_t memlimit;
	unsigned char salt[crypto_pwhash_SALTBYTES];
	char *header;                    /* dsync-store as read (or written) */
	size_t header_signed;            /* bytes of it the mac line covers */
	unsigned char mac[32];           /* its mac line */
	bool unlocked;
	/* below: only once unlocked (sodium_malloc'd, wiped on free) */
	unsigned char *keys;             /* master, seed, then the subkeys */
} dsync_store;

/* The secrets, valid once unlocked. */
#define DSYNC_STORE_MASTER(s) ((s)->keys)
#define DSYNC_STORE_SEED(s) ((s)->keys + 32)
#define DSYNC_STORE_KPACK(s) ((s)->keys + 64)
#define DSYNC_STORE_KMANIFEST(s) ((s)->keys + 96)
#define DSYNC_STORE_KNAME(s) ((s)->keys + 128)
#define DSYNC_STORE_KHEADER(s) ((s)->keys + 160)
#define DSYNC_STORE_KKEYS(s) ((s)->keys + 192)
#define DSYNC_STORE_KEYS_SIZE 224

/* The crypto_kdf context and subkey ids (docs/store-format.md). */
#define DSYNC_KDF_CONTEXT "dsyncst1"
enum { DSYNC_SUBKEY_PACK = 1, DSYNC_SUBKEY_MANIFEST = 2, DSYNC_SUBKEY_NAME = 3,
       DSYNC_SUBKEY_HEADER = 4, DSYNC_SUBKEY_KEYS = 5 };

/* padmé: the size LEN is padded to (at most about 12% more). */
uint64_t dsync_store_padme(uint64_t len);

/*
 * Makes a new store in the empty place BS: a random store id, master key and
 * salt, the chunk secret SEED (the creating folder's), the key sealed under
 * PASSPHRASE, and dsync-store written last (its presence makes the store).
 * *OUT is unlocked.
 */
int dsync_store_create(dsync_store **out, dsync_blobstore *bs, const char *passphrase,
		       const unsigned char *seed);

/*
 * Reads and checks dsync-store from BS (its checksum: damage is
 * DSYNC_ECORRUPT naming it).  DSYNC_ENOTFOUND when there is none.  *OUT is
 * locked.
 */
DSYNC_WARN_UNUSED
int dsync_store_open(dsync_store **out, dsync_blobstore *bs);

/*
 * The per-user key cache: the unlocked key of each store kept in
 * CONFIG_DIR/keys/STORE_ID (0600, the folder 0700), CONFIG_DIR being dsync's
 * per-user config folder (the caller knows where that is).
 */

/* Unlocks S with the key kept for it; *FOUND false (and 0) when none is
 * kept.  A kept key that doesn't match the store's header: DSYNC_ECORRUPT. */
DSYNC_WARN_UNUSED
int dsync_store_unlock_cached(dsync_store *s, const char *config_dir, bool *found);

/* Unlocks S with PASSPHRASE (a key blob under keys/ that it opens): a damaged
 * key blob is DSYNC_ECORRUPT naming it, a passphrase that opens none is
 * DSYNC_EAUTH.  Checks dsync-store's mac with the key. */
DSYNC_WARN_UNUSED
int dsync_store_unlock(dsync_store *s, const char *passphrase);

/* Keeps S's unlocked key. */
int dsync_store_cache_save(const dsync_store *s, const char *config_dir);

/* Forgets the key kept for store STORE_ID (none kept: not an error). */
int dsync_store_cache_remove(const char *config_dir, const char *store_id);

/* Re-seals the master key under NEW_PASSPHRASE: a new key blob, then the old
 * ones removed.  Nothing else changes. */
int dsync_store_reseal(dsync_store *s, const char *new_passphrase);

/* dsync_store_reseal in two steps, for a change that does something between
 * them (a relay group's token): the new key blob added, its id into KEYID
 * (DSYNC_STORE_KEYID_SIZE bytes), the old ones still opening the store;
 * then every key blob but KEYID removed. */
#define DSYNC_STORE_KEYID_SIZE 17
int dsync_store_reseal_add(dsync_store *s, const char *new_passphrase, char *keyid);
int dsync_store_reseal_prune(dsync_store *s, const char *keyid);

/* Checks every key blob's checksum and mac (S unlocked). */
DSYNC_WARN_UNUSED
int dsync_store_check_keys(dsync_store *s, size_t *count);

void dsync_store_free(dsync_store *s);

#endif
