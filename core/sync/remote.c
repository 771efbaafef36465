/*
 * Remotes (DESIGN.md section 4; docs/sync.md): the remotes in a folder's
 * config (remote.NAME.url, remote.NAME.storeId), and remote add, list and
 * remove.  Adding a remote opens its store, or makes one in an empty place.
 */
#include "core/base/internal.h"

#include <sodium.h>
#include <unistd.h>

#include "core/base/path.h"
#include "core/sync/sync_internal.h"
#include "transport/transport.h"

void dsync_remote_config_dispose(sync_remotes *r)
{
	size_t i;

	for (i = 0; i < r->size; i++) {
		free(r->ptr[i].name);
		free(r->ptr[i].url);
		free(r->ptr[i].store_id);
		free(r->ptr[i].ssh);
		free(r->ptr[i].ssh_command);
		free(r->ptr[i].limit_rate);
		free(r->ptr[i].group);
		free(r->ptr[i].ca_file);
	}
	dsync_array_dispose(*r);
}

bool dsync_remote_name_ok(const char *name)
{
	const char *p;

	if (!*name || *name == '.' || *name == '-' || strlen(name) > 64)
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return false;
	return true;
}

static int cmp_remote(const void *a, const void *b)
{
	return strcmp(((const sync_remote *)a)->name, ((const sync_remote *)b)->name);
}

int dsync_remote_config_open(git_config **cfg, dsync_folder *f)
{
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((err = git_repository_config(cfg, f->repo)) < 0)
		return dsync_error_git(err, "cannot read the config of '%s'", f->root);
	return 0;
}

int dsync_remote_config_get(char **out, git_config *cfg, const char *fmt, const char *name)
{
	git_buf b = GIT_BUF_INIT;
	char key[128];
	int err;

	snprintf(key, sizeof(key), fmt, name);
	if ((err = git_config_get_string_buf(&b, cfg, key)) < 0) {
		*out = NULL;
		return err == GIT_ENOTFOUND ? DSYNC_ENOTFOUND : dsync_error_git(err, "cannot read %s", key);
	}
	*out = strdup(b.ptr);
	git_buf_dispose(&b);
	return *out ? 0 : dsync_error_oom();
}

int dsync_remote_config_read(sync_remotes *out, dsync_folder *f)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *e;
	int err, error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_remote_config_open(&cfg, f)) < 0)
		return error;
	/* not git_config_iterator_glob_new: libgit2 1.5 leaks a regex's match
	 * data for every name it doesn't match */
	if ((err = git_config_iterator_new(&it, cfg)) < 0) {
		error = dsync_error_git(err, "cannot read the remotes of '%s'", f->root);
		goto out;
	}
	while ((err = git_config_next(&e, it)) == 0) {
		size_t len = strlen(e->name);
		sync_remote none = { 0 }, *r;

		if (len <= 11 || strncmp(e->name, "remote.", 7) != 0 || strcmp(e->name + len - 4, ".url") != 0)
			continue;
		if (dsync_array_push(*out, none) < 0) {
			error = dsync_error_oom();
			goto out;
		}
		r = &out->ptr[out->size - 1];
		r->name = strndup(e->name + 7, len - 11);
		r->url = strdup(e->value);
		if (!r->name || !r->url) {
			error = dsync_error_oom();
			goto out;
		}
		if (((error = dsync_remote_config_get(&r->store_id, cfg, "remote.%s.storeId", r->name)) < 0 &&
		     error != DSYNC_ENOTFOUND) ||
		    ((error = dsync_remote_config_get(&r->ssh, cfg, "remote.%s.ssh", r->name)) < 0 &&
		     error != DSYNC_ENOTFOUND) ||
		    ((error = dsync_remote_config_get(&r->ssh_command, cfg, "remote.%s.sshCommand", r->name)) < 0 &&
		     error != DSYNC_ENOTFOUND) ||
		    ((error = dsync_remote_config_get(&r->limit_rate, cfg, "remote.%s.limitRate", r->name)) < 0 &&
		     error != DSYNC_ENOTFOUND) ||
		    ((error = dsync_remote_config_get(&r->group, cfg, "remote.%s.group", r->name)) < 0 &&
		     error != DSYNC_ENOTFOUND) ||
		    ((error = dsync_remote_config_get(&r->ca_file, cfg, "remote.%s.caFile", r->name)) < 0 &&
		     error != DSYNC_ENOTFOUND))
			goto out;
		error = 0;
	}
	if (err != GIT_ITEROVER) {
		error = dsync_error_git(err, "cannot read the remotes of '%s'", f->root);
		goto out;
	}
	if (out->size)
		qsort(out->ptr, out->size, sizeof(*out->ptr), cmp_remote);
	error = 0;
