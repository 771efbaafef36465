/*
 * `dsync ui`'s pages: what every page shares (head, notices, errors, the
 * script), the summary of every registered folder, the devices, a folder's
 * timeline of snapshots, and the router.  A file's versions, diffs and
 * restores are cmd/ui_file.c's, conflicts cmd/ui_conflicts.c's.  Everything
 * read goes through the public API as the CLI's commands do.  cmd/ui.c has
 * checked the cookie (and a POST's CSRF token) before.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/history.h"
#include "dsync/pause.h"
#include "dsync/status.h"
#include "dsync/sync.h"
#include "output.h"
#include "ui.h"

#define TIMELINE_MAX 500   /* snapshots on a folder's page */

static const char css[] =
	"body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:1em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}h3{font-size:1em}"
	"table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25em .5em;"
	"border-bottom:1px solid #ddd;vertical-align:top}th{background:#f4f4f4}"
	".ok{color:#175}.err,.error{color:#a22}.muted{color:#777}code{font-size:.9em}"
	".notice{background:#e8f4ea;padding:.5em}.error{background:#fbeaea;padding:.5em}"
	"form{display:inline}button{cursor:pointer}nav a{margin-right:1em}"
	".sides{display:flex;gap:1em}.side{flex:1;min-width:0}pre{background:#f8f8f8;padding:.5em;overflow:auto;"
	"max-height:30em}ins{background:#dfd;text-decoration:none}del{background:#fdd;text-decoration:none}";

/*
 * Served as /app.js (the policy allows scripts from this server only): asks
 * before a button with data-confirm acts, keeps the diff picker's from/to in
 * order (an older "from", a newer "to"), reloads a page with data-refresh
 * every that many seconds.  Every page works without it.
 */
static const char app_js[] =
	"document.addEventListener('submit',function(e){var b=e.submitter,m=b&&b.getAttribute('data-confirm');"
	"if(m&&!confirm(m))e.preventDefault()});"
	"var r=document.body.getAttribute('data-refresh');if(r)setTimeout(function(){location.reload()},r*1e3);"
	"var p=document.getElementById('pick');if(p){var u=function(){var rs=p.querySelectorAll('tr.version,tr.now'),"
	"fi=-1,ti=-1,q=function(t,n){return t.querySelector('input[name='+n+']')};"
	"rs.forEach(function(t,i){var f=q(t,'from'),o=q(t,'to');if(f&&f.checked)fi=i;if(o&&o.checked)ti=i});"
	"rs.forEach(function(t,i){var f=q(t,'from'),o=q(t,'to');if(f)f.disabled=ti>=0&&i<=ti;"
	"if(o)o.disabled=fi>=0&&i>=fi})};p.addEventListener('change',u);u()}\n";

/* The done= values a redirect carries, and what the page then says (a fixed
 * text: nothing from the URL is echoed). */
static const struct {
	const char *done, *text;
} notices[] = {
	{ "restored", "Restored. What it replaced was snapshotted first: it is in the history." },
	{ "file", "Resolved: the file at the path was kept, the copy removed (it stays in the history)." },
	{ "copy", "Resolved: the copy's version is now at the path (the other stays in the history)." },
	{ "both", "Resolved: both were kept; the copy has a plain name now." },
	{ "paused", "Paused: no snapshot or sync of this folder runs until you resume it." },
	{ "resumed", "Resumed: a watcher records what changed meanwhile and syncs it." },
};

void ui_head(ui_buf *b, const char *title, const dsync_httpd_req *req, const char *body_attrs)
{
	const char *done = req ? dsync_httpd_arg(req, "done") : NULL;
	size_t i;

	ui_puts(b, "<!doctype html><html lang=en><head><meta charset=utf-8>"
		   "<meta name=viewport content=\"width=device-width\"><title>");
	ui_html(b, title);
	ui_puts(b, " — dsync</title><style>");
	ui_puts(b, css);
	ui_puts(b, "</style><script src=\"/app.js\" defer></script></head><body");
	if (body_attrs) {
		ui_puts(b, " ");
		ui_puts(b, body_attrs);
	}
	ui_puts(b, "><nav><a href=\"/\">All folders</a><a href=\"/devices\">Devices</a></nav><h1>");
	ui_html(b, title);
	ui_puts(b, "</h1>");
	for (i = 0; done && i < sizeof(notices) / sizeof(notices[0]); i++)
		if (strcmp(done, notices[i].done) == 0)
			ui_printf(b, "<p class=\"notice\">%s</p>", notices[i].text);
}

