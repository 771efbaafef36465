/*
 * For unit tests that need a git repository: a bare one in a temporary
 * folder, made by the group setup and removed by its teardown (after lib.h
 * and cmocka.h; one per test program).
 */
#ifndef DSYNC_TEST_TMPREPO_H
#define DSYNC_TEST_TMPREPO_H

#include <stdio.h>
#include <stdlib.h>

static git_repository *repo;
static char repo_dir[256];

static int setup(void **state)
{
	(void)state;
	assert_int_equal(dsync_lib_init(), 0);
	assert_int_equal(dsync_git_init(), 0);
	snprintf(repo_dir, sizeof(repo_dir), "%s/dsync-test-repo.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(repo_dir));
	assert_int_equal(git_repository_init(&repo, repo_dir, 1), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	(void)state;
	git_repository_free(repo);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", repo_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

#endif