out:
	git_config_iterator_free(it);
	git_config_free(cfg);
	if (error < 0)
		dsync_remote_config_dispose(out);
	return error;
}

bool dsync_folder_has_remotes(dsync_folder *f)
{
	sync_remotes all;
	bool any;

	if (dsync_remote_config_read(&all, f) < 0)
		return false;
	any = all.size > 0;
	dsync_remote_config_dispose(&all);
	return any;
}

int dsync_remote_pick(sync_remote ***sel, size_t *n, sync_remotes *all, const char *name, const dsync_folder *f)
{
	size_t i;

	*sel = calloc(all->size + 1, sizeof(**sel));
	*n = 0;
	if (!*sel)
		return dsync_error_oom();
	for (i = 0; i < all->size; i++)
		if (!name || strcmp(all->ptr[i].name, name) == 0)
			(*sel)[(*n)++] = &all->ptr[i];
	if (*n == 0) {
		free(*sel);
		*sel = NULL;
		if (name) {
			char q[DSYNC_QUOTE_SIZE];

			return dsync_error_set(DSYNC_ENOTFOUND, "no remote '%s' in '%s' (see dsync remote list)",
					       dsync_quote(q, name), f->root);
		}
		return dsync_error_set(DSYNC_ENOTFOUND,
				       "'%s' has no remote yet: add one with dsync remote add NAME URL", f->root);
	}
	return 0;
}
/* ---- remote add, list, remove ----------------------------------------------------- */

static int set_remote(dsync_folder *f, const char *name, const char *url, const char *store_id, const char *group,
		      const char *ca_file)
{
	git_config *cfg = NULL;
	char key[128];
	int err = 0, error;

	if ((error = dsync_remote_config_open(&cfg, f)) < 0)
		return error;
	snprintf(key, sizeof(key), "remote.%s.url", name);
	err = git_config_set_string(cfg, key, url);
	snprintf(key, sizeof(key), "remote.%s.storeId", name);
	if (err == 0)
		err = git_config_set_string(cfg, key, store_id);
	snprintf(key, sizeof(key), "remote.%s.group", name);
	if (err == 0 && group)
		err = git_config_set_string(cfg, key, group);
	snprintf(key, sizeof(key), "remote.%s.caFile", name);
	if (err == 0 && ca_file)
		err = git_config_set_string(cfg, key, ca_file);
	if (err < 0)
		error = dsync_error_git(err, "cannot add remote '%s' to '%s'", name, f->root);
	git_config_free(cfg);
	return error;
}

static int set_chunk_seed(dsync_folder *f, const unsigned char *seed)
{
	git_config *cfg = NULL;
	char hex[DSYNC_HEX256_SIZE];
	int err, error;

	if ((error = dsync_remote_config_open(&cfg, f)) < 0)
		return error;
	sodium_bin2hex(hex, sizeof(hex), seed, 32);
	if ((err = git_config_set_string(cfg, "dsync.chunkSeed", hex)) < 0)
		error = dsync_error_git(err, "cannot write the chunk secret of '%s'", f->root);
	sodium_memzero(hex, sizeof(hex));
	git_config_free(cfg);
	return error;
}

static int is_key_blob(const char *name, const dsync_blobstore_info *info, void *payload)
{
	(void)info;
	(void)payload;
	return strncmp(name, "keys/", 5) == 0 ? 0 : 1;
}

static int remove_blob(const char *name, const dsync_blobstore_info *info, void *payload)
{
	dsync_blobstore *bs = payload;

	(void)info;
	return bs->del(bs, name);
}

