/*
 * The mirror round (docs/mirror.md): under the folder's lock, for each
 * mirror: connect, clean up what a killed round left on the host, scan
 * (scan.c), record what changed there as the mirror's own version, merge
 * it into the folder as any device's head, write the result back
 * (writeback.c), and move refs/mirrors/NAME to what the host now holds.
 */
#include "core/base/internal.h"

#include "core/mirror/mirror_internal.h"
#include "core/mirror/round.h"
#include "core/base/chunks.h"
#include "core/history/head.h"
#include "core/history/snapshot.h"
#include "core/worktree/begin.h"
#include "core/worktree/mergeinto.h"
#include "merge/check.h"
#include "transport/sftp_folder.h"
#include "transport/transport.h"

#include <time.h>
#include <unistd.h>

/* Step 2: what the journal says a killed round left on the host is put
 * right: a file being written removed, a file moved aside put back when
 * its name is free (else removed). */
static int clean_up(mirror_run *r)
{
	mirror_journal j = { 0 };
	size_t i;
	int error;

	if ((error = dsync_mirror_journal_read(&j, r->f, r->cfg->name)) < 0)
		return error;
	for (i = 0; i < j.n && !error; i++) {
		const mirror_journal_entry *e = &j.v[i];
		int err;

		if (e->kind == 'o') {
			dsync_rfile st = { 0 };
			const char *one = e->target;

			if ((error = dsync_sftp_folder_lstat(r->pf, &one, 1, &st)) < 0)
				break;
			if (st.kind == DSYNC_RFILE_NONE) {
				err = dsync_sftp_folder_rename(r->pf, e->temp, e->target, false);
				if (err == 0)
					r->res->cleaned++;
				else if (err != DSYNC_ENOTFOUND)
					error = err;
				continue;
			}
		}
		err = dsync_sftp_folder_remove(r->pf, e->temp);
		if (err == 0)
			r->res->cleaned++;
		else if (err != DSYNC_ENOTFOUND)
			error = err;
	}
	dsync_mirror_journal_dispose(&j);
	if (error < 0)
		return error;
	return j.n ? dsync_mirror_journal_clear(r->f, r->cfg->name) : 0;
}

/* Step 1: the connection. */
static int connect_host(mirror_run *r)
{
	dsync_transport_opts to;
	int error;

	if ((error = dsync_mirror_transport_opts(&to, r->cfg, r->o)) < 0)
		return error;
	if ((error = dsync_transport_open_folder(&r->pf, r->cfg->url, false, &to)) < 0) {
		char *cause = strdup(dsync_error_last());

		error = dsync_error_set(error, "mirror '%s': cannot reach %s: %s", r->cfg->name, r->label,
					cause ? cause : "out of memory");
		free(cause);
	}
	return error;
}

/* Step 7: the mirror's tree recorded as its version, when it differs from
 * BASE. */
static int record(mirror_run *r)
{
	dsync_snapshot_result counts;
	git_tree *tree = NULL;
	dsync_buf ref = DSYNC_BUF_INIT;
	int err, error;

	if (r->has_base && git_oid_equal(&r->m_tree, &r->base_tree)) {
		git_oid_cpy(&r->m_commit, &r->base_commit);
		r->has_m = true;
		return 0;
	}
	if ((err = git_tree_lookup(&tree, r->f->repo, &r->m_tree)) < 0)
		return dsync_error_git(err, "cannot read the mirror's tree");
	if (!r->has_base && git_tree_entrycount(tree) == 0) {
		git_tree_free(tree);
		return 0; /* nothing on either side yet */
	}
	/* names from the host: the check every other device's tree passes */
	if ((error = dsync_treecheck_all(r->f->repo, tree)) < 0) {
		char *cause = strdup(dsync_error_last());

		error = dsync_error_set(DSYNC_ECORRUPT, "mirror '%s': %s; nothing recorded", r->cfg->name,
					cause ? cause : "out of memory");
		free(cause);
		goto out;
	}
	if ((error = dsync_buf_printf(&ref, DSYNC_MIRROR_REF_PREFIX "%s", r->cfg->name)) < 0 ||
	    (error = dsync_history_commit_device(&r->m_commit, &counts, r->f, ref.ptr, &r->m_tree,
						 r->has_base ? &r->base_commit : NULL, r->cfg->name,
						 r->cfg->device_id)) < 0)
		goto out;
	r->has_m = true;
	r->res->recorded = true;
	r->res->recorded_added = counts.added;
	r->res->recorded_changed = counts.modified;
	r->res->recorded_deleted = counts.deleted;
	r->res->recorded_renamed = counts.renamed;
	if (r->cache_dirty && dsync_mirror_cache_save(&r->cache, r->f, r->cfg->name) == 0)
		r->cache_dirty = false;
out:
	git_tree_free(tree);
	dsync_buf_dispose(&ref);
	return error;
}

