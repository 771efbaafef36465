/*
 * A mirror's state on the computer (docs/mirror.md): its config
 * (mirror.NAME.* in .dsync/config), .dsync/dsync-mirrors/NAME/ (the scan
 * cache, the journal of names made on the host, the status files) and
 * refs/mirrors/NAME.  The cache and the journal are read as untrusted
 * (a crash may cut them anywhere): a bad cache is an empty one, a torn
 * journal line is one that was never made durable.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/file.h"
#include "core/base/path.h"
#include "core/mirror/mirror_internal.h"
#include "transport/opts.h"

/* ---- config ------------------------------------------------------------------------ */

static int config_open(git_config **cfg, dsync_folder *f)
{
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((err = git_repository_config(cfg, f->repo)) < 0)
		return dsync_error_git(err, "cannot read the config of '%s'", f->root);
	return 0;
}

/* mirror.NAME.KEY into *OUT (malloc'd); DSYNC_ENOTFOUND (no message) when unset. */
static int config_get(char **out, git_config *cfg, const char *name, const char *key)
{
	git_buf b = GIT_BUF_INIT;
	char full[128];
	int err;

	*out = NULL;
	snprintf(full, sizeof(full), "mirror.%s.%s", name, key);
	if ((err = git_config_get_string_buf(&b, cfg, full)) < 0)
		return err == GIT_ENOTFOUND ? DSYNC_ENOTFOUND : dsync_error_git(err, "cannot read %s", full);
	*out = strdup(b.ptr);
	git_buf_dispose(&b);
	return *out ? 0 : dsync_error_oom();
}

static bool is_hex32(const char *s)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[32] == '\0';
}

bool dsync_mirror_path_ok(const char *path)
{
	const char *p = path, *slash;
	size_t len;

	if (!*path)
		return true;
	if (!dsync_path_is_safe(path))
		return false;
	/* nor ".DSYNC": the folder's own history on a file system that folds case */
	for (;;) {
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 6 && strncasecmp(p, ".dsync", 6) == 0)
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

int dsync_mirror_ssh_mode(int *out, const char *s)
{
	if (strcmp(s, "auto") == 0)
		*out = DSYNC_SSH_AUTO;
	else if (strcmp(s, "openssh") == 0)
		*out = DSYNC_SSH_OPENSSH;
	else if (strcmp(s, "builtin") == 0)
		*out = DSYNC_SSH_BUILTIN;
	else
		return DSYNC_EUSAGE;
	return 0;
}

int dsync_mirror_interval_parse(int *out, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v < 1 || v > 7 * 24 * 3600)
		return DSYNC_EUSAGE;
	*out = (int)v;
	return 0;
}

int dsync_mirror_transport_opts(dsync_transport_opts *out, const mirror_cfg *c, const dsync_mirror_options *o)
{
	const char *env = getenv("DSYNC_SSH");

	memset(out, 0, sizeof(*out));
	out->interactive = o->prompt != NULL;
	out->prompt = o->prompt;
	out->payload = o->payload;
	out->warn = o->warn;
	out->ssh_command = c->ssh_command;
	out->ssh_mode = c->ssh_mode;
	/* the environment wins over the config, as for remotes */
	if (env && *env && dsync_mirror_ssh_mode(&out->ssh_mode, env) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "DSYNC_SSH is '%s': give auto, openssh or builtin", env);
	out->rate_limit = o->rate_limit ? o->rate_limit : c->rate_limit;
	if (out->rate_limit == UINT64_MAX)
		out->rate_limit = 0;
	return 0;
}

static int malformed(const char *name, const char *key, const char *why)
{
	return dsync_error_set(DSYNC_EUSAGE, "mirror.%s.%s in .dsync/config %s", name, key, why);
}

