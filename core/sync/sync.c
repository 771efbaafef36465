/*
 * Remotes and the sync round (DESIGN.md sections 4 and 5; docs/sync.md and
 * docs/store-format.md): which remotes a folder has, fetching other devices'
 * heads from an encrypted store, merging them, pushing this device's head,
 * joining a store from a new device, changing its passphrase and checking it.
 *
 * Local state per remote, in .dsync/dsync-remotes/NAME/:
 *   seen   "DEVICE SEQ HASH" per other device: the newest manifest seen and
 *          the hash of its text (a lower SEQ later is a rollback, the same SEQ
 *          with another text a fork)
 *   seq    the next sequence number this device will use, made durable before
 *          a manifest with it is uploaded
 *   packs  the packs whose objects this folder holds, one name a line
 */
#include "core/base/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <sodium.h>

#include "core/worktree/apply.h"
#include "core/base/file.h"
#include "core/base/oidset.h"
#include "core/base/path.h"
#include "core/folder/folder.h"
#include "core/store/store.h"
#include "core/store/thinpack.h"
#include "core/history/verify.h"
#include "dsync/snapshot.h"
#include "dsync/sync.h"
#include "merge/merge.h"
#include "transport/blobstore.h"

#define STATE_DIR "dsync-remotes"
#define SMALL_PACK ((uint64_t)16 << 20)   /* packs up to this size get consolidated */
#define MAX_SMALL_PACKS 32
#define RETIRE_GRACE 3600                 /* seconds a retired pack stays for readers in flight */
#define SEQ_DIGITS 16

/* Sets the last error to CODE, with PREFIX (may be "") before the message
 * already there (copied first: the message buffer is the one written). */
static int error_rewrap(int code, const char *prefix)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", dsync_error_last());
	return dsync_error_set(code, "%s%s", prefix, msg);
}

/* ---- remotes in the folder's config ------------------------------------ */

typedef struct remote {
	char *name, *url, *store_id;
} remote;

typedef struct remotes {
	remote *v;
	size_t n;
} remotes;

static void remotes_dispose(remotes *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].url);
		free(r->v[i].store_id);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static bool remote_name_ok(const char *name)
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
	return strcmp(((const remote *)a)->name, ((const remote *)b)->name);
}

static int config_of(git_config **cfg, dsync_folder *f)
{
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((err = git_repository_config(cfg, f->repo)) < 0)
		return dsync_error_git(err, "cannot read the config of '%s'", f->root);
	return 0;
}

static int get_string(char **out, git_config *cfg, const char *fmt, const char *name)
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

static int remotes_read(remotes *out, dsync_folder *f)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *e;
	int err, error;

	memset(out, 0, sizeof(*out));
	if ((error = config_of(&cfg, f)) < 0)
		return error;
	/* not git_config_iterator_glob_new: libgit2 1.5 leaks a regex's match
	 * data for every name it doesn't match */
	if ((err = git_config_iterator_new(&it, cfg)) < 0) {
		error = dsync_error_git(err, "cannot read the remotes of '%s'", f->root);
		goto out;
	}
	while ((err = git_config_next(&e, it)) == 0) {
		size_t len = strlen(e->name);
		remote *v, *r;

		if (len <= 11 || strncmp(e->name, "remote.", 7) != 0 || strcmp(e->name + len - 4, ".url") != 0)
			continue;
		if ((v = realloc(out->v, (out->n + 1) * sizeof(*v))) == NULL) {
			error = dsync_error_oom();
			goto out;
		}
		out->v = v;
		r = &out->v[out->n++];
		memset(r, 0, sizeof(*r));
		r->name = strndup(e->name + 7, len - 11);
		r->url = strdup(e->value);
		if (!r->name || !r->url) {
			error = dsync_error_oom();
			goto out;
		}
		if ((error = get_string(&r->store_id, cfg, "remote.%s.storeId", r->name)) < 0 &&
		    error != DSYNC_ENOTFOUND)
			goto out;
		error = 0;
	}
	if (err != GIT_ITEROVER) {
		error = dsync_error_git(err, "cannot read the remotes of '%s'", f->root);
		goto out;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_remote);
	error = 0;
out:
	git_config_iterator_free(it);
	git_config_free(cfg);
	if (error < 0)
		remotes_dispose(out);
	return error;
}

bool dsync_folder_has_remotes(dsync_folder *f)
{
	remotes all;
	bool any;

	if (remotes_read(&all, f) < 0)
		return false;
	any = all.n > 0;
	remotes_dispose(&all);
	return any;
}

/* Picks the remotes NAME names (NULL: all) into SEL (pointers into ALL). */
static int remotes_pick(remote ***sel, size_t *n, remotes *all, const char *name, const dsync_folder *f)
{
	size_t i;

	*sel = calloc(all->n + 1, sizeof(**sel));
	*n = 0;
	if (!*sel)
		return dsync_error_oom();
	for (i = 0; i < all->n; i++)
		if (!name || strcmp(all->v[i].name, name) == 0)
			(*sel)[(*n)++] = &all->v[i];
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

/* ---- per-remote state files --------------------------------------------- */

static int state_path(dsync_buf *out, const dsync_folder *f, const char *remote_name, const char *file)
{
	dsync_buf_truncate(out, 0);
	return dsync_buf_printf(out, "%s/" STATE_DIR "/%s%s%s", f->gitdir, remote_name, file ? "/" : "",
				file ? file : "");
}

/* The largest state file read (a pack name a line). */
#define STATE_MAX (64 * 1024 * 1024)

/* Reads state file FILE of REMOTE whole into OUT ("" when missing): without
 * blocking, a regular file only. */
static int state_read(dsync_buf *out, const dsync_folder *f, const char *remote_name, const char *file)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	dsync_buf_truncate(out, 0);
	if ((error = dsync_buf_puts(out, "")) < 0 || (error = state_path(&path, f, remote_name, file)) < 0)
		goto out;
	if ((error = dsync_file_read(out, path.ptr, STATE_MAX, 0)) == DSYNC_ENOTFOUND)
		error = 0;
out:
	dsync_buf_dispose(&path);
	return error;
}

/* Replaces state file FILE of REMOTE with TEXT, durably. */
static int state_write(const dsync_folder *f, const char *remote_name, const char *file, const char *text,
		       size_t len)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if ((error = state_path(&path, f, remote_name, NULL)) == 0 && (error = dsync_path_mkdirs(path.ptr)) == 0 &&
	    (error = state_path(&path, f, remote_name, file)) == 0)
		error = dsync_path_write_atomic(path.ptr, text, len, 0644, true);
	dsync_buf_dispose(&path);
	return error;
}

/* A set of strings (pack names), kept sorted for lookups. */
typedef struct strset {
	char **v;
	size_t n, cap;
	bool dirty;
} strset;

static void strset_dispose(strset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool strset_has(const strset *s, const char *x)
{
	return s->n && bsearch(&x, s->v, s->n, sizeof(*s->v), cmp_strp) != NULL;
}

static int strset_add(strset *s, const char *x)
{
	size_t i;

	if (strset_has(s, x))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return dsync_error_oom();
		s->v = v;
		s->cap = cap;
	}
	for (i = s->n; i > 0 && strcmp(s->v[i - 1], x) > 0; i--)
		s->v[i] = s->v[i - 1];
	if ((s->v[i] = strdup(x)) == NULL)
		return dsync_error_oom();
	s->n++;
	s->dirty = true;
	return 0;
}

static int set_read(strset *have, const dsync_folder *f, const char *remote_name, const char *file)
{
	dsync_buf text = DSYNC_BUF_INIT;
	char *line, *save = NULL;
	int error;

	memset(have, 0, sizeof(*have));
	if ((error = state_read(&text, f, remote_name, file)) < 0)
		goto out;
	for (line = strtok_r(text.ptr, "\n", &save); line && error == 0; line = strtok_r(NULL, "\n", &save))
		error = strset_add(have, line);
	have->dirty = false;
out:
	dsync_buf_dispose(&text);
	return error;
}

static int set_write(strset *have, const dsync_folder *f, const char *remote_name, const char *file)
{
	dsync_buf text = DSYNC_BUF_INIT;
	size_t i;
	int error = 0;

	if (!have->dirty)
		return 0;
	for (i = 0; i < have->n && error == 0; i++)
		error = dsync_buf_printf(&text, "%s\n", have->v[i]);
	if (error == 0)
		error = state_write(f, remote_name, file, text.ptr ? text.ptr : "", text.len);
	if (error == 0)
		have->dirty = false;
	dsync_buf_dispose(&text);
	return error;
}

/* ---- manifests ------------------------------------------------------------ */

typedef struct pack_ref {
	char name[DSYNC_HEX256_SIZE];
	uint64_t size;     /* the blob's size */
	int64_t time;      /* when it was pushed: a pack's delta bases are in
			      packs pushed before it (or in itself) */
	char *from;        /* consolidated from these packs ("A,B,..."), or NULL */
} pack_ref;

typedef struct retired_ref {
	char name[DSYNC_HEX256_SIZE];
	int64_t since;
} retired_ref;

typedef struct manifest {
	char blob[96];                 /* devices/ID/SEQ */
	char device[33];
	uint64_t seq;
	int64_t time;
	bool has_head;
	git_oid head;
	char hash[DSYNC_HEX256_SIZE];                 /* of the text: forks */
	pack_ref *packs;
	size_t npacks;
	retired_ref *retired;
	size_t nretired;
} manifest;

static void manifest_dispose(manifest *m)
{
	size_t i;

	for (i = 0; i < m->npacks; i++)
		free(m->packs[i].from);
	free(m->packs);
	free(m->retired);
	memset(m, 0, sizeof(*m));
}

static bool is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0' || s[n] == ' ' || s[n] == '\n' || s[n] == '/' || s[n] == ',';
}

static int bad_manifest(const manifest *m, const char *url, const char *what)
{
	return dsync_error_set(DSYNC_ECORRUPT, "%s in %s is malformed (%s)", m->blob, url, what);
}

static int add_pack(manifest *m, const char *name, uint64_t size, int64_t when, const char *from)
{
	pack_ref *v = realloc(m->packs, (m->npacks + 1) * sizeof(*v));

	if (!v)
		return dsync_error_oom();
	m->packs = v;
	memset(&v[m->npacks], 0, sizeof(*v));
	memcpy(v[m->npacks].name, name, 64);
	v[m->npacks].size = size;
	v[m->npacks].time = when;
	if (from && (v[m->npacks].from = strdup(from)) == NULL)
		return dsync_error_oom();
	m->npacks++;
	return 0;
}

