/*
 * A connection to one remote's store (DESIGN.md section 4; docs/sync.md):
 * the store opened and unlocked, the devices it lists and each one's newest
 * manifest, temporary files, progress.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "core/sync/sync_internal.h"
#include "transport/transport.h"

static void devs_dispose(sync_conn *c)
{
	size_t i;

	for (i = 0; i < c->devs.size; i++) {
		dsync_array_dispose(c->devs.ptr[i].older);
		if (c->mans)
			dsync_manifest_dispose(&c->mans[i]);
	}
	dsync_array_dispose(c->devs);
	free(c->mans);
	free(c->have_man);
	c->mans = NULL;
	c->have_man = NULL;
}

void dsync_conn_close(sync_conn *c)
{
	devs_dispose(c);
	dsync_manifest_dispose(&c->pushed);
	c->pushed_len = 0;
	dsync_state_packset_dispose(&c->have);
	dsync_store_free(c->st);
	dsync_blobstore_free(c->bs);
	c->st = NULL;
	c->bs = NULL;
}

static int ssh_mode(int *out, const char *v, const char *from)
{
	if (!v || !*v || strcmp(v, "auto") == 0)
		*out = DSYNC_SSH_AUTO;
	else if (strcmp(v, "openssh") == 0)
		*out = DSYNC_SSH_OPENSSH;
	else if (strcmp(v, "builtin") == 0)
		*out = DSYNC_SSH_BUILTIN;
	else
		return dsync_error_set(DSYNC_EUSAGE, "%s is '%s': give auto, openssh or builtin", from, v);
	return 0;
}

int dsync_conn_transport_open(dsync_blobstore **bs, const char *url, bool create, const sync_remote *r,
			      const sync_relay *k, const dsync_sync_options *o)
{
	dsync_transport_opts t = { 0 };
	dsync_relay_creds creds;
	const char *env = getenv("DSYNC_SSH");
	char from[160], hint[200];
	int error;

	t.interactive = o->prompt != NULL;
	t.prompt = o->prompt;
	t.payload = o->payload;
	t.warn = o->warn;
	t.ssh_command = r ? r->ssh_command : NULL;
	if (env && *env)
		error = ssh_mode(&t.ssh_mode, env, "DSYNC_SSH");
	else {
		snprintf(from, sizeof(from), "remote.%s.ssh", r ? r->name : "");
		error = ssh_mode(&t.ssh_mode, r ? r->ssh : NULL, from);
	}
	if (error < 0)
		return error;
	t.rate_limit = o->rate_limit == DSYNC_RATE_UNLIMITED ? 0 : o->rate_limit;
	t.connect_timeout_ms = o->connect_timeout_ms;
	if (!o->rate_limit && r && r->limit_rate && dsync_rate_parse(r->limit_rate, &t.rate_limit) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "remote.%s.limitRate is '%s': give e.g. 500k, 2M or 20mbit",
				       r->name, r->limit_rate);
	if (dsync_transport_is_relay(url)) {
		if (!k)
			return dsync_error_set(DSYNC_EUSAGE, "%s is a relay: name its group (--group NAME)", url);
		creds = k->c;
		creds.remote_name = r ? r->name : NULL;
		/* a kept token refused: the group's passphrase changed elsewhere? */
		if (r && !k->pass) {
			snprintf(hint, sizeof(hint), "if its passphrase was changed on another device, give the new "
				 "one here: dsync remote passphrase %s", r->name);
			creds.refused_hint = hint;
		}
		t.relay = &creds;
	}
	error = dsync_transport_open(bs, url, create, &t);
	sodium_memzero(&creds, sizeof(creds));
	return error;
}


int dsync_conn_open(sync_conn *c, dsync_folder *f, sync_remote *r, const dsync_sync_options *o,
		    dsync_sync_result *res)
{
	sync_relay k = { 0 };
	int error;

	memset(c, 0, sizeof(*c));
	c->f = f;
	c->r = r;
	c->o = o;
	c->res = res;
	if (dsync_transport_is_relay(r->url) && (error = dsync_relay_keys_for_remote(&k, f, r, o)) < 0)
		return error;
	if ((error = dsync_conn_transport_open(&c->bs, r->url, false, r, r->group ? &k : NULL, o)) < 0 ||
	    (error = dsync_store_open(&c->st, c->bs)) < 0)
		goto fail;
	/* let in again with the passphrase: kept now */
	if (k.pass && (error = dsync_relay_keys_save(&k)) < 0)
		goto fail;
	if (r->store_id && strcmp(r->store_id, c->st->id) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT,
					"the store at %s is not the one added as '%s' (store %s, expected %s): dsync-store was replaced",
					c->bs->url, r->name, c->st->id, r->store_id);
		goto fail;
	}
	if ((error = dsync_passphrase_unlock(c->st, k.pass, o)) < 0 ||
	    (error = dsync_state_packset_read(&c->have, f, r->name, "packs")) < 0)
		goto fail;
	snprintf(c->tmpdir, sizeof(c->tmpdir), "%s", f->gitdir);
	dsync_relay_keys_dispose(&k);
	return 0;
