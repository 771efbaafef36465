/*
 * Joining a store from a new device (DESIGN.md section 5; docs/sync.md):
 * the store opened and unlocked before anything is made, the folder made
 * with the remote and a mark that a join is in progress, then the first
 * rounds; a join cut off anywhere is finished by 'dsync join' again or by
 * the next dsync_sync() (the public round, at the end of this file), and one that failed before its first fetch
 * leaves nothing behind.
 */
#include "core/base/internal.h"

#include <dirent.h>
#include <sodium.h>
#include <unistd.h>

#include "core/base/path.h"
#include "core/sync/sync_internal.h"
#include "core/worktree/temp.h"
#include "transport/transport.h"

/*
 * A join in progress is marked in the folder's config from the folder's first
 * moment (written with the remote before .dsync appears under its name):
 * dsync.joinRemote names the remote, dsync.joinMadeKey says that the join
 * unsealed the kept key (it wasn't kept for this account before).  A join
 * killed anywhere then leaves a folder that 'dsync join' again, or 'dsync
 * sync', finishes; the mark goes once the first round is complete.
 */
#define JOIN_REMOTE "dsync.joinRemote"
#define JOIN_MADE_KEY "dsync.joinMadeKey"

typedef struct join_setup {
	const char *remote_name;
	const char *url;
	const char *group;      /* a relay's group (NULL: not a relay) */
	const char *ca_file;
	const dsync_store *st;
	bool made_key;
} join_setup;

static int write_join(git_config *cfg, void *payload)
{
	const join_setup *j = payload;
	char key[128], hex[DSYNC_HEX256_SIZE];
	int err;

	snprintf(key, sizeof(key), "remote.%s.url", j->remote_name);
	err = git_config_set_string(cfg, key, j->url);
	snprintf(key, sizeof(key), "remote.%s.storeId", j->remote_name);
	if (err == 0)
		err = git_config_set_string(cfg, key, j->st->id);
	snprintf(key, sizeof(key), "remote.%s.group", j->remote_name);
	if (err == 0 && j->group)
		err = git_config_set_string(cfg, key, j->group);
	snprintf(key, sizeof(key), "remote.%s.caFile", j->remote_name);
	if (err == 0 && j->ca_file)
		err = git_config_set_string(cfg, key, j->ca_file);
	sodium_bin2hex(hex, sizeof(hex), DSYNC_STORE_SEED(j->st), 32);
	if (err == 0)
		err = git_config_set_string(cfg, "dsync.chunkSeed", hex);
	sodium_memzero(hex, sizeof(hex));
	if (err == 0)
		err = git_config_set_string(cfg, JOIN_REMOTE, j->remote_name);
	if (err == 0)
		err = git_config_set_bool(cfg, JOIN_MADE_KEY, j->made_key);
	return err < 0 ? dsync_error_git(err, "cannot record the remote '%s'", j->remote_name) : 0;
}

/* A join whose remote was removed since is none. */
int dsync_join_pending(char **name, bool *made_key, dsync_folder *f)
{
	git_config *cfg = NULL;
	char *url = NULL;
	int err, b = 0, error;

	*name = NULL;
	*made_key = false;
	if ((error = dsync_remote_config_open(&cfg, f)) < 0)
		return error;
	if ((error = dsync_remote_config_get(name, cfg, "%s", JOIN_REMOTE)) < 0) {
		error = error == DSYNC_ENOTFOUND ? 0 : error;
		goto out;
	}
	if ((error = dsync_remote_config_get(&url, cfg, "remote.%s.url", *name)) < 0) {
		free(*name);
		*name = NULL;
		error = error == DSYNC_ENOTFOUND ? 0 : error;
		goto out;
	}
	if ((err = git_config_get_bool(&b, cfg, JOIN_MADE_KEY)) < 0 && err != GIT_ENOTFOUND) {
		error = dsync_error_git(err, "cannot read %s", JOIN_MADE_KEY);
		goto out;
	}
	*made_key = b != 0;
out:
	free(url);
	git_config_free(cfg);
	return error;
}

/* Writes the join J into F's config, or with J NULL takes its mark away;
 * under the lock (whose repair takes away the config.lock of a write
 * killed half-way). */
