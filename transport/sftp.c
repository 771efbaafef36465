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

#define MAX_PIECES (DSYNC_SFTP_CLIENT_MAX_PENDING * 2)

static bool is_status(const one *o, uint32_t status)
{
	return o->type == DSYNC_SFTP_STATUS && o->status == status;
}

static void got_one(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	one *o = ctx;

	(void)tag;
	o->type = r->type;
	o->status = r->status;
	memcpy(o->message, r->message, sizeof(o->message));
	if (r->type == DSYNC_SFTP_HANDLE)
		o->handle = r->handle;
	if (r->type == DSYNC_SFTP_ATTRS)
		o->attrs = r->attrs;
	(*o->left)--;
}

/* Sends one request and waits for its reply into O. */
#define ONE_CALL(s, o, call)                                                   \
	({                                                                     \
		unsigned left_ = 1;                                            \
		int e_;                                                        \
		(o)->left = &left_;                                            \
		e_ = (call);                                                   \
		if (e_ == 0)                                                   \
			e_ = dsync_sftp_client_wait_count((s)->c, &left_);     \
		e_;                                                            \
	})

/* mkdir -p PATH, folders 0700; DEPTH bounds the climb */
static int mkdirs(sftp_store *s, const char *path, int depth)
{
	dsync_sftp_attrs mode = { .flags = DSYNC_SFTP_ATTR_PERMISSIONS, .perms = 0700 };
	one o = { 0 }, st = { 0 };
	char *parent = NULL, *slash;
	int error;

	if ((error = ONE_CALL(s, &o, dsync_sftp_client_mkdir(s->c, path, &mode, got_one, &o, 0))) < 0)
		return error;
	if (is_status(&o, DSYNC_SFTP_FX_OK))
		return 0;
	if (is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE) && depth > 0 && (slash = strrchr(path, '/')) != NULL &&
	    slash != path) {
		if ((parent = strdup(path)) == NULL)
			return dsync_error_oom();
		parent[slash - path] = '\0';
		error = mkdirs(s, parent, depth - 1);
		free(parent);
		if (error < 0)
			return error;
		if ((error = ONE_CALL(s, &o, dsync_sftp_client_mkdir(s->c, path, &mode, got_one, &o, 0))) < 0)
			return error;
		if (is_status(&o, DSYNC_SFTP_FX_OK))
			return 0;
	}
	/* v3 has no "exists": a folder already there is what we wanted */
	if ((error = ONE_CALL(s, &st, dsync_sftp_client_stat(s->c, path, got_one, &st, 0))) < 0)
		return error;
	if (st.type == DSYNC_SFTP_ATTRS && dsync_sftp_store_is_dir(&st.attrs))
		return 0;
	if (st.type == DSYNC_SFTP_ATTRS)
		return dsync_error_set(DSYNC_ENOTDIR, "cannot make the folder '%s' in the store at %s: a file is in the way",
				       path, s->base.url);
	return dsync_sftp_store_reply_error(&o, "cannot make the folder", path, s->base.url);
}

/* ---- get ---- */

enum { PIECE_GAP, PIECE_ASKED, PIECE_HAVE };

typedef struct piece {
	uint64_t off;
	uint32_t len;
	int state;
	uint64_t id;
	unsigned char *data; /* PIECE_HAVE: len bytes */
} piece;

typedef struct getter {
	sftp_store *s;
	const char *name;
	piece pieces[MAX_PIECES]; /* by offset */
	size_t npieces;
	uint64_t next_id;
	uint64_t size;       /* from LSTAT, then FSTAT's */
	uint64_t asked;      /* offsets below were asked for (or are gaps) */
	uint64_t written;
	uint64_t max;
	bool sized;          /* FSTAT came */
	unsigned left;
	int error;
} getter;

static void get_error(getter *g, int error)
{
	if (g->error == 0)
		g->error = error;
}

static piece *find_piece(getter *g, uint64_t id, size_t *at)
{
	size_t i;

	for (i = 0; i < g->npieces; i++)
		if (g->pieces[i].state == PIECE_ASKED && g->pieces[i].id == id) {
			*at = i;
			return &g->pieces[i];
		}
	return NULL;
}

