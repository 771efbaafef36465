/*
 * The unit tests' sandbox: one temporary folder per test program (under
 * $TMPDIR, else /tmp) that holds everything a test writes, and, as asked,
 * the user's HOME or config folder inside it, so that no test reads or
 * writes the real user's files. Include after cmocka.h.
 *
 *   sandbox_open("label", SANDBOX_HOME)   in the group setup
 *   sandbox_path(buf, sizeof(buf), "name") a path inside it
 *   sandbox_close()                       in the group teardown: removes it
 *
 * A program that defines SANDBOX_WITH_REPO before the include has a global
 * `repo`; the ones that only need a bare git repository use
 * sandbox_repo_setup and sandbox_repo_teardown as their group setup and
 * teardown: `repo` is then open on SANDBOX/repo.git.
 */
#ifndef DSYNC_TEST_SANDBOX_H
#define DSYNC_TEST_SANDBOX_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <git2.h>

#include "dsync/common.h"
#include "core/base/internal.h"

enum {
	SANDBOX_HOME = 1 << 0,   /* HOME is SANDBOX/home; XDG_CONFIG_HOME unset */
	SANDBOX_CONFIG = 1 << 1, /* XDG_CONFIG_HOME is SANDBOX/config (the folder registry) */
	SANDBOX_LIB = 1 << 2,    /* dsync_lib_init() and dsync_lib_git_init() */
	SANDBOX_IN_TMP = 1 << 3, /* in /tmp, whatever TMPDIR says: another user must reach it */
};

static char sandbox_dir[256];

/* OUT: a new, empty folder in ROOT named after LABEL */
static inline void sandbox_mkdtemp_in(char *out, size_t size, const char *root, const char *label)
{
	assert_true(snprintf(out, size, "%s/dsync-test-%s.XXXXXX", root, label) < (int)size);
	assert_non_null(mkdtemp(out));
}

/* OUT: a new, empty temporary folder named after LABEL */
static inline void sandbox_mkdtemp(char *out, size_t size, const char *label)
{
	const char *tmp = getenv("TMPDIR");

	sandbox_mkdtemp_in(out, size, tmp && *tmp ? tmp : "/tmp", label);
}

/* OUT: SANDBOX/NAME */
static inline void sandbox_path(char *out, size_t size, const char *name)
{
	assert_true(snprintf(out, size, "%s/%s", sandbox_dir, name) < (int)size);
}

static inline void sandbox_rm_rf(const char *path)
{
	char cmd[600];

	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path) < (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

/* Writes CONTENT to the file DIR/REL, making its folders. */
static inline void sandbox_put(const char *dir, const char *rel, const char *content)
{
	char path[1024], cmd[1200];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fputs(content, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* The content of the file DIR/REL (malloc'd, NUL-terminated), or NULL when
 * it is missing. */
static inline char *sandbox_slurp(const char *dir, const char *rel)
{
	char path[1024], *buf;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	assert_non_null(buf = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/*
 * Makes the sandbox, readable by all (a test may drop to another user that
 * must reach the folders inside), and sets up what FLAGS ask for.
 */
static inline void sandbox_open(const char *label, unsigned flags)
{
	char path[300];

	if (flags & SANDBOX_IN_TMP)
		sandbox_mkdtemp_in(sandbox_dir, sizeof(sandbox_dir), "/tmp", label);
	else
		sandbox_mkdtemp(sandbox_dir, sizeof(sandbox_dir), label);
	assert_int_equal(chmod(sandbox_dir, 0755), 0);
	if (flags & SANDBOX_HOME) {
		sandbox_path(path, sizeof(path), "home");
		assert_int_equal(mkdir(path, 0755), 0);
		assert_int_equal(setenv("HOME", path, 1), 0);
		unsetenv("XDG_CONFIG_HOME");
	}
	if (flags & SANDBOX_CONFIG) {
		sandbox_path(path, sizeof(path), "config");
		assert_int_equal(setenv("XDG_CONFIG_HOME", path, 1), 0);
	}
	if (flags & SANDBOX_LIB) {
		assert_int_equal(dsync_lib_init(), 0);
		assert_int_equal(dsync_lib_git_init(), 0);
	}
}

static inline void sandbox_close(void)
{
	sandbox_rm_rf(sandbox_dir);
}

#ifdef SANDBOX_WITH_REPO
static git_repository *repo;

static inline int sandbox_repo_setup(void **state)
{
	char path[300];

	(void)state;
	sandbox_open("repo", SANDBOX_LIB);
	sandbox_path(path, sizeof(path), "repo.git");
	assert_int_equal(git_repository_init(&repo, path, 1), 0);
	return 0;
}

static inline int sandbox_repo_teardown(void **state)
{
	(void)state;
	git_repository_free(repo);
	sandbox_close();
	return 0;
}
#endif

#endif
