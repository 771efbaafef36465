/*
 * Content-defined chunking and chunk trees (core/base/chunker.h, chunks.h):
 * cut points that depend on the secret and on nearby bytes only, sizes
 * within bounds and near the normal size, and chunk trees that round-trip
 * byte for byte at every size that matters, hash to the ids they are
 * written under, and share what did not change.
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
#include "core/base/buf.h"
#include "core/base/chunker.h"
#include "core/base/chunks.h"
#include "core/base/internal.h"
#include "core/folder/folder.h"
#include "merge/check.h"
#define SANDBOX_WITH_REPO
#include "sandbox.h"

static const unsigned char seed_a[DSYNC_CHUNK_SEED_BYTES] = "seed a: 32 bytes of the secret";
static const unsigned char seed_b[DSYNC_CHUNK_SEED_BYTES] = "seed b: 32 bytes of the secret";

/* LEN bytes of reproducible noise. */
static unsigned char *noise(size_t len, unsigned char tag)
{
	unsigned char *p = malloc(len ? len : 1), seed[randombytes_SEEDBYTES] = { tag };

	assert_non_null(p);
	randombytes_buf_deterministic(p, len, seed);
	return p;
}

/* Cuts DATA; the cut offsets into CUTS (at most MAX), their count back. */
static size_t cut_all(const dsync_chunker *c, const unsigned char *data, size_t len, size_t *cuts, size_t max)
{
	size_t pos = 0, k = 0;

	while (pos < len) {
		bool g;
		size_t n = dsync_chunker_next(c, data + pos, len - pos, true, &g);

		assert_true(n > 0);
		assert_true(n <= DSYNC_CHUNK_MAX);
		if (pos + n < len)
			assert_true(n >= DSYNC_CHUNK_MIN);
		pos += n;
		if (k < max)
			cuts[k] = pos;
		k++;
	}
	return k;
}

/* How many cut offsets two sorted lists share. */
static size_t common(const size_t *a, size_t na, const size_t *b, size_t nb)
{
	size_t i = 0, j = 0, same = 0;

	while (i < na && j < nb) {
		if (a[i] == b[j])
			same++, i++, j++;
		else if (a[i] < b[j])
			i++;
		else
			j++;
	}
	return same;
}

static void test_chunker(void **state)
{
	size_t len = 16u << 20, ca[1024], cb[1024], cc[1024], na, nb, nc;
	unsigned char *data = noise(len, 1);
	dsync_chunker a, b;
	bool g;

	(void)state;
	dsync_chunker_init(&a, seed_a);
	dsync_chunker_init(&b, seed_b);
	na = cut_all(&a, data, len, ca, 1024);
	nb = cut_all(&b, data, len, cb, 1024);
	/* sizes gather around the normal size */
	assert_true(len / na > 20 * 1024 && len / na < 50 * 1024);
	/* another secret, other cuts */
	assert_true(common(ca, na, cb, nb) < na / 10);
	/* an edit in the middle moves only the cuts near it */
	memset(data + len / 2, 0x5a, 64 * 1024);
	nc = cut_all(&a, data, len, cc, 1024);
	assert_true(common(ca, na, cc, nc) >= na - 4);
	/* more data needed, unless at the end */
	assert_int_equal(dsync_chunker_next(&a, data, DSYNC_CHUNK_MAX - 1, false, &g), 0);
	assert_int_equal(dsync_chunker_next(&a, data, 100, true, &g), 100);
	assert_true(g);
	/* zeros: the longest chunks, all alike */
	memset(data, 0, 4 * DSYNC_CHUNK_MAX);
	assert_int_equal(dsync_chunker_next(&a, data, 4 * DSYNC_CHUNK_MAX, false, &g), DSYNC_CHUNK_MAX);
	free(data);
}

/* ------------------------------------------------------------ chunk trees */

typedef struct sink {
	dsync_buf b;
} sink;

static int collect(const void *data, size_t len, void *payload)
{
	sink *s = payload;

	assert_true(len <= DSYNC_CHUNK_MAX);
	return dsync_buf_put(&s->b, data, len);
}

