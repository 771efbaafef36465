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
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "transport/sftp.h"
#include "transport/sftp_client.h"

#define STALE_TEMP_SECONDS 3600 /* a put's temporary file older than this was killed */
#define SWEEP_DEPTH 2           /* the deepest blobs: devices/ID/SEQ */
#define LIST_DEPTH 16           /* no store of ours is deeper; a server's loop stops here */
#define READDIRS_AHEAD 2        /* READDIRs outstanding per folder (the second usually meets EOF) */
#define MAX_PIECES (DSYNC_SFTP_CLIENT_MAX_PENDING * 2)

typedef struct sftp_store {
	dsync_blobstore base;
	dsync_sftp_client *c;
	char *root; /* "" (the login folder), "/", or a path without a trailing '/' */
	bool swept;
} sftp_store;

/* The reply to one request, as a callback saw it */
typedef struct one {
	unsigned *left; /* counted down when the reply comes */
	uint8_t type;
	uint32_t status;
	char message[DSYNC_SFTP_MESSAGE_SIZE];
	dsync_sftp_handle handle;
	dsync_sftp_attrs attrs;
} one;

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

/* For replies nobody waits for (a CLOSE after the work is done) */
static void got_nothing(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	(void)r;
	(void)ctx;
	(void)tag;
}

/* For replies only counted: CTX is the counter */
static void count_down(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	(void)r;
	(void)tag;
	(*(unsigned *)ctx)--;
}

static bool is_status(const one *o, uint32_t status)
{
	return o->type == DSYNC_SFTP_STATUS && o->status == status;
}

/* The error for reply O, which was not what was hoped for: "WHAT: MESSAGE". */
static int reply_error(const one *o, const char *what, const char *url)
{
	int code;

	if (o->type != DSYNC_SFTP_STATUS || o->status == DSYNC_SFTP_FX_OK)
		return dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s: the server answered out of turn", what, url);
	code = dsync_sftp_status_code(o->status);
	if (code == 0)
		code = DSYNC_ERROR;
	return dsync_error_set(code, "%s in the store at %s: %s", what, url, o->message[0] ? o->message : "failed");
}

static bool is_file(const dsync_sftp_attrs *a)
{
	return (a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) && (a->perms & S_IFMT) == S_IFREG;
}

static bool is_dir(const dsync_sftp_attrs *a)
{
	return (a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) && (a->perms & S_IFMT) == S_IFDIR;
}

/* A blob name is a relative path of plain components: no "", ".", "..", no
 * leading dot (temporary files), no NUL (as file.c). */
static int check_name(const char *name)
{
	const char *p = name;

	if (!*name)
		return dsync_error_set(DSYNC_EUSAGE, "empty blob name");
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || p[0] == '.')
			return dsync_error_set(DSYNC_EUSAGE, "bad blob name '%s'", name);
		p += len;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* OUT: the server's path of NAME ("" for the store's folder itself) */
static int path_of(const sftp_store *s, const char *name, dsync_buf *out)
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
	if (st.type == DSYNC_SFTP_ATTRS && is_dir(&st.attrs))
		return 0;
	if (st.type == DSYNC_SFTP_ATTRS)
		return dsync_error_set(DSYNC_ENOTDIR, "cannot make the folder '%s' in the store at %s: a file is in the way",
				       path, s->base.url);
	return reply_error(&o, "cannot make a folder", s->base.url);
}

/* ---- listing ---- */

typedef struct wdir {
	char *rel;  /* the folder's name in the store ("" for its top) */
	int depth;
	dsync_sftp_handle h;
	bool open, eof, done;
	unsigned reading; /* READDIRs outstanding */
} wdir;

typedef struct wentry {
	char *name;
	dsync_blobstore_info info;
} wentry;

typedef struct walker {
	sftp_store *s;
	const char *prefix;
	size_t prefix_len;
	bool temps;    /* report the temporary files (the sweep) instead of blobs */
	int max_depth;
	wdir *dirs;    /* this level's folders */
	size_t ndirs;
	char **next;   /* the next level's */
	size_t nnext, next_cap;
	int next_depth;
	wentry *found; /* blobs not yet handed to the callback */
	size_t nfound, found_cap, delivered;
	unsigned left; /* replies outstanding */
	int error;     /* the first error */
} walker;

