/*
 * include/dsync/httpd.h on libmicrohttpd: 127.0.0.1 only, one internal
 * thread, bodies up to DSYNC_HTTPD_BODY_MAX kept in memory.  The pages are
 * the caller's; this file only moves bytes.
 */
#include "core/base/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "transport/netlibs.h"

#include "dsync/httpd.h"

#define CONNECTIONS_MAX 64
#define IDLE_SECONDS 30

struct dsync_httpd {
	struct MHD_Daemon *daemon;
	dsync_httpd_cb cb;
	void *payload;
	unsigned port;
};

struct dsync_httpd_req {
	struct MHD_Connection *c;
	const char *method, *path;
	char *body;
	size_t len;
	bool too_big;
};

const char *dsync_httpd_method(const dsync_httpd_req *r)
{
	return r->method;
}

const char *dsync_httpd_path(const dsync_httpd_req *r)
{
	return r->path;
}

const char *dsync_httpd_header(const dsync_httpd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

const char *dsync_httpd_arg(const dsync_httpd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

const char *dsync_httpd_body(const dsync_httpd_req *r, size_t *len)
{
	*len = r->len;
	return r->body ? r->body : "";
}

static enum MHD_Result answer(struct MHD_Connection *c, dsync_httpd_resp *p)
{
	struct MHD_Response *resp;
	enum MHD_Result rc = MHD_NO;
	size_t i;

	resp = MHD_create_response_from_buffer(p->len, p->body ? p->body : (void *)"", MHD_RESPMEM_MUST_COPY);
	if (resp) {
		if (p->type)
			MHD_add_response_header(resp, "Content-Type", p->type);
		for (i = 0; i < DSYNC_HTTPD_HEADERS_MAX; i++)
			if (p->hname[i] && p->hvalue[i])
				MHD_add_response_header(resp, p->hname[i], p->hvalue[i]);
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
		rc = MHD_queue_response(c, p->status ? (unsigned)p->status : 500, resp);
		MHD_destroy_response(resp);
	}
	free(p->body);
	for (i = 0; i < DSYNC_HTTPD_HEADERS_MAX; i++)
		free(p->hvalue[i]);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *data_size, void **con_cls)
{
	dsync_httpd *h = cls;
	dsync_httpd_req *r = *con_cls;
	dsync_httpd_resp p = { 0 };

	(void)version;
	if (!r) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*con_cls = r;
		return MHD_YES;
	}
	if (*data_size) {
		size_t n = *data_size;

		*data_size = 0;
		if (r->too_big || n > DSYNC_HTTPD_BODY_MAX - r->len) {
			r->too_big = true;
			return MHD_YES;
		}
		char *b = realloc(r->body, r->len + n + 1);

		if (!b)
			return MHD_NO;
		memcpy(b + r->len, data, n);
		r->body = b;
		r->len += n;
		b[r->len] = '\0';
		return MHD_YES;
	}
	if (r->too_big) {
		p.status = 413;
		p.type = "text/plain";
		p.body = strdup("request too large\n");
		p.len = p.body ? strlen(p.body) : 0;
		return answer(c, &p);
	}
	r->c = c;
	r->method = method;
	r->path = url;
	h->cb(r, &p, h->payload);
	return answer(c, &p);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	dsync_httpd_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (r) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

int dsync_httpd_start(dsync_httpd **out, unsigned port, dsync_httpd_cb cb, void *payload)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;
	dsync_httpd *h;
	int error;

	*out = NULL;
	if (port > 65535)
		return dsync_error_set(DSYNC_EUSAGE, "port %u: the port must be 0..65535", port);
	if ((error = dsync_lib_init()) < 0 || (error = dsync_mhd_load()) < 0)
		return error;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return dsync_error_oom();
	h->cb = cb;
	h->payload = payload;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, h,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_SECONDS,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				     MHD_OPTION_END);
	if (!h->daemon) {
		free(h);
		return dsync_error_set(DSYNC_EUSAGE, "cannot listen on 127.0.0.1:%u", port);
	}
	di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : port;
	*out = h;
	return 0;
}

unsigned dsync_httpd_port(const dsync_httpd *h)
{
	return h->port;
}

void dsync_httpd_stop(dsync_httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}
