/*
 * The OpenSSH client as a carrier (docs/sftp.md section 2): the argument
 * vector, git's rule for a replacement command, the classifier over what
 * ssh 9.2 really wrote against the test sshd (captured with sshlib.sh), and
 * the stream itself with OpenSSH's real sftp-server standing in for ssh
 * (DSYNC_SSH_COMMAND points at a script that runs it), with scripts that
 * fail as ssh does, and one that ignores EOF and must be stopped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dsync/common.h"
#include "transport/ssh_exec.h"

#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

static dsync_sftp_url url_of(const char *in)
{
	dsync_sftp_url u;

	assert_int_equal(dsync_sftp_url_parse(in, &u), 0);
	return u;
}

static void argv_is(char **argv, const char *const *want)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], want[i]);
	}
	assert_null(argv[i]);
}

static void test_argv(void **state)
{
	dsync_sftp_url u = url_of("sftp://ann@nas.local:2222/srv/x");
	char **argv;

	(void)state;
	assert_int_equal(dsync_ssh_exec_argv(&argv, &u, NULL, true, NULL, NULL), 0);
	argv_is(argv, (const char *const[]){ "ssh", "-oForwardX11=no", "-oForwardAgent=no", "-oPermitLocalCommand=no",
					     "-oClearAllForwardings=yes", "-oServerAliveInterval=15",
					     "-oServerAliveCountMax=4", "-oConnectTimeout=30", "-oBatchMode=yes", "-p",
					     "2222", "-l", "ann", "-s", "--", "nas.local", "sftp", NULL });
	dsync_ssh_exec_argv_free(argv);

	/* no user or port: ~/.ssh/config decides; no BatchMode on a terminal */
	u = url_of("pi:docs");
	assert_int_equal(dsync_ssh_exec_argv(&argv, &u, "/opt/bin/myssh", false, "-v", NULL), 0);
	argv_is(argv, (const char *const[]){ "/opt/bin/myssh", "-oForwardX11=no", "-oForwardAgent=no",
					     "-oPermitLocalCommand=no", "-oClearAllForwardings=yes",
					     "-oServerAliveInterval=15", "-oServerAliveCountMax=4", "-oConnectTimeout=30",
					     "-v", "-s", "--", "pi", "sftp", NULL });
	dsync_ssh_exec_argv_free(argv);

	/* a command with words or shell syntax runs through sh, as git does */
	u = url_of("sftp://[::1]/x");
	assert_int_equal(dsync_ssh_exec_argv(&argv, &u, "ssh -F ~/cfg", true, NULL, NULL), 0);
	argv_is(argv, (const char *const[]){ "/bin/sh", "-c", "ssh -F ~/cfg \"$@\"", "ssh -F ~/cfg", "-oForwardX11=no",
					     "-oForwardAgent=no", "-oPermitLocalCommand=no", "-oClearAllForwardings=yes",
					     "-oServerAliveInterval=15", "-oServerAliveCountMax=4", "-oConnectTimeout=30",
					     "-oBatchMode=yes", "-s", "--", "::1", "sftp", NULL });
	dsync_ssh_exec_argv_free(argv);

	/* a shared connection: the socket named by ssh's own hash of the
	 * host, port and user it resolved (%C) and the host as given (%n) */
	u = url_of("sftp://ann@nas.local/x");
	assert_int_equal(dsync_ssh_exec_argv(&argv, &u, NULL, true, NULL, "/run/user/1000/dsync"), 0);
	argv_is(argv, (const char *const[]){ "ssh", "-oForwardX11=no", "-oForwardAgent=no", "-oPermitLocalCommand=no",
					     "-oClearAllForwardings=yes", "-oServerAliveInterval=15",
					     "-oServerAliveCountMax=4", "-oConnectTimeout=30", "-oBatchMode=yes",
					     "-oControlMaster=auto", "-oControlPath=/run/user/1000/dsync/%C-%n",
					     "-oControlPersist=120", "-l", "ann", "-s", "--", "nas.local", "sftp", NULL });
	dsync_ssh_exec_argv_free(argv);
}

