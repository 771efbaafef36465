/*
 * The unit tests' SFTP server: the real OpenSSH sftp-server run as a child
 * over a socketpair, working in the sandbox folder, as a dsync_sftp_stream
 * (test_sftp_client.c, test_sftp_folder.c).  It can record what the server
 * sends (a fuzz seed, `record`) and hand replies over in flights
 * (`use_flights`, tests/fuzz/sftp_session.h) so a recorded session replays.
 * Include after cmocka.h and sandbox.h.
 */
#ifndef DSYNC_TEST_SFTP_SERVER_H
#define DSYNC_TEST_SFTP_SERVER_H

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "transport/sftp_stream.h"
#include "../fuzz/sftp_session.h"

#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

/* ---- a stream over a socket to a local sftp-server ---- */

typedef struct sock_stream {
	dsync_sftp_stream base;
	int fd;
	pid_t pid;
	/* recording (the fuzz seed): replies handed over in flights */
	bool flights, eof;
	sftp_flight flight;
	unsigned char *buf;
	size_t len, released, answered;
} sock_stream;

static pid_t last_server;
/* when set, what the server sends is appended here (the fuzz seed) */
static FILE *record;
/* when set, the replies are handed over in flights (sftp_session.h) */
static bool use_flights;
/* when set (a test run as root), the server runs as this user, so that a
 * folder's permissions hold it back as they would a phone's */
static uid_t server_uid;

static ssize_t ss_send(dsync_sftp_stream *st, const void *buf, size_t len)
{
	sock_stream *s = (sock_stream *)st;
	ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0)
		return dsync_error_set(DSYNC_ERROR, "send to %s: %s", st->label, strerror(errno));
	if (s->flights)
		sftp_flight_sent(&s->flight, buf, (size_t)n);
	return n;
}

static ssize_t ss_recv(dsync_sftp_stream *st, void *buf, size_t len, bool *eof)
{
	sock_stream *s = (sock_stream *)st;
	ssize_t n;

	*eof = false;
	if (s->flights) {
		n = (ssize_t)(len < s->released ? len : s->released);
		if (n > 0) {
			memcpy(buf, s->buf, (size_t)n);
			memmove(s->buf, s->buf + n, s->len - (size_t)n);
			s->len -= (size_t)n;
			s->released -= (size_t)n;
			if (record)
				fwrite(buf, 1, (size_t)n, record);
		}
		*eof = n == 0 && s->eof;
		return n;
	}
	n = recv(s->fd, buf, len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0)
		return dsync_error_set(DSYNC_ERROR, "recv from %s: %s", st->label, strerror(errno));
	if (n == 0)
		*eof = true;
	return n;
}

static int ss_wait(dsync_sftp_stream *st, unsigned want, int timeout_ms)
{
	sock_stream *s = (sock_stream *)st;
	struct pollfd p = { s->fd, 0, 0 };

	if (s->flights) {
		/* every reply to what was sent, then all of them at once */
		size_t whole = 0;

		while (!s->eof && (sftp_flight_end(s->buf, s->len, s->flight.sent - s->answered, &whole),
				   whole < s->flight.sent - s->answered)) {
			ssize_t n;

			s->buf = realloc(s->buf, s->len + 65536);
			assert_non_null(s->buf);
			n = read(s->fd, s->buf + s->len, 65536);
			if (n <= 0)
				s->eof = true;
			else
				s->len += (size_t)n;
		}
		s->answered += whole;
		s->released = s->len;
		return 0;
	}
	if (want & DSYNC_SFTP_WANT_SEND)
		p.events |= POLLOUT;
	if (want & DSYNC_SFTP_WANT_RECV)
		p.events |= POLLIN;
	if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
		return dsync_error_set(DSYNC_ERROR, "poll: %s", strerror(errno));
	return 0;
}

/* what ended() says (a real carrier classifies ssh's stderr) */
static int ended_code = DSYNC_ERROR;

static int ss_ended(dsync_sftp_stream *st)
{
	return dsync_error_set(ended_code, "the connection to %s ended", st->label);
}

static void ss_close(dsync_sftp_stream *st)
{
	sock_stream *s = (sock_stream *)st;
	int status;

	close(s->fd);
	waitpid(s->pid, &status, 0);
	free(s->buf);
	free(s);
}

/* A stream to a new sftp-server working in the sandbox */
static dsync_sftp_stream *server_stream(void)
{
	sock_stream *s = calloc(1, sizeof(*s));
	int sv[2];

	assert_non_null(s);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(sv[1], 0);
		dup2(sv[1], 1);
		dup2(devnull, 2);
		if (chdir(sandbox_dir) < 0)
			_exit(126);
		if (server_uid && (setgroups(0, NULL) < 0 || setgid(server_uid) < 0 || setuid(server_uid) < 0))
			_exit(126);
		execl(SFTP_SERVER, SFTP_SERVER, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	s->fd = sv[0];
	s->base.send = ss_send;
	s->base.recv = ss_recv;
	s->base.wait = ss_wait;
	s->base.ended = ss_ended;
	s->base.close = ss_close;
	snprintf(s->base.label, sizeof(s->base.label), "test-host");
	s->flights = record != NULL || use_flights;
	last_server = s->pid;
	return &s->base;
}

#endif
