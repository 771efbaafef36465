/*
 * What the files of core/sync/ share (internal; DESIGN.md sections 4 and 5,
 * docs/sync.md): the remotes in a folder's config, the per-remote state
 * files, a connection to one remote's store, and the steps of the round that
 * call each other.  The public entry points are in include/dsync/sync.h.
 *
 * Local state per remote, in .dsync/dsync-remotes/NAME/ (state.c):
 *   seen   "DEVICE SEQ HASH" per other device: the newest manifest seen and
 *          the hash of its text (a lower SEQ later is a rollback, the same SEQ
 *          with another text a fork)
 *   seq    the next sequence number this device will use, made durable before
 *          a manifest with it is uploaded
 *   packs  the packs whose objects this folder holds, one name a line
 *   mine   the packs this device wrote (only those it may delete)
 *   space  what its store takes, as the last round saw it (space.c)
 */
#ifndef DSYNC_CORE_SYNC_INTERNAL_H
#define DSYNC_CORE_SYNC_INTERNAL_H

#include <git2.h>

#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/strset.h"
#include "core/folder/folder.h"
#include "core/folder/registry.h"
#include "core/folder/device.h"
#include "core/worktree/begin.h"
#include "core/store/manifest.h"
#include "core/store/store.h"
#include "dsync/status.h"
#include "dsync/sync.h"
#include "transport/blobstore.h"
#include "transport/opts.h"
#include "transport/relay_proto.h"

/* ---- remote.c: remotes in the folder's config ---------------------------- */

typedef struct sync_remote {
	char *name, *url, *store_id;
	char *ssh;          /* remote.NAME.ssh: "auto", "openssh", "builtin" (NULL: not set) */
	char *ssh_command;  /* remote.NAME.sshCommand (NULL: not set) */
	char *limit_rate;   /* remote.NAME.limitRate as written (NULL: not set) */
	char *group;        /* remote.NAME.group: a relay's group name as typed (NULL: not a relay) */
	char *ca_file;      /* remote.NAME.caFile: a CA to trust for an https relay (NULL: the system's) */
} sync_remote;

typedef DSYNC_ARRAY(sync_remote) sync_remotes;

typedef struct sync_relay sync_relay;   /* relaykeys.c */

/* Whether NAME may name a remote (letters, digits, '-', '_', '.'). */
bool dsync_remote_name_ok(const char *name);

/* F's config, to read or change (the caller frees it). */
int dsync_remote_config_open(git_config **cfg, dsync_folder *f);

/* The string at the key FMT (with NAME for its %s) of CFG into *OUT
 * (malloc'd): DSYNC_ENOTFOUND (no message) when it is not set. */
int dsync_remote_config_get(char **out, git_config *cfg, const char *fmt, const char *name);

/* F's remotes, sorted by name. */
int dsync_remote_config_read(sync_remotes *out, dsync_folder *f);
void dsync_remote_config_dispose(sync_remotes *r);

/* Picks the remotes NAME names (NULL: all) into *SEL (pointers into ALL,
 * *N of them; the caller frees the vector): DSYNC_ENOTFOUND when none. */
int dsync_remote_pick(sync_remote ***sel, size_t *n, sync_remotes *all, const char *name, const dsync_folder *f);

/* PATH (NULL: none) as the absolute path remote.NAME.caFile keeps, into *OUT
 * (malloc'd; NULL for none): DSYNC_EUSAGE when it can't be read. */
int dsync_remote_ca_file(char **out, const char *path);

/* A relay remote about to be added or joined at URL: the passphrase asked
 * (CREATE: as a new one, which must pass the strength check), K derived
 * from it and O's group (and CA file) for device DEVICE_ID (NULL: none
 * yet); *GROUP_NEW when the passphrase is strong enough to make the group
 * (only then is one made). */
int dsync_remote_relay_begin(sync_relay *k, bool *group_new, const char *url, const char *device_id, bool create,
			     const dsync_sync_options *o);

/* ---- passphrase.c: asking, unlocking, the kept key ------------------------ */

/* Wipes and frees the passphrase S (may be NULL). */
void dsync_passphrase_free(char *s);

