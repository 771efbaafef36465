/*
 * One-pass indexing of fetched packs (core/base/packidx.h): a pack of whole
 * objects gets the same .idx byte for byte as libgit2's indexer makes, its
 * objects read back and git accepts it; a pack with a delta, one damaged
 * inside an object, and one whose trailer is wrong are left to libgit2's
 * indexer (1), with nothing left in the pack folder.  With staging on, each
 * blob is also left whole under its id for a join's checkout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define SANDBOX_WITH_REPO
#include "sandbox.h"
#include "core/base/packidx.h"
#include "core/base/packw.h"

#define NOBJ 40

static git_oid ids[NOBJ];
static size_t lens[NOBJ];

/* Object I's bytes: noise (stored) or text (deflated), some large. */
static unsigned char *object(size_t i, size_t *len)
{
	unsigned char seed[randombytes_SEEDBYTES] = { (unsigned char)i, 7 };
	size_t n = i % 5 == 0 ? 300000 + i : 100 + i * 37, k;
	unsigned char *p = malloc(n);

	assert_non_null(p);
	if (i % 2)
		randombytes_buf_deterministic(p, n, seed);
	else
		for (k = 0; k < n; k++)
			p[k] = "folder sync of the documents\n"[(k + i) % 29];
	*len = n;
	return p;
}

/* The path of the one pack in GITDIR. */
static void the_pack(char *out, size_t size, const char *gitdir)
{
	char dir[300];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/objects/pack", gitdir);
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "pack-", 5) == 0 && strstr(e->d_name, ".pack")) {
			snprintf(out, size, "%s/%s", dir, e->d_name);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
}

/* The number of entries in DIR. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* A fresh file at PATH holding DATA (LEN bytes), open for reading. */
static int put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

/* A fresh empty pack folder NAME/objects/pack in the sandbox (its path in
 * OUT) and the bare repository around it. */
static void fresh_repo(char *gitdir, size_t gsize, char *packdir, size_t psize, const char *name)
{
	git_repository *r;

	sandbox_path(gitdir, gsize, name);
	assert_int_equal(git_repository_init(&r, gitdir, 1), 0);
	git_repository_free(r);
	snprintf(packdir, psize, "%s/objects/pack", gitdir);
}

static int setup(void **state)
{
	char gitdir[300];
	git_odb *odb;
	dsync_packw *w;
	size_t i;

	sandbox_repo_setup(state);
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(dsync_packw_open(&w, odb, gitdir, NOBJ), 0);
	for (i = 0; i < NOBJ; i++) {
		unsigned char *p = object(i, &lens[i]);

		assert_int_equal(dsync_packw_put(w, &ids[i], GIT_OBJECT_BLOB, p, lens[i]), 0);
		free(p);
	}
	assert_int_equal(dsync_packw_commit(w), 0);
	dsync_packw_free(w);
	git_odb_free(odb);
	return 0;
}