/* Step 8: the mirror's version merged into the folder, unless it has it. */
static int merge(mirror_run *r)
{
	dsync_merge_options mo = DSYNC_MERGE_OPTIONS_INIT;
	dsync_merge_head h = { 0 };
	git_oid head;
	int err;

	if (!r->has_m)
		return 0;
	err = git_reference_name_to_id(&head, r->f->repo, DSYNC_MAIN_REF);
	if (err == 0 && (git_oid_equal(&head, &r->m_commit) ||
			 git_graph_descendant_of(r->f->repo, &head, &r->m_commit) == 1))
		return 0;
	h.device_id = r->cfg->device_id;
	git_oid_cpy(&h.commit, &r->m_commit);
	mo.lock_wait_ms = r->o->lock_wait_ms;
	mo.warn = r->o->warn;
	mo.payload = r->o->payload;
	return dsync_worktree_merge(&r->res->merge, r->f, &h, 1, &mo);
}

/* The folder's head after the merge in the index form, into *OUT (an
 * empty index when there is none); its commit into HEAD (*BORN). */
static int head_index(git_index **out, git_oid *head, bool *born, mirror_run *r)
{
	git_tree *tree = NULL;
	git_oid index_form;
	int err, error;

	if ((err = git_index_new(out)) < 0)
		return dsync_error_git(err, "cannot make an index");
	if ((error = dsync_history_head_tree(&tree, head, born, r->f->repo)) < 0 || !*born)
		return error;
	if ((error = dsync_chunks_to_index_form(&index_form, r->f->repo, tree)) < 0)
		goto out;
	git_tree_free(tree);
	tree = NULL;
	if ((err = git_tree_lookup(&tree, r->f->repo, &index_form)) < 0 || (err = git_index_read_tree(*out, tree)) < 0)
		error = dsync_error_git(err, "cannot read the head of '%s'", r->f->root);
out:
	git_tree_free(tree);
	return error;
}

/* refs/mirrors/NAME to HEAD: the host holds exactly it now. */
static int move_ref(mirror_run *r, const git_oid *head)
{
	const git_oid *from = r->has_m ? &r->m_commit : r->has_base ? &r->base_commit : NULL;
	git_reference *ref = NULL;
	dsync_buf name = DSYNC_BUF_INIT;
	int err, error;

	if (from && git_oid_equal(from, head))
		return 0;
	if ((error = dsync_buf_printf(&name, DSYNC_MIRROR_REF_PREFIX "%s", r->cfg->name)) < 0)
		return error;
	err = from ? git_reference_create_matching(&ref, r->f->repo, name.ptr, head, 1, from, "mirror written")
		   : git_reference_create(&ref, r->f->repo, name.ptr, head, 0, "mirror written");
	if (err < 0)
		error = dsync_error_git(err, "cannot move '%s'", name.ptr);
	git_reference_free(ref);
	dsync_buf_dispose(&name);
	return error;
}

