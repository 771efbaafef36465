/*
 * A mirror's plain folder over SFTP (transport/sftp_folder.h) against the
 * real OpenSSH sftp-server over a socketpair (sftp_server.h): the listing of
 * a nested tree with links, a FIFO and an unreadable folder, what a listing
 * costs, reads, exclusive writes with their time, renames with and without
 * replacing, remove/rmdir/mkdir, a batch of lstats, paths that would leave
 * the folder, a file larger than the client's window, and the opener's
 * refusal of a location that is not ssh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "sandbox.h"
#include "transport/sftp_client.h"
#include "transport/sftp_folder.h"
#include "transport/transport.h"

#include "sftp_server.h"
#include "../fuzz/sftp_folder_session.h"

#define NOBODY 65534

/* The sandbox path of the folder-relative NAME in the test folder DIR */
static void local(char *out, size_t size, const char *dir, const char *name)
{
	char rel[600];

	snprintf(rel, sizeof(rel), "%s%s%s", dir, *name ? "/" : "", name);
	sandbox_path(out, size, rel);
}

static void make_dir(const char *dir, const char *name)
{
	char p[1024];

	local(p, sizeof(p), dir, name);
	assert_int_equal(mkdir(p, 0777), 0);
	assert_int_equal(chmod(p, 0777), 0); /* the server may run as nobody */
}

static void make_file(const char *dir, const char *name, const char *text, time_t mtime)
{
	struct timeval tv[2] = { { mtime, 0 }, { mtime, 0 } };
	char p[1024];
	FILE *f;

	local(p, sizeof(p), dir, name);
	assert_non_null(f = fopen(p, "wb"));
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, 0666), 0);
	if (mtime)
		assert_int_equal(utimes(p, tv), 0);
}

static void expect_file(const char *dir, const char *name, const char *text)
{
	char p[1024], got[256];
	FILE *f;
	size_t n;

	local(p, sizeof(p), dir, name);
	assert_non_null(f = fopen(p, "rb"));
	n = fread(got, 1, sizeof(got), f);
	fclose(f);
	assert_int_equal(n, strlen(text));
	assert_memory_equal(got, text, n);
}

static bool is_there(const char *dir, const char *name)
{
	char p[1024];
	struct stat st;

	local(p, sizeof(p), dir, name);
	return lstat(p, &st) == 0;
}

static int open_folder(dsync_sftp_folder **out, const char *name, bool create)
{
	dsync_sftp_url u = { 0 };

	snprintf(u.host, sizeof(u.host), "test-host");
	snprintf(u.path, sizeof(u.path), "%s", name);
	snprintf(u.url, sizeof(u.url), "sftp://test-host/~/%s", name);
	snprintf(u.label, sizeof(u.label), "test-host");
	return dsync_sftp_folder_open(out, server_stream(), &u, create, 0);
}

/* A temporary local file holding LEN bytes of TEXT (or random bytes) */
static int temp_fd(const void *text, size_t len)
{
	char p[1024];
	int fd;

	sandbox_path(p, sizeof(p), "tmp-XXXXXX");
	assert_true((fd = mkstemp(p)) >= 0);
	unlink(p);
	if (text) {
		assert_int_equal(write(fd, text, len), (ssize_t)len);
	} else {
		unsigned char block[65536];

		for (size_t done = 0; done < len; done += sizeof(block)) {
			size_t n = len - done < sizeof(block) ? len - done : sizeof(block);

			randombytes_buf(block, n);
			assert_int_equal(write(fd, block, n), (ssize_t)n);
		}
	}
	return fd;
}

static const dsync_rfile *find(const dsync_rfile_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	return NULL;
}

