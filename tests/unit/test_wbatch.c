/*
 * Batches of temporary files (core/worktree/batch.h): every job's file
 * holds its version (written by both threads: more jobs than one thread
 * takes at once), a job that can't be written keeps its own error while
 * the others go on, and what is not taken is removed; a version's bytes
 * are read without libgit2's re-hash but checked against its id all the
 * same (core/base/blobread.h), also when read from a pack here: damaged
 * ones are never written.  A join's
 * staged blobs are taken by renaming.
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
#include "core/worktree/batch.h"
#include "core/base/blobread.h"
#include "core/base/packidx.h"
#include "core/base/packw.h"

#define NJOBS 300

/* The number of temporary files (".dsync-tmp-*") in DIR. */
static size_t temps_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".dsync-tmp-", 11) == 0)
			n++;
	closedir(d);
	return n;
}

static void blob(git_oid *id, const char *content)
{
	assert_int_equal(git_blob_create_from_buffer(id, repo, content, strlen(content)), 0);
}

static void test_writes_every_job(void **state)
{
	char gitdir[300], root[300], dest[400], content[64], name[64];
	dsync_buf tmp = DSYNC_BUF_INIT;
	dsync_wbatch b;
	struct stat st;
	git_oid id;
	size_t i;

	(void)state;
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	sandbox_path(root, sizeof(root), "out");
	assert_int_equal(mkdir(root, 0755), 0);
	dsync_wbatch_init(&b, repo, gitdir, root, 022);
	for (i = 0; i < NJOBS; i++) {
		snprintf(content, sizeof(content), "file %zu\n", i);
		blob(&id, content);
		/* a few folders, made by whichever thread comes first */
		snprintf(dest, sizeof(dest), "%s/d%zu/f%zu", root, i % 7, i);
		assert_int_equal(dsync_wbatch_add(&b, &id, i % 5 ? GIT_FILEMODE_BLOB : GIT_FILEMODE_BLOB_EXECUTABLE, 0,
						  dest, 0), 0);
	}
	assert_false(dsync_wbatch_full(&b));
	assert_int_equal(dsync_wbatch_write(&b), 0);
	for (i = 0; i < NJOBS; i++) {
		char *got;

		assert_int_equal(dsync_wbatch_take(&b, i, &tmp, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(!!(st.st_mode & 0100), !(i % 5));
		assert_int_equal(rename(tmp.ptr, b.jobs[i].dest), 0);
		snprintf(content, sizeof(content), "file %zu\n", i);
		snprintf(name, sizeof(name), "d%zu/f%zu", i % 7, i);
		got = sandbox_slurp(root, name);
		assert_non_null(got);
		assert_string_equal(got, content);
		free(got);
	}
	dsync_wbatch_clear(&b);
	for (i = 0; i < 7; i++) {
		snprintf(dest, sizeof(dest), "%s/d%zu", root, i);
		assert_int_equal(temps_in(dest), 0);
	}
	dsync_wbatch_dispose(&b);
	dsync_buf_dispose(&tmp);
}

/* With a join's staging on, a job whose blob is staged takes that file
 * (renamed: it leaves the staging) with the job's mode; a second job of
 * the same blob, and a blob not staged, are read from the history. */
static void test_takes_staged(void **state)
{
	char gitdir[300], root[300], stage[300], dest[400], path[400], hex[GIT_OID_HEXSZ + 1], *got;
	const char *content[3] = { "staged once\n", "staged twice\n", "not staged\n" };
	dsync_buf tmp = DSYNC_BUF_INIT;
	dsync_wbatch b;
	git_oid id[3];
	struct stat st;
	size_t i;
	FILE *f;

	(void)state;
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	sandbox_path(root, sizeof(root), "staged-out");
	sandbox_path(stage, sizeof(stage), "stage");
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(stage, 0700), 0);
	for (i = 0; i < 3; i++) {
		blob(&id[i], content[i]);
		git_oid_tostr(hex, sizeof(hex), &id[i]);
		snprintf(path, sizeof(path), "%s/%.2s", stage, hex);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/%.2s/%s", stage, hex, hex + 2);
		if (i < 2) {
			assert_non_null(f = fopen(path, "w"));
			fputs(content[i], f);
			fclose(f);
		}
	}
	dsync_packidx_stage(stage);
	dsync_wbatch_init(&b, repo, gitdir, root, 022);
	/* jobs: blob 0 (executable), blob 1 twice, blob 2 */
	snprintf(dest, sizeof(dest), "%s/a/f0", root);
	assert_int_equal(dsync_wbatch_add(&b, &id[0], GIT_FILEMODE_BLOB_EXECUTABLE, 0, dest, 0), 0);
	snprintf(dest, sizeof(dest), "%s/a/f1", root);
	assert_int_equal(dsync_wbatch_add(&b, &id[1], GIT_FILEMODE_BLOB, 0, dest, 0), 0);
	snprintf(dest, sizeof(dest), "%s/b/f1", root);
	assert_int_equal(dsync_wbatch_add(&b, &id[1], GIT_FILEMODE_BLOB, 0, dest, 0), 0);
	snprintf(dest, sizeof(dest), "%s/b/f2", root);
	assert_int_equal(dsync_wbatch_add(&b, &id[2], GIT_FILEMODE_BLOB, 0, dest, 0), 0);
	assert_int_equal(dsync_wbatch_write(&b), 0);
	dsync_packidx_stage(NULL);
	for (i = 0; i < b.n; i++) {
		assert_int_equal(dsync_wbatch_take(&b, i, &tmp, &st), 0);
		assert_int_equal(rename(tmp.ptr, b.jobs[i].dest), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 0777, i == 0 ? 0755 : 0644);
		assert_int_equal((size_t)st.st_size, strlen(content[i == 0 ? 0 : i < 3 ? 1 : 2]));
	}
	for (i = 0; i < 4; i++) {
		static const char *const rel[4] = { "a/f0", "a/f1", "b/f1", "b/f2" };

		assert_non_null(got = sandbox_slurp(root, rel[i]));
		assert_string_equal(got, content[i == 0 ? 0 : i < 3 ? 1 : 2]);
		free(got);
	}
	/* both staged files were taken: the staging is empty */
	for (i = 0; i < 3; i++) {
		git_oid_tostr(hex, sizeof(hex), &id[i]);
		snprintf(path, sizeof(path), "%s/%.2s", stage, hex);
		assert_int_equal(rmdir(path), 0);
	}
	assert_int_equal(rmdir(stage), 0);
	dsync_wbatch_dispose(&b);
	dsync_buf_dispose(&tmp);
}

/* A blob in a pack of the history is read from the pack itself (libdeflate)
 * and checked against its id: a damaged byte there and it is not read that
 * way (the caller goes through libgit2, which refuses it). */
static void test_blob_from_pack(void **state)
{
	char gitdir[300], dir[400], path[700], cmd[800];
	unsigned char text[5000], noise[3000], seed[randombytes_SEEDBYTES] = { 9 };
	git_repository *r2;
	git_odb *odb;
	dsync_packw *w;
	dsync_blobread r;
	git_oid ids[2];
	struct dirent *e;
	size_t i;
	DIR *d;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(text); i++)
		text[i] = (unsigned char)"some text that compresses\n"[i % 26];
	/* stored as it is: found in the pack below */
	randombytes_buf_deterministic(noise, sizeof(noise), seed);
	sandbox_path(gitdir, sizeof(gitdir), "packed.git");
	assert_int_equal(git_repository_init(&r2, gitdir, 1), 0);
	assert_int_equal(git_repository_odb(&odb, r2), 0);
	assert_int_equal(dsync_packw_open(&w, odb, gitdir, 2), 0);
	assert_int_equal(dsync_packw_put(w, &ids[0], GIT_OBJECT_BLOB, text, sizeof(text)), 0);
	assert_int_equal(dsync_packw_put(w, &ids[1], GIT_OBJECT_BLOB, noise, sizeof(noise)), 0);
	assert_int_equal(dsync_packw_commit(w), 0);
	dsync_packw_free(w);
	git_odb_free(odb);
	git_repository_free(r2);
	assert_int_equal(git_repository_open_bare(&r2, gitdir), 0);

	assert_int_equal(dsync_blobread_get(&r, r2, &ids[0]), 0);
	assert_null(r.b);   /* from the pack, here */
	assert_int_equal(r.len, sizeof(text));
	assert_memory_equal(r.data, text, sizeof(text));
	dsync_blobread_free(&r);
	assert_int_equal(dsync_blobread_get(&r, r2, &ids[1]), 0);
	assert_null(r.b);
	assert_int_equal(r.len, sizeof(noise));
	assert_memory_equal(r.data, noise, sizeof(noise));
	dsync_blobread_free(&r);

	/* one byte of the noise changed in the pack */
	snprintf(dir, sizeof(dir), "%s/objects/pack", gitdir);
	assert_non_null(d = opendir(dir));
	path[0] = '\0';
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".pack"))
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
	closedir(d);
	snprintf(cmd, sizeof(cmd), "chmod u+w '%s'", path);
	assert_int_equal(system(cmd), 0);
	{
		struct stat st;
		unsigned char *p, *at;

		assert_true((fd = open(path, O_RDWR)) >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_non_null(p = malloc((size_t)st.st_size));
		assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
		assert_non_null(at = memmem(p, (size_t)st.st_size, noise, 64));
		at[100] ^= 1;
		assert_int_equal(pwrite(fd, at + 100, 1, at + 100 - p), 1);
		close(fd);
		free(p);
	}
	assert_int_equal(dsync_blobread_get(&r, r2, &ids[1]), 1);
	assert_null(r.data);
	dsync_blobread_free(&r);
	git_repository_free(r2);
}