static void walk_error(walker *w, int error)
{
	if (w->error == 0)
		w->error = error;
}

static bool prefix_may_match(const walker *w, const char *rel)
{
	size_t rl = strlen(rel);

	return strncmp(rel, w->prefix, rl < w->prefix_len ? rl : w->prefix_len) == 0;
}

static int push_str(char ***arr, size_t *n, size_t *cap, char *str)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **p = realloc(*arr, ncap * sizeof(**arr));

		if (!p)
			return dsync_error_oom();
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = str;
	return 0;
}

static void add_entry(walker *w, const wdir *d, const dsync_sftp_name *e)
{
	dsync_buf rel = DSYNC_BUF_INIT;
	bool temp = e->name[0] == '.';

	if (e->name_flags || w->error)
		return;  /* '.', '..', and names no file of ours has */
	if (*d->rel ? dsync_buf_printf(&rel, "%s/%.*s", d->rel, (int)e->name_len, e->name) < 0
		    : dsync_buf_put(&rel, e->name, e->name_len) < 0) {
		walk_error(w, dsync_error_oom());
		return;
	}
	if (is_dir(&e->attrs) && !temp && d->depth < w->max_depth && prefix_may_match(w, rel.ptr)) {
		char *p = dsync_buf_detach(&rel);

		if (!p || push_str(&w->next, &w->nnext, &w->next_cap, p) < 0) {
			free(p);
			walk_error(w, dsync_error_oom());
		}
	} else if (is_file(&e->attrs) && temp == w->temps &&
		   (!temp || memmem(e->name, e->name_len, ".tmp-", 5) != NULL) &&
		   strncmp(rel.ptr, w->prefix, w->prefix_len) == 0) {
		if (w->nfound == w->found_cap) {
			size_t ncap = w->found_cap ? w->found_cap * 2 : 64;
			wentry *p = realloc(w->found, ncap * sizeof(*p));

			if (!p) {
				walk_error(w, dsync_error_oom());
				goto out;
			}
			w->found = p;
			w->found_cap = ncap;
		}
		w->found[w->nfound].info.size = (e->attrs.flags & DSYNC_SFTP_ATTR_SIZE) ? e->attrs.size : 0;
		w->found[w->nfound].info.mtime = (e->attrs.flags & DSYNC_SFTP_ATTR_ACMODTIME) ? (time_t)e->attrs.mtime : 0;
		if ((w->found[w->nfound].name = dsync_buf_detach(&rel)) == NULL) {
			walk_error(w, dsync_error_oom());
			goto out;
		}
		w->nfound++;
	}
out:
	dsync_buf_dispose(&rel);
}

static void got_opendir(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	walker *w = ctx;
	wdir *d = &w->dirs[tag];

	w->left--;
	if (r->type == DSYNC_SFTP_HANDLE) {
		d->h = r->handle;
		d->open = true;
		return;
	}
	d->done = true;
	/* a folder that is not there holds no blobs (file.c likewise) */
	if (r->status != DSYNC_SFTP_FX_NO_SUCH_FILE) {
		one o = { .type = r->type, .status = r->status };

		memcpy(o.message, r->message, sizeof(o.message));
		walk_error(w, reply_error(&o, "cannot list the folder", w->s->base.url));
	}
}

static void got_readdir(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	walker *w = ctx;
	wdir *d = &w->dirs[tag];
	dsync_sftp_name e;
	size_t pos = 0;

	w->left--;
	d->reading--;
	if (r->type == DSYNC_SFTP_NAME) {
		while (dsync_sftp_name_next(&e, r, &pos) == 1)
			add_entry(w, d, &e);
		return;
	}
	d->eof = true;
	if (r->status != DSYNC_SFTP_FX_EOF) {
		one o = { .type = r->type, .status = r->status };

		memcpy(o.message, r->message, sizeof(o.message));
		walk_error(w, reply_error(&o, "cannot list the folder", w->s->base.url));
	}
}

/* Hands the blobs found so far to CB (outside the client's callbacks, so CB
 * may use the store). */
