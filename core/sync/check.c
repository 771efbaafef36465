/*
 * dsync check (DESIGN.md section 5; docs/sync.md): the local history
 * verified (core/history/verify.c), then every remote's store: its key
 * blobs, its manifests, that every pack they name is there at its size,
 * the packs no manifest names (counted: a note, not a problem), and with
 * READ_DATA every pack downloaded, decrypted and indexed aside.
 */
#include "core/base/internal.h"

#include <sys/stat.h>

#include "core/base/path.h"
#include "core/history/verify.h"
#include "core/sync/sync_internal.h"

typedef struct unnamed_count {
	const sync_conn *c;
	dsync_check_result *out;
} unnamed_count;

/* Whether a manifest of the store names pack NAME, live or retired. */
static bool named(const sync_conn *c, const char *name)
{
	size_t i, j;

	for (i = 0; i < c->devs.size; i++) {
		for (j = 0; j < c->mans[i].packs.size; j++)
			if (strcmp(c->mans[i].packs.ptr[j].name, name) == 0)
				return true;
		for (j = 0; j < c->mans[i].retired.size; j++)
			if (strcmp(c->mans[i].retired.ptr[j].name, name) == 0)
				return true;
	}
	return false;
}

static int count_unnamed(const char *name, const dsync_blobstore_info *info, void *payload)
{
	unnamed_count *u = payload;

	if (strncmp(name, "packs/", 6) == 0 && !named(u->c, name + 6)) {
		u->out->packs_unnamed++;
		u->out->bytes_unnamed += info->size;
	}
	return 0;
}

static int check_remote(dsync_check_result *out, sync_conn *c, bool read_data)
{
	dsync_buf dir = DSYNC_BUF_INIT, packdir = DSYNC_BUF_INIT;
	sync_xfer x = { c, "check", 0, 0, 0 };
	git_odb *odb = NULL;
	sync_wanted_list v = DSYNC_ARRAY_INIT;
	size_t i, j, keys = 0;
	int err, error;

	if ((error = dsync_store_check_keys(c->st, &keys)) < 0 || (error = dsync_conn_read_manifests(c)) < 0)
		return error;
	out->stores++;
	out->keys += keys;
	for (i = 0; i < c->devs.size && error == 0; i++) {
		out->manifests++;
		for (j = 0; j < c->mans[i].packs.size && error == 0; j++) {
			const dsync_manifest_pack *p = &c->mans[i].packs.ptr[j];
			dsync_blobstore_info info;
			char name[80];

			snprintf(name, sizeof(name), "packs/%s", p->name);
			if ((error = c->bs->stat(c->bs, name, &info)) < 0) {
				/* only a blob that is not there is missing: the
				 * transport's words for one it can't read stand */
				if (error == DSYNC_ENOTFOUND)
					error = dsync_error_set(DSYNC_ECORRUPT, "%s named by %s is missing from %s", name,
								c->mans[i].blob, c->bs->url);
				break;
			}
			if (info.size != p->size) {
				error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s has %llu bytes, %s says %llu", name,
							c->bs->url, (unsigned long long)info.size, c->mans[i].blob,
							(unsigned long long)p->size);
				break;
			}
			out->packs++;
			if (read_data && (error = dsync_fetch_want(&v, p, c->mans[i].blob)) == 0)
				x.total += p->size;
		}
	}
	if (error == 0) {
		/* packs a push cut off left: its device reuses or deletes them */
		unnamed_count u = { c, out };

		error = c->bs->list(c->bs, "packs/", count_unnamed, &u);
	}
	if (error < 0 || !read_data)
		goto out;
	/* every pack indexed in a temporary folder that the history looks into
	 * too, so thin packs find their bases in the history or in older packs */
	if ((error = dsync_buf_printf(&dir, "%s/dsync-tmp-XXXXXX", c->f->gitdir)) < 0)
		goto out;
	if (!mkdtemp(dir.ptr)) {
		error = dsync_error_sys(errno, "cannot make a temporary folder in '%s'", c->f->gitdir);
		goto out;
	}
	if ((error = dsync_buf_printf(&packdir, "%s/pack", dir.ptr)) < 0)
		goto out;
	if (mkdir(packdir.ptr, 0700) < 0) {
		error = dsync_error_sys(errno, "cannot make '%s'", packdir.ptr);
		goto out;
	}
	if ((err = git_repository_odb(&odb, c->f->repo)) < 0 || (err = git_odb_add_disk_alternate(odb, dir.ptr)) < 0) {
		error = dsync_error_git(err, "cannot open the history of '%s'", c->f->root);
		goto out;
	}
	if ((error = dsync_fetch_index_packs(c, &v, odb, packdir.ptr, false, &x)) == 0) {
		out->packs_read = v.size;
		out->bytes_read = x.base;
	}
out:
	if (dir.ptr && dir.ptr[dir.len - 1] != 'X')
		dsync_path_remove(dir.ptr, true);
	git_odb_free(odb);
	dsync_array_dispose(v);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&packdir);
	return error;
}

int dsync_check(dsync_check_result *out, dsync_folder *f, const char *remote_name, bool read_data,
		const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result res;
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	size_t n = 0, i;
	int error;

	memset(out, 0, sizeof(*out));
	memset(&res, 0, sizeof(res));
	if (!o)
		o = &defaults;
	if ((error = dsync_verify_history(out, f, o->progress, o->payload)) < 0 || (error = dsync_remote_config_read(&all, f)) < 0)
		goto out;
	if (!remote_name && all.size == 0)
		goto out;
	if ((error = dsync_remote_pick(&sel, &n, &all, remote_name, f)) < 0)
		goto out;
	for (i = 0; i < n && error == 0; i++) {
		sync_conn c;

		if ((error = dsync_conn_open(&c, f, sel[i], o, &res)) < 0)
			break;
		error = check_remote(out, &c, read_data);
		dsync_conn_close(&c);
	}
out:
	if (error == 0 && out->nproblems)
		error = dsync_error_set(DSYNC_ECORRUPT,
					"the history of '%s' is damaged: %zu problem%s (listed above); "
					"the files in the folder are not affected; a remote that holds the history "
					"brings it back with 'dsync join URL NEW-FOLDER'",
					f->root, out->nproblems, out->nproblems == 1 ? "" : "s");
	free(sel);
	dsync_remote_config_dispose(&all);
	return error;
}

void dsync_check_result_dispose(dsync_check_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nproblems && i < DSYNC_CHECK_LISTED; i++)
		free(r->problems[i]);
	free(r->problems);
	r->problems = NULL;
	r->nproblems = 0;
}