static int add_retired(manifest *m, const char *name, int64_t since)
{
	retired_ref *v = realloc(m->retired, (m->nretired + 1) * sizeof(*v));

	if (!v)
		return dsync_error_oom();
	m->retired = v;
	memset(&v[m->nretired], 0, sizeof(*v));
	memcpy(v[m->nretired].name, name, 64);
	v[m->nretired].since = since;
	m->nretired++;
	return 0;
}

/* A manifest text's hash as the seen state records it (65 bytes: hex). */
static void text_hash(char *hex, const char *text, size_t len)
{
	unsigned char hash[32];

	crypto_generichash(hash, 32, (const unsigned char *)text, len, NULL, 0);
	sodium_bin2hex(hex, 65, hash, 32);
}

/* Whether S is "NAME,NAME,..." of 64 hex digits each. */
static bool pack_list_ok(const char *s)
{
	for (;;) {
		if (strlen(s) < 64 || !is_hex(s, 64))
			return false;
		s += 64;
		if (!*s)
			return true;
		if (*s++ != ',')
			return false;
	}
}

/* Parses manifest TEXT of blob M->blob (device and seq already set from the
 * name) and checks that it says what its name says. */
static int manifest_parse(manifest *m, const char *text, const char *store_id, const char *url)
{
	char *copy = strdup(text), *line, *save = NULL;
	int error = 0, field = 0;
	bool ended = false;

	if (!copy)
		return dsync_error_oom();
	text_hash(m->hash, text, strlen(text));
	for (line = strtok_r(copy, "\n", &save); line && error == 0; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long u;
		long long t;
		char name[80];
		int n = 0;

		if (ended) {
			error = bad_manifest(m, url, "text after its end");
		} else if (field == 0) {
			if (strcmp(line, "dsync-manifest 1") != 0)
				error = bad_manifest(m, url, "unknown version");
			field++;
		} else if (field == 1) {
			if (strncmp(line, "store ", 6) != 0 || strcmp(line + 6, store_id) != 0)
				error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s belongs to another store", m->blob, url);
			field++;
		} else if (field == 2) {
			if (strncmp(line, "device ", 7) != 0 || strcmp(line + 7, m->device) != 0)
				error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s names another device", m->blob, url);
			field++;
		} else if (field == 3) {
			if (sscanf(line, "seq %llu%n", &u, &n) != 1 || line[n] || u != m->seq)
				error = dsync_error_set(DSYNC_ECORRUPT, "%s in %s has another sequence number", m->blob,
							url);
			field++;
		} else if (field == 4) {
			if (sscanf(line, "time %lld%n", &t, &n) != 1 || line[n])
				error = bad_manifest(m, url, "time");
			m->time = t;
			field++;
		} else if (field == 5) {
			if (strcmp(line, "head none") == 0)
				m->has_head = false;
			else if (strncmp(line, "head ", 5) == 0 && strlen(line) == 45 && is_hex(line + 5, 40) &&
				 git_oid_fromstr(&m->head, line + 5) == 0)
				m->has_head = true;
			else
				error = bad_manifest(m, url, "head");
			field++;
		} else if (strcmp(line, "end") == 0) {
			ended = true;
		} else if (strncmp(line, "pack ", 5) == 0) {
			const char *from = NULL;

			if (sscanf(line, "pack %79s %llu %lld%n", name, &u, &t, &n) != 3 || strlen(name) != 64 ||
			    !is_hex(name, 64) || (line[n] && (strncmp(line + n, " from ", 6) != 0 ||
							     !pack_list_ok(from = line + n + 6))))
				error = bad_manifest(m, url, "pack line");
			else
				error = add_pack(m, name, u, t, from);
		} else if (strncmp(line, "retired ", 8) == 0) {
			if (sscanf(line, "retired %79s %lld%n", name, &t, &n) != 2 || line[n] || strlen(name) != 64 ||
			    !is_hex(name, 64))
				error = bad_manifest(m, url, "retired line");
			else
				error = add_retired(m, name, t);
		} else {
			error = bad_manifest(m, url, "unknown line");
		}
	}
	if (error == 0 && (!ended || field < 6))
		error = bad_manifest(m, url, "incomplete");
	free(copy);
	return error;
}

static int manifest_text(dsync_buf *out, const manifest *m, const char *store_id)
{
	char head[DSYNC_OID_HEX_SIZE];
	size_t i;
	int error;

	if (m->has_head)
		git_oid_tostr(head, sizeof(head), &m->head);
	if ((error = dsync_buf_printf(out, "dsync-manifest 1\nstore %s\ndevice %s\nseq %llu\ntime %lld\nhead %s\n",
				      store_id, m->device, (unsigned long long)m->seq, (long long)m->time,
				      m->has_head ? head : "none")) < 0)
		return error;
	for (i = 0; i < m->npacks && error == 0; i++)
		error = dsync_buf_printf(out, "pack %s %llu %lld%s%s\n", m->packs[i].name,
					 (unsigned long long)m->packs[i].size, (long long)m->packs[i].time,
					 m->packs[i].from ? " from " : "",
					 m->packs[i].from ? m->packs[i].from : "");
	for (i = 0; i < m->nretired && error == 0; i++)
		error = dsync_buf_printf(out, "retired %s %lld\n", m->retired[i].name, (long long)m->retired[i].since);
	if (error == 0)
		error = dsync_buf_puts(out, "end\n");
	return error;
}

/* ---- a connection to one remote's store ----------------------------------- */

typedef struct device_seqs {
	char id[33];
	uint64_t newest;
	uint64_t *older;        /* the other sequence numbers present */
	size_t nolder;
} device_seqs;

typedef struct conn {
	dsync_folder *f;
	remote *r;
	const dsync_sync_options *o;
	dsync_sync_result *res;
	dsync_blobstore *bs;
	dsync_store *st;
	device_seqs *devs;
	size_t ndevs;
	manifest *mans;         /* newest manifest of each device in DEVS (read) */
	bool *have_man;
	strset have;
	char tmpdir[4096];
} conn;

static void devs_dispose(conn *c)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++) {
		free(c->devs[i].older);
		if (c->mans)
			manifest_dispose(&c->mans[i]);
	}
	free(c->devs);
	free(c->mans);
	free(c->have_man);
	c->devs = NULL;
	c->mans = NULL;
	c->have_man = NULL;
	c->ndevs = 0;
}

static void conn_close(conn *c)
{
	devs_dispose(c);
	strset_dispose(&c->have);
	dsync_store_free(c->st);
	dsync_blobstore_free(c->bs);
	c->st = NULL;
	c->bs = NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* Asks O's callback for a passphrase of KIND for the store at URL.  An empty
 * one is refused here, the same way whichever way it came (a file, the
 * environment, the terminal). */
static int ask_passphrase(char **out, const dsync_sync_options *o, int kind, const char *url)
{
	int error;

	*out = NULL;
	if (!o->passphrase)
		return dsync_error_set(DSYNC_EAUTH, "the store at %s needs its passphrase (set DSYNC_PASSPHRASE)", url);
	if ((error = o->passphrase(out, kind, url, o->payload)) < 0) {
		wipe_free(*out);
		*out = NULL;
		return error;
	}
	if (!*out || !**out) {
		free(*out);
		*out = NULL;
		return dsync_error_set(DSYNC_EAUTH, kind == DSYNC_PASSPHRASE_NEW
				       ? "the new passphrase for %s is empty: a store's passphrase can't be empty"
				       : "the passphrase given for %s is empty", url);
	}
	return 0;
}

/* Unlocks C->st: the kept key, else the passphrase (then kept). */
static int unlock_store(dsync_store *st, const dsync_sync_options *o)
{
	char *pass = NULL;
	bool found;
	int error;

	if ((error = dsync_store_unlock_cached(st, &found)) < 0 || found)
		return error;
	if ((error = ask_passphrase(&pass, o, DSYNC_PASSPHRASE_CURRENT, st->bs->url)) < 0)
		return error;
	if ((error = dsync_store_unlock(st, pass)) == 0)
		error = dsync_store_cache_save(st);
	wipe_free(pass);
	return error;
}

static int conn_open(conn *c, dsync_folder *f, remote *r, const dsync_sync_options *o, dsync_sync_result *res)
{
	int error;

	memset(c, 0, sizeof(*c));
	c->f = f;
	c->r = r;
	c->o = o;
	c->res = res;
	if ((error = dsync_blobstore_open(&c->bs, r->url, false)) < 0)
		return error;
	if ((error = dsync_store_open(&c->st, c->bs)) < 0)
		goto fail;
	if (r->store_id && strcmp(r->store_id, c->st->id) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT,
					"the store at %s is not the one added as '%s' (store %s, expected %s): dsync-store was replaced",
					c->bs->url, r->name, c->st->id, r->store_id);
		goto fail;
	}
	if ((error = unlock_store(c->st, o)) < 0 || (error = set_read(&c->have, f, r->name, "packs")) < 0)
		goto fail;
	snprintf(c->tmpdir, sizeof(c->tmpdir), "%s", f->gitdir);
	return 0;
fail:
	conn_close(c);
	return error;
}

static void progress(conn *c, const char *what, size_t objects, size_t objects_total, uint64_t bytes,
		     uint64_t bytes_total, bool done)
{
	dsync_transfer t = { what, c->r->name, objects, objects_total, bytes, bytes_total, done };

	if (c->o->progress)
		c->o->progress(&t, c->o->payload);
}

static int parse_device_blob(const char *name, char *dev, uint64_t *seq)
{
	const char *p = name + 8;
	size_t i;

	if (strncmp(name, "devices/", 8) != 0 || strlen(p) != 32 + 1 + SEQ_DIGITS || p[32] != '/' || !is_hex(p, 32))
		return -1;
	*seq = 0;
	for (i = 33; i < 33 + SEQ_DIGITS; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*seq = *seq * 10 + (uint64_t)(p[i] - '0');
	}
	memcpy(dev, p, 32);
	dev[32] = '\0';
	return 0;
}

static int collect_device(const char *name, const dsync_blob_info *info, void *payload)
{
	conn *c = payload;
	char dev[33];
	uint64_t seq;
	size_t i;

	(void)info;
	if (parse_device_blob(name, dev, &seq) < 0)
		return 0;   /* not a manifest: not ours to judge here (dsync check reports it) */
	for (i = 0; i < c->ndevs; i++)
		if (strcmp(c->devs[i].id, dev) == 0)
			break;
	if (i == c->ndevs) {
		device_seqs *v = realloc(c->devs, (c->ndevs + 1) * sizeof(*v));

		if (!v)
			return dsync_error_oom();
		c->devs = v;
		memset(&v[i], 0, sizeof(*v));
		memcpy(v[i].id, dev, 33);
		v[i].newest = seq;
		c->ndevs++;
		return 0;
	} else {
		device_seqs *d = &c->devs[i];
		uint64_t *o = realloc(d->older, (d->nolder + 1) * sizeof(*o));

		if (!o)
			return dsync_error_oom();
		d->older = o;
		if (seq > d->newest) {
			o[d->nolder++] = d->newest;
			d->newest = seq;
		} else {
			o[d->nolder++] = seq;
		}
	}
	return 0;
}

