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

int dsync_error_exit_code(int error)
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
