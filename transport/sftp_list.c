/*
 * The listing of an sftp:// blob store and the sweep of killed puts'
 * temporary files (moved from transport/sftp.c): folders walked level by
 * level, each level's OPENDIRs and READDIRs in one flight; a listing shows
 * only plain files, the sweep only temporary ones.
 */
#include "core/base/internal.h"

#include <time.h>

#include "transport/sftp_client.h"
#include "transport/sftp_list.h"
#include "transport/sftp_store.h"

#define STALE_TEMP_SECONDS 3600 /* a put's temporary file older than this was killed */
#define SWEEP_DEPTH 2           /* the deepest blobs: devices/ID/SEQ */
#define READDIRS_AHEAD 2        /* READDIRs outstanding per folder (the second usually meets EOF) */
#define MAX_ENTRIES 4000000u    /* names one listing takes from a server */

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
	unsigned seen; /* names the server listed */
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
	if (dsync_sftp_attrs_is_dir(&e->attrs) && !temp && d->depth < w->max_depth && prefix_may_match(w, rel.ptr)) {
		char *p = dsync_buf_detach(&rel);

		if (!p || push_str(&w->next, &w->nnext, &w->next_cap, p) < 0) {
			free(p);
			walk_error(w, dsync_error_oom());
		}
	} else if (dsync_sftp_attrs_is_file(&e->attrs) && temp == w->temps &&
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
		walk_error(w, dsync_sftp_store_reply_error(&o, "cannot list a folder", "", w->s->base.url));
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
	if (r->type == DSYNC_SFTP_NAME && r->count > 0) {
		if ((w->seen += r->count) > MAX_ENTRIES) {
			d->eof = true;
			walk_error(w, dsync_error_set(DSYNC_ECORRUPT, "the store at %s lists over %u names in its folders",
						      w->s->base.url, MAX_ENTRIES));
			return;
		}
		while (dsync_sftp_name_next(&e, r, &pos) == 1)
			add_entry(w, d, &e);
		return;
	}
	/* an empty NAME ends the folder too: a server can't keep us asking */
	d->eof = true;
	if (r->type == DSYNC_SFTP_STATUS && r->status != DSYNC_SFTP_FX_EOF) {
		one o = { .type = r->type, .status = r->status };

		memcpy(o.message, r->message, sizeof(o.message));
		walk_error(w, dsync_sftp_store_reply_error(&o, "cannot list a folder", "", w->s->base.url));
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
		if ((error = dsync_sftp_store_path_of(w->s, w->dirs[i].rel, &path)) < 0 ||
		    (error = dsync_sftp_client_opendir(w->s->c, path.ptr, got_opendir, w, i)) < 0)
			goto out;
		w->left++;
	}
	for (;;) {
		bool busy = false;
		unsigned k;

		deliver(w, cb, payload);
		for (i = 0; i < w->ndirs; i++) {
			wdir *d = &w->dirs[i];

			if (!d->open || d->done)
				continue;
			if (!d->eof && !w->error) {
				/* the next pair only once both answered: asking again as
				 * soon as one has (as the replies' bytes happen to arrive)
				 * made the count of requests depend on timing */
				for (k = d->reading ? READDIRS_AHEAD : 0; k < READDIRS_AHEAD; k++) {
					if ((error = dsync_sftp_client_readdir(w->s->c, &d->h, got_readdir, w, i)) < 0)
						goto out;
					d->reading++;
					w->left++;
				}
			} else if (d->reading == 0) {
				/* nobody waits for the CLOSE: its reply comes with the next ones */
				if ((error = dsync_sftp_client_close_handle(w->s->c, &d->h, dsync_sftp_got_nothing,
										    NULL, 0)) < 0)
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

int dsync_sftp_store_list(dsync_blobstore *bs, const char *prefix, dsync_blobstore_list_cb cb, void *payload)
{
	sftp_store *s = (sftp_store *)bs;
	const char *slash = strrchr(prefix, '/');
	char *start;
	int error;

	/* start at the deepest folder the prefix names whole */
	if ((start = strndup(prefix, slash ? (size_t)(slash - prefix) : 0)) == NULL)
		return dsync_error_oom();
	if (*start && dsync_blobstore_check_name(start) < 0) {
		dsync_error_clear();
		*start = '\0';
	}
	error = walk(s, prefix, start, false, LIST_DEPTH, cb, payload);
	free(start);
	return error;
}

int dsync_sftp_store_is_empty(dsync_blobstore *bs, bool *empty)
{
	return dsync_blobstore_lists_nothing(bs, empty);
}

/* ---- sweep ---- */

/* For replies only counted: CTX is the counter */
static void count_down(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	(void)r;
	(void)tag;
	(*(unsigned *)ctx)--;
}

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
void dsync_sftp_store_sweep_stale(sftp_store *s)
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
			if (dsync_sftp_store_path_of(s, st.names[i], &path) < 0 ||
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
