/*
 * dsync passphrase (docs/sync.md): a new key blob sealed under the new
 * passphrase for a remote's store, nothing else changes.  Apart from
 * passphrase.c, which remote.c calls, so that the two make no circle.
 */
#include "core/base/internal.h"

#include "core/sync/sync_internal.h"
#include "transport/transport.h"

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
	/* a relay's token comes from the passphrase too: changing it means
	 * rotating the group's token (POST .group), which the relay's client
	 * doesn't do yet */
	if (sel[0]->group) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote '%s' is a relay group: its passphrase can't be changed "
					"yet (make a new group and add it)", sel[0]->name);
		goto out;
	}
	if ((error = dsync_conn_transport_open(&bs, sel[0]->url, false, sel[0], NULL, o)) < 0 ||
	    (error = dsync_store_open(&st, bs)) < 0)
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