static void test_open(void **state)
{
	dsync_sftp_folder *pf;

	(void)state;
	assert_int_equal(open_folder(&pf, "open-none", false), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "no folder at sftp://test-host/~/open-none"));
	assert_int_equal(open_folder(&pf, "open-new/a/b", true), 0);
	assert_string_equal(dsync_sftp_folder_url(pf), "sftp://test-host/~/open-new/a/b");
	dsync_sftp_folder_free(pf);
	assert_true(is_there("open-new", "a/b"));
	make_file("open-file", "", "x", 0);
	assert_int_equal(open_folder(&pf, "open-file", false), DSYNC_ENOTDIR);

	/* a mirror is an ssh location, nothing else */
	assert_int_equal(dsync_transport_open_folder(&pf, "/tmp/x", false, NULL), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "a mirror needs an ssh location"));
	assert_null(pf);
	assert_int_equal(dsync_transport_open_folder(&pf, "file:///tmp/x", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_transport_open_folder(&pf, "https://relay.example/x", false, NULL), DSYNC_EUSAGE);
}

/* The tree of the listing tests: files at several depths, an empty folder,
 * a link to a file and one to a folder (never followed), a FIFO, and a
 * folder the server may not read */
static void make_tree(const char *dir)
{
	char p[1024], q[1024];

	make_dir(dir, "");
	make_dir(dir, "DCIM");
	make_dir(dir, "DCIM/Camera");
	make_dir(dir, "DCIM/Camera/deep");
	make_dir(dir, "empty");
	make_dir(dir, "locked");
	make_file(dir, "top.txt", "top", 1600000000);
	make_file(dir, "DCIM/Camera/IMG_1.jpg", "image one", 1600000100);
	make_file(dir, "DCIM/Camera/deep/x", "deep", 1600000200);
	make_file(dir, "DCIM/a.b", "dot", 0);
	make_file(dir, "locked/secret", "secret", 0);
	local(p, sizeof(p), dir, "link");
	assert_int_equal(symlink("top.txt", p), 0);
	local(p, sizeof(p), dir, "DCIM/dirlink");
	local(q, sizeof(q), dir, "DCIM/Camera");
	assert_int_equal(symlink(q, p), 0);
	local(p, sizeof(p), dir, "fifo");
	assert_int_equal(mkfifo(p, 0666), 0);
	local(p, sizeof(p), dir, "locked");
	assert_int_equal(chmod(p, 0), 0);
}

static void test_list(void **state)
{
	static const char *const order[] = {
		"DCIM", "DCIM/Camera", "DCIM/Camera/IMG_1.jpg", "DCIM/Camera/deep", "DCIM/Camera/deep/x",
		"DCIM/a.b", "DCIM/dirlink", "empty", "fifo", "link", "locked", "top.txt",
	};
	dsync_rfile_list l = { 0 }, bad = { 0 };
	const dsync_sftp_folder_counts *n;
	dsync_sftp_folder *pf;
	const dsync_rfile *e;
	uint64_t opendirs, readdirs;
	bool missing = true;
	char p[1024];

	(void)state;
	make_tree("list");
	assert_int_equal(open_folder(&pf, "list", false), 0);
	assert_int_equal(dsync_sftp_folder_list(pf, &l, &bad, &missing), 0);
	assert_false(missing);
	assert_int_equal(l.n, DSYNC_ARRAY_SIZE(order));
	for (size_t i = 0; i < l.n; i++)
		assert_string_equal(l.v[i].path, order[i]);
	assert_non_null(e = find(&l, "DCIM/Camera/IMG_1.jpg"));
	assert_int_equal(e->kind, DSYNC_RFILE_FILE);
	assert_int_equal(e->size, 9);
	assert_int_equal(e->mtime, 1600000100);
	assert_int_equal(e->perms, 0666);
	assert_int_equal(find(&l, "DCIM/Camera")->kind, DSYNC_RFILE_DIR);
	assert_int_equal(find(&l, "link")->kind, DSYNC_RFILE_LINK);
	assert_int_equal(find(&l, "DCIM/dirlink")->kind, DSYNC_RFILE_LINK);
	assert_int_equal(find(&l, "fifo")->kind, DSYNC_RFILE_OTHER);
	/* the folder it may not read is listed, empty, and named */
	assert_int_equal(find(&l, "locked")->kind, DSYNC_RFILE_DIR);
	assert_null(find(&l, "locked/secret"));
	assert_int_equal(bad.n, 1);
	assert_string_equal(bad.v[0].path, "locked");

	/* what it cost: one OPENDIR per folder (the top, DCIM, Camera, deep,
	 * empty, locked), no file opened; a second listing costs the same */
	n = dsync_sftp_folder_get_counts(pf);
	assert_int_equal(n->opendirs, 6);
	assert_int_equal(n->opens_read, 0);
	assert_int_equal(n->bad_names, 0);
	opendirs = n->opendirs;
	readdirs = n->readdirs;
	/* two each: the names, then the end */
	assert_int_equal(readdirs, 10);
	assert_int_equal(dsync_sftp_folder_list(pf, &l, &bad, &missing), 0);
	assert_int_equal(l.n, DSYNC_ARRAY_SIZE(order));
	assert_int_equal(n->opendirs - opendirs, 6);
	assert_int_equal(n->readdirs - readdirs, readdirs);
	assert_int_equal(n->opens_read, 0);
	assert_int_equal(n->opens_write + n->renames + n->removes + n->mkdirs + n->rmdirs, 0);

	/* the folder itself gone: not an error, nothing listed */
	local(p, sizeof(p), "list", "locked");
	assert_int_equal(chmod(p, 0777), 0);
	sandbox_path(p, sizeof(p), "list");
	sandbox_rm_rf(p);
	assert_int_equal(dsync_sftp_folder_list(pf, &l, NULL, &missing), 0);
	assert_true(missing);
	assert_int_equal(l.n, 0);
	dsync_rfile_list_dispose(&l);
	dsync_rfile_list_dispose(&bad);
	dsync_sftp_folder_free(pf);
}