static void test_same_idx_as_git(void **state)
{
	char src[700], gitdir[300], packdir[400], copy[500], gdir[300], gpack[400], cmd[1600], ours[600], theirs[600];
	unsigned char *pack, *a, *b;
	size_t len, alen, blen, n, i;
	dsync_buf idx = DSYNC_BUF_INIT;
	git_indexer *ix;
	git_indexer_progress st;
	git_repository *r;
	git_odb *odb;
	int fd;

	(void)state;
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	the_pack(src, sizeof(src), gitdir);
	pack = slurp(src, &len);
	fresh_repo(gitdir, sizeof(gitdir), packdir, sizeof(packdir), "ours.git");
	snprintf(copy, sizeof(copy), "%s/dsync-tmp-plain", gitdir);
	fd = put_file(copy, pack, len);
	assert_int_equal(dsync_packidx_index(fd, copy, packdir, &n, &idx), 0);
	assert_int_equal(n, NOBJ);
	close(fd);
	/* the caller's file goes; the pack stays (a link) */
	assert_int_equal(unlink(copy), 0);
	assert_int_equal(entries(packdir), 2);
	snprintf(ours, sizeof(ours), "%s", idx.ptr);

	/* libgit2's indexer on the same bytes */
	fresh_repo(gdir, sizeof(gdir), gpack, sizeof(gpack), "theirs.git");
	assert_int_equal(git_indexer_new(&ix, gpack, 0, NULL, NULL), 0);
	assert_int_equal(git_indexer_append(ix, pack, len, &st), 0);
	assert_int_equal(git_indexer_commit(ix, &st), 0);
	snprintf(theirs, sizeof(theirs), "%s/pack-%s.idx", gpack, git_indexer_name(ix));
	git_indexer_free(ix);
	assert_string_equal(strrchr(ours, '/'), strrchr(theirs, '/'));
	a = slurp(ours, &alen);
	b = slurp(theirs, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);

	/* every object reads back, and git accepts the pack */
	assert_int_equal(git_repository_open_bare(&r, gitdir), 0);
	assert_int_equal(git_repository_odb(&odb, r), 0);
	for (i = 0; i < NOBJ; i++) {
		git_odb_object *o;
		size_t l;
		unsigned char *want = object(i, &l);

		assert_int_equal(git_odb_read(&o, odb, &ids[i]), 0);
		assert_int_equal(git_odb_object_size(o), l);
		assert_memory_equal(git_odb_object_data(o), want, l);
		git_odb_object_free(o);
		free(want);
	}
	git_odb_free(odb);
	git_repository_free(r);
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' fsck --full --no-dangling >/dev/null 2>&1 && "
		 "git verify-pack '%s' >/dev/null 2>&1", gitdir, ours);
	assert_int_equal(system(cmd), 0);
	free(a);
	free(b);
	free(pack);
	dsync_buf_dispose(&idx);
}

/* With staging on, every blob indexed is also in the staging folder, named
 * by its id and holding its bytes; with it off, nothing more is written. */
static void test_stages_blobs(void **state)
{
	char src[700], gitdir[300], packdir[400], copy[500], stage[300], path[400], hex[GIT_OID_HEXSZ + 1], sub[400];
	unsigned char *pack;
	size_t len, n, i;
	int fd;

	(void)state;
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	the_pack(src, sizeof(src), gitdir);
	pack = slurp(src, &len);
	sandbox_path(stage, sizeof(stage), "stage");
	assert_int_equal(mkdir(stage, 0700), 0);

	fresh_repo(gitdir, sizeof(gitdir), packdir, sizeof(packdir), "staged.git");
	snprintf(copy, sizeof(copy), "%s/dsync-tmp-plain", gitdir);
	fd = put_file(copy, pack, len);
	dsync_packidx_stage(stage);
	assert_string_equal(dsync_packidx_stage_dir(), stage);
	assert_int_equal(dsync_packidx_index(fd, copy, packdir, &n, NULL), 0);
	dsync_packidx_stage(NULL);
	close(fd);
	assert_int_equal(n, NOBJ);
	for (i = 0; i < NOBJ; i++) {
		size_t l, got;
		unsigned char *want = object(i, &l), *have;

		/* in fan-out folders as git's loose objects */
		git_oid_tostr(hex, sizeof(hex), &ids[i]);
		snprintf(path, sizeof(path), "%s/%.2s/%s", stage, hex, hex + 2);
		have = slurp(path, &got);
		assert_int_equal(got, l);
		assert_memory_equal(have, want, l);
		assert_int_equal(unlink(path), 0);
		free(have);
		free(want);
	}
	for (i = 0; i < NOBJ; i++) {
		git_oid_tostr(hex, sizeof(hex), &ids[i]);
		snprintf(sub, sizeof(sub), "%s/%.2s", stage, hex);
		rmdir(sub);
	}

	/* off: the next pack stages nothing */
	assert_null(dsync_packidx_stage_dir());
	fresh_repo(gitdir, sizeof(gitdir), packdir, sizeof(packdir), "unstaged.git");
	snprintf(copy, sizeof(copy), "%s/dsync-tmp-plain", gitdir);
	fd = put_file(copy, pack, len);
	assert_int_equal(dsync_packidx_index(fd, copy, packdir, &n, NULL), 0);
	close(fd);
	assert_int_equal(entries(stage), 0);
	free(pack);
}

