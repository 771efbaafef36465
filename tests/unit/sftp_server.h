/*
 * The unit tests' SFTP server: the real OpenSSH sftp-server run as a child
 * over a socketpair, working in the sandbox folder, as a dsync_sftp_stream
 * (test_sftp_client.c, test_sftp_folder.c).  It can record what the server
 * sends (a fuzz seed, `record`) and hand replies over in flights
 * (`use_flights`, tests/fuzz/sftp_session.h) so a recorded session replays.
 * fake_stream(FN) is a hostile server instead: a child running FN, which
 * answers with bytes of its choosing (fk_*).
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

static inline ssize_t ss_send(dsync_sftp_stream *st, const void *buf, size_t len)
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

static inline ssize_t ss_recv(dsync_sftp_stream *st, void *buf, size_t len, bool *eof)
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

static inline int ss_wait(dsync_sftp_stream *st, unsigned want, int timeout_ms)
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

static inline int ss_ended(dsync_sftp_stream *st)
{
	return dsync_error_set(ended_code, "the connection to %s ended", st->label);
}

static inline void ss_close(dsync_sftp_stream *st)
{
	sock_stream *s = (sock_stream *)st;
	int status;

	close(s->fd);
	waitpid(s->pid, &status, 0);
	free(s->buf);
	free(s);
}

/* S talks over FD (its end of a socketpair to a child) */
static inline void sock_stream_wire(sock_stream *s, int fd, const char *label)
{
	s->fd = fd;
	s->base.send = ss_send;
	s->base.recv = ss_recv;
	s->base.wait = ss_wait;
	s->base.ended = ss_ended;
	s->base.close = ss_close;
	snprintf(s->base.label, sizeof(s->base.label), "%s", label);
}

/* A stream to a child: in the child (s->pid 0) *CHILD_FD is its end of
 * the socketpair; in the parent the stream is wired to the other */
static inline sock_stream *sock_stream_fork(int *child_fd, const char *label)
{
	sock_stream *s = calloc(1, sizeof(*s));
	int sv[2];

	assert_non_null(s);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		close(sv[0]);
		*child_fd = sv[1];
		return s;
	}
	close(sv[1]);
	sock_stream_wire(s, sv[0], label);
	return s;
}

/* A stream to a new sftp-server working in the sandbox */
static inline dsync_sftp_stream *server_stream(void)
{
	int fd = -1;
	sock_stream *s = sock_stream_fork(&fd, "test-host");

	if (s->pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(devnull, 2);
		if (chdir(sandbox_dir) < 0)
			_exit(126);
		if (server_uid && (setgroups(0, NULL) < 0 || setgid(server_uid) < 0 || setuid(server_uid) < 0))
			_exit(126);
		execl(SFTP_SERVER, SFTP_SERVER, (char *)NULL);
		_exit(127);
	}
	s->flights = record != NULL || use_flights;
	last_server = s->pid;
	return &s->base;
}

/* ---- hostile servers: a child that answers with bytes of its choosing ---- */

typedef void (*fake_fn)(int fd);

static inline void fk_read(int fd, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, (char *)buf + off, len - off);

		if (n <= 0)
			_exit(3);
		off += (size_t)n;
	}
}

static inline uint32_t fk_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads one request: its type and id */
static inline void fk_request(int fd, unsigned *type, uint32_t *id)
{
	unsigned char head[4], body[70000];
	uint32_t len;

	fk_read(fd, head, 4);
	len = fk_be32(head);
	if (len > sizeof(body) || len < 1)
		_exit(4);
	fk_read(fd, body, len);
	*type = body[0];
	*id = len >= 5 ? fk_be32(body + 1) : 0;
}

static inline void fk_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Sends a packet of TYPE, ID (none for VERSION) and BODY */
static inline void fk_reply(int fd, unsigned type, uint32_t id, const void *body, size_t len)
{
	unsigned char pkt[70000];
	size_t n = 0;

	n += 4;
	pkt[n++] = (unsigned char)type;
	if (type != 2) {
		fk_put32(pkt + n, id);
		n += 4;
	}
	memcpy(pkt + n, body, len);
	n += len;
	fk_put32(pkt, (uint32_t)(n - 4));
	if (write(fd, pkt, n) != (ssize_t)n)
		_exit(5);
}

