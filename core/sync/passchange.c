/*
 * dsync passphrase (docs/sync.md): a new key blob sealed under the new
 * passphrase for a remote's store, nothing else changes.  A relay group's
 * token comes from its passphrase too (docs/relays.md, relay-protocol.md
 * section 2): there the relay's token is rotated as well, and the other
 * devices take the new passphrase with dsync remote passphrase.  Apart from
 * passphrase.c, which remote.c calls, so that the two make no circle.
 */
#include "core/base/internal.h"

#include <sodium.h>

#include "core/store/store.h"
#include "core/sync/sync_internal.h"
#include "transport/relay_proto.h"
#include "transport/transport.h"

/* TOKEN and ADMIT of the current and of the new passphrase (sodium_malloc'd:
 * ADMIT is never kept, and lives in locked memory while it is used). */
typedef struct relay_secrets {
	unsigned char token[DSYNC_RELAY_KEY_BYTES], admit[DSYNC_RELAY_KEY_BYTES];
	unsigned char new_token[DSYNC_RELAY_KEY_BYTES], new_admit[DSYNC_RELAY_KEY_BYTES];
} relay_secrets;

/* Opens remote R's store (K: a relay's credentials, else NULL) and checks
 * that it is the one added. */
static int open_store(dsync_blobstore **bs, dsync_store **st, sync_remote *r, const sync_relay *k,
		      const dsync_sync_options *o)
{
	int error;

	if ((error = dsync_conn_transport_open(bs, r->url, false, r, k, o)) < 0 ||
	    (error = dsync_store_open(st, *bs)) < 0)
		return error;
	if (r->store_id && strcmp(r->store_id, (*st)->id) != 0)
		return dsync_error_set(DSYNC_ECORRUPT, "the store at %s is not the one added as '%s'", (*bs)->url,
				       r->name);
	return 0;
}

/* Unlocks ST with the key kept here, else with PASS: a change cut off after
 * the re-seal is taken up again with the passphrase the relay still takes
 * (the kept token's), which may no longer open the store. */
static int unlock_for_change(dsync_store *st, const char *pass)
{
	bool found;
	int error;

	if ((error = dsync_passphrase_unlock_kept(st, &found)) < 0 || found)
		return error;
	return dsync_store_unlock(st, pass);
}

/*
 * A relay group's passphrase.  The order (docs/relays.md) keeps every
 * crash recoverable: (1) the current passphrase checked against the token
 * kept here, the new one for strength, before anything changes; (2) the key
 * sealed under the new one as one more key blob (both open the store); (3)
 * the relay's token rotated (POST .group with the old ADMIT): the old
 * passphrase no longer admits; (4) the new token kept here; (5) the old key
 * blobs removed.  Cut after 2: nothing changed for the relay; run it again.
 * Cut after 3: this device is refused too until 'dsync remote passphrase'
 * with the new one, as the others are.  Cut after 4: an old key blob
 * remains ('dsync check' says so; the next change removes it).
 */
static int relay_change(dsync_folder *f, sync_remote *r, const dsync_sync_options *o)
{
	sync_relay k = { 0 };
	relay_secrets *x = sodium_malloc(sizeof(*x));
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	char *cur = NULL, *next = NULL, q[DSYNC_QUOTE_SIZE], keyid[DSYNC_STORE_KEYID_SIZE];
	int error;

	if (!x)
		return dsync_error_oom();
	if ((error = dsync_relay_keys_load(&k, r->group, f->device_id, r->ca_file)) == DSYNC_ENOTFOUND)
		error = dsync_error_set(DSYNC_EAUTH, "no token kept for relay remote '%s' on this device: run 'dsync "
					"sync' first (it asks for the passphrase)", r->name);
	if (error < 0 || (error = dsync_passphrase_ask(&cur, o, DSYNC_PASSPHRASE_CURRENT, r->url)) < 0 ||
	    (error = dsync_relay_derive(x->token, x->admit, k.group, cur)) < 0)
		goto out;
	/* the kept token is the current passphrase's: checked here, so that a
	 * wrong one changes nothing and costs the relay no refused request */
	if (sodium_memcmp(x->token, k.c.token, sizeof(x->token)) != 0) {
		error = dsync_error_set(DSYNC_EAUTH, "that is not the current passphrase of group '%s' (remote '%s'); "
					"if it was changed on another device, give the new one first: dsync remote "
					"passphrase %s", dsync_quote(q, r->group), r->name, r->name);
		goto out;
	}
	if ((error = dsync_passphrase_ask(&next, o, DSYNC_PASSPHRASE_NEW, r->url)) < 0 ||
	    (error = dsync_passphrase_strength(next, NULL)) < 0 ||
	    (error = dsync_relay_derive(x->new_token, x->new_admit, k.group, next)) < 0)
		goto out;
	if ((error = open_store(&bs, &st, r, &k, o)) < 0)
		goto out;
	if (!bs->rotate_token) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote '%s' can't change its token", r->name);
		goto out;
	}
	if ((error = unlock_for_change(st, cur)) < 0 || (error = dsync_store_reseal_add(st, next, keyid)) < 0 ||
	    (error = bs->rotate_token(bs, x->admit, x->new_token, x->new_admit)) < 0)
		goto out;
	memcpy(k.c.token, x->new_token, sizeof(k.c.token));
	if ((error = dsync_relay_keys_save(&k)) < 0 || (error = dsync_store_reseal_prune(st, keyid)) < 0)
		goto out;
	error = dsync_passphrase_keep(st);