static void got_fstat(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	getter *g = ctx;

	(void)tag;
	g->left--;
	if (r->type != DSYNC_SFTP_ATTRS || !dsync_sftp_store_is_file(&r->attrs) || !(r->attrs.flags & DSYNC_SFTP_ATTR_SIZE)) {
		get_error(g, dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is not a file", g->name,
					     g->s->base.url));
		return;
	}
	if (g->max && r->attrs.size > g->max) {
		get_error(g, dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is larger than it may be (%llu bytes)",
					     g->name, g->s->base.url, (unsigned long long)r->attrs.size));
		return;
	}
	g->size = r->attrs.size;
	g->sized = true;
}

static void got_data(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	getter *g = ctx;
	piece *p;
	size_t at;

	g->left--;
	if ((p = find_piece(g, tag, &at)) == NULL)
		return;
	if (r->type == DSYNC_SFTP_STATUS) {
		if (r->status == DSYNC_SFTP_FX_EOF && p->off >= g->size) {
			/* past the end FSTAT gave (the file LSTAT saw was longer) */
			memmove(p, p + 1, (g->npieces - at - 1) * sizeof(*p));
			g->npieces--;
			return;
		}
		if (r->status == DSYNC_SFTP_FX_EOF)
			get_error(g, dsync_error_set(DSYNC_ECORRUPT,
						     "%s in the store at %s ended at %llu bytes, before its size (%llu)",
						     g->name, g->s->base.url, (unsigned long long)p->off,
						     (unsigned long long)g->size));
		else
			get_error(g, dsync_error_set(dsync_sftp_status_code(r->status) ? dsync_sftp_status_code(r->status)
									   : DSYNC_ECORRUPT,
						     "cannot read %s in the store at %s: %s", g->name, g->s->base.url,
						     r->message[0] ? r->message : "failed"));
		return;
	}
	if (r->data_len == 0 || r->data_len > p->len) {
		get_error(g, dsync_error_set(DSYNC_ECORRUPT, "the SFTP server sent %zu bytes of %s for a read of %u",
					     r->data_len, g->name, p->len));
		return;
	}
	if ((p->data = malloc(r->data_len)) == NULL) {
		get_error(g, dsync_error_oom());
		return;
	}
	memcpy(p->data, r->data, r->data_len);
	p->state = PIECE_HAVE;
	if (r->data_len < p->len) {
		/* a short read: the rest is asked again */
		if (g->npieces == MAX_PIECES) {
			get_error(g, dsync_error_set(DSYNC_ECORRUPT, "the SFTP server sends %s in too small pieces", g->name));
			return;
		}
		memmove(p + 2, p + 1, (g->npieces - at - 1) * sizeof(*p));
		g->npieces++;
		p[1] = (piece){ p->off + r->data_len, p->len - (uint32_t)r->data_len, PIECE_GAP, 0, NULL };
		p->len = (uint32_t)r->data_len;
	}
}