void ui_done(dsync_httpd_resp *resp, ui_buf *b, int status)
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
	ui_secure(resp);
}

void ui_fail(dsync_httpd_resp *resp, int error)
{
	ui_buf b = { 0 };
	int status = 500;

	switch (error) {
	case DSYNC_ENOTFOUND: case DSYNC_ENOTFOLDER: status = 404; break;
	case DSYNC_EUSAGE: status = 400; break;
	case DSYNC_ELOCKED: status = 409; break;
	default: break;
	}
	ui_head(&b, "Error", NULL, NULL);
	ui_puts(&b, "<p class=\"error\">");
	ui_html(&b, dsync_error_last());
	ui_puts(&b, "</p>");
	ui_done(resp, &b, status);
}

void ui_when(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}

int ui_open_registered(dsync_folder **out, const char *root)
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

void ui_hidden(ui_buf *b, const char *name, const char *value)
{
	ui_printf(b, "<input type=hidden name=%s value=\"", name);
	ui_html(b, value);
	ui_puts(b, "\">");
}

static void app(dsync_httpd_resp *resp)
{
	ui_plain(resp, 200, app_js);
	resp->type = "text/javascript; charset=utf-8";
}

/* ---------------------------------------------------------------- the summary */

static int last_cb(const dsync_commit_info *c, void *payload)
{
	ui_buf *b = payload;
	char t[32];

	ui_when(t, c->time);
	ui_html(b, t);
	/* a merge's author is "dsync" on every device (DESIGN.md: the same
	 * merge commit everywhere): say what it is instead */
	if (c->parents > 1) {
		ui_puts(b, " <span class=muted>(a merge of the devices' changes)</span>");
		return 1;
	}
	ui_puts(b, " <span class=muted>by ");
	ui_html(b, c->device_name);
	ui_puts(b, "</span>");
	return 1;
}

/* "YYYY-MM-DD HH:MM:SS" for T, or NONE when T is 0. */
static void time_or(ui_buf *b, int64_t t, const char *none)
{
	char s[32];

	if (!t) {
		ui_puts(b, none);
		return;
	}
	ui_when(s, t);
	ui_html(b, s);
}

/* The devices known for F: this one first, then the others with their last
 * snapshot seen here (how recent: "last seen") and whether it is the latest. */
static void summary_devices(ui_buf *b, dsync_folder *f)
{
	dsync_holders h = { 0 };
	size_t i;

	ui_puts(b, "<h3>Devices</h3>");
	if (dsync_status_holders(&h, f, "") < 0) {
		ui_puts(b, "<p class=muted>None known yet: no snapshot.</p>");
		return;
	}
	ui_puts(b, "<ul>");
	for (i = 0; i < h.n_devices; i++) {
		const dsync_holder *d = &h.devices[i];

		ui_puts(b, "<li class=\"device\" data-name=\"");
		ui_html(b, d->name);
		ui_puts(b, "\">");
		ui_html(b, d->name);
		if (!d->via) {
			ui_puts(b, " <span class=muted>(this device)</span>");
		} else {
			ui_puts(b, ": last seen ");
			time_or(b, d->head_time, "never");
			ui_puts(b, d->holds ? ", <span class=ok>has the latest</span>"
					    : ", <span class=err>behind</span>");
		}
		ui_puts(b, "</li>");
	}
	ui_puts(b, "</ul>");
	dsync_status_holders_dispose(&h);
}

/* Watching or not, paused or not (why, since when, by whom), and the
 * button that pauses or resumes it (POST /pause, the same calls as
 * `dsync pause` and `dsync resume`). */
