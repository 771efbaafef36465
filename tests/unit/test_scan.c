/*
 * The tree walk's reading phase (core/history/scan*.c): a big snapshot's
 * files read on worker threads into a pack give the entries, ids and modes
 * that reading them one at a time and only hashing gives, including big
 * files' chunk trees, links, empty files and folders, and files that change
 * between discovery and reading (read again by the one-file reader); the
 * pack holds every object, and git fsck accepts the store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "core/base/chunks.h"
#include "core/base/internal.h"
#include "core/base/packw.h"
#include "core/folder/folder.h"
#include "core/history/scan.h"
#define SANDBOX_WITH_REPO
#include "sandbox.h"

/* Writes LEN bytes of noise (TAG: which; 0: zeros) to DIR/REL. */
static void put_bytes(const char *dir, const char *rel, size_t len, unsigned char tag)
{
	unsigned char seed[randombytes_SEEDBYTES] = { tag }, *p = calloc(1, len ? len : 1);
	char path[1024];
	FILE *fp;

	assert_non_null(p);
	if (tag)
		randombytes_buf_deterministic(p, len, seed);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	free(p);
}

/* A folder of every kind of entry, many enough for a pack; THRESHOLD: its
 * dsync.chunkThreshold. */
static dsync_folder *make_folder(const char *name, int64_t threshold)
{
	char dir[400], rel[64], cfgpath[500], text[600];
	dsync_folder *f;
	git_config *cfg;
	int i;

	sandbox_path(cfgpath, sizeof(cfgpath), "config"); /* the folder registry */
	setenv("XDG_CONFIG_HOME", cfgpath, 1);
	sandbox_path(dir, sizeof(dir), name);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (i = 0; i < 150; i++) {
		snprintf(rel, sizeof(rel), "d%02d/f%03d.txt", i % 7, i);
		snprintf(text, sizeof(text), "file %d of the walk's test, some text to deflate %d\n", i, i * i);
		sandbox_put(dir, rel, text);
	}
	for (i = 0; i < 20; i++) {
		snprintf(rel, sizeof(rel), "d%02d/r%03d.bin", i % 7, i);
		put_bytes(dir, rel, (size_t)(i * 7919) % 70000, (unsigned char)(i + 1));
	}
	sandbox_put(dir, "empty-file", "");
	sandbox_put(dir, "tool.sh", "#!/bin/sh\necho hi\n");
	snprintf(text, sizeof(text), "%s/tool.sh", dir);
	assert_int_equal(chmod(text, 0755), 0);
	snprintf(text, sizeof(text), "%s/link", dir);
	assert_int_equal(symlink("d00/f000.txt", text), 0);
	snprintf(text, sizeof(text), "%s/dangling", dir);
	assert_int_equal(symlink("nowhere/at/all", text), 0);
	snprintf(text, sizeof(text), "%s/empty-dir", dir);
	assert_int_equal(mkdir(text, 0755), 0);
	put_bytes(dir, "big-random", 1500 * 1024 + 17, 99);   /* chunked at 256 KiB */
	put_bytes(dir, "big-zeros", 2 * 1024 * 1024, 0);
	put_bytes(dir, "mid", 300 * 1024, 98);
	put_bytes(dir, "grows", 1000, 97);                      /* made big before it is read */
	put_bytes(dir, "shrinks", 600 * 1024, 96);              /* made small before it is read */
	sandbox_put(dir, "vanishes", "here at discovery only\n");
	sandbox_put(dir, "held", "being written\n");

	assert_int_equal(dsync_folder_init(&f, dir, "unit"), 0);
	snprintf(cfgpath, sizeof(cfgpath), "%s/.dsync/config", dir);
	assert_int_equal(git_config_open_ondisk(&cfg, cfgpath), 0);
	assert_int_equal(git_config_set_int64(cfg, "dsync.chunkThreshold", threshold), 0);
	git_config_free(cfg);
	dsync_folder_free(f);
	assert_int_equal(dsync_folder_open(&f, dir), 0);
	return f;
}

/* The keep callback: changes files after discovery, before they are read,
 * and holds one back. */
static bool meddle(const char *path, void *payload)
{
	const char *dir = payload;
	char abs[600];

	snprintf(abs, sizeof(abs), "%s/%s", dir, path);
	if (strcmp(path, "grows") == 0)
		put_bytes(dir, "grows", 900 * 1024, 97);
	else if (strcmp(path, "shrinks") == 0)
		put_bytes(dir, "shrinks", 100, 96);
	else if (strcmp(path, "vanishes") == 0)
		assert_int_equal(unlink(abs), 0);
	return strcmp(path, "held") == 0;
}

