/*
 * sftp:// blob stores (transport/sftp.h, docs/sftp.md section 4): the blob
 * store interface on the pipelined SFTP client.  The rules are file.c's: a
 * put writes a hidden temporary file `.BASE.tmp-XXXXXXXX` beside the blob,
 * flushes it (fsync@openssh.com), renames it over the name (atomically with
 * posix-rename@openssh.com), and the first put sweeps the store of the
 * temporary files of puts killed over an hour ago; a listing shows only
 * plain files; a get refuses anything but a plain file.
 */
#include "core/base/internal.h"

#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/sftp.h"
#include "transport/sftp_client.h"
#include "transport/sftp_list.h"
#include "transport/sftp_store.h"
#include "transport/sftp_xfer.h"

#define ONE_CALL(s, o, call) DSYNC_SFTP_ONE_CALL((s)->c, o, call)
#define got_one dsync_sftp_got_one
#define is_status dsync_sftp_is_status

/* mkdir -p PATH, folders 0700 */
static int mkdirs(sftp_store *s, const char *path, int depth)
{
	dsync_buf where = DSYNC_BUF_INIT;
	int error;

	if ((error = dsync_buf_printf(&where, "in the store at %s", s->base.url)) == 0)
		error = dsync_sftp_mkdirs(s->c, path, 0700, depth, where.ptr);
	dsync_buf_dispose(&where);
	return error;
}

/* ---- get ---- */

static int sftp_get(dsync_blobstore *bs, const char *name, int fd, uint64_t max, dsync_blobstore_xfer_cb xfer,
		    void *payload)
{
	sftp_store *s = (sftp_store *)bs;
	dsync_sftp_get g = { 0 };
	dsync_buf path = DSYNC_BUF_INIT, where = DSYNC_BUF_INIT;
	one lst = { 0 }, op = { 0 };
	unsigned left = 2;
	bool opened = false;
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0 || (error = dsync_sftp_store_path_of(s, name, &path)) < 0)
		goto out;
	/* SFTP v3 has no O_NOFOLLOW: LSTAT first, in the same flight */
	lst.left = op.left = &left;
	if ((error = dsync_sftp_client_lstat(s->c, path.ptr, got_one, &lst, 0)) < 0 ||
	    (error = dsync_sftp_client_open_file(s->c, path.ptr, DSYNC_SFTP_FXF_READ, NULL, got_one, &op, 0)) < 0 ||
	    (error = dsync_sftp_client_wait_count(s->c, &left)) < 0)
		goto out;
	opened = op.type == DSYNC_SFTP_HANDLE;
	if (is_status(&lst, DSYNC_SFTP_FX_NO_SUCH_FILE) || (!opened && is_status(&op, DSYNC_SFTP_FX_NO_SUCH_FILE))) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name);
		goto out;
	}
	if (lst.type != DSYNC_SFTP_ATTRS) {
		error = dsync_sftp_store_reply_error(&lst, "cannot read", name, s->base.url);
		goto out;
	}
	if (!dsync_sftp_attrs_is_file(&lst.attrs)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is not a file", name, s->base.url);
		goto out;
	}
	if (max && (lst.attrs.flags & DSYNC_SFTP_ATTR_SIZE) && lst.attrs.size > max) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is larger than it may be (%llu bytes)", name,
					s->base.url, (unsigned long long)lst.attrs.size);
		goto out;
	}
	if (!opened) {
		error = dsync_sftp_store_reply_error(&op, "cannot read", name, s->base.url);
		goto out;
	}
	if ((error = dsync_buf_printf(&where, "in the store at %s", s->base.url)) < 0)
		goto out;
	g.c = s->c;
	g.h = &op.handle;
	g.name = name;
	g.where = where.ptr;
	g.size = (lst.attrs.flags & DSYNC_SFTP_ATTR_SIZE) ? lst.attrs.size : 0;
	g.max = max;
	g.max_code = DSYNC_ECORRUPT;
	g.xfer = xfer;
	g.payload = payload;
	error = dsync_sftp_xfer_get(&g, fd);
out:
	if (opened) {
		int keep = error;
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		(void)dsync_sftp_client_close_handle(s->c, &op.handle, dsync_sftp_got_nothing, NULL, 0);
		if (keep < 0)
			dsync_error_set(keep, "%s", msg);
		else
			dsync_error_clear();
	}
	dsync_buf_dispose(&where);
	dsync_buf_dispose(&path);
	return error;
}

/* ---- put ---- */

/* Puts TMP in place as PATH without posix-rename (docs/sftp.md section 4
 * step 5): v3 RENAME refuses an existing name. */
