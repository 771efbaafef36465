/*
 * S3 credentials and settings (transport/s3_creds.h): the environment, then
 * the AWS CLI's two INI files, read as botocore reads them (sections,
 * "key = value", an "s3 =" line's indented block), every line bounded.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/s3_types.h"
#include "transport/s3_creds.h"

#define LINE_MAX_LEN 8192
#define SECRET_MAX 256
#define TOKEN_MAX 4096
#define PROFILE_MAX 64

void dsync_s3_creds_dispose(dsync_s3_creds *c)
{
	sodium_free(c->secret); /* wipes */
	sodium_free(c->token);
	free(c->ca_bundle);
	memset(c, 0, sizeof(*c));
}

/* printable ASCII, no space: what a key, secret or token holds */
static bool plain(const char *s, size_t len, size_t max, bool colon)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || (!colon && s[i] == ':'))
			return false;
	return true;
}

static bool region_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int secret_copy(char **out, const char *s, size_t len)
{
	char *p = sodium_malloc(len + 1);

	if (!p)
		return dsync_error_oom();
	memcpy(p, s, len);
	p[len] = '\0';
	sodium_free(*out);
	*out = p;
	return 0;
}

static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
		(*len)--;
}

static bool key_is(const char *k, size_t klen, const char *name)
{
	return strlen(name) == klen && memcmp(k, name, klen) == 0;
}

/* What one file gave for the profile. */
typedef struct found {
	char key_id[129];
	char *secret, *token;
	bool has_key_id;
} found;

static int setting(dsync_s3_creds *out, found *f, const char *k, size_t klen, const char *v, size_t vlen,
		   const char *nested, bool config, const char *path, unsigned line)
{
	if (nested) {
		/* "s3 =" then "  addressing_style = path" */
		if (config && strcmp(nested, "s3") == 0 && key_is(k, klen, "addressing_style")) {
			if (vlen == 4 && memcmp(v, "path", 4) == 0)
				out->style = DSYNC_S3_STYLE_PATH;
			else if (vlen == 7 && memcmp(v, "virtual", 7) == 0)
				out->style = DSYNC_S3_STYLE_VHOST;
			else if (vlen == 4 && memcmp(v, "auto", 4) == 0)
				out->style = DSYNC_S3_STYLE_AUTO;
			else
				goto bad;
		}
		return 0;
	}
	if (key_is(k, klen, "aws_access_key_id")) {
		if (!plain(v, vlen, sizeof(f->key_id) - 1, false))
			goto bad;
		memcpy(f->key_id, v, vlen);
		f->key_id[vlen] = '\0';
		f->has_key_id = true;
	} else if (key_is(k, klen, "aws_secret_access_key")) {
		if (!plain(v, vlen, SECRET_MAX, true))
			goto bad;
		return secret_copy(&f->secret, v, vlen);
	} else if (key_is(k, klen, "aws_session_token")) {
		if (!plain(v, vlen, TOKEN_MAX, true))
			goto bad;
		return secret_copy(&f->token, v, vlen);
	} else if (config && key_is(k, klen, "region")) {
		if (!region_ok(v, vlen))
			goto bad;
		memcpy(out->region, v, vlen);
		out->region[vlen] = '\0';
	} else if (config && key_is(k, klen, "ca_bundle")) {
		char *p;

		if (!plain(v, vlen, 4096, true) || !(p = strndup(v, vlen)))
			goto bad;
		free(out->ca_bundle);
		out->ca_bundle = p;
	}
	return 0;
bad:
	/* the value is never shown: it may be a secret */
	return dsync_error_set(DSYNC_EUSAGE, "%s line %u: a malformed value of '%.*s'", path, line,
			       (int)(klen > 40 ? 40 : klen), k);
}

/* Whether section header NAME (between the brackets, trimmed) is PROFILE's. */
static bool section_is(const char *name, size_t len, const char *profile, bool config)
{
	size_t plen = strlen(profile);

	if (config && len > 8 && memcmp(name, "profile", 7) == 0 && (name[7] == ' ' || name[7] == '\t')) {
		name += 8;
		len -= 8;
		trim(&name, &len);
		return len == plen && memcmp(name, profile, plen) == 0;
	}
	/* the config file names others "profile NAME"; "default" is bare */
	if (config && strcmp(profile, "default") != 0)
		return false;
	return len == plen && memcmp(name, profile, plen) == 0;
}