static void blob_name(char *out, size_t size, const char *dev, uint64_t seq)
{
	snprintf(out, size, "devices/%s/%0*llu", dev, SEQ_DIGITS, (unsigned long long)seq);
}

/* Reads the newest manifest of device I into c->mans[I]. */
static int read_manifest(conn *c, size_t i)
{
	dsync_buf blob = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT;
	manifest *m = &c->mans[i];
	int error;

	manifest_dispose(m);
	blob_name(m->blob, sizeof(m->blob), c->devs[i].id, c->devs[i].newest);
	memcpy(m->device, c->devs[i].id, 33);
	m->seq = c->devs[i].newest;
	if ((error = dsync_blob_get_buf(c->bs, m->blob, &blob, DSYNC_MANIFEST_MAX)) < 0)
		goto out;
	if ((error = dsync_manifest_open(&text, c->st, m->blob, (const unsigned char *)blob.ptr, blob.len)) < 0 ||
	    (error = manifest_parse(m, text.ptr, c->st->id, c->bs->url)) < 0)
		goto out;
	c->have_man[i] = true;
out:
	dsync_buf_dispose(&blob);
	dsync_buf_dispose(&text);
	return error;
}

/* Lists the devices and reads each one's newest manifest (a manifest
 * replaced while we read it: list again, a few times). */
static int read_manifests(conn *c)
{
	int tries, error = 0;
	size_t i;

	for (tries = 0; tries < 4; tries++) {
		devs_dispose(c);
		if ((error = c->bs->list(c->bs, "devices/", collect_device, c)) < 0)
			return error;
		c->mans = calloc(c->ndevs + 1, sizeof(*c->mans));
		c->have_man = calloc(c->ndevs + 1, sizeof(*c->have_man));
		if (!c->mans || !c->have_man)
			return dsync_error_oom();
		for (i = 0; i < c->ndevs; i++)
			if ((error = read_manifest(c, i)) < 0)
				break;
		if (error != DSYNC_ENOTFOUND)
			return error;
	}
	return error;
}

static manifest *own_manifest(conn *c)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++)
		if (c->have_man[i] && strcmp(c->devs[i].id, c->f->device_id) == 0)
			return &c->mans[i];
	return NULL;
}

/* ---- fetching packs --------------------------------------------------------- */

typedef struct index_sink {
	git_indexer *idx;
	git_indexer_progress stats;
	conn *c;
	const char *name;
	uint64_t bytes;
	bool local;         /* the failure was this machine's (disk full, ...) */
} index_sink;

/* The error for git failing to index pack NAME: this machine's own trouble
 * (a full disk) is not the store's fault. */
static int index_error(index_sink *s)
{
	const git_error *e = git_error_last();

	if (e && e->klass == GIT_ERROR_OS) {
		s->local = true;
		return dsync_error_set(DSYNC_ERROR, "cannot store packs/%s here: %s", s->name, e->message);
	}
	return dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s is not a valid git pack: %s", s->name, s->c->bs->url,
			       e ? e->message : "bad data");
}

static int feed_indexer(const void *data, size_t len, void *payload)
{
	index_sink *s = payload;

	if (git_indexer_append(s->idx, data, len, &s->stats) < 0)
		return index_error(s);
	s->bytes += len;
	return 0;
}

static int temp_file(conn *c, dsync_buf *path)
{
	int fd;

	dsync_buf_truncate(path, 0);
	if (dsync_buf_printf(path, "%s/dsync-tmp-XXXXXX", c->tmpdir) < 0)
		return DSYNC_ERROR;
	if ((fd = mkostemp(path->ptr, O_CLOEXEC)) < 0)
		return dsync_error_sys(errno, "cannot make a temporary file in '%s'", c->tmpdir);
	return fd;
}

typedef struct xfer_state {
	conn *c;
	const char *what;
	uint64_t base, total;
	size_t objects;
} xfer_state;

static void on_xfer(uint64_t bytes, void *payload)
{
	xfer_state *x = payload;

	progress(x->c, x->what, x->objects, 0, x->base + bytes, x->total, false);
}

/* Downloads packs/NAME and indexes it into DIR (the folder's pack folder,
 * or a temporary one to only check it); IDS, when not NULL, gets the
 * path of the index written. */
/*
 * Downloads packs/NAME and indexes it into DIR (the folder's pack folder, or
 * a temporary one to only check it), with delta bases from ODB; IDX_PATH, when
 * not NULL, gets the path of the index written.  SIZE is the blob's size as
 * its manifest says (a larger blob isn't even downloaded).  *RETRY (may be NULL) is set
 * when the pack decrypted and verified but git could not index it: its delta
 * bases may come with a pack not fetched yet.
 */
static int fetch_pack(conn *c, const char *name, uint64_t size, const char *dir, git_odb *odb, xfer_state *x,
		      dsync_buf *idx_path, bool *retry)
{
	dsync_buf tmp = DSYNC_BUF_INIT, blobname = DSYNC_BUF_INIT;
	git_indexer_options io = GIT_INDEXER_OPTIONS_INIT;
	index_sink sink = { 0 };
	struct stat st;
	int fd = -1, err, error;

	sink.c = c;
	sink.name = name;
	if (retry)
		*retry = false;
	if ((error = dsync_buf_printf(&blobname, "packs/%s", name)) < 0 || (fd = temp_file(c, &tmp)) < 0) {
		error = fd < 0 ? fd : error;
		goto out;
	}
	if ((error = c->bs->get(c->bs, blobname.ptr, fd, size, on_xfer, x)) < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		error = dsync_error_sys(errno, "cannot read '%s'", tmp.ptr);
		goto out;
	}
	x->base += (uint64_t)st.st_size;
	c->res->bytes_fetched += (uint64_t)st.st_size;
	if ((uint64_t)st.st_size != size) {
		error = dsync_error_set(DSYNC_ECORRUPT, "packs/%s in %s has %llu bytes, its manifest says %llu (truncated?)",
					name, c->bs->url, (unsigned long long)st.st_size, (unsigned long long)size);
		goto out;
	}
	io.verify = 0;   /* connectivity: checked once all packs are in (check_history) */
	if ((err = git_indexer_new(&sink.idx, dir, 0, odb, &io)) < 0) {
		error = dsync_error_git(err, "cannot index a pack in '%s'", dir);
		goto out;
	}
	if ((error = dsync_pack_decrypt(c->st, name, fd, feed_indexer, &sink)) < 0)
		goto out;
	if (git_indexer_commit(sink.idx, &sink.stats) < 0) {
		error = index_error(&sink);
		if (retry)
			*retry = !sink.local;
		goto out;
	}
	x->objects += sink.stats.total_objects;
	if (idx_path) {
		dsync_buf_truncate(idx_path, 0);
		error = dsync_buf_printf(idx_path, "%s/pack-%s.idx", dir, git_indexer_name(sink.idx));
	}
out:
	git_indexer_free(sink.idx);
	if (fd >= 0) {
		close(fd);
		unlink(tmp.ptr);
	}
	dsync_buf_dispose(&tmp);
	dsync_buf_dispose(&blobname);
	return error;
}

/* Whether every pack named in FROM ("A,B,...") is held. */
static bool holds_all(const strset *have, const char *from)
{
	char name[DSYNC_HEX256_SIZE];

	/* the list was checked when its manifest was read (pack_list_ok) */
	for (;; from += 65) {
		memcpy(name, from, 64);
		name[64] = '\0';
		if (!strset_has(have, name))
			return false;
		if (from[64] != ',')
			return true;
	}
}

/* ---- checking histories --------------------------------------------------- */

/*
 * Checks that every object below tree ID is present: folders read, files
 * looked up, or with READ read whole (so that their hashes are checked).
 * SEEN holds the objects checked already, each visited once however many
 * versions share it; COUNT (may be NULL) counts them.
 */
static int check_tree_complete(git_repository *repo, git_odb *odb, const git_oid *id, dsync_oidset *seen,
			       bool read, size_t *count)
{
	git_tree *t = NULL;
	size_t i, n;
	int err, error = 0;

	if ((error = dsync_oidset_add(seen, id)) <= 0)
		return error;
	error = 0;   /* 1: new, walked below */
	if ((err = git_tree_lookup(&t, repo, id)) < 0) {
		char hex[DSYNC_OID_HEX_SIZE];

		git_oid_tostr(hex, sizeof(hex), id);
		return dsync_error_set(DSYNC_ECORRUPT, "folder %s is missing or damaged", hex);
	}
	if (count)
		(*count)++;
	n = git_tree_entrycount(t);
	for (i = 0; i < n && error == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_oid *eid = git_tree_entry_id(e);
		git_odb_object *obj = NULL;
		bool ok;

		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			error = check_tree_complete(repo, odb, eid, seen, read, count);
			continue;
		}
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || (error = dsync_oidset_add(seen, eid)) <= 0)
			continue;
		error = 0;
		ok = read ? git_odb_read(&obj, odb, eid) == 0 : git_odb_exists(odb, eid);
		git_odb_object_free(obj);
		if (!ok) {
			char hex[DSYNC_OID_HEX_SIZE];

			git_oid_tostr(hex, sizeof(hex), eid);
			error = dsync_error_set(DSYNC_ECORRUPT, "file %s (%s) is missing or damaged", hex,
						git_tree_entry_name(e));
		} else if (count) {
			(*count)++;
		}
	}
	git_tree_free(t);
	return error;
}

/* Checks that the history of HEAD is complete locally, walking only what no
 * local ref already reaches, and that every new version holds only names
 * dsync may write; SEEN and CHECKED carry what an earlier head's check
 * covered (objects present, folders checked), so shared history is walked
 * once. */
