/*
 * `dsync ui`: one dashboard per user.  The running one listens on DIR/ui.sock
 * (mode 0600, DIR a folder of the user's only, mode 0700); a later `dsync ui`
 * connects, sends one line, "token", and reads one, "ok PORT TOKEN" (or
 * "error MESSAGE"), then prints the dashboard's URL with that token instead
 * of starting a second server.  Each side checks the other's uid with
 * SO_PEERCRED.  DIR/ui.lock (flock) makes "ask, else start and listen" one
 * step, so that five file-manager actions started together start one server.
 * The protocol is in docs/ui.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsync/common.h"
#include "output.h"
#include "ui_instance.h"

#define LINE_SIZE 256        /* a request or an answer, with its newline */
#define CLIENT_WAIT_S 5      /* how long a client waits for the server's answer */
#define SERVER_WAIT_MS 2000  /* how long the server waits for a client's request */
#define LOCK_WAIT_MS 10000   /* how long to wait for another `dsync ui` that is starting */

static int sys_error(const char *what, const char *path)
{
	char q[DSYNC_QUOTE_SIZE];
	int e = errno;

	return dsync_error_set(e == EACCES || e == EPERM ? DSYNC_EACCESS : DSYNC_ERROR, "cannot %s '%s': %s", what,
			       dsync_quote(q, path), strerror(e));
}

/* DIR is a folder of this user's, not a symlink, mode 0700; made when missing. */
static int check_dir(const char *dir)
{
	char q[DSYNC_QUOTE_SIZE];
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return sys_error("make", dir);
	if (lstat(dir, &st) < 0)
		return sys_error("use", dir);
	dsync_quote(q, dir);
	if (S_ISLNK(st.st_mode))
		return dsync_error_set(DSYNC_EACCESS, "refusing '%s' for the dashboard's socket: it is a symlink", q);
	if (!S_ISDIR(st.st_mode))
		return dsync_error_set(DSYNC_EACCESS, "refusing '%s' for the dashboard's socket: not a folder", q);
	if (st.st_uid != geteuid())
		return dsync_error_set(DSYNC_EACCESS, "refusing '%s' for the dashboard's socket: it belongs to uid %u",
				       q, (unsigned)st.st_uid);
	if ((st.st_mode & 07777) != 0700)
		return dsync_error_set(DSYNC_EACCESS,
				       "refusing '%s' for the dashboard's socket: mode %04o, not 0700 (chmod 700 it)", q,
				       (unsigned)(st.st_mode & 07777));
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Takes IN's lock, waiting up to WAIT_MS for another holder. */
static int take_lock(ui_instance *in, int wait_ms)
{
	int waited = 0;

	while (flock(in->lock, LOCK_EX | LOCK_NB) < 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= wait_ms)
			return dsync_error_set(DSYNC_ELOCKED, "another 'dsync ui' is starting (it holds '%s')",
					       in->lockpath);
		sleep_ms(20);
		waited += 20;
	}
	return 0;
}

/* The first folder whose socket path fits in a sockaddr_un, into IN->dir;
 * *PARENT is set to the folder above it when dsync may make that one too
 * (~/.cache). */
