/*
 * dsync mirror add, list, remove and set (include/dsync/mirror.h): a
 * mirror's config and the status its rounds left.  Adding connects once to
 * check the host's folder and normalise its URL; nothing is recorded until
 * the first round.
 */
#include "core/base/internal.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/path.h"
#include "core/mirror/mirror_internal.h"
#include "core/worktree/begin.h"
#include "transport/sftp_folder.h"
#include "transport/transport.h"

/* Mirror NAME of ALL (sorted), or DSYNC_ENOTFOUND naming it. */
static int pick(mirror_cfg **out, mirror_cfg *all, size_t n, const char *name, const dsync_folder *f)
{
	char q[DSYNC_QUOTE_SIZE];
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(all[i].name, name) == 0) {
			*out = &all[i];
			return 0;
		}
	*out = NULL;
	return dsync_error_set(DSYNC_ENOTFOUND, "no mirror '%s' in '%s' (see dsync mirror list)", dsync_quote(q, name),
			       f->root);
}

static bool exists(const mirror_cfg *all, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(all[i].name, name) == 0)
			return true;
	return false;
}

/* SUBDIR as mirror.NAME.path into *OUT (malloc'd): "." components, "//"
 * and a trailing '/' dropped; a folder-relative path inside the folder (no
 * ".." at all), never into .dsync. */
static int subdir_norm(char **out, const char *subdir)
{
	char q[DSYNC_QUOTE_SIZE];
	const char *p;
	size_t len;

	*out = NULL;
	if (!subdir)
		subdir = "";
	for (p = subdir; p && *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL) {
		len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			goto bad;
	}
	if (subdir[0] == '/' || strchr(subdir, '\\'))
		goto bad;
	if ((*out = strdup(subdir)) == NULL)
		return dsync_error_oom();
	if (**out) {
		dsync_path_normalize(*out);
		if (strcmp(*out, ".") == 0)
			**out = '\0';
	}
	if (dsync_mirror_path_ok(*out))
		return 0;
	free(*out);
	*out = NULL;
bad:
	return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a folder-relative path (like Phone/DCIM: no '..', not into "
			       ".dsync)", dsync_quote(q, subdir));
}

/* Makes ROOT/SUB's missing folders, none of them through a link. */
static int subdir_make(const char *root, const char *sub)
{
	dsync_buf path = DSYNC_BUF_INIT;
	const char *p = sub, *slash;
	struct stat st;
	int error = 0;

	if (!*sub)
		return 0;
	if ((error = dsync_buf_puts(&path, root)) < 0)
		return error;
	for (;;) {
		slash = strchr(p, '/');
		if ((error = dsync_buf_printf(&path, "/%.*s", (int)(slash ? (size_t)(slash - p) : strlen(p)), p)) < 0)
			break;
		if (lstat(path.ptr, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				error = dsync_error_set(DSYNC_ENOTDIR, "'%s' is not a folder", path.ptr);
				break;
			}
		} else if (errno != ENOENT || mkdir(path.ptr, 0777) < 0) {
			error = dsync_error_sys(errno, "cannot make the folder '%s'", path.ptr);
			break;
		}
		if (!slash)
			break;
		p = slash + 1;
	}
	dsync_buf_dispose(&path);
	return error;
}

/* Two mirrors of one part of the folder would each write the other's
 * files to its host and record them back: refused.  "" is the whole
 * folder, which overlaps everything. */
static int overlap_check(const mirror_cfg *all, size_t n, const char *path)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *o = all[i].path ? all[i].path : "";
		size_t lo = strlen(o), lp = strlen(path);
		const char *shorter = lo <= lp ? o : path, *longer = lo <= lp ? path : o;
		size_t ls = lo <= lp ? lo : lp;

		if (ls == 0 || (strncmp(shorter, longer, ls) == 0 && (longer[ls] == '/' || longer[ls] == '\0')))
			return dsync_error_set(DSYNC_EUSAGE,
					       "mirror '%s' already keeps %s%s%s: two mirrors can't share a part of the folder "
					       "(give --path-in-folder a folder outside it)",
					       all[i].name, *o ? "'" : "", *o ? o : "the whole folder", *o ? "'" : "");
	}
	return 0;
}