static int check_history(dsync_folder *f, const git_oid *head, const char *blob, dsync_oidset *seen,
			 dsync_oidset *checked)
{
	git_revwalk *walk = NULL;
	git_odb *odb = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid id;
	int err, error = 0;

	if ((err = git_repository_odb(&odb, f->repo)) < 0 || (err = git_revwalk_new(&walk, f->repo)) < 0) {
		error = dsync_error_git(err, "cannot read the history of '%s'", f->root);
		goto out;
	}
	if (git_commit_lookup(&c, f->repo, head) < 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the head named by %s is missing from its packs", blob);
		goto out;
	}
	git_revwalk_push(walk, head);
	git_revwalk_hide_glob(walk, "refs/heads/*");
	git_revwalk_hide_glob(walk, "refs/remotes/*");
	while ((err = git_revwalk_next(&id, walk)) == 0) {
		git_commit *cc = NULL;

		if (git_commit_lookup(&cc, f->repo, &id) < 0) {
			error = dsync_error_set(DSYNC_ECORRUPT, "a version named by %s is missing from its packs", blob);
			goto out;
		}
		error = check_tree_complete(f->repo, odb, git_commit_tree_id(cc), seen, false, NULL);
		if (error < 0) {
			char prefix[160];

			git_commit_free(cc);
			snprintf(prefix, sizeof(prefix), "%s names a history that is incomplete: ", blob);
			error_rewrap(DSYNC_ECORRUPT, prefix);
			goto out;
		}
		/* every version, not only the head: an old one could be
		 * restored later */
		if (git_commit_tree(&tree, cc) == 0)
			error = dsync_tree_check_new(f->repo, tree, checked);
		git_tree_free(tree);
		tree = NULL;
		git_commit_free(cc);
		if (error < 0) {
			char prefix[160];

			snprintf(prefix, sizeof(prefix), "%s: refused: ", blob);
			error_rewrap(DSYNC_ECORRUPT, prefix);
			goto out;
		}
	}
	if (err != GIT_ITEROVER) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s names a history that is incomplete (%s)", blob,
					git_error_last() ? git_error_last()->message : "missing versions");
		goto out;
	}
	if ((err = git_commit_tree(&tree, c)) < 0 || (error = dsync_tree_check(f->repo, tree)) < 0) {
		char prefix[160];

		snprintf(prefix, sizeof(prefix), "%s: refused: ", blob);
		if (err < 0)
			dsync_error_set(DSYNC_ECORRUPT, "the head named by %s has no folder", blob);
		else
			error_rewrap(DSYNC_ECORRUPT, prefix);
		error = DSYNC_ECORRUPT;
	}
out:
	git_tree_free(tree);
	git_commit_free(c);
	git_revwalk_free(walk);
	git_odb_free(odb);
	return error;
}

/* ---- fetch ------------------------------------------------------------------ */

typedef struct seen_entry {
	char dev[33];
	uint64_t seq;
	char hash[DSYNC_HEX256_SIZE];
} seen_entry;

static int seen_read(seen_entry **out, size_t *n, const dsync_folder *f, const char *remote_name)
{
	dsync_buf text = DSYNC_BUF_INIT;
	char *line, *save = NULL;
	int error;

	*out = NULL;
	*n = 0;
	if ((error = state_read(&text, f, remote_name, "seen")) < 0)
		goto out;
	for (line = strtok_r(text.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		seen_entry e, *v;
		unsigned long long seq;

		if (sscanf(line, "%32s %llu %64s", e.dev, &seq, e.hash) != 3)
			continue;
		e.seq = seq;
		if ((v = realloc(*out, (*n + 1) * sizeof(*v))) == NULL) {
			error = dsync_error_oom();
			goto out;
		}
		*out = v;
		v[(*n)++] = e;
	}
out:
	dsync_buf_dispose(&text);
	return error;
}

static const seen_entry *seen_find(const seen_entry *v, size_t n, const char *dev)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].dev, dev) == 0)
			return &v[i];
	return NULL;
}

static bool is_other(const conn *c, size_t i)
{
	return c->have_man[i] && strcmp(c->devs[i].id, c->f->device_id) != 0;
}

/*
 * Checks every device's newest manifest against the newest seen of it: an
 * older one (or none at all) is a rollback, the same number with other text a
 * fork.  This device's own: a newer one than it wrote is another copy of this
 * device writing (a folder copied to a second machine), unless it is the one
 * a push that was killed before recording it wrote (its number is below the
 * next one this device will use).
 */
static int read_next_seq(uint64_t *out, conn *c);

static int check_rollback(conn *c, const seen_entry *seen, size_t nseen)
{
	uint64_t next = 0;
	size_t i, j;
	int error;

	if ((error = read_next_seq(&next, c)) < 0)
		return error;
	for (i = 0; i < c->ndevs; i++) {
		const seen_entry *s;
		bool own = strcmp(c->devs[i].id, c->f->device_id) == 0;

		if (!c->have_man[i] || (s = seen_find(seen, nseen, c->devs[i].id)) == NULL)
			continue;
		if (c->mans[i].seq < s->seq)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "%s in %s is older than manifest %llu of that device, seen before: the store was rolled back",
					       c->mans[i].blob, c->bs->url, (unsigned long long)s->seq);
		if (c->mans[i].seq == s->seq && strcmp(c->mans[i].hash, s->hash) != 0)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "%s in %s differs from the manifest with that number seen before: the device's history forked (two copies of one device?)",
					       c->mans[i].blob, c->bs->url);
		if (own && c->mans[i].seq > s->seq && c->mans[i].seq >= next)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "%s in %s was not written here: another copy of this device writes to the store (a copied folder? run 'dsync join' on the other machine instead)",
					       c->mans[i].blob, c->bs->url);
	}
	for (j = 0; j < nseen; j++) {
		for (i = 0; i < c->ndevs; i++)
			if (strcmp(c->devs[i].id, seen[j].dev) == 0)
				break;
		if (i == c->ndevs)
			return dsync_error_set(DSYNC_ECORRUPT,
					       "devices/%s has vanished from %s (its manifest %llu was seen before): the store was damaged or rolled back",
					       seen[j].dev, c->bs->url, (unsigned long long)seen[j].seq);
	}
	return 0;
}

/* Records the newest manifest of every other device read now, OWN (may be
 * NULL: as before) for this device, and the old entries of the rest. */
static int seen_write(conn *c, const seen_entry *old, size_t nold, const seen_entry *own)
{
	dsync_buf text = DSYNC_BUF_INIT;
	size_t i;
	int error = 0;

	for (i = 0; i < c->ndevs && error == 0; i++)
		if (is_other(c, i))
			error = dsync_buf_printf(&text, "%s %llu %s\n", c->devs[i].id, (unsigned long long)c->mans[i].seq,
						 c->mans[i].hash);
	if (own && error == 0)
		error = dsync_buf_printf(&text, "%s %llu %s\n", own->dev, (unsigned long long)own->seq, own->hash);
	for (i = 0; i < nold && error == 0; i++) {
		size_t j;

		if (own && strcmp(old[i].dev, own->dev) == 0)
			continue;
		for (j = 0; j < c->ndevs; j++)
			if (is_other(c, j) && strcmp(c->devs[j].id, old[i].dev) == 0)
				break;
		if (j == c->ndevs)
			error = dsync_buf_printf(&text, "%s %llu %s\n", old[i].dev, (unsigned long long)old[i].seq,
						 old[i].hash);
	}
	if (error == 0)
		error = state_write(c->f, c->r->name, "seen", text.ptr ? text.ptr : "", text.len);
	dsync_buf_dispose(&text);
	return error;
}

typedef struct wanted {
	const pack_ref *p;
	const char *by;      /* the manifest naming it */
} wanted;

