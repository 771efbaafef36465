/*
 * The sync round (DESIGN.md section 5; docs/sync.md): under the folder's
 * lock, a snapshot, then for every remote a fetch (fetch.c), the merge of
 * the heads fetched into the folder, and a push (push.c).  The public
 * dsync_sync(), which first finishes a join that was cut off, is join.c's.
 */
#include "core/base/internal.h"

#include "core/worktree/mergeinto.h"
#include "merge/treemerge.h"
#include "merge/check.h"
#include "merge/heads.h"
#include "core/sync/sync_internal.h"
#include "dsync/snapshot.h"

/* ---- the merge step --------------------------------------------------------- */

/* The heads of other devices that fetches recorded, and the keys (device
 * ids) they point into. */
typedef struct head_key {
	char hex[DSYNC_OID_HEX_SIZE];
} head_key;

typedef struct head_list {
	DSYNC_ARRAY(dsync_merge_head) v;
	DSYNC_ARRAY(head_key) keys;
} head_list;

static int add_head(head_list *h, const git_oid *id, const git_commit *c)
{
	dsync_merge_head head = { .commit = *id };
	head_key key;

	dsync_merge_commit_key(key.hex, c);
	if (dsync_array_push(h->v, head) < 0 || dsync_array_push(h->keys, key) < 0)
		return dsync_error_oom();
	return 0;
}

static int collect_heads(head_list *h, dsync_folder *f)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	size_t i;
	int err, error = 0;

	memset(h, 0, sizeof(*h));
	if ((err = git_reference_iterator_glob_new(&it, f->repo, "refs/remotes/*")) < 0)
		return dsync_error_git(err, "cannot read the remote heads of '%s'", f->root);
	while (error == 0 && (err = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref), *dev = strrchr(name, '/');
		const git_oid *id = git_reference_target(ref);
		git_commit *c = NULL;

		if (id && dev && strcmp(dev + 1, f->device_id) != 0 && git_commit_lookup(&c, f->repo, id) == 0) {
			error = add_head(h, id, c);
			git_commit_free(c);
		}
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	/* the keys are all in place now: none moves any more */
	for (i = 0; i < h->v.size && i < h->keys.size; i++)
		h->v.ptr[i].device_id = h->keys.ptr[i].hex;
	return error;
}

static int merge_heads(dsync_sync_result *res, dsync_folder *f, const dsync_sync_options *o)
{
	dsync_merge_options mo = DSYNC_MERGE_OPTIONS_INIT;
	head_list h;
	int error;

	if ((error = collect_heads(&h, f)) < 0)
		return error;
	mo.lock_wait_ms = o->lock_wait_ms;
	mo.warn = o->warn;
	mo.payload = o->payload;
	if (h.v.size)
		error = dsync_worktree_merge(&res->merge, f, h.v.ptr, h.v.size, &mo);
	dsync_array_dispose(h.v);
	dsync_array_dispose(h.keys);
	return error;
}

/* ---- the round ------------------------------------------------------------------ */

static int snapshot(dsync_folder *f, const dsync_sync_options *o)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;

	so.lock_wait_ms = o->lock_wait_ms;
	so.warn = o->warn;
	so.payload = o->payload;
	return dsync_snapshot_take(&sr, f, &so);
}

int dsync_sync_round(dsync_sync_result *out, dsync_folder *f, const char *remote_name, unsigned what,
		      const dsync_sync_options *o)
{
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	sync_conn *conns = NULL;
	size_t n = 0, opened = 0, i;
	bool locked = false;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_remote_config_read(&all, f)) < 0 ||
	    (error = dsync_remote_pick(&sel, &n, &all, remote_name, f)) < 0)
		goto out;
	if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		goto out;
	locked = true;
	if ((what & DSYNC_SYNC_PUSH) && (error = snapshot(f, o)) < 0)
		goto out;
	if ((conns = calloc(n, sizeof(*conns))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < n; i++, opened++)
		if ((error = dsync_conn_open(&conns[i], f, sel[i], o, out)) < 0)
			goto out;
	out->remotes = n;
	if (what & DSYNC_SYNC_FETCH)
		for (i = 0; i < n; i++)
			if ((error = dsync_fetch_heads(&conns[i])) < 0)
				goto out;
	if ((what & DSYNC_SYNC_MERGE) && (error = merge_heads(out, f, o)) < 0)
		goto out;
	if (what & DSYNC_SYNC_PUSH)
		for (i = 0; i < n; i++) {
			if (!(what & DSYNC_SYNC_FETCH) && (error = dsync_fetch_checked(&conns[i])) < 0)
				goto out;
			if ((error = dsync_push_head(&conns[i])) < 0)
				goto out;
			/* a relay's group filling up: said before a push is refused */
			if (conns[i].r->group)
				dsync_relay_quota_check(conns[i].bs, f, conns[i].r, o);
		}
out:
	for (i = 0; i < opened; i++)
		dsync_conn_close(&conns[i]);
	free(conns);
	if (locked)
		dsync_write_end(f);
	free(sel);
	dsync_remote_config_dispose(&all);
	return error;
}

void dsync_sync_add_results(dsync_sync_result *to, const dsync_sync_result *r)
{
	to->packs_fetched += r->packs_fetched;
	to->bytes_fetched += r->bytes_fetched;
	to->packs_pushed += r->packs_pushed;
	to->packs_reused += r->packs_reused;
	to->bytes_reused += r->bytes_reused;
	to->objects_pushed += r->objects_pushed;
	to->bytes_pushed += r->bytes_pushed;
	to->pushed |= r->pushed;
	to->consolidated |= r->consolidated;
	if (r->remotes > to->remotes)
		to->remotes = r->remotes;
	if (r->devices > to->devices)
		to->devices = r->devices;
	if (r->merge.merged || (!to->merge.merged && r->merge.head[0]))
		to->merge = r->merge;
	else if (r->merge.head[0])
		to->merge.open_conflicts = r->merge.open_conflicts;
}