int dsync_s3_creds_parse(dsync_s3_creds *out, const char *text, size_t len, const char *profile, bool config,
			 const char *path)
{
	const char *p = text, *end = text + len;
	found f = { 0 };
	char nested[32] = "";
	bool in = false, seen = false;
	unsigned line = 0;
	int error = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *eq;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		bool indented;

		p = nl ? nl + 1 : end;
		line++;
		if (n > LINE_MAX_LEN) {
			error = dsync_error_set(DSYNC_EUSAGE, "%s line %u is too long", path, line);
			goto out;
		}
		if (memchr(s, '\0', n)) {
			error = dsync_error_set(DSYNC_EUSAGE, "%s line %u holds a NUL byte", path, line);
			goto out;
		}
		indented = n && (s[0] == ' ' || s[0] == '\t');
		trim(&s, &n);
		if (n == 0 || s[0] == '#' || s[0] == ';')
			continue;
		if (s[0] == '[' && !indented) {
			const char *name = s + 1;
			size_t nlen;

			if (s[n - 1] != ']')
				continue; /* not a section: botocore skips it too */
			nlen = n - 2;
			trim(&name, &nlen);
			in = section_is(name, nlen, profile, config);
			seen = seen || in;
			nested[0] = '\0';
			continue;
		}
		if (!in || !(eq = memchr(s, '=', n)))
			continue;
		{
			const char *k = s, *v = eq + 1;
			size_t klen = (size_t)(eq - s), vlen = n - klen - 1;

			trim(&k, &klen);
			trim(&v, &vlen);
			if (indented && nested[0]) {
				if ((error = setting(out, &f, k, klen, v, vlen, nested, config, path, line)) < 0)
					goto out;
				continue;
			}
			nested[0] = '\0';
			if (vlen == 0) {
				/* "s3 =": the indented lines below are its settings */
				if (klen < sizeof(nested)) {
					memcpy(nested, k, klen);
					nested[klen] = '\0';
				}
				continue;
			}
			if ((error = setting(out, &f, k, klen, v, vlen, NULL, config, path, line)) < 0)
				goto out;
		}
	}
	/* keys come as a pair; a file's pair wins only where none was found before */
	if (f.has_key_id != (f.secret != NULL)) {
		error = dsync_error_set(DSYNC_EUSAGE, "profile '%s' in %s has %s but no %s", profile, path,
					f.has_key_id ? "aws_access_key_id" : "aws_secret_access_key",
					f.has_key_id ? "aws_secret_access_key" : "aws_access_key_id");
		goto out;
	}
	if (f.secret && !out->secret) {
		memcpy(out->key_id, f.key_id, sizeof(out->key_id));
		out->secret = f.secret;
		out->token = f.token;
		f.secret = f.token = NULL;
		snprintf(out->from, sizeof(out->from), "profile '%s' of %s", profile, path);
	}
	error = seen ? 1 : 0;
out:
	sodium_free(f.secret);
	sodium_free(f.token);
	return error;
}

/* ---- files and the environment */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* The file at ENV_NAME's path, or ~/DFLT; "~/" expanded. */
static int file_path(char *out, size_t size, const char *env_name, const char *dflt)
{
	const char *v = env(env_name), *home = env("HOME");
	int n;

	if (v && strncmp(v, "~/", 2) != 0)
		n = snprintf(out, size, "%s", v);
	else if (!home)
		return dsync_error_set(DSYNC_EUSAGE, "HOME is not set: can't find ~/%s", v ? v + 2 : dflt);
	else
		n = snprintf(out, size, "%s/%s", home, v ? v + 2 : dflt);
	if (n < 0 || (size_t)n >= size)
		return dsync_error_set(DSYNC_EUSAGE, "%s: a path too long", env_name);
	return 0;
}