/* A place holding key blobs and nothing else is a store whose creation was
 * killed before dsync-store was written: *EMPTY then, its key blobs gone. */
static int only_keys(dsync_blobstore *bs, bool *empty)
{
	int error = bs->list(bs, "", is_key_blob, NULL);

	*empty = false;
	if (error < 0)
		return error;
	if (error > 0)
		return 0;
	if ((error = bs->list(bs, "keys/", remove_blob, bs)) < 0)
		return error;
	*empty = true;
	return 0;
}

/* Opens or creates the store at URL, unlocked, into *ST (and *BS).  K: a
 * relay's credentials (NULL for other stores), from the passphrase, which
 * then serves the store too; GROUP_NEW: the relay may make the group. */
static int open_or_create(dsync_blobstore **bs, dsync_store **st, bool *created, const char *url, dsync_folder *f,
			  bool may_create, const sync_relay *k, bool group_new, const dsync_sync_options *o)
{
	unsigned char seed[32];
	char *pass = NULL;
	bool empty = false;
	int error;

	*bs = NULL;
	*st = NULL;
	*created = false;
	if ((error = dsync_conn_transport_open(bs, url, k ? group_new : may_create, NULL, k, o)) < 0)
		return error;
	error = dsync_store_open(st, *bs);
	if (error == DSYNC_ENOTFOUND && may_create) {
		if ((error = (*bs)->is_empty(*bs, &empty)) < 0 || (!empty && (error = only_keys(*bs, &empty)) < 0))
			goto fail;
		if (!empty) {
			error = dsync_error_set(DSYNC_ERROR,
						"%s is not empty and holds no dsync store: give an empty folder or a store",
						(*bs)->url);
			goto fail;
		}
		if ((error = dsync_folder_chunk_seed(seed, f)) < 0)
			goto fail;
		if (k && (pass = strdup(k->pass)) == NULL)
			error = dsync_error_oom();
		else if (!k)
			error = dsync_passphrase_ask(&pass, o, DSYNC_PASSPHRASE_NEW, (*bs)->url);
		if (error < 0)
			goto fail;
		if ((error = dsync_store_create(st, *bs, pass, seed)) < 0 || (error = dsync_passphrase_keep(*st)) < 0)
			goto fail;
		*created = true;
		dsync_passphrase_free(pass);
		sodium_memzero(seed, sizeof(seed));
		return 0;
	}
	if (error < 0 || (error = dsync_passphrase_unlock(*st, k ? k->pass : NULL, o)) < 0)
		goto fail;
	return 0;
fail:
	dsync_passphrase_free(pass);
	sodium_memzero(seed, sizeof(seed));
	dsync_store_free(*st);
	dsync_blobstore_free(*bs);
	*st = NULL;
	*bs = NULL;
	return error;
}

int dsync_remote_ca_file(char **out, const char *path)
{
	*out = NULL;
	if (!path)
		return 0;
	if ((*out = realpath(path, NULL)) == NULL)
		return dsync_error_set(DSYNC_EUSAGE, "cannot read the CA file '%s': %s", path, strerror(errno));
	if (access(*out, R_OK) < 0) {
		free(*out);
		*out = NULL;
		return dsync_error_set(DSYNC_EUSAGE, "cannot read the CA file '%s': %s", path, strerror(errno));
	}
	return 0;
}

