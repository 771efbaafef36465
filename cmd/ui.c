/*
 * `dsync ui`: the local dashboard's server side.  Listens on 127.0.0.1 (a
 * random port unless --port), prints a URL with a one-time token (and opens
 * it with xdg-open when there is a display).  The first GET with the token
 * sets an HttpOnly, SameSite=Strict session cookie and redirects to the same
 * page without the token; the token never works again.  Every other request
 * needs the cookie, a Host of 127.0.0.1:PORT or localhost:PORT (against DNS
 * rebinding), and a POST also the session's CSRF token in its form.  The
 * pages are cmd/ui_pages.c's.  Runs until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/httpd.h"
#include "cmd.h"
#include "options.h"
#include "output.h"
#include "ui.h"

#define SECRET_HEX 65   /* 32 random bytes as hex, and the NUL */
#define COOKIE "dsync_ui"

typedef struct ui_state {
	unsigned port;
	char token[SECRET_HEX];
	bool token_used;
	char session[SECRET_HEX];   /* "" until the token is used */
	char csrf[SECRET_HEX];
} ui_state;

/* ---------------------------------------------------------------- secrets */

static int secret(char out[SECRET_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	size_t got = 0, i;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * sizeof(raw)] = '\0';
	return 0;
}

/* A and B equal, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
	unsigned char d = 0;
	size_t i;

	if (!a || !b || !*b || strlen(a) != SECRET_HEX - 1 || strlen(b) != SECRET_HEX - 1)
		return false;
	for (i = 0; i < SECRET_HEX - 1; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* The value of cookie NAME in a Cookie header, copied into OUT ("" if none). */
static void cookie_value(const char *header, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	const char *p = header;

	out[0] = '\0';
	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			len -= nl + 1;
			if (len < size) {
				memcpy(out, p + nl + 1, len);
				out[len] = '\0';
			}
			return;
		}
		p = end;
	}
}

/* HOST is 127.0.0.1:PORT or localhost:PORT. */
static bool host_ok(const char *host, unsigned port)
{
	char a[64], b[64];

	if (!host)
		return false;
	snprintf(a, sizeof(a), "127.0.0.1:%u", port);
	snprintf(b, sizeof(b), "localhost:%u", port);
	return strcmp(host, a) == 0 || strcmp(host, b) == 0;
}

/* An Origin header, when sent, is this server. */
static bool origin_ok(const char *origin, unsigned port)
{
	char a[64], b[64];

	if (!origin)
		return true;
	snprintf(a, sizeof(a), "http://127.0.0.1:%u", port);
	snprintf(b, sizeof(b), "http://localhost:%u", port);
	return strcmp(origin, a) == 0 || strcmp(origin, b) == 0;
}

/* ---------------------------------------------------------------- requests */

/* Where the token's redirect goes: the page asked for, with its folder and
 * file (so that a link can open the dashboard at a file), without the token. */
static char *landing(const dsync_httpd_req *req)
{
	const char *path = dsync_httpd_path(req), *p = dsync_httpd_arg(req, "p"), *f = dsync_httpd_arg(req, "f");
	ui_buf b = { 0 };

	if (strcmp(path, "/folder") != 0 && strcmp(path, "/file") != 0)
		return strdup("/");
	ui_puts(&b, path);
	if (p) {
		ui_puts(&b, "?p=");
		ui_urlarg(&b, p);
		if (f) {
			ui_puts(&b, "&f=");
			ui_urlarg(&b, f);
		}
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static void on_request(const dsync_httpd_req *req, dsync_httpd_resp *resp, void *payload)
{
	ui_state *s = payload;
	const char *method = dsync_httpd_method(req), *token = dsync_httpd_arg(req, "token");
	char cookie[SECRET_HEX + 1];

	if (!host_ok(dsync_httpd_header(req, "Host"), s->port)) {
		ui_plain(resp, 403, "forbidden: wrong Host\n");
		return;
	}
	if (token) {
		char *set, *loc;

		if (strcmp(method, "GET") != 0 || s->token_used || !same_secret(token, s->token)) {
			ui_plain(resp, 403, "forbidden: this link was used already or is wrong; run 'dsync ui' again\n");
			return;
		}
		s->token_used = true;
		if (secret(s->session) < 0 || secret(s->csrf) < 0) {
			ui_plain(resp, 500, "no random numbers\n");
			return;
		}
		set = malloc(200);
		loc = landing(req);
		if (!set || !loc) {
			free(set);
			free(loc);
			ui_plain(resp, 500, "out of memory\n");
			return;
		}
		snprintf(set, 200, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", s->session);
		ui_plain(resp, 303, "see the dashboard\n");
		resp->hname[0] = "Set-Cookie";
		resp->hvalue[0] = set;
		resp->hname[1] = "Location";
		resp->hvalue[1] = loc;
		return;
	}
	cookie_value(dsync_httpd_header(req, "Cookie"), COOKIE, cookie, sizeof(cookie));
	if (!s->session[0] || !same_secret(cookie, s->session)) {
		ui_plain(resp, 403, "forbidden: open the link 'dsync ui' printed\n");
		return;
	}
	if (strcmp(method, "POST") == 0) {
		size_t len;
		char *csrf = ui_form_field(dsync_httpd_body(req, &len), "csrf");
		bool ok = csrf && same_secret(csrf, s->csrf) && origin_ok(dsync_httpd_header(req, "Origin"), s->port);

		free(csrf);
		if (!ok) {
			ui_plain(resp, 403, "forbidden: missing or wrong CSRF token\n");
			return;
		}
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		ui_plain(resp, 405, "method not allowed\n");
		return;
	}
	ui_page(req, resp, s->csrf);
}

/* xdg-open URL, detached (a grandchild: nothing to reap later). */
static void open_browser(const char *url)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (fork() == 0) {
			int fd = open("/dev/null", O_RDWR);

			if (fd >= 0) {
				dup2(fd, 0);
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execlp("xdg-open", "xdg-open", url, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

int cmd_ui(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-open", no_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		CMD_HELP_OPTION,
		{ 0 }
	};
	ui_state s = { 0 };
	dsync_httpd *h = NULL;
	bool no_open = false;
	unsigned long port = 0;
	sigset_t sigs, old;
	char url[128], *end;
	int c, rc, error, sig = 0;

	while ((c = cmd_getopt(&rc, "ui", argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 'n':
			no_open = true;
			break;
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (!*optarg || *end || errno || port > 65535)
				return cmd_usage_error("ui", "'%s' is not a port (0..65535)", optarg);
			break;
		}
	}
	if (rc >= 0 || (rc = cmd_args("ui", argc, argv, 0, 0, NULL)) >= 0)
		return rc;
	if (secret(s.token) < 0) {
		out_error("no random numbers: %s", strerror(errno));
		return 1;
	}
	/* SIGINT and SIGTERM go to sigwait below: blocked before the server's
	 * thread starts, so it inherits the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	if ((error = dsync_httpd_start(&h, (unsigned)port, on_request, &s)) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return out_fail(error);
	}
	s.port = dsync_httpd_port(h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/?token=%s", s.port, s.token);
	printf("dashboard: %s\n", url);
	fflush(stdout);
	if (!no_open && (getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")))
		open_browser(url);
	while (sig != SIGTERM && sig != SIGINT)
		if (sigwait(&sigs, &sig) != 0)
			break;
	dsync_httpd_stop(h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}
