/*
 * Waiting for a remote to change (docs/relay-protocol.md section 6): the
 * store of one remote held open, so that the watcher's long-polls cost no new
 * connection each, and its wait_change asked again and again.  Only a relay
 * can tell of a change; other places are synced on the folder's timer.
 */
#include "core/base/internal.h"

#include "core/sync/sync_internal.h"
#include "transport/transport.h"

struct dsync_remote_waiter {
	sync_remotes all;       /* the folder's remotes, read once: R points in */
	sync_remote *r;
	dsync_blobstore *bs;    /* kept open: one connection for every wait */
};

bool dsync_remote_url_waits(const char *url)
{
	return url && dsync_transport_is_relay(url);
}

int dsync_remote_waiter_open(dsync_remote_waiter **out, dsync_folder *f, const char *remote,
			     const dsync_sync_options *o)
{
	dsync_sync_options dflt = DSYNC_SYNC_OPTIONS_INIT;
	dsync_remote_waiter *w;
	sync_relay k = { 0 };
	sync_remote **sel = NULL;
	size_t n = 0;
	int error;

	*out = NULL;
	if (!remote)
		return dsync_error_set(DSYNC_EUSAGE, "name the remote to wait for");
	if (!o)
		o = &dflt;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return dsync_error_oom();
	if ((error = dsync_remote_config_read(&w->all, f)) < 0 ||
	    (error = dsync_remote_pick(&sel, &n, &w->all, remote, f)) < 0)
		goto fail;
	w->r = sel[0];
	free(sel);
	if (!dsync_remote_url_waits(w->r->url)) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote '%s' (%s) can't tell when it changes: only a relay can",
					w->r->name, w->r->url);
		goto fail;
	}
	/* the credentials kept at join (the watcher has no passphrase to give) */
	if ((error = dsync_relay_keys_for_remote(&k, f, w->r, o)) < 0)
		goto fail;
	/* a refusal keeps the client's own message (as a round's open does) */
	if ((error = dsync_conn_transport_open(&w->bs, w->r->url, false, w->r, &k, o)) < 0)
		goto fail;
	if (!w->bs->wait_change) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote '%s' (%s) can't tell when it changes", w->r->name,
					w->r->url);
		goto fail;
	}
	dsync_relay_keys_dispose(&k);
	*out = w;
	return 0;
fail:
	dsync_relay_keys_dispose(&k);
	dsync_remote_waiter_free(w);
	return error;
}

int dsync_remote_wait(dsync_remote_waiter *w, char *cursor, size_t cursor_size, int timeout_ms, bool *changed)
{
	*changed = false;
	if (!cursor || cursor_size == 0 || memchr(cursor, '\0', cursor_size) == NULL)
		return dsync_error_set(DSYNC_EUSAGE, "a cursor must be a string (\"\" at first)");
	if (timeout_ms < 1000)
		timeout_ms = 1000;
	return w->bs->wait_change(w->bs, cursor, cursor_size, timeout_ms, changed);
}

void dsync_remote_waiter_free(dsync_remote_waiter *w)
{
	if (!w)
		return;
	dsync_blobstore_free(w->bs);
	dsync_remote_config_dispose(&w->all);
	free(w);
}
