/*
 * `dsync ui`'s pages: the summary of every registered folder, a folder's
 * timeline of snapshots, a file's versions with download and restore.  Plain
 * HTML and a little CSS, built here; everything read goes through the public
 * API as the CLI's commands do, and a restore is the same dsync_restore()
 * call as 'dsync restore' (same lock, the replaced version snapshotted first).
 * cmd/ui.c has checked the cookie (and a POST's CSRF token) before.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/history.h"
#include "dsync/restore.h"
#include "dsync/sync.h"
#include "ui.h"

#define TIMELINE_MAX 500   /* snapshots on a folder's page */
#define VERSIONS_MAX 500   /* versions on a file's page */
#define RAW_MAX ((size_t)512 << 20)   /* a version downloaded, at most */

static const char css[] =
	"body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:1em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}"
	"table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25em .5em;"
	"border-bottom:1px solid #ddd;vertical-align:top}th{background:#f4f4f4}"
	".ok{color:#175}.err{color:#a22}.muted{color:#777}code{font-size:.9em}"
	"form{display:inline}button{cursor:pointer}nav a{margin-right:1em}";

static void head(ui_buf *b, const char *title)
{
	ui_puts(b, "<!doctype html><html lang=en><head><meta charset=utf-8>"
		   "<meta name=viewport content=\"width=device-width\"><title>");
	ui_html(b, title);
	ui_puts(b, " — dsync</title><style>");
	ui_puts(b, css);
	ui_puts(b, "</style></head><body><nav><a href=\"/\">All folders</a></nav><h1>");
	ui_html(b, title);
	ui_puts(b, "</h1>");
}

static void page_done(dsync_httpd_resp *resp, ui_buf *b, int status)
{
	ui_puts(b, "</body></html>\n");
	if (b->oom) {
		free(b->p);
		ui_plain(resp, 500, "out of memory\n");
		return;
	}
	resp->status = status;
	resp->type = "text/html; charset=utf-8";
	resp->body = b->p;
	resp->len = b->len;
}

/* The library's last error as a page, with the HTTP status for ERROR. */
static void fail(dsync_httpd_resp *resp, int error)
{
	ui_buf b = { 0 };
	int status = 500;

	switch (error) {
	case DSYNC_ENOTFOUND: case DSYNC_ENOTFOLDER: status = 404; break;
	case DSYNC_EUSAGE: status = 400; break;
	case DSYNC_ELOCKED: status = 409; break;
	default: break;
	}
	head(&b, "Error");
	ui_puts(&b, "<p class=err>");
	ui_html(&b, dsync_error_last());
	ui_puts(&b, "</p>");
	page_done(resp, &b, status);
}

static void when(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}

/* Opens the registered folder ROOT (only registered ones: a page never opens
 * a path it was merely given). */
static int open_registered(dsync_folder **out, const char *root)
{
	char **list = NULL;
	size_t n = 0, i;
	bool found = false;
	int error;

	*out = NULL;
	if (!root)
		return dsync_error_set(DSYNC_EUSAGE, "no folder given");
	if ((error = dsync_folder_list_registered(&list, &n)) < 0)
		return error;
	for (i = 0; i < n && !found; i++)
		found = strcmp(list[i], root) == 0;
	dsync_folder_list_free(list);
	if (!found)
		return dsync_error_set(DSYNC_ENOTFOLDER, "'%s' is not a registered folder", root);
	return dsync_folder_open(out, root);
}

/* ---------------------------------------------------------------- the summary */

static int last_cb(const dsync_commit_info *c, void *payload)
{
	ui_buf *b = payload;
	char t[32];

	when(t, c->time);
	ui_html(b, t);
	ui_puts(b, " <span class=muted>by ");
	ui_html(b, c->device_name);
	ui_puts(b, "</span>");
	return 1;
}

