/*
 * The built-in SSH client, libssh2 1.10 (transport/ssh_builtin.h;
 * docs/sftp.md section 3): connect with a time limit, the host-key
 * preference from what known_hosts holds, the host key checked by us, the
 * login (ssh_auth.c), then a channel running the sftp subsystem handed over
 * as a non-blocking stream.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>
#include <sodium.h>

#include "core/base/buf.h"
#include "core/base/file.h"
#include "transport/ssh_auth.h"
#include "transport/ssh_builtin.h"
#include "transport/known_hosts.h"
#include "transport/ssh_config.h"

#define CONNECT_TIMEOUT_S 30
#define WINDOW_SIZE (16u << 20)
#define KEEPALIVE_S 15
#define CLOSE_TIMEOUT_MS 3000

typedef struct builtin_stream {
	dsync_sftp_stream base; /* first: the client holds a pointer to it */
	int fd;
	LIBSSH2_SESSION *s;
	LIBSSH2_CHANNEL *ch;
	int failed;             /* the DSYNC_E* code of an I/O error seen, 0 */
	char why[512];          /* its message */
} builtin_stream;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_libssh2(void)
{
	init_result = libssh2_init(0);
}

static const char *ssh_msg(LIBSSH2_SESSION *s)
{
	char *msg = NULL;

	if (!s || libssh2_session_last_error(s, &msg, NULL, 0) == 0 || !msg || !*msg)
		return "no reason given";
	return msg;
}

/* --- the TCP connection */

static int connect_addr(int *out, const struct addrinfo *ai, int64_t deadline)
{
	struct pollfd p;
	socklen_t sl = sizeof(int);
	int fd, err = 0, r, one = 1;

	*out = -1;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		p.fd = fd;
		p.events = POLLOUT;
		for (;;) {
			int64_t left = deadline - dsync_now_ms();

			if (left <= 0) {
				err = ETIMEDOUT;
				goto fail;
			}
			r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
			if (r > 0)
				break;
			if (r < 0 && errno != EINTR) {
				err = errno;
				goto fail;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err)
			goto fail;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return 0;
fail:
	close(fd);
	return err ? err : ECONNREFUSED;
}

static int connect_host(int *out, const char *label, const char *host, int port, int timeout_s)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	int64_t deadline = dsync_now_ms() + (int64_t)timeout_s * 1000;
	int r, err = ECONNREFUSED;

	*out = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0)
		return dsync_error_set(DSYNC_ERROR, "cannot reach %s: cannot resolve '%s': %s", label, host,
				       r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		if ((err = connect_addr(out, ai, deadline)) == 0)
			break;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (*out >= 0)
		return 0;
	if (err == ETIMEDOUT)
		return dsync_error_set(DSYNC_ERROR, "cannot reach %s: connect to %s port %d: no answer in %d s", label,
				       host, port, timeout_s);
	return dsync_error_set(DSYNC_ERROR, "cannot reach %s: connect to %s port %d: %s", label, host, port,
			       strerror(err));
}

/* --- the host key */

/* The peer's address as known_hosts and OpenSSH's question show it. */
static void peer_name(char *out, size_t size, int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[NI_MAXHOST];

	out[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0)
		return;
	dsync_ssh_known_hosts_name(out, size, ip, port);
}

/* Asks whether to trust KEY (OpenSSH's words): 0 when the answer is yes or
 * the fingerprint, DSYNC_EAUTH otherwise. */
