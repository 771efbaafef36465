/*
 * A relay remote's credentials (docs/relay-protocol.md sections 2 and 8;
 * docs/relays.md): TOKEN and ADMIT derived from the group's name and the
 * passphrase, the device's ed25519 pair, and the file that keeps the token
 * and the signing key per user, ~/.config/dsync/relay/GROUP-ID/DEVICE-ID
 * (0600: "token HEX64\nsign-key HEX128\n"), so that every later round (the
 * daemon's too) needs no passphrase.  ADMIT is never kept: it exists only
 * while a device joins.
 */
#include "core/base/internal.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/path.h"
#include "core/sync/sync_internal.h"
#include "transport/relay_proto.h"
#include "transport/transport.h"

#define KEYS_FILE_MAX 256

void dsync_relay_keys_dispose(sync_relay *k)
{
	free(k->ca_file);
	free(k->group_typed);
	dsync_passphrase_free(k->pass);
	sodium_memzero(k, sizeof(*k));
}

/* The kept file of K's group and device (MAKE_DIR: its folders made, 0700). */
static int keys_path(dsync_buf *out, const sync_relay *k, bool make_dir)
{
	char *dir = NULL, q[DSYNC_QUOTE_SIZE];
	int error;

	/* both become path components: 32 hex digits each, nothing else */
	if (dsync_relay_hex_parse(NULL, k->c.group_id, 32) < 0 || dsync_relay_hex_parse(NULL, k->c.device_id, 32) < 0)
		return dsync_error_set(DSYNC_ECORRUPT, "the device id '%s' is not 32 hex digits",
				       dsync_quote(q, k->c.device_id));
	if ((error = dsync_config_dir(&dir)) < 0)
		return error;
	error = dsync_buf_printf(out, "%s/relay/%s", dir, k->c.group_id);
	free(dir);
	if (error == 0 && make_dir) {
		mode_t old = umask(077);

		error = dsync_path_mkdirs(out->ptr);
		umask(old);
	}
	return error < 0 ? error : dsync_buf_printf(out, "/%s", k->c.device_id);
}

/* Starts K for GROUP (as typed) and this device (DEVICE_ID, may be "" while
 * a joining device has none yet) and CA_FILE (may be NULL). */
static int keys_begin(sync_relay *k, const char *group, const char *device_id, const char *ca_file)
{
	char folded[DSYNC_RELAY_GROUP_MAX + 1];
	int error;

	memset(k, 0, sizeof(*k));
	if ((error = dsync_relay_group_fold(folded, group)) < 0)
		return error;
	memcpy(k->group, folded, sizeof(k->group));
	if ((k->group_typed = strdup(group)) == NULL)
		return dsync_error_oom();
	k->c.group_name = k->group_typed;
	dsync_relay_group_id(k->c.group_id, folded);
	snprintf(k->c.device_id, sizeof(k->c.device_id), "%s", device_id ? device_id : "");
	if (ca_file && (k->ca_file = strdup(ca_file)) == NULL)
		return dsync_error_oom();
	k->c.ca_file = k->ca_file;
	return 0;
}

/* The LEN hex digits at S (then a line break or the end) into OUT. */
static int hex_field(unsigned char *out, const char *s, size_t len)
{
	char hex[129];
	int error;

	if (strnlen(s, len) != len || (s[len] != '\n' && s[len] != '\0') || len >= sizeof(hex))
		return -1;
	memcpy(hex, s, len);
	hex[len] = '\0';
	error = dsync_relay_hex_parse(out, hex, len);
	sodium_memzero(hex, sizeof(hex));
	return error;
}

/* Parses the kept file's TEXT into K's token and keys. */
static int keys_parse(sync_relay *k, const char *text, const char *path)
{
	const char *sk = strncmp(text, "token ", 6) == 0 ? strchr(text, '\n') : NULL;

	if (!sk || strncmp(sk, "\nsign-key ", 10) != 0 || hex_field(k->c.token, text + 6, 64) < 0 ||
	    hex_field(k->c.sign_sk, sk + 10, 128) < 0)
		return dsync_error_set(DSYNC_ECORRUPT, "'%s' is not a relay key file (\"token HEX64\", \"sign-key "
				       "HEX128\"): remove it and give the passphrase again", path);
	crypto_sign_ed25519_sk_to_pk(k->c.sign_pk, k->c.sign_sk);
	return 0;
}