static int cmp_wanted(const void *a, const void *b)
{
	const pack_ref *x = ((const wanted *)a)->p, *y = ((const wanted *)b)->p;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int want_pack(wanted **v, size_t *n, size_t *cap, const pack_ref *p, const char *by)
{
	if (*n == *cap) {
		wanted *nv = realloc(*v, (*cap = *cap ? *cap * 2 : 16) * sizeof(**v));

		if (!nv)
			return dsync_error_oom();
		*v = nv;
	}
	(*v)[*n].p = p;
	(*v)[(*n)++].by = by;
	return 0;
}

/*
 * Downloads and indexes the N packs V into DIR (delta bases from ODB),
 * oldest first (a thin pack's delta bases come in older packs); one that can't
 * be indexed yet is tried again after the others.  RECORD: they become held
 * (fetch), else only checked.  DSYNC_ENOTFOUND: a pack vanished (retired
 * under us: read the manifests again).
 */
static int index_packs(conn *c, wanted *v, size_t n, git_odb *odb, const char *dir, bool record, xfer_state *x)
{
	size_t i, left = n;
	bool progress_made = true;
	int error = 0;

	if (n)
		qsort(v, n, sizeof(*v), cmp_wanted);
	while (left && progress_made && error == 0) {
		progress_made = false;
		for (i = 0; i < n && error == 0; i++) {
			const pack_ref *p = v[i].p;
			bool retry = false;

			if (!p)
				continue;
			if (record && strset_has(&c->have, p->name)) {
				/* came with a consolidated pack's sources */
			} else if (record && p->from && holds_all(&c->have, p->from)) {
				error = strset_add(&c->have, p->name);
			} else if ((error = fetch_pack(c, p->name, p->size, dir, odb, x, NULL, &retry)) == 0) {
				git_odb_refresh(odb);
				if (record) {
					c->res->packs_fetched++;
					error = strset_add(&c->have, p->name);
				}
			} else if (error == DSYNC_ENOTFOUND) {
				dsync_error_set(DSYNC_ENOTFOUND, "packs/%s named by %s is missing from %s", p->name, v[i].by,
						c->bs->url);
				break;
			} else if (retry) {
				error = 0;   /* after the others */
				continue;
			}
			v[i].p = NULL;
			left--;
			progress_made = true;
		}
	}
	if (error == 0 && left)
		error = DSYNC_ECORRUPT;   /* the last failure's message stands */
	return error;
}

/* Downloads and indexes every pack the other devices' manifests name that
 * this folder doesn't hold. */
static int fetch_packs(conn *c, git_odb *odb, const char *packdir)
{
	xfer_state x = { c, "fetch", 0, 0, 0 };
	wanted *v = NULL;
	size_t i, j, n = 0, cap = 0;
	int error = 0;

	for (i = 0; i < c->ndevs && error == 0; i++)
		for (j = 0; is_other(c, i) && j < c->mans[i].npacks && error == 0; j++)
			if (!strset_has(&c->have, c->mans[i].packs[j].name)) {
				error = want_pack(&v, &n, &cap, &c->mans[i].packs[j], c->mans[i].blob);
				x.total += c->mans[i].packs[j].size;
			}
	if (error == 0)
		error = index_packs(c, v, n, odb, packdir, true, &x);
	free(v);
	if (x.total || x.objects)
		progress(c, "fetch", x.objects, x.objects, x.base, x.total, true);
	return error;
}

/* Reads every device's newest manifest and checks them against those seen
 * (a push that doesn't fetch first). */
static int read_checked(conn *c)
{
	seen_entry *seen = NULL;
	size_t nseen = 0;
	int error;

	if ((error = read_manifests(c)) == 0 && (error = seen_read(&seen, &nseen, c->f, c->r->name)) == 0)
		error = check_rollback(c, seen, nseen);
	free(seen);
	return error;
}

static int remote_ref_name(dsync_buf *out, const char *remote_name, const char *dev)
{
	dsync_buf_truncate(out, 0);
	return dsync_buf_printf(out, "refs/remotes/%s/%s", remote_name, dev);
}

static int fetch(conn *c)
{
	dsync_buf packdir = DSYNC_BUF_INIT, ref = DSYNC_BUF_INIT;
	dsync_oidset present = { 0 }, checked = { 0 };
	seen_entry *seen = NULL;
	size_t nseen = 0, i;
	git_odb *odb = NULL;
	int err, error, tries;

	if ((err = git_repository_odb(&odb, c->f->repo)) < 0)
		return dsync_error_git(err, "cannot open the history of '%s'", c->f->root);
	if ((error = dsync_buf_printf(&packdir, "%s/objects/pack", c->f->gitdir)) < 0 ||
	    (error = seen_read(&seen, &nseen, c->f, c->r->name)) < 0)
		goto out;
	for (tries = 0;; tries++) {
		if ((error = read_manifests(c)) < 0 || (error = check_rollback(c, seen, nseen)) < 0)
			goto out;
		error = fetch_packs(c, odb, packdir.ptr);
		if (error != DSYNC_ENOTFOUND || tries == 2)
			break;
	}
	if (error == DSYNC_ENOTFOUND)
		error = error_rewrap(DSYNC_ECORRUPT, "");
	if (error < 0)
		goto out;
	git_odb_refresh(odb);
	/* everything is here and checked before any ref moves (what several
	 * heads share, once) */
	for (i = 0; i < c->ndevs; i++)
		if (is_other(c, i) && c->mans[i].has_head &&
		    (error = check_history(c->f, &c->mans[i].head, c->mans[i].blob, &present, &checked)) < 0)
			goto out;
	if ((error = dsync_folder_sync(c->f)) < 0)
		goto out;
	for (i = 0; i < c->ndevs; i++) {
		git_reference *r = NULL;

		if (!is_other(c, i))
			continue;
		c->res->devices++;
		if (!c->mans[i].has_head)
			continue;
		if ((error = remote_ref_name(&ref, c->r->name, c->devs[i].id)) < 0)
			goto out;
		if ((err = git_reference_create(&r, c->f->repo, ref.ptr, &c->mans[i].head, 1, "dsync fetch")) < 0) {
			error = dsync_error_git(err, "cannot record the head of device %s", c->devs[i].id);
			goto out;
		}
		git_reference_free(r);
	}
	if ((error = seen_write(c, seen, nseen, NULL)) < 0 || (error = set_write(&c->have, c->f, c->r->name, "packs")) < 0)
		goto out;
out:
	dsync_oidset_dispose(&present);
	dsync_oidset_dispose(&checked);
	free(seen);
	git_odb_free(odb);
	dsync_buf_dispose(&packdir);
	dsync_buf_dispose(&ref);
	return error;
}

/* ---- push --------------------------------------------------------------------- */

typedef struct pack_out {
	int fd;
	int error;
	conn *c;
} pack_out;

static int write_pack_data(void *buf, size_t size, void *payload)
{
	pack_out *p = payload;
	size_t at = 0;

	while (at < size) {
		ssize_t n = write(p->fd, (char *)buf + at, size - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			p->error = dsync_error_sys(errno, "cannot write a pack");
			return -1;
		}
		at += (size_t)n;
	}
	return 0;
}

static int on_pack_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
	conn *c = payload;

	progress(c, "pack", current, total, 0, 0, stage == GIT_PACKBUILDER_DELTAFICATION && current == total);
	return 0;
}

/* Writes a plaintext pack to FD: a packbuilder's (consolidation) or a thin
 * pack list's (push). */
typedef struct pack_source {
	git_packbuilder *pb;
	const dsync_pack_list *list;
} pack_source;

static void on_thin_progress(size_t done, size_t total, void *payload)
{
	conn *c = payload;

	progress(c, "pack", done, total, 0, 0, done == total);
}

static int write_source(conn *c, const pack_source *src, int fd)
{
	pack_out po = { fd, 0, c };
	int err;

	if (src->list)
		return dsync_thinpack_write(fd, c->f->repo, src->list, on_thin_progress, c);
	if ((err = git_packbuilder_foreach(src->pb, write_pack_data, &po)) < 0)
		return po.error ? po.error : dsync_error_git(err, "cannot pack the history of '%s'", c->f->root);
	return 0;
}

/* Writes SRC as an encrypted pack to the store; its reference into *OUT. */
static int upload_pack(conn *c, const pack_source *src, pack_ref *out)
{
	dsync_buf plain = DSYNC_BUF_INIT, cipher = DSYNC_BUF_INIT, name = DSYNC_BUF_INIT;
	pack_out po = { -1, 0, c };
	xfer_state x = { c, "push", 0, 0, 0 };
	int cfd = -1, error;
	uint64_t plain_size;
	struct stat st;

	memset(out, 0, sizeof(*out));
	out->time = (int64_t)time(NULL);
	x.objects = src->list ? src->list->n : git_packbuilder_object_count(src->pb);
	if ((po.fd = temp_file(c, &plain)) < 0 || (cfd = temp_file(c, &cipher)) < 0) {
		error = po.fd < 0 ? po.fd : cfd;
		goto out;
	}
	if ((error = write_source(c, src, po.fd)) < 0)
		goto out;
	if ((error = dsync_pack_encrypt(c->st, po.fd, cfd, out->name, &plain_size)) < 0)
		goto out;
	if (fstat(cfd, &st) < 0 || lseek(cfd, 0, SEEK_SET) < 0) {
		error = dsync_error_sys(errno, "cannot read '%s'", cipher.ptr);
		goto out;
	}
	out->size = (uint64_t)st.st_size;
	x.total = out->size;
	if ((error = dsync_buf_printf(&name, "packs/%s", out->name)) < 0 ||
	    (error = c->bs->put(c->bs, name.ptr, cfd, on_xfer, &x)) < 0)
		goto out;
	progress(c, "push", x.objects, x.objects, out->size, out->size, true);
	c->res->packs_pushed++;
	c->res->objects_pushed += x.objects;
	c->res->bytes_pushed += out->size;
out:
	if (po.fd >= 0) {
		close(po.fd);
		unlink(plain.ptr);
	}
	if (cfd >= 0) {
		close(cfd);
		unlink(cipher.ptr);
	}
	dsync_buf_dispose(&plain);
	dsync_buf_dispose(&cipher);
	dsync_buf_dispose(&name);
	return error;
}

static int new_packbuilder(git_packbuilder **pb, conn *c)
{
	int err;

	if ((err = git_packbuilder_new(pb, c->f->repo)) < 0)
		return dsync_error_git(err, "cannot pack the history of '%s'", c->f->root);
	git_packbuilder_set_threads(*pb, 0);
	git_packbuilder_set_callbacks(*pb, on_pack_progress, c);
	return 0;
}

/* Reads the object ids of the pack index IDX into PB. */
static int insert_from_idx(git_packbuilder *pb, const char *idx)
{
	unsigned char head[8 + 256 * 4], raw[GIT_OID_RAWSZ];
	git_oid id;
	uint32_t n, i;
	FILE *fp;
	int fd, err, error;

	if ((error = dsync_file_open(&fd, idx, 0, NULL)) < 0)
		return error;
	if ((fp = fdopen(fd, "rb")) == NULL) {
		error = dsync_error_sys(errno, "cannot read '%s'", idx);
		close(fd);
		return error;
	}
	if (fread(head, 1, sizeof(head), fp) != sizeof(head) || memcmp(head, "\377tOc\0\0\0\2", 8) != 0) {
		error = dsync_error_set(DSYNC_ERROR, "'%s' is not a pack index", idx);
		goto out;
	}
	n = (uint32_t)head[8 + 255 * 4] << 24 | (uint32_t)head[8 + 255 * 4 + 1] << 16 |
	    (uint32_t)head[8 + 255 * 4 + 2] << 8 | head[8 + 255 * 4 + 3];
	for (i = 0; i < n; i++) {
		if (fread(raw, 1, sizeof(raw), fp) != sizeof(raw)) {
			error = dsync_error_set(DSYNC_ERROR, "'%s' is truncated", idx);
			goto out;
		}
		git_oid_fromraw(&id, raw);
		if ((err = git_packbuilder_insert(pb, &id, NULL)) < 0) {
			error = dsync_error_git(err, "cannot repack an object this device pushed");
			goto out;
		}
	}
out:
	fclose(fp);
	return error;
}


static int64_t retire_grace(void)
{
#ifdef DSYNC_TESTING
	/* Test builds only: tests shorten the grace period (whole seconds) */
	const char *g = getenv("DSYNC_TEST_RETIRE_GRACE");
	char *end;
	long long v;

	if (g && *g) {
		errno = 0;
		v = strtoll(g, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0)
			return v;
	}
#endif
	return RETIRE_GRACE;
}

/* Replaces this device's small packs in M by one (the objects they held, read
 * back from the store) and retires them: readers in flight still find them
 * until the grace period is over. */