static void summary_state(ui_buf *b, const char *root, const dsync_folder_summary *s, const char *csrf)
{
	ui_puts(b, "<p class=\"state\" data-state=\"");
	ui_puts(b, s->paused ? "paused" : s->watched ? "watching" : "unwatched");
	ui_puts(b, "\">");
	if (s->watched)
		ui_printf(b, "<span class=ok>Watching</span> <span class=muted>(pid %ld)</span>", s->watcher_pid);
	else
		ui_puts(b, "<span class=err>Not watched</span> <span class=muted>(no dsync daemon or watch "
			   "running: saves are recorded only by hand)</span>");
	if (s->paused) {
		ui_puts(b, "; <span class=err>paused</span>");
		if (s->paused_since) {
			char t[32];

			ui_when(t, s->paused_since);
			ui_puts(b, " since ");
			ui_html(b, t);
		}
		ui_puts(b, ": ");
		ui_html(b, s->paused_why ? s->paused_why : "");
		if (s->paused_by && strcmp(s->paused_by, "watcher") == 0 && s->paused_until) {
			ui_puts(b, " <span class=muted>(it ends when ");
			ui_html(b, s->paused_until);
			ui_puts(b, ")</span>");
		}
	}
	ui_puts(b, "</p><form class=\"pause\" method=post action=\"/pause\">");
	ui_hidden(b, "csrf", csrf);
	ui_hidden(b, "p", root);
	if (s->paused && s->paused_by && strcmp(s->paused_by, "user") == 0)
		ui_puts(b, "<button name=\"action\" value=\"resume\">Resume</button>");
	else
		ui_puts(b, "<button name=\"action\" value=\"pause\">Pause</button>");
	ui_puts(b, "</form>");
}

/* "used 1.2 GiB (of 5.0 GiB quota, 24%) as of 14:02" for a remote. */
static void summary_space(ui_buf *b, const dsync_remote_summary *rs)
{
	char t[32], u[32], q[32];

	if (!rs->used_known)
		return;
	ui_printf(b, ", used %s", out_size(u, sizeof(u), rs->used));
	if (rs->quota) {
		unsigned pct = rs->used >= rs->quota ? 100u : (unsigned)(rs->used * 100.0 / (double)rs->quota);

		ui_printf(b, " <span class=%s>(of %s quota, %u%%)</span>", pct >= DSYNC_QUOTA_FULL_PERCENT ? "err" : "muted",
			  out_size(q, sizeof(q), rs->quota), pct);
	}
	ui_when(t, rs->used_time);
	ui_puts(b, " <span class=muted>as of ");
	ui_html(b, t);
	ui_puts(b, "</span>");
}

static void summary_folder(ui_buf *b, const char *root, const char *csrf)
{
	dsync_folder *f = NULL;
	dsync_folder_summary s = { 0 };
	dsync_log_options lo = { .max = 1 };
	dsync_remote_info *r = NULL;
	size_t nr = 0, i, j;
	int error;

	ui_puts(b, "<section class=\"folder\" data-root=\"");
	ui_html(b, root);
	ui_puts(b, "\"><h2><a href=\"/folder?p=");
	ui_urlarg(b, root);
	ui_puts(b, "\">");
	ui_html(b, root);
	ui_puts(b, "</a></h2>");
	if (dsync_folder_open(&f, root) < 0 || dsync_status_summary(&s, f) < 0) {
		ui_puts(b, "<p class=\"error\">");
		ui_html(b, dsync_error_last());
		ui_puts(b, "</p></section>");
		dsync_status_summary_dispose(&s);
		dsync_folder_free(f);
		return;
	}
	summary_state(b, root, &s, csrf);
	ui_puts(b, "<p>Last snapshot: ");
	error = dsync_history_log(f, &lo, last_cb, b);
	if (error == 0)
		ui_puts(b, "<span class=muted>none yet</span>");
	else if (error < 0)
		ui_puts(b, "<span class=err>history unreadable</span>");
	ui_puts(b, "</p>");
	if (s.conflicts) {
		ui_puts(b, "<p><a class=\"conflicts\" href=\"/conflicts?p=");
		ui_urlarg(b, root);
		ui_printf(b, "\">%zu conflict%s waiting</a></p>", s.conflicts, s.conflicts == 1 ? "" : "s");
	}
	if (s.only_here)
		ui_printf(b, "<p class=\"only-here\"><span class=err>%zu file%s only on this device</span> "
			     "<span class=muted>(no other device, remote or mirror has %s yet)</span></p>",
			  s.only_here, s.only_here == 1 ? "" : "s", s.only_here == 1 ? "it" : "them");
	else if (s.head[0])
		ui_puts(b, "<p class=\"only-here\"><span class=ok>Every file is on another device, remote or mirror "
			   "too</span></p>");
	summary_devices(b, f);
	ui_puts(b, "<h3>Remotes</h3>");
	if (s.n_remotes == 0) {
		ui_puts(b, "<p class=muted>None: this device only.</p>");
	} else {
		if (dsync_remote_list(&r, &nr, f) < 0)
			nr = 0;
		ui_puts(b, "<ul>");
		for (i = 0; i < s.n_remotes; i++) {
			const dsync_remote_summary *rs = &s.remotes[i];

			ui_puts(b, "<li class=\"remote\" data-name=\"");
			ui_html(b, rs->name);
			ui_puts(b, "\">");
			ui_html(b, rs->name);
			for (j = 0; j < nr; j++)
				if (strcmp(r[j].name, rs->name) == 0) {
					ui_puts(b, " <span class=muted>");
					ui_html(b, r[j].url);
					ui_puts(b, "</span>");
				}
			ui_puts(b, ": last sync ");
			time_or(b, rs->last_sync, "never");
			ui_puts(b, rs->has_latest ? ", <span class=ok>has the latest</span>"
						  : ", <span class=err>not the latest</span>");
			summary_space(b, rs);
			ui_puts(b, "</li>");
		}
		ui_puts(b, "</ul>");
		if (r)
			dsync_remote_list_free(r, nr);
	}
	ui_puts(b, "</section>");
	dsync_status_summary_dispose(&s);
	dsync_folder_free(f);
}

