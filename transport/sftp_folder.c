/*
 * A plain folder on an SSH host, file by file (transport/sftp_folder.h): a
 * mirror's phone folder over the pipelined SFTP client.  The listing walks
 * level by level with each level's OPENDIRs and READDIRs in one flight;
 * reads and writes move through sftp_xfer.c's pipelines as the blob store's
 * do.  Nothing here names a file on its own: every name comes from the
 * caller (checked: a bug above must not leave the folder) or from a listing
 * (checked: the server is untrusted).
 */
#include "core/base/internal.h"

#include <sys/stat.h>
#include <unistd.h>

#include "transport/sftp_client.h"
#include "transport/sftp_folder.h"
#include "transport/sftp_xfer.h"

#define LIST_DEPTH 64          /* deeper is a server's loop, not a phone */
#define MAX_ENTRIES 4000000u   /* names one listing takes from a server */
#define MAX_NAME 1024          /* no file system holds a longer name (FAT: 255 UTF-16 units) */
#define MAX_PATH_BYTES (1u << 30) /* the paths of one listing together: a server can't take our memory */
#define MAX_OPEN_DIRS 128      /* folders open at once on the server */
#define READDIRS_AHEAD 2       /* READDIRs sent at once per folder (the second usually meets EOF) */
#define MKDIRS_DEPTH 64        /* the folder itself made with CREATE */

struct dsync_sftp_folder {
	dsync_sftp_client *c;
	char *root;  /* "" (the login folder), "/", or a path without a trailing '/' */
	char *url;   /* normalised sftp:// form */
	char *where; /* "on [user@]host[:port]", for messages */
	dsync_sftp_folder_counts counts;
};