int dsync_remote_relay_begin(sync_relay *k, bool *group_new, const char *url, const char *device_id, bool create,
			     const dsync_sync_options *o)
{
	char *pass = NULL, *ca = NULL;
	int error;

	memset(k, 0, sizeof(*k));
	*group_new = false;
	if (!o->relay_group || !*o->relay_group)
		return dsync_error_set(DSYNC_EUSAGE, "%s is a relay: name the group with --group NAME", url);
	if ((error = dsync_relay_group_fold(k->group, o->relay_group)) < 0 ||
	    (error = dsync_remote_ca_file(&ca, o->relay_ca_file)) < 0)
		goto out;
	if ((error = dsync_passphrase_ask(&pass, o, create ? DSYNC_PASSPHRASE_NEW : DSYNC_PASSPHRASE_CURRENT, url)) < 0)
		goto out;
	/* a new group only with a passphrase that stands up to the relay's
	 * guessing (it can test guesses against the token offline) */
	if ((error = dsync_passphrase_strength(pass, NULL)) == 0) {
		*group_new = true;
	} else if (create) {
		goto out;   /* the reason is the message */
	} else {
		/* a weak one may still open a group made otherwise */
		dsync_error_clear();
	}
	error = dsync_relay_keys_from_pass(k, o->relay_group, pass, device_id, ca);
out:
	dsync_passphrase_free(pass);
	free(ca);
	return error;
}

/* Whether F has a mirror NAME (mirror.NAME.url): a remote of that name
 * would make 'dsync sync NAME' mean two things. */
static bool is_mirror(dsync_folder *f, const char *name)
{
	git_config *cfg = NULL;
	char *url = NULL;
	bool yes;

	if (dsync_remote_config_open(&cfg, f) < 0) {
		dsync_error_clear();
		return false;
	}
	yes = dsync_remote_config_get(&url, cfg, "mirror.%s.url", name) == 0 && url;
	dsync_error_clear();
	free(url);
	git_config_free(cfg);
	return yes;
}

int dsync_remote_add(dsync_folder *f, const char *name, const char *url, bool *created,
		     const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	sync_remotes all = { 0 };
	sync_relay k = { 0 };
	size_t i;
	bool had_remotes, relay, group_new = false;
	char q[DSYNC_QUOTE_SIZE];
	int error;

	*created = false;
	if (!o)
		o = &defaults;
	if (!dsync_remote_name_ok(name))
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a remote name (letters, digits, '-', '_', '.')",
				       dsync_quote(q, name));
	if (is_mirror(f, name))
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is already a mirror of '%s': give the remote another name",
				       name, f->root);
	relay = dsync_transport_is_relay(url);
	if (!relay && (o->relay_group || o->relay_ca_file))
		return dsync_error_set(DSYNC_EUSAGE, "--group and --ca-file are for relays (http:// or https://), not %s",
				       url);
	if ((error = dsync_remote_config_read(&all, f)) < 0)
		return error;
	for (i = 0; i < all.size; i++)
		if (strcmp(all.ptr[i].name, name) == 0) {
			error = dsync_error_set(DSYNC_EEXISTS, "'%s' already has a remote '%s' (%s)", f->root, name,
						all.ptr[i].url);
			goto out;
		}
	had_remotes = all.size > 0;
	if (relay && (error = dsync_remote_relay_begin(&k, &group_new, url, dsync_folder_device_id(f),
						       o->relay_create, o)) < 0)
		goto out;
	/* the key is kept per user: know where before a store is made */
	if ((error = dsync_folder_config_dir_ready()) < 0 || (error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		goto out;
	error = open_or_create(&bs, &st, created, url, f, true, relay ? &k : NULL, group_new, o);
	/* no group was made with a passphrase the relay could guess: say so */
	if (error == DSYNC_EAUTH && relay && !group_new) {
		char *msg = strdup(dsync_error_last()), *weak;

		dsync_passphrase_strength(k.pass, NULL);
		weak = strdup(dsync_error_last());
		error = dsync_error_set(DSYNC_EAUTH, "%s (no group is made with this passphrase: %s)",
					msg ? msg : "refused", weak ? weak : "too weak");
		free(msg);
		free(weak);
	}
	for (i = 0; error == 0 && i < all.size; i++)
		if (all.ptr[i].store_id && strcmp(all.ptr[i].store_id, st->id) == 0)
			error = dsync_error_set(DSYNC_EEXISTS, "the store at %s is remote '%s' of this folder already (%s)",
						bs->url, all.ptr[i].name, all.ptr[i].url);
	/* a folder's first store gives it the store's chunk secret, so big
	 * files cut the same way on every device */
	if (error == 0 && !*created && !had_remotes)
		error = set_chunk_seed(f, DSYNC_STORE_SEED(st));
	/* the device is let in: later rounds need its token and key only */
	if (error == 0 && relay)
		error = dsync_relay_keys_save(&k);
	if (error == 0)
		error = set_remote(f, name, bs->url, st->id, relay ? o->relay_group : NULL, k.ca_file);
	dsync_write_end(f);
out:
	dsync_relay_keys_dispose(&k);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	dsync_remote_config_dispose(&all);
	return error;
}

int dsync_remote_list(dsync_remote_info **out, size_t *n, dsync_folder *f)
{
	sync_remotes all;
	size_t i;
	int error;

	*out = NULL;
	*n = 0;
	if ((error = dsync_remote_config_read(&all, f)) < 0)
		return error;
	if (all.size && (*out = calloc(all.size, sizeof(**out))) == NULL) {
		dsync_remote_config_dispose(&all);
		return dsync_error_oom();
	}
	for (i = 0; i < all.size; i++) {
		(*out)[i].name = all.ptr[i].name;
		(*out)[i].url = all.ptr[i].url;
		(*out)[i].store_id = all.ptr[i].store_id;
		(*out)[i].group = all.ptr[i].group;
		free(all.ptr[i].ca_file);
		free(all.ptr[i].ssh);   /* not the list's */
		free(all.ptr[i].ssh_command);
		free(all.ptr[i].limit_rate);
	}
	*n = all.size;
	free(all.ptr);   /* the strings are the list's now */
	return 0;
}

void dsync_remote_list_free(dsync_remote_info *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].url);
		free(list[i].store_id);
		free(list[i].group);
	}
	free(list);
}

