/*
 * The user's OpenSSH client as the carrier of SFTP (transport/ssh_exec.h,
 * docs/sftp.md section 2).  ssh gets one end of a socketpair as its stdin
 * and stdout and an unlinked temp file as its stderr (a ControlPersist
 * master that ssh forks keeps stderr open for minutes, so a pipe would
 * never see EOF); how it failed is read from that file when the stream ends.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/base/path.h"
#include "transport/ssh_exec.h"

extern char **environ;

/* How much of ssh's stderr is read back (the end of it, where ssh writes
 * why it stopped). */
#define ERR_KEEP (64 * 1024)
/* How long ended() waits for ssh, and close() before it signals. */
#define END_WAIT_MS 5000
#define TERM_WAIT_MS 2000
/* ssh -v run for an unknown host's fingerprint */
#define PROBE_WAIT_MS 15000
/* ssh -G, which only reads the config (a Match exec may run a command) */
#define CONFIG_WAIT_MS 3000

typedef struct exec_stream {
	dsync_sftp_stream base;
	int fd;       /* our end of the socketpair, non-blocking */
	int err_fd;   /* ssh's stderr */
	pid_t pid;    /* 0 once reaped */
	int status;   /* its wait status once reaped */
	bool batch;
	int ended;    /* the classified code once ended() ran, else 0 */
	char *cmd;    /* the replacement command, or NULL */
	dsync_sftp_url url;
} exec_stream;

/* ---- connection sharing (docs/sftp.md section 2.2) */

/* How long a shared connection stays after its last use, in seconds: two
 * of the watcher's default rounds (sync.interval and mirror intervals are
 * 60 s), so a watched folder logs in once, not once a minute. */
#define SHARE_PERSIST "120"
/* ssh names the socket DIR/%C-%n (40 hex digits, the host as given) and
 * binds it first with 17 more characters (.XXXXXXXXXXXXXXXX); all of it
 * must fit a sun_path.  This is without the host. */
#define SHARE_NAME_LEN (1 + 40 + 1 + 17)

/* DIR is ours alone: made 0700 if missing, then a folder (not a link) of
 * our uid that no one else may enter.  A socket there that someone else
 * could replace would get our SFTP stream. */
static bool share_dir_ok(const char *dir)
{
	struct sockaddr_un sa;
	struct stat st;
	char *parent, *slash;
	bool ok;

	if (dir[0] != '/' || strlen(dir) + SHARE_NAME_LEN >= sizeof(sa.sun_path))
		return false;
	if (mkdir(dir, 0700) < 0 && errno == ENOENT) {
		if (!(parent = strdup(dir)))
			return false;
		slash = strrchr(parent, '/');
		*slash = '\0';
		ok = slash == parent || dsync_path_mkdirs(parent) == 0;
		free(parent);
		dsync_error_clear();
		if (!ok)
			return false;
		(void)mkdir(dir, 0700);
	}
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0;
}

int dsync_ssh_exec_share_dir(char *buf, size_t n)
{
	const char *off = getenv("DSYNC_SSH_SHARE"), *run = getenv("XDG_RUNTIME_DIR"),
		   *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	if (off && (!strcmp(off, "0") || !strcasecmp(off, "no") || !strcasecmp(off, "false") ||
		    !strcasecmp(off, "off")))
		return 0;
	/* the runtime folder first (per user, in memory, gone at logout),
	 * then the cache folder */
	if (run && run[0] == '/' && (size_t)snprintf(buf, n, "%s/dsync", run) < n && share_dir_ok(buf))
		return 1;
	if (cache && cache[0] == '/') {
		if ((size_t)snprintf(buf, n, "%s/dsync/ssh", cache) < n && share_dir_ok(buf))
			return 1;
	} else if (home && home[0] == '/' && (size_t)snprintf(buf, n, "%s/.cache/dsync/ssh", home) < n &&
		   share_dir_ok(buf)) {
		return 1;
	}
	buf[0] = '\0';
	return 0;
}

/* ---- the command line */