void dsync_rfile_list_dispose(dsync_rfile_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

const char *dsync_sftp_folder_url(const dsync_sftp_folder *pf)
{
	return pf->url;
}

bool dsync_sftp_folder_can_replace(const dsync_sftp_folder *pf)
{
	return (dsync_sftp_client_extensions(pf->c) & DSYNC_SFTP_CLIENT_EXT_POSIX_RENAME) != 0;
}

const dsync_sftp_folder_counts *dsync_sftp_folder_get_counts(const dsync_sftp_folder *pf)
{
	return &pf->counts;
}

/* A folder-relative path from the caller: no '/' at either end, no empty,
 * "." or ".." component (a caller's bug must not reach outside the folder) */
static int check_path(const dsync_sftp_folder *pf, const char *path)
{
	char q[DSYNC_QUOTE_SIZE];
	const char *p = path;

	for (;;) {
		size_t len = strcspn(p, "/");

		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return dsync_error_set(DSYNC_EUSAGE, "'%s': not a path inside the folder at %s",
					       dsync_quote(q, path), pf->url);
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

/* OUT: the server's path of the folder-relative PATH, checked */
static int server_path(const dsync_sftp_folder *pf, const char *path, dsync_buf *out)
{
	int error;

	if ((error = check_path(pf, path)) < 0)
		return error;
	return dsync_sftp_path_join(out, pf->root, path);
}

/* "'PATH'" as messages quote it */
static const char *quoted(char q[DSYNC_QUOTE_SIZE + 2], const char *path)
{
	char inner[DSYNC_QUOTE_SIZE];

	snprintf(q, DSYNC_QUOTE_SIZE + 2, "'%s'", dsync_quote(inner, path));
	return q;
}

/* The error for reply O about PATH: "WHAT 'PATH' on HOST: MESSAGE" */
static int path_error(const dsync_sftp_folder *pf, const one *o, const char *what, const char *path)
{
	char q[DSYNC_QUOTE_SIZE + 2];

	return dsync_sftp_reply_error(o, what, quoted(q, path), pf->where);
}

static int kind_of(const dsync_sftp_attrs *a)
{
	if (!(a->flags & DSYNC_SFTP_ATTR_PERMISSIONS))
		return DSYNC_RFILE_OTHER;
	switch (a->perms & S_IFMT) {
	case S_IFREG:
		return DSYNC_RFILE_FILE;
	case S_IFDIR:
		return DSYNC_RFILE_DIR;
	case S_IFLNK:
		return DSYNC_RFILE_LINK;
	default:
		return DSYNC_RFILE_OTHER;
	}
}

static void rfile_of(dsync_rfile *out, const dsync_sftp_attrs *a)
{
	out->kind = kind_of(a);
	out->size = (a->flags & DSYNC_SFTP_ATTR_SIZE) ? a->size : 0;
	out->mtime = (a->flags & DSYNC_SFTP_ATTR_ACMODTIME) ? a->mtime : 0;
	out->perms = (a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) ? (a->perms & 07777) : 0;
}

/* Appends an entry to L, taking PATH */
static int list_push(dsync_rfile_list *l, char *path, const dsync_sftp_attrs *a)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		dsync_rfile *v = realloc(l->v, ncap * sizeof(*v));

		if (!v)
			return dsync_error_oom();
		l->v = v;
		l->cap = ncap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	if (a)
		rfile_of(&l->v[l->n], a);
	l->v[l->n++].path = path;
	return 0;
}

/* ---- listing ---- */

typedef struct ldir {
	size_t entry; /* its entry in the listing (SIZE_MAX: the folder itself) */
	dsync_sftp_handle h;
	bool open, eof, done;
	unsigned reading; /* READDIRs outstanding */
} ldir;

typedef struct lister {
	dsync_sftp_folder *pf;
	dsync_rfile_list *out, *unreadable;
	ldir *dirs; /* this level's folders */
	size_t ndirs;
	int depth;
	bool root_missing;
	unsigned left;
	unsigned open_now; /* folders opened and not yet done */
	unsigned seen;
	size_t bytes; /* of the paths listed */
	int error;
} lister;

static void list_error(lister *l, int error)
{
	if (l->error == 0)
		l->error = error;
}

static const char *dir_path(const lister *l, const ldir *d)
{
	return d->entry == SIZE_MAX ? "" : l->out->v[d->entry].path;
}

/* A folder that can't be read: listed as empty, and named in UNREADABLE */
static void unreadable(lister *l, const ldir *d)
{
	char *p;

	if (!l->unreadable)
		return;
	if ((p = strdup(dir_path(l, d))) == NULL || list_push(l->unreadable, p, NULL) < 0) {
		free(p);
		list_error(l, dsync_error_oom());
	}
}

static void dir_failed(lister *l, ldir *d, const dsync_sftp_reply *r)
{
	one o = { .type = r->type, .status = r->status };
	char q[DSYNC_QUOTE_SIZE + 2];

	memcpy(o.message, r->message, sizeof(o.message));
	if (r->type == DSYNC_SFTP_STATUS && r->status == DSYNC_SFTP_FX_NO_SUCH_FILE) {
		/* gone since its parent was read: nothing below it */
		if (d->entry == SIZE_MAX)
			l->root_missing = true;
		return;
	}
	if (r->type == DSYNC_SFTP_STATUS && r->status == DSYNC_SFTP_FX_PERMISSION_DENIED && d->entry != SIZE_MAX) {
		unreadable(l, d);
		return;
	}
	list_error(l, dsync_sftp_reply_error(&o, "cannot list the folder", *dir_path(l, d) ?
					     quoted(q, dir_path(l, d)) : "", l->pf->where));
}

static void got_opendir(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	lister *l = ctx;
	ldir *d = &l->dirs[tag];

	l->left--;
	if (r->type == DSYNC_SFTP_HANDLE) {
		d->h = r->handle;
		d->open = true;
		return;
	}
	d->done = true;
	l->open_now--;
	dir_failed(l, d, r);
}

static void add_name(lister *l, const ldir *d, const dsync_sftp_name *e)
{
	const char *parent = dir_path(l, d);
	dsync_buf path = DSYNC_BUF_INIT;

	if (e->name_flags || e->name_len > MAX_NAME) {
		/* '.' and '..' come in every folder; the rest no file has */
		if (!(e->name_flags & DSYNC_SFTP_NAME_DOT))
			l->pf->counts.bad_names++;
		return;
	}
	if ((l->bytes += strlen(parent) + 1 + e->name_len) > MAX_PATH_BYTES) {
		list_error(l, dsync_error_set(DSYNC_ERROR, "the folder at %s lists over %u bytes of names",
					      l->pf->url, MAX_PATH_BYTES));
		return;
	}
	char *p;

	if ((*parent ? dsync_buf_printf(&path, "%s/%.*s", parent, (int)e->name_len, e->name)
		     : dsync_buf_put(&path, e->name, e->name_len)) < 0 ||
	    (p = dsync_buf_detach(&path)) == NULL) {
		dsync_buf_dispose(&path);
		list_error(l, dsync_error_oom());
		return;
	}
	if (list_push(l->out, p, &e->attrs) < 0) {
		free(p);
		list_error(l, DSYNC_ERROR);
	}
}

static void got_readdir(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	lister *l = ctx;
	ldir *d = &l->dirs[tag];
	dsync_sftp_name e;
	size_t pos = 0;

	l->left--;
	d->reading--;
	if (r->type == DSYNC_SFTP_NAME && r->count > 0) {
		if (d->eof || l->error)
			return; /* an answer to a READDIR sent ahead, after the end */
		if ((l->seen += r->count) > MAX_ENTRIES) {
			d->eof = true;
			list_error(l, dsync_error_set(DSYNC_ERROR, "the folder at %s lists over %u names",
						      l->pf->url, MAX_ENTRIES));
			return;
		}
		while (dsync_sftp_name_next(&e, r, &pos) == 1 && !l->error)
			add_name(l, d, &e);
		return;
	}
	/* an empty NAME ends the folder too: a server can't keep us asking */
	if (!d->eof && r->type == DSYNC_SFTP_STATUS && r->status != DSYNC_SFTP_FX_EOF)
		dir_failed(l, d, r);
	d->eof = true;
}

/* Lists one level of folders: opened in one flight, read together; at most
 * MAX_OPEN_DIRS open at once (a server's file descriptors are few) */
static int list_level(lister *l)
{
	dsync_sftp_folder *pf = l->pf;
	dsync_buf path = DSYNC_BUF_INIT;
	size_t i, k, lo = 0, next = 0; /* before LO all are done; from NEXT none is opened */
	int error = 0;

	l->open_now = 0;
	for (;;) {
		for (; next < l->ndirs && l->open_now < MAX_OPEN_DIRS && !l->error; next++) {
			pf->counts.opendirs++;
			l->open_now++;
			l->left++;
			if ((error = dsync_sftp_path_join(&path, pf->root, dir_path(l, &l->dirs[next]))) < 0 ||
			    (error = dsync_sftp_client_opendir(pf->c, path.ptr, got_opendir, l, next)) < 0)
				goto out;
		}
		while (lo < next && l->dirs[lo].done)
			lo++;
		for (i = lo; i < next; i++) {
			ldir *d = &l->dirs[i];

			if (!d->open || d->done)
				continue;
			if (!d->eof && !l->error) {
				/* in pairs: a small folder's first answer holds all its
				 * names and the second its end, one round trip.  Counted
				 * before they go: queuing may take their replies already */
				for (k = d->reading == 0 ? READDIRS_AHEAD : 0; k > 0; k--) {
					pf->counts.readdirs++;
					d->reading++;
					l->left++;
					if ((error = dsync_sftp_client_readdir(pf->c, &d->h, got_readdir, l, i)) < 0)
						goto out;
				}
			} else if (d->reading == 0) {
				/* nobody waits for the CLOSE: its reply comes with the next ones */
				d->done = true;
				l->open_now--;
				if ((error = dsync_sftp_client_close_handle(pf->c, &d->h, dsync_sftp_got_nothing, NULL,
									    0)) < 0)
					goto out;
			}
		}
		if (l->left == 0 && lo == next && (next == l->ndirs || l->error))
			break;
		if (l->left > 0 && (error = dsync_sftp_client_pump(pf->c)) < 0)
			goto out;
	}
out:
	dsync_buf_dispose(&path);
	return error;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const dsync_rfile *)a)->path, ((const dsync_rfile *)b)->path);
}

