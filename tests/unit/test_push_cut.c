/*
 * A push's objects cut into packs of bounded size (core/store/thinpack.h,
 * docs/sftp.md section 5): every segment stays under the bound unless one
 * object is bigger; the cut of a list depends only on its prefix, so new
 * snapshots change only the last segment; the same segment written twice
 * gives the same bytes (what lets a push cut off reuse the packs it sent);
 * and the segments, indexed oldest first into another repository, resolve
 * their delta bases from the packs before them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

#define SANDBOX_WITH_REPO
#include "sandbox.h"

#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/store/thinpack.h"

#define KIB 1024

static git_oid heads[8];
static size_t nheads;
static dsync_buf journal = DSYNC_BUF_INIT;

/* SIZE bytes of noise from TAG (the same TAG, the same bytes). */
static unsigned char *noise(size_t size, unsigned tag)
{
	unsigned char *p = malloc(size), seed[randombytes_SEEDBYTES] = { 0 };

	assert_non_null(p);
	memcpy(seed, &tag, sizeof(tag));
	randombytes_buf_deterministic(p, size, seed);
	return p;
}

/* A snapshot on top of the last one: a new file of SIZE bytes of noise and
 * a journal that grows by a line each time (so it goes as a delta). */
static void add_snapshot(size_t size)
{
	git_treebuilder *tb = NULL;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_oid blob, tid;
	unsigned char *data = noise(size, (unsigned)nheads + 1);
	char name[32];
	size_t i;

	if (nheads == 0)
		for (i = 0; i < 800; i++)
			assert_int_equal(dsync_buf_printf(&journal, "line %zu of the journal, long enough to matter\n", i), 0);
	assert_int_equal(dsync_buf_printf(&journal, "snapshot %zu\n", nheads), 0);
	if (nheads > 0) {
		assert_int_equal(git_commit_lookup(&parent, repo, &heads[nheads - 1]), 0);
		assert_int_equal(git_commit_tree(&tree, parent), 0);
	}
	assert_int_equal(git_treebuilder_new(&tb, repo, tree), 0);
	assert_int_equal(git_blob_create_from_buffer(&blob, repo, data, size), 0);
	snprintf(name, sizeof(name), "file-%zu.bin", nheads);
	assert_int_equal(git_treebuilder_insert(NULL, tb, name, &blob, GIT_FILEMODE_BLOB), 0);
	assert_int_equal(git_blob_create_from_buffer(&blob, repo, journal.ptr, journal.len), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, "journal.txt", &blob, GIT_FILEMODE_BLOB), 0);
	assert_int_equal(git_treebuilder_write(&tid, tb), 0);
	git_tree_free(tree);
	assert_int_equal(git_tree_lookup(&tree, repo, &tid), 0);
	assert_int_equal(git_signature_new(&sig, "t", "t@example.org", 1700000000 + (git_time_t)nheads, 0), 0);
	assert_int_equal(git_commit_create(&heads[nheads], repo, NULL, sig, sig, NULL, "snapshot", tree,
					   parent ? 1 : 0, (const git_commit **)&parent),
			 0);
	nheads++;
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(parent);
	git_treebuilder_free(tb);
	free(data);
}

/* The bytes of segment K of L (cut at CUTS) as a pack, into OUT. */
static void write_segment(dsync_buf *out, const dsync_thinpack_list *l, const size_t *cuts, size_t k)
{
	size_t from = k ? cuts[k - 1] : 0;
	dsync_thinpack_list seg = { l->ptr + from, cuts[k] - from, 0 };
	char path[300];
	int fd;

	sandbox_path(path, sizeof(path), "segment.pack");
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(dsync_thinpack_write(fd, repo, &seg, NULL, NULL), 0);
	close(fd);
	dsync_buf_truncate(out, 0);
	assert_int_equal(dsync_file_read(out, path, 1 << 30, 0), 0);
}

/* Indexes the pack PACK into PACKDIR of the store ODB, which then has it. */
static void index_into(git_odb *odb, const char *packdir, const dsync_buf *pack)
{
	git_indexer *idx = NULL;
	git_indexer_options io = GIT_INDEXER_OPTIONS_INIT;
	git_indexer_progress st;

	assert_int_equal(git_indexer_new(&idx, packdir, 0, odb, &io), 0);
	assert_int_equal(git_indexer_append(idx, pack->ptr, pack->len, &st), 0);
	assert_int_equal(git_indexer_commit(idx, &st), 0);
	git_indexer_free(idx);
	assert_int_equal(git_odb_refresh(odb), 0);
}