int dsync_relay_keys_load(sync_relay *k, const char *group, const char *device_id, const char *ca_file)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *text = NULL;
	ssize_t n;
	int error;

	if ((error = keys_begin(k, group, device_id, ca_file)) < 0 || (error = keys_path(&path, k, false)) < 0)
		goto out;
	if ((text = sodium_malloc(KEYS_FILE_MAX)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	if ((n = dsync_path_read_small(path.ptr, text, KEYS_FILE_MAX)) < 0) {
		error = errno == ENOENT ? DSYNC_ENOTFOUND : DSYNC_ERROR;
		if (error == DSYNC_ENOTFOUND)
			dsync_error_clear();
		goto out;
	}
	error = keys_parse(k, text, path.ptr);
out:
	if (text) {
		sodium_memzero(text, KEYS_FILE_MAX);
		sodium_free(text);
	}
	dsync_buf_dispose(&path);
	if (error < 0) {
		dsync_relay_keys_dispose(k);
		memset(k, 0, sizeof(*k));
	}
	return error;
}

int dsync_relay_keys_from_pass(sync_relay *k, const char *group, const char *pass, const char *device_id,
			       const char *ca_file)
{
	int error;

	if ((error = keys_begin(k, group, NULL, ca_file)) < 0 ||
	    (error = dsync_relay_derive(k->c.token, k->admit, k->group, pass)) < 0)
		goto fail;
	k->c.admit = k->admit;
	if ((k->pass = strdup(pass)) == NULL) {
		error = dsync_error_oom();
		goto fail;
	}
	if (device_id && *device_id && (error = dsync_relay_keys_set_device(k, device_id)) < 0)
		goto fail;
	return 0;
fail:
	dsync_relay_keys_dispose(k);
	return error;
}

/* The pair kept for this device stays: the relay holds its public key
 * already (a repeated join), and another one would be refused. */
int dsync_relay_keys_set_device(sync_relay *k, const char *device_id)
{
	sync_relay kept;
	int error;

	snprintf(k->c.device_id, sizeof(k->c.device_id), "%s", device_id);
	if ((error = dsync_relay_keys_load(&kept, k->group, device_id, NULL)) == 0) {
		memcpy(k->c.sign_sk, kept.c.sign_sk, sizeof(k->c.sign_sk));
		memcpy(k->c.sign_pk, kept.c.sign_pk, sizeof(k->c.sign_pk));
		dsync_relay_keys_dispose(&kept);
		return 0;
	}
	if (error != DSYNC_ENOTFOUND)
		return error;
	crypto_sign_keypair(k->c.sign_pk, k->c.sign_sk);
	return 0;
}

int dsync_relay_keys_save(const sync_relay *k)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *text = sodium_malloc(KEYS_FILE_MAX);
	size_t len;
	int error;

	if (!text)
		return dsync_error_oom();
	if ((error = keys_path(&path, k, true)) < 0)
		goto out;
	memcpy(text, "token ", 6);
	dsync_relay_hex(text + 6, k->c.token, 32);
	memcpy(text + 70, "\nsign-key ", 10);
	dsync_relay_hex(text + 80, k->c.sign_sk, 64);
	text[208] = '\n';
	len = 209;
	if ((error = dsync_path_write_atomic(path.ptr, text, len, 0600, true)) < 0)
		dsync_error_set(error, "cannot keep the relay's token in '%s': %s", path.ptr, strerror(errno));
out:
	sodium_memzero(text, KEYS_FILE_MAX);
	sodium_free(text);
	dsync_buf_dispose(&path);
	return error;
}

int dsync_relay_keys_forget(const sync_relay *k)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if ((error = keys_path(&path, k, false)) == 0 && unlink(path.ptr) < 0 && errno != ENOENT)
		error = dsync_error_sys(errno, "cannot remove '%s'", path.ptr);
	dsync_buf_dispose(&path);
	return error;
}

int dsync_relay_keys_for_remote(sync_relay *k, dsync_folder *f, const sync_remote *r, const dsync_sync_options *o)
{
	char *pass = NULL;
	int error;

	memset(k, 0, sizeof(*k));
	if (!r->group || !*r->group)
		return dsync_error_set(DSYNC_EUSAGE, "remote '%s' is a relay but names no group: set remote.%s.group "
				       "(or remove it and add it again with --group)", r->name, r->name);
	if ((error = dsync_relay_keys_load(k, r->group, f->device_id, r->ca_file)) != DSYNC_ENOTFOUND)
		return error;
	/* none kept: the passphrase lets this device in (one registered
	 * with a key since lost is refused: device-exists) */
	if ((error = dsync_passphrase_ask(&pass, o, DSYNC_PASSPHRASE_CURRENT, r->url)) < 0)
		return error;
	error = dsync_relay_keys_from_pass(k, r->group, pass, f->device_id, r->ca_file);
	dsync_passphrase_free(pass);
	return error;
}

/* ---- quota: the warning at 90 %, once a day ------------------------------------- */

#define QUOTA_WARN_PERCENT DSYNC_QUOTA_FULL_PERCENT
#define QUOTA_WARN_EVERY (24 * 3600)

void dsync_relay_quota_check(dsync_blobstore *bs, const dsync_folder *f, const sync_remote *r,
			     const dsync_sync_options *o)
{
	dsync_buf last = DSYNC_BUF_INIT;
	uint64_t used, quota;
	char u[32], q[32], msg[400], stamp[32];
	long long then;
	time_t now = time(NULL);
	int n;

	if (!bs->usage || !o->warn || bs->usage(bs, &used, &quota) < 0 || quota == 0 ||
	    (double)used < (double)quota * QUOTA_WARN_PERCENT / 100) {
		dsync_error_clear();
		return;
	}
	/* once a day: the time of the last warning is kept */
	if (dsync_state_read(&last, f, r->name, "quota-warned") == 0 && last.ptr &&
	    sscanf(last.ptr, "%lld", &then) == 1 && now >= (time_t)then && now - (time_t)then < QUOTA_WARN_EVERY) {
		dsync_buf_dispose(&last);
		return;
	}
	dsync_buf_dispose(&last);
	n = (int)(used >= quota ? 100 : used * 100.0 / (double)quota);
	snprintf(msg, sizeof(msg), "relay '%s' is %d%% full (%s of %s); ask its operator for more space or remove old "
		 "versions", r->name, n, dsync_size_text(u, sizeof(u), used), dsync_size_text(q, sizeof(q), quota));
	o->warn(msg, o->payload);
	snprintf(stamp, sizeof(stamp), "%lld\n", (long long)now);
	if (dsync_state_write(f, r->name, "quota-warned", stamp, strlen(stamp)) < 0)
		dsync_error_clear();
}