static int rename_fallback(sftp_store *s, const char *name, const char *tmp, const char *path)
{
	one o = { 0 }, st = { 0 }, rm = { 0 };
	int error;

	if ((error = ONE_CALL(s, &o, dsync_sftp_client_rename(s->c, tmp, path, got_one, &o, 0))) < 0)
		return error;
	if (is_status(&o, DSYNC_SFTP_FX_OK))
		return 0;
	if ((error = ONE_CALL(s, &st, dsync_sftp_client_lstat(s->c, path, got_one, &st, 0))) < 0)
		return error;
	if (st.type != DSYNC_SFTP_ATTRS || !dsync_sftp_attrs_is_file(&st.attrs))
		return dsync_sftp_store_reply_error(&o, "cannot store", name, s->base.url);
	if (strncmp(name, "packs/", 6) == 0) {
		/* named by its content: the one there is this one */
		if ((error = ONE_CALL(s, &rm, dsync_sftp_client_remove(s->c, tmp, got_one, &rm, 0))) < 0)
			return error;
		return 0;
	}
	if ((error = ONE_CALL(s, &rm, dsync_sftp_client_remove(s->c, path, got_one, &rm, 0))) < 0)
		return error;
	if (!is_status(&rm, DSYNC_SFTP_FX_OK) && !is_status(&rm, DSYNC_SFTP_FX_NO_SUCH_FILE))
		return dsync_sftp_store_reply_error(&rm, "cannot replace", name, s->base.url);
	if ((error = ONE_CALL(s, &o, dsync_sftp_client_rename(s->c, tmp, path, got_one, &o, 0))) < 0)
		return error;
	return is_status(&o, DSYNC_SFTP_FX_OK) ? 0 : dsync_sftp_store_reply_error(&o, "cannot store", name, s->base.url);
}

static int sftp_put(dsync_blobstore *bs, const char *name, int fd, dsync_blobstore_xfer_cb xfer, void *payload)
{
	sftp_store *s = (sftp_store *)bs;
	dsync_sftp_attrs mode = { .flags = DSYNC_SFTP_ATTR_PERMISSIONS, .perms = 0600 };
	unsigned ext = dsync_sftp_client_extensions(s->c);
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT, where = DSYNC_BUF_INIT;
	one op = { 0 }, fs = { 0 }, cl = { 0 };
	const char *slash;
	bool opened = false, made = false;
	unsigned left;
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0 || (error = dsync_sftp_store_path_of(s, name, &path)) < 0)
		goto out;
	slash = strrchr(path.ptr, '/');
	if ((error = dsync_buf_printf(&tmp, "%.*s.%s.tmp-%08x", slash ? (int)(slash - path.ptr + 1) : 0, path.ptr,
				      slash ? slash + 1 : path.ptr, randombytes_random())) < 0)
		goto out;
	for (;;) {
		if ((error = ONE_CALL(s, &op, dsync_sftp_client_open_file(s->c, tmp.ptr,
								      DSYNC_SFTP_FXF_WRITE | DSYNC_SFTP_FXF_CREAT |
									      DSYNC_SFTP_FXF_EXCL,
								      &mode, got_one, &op, 0))) < 0)
			goto out;
		if (op.type == DSYNC_SFTP_HANDLE)
			break;
		if (!made && is_status(&op, DSYNC_SFTP_FX_NO_SUCH_FILE) && slash && slash != path.ptr) {
			/* the parent is missing */
			char *parent = strndup(path.ptr, (size_t)(slash - path.ptr));

			if (!parent) {
				error = dsync_error_oom();
				goto out;
			}
			error = mkdirs(s, parent, LIST_DEPTH);
			free(parent);
			if (error < 0)
				goto out;
			made = true;
			continue;
		}
		error = dsync_sftp_store_reply_error(&op, "cannot write", name, s->base.url);
		goto out;
	}
	opened = true;
	if ((error = dsync_buf_printf(&where, "in the store at %s", s->base.url)) < 0 ||
	    (error = dsync_sftp_xfer_put(s->c, &op.handle, fd, name, where.ptr, xfer, payload, NULL)) < 0)
		goto out;
	/* flushed and closed in one flight */
	left = 1;
	fs.left = cl.left = &left;
	if (ext & DSYNC_SFTP_CLIENT_EXT_FSYNC) {
		left = 2;
		if ((error = dsync_sftp_client_fsync(s->c, &op.handle, got_one, &fs, 0)) < 0)
			goto out;
	}
	opened = false;
	if ((error = dsync_sftp_client_close_handle(s->c, &op.handle, got_one, &cl, 0)) < 0 ||
	    (error = dsync_sftp_client_wait_count(s->c, &left)) < 0)
		goto out;
	if ((ext & DSYNC_SFTP_CLIENT_EXT_FSYNC) && !is_status(&fs, DSYNC_SFTP_FX_OK)) {
		error = dsync_sftp_store_reply_error(&fs, "cannot flush", name, s->base.url);
		goto out;
	}
	if (!is_status(&cl, DSYNC_SFTP_FX_OK)) {
		error = dsync_sftp_store_reply_error(&cl, "cannot write", name, s->base.url);
		goto out;
	}
	if (ext & DSYNC_SFTP_CLIENT_EXT_POSIX_RENAME) {
		one rn = { 0 };

		if ((error = ONE_CALL(s, &rn, dsync_sftp_client_posix_rename(s->c, tmp.ptr, path.ptr, got_one, &rn, 0))) < 0)
			goto out;
		if (!is_status(&rn, DSYNC_SFTP_FX_OK)) {
			error = dsync_sftp_store_reply_error(&rn, "cannot store", name, s->base.url);
			goto out;
		}
	} else if ((error = rename_fallback(s, name, tmp.ptr, path.ptr)) < 0) {
		goto out;
	}
	dsync_buf_truncate(&tmp, 0);
	dsync_sftp_store_sweep_stale(s);
