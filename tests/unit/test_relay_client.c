/*
 * The relay's client (transport/relay.c) against the real relay, run in
 * this process (dsync_relay_run in a thread on 127.0.0.1, port 0, a data
 * folder in the sandbox, a quota of 64 MiB): every blob-store call, a 20 MiB
 * blob whose upload and download are cut and resumed, listings of more than
 * one page, the long-poll woken by another device's push and not by our
 * own, the quota's refusal, a wrong token, the writer rules as the client
 * reports them, and URLs that are not relays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "dsync/relay.h"
#include "transport/blobstore.h"
#include "transport/relay.h"
#include "transport/relay_client.h"
#include "transport/relay_proto.h"

#define QUOTA (64u * 1024 * 1024)
#define BIG (20u * 1024 * 1024)
#define MANY 1050

/* A call that must succeed: its message when it doesn't */
#define OK(call)                                                                                 \
	do {                                                                                     \
		int e_ = (int)(call);                                                            \
		if (e_ != 0)                                                                     \
			fail_msg("%s: %d %s", #call, e_, dsync_error_last());                    \
	} while (0)

typedef struct device {
	dsync_relay_creds c;
	unsigned char admit[32];
} device;

static pthread_t relay_thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static char relay_addr[64];
static bool relay_done;
static int relay_result;
static char url[128];
static device a, b;
static dsync_blobstore *sa, *sb; /* devices A and B, joined */

static void on_ready(const char *addr, void *payload)
{
	(void)payload;
	pthread_mutex_lock(&lock);
	snprintf(relay_addr, sizeof(relay_addr), "%s", addr);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void on_log(const char *line, void *payload)
{
	FILE *f = payload;

	fprintf(f, "%s\n", line);
	fflush(f);
}

static void *relay_main(void *arg)
{
	dsync_relay_config *c = arg;
	int r = dsync_relay_run(c);

	pthread_mutex_lock(&lock);
	relay_done = true;
	relay_result = r;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void make_device(device *d, const char *group, const unsigned char token[32], const unsigned char admit[32])
{
	unsigned char id[16];
	char folded[DSYNC_RELAY_GROUP_MAX + 1];

	memset(d, 0, sizeof(*d));
	OK(dsync_relay_group_fold(folded, group));
	dsync_relay_group_id(d->c.group_id, folded);
	memcpy(d->c.token, token, 32);
	memcpy(d->admit, admit, 32);
	randombytes_buf(id, sizeof(id));
	dsync_relay_hex(d->c.device_id, id, sizeof(id));
	crypto_sign_keypair(d->c.sign_pk, d->c.sign_sk);
	d->c.group_name = group;
	d->c.remote_name = "home";
}

static int open_as(dsync_blobstore **out, const char *u, device *d, bool admit, bool create)
{
	dsync_transport_opts o = { 0 };

	o.relay = &d->c;
	d->c.admit = admit ? d->admit : NULL;
	return dsync_blobstore_relay_open(out, u, create, &o);
}

static int setup(void **state)
{
	static dsync_relay_config c;
	static char data[300], logpath[300];
	static FILE *log;
	unsigned char token[32], admit[32];
	struct timespec until;
	sigset_t sigs;

	(void)state;
	sandbox_open("relay-client", SANDBOX_HOME | SANDBOX_LIB);
	sandbox_path(data, sizeof(data), "relay");
	sandbox_path(logpath, sizeof(logpath), "relay.log");
	assert_non_null(log = fopen(logpath, "w"));
	/* the relay takes SIGTERM by sigwait: every thread blocks it, ours too */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	c.listen = "127.0.0.1:0";
	c.data_dir = data;
	c.quota = QUOTA;
	c.threads = 2;
	c.ready = on_ready;
	c.log = on_log;
	c.payload = log;
	assert_int_equal(pthread_create(&relay_thread, NULL, relay_main, &c), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&lock);
	while (!relay_addr[0] && !relay_done)
		if (pthread_cond_timedwait(&cond, &lock, &until) != 0)
			break;
	pthread_mutex_unlock(&lock);
	if (!relay_addr[0])
		fail_msg("the relay did not start: %d %s", relay_result, dsync_error_last());
	snprintf(url, sizeof(url), "http://%s/", relay_addr);

	randombytes_buf(token, sizeof(token));
	randombytes_buf(admit, sizeof(admit));
	make_device(&a, "Client-Test", token, admit);
	make_device(&b, "Client-Test", token, admit);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dsync_blobstore_free(sa);
	dsync_blobstore_free(sb);
	pthread_kill(relay_thread, SIGTERM);
	pthread_join(relay_thread, NULL);
	assert_int_equal(relay_result, 0);
	if (!getenv("KEEP"))
		sandbox_close();
	return 0;
}

/* ---- helpers */

static int temp_fd(void)
{
	char path[300];
	int fd;

	sandbox_path(path, sizeof(path), "blob.XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	unlink(path);
	return fd;
}

static int fd_of(const void *data, size_t len)
{
	int fd = temp_fd();

	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void hash_fd(int fd, unsigned char out[32])
{
	crypto_generichash_state h;
	char block[65536];
	ssize_t n;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	crypto_generichash_init(&h, NULL, 0, 32);
	while ((n = read(fd, block, sizeof(block))) > 0)
		crypto_generichash_update(&h, (unsigned char *)block, (size_t)n);
	crypto_generichash_final(&h, out, 32);
}

static void pack_name(char *out, size_t size, unsigned i)
{
	unsigned char seed[4] = { (unsigned char)(i >> 24), (unsigned char)(i >> 16), (unsigned char)(i >> 8),
				  (unsigned char)i };
	unsigned char h[32];
	char hex[65];

	crypto_generichash(h, sizeof(h), seed, sizeof(seed), NULL, 0);
	dsync_relay_hex(hex, h, sizeof(h));
	snprintf(out, size, "packs/%s", hex);
}

static void manifest_name(char *out, size_t size, const device *d, unsigned seq)
{
	snprintf(out, size, "devices/%s/%016u", d->c.device_id, seq);
}

static int count_cb(const char *name, const dsync_blobstore_info *info, void *payload)
{
	size_t *n = payload;

	(void)name, (void)info;
	(*n)++;
	return 0;
}

/* ---- tests */

static void header_lines(relay_reply *r, const char *block)
{
	const char *p = block, *nl;

	while ((nl = strchr(p, '\n')) != NULL) {
		dsync_relay_client_header(r, p, (size_t)(nl + 1 - p));
		p = nl + 1;
	}
}

static void test_reply_headers(void **state)
{
	relay_reply r;

	(void)state;
	/* a 100 Continue, then the answer: only the answer's headers count */
	header_lines(&r, "HTTP/1.1 100 Continue\r\nDsync-Offset: 1\r\n\r\n"
			 "HTTP/1.1 206 Partial Content\r\ncontent-length:  10 \r\nDsync-Change: 3f2a9c01b7e4d5a6.17\r\n"
			 "ETag: \"ac80dbc0c8ca709fb9d48d39f3531976b169cb16c1213dfcd7a06b8dc4f2cba7\"\r\n"
			 "Content-Range: bytes 10-19/20\r\nDsync-Usage: 5 100\r\nRetry-After: 3\r\n"
			 "Last-Modified: Sun, 06 Dec 2026 10:55:02 GMT\r\n\r\n");
	assert_false(r.bad);
	assert_int_equal(r.status, 206);
	assert_false(r.has_offset);
	assert_true(r.has_length && r.length == 10);
	assert_string_equal(r.change, "3f2a9c01b7e4d5a6.17");
	assert_string_equal(r.etag, "ac80dbc0c8ca709fb9d48d39f3531976b169cb16c1213dfcd7a06b8dc4f2cba7");
	assert_true(r.has_range && r.range_start == 10 && r.range_end == 19 && r.range_total == 20);
	assert_true(r.has_usage && r.used == 5 && r.quota == 100);
	assert_int_equal(r.retry_after, 3);
	assert_int_equal(r.last_modified, 1796554502);
	/* each malformed or repeated header of ours marks the reply bad */
	{
		static const char *const bad[] = {
			"Content-Length: 1\r\nContent-Length: 2\r\n", "Content-Length: -1\r\n",
			"Content-Length: 99999999999999999999999\r\n", "Dsync-Change: x.1\r\n",
			"Dsync-Change: 3f2a9c01b7e4d5a6.1\r\nDsync-Change: 3f2a9c01b7e4d5a6.1\r\n",
			"ETag: \"AC80\"\r\n", "Content-Range: bytes 9-1/5\r\n", "Content-Range: bytes 0-5/5\r\n",
			"Dsync-Usage: 1\r\n", "Dsync-Offset: 0x10\r\n",
		};
		char block[300];
		size_t i;

		for (i = 0; i < DSYNC_ARRAY_SIZE(bad); i++) {
			snprintf(block, sizeof(block), "HTTP/1.1 200 OK\r\n%s\r\n", bad[i]);
			header_lines(&r, block);
			if (!r.bad)
				fail_msg("not refused: %s", bad[i]);
		}
		header_lines(&r, "HTTP/1.1 2x0 OK\r\n");
		assert_true(r.bad);
	}
}

static void test_not_a_relay(void **state)
{
	dsync_blobstore *s = NULL;
	char bad[160];
	int lfd, err;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	pid_t pid;

	(void)state;
	/* a web server that isn't a relay: one answer from a child process */
	assert_true((lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";
		char buf[4096];
		int c = accept(lfd, NULL, NULL);

		if (c >= 0 && read(c, buf, sizeof(buf)) > 0 && write(c, reply, sizeof(reply) - 1) > 0)
			shutdown(c, SHUT_WR);
		sleep(1);
		_exit(0);
	}
	close(lfd);
	snprintf(bad, sizeof(bad), "http://127.0.0.1:%u/", ntohs(sin.sin_port));
	err = open_as(&s, bad, &a, false, false);
	assert_int_equal(err, DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "is not a dsync relay"));
	assert_int_equal(dsync_error_exit_code(err), 2);
	waitpid(pid, NULL, 0);

	/* nobody listening: the port the web server had */
	snprintf(bad, sizeof(bad), "http://127.0.0.1:%u/", ntohs(sin.sin_port));
	assert_int_equal(open_as(&s, bad, &a, false, false), DSYNC_ERROR);
	assert_non_null(strstr(dsync_error_last(), "cannot reach relay"));

	/* not a URL a relay can have */
	assert_int_equal(open_as(&s, "http://user@127.0.0.1/", &a, false, false), DSYNC_EUSAGE);
	assert_int_equal(open_as(&s, "http://127.0.0.1/?x=1", &a, false, false), DSYNC_EUSAGE);
	assert_null(s);
}

static void test_create_and_join(void **state)
{
	dsync_blobstore *s = NULL;
	bool empty = false;

	(void)state;
	/* joining a group nobody made: the same answer as a wrong passphrase */
	assert_int_equal(open_as(&s, url, &b, true, false), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "refused group 'Client-Test': wrong passphrase, or no such group"));

	OK(open_as(&sa, url, &a, true, true));
	OK(sa->is_empty(sa, &empty));
	assert_true(empty);
	assert_string_equal(sa->url, url);
	/* a repeated init and a second device's join */
	OK(open_as(&s, url, &a, true, true));
	dsync_blobstore_free(s);
	OK(open_as(&sb, url, &b, true, false));
	empty = false;
	OK(sb->is_empty(sb, &empty));
	assert_true(empty);
	/* B's id taken by another key */
	{
		device thief = b;

		crypto_sign_keypair(thief.c.sign_pk, thief.c.sign_sk);
		assert_int_equal(open_as(&s, url, &thief, true, false), DSYNC_EAUTH);
		assert_non_null(strstr(dsync_error_last(), b.c.device_id));
	}
}

static void test_wrong_token(void **state)
{
	device w = a;
	dsync_blobstore *s = NULL;
	bool empty;
	int err;

	(void)state;
	w.c.token[0] ^= 1;
	OK(open_as(&s, url, &w, false, false));
	err = s->is_empty(s, &empty);
	assert_int_equal(err, DSYNC_EAUTH);
	assert_int_equal(dsync_error_exit_code(err), 5);
	assert_non_null(strstr(dsync_error_last(), "relay '"));
	assert_non_null(strstr(dsync_error_last(), "refused group 'Client-Test': wrong passphrase, or no such group"));
	dsync_blobstore_free(s);
	/* a wrong passphrase at init on a group that exists */
	w = a;
	w.admit[0] ^= 1;
	w.c.token[0] ^= 1;
	assert_int_equal(open_as(&s, url, &w, true, true), DSYNC_EAUTH);
}

static void test_blobs(void **state)
{
	dsync_buf got = DSYNC_BUF_INIT;
	dsync_blobstore_info info;
	char pack[100];
	size_t n = 0;
	int fd;

	(void)state;
	OK(dsync_blobstore_put_buf(sa, "dsync-store", "store v1\n", 9));
	OK(dsync_blobstore_get_buf(sb, "dsync-store", &got, 100));
	assert_int_equal(got.len, 9);
	assert_memory_equal(got.ptr, "store v1\n", 9);
	dsync_buf_dispose(&got);
	/* written once */
	assert_int_equal(dsync_blobstore_put_buf(sb, "dsync-store", "other", 5), DSYNC_EEXISTS);
	/* a blob over the caller's bound */
	assert_int_equal(dsync_blobstore_get_buf(sb, "dsync-store", &got, 4), DSYNC_ECORRUPT);
	dsync_buf_dispose(&got);

	pack_name(pack, sizeof(pack), 0);
	OK(dsync_blobstore_put_buf(sa, pack, "0123456789", 10));
	OK(sb->stat(sb, pack, &info));
	assert_int_equal(info.size, 10);
	assert_true(llabs((long long)(info.mtime - time(NULL))) < 60);
	/* a pack another device wrote: refused, and named */
	assert_int_equal(dsync_blobstore_put_buf(sb, pack, "squatted", 8), DSYNC_EEXISTS);
	assert_non_null(strstr(dsync_error_last(), pack));
	assert_non_null(strstr(dsync_error_last(), "written by another device"));
	OK(sb->list(sb, "", count_cb, &n));
	assert_int_equal(n, 2);
	n = 0;
	OK(sb->list(sb, "packs/", count_cb, &n));
	assert_int_equal(n, 1);
	n = 0;
	OK(sb->list(sb, "devices/", count_cb, &n));
	assert_int_equal(n, 0);

	/* a put from the middle of a descriptor sends the rest */
	fd = fd_of("skip-this:payload", 17);
	assert_int_equal(lseek(fd, 10, SEEK_SET), 10);
	pack_name(pack, sizeof(pack), 1);
	OK(sa->put(sa, pack, fd, NULL, NULL));
	close(fd);
	OK(dsync_blobstore_get_buf(sa, pack, &got, 100));
	assert_int_equal(got.len, 7);
	assert_memory_equal(got.ptr, "payload", 7);
	dsync_buf_dispose(&got);

	/* only its writer deletes a pack */
	assert_int_equal(sb->del(sb, pack), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "another device"));
	OK(sa->del(sa, pack));
	assert_int_equal(sa->del(sa, pack), 0); /* not there: not an error */
	assert_int_equal(sa->stat(sa, pack, &info), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_blobstore_get_buf(sa, pack, &got, 100), DSYNC_ENOTFOUND);
	dsync_buf_dispose(&got);
	/* a name no store has */
	assert_int_equal(sa->stat(sa, "../etc/passwd", &info), DSYNC_EUSAGE);
	assert_int_equal(dsync_blobstore_put_buf(sa, "notes.txt", "x", 1), DSYNC_EUSAGE);
}

static void test_manifests(void **state)
{
	char name[100];

	(void)state;
	manifest_name(name, sizeof(name), &a, 5);
	OK(dsync_blobstore_put_buf(sa, name, "m5", 2));
	/* another device can't write or remove A's manifests */
	manifest_name(name, sizeof(name), &a, 6);
	assert_int_equal(dsync_blobstore_put_buf(sb, name, "forged", 6), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "another device"));
	manifest_name(name, sizeof(name), &a, 5);
	assert_int_equal(sb->del(sb, name), DSYNC_EAUTH);
	/* nor roll A back */
	manifest_name(name, sizeof(name), &a, 4);
	assert_int_equal(dsync_blobstore_put_buf(sa, name, "m4", 2), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "newer"));
}

static void on_xfer(uint64_t bytes, void *payload)
{
	uint64_t *most = payload;

	if (bytes > *most)
		*most = bytes;
}

/* A temp file of BIG random bytes, its offset at 0 */
static int big_file(void)
{
	char *block;
	size_t i;
	int fd = temp_fd();

	assert_non_null(block = malloc(1024 * 1024));
	for (i = 0; i < BIG / (1024 * 1024); i++) {
		randombytes_buf(block, 1024 * 1024);
		assert_int_equal(write(fd, block, 1024 * 1024), 1024 * 1024);
	}
	free(block);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void test_big_resumed(void **state)
{
	dsync_blobstore *s = NULL, *r = NULL;
	relay_store *rs;
	unsigned char sent[32], back[32];
	char pack[100];
	uint64_t used, quota, moved = 0;
	time_t t0;
	int fd, out;

	(void)state;
	fd = big_file();
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	hash_fd(fd, sent);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

	/* the first upload and the first read of these stores are cut after 5 MiB */
	setenv("DSYNC_TEST_RELAY_CUT", "5242880", 1);
	OK(open_as(&s, url, &a, false, false));
	OK(open_as(&r, url, &b, false, false));
	unsetenv("DSYNC_TEST_RELAY_CUT");
	pack_name(pack, sizeof(pack), 2);
	t0 = time(NULL);
	OK(s->put(s, pack, fd, on_xfer, &moved));
	assert_int_equal(moved, BIG);
	print_message("20 MiB put, cut at 5 MiB, in %lld s\n", (long long)(time(NULL) - t0));
	/* the relay lets go of the cut upload as soon as the client's close
	 * reaches it (not at its 60 s idle timeout): the resumed PUT is not
	 * held off with 503 busy, so the whole put takes the 1 s backoff and
	 * the bytes, not a minute */
	assert_true(time(NULL) - t0 < 10);
	rs = (relay_store *)s;
	assert_true(rs->cut_done);
	/* resumed where the relay's copy ended, not sent again whole */
	assert_true(rs->bytes_sent < BIG + BIG / 4 + 1024 * 1024);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), BIG);
	close(fd);
	OK(s->usage(s, &used, &quota));
	assert_int_equal(quota, QUOTA);
	assert_true(used >= BIG && used <= QUOTA);

	out = temp_fd();
	moved = 0;
	OK(r->get(r, pack, out, BIG, on_xfer, &moved));
	assert_int_equal(moved, BIG);
	rs = (relay_store *)r;
	assert_true(rs->cut_get_done);
	assert_true(rs->bytes_received < BIG + BIG / 4 + 1024 * 1024);
	assert_int_equal(lseek(out, 0, SEEK_END), BIG);
	hash_fd(out, back);
	assert_memory_equal(sent, back, 32);
	/* over the caller's bound: refused from the Content-Length */
	assert_int_equal(ftruncate(out, 0), 0);
	assert_int_equal(lseek(out, 0, SEEK_SET), 0);
	assert_int_equal(r->get(r, pack, out, BIG - 1, NULL, NULL), DSYNC_ECORRUPT);
	assert_int_equal(lseek(out, 0, SEEK_END), 0);
	close(out);
	dsync_blobstore_free(s);
	dsync_blobstore_free(r);
}