/* More folders in a level than are opened at once, and a folder of more
 * names than one READDIR answer holds (OpenSSH: 100) */
static void test_wide(void **state)
{
	const dsync_sftp_folder_counts *n;
	dsync_rfile_list l = { 0 };
	dsync_sftp_folder *pf;
	char name[64];
	bool missing;
	int i;

	(void)state;
	make_dir("wide", "");
	make_dir("wide", "many");
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "d%03d", i);
		make_dir("wide", name);
		snprintf(name, sizeof(name), "d%03d/f", i);
		make_file("wide", name, "f", 0);
	}
	for (i = 0; i < 250; i++) {
		snprintf(name, sizeof(name), "many/f%03d", i);
		make_file("wide", name, "m", 0);
	}
	assert_int_equal(open_folder(&pf, "wide", false), 0);
	assert_int_equal(dsync_sftp_folder_list(pf, &l, NULL, &missing), 0);
	assert_int_equal(l.n, 300 * 2 + 1 + 250);
	assert_string_equal(l.v[0].path, "d000");
	assert_string_equal(l.v[1].path, "d000/f");
	assert_string_equal(l.v[l.n - 1].path, "many/f249");
	n = dsync_sftp_folder_get_counts(pf);
	assert_int_equal(n->opendirs, 302);
	/* two for each small folder; "many" (252 names with . and ..): 100
	 * and 100, 52 and the end; the top (303): 100 and 100, 100 and 3,
	 * the end and the end */
	assert_int_equal(n->readdirs, 2 * 300 + 4 + 6);
	dsync_rfile_list_dispose(&l);
	dsync_sftp_folder_free(pf);
}

