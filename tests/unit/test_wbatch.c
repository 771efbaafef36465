/*
 * Batches of temporary files (core/worktree/batch.h): every job's file
 * holds its version (written by both threads: more jobs than one thread
 * takes at once), a job that can't be written keeps its own error while
 * the others go on, and what is not taken is removed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SANDBOX_WITH_REPO
#include "sandbox.h"
#include "core/worktree/batch.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_every_job),
		cmocka_unit_test(test_job_error_and_leftovers),
	};

	return cmocka_run_group_tests(tests, sandbox_repo_setup, sandbox_repo_teardown);
}
