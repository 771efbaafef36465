/*
 * ~/.ssh/config for the built-in SSH client (transport/ssh_config.h).
 */
#include "core/base/internal.h"

#include <ctype.h>
#include <glob.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/buf.h"
#include "core/base/file.h"
#include "transport/ssh_config.h"

/* a config or known_hosts file larger than this is refused */
#define SSH_FILE_MAX (4u << 20)
#define MAX_WORDS 64

void dsync_ssh_config_init(dsync_ssh_config *c)
{
	memset(c, 0, sizeof(*c));
	c->identities_only = -1;
	c->hash_known_hosts = -1;
}

void dsync_ssh_config_dispose(dsync_ssh_config *c)
{
	free(c->hostname);
	free(c->user);
	free(c->identity_agent);
	dsync_strlist_dispose(&c->identity_files);
	dsync_strlist_dispose(&c->user_known_hosts);
	dsync_strlist_dispose(&c->global_known_hosts);
	dsync_ssh_config_init(c);
}

bool dsync_ssh_config_pattern_match(const char *p, const char *s)
{
	for (;;) {
		if (*p == '\0')
			return *s == '\0';
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (*p == '\0')
				return true;
			for (; *s; s++)
				if (dsync_ssh_config_pattern_match(p, s))
					return true;
			return false;
		}
		if (*s == '\0')
			return false;
		if (*p != '?' && tolower((unsigned char)*p) != tolower((unsigned char)*s))
			return false;
		p++;
		s++;
	}
}

bool dsync_ssh_config_host_match(const char *patterns, const char *host)
{
	char word[512];
	const char *p = patterns;
	bool matched = false;
	size_t n;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " \t,");
		if (n >= sizeof(word)) {
			p += n;
			continue;
		}
		memcpy(word, p, n);
		word[n] = '\0';
		p += n;
		if (word[0] == '!') {
			if (dsync_ssh_config_pattern_match(word + 1, host))
				return false;
		} else if (dsync_ssh_config_pattern_match(word, host)) {
			matched = true;
		}
	}
	return matched;
}

/* Splits LINE (NUL-terminated, changed in place) into the keyword and its
 * words: blanks or one '=' after the keyword, double quotes around a word
 * with blanks, a word starting with '#' ends the line.  -1 for an
 * unterminated quote. */
static int split(char *line, char **words, size_t *count)
{
	char *p = line, *w;
	size_t n = 0;

	*count = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#')
		return 0;
	words[n++] = p;
	while (*p && *p != ' ' && *p != '\t' && *p != '=')
		p++;
	if (*p) {
		char sep = *p;

		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (sep != '=' && *p == '=')
			p++;
	}
	while (n < MAX_WORDS) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			break;
		if (*p == '"') {
			w = ++p;
			while (*p && *p != '"')
				p++;
			if (*p != '"')
				return -1;
			*p++ = '\0';
		} else {
			w = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
			if (*p)
				*p++ = '\0';
		}
		words[n++] = w;
	}
	*count = n;
	return 0;
}

static int set_string(char **field, const char *v)
{
	if (*field)
		return 0;
	if (!(*field = strdup(v)))
		return dsync_error_oom();
	return 0;
}

static int yes_no(int *field, const char *v, const char *file, size_t lineno, const char *key)
{
	int b;

	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
		b = 1;
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
		b = 0;
	else
		return dsync_error_set(DSYNC_EUSAGE, "%s line %zu: %s is '%s': give yes or no", file, lineno, key, v);
	if (*field < 0)
		*field = b;
	return 0;
}

static void note_ignored(dsync_ssh_config *c, const char *key, const char *file)
{
	if (c->ignored[0])
		return;
	snprintf(c->ignored, sizeof(c->ignored), "%s", key);
	snprintf(c->ignored_file, sizeof(c->ignored_file), "%s", file);
}

