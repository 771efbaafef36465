/*
 * The sweep of a relay's bucket (docs/relay-protocol.md sections 14.4, 14.5
 * and 14.8): SEQ marks below a device's highest (one empty object per
 * manifest ever stored otherwise) and reservations older than their time
 * (a killed relay's: the others stopped counting them) are deleted.  The
 * relay's hourly expiry calls it (relay_server.c: also once a few minutes
 * after the start, so a restart cleans up).  Each sweep's work is bounded
 * (RS_SWEEP_*): it goes on from the group where the last one stopped.  Any
 * relay on the bucket may sweep at any time, several at once: each deletes
 * only what no relay counts any more, and a delete of what another already
 * deleted is no error.
 */
#include "core/base/internal.h"

#include <time.h>

#include "transport/relay_s3_int.h"

#define MARK_LEN (DSYNC_RELAY_ID_HEX - 1 + 1 + 16)   /* "DEV/SEQ" */

typedef struct sweep {
	rs_store *s;
	int64_t now;
	size_t skip;                    /* the listing's prefix length */
	char prev[RS_KEY_MAX];          /* the SEQ mark before ("": none) */
	DSYNC_ARRAY(char *) doomed;
	DSYNC_ARRAY(char *) gids;
	uint64_t listed;
	bool cut;                       /* a budget was spent */
	bool more_groups;               /* RS_SWEEP_GROUPS were taken, others follow */
} sweep;

static bool lowhex(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* Counts a listed key against the budgets: false when one is spent. */
static bool budget(sweep *w)
{
	if (++w->listed > RS_SWEEP_KEYS || w->doomed.size >= RS_SWEEP_DELETES) {
		w->cut = true;
		return false;
	}
	return true;
}

static int doom(sweep *w, const char *key)
{
	char *k = strdup(key);

	if (!k || dsync_array_push(w->doomed, k) < 0) {
		free(k);
		return dsync_error_oom();
	}
	return 0;
}

/* "g/GID/s/DEV/SEQ" in byte order, so in SEQ order per device (16 hex
 * digits): a mark followed by another of its device is below the highest. */
static int mark_one(const char *key, const dsync_s3_object *o, void *payload)
{
	sweep *w = payload;
	const char *n = key + w->skip;
	int error;

	(void)o;
	if (!budget(w))
		return 1;
	if (strlen(key) != w->skip + MARK_LEN || n[DSYNC_RELAY_ID_HEX - 1] != '/' ||
	    !lowhex(n, DSYNC_RELAY_ID_HEX - 1) || !lowhex(n + DSYNC_RELAY_ID_HEX, 16))
		return 0;   /* not a mark of ours: left alone */
	if (w->prev[0] && strncmp(w->prev + w->skip, n, DSYNC_RELAY_ID_HEX) == 0 && (error = doom(w, w->prev)) < 0)
		return error;
	snprintf(w->prev, sizeof(w->prev), "%s", key);
	return 0;
}

/* "g/GID/r/RELAY-X-BYTES" older than the time reservations count. */
static int reservation_one(const char *key, const dsync_s3_object *o, void *payload)
{
	sweep *w = payload;
	const char *n = key + w->skip;

	if (!budget(w))
		return 1;
	if (strlen(key) < w->skip + 35 || n[16] != '-' || n[33] != '-' || !lowhex(n, 16))
		return 0;
	if (o->mtime && w->now - (int64_t)o->mtime > w->s->keep)
		return doom(w, key);
	return 0;
}

static int group_one(const char *key, const dsync_s3_object *o, void *payload)
{
	sweep *w = payload;
	char *g;

	(void)o;
	if (w->gids.size >= RS_SWEEP_GROUPS) {
		w->more_groups = true;
		return 1;
	}
	if (strlen(key) != 2 + DSYNC_RELAY_ID_HEX - 1 || !lowhex(key + 2, DSYNC_RELAY_ID_HEX - 1))
		return 0;
	if ((g = strdup(key + 2)) == NULL || dsync_array_push(w->gids, g) < 0) {
		free(g);
		return dsync_error_oom();
	}
	return 0;
}

/* Lists WHAT ("s" or "r") of group GID through CB. */
static int list_group(sweep *w, dsync_s3 *conn, const char *gid, const char *what, dsync_s3_list_cb cb)
{
	char dir[RS_KEY_MAX];
	int error;

	if ((error = rs_key(dir, gid, what, "")) < 0)
		return error;
	w->skip = strlen(dir);
	w->prev[0] = '\0';
	error = dsync_s3_list(conn, dir, NULL, 0, cb, w);
	return error > 0 ? 0 : error;
}

int rs_sweep(rs_store *s)
{
	char from[RS_KEY_MAX];
	sweep w = { 0 };
	dsync_s3 *conn;
	size_t i, done = 0;
	int error;

	if ((conn = rs_conn(s)) == NULL)
		return dsync_error_last_code();
	w.s = s;
	w.now = (int64_t)time(NULL);
	snprintf(from, sizeof(from), "i/%s", s->sweep_after);
	error = dsync_s3_list(conn, "i/", s->sweep_after[0] ? from : NULL, 0, group_one, &w);
	if (error < 0)
		goto out;
	for (i = 0; i < w.gids.size && !w.cut; i++) {
		size_t d;

		if ((error = list_group(&w, conn, w.gids.ptr[i], "s", mark_one)) < 0 ||
		    (error = list_group(&w, conn, w.gids.ptr[i], "r", reservation_one)) < 0)
			goto out;
		for (d = done; d < w.doomed.size; d++)
			if ((error = dsync_s3_delete(conn, w.doomed.ptr[d])) < 0)
				goto out;
		done = w.doomed.size;
		if (!w.cut)
			snprintf(s->sweep_after, sizeof(s->sweep_after), "%s", w.gids.ptr[i]);
	}
	/* every group seen: the next sweep starts from the first */
	if (!w.cut && !w.more_groups)
		s->sweep_after[0] = '\0';
	error = 0;
out:
	for (i = 0; i < w.doomed.size; i++)
		free(w.doomed.ptr[i]);
	for (i = 0; i < w.gids.size; i++)
		free(w.gids.ptr[i]);
	dsync_array_dispose(w.doomed);
	dsync_array_dispose(w.gids);
	return error;
}