/* Walks F twice, hashing one file at a time and into a pack, and compares;
 * CHUNKED: F chunks files over 256 KiB. */
static void compare_walks(dsync_folder *f, bool chunked)
{
	statcache empty = { 0 };
	scan_list hashed, packed;
	dsync_packw *pack = NULL;
	git_odb *odb = NULL;
	char cmd[700];
	size_t i;

	sandbox_put(f->root, "vanishes", "here at discovery only\n");
	put_bytes(f->root, "grows", 1000, 97);
	put_bytes(f->root, "shrinks", 600 * 1024, 96);
	assert_int_equal(scan_worktree(&hashed, f, &empty, false, NULL, NULL, meddle, (void *)f->root), 0);

	sandbox_put(f->root, "vanishes", "here at discovery only\n");
	put_bytes(f->root, "grows", 1000, 97);
	put_bytes(f->root, "shrinks", 600 * 1024, 96);
	assert_int_equal(scan_worktree(&packed, f, &empty, true, &pack, NULL, meddle, (void *)f->root), 0);
	assert_non_null(pack);
	assert_true(dsync_packw_count(pack) > 150);
	assert_int_equal(dsync_packw_commit(pack), 0);
	dsync_packw_free(pack);

	assert_int_equal(hashed.n, packed.n);
	assert_int_equal(hashed.busy, 1);
	assert_int_equal(packed.busy, 1);
	assert_int_equal(hashed.problems.size, packed.problems.size);
	if (chunked) /* hashing only does not count a streamed file */
		assert_int_equal(hashed.hashed_bytes, packed.hashed_bytes);
	assert_int_equal(git_repository_odb(&odb, f->repo), 0);
	for (i = 0; i < hashed.n; i++) {
		const scan_entry *a = &hashed.v[i], *b = &packed.v[i];

		assert_string_equal(a->path, b->path);
		assert_int_equal(a->mode, b->mode);
		assert_int_equal(a->flags, b->flags);
		assert_true(git_oid_equal(&a->oid, &b->oid));
		assert_int_equal(a->st.size, b->st.size);
		assert_null(b->real);
		if (b->mode == GIT_FILEMODE_COMMIT)
			assert_int_equal(dsync_chunks_read(f->repo, &b->oid, b->path, NULL, NULL), 0);
		else
			assert_true(git_odb_exists(odb, &b->oid));
		if (strcmp(a->path, "grows") == 0)
			assert_int_equal(b->mode, chunked ? GIT_FILEMODE_COMMIT : GIT_FILEMODE_BLOB);
		if (strcmp(a->path, "shrinks") == 0)
			assert_int_equal(b->mode, GIT_FILEMODE_BLOB);
		if (strcmp(a->path, "big-random") == 0)
			assert_int_equal(b->mode, chunked ? GIT_FILEMODE_COMMIT : GIT_FILEMODE_BLOB);
		assert_string_not_equal(a->path, "vanishes");
		assert_string_not_equal(a->path, "held");
	}
	git_odb_free(odb);
	scan_list_dispose(&hashed);
	scan_list_dispose(&packed);
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' fsck --full --no-dangling --no-progress", f->gitdir);
	assert_int_equal(system(cmd), 0);
}

static void test_chunked(void **state)
{
	dsync_folder *f = make_folder("chunked", 256 * 1024);

	(void)state;
	compare_walks(f, true);
	dsync_folder_free(f);
}

static void test_unchunked(void **state)
{
	/* no chunking: files past what the workers read whole are streamed */
	dsync_folder *f = make_folder("unchunked", 0);

	(void)state;
	put_bytes(f->root, "huge", 9 * 1024 * 1024, 95);
	compare_walks(f, false);
	dsync_folder_free(f);
}

static void test_small(void **state)
{
	/* a few files: loose objects, as before */
	statcache empty = { 0 };
	scan_list l;
	dsync_packw *pack = NULL;
	char dir[400];
	dsync_folder *f;

	(void)state;
	sandbox_path(dir, sizeof(dir), "config");
	setenv("XDG_CONFIG_HOME", dir, 1);
	sandbox_path(dir, sizeof(dir), "small");
	sandbox_put(dir, "a", "a\n");
	sandbox_put(dir, "b/c", "c\n");
	assert_int_equal(dsync_folder_init(&f, dir, "unit"), 0);
	assert_int_equal(scan_worktree(&l, f, &empty, true, &pack, NULL, NULL, NULL), 0);
	assert_null(pack);
	assert_int_equal(l.n, 2);
	scan_list_dispose(&l);
	dsync_folder_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_unchunked),
		cmocka_unit_test(test_small),
	};

	return cmocka_run_group_tests(tests, sandbox_repo_setup, sandbox_repo_teardown);
}