/* Whether an Include of PATTERN (in FILE) names any file. */
static bool include_finds(const char *pattern, const char *file)
{
	char path[8200], dir[4096];
	const char *home = getenv("HOME");
	const char *slash;
	glob_t g;
	bool found;

	if (pattern[0] == '~' && pattern[1] == '/' && home)
		snprintf(path, sizeof(path), "%s%s", home, pattern + 1);
	else if (pattern[0] == '/')
		snprintf(path, sizeof(path), "%s", pattern);
	else {
		/* relative to ~/.ssh for the user's file, /etc/ssh for the system's */
		slash = strrchr(file, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - file) : 1, slash ? file : ".");
		snprintf(path, sizeof(path), "%s/%s", dir, pattern);
	}
	if (glob(path, GLOB_NOSORT, NULL, &g) != 0)
		return false;
	found = g.gl_pathc > 0;
	globfree(&g);
	return found;
}

static int add_words(dsync_strlist *l, char **words, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(words[i], "none") == 0)
			continue;
		if (dsync_strlist_add(l, words[i]) < 0)
			return DSYNC_ERROR;
	}
	return 0;
}

static int apply(dsync_ssh_config *c, char **w, size_t n, const char *file, size_t lineno)
{
	const char *k = w[0];
	char *end;
	long v;

	if (n < 2)
		return 0;
	if (strcasecmp(k, "HostName") == 0)
		return set_string(&c->hostname, w[1]);
	if (strcasecmp(k, "User") == 0)
		return set_string(&c->user, w[1]);
	if (strcasecmp(k, "Port") == 0) {
		errno = 0;
		v = strtol(w[1], &end, 10);
		if (errno || *end || v < 1 || v > 65535)
			return dsync_error_set(DSYNC_EUSAGE, "%s line %zu: Port is '%s': give a number from 1 to 65535",
					       file, lineno, w[1]);
		if (!c->port)
			c->port = (int)v;
		return 0;
	}
	if (strcasecmp(k, "IdentityFile") == 0)
		return strcasecmp(w[1], "none") == 0 ? 0 : dsync_strlist_add(&c->identity_files, w[1]);
	if (strcasecmp(k, "IdentitiesOnly") == 0)
		return yes_no(&c->identities_only, w[1], file, lineno, k);
	if (strcasecmp(k, "IdentityAgent") == 0)
		return set_string(&c->identity_agent, w[1]);
	if (strcasecmp(k, "HashKnownHosts") == 0)
		return yes_no(&c->hash_known_hosts, w[1], file, lineno, k);
	if (strcasecmp(k, "UserKnownHostsFile") == 0) {
		if (c->user_known_hosts_set)
			return 0;
		c->user_known_hosts_set = true;
		return add_words(&c->user_known_hosts, w + 1, n - 1);
	}
	if (strcasecmp(k, "GlobalKnownHostsFile") == 0) {
		if (c->global_known_hosts_set)
			return 0;
		c->global_known_hosts_set = true;
		return add_words(&c->global_known_hosts, w + 1, n - 1);
	}
	if (strcasecmp(k, "ConnectTimeout") == 0) {
		v = strtol(w[1], &end, 10);
		if (!c->connect_timeout && !*end && v > 0 && v < 86400)
			c->connect_timeout = (int)v;
		return 0;
	}
	if (strcasecmp(k, "ProxyJump") == 0 || strcasecmp(k, "ProxyCommand") == 0) {
		if (strcasecmp(w[1], "none") != 0)
			note_ignored(c, k, file);
		return 0;
	}
	if (strcasecmp(k, "CertificateFile") == 0 || strcasecmp(k, "HostKeyAlias") == 0)
		note_ignored(c, k, file);
	else if (strcasecmp(k, "Include") == 0 && include_finds(w[1], file))
		note_ignored(c, "Include", file);
	return 0;
}