static void test_read(void **state)
{
	dsync_sftp_folder *pf;
	dsync_rfile st;
	char got[64];
	char p[1024];
	int fd;

	(void)state;
	make_dir("read", "");
	make_dir("read", "sub");
	make_file("read", "sub/a.txt", "hello phone", 1700000000);
	local(p, sizeof(p), "read", "link");
	assert_int_equal(symlink("sub/a.txt", p), 0);
	assert_int_equal(open_folder(&pf, "read", false), 0);
	fd = temp_fd("", 0);
	assert_int_equal(dsync_sftp_folder_read(pf, "sub/a.txt", fd, 0, &st), 0);
	assert_int_equal(st.kind, DSYNC_RFILE_FILE);
	assert_int_equal(st.size, 11);
	assert_int_equal(st.mtime, 1700000000);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 11);
	assert_memory_equal(got, "hello phone", 11);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->opens_read, 1);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->bytes_read, 11);
	close(fd);

	/* a limit below its size */
	fd = temp_fd("", 0);
	assert_int_equal(dsync_sftp_folder_read(pf, "sub/a.txt", fd, 5, &st), DSYNC_ERROR);
	assert_non_null(strstr(dsync_error_last(), "grew past 5 bytes"));
	assert_int_equal(st.size, 11);
	assert_non_null(strstr(dsync_error_last(), "'sub/a.txt' on test-host"));
	close(fd);

	/* not a plain file, or not there */
	fd = temp_fd("", 0);
	assert_int_equal(dsync_sftp_folder_read(pf, "link", fd, 0, &st), DSYNC_EUSAGE);
	assert_int_equal(dsync_sftp_folder_read(pf, "sub", fd, 0, &st), DSYNC_EUSAGE);
	assert_int_equal(dsync_sftp_folder_read(pf, "nothing", fd, 0, &st), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "no file 'nothing' on test-host"));
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	close(fd);
	dsync_sftp_folder_free(pf);
}

static void test_write_new(void **state)
{
	dsync_sftp_folder *pf;
	struct stat st;
	char p[1024];
	int fd;

	(void)state;
	make_dir("write", "");
	make_dir("write", "d");
	make_file("write", "d/old", "old", 0);
	assert_int_equal(open_folder(&pf, "write", false), 0);
	fd = temp_fd("new text", 8);
	assert_int_equal(dsync_sftp_folder_write_new(pf, "d/new", fd, 0640, 1500000000), 0);
	expect_file("write", "d/new", "new text");
	local(p, sizeof(p), "write", "d/new");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtime, 1500000000);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->bytes_written, 8);

	/* exclusive: an existing name stays as it was */
	assert_int_equal(dsync_sftp_folder_write_new(pf, "d/old", fd, 0644, 0), DSYNC_EEXISTS);
	assert_non_null(strstr(dsync_error_last(), "'d/old' on test-host"));
	expect_file("write", "d/old", "old");
	/* no folder to write into */
	assert_int_equal(dsync_sftp_folder_write_new(pf, "none/x", fd, 0644, 0), DSYNC_ENOTFOUND);
	assert_false(is_there("write", "none"));
	close(fd);

	/* without a time: the server's clock decides */
	fd = temp_fd("", 0);
	assert_int_equal(dsync_sftp_folder_write_new(pf, "empty", fd, 0644, 0), 0);
	local(p, sizeof(p), "write", "empty");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_true(st.st_mtime > 1600000000);
	close(fd);
	dsync_sftp_folder_free(pf);
}

static void test_rename(void **state)
{
	dsync_sftp_folder *pf;

	(void)state;
	make_dir("rename", "");
	make_file("rename", "a", "A", 0);
	make_file("rename", "b", "B", 0);
	make_file("rename", "c", "C", 0);
	assert_int_equal(open_folder(&pf, "rename", false), 0);
	assert_true(dsync_sftp_folder_can_replace(pf));
	assert_int_equal(dsync_sftp_folder_rename(pf, "a", "b", false), DSYNC_EEXISTS);
	expect_file("rename", "a", "A");
	expect_file("rename", "b", "B");
	assert_int_equal(dsync_sftp_folder_rename(pf, "a", "b", true), 0);
	assert_false(is_there("rename", "a"));
	expect_file("rename", "b", "A");
	assert_int_equal(dsync_sftp_folder_rename(pf, "c", "d", false), 0);
	expect_file("rename", "d", "C");
	assert_int_equal(dsync_sftp_folder_rename(pf, "gone", "e", false), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->renames, 4);
	dsync_sftp_folder_free(pf);
}

