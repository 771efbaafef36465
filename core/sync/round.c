/*
 * The sync round (DESIGN.md section 5; docs/sync.md): under the folder's
 * lock, a snapshot, then for every remote a fetch (fetch.c), the merge of
 * the heads fetched into the folder, a round with every mirror
 * (core/mirror: what a phone recorded goes out in the same round), and a
 * push (push.c).  The public dsync_sync(), which first finishes a join
 * that was cut off, is join.c's.
 */
#include "core/base/internal.h"

#include "core/mirror/round.h"
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

/* ---- the snapshot ---------------------------------------------------------------- */

static int snapshot(dsync_folder *f, const dsync_sync_options *o)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;

	so.lock_wait_ms = o->lock_wait_ms;
	so.warn = o->warn;
	so.payload = o->payload;
	return dsync_snapshot_take(&sr, f, &so);
}

/* ---- the mirrors ------------------------------------------------------------- */

static bool has_remote(const sync_remotes *all, const char *name)
{
	size_t i;

	for (i = 0; i < all->size; i++)
		if (strcmp(all->ptr[i].name, name) == 0)
			return true;
	return false;
}

/* F's mirrors into *LIST; *IS_MIRROR tells whether NAME (may be NULL)
 * is one of them. */
static int mirrors_read(dsync_mirror_info **list, size_t *n, bool *is_mirror, dsync_folder *f, const char *name)
{
	size_t i;
	int error;

	*is_mirror = false;
	if ((error = dsync_mirror_list(list, n, f)) < 0)
		return error;
	for (i = 0; name && i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0)
			*is_mirror = true;
	return 0;
}

/* Warns of mirror NAME's failure (the message in dsync_error_last()),
 * named once. */
static void warn_mirror(const char *name, const dsync_sync_options *o)
{
	const char *msg = dsync_error_last();
	char line[1024];

	if (strncmp(msg, "mirror '", 8) == 0)
		snprintf(line, sizeof(line), "%s", msg);
	else
		snprintf(line, sizeof(line), "mirror '%s': %s", name, msg);
	o->warn(line, o->payload);
}

/*
 * A round with each mirror of LIST (or the one named ONLY), one at a
 * time, each told to O->mirror_done (else warned when it fails).  A
 * failure (an unreachable phone is common) stops neither the other
 * mirrors nor the push after them: the first one's error is kept in
 * *FIRST and its message in *MSG.  A mirror's merge leaving conflicts
 * (DSYNC_ECONFLICT) is no failure: the result's open_conflicts tells.
 */
static void mirror_rounds(dsync_sync_result *out, dsync_folder *f, const dsync_mirror_info *list, size_t n,
			  const char *only, int *first, char **msg, const dsync_sync_options *o)
{
	dsync_mirror_options mo = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_mirror_result r;
	size_t i;
	int error;

	mo.lock_wait_ms = o->lock_wait_ms;
	mo.warn = o->warn;
	mo.prompt = o->prompt;
	mo.payload = o->payload;
	mo.rate_limit = o->rate_limit;
	mo.only_due = o->mirrors_only_due;
	for (i = 0; i < n; i++) {
		if (only && strcmp(list[i].name, only) != 0)
			continue;
		memset(&r, 0, sizeof(r));
		error = dsync_mirror_round_locked(&r, f, list[i].name, &mo);
		if (error == DSYNC_ECONFLICT)
			error = 0;
		dsync_mirror_result_add(&out->mirror, &r);
		if (error < 0) {
			out->mirrors_failed++;
			if (*first == 0) {
				*first = error;
				*msg = strdup(dsync_error_last());
			}
		}
		if (o->mirror_done)
			o->mirror_done(list[i].name, &r, error, o->payload);
		else if (error < 0 && o->warn)
			warn_mirror(list[i].name, o);
		dsync_error_clear();
	}
	/* the folder's conflicts as the last merge left them */
	if (out->mirror.merge.head[0])
		out->merge.open_conflicts = out->mirror.merge.open_conflicts;
}

/* ---- the round ------------------------------------------------------------------ */