/* Reads the mirror NAME (whose url is URL) into C. */
static int read_one(mirror_cfg *c, git_config *cfg, const char *name, const char *url)
{
	char *v = NULL;
	int error;

	if ((c->name = strdup(name)) == NULL || (c->url = strdup(url)) == NULL)
		return dsync_error_oom();
	c->interval_s = DSYNC_MIRROR_DEFAULT_INTERVAL;
	c->ssh_mode = DSYNC_SSH_AUTO;
	if ((error = config_get(&c->path, cfg, name, "path")) == DSYNC_ENOTFOUND)
		error = (c->path = strdup("")) ? 0 : dsync_error_oom();
	if (error < 0)
		return error;
	if (!dsync_mirror_path_ok(c->path))
		return malformed(name, "path", "is not a folder-relative path");
	if ((error = config_get(&v, cfg, name, "deviceId")) == DSYNC_ENOTFOUND)
		return malformed(name, "deviceId", "is missing");
	if (error < 0)
		return error;
	if (!is_hex32(v)) {
		free(v);
		return malformed(name, "deviceId", "is not 32 hex digits");
	}
	memcpy(c->device_id, v, 33);
	free(v);
	if ((error = config_get(&v, cfg, name, "interval")) == 0 && dsync_mirror_interval_parse(&c->interval_s, v) < 0)
		error = malformed(name, "interval", "is not a number of seconds (1 or more)");
	free(v);
	v = NULL;
	if (error < 0 && error != DSYNC_ENOTFOUND)
		return error;
	if ((error = config_get(&v, cfg, name, "ssh")) == 0 && dsync_mirror_ssh_mode(&c->ssh_mode, v) < 0)
		error = malformed(name, "ssh", "is not auto, openssh or builtin");
	free(v);
	v = NULL;
	if (error < 0 && error != DSYNC_ENOTFOUND)
		return error;
	if ((error = config_get(&c->ssh_command, cfg, name, "sshCommand")) < 0 && error != DSYNC_ENOTFOUND)
		return error;
	if ((error = config_get(&v, cfg, name, "limitRate")) == 0 && dsync_rate_parse(v, &c->rate_limit) < 0)
		error = malformed(name, "limitRate", "is not a rate");
	free(v);
	return error == DSYNC_ENOTFOUND ? 0 : error;
}

static int cmp_cfg(const void *a, const void *b)
{
	return strcmp(((const mirror_cfg *)a)->name, ((const mirror_cfg *)b)->name);
}

void dsync_mirror_config_free(mirror_cfg *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].url);
		free(v[i].path);
		free(v[i].ssh_command);
	}
	free(v);
}

int dsync_mirror_config_read(mirror_cfg **out, size_t *n, dsync_folder *f)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *e;
	mirror_cfg *v = NULL, *nv;
	size_t count = 0, cap = 0, i;
	char *name = NULL;
	int err, error;

	*out = NULL;
	*n = 0;
	if ((error = config_open(&cfg, f)) < 0)
		return error;
	/* not git_config_iterator_glob_new: libgit2 1.5 leaks a regex's match
	 * data for every name it doesn't match */
	if ((err = git_config_iterator_new(&it, cfg)) < 0) {
		error = dsync_error_git(err, "cannot read the mirrors of '%s'", f->root);
		goto out;
	}
	while ((err = git_config_next(&e, it)) == 0) {
		size_t len = strlen(e->name);

		if (len <= 11 || strncmp(e->name, "mirror.", 7) != 0 || strcmp(e->name + len - 4, ".url") != 0)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 4;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				error = dsync_error_oom();
				goto out;
			}
			v = nv;
		}
		memset(&v[count], 0, sizeof(*v));
		count++;
		free(name);
		if ((name = strndup(e->name + 7, len - 11)) == NULL) {
			error = dsync_error_oom();
			goto out;
		}
		/* a name made by hand: never a path out of .dsync/dsync-mirrors */
		if (!dsync_mirror_name_ok(name)) {
			error = dsync_error_set(DSYNC_EUSAGE, "%s in .dsync/config: not a mirror name", e->name);
			goto out;
		}
		/* set twice (a multivar): the mirror once */
		for (i = 0; i + 1 < count && strcmp(v[i].name, name) != 0; i++)
			;
		if (i + 1 < count) {
			memset(&v[--count], 0, sizeof(*v));
			continue;
		}
		if ((error = read_one(&v[count - 1], cfg, name, e->value)) < 0)
			goto out;
	}
	if (err != GIT_ITEROVER) {
		error = dsync_error_git(err, "cannot read the mirrors of '%s'", f->root);
		goto out;
	}
	if (count)
		qsort(v, count, sizeof(*v), cmp_cfg);
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
	error = 0;
out:
	free(name);
	dsync_mirror_config_free(v, count);
	git_config_iterator_free(it);
	git_config_free(cfg);
	return error;
}