static void deliver(walker *w, dsync_blobstore_list_cb cb, void *payload)
{
	while (w->error == 0 && w->delivered < w->nfound) {
		wentry e = w->found[w->delivered++];
		int ret = cb(e.name, &e.info, payload);

		if (ret != 0)
			walk_error(w, ret);
	}
	if (w->delivered == w->nfound) {
		size_t i;

		for (i = 0; i < w->nfound; i++)
			free(w->found[i].name);
		w->nfound = w->delivered = 0;
	}
}

/* Lists one level of folders: all opened in one flight, read together. */
static int walk_level(walker *w, dsync_blobstore_list_cb cb, void *payload)
{
	dsync_buf path = DSYNC_BUF_INIT;
	size_t i;
	int error = 0;

	for (i = 0; i < w->ndirs && !w->error; i++) {
		if ((error = path_of(w->s, w->dirs[i].rel, &path)) < 0 ||
		    (error = dsync_sftp_client_opendir(w->s->c, path.ptr, got_opendir, w, i)) < 0)
			goto out;
		w->left++;
	}
	for (;;) {
		bool busy = false;

		deliver(w, cb, payload);
		for (i = 0; i < w->ndirs; i++) {
			wdir *d = &w->dirs[i];

			if (!d->open || d->done)
				continue;
			if (!d->eof && !w->error) {
				while (d->reading < READDIRS_AHEAD) {
					if ((error = dsync_sftp_client_readdir(w->s->c, &d->h, got_readdir, w, i)) < 0)
						goto out;
					d->reading++;
					w->left++;
				}
			} else if (d->reading == 0) {
				/* nobody waits for the CLOSE: its reply comes with the next ones */
				if ((error = dsync_sftp_client_close_handle(w->s->c, &d->h, got_nothing, NULL, 0)) < 0)
					goto out;
				d->done = true;
			}
			if (!d->done)
				busy = true;
		}
		if (w->left == 0 && !busy)
			break;
		if ((error = dsync_sftp_client_pump(w->s->c)) < 0)
			goto out;
	}
	deliver(w, cb, payload);
out:
	dsync_buf_dispose(&path);
	return error;
}

static void walker_dispose(walker *w)
{
	size_t i;

	for (i = 0; i < w->ndirs; i++)
		free(w->dirs[i].rel);
	free(w->dirs);
	for (i = 0; i < w->nnext; i++)
		free(w->next[i]);
	free(w->next);
	for (i = 0; i < w->nfound; i++)
		free(w->found[i].name);
	free(w->found);
}

/* Walks the store from the folder START down, level by level. */
static int walk(sftp_store *s, const char *prefix, const char *start, bool temps, int max_depth,
		dsync_blobstore_list_cb cb, void *payload)
{
	walker w = { .s = s, .prefix = prefix, .prefix_len = strlen(prefix), .temps = temps, .max_depth = max_depth };
	char *first = strdup(start);
	int error, depth = 0;

	if (!first)
		return dsync_error_oom();
	for (const char *p = start; *p; p++)
		depth += *p == '/';
	if (*start)
		depth++;
	if ((error = push_str(&w.next, &w.nnext, &w.next_cap, first)) < 0) {
		free(first);
		goto out;
	}
	w.next_depth = depth;
	while (w.nnext > 0 && !w.error) {
		size_t i;

		for (i = 0; i < w.ndirs; i++)
			free(w.dirs[i].rel);
		free(w.dirs);
		w.ndirs = 0;
		if ((w.dirs = calloc(w.nnext, sizeof(*w.dirs))) == NULL) {
			error = dsync_error_oom();
			goto out;
		}
		for (i = 0; i < w.nnext; i++) {
			w.dirs[i].rel = w.next[i];
			w.dirs[i].depth = w.next_depth;
		}
		w.ndirs = w.nnext;
		w.nnext = 0;
		w.next_depth++;
		if ((error = walk_level(&w, cb, payload)) < 0)
			goto out;
	}
	error = w.error;
out:
	walker_dispose(&w);
	return error;
}