int dsync_ssh_config_parse(dsync_ssh_config *c, const char *text, size_t len, const char *host, const char *file)
{
	char *words[MAX_WORDS];
	char line[4096];
	size_t pos = 0, lineno = 0, n, ll;
	bool active = true;
	int error;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);

		ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		lineno++;
		if (ll >= sizeof(line)) {
			pos += ll + 1;
			continue;
		}
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + 1;
		if (memchr(line, '\0', ll) != NULL)
			continue; /* a NUL inside: not a config line */
		if (ll && line[ll - 1] == '\r')
			line[ll - 1] = '\0';
		if (split(line, words, &n) < 0)
			return dsync_error_set(DSYNC_EUSAGE, "%s line %zu: a quote is not closed", file, lineno);
		if (n == 0)
			continue;
		if (strcasecmp(words[0], "Host") == 0) {
			size_t i;
			char all[4096];
			size_t used = 0;

			all[0] = '\0';
			for (i = 1; i < n; i++) {
				int k = snprintf(all + used, sizeof(all) - used, "%s ", words[i]);

				if (k < 0 || (size_t)k >= sizeof(all) - used)
					break;
				used += (size_t)k;
			}
			active = dsync_ssh_config_host_match(all, host);
			continue;
		}
		if (strcasecmp(words[0], "Match") == 0) {
			note_ignored(c, "Match", file);
			active = false;
			continue;
		}
		if (!active)
			continue;
		if ((error = apply(c, words, n, file, lineno)) < 0)
			return error;
	}
	return 0;
}

/* Whether PATH is there and not a regular file (/dev/null, a FIFO), which
 * OpenSSH reads as empty: we skip it without opening it. */
static bool not_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

int dsync_ssh_config_read_file(dsync_ssh_config *c, const char *path, const char *host)
{
	dsync_buf b = DSYNC_BUF_INIT;
	int error;

	if (not_regular(path))
		return 0;
	error = dsync_file_read(&b, path, SSH_FILE_MAX, 0);
	if (error == DSYNC_ENOTFOUND)
		error = 0;
	else if (error == 0)
		error = dsync_ssh_config_parse(c, b.ptr ? b.ptr : "", b.len, host, path);
	dsync_buf_dispose(&b);
	return error;
}

int dsync_ssh_config_expand(char **out, const char *in, const dsync_ssh_config *c, const char *host,
			    const char *home, const char *local_user)
{
	dsync_buf b = DSYNC_BUF_INIT;
	const char *p = in;
	int error = 0;

	*out = NULL;
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		error = dsync_buf_puts(&b, home);
		p++;
	}
	for (; *p && error == 0; p++) {
		if (*p != '%') {
			error = dsync_buf_put(&b, p, 1);
			continue;
		}
		switch (*++p) {
		case '%': error = dsync_buf_put(&b, "%", 1); break;
		case 'd': error = dsync_buf_puts(&b, home); break;
		case 'u': error = dsync_buf_puts(&b, local_user); break;
		case 'h': error = dsync_buf_puts(&b, c->hostname ? c->hostname : host); break;
		case 'n': error = dsync_buf_puts(&b, host); break;
		case 'p': error = dsync_buf_printf(&b, "%d", c->port ? c->port : 22); break;
		case 'r': error = dsync_buf_puts(&b, c->user ? c->user : local_user); break;
		case 'i': error = dsync_buf_printf(&b, "%u", (unsigned)getuid()); break;
		default:
			dsync_buf_dispose(&b);
			return dsync_error_set(DSYNC_EUSAGE, "'%s' in the ssh config holds the token %%%.1s, which the built-in client does not know",
					       in, *p ? p : "");
		}
	}
	if (error < 0) {
		dsync_buf_dispose(&b);
		return error;
	}
	if (!(*out = dsync_buf_detach(&b)))
		return dsync_error_oom();
	return 0;
}

static int expand_list(dsync_strlist *l, const dsync_ssh_config *c, const char *host, const char *home,
		       const char *local_user)
{
	size_t i;
	char *v;
	int error;

	for (i = 0; i < l->size; i++) {
		if ((error = dsync_ssh_config_expand(&v, l->ptr[i], c, host, home, local_user)) < 0)
			return error;
		free(l->ptr[i]);
		l->ptr[i] = v;
	}
	return 0;
}