/* The status files after a round that went through. */
static int finish(mirror_run *r)
{
	dsync_buf kept = DSYNC_BUF_INIT;
	char when[32];
	size_t i;
	int error = 0;

	if (r->cache_dirty && (error = dsync_mirror_cache_save(&r->cache, r->f, r->cfg->name)) < 0)
		return error;
	if (!r->keep_journal && (error = dsync_mirror_journal_clear(r->f, r->cfg->name)) < 0)
		return error;
	for (i = 0; i + 1 < r->kept.size && !error; i += 2)
		error = dsync_mirror_kept_put(&kept, r->kept.ptr[i], r->kept.ptr[i + 1]);
	snprintf(when, sizeof(when), "%lld", (long long)time(NULL));
	if (!error &&
	    (error = dsync_mirror_status_write(r->f, r->cfg->name, "kept", kept.len ? kept.ptr : NULL)) == 0 &&
	    (error = dsync_mirror_status_write(r->f, r->cfg->name, "last", when)) == 0)
		error = dsync_mirror_status_write(r->f, r->cfg->name, "error", NULL);
	dsync_buf_dispose(&kept);
	return error;
}

static int one_round(dsync_mirror_result *res, dsync_folder *f, const mirror_cfg *cfg, const dsync_mirror_options *o)
{
	mirror_run r;
	dsync_sftp_url *u = NULL;
	git_index *head = NULL;
	git_oid head_id;
	bool born = false;
	size_t i;
	int error;

	memset(&r, 0, sizeof(r));
	r.f = f;
	r.cfg = cfg;
	r.o = o;
	r.res = res;
	r.tmp_fd = -1;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	r.label = strdup(dsync_sftp_url_parse(cfg->url, u) == 0 ? u->label : cfg->url);
	if (!r.label) {
		error = dsync_error_oom();
		goto out;
	}
	if ((error = connect_host(&r)) == DSYNC_ENOTFOUND) {
		/* no folder there: a phone whose storage is not mounted may
		 * show none at all; the guard decides as for an empty one */
		char *why = strdup(dsync_error_last());
		int g = dsync_mirror_guard_missing(&r);

		if (g < 0)
			error = g;
		else
			dsync_error_set(error, "%s", why ? why : "no folder on the host");
		free(why);
		goto out;
	}
	if (error < 0 || (error = clean_up(&r)) < 0)
		goto out;
	if ((error = dsync_folder_load_ignore(&r.ignore, f)) < 0 ||
	    (error = dsync_mirror_cache_load(&r.cache, f, cfg->name)) < 0)
		goto out;
	if ((error = dsync_mirror_scan(&r)) < 0 || (error = record(&r)) < 0 || (error = merge(&r)) < 0)
		goto out;
	if ((error = head_index(&head, &head_id, &born, &r)) < 0 || (error = dsync_mirror_writeback(&r, head)) < 0)
		goto out;
	if (born && !r.incomplete && (error = move_ref(&r, &head_id)) < 0)
		goto out;
	error = finish(&r);
out:
	if (r.pf) {
		const dsync_sftp_folder_counts *c = dsync_sftp_folder_get_counts(r.pf);

		/* the connection's own counts: a round with nothing changed
		 * shows no OPEN of a file here */
		res->dirs_listed = (size_t)c->opendirs;
		res->files_read = (size_t)c->opens_read;
		res->bytes_read = c->bytes_read;
		res->bytes_written = c->bytes_written;
		dsync_sftp_folder_free(r.pf);
	}
	if (error < 0) {
		if (r.cache_dirty)
			dsync_mirror_cache_save(&r.cache, f, cfg->name);
		if (error != DSYNC_EMASSDELETE) {
			char *msg = strdup(dsync_error_last());

			if (msg)
				dsync_mirror_status_write(f, cfg->name, "error", msg);
			free(msg);
		}
	}
	if (r.tmp_fd >= 0)
		close(r.tmp_fd);
	git_index_free(head);
	dsync_ignore_free(r.ignore);
	dsync_mirror_cache_dispose(&r.cache);
	dsync_rfile_list_dispose(&r.listing);
	dsync_rfile_list_dispose(&r.unreadable);
	for (i = 0; i < r.host.size; i++)
		free(r.host.ptr[i].key);
	dsync_array_dispose(r.host);
	dsync_strlist_dispose(&r.kept_back);
	dsync_strlist_dispose(&r.kept);
	free(r.label);
	free(u);
	return error;
}

