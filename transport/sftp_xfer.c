/*
 * Replies as callbacks see them, and pipelined transfers between a local fd
 * and an open SFTP handle (transport/sftp_xfer.h), moved from sftp.c so the
 * blob store and the mirror's plain folder share them.
 */
#include "core/base/internal.h"

#include <sys/stat.h>
#include <unistd.h>

#include "transport/sftp_xfer.h"

#define MAX_PIECES (DSYNC_SFTP_CLIENT_MAX_PENDING * 2)

void dsync_sftp_got_one(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
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

void dsync_sftp_got_nothing(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	(void)r;
	(void)ctx;
	(void)tag;
}

bool dsync_sftp_attrs_is_file(const dsync_sftp_attrs *a)
{
	return (a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) && (a->perms & S_IFMT) == S_IFREG;
}

bool dsync_sftp_attrs_is_dir(const dsync_sftp_attrs *a)
{
	return (a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) && (a->perms & S_IFMT) == S_IFDIR;
}

int dsync_sftp_reply_error(const one *o, const char *what, const char *name, const char *where)
{
	int code;

	if (o->type != DSYNC_SFTP_STATUS || o->status == DSYNC_SFTP_FX_OK)
		return dsync_error_set(DSYNC_ECORRUPT, "%s%s%s %s: the server answered out of turn", what,
				       *name ? " " : "", name, where);
	code = dsync_sftp_status_code(o->status);
	if (code == 0)
		code = DSYNC_ERROR;
	return dsync_error_set(code, "%s%s%s %s: %s", what, *name ? " " : "", name, where,
			       o->message[0] ? o->message : "failed");
}

int dsync_sftp_path_join(dsync_buf *out, const char *root, const char *name)
{
	dsync_buf_truncate(out, 0);
	if (!*name)
		return dsync_buf_puts(out, *root ? root : ".");
	if (!*root)
		return dsync_buf_puts(out, name);
	if (strcmp(root, "/") == 0)
		return dsync_buf_printf(out, "/%s", name);
	return dsync_buf_printf(out, "%s/%s", root, name);
}

int dsync_sftp_mkdirs(dsync_sftp_client *c, const char *path, uint32_t perms, int depth, const char *where)
{
	dsync_sftp_attrs mode = { .flags = DSYNC_SFTP_ATTR_PERMISSIONS, .perms = perms };
	one o = { 0 }, st = { 0 };
	char *parent = NULL, *slash;
	int error;

	if ((error = DSYNC_SFTP_ONE_CALL(c, &o, dsync_sftp_client_mkdir(c, path, &mode, dsync_sftp_got_one, &o,
									 0))) < 0)
		return error;
	if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_OK))
		return 0;
	if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE) && depth > 0 && (slash = strrchr(path, '/')) != NULL &&
	    slash != path) {
		if ((parent = strdup(path)) == NULL)
			return dsync_error_oom();
		parent[slash - path] = '\0';
		error = dsync_sftp_mkdirs(c, parent, perms, depth - 1, where);
		free(parent);
		if (error < 0)
			return error;
		if ((error = DSYNC_SFTP_ONE_CALL(c, &o, dsync_sftp_client_mkdir(c, path, &mode, dsync_sftp_got_one, &o,
										 0))) < 0)
			return error;
		if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_OK))
			return 0;
	}
	/* v3 has no "exists": a folder already there is what we wanted */
	if ((error = DSYNC_SFTP_ONE_CALL(c, &st, dsync_sftp_client_stat(c, path, dsync_sftp_got_one, &st, 0))) < 0)
		return error;
	if (st.type == DSYNC_SFTP_ATTRS && dsync_sftp_attrs_is_dir(&st.attrs))
		return 0;
	if (st.type == DSYNC_SFTP_ATTRS)
		return dsync_error_set(DSYNC_ENOTDIR, "cannot make the folder '%s' %s: a file is in the way", path,
				       where);
	return dsync_sftp_reply_error(&o, "cannot make the folder", path, where);
}

static int reach_top(dsync_sftp_client *c, const char *top, bool create, int depth, const char *kind,
		     const char *url, const char *where)
{
	one o = { 0 };
	int error;

	if ((error = DSYNC_SFTP_ONE_CALL(c, &o, dsync_sftp_client_stat(c, top, dsync_sftp_got_one, &o, 0))) < 0)
		return error;
	if (o.type == DSYNC_SFTP_ATTRS && !dsync_sftp_attrs_is_dir(&o.attrs))
		return dsync_error_set(DSYNC_ENOTDIR, "%s is not a folder", url);
	if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE)) {
		if (!create)
			return dsync_error_set(DSYNC_ENOTFOUND, "no %s at %s", kind, url);
		if ((error = dsync_sftp_mkdirs(c, top, 0700, depth, where)) < 0)
			return error;
	} else if (o.type != DSYNC_SFTP_ATTRS) {
		return dsync_sftp_reply_error(&o, "cannot reach the folder", "", where);
	}
	return dsync_sftp_client_ready(c);
}