static int ask_hostkey(const dsync_transport_opts *o, const char *name, const char *peer, const char *label,
		       const char *fp)
{
	char text[1024];
	char *answer = NULL;
	int tries, error;

	snprintf(text, sizeof(text),
		 "The authenticity of host '%s%s%s%s' can't be established.\n"
		 "%s key fingerprint is %s.\n"
		 "This key is not known by any other names.\n"
		 "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
		 name, peer[0] && strcmp(peer, name) != 0 ? " (" : "", strcmp(peer, name) != 0 ? peer : "",
		 peer[0] && strcmp(peer, name) != 0 ? ")" : "", label, fp);
	for (tries = 0; tries < 3; tries++) {
		size_t n;

		if ((error = o->prompt(&answer, DSYNC_TRANSPORT_PROMPT_HOSTKEY, text, true, o->payload)) < 0 ||
		    !answer)
			return dsync_error_set(DSYNC_EAUTH, "host key verification failed: no answer to whether to trust %s (%s)",
					       name, fp);
		n = strlen(answer);
		while (n && (answer[n - 1] == '\n' || answer[n - 1] == '\r' || answer[n - 1] == ' '))
			answer[--n] = '\0';
		if (strcasecmp(answer, "yes") == 0 || strcmp(answer, fp) == 0) {
			free(answer);
			return 0;
		}
		if (strcasecmp(answer, "no") == 0) {
			free(answer);
			break;
		}
		free(answer);
		answer = NULL;
		snprintf(text, sizeof(text), "Please type 'yes', 'no' or the fingerprint: ");
	}
	return dsync_error_set(DSYNC_EAUTH, "host key verification failed: the host key of %s (%s) was not accepted",
			       name, fp);
}

static int check_hostkey(int *revoked, LIBSSH2_SESSION *s, int fd, const dsync_ssh_known_hosts *kh,
			 const dsync_ssh_config *cfg, const dsync_transport_opts *o, const char *host_typed,
			 const char *home)
{
	const char *key, *hash, *file = NULL, *label;
	char fp[64], name[300], peer[300], shown[4200];
	size_t len;
	int type, r, error;

	if (!(key = libssh2_session_hostkey(s, &len, &type)) ||
	    !(hash = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256)))
		return dsync_error_set(DSYNC_ERROR, "cannot read the host key of %s: %s", host_typed, ssh_msg(s));
	dsync_ssh_fingerprint(fp, (const unsigned char *)hash);
	label = dsync_ssh_hostkey_label(type);
	dsync_ssh_known_hosts_name(name, sizeof(name), cfg->hostname, cfg->port);
	r = dsync_ssh_known_hosts_check(&file, kh, cfg->hostname, cfg->port, key, len, type);
	switch (r) {
	case DSYNC_SSH_KNOWN_MATCH:
		return 0;
	case DSYNC_SSH_KNOWN_REVOKED:
		*revoked = type;
		return dsync_error_set(DSYNC_EAUTH,
				       "the host key of %s (%s %s) is marked @revoked in %s: dsync refuses to connect",
				       host_typed, label, fp, dsync_ssh_tilde(shown, sizeof(shown), file, home));
	case DSYNC_SSH_KNOWN_CHANGED:
		dsync_ssh_tilde(shown, sizeof(shown), file, home);
		return dsync_error_set(DSYNC_EAUTH,
				       "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! the host key of %s has CHANGED since it was recorded in %s (it now shows %s %s): this can be an attack (someone eavesdropping on you), or the host's key was replaced; dsync refuses to connect. If the host's owner confirms the new key, remove the old one with: ssh-keygen -f %s -R '%s'",
				       host_typed, shown, label, fp, shown, name);
	default:
		break;
	}
	if (!o->interactive || !o->prompt)
		return dsync_error_set(DSYNC_EAUTH,
				       "the host key of %s is not known yet (%s key %s): dsync refuses to connect without asking. If the host's owner confirms this fingerprint, connect once from a terminal and answer yes, or add the key to %s",
				       host_typed, label, fp,
				       cfg->user_known_hosts.size ? dsync_ssh_tilde(shown, sizeof(shown), cfg->user_known_hosts.ptr[0], home)
								  : "~/.ssh/known_hosts");
	peer_name(peer, sizeof(peer), fd, cfg->port);
	if ((error = ask_hostkey(o, name, peer, label, fp)) < 0)
		return error;
	if (cfg->user_known_hosts.size == 0)
		return 0; /* UserKnownHostsFile none: accepted for this time only */
	return dsync_ssh_known_hosts_append(cfg->user_known_hosts.ptr[0], cfg->hostname, cfg->port, key, len, type,
					    cfg->hash_known_hosts == 1);
}

/* --- the stream */