static int set_key(git_config *cfg, const char *name, const char *key, const char *value)
{
	char full[128];
	int err;

	snprintf(full, sizeof(full), "mirror.%s.%s", name, key);
	/* every value: a key set twice by hand is one a set can't replace */
	err = git_config_delete_multivar(cfg, full, ".*");
	if (err == 0 || err == GIT_ENOTFOUND)
		err = value ? git_config_set_string(cfg, full, value) : 0;
	if (err < 0)
		return dsync_error_git(err, "cannot write %s", full);
	return 0;
}

int dsync_mirror_config_write(dsync_folder *f, const mirror_cfg *c)
{
	static const char *const modes[] = { "auto", "openssh", "builtin" };
	git_config *cfg = NULL;
	char num[32];
	int error;

	if ((error = config_open(&cfg, f)) < 0)
		return error;
	snprintf(num, sizeof(num), "%d", c->interval_s > 0 ? c->interval_s : DSYNC_MIRROR_DEFAULT_INTERVAL);
	/* the url last: a mirror exists once it is there (config_read keys on it) */
	if ((error = set_key(cfg, c->name, "path", c->path ? c->path : "")) == 0 &&
	    (error = set_key(cfg, c->name, "deviceId", c->device_id)) == 0 &&
	    (error = set_key(cfg, c->name, "interval", num)) == 0 &&
	    (error = set_key(cfg, c->name, "ssh", c->ssh_mode > 0 && c->ssh_mode <= 2 ? modes[c->ssh_mode]
									  : NULL)) == 0 &&
	    (error = set_key(cfg, c->name, "sshCommand", c->ssh_command)) == 0) {
		/* "b": bytes (a bare number is KiB, as rsync takes it) */
		snprintf(num, sizeof(num), "%llub", (unsigned long long)c->rate_limit);
		if ((error = set_key(cfg, c->name, "limitRate", c->rate_limit ? num : NULL)) == 0)
			error = set_key(cfg, c->name, "url", c->url);
	}
	git_config_free(cfg);
	return error;
}

int dsync_mirror_config_set(dsync_folder *f, const char *name, const char *key, const char *value)
{
	git_config *cfg = NULL;
	int error;

	if ((error = config_open(&cfg, f)) == 0)
		error = set_key(cfg, name, key, value);
	git_config_free(cfg);
	return error;
}

int dsync_mirror_config_remove(dsync_folder *f, const char *name)
{
	static const char *const keys[] = { "url", "path", "deviceId", "interval", "ssh", "sshCommand", "limitRate" };
	git_config *cfg = NULL;
	size_t i;
	int error;

	if ((error = config_open(&cfg, f)) < 0)
		return error;
	/* the url first: a cut removal leaves no half mirror behind */
	for (i = 0; i < DSYNC_ARRAY_SIZE(keys) && error == 0; i++)
		error = set_key(cfg, name, keys[i], NULL);
	git_config_free(cfg);
	return error;
}

bool dsync_mirror_name_ok(const char *name)
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

int dsync_mirror_name_check(dsync_folder *f, const char *name)
{
	git_config *cfg = NULL;
	git_buf b = GIT_BUF_INIT;
	char q[DSYNC_QUOTE_SIZE], key[128];
	int err, error;

	if (!dsync_mirror_name_ok(name))
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a mirror name (letters, digits, '-', '_', '.'; not "
				       "starting with '.' or '-'; at most 64)", dsync_quote(q, name));
	/* the mirror's snapshots carry it as their device's name */
	if ((error = dsync_device_name_check(name)) < 0)
		return error;
	if ((error = config_open(&cfg, f)) < 0)
		return error;
	snprintf(key, sizeof(key), "remote.%s.url", name);
	err = git_config_get_string_buf(&b, cfg, key);
	git_buf_dispose(&b);
	git_config_free(cfg);
	if (err == 0)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is already a remote of '%s': give the mirror another name",
				       name, f->root);
	if (err != GIT_ENOTFOUND)
		return dsync_error_git(err, "cannot read %s", key);
	return 0;
}

/* ---- .dsync/dsync-mirrors/NAME/ ---------------------------------------------------- */