static int sftp_list(dsync_blobstore *bs, const char *prefix, dsync_blobstore_list_cb cb, void *payload)
{
	sftp_store *s = (sftp_store *)bs;
	const char *slash = strrchr(prefix, '/');
	char *start;
	int error;

	/* start at the deepest folder the prefix names whole */
	if ((start = strndup(prefix, slash ? (size_t)(slash - prefix) : 0)) == NULL)
		return dsync_error_oom();
	if (*start && check_name(start) < 0) {
		dsync_error_clear();
		*start = '\0';
	}
	error = walk(s, prefix, start, false, LIST_DEPTH, cb, payload);
	free(start);
	return error;
}

static int any_blob(const char *name, const dsync_blobstore_info *info, void *payload)
{
	(void)name;
	(void)info;
	(void)payload;
	return 1;
}

static int sftp_is_empty(dsync_blobstore *bs, bool *empty)
{
	int error = sftp_list(bs, "", any_blob, NULL);

	*empty = error == 0;
	return error < 0 ? error : 0;
}

/* ---- sweep ---- */

typedef struct stale {
	char **names;
	size_t n, cap;
	time_t now;
} stale;

static int collect_stale(const char *name, const dsync_blobstore_info *info, void *payload)
{
	stale *st = payload;
	char *copy;

	if (st->now - info->mtime <= STALE_TEMP_SECONDS)
		return 0;
	if ((copy = strdup(name)) == NULL)
		return dsync_error_oom();
	if (push_str(&st->names, &st->n, &st->cap, copy) < 0) {
		free(copy);
		return DSYNC_ERROR;
	}
	return 0;
}

/* Once per handle, after its first put: removes the temporary files of puts
 * killed long ago, wherever they were (file.c's rule), best effort. */