int dsync_mirror_add(dsync_folder *f, const char *name, const char *url, const char *subdir, bool create,
		     const dsync_mirror_options *o)
{
	dsync_mirror_options defaults = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_transport_opts topts = { 0 };
	dsync_sftp_folder *pf = NULL;
	mirror_cfg *all = NULL, c = { 0 };
	unsigned char raw[16];
	size_t n = 0;
	int error;

	if (!o)
		o = &defaults;
	if ((error = dsync_mirror_name_check(f, name)) < 0 || (error = subdir_norm(&c.path, subdir)) < 0 ||
	    (error = dsync_mirror_config_read(&all, &n, f)) < 0)
		goto out;
	if (exists(all, n, name)) {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' is already a mirror of '%s'", name, f->root);
		goto out;
	}
	if (!url || !*url) {
		error = dsync_error_set(DSYNC_EUSAGE, "give the mirror's URL (sftp://[user@]host[:port]/path)");
		goto out;
	}
	if ((error = overlap_check(all, n, c.path)) < 0)
		goto out;
	/* once, to see the folder there (made when asked) and to learn its
	 * normalised URL (the settings are not kept yet: ssh auto unless
	 * $DSYNC_SSH says otherwise) */
	c.ssh_mode = DSYNC_SSH_AUTO;
	if ((error = dsync_mirror_transport_opts(&topts, &c, o)) < 0 ||
	    (error = dsync_transport_open_folder(&pf, url, create, &topts)) < 0)
		goto out;
	c.name = (char *)name;
	if ((c.url = strdup(dsync_sftp_folder_url(pf))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	dsync_sftp_folder_free(pf);
	pf = NULL;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(c.device_id, sizeof(c.device_id), raw, sizeof(raw));
	c.interval_s = DSYNC_MIRROR_DEFAULT_INTERVAL;
	c.ssh_mode = DSYNC_SSH_AUTO;
	if ((error = dsync_write_begin(f, o->lock_wait_ms)) < 0)
		goto out;
	/* again under the lock: another add may have come in meanwhile */
	dsync_mirror_config_free(all, n);
	all = NULL;
	n = 0;
	if ((error = dsync_mirror_config_read(&all, &n, f)) == 0 && exists(all, n, name))
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' is already a mirror of '%s'", name, f->root);
	/* state a removed mirror of that name left (a killed remove) is not this one's */
	if (error == 0 && (error = subdir_make(f->root, c.path)) == 0 && (error = dsync_mirror_state_remove(f, name)) == 0)
		error = dsync_mirror_config_write(f, &c);
	dsync_write_end(f);
out:
	dsync_sftp_folder_free(pf);
	free(c.url);
	free(c.path);
	dsync_mirror_config_free(all, n);
	return error;
}

/* ---- list ---------------------------------------------------------------------------- */

/* "path TAB reason" lines of TEXT into INFO's kept list. */
static int parse_kept(dsync_mirror_info *info, const char *text)
{
	const char *p = text, *nl, *tab;
	size_t lines = 1, len;
	dsync_mirror_kept *k;

	for (nl = text; (nl = strchr(nl, '\n')) != NULL; nl++)
		lines++;
	if ((info->kept = calloc(lines, sizeof(*info->kept))) == NULL)
		return dsync_error_oom();
	for (; *p; p = nl ? nl + 1 : p + len) {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		tab = memchr(p, '\t', len);
		if (!tab || tab == p)
			continue;   /* not a line of ours: skipped */
		k = &info->kept[info->n_kept];
		if ((k->path = dsync_mirror_kept_unescape(p, (size_t)(tab - p))) == NULL ||
		    (k->reason = dsync_mirror_kept_unescape(tab + 1, len - (size_t)(tab + 1 - p))) == NULL) {
			free(k->path);
			k->path = NULL;
			return dsync_error_oom();
		}
		info->n_kept++;
		if (!nl)
			break;
	}
	return 0;
}

static int list_one(dsync_mirror_info *info, mirror_cfg *c, dsync_folder *f)
{
	char *text = NULL, *end;
	int error;

	info->name = c->name;
	info->url = c->url;
	info->path = c->path;
	c->name = c->url = c->path = NULL;
	memcpy(info->device_id, c->device_id, sizeof(c->device_id));
	info->interval_s = c->interval_s;
	if ((error = dsync_mirror_status_read(&info->paused, f, info->name, "paused")) < 0 ||
	    (error = dsync_mirror_status_read(&info->last_error, f, info->name, "error")) < 0 ||
	    (error = dsync_mirror_status_read(&text, f, info->name, "last")) < 0)
		return error;
	if (text) {
		long long t = strtoll(text, &end, 10);

		/* a bad one is as none: it only says when */
		if (end != text && *end == '\0' && t > 0)
			info->last_round = (time_t)t;
		free(text);
		text = NULL;
	}
	if ((error = dsync_mirror_status_read(&text, f, info->name, "kept")) < 0)
		return error;
	if (text)
		error = parse_kept(info, text);
	free(text);
	return error;
}

void dsync_mirror_list_free(dsync_mirror_info *list, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].url);
		free(list[i].path);
		free(list[i].paused);
		free(list[i].last_error);
		for (k = 0; k < list[i].n_kept; k++) {
			free(list[i].kept[k].path);
			free(list[i].kept[k].reason);
		}
		free(list[i].kept);
	}
	free(list);
}