static void set_or_unset(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

/* The share folder is WANT (TMPL/SUFFIX), and a private one */
static void shares_in(const char *tmpl, const char *suffix)
{
	char want[4096], buf[4096];
	struct stat st;

	snprintf(want, sizeof(want), "%s/%s", tmpl, suffix);
	assert_int_equal(dsync_ssh_exec_share_dir(buf, sizeof(buf)), 1);
	assert_string_equal(buf, want);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

/* Where shared connections' sockets go, and when they are not shared */
static void test_share_dir(void **state)
{
	char tmpl[] = "/tmp/dsync-share.XXXXXX", dir[4096], want[4096], buf[4096];
	char *old_run = getenv("XDG_RUNTIME_DIR"), *old_cache = getenv("XDG_CACHE_HOME"),
	     *old_home = getenv("HOME"), *old_share = getenv("DSYNC_SSH_SHARE");

	(void)state;
	old_run = old_run ? strdup(old_run) : NULL;
	old_cache = old_cache ? strdup(old_cache) : NULL;
	old_home = old_home ? strdup(old_home) : NULL;
	old_share = old_share ? strdup(old_share) : NULL;
	assert_non_null(mkdtemp(tmpl));
	unsetenv("DSYNC_SSH_SHARE");
	unsetenv("XDG_CACHE_HOME");

	/* the runtime folder, made 0700 */
	setenv("XDG_RUNTIME_DIR", tmpl, 1);
	shares_in(tmpl, "dsync");

	/* one others may enter is not used: the cache folder under HOME is,
	 * its parents made */
	snprintf(want, sizeof(want), "%s/dsync", tmpl);
	assert_int_equal(chmod(want, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/h", tmpl);
	setenv("HOME", dir, 1);
	shares_in(tmpl, "h/.cache/dsync/ssh");

	/* nor a link to a folder of ours */
	snprintf(want, sizeof(want), "%s/dsync", tmpl);
	assert_int_equal(chmod(want, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/r", tmpl);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(want, sizeof(want), "%s/r/dsync", tmpl);
	snprintf(dir, sizeof(dir), "%s/dsync", tmpl);
	assert_int_equal(symlink(dir, want), 0);
	snprintf(dir, sizeof(dir), "%s/r", tmpl);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	unsetenv("HOME");
	assert_int_equal(dsync_ssh_exec_share_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	/* too long for a socket's name: not shared */
	snprintf(dir, sizeof(dir), "%s/%s", tmpl, "a-folder-name-long-enough-that-no-socket-name-fits-under-it");
	assert_int_equal(mkdir(dir, 0700), 0);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	assert_int_equal(dsync_ssh_exec_share_dir(buf, sizeof(buf)), 0);

	/* turned off */
	setenv("XDG_RUNTIME_DIR", tmpl, 1);
	setenv("DSYNC_SSH_SHARE", "no", 1);
	assert_int_equal(dsync_ssh_exec_share_dir(buf, sizeof(buf)), 0);
	setenv("DSYNC_SSH_SHARE", "1", 1);
	assert_int_equal(dsync_ssh_exec_share_dir(buf, sizeof(buf)), 1);

	snprintf(buf, sizeof(buf), "rm -rf '%s'", tmpl);
	assert_int_equal(system(buf), 0);
	set_or_unset("XDG_RUNTIME_DIR", old_run);
	set_or_unset("XDG_CACHE_HOME", old_cache);
	set_or_unset("HOME", old_home);
	set_or_unset("DSYNC_SSH_SHARE", old_share);
	free(old_run);
	free(old_cache);
	free(old_home);
	free(old_share);
}

static void test_command(void **state)
{
	dsync_transport_opts o = { .ssh_command = "from-config" };

	(void)state;
	unsetenv("DSYNC_SSH_COMMAND");
	assert_null(dsync_ssh_exec_command(NULL));
	assert_string_equal(dsync_ssh_exec_command(&o), "from-config");
	assert_true(dsync_ssh_exec_available(&o));
	setenv("DSYNC_SSH_COMMAND", "from-env", 1);
	assert_string_equal(dsync_ssh_exec_command(&o), "from-env");
	setenv("DSYNC_SSH_COMMAND", "", 1);
	assert_string_equal(dsync_ssh_exec_command(&o), "from-config");
	unsetenv("DSYNC_SSH_COMMAND");
	o.ssh_command = "";
	assert_null(dsync_ssh_exec_command(&o));
	/* ssh on PATH, or not */
	{
		char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

		setenv("PATH", "/nonexistent", 1);
		assert_false(dsync_ssh_exec_available(&o));
		if (access("/usr/bin/ssh", X_OK) == 0) {
			setenv("PATH", "/nonexistent:/usr/bin", 1);
			assert_true(dsync_ssh_exec_available(&o));
		}
		if (path)
			setenv("PATH", path, 1);
		free(path);
	}
}

/* What ssh 9.2 wrote to stderr against sshlib's sshd (BatchMode, as dsync
 * runs it; lines end in \r\n as ssh writes them). */
static const char WRONG_KEY[] = "root@127.0.0.1: Permission denied (publickey).\r\n";
static const char UNKNOWN[] = "No ED25519 host key is known for [127.0.0.1]:38317 and you have requested strict "
			      "checking.\r\nHost key verification failed.\r\n";
static const char UNKNOWN_V[] =
	"OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026\r\n"
	"debug1: Reading configuration data /tmp/dsync-cap.0uop2y/home/.ssh/config\r\n"
	"debug1: Connecting to 127.0.0.1 [127.0.0.1] port 38317.\r\n"
	"debug1: Connection established.\r\n"
	"debug1: Local version string SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"
	"debug1: kex: algorithm: sntrup761x25519-sha512@openssh.com\r\n"
	"debug1: SSH2_MSG_KEX_ECDH_REPLY received\r\n"
	"debug1: Server host key: ssh-ed25519 SHA256:A3TV0K/7Zv8kejBSsX0EN9wW+CyTYI6fWgnzutpKHhY\r\n"
	"debug1: load_hostkeys: fopen /tmp/dsync-cap.0uop2y/empty_kh: No such file or directory\r\n"
	"No ED25519 host key is known for [127.0.0.1]:38317 and you have requested strict checking.\r\n"
	"Host key verification failed.\r\n";
static const char CHANGED[] =
	"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
	"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
	"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
	"IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n"
	"Someone could be eavesdropping on you right now (man-in-the-middle attack)!\r\n"
	"It is also possible that a host key has just been changed.\r\n"
	"The fingerprint for the ED25519 key sent by the remote host is\r\n"
	"SHA256:A3TV0K/7Zv8kejBSsX0EN9wW+CyTYI6fWgnzutpKHhY.\r\n"
	"Please contact your system administrator.\r\n"
	"Add correct host key in /tmp/dsync-cap.0uop2y/changed_kh to get rid of this message.\r\n"
	"Offending ED25519 key in /tmp/dsync-cap.0uop2y/changed_kh:1\r\n"
	"  remove with:\r\n"
	"  ssh-keygen -f \"/tmp/dsync-cap.0uop2y/changed_kh\" -R \"[127.0.0.1]:38317\"\r\n"
	"Host key for [127.0.0.1]:38317 has changed and you have requested strict checking.\r\n"
	"Host key verification failed.\r\n";
static const char REVOKED[] = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
			      "@       WARNING: REVOKED HOST KEY DETECTED!               @\r\n"
			      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
			      "The ED25519 host key for [127.0.0.1]:39413 is marked as revoked.\r\n"
			      "This could mean that a stolen key is being used to\r\n"
			      "impersonate this host.\r\n"
			      "ED25519 host key for [127.0.0.1]:39413 was revoked and you have requested strict "
			      "checking.\r\n"
			      "Host key verification failed.\r\n";
static const char REFUSED[] = "ssh: connect to host 127.0.0.1 port 37579: Connection refused\r\n";
static const char NORESOLVE[] = "ssh: Could not resolve hostname no-such-host.invalid: Name or service not known\r\n";
static const char NOSUBSYS[] = "subsystem request failed on channel 0\r\n";
static const char CLOSER[] = "kex_exchange_identification: Connection closed by remote host\r\n"
			     "Connection closed by 127.0.0.1 port 57939\r\n";
static const char DROPPED[] = "Connection to 127.0.0.1 closed by remote host.\r\n";
/* from ssh(1)'s sources and manual (not reproduced here) */
static const char TOO_MANY[] = "Received disconnect from 127.0.0.1 port 2222:2: Too many authentication failures\r\n"
			       "Disconnected from 127.0.0.1 port 2222\r\n";
static const char TIMEOUT[] = "Timeout, server 127.0.0.1 not responding.\r\n";
static const char CONN_TIMEOUT[] = "ssh: connect to host 192.0.2.7 port 22: Connection timed out\r\n";

static void classified(const char *text, int status, const char *url, const char *cmd, int want_kind, int want_code,
		       const char *message)
{
	dsync_sftp_url u = url_of(url);
	int kind = -1;

	assert_int_equal(dsync_ssh_exec_classify(&kind, text, status, &u, cmd), want_code);
	assert_int_equal(kind, want_kind);
	if (strcmp(dsync_error_last(), message) != 0)
		fail_msg("got  '%s'\nwant '%s'", dsync_error_last(), message);
	assert_int_equal(dsync_error_last_code(), want_code);
}

#define EXIT255 (255 << 8)

static void test_classify(void **state)
{
	(void)state;
	classified(WRONG_KEY, EXIT255, "sftp://root@127.0.0.1:38317/x", NULL, DSYNC_SSH_EXEC_AUTH, DSYNC_EAUTH,
		   "cannot log in to root@127.0.0.1:38317: the host refused every key ssh offered (ssh said: "
		   "Permission denied (publickey))");
	classified(TOO_MANY, EXIT255, "nas:x", NULL, DSYNC_SSH_EXEC_AUTH, DSYNC_EAUTH,
		   "cannot log in to nas (ssh said: Too many authentication failures)");
	classified(CHANGED, EXIT255, "sftp://127.0.0.1:38317/x", NULL, DSYNC_SSH_EXEC_HOSTKEY_CHANGED, DSYNC_EAUTH,
		   "the host key of 127.0.0.1:38317 has CHANGED since it was recorded in known_hosts: this can be an "
		   "attack; dsync refuses to connect (ssh's warning is above)");
	classified(REVOKED, EXIT255, "sftp://127.0.0.1:39413/x", NULL, DSYNC_SSH_EXEC_HOSTKEY_REVOKED, DSYNC_EAUTH,
		   "the host key of 127.0.0.1:39413 is marked @revoked in known_hosts: dsync refuses to connect "
		   "(ssh's warning is above)");
	classified(UNKNOWN, EXIT255, "sftp://ann@nas.local:2222/x", NULL, DSYNC_SSH_EXEC_HOSTKEY_UNKNOWN, DSYNC_EAUTH,
		   "the host key of nas.local:2222 is not known yet: check its fingerprint with the host's owner, accept "
		   "it with 'ssh -o StrictHostKeyChecking=accept-new -p 2222 ann@nas.local true' and run this command "
		   "again");
	classified(UNKNOWN_V, EXIT255, "sftp://ann@nas.local:2222/x", NULL, DSYNC_SSH_EXEC_HOSTKEY_UNKNOWN,
		   DSYNC_EAUTH,
		   "the host key of nas.local:2222 is not known yet (ED25519 key "
		   "SHA256:A3TV0K/7Zv8kejBSsX0EN9wW+CyTYI6fWgnzutpKHhY): if the host's owner confirms this fingerprint, "
		   "accept it with 'ssh -o StrictHostKeyChecking=accept-new -p 2222 ann@nas.local true' and run this "
		   "command again");
	/* the accept command runs through the user's own command */
	classified(UNKNOWN_V, EXIT255, "pi:x", "ssh -F /cfg", DSYNC_SSH_EXEC_HOSTKEY_UNKNOWN, DSYNC_EAUTH,
		   "the host key of pi is not known yet (ED25519 key SHA256:A3TV0K/7Zv8kejBSsX0EN9wW+CyTYI6fWgnzutpKHhY): "
		   "if the host's owner confirms this fingerprint, accept it with 'ssh -F /cfg -o "
		   "StrictHostKeyChecking=accept-new pi true' and run this command again");
	classified(REFUSED, EXIT255, "sftp://127.0.0.1:37579/x", NULL, DSYNC_SSH_EXEC_UNREACHABLE, DSYNC_ERROR,
		   "cannot reach 127.0.0.1:37579: ssh: connect to host 127.0.0.1 port 37579: Connection refused");
	classified(NORESOLVE, EXIT255, "no-such-host.invalid:x", NULL, DSYNC_SSH_EXEC_UNREACHABLE, DSYNC_ERROR,
		   "cannot reach no-such-host.invalid: ssh: Could not resolve hostname no-such-host.invalid: Name or "
		   "service not known");
	classified(CONN_TIMEOUT, EXIT255, "192.0.2.7:x", NULL, DSYNC_SSH_EXEC_UNREACHABLE, DSYNC_ERROR,
		   "cannot reach 192.0.2.7: ssh: connect to host 192.0.2.7 port 22: Connection timed out");
	classified(CLOSER, EXIT255, "h:x", NULL, DSYNC_SSH_EXEC_UNREACHABLE, DSYNC_ERROR,
		   "cannot reach h: kex_exchange_identification: Connection closed by remote host");
	classified(NOSUBSYS, EXIT255, "h:x", NULL, DSYNC_SSH_EXEC_NO_SFTP, DSYNC_ERROR,
		   "h offers no SFTP (ssh said: subsystem request failed on channel 0): the host needs an sftp "
		   "subsystem, such as OpenSSH's sftp-server or internal-sftp");
	classified(DROPPED, EXIT255, "h:x", NULL, DSYNC_SSH_EXEC_DROPPED, DSYNC_ERROR,
		   "the connection to h was lost (ssh said: Connection to 127.0.0.1 closed by remote host.)");
	classified(TIMEOUT, EXIT255, "h:x", NULL, DSYNC_SSH_EXEC_DROPPED, DSYNC_ERROR,
		   "the connection to h was lost (ssh said: Timeout, server 127.0.0.1 not responding.)");
	/* nothing said */
	classified("", 0, "h:x", NULL, DSYNC_SSH_EXEC_ENDED, DSYNC_ERROR, "the connection to h ended unexpectedly");
	classified("", -1, "h:x", NULL, DSYNC_SSH_EXEC_ENDED, DSYNC_ERROR, "the connection to h ended unexpectedly");
	classified("", 9, "h:x", NULL, DSYNC_SSH_EXEC_ENDED, DSYNC_ERROR,
		   "the connection to h was lost: ssh was stopped by signal 9");
	classified("some news\r\n\r\n  \n", EXIT255, "h:x", NULL, DSYNC_SSH_EXEC_ENDED, DSYNC_ERROR,
		   "the connection to h ended (ssh said: some news)");
	classified("/bin/sh: 1: nossh: not found\n", 127 << 8, "h:x", "nossh -x", DSYNC_SSH_EXEC_NO_COMMAND,
		   DSYNC_ERROR, "cannot run the ssh command 'nossh -x' (/bin/sh: 1: nossh: not found)");
	/* control bytes from the server's side are not passed through */
	classified("Received disconnect: Too many authentication failures \x1b[2J\r\n", EXIT255, "h:x", NULL,
		   DSYNC_SSH_EXEC_AUTH, DSYNC_EAUTH, "cannot log in to h (ssh said: Too many authentication failures ?[2J)");
	/* a bogus fingerprint line is not believed */
	classified("debug1: Server host key: ssh-ed25519 SHA256:\r\nHost key verification failed.\r\n", EXIT255, "h:x",
		   NULL, DSYNC_SSH_EXEC_HOSTKEY_UNKNOWN, DSYNC_EAUTH,
		   "the host key of h is not known yet: check its fingerprint with the host's owner, accept it with "
		   "'ssh -o StrictHostKeyChecking=accept-new h true' and run this command again");
}

/* ---- the stream, with scripts standing in for ssh */

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/dsync-test-ssh-exec.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	/* shared connections' sockets (the stand-ins for ssh get the options)
	 * in the test's folder, not the user's */
	setenv("XDG_RUNTIME_DIR", dir, 1);
	unsetenv("XDG_CACHE_HOME");
	unsetenv("DSYNC_SSH_SHARE");
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes an executable script NAME with BODY; its path in OUT. */
static void script(char *out, size_t size, const char *name, const char *body)
{
	FILE *f;

	snprintf(out, size, "%s/%s", dir, name);
	assert_non_null(f = fopen(out, "w"));
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(out, 0700), 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static dsync_sftp_stream *open_with(const char *cmd, const char *url)
{
	dsync_transport_opts o = { .interactive = false };
	dsync_sftp_url u = url_of(url);
	dsync_sftp_stream *s = NULL;

	setenv("DSYNC_SSH_COMMAND", cmd, 1);
	if (dsync_ssh_exec_open(&s, &u, &o) != 0)
		fail_msg("%s", dsync_error_last());
	unsetenv("DSYNC_SSH_COMMAND");
	return s;
}

/* Reads until LEN bytes or EOF or 10 s: how many. */
static size_t read_some(dsync_sftp_stream *s, unsigned char *buf, size_t len, bool *eof)
{
	int64_t until = now_ms() + 10000;
	size_t got = 0;

	*eof = false;
	while (got < len && !*eof && now_ms() < until) {
		ssize_t n;

		assert_int_equal(s->wait(s, DSYNC_SFTP_WANT_RECV, 1000), 0);
		n = s->recv(s, buf + got, len - got, eof);
		assert_true(n >= 0);
		got += (size_t)n;
	}
	return got;
}

static void test_stream_sftp_server(void **state)
{
	/* SSH_FXP_INIT, version 3 */
	static const unsigned char init[] = { 0, 0, 0, 5, 1, 0, 0, 0, 3 };
	unsigned char reply[4096];
	char path[512], body[600];
	dsync_sftp_stream *s;
	size_t got, sent = 0;
	bool eof;

	(void)state;
	if (access(SFTP_SERVER, X_OK) != 0)
		skip();
	/* the arguments ssh would get are checked: the last three */
	snprintf(body, sizeof(body),
		 "for a; do last3=\"$last2\"; last2=\"$last1\"; last1=\"$a\"; done\n"
		 "[ \"$last3 $last2 $last1\" = \"-- h sftp\" ] || { echo \"bad args: $*\" >&2; exit 3; }\n"
		 "exec %s",
		 SFTP_SERVER);
	script(path, sizeof(path), "fake-ssh", body);
	s = open_with(path, "sftp://h/x");
	assert_string_equal(s->label, "h");
	while (sent < sizeof(init)) {
		ssize_t n = s->send(s, init + sent, sizeof(init) - sent);

		assert_true(n >= 0);
		sent += (size_t)n;
		if (n == 0)
			assert_int_equal(s->wait(s, DSYNC_SFTP_WANT_SEND, 1000), 0);
	}
	got = read_some(s, reply, 9, &eof);
	assert_int_equal(got, 9);
	assert_int_equal(reply[4], 2); /* SSH_FXP_VERSION */
	assert_int_equal(reply[8], 3);
	s->close(s);
}

static void test_stream_fails_like_ssh(void **state)
{
	char path[512];
	unsigned char buf[16];
	dsync_sftp_stream *s;
	bool eof;

	(void)state;
	script(path, sizeof(path), "denied", "echo 'ann@h: Permission denied (publickey).' >&2; exit 255");
	s = open_with(path, "ann@h:x");
	assert_int_equal(read_some(s, buf, sizeof(buf), &eof), 0);
	assert_true(eof);
	assert_int_equal(s->ended(s), DSYNC_EAUTH);
	assert_string_equal(dsync_error_last(), "cannot log in to ann@h: the host refused every key ssh offered (ssh "
						"said: Permission denied (publickey))");
	/* a second call says the same */
	assert_int_equal(s->ended(s), DSYNC_EAUTH);
	s->close(s);

	/* a send to an ssh that is gone fails without SIGPIPE */
	script(path, sizeof(path), "gone", "echo 'ssh: connect to host h port 22: Connection refused' >&2; exit 255");
	s = open_with(path, "h:x");
	(void)read_some(s, buf, sizeof(buf), &eof);
	assert_true(eof);
	{
		static unsigned char big[1 << 16];
		int i;
		ssize_t n = 0;

		for (i = 0; i < 64 && n >= 0; i++)
			n = s->send(s, big, sizeof(big));
		assert_true(n < 0);
	}
	assert_int_equal(s->ended(s), DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), "cannot reach h: ssh: connect to host h port 22: Connection refused");
	s->close(s);

	/* a command that does not exist, run directly */
	{
		dsync_transport_opts o = { .interactive = false };
		dsync_sftp_url u = url_of("h:x");

		setenv("DSYNC_SSH_COMMAND", "/nonexistent/ssh", 1);
		assert_int_equal(dsync_ssh_exec_open(&s, &u, &o), DSYNC_ERROR);
		assert_null(s);
		assert_string_equal(dsync_error_last(), "cannot run the ssh command '/nonexistent/ssh': not found");
		unsetenv("DSYNC_SSH_COMMAND");
		/* no ssh on PATH (remote.NAME.ssh = openssh) */
		{
			char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

			setenv("PATH", "/nonexistent", 1);
			assert_int_equal(dsync_ssh_exec_open(&s, &u, &o), DSYNC_ERROR);
			assert_string_equal(dsync_error_last(), "cannot run 'ssh': not found; install the OpenSSH client or "
								"set remote.NAME.ssh = builtin");
			if (saved)
				setenv("PATH", saved, 1);
			free(saved);
		}
	}
	/* a command that does not exist, through the shell */
	s = open_with("/nonexistent/ssh -x", "h:x");
	(void)read_some(s, buf, sizeof(buf), &eof);
	assert_int_equal(s->ended(s), DSYNC_ERROR);
	assert_non_null(strstr(dsync_error_last(), "cannot run the ssh command '/nonexistent/ssh -x'"));
	s->close(s);
}

/* Under BatchMode ssh names no fingerprint: ssh -v is run once more for it */
static void test_stream_unknown_host_probe(void **state)
{
	char path[512];
	unsigned char buf[16];
	dsync_sftp_stream *s;
	bool eof;

	(void)state;
	script(path, sizeof(path), "unknown",
	       "case \" $* \" in *' -v '*) echo 'debug1: Server host key: ecdsa-sha2-nistp256 "
	       "SHA256:PLEh6B8b0ePR/6Tgp6ld8jT1hVHc7SX1IJ4A2rNIYZ0' >&2 ;; esac\n"
	       "case \" $* \" in *' -oBatchMode=yes '*) ;; *) echo 'no BatchMode' >&2; exit 1 ;; esac\n"
	       "echo 'Host key verification failed.' >&2; exit 255");
	s = open_with(path, "sftp://ann@h:2222/x");
	(void)read_some(s, buf, sizeof(buf), &eof);
	assert_int_equal(s->ended(s), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "the host key of h:2222 is not known yet "));
	assert_non_null(strstr(dsync_error_last(), "(ECDSA key SHA256:PLEh6B8b0ePR/6Tgp6ld8jT1hVHc7SX1IJ4A2rNIYZ0)"));
	assert_non_null(strstr(dsync_error_last(), " -o StrictHostKeyChecking=accept-new -p 2222 ann@h true'"));
	s->close(s);
}

/* close() ends an ssh that ignores EOF: SIGTERM after 5 s; one that
 * ignores SIGTERM too gets SIGKILL 2 s later */
static void test_stream_close_stops_child(void **state)
{
	char path[512], pidfile[600], body[2200];
	dsync_sftp_stream *s;
	int64_t t0;
	FILE *f;
	int pid = 0;

	(void)state;
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	/* written aside and renamed: a reader never sees the file before the
	 * pid is in it (a bare "echo $$ > file" let fscanf find it empty) */
	snprintf(body, sizeof(body), "trap '' TERM\necho $$ > '%s.tmp'\nmv '%s.tmp' '%s'\nwhile :; do sleep 0.1; done",
		 pidfile, pidfile, pidfile);
	script(path, sizeof(path), "stubborn", body);
	s = open_with(path, "h:x");
	t0 = now_ms();
	while (access(pidfile, F_OK) != 0 && now_ms() - t0 < 5000)
		usleep(10000);
	assert_non_null(f = fopen(pidfile, "r"));
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	t0 = now_ms();
	s->close(s);
	assert_true(now_ms() - t0 >= 6900);
	assert_true(now_ms() - t0 < 9000);
	/* gone and reaped: no such process */
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_share_dir),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_stream_sftp_server),
		cmocka_unit_test(test_stream_fails_like_ssh),
		cmocka_unit_test(test_stream_unknown_host_probe),
		cmocka_unit_test(test_stream_close_stops_child),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
