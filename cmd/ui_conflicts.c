/*
 * `dsync ui`: the conflicts a merge left, side by side (the file at the path
 * and the conflict copy: device, time, size, small text shown, else a
 * download of each as it is in the folder now), resolved by the same
 * dsync_conflict_resolve() call as 'dsync conflicts resolve --keep'; and
 * reading a file of the folder as it is now, refusing anything that leads
 * out of it or into .dsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/history.h"
#include "dsync/merge.h"
#include "ui.h"

/* ---------------------------------------------------------------- files as they are now */

bool ui_rel_ok(const char *rel)
{
	const char *p = rel;

	if (!*rel || *rel == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p)
			p++;
		else
			break;
		if (!*p)
			return false;   /* a trailing '/' */
	}
	return strcmp(rel, ".dsync") != 0 && strncmp(rel, ".dsync/", 7) != 0;
}

int ui_open_current(int *fd, struct stat *st, const char *root, const char *rel)
{
	char *full = NULL, *real = NULL, *rroot = NULL;
	size_t rl;
	int error = 0;

	*fd = -1;
	if (!rel || !ui_rel_ok(rel))
		return dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a file in the folder", rel ? rel : "");
	if ((full = malloc(strlen(root) + strlen(rel) + 2)) == NULL)
		return dsync_error_set(DSYNC_EUSAGE, "out of memory");
	sprintf(full, "%s/%s", root, rel);
	/* every link resolved: what is opened must still be inside the folder, and not its history */
	if ((real = realpath(full, NULL)) == NULL || (rroot = realpath(root, NULL)) == NULL) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not in the folder now", rel);
		goto out;
	}
	rl = strlen(rroot);
	if (strncmp(real, rroot, rl) != 0 || real[rl] != '/' || strcmp(real + rl + 1, ".dsync") == 0 ||
	    strncmp(real + rl + 1, ".dsync/", 7) == 0) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' leads out of the folder", rel);
		goto out;
	}
	if ((*fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0 || fstat(*fd, st) < 0 ||
	    !S_ISREG(st->st_mode)) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a file in the folder", rel);
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
out:
	free(full);
	free(real);
	free(rroot);
	return error;
}

int ui_read_all(ui_buf *b, int fd, size_t max)
{
	char chunk[65536];
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dsync_error_set(DSYNC_EUSAGE, "cannot read: %s", strerror(errno));
		if (n == 0)
			return b->oom ? dsync_error_set(DSYNC_EUSAGE, "out of memory") : 0;
		if ((size_t)n > max - b->len)
			return dsync_error_set(DSYNC_EUSAGE, "over %zu MiB: open it in the folder", max >> 20);
		ui_put(b, chunk, (size_t)n);
	}
}

void ui_current(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	const char *root = dsync_httpd_arg(req, "p"), *path = dsync_httpd_arg(req, "f");
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	struct stat st;
	int fd, error;

	if ((error = ui_open_registered(&f, root)) < 0) {
		ui_fail(resp, error);
		return;
	}
	dsync_folder_free(f);
	if ((error = ui_open_current(&fd, &st, root, path)) < 0) {
		ui_fail(resp, error);
		return;
	}
	error = ui_read_all(&b, fd, UI_RAW_MAX);
	close(fd);
	if (error < 0) {
		free(b.p);
		ui_fail(resp, error);
		return;
	}
	ui_attachment(resp, &b, path);
}

/* ---------------------------------------------------------------- conflicts */

typedef struct newest {
	char *device;
	int64_t time;
	bool merged;
} newest;

static int newest_cb(const dsync_version *v, void *payload)
{
	newest *x = payload;

	/* a merge's snapshot is by "dsync": who wrote that content is not known here */
	x->merged = v->commit->parents > 1;
	x->device = strdup(v->commit->device_name);
	x->time = v->commit->time;
	return 1;
}

/* One side: who wrote it, when, its size, and its text or a download. */
static void side(ui_buf *b, const char *cls, const char *title, const char *root, const char *rel,
		 const char *device, bool merged, int64_t time)
{
	ui_buf text = { 0 };
	struct stat st;
	char t[32], size[32];
	int fd;

	ui_printf(b, "<div class=\"side %s\"><h3>%s</h3><p><code>", cls, title);
	ui_html(b, rel);
	ui_puts(b, "</code><br>");
	if (device) {
		ui_when(t, time);
		if (merged) {
			ui_puts(b, "as a merge left it, <span class=when>");
		} else {
			ui_puts(b, "by <span class=device>");
			ui_html(b, device);
			ui_puts(b, "</span>, <span class=when>");
		}
		ui_html(b, t);
		ui_puts(b, "</span>");
	}
	if (ui_open_current(&fd, &st, root, rel) < 0) {
		ui_puts(b, "<br><span class=muted>not in the folder now</span></p></div>");
		return;
	}
	ui_puts(b, ", <span class=size>");
	ui_html(b, dsync_size_text(size, sizeof(size), (uint64_t)st.st_size));
	ui_puts(b, "</span> <a href=\"/current?p=");
	ui_urlarg(b, root);
	ui_puts(b, "&amp;f=");
	ui_urlarg(b, rel);
	ui_puts(b, "\">download</a></p>");
	if ((uint64_t)st.st_size <= UI_TEXT_MAX && ui_read_all(&text, fd, UI_TEXT_MAX) == 0 &&
	    ui_is_text(text.p ? text.p : "", text.len)) {
		ui_puts(b, "<pre class=\"content\">");
		if (text.p)
			ui_html(b, text.p);
		ui_puts(b, "</pre>");
	} else {
		ui_puts(b, "<p class=muted>Not shown: not text, or over 256 KiB.</p>");
	}
	close(fd);
	free(text.p);
	ui_puts(b, "</div>");
}