void dsync_mirror_result_add(dsync_mirror_result *to, const dsync_mirror_result *r)
{
	to->mirrors += r->mirrors;
	to->skipped += r->skipped;
	to->dirs_listed += r->dirs_listed;
	to->files_read += r->files_read;
	to->bytes_read += r->bytes_read;
	to->recorded_added += r->recorded_added;
	to->recorded_changed += r->recorded_changed;
	to->recorded_deleted += r->recorded_deleted;
	to->recorded_renamed += r->recorded_renamed;
	to->recorded |= r->recorded;
	to->kept_back += r->kept_back;
	/* the last merge that moved the folder tells where it is; a later
	 * one that found nothing to merge still counts the conflicts now */
	if (r->merge.merged || (!to->merge.merged && r->merge.head[0]))
		to->merge = r->merge;
	else if (r->merge.head[0])
		to->merge.open_conflicts = r->merge.open_conflicts;
	to->files_written += r->files_written;
	to->bytes_written += r->bytes_written;
	to->files_removed += r->files_removed;
	to->dirs_made += r->dirs_made;
	to->dirs_removed += r->dirs_removed;
	to->computer_only += r->computer_only;
	to->cleaned += r->cleaned;
	to->paused |= r->paused;
}

/* Whether the mirror's interval has passed since its last complete round. */
static bool due(dsync_folder *f, const mirror_cfg *cfg)
{
	char *last = NULL;
	bool yes = true;

	if (dsync_mirror_status_read(&last, f, cfg->name, "last") == 0 && last) {
		long long t = strtoll(last, NULL, 10);

		yes = t <= 0 || (long long)time(NULL) - t >= (long long)cfg->interval_s;
	}
	free(last);
	return yes;
}

int dsync_mirror_round_locked(dsync_mirror_result *out, dsync_folder *f, const char *name,
			      const dsync_mirror_options *o)
{
	dsync_mirror_options defaults = DSYNC_MIRROR_OPTIONS_INIT;
	mirror_cfg *cfgs = NULL;
	size_t n = 0, i;
	bool found = false, locked = false;
	int error, first = 0;

	memset(out, 0, sizeof(*out));
	if (!o)
		o = &defaults;
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_mirror_config_read(&cfgs, &n, f)) < 0)
		return error;
	if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		goto out;
	locked = true;
	for (i = 0; i < n; i++) {
		dsync_mirror_result r;

		if (name && strcmp(cfgs[i].name, name) != 0)
			continue;
		found = true;
		if (o->only_due && !due(f, &cfgs[i])) {
			out->skipped++;
			continue;
		}
		memset(&r, 0, sizeof(r));
		error = one_round(&r, f, &cfgs[i], o);
		r.mirrors = 1;
		dsync_mirror_result_add(out, &r);
		if (error < 0 && first == 0)
			first = error;  /* returned; the others' errors are warned */
		else if (error < 0 && o->warn)
			o->warn(dsync_error_last(), o->payload);
	}
	error = first;
	if (name && !found) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_ENOTFOUND, "no mirror '%s' in '%s'", dsync_quote(q, name), f->root);
	}
out:
	if (locked)
		dsync_write_end(f);
	dsync_mirror_config_free(cfgs, n);
	return error;
}

int dsync_mirror_round(dsync_mirror_result *out, dsync_folder *f, const char *name,
		       const dsync_mirror_options *o)
{
	dsync_mirror_options defaults = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	int error;

	memset(out, 0, sizeof(*out));
	if (!o)
		o = &defaults;
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		return error;
	so.lock_wait_ms = o->lock_wait_ms;
	so.warn = o->warn;
	so.payload = o->payload;
	/* the folder's own changes are in history before anything is merged
	 * (a mass deletion of the folder itself fails the round) */
	if ((error = dsync_snapshot_take_locked(&sr, f, &so)) == 0)
		error = dsync_mirror_round_locked(out, f, name, o);
	dsync_write_end(f);
	if (error == 0 && out->merge.open_conflicts)
		error = dsync_error_set(DSYNC_ECONFLICT, "%zu conflict%s wait%s for you: see 'dsync conflicts'",
					out->merge.open_conflicts, out->merge.open_conflicts == 1 ? "" : "s",
					out->merge.open_conflicts == 1 ? "s" : "");
	return error;
}