int dsync_sftp_open_top(dsync_sftp_client **c, char **root, dsync_sftp_stream *stream, const dsync_sftp_url *u,
			bool create, uint64_t rate_limit, int depth, const char *kind, const char *where)
{
	dsync_buf top = DSYNC_BUF_INIT;
	size_t len;
	int error;

	*root = NULL;
	if ((error = dsync_sftp_client_open(c, stream, rate_limit)) < 0)
		return error;
	if ((*root = strdup(u->path)) == NULL) {
		error = dsync_error_oom();
		goto fail;
	}
	len = strlen(*root);
	while (len > 1 && (*root)[len - 1] == '/')
		(*root)[--len] = '\0';
	if ((error = dsync_sftp_path_join(&top, *root, "")) < 0 ||
	    (error = reach_top(*c, top.ptr, create, depth, kind, u->url, where)) < 0)
		goto fail;
	dsync_buf_dispose(&top);
	return 0;
fail:
	{
		/* closing the stream must not change the message */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		dsync_buf_dispose(&top);
		free(*root);
		*root = NULL;
		dsync_sftp_client_free(*c);
		*c = NULL;
		return dsync_error_set(error, "%s", msg);
	}
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
	dsync_sftp_get *a;
	piece pieces[MAX_PIECES]; /* by offset */
	size_t npieces;
	uint64_t next_id;
	uint64_t size;       /* from LSTAT, then FSTAT's */
	uint64_t asked;      /* offsets below were asked for (or are gaps) */
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
	dsync_sftp_get *a = g->a;

	(void)tag;
	g->left--;
	if (r->type != DSYNC_SFTP_ATTRS || !dsync_sftp_attrs_is_file(&r->attrs) ||
	    !(r->attrs.flags & DSYNC_SFTP_ATTR_SIZE)) {
		get_error(g, dsync_error_set(DSYNC_ECORRUPT, "%s %s is not a file", a->name, a->where));
		return;
	}
	a->size = r->attrs.size;
	if (a->max && r->attrs.size > a->max) {
		a->over_max = true;
		get_error(g, dsync_error_set(a->max_code, "%s %s is larger than it may be (%llu bytes)", a->name,
					     a->where, (unsigned long long)r->attrs.size));
		return;
	}
	g->size = r->attrs.size;
	g->sized = true;
}

/* The file ends at OFF (it shrank while read): the pieces from there go */
static void end_at(getter *g, uint64_t off)
{
	size_t i;

	g->size = off;
	if (g->asked > off)
		g->asked = off;
	for (i = 0; i < g->npieces; i++)
		if (g->pieces[i].off >= off && g->pieces[i].state != PIECE_ASKED) {
			free(g->pieces[i].data);
			memmove(&g->pieces[i], &g->pieces[i + 1], (g->npieces - i - 1) * sizeof(piece));
			g->npieces--;
			i--;
		}
}

static void got_data(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	getter *g = ctx;
	dsync_sftp_get *a = g->a;
	piece *p;
	size_t at;

	g->left--;
	if ((p = find_piece(g, tag, &at)) == NULL)
		return;
	if (r->type == DSYNC_SFTP_STATUS) {
		int code = dsync_sftp_status_code(r->status);

		if (r->status == DSYNC_SFTP_FX_EOF && (p->off >= g->size || a->to_eof)) {
			/* past the end FSTAT gave (the file LSTAT saw was longer), or
			 * a live file that shrank */
			uint64_t off = p->off;

			memmove(p, p + 1, (g->npieces - at - 1) * sizeof(*p));
			g->npieces--;
			if (off < g->size)
				end_at(g, off);
			return;
		}
		if (r->status == DSYNC_SFTP_FX_EOF)
			get_error(g, dsync_error_set(DSYNC_ECORRUPT, "%s %s ended at %llu bytes, before its size (%llu)",
						     a->name, a->where, (unsigned long long)p->off,
						     (unsigned long long)g->size));
		else
			get_error(g, dsync_error_set(code ? code : DSYNC_ECORRUPT, "cannot read %s %s: %s", a->name,
						     a->where, r->message[0] ? r->message : "failed"));
		return;
	}
	if (r->data_len == 0 || r->data_len > p->len) {
		get_error(g, dsync_error_set(DSYNC_ECORRUPT, "the SFTP server sent %zu bytes of %s for a read of %u",
					     r->data_len, a->name, p->len));
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
			get_error(g, dsync_error_set(DSYNC_ECORRUPT, "the SFTP server sends %s in too small pieces",
						     a->name));
			return;
		}
		memmove(p + 2, p + 1, (g->npieces - at - 1) * sizeof(*p));
		g->npieces++;
		p[1] = (piece){ p->off + r->data_len, p->len - (uint32_t)r->data_len, PIECE_GAP, 0, NULL };
		p->len = (uint32_t)r->data_len;
	}
}