/* A temporary file holding DATA. */
static int temp_fd(const unsigned char *data, size_t len)
{
	char path[300];
	int fd;

	sandbox_path(path, sizeof(path), "data.XXXXXX");
	fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Stores DATA as a chunk tree, checks hash == write, reads it back. */
static void round_trip(const dsync_chunker *c, const unsigned char *data, size_t len, git_oid *out)
{
	git_odb *odb;
	git_oid hashed;
	git_tree *t;
	dsync_chunked info;
	uint64_t size;
	sink s = { DSYNC_BUF_INIT };
	int fd;

	assert_int_equal(git_repository_odb(&odb, repo), 0);
	fd = temp_fd(data, len);
	assert_int_equal(dsync_chunks_from_fd(out, &size, odb, c, fd, GIT_FILEMODE_BLOB_EXECUTABLE, NULL), 0);
	assert_int_equal(size, len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(dsync_chunks_from_fd(&hashed, NULL, NULL, c, fd, GIT_FILEMODE_BLOB_EXECUTABLE, NULL), 0);
	assert_true(git_oid_equal(out, &hashed));
	close(fd);
	assert_int_equal(git_tree_lookup(&t, repo, out), 0);
	assert_int_equal(dsync_chunks_info(&info, repo, t), 1);
	assert_int_equal(info.size, len);
	assert_int_equal(info.mode, GIT_FILEMODE_BLOB_EXECUTABLE);
	git_tree_free(t);
	assert_int_equal(dsync_buf_puts(&s.b, ""), 0);
	assert_int_equal(dsync_chunks_read(repo, out, "f", collect, &s), 0);
	assert_int_equal(s.b.len, len);
	assert_memory_equal(s.b.ptr, data, len);
	dsync_buf_dispose(&s.b);
	git_odb_free(odb);
}

static void test_round_trips(void **state)
{
	static const size_t sizes[] = { 0, 1, DSYNC_CHUNK_MIN - 1, DSYNC_CHUNK_MIN, DSYNC_CHUNK_MIN + 1,
					DSYNC_CHUNK_MAX - 1, DSYNC_CHUNK_MAX, DSYNC_CHUNK_MAX + 1,
					2 * DSYNC_CHUNK_MAX + 7, 9u << 20 };
	dsync_chunker c;
	git_oid id;
	size_t i;

	(void)state;
	dsync_chunker_init(&c, seed_a);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *data = noise(sizes[i], (unsigned char)(i + 10));

		round_trip(&c, data, sizes[i], &id);
		free(data);
	}
}

/* Counts the objects a tree holds that OTHER does not (what an edit adds). */
static size_t new_objects(const git_oid *tree, const git_oid *other)
{
	git_tree *a, *b;
	size_t i, j, n = 0;

	assert_int_equal(git_tree_lookup(&a, repo, tree), 0);
	assert_int_equal(git_tree_lookup(&b, repo, other), 0);
	for (i = 1; i < git_tree_entrycount(a); i++) {
		const git_tree_entry *g = git_tree_entry_byindex(a, i);
		bool shared = false;
		git_tree *leaf, *oleaf;

		for (j = 1; j < git_tree_entrycount(b) && !shared; j++)
			shared = git_oid_equal(git_tree_entry_id(g), git_tree_entry_id(git_tree_entry_byindex(b, j)));
		if (shared)
			continue;
		n++; /* the group's tree */
		assert_int_equal(git_tree_lookup(&leaf, repo, git_tree_entry_id(g)), 0);
		for (j = 0; j < git_tree_entrycount(leaf); j++) {
			size_t k, m;
			bool found = false;

			for (k = 1; k < git_tree_entrycount(b) && !found; k++) {
				assert_int_equal(git_tree_lookup(&oleaf, repo,
								 git_tree_entry_id(git_tree_entry_byindex(b, k))), 0);
				for (m = 0; m < git_tree_entrycount(oleaf) && !found; m++)
					found = git_oid_equal(git_tree_entry_id(git_tree_entry_byindex(leaf, j)),
							      git_tree_entry_id(git_tree_entry_byindex(oleaf, m)));
				git_tree_free(oleaf);
			}
			n += !found;
		}
		git_tree_free(leaf);
	}
	git_tree_free(a);
	git_tree_free(b);
	return n;
}

/* An edit in the middle of a big file adds a few chunks and one or two
 * group trees; the same content in another file adds nothing. */
static void test_sharing(void **state)
{
	size_t len = 24u << 20;
	unsigned char *data = noise(len, 3);
	dsync_chunker c;
	git_oid before, after, again;

	(void)state;
	dsync_chunker_init(&c, seed_a);
	round_trip(&c, data, len, &before);
	round_trip(&c, data, len, &again);
	assert_true(git_oid_equal(&before, &again));
	memset(data + len / 2, 0xa5, 64 * 1024);
	round_trip(&c, data, len, &after);
	assert_false(git_oid_equal(&before, &after));
	assert_true(new_objects(&after, &before) <= 8);
	free(data);
}

/* Writes a tree of the serialized entries BODY (LEN bytes). */
static void raw(git_oid *out, const char *body, size_t len)
{
	git_odb *odb;

	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_write(out, odb, body, len, GIT_OBJECT_TREE), 0);
	git_odb_free(odb);
}