int dsync_mirror_list(dsync_mirror_info **out, size_t *n, dsync_folder *f)
{
	mirror_cfg *all = NULL;
	size_t count = 0, i;
	int error;

	*out = NULL;
	*n = 0;
	if ((error = dsync_mirror_config_read(&all, &count, f)) < 0)
		return error;
	if (count && (*out = calloc(count, sizeof(**out))) == NULL)
		error = dsync_error_oom();
	for (i = 0; i < count && error == 0; i++)
		error = list_one(&(*out)[i], &all[i], f);
	if (error < 0) {
		dsync_mirror_list_free(*out, count);
		*out = NULL;
	} else {
		*n = count;
	}
	dsync_mirror_config_free(all, count);
	return error;
}

bool dsync_folder_has_mirrors(dsync_folder *f)
{
	mirror_cfg *all = NULL;
	size_t n = 0;

	if (dsync_mirror_config_read(&all, &n, f) < 0) {
		dsync_error_clear();
		return false;
	}
	dsync_mirror_config_free(all, n);
	return n > 0;
}

int dsync_mirror_interval_ms(dsync_folder *f)
{
	mirror_cfg *all = NULL;
	size_t n = 0, i;
	int best = 0;

	if (dsync_mirror_config_read(&all, &n, f) < 0) {
		dsync_error_clear();
		return 0;
	}
	for (i = 0; i < n; i++)
		if (best == 0 || all[i].interval_s < best)
			best = all[i].interval_s;
	dsync_mirror_config_free(all, n);
	/* at most a week (config_read's bound): fits an int in ms */
	return best * 1000;
}

/* ---- remove, set --------------------------------------------------------------------- */

int dsync_mirror_remove(dsync_folder *f, const char *name)
{
	mirror_cfg *all = NULL, *m;
	size_t n = 0;
	int error;

	if ((error = dsync_mirror_config_read(&all, &n, f)) < 0 || (error = pick(&m, all, n, name, f)) < 0)
		goto out;
	if ((error = dsync_write_begin(f, DSYNC_LOCK_WAIT_MS)) < 0)
		goto out;
	/* the config first: a removal cut after it leaves only state that a
	 * new mirror of the name sweeps (dsync_mirror_add) */
	if ((error = dsync_mirror_config_remove(f, name)) == 0)
		error = dsync_mirror_state_remove(f, name);
	dsync_write_end(f);
out:
	dsync_mirror_config_free(all, n);
	return error;
}

int dsync_mirror_set(dsync_folder *f, const char *name, const char *key, const char *value)
{
	static const char *const keys[] = { "interval", "ssh", "sshCommand", "limitRate" };
	mirror_cfg *all = NULL, *m;
	size_t n = 0, i;
	uint64_t rate;
	char q[DSYNC_QUOTE_SIZE];
	int v, error;

	for (i = 0; i < DSYNC_ARRAY_SIZE(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			break;
	if (i == DSYNC_ARRAY_SIZE(keys))
		return dsync_error_set(DSYNC_EUSAGE, "a mirror has no setting '%s' (interval, ssh, sshCommand, limitRate)",
				       dsync_quote(q, key));
	if ((error = dsync_mirror_config_read(&all, &n, f)) < 0 || (error = pick(&m, all, n, name, f)) < 0)
		goto out;
	/* NAME is a mirror's now: safe to print */
	if (value && i == 0 && dsync_mirror_interval_parse(&v, value) < 0)
		error = dsync_error_set(DSYNC_EUSAGE, "mirror.%s.interval can't be '%s': give seconds, 1 or more (at most "
					"a week)", name, dsync_quote(q, value));
	else if (value && i == 1 && dsync_mirror_ssh_mode(&v, value) < 0)
		error = dsync_error_set(DSYNC_EUSAGE, "mirror.%s.ssh can't be '%s': give auto, openssh or builtin", name,
					dsync_quote(q, value));
	else if (value && i == 2 && (!*value || strchr(value, '\n') || strchr(value, '\r')))
		error = dsync_error_set(DSYNC_EUSAGE, "mirror.%s.sshCommand must be one line, not empty", name);
	else if (value && i == 3)
		error = dsync_rate_parse(value, &rate);
	if (error < 0 || (error = dsync_write_begin(f, DSYNC_LOCK_WAIT_MS)) < 0)
		goto out;
	error = dsync_mirror_config_set(f, name, key, value);
	dsync_write_end(f);
out:
	dsync_mirror_config_free(all, n);
	return error;
}