/* A put whose connection stays open but sends nothing (a half-open
 * connection, as after a laptop lost its network) once 5 MiB are sent. */
typedef struct stalled_put {
	dsync_blobstore *s;
	const char *pack;
	int fd, result;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stalled, go;
} stalled_put;

static void stall_xfer(uint64_t bytes, void *payload)
{
	stalled_put *t = payload;

	if (bytes < 5 * 1024 * 1024)
		return;
	pthread_mutex_lock(&t->mu);
	t->stalled = true;
	pthread_cond_broadcast(&t->cv);
	while (!t->go)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

static void *stalled_main(void *arg)
{
	stalled_put *t = arg;

	t->result = t->s->put(t->s, t->pack, t->fd, stall_xfer, t);
	return NULL;
}

/* The same device's put of the same blob takes the upload over from a
 * connection the relay can't yet see is dead, instead of waiting for the
 * relay's 60 s idle timeout; the stale connection's later bytes are refused. */
static void test_takeover(void **state)
{
	stalled_put t = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	dsync_blobstore *s2 = NULL;
	unsigned char sent[32], back[32];
	char pack[100];
	pthread_t th;
	time_t t0;
	int fd, out;

	(void)state;
	fd = big_file();
	hash_fd(fd, sent);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	OK(open_as(&t.s, url, &a, false, false));
	OK(open_as(&s2, url, &a, false, false));
	pack_name(pack, sizeof(pack), 4);
	t.pack = pack;
	t.fd = fd;
	assert_int_equal(pthread_create(&th, NULL, stalled_main, &t), 0);
	pthread_mutex_lock(&t.mu);
	while (!t.stalled)
		pthread_cond_wait(&t.cv, &t.mu);
	pthread_mutex_unlock(&t.mu);

	t0 = time(NULL);
	OK(s2->put(s2, pack, fd, NULL, NULL));
	print_message("20 MiB put over a stalled one in %lld s\n", (long long)(time(NULL) - t0));
	assert_true(time(NULL) - t0 < 10);
	/* the relay resumed it: less than the whole was sent again */
	assert_true(((relay_store *)s2)->bytes_sent < BIG);

	/* the stalled connection goes on: its bytes are refused, its put starts over and completes */
	pthread_mutex_lock(&t.mu);
	t.go = true;
	pthread_cond_broadcast(&t.cv);
	pthread_mutex_unlock(&t.mu);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.result, 0);

	out = temp_fd();
	OK(s2->get(s2, pack, out, BIG, NULL, NULL));
	assert_int_equal(lseek(out, 0, SEEK_END), BIG);
	hash_fd(out, back);
	assert_memory_equal(sent, back, 32);
	close(out);
	close(fd);
	OK(s2->del(s2, pack));
	dsync_blobstore_free(t.s);
	dsync_blobstore_free(s2);
}