int dsync_mirror_state_path(dsync_buf *out, const dsync_folder *f, const char *name, const char *file)
{
	/* never "..": the name is a folder under .dsync/ */
	if (!dsync_mirror_name_ok(name))
		return dsync_error_set(DSYNC_EUSAGE, "not a mirror name");
	dsync_buf_truncate(out, 0);
	return file ? dsync_buf_printf(out, "%s/%s/%s/%s", f->gitdir, DSYNC_MIRROR_STATE_DIR, name, file)
		    : dsync_buf_printf(out, "%s/%s/%s", f->gitdir, DSYNC_MIRROR_STATE_DIR, name);
}

/* The path of FILE in NAME's state folder, the folder made. */
static int state_file(dsync_buf *out, const dsync_folder *f, const char *name, const char *file)
{
	int error;

	if ((error = dsync_mirror_state_path(out, f, name, NULL)) < 0 || (error = dsync_path_mkdirs(out->ptr)) < 0)
		return error;
	return dsync_buf_printf(out, "/%s", file);
}

/* ---- the scan cache ---------------------------------------------------------------- */

/*
 * The file, text: a header line, one line per entry, an end line that
 * tells a whole file from a cut one:
 *
 *	dsync-mirror-cache 1
 *	SIZE MTIME ID PATHLEN PATH        (PATH any bytes but NUL, PATHLEN of them)
 *	end COUNT
 */
#define CACHE_MAGIC "dsync-mirror-cache 1\n"
#define CACHE_MAX ((size_t)1 << 30)

/* The slot for PATH in C's index: holding its entry, or free. */
static size_t *cache_slot(mirror_cache *c, const char *path)
{
	size_t j = dsync_mirror_hash(path, strlen(path)) & (c->nslots - 1);

	while (c->slots[j] && strcmp(c->v[c->slots[j] - 1].path, path) != 0)
		j = (j + 1) & (c->nslots - 1);
	return &c->slots[j];
}

static int cache_reindex(mirror_cache *c, size_t want)
{
	size_t nslots = 64, i, *s;

	while (nslots < want * 2)
		nslots *= 2;
	if ((s = calloc(nslots, sizeof(*s))) == NULL)
		return dsync_error_oom();
	free(c->slots);
	c->slots = s;
	c->nslots = nslots;
	for (i = 0; i < c->n; i++)
		*cache_slot(c, c->v[i].path) = i + 1;
	return 0;
}

const mirror_cache_entry *dsync_mirror_cache_find(mirror_cache *c, const char *path)
{
	size_t *s;

	if (c->n == 0 || !c->slots)
		return NULL;
	s = cache_slot(c, path);
	return *s ? &c->v[*s - 1] : NULL;
}

int dsync_mirror_cache_put(mirror_cache *c, const char *path, uint64_t size, uint32_t mtime, const git_oid *id)
{
	mirror_cache_entry *e;
	size_t *s;
	int error;

	if ((c->n + 1) * 2 > c->nslots && (error = cache_reindex(c, c->n + 1)) < 0)
		return error;
	s = cache_slot(c, path);
	if (*s) {
		e = &c->v[*s - 1];
	} else {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			mirror_cache_entry *v = realloc(c->v, cap * sizeof(*v));

			if (!v)
				return dsync_error_oom();
			c->v = v;
			c->cap = cap;
		}
		e = &c->v[c->n];
		if ((e->path = strdup(path)) == NULL)
			return dsync_error_oom();
		*s = ++c->n;
	}
	e->size = size;
	e->mtime = mtime;
	git_oid_cpy(&e->id, id);
	return 0;
}

void dsync_mirror_cache_del(mirror_cache *c, const char *path)
{
	size_t *s, *t, i, last, j;

	if (c->n == 0 || !c->slots || !*(s = cache_slot(c, path)))
		return;
	i = *s - 1;
	/* linear probing: the slot freed, the entries after it are put again */
	*s = 0;
	for (j = ((size_t)(s - c->slots) + 1) & (c->nslots - 1); c->slots[j]; j = (j + 1) & (c->nslots - 1)) {
		size_t k = c->slots[j];

		c->slots[j] = 0;
		*cache_slot(c, c->v[k - 1].path) = k;
	}
	free(c->v[i].path);
	/* the last entry fills the gap */
	last = c->n - 1;
	if (i != last) {
		t = cache_slot(c, c->v[last].path);
		c->v[i] = c->v[last];
		*t = i + 1;
	}
	c->n--;
}

