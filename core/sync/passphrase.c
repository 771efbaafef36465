/*
 * Passphrases and the kept key (DESIGN.md section 4; docs/sync.md): asking
 * the caller for a passphrase, unlocking a store with the key kept for this
 * user or else the passphrase, and dsync passphrase (a new key blob sealed
 * under the new passphrase).
 */
#include "core/base/internal.h"

#include <sodium.h>

#include "core/sync/sync_internal.h"
#include "transport/transport.h"

void dsync_passphrase_free(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* An empty passphrase is refused here, the same way whichever way it came
 * (a file, the environment, the terminal). */
int dsync_passphrase_ask(char **out, const dsync_sync_options *o, int kind, const char *url)
{
	int error;

	*out = NULL;
	if (!o->passphrase)
		return dsync_error_set(DSYNC_EAUTH, "the store at %s needs its passphrase (set DSYNC_PASSPHRASE)", url);
	if ((error = o->passphrase(out, kind, url, o->payload)) < 0) {
		dsync_passphrase_free(*out);
		*out = NULL;
		return error;
	}
	if (!*out || !**out) {
		free(*out);
		*out = NULL;
		return dsync_error_set(DSYNC_EAUTH, kind == DSYNC_PASSPHRASE_NEW
				       ? "the new passphrase for %s is empty: a store's passphrase can't be empty"
				       : "the passphrase given for %s is empty", url);
	}
	return 0;
}

/* The store keeps its key cache under the folder it is given: dsync's
 * per-user config folder. */
int dsync_passphrase_unlock_kept(dsync_store *st, bool *found)
{
	char *dir = NULL;
	int error;

	*found = false;
	if ((error = dsync_config_dir(&dir)) == 0)
		error = dsync_store_unlock_cached(st, dir, found);
	free(dir);
	return error;
}

int dsync_passphrase_keep(const dsync_store *st)
{
	char *dir = NULL;
	int error;

	if ((error = dsync_config_dir(&dir)) == 0)
		error = dsync_store_cache_save(st, dir);
	free(dir);
	return error;
}

int dsync_passphrase_forget(const char *store_id)
{
	char *dir = NULL;
	int error;

	if ((error = dsync_config_dir(&dir)) == 0)
		error = dsync_store_cache_remove(dir, store_id);
	free(dir);
	return error;
}

int dsync_passphrase_unlock(dsync_store *st, const dsync_sync_options *o)
{
	char *pass = NULL;
	bool found;
	int error;

	if ((error = dsync_passphrase_unlock_kept(st, &found)) < 0 || found)
		return error;
	if ((error = dsync_passphrase_ask(&pass, o, DSYNC_PASSPHRASE_CURRENT, st->bs->url)) < 0)
		return error;
	if ((error = dsync_store_unlock(st, pass)) == 0)
		error = dsync_passphrase_keep(st);
	dsync_passphrase_free(pass);
	return error;
}

int dsync_passphrase_change(dsync_folder *f, const char *remote_name, const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	char *cur = NULL, *next = NULL;
	size_t n;
	int error;

	if (!o)
		o = &defaults;
	if ((error = dsync_remote_config_read(&all, f)) < 0 ||
	    (error = dsync_remote_pick(&sel, &n, &all, remote_name, f)) < 0)
		goto out;
	if (n > 1) {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' has %zu remotes: name the one whose passphrase changes",
					f->root, n);
		goto out;
	}
	if ((error = dsync_transport_open(&bs, sel[0]->url, false)) < 0 || (error = dsync_store_open(&st, bs)) < 0)
		goto out;
	if (sel[0]->store_id && strcmp(sel[0]->store_id, st->id) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the store at %s is not the one added as '%s'", bs->url,
					sel[0]->name);
		goto out;
	}
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
	free(sel);
	dsync_remote_config_dispose(&all);
	return error;
}