static int consolidate(conn *c, manifest *m, strset *mine)
{
	dsync_buf dir = DSYNC_BUF_INIT, idx = DSYNC_BUF_INIT, from = DSYNC_BUF_INIT;
	git_packbuilder *pb = NULL;
	xfer_state x = { c, "fetch", 0, 0, 0 };
	pack_source src = { NULL, NULL };
	git_odb *odb = NULL;
	retired_ref *r;
	pack_ref merged = { 0 };
	size_t i, nsmall = 0, keep = 0;
	int64_t now = (int64_t)time(NULL);
	int err, error;

	for (i = 0; i < m->npacks; i++)
		if (m->packs[i].size <= SMALL_PACK)
			nsmall++;
	if (nsmall <= MAX_SMALL_PACKS)
		return 0;
	if ((error = dsync_buf_printf(&dir, "%s/dsync-tmp-XXXXXX", c->f->gitdir)) < 0)
		return error;
	if (!mkdtemp(dir.ptr)) {
		error = dsync_error_sys(errno, "cannot make a temporary folder in '%s'", c->f->gitdir);
		goto out;
	}
	if ((error = new_packbuilder(&pb, c)) < 0)
		goto out;
	if ((err = git_repository_odb(&odb, c->f->repo)) < 0) {
		error = dsync_error_git(err, "cannot open the history of '%s'", c->f->root);
		goto out;
	}
	for (i = 0; i < m->npacks && error == 0; i++) {
		if (m->packs[i].size > SMALL_PACK)
			continue;
		if ((error = fetch_pack(c, m->packs[i].name, m->packs[i].size, dir.ptr, odb, &x, &idx, NULL)) == 0)
			error = insert_from_idx(pb, idx.ptr);
		if (error == 0)
			error = dsync_buf_printf(&from, "%s%s", from.len ? "," : "", m->packs[i].name);
	}
	src.pb = pb;
	if (error < 0 || (error = upload_pack(c, &src, &merged)) < 0)
		goto out;
	/* its objects are as old as the oldest pack it replaces: packs pushed
	 * since may have deltas against them */
	for (i = 0; i < m->npacks; i++)
		if (m->packs[i].size <= SMALL_PACK && m->packs[i].time < merged.time)
			merged.time = m->packs[i].time;
	/* everything that can fail comes before M changes */
	if ((error = strset_add(&c->have, merged.name)) < 0 || (error = strset_add(mine, merged.name)) < 0)
		goto out;
	if ((r = realloc(m->retired, (m->nretired + nsmall) * sizeof(*r))) == NULL ||
	    (merged.from = dsync_buf_detach(&from)) == NULL) {
		if (r)
			m->retired = r;
		error = dsync_error_oom();
		goto out;
	}
	m->retired = r;
	for (i = 0; i < m->npacks; i++) {
		if (m->packs[i].size > SMALL_PACK) {
			m->packs[keep++] = m->packs[i];
			continue;
		}
		memset(&m->retired[m->nretired], 0, sizeof(*m->retired));
		memcpy(m->retired[m->nretired].name, m->packs[i].name, 65);
		m->retired[m->nretired++].since = now;
		free(m->packs[i].from);
	}
	m->npacks = keep;
	m->packs[m->npacks++] = merged;
	c->res->consolidated = true;
out:
	if (error < 0 && c->o->warn) {
		char msg[512];

		snprintf(msg, sizeof(msg), "could not consolidate this device's packs in %s: %s (kept them)",
			 c->bs->url, dsync_error_last());
		c->o->warn(msg, c->o->payload);
		error = 0;   /* the old packs still hold everything */
	}
	git_packbuilder_free(pb);
	git_odb_free(odb);
	if (dir.ptr && dir.ptr[dir.len - 1] != 'X')
		dsync_path_remove(dir.ptr, true);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&idx);
	dsync_buf_dispose(&from);
	return error;
}

static int read_next_seq(uint64_t *out, conn *c)
{
	dsync_buf text = DSYNC_BUF_INIT;
	int error;

	*out = 1;
	if ((error = state_read(&text, c->f, c->r->name, "seq")) == 0 && text.len)
		*out = strtoull(text.ptr, NULL, 10);
	if (*out == 0)
		*out = 1;
	dsync_buf_dispose(&text);
	return error;
}

static int copy_manifest_lists(manifest *m, const manifest *own)
{
	size_t i;
	int error = 0;

	for (i = 0; own && i < own->npacks && error == 0; i++)
		error = add_pack(m, own->packs[i].name, own->packs[i].size, own->packs[i].time, own->packs[i].from);
	for (i = 0; own && i < own->nretired && error == 0; i++)
		error = add_retired(m, own->retired[i].name, own->retired[i].since);
	return error;
}

/* Whether a pack named NAME is live in M or in another device's manifest. */
static bool named_live(const conn *c, const manifest *m, const char *name)
{
	size_t i, j;

	for (j = 0; j < m->npacks; j++)
		if (strcmp(m->packs[j].name, name) == 0)
			return true;
	for (i = 0; i < c->ndevs; i++)
		for (j = 0; is_other(c, i) && j < c->mans[i].npacks; j++)
			if (strcmp(c->mans[i].packs[j].name, name) == 0)
				return true;
	return false;
}

