/*
 * `dsync relay`'s HTTP side (docs/relay-protocol.md sections 3 and 9, "the
 * relay process"): libmicrohttpd with epoll and a thread pool, the raw
 * unescape callback (a path reaches the handler as sent), suspend/resume for
 * polls and delayed 403s woken by a timer thread, TLS from PEM files, and a
 * clean stop on SIGTERM/SIGINT.  Each request goes to relay_server.c, which
 * decides everything; this file only moves bytes.
 */
#include "core/base/internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "transport/netlibs.h"

#include "dsync/relay.h"
#include "transport/relay_request.h"

#define CONNECTIONS_MAX 4000
#define CONNECTIONS_PER_IP 600
#define IDLE_SECONDS 60
#define TICK_MS 50
#define HUNGUP_TICKS 4   /* every 200 ms: peers gone while their connection waits to read */
#define STOP_UPLOADS_SECONDS 10
#define PEM_MAX (1 << 20)

/* What MHD keeps per request. */
typedef struct conn_state {
	relay_req *req;
	relay_next next;
	bool parked;
} conn_state;

/* What we keep per TCP connection: MHD's idle timeout is reset by every
 * byte, so a client sending one header byte every 10 s would hold its
 * connection for ever; the timer shuts down a connection whose request's
 * headers have taken longer than IDLE_SECONDS (section 3, slowloris). */
typedef struct sock_state {
	int fd;
	int64_t since;   /* ms: waiting for a request's headers since; 0 while a request is handled */
	bool body;       /* a request's body is awaited */
	struct sock_state *prev, *next;
} sock_state;

typedef struct relay_http {
	relay_srv *srv;
	struct MHD_Daemon *daemon;
	pthread_t timer;
	volatile int stop_timer;
	pthread_mutex_t mu;   /* socks */
	sock_state *socks;
} relay_http;


/* ---------------------------------------------------------------- MHD callbacks */

/* Names are never decoded (section 3): "%2e%2e" stays six characters. */
static size_t raw_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void conn_suspend(void *conn)
{
	MHD_suspend_connection(conn);
}

static void conn_resume(void *conn)
{
	MHD_resume_connection(conn);
}

static enum MHD_Result header_it(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	relay_req_header(cls, key, value);
	return MHD_YES;
}

static enum MHD_Result arg_it(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	relay_req_arg(cls, key, value);
	return MHD_YES;
}

/* The caller's address as text ("" when unknown). */
static void peer_of(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	out[0] = '\0';
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
			  (socklen_t)size);
}

/* Queues the request's answer: a blob from its fd, anything else from memory. */
static enum MHD_Result queue(struct MHD_Connection *c, conn_state *st)
{
	relay_resp *p = relay_req_resp(st->req);
	struct MHD_Response *resp;
	enum MHD_Result rc;
	size_t i;

	if (p->fd >= 0) {
		resp = MHD_create_response_from_fd_at_offset64(p->len, p->fd, p->off);
		if (resp)
			p->fd = -1;   /* MHD closes it */
	} else {
		resp = MHD_create_response_from_buffer(p->body.len, p->body.ptr ? p->body.ptr : (void *)"",
						       MHD_RESPMEM_MUST_COPY);
	}
	if (!resp)
		return MHD_NO;
	for (i = 0; i < p->nh; i++)
		MHD_add_response_header(resp, p->h[i].name, p->h[i].value);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	rc = MHD_queue_response(c, p->status ? p->status : 500, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Whether the request announced a body. */
static bool has_body(struct MHD_Connection *c)
{
	const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	       (len && strcmp(len, "0") != 0);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	relay_http *h = cls;
	sock_state *ss = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((ss = calloc(1, sizeof(*ss))) == NULL)
			return;
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		ss->fd = ci ? ci->connect_fd : -1;
		ss->since = dsync_now_ms();
		pthread_mutex_lock(&h->mu);
		ss->next = h->socks;
		if (h->socks)
			h->socks->prev = ss;
		h->socks = ss;
		pthread_mutex_unlock(&h->mu);
		*socket_context = ss;
		return;
	}
	if (!ss)
		return;
	pthread_mutex_lock(&h->mu);
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		h->socks = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	pthread_mutex_unlock(&h->mu);
	free(ss);
	*socket_context = NULL;
}

/* A request of C began (SINCE 0) or ended (SINCE now: the next one's headers
 * are awaited); BODY: its body is awaited. */
static void conn_waits(relay_http *h, struct MHD_Connection *c, int64_t since, bool body)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	sock_state *ss = ci ? ci->socket_context : NULL;

	if (!ss)
		return;
	pthread_mutex_lock(&h->mu);
	ss->since = since;
	ss->body = body;
	pthread_mutex_unlock(&h->mu);
}