out:
	sodium_memzero(x, sizeof(*x));
	sodium_free(x);
	dsync_passphrase_free(cur);
	dsync_passphrase_free(next);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	dsync_relay_keys_dispose(&k);
	return error;
}

/* A store's passphrase (not a relay's): the key re-sealed. */
static int store_change(sync_remote *r, const dsync_sync_options *o)
{
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	char *cur = NULL, *next = NULL;
	int error;

	if ((error = open_store(&bs, &st, r, NULL, o)) < 0)
		goto out;
	if ((error = dsync_passphrase_ask(&cur, o, DSYNC_PASSPHRASE_CURRENT, bs->url)) < 0 ||
	    (error = dsync_store_unlock(st, cur)) < 0 ||
	    (error = dsync_passphrase_ask(&next, o, DSYNC_PASSPHRASE_NEW, bs->url)) < 0)
		goto out;
	if ((error = dsync_store_reseal(st, next)) < 0)
		goto out;
	error = dsync_passphrase_keep(st);
out:
	dsync_passphrase_free(cur);
	dsync_passphrase_free(next);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	return error;
}

/* The relay remote R's new passphrase, changed on another device. */
static int relay_take(dsync_folder *f, sync_remote *r, const dsync_sync_options *o)
{
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	sync_relay k = { 0 };
	char *pass = NULL;
	int error;

	if (!r->group || !dsync_transport_is_relay(r->url))
		return dsync_error_set(DSYNC_EUSAGE, "remote '%s' is not a relay group: this device keeps its store's "
				       "key, which a passphrase change elsewhere leaves as it was", r->name);
	/* the new TOKEN and ADMIT; the pair kept for this device stays (the
	 * relay has it registered) */
	if ((error = dsync_passphrase_ask(&pass, o, DSYNC_PASSPHRASE_CURRENT, r->url)) < 0 ||
	    (error = dsync_relay_keys_from_pass(&k, r->group, pass, f->device_id, r->ca_file)) < 0)
		goto out;
	/* checked by the relay before anything is kept: the open registers the
	 * device again with ADMIT (the same key: nothing changes), and reads
	 * dsync-store with TOKEN; a wrong passphrase is refused (exit 5) */
	if ((error = open_store(&bs, &st, r, &k, o)) < 0 || (error = dsync_passphrase_unlock(st, pass, o)) < 0)
		goto out;
	error = dsync_relay_keys_save(&k);
out:
	dsync_passphrase_free(pass);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	dsync_relay_keys_dispose(&k);
	return error;
}

typedef int (*remote_fn)(dsync_folder *f, sync_remote *r, const dsync_sync_options *o);

/* FN on F's remote NAME (NULL: the only one). */
static int on_one_remote(dsync_folder *f, const char *name, const dsync_sync_options *o, remote_fn fn)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	size_t n;
	int error;

	if (!o)
		o = &defaults;
	if ((error = dsync_remote_config_read(&all, f)) < 0 || (error = dsync_remote_pick(&sel, &n, &all, name, f)) < 0)
		goto out;
	if (n > 1)
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' has %zu remotes: name the one whose passphrase changes",
					f->root, n);
	else
		error = fn(f, sel[0], o);
out:
	free(sel);
	dsync_remote_config_dispose(&all);
	return error;
}

/* A relay group's token comes from its passphrase too: it rotates. */
static int change_one(dsync_folder *f, sync_remote *r, const dsync_sync_options *o)
{
	return r->group ? relay_change(f, r, o) : store_change(r, o);
}

int dsync_passphrase_change(dsync_folder *f, const char *remote_name, const dsync_sync_options *o)
{
	return on_one_remote(f, remote_name, o, change_one);
}

int dsync_remote_passphrase(dsync_folder *f, const char *remote_name, const dsync_sync_options *o)
{
	if (!remote_name)
		return dsync_error_set(DSYNC_EUSAGE, "name the remote: dsync remote passphrase NAME");
	return on_one_remote(f, remote_name, o, relay_take);
}