static void test_quota(void **state)
{
	char pack[100];
	uint64_t used, quota;
	int fd, err;

	(void)state;
	/* 50 MiB of nothing (sparse) after the 20 MiB blob: over the 64 MiB quota */
	fd = temp_fd();
	assert_int_equal(ftruncate(fd, 50 * 1024 * 1024), 0);
	pack_name(pack, sizeof(pack), 3);
	err = sa->put(sa, pack, fd, NULL, NULL);
	close(fd);
	assert_int_equal(err, DSYNC_ENOSPACE);
	assert_non_null(strstr(dsync_error_last(), "relay 'home' refused the upload: the group's quota (64.0 MiB) is full"));
	OK(sa->usage(sa, &used, &quota));
	assert_int_equal(quota, QUOTA);
	assert_true(used < QUOTA);
}

static void test_paging(void **state)
{
	char pack[100];
	size_t i, n = 0;
	struct timespec t0, t1;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 100; i < 100 + MANY; i++) {
		pack_name(pack, sizeof(pack), (unsigned)i);
		OK(dsync_blobstore_put_buf(sb, pack, pack, 20));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%d puts in %.1f s\n", MANY, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	/* with the 20 MiB pack from before: two pages */
	OK(sa->list(sa, "packs/", count_cb, &n));
	assert_int_equal(n, MANY + 2);
}