static int add_default(dsync_strlist *l, const char *a, const char *b)
{
	return dsync_strlist_add(l, a) < 0 || dsync_strlist_add(l, b) < 0 ? DSYNC_ERROR : 0;
}

int dsync_ssh_config_finish(dsync_ssh_config *c, const char *host, const char *user, int port, const char *home,
			    const char *local_user)
{
	char *v;
	int error;

	if (port > 0)
		c->port = port;
	else if (!c->port)
		c->port = 22;
	if (user && *user) {
		free(c->user);
		c->user = NULL;
	}
	if ((error = set_string(&c->user, user && *user ? user : local_user)) < 0)
		return error;
	if (c->hostname) {
		/* HostName's own %h is the host as typed */
		char *raw = c->hostname;

		c->hostname = NULL;
		error = dsync_ssh_config_expand(&v, raw, c, host, home, local_user);
		free(raw);
		if (error < 0)
			return error;
		c->hostname = v;
	} else if ((error = set_string(&c->hostname, host)) < 0) {
		return error;
	}
	if (c->identity_files.size == 0) {
		c->identity_files_default = true;
		if (add_default(&c->identity_files, "~/.ssh/id_ed25519", "~/.ssh/id_ecdsa") < 0)
			return DSYNC_ERROR;
	}
	if (!c->user_known_hosts_set &&
	    add_default(&c->user_known_hosts, "~/.ssh/known_hosts", "~/.ssh/known_hosts2") < 0)
		return DSYNC_ERROR;
	if (!c->global_known_hosts_set &&
	    add_default(&c->global_known_hosts, "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2") < 0)
		return DSYNC_ERROR;
	if (c->identities_only < 0)
		c->identities_only = 0;
	if (c->hash_known_hosts < 0)
		c->hash_known_hosts = 0;
	if ((error = expand_list(&c->identity_files, c, host, home, local_user)) < 0 ||
	    (error = expand_list(&c->user_known_hosts, c, host, home, local_user)) < 0 ||
	    (error = expand_list(&c->global_known_hosts, c, host, home, local_user)) < 0)
		return error;
	if (c->identity_agent && strcmp(c->identity_agent, "none") != 0 &&
	    strcmp(c->identity_agent, "SSH_AUTH_SOCK") != 0) {
		if ((error = dsync_ssh_config_expand(&v, c->identity_agent, c, host, home, local_user)) < 0)
			return error;
		free(c->identity_agent);
		c->identity_agent = v;
	}
	return 0;
}

int dsync_ssh_config_read(dsync_ssh_config *c, const char *host, const char *user, int port)
{
	const char *home = getenv("HOME");
	const char *sys = "/etc/ssh/ssh_config";
	struct passwd *pw = getpwuid(getuid());
	char local[256], path[4096];
	int error;

	snprintf(local, sizeof(local), "%s", pw && pw->pw_name ? pw->pw_name : "");
	if (!local[0]) {
		const char *u = getenv("USER");

		snprintf(local, sizeof(local), "%s", u ? u : "root");
	}
	if (!home || !*home)
		home = pw && pw->pw_dir ? pw->pw_dir : "/";
#ifdef DSYNC_TESTING
	if (getenv("DSYNC_TEST_SSH_SYSTEM_CONFIG"))
		sys = getenv("DSYNC_TEST_SSH_SYSTEM_CONFIG");
#endif
	snprintf(path, sizeof(path), "%s/.ssh/config", home);
	if ((error = dsync_ssh_config_read_file(c, path, host)) < 0 ||
	    (error = dsync_ssh_config_read_file(c, sys, host)) < 0)
		return error;
	return dsync_ssh_config_finish(c, host, user, port, home, local);
}

const char *dsync_ssh_tilde(char *buf, size_t size, const char *path, const char *home)
{
	size_t hl = home ? strlen(home) : 0;

	if (hl > 1 && strncmp(path, home, hl) == 0 && path[hl] == '/')
		snprintf(buf, size, "~%s", path + hl);
	else
		snprintf(buf, size, "%s", path);
	return buf;
}