const char *dsync_ssh_exec_command(const dsync_transport_opts *o)
{
	const char *env = getenv("DSYNC_SSH_COMMAND");

	if (env && *env)
		return env;
	if (o && o->ssh_command && *o->ssh_command)
		return o->ssh_command;
	return NULL;
}

void dsync_ssh_exec_argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int dsync_ssh_exec_argv(char ***out, const dsync_sftp_url *u, const char *cmd, bool batch, const char *extra,
			const char *share)
{
	static const char *const opts[] = {
		"-oForwardX11=no",	   "-oForwardAgent=no",		"-oPermitLocalCommand=no",
		"-oClearAllForwardings=yes", "-oServerAliveInterval=15", "-oServerAliveCountMax=4",
		"-oConnectTimeout=30",
	};
	char port[16], *path = NULL;
	size_t len;
	const char *words[40];
	char **argv;
	size_t n = 0, i;

	*out = NULL;
	if (!cmd)
		cmd = "ssh";
	/* git's prepare_shell_cmd(): a plain word runs as is, anything else
	 * through the shell with our arguments as "$@" */
	if (cmd[strcspn(cmd, "|&;<>()$`\\\"' \t\n*?[#~=%")] == '\0') {
		words[n++] = cmd;
	} else {
		words[n++] = "/bin/sh";
		words[n++] = "-c";
		words[n++] = NULL; /* CMD "$@", made below */
		words[n++] = cmd;
	}
	for (i = 0; i < DSYNC_ARRAY_SIZE(opts); i++)
		words[n++] = opts[i];
	if (batch)
		words[n++] = "-oBatchMode=yes";
	if (extra)
		words[n++] = extra;
	if (share) {
		len = strlen(share) + 32;
		if (!(path = malloc(len)))
			return dsync_error_oom();
		snprintf(path, len, "-oControlPath=%s/%%C-%%n", share);
		words[n++] = "-oControlMaster=auto";
		words[n++] = path;
		words[n++] = "-oControlPersist=" SHARE_PERSIST;
	}
	if (u->port) {
		snprintf(port, sizeof(port), "%d", u->port);
		words[n++] = "-p";
		words[n++] = port;
	}
	if (u->user[0]) {
		words[n++] = "-l";
		words[n++] = u->user;
	}
	words[n++] = "-s";
	words[n++] = "--";
	words[n++] = u->host;
	words[n++] = "sftp";
	if (!(argv = calloc(n + 1, sizeof(*argv)))) {
		free(path);
		return dsync_error_oom();
	}
	for (i = 0; i < n; i++) {
		if (words[i]) {
			argv[i] = strdup(words[i]);
		} else if ((argv[i] = malloc(strlen(cmd) + 8)) != NULL) {
			memcpy(argv[i], cmd, strlen(cmd));
			memcpy(argv[i] + strlen(cmd), " \"$@\"", 6);
		}
		if (!argv[i]) {
			free(path);
			dsync_ssh_exec_argv_free(argv);
			return dsync_error_oom();
		}
	}
	free(path);
	*out = argv;
	return 0;
}

bool dsync_ssh_exec_available(const dsync_transport_opts *o)
{
	const char *path = getenv("PATH"), *p, *end;
	char file[4096];

	if (dsync_ssh_exec_command(o))
		return true;
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p; p = *end ? end + 1 : end) {
		size_t len;

		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len == 0 || len + 5 >= sizeof(file))
			continue;
		memcpy(file, p, len);
		memcpy(file + len, "/ssh", 5);
		if (access(file, X_OK) == 0)
			return true;
	}
	return false;
}

/* ---- the child */

/* Reaps PID within MS milliseconds: true with *STATUS set, false if it
 * still runs. */
static bool reap(pid_t pid, int *status, int ms)
{
	int64_t until = dsync_now_ms() + ms;
	int step = 5;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD)) {
			if (r < 0)
				*status = -1;
			return true;
		}
		if (dsync_now_ms() >= until)
			return false;
		dsync_sleep_ms(step);
		if (step < 50)
			step *= 2;
	}
}

