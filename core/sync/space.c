/*
 * The space a remote's store takes, as this device last saw it
 * (docs/status.md): recorded after each round from what the round listed
 * and read anyway, so that `dsync status --all` tells it with no network
 * call.  The state file "space" of .dsync/dsync-remotes/NAME/ holds lines
 * "KEY VALUE": time (when), bytes (the store's manifests and the packs
 * they name), and for a relay used, quota (its group's, as the relay said
 * after a push; quota 0: none) and used-time (when it said it).
 */
#include "core/base/internal.h"

#include "core/sync/sync_internal.h"

/* Adds to *BYTES the size of each pack of M not counted yet (SEEN). */
static int add_packs(uint64_t *bytes, dsync_strset *seen, const dsync_manifest *m)
{
	size_t i;
	int r;

	for (i = 0; i < m->packs.size; i++) {
		if ((r = dsync_strset_add(seen, m->packs.ptr[i].name)) < 0)
			return dsync_error_oom();
		if (r == 1)
			*bytes += m->packs.ptr[i].size;
	}
	return 0;
}

/*
 * The store's bytes: every manifest blob the round's listing of devices/
 * found (this device's replaced by the one its push wrote, which deleted
 * the older ones), and the packs the newest manifest of each device names,
 * each once.  Packs retired in the last hour and the leftovers of a push
 * cut off are not counted: no manifest gives their size and finding them
 * would take a listing of packs/ the round does not make.
 */
static int store_bytes(uint64_t *out, const sync_conn *c)
{
	dsync_strset seen = DSYNC_STRSET_INIT;
	bool pushed = c->pushed_len > 0;
	size_t i;
	int error = 0;

	*out = 0;
	for (i = 0; i < c->devs.size && error == 0; i++) {
		bool own = strcmp(c->devs.ptr[i].id, c->f->device_id) == 0;

		if (own && pushed)
			continue;
		*out += c->devs.ptr[i].bytes;
		if (c->have_man && c->have_man[i])
			error = add_packs(out, &seen, &c->mans[i]);
	}
	if (error == 0 && pushed) {
		*out += c->pushed_len;
		error = add_packs(out, &seen, &c->pushed);
	}
	dsync_strset_dispose(&seen);
	return error;
}

/* The lines "used", "quota" and "used-time" of the record kept, into OUT. */
static int usage_kept(dsync_buf *out, const sync_conn *c)
{
	dsync_buf old = DSYNC_BUF_INIT;
	char *line, *save = NULL;
	int error;

	if ((error = dsync_state_read(&old, c->f, c->r->name, "space")) < 0)
		goto out;
	for (line = strtok_r(old.ptr, "\n", &save); line && error == 0; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "used ", 5) == 0 || strncmp(line, "quota ", 6) == 0 ||
		    strncmp(line, "used-time ", 10) == 0)
			error = dsync_buf_printf(out, "%s\n", line);
out:
	dsync_buf_dispose(&old);
	return error;
}

void dsync_space_record(sync_conn *c, bool pushed)
{
	dsync_buf text = DSYNC_BUF_INIT;
	uint64_t bytes, used, quota;
	long long now = (long long)time(NULL);

	if (!c->mans || store_bytes(&bytes, c) < 0 ||
	    dsync_buf_printf(&text, "time %lld\nbytes %llu\n", now, (unsigned long long)bytes) < 0)
		goto out;
	/* a relay's usage: after a push, the answer its uploads carried (the
	 * round's quota warning reads the same); a round that only fetched
	 * keeps the last one, rather than ask the relay once more */
	if (c->r->group && pushed && c->bs->usage && c->bs->usage(c->bs, &used, &quota) == 0) {
		if (dsync_buf_printf(&text, "used %llu\nquota %llu\nused-time %lld\n", (unsigned long long)used,
				     (unsigned long long)quota, now) < 0)
			goto out;
	} else if (c->r->group && usage_kept(&text, c) < 0) {
		goto out;
	}
	dsync_state_write(c->f, c->r->name, "space", text.ptr, text.len);
out:
	dsync_error_clear();
	dsync_buf_dispose(&text);
}

/* include/dsync/status.h */
int dsync_status_remote_space(dsync_remote_summary *r, dsync_folder *f)
{
	dsync_buf text = DSYNC_BUF_INIT;
	char *line, *save = NULL;
	bool has_time = false, has_bytes = false, has_used = false;
	int64_t used_time = 0;
	int error;

	if ((error = dsync_state_read(&text, f, r->name, "space")) < 0)
		goto out;
	/* lines that don't parse are skipped: the file is this device's own */
	for (line = strtok_r(text.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[16];
		unsigned long long v;
		long long t;

		if (sscanf(line, "time %lld", &t) == 1 && t > 0) {
			r->used_time = (int64_t)t;
			has_time = true;
		} else if (sscanf(line, "used-time %lld", &t) == 1 && t > 0) {
			used_time = (int64_t)t;
		} else if (sscanf(line, "%15s %llu", key, &v) == 2) {
			if (strcmp(key, "bytes") == 0) {
				r->store_bytes = (uint64_t)v;
				has_bytes = true;
			} else if (strcmp(key, "used") == 0) {
				r->used = (uint64_t)v;
				has_used = true;
			} else if (strcmp(key, "quota") == 0) {
				r->quota = (uint64_t)v;
			}
		}
	}
	r->used_known = has_time && has_bytes;
	if (!r->used_known) {
		r->used_time = 0;
		r->store_bytes = r->used = r->quota = 0;
	} else if (!has_used) {
		r->used = r->store_bytes;
		r->quota = 0;
	} else if (used_time) {
		r->used_time = used_time;   /* a relay's usage: when it said it */
	}
out:
	dsync_buf_dispose(&text);
	return error;
}