static inline void fk_version(int fd, uint32_t version)
{
	unsigned char v[4];
	unsigned type;
	uint32_t id;

	fk_request(fd, &type, &id);
	if (type != 1)
		_exit(6);
	fk_put32(v, version);
	fk_reply(fd, 2, 0, v, 4);
}

static inline void fk_status(int fd, uint32_t id, uint32_t status)
{
	unsigned char b[12] = { 0 };

	fk_put32(b, status);
	fk_reply(fd, 101, id, b, sizeof(b));
}

/* ATTRS of a plain file (or a folder) of SIZE bytes */
static inline void fk_attrs(int fd, uint32_t id, uint64_t size, bool dir)
{
	unsigned char b[16];

	fk_put32(b, 0x5);
	fk_put32(b + 4, (uint32_t)(size >> 32));
	fk_put32(b + 8, (uint32_t)size);
	fk_put32(b + 12, dir ? 040700 : 0100600);
	fk_reply(fd, 105, id, b, sizeof(b));
}

static inline void fk_data(int fd, uint32_t id, const char *data, size_t len)
{
	unsigned char b[300];

	fk_put32(b, (uint32_t)len);
	memcpy(b + 4, data, len);
	fk_reply(fd, 103, id, b, 4 + len);
}

/* VERSION 3, then the store's folder is there */
static inline void fk_open_store(int fd)
{
	unsigned type;
	uint32_t id;

	fk_version(fd, 3);
	fk_request(fd, &type, &id);
	if (type != 17)
		_exit(7);
	fk_attrs(fd, id, 0, true);
}

/* One name a fake listing sends (with size 42 and mtime 1600000001) */
typedef struct fk_entry {
	const char *name;
	size_t len;
	uint32_t perms;
} fk_entry;

/* Answers the OPENDIR of the top folder with a handle and its pair of
 * READDIRs with the N entries E, then the end */
static inline void fk_listing(int fd, const fk_entry *e, size_t count)
{
	unsigned char b[4000], h[5] = { 0, 0, 0, 1, 'd' };
	unsigned type;
	uint32_t id, id2;
	size_t n = 4, i;

	fk_request(fd, &type, &id);
	if (type != 11)
		_exit(11);
	fk_reply(fd, 102, id, h, sizeof(h));
	fk_request(fd, &type, &id);
	fk_request(fd, &type, &id2);
	if (type != 12)
		_exit(12);
	fk_put32(b, (uint32_t)count);
	for (i = 0; i < count; i++) {
		if (n + 4 + e[i].len + 5 + 24 > sizeof(b))
			_exit(13);
		fk_put32(b + n, (uint32_t)e[i].len);
		memcpy(b + n + 4, e[i].name, e[i].len);
		n += 4 + e[i].len;
		fk_put32(b + n, 1);
		b[n + 4] = 'L';
		n += 5;
		fk_put32(b + n, 0xd);
		fk_put32(b + n + 4, 0);
		fk_put32(b + n + 8, 42);
		fk_put32(b + n + 12, e[i].perms);
		fk_put32(b + n + 16, 1600000000);
		fk_put32(b + n + 20, 1600000001);
		n += 24;
	}
	fk_reply(fd, 104, id, b, n);
	fk_status(fd, id2, 1);
}

static inline dsync_sftp_stream *fake_stream(fake_fn fn)
{
	int fd = -1;
	sock_stream *s = sock_stream_fork(&fd, "fake-host");

	if (s->pid == 0) {
		fn(fd);
		/* then drain whatever comes until the client closes */
		for (;;) {
			char buf[4096];

			if (read(fd, buf, sizeof(buf)) <= 0)
				_exit(0);
		}
	}
	return &s->base;
}

static inline int sftp_server_teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

/* Runs the group TESTS with SETUP (the sandbox removed after), or skips
 * them (77) where no sftp-server is installed */
#define SFTP_SERVER_RUN_TESTS(tests, setup)                                                     \
	(access(SFTP_SERVER, X_OK) != 0 ? (fprintf(stderr, "%s is missing: skipped\n", SFTP_SERVER), 77) \
					 : cmocka_run_group_tests(tests, setup, sftp_server_teardown))

#endif