/* A name a server listed twice in a folder is one name (one entry kept):
 * callers may count on each path once */
static void drop_twins(dsync_sftp_folder *pf, dsync_rfile_list *l)
{
	size_t i, kept = 0;

	for (i = 0; i < l->n; i++) {
		if (kept > 0 && strcmp(l->v[kept - 1].path, l->v[i].path) == 0) {
			free(l->v[i].path);
			pf->counts.bad_names++;
			continue;
		}
		l->v[kept++] = l->v[i];
	}
	l->n = kept;
}

int dsync_sftp_folder_list(dsync_sftp_folder *pf, dsync_rfile_list *out, dsync_rfile_list *unreadable_out,
			   bool *root_missing)
{
	lister l = { .pf = pf, .out = out, .unreadable = unreadable_out };
	size_t i;
	int error = 0;

	*root_missing = false;
	dsync_rfile_list_dispose(out);
	if (unreadable_out)
		dsync_rfile_list_dispose(unreadable_out);
	if ((l.dirs = calloc(1, sizeof(*l.dirs))) == NULL)
		return dsync_error_oom();
	l.dirs[0].entry = SIZE_MAX;
	l.ndirs = 1;
	for (;;) {
		size_t first = out->n, n = 0; /* the first entry this level lists */

		if ((error = list_level(&l)) < 0)
			goto out;
		if (l.error)
			break;
		/* the next level: the folders this one listed */
		for (i = first; i < out->n; i++)
			n += out->v[i].kind == DSYNC_RFILE_DIR;
		if (n == 0)
			break;
		if (++l.depth >= LIST_DEPTH) {
			error = dsync_error_set(DSYNC_ERROR, "the folder at %s is deeper than %d folders", pf->url,
						LIST_DEPTH);
			goto out;
		}
		free(l.dirs);
		if ((l.dirs = calloc(n, sizeof(*l.dirs))) == NULL) {
			error = dsync_error_oom();
			goto out;
		}
		l.ndirs = 0;
		for (i = first; i < out->n; i++)
			if (out->v[i].kind == DSYNC_RFILE_DIR)
				l.dirs[l.ndirs++].entry = i;
	}
	error = l.error;
	if (error == 0 && l.root_missing) {
		*root_missing = true;
		dsync_rfile_list_dispose(out);
	}
	if (error == 0 && out->n > 0) {
		qsort(out->v, out->n, sizeof(*out->v), by_path);
		drop_twins(pf, out);
	}
	if (error == 0 && unreadable_out && unreadable_out->n > 0)
		qsort(unreadable_out->v, unreadable_out->n, sizeof(*unreadable_out->v), by_path);
out:
	free(l.dirs);
	if (error < 0) {
		dsync_rfile_list_dispose(out);
		if (unreadable_out)
			dsync_rfile_list_dispose(unreadable_out);
	}
	return error;
}

