/*
 * `dsync ui`: the local dashboard's server side.  Listens on 127.0.0.1 (a
 * random port unless --port), prints a URL with a one-time token (and opens
 * it with xdg-open when there is a display).  The first GET with a token
 * sets an HttpOnly, SameSite=Strict session cookie and redirects to the same
 * page without the token; that token never works again.  Every other
 * request needs the cookie, a Host of 127.0.0.1:PORT or localhost:PORT
 * (against DNS rebinding), and a POST also the session's CSRF token in its
 * form.  The pages are cmd/ui_pages.c's.
 *
 * One dashboard per user: the server also listens on a unix socket
 * (cmd/ui_instance.c), and a later `dsync ui [PATH]` asks it for a new token
 * instead of starting another server; several tokens may then wait, each
 * good once, all leading to the one session.  Runs until SIGINT or SIGTERM,
 * or --idle-exit minutes without a request.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/httpd.h"
#include "cmd.h"
#include "options.h"
#include "output.h"
#include "ui.h"
#include "ui_instance.h"

#define SECRET_HEX UI_TOKEN_SIZE   /* 32 random bytes as hex, and the NUL */
#define COOKIE "dsync_ui"
#define TOKENS 16                  /* one-time tokens waiting at most (the oldest is forgotten) */

typedef struct ui_state {
	pthread_mutex_t lock;      /* all below but port: the server's thread and the main one share them */
	unsigned port;
	char tokens[TOKENS][SECRET_HEX];   /* the one-time tokens not used yet, oldest first */
	size_t ntokens;
	char session[SECRET_HEX];   /* "" until a token is used */
	char csrf[SECRET_HEX];
	time_t last;                /* when the last request came or token went (monotonic seconds) */
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

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A new one-time token into OUT, kept among those waiting (the oldest is
 * forgotten when TOKENS wait already).  0, or -1 without random numbers.
 * The main thread calls it for the printed URL and for every `dsync ui`
 * that asks through the socket (ui_instance_answer()). */
static int new_token(char out[SECRET_HEX], void *payload)
{
	ui_state *s = payload;

	if (secret(out) < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	if (s->ntokens == TOKENS) {
		memmove(s->tokens[0], s->tokens[1], (TOKENS - 1) * sizeof(s->tokens[0]));
		s->ntokens--;
	}
	memcpy(s->tokens[s->ntokens++], out, SECRET_HEX);
	s->last = now_s();
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* TOKEN is one of those waiting: it is used up (true).  Every waiting one is
 * compared, in the same time wherever they differ.  Under S's lock. */
static bool use_token(ui_state *s, const char *token)
{
	size_t i, found = TOKENS;

	for (i = 0; i < s->ntokens; i++)
		if (same_secret(token, s->tokens[i]))
			found = i;
	if (found == TOKENS)
		return false;
	memmove(s->tokens[found], s->tokens[found + 1], (s->ntokens - found - 1) * sizeof(s->tokens[0]));
	s->ntokens--;
	memset(s->tokens[s->ntokens], 0, sizeof(s->tokens[0]));
	return true;
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
	char cookie[SECRET_HEX + 1], session[SECRET_HEX], csrf[SECRET_HEX];
	bool ok;

	if (!host_ok(dsync_httpd_header(req, "Host"), s->port)) {
		ui_plain(resp, 403, "forbidden: wrong Host\n");
		return;
	}
	pthread_mutex_lock(&s->lock);
	ok = !token || (strcmp(method, "GET") == 0 && use_token(s, token));
	/* the session begins with the first token used; later tokens join it */
	if (ok && token && !s->session[0] && (secret(s->session) < 0 || secret(s->csrf) < 0))
		s->session[0] = '\0';
	if (ok && token)
		s->last = now_s();
	memcpy(session, s->session, sizeof(session));
	memcpy(csrf, s->csrf, sizeof(csrf));
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		ui_plain(resp, 403, "forbidden: this link was used already or is wrong; run 'dsync ui' again\n");
		return;
	}
	if (token) {
		char *set, *loc;

		if (!session[0]) {
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
		snprintf(set, 200, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", session);
		ui_plain(resp, 303, "see the dashboard\n");
		resp->hname[0] = "Set-Cookie";
		resp->hvalue[0] = set;
		resp->hname[1] = "Location";
		resp->hvalue[1] = loc;
		return;
	}
	cookie_value(dsync_httpd_header(req, "Cookie"), COOKIE, cookie, sizeof(cookie));
	if (!session[0] || !same_secret(cookie, session)) {
		ui_plain(resp, 403, "forbidden: open the link 'dsync ui' printed\n");
		return;
	}
	/* --idle-exit counts the session's requests only: nobody else keeps the
	 * server running by knocking at its port */
	pthread_mutex_lock(&s->lock);
	s->last = now_s();
	pthread_mutex_unlock(&s->lock);
	if (strcmp(method, "POST") == 0) {
		size_t len;
		char *form = ui_form_field(dsync_httpd_body(req, &len), "csrf");

		ok = form && same_secret(form, csrf) && origin_ok(dsync_httpd_header(req, "Origin"), s->port);
		free(form);
		if (!ok) {
			ui_plain(resp, 403, "forbidden: missing or wrong CSRF token\n");
			return;
		}
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		ui_plain(resp, 405, "method not allowed\n");
		return;
	}
	ui_page(req, resp, csrf);
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

/* ---------------------------------------------------------------- dsync ui PATH */

/* Whether ROOT is among the registered folders (the only ones the pages open). */
static int registered(const char *root)
{
	char **list = NULL;
	size_t n, i;
	int error, found = 0;

	if ((error = dsync_folder_list_registered(&list, &n)) < 0)
		return error;
	for (i = 0; i < n && !found; i++)
		found = strcmp(list[i], root) == 0;
	dsync_folder_list_free(list);
	return found;
}

/*
 * The page for PATH into *OUT (malloc'd): a file's versions,
 * /file?p=ROOT&f=REL (also for a path that is not there any more: a deleted
 * file), or a folder's timeline, /folder?p=ROOT (for a subfolder too: the
 * timeline is the whole folder's, which it says).  DSYNC_ENOTFOLDER when PATH
 * is in no dsync folder, or in one not registered.
 */
static int path_page(char **out, const char *path)
{
	char *probe = strdup(path), *rel = NULL, q[DSYNC_QUOTE_SIZE];
	dsync_folder *f = NULL;
	ui_buf b = { 0 };
	struct stat st;
	bool exists = true, dir;
	int error;

	*out = NULL;
	if (!probe)
		return dsync_error_set(DSYNC_ERROR, "out of memory");
	/* the folder is looked for from the deepest part of PATH that is there */
	while (stat(probe, &st) < 0) {
		char *slash = strrchr(probe, '/');

		if (errno != ENOENT && errno != ENOTDIR) {
			error = dsync_error_set(DSYNC_ERROR, "cannot use '%s': %s", dsync_quote(q, path), strerror(errno));
			goto out;
		}
		exists = false;
		if (!slash)
			memcpy(probe, ".", 2);
		else if (slash == probe)
			probe[1] = '\0';
		else
			*slash = '\0';
	}
	dir = exists && S_ISDIR(st.st_mode);
	if ((error = dsync_folder_open(&f, probe)) < 0) {
		if (error == DSYNC_ENOTFOLDER)
			error = dsync_error_set(DSYNC_ENOTFOLDER, "'%s' is not in a dsync folder; make one with 'dsync init'",
						dsync_quote(q, path));
		goto out;
	}
	if ((error = registered(dsync_folder_root(f))) <= 0) {
		if (error == 0)
			error = dsync_error_set(DSYNC_ENOTFOLDER, "the dsync folder '%s' is not registered for this user "
						"(~/.config/dsync/folders), so the dashboard cannot show it",
						dsync_folder_root(f));
		goto out;
	}
	if ((error = dsync_folder_relpath(&rel, f, path)) < 0)
		goto out;
	ui_puts(&b, dir || !*rel ? "/folder?p=" : "/file?p=");
	ui_urlarg(&b, dsync_folder_root(f));
	if (!dir && *rel) {
		ui_puts(&b, "&f=");
		ui_urlarg(&b, rel);
	} else if (*rel) {
		printf("%s is a subfolder: the dashboard opens the timeline of its dsync folder, ", out_name(rel));
		printf("%s\n", out_name(dsync_folder_root(f)));
	}
	if (b.oom) {
		error = dsync_error_set(DSYNC_ERROR, "out of memory");
		goto out;
	}
	*out = b.p;
	b.p = NULL;
	error = 0;
out:
	free(b.p);
	free(rel);
	free(probe);
	dsync_folder_free(f);
	return error;
}

/* The URL of PAGE ("/" or path_page()'s) with TOKEN; malloc'd, NULL when out
 * of memory. */
static char *page_url(unsigned port, const char *page, const char *token)
{
	ui_buf b = { 0 };

	ui_printf(&b, "http://127.0.0.1:%u%s%ctoken=%s", port, page, strchr(page, '?') ? '&' : '?', token);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Prints "dashboard: URL" and opens it. */
static int show_url(unsigned port, const char *page, const char *token, bool open)
{
	char *url = page_url(port, page, token);

	if (!url) {
		out_error("out of memory");
		return 1;
	}
	printf("dashboard: %s\n", url);
	fflush(stdout);
	if (open && (getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")))
		open_browser(url);
	free(url);
	return 0;
}

/* ---------------------------------------------------------------- serving */

/* Seconds in a minute of --idle-exit: 60, but DSYNC_TEST_UI_MINUTE in a test
 * build (so that tests/e2e/t82 waits seconds, not minutes). */
static time_t minute_s(void)
{
#ifdef DSYNC_TESTING
	const char *v = getenv("DSYNC_TEST_UI_MINUTE");

	if (v && atoi(v) > 0)
		return atoi(v);
#endif
	return 60;
}

/* Serves until SIGINT or SIGTERM, or IDLE_S seconds without a request or a
 * token asked for (0: no limit); answers IN's socket meanwhile.  0, or 1
 * when the signals cannot be waited for. */
static int serve(ui_state *s, ui_instance *in, const sigset_t *sigs, time_t idle_s)
{
	int sfd = signalfd(-1, sigs, SFD_CLOEXEC);

	if (sfd < 0) {
		out_error("cannot wait for signals: %s", strerror(errno));
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { sfd, POLLIN, 0 }, { in->listen, POLLIN, 0 } };
		int timeout = 60 * 1000;
		time_t quiet;

		if (idle_s) {
			pthread_mutex_lock(&s->lock);
			quiet = now_s() - s->last;
			pthread_mutex_unlock(&s->lock);
			if (quiet >= idle_s)
				break;
			if (idle_s - quiet < 60)
				timeout = (int)(idle_s - quiet) * 1000;
		}
		if (poll(p, in->listen >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			struct signalfd_siginfo si;

			/* SIGINT or SIGTERM (nothing else is in the set), taken so
			 * that unblocking it later does not kill */
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				break;
		}
		if (in->listen >= 0 && p[1].revents)
			ui_instance_answer(in, s->port, new_token, s);
	}
	close(sfd);
	return 0;
}

int cmd_ui(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-open", no_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "new", no_argument, NULL, 'N' },
		{ "idle-exit", required_argument, NULL, 'i' },
		{ "detach", no_argument, NULL, 'd' },
		CMD_HELP_OPTION,
		{ 0 }
	};
	ui_state s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	ui_instance in;
	dsync_httpd *h = NULL;
	bool no_open = false, fresh = false, shared, background = false;
	unsigned long port = 0, idle = 0;
	unsigned other_port;
	pid_t other, child = 0;
	sigset_t sigs, old;
	char *page = NULL, *end, token[SECRET_HEX];
	int c, rc, error, ready = -1;

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
			fresh = true;  /* a port asked for: a server of its own */
			break;
		case 'N':
			fresh = true;
			break;
		case 'i':
			errno = 0;
			idle = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || errno || idle < 1 || idle > 100000)
				return cmd_usage_error("ui", "'%s' is not a number of minutes (1..100000)", optarg);
			break;
		case 'd':
			background = true;
			break;
		}
	}
	if (rc >= 0 || (rc = cmd_args("ui", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if (optind < argc) {
		if ((error = path_page(&page, argv[optind])) < 0)
			return out_fail(error);
	} else if ((page = strdup("/")) == NULL) {
		out_error("out of memory");
		return 1;
	}
	/* one dashboard per user: ask the running one, else be it */
	if ((error = ui_instance_open(&in)) < 0) {
		out_warn("%s; this dashboard is not shared with a later 'dsync ui'", dsync_error_last());
		in = (ui_instance)UI_INSTANCE_INIT;
	}
	shared = in.lock >= 0;
	if (shared && (error = ui_instance_ask(&in, !fresh, &other_port, token, &other)) != 0) {
		if (error > 0 && !fresh) {
			ui_instance_close(&in);
			rc = show_url(other_port, page, token, !no_open);
			if (rc == 0)
				printf("reusing the dashboard running as pid %ld\n", (long)other);
			free(page);
			return rc;
		}
		if (error < 0)
			out_warn("%s; this dashboard is not shared with a later 'dsync ui'", dsync_error_last());
		shared = false;  /* --new, --port: another one runs, which stays the shared one */
	}
	if (!shared)
		ui_instance_unlock(&in, false);
	if (background) {
		/* the server goes on in a child; this process prints its URL */
		fflush(stdout);
		fflush(stderr);
		if ((rc = ui_instance_detach(&in, &child, &ready, &other_port, token)) == 0) {
			if ((rc = show_url(other_port, page, token, !no_open)) == 0)
				printf("running in the background as pid %ld (stops after --idle-exit minutes without a "
				       "request, or with 'kill %ld')\n", (long)child, (long)child);
		}
		if (rc >= 0) {
			free(page);
			return rc;
		}
	}
	/* SIGINT and SIGTERM go to serve() below: blocked before the server's
	 * thread starts, so it inherits the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	if (new_token(token, &s) < 0) {
		out_error("no random numbers: %s", strerror(errno));
		rc = 1;
		goto out;
	}
	if ((error = dsync_httpd_start(&h, (unsigned)port, on_request, &s)) < 0) {
		rc = out_fail(error);
		goto out;
	}
	s.port = dsync_httpd_port(h);
	if (shared && (error = ui_instance_listen(&in)) < 0)
		out_warn("%s; this dashboard is not shared with a later 'dsync ui'", dsync_error_last());
	ui_instance_unlock(&in, false);
	if (ready >= 0)
		ui_instance_ready(ready, s.port, token);
	else if ((rc = show_url(s.port, page, token, !no_open)) != 0)
		goto out;
	rc = serve(&s, &in, &sigs, (time_t)idle * minute_s());
out:
	dsync_httpd_stop(h);
	ui_instance_close(&in);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(page);
	return rc;
}