/* Asks O's callback for a passphrase of KIND for the store at URL; an empty
 * one is refused (DSYNC_EAUTH). */
int dsync_passphrase_ask(char **out, const dsync_sync_options *o, int kind, const char *url);

/* Unlocks ST: with the key kept for it, else with GIVEN (a relay's
 * passphrase, asked already: one passphrase serves the group and its
 * store), else with the passphrase asked (then the key is kept). */
int dsync_passphrase_unlock(dsync_store *st, const char *given, const dsync_sync_options *o);

/* The key kept for this user (dsync's per-user config folder): unlocking ST
 * with it (*FOUND false when none is kept), keeping ST's, forgetting the
 * one of store STORE_ID. */
int dsync_passphrase_unlock_kept(dsync_store *st, bool *found);
int dsync_passphrase_keep(const dsync_store *st);
int dsync_passphrase_forget(const char *store_id);

/* ---- relaykeys.c: a relay remote's credentials ------------------------------ */

struct sync_relay {
	dsync_relay_creds c;          /* what the transport gets */
	unsigned char admit[32];      /* ADMIT, while c.admit points here */
	char group[DSYNC_RELAY_GROUP_MAX + 1];   /* the folded name */
	char *ca_file;
	char *group_typed;            /* the name as typed (c.group_name) */
	char *pass;                   /* the passphrase they came from (NULL: loaded from the kept file) */
};

/* The credentials kept for GROUP (as typed) and device DEVICE_ID:
 * DSYNC_ENOTFOUND (no message) when none are kept. */
int dsync_relay_keys_load(sync_relay *k, const char *group, const char *device_id, const char *ca_file);
/* TOKEN and ADMIT from GROUP and PASS (kept in K->pass for the store's
 * unlock); with DEVICE_ID (may be NULL or "" while a joining device has
 * none yet) its kept pair, else a new one. */
int dsync_relay_keys_from_pass(sync_relay *k, const char *group, const char *pass, const char *device_id,
			       const char *ca_file);
/* Sets K's device: the pair kept for it, else a new one. */
int dsync_relay_keys_set_device(sync_relay *k, const char *device_id);
/* Keeps K's token and signing key (0600, atomically); forgets them. */
int dsync_relay_keys_save(const sync_relay *k);
int dsync_relay_keys_forget(const sync_relay *k);
/* Wipes K. */
void dsync_relay_keys_dispose(sync_relay *k);

/* For remote R of F, a relay (R->group set; DSYNC_EUSAGE when missing): the
 * credentials kept, else (a device never let in, e.g. remote.NAME.group set
 * by hand) from the passphrase, asked, with ADMIT: the open registers this
 * device, and the caller keeps them (dsync_relay_keys_save) once it worked.
 * A device whose kept file was lost is refused by the relay (its id has
 * another key there). */
int dsync_relay_keys_for_remote(sync_relay *k, dsync_folder *f, const sync_remote *r, const dsync_sync_options *o);

/* After a push to relay remote R (BS its store): warns through O at >= 90%
 * of the group's quota, once a day per remote (state file "quota-warned"). */
void dsync_relay_quota_check(dsync_blobstore *bs, const dsync_folder *f, const sync_remote *r,
			     const dsync_sync_options *o);

/* ---- conn.c: a connection to one remote's store ------------------------------ */

typedef struct sync_packset sync_packset;

/* A set of pack names, read from and written to a state file (state.c). */
struct sync_packset {
	dsync_strset set;
	bool dirty;       /* changed since read or written */
};

/* A device with manifests in the store. */
typedef struct sync_device {
	char id[33];
	uint64_t newest;
	DSYNC_ARRAY(uint64_t) older;   /* the other sequence numbers present */
	uint64_t bytes;                /* the sizes of all its manifests, as listed */
} sync_device;

typedef struct sync_conn {
	dsync_folder *f;
	sync_remote *r;
	const dsync_sync_options *o;
	dsync_sync_result *res;
	dsync_blobstore *bs;
	dsync_store *st;
	DSYNC_ARRAY(sync_device) devs;
	dsync_manifest *mans;    /* newest manifest of each device in DEVS (read) */
	bool *have_man;
	sync_packset have;       /* the packs this folder holds */
	char tmpdir[4096];
	dsync_manifest pushed;   /* the manifest this round's push wrote (pushed_len 0: none) */
	uint64_t pushed_len;     /* its sealed blob's size */
} sync_conn;