void dsync_mirror_cache_dispose(mirror_cache *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

static bool parse_u64(const char **p, const char *end, uint64_t *out, char stop)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (s >= end || *s != stop)
		return false;
	*p = s + 1;
	*out = v;
	return true;
}

/* Parses the cache file's bytes; false when anything is off. */
static bool cache_parse(mirror_cache *c, const char *p, const char *end)
{
	uint64_t size, mtime, len, count;
	git_oid id;
	char *path;
	int error;

	if ((size_t)(end - p) < sizeof(CACHE_MAGIC) - 1 || memcmp(p, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) != 0)
		return false;
	p += sizeof(CACHE_MAGIC) - 1;
	while (p < end && *p != 'e') {
		if (!parse_u64(&p, end, &size, ' ') || !parse_u64(&p, end, &mtime, ' ') || mtime > UINT32_MAX ||
		    end - p < GIT_OID_HEXSZ + 1 || git_oid_fromstrn(&id, p, GIT_OID_HEXSZ) < 0 || p[GIT_OID_HEXSZ] != ' ')
			return false;
		p += GIT_OID_HEXSZ + 1;
		if (!parse_u64(&p, end, &len, ' ') || len == 0 || (uint64_t)(end - p) < len + 1 || p[len] != '\n' ||
		    memchr(p, '\0', len) || (path = strndup(p, len)) == NULL)
			return false;
		p += len + 1;
		error = dsync_mirror_cache_put(c, path, size, (uint32_t)mtime, &id);
		free(path);
		if (error < 0)
			return false;
	}
	if ((size_t)(end - p) < 4 || memcmp(p, "end ", 4) != 0)
		return false;
	p += 4;
	return parse_u64(&p, end, &count, '\n') && p == end && count == c->n;
}

int dsync_mirror_cache_load(mirror_cache *out, dsync_folder *f, const char *name)
{
	dsync_buf path = DSYNC_BUF_INIT, data = DSYNC_BUF_INIT;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_mirror_state_path(&path, f, name, "cache")) < 0)
		goto out;
	/* only an optimisation: a missing, unreadable or cut cache means
	 * every file is read once more */
	if (dsync_file_read(&data, path.ptr, CACHE_MAX, DSYNC_FILE_NOFOLLOW) < 0 ||
	    !cache_parse(out, data.ptr ? data.ptr : "", (data.ptr ? data.ptr : "") + data.len)) {
		dsync_mirror_cache_dispose(out);
		dsync_error_clear();
	}
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&data);
	return error;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const mirror_cache_entry *)a)->path, ((const mirror_cache_entry *)b)->path);
}

int dsync_mirror_cache_save(mirror_cache *c, dsync_folder *f, const char *name)
{
	dsync_buf path = DSYNC_BUF_INIT, data = DSYNC_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	size_t i;
	int error;

	/* written in path order: the file is the same for the same entries */
	if (c->n) {
		qsort(c->v, c->n, sizeof(*c->v), cmp_entry);
		if ((error = cache_reindex(c, c->n)) < 0)
			return error;
	}
	error = dsync_buf_puts(&data, CACHE_MAGIC);
	for (i = 0; i < c->n && error == 0; i++)
		error = dsync_buf_printf(&data, "%llu %lu %s %zu %s\n", (unsigned long long)c->v[i].size,
					 (unsigned long)c->v[i].mtime, git_oid_tostr(hex, sizeof(hex), &c->v[i].id),
					 strlen(c->v[i].path), c->v[i].path);
	if (error == 0)
		error = dsync_buf_printf(&data, "end %zu\n", c->n);
	if (error == 0 && (error = state_file(&path, f, name, "cache")) == 0)
		error = dsync_path_write_atomic(path.ptr, data.ptr, data.len, 0644, true);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&data);
	return error;
}

/* ---- the journal ------------------------------------------------------------------- */

/*
 * One line per name made on the host: "KIND TEMPLEN TEMP TARGETLEN TARGET\n",
 * appended and flushed before the name is made there.  A line cut by a
 * crash (no newline, or lengths that don't hold) was never durable, so its
 * name was never made: it is skipped, and so is anything after it.
 */