/* Appends the entry MODE NAME ID to BODY. */
static size_t entry(char *body, size_t at, const char *mode, const char *name, const git_oid *id)
{
	at += (size_t)snprintf(body + at, 200, "%s %s", mode, name) + 1;
	memcpy(body + at, id->id, GIT_OID_RAWSZ);
	return at + GIT_OID_RAWSZ;
}

/* dsync_treecheck_all on a folder holding the chunk tree CHUNKS as "big". */
static int check_big(const git_oid *chunks)
{
	char body[256];
	git_oid root;
	git_tree *t;
	int error;

	raw(&root, body, entry(body, 0, "40000", "big", chunks));
	assert_int_equal(git_tree_lookup(&t, repo, &root), 0);
	error = dsync_treecheck_all(repo, t);
	git_tree_free(t);
	return error;
}

/* A chunk tree from another device is checked: exactly dsync's, or
 * refused before anything is merged or written. */
static void test_check(void **state)
{
	size_t len = 3 * DSYNC_CHUNK_MAX;
	unsigned char *data = noise(len, 7);
	char body[512];
	dsync_chunker c;
	git_oid good, marker, bad, group;
	git_tree *t;
	size_t n;

	(void)state;
	dsync_chunker_init(&c, seed_a);
	round_trip(&c, data, len, &good);
	assert_int_equal(check_big(&good), 0);
	assert_int_equal(git_tree_lookup(&t, repo, &good), 0);
	git_oid_cpy(&group, git_tree_entry_id(git_tree_entry_byindex(t, 1)));
	git_tree_free(t);
	/* a marker whose size is not the chunks' */
	assert_int_equal(git_blob_create_from_buffer(&marker, repo,
		"dsync chunked file\nversion 1\nsize 5\nmode 100644\n", 48), 0);
	n = entry(body, 0, "100644", ".dsync-chunks", &marker);
	raw(&bad, body, entry(body, n, "40000", "g000000", &group));
	assert_int_equal(check_big(&bad), DSYNC_ECORRUPT);
	if (!strstr(dsync_error_last(), "'big'"))
		fail_msg("%s", dsync_error_last());
	/* a marker that is not dsync's */
	assert_int_equal(git_blob_create_from_buffer(&marker, repo, "dsync chunked file\nversion 2\n", 29), 0);
	n = entry(body, 0, "100644", ".dsync-chunks", &marker);
	raw(&bad, body, entry(body, n, "40000", "g000000", &group));
	assert_int_equal(check_big(&bad), DSYNC_ECORRUPT);
	/* a group missing from the sequence */
	assert_int_equal(git_tree_lookup(&t, repo, &good), 0);
	n = entry(body, 0, "100644", ".dsync-chunks", git_tree_entry_id(git_tree_entry_byindex(t, 0)));
	git_tree_free(t);
	raw(&bad, body, entry(body, n, "40000", "g000001", &group));
	assert_int_equal(check_big(&bad), DSYNC_ECORRUPT);
	free(data);
}

