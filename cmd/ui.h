/*
 * `dsync ui`: what cmd/ui.c (the server, the token, the cookie, the CSRF
 * check) and the pages share: cmd/ui_pages.c (summary, devices, timeline,
 * the router), cmd/ui_file.c (a file's versions, diff, restore),
 * cmd/ui_conflicts.c (conflicts, files as they are now); the writing helpers
 * are in cmd/ui_html.c.
 */
#ifndef DSYNC_CMD_UI_H
#define DSYNC_CMD_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dsync/folder.h"
#include "dsync/httpd.h"

#define UI_RAW_MAX ((size_t)512 << 20)   /* a file downloaded, at most (held in memory) */
#define UI_TEXT_MAX ((size_t)256 << 10)  /* a file shown as text, at most */

/* A growing page; on a failed allocation it stays as it was and OOM is set. */
typedef struct ui_buf {
	char *p;
	size_t len, cap;
	bool oom;
} ui_buf;

void ui_put(ui_buf *b, const char *s, size_t n);
void ui_puts(ui_buf *b, const char *s);
void ui_printf(ui_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* S with & < > " ' escaped. */
void ui_html(ui_buf *b, const char *s);
/* S percent-encoded for a query argument. */
void ui_urlarg(ui_buf *b, const char *s);

/* A field of an application/x-www-form-urlencoded body, decoded, malloc'd;
 * NULL when absent. */
char *ui_form_field(const char *body, const char *name);

/* Answers a GET (and the POSTs that passed the CSRF check) for PATH; CSRF is
 * the session's token, put in every form. */
void ui_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf);

/* Sets RESP to STATUS with a short plain-text MESSAGE (with the security
 * headers, as every answer). */
void ui_plain(dsync_httpd_resp *resp, int status, const char *message);

/* Puts the Content-Security-Policy header in RESP's last header slot (ui.c
 * uses the first ones for its own). */
void ui_secure(dsync_httpd_resp *resp);

/* The same answer with a 303 to LOCATION (a path on this server). */
void ui_redirect(dsync_httpd_resp *resp, ui_buf *location);

/* Sets RESP to 200 with B's bytes (taken over) as a download named after
 * PATH's last component (quotes, backslashes and control bytes made '_'). */
void ui_attachment(dsync_httpd_resp *resp, ui_buf *b, const char *path);

/* N bytes at S are text to show: valid UTF-8, no NUL, at most UI_TEXT_MAX. */
bool ui_is_text(const char *s, size_t n);

/* ---------------------------------------------------------------- shared by the pages (ui_pages.c) */

/* Starts a page titled TITLE: head, styles, script, the navigation, and the
 * notice for the request's done= (a fixed text per known value).  BODY_ATTRS
 * goes into <body> (NULL: none). */
void ui_head(ui_buf *b, const char *title, const dsync_httpd_req *req, const char *body_attrs);
/* Ends the page in B and makes it RESP (STATUS), or a 500 when B ran out of memory. */
void ui_done(dsync_httpd_resp *resp, ui_buf *b, int status);
/* The library's last error as a page, with the HTTP status for ERROR. */
void ui_fail(dsync_httpd_resp *resp, int error);
/* T as local time, "YYYY-MM-DD HH:MM:SS". */
void ui_when(char out[32], int64_t t);
/* Opens the registered folder ROOT (only registered ones: a page never opens
 * a path it was merely given). */
int ui_open_registered(dsync_folder **out, const char *root);
/* A hidden form field NAME=VALUE, escaped. */
void ui_hidden(ui_buf *b, const char *name, const char *value);

/* ---------------------------------------------------------------- the pages */

void ui_file_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf);
void ui_raw(const dsync_httpd_req *req, dsync_httpd_resp *resp);
void ui_diff(const dsync_httpd_req *req, dsync_httpd_resp *resp);
void ui_restore_preview(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf);
void ui_restore(const dsync_httpd_req *req, dsync_httpd_resp *resp);
void ui_conflicts_page(const dsync_httpd_req *req, dsync_httpd_resp *resp, const char *csrf);
void ui_current(const dsync_httpd_req *req, dsync_httpd_resp *resp);
void ui_resolve(const dsync_httpd_req *req, dsync_httpd_resp *resp);

/* ---------------------------------------------------------------- files as they are now (ui_conflicts.c) */

/* REL names a place inside a folder: relative, no empty, "." or ".." part,
 * not in .dsync.  Every page checks a path it is given with it first. */
bool ui_rel_ok(const char *rel);

/*
 * Opens REL (folder-relative) in the folder ROOT for reading, into *FD with
 * its stat in *ST, when it is a regular file inside the folder: no absolute
 * path, no "." or ".." part, nothing in .dsync, no symbolic link leading out
 * of the folder (or into .dsync).  DSYNC_ENOTFOUND otherwise, with a message.
 */
int ui_open_current(int *fd, struct stat *st, const char *root, const char *rel);
/* Reads all of FD (up to MAX bytes: DSYNC_EUSAGE beyond) into B. */
int ui_read_all(ui_buf *b, int fd, size_t max);

#endif