static int join_record(dsync_folder *f, const join_setup *j, const dsync_sync_options *o)
{
	git_config *cfg = NULL;
	int err, error;

	if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		return error;
	if ((error = dsync_remote_config_open(&cfg, f)) < 0)
		goto out;
	if (j)
		error = write_join(cfg, (void *)j);
	else if (((err = git_config_delete_entry(cfg, JOIN_MADE_KEY)) < 0 && err != GIT_ENOTFOUND) ||
		 ((err = git_config_delete_entry(cfg, JOIN_REMOTE)) < 0 && err != GIT_ENOTFOUND))
		error = dsync_error_git(err, "cannot record the end of the join in '%s'", f->root);
out:
	git_config_free(cfg);
	dsync_write_end(f);
	return error;
}

/* Whether DIR holds nothing (EXCEPT, when not NULL, aside); *EXISTS false
 * when DIR is missing. */
static bool dir_is_empty(const char *dir, const char *except, bool *exists)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = true;

	*exists = d != NULL || errno != ENOENT;
	if (!d)
		return true;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    (!except || strcmp(e->d_name, except) != 0))
			empty = false;
	closedir(d);
	return empty;
}

static bool head_unborn(dsync_folder *f)
{
	git_reference *ref = NULL;

	if (dsync_folder_repo(f) < 0 || git_reference_lookup(&ref, f->repo, "refs/heads/main") < 0)
		return true;
	git_reference_free(ref);
	return false;
}

/*
 * The rounds of a join with REMOTE_NAME, and the end of its mark.  A folder
 * that holds nothing of its own yet (no version, no file) takes the store's
 * head as it is (no first snapshot of nothing to merge with); files already
 * there are snapshotted first and merged against an empty base.  *FETCHED
 * (may be NULL) is set once the first fetch is through: from there on the
 * folder may hold the store's files.
 */
static int join_rounds(dsync_sync_result *r, dsync_folder *f, const char *remote_name, bool *fetched,
		       const dsync_sync_options *o)
{
	dsync_sync_result step;
	bool exists, fresh = head_unborn(f) && dir_is_empty(f->root, DSYNC_DIR, &exists);
	int error;

	memset(r, 0, sizeof(*r));
	/* everything first: a failure here changed no file */
	if ((error = dsync_sync_round(&step, f, remote_name, DSYNC_SYNC_FETCH, o)) < 0)
		return error;
	dsync_sync_add_results(r, &step);
	if (fetched)
		*fetched = true;
	if (fresh) {
		if ((error = dsync_sync_round(&step, f, remote_name, DSYNC_SYNC_FETCH | DSYNC_SYNC_MERGE, o)) < 0)
			return error;
		dsync_sync_add_results(r, &step);
		if ((error = dsync_sync_round(&step, f, remote_name, DSYNC_SYNC_PUSH, o)) < 0)
			return error;
	} else if ((error = dsync_sync_round(&step, f, remote_name, DSYNC_SYNC_ALL, o)) < 0) {
		return error;
	}
	dsync_sync_add_results(r, &step);
	return join_record(f, NULL, o);
}

/* After a join failed with ERROR: forgets the kept key of the store
 * STORE_ID when the join made it and FORGET says so, keeping ERROR's
 * message. */
static void join_failed(int error, const char *store_id, bool made_key, bool forget)
{
	char *msg;

	if (!made_key || !forget || !store_id || !*store_id)
		return;
	msg = strdup(dsync_error_last());
	dsync_passphrase_forget(store_id);
	if (msg)
		dsync_error_set(error, "%s", msg);
	free(msg);
}

int dsync_join_finish(dsync_sync_result *r, dsync_folder *f, const char *join_name, bool made_key,
		       const dsync_sync_options *o)
{
	sync_remotes all = { 0 };
	sync_remote **sel = NULL;
	size_t n;
	int error;

	if ((error = join_rounds(r, f, join_name, NULL, o)) == DSYNC_ECORRUPT && made_key) {
		char *msg = strdup(dsync_error_last());

		if (dsync_remote_config_read(&all, f) == 0 &&
		    dsync_remote_pick(&sel, &n, &all, join_name, f) == 0)
			join_failed(error, sel[0]->store_id, made_key, true);
		if (msg)
			dsync_error_set(error, "%s", msg);
		free(msg);
	}
	/* the killed join may have been cut off before it registered the
	 * folder for the daemon, as join_again's path knows too */
	if (error == 0 && (error = dsync_folder_register(dsync_folder_root(f))) == 0)
		r->join_finished = true;
	free(sel);
	dsync_remote_config_dispose(&all);
	return error;
}