typedef struct waiter {
	dsync_blobstore *s;
	char cursor[64];
	int timeout_ms;
	bool changed;
	int error;
	double seconds;
} waiter;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *wait_main(void *arg)
{
	waiter *w = arg;
	double t0 = now_s();

	w->error = w->s->wait_change(w->s, w->cursor, sizeof(w->cursor), w->timeout_ms, &w->changed);
	w->seconds = now_s() - t0;
	return NULL;
}

static void test_wait_change(void **state)
{
	waiter w = { 0 };
	pthread_t t;
	char name[100];
	double t0;

	(void)state;
	/* the watcher's own store, as core/watch/ holds one */
	OK(open_as(&w.s, url, &a, false, false));
	/* the first look says "changed" at once */
	t0 = now_s();
	OK(w.s->wait_change(w.s, w.cursor, sizeof(w.cursor), 10000, &w.changed));
	assert_true(w.changed);
	assert_true(now_s() - t0 < 2);
	assert_non_null(strchr(w.cursor, '.'));

	/* woken by B's push */
	w.timeout_ms = 20000;
	assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
	usleep(300 * 1000);
	manifest_name(name, sizeof(name), &b, 1);
	OK(dsync_blobstore_put_buf(sb, name, "b1", 2));
	pthread_join(t, NULL);
	assert_int_equal(w.error, 0);
	assert_true(w.changed);
	assert_true(w.seconds < 5);

	/* A's own push alone is no change for A; the poll then times out */
	manifest_name(name, sizeof(name), &a, 7);
	OK(dsync_blobstore_put_buf(sa, name, "a7", 2));
	w.timeout_ms = 2000;
	wait_main(&w);
	assert_int_equal(w.error, 0);
	assert_false(w.changed);
	assert_true(w.seconds >= 1.5 && w.seconds < 10);

	/* but A's push and then B's is */
	manifest_name(name, sizeof(name), &a, 8);
	OK(dsync_blobstore_put_buf(sa, name, "a8", 2));
	manifest_name(name, sizeof(name), &b, 2);
	OK(dsync_blobstore_put_buf(sb, name, "b2", 2));
	wait_main(&w);
	assert_int_equal(w.error, 0);
	assert_true(w.changed);
	assert_true(w.seconds < 2);
	dsync_blobstore_free(w.s);
}

