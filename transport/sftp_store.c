/*
 * The small pieces both halves of the sftp:// store use (moved from
 * transport/sftp.c; declared in transport/sftp_store.h).
 */
#include "core/base/internal.h"

#include <sys/stat.h>

#include "transport/sftp_store.h"

/* For replies nobody waits for (a CLOSE after the work is done) */
void dsync_sftp_store_got_nothing(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	(void)r;
	(void)ctx;
	(void)tag;
}

/* The error for reply O, which was not what was hoped for: "WHAT NAME in
 * the store at URL: MESSAGE" (NAME may be "") */
int dsync_sftp_store_reply_error(const one *o, const char *what, const char *name, const char *url)
{
	int code;

	if (o->type != DSYNC_SFTP_STATUS || o->status == DSYNC_SFTP_FX_OK)
		return dsync_error_set(DSYNC_ECORRUPT, "%s%s%s in the store at %s: the server answered out of turn", what,
				       *name ? " " : "", name, url);
	code = dsync_sftp_status_code(o->status);
	if (code == 0)
		code = DSYNC_ERROR;
	return dsync_error_set(code, "%s%s%s in the store at %s: %s", what, *name ? " " : "", name, url,
			       o->message[0] ? o->message : "failed");
}

bool dsync_sftp_store_is_file(const dsync_sftp_attrs *a)
{
	return (a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) && (a->perms & S_IFMT) == S_IFREG;
}

bool dsync_sftp_store_is_dir(const dsync_sftp_attrs *a)
{
	return (a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) && (a->perms & S_IFMT) == S_IFDIR;
}

/* OUT: the server's path of NAME ("" for the store's folder itself) */
int dsync_sftp_store_path_of(const sftp_store *s, const char *name, dsync_buf *out)
{
	dsync_buf_truncate(out, 0);
	if (!*name)
		return dsync_buf_puts(out, *s->root ? s->root : ".");
	if (!*s->root)
		return dsync_buf_puts(out, name);
	if (strcmp(s->root, "/") == 0)
		return dsync_buf_printf(out, "/%s", name);
	return dsync_buf_printf(out, "%s/%s", s->root, name);
}