/* ---- lstat ---- */

typedef struct stats {
	dsync_rfile *out;
	one *got;
	unsigned left;
} stats;

static void got_lstat(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	stats *st = ctx;
	one *o = &st->got[tag];

	st->left--;
	o->type = r->type;
	o->status = r->status;
	memcpy(o->message, r->message, sizeof(o->message));
	if (r->type == DSYNC_SFTP_ATTRS)
		rfile_of(&st->out[tag], &r->attrs);
}

int dsync_sftp_folder_lstat(dsync_sftp_folder *pf, const char *const *paths, size_t n, dsync_rfile *out)
{
	stats st = { .out = out };
	dsync_buf path = DSYNC_BUF_INIT;
	size_t i;
	int error = 0;

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		if ((error = check_path(pf, paths[i])) < 0)
			return error;
	}
	if (n == 0)
		return 0;
	if ((st.got = calloc(n, sizeof(*st.got))) == NULL)
		return dsync_error_oom();
	for (i = 0; i < n; i++) {
		pf->counts.stats++;
		st.left++;
		if ((error = dsync_sftp_path_join(&path, pf->root, paths[i])) < 0 ||
		    (error = dsync_sftp_client_lstat(pf->c, path.ptr, got_lstat, &st, i)) < 0) {
			st.left--;
			break;
		}
	}
	if (error < 0) {
		(void)dsync_sftp_client_wait_count(pf->c, &st.left);
		goto out;
	}
	if ((error = dsync_sftp_client_wait_count(pf->c, &st.left)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (st.got[i].type == DSYNC_SFTP_ATTRS)
			continue;
		if (dsync_sftp_is_status(&st.got[i], DSYNC_SFTP_FX_NO_SUCH_FILE)) {
			out[i].kind = DSYNC_RFILE_NONE;
			continue;
		}
		error = path_error(pf, &st.got[i], "cannot look at", paths[i]);
		break;
	}
out:
	free(st.got);
	dsync_buf_dispose(&path);
	return error;
}