static void test_remove_dirs(void **state)
{
	dsync_sftp_folder *pf;

	(void)state;
	make_dir("rm", "");
	make_file("rm", "f", "F", 0);
	assert_int_equal(open_folder(&pf, "rm", false), 0);
	assert_int_equal(dsync_sftp_folder_mkdir(pf, "new"), 0);
	assert_true(is_there("rm", "new"));
	assert_int_equal(dsync_sftp_folder_mkdir(pf, "new"), DSYNC_EEXISTS);
	assert_int_equal(dsync_sftp_folder_mkdir(pf, "f"), DSYNC_EEXISTS);
	assert_int_equal(dsync_sftp_folder_mkdir(pf, "no/such"), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_sftp_folder_mkdir(pf, "new/inner"), 0);
	assert_int_equal(dsync_sftp_folder_rmdir(pf, "new"), DSYNC_ERROR);
	assert_non_null(strstr(dsync_error_last(), "cannot remove the folder 'new' on test-host"));
	assert_int_equal(dsync_sftp_folder_rmdir(pf, "new/inner"), 0);
	assert_int_equal(dsync_sftp_folder_rmdir(pf, "new"), 0);
	assert_false(is_there("rm", "new"));
	assert_int_equal(dsync_sftp_folder_rmdir(pf, "new"), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_sftp_folder_remove(pf, "f"), 0);
	assert_false(is_there("rm", "f"));
	assert_int_equal(dsync_sftp_folder_remove(pf, "f"), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "'f' on test-host"));
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->mkdirs, 5);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->rmdirs, 4);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->removes, 2);
	dsync_sftp_folder_free(pf);
}

static void test_lstat(void **state)
{
	const char *const paths[] = { "a", "missing", "d", "d/missing" };
	dsync_rfile out[4];
	dsync_sftp_folder *pf;

	(void)state;
	make_dir("lstat", "");
	make_dir("lstat", "d");
	make_file("lstat", "a", "four", 1400000000);
	assert_int_equal(open_folder(&pf, "lstat", false), 0);
	uint64_t before = dsync_sftp_folder_get_counts(pf)->stats;
	assert_int_equal(dsync_sftp_folder_lstat(pf, paths, 4, out), 0);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->stats - before, 4);
	assert_int_equal(out[0].kind, DSYNC_RFILE_FILE);
	assert_int_equal(out[0].size, 4);
	assert_int_equal(out[0].mtime, 1400000000);
	assert_null(out[0].path);
	assert_int_equal(out[1].kind, DSYNC_RFILE_NONE);
	assert_int_equal(out[2].kind, DSYNC_RFILE_DIR);
	assert_int_equal(out[3].kind, DSYNC_RFILE_NONE);
	assert_int_equal(dsync_sftp_folder_lstat(pf, paths, 0, out), 0);
	dsync_sftp_folder_free(pf);
}

/* Paths from a buggy caller never leave the folder */
static void test_paths(void **state)
{
	static const char *const bad[] = { "", "/etc/passwd", "..", "../x", "a/../../x", "./a", "a/.", "a//b", "a/",
					   "/" };
	const char *one_path[1];
	dsync_sftp_folder *pf;
	dsync_rfile st;
	int fd;

	(void)state;
	make_dir("paths", "");
	make_file("paths", "ok", "ok", 0);
	assert_int_equal(open_folder(&pf, "paths", false), 0);
	fd = temp_fd("x", 1);
	for (size_t i = 0; i < DSYNC_ARRAY_SIZE(bad); i++) {
		one_path[0] = bad[i];
		assert_int_equal(dsync_sftp_folder_read(pf, bad[i], fd, 0, &st), DSYNC_EUSAGE);
		assert_int_equal(dsync_sftp_folder_write_new(pf, bad[i], fd, 0644, 0), DSYNC_EUSAGE);
		assert_int_equal(dsync_sftp_folder_rename(pf, "ok", bad[i], false), DSYNC_EUSAGE);
		assert_int_equal(dsync_sftp_folder_rename(pf, bad[i], "ok2", true), DSYNC_EUSAGE);
		assert_int_equal(dsync_sftp_folder_remove(pf, bad[i]), DSYNC_EUSAGE);
		assert_int_equal(dsync_sftp_folder_mkdir(pf, bad[i]), DSYNC_EUSAGE);
		assert_int_equal(dsync_sftp_folder_rmdir(pf, bad[i]), DSYNC_EUSAGE);
		assert_int_equal(dsync_sftp_folder_lstat(pf, one_path, 1, &st), DSYNC_EUSAGE);
	}
	assert_non_null(strstr(dsync_error_last(), "not a path inside the folder"));
	/* nothing reached the server */
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->opens_read + dsync_sftp_folder_get_counts(pf)->opens_write +
				 dsync_sftp_folder_get_counts(pf)->renames + dsync_sftp_folder_get_counts(pf)->removes,
			 0);
	expect_file("paths", "ok", "ok");
	close(fd);
	dsync_sftp_folder_free(pf);
}