/* A join into F, a folder that has remotes ALL or history already: a round
 * with the remote whose store is the one at URL (a join stopped just as it
 * ended, say), as 'dsync sync' does; another store is refused. */
static int join_again(dsync_sync_result *r, dsync_folder *f, const sync_remotes *all, const char *url,
		      const dsync_sync_options *o)
{
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	const char *joined = NULL;
	char folded[DSYNC_RELAY_GROUP_MAX + 1], theirs[DSYNC_RELAY_GROUP_MAX + 1];
	size_t i;
	int error;

	/* a relay's group is known by its name (opening it needs the keys) */
	if (dsync_transport_is_relay(url)) {
		if (!o->relay_group || dsync_relay_group_fold(folded, o->relay_group) < 0)
			return dsync_error_set(DSYNC_EUSAGE, "%s is a relay: name the group with --group NAME", url);
		for (i = 0; i < all->size; i++)
			if (all->ptr[i].group && dsync_relay_group_fold(theirs, all->ptr[i].group) == 0 &&
			    strcmp(theirs, folded) == 0)
				joined = all->ptr[i].name;
		dsync_error_clear();
		goto found;
	}
	if ((error = dsync_conn_transport_open(&bs, url, false, NULL, NULL, o)) < 0 ||
	    (error = dsync_store_open(&st, bs)) < 0)
		goto out;
	for (i = 0; i < all->size; i++)
		if (all->ptr[i].store_id && strcmp(all->ptr[i].store_id, st->id) == 0)
			joined = all->ptr[i].name;
found:
	if (joined)
		error = dsync_sync(r, f, joined, DSYNC_SYNC_ALL, o);
	else
		error = dsync_error_set(DSYNC_EEXISTS, "'%s' is already a dsync folder: add the store there with "
					"'dsync remote add NAME %s'", dsync_folder_root(f), url);
out:
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	return error;
}

/* Undoes a join that failed with ERROR before its first fetch was through
 * (it made nothing the user needs): F's .dsync goes, only it (files put in
 * the folder meanwhile stay), the folder too when the join made it
 * (!EXISTED) and it is empty; F is freed.  ERROR's message is kept. */
static void join_unmake(int error, dsync_folder *f, bool existed)
{
	char *abs = strdup(dsync_folder_root(f)), *msg = strdup(dsync_error_last());
	dsync_buf d = DSYNC_BUF_INIT;

	dsync_folder_free(f);
	if (abs) {
		dsync_folder_unregister(abs);
		if (dsync_buf_printf(&d, "%s/" DSYNC_DIR, abs) == 0)
			dsync_path_remove(d.ptr, true);
		if (!existed)
			rmdir(abs);
	}
	if (msg)
		dsync_error_set(error, "%s", msg);
	free(msg);
	free(abs);
	dsync_buf_dispose(&d);
}

/* Whether the folder ROOT (resolved) is itself a dsync folder: *F open then. */
static int open_if_root(dsync_folder **f, const char *dir)
{
	char *real = realpath(dir, NULL);
	int error = 0;

	*f = NULL;
	if (!real)
		return 0;
	if (dsync_folder_open(f, real) < 0 || strcmp(dsync_folder_root(*f), real) != 0) {
		dsync_folder_free(*f);
		*f = NULL;
	} else {
		error = dsync_folder_repo(*f);
	}
	free(real);
	dsync_error_clear();
	return error;
}

/* Opens the store at URL into *BS and *ST and unlocks it: with the key
 * kept for it, else with the passphrase (*MADE_KEY then: the join keeps
 * the key once the folder is made). */