static void conflict(ui_buf *b, dsync_folder *f, const char *root, const dsync_conflict *k, const char *csrf)
{
	newest nw = { 0 };

	dsync_history_versions(f, k->path, newest_cb, &nw);
	ui_puts(b, "<section class=\"conflict\" data-path=\"");
	ui_html(b, k->path);
	ui_puts(b, "\" data-copy=\"");
	ui_html(b, k->copy);
	ui_puts(b, "\"><h2>");
	ui_html(b, k->path);
	ui_puts(b, "</h2><div class=sides>");
	side(b, "file", "The file", root, k->path, nw.device, nw.merged, nw.time);
	side(b, "copy", "The conflict copy", root, k->copy, k->device, false, (int64_t)k->when);
	ui_puts(b, "</div><form method=post action=\"/resolve\">");
	ui_hidden(b, "csrf", csrf);
	ui_hidden(b, "p", root);
	ui_hidden(b, "f", k->path);
	ui_hidden(b, "copy", k->copy);
	ui_puts(b, "<button name=\"keep\" value=\"file\" data-confirm=\"Keep the file and remove the copy?\">"
		   "Keep the file</button> <button name=\"keep\" value=\"copy\" data-confirm=\"Put the copy's "
		   "version at the path?\">Keep the copy</button> <button name=\"keep\" value=\"both\" "
		   "data-confirm=\"Keep both (the copy gets a plain name)?\">Keep both</button></form>"
		   "<p class=muted>Whatever you keep, the other version stays in the history.</p></section>");
	free(nw.device);
}

void ui_conflicts_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf)
{
	const char *root = dsync_httpd_arg(req, "p");
	dsync_conflicts list = { 0 };
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	size_t i;
	int error;

	if ((error = ui_open_registered(&f, root)) < 0 || (error = dsync_conflicts_list(&list, f)) < 0) {
		dsync_folder_free(f);
		ui_fail(resp, error);
		return;
	}
	ui_head(&b, "Conflicts", req, NULL);
	ui_puts(&b, "<p>In <a href=\"/folder?p=");
	ui_urlarg(&b, root);
	ui_puts(&b, "\">");
	ui_html(&b, root);
	ui_printf(&b, "</a>: %zu conflict%s waiting.</p>", list.n, list.n == 1 ? "" : "s");
	for (i = 0; i < list.n; i++)
		conflict(&b, f, root, &list.v[i], csrf);
	dsync_conflicts_dispose(&list);
	dsync_folder_free(f);
	ui_done(resp, &b, 200);
}

void ui_resolve(const dsync_httpd_req *req, dsync_httpd_resp *resp)
{
	size_t len, i;
	const char *body = dsync_httpd_body(req, &len);
	char *root = ui_form_field(body, "p"), *path = ui_form_field(body, "f"), *copy = ui_form_field(body, "copy");
	char *keep_arg = ui_form_field(body, "keep"), commit[DSYNC_OID_HEX_SIZE];
	dsync_merge_options mo = DSYNC_MERGE_OPTIONS_INIT;
	dsync_conflicts list = { 0 };
	dsync_folder *f = NULL;
	bool found = false;
	ui_buf loc = { 0 };
	int keep, error;

	keep = !keep_arg ? -1 : strcmp(keep_arg, "file") == 0 ? DSYNC_KEEP_FILE
	       : strcmp(keep_arg, "copy") == 0 ? DSYNC_KEEP_COPY : strcmp(keep_arg, "both") == 0 ? DSYNC_KEEP_BOTH : -1;
	if (!root || !path || !copy || keep < 0) {
		ui_plain(resp, 400, "resolve needs a folder, a file, its copy and keep=file|copy|both\n");
		goto out;
	}
	if (!ui_rel_ok(path) || !ui_rel_ok(copy)) {
		ui_fail(resp, dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a path in the folder", path));
		goto out;
	}
	if ((error = ui_open_registered(&f, root)) < 0 || (error = dsync_conflicts_list(&list, f)) < 0) {
		ui_fail(resp, error);
		goto out;
	}
	/* only a conflict the folder has: this copy of this file */
	for (i = 0; i < list.n && !found; i++)
		found = strcmp(list.v[i].path, path) == 0 && strcmp(list.v[i].copy, copy) == 0;
	if (!found) {
		ui_fail(resp, dsync_error_set(DSYNC_ENOTFOUND, "'%s' is no open conflict copy of '%s'", copy, path));
		goto out;
	}
	/* as 'dsync conflicts resolve COPY --keep ...': the folder's lock, a new version recording it */
	mo.lock_wait_ms = DSYNC_LOCK_WAIT_MS;
	if ((error = dsync_conflict_resolve(commit, f, copy, keep, &mo)) < 0) {
		ui_fail(resp, error);
		goto out;
	}
	ui_puts(&loc, "/conflicts?p=");
	ui_urlarg(&loc, root);
	ui_printf(&loc, "&done=%s", keep_arg);
	ui_redirect(resp, &loc);
out:
	dsync_conflicts_dispose(&list);
	dsync_folder_free(f);
	free(root);
	free(path);
	free(copy);
	free(keep_arg);
}