static void test_job_error_and_leftovers(void **state)
{
	char gitdir[300], root[300], dest[400];
	dsync_buf tmp = DSYNC_BUF_INIT;
	dsync_wbatch b;
	git_oid id, link;
	size_t i;

	(void)state;
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	sandbox_path(root, sizeof(root), "err");
	assert_int_equal(mkdir(root, 0755), 0);
	/* a file where job 1's folder should be */
	sandbox_put(root, "blocked", "the user's\n");
	blob(&id, "content\n");
	blob(&link, "target");
	dsync_wbatch_init(&b, repo, gitdir, root, 022);
	snprintf(dest, sizeof(dest), "%s/a/one", root);
	assert_int_equal(dsync_wbatch_add(&b, &id, GIT_FILEMODE_BLOB, 0, dest, 0), 0);
	snprintf(dest, sizeof(dest), "%s/blocked/two", root);
	assert_int_equal(dsync_wbatch_add(&b, &id, GIT_FILEMODE_BLOB, 0, dest, 0), 0);
	snprintf(dest, sizeof(dest), "%s/a/three", root);
	assert_int_equal(dsync_wbatch_add(&b, &link, GIT_FILEMODE_LINK, 0, dest, 0), 0);
	for (i = 0; i < 40; i++) {
		snprintf(dest, sizeof(dest), "%s/a/more%zu", root, i);
		assert_int_equal(dsync_wbatch_add(&b, &id, GIT_FILEMODE_BLOB, 0, dest, 0), 0);
	}
	assert_int_equal(dsync_wbatch_write(&b), 0);
	assert_int_equal(dsync_wbatch_take(&b, 1, &tmp, NULL), DSYNC_ENOTDIR);
	assert_non_null(strstr(dsync_error_last(), "blocked/two"));
	assert_int_equal(dsync_wbatch_take(&b, 2, &tmp, NULL), 0);
	{
		struct stat st;
		char target[16];
		ssize_t n;

		assert_int_equal(lstat(tmp.ptr, &st), 0);
		assert_true(S_ISLNK(st.st_mode));
		n = readlink(tmp.ptr, target, sizeof(target));
		assert_int_equal(n, 6);
		assert_memory_equal(target, "target", 6);
		unlink(tmp.ptr);
	}
	snprintf(dest, sizeof(dest), "%s/a", root);
	/* job 0 and the 40 more were not taken */
	assert_int_equal(temps_in(dest), 41);
	dsync_wbatch_clear(&b);
	assert_int_equal(temps_in(dest), 0);
	assert_int_equal(temps_in(root), 0);
	dsync_wbatch_dispose(&b);
	dsync_buf_dispose(&tmp);
}

