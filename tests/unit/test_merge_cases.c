/*
 * The merge of two heads (merge/treemerge.h), case by case, each result checked
 * byte for byte: every path in the merged tree, its content and its mode.
 * "ours" is device alpha at T, "theirs" device beta one minute later, so
 * theirs keeps a contested path and alpha's version becomes the copy
 * NAME.sync-conflict-20240301-140509-alpha.EXT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "core/base/buf.h"
#include "core/base/internal.h"
#include "merge/treemerge.h"
#include "merge/heads.h"
#define SANDBOX_WITH_REPO
#include "sandbox.h"

#define T ((git_time_t)1709301909)   /* 2024-03-01 14:05:09 UTC */
#define A_ID "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B_ID "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define COPY(name, ext) name ".sync-conflict-20240301-140509-alpha" ext
#define X "\x01" /* marks an executable file: "X" "content" */
#define L "\x02" /* marks a symlink: "L" "target" */

/* One file of a tree: PATH and its content (X or L prefix for the mode). */
typedef struct file {
	const char *path;
	const char *data;
	size_t len;            /* 0: strlen(data) */
} file;

#define MAX_FILES 8

typedef struct merge_case {
	const char *what;
	bool no_base;          /* histories that started apart */
	file base[MAX_FILES], ours[MAX_FILES], theirs[MAX_FILES], want[MAX_FILES];
	size_t conflicts;
} merge_case;