static int stream_fail(builtin_stream *b, int code, const char *what)
{
	if (!b->failed) {
		b->failed = code;
		snprintf(b->why, sizeof(b->why), "the connection to %s %s: %s", b->base.label, what, ssh_msg(b->s));
	}
	return dsync_error_set(b->failed, "%s", b->why);
}

static ssize_t bs_send(dsync_sftp_stream *st, const void *buf, size_t len)
{
	builtin_stream *b = (builtin_stream *)st;
	ssize_t n;

	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	n = libssh2_channel_write(b->ch, buf, len);
	if (n >= 0)
		return n;
	if (n == LIBSSH2_ERROR_EAGAIN)
		return 0;
	return stream_fail(b, DSYNC_ERROR, "broke");
}

static ssize_t bs_recv(dsync_sftp_stream *st, void *buf, size_t len, bool *eof)
{
	builtin_stream *b = (builtin_stream *)st;
	ssize_t n;

	*eof = false;
	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	n = libssh2_channel_read(b->ch, buf, len);
	if (n > 0)
		return n;
	if (n == 0 || n == LIBSSH2_ERROR_EAGAIN) {
		if (libssh2_channel_eof(b->ch))
			*eof = true;
		return 0;
	}
	return stream_fail(b, DSYNC_ERROR, "broke");
}