/* Bytes and objects moved by one fetch, push or check, for progress. */
typedef struct sync_xfer {
	sync_conn *c;
	const char *what;
	uint64_t base, total;
	size_t objects;
} sync_xfer;

/* Opens the store of remote R of F (checking that it is the one added) and
 * unlocks it; reads the packs F holds. */
int dsync_conn_open(sync_conn *c, dsync_folder *f, sync_remote *r, const dsync_sync_options *o,
		    dsync_sync_result *res);
void dsync_conn_close(sync_conn *c);

/* Opens the store at URL (transport/transport.h) with what O and remote R
 * (NULL: a remote not configured yet, as in remote add and join) say about
 * reaching it: DSYNC_SSH and remote.NAME.ssh pick the ssh client,
 * remote.NAME.sshCommand the command, O's rate_limit (else
 * remote.NAME.limitRate) the bandwidth; O's prompt makes it interactive.
 * A relay's URL needs K, its credentials (NULL otherwise). */
int dsync_conn_transport_open(dsync_blobstore **bs, const char *url, bool create, const sync_remote *r,
			      const sync_relay *k, const dsync_sync_options *o);

/* Reports progress to the options' callback. */
void dsync_conn_progress(sync_conn *c, const char *what, size_t objects, size_t objects_total, uint64_t bytes,
			 uint64_t bytes_total, bool done);

/* A dsync_blobstore_xfer_cb: PAYLOAD is a sync_xfer. */
void dsync_conn_on_xfer(uint64_t bytes, void *payload);

/* Lists the devices and reads each one's newest manifest. */
int dsync_conn_read_manifests(sync_conn *c);

/* This device's newest manifest, or NULL. */
dsync_manifest *dsync_conn_own_manifest(sync_conn *c);

/* Whether device I has a manifest read and is not this device (inline:
 * state.c asks it of a connection that conn.c opens from state it reads). */
static inline bool dsync_conn_is_other(const sync_conn *c, size_t i)
{
	return c->have_man[i] && strcmp(c->devs.ptr[i].id, c->f->device_id) != 0;
}

/* A new temporary file in the folder's .dsync (its path into PATH): the
 * descriptor, or a negative error code. */
int dsync_conn_temp_file(sync_conn *c, dsync_buf *path);

/* ---- state.c: per-remote state files ------------------------------------------ */

/* The path of state file FILE of REMOTE_NAME (NULL: its folder). */
int dsync_state_path(dsync_buf *out, const dsync_folder *f, const char *remote_name, const char *file);

/* Reads state file FILE whole into OUT ("" when missing). */
int dsync_state_read(dsync_buf *out, const dsync_folder *f, const char *remote_name, const char *file);

/* Replaces state file FILE with TEXT, durably. */
int dsync_state_write(const dsync_folder *f, const char *remote_name, const char *file, const char *text,
		      size_t len);

/* A set of pack names in state file FILE (one a line, written sorted). */
int dsync_state_packset_read(sync_packset *set, const dsync_folder *f, const char *remote_name, const char *file);
int dsync_state_packset_write(sync_packset *set, const dsync_folder *f, const char *remote_name,
			      const char *file);
bool dsync_state_packset_has(const sync_packset *set, const char *name);
int dsync_state_packset_add(sync_packset *set, const char *name);
void dsync_state_packset_dispose(sync_packset *set);

/* A line of the seen file. */
typedef struct sync_seen {
	char dev[33];
	uint64_t seq;
	char hash[DSYNC_HEX256_SIZE];
} sync_seen;

typedef DSYNC_ARRAY(sync_seen) sync_seen_list;

int dsync_state_seen_read(sync_seen_list *out, const dsync_folder *f, const char *remote_name);
const sync_seen *dsync_state_seen_find(const sync_seen_list *seen, const char *dev);

/* Records the newest manifest of every other device C read, OWN (may be
 * NULL: as before) for this device, and the entries of OLD for the rest. */
int dsync_state_seen_write(sync_conn *c, const sync_seen_list *old, const sync_seen *own);