static const merge_case cases[] = {
	{ "non-overlapping edits in one file", false,
	  { { "f.txt", "1\n2\n3\n4\n5\n6\n7\n8\n", 0 } },
	  { { "f.txt", "one\n2\n3\n4\n5\n6\n7\n8\n", 0 } },
	  { { "f.txt", "1\n2\n3\n4\n5\n6\n7\neight\n", 0 } },
	  { { "f.txt", "one\n2\n3\n4\n5\n6\n7\neight\n", 0 } }, 0 },
	{ "edits on adjacent lines", false,
	  { { "f.txt", "1\n2\n3\n4\n5\n6\n", 0 } },
	  { { "f.txt", "1\n2\n3\nfour\n5\n6\n", 0 } },
	  { { "f.txt", "1\n2\n3\n4\nfive\n6\n", 0 } },
	  { { "f.txt", "1\n2\n3\n4\nfive\n6\n", 0 }, { COPY("f", ".txt"), "1\n2\n3\nfour\n5\n6\n", 0 } }, 1 },
	{ "overlapping edits", false,
	  { { "f.txt", "a\nb\nc\n", 0 } },
	  { { "f.txt", "a\nOURS\nc\n", 0 } },
	  { { "f.txt", "a\nTHEIRS\nc\n", 0 } },
	  { { "f.txt", "a\nTHEIRS\nc\n", 0 }, { COPY("f", ".txt"), "a\nOURS\nc\n", 0 } }, 1 },
	{ "both sides make the same edit", false,
	  { { "f.txt", "a\nb\nc\n", 0 } },
	  { { "f.txt", "a\nB\nc\n", 0 } },
	  { { "f.txt", "a\nB\nc\n", 0 } },
	  { { "f.txt", "a\nB\nc\n", 0 } }, 0 },
	{ "CRLF files", false,
	  { { "w.txt", "1\r\n2\r\n3\r\n4\r\n5\r\n6\r\n", 0 } },
	  { { "w.txt", "one\r\n2\r\n3\r\n4\r\n5\r\n6\r\n", 0 } },
	  { { "w.txt", "1\r\n2\r\n3\r\n4\r\n5\r\nsix\r\n", 0 } },
	  { { "w.txt", "one\r\n2\r\n3\r\n4\r\n5\r\nsix\r\n", 0 } }, 0 },
	{ "no final newline", false,
	  { { "n.txt", "a\nb\nc\nd\ne", 0 } },
	  { { "n.txt", "A\nb\nc\nd\ne", 0 } },
	  { { "n.txt", "a\nb\nc\nd\nE", 0 } },
	  { { "n.txt", "A\nb\nc\nd\nE", 0 } }, 0 },
	{ "UTF-8 text", false,
	  { { "u.md", "café\nnaïve\nüber\nño\nzürich\n", 0 } },
	  { { "u.md", "CAFÉ\nnaïve\nüber\nño\nzürich\n", 0 } },
	  { { "u.md", "café\nnaïve\nüber\nño\nZÜRICH\n", 0 } },
	  { { "u.md", "CAFÉ\nnaïve\nüber\nño\nZÜRICH\n", 0 } }, 0 },
	{ "a binary file edited on both sides", false,
	  { { "b.bin", "\0\1\2base", 7 } },
	  { { "b.bin", "\0\1\2ours", 7 } },
	  { { "b.bin", "\0\1\2their", 8 } },
	  { { "b.bin", "\0\1\2their", 8 }, { COPY("b", ".bin"), "\0\1\2ours", 7 } }, 1 },
	{ "add/add, different content", false,
	  { { "keep.txt", "k\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "new.txt", "from alpha\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "new.txt", "from beta\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "new.txt", "from beta\n", 0 },
	    { COPY("new", ".txt"), "from alpha\n", 0 } }, 1 },
	{ "add/add, same content", false,
	  { { "keep.txt", "k\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "new.txt", "same\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "new.txt", "same\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "new.txt", "same\n", 0 } }, 0 },
	{ "modified here, deleted there", false,
	  { { "m.txt", "old\n", 0 }, { "keep.txt", "k\n", 0 } },
	  { { "m.txt", "edited\n", 0 }, { "keep.txt", "k\n", 0 } },
	  { { "keep.txt", "k\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "m.txt", "edited\n", 0 } }, 0 },
	{ "deleted here, modified there", false,
	  { { "m.txt", "old\n", 0 }, { "keep.txt", "k\n", 0 } },
	  { { "keep.txt", "k\n", 0 } },
	  { { "m.txt", "edited\n", 0 }, { "keep.txt", "k\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "m.txt", "edited\n", 0 } }, 0 },
	{ "renamed here, edited there: the edit lands at the new name", false,
	  { { "a.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } },
	  { { "b.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } },
	  { { "a.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\nten\n", 0 } },
	  { { "b.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\nten\n", 0 } }, 0 },
	{ "renamed to two names: both stay", false,
	  { { "a.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } },
	  { { "b.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } },
	  { { "c.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } },
	  { { "b.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 }, { "c.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } }, 0 },
	{ "a file here, a folder there: the folder keeps the path", false,
	  { { "keep.txt", "k\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "x", "a file\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "x/y.txt", "in a folder\n", 0 } },
	  { { "keep.txt", "k\n", 0 }, { "x/y.txt", "in a folder\n", 0 }, { COPY("x", ""), "a file\n", 0 } }, 1 },
	/* found by the property test (test_merge_property.c) */
	{ "a file here, a folder there, the file sorting first", false,
	  { { "z.txt", "z\n", 0 } },
	  { { "z.txt", "z\n", 0 }, { "x", "a file\n", 0 } },
	  { { "z.txt", "z\n", 0 }, { "x/y.txt", "in a folder\n", 0 } },
	  { { "z.txt", "z\n", 0 }, { "x/y.txt", "in a folder\n", 0 }, { COPY("x", ""), "a file\n", 0 } }, 1 },
	{ "a folder's file renamed here; there the folder deleted and made a file", false,
	  { { "notes/h.txt", "h\n", 0 }, { "z.txt", "z\n", 0 } },
	  { { "notes/k.txt", "h\n", 0 }, { "z.txt", "z\n", 0 } },
	  { { "notes", "now a file\n", 0 }, { "z.txt", "z\n", 0 } },
	  { { "notes/k.txt", "h\n", 0 }, { "notes.sync-conflict-20240301-140609-beta", "now a file\n", 0 },
	    { "z.txt", "z\n", 0 } }, 1 },
	{ "renamed to two names, one of them a name the other side added", false,
	  { { "e.md", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } },
	  { { "m.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 }, { "b.txt", "alpha's own b\n", 0 } },
	  { { "b.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } },
	  { { "b.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 }, { COPY("b", ".txt"), "alpha's own b\n", 0 },
	    { "m.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0 } }, 1 },
	{ "second versions of two numbered conflict copies", false,
	  { { COPY("f", "-2.txt"), "o2\n", 0 }, { COPY("f", "-3.txt"), "o3\n", 0 } },
	  { { COPY("f", "-2.txt"), "ours2\n", 0 }, { COPY("f", "-3.txt"), "ours3\n", 0 } },
	  { { COPY("f", "-2.txt"), "theirs2\n", 0 }, { COPY("f", "-3.txt"), "theirs3\n", 0 } },
	  { { COPY("f", "-2.txt"), "theirs2\n", 0 }, { COPY("f", "-3.txt"), "theirs3\n", 0 },
	    { COPY("f", "-4.txt"), "ours2\n", 0 }, { COPY("f", "-5.txt"), "ours3\n", 0 } }, 2 },
	{ "a symlink changed on both sides", false,
	  { { "link", L "base-target", 0 } },
	  { { "link", L "our-target", 0 } },
	  { { "link", L "their-target", 0 } },
	  { { "link", L "their-target", 0 }, { COPY("link", ""), L "our-target", 0 } }, 1 },
	{ "the executable bit and an edit merge", false,
	  { { "run.sh", "echo 1\necho 2\necho 3\necho 4\n", 0 } },
	  { { "run.sh", X "echo 1\necho 2\necho 3\necho 4\n", 0 } },
	  { { "run.sh", "echo 1\necho 2\necho 3\necho four\n", 0 } },
	  { { "run.sh", X "echo 1\necho 2\necho 3\necho four\n", 0 } }, 0 },
	{ "folders that started apart: identical files merge, different ones are copied", true,
	  { { NULL, NULL, 0 } },
	  { { "same.txt", "same\n", 0 }, { "diff.txt", "alpha's\n", 0 }, { "only-a.txt", "a\n", 0 } },
	  { { "same.txt", "same\n", 0 }, { "diff.txt", "beta's\n", 0 }, { "only-b.txt", "b\n", 0 } },
	  { { "same.txt", "same\n", 0 }, { "diff.txt", "beta's\n", 0 }, { COPY("diff", ".txt"), "alpha's\n", 0 },
	    { "only-a.txt", "a\n", 0 }, { "only-b.txt", "b\n", 0 } }, 1 },
	{ "a conflict copy is never itself conflict-copied: the other version takes its next number", false,
	  { { COPY("f", ".txt"), "old\n", 0 } },
	  { { COPY("f", ".txt"), "alpha\n", 0 } },
	  { { COPY("f", ".txt"), "beta\n", 0 } },
	  { { COPY("f", ".txt"), "beta\n", 0 }, { "f.sync-conflict-20240301-140509-alpha-2.txt", "alpha\n", 0 } }, 1 },
	{ "an empty folder one side kept and the other filled loses its marker", true,
	  { { NULL, NULL, 0 } },
	  { { "Phone/.dsync-empty", "", 0 }, { "a.txt", "a\n", 0 } },
	  { { "Phone/DCIM/p.jpg", "jpg\n", 0 } },
	  { { "Phone/DCIM/p.jpg", "jpg\n", 0 }, { "a.txt", "a\n", 0 } }, 0 },
	{ "an empty folder both sides keep stays marked", false,
	  { { "x.txt", "x\n", 0 } },
	  { { "x.txt", "x\n", 0 }, { "e/.dsync-empty", "", 0 } },
	  { { "x.txt", "X\n", 0 } },
	  { { "x.txt", "X\n", 0 }, { "e/.dsync-empty", "", 0 } }, 0 },
};

static size_t data_len(const file *f)
{
	return f->len ? f->len : strlen(f->data);
}

/* A tree of FILES (up to the first with no path). */
static void make_tree(git_oid *out, const file *files)
{
	git_index *index;
	size_t i;

	assert_int_equal(git_index_new(&index), 0);
	for (i = 0; i < MAX_FILES && files[i].path; i++) {
		git_index_entry e;
		const char *d = files[i].data;
		size_t len = data_len(&files[i]);

		memset(&e, 0, sizeof(e));
		e.mode = GIT_FILEMODE_BLOB;
		if (len && (d[0] == X[0] || d[0] == L[0])) {
			e.mode = d[0] == X[0] ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_LINK;
			d++;
			len--;
		}
		assert_int_equal(git_blob_create_from_buffer(&e.id, repo, d, len), 0);
		e.path = files[i].path;
		assert_int_equal(git_index_add(index, &e), 0);
	}
	assert_int_equal(git_index_write_tree_to(out, index, repo), 0);
	git_index_free(index);
}

static git_commit *make_commit(const file *files, git_commit *parent, const char *name, const char *email,
			       git_time_t when)
{
	git_signature *sig;
	git_tree *tree;
	git_oid tid, cid;
	git_commit *c;

	make_tree(&tid, files);
	assert_int_equal(git_tree_lookup(&tree, repo, &tid), 0);
	assert_int_equal(git_signature_new(&sig, name, email, when, 0), 0);
	assert_int_equal(git_commit_create(&cid, repo, NULL, sig, sig, NULL, "snapshot\n", tree, parent ? 1 : 0,
					   (const git_commit **)&parent), 0);
	assert_int_equal(git_commit_lookup(&c, repo, &cid), 0);
	git_signature_free(sig);
	git_tree_free(tree);
	return c;
}

/* Checks that TREE holds exactly WANT, byte for byte and mode for mode. */
static void expect_tree(const char *what, const git_oid *tree_id, const file *want)
{
	git_tree *tree;
	git_index *index;
	size_t i, n = 0;

	assert_int_equal(git_tree_lookup(&tree, repo, tree_id), 0);
	assert_int_equal(git_index_new(&index), 0);
	assert_int_equal(git_index_read_tree(index, tree), 0);
	for (i = 0; i < MAX_FILES && want[i].path; i++, n++) {
		const git_index_entry *e = git_index_get_bypath(index, want[i].path, 0);
		const char *d = want[i].data;
		size_t len = data_len(&want[i]);
		uint32_t mode = GIT_FILEMODE_BLOB;
		git_blob *blob;

		if (!e)
			fail_msg("%s: '%s' is missing from the merge", what, want[i].path);
		if (len && (d[0] == X[0] || d[0] == L[0])) {
			mode = d[0] == X[0] ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_LINK;
			d++;
			len--;
		}
		if (e->mode != mode)
			fail_msg("%s: '%s' has mode %o, wanted %o", what, want[i].path, e->mode, mode);
		assert_int_equal(git_blob_lookup(&blob, repo, &e->id), 0);
		if ((size_t)git_blob_rawsize(blob) != len || memcmp(git_blob_rawcontent(blob), d, len) != 0)
			fail_msg("%s: '%s' holds '%.*s', wanted '%.*s'", what, want[i].path,
				 (int)git_blob_rawsize(blob), (const char *)git_blob_rawcontent(blob), (int)len, d);
		git_blob_free(blob);
	}
	if (git_index_entrycount(index) != n) {
		for (i = 0; i < git_index_entrycount(index); i++)
			print_message("  merged: %s\n", git_index_get_byindex(index, i)->path);
		fail_msg("%s: the merge holds %zu files, wanted %zu", what, git_index_entrycount(index), n);
	}
	git_index_free(index);
	git_tree_free(tree);
}

static void test_cases(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < DSYNC_ARRAY_SIZE(cases); k++) {
		const merge_case *mc = &cases[k];
		git_commit *base = mc->no_base ? NULL : make_commit(mc->base, NULL, "base", "base", T - 3600);
		git_commit *ours = make_commit(mc->ours, base, "alpha", A_ID, T);
		git_commit *theirs = make_commit(mc->theirs, base, "beta", B_ID, T + 60);
		dsync_merge_result r, r2;
		git_oid c1, c2;

		print_message("case: %s\n", mc->what);
		if (dsync_merge_trees_of(&r, repo, ours, theirs) < 0)
			fail_msg("%s: %s", mc->what, dsync_error_last());
		expect_tree(mc->what, &r.tree, mc->want);
		if (r.n != mc->conflicts)
			fail_msg("%s: %zu conflicts, wanted %zu", mc->what, r.n, mc->conflicts);
		/* the other device, merging the same heads the other way round,
		 * gets the same tree and the same commit */
		assert_int_equal(dsync_merge_trees_of(&r2, repo, theirs, ours), 0);
		if (!git_oid_equal(&r.tree, &r2.tree))
			fail_msg("%s: the two devices' merges differ", mc->what);
		assert_int_equal(dsync_merge_commit(&c1, repo, &r.tree, ours, theirs, &r), 0);
		assert_int_equal(dsync_merge_commit(&c2, repo, &r2.tree, theirs, ours, &r2), 0);
		if (!git_oid_equal(&c1, &c2))
			fail_msg("%s: the two devices' merge commits differ", mc->what);
		dsync_merge_result_dispose(&r);
		dsync_merge_result_dispose(&r2);
		git_commit_free(ours);
		git_commit_free(theirs);
		git_commit_free(base);
	}
}

static void test_refuses_bad_tree(void **state)
{
	static const char evil[] = "100644 .dsync";
	char buf[64];
	git_oid blob, tree, cid;
	git_odb *odb;
	git_tree *t;
	git_signature *sig;
	git_commit *ours, *theirs;
	file ok[MAX_FILES] = { { "a.txt", "a\n", 0 } };
	dsync_merge_result r;

	(void)state;
	assert_int_equal(git_blob_create_from_buffer(&blob, repo, "x", 1), 0);
	memcpy(buf, evil, sizeof(evil));
	memcpy(buf + sizeof(evil), blob.id, GIT_OID_RAWSZ);
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_write(&tree, odb, buf, sizeof(evil) + GIT_OID_RAWSZ, GIT_OBJECT_TREE), 0);
	git_odb_free(odb);
	assert_int_equal(git_tree_lookup(&t, repo, &tree), 0);
	assert_int_equal(git_signature_new(&sig, "evil", B_ID, T, 0), 0);
	assert_int_equal(git_commit_create(&cid, repo, NULL, sig, sig, NULL, "x\n", t, 0, NULL), 0);
	assert_int_equal(git_commit_lookup(&theirs, repo, &cid), 0);
	ours = make_commit(ok, NULL, "alpha", A_ID, T);
	assert_int_equal(dsync_merge_trees_of(&r, repo, ours, theirs), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), ".dsync"));
	git_commit_free(ours);
	git_commit_free(theirs);
	git_signature_free(sig);
	git_tree_free(t);
}

/* Three devices' edits and a stale head: one commit, whoever merges. */
static void test_heads(void **state)
{
	static const file base_f[MAX_FILES] = { { "1.txt", "1\n", 0 }, { "2.txt", "2\n", 0 }, { "3.txt", "3\n", 0 } };
	static const file a_f[MAX_FILES] = { { "1.txt", "one\n", 0 }, { "2.txt", "2\n", 0 }, { "3.txt", "3\n", 0 } };
	static const file b_f[MAX_FILES] = { { "1.txt", "1\n", 0 }, { "2.txt", "two\n", 0 }, { "3.txt", "3\n", 0 } };
	static const file c_f[MAX_FILES] = { { "1.txt", "1\n", 0 }, { "2.txt", "2\n", 0 }, { "3.txt", "three\n", 0 } };
	static const file a2_f[MAX_FILES] = { { "1.txt", "ONE\n", 0 }, { "2.txt", "2\n", 0 }, { "3.txt", "3\n", 0 } };
	static const file all_f[MAX_FILES] = { { "1.txt", "one\n", 0 }, { "2.txt", "two\n", 0 }, { "3.txt", "three\n", 0 } };
	static const size_t orders[4][4] = { { 0, 1, 2, 3 }, { 3, 2, 1, 0 }, { 1, 3, 0, 2 }, { 2, 0, 3, 1 } };
	git_commit *base = make_commit(base_f, NULL, "base", "base", T - 3600);
	git_commit *a = make_commit(a_f, base, "alpha", A_ID, T);
	git_commit *b = make_commit(b_f, base, "beta", B_ID, T + 60);
	git_commit *c = make_commit(c_f, base, "gamma", "cccccccccccccccccccccccccccccccc", T + 120);
	git_commit *a2 = make_commit(a2_f, a, "alpha", A_ID, T + 180);
	dsync_merge_head heads[4] = {
		{ A_ID, *git_commit_id(a) }, { B_ID, *git_commit_id(b) },
		{ "cccccccccccccccccccccccccccccccc", *git_commit_id(c) },
		{ "dddddddddddddddddddddddddddddddd", *git_commit_id(base) } /* stale */
	};
	dsync_merge_result r;
	git_oid first, got;
	git_commit *m;
	size_t k, i;

	(void)state;
	for (k = 0; k < 4; k++) {
		dsync_merge_head in[4];

		for (i = 0; i < 4; i++)
			in[i] = heads[orders[k][i]];
		assert_int_equal(dsync_merge_heads(&got, &r, repo, in, 4), 0);
		assert_int_equal(r.n, 0);
		dsync_merge_result_dispose(&r);
		if (k == 0)
			first = got;
		else if (!git_oid_equal(&first, &got))
			fail_msg("merging the heads in another order gave another commit");
	}
	assert_int_equal(git_commit_lookup(&m, repo, &first), 0);
	expect_tree("three devices", git_commit_tree_id(m), all_f);
	/* two merges: the stale head made none */
	assert_int_equal(git_commit_parentcount(m), 2);
	git_commit_free(m);

	/* a head that contains the other: it is the result, no merge commit */
	heads[1].commit = *git_commit_id(a2);
	heads[1].device_id = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
	assert_int_equal(dsync_merge_heads(&got, &r, repo, heads, 2), 0);
	assert_true(git_oid_equal(&got, git_commit_id(a2)));
	dsync_merge_result_dispose(&r);
	git_commit_free(a2);
	git_commit_free(c);
	git_commit_free(b);
	git_commit_free(a);
	git_commit_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_heads),
		cmocka_unit_test(test_refuses_bad_tree),
	};

	return cmocka_run_group_tests(tests, sandbox_repo_setup, sandbox_repo_teardown);
}