out:
	if (error < 0 && tmp.len > 0) {
		/* best effort, answered with the next replies; the error stays */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		if (opened)
			(void)dsync_sftp_client_close_handle(s->c, &op.handle, dsync_sftp_got_nothing, NULL, 0);
		(void)dsync_sftp_client_remove(s->c, tmp.ptr, dsync_sftp_got_nothing, NULL, 0);
		dsync_error_set(error, "%s", msg);
	}
	dsync_buf_dispose(&where);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&tmp);
	return error;
}

/* ---- del, stat ---- */

static int sftp_del(dsync_blobstore *bs, const char *name)
{
	sftp_store *s = (sftp_store *)bs;
	dsync_buf path = DSYNC_BUF_INIT;
	one o = { 0 };
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0 || (error = dsync_sftp_store_path_of(s, name, &path)) < 0 ||
	    (error = ONE_CALL(s, &o, dsync_sftp_client_remove(s->c, path.ptr, got_one, &o, 0))) < 0)
		goto out;
	if (!is_status(&o, DSYNC_SFTP_FX_OK) && !is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE))
		error = dsync_sftp_store_reply_error(&o, "cannot remove", name, s->base.url);
out:
	dsync_buf_dispose(&path);
	return error;
}

static int sftp_stat(dsync_blobstore *bs, const char *name, dsync_blobstore_info *info)
{
	sftp_store *s = (sftp_store *)bs;
	dsync_buf path = DSYNC_BUF_INIT;
	one o = { 0 };
	int error;

	if ((error = dsync_blobstore_check_name(name)) < 0 || (error = dsync_sftp_store_path_of(s, name, &path)) < 0 ||
	    (error = ONE_CALL(s, &o, dsync_sftp_client_lstat(s->c, path.ptr, got_one, &o, 0))) < 0)
		goto out;
	if (is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE))
		error = dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name);
	else if (o.type != DSYNC_SFTP_ATTRS)
		error = dsync_sftp_store_reply_error(&o, "cannot read", name, s->base.url);
	else if (!dsync_sftp_attrs_is_file(&o.attrs))
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is not a file", name, s->base.url);
	else {
		info->size = (o.attrs.flags & DSYNC_SFTP_ATTR_SIZE) ? o.attrs.size : 0;
		info->mtime = (o.attrs.flags & DSYNC_SFTP_ATTR_ACMODTIME) ? (time_t)o.attrs.mtime : 0;
	}
out:
	dsync_buf_dispose(&path);
	return error;
}

static void sftp_free(dsync_blobstore *bs)
{
	sftp_store *s = (sftp_store *)bs;

	dsync_sftp_client_free(s->c);
	free(s->root);
	free(s->base.url);
	free(s);
}

int dsync_blobstore_sftp_open(dsync_blobstore **out, dsync_sftp_stream *stream, const dsync_sftp_url *u,
			      bool create, uint64_t rate_limit)
{
	dsync_buf where = DSYNC_BUF_INIT;
	sftp_store *s;
	int error;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->base.url = strdup(u->url)) == NULL ||
	    dsync_buf_printf(&where, "in the store at %s", u->url) < 0) {
		if (s)
			free(s->base.url);
		free(s);
		stream->close(stream);
		return dsync_error_oom();
	}
	s->base.list = dsync_sftp_store_list;
	s->base.get = sftp_get;
	s->base.put = sftp_put;
	s->base.del = sftp_del;
	s->base.stat = sftp_stat;
	s->base.is_empty = dsync_sftp_store_is_empty;
	s->base.free = sftp_free;
	error = dsync_sftp_open_top(&s->c, &s->root, stream, u, create, rate_limit, LIST_DEPTH, "store", where.ptr);
	dsync_buf_dispose(&where);
	if (error < 0) {
		sftp_free(&s->base);
		return error;
	}
	*out = &s->base;
	return 0;
}