/* The index form (a big file as one link entry) and back. */
static void test_index_form(void **state)
{
	size_t len = 2 * DSYNC_CHUNK_MAX;
	unsigned char *data = noise(len, 9);
	char body[512];
	dsync_chunker c;
	git_oid big, blob, docs, root, idx, back, docs_idx;
	git_tree *t, *d;
	const git_tree_entry *e;
	size_t n;

	(void)state;
	dsync_chunker_init(&c, seed_a);
	round_trip(&c, data, len, &big);
	assert_int_equal(git_blob_create_from_buffer(&blob, repo, "small\n", 6), 0);
	n = entry(body, 0, "40000", "big.bin", &big);
	raw(&docs, body, entry(body, n, "100644", "small.txt", &blob));
	n = entry(body, 0, "100644", "a.txt", &blob);
	raw(&root, body, entry(body, n, "40000", "docs", &docs));
	assert_int_equal(git_tree_lookup(&t, repo, &root), 0);
	assert_int_equal(dsync_chunks_to_index_form(&idx, repo, t), 0);
	git_tree_free(t);
	assert_false(git_oid_equal(&idx, &root));
	assert_int_equal(git_tree_lookup(&t, repo, &idx), 0);
	git_oid_cpy(&docs_idx, git_tree_entry_id(git_tree_entry_byname(t, "docs")));
	assert_int_equal(git_tree_lookup(&d, repo, &docs_idx), 0);
	e = git_tree_entry_byname(d, "big.bin");
	assert_int_equal(git_tree_entry_filemode(e), GIT_FILEMODE_COMMIT);
	assert_true(git_oid_equal(git_tree_entry_id(e), &big));
	git_tree_free(d);
	assert_int_equal(dsync_chunks_from_index_form(&back, repo, t), 0);
	git_tree_free(t);
	assert_true(git_oid_equal(&back, &root));
	/* a tree with no big file is its own index form */
	n = entry(body, 0, "100644", "x", &blob);
	raw(&docs, body, n);
	assert_int_equal(git_tree_lookup(&t, repo, &docs), 0);
	assert_int_equal(dsync_chunks_to_index_form(&idx, repo, t), 0);
	assert_true(git_oid_equal(&idx, &docs));
	git_tree_free(t);
	/* a link to anything but a chunk tree is refused */
	raw(&root, body, entry(body, 0, "160000", "sub", &docs));
	assert_int_equal(git_tree_lookup(&t, repo, &root), 0);
	assert_int_equal(dsync_chunks_from_index_form(&back, repo, t), DSYNC_ECORRUPT);
	git_tree_free(t);
	free(data);
}

/* Each folder gets its own secret at init (an older folder one when first
 * asked), and keeps it. */
static void test_folder_seed(void **state)
{
	unsigned char s1[DSYNC_CHUNK_SEED_BYTES], s2[DSYNC_CHUNK_SEED_BYTES], s3[DSYNC_CHUNK_SEED_BYTES];
	char dir[400], other[400], cfgpath[500], env[400];
	dsync_folder *f, *g;
	git_config *cfg;

	char base[300];

	(void)state;
	sandbox_path(base, sizeof(base), "seed");
	assert_int_equal(mkdir(base, 0755), 0);
	snprintf(env, sizeof(env), "%s/config", base);
	setenv("XDG_CONFIG_HOME", env, 1);
	snprintf(dir, sizeof(dir), "%s/folder", base);
	snprintf(other, sizeof(other), "%s/other", base);
	assert_int_equal(dsync_folder_init(&f, dir, "unit"), 0);
	assert_int_equal(dsync_folder_init(&g, other, "unit"), 0);
	assert_int_equal(dsync_folder_chunk_seed(s1, f), 0);
	assert_int_equal(dsync_folder_chunk_seed(s2, f), 0);
	assert_memory_equal(s1, s2, sizeof(s1));
	assert_int_equal(dsync_folder_chunk_seed(s3, g), 0);
	assert_memory_not_equal(s1, s3, sizeof(s1));
	dsync_folder_free(g);
	dsync_folder_free(f);
	/* an older folder: none yet, made once */
	snprintf(cfgpath, sizeof(cfgpath), "%s/.dsync/config", dir);
	assert_int_equal(git_config_open_ondisk(&cfg, cfgpath), 0);
	assert_int_equal(git_config_delete_entry(cfg, "dsync.chunkSeed"), 0);
	git_config_free(cfg);
	assert_int_equal(dsync_folder_open(&f, dir), 0);
	assert_int_equal(dsync_folder_chunk_seed(s2, f), 0);
	assert_memory_not_equal(s1, s2, sizeof(s1));
	assert_int_equal(dsync_folder_chunk_seed(s3, f), 0);
	assert_memory_equal(s2, s3, sizeof(s2));
	dsync_folder_free(f);
	/* a damaged one is refused */
	assert_int_equal(git_config_open_ondisk(&cfg, cfgpath), 0);
	assert_int_equal(git_config_set_string(cfg, "dsync.chunkSeed", "xyz"), 0);
	git_config_free(cfg);
	assert_int_equal(dsync_folder_open(&f, dir), 0);
	assert_int_equal(dsync_folder_chunk_seed(s2, f), DSYNC_ECORRUPT);
	dsync_folder_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunker),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_sharing),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_index_form),
		cmocka_unit_test(test_folder_seed),
	};

	return cmocka_run_group_tests(tests, sandbox_repo_setup, sandbox_repo_teardown);
}