/* Ends PID: waits MS for it, then SIGTERM, 2 s, SIGKILL.  Our own child
 * only. */
static int finish_child(pid_t pid, int ms)
{
	int status = -1;

	if (reap(pid, &status, ms))
		return status;
	kill(pid, SIGTERM);
	if (reap(pid, &status, TERM_WAIT_MS))
		return status;
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* An unlinked temp file for ssh's stderr. */
static int temp_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return fd;
	if (snprintf(path, sizeof(path), "%s/dsync-ssh-XXXXXX", dir) >= (int)sizeof(path))
		return dsync_error_set(DSYNC_ERROR, "TMPDIR is too long");
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
		return dsync_error_sys(errno, "cannot make a temp file in '%s' for ssh's messages", dir);
	unlink(path);
	return fd;
}

/*
 * Starts ARGV with IN_FD as its stdin and stdout (-1: /dev/null) and ERR_FD
 * as its stderr; *PID.  SIGPIPE and the signal mask reset to defaults.
 */
static int spawn(pid_t *pid, char **argv, int in_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	char q[DSYNC_QUOTE_SIZE];
	int rc;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGCHLD);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return dsync_error_oom();
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return dsync_error_oom();
	}
	if (in_fd >= 0) {
		rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
		if (rc == 0)
			rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 1);
	} else {
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
		if (rc == 0)
			rc = posix_spawn_file_actions_adddup2(&fa, 0, 1);
	}
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &def);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		if (rc == ENOENT && strcmp(argv[0], "ssh") != 0)
			return dsync_error_set(DSYNC_ERROR, "cannot run the ssh command '%s': not found",
					       dsync_quote(q, argv[0]));
		if (rc == ENOENT)
			return dsync_error_set(DSYNC_ERROR,
					       "cannot run '%s': not found; install the OpenSSH client or set "
					       "remote.NAME.ssh = builtin",
					       dsync_quote(q, argv[0]));
		return dsync_error_sys(rc, "cannot run '%s'", dsync_quote(q, argv[0]));
	}
	return 0;
}

/* The last ERR_KEEP bytes of FD as a NUL-ended string (NUL bytes become
 * spaces); NULL when out of memory. */