/* A listing from a server that names what no folder holds: names with '/'
 * or NUL, "", '.', '..', one over 1024 bytes, a name twice; and a folder
 * that is gone when it is opened */
static void fake_list(int fd)
{
	static char long_name[1100];
	static const fk_entry e[] = {
		{ "ok", 2, 0100600 }, { "a/b", 3, 0100600 }, { "x\0y", 3, 0100600 }, { ".", 1, 040700 },
		{ "..", 2, 040700 }, { "", 0, 0100600 }, { long_name, sizeof(long_name), 0100600 },
		{ "ok", 2, 0100644 }, { "gone", 4, 040755 }, { "fifo", 4, 010644 },
	};
	unsigned type;
	uint32_t id;

	memset(long_name, 'n', sizeof(long_name));
	fk_open_store(fd);
	fk_listing(fd, e, DSYNC_ARRAY_SIZE(e));
	/* "gone" is gone (OPENDIR: no such file); READDIRs meet EOF; CLOSE is OK */
	for (;;) {
		fk_request(fd, &type, &id);
		fk_status(fd, id, type == 11 ? 2 : type == 12 ? 1 : 0);
	}
}

static void test_hostile_names(void **state)
{
	dsync_sftp_url u = { .host = "fake-host", .path = "phone", .url = "sftp://fake-host/~/phone",
			     .label = "fake-host" };
	dsync_rfile_list l = { 0 };
	dsync_sftp_folder *pf;
	bool missing;

	(void)state;
	assert_int_equal(dsync_sftp_folder_open(&pf, fake_stream(fake_list), &u, false, 0), 0);
	assert_int_equal(dsync_sftp_folder_list(pf, &l, NULL, &missing), 0);
	assert_false(missing);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].path, "fifo");
	assert_int_equal(l.v[0].kind, DSYNC_RFILE_OTHER);
	assert_string_equal(l.v[1].path, "gone");
	assert_int_equal(l.v[1].kind, DSYNC_RFILE_DIR);
	assert_string_equal(l.v[2].path, "ok");
	assert_int_equal(l.v[2].size, 42);
	assert_int_equal(l.v[2].mtime, 1600000001);
	/* "a/b", "x\0y", "", the long one, the second "ok" */
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->bad_names, 5);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->opendirs, 2);
	dsync_rfile_list_dispose(&l);
	dsync_sftp_folder_free(pf);
}

/* A file that shrinks while it is read (a phone's app rewrote it): LSTAT
 * and the first FSTAT say 10 bytes, the READ gives 4 and then the end,
 * the FSTAT after says 4 */
static void fake_shrink(int fd)
{
	static const unsigned char h[5] = { 0, 0, 0, 1, 'h' };
	unsigned type, fstats = 0, reads = 0;
	uint32_t id;

	fk_open_store(fd);
	for (;;) {
		fk_request(fd, &type, &id);
		if (type == 7)
			fk_attrs(fd, id, 10, false);
		else if (type == 3)
			fk_reply(fd, 102, id, h, sizeof(h));
		else if (type == 8)
			fk_attrs(fd, id, fstats++ ? 4 : 10, false);
		else if (type == 5 && reads++ == 0)
			fk_data(fd, id, "abcd", 4);
		else
			fk_status(fd, id, type == 5 ? 1 : 0);
	}
}