static int fsync_dir_of(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd, error = 0;

	if (!dir)
		return dsync_error_oom();
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) < 0)
		error = dsync_error_sys(errno, "cannot flush '%s'", dir);
	if (fd >= 0)
		close(fd);
	free(dir);
	return error;
}

int dsync_mirror_journal_add(dsync_folder *f, const char *name, char kind, const char *temp, const char *target)
{
	dsync_buf path = DSYNC_BUF_INIT, line = DSYNC_BUF_INIT;
	struct stat st;
	bool made;
	int fd = -1, error;

	if ((kind != 'n' && kind != 'o') || !*temp || !*target)
		return dsync_error_set(DSYNC_EUSAGE, "bad journal entry");
	if ((error = state_file(&path, f, name, "journal")) < 0 ||
	    (error = dsync_buf_printf(&line, "%c %zu %s %zu %s\n", kind, strlen(temp), temp, strlen(target),
				      target)) < 0)
		goto out;
	made = lstat(path.ptr, &st) < 0;
	if ((fd = open(path.ptr, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0) {
		error = dsync_error_sys(errno, "cannot write '%s'", path.ptr);
		goto out;
	}
	errno = 0;
	if (write(fd, line.ptr, line.len) != (ssize_t)line.len || fsync(fd) < 0) {
		error = dsync_error_sys(errno ? errno : EIO, "cannot write '%s'", path.ptr);
		goto out;
	}
	/* a new file's name must be durable too */
	if (made)
		error = fsync_dir_of(path.ptr);
out:
	if (fd >= 0)
		close(fd);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&line);
	return error;
}

static bool journal_field(const char **p, const char *end, char **out, char stop)
{
	uint64_t len;

	if (!parse_u64(p, end, &len, ' ') || len == 0 || (uint64_t)(end - *p) < len + 1 || (*p)[len] != stop ||
	    memchr(*p, '\0', len))
		return false;
	if ((*out = strndup(*p, len)) == NULL)
		return false;
	*p += len + 1;
	return true;
}

void dsync_mirror_journal_dispose(mirror_journal *j)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		free(j->v[i].temp);
		free(j->v[i].target);
	}
	free(j->v);
	memset(j, 0, sizeof(*j));
}

int dsync_mirror_journal_read(mirror_journal *out, dsync_folder *f, const char *name)
{
	dsync_buf path = DSYNC_BUF_INIT, data = DSYNC_BUF_INIT;
	const char *p, *end;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_mirror_state_path(&path, f, name, "journal")) < 0)
		goto out;
	if ((error = dsync_file_read(&data, path.ptr, CACHE_MAX, DSYNC_FILE_NOFOLLOW)) < 0) {
		if (error == DSYNC_ENOTFOUND)
			error = 0;
		goto out;
	}
	p = data.ptr ? data.ptr : "";
	end = p + data.len;
	while (p < end) {
		mirror_journal_entry e = { 0 };

		if (end - p < 2 || (p[0] != 'n' && p[0] != 'o') || p[1] != ' ')
			break;
		e.kind = p[0];
		p += 2;
		if (!journal_field(&p, end, &e.temp, ' ') || !journal_field(&p, end, &e.target, '\n')) {
			free(e.temp);
			break;   /* torn: never durable, so never made on the host */
		}
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 8;
			mirror_journal_entry *v = realloc(out->v, cap * sizeof(*v));

			if (!v) {
				free(e.temp);
				free(e.target);
				error = dsync_error_oom();
				goto out;
			}
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n++] = e;
	}
out:
	if (error < 0)
		dsync_mirror_journal_dispose(out);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&data);
	return error;
}

static int remove_file(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return dsync_error_sys(errno, "cannot remove '%s'", path);
	return 0;
}

int dsync_mirror_journal_clear(dsync_folder *f, const char *name)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	/* durable: a journal that came back after a crash would have the next
	 * round remove names made after this */
	if ((error = dsync_mirror_state_path(&path, f, name, "journal")) == 0) {
		if (unlink(path.ptr) == 0)
			error = fsync_dir_of(path.ptr);
		else if (errno != ENOENT)
			error = dsync_error_sys(errno, "cannot remove '%s'", path.ptr);
	}
	dsync_buf_dispose(&path);
	return error;
}