static uint64_t raw_size(const git_oid *id)
{
	git_odb *odb = NULL;
	git_object_t type;
	size_t size;

	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_read_header(&size, &type, odb, id), 0);
	git_odb_free(odb);
	return size;
}

static void test_cut_bounds(void **state)
{
	dsync_thinpack_list l = DSYNC_ARRAY_INIT;
	size_t *cuts = NULL, ncuts = 0, k, i;
	const uint64_t max = 100 * KIB;

	(void)state;
	assert_int_equal(dsync_thinpack_list_build(&l, repo, &heads[nheads - 1], NULL, 0), 0);
	assert_int_equal(dsync_thinpack_list_cut(&cuts, &ncuts, &l, repo, NULL, max), 0);
	assert_true(ncuts >= 4);
	assert_int_equal(cuts[ncuts - 1], l.size);
	for (k = 0; k < ncuts; k++) {
		size_t from = k ? cuts[k - 1] : 0;
		uint64_t sum = 0;

		assert_true(cuts[k] > from);
		for (i = from; i < cuts[k]; i++)
			sum += raw_size(&l.ptr[i].id);
		/* over the bound only as one object alone */
		assert_true(sum <= max || cuts[k] - from == 1);
		/* and no segment could have taken the next object */
		if (k + 1 < ncuts)
			assert_true(sum + raw_size(&l.ptr[cuts[k]].id) > max);
	}
	free(cuts);
	/* one segment when it all fits; none for nothing */
	assert_int_equal(dsync_thinpack_list_cut(&cuts, &ncuts, &l, repo, NULL, (uint64_t)1 << 40), 0);
	assert_int_equal(ncuts, 1);
	assert_int_equal(cuts[0], l.size);
	free(cuts);
	l.size = 0;
	assert_int_equal(dsync_thinpack_list_cut(&cuts, &ncuts, &l, repo, NULL, max), 0);
	assert_int_equal(ncuts, 0);
	assert_null(cuts);
	dsync_thinpack_list_dispose(&l);
}

/* The list up to an older head is a prefix of the list up to the newest,
 * cut the same way but for the older list's last segment, and each of
 * those segments is the same pack, byte for byte, written twice. */
static void test_cut_prefix_and_same_bytes(void **state)
{
	dsync_thinpack_list old = DSYNC_ARRAY_INIT, cur = DSYNC_ARRAY_INIT;
	dsync_buf a = DSYNC_BUF_INIT, b = DSYNC_BUF_INIT;
	size_t *oc = NULL, *cc = NULL, on = 0, cn = 0, k, i;
	const uint64_t max = 100 * KIB;

	(void)state;
	assert_int_equal(dsync_thinpack_list_build(&old, repo, &heads[nheads - 3], NULL, 0), 0);
	assert_int_equal(dsync_thinpack_list_build(&cur, repo, &heads[nheads - 1], NULL, 0), 0);
	assert_true(old.size < cur.size);
	for (i = 0; i < old.size; i++) {
		assert_true(git_oid_equal(&old.ptr[i].id, &cur.ptr[i].id));
		assert_int_equal(old.ptr[i].has_base, cur.ptr[i].has_base);
	}
	assert_int_equal(dsync_thinpack_list_cut(&oc, &on, &old, repo, NULL, max), 0);
	assert_int_equal(dsync_thinpack_list_cut(&cc, &cn, &cur, repo, NULL, max), 0);
	assert_true(on >= 2 && cn > on);
	for (k = 0; k + 1 < on; k++)
		assert_int_equal(oc[k], cc[k]);
	for (k = 0; k + 1 < on; k++) {
		write_segment(&a, &old, oc, k);
		write_segment(&b, &cur, cc, k);
		assert_true(a.len > 12 && memcmp(a.ptr, "PACK", 4) == 0);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.ptr, b.ptr, a.len);
		write_segment(&b, &old, oc, k);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.ptr, b.ptr, a.len);
	}
	free(oc);
	free(cc);
	dsync_buf_dispose(&a);
	dsync_buf_dispose(&b);
	dsync_thinpack_list_dispose(&old);
	dsync_thinpack_list_dispose(&cur);
}

/* Every segment written and indexed, oldest first, into an empty
 * repository: the journal's deltas find their bases in earlier packs. */