static void summary(dsync_httpd_resp *resp)
{
	ui_buf b = { 0 };
	char **list = NULL;
	size_t n = 0, i, j;
	int error;

	if ((error = dsync_folder_list_registered(&list, &n)) < 0) {
		fail(resp, error);
		return;
	}
	head(&b, "dsync");
	ui_printf(&b, "<p>%zu registered folder%s.</p>", n, n == 1 ? "" : "s");
	ui_puts(&b, "<table><tr><th>Folder</th><th>Last snapshot</th><th>Remotes</th></tr>");
	for (i = 0; i < n; i++) {
		dsync_folder *f = NULL;
		dsync_log_options lo = { .max = 1 };
		dsync_remote_info *r = NULL;
		size_t nr = 0;

		ui_puts(&b, "<tr><td><a href=\"/folder?p=");
		ui_urlarg(&b, list[i]);
		ui_puts(&b, "\">");
		ui_html(&b, list[i]);
		ui_puts(&b, "</a></td><td>");
		if ((error = dsync_folder_open(&f, list[i])) < 0) {
			ui_puts(&b, "<span class=err>");
			ui_html(&b, dsync_error_last());
			ui_puts(&b, "</span></td><td></td></tr>");
			continue;
		}
		error = dsync_history_log(f, &lo, last_cb, &b);
		if (error == 0)
			ui_puts(&b, "<span class=muted>none yet</span>");
		else if (error < 0)
			ui_puts(&b, "<span class=err>history unreadable</span>");
		ui_puts(&b, "</td><td>");
		if (dsync_remote_list(&r, &nr, f) < 0) {
			ui_puts(&b, "<span class=err>unreadable</span>");
		} else if (nr == 0) {
			ui_puts(&b, "<span class=muted>none: this device only</span>");
		} else {
			for (j = 0; j < nr; j++) {
				ui_puts(&b, j ? "<br>" : "");
				ui_html(&b, r[j].name);
				ui_puts(&b, " <span class=muted>");
				ui_html(&b, r[j].url);
				ui_puts(&b, "</span>");
			}
			dsync_remote_list_free(r, nr);
		}
		ui_puts(&b, "</td></tr>");
		dsync_folder_free(f);
	}
	ui_puts(&b, "</table>");
	dsync_folder_list_free(list);
	page_done(resp, &b, 200);
}

/* ---------------------------------------------------------------- a folder's timeline */

typedef struct tl_ctx {
	ui_buf *b;
	const char *root;
	size_t n;
} tl_ctx;

static int timeline_cb(const dsync_commit_info *c, void *payload)
{
	tl_ctx *x = payload;
	ui_buf *b = x->b;
	char t[32];
	size_t i;

	when(t, c->time);
	ui_puts(b, "<tr><td>");
	ui_html(b, t);
	ui_puts(b, "<br><code class=muted>");
	ui_put(b, c->id, 12);
	ui_puts(b, "</code></td><td>");
	ui_html(b, c->device_name);
	ui_puts(b, "</td><td>");
	ui_html(b, c->message);
	for (i = 0; i < c->changes.n && i < 20; i++) {
		const dsync_change *ch = &c->changes.v[i];

		ui_printf(b, "<br><code>%c</code> <a href=\"/file?p=", ch->kind);
		ui_urlarg(b, x->root);
		ui_puts(b, "&amp;f=");
		ui_urlarg(b, ch->path);
		ui_puts(b, "\">");
		ui_html(b, ch->path);
		ui_puts(b, "</a>");
	}
	if (c->changes.n > 20)
		ui_printf(b, "<br><span class=muted>and %zu more</span>", c->changes.n - 20);
	ui_puts(b, "</td></tr>");
	x->n++;
	return 0;
}

static void folder_page(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	const char *root = dsync_httpd_arg(req, "p");
	dsync_log_options lo = { .max = TIMELINE_MAX };
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	tl_ctx x = { &b, root, 0 };
	int error;

	if ((error = open_registered(&f, root)) < 0) {
		fail(resp, error);
		return;
	}
	head(&b, root);
	ui_puts(&b, "<h2>Snapshots</h2><table><tr><th>When</th><th>Device</th><th>What changed</th></tr>");
	error = dsync_history_log(f, &lo, timeline_cb, &x);
	dsync_folder_free(f);
	if (error < 0) {
		free(b.p);
		fail(resp, error);
		return;
	}
	ui_puts(&b, "</table>");
	if (x.n == TIMELINE_MAX)
		ui_printf(&b, "<p class=muted>The newest %d snapshots; 'dsync log' lists them all.</p>", TIMELINE_MAX);
	page_done(resp, &b, 200);
}