/* ---- read ---- */

/* Keeps the error while CLOSE goes (best effort: nobody waits for it) */
static void close_quietly(dsync_sftp_folder *pf, const dsync_sftp_handle *h, int error)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", dsync_error_last());
	(void)dsync_sftp_client_close_handle(pf->c, h, dsync_sftp_got_nothing, NULL, 0);
	if (error < 0)
		dsync_error_set(error, "%s", msg);
}

int dsync_sftp_folder_read(dsync_sftp_folder *pf, const char *path, int fd, uint64_t max, dsync_rfile *st)
{
	char q[DSYNC_QUOTE_SIZE + 2];
	dsync_buf sp = DSYNC_BUF_INIT;
	dsync_sftp_get g = { 0 };
	one lst = { 0 }, op = { 0 }, fs = { 0 };
	unsigned left = 2;
	bool opened = false;
	int error;

	memset(st, 0, sizeof(*st));
	if ((error = server_path(pf, path, &sp)) < 0)
		goto out;
	/* SFTP v3 has no O_NOFOLLOW: LSTAT first, in the same flight (the
	 * caller reads what a listing said is a plain file) */
	lst.left = op.left = &left;
	if ((error = dsync_sftp_client_lstat(pf->c, sp.ptr, dsync_sftp_got_one, &lst, 0)) < 0 ||
	    (error = dsync_sftp_client_open_file(pf->c, sp.ptr, DSYNC_SFTP_FXF_READ, NULL, dsync_sftp_got_one, &op,
						 0)) < 0)
		goto out;
	pf->counts.stats++;
	pf->counts.opens_read++;
	if ((error = dsync_sftp_client_wait_count(pf->c, &left)) < 0)
		goto out;
	opened = op.type == DSYNC_SFTP_HANDLE;
	if (dsync_sftp_is_status(&lst, DSYNC_SFTP_FX_NO_SUCH_FILE) ||
	    (!opened && dsync_sftp_is_status(&op, DSYNC_SFTP_FX_NO_SUCH_FILE))) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "no file %s %s", quoted(q, path), pf->where);
		goto out;
	}
	if (lst.type != DSYNC_SFTP_ATTRS) {
		error = path_error(pf, &lst, "cannot read", path);
		goto out;
	}
	if (!dsync_sftp_attrs_is_file(&lst.attrs)) {
		error = dsync_error_set(DSYNC_EUSAGE, "%s %s is not a plain file", quoted(q, path), pf->where);
		goto out;
	}
	if (!opened) {
		error = path_error(pf, &op, "cannot read", path);
		goto out;
	}
	g.c = pf->c;
	g.h = &op.handle;
	g.name = quoted(q, path);
	g.where = pf->where;
	g.size = (lst.attrs.flags & DSYNC_SFTP_ATTR_SIZE) ? lst.attrs.size : 0;
	g.max = max;
	g.max_code = DSYNC_ERROR;
	g.to_eof = true;
	pf->counts.stats++;
	error = dsync_sftp_xfer_get(&g, fd);
	pf->counts.bytes_read += g.written;
	if (error < 0 && g.over_max) {
		/* the size it grew to in *ST: the caller can tell this from a
		 * failed connection */
		st->kind = DSYNC_RFILE_FILE;
		st->size = g.size;
		error = dsync_error_set(DSYNC_ERROR, "%s %s grew past %llu bytes (to %llu)", q, pf->where,
					(unsigned long long)max, (unsigned long long)g.size);
	}
	if (error < 0)
		goto out;
	/* what the handle says after the last read: a file still being
	 * written shows it here (the caller compares with its listing) */
	if ((error = DSYNC_SFTP_ONE_CALL(pf->c, &fs, dsync_sftp_client_fstat(pf->c, &op.handle, dsync_sftp_got_one,
									      &fs, 0))) < 0)
		goto out;
	pf->counts.stats++;
	if (fs.type != DSYNC_SFTP_ATTRS) {
		error = path_error(pf, &fs, "cannot read", path);
		goto out;
	}
	rfile_of(st, &fs.attrs);