int dsync_sync_round(dsync_sync_result *out, dsync_folder *f, const char *remote_name, unsigned what,
		      const dsync_sync_options *o)
{
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	sync_conn *conns = NULL;
	dsync_mirror_info *mirrors = NULL;
	size_t n = 0, n_mirrors = 0, opened = 0, i;
	bool locked = false, named_mirror = false;
	char *mirror_msg = NULL;
	int error, mirror_error = 0;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_remote_config_read(&all, f)) < 0)
		goto out;
	if ((what & DSYNC_SYNC_MIRRORS) &&
	    (error = mirrors_read(&mirrors, &n_mirrors, &named_mirror, f, remote_name)) < 0) {
		/* a mirror's config that can't be read keeps no remote from its round */
		if (!(what & ~(unsigned)DSYNC_SYNC_MIRRORS) || (remote_name && !has_remote(&all, remote_name)))
			goto out;
		if (!remote_name) {
			mirror_error = error;
			mirror_msg = strdup(dsync_error_last());
			out->mirrors_failed++;
			if (o->warn)
				o->warn(dsync_error_last(), o->payload);
		}
		dsync_error_clear();
		what &= ~(unsigned)DSYNC_SYNC_MIRRORS;
		error = 0;
	}
	if (remote_name && !named_mirror && (what & DSYNC_SYNC_MIRRORS) && !has_remote(&all, remote_name)) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_ENOTFOUND, "no remote or mirror '%s' in '%s' (see dsync remote list, "
					"dsync mirror list)", dsync_quote(q, remote_name), f->root);
		goto out;
	}
	/* a mirror named: its round alone; a remote named: no mirror */
	if (named_mirror)
		what = DSYNC_SYNC_MIRRORS;
	else if (remote_name)
		what &= ~(unsigned)DSYNC_SYNC_MIRRORS;
	if (what & ~(unsigned)DSYNC_SYNC_MIRRORS) {
		/* a folder with mirrors and no remote syncs its mirrors */
		if (!remote_name && all.size == 0 && (what & DSYNC_SYNC_MIRRORS) && n_mirrors)
			what = DSYNC_SYNC_MIRRORS;
		else if ((error = dsync_remote_pick(&sel, &n, &all, remote_name, f)) < 0)
			goto out;
	} else if (!named_mirror && remote_name) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_ENOTFOUND, "no mirror '%s' in '%s' (see dsync mirror list)",
					dsync_quote(q, remote_name), f->root);
		goto out;
	} else if (n_mirrors == 0) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' has no mirror yet: add one with dsync mirror add NAME URL",
					f->root);
		goto out;
	}
	if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		goto out;
	locked = true;
	if ((what & (DSYNC_SYNC_PUSH | DSYNC_SYNC_MIRRORS)) && (error = snapshot(f, o)) < 0)
		goto out;
	if (n && (conns = calloc(n, sizeof(*conns))) == NULL) {
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
	if ((what & DSYNC_SYNC_MERGE) && n && (error = merge_heads(out, f, o)) < 0)
		goto out;
	if (what & DSYNC_SYNC_MIRRORS)
		mirror_rounds(out, f, mirrors, n_mirrors, named_mirror ? remote_name : NULL, &mirror_error,
			      &mirror_msg, o);
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
	/* what each store takes now, for dsync status (space.c) */
	if (what & (DSYNC_SYNC_FETCH | DSYNC_SYNC_PUSH))
		for (i = 0; i < n; i++)
			dsync_space_record(&conns[i], (what & DSYNC_SYNC_PUSH) != 0);
	/* everything else went: now the first mirror's failure */
	if (mirror_error < 0) {
		error = dsync_error_set(mirror_error, "%s", mirror_msg ? mirror_msg : "a mirror's round failed");
		out->mirror_error = true;
	}
out:
	for (i = 0; i < opened; i++)
		dsync_conn_close(&conns[i]);
	free(conns);
	if (locked)
		dsync_write_end(f);
	free(sel);
	free(mirror_msg);
	if (mirrors)
		dsync_mirror_list_free(mirrors, n_mirrors);
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
	dsync_mirror_result_add(&to->mirror, &r->mirror);
	to->mirrors_failed += r->mirrors_failed;
	to->mirror_error |= r->mirror_error;
}