fail:
	dsync_relay_keys_dispose(&k);
	dsync_conn_close(c);
	return error;
}

void dsync_conn_progress(sync_conn *c, const char *what, size_t objects, size_t objects_total, uint64_t bytes,
			 uint64_t bytes_total, bool done)
{
	dsync_transfer t = { what, c->r->name, objects, objects_total, bytes, bytes_total, done };

	if (c->o->progress)
		c->o->progress(&t, c->o->payload);
}

static int collect_device(const char *name, const dsync_blobstore_info *info, void *payload)
{
	sync_conn *c = payload;
	sync_device *d;
	char dev[33];
	uint64_t seq;
	size_t i;

	if (dsync_manifest_parse_name(name, dev, &seq) < 0)
		return 0;   /* not a manifest: not ours to judge here (dsync check reports it) */
	for (i = 0; i < c->devs.size; i++)
		if (strcmp(c->devs.ptr[i].id, dev) == 0)
			break;
	if (i == c->devs.size) {
		sync_device nd = { .newest = seq, .bytes = info ? info->size : 0 };

		memcpy(nd.id, dev, 33);
		return dsync_array_push(c->devs, nd) < 0 ? dsync_error_oom() : 0;
	}
	/* the newest stays apart, the others are listed */
	d = &c->devs.ptr[i];
	d->bytes += info ? info->size : 0;
	if (dsync_array_push(d->older, seq > d->newest ? d->newest : seq) < 0)
		return dsync_error_oom();
	if (seq > d->newest)
		d->newest = seq;
	return 0;
}

/* Reads the newest manifest of device I into c->mans[I]. */
static int read_manifest(sync_conn *c, size_t i)
{
	dsync_buf blob = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT;
	dsync_manifest *m = &c->mans[i];
	int error;

	dsync_manifest_dispose(m);
	dsync_manifest_name(m->blob, sizeof(m->blob), c->devs.ptr[i].id, c->devs.ptr[i].newest);
	memcpy(m->device, c->devs.ptr[i].id, 33);
	m->seq = c->devs.ptr[i].newest;
	if ((error = dsync_blobstore_get_buf(c->bs, m->blob, &blob, DSYNC_MANIFEST_MAX)) < 0)
		goto out;
	if ((error = dsync_manifest_open(&text, c->st, m->blob, (const unsigned char *)blob.ptr, blob.len)) < 0 ||
	    (error = dsync_manifest_parse(m, text.ptr, c->st->id, c->bs->url)) < 0)
		goto out;
	c->have_man[i] = true;
out:
	dsync_buf_dispose(&blob);
	dsync_buf_dispose(&text);
	return error;
}

/* A manifest replaced while we read it: list again, a few times. */
int dsync_conn_read_manifests(sync_conn *c)
{
	int tries, error = 0;
	size_t i;

	for (tries = 0; tries < 4; tries++) {
		devs_dispose(c);
		if ((error = c->bs->list(c->bs, "devices/", collect_device, c)) < 0)
			return error;
		c->mans = calloc(c->devs.size + 1, sizeof(*c->mans));
		c->have_man = calloc(c->devs.size + 1, sizeof(*c->have_man));
		if (!c->mans || !c->have_man)
			return dsync_error_oom();
		for (i = 0; i < c->devs.size; i++)
			if ((error = read_manifest(c, i)) < 0)
				break;
		if (error != DSYNC_ENOTFOUND)
			return error;
	}
	return error;
}

dsync_manifest *dsync_conn_own_manifest(sync_conn *c)
{
	size_t i;

	for (i = 0; i < c->devs.size; i++)
		if (c->have_man[i] && strcmp(c->devs.ptr[i].id, c->f->device_id) == 0)
			return &c->mans[i];
	return NULL;
}

int dsync_conn_temp_file(sync_conn *c, dsync_buf *path)
{
	int fd;

	dsync_buf_truncate(path, 0);
	if (dsync_buf_printf(path, "%s/dsync-tmp-XXXXXX", c->tmpdir) < 0)
		return DSYNC_ERROR;
	if ((fd = mkostemp(path->ptr, O_CLOEXEC)) < 0)
		return dsync_error_sys(errno, "cannot make a temporary file in '%s'", c->tmpdir);
	return fd;
}

void dsync_conn_on_xfer(uint64_t bytes, void *payload)
{
	sync_xfer *x = payload;

	dsync_conn_progress(x->c, x->what, x->objects, 0, x->base + bytes, x->total, false);
}