static int pick_dir(ui_instance *in, char parent[512])
{
	const char *run = getenv("XDG_RUNTIME_DIR"), *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char cand[3][512];
	struct stat st;
	int i;

	cand[0][0] = cand[1][0] = parent[0] = '\0';
	/* a runtime folder that is not there (no login session made it), or not
	 * ours (another user's, kept in the environment by sudo), is skipped */
	if (run && run[0] == '/' && stat(run, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
		snprintf(cand[0], sizeof(cand[0]), "%s/dsync", run);
	if (cache && cache[0] == '/')
		snprintf(parent, 512, "%s", cache);
	else if (home && home[0] == '/')
		snprintf(parent, 512, "%s/.cache", home);
	if (parent[0])
		snprintf(cand[1], sizeof(cand[1]), "%s/dsync", parent);
	snprintf(cand[2], sizeof(cand[2]), "/tmp/dsync-%u", (unsigned)geteuid());
	for (i = 0; i < 3; i++) {
		size_t len = strlen(cand[i]);

		if (!len || len + sizeof("/ui.sock") > sizeof(in->sock))
			continue;
		memcpy(in->dir, cand[i], len + 1);
		memcpy(in->sock, cand[i], len);
		memcpy(in->sock + len, "/ui.sock", sizeof("/ui.sock"));
		memcpy(in->lockpath, cand[i], len);
		memcpy(in->lockpath + len, "/ui.lock", sizeof("/ui.lock"));
		if (i != 1)
			parent[0] = '\0';
		return 0;
	}
	return dsync_error_set(DSYNC_ERROR, "no folder for the dashboard's socket: the paths are too long");
}

int ui_instance_open(ui_instance *in)
{
	char parent[512];
	int error;

	*in = (ui_instance)UI_INSTANCE_INIT;
	if ((error = pick_dir(in, parent)) < 0)
		return error;
	if (parent[0] && mkdir(parent, 0700) < 0 && errno != EEXIST)
		return sys_error("make", parent);
	if ((error = check_dir(in->dir)) < 0)
		return error;
	if ((in->lock = open(in->lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return sys_error("open", in->lockpath);
	if ((error = take_lock(in, LOCK_WAIT_MS)) < 0)
		ui_instance_close(in);
	return error;
}

/* The uid (and pid) at the other end of the unix socket FD; -1 when unknown. */
static int peer(int fd, uid_t *uid, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return -1;
	*uid = cred.uid;
	if (pid)
		*pid = cred.pid;
	return 0;
}

static void timeouts(int fd, int seconds)
{
	struct timeval tv = { seconds, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line (without its newline) from FD into BUF, all of it within WAIT_MS;
 * -1 on EOF before it, an error, the time out or a line too long. */
static int read_line(int fd, char buf[LINE_SIZE], int wait_ms)
{
	long end = now_ms() + wait_ms;
	size_t len = 0;

	while (len < LINE_SIZE - 1) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = end - now_ms();
		ssize_t n;
		char *nl;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = read(fd, buf + len, LINE_SIZE - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			return nl + 1 == buf + len ? 0 : -1;  /* one line, nothing after it */
		}
	}
	return -1;
}

/* S to the socket or pipe FD; -1 when it cannot all go (no SIGPIPE: the
 * caller ignores it for a pipe). */
static int write_all(int fd, const char *s, bool sock)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = sock ? send(fd, s, len, MSG_NOSIGNAL) : write(fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "ok PORT TOKEN": a port 1..65535 and 64 lowercase hex digits. */
static int parse_answer(const char *line, unsigned *port, char token[UI_TOKEN_SIZE])
{
	unsigned long p;
	char *end;
	size_t i;

	if (strncmp(line, "ok ", 3) != 0 || line[3] < '1' || line[3] > '9')
		return -1;
	p = strtoul(line + 3, &end, 10);
	if (*end != ' ' || p > 65535)
		return -1;
	end++;
	for (i = 0; i < UI_TOKEN_SIZE - 1; i++)
		if (!((end[i] >= '0' && end[i] <= '9') || (end[i] >= 'a' && end[i] <= 'f')))
			return -1;
	if (end[i] != '\0')
		return -1;
	memcpy(token, end, UI_TOKEN_SIZE);
	*port = (unsigned)p;
	return 0;
}

int ui_instance_ask(ui_instance *in, bool ask, unsigned *port, char token[UI_TOKEN_SIZE], pid_t *pid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[LINE_SIZE], q[DSYNC_QUOTE_SIZE];
	uid_t uid;
	int fd, error = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", in->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return sys_error("make a socket for", in->sock);
	timeouts(fd, CLIENT_WAIT_S);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != ENOENT && errno != ECONNREFUSED && errno != ENOTSOCK) {
			error = sys_error("connect to", in->sock);
			goto out;
		}
		goto stale;  /* nobody listens: a dead server's socket, or none */
	}
	if (peer(fd, &uid, pid) < 0 || uid != geteuid()) {
		error = dsync_error_set(DSYNC_EACCESS, "refusing the dashboard on '%s': it runs as another user",
					dsync_quote(q, in->sock));
		goto out;
	}
	if (!ask) {
		error = 1;
		goto out;
	}
	if (write_all(fd, "token\n", true) < 0 || read_line(fd, line, CLIENT_WAIT_S * 1000) < 0 || parse_answer(line, port, token) < 0)
		goto stale;  /* it does not answer as it should: a new server takes its place */
	error = 1;
	goto out;
stale:
	if (unlink(in->sock) < 0 && errno != ENOENT)
		error = sys_error("remove", in->sock);
out:
	close(fd);
	return error;
}

int ui_instance_listen(ui_instance *in)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", in->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return sys_error("make a socket for", in->sock);
	/* made 0600 from the start: no moment where another user could connect */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(in->sock, 0600) < 0 || lstat(in->sock, &st) < 0 || listen(fd, 16) < 0) {
		rc = sys_error("listen on", in->sock);
		close(fd);
		return rc;
	}
	in->listen = fd;
	in->dev = st.st_dev;
	in->ino = st.st_ino;
	return 0;
}

void ui_instance_unlock(ui_instance *in, bool keep_for_child)
{
	if (in->lock < 0)
		return;
	if (!keep_for_child)
		flock(in->lock, LOCK_UN);
	close(in->lock);
	in->lock = -1;
}

int ui_instance_answer(ui_instance *in, unsigned port, int (*make)(char token[UI_TOKEN_SIZE], void *payload),
		       void *payload)
{
	char line[LINE_SIZE], answer[LINE_SIZE], token[UI_TOKEN_SIZE];
	uid_t uid;
	int fd, given = 0;

	if ((fd = accept4(in->listen, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return 0;
	/* the socket's mode already keeps other users out; this also refuses
	 * root's or anyone's who got a descriptor to it */
	if (peer(fd, &uid, NULL) < 0 || uid != geteuid())
		goto out;
	timeouts(fd, SERVER_WAIT_MS / 1000);  /* for the answer */
	if (read_line(fd, line, SERVER_WAIT_MS) < 0)
		goto out;  /* nothing asked (a client only seeing whether we run), or garbage */
	if (strcmp(line, "token") != 0) {
		write_all(fd, "error unknown request\n", true);
		goto out;
	}
	if (make(token, payload) < 0) {
		write_all(fd, "error no token could be made\n", true);
		goto out;
	}
	snprintf(answer, sizeof(answer), "ok %u %s\n", port, token);
	given = write_all(fd, answer, true) == 0;
out:
	close(fd);
	return given;
}

void ui_instance_close(ui_instance *in)
{
	struct stat st;

	if (in->listen >= 0) {
		close(in->listen);
		in->listen = -1;
		/* under the lock, so as not to remove the socket of a server that
		 * has just taken the place of this one (best effort: 2 s) */
		if (in->lock < 0 && (in->lock = open(in->lockpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) >= 0)
			(void)take_lock(in, 2000);
		if (lstat(in->sock, &st) == 0 && st.st_dev == in->dev && st.st_ino == in->ino)
			unlink(in->sock);
	}
	ui_instance_unlock(in, false);
}

int ui_instance_detach(ui_instance *in, pid_t *child, int *ready, unsigned *port, char token[UI_TOKEN_SIZE])
{
	char line[LINE_SIZE];
	size_t len = 0;
	int fds[2], status;

	if (pipe2(fds, O_CLOEXEC) < 0 || (*child = fork()) < 0) {
		out_error("cannot start the dashboard in the background: %s", strerror(errno));
		return 1;
	}
	if (*child == 0) {
		close(fds[0]);
		setsid();  /* no terminal: a Ctrl-C there, or its closing, leaves it running */
		*ready = fds[1];
		return -1;
	}
	close(fds[1]);
	ui_instance_unlock(in, true);  /* the child holds the lock until it listens */
	while (len < sizeof(line) - 1) {
		ssize_t n = read(fds[0], line + len, sizeof(line) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	line[len] = '\0';
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	if (parse_answer(line, port, token) == 0)
		return 0;
	/* the child said why on stderr before it ended */
	if (waitpid(*child, &status, 0) == *child && WIFEXITED(status) && WEXITSTATUS(status))
		return WEXITSTATUS(status);
	out_error("the dashboard did not start in the background");
	return 1;
}

void ui_instance_ready(int ready, unsigned port, const char token[UI_TOKEN_SIZE])
{
	char line[LINE_SIZE];
	int fd = open("/dev/null", O_RDWR);

	/* the parent gone, the URL is lost but the socket still hands out others */
	signal(SIGPIPE, SIG_IGN);
	snprintf(line, sizeof(line), "ok %u %s\n", port, token);
	(void)write_all(ready, line, false);
	close(ready);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
}