static int remove_ref_cb(git_reference *ref, void *payload)
{
	(void)payload;
	git_reference_delete(ref);
	git_reference_free(ref);
	return 0;
}

int dsync_remote_remove(dsync_folder *f, const char *name)
{
	git_config *cfg = NULL;
	dsync_buf glob = DSYNC_BUF_INIT, dir = DSYNC_BUF_INIT;
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	size_t n;
	char key[128];
	int error;

	if ((error = dsync_remote_config_read(&all, f)) < 0 || (error = dsync_remote_pick(&sel, &n, &all, name, f)) < 0)
		goto out;
	if ((error = dsync_write_begin(f, DSYNC_LOCK_WAIT_MS)) < 0)
		goto out;
	/* this folder's token and signing key for the relay go with it */
	if (sel[0]->group) {
		sync_relay k;

		if (dsync_relay_keys_load(&k, sel[0]->group, f->device_id, NULL) == 0) {
			dsync_relay_keys_forget(&k);
			dsync_relay_keys_dispose(&k);
		}
		dsync_error_clear();
	}
	if ((error = dsync_remote_config_open(&cfg, f)) == 0) {
		snprintf(key, sizeof(key), "remote.%s.url", name);
		git_config_delete_entry(cfg, key);
		snprintf(key, sizeof(key), "remote.%s.storeId", name);
		git_config_delete_entry(cfg, key);
		snprintf(key, sizeof(key), "remote.%s.group", name);
		git_config_delete_entry(cfg, key);
		snprintf(key, sizeof(key), "remote.%s.caFile", name);
		git_config_delete_entry(cfg, key);
		error = dsync_buf_printf(&glob, "refs/remotes/%s/*", name);
	}
	if (error == 0) {
		git_reference_iterator *it = NULL;
		git_reference *ref;

		if (git_reference_iterator_glob_new(&it, f->repo, glob.ptr) == 0) {
			while (git_reference_next(&ref, it) == 0)
				remove_ref_cb(ref, NULL);
			git_reference_iterator_free(it);
		}
		if (dsync_state_path(&dir, f, name, NULL) == 0) {
			dsync_path_remove(dir.ptr, true);
		}
	}
	dsync_write_end(f);
out:
	git_config_free(cfg);
	free(sel);
	dsync_remote_config_dispose(&all);
	dsync_buf_dispose(&glob);
	dsync_buf_dispose(&dir);
	return error;
}

/* ---- remote set: how a remote is reached ------------------------------------------ */