out:
	if (opened)
		close_quietly(pf, &op.handle, error);
	dsync_buf_dispose(&sp);
	return error;
}

/* ---- changes ---- */

/* Whether PATH (a server path) is there now: after a refusal, v3's codes
 * don't say "exists" */
static int exists(dsync_sftp_folder *pf, const char *sp, bool *there)
{
	one o = { 0 };
	int error;

	if ((error = DSYNC_SFTP_ONE_CALL(pf->c, &o, dsync_sftp_client_lstat(pf->c, sp, dsync_sftp_got_one, &o, 0))) < 0)
		return error;
	pf->counts.stats++;
	*there = o.type == DSYNC_SFTP_ATTRS;
	return 0;
}

/* The error for a refused creation of PATH ("cannot VERB 'PATH'..."):
 * DSYNC_EEXISTS when it is there */
static int create_error(dsync_sftp_folder *pf, const one *o, const char *verb, const char *path, const char *sp)
{
	char q[DSYNC_QUOTE_SIZE + 2], what[64];
	bool there = false;
	int error;

	if (!dsync_sftp_is_status(o, DSYNC_SFTP_FX_NO_SUCH_FILE) && (error = exists(pf, sp, &there)) < 0)
		return error;
	if (there)
		return dsync_error_set(DSYNC_EEXISTS, "cannot %s %s %s: it is there already", verb, quoted(q, path),
				       pf->where);
	snprintf(what, sizeof(what), "cannot %s", verb);
	return path_error(pf, o, what, path);
}