static void sweep_stale(sftp_store *s)
{
	stale st = { .now = time(NULL) };
	dsync_buf path = DSYNC_BUF_INIT;
	unsigned left = 0;
	size_t i;

	if (s->swept)
		return;
	s->swept = true;
	if (walk(s, "", "", true, SWEEP_DEPTH, collect_stale, &st) == 0) {
		for (i = 0; i < st.n; i++) {
			if (path_of(s, st.names[i], &path) < 0 ||
			    dsync_sftp_client_remove(s->c, path.ptr, count_down, &left, 0) < 0)
				break;
			left++;
		}
		(void)dsync_sftp_client_wait_count(s->c, &left);
	}
	for (i = 0; i < st.n; i++)
		free(st.names[i]);
	free(st.names);
	dsync_buf_dispose(&path);
	dsync_error_clear();
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
	if (r->type != DSYNC_SFTP_ATTRS || !is_file(&r->attrs) || !(r->attrs.flags & DSYNC_SFTP_ATTR_SIZE)) {
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

	if ((error = check_name(name)) < 0 || (error = path_of(s, name, &path)) < 0)
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
		error = reply_error(&lst, name, s->base.url);
		goto out;
	}
	if (!is_file(&lst.attrs)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is not a file", name, s->base.url);
		goto out;
	}
	if (max && (lst.attrs.flags & DSYNC_SFTP_ATTR_SIZE) && lst.attrs.size > max) {
		error = dsync_error_set(DSYNC_ECORRUPT, "%s in the store at %s is larger than it may be (%llu bytes)", name,
					s->base.url, (unsigned long long)lst.attrs.size);
		goto out;
	}
	if (!opened) {
		error = reply_error(&op, "cannot read", s->base.url);
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
		(void)dsync_sftp_client_close_handle(s->c, &op.handle, got_nothing, NULL, 0);
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
		p->error = reply_error(&o, "cannot write", p->url);
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
	if (st.type != DSYNC_SFTP_ATTRS || !is_file(&st.attrs))
		return reply_error(&o, "cannot store", s->base.url);
	if (strncmp(name, "packs/", 6) == 0) {
		/* named by its content: the one there is this one */
		if ((error = ONE_CALL(s, &rm, dsync_sftp_client_remove(s->c, tmp, got_one, &rm, 0))) < 0)
			return error;
		return 0;
	}
	if ((error = ONE_CALL(s, &rm, dsync_sftp_client_remove(s->c, path, got_one, &rm, 0))) < 0)
		return error;
	if (!is_status(&rm, DSYNC_SFTP_FX_OK) && !is_status(&rm, DSYNC_SFTP_FX_NO_SUCH_FILE))
		return reply_error(&rm, "cannot replace", s->base.url);
	if ((error = ONE_CALL(s, &o, dsync_sftp_client_rename(s->c, tmp, path, got_one, &o, 0))) < 0)
		return error;
	return is_status(&o, DSYNC_SFTP_FX_OK) ? 0 : reply_error(&o, "cannot store", s->base.url);
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

	if ((error = check_name(name)) < 0 || (error = path_of(s, name, &path)) < 0)
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
		error = reply_error(&op, "cannot write to the store", s->base.url);
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
		error = reply_error(&fs, "cannot flush", s->base.url);
		goto out;
	}
	if (!is_status(&cl, DSYNC_SFTP_FX_OK)) {
		error = reply_error(&cl, "cannot write", s->base.url);
		goto out;
	}
	if (ext & DSYNC_SFTP_CLIENT_EXT_POSIX_RENAME) {
		one rn = { 0 };

		if ((error = ONE_CALL(s, &rn, dsync_sftp_client_posix_rename(s->c, tmp.ptr, path.ptr, got_one, &rn, 0))) < 0)
			goto out;
		if (!is_status(&rn, DSYNC_SFTP_FX_OK)) {
			error = reply_error(&rn, "cannot store", s->base.url);
			goto out;
		}
	} else if ((error = rename_fallback(s, name, tmp.ptr, path.ptr)) < 0) {
		goto out;
	}
	dsync_buf_truncate(&tmp, 0);
	sweep_stale(s);
out:
	if (error < 0 && tmp.len > 0) {
		/* best effort, answered with the next replies; the error stays */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		if (opened)
			(void)dsync_sftp_client_close_handle(s->c, &op.handle, got_nothing, NULL, 0);
		(void)dsync_sftp_client_remove(s->c, tmp.ptr, got_nothing, NULL, 0);
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

	if ((error = check_name(name)) < 0 || (error = path_of(s, name, &path)) < 0 ||
	    (error = ONE_CALL(s, &o, dsync_sftp_client_remove(s->c, path.ptr, got_one, &o, 0))) < 0)
		goto out;
	if (!is_status(&o, DSYNC_SFTP_FX_OK) && !is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE))
		error = reply_error(&o, "cannot remove a blob", s->base.url);
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

	if ((error = check_name(name)) < 0 || (error = path_of(s, name, &path)) < 0 ||
	    (error = ONE_CALL(s, &o, dsync_sftp_client_lstat(s->c, path.ptr, got_one, &o, 0))) < 0)
		goto out;
	if (is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE))
		error = dsync_error_set(DSYNC_ENOTFOUND, "%s is missing from the store", name);
	else if (o.type != DSYNC_SFTP_ATTRS)
		error = reply_error(&o, name, s->base.url);
	else if (!is_file(&o.attrs))
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
	s->base.list = sftp_list;
	s->base.get = sftp_get;
	s->base.put = sftp_put;
	s->base.del = sftp_del;
	s->base.stat = sftp_stat;
	s->base.is_empty = sftp_is_empty;
	s->base.free = sftp_free;
	if ((s->root = strdup(u->path)) == NULL || (s->base.url = strdup(u->url)) == NULL) {
		error = dsync_error_oom();
		goto fail;
	}
	len = strlen(s->root);
	while (len > 1 && s->root[len - 1] == '/')
		s->root[--len] = '\0';
	if ((error = path_of(s, "", &top)) < 0 ||
	    (error = ONE_CALL(s, &o, dsync_sftp_client_stat(s->c, top.ptr, got_one, &o, 0))) < 0)
		goto fail;
	if (o.type == DSYNC_SFTP_ATTRS && !is_dir(&o.attrs)) {
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
		error = reply_error(&o, "cannot reach the folder", s->base.url);
		goto fail;
	}
	dsync_buf_dispose(&top);
	*out = &s->base;
	return 0;
fail:
	dsync_buf_dispose(&top);
	sftp_free(&s->base);
	return error;
}
