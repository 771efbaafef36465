/*
 * The change list between two versions (core/snapshot.c): a file that
 * became a big file, or the reverse, is one modification among any number
 * of other changes, and building the list costs n log n comparisons, not
 * one for every pair of changes (a first snapshot of 200,000 files took
 * minutes that way).  The library's calls to strcmp are counted through
 * the linker's --wrap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "dsync/common.h"
#include "core/base/chunker.h"
#include "core/base/chunks.h"
#include "core/base/internal.h"
#include "core/history/changes.h"
#define SANDBOX_WITH_REPO
#include "sandbox.h"

static unsigned long strcmp_calls;

int __real_strcmp(const char *a, const char *b);
int __wrap_strcmp(const char *a, const char *b);
int __wrap_strcmp(const char *a, const char *b)
{
	strcmp_calls++;
	return __real_strcmp(a, b);
}

static const unsigned char seed[DSYNC_CHUNK_SEED_BYTES] = "a seed of 32 bytes for the test";

/* A blob holding TEXT. */
static git_oid blob(const char *text)
{
	git_oid id;

	assert_int_equal(git_blob_create_from_buffer(&id, repo, text, strlen(text)), 0);
	return id;
}

/* A big file's chunk tree of LEN bytes of TAG. */
static git_oid chunked(size_t len, char tag)
{
	char path[300], *data = malloc(len);
	dsync_chunker c;
	git_odb *odb;
	git_oid id;
	int fd;

	assert_non_null(data);
	memset(data, tag, len);
	snprintf(path, sizeof(path), "%s/data.XXXXXX", sandbox_dir);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	dsync_chunker_init(&c, seed);
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(dsync_chunks_from_fd(&id, NULL, odb, &c, fd, GIT_FILEMODE_BLOB, NULL), 0);
	git_odb_free(odb);
	close(fd);
	unlink(path);
	free(data);
	return id;
}

/* A tree of FOLDERS folders of PER files each ("dNNN/fNNNNN"), all holding
 * BLOB, plus the entries "x" and "y" given (a NULL id: left out). */
static git_tree *tree_of(size_t folders, size_t per, const git_oid *b, const git_oid *x, git_filemode_t xm,
			 const git_oid *y, git_filemode_t ym)
{
	git_treebuilder *top, *sub;
	git_tree *t;
	git_oid id;
	char name[32];
	size_t i, j;

	assert_int_equal(git_treebuilder_new(&top, repo, NULL), 0);
	for (i = 0; i < folders; i++) {
		assert_int_equal(git_treebuilder_new(&sub, repo, NULL), 0);
		for (j = 0; j < per; j++) {
			snprintf(name, sizeof(name), "f%05zu", i * per + j);
			assert_int_equal(git_treebuilder_insert(NULL, sub, name, b, GIT_FILEMODE_BLOB), 0);
		}
		assert_int_equal(git_treebuilder_write(&id, sub), 0);
		git_treebuilder_free(sub);
		snprintf(name, sizeof(name), "d%03zu", i);
		assert_int_equal(git_treebuilder_insert(NULL, top, name, &id, GIT_FILEMODE_TREE), 0);
	}
	if (x)
		assert_int_equal(git_treebuilder_insert(NULL, top, "x", x, xm), 0);
	if (y)
		assert_int_equal(git_treebuilder_insert(NULL, top, "y", y, ym), 0);
	assert_int_equal(git_treebuilder_write(&id, top), 0);
	git_treebuilder_free(top);
	assert_int_equal(git_tree_lookup(&t, repo, &id), 0);
	return t;
}

static const dsync_change *find(const dsync_changes *ch, const char *path)
{
	size_t i;

	for (i = 0; i < ch->n; i++)
		if (strcmp(ch->v[i].path, path) == 0)
			return &ch->v[i];
	return NULL;
}

/* x: a plain file becomes a big file; y: the reverse; among 3,000 added
 * files: each of x and y is one "M", every other path one "A". */
static void test_crossing_among_many(void **state)
{
	git_oid b = blob("same\n"), px = blob("x small\n"), py = blob("y small\n");
	git_oid bx = chunked(200000, 'x'), by = chunked(150000, 'y');
	git_tree *from = tree_of(0, 0, &b, &px, GIT_FILEMODE_BLOB, &by, GIT_FILEMODE_TREE);
	git_tree *to = tree_of(30, 100, &b, &bx, GIT_FILEMODE_TREE, &py, GIT_FILEMODE_BLOB);
	dsync_changes ch;
	const dsync_change *c;
	size_t i;

	(void)state;
	assert_int_equal(dsync_changes_between(&ch, repo, from, to, NULL, DSYNC_RENAMES_NONE), 0);
	assert_int_equal(ch.n, 3002);
	assert_non_null(c = find(&ch, "x"));
	assert_int_equal(c->kind, 'M');
	assert_non_null(c = find(&ch, "y"));
	assert_int_equal(c->kind, 'M');
	for (i = 0; i < ch.n; i++) {
		assert_null(strstr(ch.v[i].path, ".dsync-chunks"));
		if (strcmp(ch.v[i].path, "x") && strcmp(ch.v[i].path, "y"))
			assert_int_equal(ch.v[i].kind, 'A');
	}
	dsync_changes_dispose(&ch);
	git_tree_free(from);
	git_tree_free(to);
}

/* 40,000 added files: the library compares strings a bounded number of
 * times per change (every pair would be 800 million). */
static void test_linear(void **state)
{
	git_oid b = blob("same\n");
	git_tree *from = tree_of(0, 0, &b, NULL, 0, NULL, 0), *to = tree_of(400, 100, &b, NULL, 0, NULL, 0);
	dsync_changes ch;

	(void)state;
	strcmp_calls = 0;
	assert_int_equal(dsync_changes_between(&ch, repo, from, to, NULL, DSYNC_RENAMES_NONE), 0);
	assert_int_equal(ch.n, 40000);
	print_message("%lu string comparisons for %zu changes\n", strcmp_calls, ch.n);
	assert_true(strcmp_calls < 64 * ch.n);
	dsync_changes_dispose(&ch);
	git_tree_free(from);
	git_tree_free(to);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crossing_among_many),
		cmocka_unit_test(test_linear),
	};

	return cmocka_run_group_tests(tests, sandbox_repo_setup, sandbox_repo_teardown);
}