/* Reads PATH whole into *OUT (malloc'd; NULL and 0 when it doesn't exist). */
static int read_file(char **out, size_t *len, const char *path)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, error;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO (or a device) in its place is refused below, not waited on */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : dsync_error_sys(errno, "cannot read '%s'", path);
	if (fstat(fd, &st) < 0) {
		error = dsync_error_sys(errno, "cannot read '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > DSYNC_S3_FILE_MAX) {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' is not a plain file of at most 1 MiB", path);
		goto out;
	}
	if (!(buf = sodium_malloc((size_t)st.st_size + 1))) {
		error = dsync_error_oom();
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	error = 0;
out:
	sodium_free(buf);
	close(fd);
	return error;
}

static int parse_file(dsync_s3_creds *out, const char *path, const char *profile, bool config, bool *seen)
{
	char *text;
	size_t len;
	int error;

	if ((error = read_file(&text, &len, path)) < 0 || !text)
		return error;
	error = dsync_s3_creds_parse(out, text, len, profile, config, path);
	sodium_free(text); /* it held the secret: wiped */
	if (error > 0)
		*seen = true;
	return error < 0 ? error : 0;
}

int dsync_s3_creds_find(dsync_s3_creds *out)
{
	const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	const char *token = env("AWS_SESSION_TOKEN"), *region, *ca;
	const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : env("AWS_DEFAULT_PROFILE");
	char cred_path[4096], conf_path[4096];
	bool named = profile != NULL, seen = false;
	int error;

	memset(out, 0, sizeof(*out));
	if (!profile)
		profile = "default";
	if (strlen(profile) > PROFILE_MAX || !plain(profile, strlen(profile), PROFILE_MAX, true) ||
	    strchr(profile, ']'))
		return dsync_error_set(DSYNC_EUSAGE, "AWS_PROFILE is not a profile name");
	if ((id != NULL) != (secret != NULL))
		return dsync_error_set(DSYNC_EUSAGE, "%s is set but %s is not", id ? "AWS_ACCESS_KEY_ID" :
				       "AWS_SECRET_ACCESS_KEY", id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	if (id) {
		if (!plain(id, strlen(id), sizeof(out->key_id) - 1, false) || !plain(secret, strlen(secret), SECRET_MAX, true) ||
		    (token && !plain(token, strlen(token), TOKEN_MAX, true)))
			return dsync_error_set(DSYNC_EUSAGE, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN "
					       "is malformed (spaces or control characters?)");
		snprintf(out->key_id, sizeof(out->key_id), "%s", id);
		if ((error = secret_copy(&out->secret, secret, strlen(secret))) < 0 ||
		    (token && (error = secret_copy(&out->token, token, strlen(token))) < 0))
			return error;
		snprintf(out->from, sizeof(out->from), "AWS_ACCESS_KEY_ID from the environment");
	}
	if ((error = file_path(cred_path, sizeof(cred_path), "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")) < 0 ||
	    (error = file_path(conf_path, sizeof(conf_path), "AWS_CONFIG_FILE", ".aws/config")) < 0 ||
	    (error = parse_file(out, cred_path, profile, false, &seen)) < 0 ||
	    (error = parse_file(out, conf_path, profile, true, &seen)) < 0)
		return error;
	if (named && !seen && !id)
		return dsync_error_set(DSYNC_EUSAGE, "no profile '%s' in %s or %s (AWS_PROFILE)", profile, cred_path,
				       conf_path);
	if (!out->secret)
		return dsync_error_set(DSYNC_EAUTH, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
				       "or put them in %s (profile '%s')", cred_path, profile);
	if ((region = env("AWS_REGION")) || (region = env("AWS_DEFAULT_REGION"))) {
		if (!region_ok(region, strlen(region)))
			return dsync_error_set(DSYNC_EUSAGE, "AWS_REGION is not a region name (e.g. eu-west-1)");
		snprintf(out->region, sizeof(out->region), "%s", region);
	}
	if (!out->region[0])
		snprintf(out->region, sizeof(out->region), "us-east-1");
	if ((ca = env("AWS_CA_BUNDLE"))) {
		free(out->ca_bundle);
		if (!(out->ca_bundle = strdup(ca)))
			return dsync_error_oom();
	}
	return 0;
}