int dsync_remote_set(dsync_folder *f, const char *name, const char *key, const char *value)
{
	static const char *const keys[] = { "ssh", "sshCommand", "limitRate", "caFile" };
	char *ca = NULL;
	git_config *cfg = NULL;
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	size_t n, i;
	uint64_t rate;
	char full[128], q[DSYNC_QUOTE_SIZE];
	int err, error;

	for (i = 0; i < DSYNC_ARRAY_SIZE(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			break;
	if (i == DSYNC_ARRAY_SIZE(keys))
		return dsync_error_set(DSYNC_EUSAGE, "a remote has no setting '%s' (ssh, sshCommand, limitRate, caFile)",
				       dsync_quote(q, key));
	if ((error = dsync_remote_config_read(&all, f)) < 0 || (error = dsync_remote_pick(&sel, &n, &all, name, f)) < 0)
		goto out;
	/* NAME is a remote's now: safe to print */
	if (value && i == 0 && strcmp(value, "auto") != 0 && strcmp(value, "openssh") != 0 &&
	    strcmp(value, "builtin") != 0) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote.%s.ssh can't be '%s': give auto, openssh or builtin",
					name, dsync_quote(q, value));
		goto out;
	}
	if (value && i == 1 && (!*value || strchr(value, '\n'))) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote.%s.sshCommand must be one line, not empty", name);
		goto out;
	}
	if (value && i == 2 && (error = dsync_rate_parse(value, &rate)) < 0)
		goto out;
	if (i == 3 && !sel[0]->group) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote '%s' is not a relay: caFile is for https relays", name);
		goto out;
	}
	/* kept absolute: the daemon runs from another folder */
	if (value && i == 3) {
		if ((error = dsync_remote_ca_file(&ca, value)) < 0)
			goto out;
		value = ca;
	}
	if ((error = dsync_write_begin(f, DSYNC_LOCK_WAIT_MS)) < 0)
		goto out;
	if ((error = dsync_remote_config_open(&cfg, f)) == 0) {
		snprintf(full, sizeof(full), "remote.%s.%s", name, key);
		err = value ? git_config_set_string(cfg, full, value) : git_config_delete_entry(cfg, full);
		if (err < 0 && !(err == GIT_ENOTFOUND && !value))
			error = dsync_error_git(err, "cannot write %s in '%s'", full, f->root);
	}
	dsync_write_end(f);
out:
	free(ca);
	git_config_free(cfg);
	free(sel);
	dsync_remote_config_dispose(&all);
	return error;
}

/* ---- a relay's usage --------------------------------------------------------------- */

int dsync_remote_usage(dsync_folder *f, const char *remote, uint64_t *used, uint64_t *quota,
		       const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_blobstore *bs = NULL;
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	sync_relay k = { 0 };
	size_t n;
	int error;

	*used = *quota = 0;
	if (!o)
		o = &defaults;
	if ((error = dsync_remote_config_read(&all, f)) < 0 || (error = dsync_remote_pick(&sel, &n, &all, remote, f)) < 0)
		goto out;
	if (!sel[0]->group || !dsync_transport_is_relay(sel[0]->url)) {
		error = dsync_error_set(DSYNC_EUSAGE, "remote '%s' is not a relay", sel[0]->name);
		goto out;
	}
	if ((error = dsync_relay_keys_load(&k, sel[0]->group, f->device_id, sel[0]->ca_file)) == DSYNC_ENOTFOUND)
		error = dsync_error_set(DSYNC_EAUTH, "no token kept for relay remote '%s' on this device: 'dsync sync' "
					"asks for the passphrase", sel[0]->name);
	if (error < 0 || (error = dsync_conn_transport_open(&bs, sel[0]->url, false, sel[0], &k, o)) < 0)
		goto out;
	if (!bs->usage)
		error = dsync_error_set(DSYNC_EUSAGE, "remote '%s' tells no usage", sel[0]->name);
	else
		error = bs->usage(bs, used, quota);
out:
	dsync_blobstore_free(bs);
	dsync_relay_keys_dispose(&k);
	free(sel);
	dsync_remote_config_dispose(&all);
	return error;
}
