/*
 * The small pieces both halves of the sftp:// store use (moved from
 * transport/sftp.c; declared in transport/sftp_store.h).
 */
#include "core/base/internal.h"

#include "transport/sftp_store.h"

/* The error for reply O, which was not what was hoped for: "WHAT NAME in
 * the store at URL: MESSAGE" (NAME may be "") */
int dsync_sftp_store_reply_error(const one *o, const char *what, const char *name, const char *url)
{
	dsync_buf where = DSYNC_BUF_INIT;
	int error;

	if (dsync_buf_printf(&where, "in the store at %s", url) < 0)
		return dsync_error_oom();
	error = dsync_sftp_reply_error(o, what, name, where.ptr);
	dsync_buf_dispose(&where);
	return error;
}

/* OUT: the server's path of NAME ("" for the store's folder itself) */
int dsync_sftp_store_path_of(const sftp_store *s, const char *name, dsync_buf *out)
{
	return dsync_sftp_path_join(out, s->root, name);
}