static int open_store(dsync_blobstore **bs, dsync_store **st, bool *made_key, const char *url, const sync_relay *k,
		      const dsync_sync_options *o)
{
	char *pass = NULL;
	bool found;
	int error;

	if ((error = dsync_conn_transport_open(bs, url, false, NULL, k, o)) < 0 ||
	    (error = dsync_store_open(st, *bs)) < 0 || (error = dsync_passphrase_unlock_kept(*st, &found)) < 0 ||
	    found)
		return error;
	/* a relay's passphrase, asked already, is the store's too */
	if (k && (pass = strdup(k->pass)) == NULL)
		return dsync_error_oom();
	if ((k || (error = dsync_passphrase_ask(&pass, o, DSYNC_PASSPHRASE_CURRENT, (*bs)->url)) == 0) &&
	    (error = dsync_store_unlock(*st, pass)) == 0)
		*made_key = true;
	dsync_passphrase_free(pass);
	return error;
}

/* Lets this device (F's) into the relay group K opened: its pair (the one
 * kept, else a new one) registered with ADMIT, then the token and key kept
 * for the rounds. */
static int relay_admit(sync_relay *k, dsync_folder *f, const char *url, const dsync_sync_options *o)
{
	dsync_blobstore *bs = NULL;
	int error;

	if ((error = dsync_relay_keys_set_device(k, dsync_folder_device_id(f))) < 0)
		return error;
	k->c.admit = k->admit;
	error = dsync_conn_transport_open(&bs, url, false, NULL, k, o);
	dsync_blobstore_free(bs);
	return error < 0 ? error : dsync_relay_keys_save(k);
}

/* A join cut off in F with its remote PENDING (one of ALL) goes on only
 * with the store it began with: ST. */
static int same_store(dsync_folder *f, const sync_remotes *all, const char *pending, const dsync_store *st)
{
	size_t i;

	for (i = 0; i < all->size; i++)
		if (strcmp(all->ptr[i].name, pending) == 0 && all->ptr[i].store_id &&
		    strcmp(all->ptr[i].store_id, st->id) != 0)
			return dsync_error_set(DSYNC_EEXISTS, "'%s' is half-way through joining %s, another store: "
					       "run 'dsync join %s \"%s\"' to finish that", dsync_folder_root(f),
					       all->ptr[i].url, all->ptr[i].url, dsync_folder_root(f));
	return 0;
}

int dsync_join(dsync_folder **out, dsync_sync_result *r, const char *url, const char *dir,
	       const char *remote_name, const char *device_name, const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	dsync_folder *f = NULL;
	sync_remotes all = { 0 };
	join_setup j = { 0 };
	char *pending = NULL, store_id[33] = "", device[DSYNC_DEVICE_NAME_MAX + 1], q[DSYNC_QUOTE_SIZE];
	bool existed = true, made_folder = false, fetched = false, resumed = false, group_new = false;
	sync_relay k = { 0 }, *relay = NULL;
	dsync_stage stage;
	int error;

	*out = NULL;
	memset(r, 0, sizeof(*r));
	if (!o)
		o = &defaults;
	if (!remote_name)
		remote_name = "origin";
	if (!dsync_remote_name_ok(remote_name))
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a remote name (letters, digits, '-', '_', '.')",
				       dsync_quote(q, remote_name));
	/* a bad device name is refused before the passphrase is asked for */
	if ((error = dsync_device_name_pick(device, device_name)) < 0)
		return error;
	/* a folder an earlier join was cut off in: finished now */
	if ((error = open_if_root(&f, dir ? dir : ".")) < 0)
		return error;
	if (f) {
		if ((error = dsync_join_pending(&pending, &j.made_key, f)) < 0 ||
		    (error = dsync_remote_config_read(&all, f)) < 0)
			goto out;
		if (pending) {
			remote_name = pending;
		} else if (all.size > 0 || !head_unborn(f)) {
			if ((error = join_again(r, f, &all, url, o)) == 0) {
				*out = f;
				f = NULL;
			}
			goto out;
		}
		/* else a folder with neither history nor remote (an init or an
		 * earlier version's join cut off): joined as it is */
		resumed = true;
	} else if (!dir && !dir_is_empty(".", NULL, &existed)) {
		/* the current folder by default only when it is empty: a folder
		 * that has files is merged with the store's, which is worth
		 * asking for by name */
		return dsync_error_set(DSYNC_EUSAGE, "the current folder is not empty: name the folder to join into "
				       "(dsync join URL DIR; files already there are kept and merged)");
	}
	if (!dir)
		dir = ".";
	existed = access(dir, F_OK) == 0;
	/* a relay: the passphrase makes the group's token; the device is let
	 * in (ADMIT) once it has an id, after the store opened */
	if (dsync_transport_is_relay(url)) {
		if ((error = dsync_remote_relay_begin(&k, &group_new, url, NULL, false, o)) < 0)
			goto out;
		/* reads only until the folder exists: no device id yet, none
		 * registered, nothing signed (the transport wants one's shape) */
		k.c.admit = NULL;
		memset(k.c.device_id, '0', 32);
		relay = &k;
		j.group = o->relay_group;
		j.ca_file = k.ca_file;
	} else if (o->relay_group || o->relay_ca_file) {
		error = dsync_error_set(DSYNC_EUSAGE, "--group and --ca-file are for relays (http:// or https://), "
					"not %s", url);
		goto out;
	}
	/* the passphrase first: nothing is made until the store opens */
	if ((error = open_store(&bs, &st, &j.made_key, url, relay, o)) < 0)
		goto out;
	j.remote_name = remote_name;
	j.url = bs->url;
	j.st = st;
	memcpy(store_id, st->id, sizeof(store_id));
	if (pending && (error = same_store(f, &all, pending, st)) < 0)
		goto out;
	if (!f) {
		if ((error = dsync_folder_init_prepared(&f, dir, device_name, write_join, &j)) < 0)
			goto out;
		made_folder = true;
	} else if ((error = join_record(f, &j, o)) < 0 ||
		   /* the killed join may have been cut off before it registered */
		   (error = dsync_folder_register(dsync_folder_root(f))) < 0) {
		goto out;
	}
	if (j.made_key && (error = dsync_passphrase_keep(st)) < 0)
		goto out;
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	st = NULL;
	bs = NULL;
	if (relay && (error = relay_admit(&k, f, url, o)) < 0)
		goto out;
	/* the files are renamed from the staging, not read again */
	dsync_worktree_stage_begin(&stage, f);
	error = join_rounds(r, f, remote_name, &fetched, o);
	dsync_worktree_stage_end(&stage);
	if (error < 0)
		goto out;
	r->join_finished = resumed;
	*out = f;
	f = NULL;