/* The loose object file of ID in the sandbox's repository. */
static void loose_path(char *out, size_t size, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1], rel[80];

	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(rel, sizeof(rel), "repo.git/objects/%.2s/%s", hex, hex + 2);
	sandbox_path(out, size, rel);
}

static void test_damaged_version_refused(void **state)
{
	char gitdir[300], root[300], dest[400], pa[400], pb[400];
	dsync_buf tmp = DSYNC_BUF_INIT;
	dsync_blobread r;
	dsync_wbatch b;
	git_oid a, other, good;

	(void)state;
	sandbox_path(gitdir, sizeof(gitdir), "repo.git");
	sandbox_path(root, sizeof(root), "damaged");
	assert_int_equal(mkdir(root, 0755), 0);
	blob(&good, "a good version\n");
	assert_int_equal(dsync_blobread_get(&r, repo, &good), 0);
	assert_int_equal(r.len, 15);
	assert_memory_equal(r.data, "a good version\n", 15);
	dsync_blobread_free(&r);
	/* A's file holds another blob of its size: it inflates, its header
	 * says blob, only its hash tells */
	blob(&a, "version one\n");
	blob(&other, "version two\n");
	loose_path(pa, sizeof(pa), &a);
	loose_path(pb, sizeof(pb), &other);
	assert_int_equal(unlink(pa), 0);
	assert_int_equal(link(pb, pa), 0);
	assert_int_equal(dsync_blobread_get(&r, repo, &a), 1);
	assert_null(r.data);
	dsync_blobread_free(&r);
	dsync_wbatch_init(&b, repo, gitdir, root, 022);
	snprintf(dest, sizeof(dest), "%s/bad", root);
	assert_int_equal(dsync_wbatch_add(&b, &a, GIT_FILEMODE_BLOB, 0, dest, 12), 0);
	snprintf(dest, sizeof(dest), "%s/fine", root);
	assert_int_equal(dsync_wbatch_add(&b, &good, GIT_FILEMODE_BLOB, 0, dest, 15), 0);
	assert_int_equal(dsync_wbatch_write(&b), 0);
	assert_true(dsync_wbatch_take(&b, 0, &tmp, NULL) < 0);
	assert_int_equal(dsync_wbatch_take(&b, 1, &tmp, NULL), 0);
	assert_int_equal(rename(tmp.ptr, b.jobs[1].dest), 0);
	dsync_wbatch_clear(&b);
	/* nothing of the damaged version reached the folder */
	assert_int_equal(temps_in(root), 0);
	assert_int_equal(access(dest, F_OK), 0);
	snprintf(dest, sizeof(dest), "%s/bad", root);
	assert_int_equal(access(dest, F_OK), -1);
	dsync_wbatch_dispose(&b);
	dsync_buf_dispose(&tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_every_job),
		cmocka_unit_test(test_job_error_and_leftovers),
		cmocka_unit_test(test_damaged_version_refused),
		cmocka_unit_test(test_takes_staged),
		cmocka_unit_test(test_blob_from_pack),
	};

	return cmocka_run_group_tests(tests, sandbox_repo_setup, sandbox_repo_teardown);
}