/* Writes the pieces at the front that came, in order. */
static int write_ready(getter *g, int fd, dsync_blobstore_xfer_cb xfer, void *payload)
{
	size_t done = 0;
	uint64_t before = g->written;

	while (done < g->npieces && g->pieces[done].state == PIECE_HAVE && g->pieces[done].off == g->written) {
		piece *p = &g->pieces[done];
		uint32_t len = p->off + p->len > g->size ? (uint32_t)(g->size - p->off) : p->len;
		size_t off = 0;

		while (off < len) {
			ssize_t w = write(fd, p->data + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return dsync_error_sys(errno, "cannot write %s", g->name);
			off += (size_t)w;
		}
		g->written += len;
		free(p->data);
		p->data = NULL;
		done++;
		if (g->written >= g->size)
			break;
	}
	if (done) {
		memmove(g->pieces, g->pieces + done, (g->npieces - done) * sizeof(*g->pieces));
		g->npieces -= done;
	}
	if (xfer && g->written != before)
		xfer(g->written, payload);
	return 0;
}

/* Asks for the gaps and the next pieces, as far as the window goes. */
static int ask_more(getter *g, const dsync_sftp_handle *h)
{
	uint32_t chunk = dsync_sftp_client_chunk(g->s->c);
	size_t i;
	int error;

	for (i = 0; i < g->npieces; i++) {
		piece *p = &g->pieces[i];

		if (p->state != PIECE_GAP)
			continue;
		if (p->off >= g->size) {
			/* FSTAT shrank the file: nothing to ask there */
			memmove(p, p + 1, (g->npieces - i - 1) * sizeof(*p));
			g->npieces--;
			i--;
			continue;
		}
		p->id = g->next_id++;
		p->state = PIECE_ASKED;
		if ((error = dsync_sftp_client_read(g->s->c, h, p->off, p->len, got_data, g, p->id)) < 0)
			return error;
		g->left++;
	}
	while (g->asked < g->size && g->npieces < DSYNC_SFTP_CLIENT_MAX_PENDING && !g->error) {
		uint64_t rest = g->size - g->asked;
		uint32_t len = rest < chunk ? (uint32_t)rest : chunk;
		piece *p = &g->pieces[g->npieces++];

		*p = (piece){ g->asked, len, PIECE_ASKED, g->next_id++, NULL };
		g->asked += len;
		if ((error = dsync_sftp_client_read(g->s->c, h, p->off, p->len, got_data, g, p->id)) < 0)
			return error;
		g->left++;
	}
	return 0;
}

static int sftp_get(dsync_blobstore *bs, const char *name, int fd, uint64_t max, dsync_blobstore_xfer_cb xfer,
		    void *payload)
{
	sftp_store *s = (sftp_store *)bs;
	getter *g = NULL;
	dsync_buf path = DSYNC_BUF_INIT;
	one lst = { 0 }, op = { 0 };
	unsigned left = 2;
	bool opened = false;
	int error;
	size_t i;

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
	if (!dsync_sftp_store_is_file(&lst.attrs)) {
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
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	g->s = s;
	g->name = name;
	g->max = max;
	g->size = (lst.attrs.flags & DSYNC_SFTP_ATTR_SIZE) ? lst.attrs.size : 0;
	g->next_id = 1;
	/* FSTAT on the handle is what counts: the READs may go before its
	 * answer, but no byte is written until it came */
	if ((error = dsync_sftp_client_fstat(s->c, &op.handle, got_fstat, g, 0)) < 0)
		goto out;
	g->left++;
	for (;;) {
		if (!g->error && (error = ask_more(g, &op.handle)) < 0)
			goto out;
		if (g->error)
			break;
		if (g->sized && (error = write_ready(g, fd, xfer, payload)) < 0) {
			get_error(g, error);
			break;
		}
		if (g->sized && g->written >= g->size && g->left == 0)
			break;
		if (g->left == 0 && !g->sized) {
			get_error(g, dsync_error_set(DSYNC_ECORRUPT, "cannot read %s in the store at %s", name, s->base.url));
			break;
		}
		if ((error = dsync_sftp_client_pump(s->c)) < 0)
			goto out;
	}
	/* the replies still to come write into G */
	if ((error = dsync_sftp_client_wait_count(s->c, &g->left)) < 0)
		goto out;
	error = g->error;
out:
	if (opened) {
		int keep = error;
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		(void)dsync_sftp_client_close_handle(s->c, &op.handle, dsync_sftp_store_got_nothing, NULL, 0);
		if (keep < 0)
			dsync_error_set(keep, "%s", msg);
		else
			dsync_error_clear();
	}
	if (g) {
		for (i = 0; i < g->npieces; i++)
			free(g->pieces[i].data);
		free(g);
	}
	dsync_buf_dispose(&path);
	return error;
}

/* ---- put ---- */

typedef struct putter {
	unsigned left;
	uint64_t acked;
	int error;
	const char *name;
	const char *url;
} putter;

static void got_write(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	putter *p = ctx;

	p->left--;
	if (r->status == DSYNC_SFTP_FX_OK) {
		p->acked += tag;
	} else if (p->error == 0) {
		one o = { .type = r->type, .status = r->status };

		memcpy(o.message, r->message, sizeof(o.message));
		p->error = dsync_sftp_store_reply_error(&o, "cannot write", p->name, p->url);
	}
}

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
	if (st.type != DSYNC_SFTP_ATTRS || !dsync_sftp_store_is_file(&st.attrs))
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
	uint32_t chunk = dsync_sftp_client_chunk(s->c);
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT;
	putter p = { .name = name, .url = s->base.url };
	one op = { 0 }, fs = { 0 }, cl = { 0 };
	unsigned char *block = NULL;
	const char *slash;
	bool opened = false, made = false;
	uint64_t off = 0, reported = 0;
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
	if ((block = malloc(chunk)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, block, chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = dsync_error_sys(errno, "cannot read '%s'", name);
			break;
		}
		if (n == 0 || p.error)
			break;
		if ((error = dsync_sftp_client_write(s->c, &op.handle, off, block, (uint32_t)n, got_write, &p,
						     (uint64_t)n)) < 0)
			break;
		p.left++;
		off += (uint64_t)n;
		if (xfer && p.acked != reported)
			xfer(reported = p.acked, payload);
	}
	if (error < 0) {
		/* the replies still to come write into P */
		(void)dsync_sftp_client_wait_count(s->c, &p.left);
		goto out;
	}
	while (p.left > 0) {
		if ((error = dsync_sftp_client_pump(s->c)) < 0)
			goto out;
		if (xfer && p.acked != reported)
			xfer(reported = p.acked, payload);
	}
	if ((error = p.error) < 0)
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
			(void)dsync_sftp_client_close_handle(s->c, &op.handle, dsync_sftp_store_got_nothing, NULL, 0);
		(void)dsync_sftp_client_remove(s->c, tmp.ptr, dsync_sftp_store_got_nothing, NULL, 0);
		dsync_error_set(error, "%s", msg);
	}
	free(block);
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
	else if (!dsync_sftp_store_is_file(&o.attrs))
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
	sftp_store *s;
	dsync_buf top = DSYNC_BUF_INIT;
	one o = { 0 };
	size_t len;
	int error;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		stream->close(stream);
		return dsync_error_oom();
	}
	if ((error = dsync_sftp_client_open(&s->c, stream, rate_limit)) < 0) {
		free(s);
		return error;
	}
	s->base.list = dsync_sftp_store_list;
	s->base.get = sftp_get;
	s->base.put = sftp_put;
	s->base.del = sftp_del;
	s->base.stat = sftp_stat;
	s->base.is_empty = dsync_sftp_store_is_empty;
	s->base.free = sftp_free;
	if ((s->root = strdup(u->path)) == NULL || (s->base.url = strdup(u->url)) == NULL) {
		error = dsync_error_oom();
		goto fail;
	}
	len = strlen(s->root);
	while (len > 1 && s->root[len - 1] == '/')
		s->root[--len] = '\0';
	if ((error = dsync_sftp_store_path_of(s, "", &top)) < 0 ||
	    (error = ONE_CALL(s, &o, dsync_sftp_client_stat(s->c, top.ptr, got_one, &o, 0))) < 0)
		goto fail;
	if (o.type == DSYNC_SFTP_ATTRS && !dsync_sftp_store_is_dir(&o.attrs)) {
		error = dsync_error_set(DSYNC_ENOTDIR, "%s is not a folder", s->base.url);
		goto fail;
	}
	if (is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE)) {
		if (!create) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "no store at %s", s->base.url);
			goto fail;
		}
		if ((error = mkdirs(s, top.ptr, LIST_DEPTH)) < 0)
			goto fail;
	} else if (o.type != DSYNC_SFTP_ATTRS) {
		error = dsync_sftp_store_reply_error(&o, "cannot reach the folder", "", s->base.url);
		goto fail;
	}
	if ((error = dsync_sftp_client_ready(s->c)) < 0)
		goto fail;
	dsync_buf_dispose(&top);
	*out = &s->base;
	return 0;
fail:
	{
		/* closing the stream must not change the message */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		dsync_buf_dispose(&top);
		sftp_free(&s->base);
		return dsync_error_set(error, "%s", msg);
	}
}
