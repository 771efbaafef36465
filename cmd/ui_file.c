/*
 * `dsync ui`: a file's pages.  Its versions (newest first, 500 a page, older
 * ones by &before=TIME), a version's bytes, a text diff between two versions
 * (or a version and the file now), and a restore that shows first what it
 * replaces and what it brings back, then goes through the same
 * dsync_restore() call as 'dsync restore' (same lock, the replaced version
 * snapshotted first).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/history.h"
#include "dsync/restore.h"
#include "ui.h"

#define VERSIONS_MAX 500          /* versions on a file's page */
#define DIFF_MAX ((size_t)4 << 20) /* a diff shown, at most */

/*
 * The head of every handler here: GIVEN false (an argument missing) is a 400
 * with USAGE; a PATH that is no path in a folder a 404 (nothing outside the
 * folder or in .dsync is ever asked of the library); else the registered
 * folder ROOT is opened into *F.  False when RESP holds the answer already.
 */
static bool open_args(dsync_folder **f, dsync_httpd_resp *resp, bool given, const char *usage, const char *root,
		      const char *path)
{
	int error;

	*f = NULL;
	if (!given) {
		ui_plain(resp, 400, usage);
		return false;
	}
	if (!ui_rel_ok(path)) {
		ui_fail(resp, dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a path in the folder", path));
		return false;
	}
	if ((error = ui_open_registered(f, root)) < 0) {
		ui_fail(resp, error);
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- a file's versions */

/* One version kept for the page (the walk's are gone after its callback). */
typedef struct row {
	char id[DSYNC_OID_HEX_SIZE];
	int64_t time;
	char kind;
	char *path, *device;
	uint64_t size;
} row;

typedef struct ver_ctx {
	row *v;
	size_t n;
	int64_t before;   /* only versions older than this (0: all) */
	bool more;        /* older ones than those kept */
} ver_ctx;

static int version_cb(const dsync_version *v, void *payload)
{
	ver_ctx *x = payload;
	row *r;

	if (x->before && v->commit->time >= x->before)
		return 0;
	if (x->n == VERSIONS_MAX + 1) {   /* one more than shown: for the previous of the last, and "older" */
		x->more = true;
		return 1;
	}
	r = &x->v[x->n];
	memcpy(r->id, v->commit->id, sizeof(r->id));
	r->time = v->commit->time;
	r->kind = v->kind;
	r->size = v->size;
	r->path = strdup(v->path);
	r->device = strdup(v->commit->device_name);
	if (!r->path || !r->device) {
		free(r->path);
		free(r->device);
		return dsync_error_set(DSYNC_EUSAGE, "out of memory");
	}
	x->n++;
	return 0;
}

/* A link to PAGE for ROOT and PATH, with "&amp;" and the rest of its query to follow. */
static void link_to(ui_buf *b, const char *page, const char *root, const char *path)
{
	ui_printf(b, "<a href=\"/%s?p=", page);
	ui_urlarg(b, root);
	ui_puts(b, "&amp;f=");
	ui_urlarg(b, path);
}

static void version_row(ui_buf *b, const char *root, const char *path, const row *r, const row *prev, bool from)
{
	char t[32], size[32];

	ui_when(t, r->time);
	ui_puts(b, "<tr class=\"version\" data-rev=\"");
	ui_puts(b, r->id);
	ui_puts(b, "\"><td><input type=radio name=from value=\"");
	ui_puts(b, r->id);
	ui_puts(b, from ? "\" checked aria-label=from>" : "\" aria-label=from>");
	ui_puts(b, "</td><td><input type=radio name=to value=\"");
	ui_puts(b, r->id);
	ui_puts(b, "\" aria-label=to></td><td>");
	ui_html(b, t);
	ui_puts(b, "<br><code class=muted>");
	ui_put(b, r->id, 12);
	ui_printf(b, "</code></td><td>%c</td><td>", r->kind);
	ui_html(b, r->path);
	ui_puts(b, "</td><td>");
	if (r->kind != 'D')
		ui_html(b, dsync_size_text(size, sizeof(size), r->size));
	ui_puts(b, "</td><td>");
	ui_html(b, r->device);
	ui_puts(b, "</td><td>");
	if (r->kind != 'D') {
		link_to(b, "raw", root, r->path);
		ui_printf(b, "&amp;rev=%s\">download</a> ", r->id);
		ui_puts(b, "<a class=\"restore\" href=\"/restore?p=");
		ui_urlarg(b, root);
		ui_puts(b, "&amp;f=");
		ui_urlarg(b, path);
		ui_printf(b, "&amp;rev=%s\">Restore…</a> ", r->id);
	}
	if (prev) {
		ui_puts(b, "<a class=\"diff-prev\" href=\"/diff?p=");
		ui_urlarg(b, root);
		ui_puts(b, "&amp;f=");
		ui_urlarg(b, path);
		ui_printf(b, "&amp;from=%s&amp;to=%s\">diff with previous</a>", prev->id, r->id);
	}
	ui_puts(b, "</td></tr>");
}

void ui_file_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf)
{
	const char *root = dsync_httpd_arg(req, "p"), *path = dsync_httpd_arg(req, "f");
	const char *before = dsync_httpd_arg(req, "before");
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	ver_ctx x = { 0 };
	size_t i, shown;
	char *end;
	int error;

	(void)csrf;   /* the restore form is on the preview page */
	if (before) {
		errno = 0;
		x.before = strtoll(before, &end, 10);
		if (!*before || *end || errno || x.before <= 0) {
			ui_plain(resp, 400, "before= takes a time in seconds since 1970\n");
			return;
		}
	}
	if (!open_args(&f, resp, path != NULL, "no file given\n", root, path))
		return;
	if ((x.v = calloc(VERSIONS_MAX + 1, sizeof(*x.v))) == NULL) {
		dsync_folder_free(f);
		ui_plain(resp, 500, "out of memory\n");
		return;
	}
	error = dsync_history_versions(f, path, version_cb, &x);
	dsync_folder_free(f);
	if (error < 0) {
		ui_fail(resp, error);
		goto out;
	}
	ui_head(&b, path, req, NULL);
	ui_puts(&b, "<p>In <a href=\"/folder?p=");
	ui_urlarg(&b, root);
	ui_puts(&b, "\">");
	ui_html(&b, root);
	ui_puts(&b, "</a>. Restoring a version snapshots the current one first: it stays in the history.</p>"
		    "<form id=pick method=get action=\"/diff\">");
	ui_hidden(&b, "p", root);
	ui_hidden(&b, "f", path);
	ui_puts(&b, "<p><button>Diff</button> <span class=muted>the two versions picked below (from, to)</span></p>"
		    "<table><tr><th>from</th><th>to</th><th>When</th><th></th><th>Name</th><th>Size</th>"
		    "<th>Device</th><th></th></tr>");
	if (!x.before)
		ui_puts(&b, "<tr class=\"now\"><td></td><td><input type=radio name=to value=current checked "
			    "aria-label=to></td><td colspan=6>the file now, in the folder</td></tr>");
	shown = x.n < VERSIONS_MAX ? x.n : VERSIONS_MAX;
	for (i = 0; i < shown; i++)
		version_row(&b, root, path, &x.v[i], i + 1 < x.n ? &x.v[i + 1] : NULL, i == 0 && !x.before);
	ui_puts(&b, "</table></form>");
	if (x.n > VERSIONS_MAX) {
		ui_printf(&b, "<p>The newest %d versions here. ", VERSIONS_MAX);
		link_to(&b, "file", root, path);
		ui_printf(&b, "&amp;before=%lld\" class=\"older\">Older versions</a></p>",
			  (long long)x.v[shown - 1].time);
	}
	ui_done(resp, &b, 200);
out:
	for (i = 0; i < x.n; i++) {
		free(x.v[i].path);
		free(x.v[i].device);
	}
	free(x.v);
}

/* ---------------------------------------------------------------- a version's bytes */

static int raw_write(const void *data, size_t len, void *payload)
{
	ui_buf *b = payload;

	if (len > UI_RAW_MAX - b->len)
		return dsync_error_set(DSYNC_EUSAGE, "this version is over %zu MiB: use 'dsync show'",
				       UI_RAW_MAX >> 20);
	ui_put(b, data, len);
	return b->oom ? dsync_error_set(DSYNC_EUSAGE, "out of memory") : 0;
}

static int raw_dir(const dsync_dir_entry *e, void *payload)
{
	(void)e;
	(void)payload;
	return 0;
}

/* PATH's bytes at REV into B; DSYNC_EUSAGE for a folder. */
static int version_bytes(ui_buf *b, dsync_folder *f, const char *rev, const char *path)
{
	bool is_dir = false;
	int error = dsync_history_cat(f, rev, path, &is_dir, raw_write, raw_dir, b);

	if (error >= 0 && is_dir)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is a folder: pick a file", path);
	return error < 0 ? error : 0;
}

void ui_raw(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	const char *root = dsync_httpd_arg(req, "p"), *path = dsync_httpd_arg(req, "f");
	const char *rev = dsync_httpd_arg(req, "rev");
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	int error;

	if (!open_args(&f, resp, path && rev, "no file or version given\n", root, path))
		return;
	error = version_bytes(&b, f, rev, path);
	dsync_folder_free(f);
	if (error < 0) {
		free(b.p);
		ui_fail(resp, error);
		return;
	}
	ui_attachment(resp, &b, path);
}

/* ---------------------------------------------------------------- diff */

static int diff_write(const void *data, size_t len, void *payload)
{
	ui_buf *b = payload;

	if (len > DIFF_MAX - b->len)
		return dsync_error_set(DSYNC_EUSAGE, "the diff is over %zu MiB: use 'dsync diff'", DIFF_MAX >> 20);
	ui_put(b, data, len);
	return b->oom ? dsync_error_set(DSYNC_EUSAGE, "out of memory") : 0;
}

/* The unified diff in D as lines, escaped: added ones in <ins>, removed in <del>. */
static void diff_lines(ui_buf *b, ui_buf *d, bool *binary)
{
	char *p = d->p, *nl;

	*binary = false;
	ui_puts(b, "<pre class=\"diff\">");
	while (p && *p) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		if (strncmp(p, "Binary files ", 13) == 0)
			*binary = true;
		if (p[0] == '+' && strncmp(p, "+++ ", 4) != 0) {
			ui_puts(b, "<ins>");
			ui_html(b, p);
			ui_puts(b, "</ins>");
		} else if (p[0] == '-' && strncmp(p, "--- ", 4) != 0) {
			ui_puts(b, "<del>");
			ui_html(b, p);
			ui_puts(b, "</del>");
		} else {
			ui_puts(b, p[0] == '@' ? "<span class=muted>" : "<span>");
			ui_html(b, p);
			ui_puts(b, "</span>");
		}
		ui_puts(b, "\n");
		p = nl ? nl + 1 : NULL;
	}
	ui_puts(b, "</pre>");
}

void ui_diff(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	const char *root = dsync_httpd_arg(req, "p"), *path = dsync_httpd_arg(req, "f");
	const char *from = dsync_httpd_arg(req, "from"), *to = dsync_httpd_arg(req, "to");
	dsync_folder *f = NULL;
	ui_buf b = { 0 }, d = { 0 };
	bool binary;
	int error;

	if (!open_args(&f, resp, path && *path && from && *from && to && *to,
		       "a diff needs a file, from= and to= (a version, or to=current)\n", root, path))
		return;
	/* to=current: the file in the folder now (the library's working tree) */
	error = dsync_history_diff(f, from, strcmp(to, "current") == 0 ? NULL : to, path, diff_write, &d);
	dsync_folder_free(f);
	if (error < 0) {
		free(d.p);
		ui_fail(resp, error);
		return;
	}
	ui_head(&b, path, req, NULL);
	ui_puts(&b, "<p>");
	link_to(&b, "file", root, path);
	ui_puts(&b, "\">Its versions</a>. From <code>");
	ui_html(&b, from);
	ui_puts(&b, "</code> to <code>");
	ui_html(&b, to);
	ui_puts(&b, "</code>.</p>");
	if (!d.p || !d.len) {
		ui_puts(&b, "<p class=muted>No difference.</p>");
	} else {
		diff_lines(&b, &d, &binary);
		if (binary)
			ui_puts(&b, "<p class=muted>A binary file: no text diff; download the versions to "
				    "compare.</p>");
	}
	free(d.p);
	ui_done(resp, &b, 200);
}

/* ---------------------------------------------------------------- restore */

typedef struct find_ctx {
	const char *id;
	row r;
	bool found;
} find_ctx;

static int find_cb(const dsync_version *v, void *payload)
{
	find_ctx *x = payload;

	if (strcmp(v->commit->id, x->id) != 0)
		return 0;
	memcpy(x->r.id, v->commit->id, sizeof(x->r.id));
	x->r.time = v->commit->time;
	x->r.kind = v->kind;
	x->r.size = v->size;
	x->r.path = strdup(v->path);
	x->r.device = strdup(v->commit->device_name);
	x->found = true;
	return 1;
}

/* What is at PATH in the folder now, and whether it differs from the latest snapshot. */
static void replaced(ui_buf *b, dsync_folder *f, const char *root, const char *path)
{
	ui_buf now = { 0 }, last = { 0 };
	struct stat st;
	char t[32], size[32];
	int fd;

	ui_puts(b, "<section id=\"replaced\"><h2>What will be replaced</h2>");
	if (ui_open_current(&fd, &st, root, path) < 0) {
		ui_puts(b, "<p>Nothing: there is no file at this path now ");
		ui_puts(b, "<span class=muted>(or not a plain file; the restore itself says what it does with "
			   "it)</span>.</p>");
		ui_puts(b, "</section>");
		return;
	}
	ui_when(t, st.st_mtime);
	ui_puts(b, "<p>The file now: <span class=size>");
	ui_html(b, dsync_size_text(size, sizeof(size), (uint64_t)st.st_size));
	ui_puts(b, "</span>, changed <span class=mtime>");
	ui_html(b, t);
	ui_puts(b, "</span>.</p>");
	if (ui_read_all(&now, fd, UI_RAW_MAX) < 0 || version_bytes(&last, f, NULL, path) < 0) {
		ui_puts(b, "<p class=unsaved>It is not in the latest snapshot as it is now: it has changes not yet "
			   "snapshotted.</p>");
	} else if (now.len != last.len || (now.len && memcmp(now.p, last.p, now.len) != 0)) {
		ui_puts(b, "<p class=unsaved>It has changes not yet in a snapshot.</p>");
	} else {
		ui_puts(b, "<p class=saved>It is as in the latest snapshot.</p>");
	}
	ui_puts(b, "<p>Either way, the restore snapshots it first: this content stays in the history as a "
		   "version.</p></section>");
	close(fd);
	free(now.p);
	free(last.p);
}

void ui_restore_preview(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf)
{
	const char *root = dsync_httpd_arg(req, "p"), *path = dsync_httpd_arg(req, "f");
	const char *rev = dsync_httpd_arg(req, "rev");
	dsync_folder *f = NULL;
	char id[DSYNC_OID_HEX_SIZE], t[32], size[32];
	find_ctx x = { .id = id };
	ui_buf b = { 0 };
	int error;

	if (!open_args(&f, resp, path && *path && rev && *rev,
		       "restore needs a file and a version\n", root, path))
		return;
	if ((error = dsync_history_resolve(id, f, rev)) < 0 ||
	    (error = dsync_history_versions(f, path, find_cb, &x)) < 0 ||
	    (!x.found && (error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' has no version in snapshot %s", path, rev))) ||
	    (x.r.kind == 'D' && (error = dsync_error_set(DSYNC_EUSAGE, "in that snapshot '%s' was deleted", path)))) {
		dsync_folder_free(f);
		ui_fail(resp, error);
		goto out;
	}
	ui_head(&b, path, req, NULL);
	ui_puts(&b, "<p>Restore ");
	link_to(&b, "file", root, path);
	ui_puts(&b, "\">");
	ui_html(&b, path);
	ui_puts(&b, "</a> as it was?</p>");
	replaced(&b, f, root, path);
	dsync_folder_free(f);
	ui_when(t, x.r.time);
	ui_puts(&b, "<section id=\"bringing\"><h2>What comes back</h2><p>The version of <span class=when>");
	ui_html(&b, t);
	ui_puts(&b, "</span> by <span class=device>");
	ui_html(&b, x.r.device ? x.r.device : "");
	ui_puts(&b, "</span>, <span class=size>");
	ui_html(&b, dsync_size_text(size, sizeof(size), x.r.size));
	ui_printf(&b, "</span>, snapshot <code>%.12s</code>.</p></section>", id);
	ui_puts(&b, "<form id=\"confirm-restore\" method=post action=\"/restore\">");
	ui_hidden(&b, "csrf", csrf);
	ui_hidden(&b, "p", root);
	ui_hidden(&b, "f", path);
	ui_hidden(&b, "rev", id);
	ui_puts(&b, "<button id=\"restore-confirm\" data-confirm=\"Restore this version?\">Restore this version"
		    "</button></form> ");
	link_to(&b, "file", root, path);
	ui_puts(&b, "\">Cancel</a>");
	ui_done(resp, &b, 200);
out:
	free(x.r.path);
	free(x.r.device);
}

void ui_restore(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	size_t len;
	const char *body = dsync_httpd_body(req, &len);
	char *root = ui_form_field(body, "p"), *path = ui_form_field(body, "f"), *rev = ui_form_field(body, "rev");
	dsync_restore_options ro = DSYNC_RESTORE_OPTIONS_INIT;
	dsync_restore_result rr;
	const char *paths[1];
	dsync_folder *f = NULL;
	ui_buf loc = { 0 };
	int error;

	if (!open_args(&f, resp, root && path && rev && *path,
		       "restore needs a folder, a file and a version\n", root, path))
		goto out;
	paths[0] = path;
	ro.at = rev;
	error = dsync_restore(&rr, f, paths, 1, &ro);
	dsync_folder_free(f);
	if (error < 0) {
		ui_fail(resp, error);
		goto out;
	}
	ui_puts(&loc, "/file?p=");
	ui_urlarg(&loc, root);
	ui_puts(&loc, "&f=");
	ui_urlarg(&loc, path);
	ui_puts(&loc, "&done=restored");
	ui_redirect(resp, &loc);
out:
	free(root);
	free(path);
	free(rev);
}
