/*
 * Errors: a thread-local last error (code and message), translation of
 * libgit2 and errno errors at the boundary, and the program's exit codes.
 */
#include "core/base/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <git2.h>
#include <sodium.h>

static _Thread_local char last_msg[1024];
static _Thread_local int last_code;

const char *dsync_error_last(void)
{
	return last_msg;
}

int dsync_error_last_code(void)
{
	return last_code;
}

void dsync_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = 0;
}

static void vset(int code, const char *suffix, const char *fmt, va_list ap)
{
	int n = vsnprintf(last_msg, sizeof(last_msg), fmt, ap);

	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(last_msg) && suffix && *suffix)
		snprintf(last_msg + n, sizeof(last_msg) - (size_t)n, ": %s", suffix);
	last_code = code;
}

int dsync_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

size_t dsync_utf8_next(const unsigned char *s, unsigned *cp)
{
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) || (n == 4 && *cp < 0x10000) || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* Length of the valid UTF-8 sequence at S (0 when invalid). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned cp;

	return dsync_utf8_next(s, &cp);
}

const char *dsync_quote(char buf[DSYNC_QUOTE_SIZE], const char *arg)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(arg ? arg : "");
	size_t used = 0, o = 0, n;

	/* each byte kept takes at most 4 bytes here: 60 * 4 + "…" fits */
	while (*p) {
		n = utf8_len(p);
		if (used + (n ? n : 1) > DSYNC_QUOTE_KEEP) {
			memcpy(buf + o, "\xe2\x80\xa6", 3); /* … */
			o += 3;
			break;
		}
		/* a character that reorders the text around it (U+202A..U+202E,
		 * U+2066..U+2069) is shown as \uXXXX: 6 bytes for its 3 */
		if (n == 3 && p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
					       (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
			unsigned cp = ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);

			memcpy(buf + o, "\\u20", 4);
			buf[o + 4] = hex[(cp >> 4) & 15];
			buf[o + 5] = hex[cp & 15];
			o += 6;
			p += n;
			used += n;
			continue;
		}
		if (n > 1) {
			memcpy(buf + o, p, n);
			o += n;
			p += n;
			used += n;
			continue;
		}
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			buf[o++] = '\\';
			buf[o++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
		} else if (*p < 0x20 || *p == 0x7f || n == 0) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		} else {
			buf[o++] = (char)*p;
		}
		p++;
		used++;
	}
	buf[o] = '\0';
	return buf;
}

static int code_from_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
		return DSYNC_ENOTFOUND;
	case EEXIST:
		return DSYNC_EEXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return DSYNC_EACCESS;
	case ENOSPC:
	case EDQUOT:
		return DSYNC_ENOSPACE;
	case ENOTDIR:
		return DSYNC_ENOTDIR;
	default:
		return DSYNC_ERROR;
	}
}

int dsync_error_oom(void)
{
	return dsync_error_set(DSYNC_ERROR, "out of memory");
}

int dsync_error_sys(int errnum, const char *fmt, ...)
{
	va_list ap;
	int code = code_from_errno(errnum);

	va_start(ap, fmt);
	vset(code, strerror(errnum), fmt, ap);
	va_end(ap);
	return code;
}

int dsync_error_git(int git_err, const char *fmt, ...)
{
	int errnum = errno; /* a failed write that libgit2 says nothing of */
	const git_error *ge = git_error_last();
	va_list ap;
	int code;
	char msg[512];

	switch (git_err) {
	case GIT_ENOTFOUND:
		code = DSYNC_ENOTFOUND;
		break;
	case GIT_EAMBIGUOUS:
	case GIT_EINVALIDSPEC:
		code = DSYNC_EUSAGE;
		break;
	case GIT_ELOCKED:
		code = DSYNC_ELOCKED;
		break;
	case GIT_EAUTH:
		code = DSYNC_EAUTH;
		break;
	case GIT_EEXISTS:
		code = DSYNC_EEXISTS;
		break;
	default:
		code = DSYNC_ERROR;
		break;
	}
	if (ge && ge->message) {
		size_t n;

		snprintf(msg, sizeof(msg), "%s", ge->message);
		n = strlen(msg);
		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
			msg[--n] = '\0';
		/* libgit2 says "No space left" through errno on write */
		if (strstr(msg, "No space left"))
			code = DSYNC_ENOSPACE;
	} else if (errnum && code == DSYNC_ERROR) {
		snprintf(msg, sizeof(msg), "%s", strerror(errnum));
		code = code_from_errno(errnum);
		if (code == DSYNC_ENOTFOUND || code == DSYNC_EEXISTS)
			code = DSYNC_ERROR; /* not the caller's "no such thing" */
	} else {
		snprintf(msg, sizeof(msg), "libgit2 error %d", git_err);
	}
	va_start(ap, fmt);
	vset(code, msg, fmt, ap);
	va_end(ap);
	return code;
}

static int lib_inited;
static bool git_inited;

int dsync_lib_init(void)
{
	if (lib_inited++)
		return 0;
	if (sodium_init() < 0)
		return dsync_error_set(DSYNC_ERROR, "cannot initialise libsodium");
	return 0;
}

int dsync_git_init(void)
{
	static const int levels[] = { GIT_CONFIG_LEVEL_SYSTEM,
				      GIT_CONFIG_LEVEL_XDG,
				      GIT_CONFIG_LEVEL_GLOBAL,
				      GIT_CONFIG_LEVEL_PROGRAMDATA };
	size_t i;
	int err;

	if (git_inited)
		return 0;
	/* libgit2's start-up parses the system's TLS certificates (a few ms):
	 * done only when a command needs the history, not for an unchanged
	 * snapshot */
	if ((err = git_libgit2_init()) < 0)
		return dsync_error_git(err, "cannot initialise libgit2");
	git_inited = true;
	/* sealed off from the user's git setup: no system, XDG or global config */
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if ((err = git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "")) < 0)
			return dsync_error_git(err, "cannot seal git config");
	}
	/* the objects dsync writes are its own: skip libgit2's re-validation */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	/* but every object read is hashed (libgit2's default, relied on by
	 * dsync check and every fetch): a damaged object is never used */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
	/* durability is handled by dsync itself: one syncfs before a ref moves */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	/* the folder belongs to whoever runs dsync on it (root in CI, too) */
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	return 0;
}

void dsync_lib_shutdown(void)
{
	if (lib_inited && --lib_inited == 0 && git_inited) {
		git_libgit2_shutdown();
		git_inited = false;
	}
}

int dsync_exit_code(int error)
{
	switch (error) {
	case 0:
		return 0;
	case DSYNC_EUSAGE:
		return 2;
	case DSYNC_ECONFLICT:
		return 3;
	case DSYNC_ELOCKED:
		return 4;
	case DSYNC_EAUTH:
		return 5;
	case DSYNC_ECORRUPT:
		return 6;
	default:
		return 1;
	}
}