static int push(conn *c)
{
	manifest m = { 0 }, *own = own_manifest(c);
	dsync_pack_list list = { 0 };
	git_oid *hide = NULL;
	size_t nhide = 0, ngone = 0, nseen = 0;
	dsync_buf text = DSYNC_BUF_INIT, blob = DSYNC_BUF_INIT, seqtext = DSYNC_BUF_INIT;
	strset mine = { 0 };
	seen_entry *seen = NULL, self;
	char (*gone)[DSYNC_HEX256_SIZE] = NULL;
	git_oid head;
	uint64_t seq;
	int64_t now = (int64_t)time(NULL), grace = retire_grace();
	size_t i, nsmall = 0, own_i = c->ndevs, keep;
	bool retire_due = false;
	int err, error;

	for (i = 0; i < c->ndevs; i++)
		if (strcmp(c->devs[i].id, c->f->device_id) == 0)
			own_i = i;
	if ((err = git_reference_name_to_id(&head, c->f->repo, "refs/heads/main")) < 0)
		return err == GIT_ENOTFOUND ? 0 : dsync_error_git(err, "cannot read the head of '%s'", c->f->root);
	for (i = 0; own && i < own->npacks; i++)
		nsmall += own->packs[i].size <= SMALL_PACK;
	for (i = 0; own && i < own->nretired; i++)
		retire_due |= now - own->retired[i].since >= grace;
	if (own && own->has_head && git_oid_equal(&own->head, &head) && nsmall <= MAX_SMALL_PACKS && !retire_due)
		return 0;   /* the store has our head already */
	if ((error = read_next_seq(&seq, c)) < 0)
		return error;
	if (own_i < c->ndevs && c->devs[own_i].newest >= seq)
		seq = c->devs[own_i].newest + 1;
	memcpy(m.device, c->f->device_id, 33);
	m.seq = seq;
	m.time = now;
	m.has_head = true;
	m.head = head;
	blob_name(m.blob, sizeof(m.blob), m.device, m.seq);
	if ((error = copy_manifest_lists(&m, own)) < 0 || (error = set_read(&mine, c->f, c->r->name, "mine")) < 0)
		goto out;
	/* the objects our head reaches that no head in the store reaches,
	 * changed files as deltas against what the store holds */
	if ((hide = calloc(c->ndevs + 1, sizeof(*hide))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < c->ndevs; i++)
		if (c->have_man[i] && c->mans[i].has_head)
			hide[nhide++] = c->mans[i].head;
	if ((error = dsync_pack_list_build(&list, c->f->repo, &head, hide, nhide)) < 0)
		goto out;
	if (list.n > 0) {
		pack_source src = { NULL, &list };
		pack_ref p;

		if ((error = upload_pack(c, &src, &p)) < 0 || (error = add_pack(&m, p.name, p.size, p.time, NULL)) < 0 ||
		    (error = strset_add(&c->have, p.name)) < 0 || (error = strset_add(&mine, p.name)) < 0)
			goto out;
	}
	if ((error = consolidate(c, &m, &mine)) < 0)
		goto out;
	/*
	 * Retired packs whose grace is over leave the manifest, and are
	 * deleted once it is written: only packs this device wrote itself
	 * (whatever a manifest claims), and none that a manifest of another
	 * device still names (two devices can write the same pack).
	 */
	if ((gone = calloc(m.nretired + 1, sizeof(*gone))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0, keep = 0; i < m.nretired; i++) {
		if (now - m.retired[i].since < grace) {
			m.retired[keep++] = m.retired[i];
			continue;
		}
		if (strset_has(&mine, m.retired[i].name) && !named_live(c, &m, m.retired[i].name))
			memcpy(gone[ngone++], m.retired[i].name, 65);
	}
	m.nretired = keep;
	/* the number (and the packs this device wrote) are made durable here,
	 * before a manifest carries them */
	if ((error = dsync_buf_printf(&seqtext, "%llu\n", (unsigned long long)(seq + 1))) < 0 ||
	    (error = state_write(c->f, c->r->name, "seq", seqtext.ptr, seqtext.len)) < 0 ||
	    (error = set_write(&mine, c->f, c->r->name, "mine")) < 0)
		goto out;
	if ((error = manifest_text(&text, &m, c->st->id)) < 0 ||
	    (error = dsync_manifest_seal(&blob, c->st, m.blob, text.ptr, text.len)) < 0 ||
	    (error = dsync_blob_put_buf(c->bs, m.blob, blob.ptr, blob.len)) < 0)
		goto out;
	c->res->bytes_pushed += blob.len;
	c->res->pushed = true;
	/* what this device wrote is what it expects to read back */
	text_hash(self.hash, text.ptr, text.len);
	memcpy(self.dev, m.device, 33);
	self.seq = seq;
	if ((error = seen_read(&seen, &nseen, c->f, c->r->name)) < 0 ||
	    (error = seen_write(c, seen, nseen, &self)) < 0)
		goto out;
	for (i = 0; i < ngone && error == 0; i++) {
		char pn[80];

		snprintf(pn, sizeof(pn), "packs/%s", gone[i]);
		error = c->bs->del(c->bs, pn);
	}
	/* then our older manifests go */
	for (i = 0; own_i < c->ndevs && i <= c->devs[own_i].nolder && error == 0; i++) {
		uint64_t old = i < c->devs[own_i].nolder ? c->devs[own_i].older[i] : c->devs[own_i].newest;
		char name[96];

		if (old == seq)
			continue;
		blob_name(name, sizeof(name), m.device, old);
		error = c->bs->del(c->bs, name);
	}
	if (error == 0)
		error = set_write(&c->have, c->f, c->r->name, "packs");
out:
	manifest_dispose(&m);
	dsync_pack_list_dispose(&list);
	strset_dispose(&mine);
	free(seen);
	free(gone);
	free(hide);
	dsync_buf_dispose(&text);
	dsync_buf_dispose(&blob);
	dsync_buf_dispose(&seqtext);
	return error;
}

/* ---- merge ------------------------------------------------------------------- */

typedef struct head_list {
	dsync_head *v;
	char (*keys)[DSYNC_OID_HEX_SIZE];
	size_t n;
} head_list;

static int collect_heads(head_list *h, dsync_folder *f)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	size_t cap = 0;
	int err, error = 0;

	memset(h, 0, sizeof(*h));
	if ((err = git_reference_iterator_glob_new(&it, f->repo, "refs/remotes/*")) < 0)
		return dsync_error_git(err, "cannot read the remote heads of '%s'", f->root);
	while ((err = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref), *dev = strrchr(name, '/');
		const git_oid *id = git_reference_target(ref);
		git_commit *c = NULL;

		if (id && dev && strcmp(dev + 1, f->device_id) != 0 && git_commit_lookup(&c, f->repo, id) == 0) {
			if (h->n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				dsync_head *v = realloc(h->v, ncap * sizeof(*v));
				char(*k)[DSYNC_OID_HEX_SIZE] = realloc(h->keys, ncap * sizeof(*k));

				if (v)
					h->v = v;
				if (k)
					h->keys = k;
				if (!v || !k) {
					error = dsync_error_oom();
					git_commit_free(c);
					git_reference_free(ref);
					break;
				}
				cap = ncap;
			}
			dsync_commit_key(h->keys[h->n], c);
			h->v[h->n].commit = *id;
			h->n++;
			git_commit_free(c);
		}
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	for (size_t i = 0; i < h->n; i++)
		h->v[i].device_id = h->keys[i];
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
	if (h.n)
		error = dsync_merge_into(&res->merge, f, h.v, h.n, &mo);
	free(h.v);
	free(h.keys);
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

/* One round, as dsync_sync() without its first step (finishing a join). */
static int sync_round(dsync_sync_result *out, dsync_folder *f, const char *remote_name, unsigned what,
		      const dsync_sync_options *o)
{
	remotes all = { 0 };
	remote **sel = NULL;
	conn *conns = NULL;
	size_t n = 0, opened = 0, i;
	bool locked = false;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0 || (error = remotes_read(&all, f)) < 0 ||
	    (error = remotes_pick(&sel, &n, &all, remote_name, f)) < 0)
		goto out;
	if ((error = dsync_folder_lock(f, o->lock_wait_ms)) < 0)
		goto out;
	locked = true;
	if ((what & DSYNC_SYNC_PUSH) && (error = snapshot(f, o)) < 0)
		goto out;
	if ((conns = calloc(n, sizeof(*conns))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < n; i++, opened++)
		if ((error = conn_open(&conns[i], f, sel[i], o, out)) < 0)
			goto out;
	out->remotes = n;
	if (what & DSYNC_SYNC_FETCH)
		for (i = 0; i < n; i++)
			if ((error = fetch(&conns[i])) < 0)
				goto out;
	if ((what & DSYNC_SYNC_MERGE) && (error = merge_heads(out, f, o)) < 0)
		goto out;
	if (what & DSYNC_SYNC_PUSH)
		for (i = 0; i < n; i++) {
			if (!(what & DSYNC_SYNC_FETCH) && (error = read_checked(&conns[i])) < 0)
				goto out;
			if ((error = push(&conns[i])) < 0)
				goto out;
		}
out:
	for (i = 0; i < opened; i++)
		conn_close(&conns[i]);
	free(conns);
	if (locked)
		dsync_folder_unlock(f);
	free(sel);
	remotes_dispose(&all);
	return error;
}

/* ---- remote add, list, remove ----------------------------------------------------- */

static int set_remote(dsync_folder *f, const char *name, const char *url, const char *store_id)
{
	git_config *cfg = NULL;
	char key[128];
	int err = 0, error;

	if ((error = config_of(&cfg, f)) < 0)
		return error;
	snprintf(key, sizeof(key), "remote.%s.url", name);
	err = git_config_set_string(cfg, key, url);
	snprintf(key, sizeof(key), "remote.%s.storeId", name);
	if (err == 0)
		err = git_config_set_string(cfg, key, store_id);
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

	if ((error = config_of(&cfg, f)) < 0)
		return error;
	sodium_bin2hex(hex, sizeof(hex), seed, 32);
	if ((err = git_config_set_string(cfg, "dsync.chunkSeed", hex)) < 0)
		error = dsync_error_git(err, "cannot write the chunk secret of '%s'", f->root);
	sodium_memzero(hex, sizeof(hex));
	git_config_free(cfg);
	return error;
}

static int is_key_blob(const char *name, const dsync_blob_info *info, void *payload)
{
	(void)info;
	(void)payload;
	return strncmp(name, "keys/", 5) == 0 ? 0 : 1;
}

static int remove_blob(const char *name, const dsync_blob_info *info, void *payload)
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

/* Opens or creates the store at URL, unlocked, into *ST (and *BS). */
static int open_or_create(dsync_blobstore **bs, dsync_store **st, bool *created, const char *url, dsync_folder *f,
			  bool may_create, const dsync_sync_options *o)
{
	unsigned char seed[32];
	char *pass = NULL;
	bool empty = false;
	int error;

	*bs = NULL;
	*st = NULL;
	*created = false;
	if ((error = dsync_blobstore_open(bs, url, may_create)) < 0)
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
		if ((error = dsync_folder_chunk_seed(seed, f)) < 0 ||
		    (error = ask_passphrase(&pass, o, DSYNC_PASSPHRASE_NEW, (*bs)->url)) < 0)
			goto fail;
		if ((error = dsync_store_create(st, *bs, pass, seed)) < 0 || (error = dsync_store_cache_save(*st)) < 0)
			goto fail;
		*created = true;
		wipe_free(pass);
		sodium_memzero(seed, sizeof(seed));
		return 0;
	}
	if (error < 0 || (error = unlock_store(*st, o)) < 0)
		goto fail;
	return 0;
fail:
	wipe_free(pass);
	sodium_memzero(seed, sizeof(seed));
	dsync_store_free(*st);
	dsync_blobstore_free(*bs);
	*st = NULL;
	*bs = NULL;
	return error;
}

int dsync_remote_add(dsync_folder *f, const char *name, const char *url, bool *created,
		     const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	remotes all = { 0 };
	size_t i;
	bool had_remotes;
	char q[DSYNC_QUOTE_SIZE];
	int error;

	*created = false;
	if (!o)
		o = &defaults;
	if (!remote_name_ok(name))
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a remote name (letters, digits, '-', '_', '.')",
				       dsync_quote(q, name));
	if ((error = remotes_read(&all, f)) < 0)
		return error;
	for (i = 0; i < all.n; i++)
		if (strcmp(all.v[i].name, name) == 0) {
			error = dsync_error_set(DSYNC_EEXISTS, "'%s' already has a remote '%s' (%s)", f->root, name,
						all.v[i].url);
			goto out;
		}
	had_remotes = all.n > 0;
	/* the key is kept per user: know where before a store is made */
	if ((error = dsync_config_dir_ready()) < 0 || (error = dsync_folder_lock(f, o->lock_wait_ms)) < 0)
		goto out;
	error = open_or_create(&bs, &st, created, url, f, true, o);
	for (i = 0; error == 0 && i < all.n; i++)
		if (all.v[i].store_id && strcmp(all.v[i].store_id, st->id) == 0)
			error = dsync_error_set(DSYNC_EEXISTS, "the store at %s is remote '%s' of this folder already (%s)",
						bs->url, all.v[i].name, all.v[i].url);
	/* a folder's first store gives it the store's chunk secret, so big
	 * files cut the same way on every device */
	if (error == 0 && !*created && !had_remotes)
		error = set_chunk_seed(f, DSYNC_STORE_SEED(st));
	if (error == 0)
		error = set_remote(f, name, bs->url, st->id);
	dsync_folder_unlock(f);
out:
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	remotes_dispose(&all);
	return error;
}

int dsync_remote_list(dsync_remote_info **out, size_t *n, dsync_folder *f)
{
	remotes all;
	size_t i;
	int error;

	*out = NULL;
	*n = 0;
	if ((error = remotes_read(&all, f)) < 0)
		return error;
	if (all.n && (*out = calloc(all.n, sizeof(**out))) == NULL) {
		remotes_dispose(&all);
		return dsync_error_oom();
	}
	for (i = 0; i < all.n; i++) {
		(*out)[i].name = all.v[i].name;
		(*out)[i].url = all.v[i].url;
		(*out)[i].store_id = all.v[i].store_id;
	}
	*n = all.n;
	free(all.v);
	return 0;
}

void dsync_remote_list_free(dsync_remote_info *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].url);
		free(list[i].store_id);
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
	remotes all = { 0 };
	remote **sel = NULL;
	size_t n;
	char key[128];
	int error;

	if ((error = remotes_read(&all, f)) < 0 || (error = remotes_pick(&sel, &n, &all, name, f)) < 0)
		goto out;
	if ((error = dsync_folder_lock(f, DSYNC_LOCK_WAIT_MS)) < 0)
		goto out;
	if ((error = config_of(&cfg, f)) == 0) {
		snprintf(key, sizeof(key), "remote.%s.url", name);
		git_config_delete_entry(cfg, key);
		snprintf(key, sizeof(key), "remote.%s.storeId", name);
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
		if (state_path(&dir, f, name, NULL) == 0) {
			dsync_path_remove(dir.ptr, true);
		}
	}
	dsync_folder_unlock(f);
out:
	git_config_free(cfg);
	free(sel);
	remotes_dispose(&all);
	dsync_buf_dispose(&glob);
	dsync_buf_dispose(&dir);
	return error;
}

/* ---- join ------------------------------------------------------------------------ */

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

/* The join in progress in F: *NAME its remote (malloc'd; NULL when none,
 * or when that remote was removed since), *MADE_KEY whether it made the
 * kept key. */
