/*
 * dsync — a small local HTTP server (libmicrohttpd): one thread, so the
 * request callback never runs twice at once.  `dsync ui` serves its
 * dashboard with it; it listens on 127.0.0.1 only.
 */
#ifndef DSYNC_HTTPD_H
#define DSYNC_HTTPD_H

#include <stddef.h>

#include "dsync/common.h"

typedef struct dsync_httpd dsync_httpd;
typedef struct dsync_httpd_req dsync_httpd_req;

/* The longest request body taken (a bigger one is answered 413). */
#define DSYNC_HTTPD_BODY_MAX (64 * 1024)
/* Extra response headers at most. */
#define DSYNC_HTTPD_HEADERS_MAX 4

/* What the callback fills: BODY is malloc'd and taken by the server. */
typedef struct dsync_httpd_resp {
	int status;              /* 0: 500 */
	const char *type;        /* Content-Type; NULL: none */
	char *body;
	size_t len;
	const char *hname[DSYNC_HTTPD_HEADERS_MAX];
	char *hvalue[DSYNC_HTTPD_HEADERS_MAX];   /* malloc'd, taken */
} dsync_httpd_resp;

typedef void (*dsync_httpd_cb)(const dsync_httpd_req *req, dsync_httpd_resp *resp, void *payload);

/* The request's method ("GET"), path (unescaped, without the query). */
const char *dsync_httpd_method(const dsync_httpd_req *r);
const char *dsync_httpd_path(const dsync_httpd_req *r);
/* A header's value, a query argument's (unescaped): NULL when absent. */
const char *dsync_httpd_header(const dsync_httpd_req *r, const char *name);
const char *dsync_httpd_arg(const dsync_httpd_req *r, const char *name);
/* The body as sent (*LEN bytes, NUL-terminated too). */
const char *dsync_httpd_body(const dsync_httpd_req *r, size_t *len);

/*
 * Listens on 127.0.0.1:PORT (0: a free port the system picks) and calls CB
 * for each request from a thread of its own.  DSYNC_EUSAGE when the port is
 * taken.  Stopped and freed with dsync_httpd_stop().
 */
int dsync_httpd_start(dsync_httpd **out, unsigned port, dsync_httpd_cb cb, void *payload);

/* The port listened on. */
unsigned dsync_httpd_port(const dsync_httpd *h);

/* Stops the server (requests under way end first) and frees it; NULL is fine. */
void dsync_httpd_stop(dsync_httpd *h);

#endif