/* Writes the pieces at the front that came, in order. */
static int write_ready(getter *g, int fd)
{
	dsync_sftp_get *a = g->a;
	size_t done = 0;
	uint64_t before = a->written;

	while (done < g->npieces && g->pieces[done].state == PIECE_HAVE && g->pieces[done].off == a->written) {
		piece *p = &g->pieces[done];
		uint32_t len = p->off + p->len > g->size ? (uint32_t)(g->size - p->off) : p->len;
		size_t off = 0;

		while (off < len) {
			ssize_t w = write(fd, p->data + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return dsync_error_sys(errno, "cannot write %s", a->name);
			off += (size_t)w;
		}
		a->written += len;
		free(p->data);
		p->data = NULL;
		done++;
		if (a->written >= g->size)
			break;
	}
	if (done) {
		memmove(g->pieces, g->pieces + done, (g->npieces - done) * sizeof(*g->pieces));
		g->npieces -= done;
	}
	if (a->xfer && a->written != before)
		a->xfer(a->written, a->payload);
	return 0;
}

/* Asks for the gaps and the next pieces, as far as the window goes. */
static int ask_more(getter *g)
{
	dsync_sftp_get *a = g->a;
	uint32_t chunk = dsync_sftp_client_chunk(a->c);
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
		if ((error = dsync_sftp_client_read(a->c, a->h, p->off, p->len, got_data, g, p->id)) < 0)
			return error;
		g->left++;
	}
	while (g->asked < g->size && g->npieces < DSYNC_SFTP_CLIENT_MAX_PENDING && !g->error) {
		uint64_t rest = g->size - g->asked;
		uint32_t len = rest < chunk ? (uint32_t)rest : chunk;
		piece *p = &g->pieces[g->npieces++];

		*p = (piece){ g->asked, len, PIECE_ASKED, g->next_id++, NULL };
		g->asked += len;
		if ((error = dsync_sftp_client_read(a->c, a->h, p->off, p->len, got_data, g, p->id)) < 0)
			return error;
		g->left++;
	}
	return 0;
}

int dsync_sftp_xfer_get(dsync_sftp_get *a, int fd)
{
	getter *g;
	int error;
	size_t i;

	a->written = 0;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return dsync_error_oom();
	g->a = a;
	g->size = a->size;
	g->next_id = 1;
	/* FSTAT on the handle is what counts: the READs may go before its
	 * answer, but no byte is written until it came */
	if ((error = dsync_sftp_client_fstat(a->c, a->h, got_fstat, g, 0)) < 0)
		goto out;
	g->left++;
	for (;;) {
		if (!g->error && (error = ask_more(g)) < 0)
			goto out;
		if (g->error)
			break;
		if (g->sized && (error = write_ready(g, fd)) < 0) {
			get_error(g, error);
			break;
		}
		if (g->sized && a->written >= g->size && g->left == 0)
			break;
		if (g->left == 0 && !g->sized) {
			get_error(g, dsync_error_set(DSYNC_ECORRUPT, "cannot read %s %s", a->name, a->where));
			break;
		}
		if ((error = dsync_sftp_client_pump(a->c)) < 0)
			goto out;
	}
	/* the replies still to come write into G */
	if ((error = dsync_sftp_client_wait_count(a->c, &g->left)) < 0)
		goto out;
	error = g->error;
out:
	for (i = 0; i < g->npieces; i++)
		free(g->pieces[i].data);
	free(g);
	return error;
}

/* ---- put ---- */

typedef struct putter {
	unsigned left;
	uint64_t acked;
	int error;
	const char *name;
	const char *where;
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
		p->error = dsync_sftp_reply_error(&o, "cannot write", p->name, p->where);
	}
}

int dsync_sftp_xfer_put(dsync_sftp_client *c, const dsync_sftp_handle *h, int fd, const char *name,
			const char *where, dsync_sftp_xfer_cb xfer, void *payload, uint64_t *written)
{
	uint32_t chunk = dsync_sftp_client_chunk(c);
	putter p = { .name = name, .where = where };
	unsigned char *block;
	uint64_t off = 0, reported = 0;
	int error = 0;

	if (written)
		*written = 0;
	if ((block = malloc(chunk)) == NULL)
		return dsync_error_oom();
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
		if ((error = dsync_sftp_client_write(c, h, off, block, (uint32_t)n, got_write, &p, (uint64_t)n)) < 0)
			break;
		p.left++;
		off += (uint64_t)n;
		if (xfer && p.acked != reported)
			xfer(reported = p.acked, payload);
	}
	free(block);
	if (error < 0) {
		/* the replies still to come write into P */
		(void)dsync_sftp_client_wait_count(c, &p.left);
		return error;
	}
	while (p.left > 0) {
		if ((error = dsync_sftp_client_pump(c)) < 0)
			return error;
		if (xfer && p.acked != reported)
			xfer(reported = p.acked, payload);
	}
	if (written)
		*written = p.acked;
	return p.error;
}
