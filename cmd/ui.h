/*
 * `dsync ui`: what cmd/ui.c (the server, the token, the cookie, the CSRF
 * check) and cmd/ui_pages.c (the pages) share; the writing helpers are in
 * cmd/ui_html.c.
 */
#ifndef DSYNC_CMD_UI_H
#define DSYNC_CMD_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "dsync/httpd.h"

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

/* Sets RESP to STATUS with a short plain-text MESSAGE. */
void ui_plain(dsync_httpd_resp *resp, int status, const char *message);

#endif