static int bs_wait(dsync_sftp_stream *st, unsigned want, int timeout_ms)
{
	builtin_stream *b = (builtin_stream *)st;
	int64_t deadline = timeout_ms < 0 ? -1 : dsync_now_ms() + timeout_ms;
	struct pollfd p;
	int next, dirs, r, wait_ms;

	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	/* bytes libssh2 already holds do not wake poll(); it answers < 0 (not
	 * "ready") when a short packet, such as a reply to a keepalive that
	 * asked for one, sits in its queue, and taking that for "ready" would
	 * spin on recv() for the rest of the session */
	if ((want & DSYNC_SFTP_WANT_RECV) && (libssh2_poll_channel_read(b->ch, 0) > 0 || libssh2_channel_eof(b->ch)))
		return 0;
	for (;;) {
		next = 0;
		r = libssh2_keepalive_send(b->s, &next);
		if (r < 0 && r != LIBSSH2_ERROR_EAGAIN)
			return stream_fail(b, DSYNC_ERROR, "broke");
		dirs = libssh2_session_block_directions(b->s);
		if ((want & DSYNC_SFTP_WANT_SEND) && !dirs)
			return 0;
		p.fd = b->fd;
		p.events = 0;
		p.revents = 0;
		if ((want & DSYNC_SFTP_WANT_RECV) || (dirs & LIBSSH2_SESSION_BLOCK_INBOUND))
			p.events |= POLLIN;
		if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			p.events |= POLLOUT;
		wait_ms = (next > 0 ? next : KEEPALIVE_S) * 1000;
		if (deadline >= 0) {
			int64_t left = deadline - dsync_now_ms();

			if (left <= 0)
				return 0;
			if (left < wait_ms)
				wait_ms = (int)left;
		}
		r = poll(&p, 1, wait_ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return dsync_error_sys(errno, "waiting for %s", b->base.label);
	}
}

static int bs_ended(dsync_sftp_stream *st)
{
	builtin_stream *b = (builtin_stream *)st;
	int status;

	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	if (libssh2_channel_eof(b->ch)) {
		status = libssh2_channel_get_exit_status(b->ch);
		b->failed = DSYNC_ERROR;
		if (status)
			snprintf(b->why, sizeof(b->why), "the connection to %s dropped: the SFTP server there ended (exit status %d)",
				 b->base.label, status);
		else
			snprintf(b->why, sizeof(b->why), "the connection to %s dropped: the SFTP server there ended the session",
				 b->base.label);
		return dsync_error_set(b->failed, "%s", b->why);
	}
	return stream_fail(b, DSYNC_ERROR, "dropped");
}

static void teardown(int fd, LIBSSH2_SESSION *s, LIBSSH2_CHANNEL *ch, bool graceful)
{
	if (s) {
		libssh2_session_set_blocking(s, 1);
		libssh2_session_set_timeout(s, CLOSE_TIMEOUT_MS);
	}
	if (ch) {
		if (graceful) {
			libssh2_channel_send_eof(ch);
			libssh2_channel_close(ch);
		}
		libssh2_channel_free(ch);
	}
	if (s) {
		if (graceful)
			libssh2_session_disconnect(s, "dsync is done");
		libssh2_session_free(s);
	}
	if (fd >= 0)
		close(fd);
}

static void bs_close(dsync_sftp_stream *st)
{
	builtin_stream *b = (builtin_stream *)st;

	if (!b)
		return;
	teardown(b->fd, b->s, b->ch, !b->failed);
	free(b);
}

/* --- opening */

static const char *home_dir(void)
{
	const char *home = getenv("HOME");

	return home && *home ? home : "/";
}

static int handshake(LIBSSH2_SESSION *s, int fd, const char *label, unsigned types)
{
	int rc = libssh2_session_handshake(s, fd);

	if (rc == 0)
		return 0;
	if (rc == LIBSSH2_ERROR_TIMEOUT)
		return dsync_error_set(DSYNC_ERROR, "cannot reach %s: no SSH answer in time", label);
	if (rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED ||
	    rc == LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE || rc == LIBSSH2_ERROR_HOSTKEY_INIT)
		return dsync_error_set(DSYNC_ERROR, "cannot talk SSH with %s: %s%s; try the OpenSSH client (remote.NAME.ssh = openssh)",
				       label, ssh_msg(s),
				       types == (1u << LIBSSH2_HOSTKEY_TYPE_RSA)
					       ? " (known_hosts holds only an RSA host key, which the built-in client can't check against OpenSSH 8.8 and later)"
					       : "");
	return dsync_error_set(DSYNC_ERROR, "cannot reach %s: the SSH handshake failed: %s", label, ssh_msg(s));
}

/* Connects to the host of CFG, reads its known-hosts files into KH
 * (with the session *S, which they need), asks for the host key types they
 * hold for it (less EXCLUDE; *TYPES), and runs the handshake. */
static int start_session(int *fd, LIBSSH2_SESSION **s, dsync_ssh_known_hosts *kh, unsigned *types,
			 const dsync_ssh_config *cfg, const char *label, unsigned exclude)
{
	char pref[200];
	int error;

	if ((error = connect_host(fd, label, cfg->hostname, cfg->port,
				  cfg->connect_timeout ? cfg->connect_timeout : CONNECT_TIMEOUT_S)) < 0)
		return error;
	if (!(*s = libssh2_session_init()))
		return dsync_error_oom();
	libssh2_session_set_timeout(*s, CONNECT_TIMEOUT_S * 1000);
	if ((error = dsync_ssh_known_hosts_load(kh, *s, cfg->user_known_hosts.ptr, cfg->user_known_hosts.size)) < 0 ||
	    (error = dsync_ssh_known_hosts_load(kh, *s, cfg->global_known_hosts.ptr, cfg->global_known_hosts.size)) < 0)
		return error;
	/* libssh2 1.10 prefers ECDSA: ask for a type known_hosts holds */
	*types = dsync_ssh_known_hosts_types(kh, cfg->hostname, cfg->port) & ~exclude;
	/* an unknown host: OpenSSH's order, so the key asked about and
	 * recorded is the one the OpenSSH client would record */
	dsync_ssh_known_hosts_pref(pref, sizeof(pref), *types ? *types : ~exclude);
	if (pref[0] && libssh2_session_method_pref(*s, LIBSSH2_METHOD_HOSTKEY, pref) != 0)
		return dsync_error_set(DSYNC_ERROR, "cannot set the host key preference '%s': %s", pref, ssh_msg(*s));
	return handshake(*s, *fd, label, *types);
}

int dsync_ssh_builtin_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o)
{
	dsync_ssh_known_hosts kh = DSYNC_SSH_KNOWN_HOSTS_INIT;
	dsync_ssh_config cfg;
	LIBSSH2_SESSION *s = NULL;
	LIBSSH2_CHANNEL *ch = NULL;
	builtin_stream *b = NULL;
	char label[600];
	const char *home = home_dir();
	unsigned types = 0, exclude = 0;
	int fd = -1, error;

	*out = NULL;
	dsync_ssh_config_init(&cfg);
	pthread_once(&init_once, init_libssh2);
	if (init_result != 0)
		return dsync_error_set(DSYNC_ERROR, "cannot start libssh2 (%d)", init_result);
	if ((error = dsync_ssh_config_read(&cfg, u->host, u->user, u->port)) < 0)
		goto out;
	if (cfg.ignored[0] && o->warn) {
		char msg[1024], shown[300];

		snprintf(msg, sizeof(msg), "%s sets %s for %s, which the built-in client ignores: install the OpenSSH client or set remote.NAME.ssh = openssh",
			 dsync_ssh_tilde(shown, sizeof(shown), cfg.ignored_file, home), cfg.ignored, u->host);
		o->warn(msg, o->payload);
	}
	snprintf(label, sizeof(label), "%s@%s", cfg.user, u->host);
	if (cfg.port != 22)
		snprintf(label + strlen(label), sizeof(label) - strlen(label), ":%d", cfg.port);
	for (;;) {
		int revoked = -1;

		if ((error = start_session(&fd, &s, &kh, &types, &cfg, label, exclude)) < 0)
			goto out;
		error = check_hostkey(&revoked, s, fd, &kh, &cfg, o, u->host, home);
		if (error == 0)
			break;
		/* a revoked key, while known_hosts holds a key of another type
		 * for the host: as OpenSSH does, connect again asking for
		 * that type */
		if (revoked < 0 || !(types & ~(1u << revoked)))
			goto out;
		exclude |= 1u << revoked;
		dsync_ssh_known_hosts_dispose(&kh);
		teardown(fd, s, NULL, false);
		fd = -1;
		s = NULL;
	}
	if ((error = dsync_ssh_auth_login(s, &cfg, o, label, home)) < 0)
		goto out;
	if (!(ch = libssh2_channel_open_ex(s, "session", sizeof("session") - 1, WINDOW_SIZE, LIBSSH2_CHANNEL_PACKET_DEFAULT,
					   NULL, 0))) {
		error = dsync_error_set(DSYNC_ERROR, "cannot open a session channel on %s: %s", label, ssh_msg(s));
		goto out;
	}
	libssh2_channel_handle_extended_data2(ch, LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
	if (libssh2_channel_subsystem(ch, "sftp") != 0) {
		error = dsync_error_set(DSYNC_ERROR, "%s refused the sftp subsystem (is SFTP enabled on the host?): %s",
					label, ssh_msg(s));
		goto out;
	}
	/* no reply wanted: the server's REQUEST_FAILURE would stay queued in
	 * libssh2 (nobody reads it) and blind libssh2_poll_channel_read; a dead
	 * server is noticed by the SFTP client's stall timer instead */
	libssh2_keepalive_config(s, 0, KEEPALIVE_S);
	libssh2_session_set_blocking(s, 0);
	if (!(b = calloc(1, sizeof(*b)))) {
		error = dsync_error_oom();
		goto out;
	}
	b->fd = fd;
	b->s = s;
	b->ch = ch;
	b->base.send = bs_send;
	b->base.recv = bs_recv;
	b->base.wait = bs_wait;
	b->base.ended = bs_ended;
	b->base.close = bs_close;
	snprintf(b->base.label, sizeof(b->base.label), "%.255s", u->label);
	*out = &b->base;
	fd = -1;
	s = NULL;
	ch = NULL;
	error = 0;
out:
	if (error < 0 && cfg.ignored[0] && !o->warn) {
		char msg[2048];

		snprintf(msg, sizeof(msg), "%s (note: %s sets %s for %s, which the built-in client ignores: install the OpenSSH client or set remote.NAME.ssh = openssh)",
			 dsync_error_last(), cfg.ignored_file, cfg.ignored, u->host);
		dsync_error_set(error, "%s", msg);
	}
	/* the collections free through their session */
	dsync_ssh_known_hosts_dispose(&kh);
	teardown(fd, s, ch, false);
	dsync_ssh_config_dispose(&cfg);
	return error;
}