/* Appends "WHEN DEV HEAD" to REMOTE_NAME's heads log (the last 2000 kept):
 * when a head of DEV was first seen on (or pushed to) the remote, for
 * dsync status PATH's "since" (holders.c). */
int dsync_state_heads_note(const dsync_folder *f, const char *remote_name, const char *dev, const git_oid *head,
			   int64_t when);

/* The next sequence number this device will use in C's store. */
int dsync_state_next_seq(uint64_t *out, sync_conn *c);

/* ---- fetch.c: fetching packs, checking what they hold ------------------------------ */

/* A pack to fetch, and the manifest naming it. */
typedef struct sync_wanted {
	const dsync_manifest_pack *p;
	const char *by;
} sync_wanted;

typedef DSYNC_ARRAY(sync_wanted) sync_wanted_list;

int dsync_fetch_want(sync_wanted_list *v, const dsync_manifest_pack *p, const char *by);

/*
 * Downloads packs/NAME and indexes it into DIR (the folder's pack folder, or
 * a temporary one to only check it), with delta bases from ODB; IDX_PATH, when
 * not NULL, gets the path of the index written.  SIZE is the blob's size as
 * its manifest says (a larger blob isn't even downloaded).  *RETRY (may be
 * NULL) is set when the pack decrypted and verified but git could not index
 * it: its delta bases may come with a pack not fetched yet.
 */
int dsync_fetch_pack(sync_conn *c, const char *name, uint64_t size, const char *dir, git_odb *odb, sync_xfer *x,
		     dsync_buf *idx_path, bool *retry);

/* Downloads and indexes the packs V into DIR (delta bases from ODB), oldest
 * first.  RECORD: they become held (fetch), else only checked.
 * DSYNC_ENOTFOUND: a pack vanished. */
int dsync_fetch_index_packs(sync_conn *c, sync_wanted_list *v, git_odb *odb, const char *dir, bool record,
			    sync_xfer *x);

/* Reads every device's newest manifest and checks them against those seen
 * (a push that doesn't fetch first). */
int dsync_fetch_checked(sync_conn *c);

/* The fetch step of the round: the other devices' manifests checked, their
 * packs fetched, their histories checked, their heads recorded. */
int dsync_fetch_heads(sync_conn *c);

/* ---- push.c ------------------------------------------------------------------- */

/* The push step of the round: this device's head, its packs consolidated,
 * its retired packs deleted once their grace is over. */
int dsync_push_head(sync_conn *c);

/* ---- round.c ------------------------------------------------------------------- */

/* One round, as dsync_sync() without its first step (finishing a join). */
int dsync_sync_round(dsync_sync_result *out, dsync_folder *f, const char *remote_name, unsigned what,
		     const dsync_sync_options *o);

/* Adds the counts of round R to TO. */
void dsync_sync_add_results(dsync_sync_result *to, const dsync_sync_result *r);

/* ---- join.c -------------------------------------------------------------------- */

/* The join in progress in F: *NAME its remote (malloc'd; NULL when none),
 * *MADE_KEY whether it made the kept key. */
int dsync_join_pending(char **name, bool *made_key, dsync_folder *f);

/* Finishes the join in progress in F (with its remote JOIN_NAME), as the
 * first part of a round. */
int dsync_join_finish(dsync_sync_result *r, dsync_folder *f, const char *join_name, bool made_key,
		      const dsync_sync_options *o);

/* ---- space.c: what a remote holds, as a round saw it ------------------------- */

/* After the fetch or push of C's round (PUSHED: a push was part of it):
 * records in C's remote's state file "space" the bytes of its store (the
 * manifests listed and the packs their newest ones name, this round's push
 * included) and the time; for a relay, after a push, its usage and quota
 * (bs->usage, which the quota warning asked already), else the last ones
 * kept.  Failing to write it fails nothing: the error is cleared. */
void dsync_space_record(sync_conn *c, bool pushed);

/* ---- onlyhere.c: the files kept only on this device ------------------------------ */

/* OUT's only_here and the first of their paths, for F (no network call). */
int dsync_only_here(dsync_folder_summary *out, dsync_folder *f);

#endif