/* Indexing DATA (LEN bytes) into a fresh repository NAME steps aside and
 * leaves its pack folder empty. */
static void steps_aside(const char *name, const void *data, size_t len)
{
	char gitdir[300], packdir[400], copy[500];
	size_t n = 99;
	int fd;

	fresh_repo(gitdir, sizeof(gitdir), packdir, sizeof(packdir), name);
	snprintf(copy, sizeof(copy), "%s/dsync-tmp-plain", gitdir);
	fd = put_file(copy, data, len);
	assert_int_equal(dsync_packidx_index(fd, copy, packdir, &n, NULL), 1);
	assert_int_equal(n, 0);
	assert_int_equal(entries(packdir), 0);
	close(fd);
}

static void test_steps_aside(void **state)
{
	char src[700], gitdir[300];
	unsigned char *pack, *bad;
	size_t len, dlen = 200000, i;
	git_packbuilder *pb;
	git_buf out = { 0 };
	git_oid a, b;
	unsigned char *p = malloc(dlen);

	(void)state;
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	the_pack(src, sizeof(src), gitdir);
	pack = slurp(src, &len);
	bad = malloc(len);
	assert_non_null(bad);

	/* a byte changed inside a big noise object (stored: its zlib stream
	 * still ends where it did; its checksum and the trailer tell) */
	memcpy(bad, pack, len);
	bad[len / 2] ^= 0x40;
	steps_aside("damaged.git", bad, len);
	/* the trailer */
	memcpy(bad, pack, len);
	bad[len - 1] ^= 1;
	steps_aside("trailer.git", bad, len);
	/* cut short */
	steps_aside("short.git", pack, len - 30);

	/* two similar blobs: libgit2's packbuilder makes one a delta */
	assert_non_null(p);
	for (i = 0; i < dlen; i++)
		p[i] = (unsigned char)("a line of a document that changes little\n"[i % 41]);
	assert_int_equal(git_blob_create_from_buffer(&a, repo, p, dlen), 0);
	p[dlen / 2] = '#';
	assert_int_equal(git_blob_create_from_buffer(&b, repo, p, dlen), 0);
	assert_int_equal(git_packbuilder_new(&pb, repo), 0);
	assert_int_equal(git_packbuilder_insert(pb, &a, "doc"), 0);
	assert_int_equal(git_packbuilder_insert(pb, &b, "doc"), 0);
	assert_int_equal(git_packbuilder_write_buf(&out, pb), 0);
	steps_aside("delta.git", out.ptr, out.size);
	{
		/* it is a delta indeed, which libgit2's indexer takes */
		char gdir[300], gpack[400];
		git_indexer *ix;
		git_indexer_progress st;

		fresh_repo(gdir, sizeof(gdir), gpack, sizeof(gpack), "delta-git.git");
		assert_int_equal(git_indexer_new(&ix, gpack, 0, NULL, NULL), 0);
		assert_int_equal(git_indexer_append(ix, out.ptr, out.size, &st), 0);
		assert_int_equal(git_indexer_commit(ix, &st), 0);
		assert_int_equal(st.indexed_deltas, 1);
		git_indexer_free(ix);
	}
	git_buf_dispose(&out);
	git_packbuilder_free(pb);
	free(p);
	free(bad);
	free(pack);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_idx_as_git),
		cmocka_unit_test(test_steps_aside),
		cmocka_unit_test(test_stages_blobs),
	};

	return cmocka_run_group_tests(tests, setup, sandbox_repo_teardown);
}