out:
	if (error < 0 && f) {
		/* a store that failed verification, or a join that leaves
		 * nothing behind, leaves no key behind either */
		join_failed(error, store_id, j.made_key, error == DSYNC_ECORRUPT || (made_folder && !fetched));
		if (made_folder && !fetched) {
			/* nor the relay token of a device id that is gone */
			if (relay) {
				char *msg = strdup(dsync_error_last());

				dsync_relay_keys_forget(&k);
				if (msg)
					dsync_error_set(error, "%s", msg);
				free(msg);
			}
			join_unmake(error, f, existed);
			f = NULL;
		}
	}
	free(pending);
	dsync_relay_keys_dispose(&k);
	dsync_remote_config_dispose(&all);
	dsync_folder_free(f);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	return error;
}

/* The public round (include/dsync/sync.h): a round that changes the folder
 * or the store first finishes a join cut off in it.  It lives here, beside
 * the join it finishes, so that the round (round.c) calls nothing of the
 * join's and the two files make no circle. */
int dsync_sync(dsync_sync_result *out, dsync_folder *f, const char *remote_name, unsigned what,
	       const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result rest;
	char *pending = NULL;
	bool made_key;
	int error;

	memset(out, 0, sizeof(*out));
	if (!o)
		o = &defaults;
	/* a round that changes the folder or the store first finishes a join
	 * cut off in it (a fetch changes neither) */
	if (!(what & (DSYNC_SYNC_MERGE | DSYNC_SYNC_PUSH)))
		return dsync_sync_round(out, f, remote_name, what, o);
	if ((error = dsync_folder_repo(f)) < 0 || (error = dsync_join_pending(&pending, &made_key, f)) < 0)
		return error;
	if (pending && (!remote_name || strcmp(remote_name, pending) == 0))
		error = dsync_join_finish(out, f, pending, made_key, o);
	free(pending);
	if (error < 0)
		return error;
	/* a mirror's failure comes after the rest of the round went: its
	 * results count */
	error = dsync_sync_round(&rest, f, remote_name, what, o);
	dsync_sync_add_results(out, &rest);
	return error;
}