/* POST .group: a wrong ADMIT changes nothing; the right one makes the store
 * go on with the new token and the old one refused */
static void test_rotate_token(void **state)
{
	unsigned char token2[32], admit2[32], wrong[32];
	dsync_blobstore_info info;
	dsync_blobstore *s = NULL;
	device b2 = b;

	(void)state;
	randombytes_buf(token2, sizeof(token2));
	randombytes_buf(admit2, sizeof(admit2));
	assert_non_null(sa->rotate_token);
	memcpy(wrong, a.admit, sizeof(wrong));
	wrong[0] ^= 1;
	assert_int_equal(sa->rotate_token(sa, wrong, token2, admit2), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "the passphrase does not admit devices to the group"));
	OK(sb->stat(sb, "dsync-store", &info));

	OK(sa->rotate_token(sa, a.admit, token2, admit2));
	OK(sa->stat(sa, "dsync-store", &info));
	assert_int_equal(sb->stat(sb, "dsync-store", &info), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "wrong passphrase, or no such group"));
	/* B with the new token and ADMIT: registered again with its key (200) */
	memcpy(b2.c.token, token2, sizeof(token2));
	memcpy(b2.admit, admit2, sizeof(admit2));
	OK(open_as(&s, url, &b2, true, false));
	OK(s->stat(s, "dsync-store", &info));
	dsync_blobstore_free(s);
	/* and back, for the tests after */
	OK(sa->rotate_token(sa, admit2, a.c.token, a.admit));
	OK(sb->stat(sb, "dsync-store", &info));
}