static void test_segments_index_in_order(void **state)
{
	dsync_thinpack_list l = DSYNC_ARRAY_INIT;
	dsync_buf pack = DSYNC_BUF_INIT;
	git_repository *other = NULL;
	git_odb *odb = NULL;
	git_commit *c = NULL;
	size_t *cuts = NULL, ncuts = 0, k, i, cross = 0;
	char path[300], packdir[320];

	(void)state;
	sandbox_path(path, sizeof(path), "other.git");
	assert_int_equal(git_repository_init(&other, path, 1), 0);
	assert_int_equal(git_repository_odb(&odb, other), 0);
	snprintf(packdir, sizeof(packdir), "%s/objects/pack", path);
	assert_int_equal(dsync_thinpack_list_build(&l, repo, &heads[nheads - 1], NULL, 0), 0);
	assert_int_equal(dsync_thinpack_list_cut(&cuts, &ncuts, &l, repo, NULL, 100 * KIB), 0);
	for (k = 0; k < ncuts; k++)
		for (i = k ? cuts[k - 1] : 0; i < cuts[k]; i++) {
			size_t j;

			for (j = 0; l.ptr[i].has_base && j < (k ? cuts[k - 1] : 0); j++)
				cross += git_oid_equal(&l.ptr[j].id, &l.ptr[i].base);
		}
	assert_true(cross >= 3);   /* bases in earlier segments */
	for (k = 0; k < ncuts; k++) {
		write_segment(&pack, &l, cuts, k);
		index_into(odb, packdir, &pack);
	}
	for (i = 0; i < l.size; i++)
		assert_true(git_odb_exists(odb, &l.ptr[i].id));
	assert_int_equal(git_commit_lookup(&c, other, &heads[nheads - 1]), 0);
	git_commit_free(c);
	free(cuts);
	dsync_buf_dispose(&pack);
	dsync_thinpack_list_dispose(&l);
	git_odb_free(odb);
	git_repository_free(other);
}

static void on_tap(const void *data, size_t len, void *payload)
{
	assert_int_equal(dsync_buf_put(payload, data, len), 0);
}

/* The tap sees the pack's bytes, in order; the noise file takes about its
 * own size in the pack (stored), the journal's text far less (deflated). */
static void test_stored_and_deflated(void **state)
{
	dsync_thinpack_list l = DSYNC_ARRAY_INIT;
	dsync_buf tapped = DSYNC_BUF_INIT, pack = DSYNC_BUF_INIT;
	uint64_t raw = 0;
	size_t i;
	char path[300];
	int fd;

	(void)state;
	assert_int_equal(dsync_thinpack_list_build(&l, repo, &heads[0], NULL, 0), 0);
	for (i = 0; i < l.size; i++)
		raw += raw_size(&l.ptr[i].id);
	sandbox_path(path, sizeof(path), "tapped.pack");
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(dsync_thinpack_write_tap(fd, repo, &l, NULL, NULL, NULL, on_tap, &tapped), 0);
	close(fd);
	assert_int_equal(dsync_file_read(&pack, path, 1 << 30, 0), 0);
	assert_int_equal(pack.len, tapped.len);
	assert_memory_equal(pack.ptr, tapped.ptr, pack.len);
	/* the first snapshot: a 10 KiB noise file, the 800-line journal (about
	 * 40 KiB, one to a few KiB deflated), a tree and a commit */
	assert_true(raw > 45 * KIB);
	assert_true(pack.len > 10 * KIB + KIB);
	assert_true(pack.len < 10 * KIB + 12 * KIB);
	dsync_buf_dispose(&pack);
	dsync_buf_dispose(&tapped);
	dsync_thinpack_list_dispose(&l);
}

/* Writes the whole history (the newest head) with the entries of local
 * packs copied, to PATH; the error. */
static int write_reusing(const char *path, const dsync_thinpack_list *l)
{
	dsync_thinpack_reuse *r = NULL;
	int fd, error;

	assert_int_equal(dsync_thinpack_reuse_open(&r, repo, l), 0);
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	error = dsync_thinpack_write_tap(fd, repo, l, NULL, NULL, r, NULL, NULL);
	close(fd);
	dsync_thinpack_reuse_free(r);
	return error;
}

/* Once the history is packed (as 'dsync gc' does), a push's pack copies the
 * whole entries it finds there: the pack indexes into another repository
 * with every object; a local entry damaged since it was written fails the
 * push (its CRC-32 in the index) instead of going out. */