static void test_shrink(void **state)
{
	dsync_sftp_url u = { .host = "fake-host", .path = "phone", .url = "sftp://fake-host/~/phone",
			     .label = "fake-host" };
	dsync_sftp_folder *pf;
	dsync_rfile st;
	char got[16];
	int fd;

	(void)state;
	assert_int_equal(dsync_sftp_folder_open(&pf, fake_stream(fake_shrink), &u, false, 0), 0);
	fd = temp_fd("", 0);
	assert_int_equal(dsync_sftp_folder_read(pf, "f", fd, 0, &st), 0);
	assert_int_equal(st.size, 4);
	assert_int_equal(lseek(fd, 0, SEEK_END), 4);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 4);
	assert_memory_equal(got, "abcd", 4);
	close(fd);
	dsync_sftp_folder_free(pf);
}

/* More than the client keeps in flight, both ways, byte for byte */
static void test_big(void **state)
{
	size_t len = DSYNC_SFTP_CLIENT_MAX_INFLIGHT + 3 * 1000 * 1000 + 7;
	unsigned char *a = malloc(len), *b = malloc(len);
	dsync_sftp_folder *pf;
	dsync_rfile st;
	int fd, back;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	make_dir("big", "");
	assert_int_equal(open_folder(&pf, "big", false), 0);
	fd = temp_fd(NULL, len);
	assert_int_equal(pread(fd, a, len, 0), (ssize_t)len);
	assert_int_equal(dsync_sftp_folder_write_new(pf, "big.bin", fd, 0644, 1234567890), 0);
	back = temp_fd("", 0);
	assert_int_equal(dsync_sftp_folder_read(pf, "big.bin", back, len, &st), 0);
	assert_int_equal(st.size, len);
	assert_int_equal(st.mtime, 1234567890);
	assert_int_equal(pread(back, b, len, 0), (ssize_t)len);
	assert_memory_equal(a, b, len);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->bytes_read, len);
	assert_int_equal(dsync_sftp_folder_get_counts(pf)->bytes_written, len);
	close(fd);
	close(back);
	free(a);
	free(b);
	dsync_sftp_folder_free(pf);
}

/* Every call once, the server's answers recorded: the fuzz target's seed
 * (SFTP_RECORD_SEED=tests/fuzz/corpus/sftp_folder/real-server writes it) */
static void test_session(void **state)
{
	const char *seed = getenv("SFTP_RECORD_SEED");
	dsync_sftp_folder *pf;
	char path[600];

	(void)state;
	make_dir("phone", "");
	make_dir("phone", "sub");
	make_file("phone", "a", "abc", 1600000000);
	make_file("phone", "sub/b", "b", 1600000000);
	sandbox_path(path, sizeof(path), "folder.seed");
	record = fopen(seed ? seed : path, "wb");
	assert_non_null(record);
	assert_int_equal(open_folder(&pf, "phone", false), 0);
	assert_int_equal(sftp_folder_session_run(pf), 10);
	dsync_sftp_folder_free(pf);
	fclose(record);
	record = NULL;
	expect_file("phone", "a", "abc");
	assert_false(is_there("phone", "m"));
	assert_false(is_there("phone", "d"));
	assert_false(is_there("phone", "sub/b"));
}

static int setup(void **state)
{
	char p[1024];

	(void)state;
	sandbox_open("sftp-folder", SANDBOX_LIB);
	/* as root, the server runs as nobody so that a folder's mode holds */
	if (geteuid() == 0) {
		server_uid = NOBODY;
		sandbox_path(p, sizeof(p), "");
		if (chmod(p, 0777) < 0)
			return -1;
	}
	return sodium_init() < 0 ? -1 : 0;
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_wide),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_write_new),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_remove_dirs),
		cmocka_unit_test(test_lstat),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_big),
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_shrink),
	};

	return SFTP_SERVER_RUN_TESTS(tests, setup);
}