static void summary(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf)
{
	ui_buf b = { 0 };
	char **list = NULL;
	size_t n = 0, i;
	int error;

	if ((error = dsync_folder_list_registered(&list, &n)) < 0) {
		ui_fail(resp, error);
		return;
	}
	ui_head(&b, "dsync", req, "data-refresh=10");
	ui_printf(&b, "<p>%zu registered folder%s.</p>", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		summary_folder(&b, list[i], csrf);
	dsync_folder_list_free(list);
	ui_done(resp, &b, 200);
}

/* ---------------------------------------------------------------- devices */

typedef struct seen {
	char *name, *root;
	int64_t time;
	bool here, holds;
} seen;

static int seen_cmp(const void *a, const void *b)
{
	const seen *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->root, y->root);
}

/* Every device of every folder, by name: per folder when it was last seen
 * (its newest snapshot known here) and whether it has the latest. */
static void devices(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	ui_buf b = { 0 };
	char **list = NULL, t[32];
	seen *v = NULL;
	size_t n = 0, nv = 0, i, j;
	int error;

	if ((error = dsync_folder_list_registered(&list, &n)) < 0) {
		ui_fail(resp, error);
		return;
	}
	for (i = 0; i < n; i++) {
		dsync_folder *f = NULL;
		dsync_holders h = { 0 };
		seen *nv2;

		if (dsync_folder_open(&f, list[i]) < 0 || dsync_status_holders(&h, f, "") < 0) {
			dsync_folder_free(f);
			continue;
		}
		if ((nv2 = realloc(v, (nv + h.n_devices) * sizeof(*v) + 1)) != NULL) {
			v = nv2;
			for (j = 0; j < h.n_devices; j++) {
				v[nv].name = strdup(h.devices[j].name);
				v[nv].root = list[i];
				v[nv].time = h.devices[j].head_time;
				v[nv].here = !h.devices[j].via;
				v[nv].holds = h.devices[j].holds;
				if (v[nv].name)
					nv++;
			}
		}
		dsync_status_holders_dispose(&h);
		dsync_folder_free(f);
	}
	if (nv)
		qsort(v, nv, sizeof(*v), seen_cmp);
	ui_head(&b, "Devices", req, NULL);
	ui_puts(&b, "<table><tr><th>Device</th><th>Folder</th><th>Last seen</th><th>Latest snapshot</th></tr>");
	for (i = 0; i < nv; i++) {
		ui_puts(&b, "<tr class=\"device\" data-name=\"");
		ui_html(&b, v[i].name);
		ui_puts(&b, "\" data-root=\"");
		ui_html(&b, v[i].root);
		ui_puts(&b, "\"><td>");
		ui_html(&b, v[i].name);
		ui_puts(&b, "</td><td><a href=\"/folder?p=");
		ui_urlarg(&b, v[i].root);
		ui_puts(&b, "\">");
		ui_html(&b, v[i].root);
		ui_puts(&b, "</a></td><td>");
		if (v[i].here) {
			ui_puts(&b, "this device");
		} else {
			ui_when(t, v[i].time);
			ui_puts(&b, v[i].time ? t : "never");
		}
		ui_puts(&b, v[i].here    ? "</td><td>"
			    : v[i].holds ? "</td><td class=ok>has it"
					 : "</td><td class=err>behind");
		ui_puts(&b, "</td></tr>");
		free(v[i].name);
	}
	ui_puts(&b, "</table>");
	if (nv == 0)
		ui_puts(&b, "<p class=muted>No device known yet: no folder has a snapshot.</p>");
	free(v);
	dsync_folder_list_free(list);
	ui_done(resp, &b, 200);
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

	ui_when(t, c->time);
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

	if ((error = ui_open_registered(&f, root)) < 0) {
		ui_fail(resp, error);
		return;
	}
	ui_head(&b, root, req, NULL);
	ui_puts(&b, "<p><a href=\"/conflicts?p=");
	ui_urlarg(&b, root);
	ui_puts(&b, "\">Conflicts</a></p>");
	ui_puts(&b, "<h2>Snapshots</h2><table><tr><th>When</th><th>Device</th><th>What changed</th></tr>");
	error = dsync_history_log(f, &lo, timeline_cb, &x);
	dsync_folder_free(f);
	if (error < 0) {
		free(b.p);
		ui_fail(resp, error);
		return;
	}
	ui_puts(&b, "</table>");
	if (x.n == TIMELINE_MAX)
		ui_printf(&b, "<p class=muted>The newest %d snapshots; 'dsync log' lists them all.</p>", TIMELINE_MAX);
	ui_done(resp, &b, 200);
}