static void test_reuse_local_pack(void **state)
{
	dsync_thinpack_list l = DSYNC_ARRAY_INIT;
	dsync_buf pack = DSYNC_BUF_INIT, local = DSYNC_BUF_INIT;
	git_packbuilder *pb = NULL;
	git_repository *other = NULL;
	dsync_thinpack_reuse *r = NULL;
	size_t *c1 = NULL, *c2 = NULL, n1 = 0, n2 = 0;
	git_odb *odb = NULL;
	char path[300], lpath[600], packdir[320];
	unsigned char b;
	size_t i;
	int fd;

	(void)state;
	assert_int_equal(git_packbuilder_new(&pb, repo), 0);
	for (i = 0; i < nheads; i++)
		assert_int_equal(git_packbuilder_insert_commit(pb, &heads[i]), 0);
	assert_int_equal(git_packbuilder_write(pb, NULL, 0, NULL, NULL), 0);
	snprintf(lpath, sizeof(lpath), "%sobjects/pack/pack-%s.pack", git_repository_path(repo),
		 git_packbuilder_name(pb));
	git_packbuilder_free(pb);
	assert_int_equal(dsync_thinpack_list_build(&l, repo, &heads[nheads - 1], NULL, 0), 0);
	/* the sizes read from the local pack's entries cut the list as libgit2's do */
	assert_int_equal(dsync_thinpack_reuse_open(&r, repo, &l), 0);
	assert_int_equal(dsync_thinpack_list_cut(&c1, &n1, &l, repo, NULL, 100 * KIB), 0);
	assert_int_equal(dsync_thinpack_list_cut(&c2, &n2, &l, repo, r, 100 * KIB), 0);
	assert_true(n1 >= 2);
	assert_int_equal(n1, n2);
	assert_memory_equal(c1, c2, n1 * sizeof(*c1));
	free(c1);
	free(c2);
	dsync_thinpack_reuse_free(r);
	sandbox_path(path, sizeof(path), "reused.pack");
	assert_int_equal(write_reusing(path, &l), 0);
	assert_int_equal(dsync_file_read(&pack, path, 1 << 30, 0), 0);
	sandbox_path(path, sizeof(path), "other-reuse.git");
	assert_int_equal(git_repository_init(&other, path, 1), 0);
	assert_int_equal(git_repository_odb(&odb, other), 0);
	snprintf(packdir, sizeof(packdir), "%s/objects/pack", path);
	index_into(odb, packdir, &pack);
	for (i = 0; i < l.size; i++)
		assert_true(git_odb_exists(odb, &l.ptr[i].id));

	/* a byte in the middle of the local pack, in the 150 KiB file's entry */
	assert_int_equal(dsync_file_read(&local, lpath, 1 << 30, 0), 0);
	assert_true(local.len > 150 * KIB);
	assert_int_equal(chmod(lpath, 0644), 0);
	assert_true((fd = open(lpath, O_RDWR)) >= 0);
	b = (unsigned char)(local.ptr[local.len / 2] ^ 0x55);
	assert_int_equal(pwrite(fd, &b, 1, (off_t)(local.len / 2)), 1);
	sandbox_path(path, sizeof(path), "damaged.pack");
	assert_int_equal(write_reusing(path, &l), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "damaged"));
	assert_int_equal(pwrite(fd, local.ptr + local.len / 2, 1, (off_t)(local.len / 2)), 1);
	close(fd);
	assert_int_equal(write_reusing(path, &l), 0);
	dsync_buf_dispose(&pack);
	dsync_buf_dispose(&local);
	dsync_thinpack_list_dispose(&l);
	git_odb_free(odb);
	git_repository_free(other);
}

static int setup(void **state)
{
	size_t i;

	sandbox_repo_setup(state);
	/* 8 snapshots: files of 10 to 150 KiB, one over the bound of 100 KiB */
	for (i = 0; i < 8; i++)
		add_snapshot(i == 3 ? 150 * KIB : (10 + 12 * i) * KIB);
	return 0;
}

static int teardown(void **state)
{
	dsync_buf_dispose(&journal);
	return sandbox_repo_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_bounds),
		cmocka_unit_test(test_cut_prefix_and_same_bytes),
		cmocka_unit_test(test_segments_index_in_order),
		cmocka_unit_test(test_stored_and_deflated),
		cmocka_unit_test(test_reuse_local_pack),   /* last: packs the history */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