/* ---------------------------------------------------------------- a file's versions */

typedef struct ver_ctx {
	ui_buf *b;
	const char *root, *csrf;
	const char *path;
	size_t n;
} ver_ctx;

static int version_cb(const dsync_version *v, void *payload)
{
	ver_ctx *x = payload;
	ui_buf *b = x->b;
	char t[32], size[32];

	if (x->n == VERSIONS_MAX)
		return 1;   /* stops the walk: the page says so */
	x->n++;
	when(t, v->commit->time);
	ui_puts(b, "<tr><td>");
	ui_html(b, t);
	ui_puts(b, "<br><code class=muted>");
	ui_put(b, v->commit->id, 12);
	ui_printf(b, "</code></td><td>%c</td><td>", v->kind);
	ui_html(b, v->path);
	ui_puts(b, "</td><td>");
	if (v->kind != 'D')
		ui_html(b, dsync_size_text(size, sizeof(size), v->size));
	ui_puts(b, "</td><td>");
	ui_html(b, v->commit->device_name);
	ui_puts(b, "</td><td>");
	if (v->kind != 'D') {
		ui_puts(b, "<a href=\"/raw?p=");
		ui_urlarg(b, x->root);
		ui_puts(b, "&amp;f=");
		ui_urlarg(b, v->path);
		ui_puts(b, "&amp;rev=");
		ui_put(b, v->commit->id, strlen(v->commit->id));
		ui_puts(b, "\">download</a> <form method=post action=\"/restore\">"
			   "<input type=hidden name=csrf value=\"");
		ui_html(b, x->csrf);
		ui_puts(b, "\"><input type=hidden name=p value=\"");
		ui_html(b, x->root);
		ui_puts(b, "\"><input type=hidden name=f value=\"");
		ui_html(b, x->path);
		ui_puts(b, "\"><input type=hidden name=rev value=\"");
		ui_html(b, v->commit->id);
		ui_puts(b, "\"><button>restore</button></form>");
	}
	ui_puts(b, "</td></tr>");
	return 0;
}

static void file_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf)
{
	const char *root = dsync_httpd_arg(req, "p"), *path = dsync_httpd_arg(req, "f");
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	ver_ctx x = { &b, root, csrf, path, 0 };
	int error;

	if (!path) {
		ui_plain(resp, 400, "no file given\n");
		return;
	}
	if ((error = open_registered(&f, root)) < 0) {
		fail(resp, error);
		return;
	}
	head(&b, path);
	ui_puts(&b, "<p>In <a href=\"/folder?p=");
	ui_urlarg(&b, root);
	ui_puts(&b, "\">");
	ui_html(&b, root);
	ui_puts(&b, "</a>. Restoring a version snapshots the current one first: it stays in the history.</p>"
		    "<table><tr><th>When</th><th></th><th>Name</th><th>Size</th><th>Device</th><th></th></tr>");
	error = dsync_history_versions(f, path, version_cb, &x);
	dsync_folder_free(f);
	if (error < 0) {
		free(b.p);
		fail(resp, error);
		return;
	}
	ui_puts(&b, "</table>");
	if (error > 0)
		ui_printf(&b, "<p class=muted>The newest %d versions; 'dsync versions' lists them all.</p>", VERSIONS_MAX);
	page_done(resp, &b, 200);
}

static int raw_write(const void *data, size_t len, void *payload)
{
	ui_buf *b = payload;

	if (len > RAW_MAX - b->len)
		return dsync_error_set(DSYNC_EUSAGE, "this version is over %zu MiB: use 'dsync show'", RAW_MAX >> 20);
	ui_put(b, data, len);
	return b->oom ? dsync_error_set(DSYNC_EUSAGE, "out of memory") : 0;
}