static int join_pending(char **name, bool *made_key, dsync_folder *f)
{
	git_config *cfg = NULL;
	char *url = NULL;
	int err, b = 0, error;

	*name = NULL;
	*made_key = false;
	if ((error = config_of(&cfg, f)) < 0)
		return error;
	if ((error = get_string(name, cfg, "%s", JOIN_REMOTE)) < 0) {
		error = error == DSYNC_ENOTFOUND ? 0 : error;
		goto out;
	}
	if ((error = get_string(&url, cfg, "remote.%s.url", *name)) < 0) {
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

	if ((error = dsync_folder_lock(f, o->lock_wait_ms)) < 0)
		return error;
	if ((error = config_of(&cfg, f)) < 0)
		goto out;
	if (j)
		error = write_join(cfg, (void *)j);
	else if (((err = git_config_delete_entry(cfg, JOIN_MADE_KEY)) < 0 && err != GIT_ENOTFOUND) ||
		 ((err = git_config_delete_entry(cfg, JOIN_REMOTE)) < 0 && err != GIT_ENOTFOUND))
		error = dsync_error_git(err, "cannot record the end of the join in '%s'", f->root);
out:
	git_config_free(cfg);
	dsync_folder_unlock(f);
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

static void add_results(dsync_sync_result *to, const dsync_sync_result *r)
{
	to->packs_fetched += r->packs_fetched;
	to->bytes_fetched += r->bytes_fetched;
	to->packs_pushed += r->packs_pushed;
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
	if ((error = sync_round(&step, f, remote_name, DSYNC_SYNC_FETCH, o)) < 0)
		return error;
	add_results(r, &step);
	if (fetched)
		*fetched = true;
	if (fresh) {
		if ((error = sync_round(&step, f, remote_name, DSYNC_SYNC_FETCH | DSYNC_SYNC_MERGE, o)) < 0)
			return error;
		add_results(r, &step);
		if ((error = sync_round(&step, f, remote_name, DSYNC_SYNC_PUSH, o)) < 0)
			return error;
	} else if ((error = sync_round(&step, f, remote_name, DSYNC_SYNC_ALL, o)) < 0) {
		return error;
	}
	add_results(r, &step);
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
	dsync_store_cache_remove(store_id);
	if (msg)
		dsync_error_set(error, "%s", msg);
	free(msg);
}

/* Finishes the join in progress in F (with its remote JOIN_NAME), as the
 * first part of a round. */
static int join_finish(dsync_sync_result *r, dsync_folder *f, const char *join_name, bool made_key,
		       const dsync_sync_options *o)
{
	remotes all = { 0 };
	remote **sel = NULL;
	size_t n;
	int error;

	if ((error = join_rounds(r, f, join_name, NULL, o)) == DSYNC_ECORRUPT && made_key) {
		char *msg = strdup(dsync_error_last());

		if (remotes_read(&all, f) == 0 && remotes_pick(&sel, &n, &all, join_name, f) == 0)
			join_failed(error, sel[0]->store_id, made_key, true);
		if (msg)
			dsync_error_set(error, "%s", msg);
		free(msg);
	}
	if (error == 0)
		r->join_finished = true;
	free(sel);
	remotes_dispose(&all);
	return error;
}

/* A join into F, a folder that has remotes ALL or history already: a round
 * with the remote whose store is the one at URL (a join stopped just as it
 * ended, say), as 'dsync sync' does; another store is refused. */
static int join_again(dsync_sync_result *r, dsync_folder *f, const remotes *all, const char *url,
		      const dsync_sync_options *o)
{
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	const char *joined = NULL;
	size_t i;
	int error;

	if ((error = dsync_blobstore_open(&bs, url, false)) < 0 || (error = dsync_store_open(&st, bs)) < 0)
		goto out;
	for (i = 0; i < all->n; i++)
		if (all->v[i].store_id && strcmp(all->v[i].store_id, st->id) == 0)
			joined = all->v[i].name;
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

int dsync_join(dsync_folder **out, dsync_sync_result *r, const char *url, const char *dir,
	       const char *remote_name, const char *device_name, const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	dsync_folder *f = NULL;
	remotes all = { 0 };
	join_setup j = { 0 };
	char *pending = NULL, *pass = NULL, store_id[33] = "", device[DSYNC_DEVICE_NAME_MAX + 1], q[DSYNC_QUOTE_SIZE];
	bool existed = true, made_folder = false, fetched = false, found, resumed = false;
	int error;

	*out = NULL;
	memset(r, 0, sizeof(*r));
	if (!o)
		o = &defaults;
	if (!remote_name)
		remote_name = "origin";
	if (!remote_name_ok(remote_name))
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a remote name (letters, digits, '-', '_', '.')",
				       dsync_quote(q, remote_name));
	/* a bad device name is refused before the passphrase is asked for */
	if ((error = dsync_device_name_pick(device, device_name)) < 0)
		return error;
	/* a folder an earlier join was cut off in: finished now */
	if ((error = open_if_root(&f, dir ? dir : ".")) < 0)
		return error;
	if (f) {
		if ((error = join_pending(&pending, &j.made_key, f)) < 0 || (error = remotes_read(&all, f)) < 0)
			goto out;
		if (pending) {
			remote_name = pending;
		} else if (all.n > 0 || !head_unborn(f)) {
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
	/* the passphrase first: nothing is made until the store opens */
	if ((error = dsync_blobstore_open(&bs, url, false)) < 0 || (error = dsync_store_open(&st, bs)) < 0 ||
	    (error = dsync_store_unlock_cached(st, &found)) < 0)
		goto out;
	if (!found) {
		if ((error = ask_passphrase(&pass, o, DSYNC_PASSPHRASE_CURRENT, bs->url)) < 0 ||
		    (error = dsync_store_unlock(st, pass)) < 0)
			goto out;
		j.made_key = true;
	}
	j.remote_name = remote_name;
	j.url = bs->url;
	j.st = st;
	memcpy(store_id, st->id, sizeof(store_id));
	if (pending) {
		size_t i;

		for (i = 0; i < all.n; i++)
			if (strcmp(all.v[i].name, pending) == 0 && all.v[i].store_id &&
			    strcmp(all.v[i].store_id, st->id) != 0) {
				error = dsync_error_set(DSYNC_EEXISTS, "'%s' is half-way through joining %s, another store: "
							"run 'dsync join %s \"%s\"' to finish that", dsync_folder_root(f),
							all.v[i].url, all.v[i].url, dsync_folder_root(f));
				goto out;
			}
	}
	if (!f) {
		if ((error = dsync_folder_init_prepared(&f, dir, device_name, write_join, &j)) < 0)
			goto out;
		made_folder = true;
	} else if ((error = join_record(f, &j, o)) < 0 ||
		   /* the killed join may have been cut off before it registered */
		   (error = dsync_folder_register(dsync_folder_root(f))) < 0) {
		goto out;
	}
	if (j.made_key && (error = dsync_store_cache_save(st)) < 0)
		goto out;
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	st = NULL;
	bs = NULL;
	if ((error = join_rounds(r, f, remote_name, &fetched, o)) < 0)
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
			join_unmake(error, f, existed);
			f = NULL;
		}
	}
	wipe_free(pass);
	free(pending);
	remotes_dispose(&all);
	dsync_folder_free(f);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	return error;
}

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
		return sync_round(out, f, remote_name, what, o);
	if ((error = dsync_folder_repo(f)) < 0 || (error = join_pending(&pending, &made_key, f)) < 0)
		return error;
	if (pending && (!remote_name || strcmp(remote_name, pending) == 0))
		error = join_finish(out, f, pending, made_key, o);
	free(pending);
	if (error < 0)
		return error;
	if ((error = sync_round(&rest, f, remote_name, what, o)) < 0)
		return error;
	add_results(out, &rest);
	return 0;
}

/* ---- passphrase --------------------------------------------------------------------- */

int dsync_passphrase_change(dsync_folder *f, const char *remote_name, const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_blobstore *bs = NULL;
	dsync_store *st = NULL;
	remotes all = { 0 };
	remote **sel = NULL;
	char *cur = NULL, *next = NULL;
	size_t n;
	int error;

	if (!o)
		o = &defaults;
	if ((error = remotes_read(&all, f)) < 0 || (error = remotes_pick(&sel, &n, &all, remote_name, f)) < 0)
		goto out;
	if (n > 1) {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' has %zu remotes: name the one whose passphrase changes",
					f->root, n);
		goto out;
	}
	if ((error = dsync_blobstore_open(&bs, sel[0]->url, false)) < 0 || (error = dsync_store_open(&st, bs)) < 0)
		goto out;
	if (sel[0]->store_id && strcmp(sel[0]->store_id, st->id) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the store at %s is not the one added as '%s'", bs->url,
					sel[0]->name);
		goto out;
	}
	if ((error = ask_passphrase(&cur, o, DSYNC_PASSPHRASE_CURRENT, bs->url)) < 0 ||
	    (error = dsync_store_unlock(st, cur)) < 0 ||
	    (error = ask_passphrase(&next, o, DSYNC_PASSPHRASE_NEW, bs->url)) < 0)
		goto out;
	if ((error = dsync_store_reseal(st, next)) < 0)
		goto out;
	error = dsync_store_cache_save(st);
out:
	wipe_free(cur);
	wipe_free(next);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	free(sel);
	remotes_dispose(&all);
	return error;
}

/* ---- check ---------------------------------------------------------------------------- */

static int check_remote(dsync_check_result *out, conn *c, bool read_data)
{
	dsync_buf dir = DSYNC_BUF_INIT, packdir = DSYNC_BUF_INIT;
	xfer_state x = { c, "check", 0, 0, 0 };
	git_odb *odb = NULL;
	wanted *v = NULL;
	size_t i, j, n = 0, cap = 0, keys = 0;
	int err, error;

	if ((error = dsync_store_check_keys(c->st, &keys)) < 0 || (error = read_manifests(c)) < 0)
		return error;
	out->stores++;
	out->keys += keys;
	for (i = 0; i < c->ndevs && error == 0; i++) {
		out->manifests++;
		for (j = 0; j < c->mans[i].npacks && error == 0; j++) {
			const pack_ref *p = &c->mans[i].packs[j];
			dsync_blob_info info;
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
			if (read_data && (error = want_pack(&v, &n, &cap, p, c->mans[i].blob)) == 0)
				x.total += p->size;
		}
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
	if ((error = index_packs(c, v, n, odb, packdir.ptr, false, &x)) == 0) {
		out->packs_read = n;
		out->bytes_read = x.base;
	}
out:
	if (dir.ptr && dir.ptr[dir.len - 1] != 'X')
		dsync_path_remove(dir.ptr, true);
	git_odb_free(odb);
	free(v);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&packdir);
	return error;
}

int dsync_check(dsync_check_result *out, dsync_folder *f, const char *remote_name, bool read_data,
		const dsync_sync_options *o)
{
	dsync_sync_options defaults = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result res;
	remotes all = { 0 };
	remote **sel = NULL;
	size_t n = 0, i;
	int error;

	memset(out, 0, sizeof(*out));
	memset(&res, 0, sizeof(res));
	if (!o)
		o = &defaults;
	if ((error = dsync_verify_history(out, f, o->progress, o->payload)) < 0 || (error = remotes_read(&all, f)) < 0)
		goto out;
	if (!remote_name && all.n == 0)
		goto out;
	if ((error = remotes_pick(&sel, &n, &all, remote_name, f)) < 0)
		goto out;
	for (i = 0; i < n && error == 0; i++) {
		conn c;

		if ((error = conn_open(&c, f, sel[i], o, &res)) < 0)
			break;
		error = check_remote(out, &c, read_data);
		conn_close(&c);
	}
out:
	if (error == 0 && out->nproblems)
		error = dsync_error_set(DSYNC_ECORRUPT,
					"the history of '%s' is damaged: %zu problem%s (listed above); "
					"the files in the folder are not affected; a remote that holds the history "
					"brings it back with 'dsync join URL NEW-FOLDER'",
					f->root, out->nproblems, out->nproblems == 1 ? "" : "s");
	free(sel);
	remotes_dispose(&all);
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