static char *read_tail(int fd)
{
	struct stat st;
	off_t from = 0;
	char *text;
	ssize_t n;
	size_t got = 0, i;

	if (fstat(fd, &st) == 0 && st.st_size > ERR_KEEP)
		from = st.st_size - ERR_KEEP;
	if (!(text = malloc(ERR_KEEP + 1)))
		return NULL;
	while (got < ERR_KEEP && (n = pread(fd, text + got, ERR_KEEP - got, from + (off_t)got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	for (i = 0; i < got; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	text[got] = '\0';
	return text;
}

/* ---- reading ssh's stderr */

/* The line of TEXT that holds WHAT (its start), or NULL. */
static const char *line_with(const char *text, const char *what)
{
	const char *hit = strstr(text, what);

	if (!hit)
		return NULL;
	while (hit > text && hit[-1] != '\n')
		hit--;
	return hit;
}

/* Copies the line at LINE into OUT (SIZE bytes), from FROM on when FROM is
 * in it, without \r, with control bytes as '?', cut at SIZE. */
static void copy_line(char *out, size_t size, const char *line, const char *from)
{
	size_t n = 0;

	if (from && from >= line && !memchr(line, '\n', (size_t)(from - line)))
		line = from;
	for (; *line && *line != '\n' && n + 1 < size; line++) {
		unsigned char c = (unsigned char)*line;

		if (c == '\r')
			continue;
		out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* The last line of TEXT that holds anything but blanks, or "". */
static void last_line(char *out, size_t size, const char *text)
{
	const char *p = text + strlen(text), *start;

	out[0] = '\0';
	while (p > text) {
		const char *end = p;

		start = end;
		while (start > text && start[-1] != '\n')
			start--;
		copy_line(out, size, start, NULL);
		if (strspn(out, " \t") != strlen(out))
			return;
		out[0] = '\0';
		p = start > text ? start - 1 : text;
	}
}

static bool is_b64(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
	       c == '=';
}

/* Type and fingerprint from `debug1: Server host key: ssh-ed25519
 * SHA256:...` (ssh -v); false when TEXT holds none. */
static bool server_key(char type[16], char fp[80], const char *text)
{
	const char *l = line_with(text, "Server host key: "), *p;
	size_t n;

	if (!l)
		return false;
	p = strstr(l, "Server host key: ") + 17;
	if (strncmp(p, "ssh-ed25519 ", 12) == 0)
		snprintf(type, 16, "ED25519");
	else if (strncmp(p, "ecdsa-", 6) == 0)
		snprintf(type, 16, "ECDSA");
	else if (strncmp(p, "ssh-rsa ", 8) == 0 || strncmp(p, "rsa-", 4) == 0)
		snprintf(type, 16, "RSA");
	else if (strncmp(p, "sk-ssh-ed25519", 14) == 0)
		snprintf(type, 16, "ED25519-SK");
	else if (strncmp(p, "sk-ecdsa", 8) == 0)
		snprintf(type, 16, "ECDSA-SK");
	else
		snprintf(type, 16, "host");
	p += strcspn(p, " \n");
	if (strncmp(p, " SHA256:", 8) != 0)
		return false;
	p++;
	for (n = 7; n < 60 && is_b64(p[n]); n++)
		;
	if (n <= 7 || n >= 60)
		return false;
	memcpy(fp, p, n);
	fp[n] = '\0';
	return true;
}

/* "host", "[v6]" or either with ":port": the place as known_hosts names it */
static void host_port(char *out, size_t size, const dsync_sftp_url *u)
{
	bool v6 = strchr(u->host, ':') != NULL;

	if (u->port)
		snprintf(out, size, "%s%s%s:%d", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
	else
		snprintf(out, size, "%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "");
}

static bool any(const char *text, const char *const *words)
{
	for (; *words; words++)
		if (strstr(text, *words))
			return true;
	return false;
}

static const char *const auth_words[] = {
	"Permission denied (", "Too many authentication failures", "No supported authentication methods available",
	"Authentication failed", NULL,
};
static const char *const unreachable_words[] = {
	"ssh: connect to host", "Could not resolve hostname", "kex_exchange_identification", "Connection refused",
	"Connection timed out", "No route to host", "Network is unreachable", "Connection closed by ",
	"Connection reset by ", "Unable to negotiate with", "Bad packet length", "banner exchange", NULL,
};

/* A line that says an established connection went away: "Connection to H
 * closed by remote host.", "Timeout, server H not responding.",
 * "client_loop: send disconnect: Broken pipe"; NULL when none does. */
static const char *dropped_line(const char *text)
{
	static const char *const words[] = { "Timeout, server ", "client_loop: ", "Broken pipe", NULL };
	const char *l, *p;
	size_t i;

	for (i = 0; words[i]; i++)
		if ((l = line_with(text, words[i])))
			return l;
	for (p = text; (l = line_with(p, "Connection to ")) != NULL; p = l + 1) {
		const char *end = strchr(l, '\n'), *c = strstr(l, " closed");

		if (l == strstr(l, "Connection to ") && c && (!end || c < end))
			return l;
		if (!end)
			break;
		l = end;
	}
	return NULL;
}

int dsync_ssh_exec_classify(int *kind, const char *text, int status, const dsync_sftp_url *u, const char *cmd)
{
	char said[256], where[300], type[16], fp[80], port[24] = "", user[140] = "";
	const char *l;

	if (!cmd)
		cmd = "ssh";
	host_port(where, sizeof(where), u);
	last_line(said, sizeof(said), text);
	if (strstr(text, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
	    strstr(text, "has changed and you have requested strict checking")) {
		*kind = DSYNC_SSH_EXEC_HOSTKEY_CHANGED;
		return dsync_error_set(DSYNC_EAUTH,
				       "the host key of %s has CHANGED since it was recorded in known_hosts: this can be "
				       "an attack; dsync refuses to connect (ssh's warning is above)",
				       where);
	}
	if (strstr(text, "REVOKED HOST KEY DETECTED") || strstr(text, "was revoked and you have requested strict checking")) {
		*kind = DSYNC_SSH_EXEC_HOSTKEY_REVOKED;
		return dsync_error_set(DSYNC_EAUTH,
				       "the host key of %s is marked @revoked in known_hosts: dsync refuses to connect "
				       "(ssh's warning is above)",
				       where);
	}
	if (strstr(text, "Host key verification failed") || strstr(text, "host key is known for")) {
		*kind = DSYNC_SSH_EXEC_HOSTKEY_UNKNOWN;
		if (u->port)
			snprintf(port, sizeof(port), " -p %d", u->port);
		if (u->user[0])
			snprintf(user, sizeof(user), "%s@", u->user);
		if (server_key(type, fp, text))
			return dsync_error_set(DSYNC_EAUTH,
					       "the host key of %s is not known yet (%s key %s): if the host's owner "
					       "confirms this fingerprint, accept it with '%s -o "
					       "StrictHostKeyChecking=accept-new%s %s%s true' and run this command again",
					       where, type, fp, cmd, port, user, u->host);
		return dsync_error_set(DSYNC_EAUTH,
				       "the host key of %s is not known yet: check its fingerprint with the host's "
				       "owner, accept it with '%s -o StrictHostKeyChecking=accept-new%s %s%s true' and "
				       "run this command again",
				       where, cmd, port, user, u->host);
	}
	if (any(text, auth_words)) {
		const char *const *w;

		*kind = DSYNC_SSH_EXEC_AUTH;
		if ((l = line_with(text, "Permission denied ("))) {
			copy_line(said, sizeof(said), l, strstr(l, "Permission denied ("));
			if (said[0] && said[strlen(said) - 1] == '.')
				said[strlen(said) - 1] = '\0';
			return dsync_error_set(DSYNC_EAUTH,
					       "cannot log in to %s: the host refused every key ssh offered (ssh said: %s)",
					       u->label, said);
		}
		for (l = NULL, w = auth_words; *w && !l; w++)
			if ((l = line_with(text, *w)))
				copy_line(said, sizeof(said), l, strstr(l, *w));
		return dsync_error_set(DSYNC_EAUTH, "cannot log in to %s (ssh said: %s)", u->label, said);
	}
	if ((l = line_with(text, "subsystem request failed"))) {
		*kind = DSYNC_SSH_EXEC_NO_SFTP;
		copy_line(said, sizeof(said), l, NULL);
		return dsync_error_set(DSYNC_ERROR,
				       "%s offers no SFTP (ssh said: %s): the host needs an sftp subsystem, such as "
				       "OpenSSH's sftp-server or internal-sftp",
				       u->label, said);
	}
	if ((l = dropped_line(text))) {
		*kind = DSYNC_SSH_EXEC_DROPPED;
		copy_line(said, sizeof(said), l, NULL);
		return dsync_error_set(DSYNC_ERROR, "the connection to %s was lost (ssh said: %s)", u->label, said);
	}
	if (any(text, unreachable_words)) {
		const char *const *w;

		*kind = DSYNC_SSH_EXEC_UNREACHABLE;
		/* the first such line says it best ("kex_exchange_identification: ...") */
		for (l = NULL, w = unreachable_words; *w && !l; w++)
			l = line_with(text, *w);
		if (l)
			copy_line(said, sizeof(said), l, NULL);
		return dsync_error_set(DSYNC_ERROR, "cannot reach %s: %s", u->label, said);
	}
	if (status != -1 && WIFEXITED(status) && (WEXITSTATUS(status) == 127 || WEXITSTATUS(status) == 126)) {
		char q[DSYNC_QUOTE_SIZE];

		*kind = DSYNC_SSH_EXEC_NO_COMMAND;
		return dsync_error_set(DSYNC_ERROR, "cannot run the ssh command '%s' (%s)", dsync_quote(q, cmd),
				       said[0] ? said : "not found");
	}
	*kind = DSYNC_SSH_EXEC_ENDED;
	if (status != -1 && WIFSIGNALED(status))
		return dsync_error_set(DSYNC_ERROR, "the connection to %s was lost: ssh was stopped by signal %d", u->label,
				       WTERMSIG(status));
	if (said[0])
		return dsync_error_set(DSYNC_ERROR, "the connection to %s ended (ssh said: %s)", u->label, said);
	return dsync_error_set(DSYNC_ERROR, "the connection to %s ended unexpectedly", u->label);
}

/* ---- the stream */

static ssize_t s_send(dsync_sftp_stream *base, const void *buf, size_t len)
{
	exec_stream *s = (exec_stream *)base;
	ssize_t n;

	for (;;) {
		n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return dsync_error_sys(errno, "the connection to %s", s->base.label);
	}
}

static ssize_t s_recv(dsync_sftp_stream *base, void *buf, size_t len, bool *eof)
{
	exec_stream *s = (exec_stream *)base;
	ssize_t n;

	*eof = false;
	for (;;) {
		n = recv(s->fd, buf, len, MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n == 0) {
			*eof = len > 0;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == ECONNRESET) {
			*eof = true;
			return 0;
		}
		return dsync_error_sys(errno, "the connection to %s", s->base.label);
	}
}

static int s_wait(dsync_sftp_stream *base, unsigned want, int timeout_ms)
{
	exec_stream *s = (exec_stream *)base;
	struct pollfd p = { .fd = s->fd };

	if (want & DSYNC_SFTP_WANT_SEND)
		p.events |= POLLOUT;
	if (want & DSYNC_SFTP_WANT_RECV)
		p.events |= POLLIN;
	/* ssh sends the keep-alives (ServerAliveInterval) */
	if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
		return dsync_error_sys(errno, "waiting for %s", s->base.label);
	return 0;
}

/* Whether the user's own ssh config sets a ControlPath for U (`ssh -G`
 * prints the options ssh would use, without connecting): then theirs is used
 * and ours stays out.  Anything but a clean answer counts as yes. */
static bool user_control_path(const dsync_sftp_url *u, const char *cmd)
{
	char **argv = NULL, *text = NULL;
	const char *line;
	bool yes = true;
	int fd, status = -1;
	pid_t pid;

	if ((fd = temp_file()) < 0) {
		dsync_error_clear();
		return true;
	}
	if (dsync_ssh_exec_argv(&argv, u, cmd, true, "-G", NULL) == 0 && spawn(&pid, argv, fd, fd) == 0) {
		status = finish_child(pid, CONFIG_WAIT_MS);
		text = read_tail(fd);
	}
	if (text && status == 0 && line_with(text, "\nhostname ")) {
		line = line_with(text, "\ncontrolpath ");
		yes = line != NULL;
	}
	dsync_error_clear();
	dsync_ssh_exec_argv_free(argv);
	free(text);
	close(fd);
	return yes;
}

/* The folder for this connection's shared socket in BUF, or NULL when it is
 * not shared (section 2.2). */
static const char *shares(char *buf, size_t n, const dsync_sftp_url *u, const char *cmd)
{
	struct sockaddr_un sa;

	if (!dsync_ssh_exec_share_dir(buf, n) || strchr(u->host, '/') ||
	    strlen(buf) + SHARE_NAME_LEN + strlen(u->host) >= sizeof(sa.sun_path) || user_control_path(u, cmd))
		return NULL;
	return buf;
}

/* ssh -v once more, under BatchMode, for the `Server host key:` line of an
 * unknown host; the text it wrote, or NULL. */
static char *probe_host_key(exec_stream *s)
{
	char **argv = NULL, *text = NULL;
	int fd;
	pid_t pid;

	if ((fd = temp_file()) < 0)
		return NULL;
	if (dsync_ssh_exec_argv(&argv, &s->url, s->cmd, true, "-v", NULL) == 0 && spawn(&pid, argv, -1, fd) == 0) {
		finish_child(pid, PROBE_WAIT_MS);
		text = read_tail(fd);
	}
	dsync_ssh_exec_argv_free(argv);
	close(fd);
	return text;
}

static int s_ended(dsync_sftp_stream *base)
{
	exec_stream *s = (exec_stream *)base;
	char *text = NULL, *probe = NULL;
	int kind, error;

	if (s->pid > 0 && reap(s->pid, &s->status, END_WAIT_MS))
		s->pid = 0;
	if (!(text = read_tail(s->err_fd)))
		return dsync_error_oom();
	error = dsync_ssh_exec_classify(&kind, text, s->pid ? -1 : s->status, &s->url, s->cmd);
	if (kind == DSYNC_SSH_EXEC_HOSTKEY_UNKNOWN && !s->ended && !strstr(text, "Server host key: ")) {
		/* BatchMode prints no fingerprint: ask ssh -v for it */
		if ((probe = probe_host_key(s)) != NULL && strstr(probe, "Server host key: "))
			error = dsync_ssh_exec_classify(&kind, probe, s->status, &s->url, s->cmd);
		else
			error = dsync_ssh_exec_classify(&kind, text, s->pid ? -1 : s->status, &s->url, s->cmd);
	}
	if ((kind == DSYNC_SSH_EXEC_HOSTKEY_CHANGED || kind == DSYNC_SSH_EXEC_HOSTKEY_REVOKED) && !s->ended) {
		/* ssh's warning block, which it would have shown on the terminal */
		const char *p = text;
		size_t len = strlen(p);

		while (len > 0) {
			ssize_t n = write(STDERR_FILENO, p, len);

			if (n <= 0 && errno != EINTR)
				break;
			if (n > 0) {
				p += n;
				len -= (size_t)n;
			}
		}
		if (text[0] && text[strlen(text) - 1] != '\n')
			(void)!write(STDERR_FILENO, "\n", 1);
	}
	s->ended = error;
	free(probe);
	free(text);
	return error;
}

static void s_close(dsync_sftp_stream *base)
{
	exec_stream *s = (exec_stream *)base;

	if (!s)
		return;
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_WR);
	if (s->pid > 0)
		finish_child(s->pid, END_WAIT_MS);
	if (s->fd >= 0)
		close(s->fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	free(s->cmd);
	free(s);
}

static bool has_terminal(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int dsync_ssh_exec_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o)
{
	exec_stream *s;
	const char *cmd = dsync_ssh_exec_command(o);
	char **argv = NULL, share[4096];
	int sv[2] = { -1, -1 }, error, flags;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return dsync_error_oom();
	s->fd = s->err_fd = -1;
	s->status = -1;
	s->url = *u;
	memcpy(s->base.label, u->label, sizeof(s->base.label) - 1);
	s->base.label[sizeof(s->base.label) - 1] = '\0';
	s->base.send = s_send;
	s->base.recv = s_recv;
	s->base.wait = s_wait;
	s->base.ended = s_ended;
	s->base.close = s_close;
	s->batch = !(o && o->interactive) || !has_terminal();
	if (cmd && !(s->cmd = strdup(cmd))) {
		error = dsync_error_oom();
		goto out;
	}
	if ((error = dsync_ssh_exec_argv(&argv, u, s->cmd, s->batch, NULL, shares(share, sizeof(share), u, s->cmd))) < 0)
		goto out;
	if ((s->err_fd = temp_file()) < 0) {
		error = s->err_fd;
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		error = dsync_error_sys(errno, "cannot make a socket pair for ssh");
		goto out;
	}
	if ((error = spawn(&s->pid, argv, sv[1], s->err_fd)) < 0)
		goto out;
	s->fd = sv[0];
	sv[0] = -1;
	if ((flags = fcntl(s->fd, F_GETFL)) < 0 || fcntl(s->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		error = dsync_error_sys(errno, "cannot set up the connection to %s", u->label);
		goto out;
	}
	*out = &s->base;
	s = NULL;
	error = 0;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	dsync_ssh_exec_argv_free(argv);
	if (s)
		s_close(&s->base);
	return error;
}