int dsync_sftp_folder_write_new(dsync_sftp_folder *pf, const char *path, int fd, uint32_t perms,
				uint32_t mtime)
{
	dsync_sftp_attrs mode = { .flags = DSYNC_SFTP_ATTR_PERMISSIONS, .perms = perms & 07777 };
	dsync_sftp_attrs times = { .flags = DSYNC_SFTP_ATTR_ACMODTIME, .atime = mtime, .mtime = mtime };
	bool fsync_ok = dsync_sftp_client_extensions(pf->c) & DSYNC_SFTP_CLIENT_EXT_FSYNC;
	char q[DSYNC_QUOTE_SIZE + 2];
	dsync_buf sp = DSYNC_BUF_INIT;
	one op = { 0 }, fs = { 0 }, cl = { 0 }, ss = { 0 };
	bool opened = false, made = false;
	uint64_t written = 0;
	unsigned left;
	int error;

	if ((error = server_path(pf, path, &sp)) < 0)
		goto out;
	if (lseek(fd, 0, SEEK_SET) < 0) {
		error = dsync_error_sys(errno, "cannot read what goes to %s", quoted(q, path));
		goto out;
	}
	if ((error = DSYNC_SFTP_ONE_CALL(pf->c, &op,
					 dsync_sftp_client_open_file(pf->c, sp.ptr,
								     DSYNC_SFTP_FXF_WRITE | DSYNC_SFTP_FXF_CREAT |
									     DSYNC_SFTP_FXF_EXCL,
								     &mode, dsync_sftp_got_one, &op, 0))) < 0)
		goto out;
	pf->counts.opens_write++;
	if (op.type != DSYNC_SFTP_HANDLE) {
		error = create_error(pf, &op, "write", path, sp.ptr);
		goto out;
	}
	opened = made = true;
	error = dsync_sftp_xfer_put(pf->c, &op.handle, fd, quoted(q, path), pf->where, NULL, NULL, &written);
	pf->counts.bytes_written += written;
	if (error < 0)
		goto out;
	/* flushed, closed and dated in one flight (the server takes them in
	 * order: the time is set after the last write) */
	left = 1;
	fs.left = cl.left = ss.left = &left;
	if (fsync_ok) {
		left++;
		if ((error = dsync_sftp_client_fsync(pf->c, &op.handle, dsync_sftp_got_one, &fs, 0)) < 0)
			goto out;
	}
	opened = false;
	if ((error = dsync_sftp_client_close_handle(pf->c, &op.handle, dsync_sftp_got_one, &cl, 0)) < 0)
		goto out;
	if (mtime) {
		left++;
		if ((error = dsync_sftp_client_setstat(pf->c, sp.ptr, &times, dsync_sftp_got_one, &ss, 0)) < 0)
			goto out;
	}
	if ((error = dsync_sftp_client_wait_count(pf->c, &left)) < 0)
		goto out;
	if (fsync_ok && !dsync_sftp_is_status(&fs, DSYNC_SFTP_FX_OK))
		error = path_error(pf, &fs, "cannot flush", path);
	else if (!dsync_sftp_is_status(&cl, DSYNC_SFTP_FX_OK))
		error = path_error(pf, &cl, "cannot write", path);
	else if (mtime && !dsync_sftp_is_status(&ss, DSYNC_SFTP_FX_OK))
		error = path_error(pf, &ss, "cannot set the time of", path);
out:
	if (error < 0 && made) {
		/* best effort, answered with the next replies; the error stays */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		if (opened)
			(void)dsync_sftp_client_close_handle(pf->c, &op.handle, dsync_sftp_got_nothing, NULL, 0);
		if (dsync_sftp_client_remove(pf->c, sp.ptr, dsync_sftp_got_nothing, NULL, 0) == 0)
			pf->counts.removes++;
		dsync_error_set(error, "%s", msg);
	}
	dsync_buf_dispose(&sp);
	return error;
}

int dsync_sftp_folder_rename(dsync_sftp_folder *pf, const char *from, const char *to, bool replace)
{
	char q[DSYNC_QUOTE_SIZE + 2], q2[DSYNC_QUOTE_SIZE + 2];
	dsync_buf sf = DSYNC_BUF_INIT, st = DSYNC_BUF_INIT;
	one o = { 0 };
	bool there = false;
	int error;

	if ((error = server_path(pf, from, &sf)) < 0 || (error = server_path(pf, to, &st)) < 0)
		goto out;
	if (replace && !dsync_sftp_folder_can_replace(pf)) {
		error = dsync_error_set(DSYNC_EUSAGE, "cannot replace %s %s: the server offers no posix-rename",
					quoted(q, to), pf->where);
		goto out;
	}
	error = DSYNC_SFTP_ONE_CALL(pf->c, &o, replace ? dsync_sftp_client_posix_rename(pf->c, sf.ptr, st.ptr,
											dsync_sftp_got_one, &o, 0)
						       : dsync_sftp_client_rename(pf->c, sf.ptr, st.ptr,
										  dsync_sftp_got_one, &o, 0));
	if (error < 0)
		goto out;
	pf->counts.renames++;
	if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_OK))
		goto out;
	if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE)) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "cannot rename %s to %s %s: %s", quoted(q, from),
					quoted(q2, to), pf->where, o.message[0] ? o.message : "no such file");
		goto out;
	}
	if (!replace && (error = exists(pf, st.ptr, &there)) < 0)
		goto out;
	if (there)
		error = dsync_error_set(DSYNC_EEXISTS, "cannot rename %s to %s %s: it is there already",
					quoted(q, from), quoted(q2, to), pf->where);
	else
		error = path_error(pf, &o, "cannot rename", from);
out:
	dsync_buf_dispose(&sf);
	dsync_buf_dispose(&st);
	return error;
}