static int raw_dir(const dsync_dir_entry *e, void *payload)
{
	(void)e;
	(void)payload;
	return 0;
}

static void raw(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	const char *root = dsync_httpd_arg(req, "p"), *path = dsync_httpd_arg(req, "f");
	const char *rev = dsync_httpd_arg(req, "rev"), *base;
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	bool is_dir = false;
	char *disp;
	size_t i;
	int error;

	if (!path || !rev) {
		ui_plain(resp, 400, "no file or version given\n");
		return;
	}
	if ((error = open_registered(&f, root)) < 0) {
		fail(resp, error);
		return;
	}
	error = dsync_history_cat(f, rev, path, &is_dir, raw_write, raw_dir, &b);
	dsync_folder_free(f);
	if (error < 0 || is_dir) {
		free(b.p);
		if (is_dir)
			ui_plain(resp, 400, "a folder: pick a file\n");
		else
			fail(resp, error);
		return;
	}
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if ((disp = malloc(strlen(base) + 40)) == NULL) {
		free(b.p);
		ui_plain(resp, 500, "out of memory\n");
		return;
	}
	strcpy(disp, "attachment; filename=\"");
	for (i = strlen(disp); *base; base++)   /* a name safe in a quoted header */
		disp[i++] = (*base == '"' || *base == '\\' || (unsigned char)*base < 0x20) ? '_' : *base;
	strcpy(disp + i, "\"");
	resp->status = 200;
	resp->type = "application/octet-stream";
	resp->body = b.p;
	resp->len = b.len;
	resp->hname[0] = "Content-Disposition";
	resp->hvalue[0] = disp;
}

/* ---------------------------------------------------------------- restore */

static void restore(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	size_t len;
	const char *body = dsync_httpd_body(req, &len);
	char *root = ui_form_field(body, "p"), *path = ui_form_field(body, "f"), *rev = ui_form_field(body, "rev");
	dsync_restore_options ro = DSYNC_RESTORE_OPTIONS_INIT;
	dsync_restore_result rr;
	const char *paths[1];
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	int error;

	if (!root || !path || !rev || !*path) {
		ui_plain(resp, 400, "restore needs a folder, a file and a version\n");
		goto out;
	}
	if ((error = open_registered(&f, root)) < 0) {
		fail(resp, error);
		goto out;
	}
	paths[0] = path;
	ro.at = rev;
	error = dsync_restore(&rr, f, paths, 1, &ro);
	dsync_folder_free(f);
	if (error < 0) {
		fail(resp, error);
		goto out;
	}
	head(&b, "Restored");
	ui_puts(&b, "<p class=ok>");
	ui_html(&b, path);
	ui_puts(&b, " is back as it was at <code>");
	ui_put(&b, rr.rev, 12);
	ui_puts(&b, "</code>.");
	if (rr.before[0]) {
		ui_puts(&b, " What it replaced is in snapshot <code>");
		ui_put(&b, rr.before, 12);
		ui_puts(&b, "</code>.");
	}
	ui_puts(&b, "</p><p><a href=\"/file?p=");
	ui_urlarg(&b, root);
	ui_puts(&b, "&amp;f=");
	ui_urlarg(&b, path);
	ui_puts(&b, "\">Back to its versions</a></p>");
	page_done(resp, &b, 200);
out:
	free(root);
	free(path);
	free(rev);
}

void ui_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf)
{
	const char *path = dsync_httpd_path(req);
	bool post = strcmp(dsync_httpd_method(req), "POST") == 0;

	if (!post && strcmp(path, "/") == 0)
		summary(resp);
	else if (!post && strcmp(path, "/folder") == 0)
		folder_page(req, resp);
	else if (!post && strcmp(path, "/file") == 0)
		file_page(req, resp, csrf);
	else if (!post && strcmp(path, "/raw") == 0)
		raw(req, resp);
	else if (post && strcmp(path, "/restore") == 0)
		restore(req, resp);
	else
		ui_plain(resp, 404, "not found\n");
}
