/*
 * Passphrases and the kept key (DESIGN.md section 4; docs/sync.md): asking
 * the caller for a passphrase, unlocking a store with the key kept for this
 * user or else the passphrase.  dsync passphrase is passchange.c.
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

int dsync_passphrase_unlock(dsync_store *st, const char *given, const dsync_sync_options *o)
{
	char *pass = NULL;
	bool found;
	int error;

	if ((error = dsync_passphrase_unlock_kept(st, &found)) < 0 || found)
		return error;
	if (given && (pass = strdup(given)) == NULL)
		return dsync_error_oom();
	if (!given && (error = dsync_passphrase_ask(&pass, o, DSYNC_PASSPHRASE_CURRENT, st->bs->url)) < 0)
		return error;
	if ((error = dsync_store_unlock(st, pass)) == 0)
		error = dsync_passphrase_keep(st);
	dsync_passphrase_free(pass);
	return error;
}
