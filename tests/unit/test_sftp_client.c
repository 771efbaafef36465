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

#include "sftp_server.h"

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


/* A file of SIZE pseudo-random bytes (seeded by SEED), open for reading at 0 */
static int random_file(const char *name, size_t size, unsigned seed)
{
	char path[600];
	unsigned char *data = malloc(size ? size : 1);
	size_t i;
	int fd;

	assert_non_null(data);
	for (i = 0; i < size; i++) {
		seed = seed * 1103515245u + 12345u;
		data[i] = (unsigned char)(seed >> 16);
	}
	sandbox_path(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	free(data);
	return fd;
}

static int empty_file(const char *name)
{
	char path[600];
	int fd;

	sandbox_path(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	return fd;
}

/* A and B hold the same bytes */
static void same_files(int a, int b)
{
	struct stat sa, sb;
	unsigned char *pa, *pb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_int_equal(sa.st_size, sb.st_size);
	pa = malloc((size_t)sa.st_size + 1);
	pb = malloc((size_t)sb.st_size + 1);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(pread(a, pa, (size_t)sa.st_size, 0), sa.st_size);
	assert_int_equal(pread(b, pb, (size_t)sb.st_size, 0), sb.st_size);
	assert_memory_equal(pa, pb, (size_t)sa.st_size);
	free(pa);
	free(pb);
}

static void test_nested(void **state)
{
	dsync_blobstore *bs;
	names ns;

	(void)state;
	assert_int_equal(open_store(&bs, "nested", true, 0), 0);
	put_str(bs, "dsync-store", "s");
	put_str(bs, "devices/A/1", "a1");
	put_str(bs, "devices/A/2", "a2");
	put_str(bs, "devices/B/1", "b1");
	put_str(bs, "devices/C/x/deep", "deep");
	put_str(bs, "packs/p1", "p1");
	put_str(bs, "keys/k1", "k1");
	list(bs, "devices/", &ns);
	assert_int_equal(ns.n, 4);
	assert_true(has(&ns, "devices/A/1") && has(&ns, "devices/A/2") && has(&ns, "devices/B/1") &&
		    has(&ns, "devices/C/x/deep"));
	list(bs, "", &ns);
	assert_int_equal(ns.n, 7);
	list(bs, "packs/", &ns);
	assert_int_equal(ns.n, 1);
	assert_true(has(&ns, "packs/p1"));
	list(bs, "devices/A/", &ns);
	assert_int_equal(ns.n, 2);
	list(bs, "devices/A", &ns);
	assert_int_equal(ns.n, 2);
	list(bs, "pa", &ns);
	assert_int_equal(ns.n, 1);
	list(bs, "nothing/", &ns);
	assert_int_equal(ns.n, 0);
	expect_blob(bs, "devices/C/x/deep", "deep");
	dsync_blobstore_free(bs);
}

/* A listing's callback may use the store (remote.c removes the keys it
 * lists) */
static int remove_each(const char *name, const dsync_blobstore_info *info, void *payload)
{
	dsync_blobstore *bs = payload;

	(void)info;
	return bs->del(bs, name);
}

static int stop_at_first(const char *name, const dsync_blobstore_info *info, void *payload)
{
	(void)name;
	(void)info;
	(*(int *)payload)++;
	return 42;
}

static void test_list_callbacks(void **state)
{
	dsync_blobstore *bs;
	char name[64];
	names ns;
	int i, calls = 0;

	(void)state;
	assert_int_equal(open_store(&bs, "listcb", true, 0), 0);
	/* more names than one READDIR reply holds */
	for (i = 0; i < 250; i++) {
		snprintf(name, sizeof(name), "keys/k%03d", i);
		put_str(bs, name, name);
	}
	put_str(bs, "dsync-store", "s");
	assert_int_equal(bs->list(bs, "", stop_at_first, &calls), 42);
	assert_int_equal(calls, 1);
	/* the store still works after a listing stopped early */
	expect_blob(bs, "dsync-store", "s");
	assert_int_equal(bs->list(bs, "keys/", remove_each, bs), 0);
	list(bs, "", &ns);
	assert_int_equal(ns.n, 1);
	assert_true(has(&ns, "dsync-store"));
	dsync_blobstore_free(bs);
}

/* Replacing a blob: atomic with posix-rename; with only RENAME, a pack (same
 * name, same bytes) keeps the one there and anything else is removed and
 * renamed; the old blob stays readable until then */
static void replace_in(const char *store)
{
	dsync_blobstore *bs, *reader;
	names ns;

	assert_int_equal(open_store(&bs, store, true, 0), 0);
	assert_int_equal(open_store(&reader, store, false, 0), 0);
	put_str(bs, "devices/A/1", "first");
	put_str(bs, "packs/X", "pack bytes");
	expect_blob(reader, "devices/A/1", "first");
	put_str(bs, "devices/A/1", "second, longer");
	expect_blob(reader, "devices/A/1", "second, longer");
	put_str(bs, "packs/X", "pack bytes");
	expect_blob(reader, "packs/X", "pack bytes");
	put_str(bs, "dsync-store", "v1");
	put_str(bs, "dsync-store", "v2");
	expect_blob(reader, "dsync-store", "v2");
	/* no temporary file is left behind */
	list(reader, "", &ns);
	assert_int_equal(ns.n, 3);
	dsync_blobstore_free(reader);
	dsync_blobstore_free(bs);
}

static void no_temp_files(const char *dir)
{
	char cmd[700], path[600];
	FILE *f;
	char line[300];

	sandbox_path(path, sizeof(path), dir);
	snprintf(cmd, sizeof(cmd), "find '%s' -name '.*tmp-*'", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_null(fgets(line, sizeof(line), f));
	pclose(f);
}

static void test_replace(void **state)
{
	char stats[600], line[300];
	FILE *f;

	(void)state;
	replace_in("replace-posix");
	no_temp_files("replace-posix");
	sandbox_path(stats, sizeof(stats), "replace.stats");
	setenv("DSYNC_TEST_SFTP_STATS", stats, 1);
	setenv("DSYNC_TEST_SFTP_IGNORE_EXT", "posix-rename@openssh.com,fsync@openssh.com", 1);
	replace_in("replace-rename");
	unsetenv("DSYNC_TEST_SFTP_IGNORE_EXT");
	unsetenv("DSYNC_TEST_SFTP_STATS");
	no_temp_files("replace-rename");
	/* both connections said they used neither extension */
	f = fopen(stats, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "ext=limits\n"));
	fclose(f);
}

/* The old blob stays readable while the fallback replaces it: a reader
 * polling all along sees the old or the new bytes, or (between REMOVE and
 * RENAME) nothing, never a part */
static void test_replace_window(void **state)
{
	dsync_blobstore *bs, *reader;
	dsync_buf b = DSYNC_BUF_INIT;
	pid_t child;
	int status, i;

	(void)state;
	setenv("DSYNC_TEST_SFTP_IGNORE_EXT", "posix-rename@openssh.com", 1);
	assert_int_equal(open_store(&bs, "window", true, 0), 0);
	unsetenv("DSYNC_TEST_SFTP_IGNORE_EXT");
	put_str(bs, "devices/A/1", "old-old-old");
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		for (i = 0; i < 30; i++)
			if (dsync_blobstore_put_buf(bs, "devices/A/1", i % 2 ? "old-old-old" : "new-new-new!", i % 2 ? 11 : 12) < 0)
				_exit(1);
		_exit(0);
	}
	assert_int_equal(open_store(&reader, "window", false, 0), 0);
	for (i = 0; i < 200; i++) {
		int error;

		dsync_buf_truncate(&b, 0);
		error = dsync_blobstore_get_buf(reader, "devices/A/1", &b, 100);
		if (error == DSYNC_ENOTFOUND)
			continue;
		assert_int_equal(error, 0);
		assert_true((b.len == 11 && memcmp(b.ptr, "old-old-old", 11) == 0) ||
			    (b.len == 12 && memcmp(b.ptr, "new-new-new!", 12) == 0));
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	dsync_buf_dispose(&b);
	dsync_blobstore_free(reader);
	dsync_blobstore_free(bs);
}

static uint64_t progress_last;
static unsigned progress_calls;

static void progress(uint64_t bytes, void *payload)
{
	(void)payload;
	assert_true(bytes >= progress_last);
	progress_last = bytes;
	progress_calls++;
}

/* Several MiB each way: many requests outstanding, data written in order */
static void test_big(void **state)
{
	dsync_blobstore *bs;
	char stats[600], line[300];
	unsigned long long rt, req;
	size_t size = 7 * 1024 * 1024 + 12345;
	int in = random_file("big.in", size, 7), out = empty_file("big.out");
	FILE *f;

	(void)state;
	sandbox_path(stats, sizeof(stats), "big.stats");
	setenv("DSYNC_TEST_SFTP_STATS", stats, 1);
	assert_int_equal(open_store(&bs, "big", true, 0), 0);
	progress_last = progress_calls = 0;
	assert_int_equal(bs->put(bs, "packs/big", in, progress, NULL), 0);
	assert_int_equal(progress_last, size);
	assert_true(progress_calls > 1);
	progress_last = progress_calls = 0;
	assert_int_equal(bs->get(bs, "packs/big", out, size, progress, NULL), 0);
	assert_int_equal(progress_last, size);
	same_files(in, out);
	dsync_blobstore_free(bs);
	unsetenv("DSYNC_TEST_SFTP_STATS");
	f = fopen(stats, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(sscanf(line, "round_trips=%llu requests=%llu", &rt, &req), 2);
	assert_non_null(strstr(line, "ext=posix-rename,fsync,limits\n"));
	/* 7 MiB in 255 KiB requests is ~29 each way; pipelined, the round
	 * trips are far fewer than the requests */
	assert_true(req >= 58);
	assert_true(rt < req / 3);
	close(in);
	close(out);
}

/* A put of many MiB does not deadlock: the client reads the WRITE replies
 * while it sends */
static void test_no_deadlock(void **state)
{
	dsync_blobstore *bs;
	size_t size = 40 * 1024 * 1024;
	int in = random_file("huge.in", size, 3), out = empty_file("huge.out");

	(void)state;
	assert_int_equal(open_store(&bs, "huge", true, 0), 0);
	assert_int_equal(bs->put(bs, "packs/huge", in, NULL, NULL), 0);
	assert_int_equal(bs->get(bs, "packs/huge", out, 0, NULL, NULL), 0);
	same_files(in, out);
	dsync_blobstore_free(bs);
	close(in);
	close(out);
}

static void test_max(void **state)
{
	dsync_blobstore *bs;
	dsync_buf b = DSYNC_BUF_INIT;
	struct stat st;
	int in = random_file("max.in", 1000, 1), out = empty_file("max.out");

	(void)state;
	assert_int_equal(open_store(&bs, "max", true, 0), 0);
	assert_int_equal(bs->put(bs, "packs/m", in, NULL, NULL), 0);
	assert_int_equal(bs->get(bs, "packs/m", out, 999, NULL, NULL), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "larger than it may be"));
	assert_int_equal(fstat(out, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(dsync_blobstore_get_buf(bs, "packs/m", &b, 10), DSYNC_ECORRUPT);
	assert_int_equal(bs->get(bs, "packs/m", out, 1000, NULL, NULL), 0);
	same_files(in, out);
	dsync_buf_dispose(&b);
	dsync_blobstore_free(bs);
	close(in);
	close(out);
}

/* Links, folders and FIFOs are not blobs: refused by get and stat, never
 * listed */
static void test_not_blobs(void **state)
{
	dsync_blobstore *bs;
	dsync_blobstore_info info;
	dsync_buf b = DSYNC_BUF_INIT;
	char path[600], target[600];
	names ns;

	(void)state;
	assert_int_equal(open_store(&bs, "notblobs", true, 0), 0);
	put_str(bs, "packs/real", "real");
	local(path, sizeof(path), "notblobs", "packs/link");
	local(target, sizeof(target), "notblobs", "packs/real");
	assert_int_equal(symlink(target, path), 0);
	local(path, sizeof(path), "notblobs", "packs/dirlink");
	local(target, sizeof(target), "notblobs", "packs");
	assert_int_equal(symlink(target, path), 0);
	local(path, sizeof(path), "notblobs", "packs/folder");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(dsync_blobstore_get_buf(bs, "packs/link", &b, 100), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "not a file"));
	assert_int_equal(dsync_blobstore_get_buf(bs, "packs/folder", &b, 100), DSYNC_ECORRUPT);
	assert_int_equal(bs->stat(bs, "packs/link", &info), DSYNC_ECORRUPT);
	assert_int_equal(bs->stat(bs, "packs/folder", &info), DSYNC_ECORRUPT);
	list(bs, "", &ns);
	assert_int_equal(ns.n, 1);
	assert_true(has(&ns, "packs/real"));
	expect_blob(bs, "packs/real", "real");
	/* a file where a put needs a folder */
	assert_int_equal(dsync_blobstore_put_buf(bs, "packs/real/x", "x", 1), DSYNC_ENOTDIR);
	assert_non_null(strstr(dsync_error_last(), "a file is in the way"));
	expect_blob(bs, "packs/real", "real");
	dsync_blobstore_free(bs);

	/* a FIFO: sftp-server's open() of it blocks, as a host that stops
	 * answering does, and the stall rule ends the wait */
	local(path, sizeof(path), "notblobs", "packs/fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	setenv("DSYNC_TEST_SFTP_STALL", "1", 1);
	assert_int_equal(open_store(&bs, "notblobs", false, 0), 0);
	unsetenv("DSYNC_TEST_SFTP_STALL");
	assert_int_equal(dsync_blobstore_get_buf(bs, "packs/fifo", &b, 100), DSYNC_ERROR);
	assert_non_null(strstr(dsync_error_last(), "stalled"));
	kill(last_server, SIGKILL);
	dsync_blobstore_free(bs);
	dsync_buf_dispose(&b);
}

static void touch_old(const char *store, const char *name, int age)
{
	char path[600];
	struct timeval tv[2];
	int fd;

	local(path, sizeof(path), store, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "partial", 7), 7);
	close(fd);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= age;
	tv[1] = tv[0];
	assert_int_equal(utimes(path, tv), 0);
}

static bool exists(const char *store, const char *name)
{
	char path[600];
	struct stat st;

	local(path, sizeof(path), store, name);
	return lstat(path, &st) == 0;
}

/* Temporary files are never listed; the first put sweeps the old ones */
static void test_temps(void **state)
{
	dsync_blobstore *bs;
	names ns;
	bool empty;

	(void)state;
	assert_int_equal(open_store(&bs, "temps", true, 0), 0);
	put_str(bs, "devices/A/1", "a");
	dsync_blobstore_free(bs);
	touch_old("temps", ".dsync-store.tmp-0badf00d", 2 * 3600);
	touch_old("temps", "devices/A/.2.tmp-12345678", 2 * 3600);
	touch_old("temps", "devices/A/.3.tmp-87654321", 60);
	touch_old("temps", ".hidden", 2 * 3600);
	assert_int_equal(open_store(&bs, "temps", false, 0), 0);
	list(bs, "", &ns);
	assert_int_equal(ns.n, 1);
	assert_true(has(&ns, "devices/A/1"));
	assert_int_equal(bs->is_empty(bs, &empty), 0);
	assert_false(empty);
	put_str(bs, "packs/p", "p");
	assert_false(exists("temps", ".dsync-store.tmp-0badf00d"));
	assert_false(exists("temps", "devices/A/.2.tmp-12345678"));
	assert_true(exists("temps", "devices/A/.3.tmp-87654321"));
	assert_true(exists("temps", ".hidden"));
	dsync_blobstore_free(bs);

	/* a store holding only leftovers is empty */
	assert_int_equal(open_store(&bs, "temps-only", true, 0), 0);
	touch_old("temps-only", ".x.tmp-00000000", 10);
	assert_int_equal(bs->is_empty(bs, &empty), 0);
	assert_true(empty);
	dsync_blobstore_free(bs);
}

static void kill_server(uint64_t bytes, void *payload)
{
	(void)payload;
	if (bytes > 1024 * 1024 && last_server > 0) {
		kill(last_server, SIGKILL);
		last_server = 0;
	}
}

/* A server that dies mid-transfer is an error, never a crash or a hang;
 * the store keeps failing after it */
static void test_killed(void **state)
{
	dsync_blobstore *bs;
	dsync_blobstore_info info;
	size_t size = 16 * 1024 * 1024;
	int in = random_file("killed.in", size, 5), out = empty_file("killed.out");

	(void)state;
	assert_int_equal(open_store(&bs, "killed", true, 0), 0);
	assert_true(bs->put(bs, "packs/k", in, kill_server, NULL) < 0);
	assert_non_null(strstr(dsync_error_last(), "test-host"));
	assert_true(bs->stat(bs, "packs/k", &info) < 0);
	dsync_blobstore_free(bs);

	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	assert_int_equal(open_store(&bs, "killed", true, 0), 0);
	assert_int_equal(bs->put(bs, "packs/k", in, NULL, NULL), 0);
	dsync_blobstore_free(bs);
	assert_int_equal(open_store(&bs, "killed", true, 0), 0);
	assert_true(bs->get(bs, "packs/k", out, 0, kill_server, NULL) < 0);
	dsync_blobstore_free(bs);
	close(in);
	close(out);
}

/* A server that stops answering: the stall rule ends the wait */
static void test_stall(void **state)
{
	dsync_blobstore *bs;
	dsync_blobstore_info info;
	struct timespec t0, t1;
	pid_t server;
	int error;

	(void)state;
	setenv("DSYNC_TEST_SFTP_STALL", "1", 1);
	assert_int_equal(open_store(&bs, "stall", true, 0), 0);
	unsetenv("DSYNC_TEST_SFTP_STALL");
	server = last_server;
	put_str(bs, "dsync-store", "s");
	assert_int_equal(kill(server, SIGSTOP), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	error = bs->stat(bs, "dsync-store", &info);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(error, DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), "the connection to test-host stalled: nothing received for 1 s");
	assert_true(t1.tv_sec - t0.tv_sec <= 3);
	kill(server, SIGKILL);
	kill(server, SIGCONT);
	dsync_blobstore_free(bs);
}

/* The rate limit paces payload bytes each way */
static void test_rate(void **state)
{
	dsync_blobstore *bs;
	struct timespec t0, t1;
	size_t size = 600 * 1024;
	int in = random_file("rate.in", size, 9), out = empty_file("rate.out");
	double up, down;

	(void)state;
	assert_int_equal(open_store(&bs, "rate", true, 512 * 1024), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(bs->put(bs, "packs/r", in, NULL, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	up = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(bs->get(bs, "packs/r", out, 0, NULL, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	down = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	same_files(in, out);
	/* 600 KiB at 512 KiB/s, less the first request's burst (128 KiB):
	 * about 0.9 s each way */
	assert_true(up > 0.75 && up < 5.0);
	assert_true(down > 0.75 && down < 5.0);
	dsync_blobstore_free(bs);
	close(in);
	close(out);
}

static int open_fake(dsync_blobstore **out, fake_fn fn)
{
	dsync_sftp_url u = { 0 };

	snprintf(u.host, sizeof(u.host), "fake-host");
	snprintf(u.path, sizeof(u.path), "/store");
	snprintf(u.url, sizeof(u.url), "sftp://fake-host/store");
	snprintf(u.label, sizeof(u.label), "fake-host");
	return dsync_blobstore_sftp_open(out, fake_stream(fn), &u, false, 0);
}

static void fake_v4(int fd)
{
	fk_version(fd, 4);
}

static void fake_hangup(int fd)
{
	unsigned type;
	uint32_t id;

	fk_request(fd, &type, &id);
	_exit(0);
}

static void fake_unknown_id(int fd)
{
	unsigned type;
	uint32_t id;

	fk_version(fd, 3);
	fk_request(fd, &type, &id);
	fk_status(fd, id + 100, 0);
}

static void fake_wrong_type(int fd)
{
	unsigned type;
	uint32_t id;

	fk_version(fd, 3);
	fk_request(fd, &type, &id);
	fk_data(fd, id, "x", 1);
}

static void fake_huge(int fd)
{
	unsigned char b[9] = { 0x7f, 0xff, 0xff, 0xff, 101, 0, 0, 0, 1 };

	fk_version(fd, 3);
	if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
		_exit(5);
}

/* get of a 10-byte blob: LSTAT and OPEN, then FSTAT and READ; the data
 * comes in two pieces (a short read), or is cut short, or is too long */
static int fake_mode;

static void fake_get(int fd)
{
	unsigned type;
	uint32_t id, lst, opn;
	unsigned char h[5] = { 0, 0, 0, 1, 'h' };

	fk_open_store(fd);
	fk_request(fd, &type, &lst);
	fk_request(fd, &type, &opn);
	fk_attrs(fd, lst, 10, false);
	fk_reply(fd, 102, opn, h, sizeof(h));
	fk_request(fd, &type, &id);
	if (type != 8)
		_exit(8);
	fk_attrs(fd, id, 10, false);
	fk_request(fd, &type, &id);
	if (type != 5)
		_exit(9);
	if (fake_mode == 2) {
		fk_data(fd, id, "0123456789abcdef", 16);
		return;
	}
	fk_data(fd, id, "0123", 4);
	fk_request(fd, &type, &id);
	if (type != 5)
		_exit(10);
	if (fake_mode == 1)
		fk_status(fd, id, 1);
	else
		fk_data(fd, id, "456789", 6);
}

static void test_hostile(void **state)
{
	dsync_blobstore *bs;
	dsync_buf b = DSYNC_BUF_INIT;

	(void)state;
	assert_int_equal(open_fake(&bs, fake_v4), DSYNC_ERROR);
	assert_string_equal(dsync_error_last(), "the SFTP server at fake-host speaks version 4, not 3");
	/* the stream's own account of why it ended is what the caller gets */
	ended_code = DSYNC_EAUTH;
	assert_int_equal(open_fake(&bs, fake_hangup), DSYNC_EAUTH);
	ended_code = DSYNC_ERROR;
	assert_int_equal(open_fake(&bs, fake_unknown_id), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "which was not asked"));
	assert_int_equal(open_fake(&bs, fake_wrong_type), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "with one of type 103"));
	assert_int_equal(open_fake(&bs, fake_huge), DSYNC_ECORRUPT);

	fake_mode = 0;
	assert_int_equal(open_fake(&bs, fake_get), 0);
	assert_int_equal(dsync_blobstore_get_buf(bs, "packs/x", &b, 100), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.ptr, "0123456789", 10);
	dsync_blobstore_free(bs);
	fake_mode = 1;
	dsync_buf_truncate(&b, 0);
	assert_int_equal(open_fake(&bs, fake_get), 0);
	assert_int_equal(dsync_blobstore_get_buf(bs, "packs/x", &b, 100), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "before its size"));
	dsync_blobstore_free(bs);
	fake_mode = 2;
	assert_int_equal(open_fake(&bs, fake_get), 0);
	assert_int_equal(dsync_blobstore_get_buf(bs, "packs/x", &b, 100), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "for a read of 10"));
	dsync_blobstore_free(bs);
	dsync_buf_dispose(&b);
}

/* The fuzz target's session against the real server: every call does what
 * it should; SFTP_RECORD_SEED=FILE saves the server's bytes as its seed */
static void test_session(void **state)
{
	const char *seed = getenv("SFTP_RECORD_SEED");
	dsync_blobstore *bs;
	char path[600];
	int fd;

	(void)state;
	sandbox_path(path, sizeof(path), "store");
	assert_int_equal(mkdir(path, 0700), 0);
	sandbox_path(path, sizeof(path), "store/packs");
	assert_int_equal(mkdir(path, 0700), 0);
	sandbox_path(path, sizeof(path), "store/devices");
	assert_int_equal(mkdir(path, 0700), 0);
	sandbox_path(path, sizeof(path), "store/devices/A");
	assert_int_equal(mkdir(path, 0700), 0);
	touch_old("store", "dsync-store", 10);
	touch_old("store", "packs/p", 10);
	touch_old("store", "devices/A/0", 10);
	touch_old("store", "devices/A/.9.tmp-00000000", 7200);
	sandbox_path(path, sizeof(path), "store/keys");
	assert_int_equal(symlink("/etc", path), 0);
	sandbox_path(path, sizeof(path), "session.seed");
	record = fopen(seed ? seed : path, "wb");
	assert_non_null(record);
	assert_int_equal(open_store(&bs, "store", false, 0), 0);
	assert_int_equal(sftp_session_run(bs), 8);
	dsync_blobstore_free(bs);
	fclose(record);
	record = NULL;
	assert_false(exists("store", "packs/p"));
	assert_false(exists("store", "devices/A/.9.tmp-00000000"));
	sandbox_path(path, sizeof(path), "store/devices/A/1");
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
}

/* Round trips, counted with the replies handed over in flights (the
 * fewest a pipelined client can take, whatever the timing): start-up 2
 * (INIT, then limits with the store's STAT), a small blob 2 (LSTAT+OPEN,
 * FSTAT+READ), a listing of devices/ with its device folders 4 (OPENDIR,
 * READDIRs, then the same for all device folders at once), whatever the
 * number of devices and blobs */
static void test_round_trips(void **state)
{
	dsync_blobstore *bs;
	dsync_buf b = DSYNC_BUF_INIT;
	char stats[600], line[300], name[64];
	unsigned long long rt;
	names ns;
	FILE *f;
	int i;

	(void)state;
	assert_int_equal(open_store(&bs, "trips", true, 0), 0);
	put_str(bs, "dsync-store", "s");
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "devices/D%d/%d", i % 4, i);
		put_str(bs, name, "m");
	}
	dsync_blobstore_free(bs);
	sandbox_path(stats, sizeof(stats), "trips.stats");
	setenv("DSYNC_TEST_SFTP_STATS", stats, 1);
	use_flights = true;
	assert_int_equal(open_store(&bs, "trips", false, 0), 0);
	assert_int_equal(dsync_blobstore_get_buf(bs, "dsync-store", &b, 100), 0);
	list(bs, "devices/", &ns);
	assert_int_equal(ns.n, 12);
	dsync_blobstore_free(bs);
	use_flights = false;
	unsetenv("DSYNC_TEST_SFTP_STATS");
	f = fopen(stats, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(sscanf(line, "round_trips=%llu", &rt), 1);
	assert_int_equal(rt, 2 + 2 + 4);
	dsync_buf_dispose(&b);
}

/* A listing from a server that names what no folder of ours holds: names
 * with '/' or NUL, '.', '..', temporary names, links; only "ok" and "ok2"
 * are blobs */
static void fake_list(int fd)
{
	static const fk_entry e[] = {
		{ "ok", 2, 0100600 }, { "a/b", 3, 0100600 }, { "x\0y", 3, 0100600 }, { ".", 1, 040700 },
		{ "..", 2, 040700 }, { ".ok.tmp-00000000", 16, 0100600 }, { "link", 4, 0120777 },
		{ "", 0, 0100600 }, { "ok2", 3, 0100644 },
	};
	unsigned type;
	uint32_t id;

	fk_open_store(fd);
	fk_listing(fd, e, DSYNC_ARRAY_SIZE(e));
	/* a READDIR sent before the EOF came meets EOF too; CLOSE is OK */
	for (;;) {
		fk_request(fd, &type, &id);
		fk_status(fd, id, type == 12 ? 1 : 0);
	}
}

static void test_hostile_names(void **state)
{
	dsync_blobstore *bs;
	names ns;

	(void)state;
	assert_int_equal(open_fake(&bs, fake_list), 0);
	list(bs, "", &ns);
	assert_int_equal(ns.n, 2);
	assert_true(has(&ns, "ok") && has(&ns, "ok2"));
	dsync_blobstore_free(bs);
}

/* Without limits@openssh.com, READs and WRITEs carry 32 KiB, as every v3
 * server must take */
static void test_no_limits(void **state)
{
	dsync_blobstore *bs;
	char stats[600], line[300];
	unsigned long long rt, req;
	size_t size = 3 * 1024 * 1024 + 7;
	int in = random_file("nolim.in", size, 11), out = empty_file("nolim.out");
	FILE *f;

	(void)state;
	sandbox_path(stats, sizeof(stats), "nolim.stats");
	setenv("DSYNC_TEST_SFTP_STATS", stats, 1);
	setenv("DSYNC_TEST_SFTP_IGNORE_EXT", "limits@openssh.com", 1);
	assert_int_equal(open_store(&bs, "nolim", true, 0), 0);
	unsetenv("DSYNC_TEST_SFTP_IGNORE_EXT");
	assert_int_equal(bs->put(bs, "packs/n", in, NULL, NULL), 0);
	assert_int_equal(bs->get(bs, "packs/n", out, 0, NULL, NULL), 0);
	same_files(in, out);
	dsync_blobstore_free(bs);
	unsetenv("DSYNC_TEST_SFTP_STATS");
	f = fopen(stats, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(sscanf(line, "round_trips=%llu requests=%llu", &rt, &req), 2);
	assert_non_null(strstr(line, "ext=posix-rename,fsync\n"));
	/* 97 WRITEs and 97 READs of 32 KiB, 64 at a time */
	assert_true(req >= 2 * 97);
	/* (the least is ~8; real timing splits flights) */
	assert_true(rt < req / 2);
	close(in);
	close(out);
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


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_list_callbacks),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_replace_window),
		cmocka_unit_test(test_big),
		cmocka_unit_test(test_no_deadlock),
		cmocka_unit_test(test_no_limits),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_not_blobs),
		cmocka_unit_test(test_temps),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_hostile_names),
	};

	return SFTP_SERVER_RUN_TESTS(tests, setup);
}
