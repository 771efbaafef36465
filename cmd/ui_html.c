/*
 * `dsync ui`: what its server (ui.c) and its pages (ui_pages.c) both write
 * with: a growing page, HTML and URL escaping, a form field decoded, a plain
 * answer, a redirect, the security headers every answer carries (ui.h).
 * Calls none of them.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "ui.h"

/* Every answer's policy: nothing from elsewhere, scripts only /app.js, no
 * framing, forms only to this server. */
#define CSP "default-src 'none'; style-src 'unsafe-inline' 'self'; script-src 'self'; img-src 'self'; " \
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* ---------------------------------------------------------------- buffers */

void ui_put(ui_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n + 1 > b->cap - b->len || !b->p) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap - b->len < n + 1) {
			if (cap > ((size_t)1 << 40)) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void ui_puts(ui_buf *b, const char *s)
{
	ui_put(b, s, strlen(s));
}

void ui_printf(ui_buf *b, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		ui_put(b, small, (size_t)n);
		return;
	}
	if ((big = malloc((size_t)n + 1)) == NULL) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	ui_put(b, big, (size_t)n);
	free(big);
}

void ui_html(ui_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': ui_puts(b, "&amp;"); break;
		case '<': ui_puts(b, "&lt;"); break;
		case '>': ui_puts(b, "&gt;"); break;
		case '"': ui_puts(b, "&quot;"); break;
		case '\'': ui_puts(b, "&#39;"); break;
		default: ui_put(b, s, 1);
		}
	}
}

void ui_urlarg(ui_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/", c)) {
			ui_put(b, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			ui_put(b, e, 3);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *ui_form_field(const char *body, const char *name)
{
	size_t nl = strlen(name);
	const char *p = body;

	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t flen = end ? (size_t)(end - p) : strlen(p);

		if (flen > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			const char *v = p + nl + 1, *ve = p + flen;
			char *out = malloc((size_t)(ve - v) + 1), *o = out;

			if (!out)
				return NULL;
			for (; v < ve; v++) {
				if (*v == '+') {
					*o++ = ' ';
				} else if (*v == '%' && ve - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
					*o++ = (char)(hexval(v[1]) << 4 | hexval(v[2]));
					v += 2;
				} else {
					*o++ = *v;
				}
			}
			*o = '\0';
			if (strlen(out) != (size_t)(o - out)) {   /* a NUL inside: refused */
				free(out);
				return NULL;
			}
			return out;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

void ui_plain(dsync_httpd_resp *resp, int status, const char *message)
{
	free(resp->body);
	resp->status = status;
	resp->type = "text/plain; charset=utf-8";
	resp->body = strdup(message);
	resp->len = resp->body ? strlen(resp->body) : 0;
	ui_secure(resp);
}

void ui_secure(dsync_httpd_resp *resp)
{
	enum { LAST = DSYNC_HTTPD_HEADERS_MAX - 1 };

	if (resp->hname[LAST])
		return;
	if ((resp->hvalue[LAST] = strdup(CSP)) != NULL)
		resp->hname[LAST] = "Content-Security-Policy";
}

void ui_redirect(dsync_httpd_resp *resp, ui_buf *location)
{
	ui_plain(resp, 303, "see other\n");
	if (location->oom) {
		free(location->p);
		ui_plain(resp, 500, "out of memory\n");
		return;
	}
	resp->hname[0] = "Location";
	resp->hvalue[0] = location->p;
}

void ui_attachment(dsync_httpd_resp *resp, ui_buf *b, const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *disp = malloc(strlen(base) + 40), *body = b->p ? b->p : strdup("");
	size_t i;

	if (!disp || !body) {
		free(disp);
		free(body);
		ui_plain(resp, 500, "out of memory\n");
		return;
	}
	strcpy(disp, "attachment; filename=\"");
	for (i = strlen(disp); *base; base++)   /* a name safe in a quoted header */
		disp[i++] = (*base == '"' || *base == '\\' || (unsigned char)*base < 0x20) ? '_' : *base;
	strcpy(disp + i, "\"");
	resp->status = 200;
	resp->type = "application/octet-stream";
	resp->body = body;
	resp->len = b->len;
	resp->hname[0] = "Content-Disposition";
	resp->hvalue[0] = disp;
	ui_secure(resp);
}

bool ui_is_text(const char *s, size_t n)
{
	size_t i = 0, step;
	unsigned cp;

	if (n > UI_TEXT_MAX)
		return false;
	while (i < n) {
		if (s[i] == '\0')
			return false;
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		/* dsync_utf8_next reads at most 4 bytes: copied so it never reads past N */
		unsigned char q[5] = { 0 };

		memcpy(q, s + i, n - i < 4 ? n - i : 4);
		if ((step = dsync_utf8_next(q, &cp)) == 0)
			return false;
		i += step;
	}
	return true;
}