static void test_clock_skew(void **state)
{
	relay_store *rs = (relay_store *)sa;
	char name[100];

	(void)state;
	/* this device's clock 20 minutes slow: the relay's Date sets it right, once */
	rs->clock_offset = -1200;
	manifest_name(name, sizeof(name), &a, 20);
	OK(dsync_blobstore_put_buf(sa, name, "a20", 3));
	assert_true(llabs((long long)rs->clock_offset) < 5);
}

/* Last: it puts 127.0.0.1 in the relay's penalty period */
static void test_slow_down(void **state)
{
	dsync_blobstore_info info;
	device w = a;
	dsync_blobstore *s = NULL;
	bool empty;
	double t0;
	int i;

	(void)state;
	/* five guesses: five different wrong tokens (the same one sent again
	 * is not counted: a device with a stale token is not a guesser); the
	 * last one counted starts the penalty (the client waits out any met
	 * on the way, so each refusal here is a counted one) */
	for (i = 0; i < 5; i++) {
		w.c.token[1] = (unsigned char)(a.c.token[1] ^ (i + 1));
		OK(open_as(&s, url, &w, false, false));
		assert_int_equal(s->is_empty(s, &empty), DSYNC_EAUTH);
		dsync_blobstore_free(s);
		s = NULL;
	}
	/* the right token now meets 429 with Retry-After, waits it out and gets through */
	t0 = now_s();
	OK(sa->stat(sa, "dsync-store", &info));
	print_message("waited %.1f s for the penalty\n", now_s() - t0);
	assert_true(now_s() - t0 >= 0.9);
	assert_int_equal(info.size, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_headers),
		cmocka_unit_test(test_not_a_relay),
		cmocka_unit_test(test_create_and_join),
		cmocka_unit_test(test_wrong_token),
		cmocka_unit_test(test_blobs),
		cmocka_unit_test(test_manifests),
		cmocka_unit_test(test_wait_change),
		cmocka_unit_test(test_big_resumed),
		cmocka_unit_test(test_takeover),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_rotate_token),
		cmocka_unit_test(test_clock_skew),
		cmocka_unit_test(test_slow_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