/*
 * Shuts down connections that await a body or headers from a peer that has
 * closed its side.  MHD 0.9.75 (epoll, edge-triggered) takes a read shorter
 * than its buffer as "drained": when the peer's FIN arrives while MHD is
 * still behind on the body (the client cut an upload after filling the
 * socket's buffers), the short read that takes the last bytes clears MHD's
 * read-ready flag, the FIN's edge has already fired, and the EOF is never
 * read: the connection, and a resumable upload it holds, stayed until the
 * 60 s idle timeout.  The shutdown is a new edge: MHD reads the rest and
 * the EOF and ends the request as a cut (measured: a 20 MiB upload cut at
 * 5 MiB by the client is let go within a tick instead of 60 s).  Only
 * connections that wait to read are touched: one being answered keeps its
 * answer whatever the peer half-closed.
 */
static void hungup_peers(relay_http *h)
{
	struct pollfd *p;
	sock_state *ss;
	size_t n = 0, i;

	pthread_mutex_lock(&h->mu);
	for (ss = h->socks; ss; ss = ss->next)
		n += ss->fd >= 0 && (ss->body || ss->since);
	if (n == 0 || (p = calloc(n, sizeof(*p))) == NULL) {
		pthread_mutex_unlock(&h->mu);
		return;
	}
	for (i = 0, ss = h->socks; ss && i < n; ss = ss->next)
		if (ss->fd >= 0 && (ss->body || ss->since)) {
			p[i].fd = ss->fd;
			p[i++].events = POLLRDHUP;
		}
	/* under the lock: a socket in the list is not closed yet (MHD tells of the close first) */
	if (poll(p, (nfds_t)n, 0) > 0)
		for (i = 0; i < n; i++)
			if (p[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
				shutdown(p[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&h->mu);
	free(p);
}

/* Shuts down connections whose headers are late (MHD then closes them). */
static void headers_deadline(relay_http *h)
{
	int64_t now = dsync_now_ms();
	sock_state *ss;

	pthread_mutex_lock(&h->mu);
	for (ss = h->socks; ss; ss = ss->next)
		if (ss->since && now - ss->since > IDLE_SECONDS * 1000 && ss->fd >= 0) {
			shutdown(ss->fd, SHUT_RDWR);
			ss->since = 0;
			relay_srv_log(h->srv, "closed a connection whose headers took over %d s", IDLE_SECONDS);
		}
	pthread_mutex_unlock(&h->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	relay_http *h = cls;
	conn_state *st = *con_cls;
	char peer[INET6_ADDRSTRLEN];

	(void)version;
	if (!st) {
		if ((st = calloc(1, sizeof(*st))) == NULL)
			return MHD_NO;
		peer_of(c, peer, sizeof(peer));
		if ((st->req = relay_req_new(h->srv, method, url, peer, c)) == NULL) {
			free(st);
			return MHD_NO;
		}
		*con_cls = st;
		MHD_get_connection_values(c, MHD_HEADER_KIND, header_it, st->req);
		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_it, st->req);
		st->next = relay_req_start(st->req);
		conn_waits(h, c, 0, st->next == RELAY_BODY);
		/* A request with a body refused here is answered at once (its body
		 * is never sent after Expect: 100-continue; MHD then closes the
		 * connection).  One without a body is answered on the next call:
		 * MHD 0.9.75 closes a connection whose answer was queued in the
		 * first call, and the client keeps its connection for a round. */
		if (st->next == RELAY_ANSWER && has_body(c))
			return queue(c, st);
		return MHD_YES;   /* parked: suspended already; MHD calls again once resumed */
	}
	if (st->next == RELAY_PARK) {
		/* resumed in the state of a first call: as there */
		st->next = relay_req_resume(st->req);
		if (st->next == RELAY_ANSWER && has_body(c))
			return queue(c, st);
		return MHD_YES;
	}
	if (*upload_data_size) {
		int rc = relay_req_body(st->req, upload_data, *upload_data_size);

		*upload_data_size = 0;
		if (rc < 0)
			return MHD_NO;   /* a body too slow: the connection goes */
		if (rc == RELAY_ANSWER)
			st->next = RELAY_ANSWER;   /* queued at the end; the rest is dropped */
		return MHD_YES;
	}
	if (st->next == RELAY_BODY)
		st->next = relay_req_end(st->req);
	conn_waits(h, c, 0, false);
	return queue(c, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	conn_state *st = *con_cls;

	(void)why;
	conn_waits(cls, c, dsync_now_ms(), false);
	if (!st)
		return;
	relay_req_free(st->req);
	free(st);
	*con_cls = NULL;
}

static void *timer_main(void *arg)
{
	relay_http *h = arg;
	struct timespec ts = { 0, TICK_MS * 1000000L };
	unsigned n = 0;

	while (!h->stop_timer) {
		nanosleep(&ts, NULL);
		relay_srv_tick(h->srv);
		if (++n % HUNGUP_TICKS == 0)
			hungup_peers(h);
		if (n % (1000 / TICK_MS) == 0)
			headers_deadline(h);
	}
	return NULL;
}

/* ---------------------------------------------------------------- setup */

/* "ADDR:PORT" or "[ADDR6]:PORT" into SS. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h0 = s;
	size_t n;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		return dsync_error_set(DSYNC_EUSAGE, "--listen needs ADDR:PORT");
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return dsync_error_set(DSYNC_EUSAGE, "--listen '%s': an IPv6 address is [ADDR]:PORT", s);
		h0 = s + 1;
		n = (size_t)(close - h0);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return dsync_error_set(DSYNC_EUSAGE, "--listen '%s': give ADDR:PORT", s);
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= sizeof(host))
		return dsync_error_set(DSYNC_EUSAGE, "--listen '%s': no address", s);
	memcpy(host, h0, n);
	host[n] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || errno || port > 65535)
		return dsync_error_set(DSYNC_EUSAGE, "--listen '%s': the port must be 0..65535", s);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*v6 = true;
		return 0;
	}
	return dsync_error_set(DSYNC_EUSAGE, "--listen '%s': '%s' is not an IP address", s, host);
}

/* The PEM file PATH, whole, NUL-terminated, into *OUT. */
static int read_pem(const char *path, char **out)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "cannot read '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > PEM_MAX) {
		close(fd);
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a PEM file of at most 1 MiB", path);
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return dsync_error_oom();
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*out = buf;
	return 0;
}

/* "ADDR:PORT" as bound, for config->ready. */
static void bound_address(struct MHD_Daemon *d, const struct sockaddr_storage *ss, bool v6, char *out,
			  size_t size)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[INET6_ADDRSTRLEN];
	unsigned port = di ? di->port : 0;

	if (v6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
	if (!port)
		port = ntohs(v6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
				: ((const struct sockaddr_in *)ss)->sin_port);
	snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", host, port);
}

static unsigned cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

int dsync_relay_run(const dsync_relay_config *c)
{
	struct sockaddr_storage ss;
	relay_http h = { 0 };
	char *cert = NULL, *key = NULL, where[INET6_ADDRSTRLEN + 16];
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
	sigset_t sigs, old;
	bool v6 = false;
	int error, sig = 0, i;

	if ((error = dsync_lib_init()) < 0 || (error = dsync_mhd_load()) < 0)
		return error;
	if ((error = parse_listen(c->listen, &ss, &v6)) < 0)
		return error;
	if (!c->tls_cert != !c->tls_key)
		return dsync_error_set(DSYNC_EUSAGE, "--tls-cert and --tls-key go together");
	if (c->tls_cert && ((error = read_pem(c->tls_cert, &cert)) < 0 || (error = read_pem(c->tls_key, &key)) < 0))
		goto out;
	if ((error = relay_srv_open(&h.srv, c, conn_suspend, conn_resume)) < 0)
		goto out;
	pthread_mutex_init(&h.mu, NULL);
	/* SIGTERM and SIGINT are taken by sigwait below: blocked before any
	 * thread starts, so every thread inherits the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	if (v6)
		flags |= MHD_USE_IPv6;
	if (cert)
		flags |= MHD_USE_TLS;
	h.daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &h,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				    MHD_OPTION_THREAD_POOL_SIZE, c->threads ? c->threads : cores(),
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
				    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONNECTIONS_PER_IP,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_SECONDS,
				    MHD_OPTION_UNESCAPE_CALLBACK, raw_unescape, NULL,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, &h,
				    MHD_OPTION_NOTIFY_CONNECTION, on_connection, &h,
				    cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
				    MHD_OPTION_HTTPS_MEM_KEY, key,
				    MHD_OPTION_END);
	if (!h.daemon) {
		error = dsync_error_set(DSYNC_EUSAGE, "cannot listen on '%s'%s", c->listen,
					cert ? " (or the TLS certificate and key are not a pair)" : "");
		goto restore;
	}
	if (pthread_create(&h.timer, NULL, timer_main, &h) != 0) {
		error = dsync_error_sys(errno, "starting the relay's timer");
		MHD_stop_daemon(h.daemon);
		goto restore;
	}
	bound_address(h.daemon, &ss, v6, where, sizeof(where));
	relay_srv_log(h.srv, "relay listening on %s%s", where, cert ? " (TLS)" : "");
	if (c->ready)
		c->ready(where, c->payload);
	while (sig != SIGTERM && sig != SIGINT)
		if (sigwait(&sigs, &sig) != 0)
			break;
	/* stop: no new connection, every poll answered, uploads given 10 s */
	relay_srv_log(h.srv, "stopping");
	MHD_socket lfd = MHD_quiesce_daemon(h.daemon);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	relay_srv_shutdown(h.srv);
	for (i = 0; i < STOP_UPLOADS_SECONDS * 10 && relay_srv_uploads(h.srv) > 0; i++) {
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
	}
	/* the answers just queued go out before the daemon stops */
	{
		struct timespec ts = { 0, 200 * 1000000L };

		nanosleep(&ts, NULL);
	}
	h.stop_timer = 1;
	pthread_join(h.timer, NULL);
	relay_srv_shutdown(h.srv);   /* anything parked meanwhile: nothing stays suspended */
	MHD_stop_daemon(h.daemon);
	error = 0;
restore:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	if (h.srv)
		pthread_mutex_destroy(&h.mu);
	relay_srv_close(h.srv);
	free(cert);
	free(key);
	return error;
}