/* ---- status files ------------------------------------------------------------------ */

static bool status_name_ok(const char *file)
{
	return strcmp(file, "paused") == 0 || strcmp(file, "error") == 0 || strcmp(file, "last") == 0 ||
	       strcmp(file, "kept") == 0;
}

int dsync_mirror_status_write(dsync_folder *f, const char *name, const char *file, const char *text)
{
	dsync_buf path = DSYNC_BUF_INIT, data = DSYNC_BUF_INIT;
	int error;

	if (!status_name_ok(file))
		return dsync_error_set(DSYNC_EUSAGE, "no mirror status file '%s'", file);
	if (!text) {
		if ((error = dsync_mirror_state_path(&path, f, name, file)) == 0)
			error = remove_file(path.ptr);
		goto out;
	}
	if ((error = state_file(&path, f, name, file)) < 0 || (error = dsync_buf_puts(&data, text)) < 0)
		goto out;
	if ((!data.len || data.ptr[data.len - 1] != '\n') && (error = dsync_buf_puts(&data, "\n")) < 0)
		goto out;
	error = dsync_path_write_atomic(path.ptr, data.ptr, data.len, 0644, false);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&data);
	return error;
}

int dsync_mirror_status_read(char **out, dsync_folder *f, const char *name, const char *file)
{
	dsync_buf path = DSYNC_BUF_INIT, data = DSYNC_BUF_INIT;
	int error;

	*out = NULL;
	if (!status_name_ok(file))
		return dsync_error_set(DSYNC_EUSAGE, "no mirror status file '%s'", file);
	if ((error = dsync_mirror_state_path(&path, f, name, file)) == 0 &&
	    (error = dsync_file_read(&data, path.ptr, 16 << 20, DSYNC_FILE_NOFOLLOW)) == 0) {
		if (data.len && data.ptr[data.len - 1] == '\n')
			dsync_buf_truncate(&data, data.len - 1);
		if ((*out = dsync_buf_detach(&data)) == NULL)
			error = dsync_error_oom();
	} else if (error == DSYNC_ENOTFOUND) {
		error = 0;
	}
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&data);
	return error;
}

/* '\\', TAB, LF and CR escaped: a kept path may hold any of them (its
 * reason then being "control character in name"). */
static int kept_escape(dsync_buf *out, const char *s)
{
	int error = 0;

	for (; *s && error == 0; s++) {
		if (*s == '\\')
			error = dsync_buf_puts(out, "\\\\");
		else if (*s == '\t')
			error = dsync_buf_puts(out, "\\t");
		else if (*s == '\n')
			error = dsync_buf_puts(out, "\\n");
		else if (*s == '\r')
			error = dsync_buf_puts(out, "\\r");
		else
			error = dsync_buf_put(out, s, 1);
	}
	return error;
}

int dsync_mirror_kept_put(dsync_buf *out, const char *path, const char *reason)
{
	int error;

	if ((error = kept_escape(out, path)) < 0 || (error = dsync_buf_puts(out, "\t")) < 0 ||
	    (error = kept_escape(out, reason)) < 0)
		return error;
	return dsync_buf_puts(out, "\n");
}

char *dsync_mirror_kept_unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len && s[i + 1] && strchr("\\tnr", s[i + 1])) {
			i++;
			*o++ = s[i] == 't' ? '\t' : s[i] == 'n' ? '\n' : s[i] == 'r' ? '\r' : '\\';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int dsync_mirror_state_remove(dsync_folder *f, const char *name)
{
	dsync_buf path = DSYNC_BUF_INIT;
	git_reference *ref = NULL;
	char refname[128];
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((error = dsync_mirror_state_path(&path, f, name, NULL)) == 0)
		dsync_path_remove(path.ptr, true);
	dsync_buf_dispose(&path);
	snprintf(refname, sizeof(refname), DSYNC_MIRROR_REF_PREFIX "%s", name);
	if ((err = git_reference_lookup(&ref, f->repo, refname)) == 0) {
		if ((err = git_reference_delete(ref)) < 0)
			error = dsync_error_git(err, "cannot remove %s", refname);
		git_reference_free(ref);
	} else if (err != GIT_ENOTFOUND) {
		error = dsync_error_git(err, "cannot read %s", refname);
	}
	return error;
}