/* One path request (REMOVE, RMDIR) and its reply: 0, or the error */
typedef int (*path_call)(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx, uint64_t tag);

static int remove_path(dsync_sftp_folder *pf, const char *path, path_call call, uint64_t *count, const char *what)
{
	char q[DSYNC_QUOTE_SIZE + 2];
	dsync_buf sp = DSYNC_BUF_INIT;
	one o = { 0 };
	int error;

	if ((error = server_path(pf, path, &sp)) < 0 ||
	    (error = DSYNC_SFTP_ONE_CALL(pf->c, &o, call(pf->c, sp.ptr, dsync_sftp_got_one, &o, 0))) < 0)
		goto out;
	(*count)++;
	if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_OK))
		goto out;
	if (dsync_sftp_is_status(&o, DSYNC_SFTP_FX_NO_SUCH_FILE))
		error = dsync_error_set(DSYNC_ENOTFOUND, "cannot %s %s %s: it is not there", what, quoted(q, path),
					pf->where);
	else
		error = dsync_error_set(DSYNC_ERROR, "cannot %s %s %s: %s", what, quoted(q, path), pf->where,
					o.type == DSYNC_SFTP_STATUS && o.message[0] ? o.message : "refused");
out:
	dsync_buf_dispose(&sp);
	return error;
}

int dsync_sftp_folder_remove(dsync_sftp_folder *pf, const char *path)
{
	return remove_path(pf, path, dsync_sftp_client_remove, &pf->counts.removes, "remove");
}

int dsync_sftp_folder_rmdir(dsync_sftp_folder *pf, const char *path)
{
	return remove_path(pf, path, dsync_sftp_client_rmdir, &pf->counts.rmdirs, "remove the folder");
}

int dsync_sftp_folder_mkdir(dsync_sftp_folder *pf, const char *path)
{
	dsync_sftp_attrs mode = { .flags = DSYNC_SFTP_ATTR_PERMISSIONS, .perms = 0755 };
	dsync_buf sp = DSYNC_BUF_INIT;
	one o = { 0 };
	int error;

	if ((error = server_path(pf, path, &sp)) < 0 ||
	    (error = DSYNC_SFTP_ONE_CALL(pf->c, &o, dsync_sftp_client_mkdir(pf->c, sp.ptr, &mode, dsync_sftp_got_one,
									     &o, 0))) < 0)
		goto out;
	pf->counts.mkdirs++;
	if (!dsync_sftp_is_status(&o, DSYNC_SFTP_FX_OK))
		error = create_error(pf, &o, "make the folder", path, sp.ptr);
out:
	dsync_buf_dispose(&sp);
	return error;
}

/* ---- open ---- */

void dsync_sftp_folder_free(dsync_sftp_folder *pf)
{
	if (!pf)
		return;
	dsync_sftp_client_free(pf->c);
	free(pf->root);
	free(pf->url);
	free(pf->where);
	free(pf);
}

int dsync_sftp_folder_open(dsync_sftp_folder **out, dsync_sftp_stream *stream, const dsync_sftp_url *u,
			   bool create, uint64_t rate_limit)
{
	dsync_buf where = DSYNC_BUF_INIT;
	dsync_sftp_folder *pf;
	int error;

	*out = NULL;
	if ((pf = calloc(1, sizeof(*pf))) == NULL || (pf->url = strdup(u->url)) == NULL ||
	    dsync_buf_printf(&where, "on %s", u->label[0] ? u->label : u->host) < 0 ||
	    (pf->where = dsync_buf_detach(&where)) == NULL) {
		dsync_buf_dispose(&where);
		dsync_sftp_folder_free(pf);
		stream->close(stream);
		return dsync_error_oom();
	}
	/* STAT, not LSTAT: the folder may be reached through a link
	 * (Android's /sdcard) */
	if ((error = dsync_sftp_open_top(&pf->c, &pf->root, stream, u, create, rate_limit, MKDIRS_DEPTH, "folder",
					 pf->where)) < 0) {
		dsync_sftp_folder_free(pf);
		return error;
	}
	pf->counts.stats++;
	*out = pf;
	return 0;
}