/* ---------------------------------------------------------------- pause */

/* POST /pause (csrf, p, action=pause|resume): dsync_folder_pause() or
 * dsync_folder_resume(), as `dsync pause` and `dsync resume`; then back to
 * the summary with a notice. */
static void pause_resume(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	size_t len;
	const char *body = dsync_httpd_body(req, &len);
	char *root = ui_form_field(body, "p"), *action = ui_form_field(body, "action");
	dsync_folder *f = NULL;
	bool pause = action && strcmp(action, "pause") == 0;
	ui_buf loc = { 0 };
	int error;

	if (!action || (!pause && strcmp(action, "resume") != 0))
		error = dsync_error_set(DSYNC_EUSAGE, "action must be pause or resume");
	else if ((error = ui_open_registered(&f, root)) == 0)
		error = pause ? dsync_folder_pause(f, NULL) : dsync_folder_resume(f);
	dsync_folder_free(f);
	free(root);
	free(action);
	if (error < 0) {
		ui_fail(resp, error);
		return;
	}
	ui_puts(&loc, pause ? "/?done=paused" : "/?done=resumed");
	ui_redirect(resp, &loc);
}

/* ---------------------------------------------------------------- the router */

void ui_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf)
{
	static const struct {
		const char *path;
		bool post;
		void (*page)(const dsync_httpd_req *, dsync_httpd_resp *);
		void (*form_page)(const dsync_httpd_req *, dsync_httpd_resp *, const char *csrf);
	} routes[] = {
		{ "/", false, NULL, summary },
		{ "/pause", true, pause_resume, NULL },
		{ "/devices", false, devices, NULL },
		{ "/folder", false, folder_page, NULL },
		{ "/file", false, NULL, ui_file_page },
		{ "/raw", false, ui_raw, NULL },
		{ "/diff", false, ui_diff, NULL },
		{ "/restore", false, NULL, ui_restore_preview },
		{ "/restore", true, ui_restore, NULL },
		{ "/conflicts", false, NULL, ui_conflicts_page },
		{ "/current", false, ui_current, NULL },
		{ "/resolve", true, ui_resolve, NULL },
	};
	const char *path = dsync_httpd_path(req);
	bool post = strcmp(dsync_httpd_method(req), "POST") == 0, other = false;
	size_t i;

	if (!post && strcmp(path, "/app.js") == 0) {
		app(resp);
		return;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		if (routes[i].post != post) {
			other = true;
			continue;
		}
		if (routes[i].page)
			routes[i].page(req, resp);
		else
			routes[i].form_page(req, resp, csrf);
		return;
	}
	if (other)
		ui_plain(resp, 405, post ? "method not allowed: this page is read with GET\n"
					 : "method not allowed: this is done with a POST from the dashboard's form\n");
	else
		ui_plain(resp, 404, "not found\n");
}
