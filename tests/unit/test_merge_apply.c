/*
 * Merging into a folder (include/dsync/merge.h): the working tree updated
 * without overwriting what the user changes meanwhile, all or nothing when
 * killed at any step, bad input refused with nothing changed, and the
 * conflicts a merge leaves listed and resolved.
 *
 * Two devices of one folder: ALPHA made with dsync_folder_init(), BETA a copy
 * of it with its own device id; each reads the other's objects (alternates),
 * as after a fetch.  The crash trials are seeded: DSYNC_CRASH_SEED and
 * DSYNC_CRASH_TRIALS (default 1 and 24) reproduce a run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/merge.h"
#include "dsync/snapshot.h"
#include "core/base/internal.h"
#include "core/worktree/apply.h"
#include "sandbox.h"

static unsigned pair_no;

/* ------------------------------------------------------------- helpers */

static void put(const char *dir, const char *rel, const char *content)
{
	sandbox_put(dir, rel, content);
}

static void content_is(const char *dir, const char *rel, const char *want)
{
	char *got = sandbox_slurp(dir, rel);

	if (!want) {
		if (got)
			fail_msg("'%s' should be gone, holds '%s'", rel, got);
		return;
	}
	if (!got)
		fail_msg("'%s' is missing", rel);
	assert_string_equal(got, want);
	free(got);
}

/* Snapshots DIR; its head (hex) into HEAD. */
static void snap(const char *dir, char head[41])
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	dsync_folder *f;

	so.allow_mass_delete = true;
	assert_int_equal(dsync_folder_open(&f, dir), 0);
	if (dsync_snapshot_take(&sr, f, &so) != 0)
		fail_msg("snapshot of %s: %s", dir, dsync_error_last());
	memcpy(head, sr.commit, 41);
	dsync_folder_free(f);
}

/* Nothing changed on disk since the head: the working tree is the head. */
static void clean(const char *dir)
{
	dsync_changes ch;
	dsync_folder *f;

	assert_int_equal(dsync_folder_open(&f, dir), 0);
	assert_int_equal(dsync_status(&ch, f, NULL, NULL), 0);
	if (ch.n)
		fail_msg("%s: '%s' (%c) differs from the head", dir, ch.v[0].path, ch.v[0].kind);
	dsync_changes_dispose(&ch);
	dsync_folder_free(f);
}

static void set_config(const char *dir, const char *key, const char *value)
{
	char path[1024];
	git_config *cfg;

	snprintf(path, sizeof(path), "%s/.dsync/config", dir);
	assert_int_equal(git_config_open_ondisk(&cfg, path), 0);
	assert_int_equal(git_config_set_string(cfg, key, value), 0);
	git_config_free(cfg);
}

static void alternate(const char *dir, const char *other)
{
	char path[1024], objects[1024];

	snprintf(path, sizeof(path), "%s/.dsync/objects/info", dir);
	mkdir(path, 0755);
	snprintf(objects, sizeof(objects), "%s/.dsync/objects\n", other);
	snprintf(path, sizeof(path), "%s/.dsync/objects/info/alternates", dir);
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fputs(objects, fp);
		fclose(fp);
	}
}

/*
 * Makes a new pair: ALPHA holds FILES (NULL-terminated path, content
 * pairs), snapshotted; BETA is a copy of it with its own device.
 */
static void make_pair(char *alpha, char *beta, size_t size, const char *const *files)
{
	dsync_folder *f;
	char cmd[1200], head[41];

	pair_no++;
	snprintf(alpha, size, "%s/alpha%u", sandbox_dir, pair_no);
	snprintf(beta, size, "%s/beta%u", sandbox_dir, pair_no);
	assert_int_equal(dsync_folder_init(&f, alpha, "alpha"), 0);
	dsync_folder_free(f);
	for (; *files; files += 2)
		put(alpha, files[0], files[1]);
	snap(alpha, head);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", alpha, beta);
	assert_int_equal(system(cmd), 0);
	set_config(beta, "dsync.deviceId", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	set_config(beta, "dsync.deviceName", "beta");
	alternate(alpha, beta);
	alternate(beta, alpha);
}

/* Merges REV into DIR; the result into OUT, the return value back. */
static int merge(dsync_merge_outcome *out, const char *dir, const char *rev)
{
	dsync_folder *f;
	int error;

	assert_int_equal(dsync_folder_open(&f, dir), 0);
	error = dsync_merge_revs(out, f, &rev, 1, NULL);
	dsync_folder_free(f);
	return error;
}

/* Merges REV into DIR, which must succeed. */
static void must_merge(dsync_merge_outcome *out, const char *dir, const char *rev)
{
	if (merge(out, dir, rev) != 0)
		fail_msg("merge of %.8s into %s: %s", rev, dir, dsync_error_last());
}

/* DIR's open conflicts into OUT. */
static void list_conflicts(dsync_conflicts *out, const char *dir)
{
	dsync_folder *f;

	assert_int_equal(dsync_folder_open(&f, dir), 0);
	assert_int_equal(dsync_conflicts_list(out, f), 0);
	dsync_folder_free(f);
}

static bool journal_exists(const char *dir)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/.dsync/dsync-merge", dir);
	return access(path, F_OK) == 0;
}

/* Whether some commit in DIR's history has PATH with CONTENT. */
static bool in_history(const char *dir, const char *path, const char *content)
{
	char gitdir[1024];
	git_repository *r;
	git_revwalk *w;
	git_oid id, blob;
	bool found = false;

	snprintf(gitdir, sizeof(gitdir), "%s/.dsync", dir);
	assert_int_equal(git_repository_open(&r, gitdir), 0);
	assert_int_equal(git_odb_hash(&blob, content, strlen(content), GIT_OBJECT_BLOB), 0);
	assert_int_equal(git_revwalk_new(&w, r), 0);
	assert_int_equal(git_revwalk_push_ref(w, "refs/heads/main"), 0);
	while (!found && git_revwalk_next(&id, w) == 0) {
		git_commit *c;
		git_tree *t;
		git_tree_entry *e;

		assert_int_equal(git_commit_lookup(&c, r, &id), 0);
		assert_int_equal(git_commit_tree(&t, c), 0);
		if (git_tree_entry_bypath(&e, t, path) == 0) {
			found = git_oid_equal(git_tree_entry_id(e), &blob);
			git_tree_entry_free(e);
		}
		git_tree_free(t);
		git_commit_free(c);
	}
	git_revwalk_free(w);
	git_repository_free(r);
	return found;
}

/* ---------------------------------------------------------------- hooks */

typedef struct hook_state {
	const char *step;      /* act at this step ... */
	const char *path;      /* ... for this path ("" any) */
	const char *dir;       /* the folder */
	const char *file, *content;  /* write CONTENT to FILE there */
	unsigned kill_at;      /* or: SIGKILL at the Nth call */
	unsigned calls;
	bool done;
} hook_state;

static void hook_cb(const char *step, const char *path, void *payload)
{
	hook_state *h = payload;

	h->calls++;
	if (h->kill_at && h->calls == h->kill_at)
		raise(SIGKILL);
	if (h->done || !h->step || strcmp(step, h->step) != 0 || (*h->path && strcmp(path, h->path) != 0))
		return;
	h->done = true;
	put(h->dir, h->file, h->content);
}

/* Merges REV into DIR while, at the update's STEP for PATH ("" any), the
 * user writes CONTENT to FILE there: the merge must notice and redo. */
static void merge_while(dsync_merge_outcome *out, const char *dir, const char *rev, const char *step,
			const char *path, const char *file, const char *content)
{
	hook_state h = { 0 };

	h.step = step;
	h.path = path;
	h.dir = dir;
	h.file = file;
	h.content = content;
	dsync_worktree_set_test_hook(hook_cb, &h);
	if (merge(out, dir, rev) != 0)
		fail_msg("merge: %s", dsync_error_last());
	dsync_worktree_set_test_hook(NULL, NULL);
	assert_true(h.done);
	assert_true(out->redone >= 1);
}

/* ----------------------------------------------------------------- tests */

static const char *const start_files[] = {
	"notes.txt", "1\n2\n3\n4\n5\n6\n7\n8\n",
	"todo.txt", "milk\n",
	"photo.bin", "JPEG\0x",
	NULL
};

/* A change the user makes while the merge replaces the very file is never
 * overwritten: it is snapshotted, the merge redone, and beta's version kept
 * as a conflict copy. */
static void test_change_during_write(void **state)
{
	char alpha[512], beta[512], ha[41], hb[41];
	dsync_merge_outcome out;
	dsync_conflicts list;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	put(beta, "todo.txt", "milk\nbread (beta)\n");
	put(beta, "notes.txt", "1\n2\n3\n4\n5\n6\n7\neight\n");
	snap(beta, hb);
	put(alpha, "notes.txt", "one\n2\n3\n4\n5\n6\n7\n8\n");
	snap(alpha, ha);

	merge_while(&out, alpha, hb, "write", "todo.txt", "todo.txt",
		    "milk\neggs (typed during the merge)\n");
	/* the user's change survives at its path and is in history */
	content_is(alpha, "todo.txt", "milk\neggs (typed during the merge)\n");
	assert_true(in_history(alpha, "todo.txt", "milk\neggs (typed during the merge)\n"));
	/* beta's edit is kept beside it; the rest merged */
	content_is(alpha, "notes.txt", "one\n2\n3\n4\n5\n6\n7\neight\n");
	list_conflicts(&list, alpha);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.v[0].path, "todo.txt");
	assert_string_equal(list.v[0].device, "beta");
	content_is(alpha, list.v[0].copy, "milk\nbread (beta)\n");
	assert_int_equal(out.open_conflicts, 1);
	dsync_conflicts_dispose(&list);
	assert_false(journal_exists(alpha));
	clean(alpha);
}

/* A file the user creates after the snapshot where the merge brings one
 * (found when the paths are compared): both kept, nothing overwritten. */
static void test_new_file_in_the_way(void **state)
{
	char alpha[512], beta[512], hb[41];
	dsync_merge_outcome out;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	put(beta, "plan.txt", "beta's plan\n");
	snap(beta, hb);
	/* written after the merge's snapshot, before anything is replaced */
	merge_while(&out, alpha, hb, "classified", "", "plan.txt",
		    "alpha's plan, not yet snapshotted\n");
	content_is(alpha, "plan.txt", "alpha's plan, not yet snapshotted\n");
	assert_true(in_history(alpha, "plan.txt", "beta's plan\n"));
	assert_int_equal(out.open_conflicts, 1);
	clean(alpha);
}

/* A file where a folder was: the folder's files go first, then the folder;
 * a file the user puts in that folder meanwhile keeps the folder, and the
 * merge's file becomes a conflict copy. */
static void folder_to_file(char *alpha, char *beta, size_t size, char hb[41])
{
	static const char *const files[] = { "notes/g.txt", "g\n", "z.txt", "z\n", NULL };
	char path[600];

	make_pair(alpha, beta, size, files);
	snprintf(path, sizeof(path), "%s/notes/g.txt", beta);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/notes", beta);
	assert_int_equal(rmdir(path), 0);
	put(beta, "notes", "now a file\n");
	snap(beta, hb);
}

static void test_file_replaces_folder(void **state)
{
	char alpha[512], beta[512], hb[41], path[600];
	dsync_merge_outcome out;
	struct stat st;

	(void)state;
	folder_to_file(alpha, beta, sizeof(alpha), hb);
	must_merge(&out, alpha, hb);
	assert_true(out.fast_forward);
	content_is(alpha, "notes", "now a file\n");
	clean(alpha);

	/* again, with a file of the user's appearing in the folder */
	folder_to_file(alpha, beta, sizeof(alpha), hb);
	merge_while(&out, alpha, hb, "classified", "", "notes/mine.txt",
		    "the user's\n");
	content_is(alpha, "notes/mine.txt", "the user's\n");
	snprintf(path, sizeof(path), "%s/notes", alpha);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(out.open_conflicts, 1);
	clean(alpha);
}

/* Nothing is written through a link: a link the user makes where the
 * merge brings a folder is recorded, and the folder keeps the path. */
static void link_cb(const char *step, const char *path, void *payload)
{
	const char *const *v = payload;

	(void)path;
	if (strcmp(step, "classified") == 0 && access(v[1], F_OK) != 0)
		assert_int_equal(symlink(v[0], v[1]), 0);
}

static void test_no_write_through_link(void **state)
{
	char alpha[512], beta[512], hb[41], outside[600], link[600], path[700];
	const char *v[2] = { outside, link };
	dsync_merge_outcome out;
	dsync_conflicts list;
	struct stat st;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	put(beta, "ext/new.txt", "from beta\n");
	snap(beta, hb);
	snprintf(outside, sizeof(outside), "%s/outside", sandbox_dir);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(link, sizeof(link), "%s/ext", alpha);
	dsync_worktree_set_test_hook(link_cb, (void *)v);
	must_merge(&out, alpha, hb);
	dsync_worktree_set_test_hook(NULL, NULL);
	snprintf(path, sizeof(path), "%s/new.txt", outside);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	content_is(alpha, "ext/new.txt", "from beta\n");
	list_conflicts(&list, alpha);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.v[0].path, "ext");
	snprintf(path, sizeof(path), "%s/%s", alpha, list.v[0].copy);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	dsync_conflicts_dispose(&list);
	clean(alpha);
}

/* Ignored files: one of this device's in the way of a file the merge brings
 * is kept under another name (it never leaves the device); a file that the
 * merged rules now leave out stays on disk (ignoring never deletes). */
static void test_ignored(void **state)
{
	char alpha[512], beta[512], ha[41], hb[41], path[700];
	dsync_merge_outcome out;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	put(alpha, ".dsyncignore", "*.log\n");
	put(alpha, "x.log", "alpha's own log\n");
	snap(alpha, ha);
	put(beta, "x.log", "beta's log\n");
	snap(beta, hb);
	must_merge(&out, alpha, hb);
	content_is(alpha, "x.log", "beta's log\n");
	snprintf(path, sizeof(path), "test \"$(cat '%s'/x.sync-conflict-*-alpha.log)\" = \"alpha's own log\"", alpha);
	assert_int_equal(system(path), 0);

	/* beta takes the merge, with the rule: x.log leaves the history but
	 * stays on beta's disk (the head copied first: the merge fills OUT) */
	snprintf(hb, sizeof(hb), "%s", out.head);
	must_merge(&out, beta, hb);
	snap(alpha, ha); /* alpha records the rule's effect: x.log gone */
	must_merge(&out, beta, ha);
	content_is(beta, "x.log", "beta's log\n");
	/* the merge did remove it from beta's history: only the disk keeps it */
	snprintf(path, sizeof(path), "test -z \"$(git --git-dir='%s/.dsync' ls-tree main x.log)\"", beta);
	assert_int_equal(system(path), 0);
}

/* A file replaced by a merge keeps its permissions; the executable bit
 * follows the merge. */
static void test_permissions(void **state)
{
	char alpha[512], beta[512], hb[41], path[600];
	dsync_merge_outcome out;
	struct stat st;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	snprintf(path, sizeof(path), "%s/todo.txt", alpha);
	assert_int_equal(chmod(path, 0600), 0);
	put(beta, "todo.txt", "milk\nbread\n");
	snap(beta, hb);
	must_merge(&out, alpha, hb);
	content_is(alpha, "todo.txt", "milk\nbread\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* A save right after the merge wrote the file is never taken for the
 * merge's version: the next snapshot records it. */
static void test_save_after_write(void **state)
{
	char alpha[512], beta[512], hb[41], head[41];
	dsync_merge_outcome out;
	hook_state h = { 0 };
	dsync_changes ch;
	dsync_folder *f;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	put(beta, "todo.txt", "milk\nbread\n");
	snap(beta, hb);
	h.step = "written";
	h.path = "todo.txt";
	h.dir = alpha;
	h.file = "todo.txt";
	h.content = "milk\nbread\nsaved right after\n";
	dsync_worktree_set_test_hook(hook_cb, &h);
	must_merge(&out, alpha, hb);
	dsync_worktree_set_test_hook(NULL, NULL);
	assert_true(h.done);
	assert_int_equal(dsync_folder_open(&f, alpha), 0);
	assert_int_equal(dsync_status(&ch, f, NULL, NULL), 0);
	assert_int_equal(ch.n, 1);
	assert_string_equal(ch.v[0].path, "todo.txt");
	dsync_changes_dispose(&ch);
	dsync_folder_free(f);
	snap(alpha, head);
	assert_true(in_history(alpha, "todo.txt", "milk\nbread\nsaved right after\n"));
}

/* A folder emptied on the other device stays, empty. */
static void test_emptied_folder(void **state)
{
	static const char *const files[] = { "d/x", "x\n", "z.txt", "z\n", NULL };
	char alpha[512], beta[512], hb[41], path[600];
	dsync_merge_outcome out;
	struct stat st;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), files);
	snprintf(path, sizeof(path), "%s/d/x", beta);
	assert_int_equal(unlink(path), 0);
	snap(beta, hb);
	must_merge(&out, alpha, hb);
	snprintf(path, sizeof(path), "%s/d", alpha);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	content_is(alpha, "d/x", NULL);
	clean(alpha);
}

/* A conflict on ".git" (stored as ".git~dsync"): the copy is named from the
 * name on disk, and listed as a copy of it. */
static void test_escaped_names(void **state)
{
	static const char *const files[] = { "sub/.git", "gitdir: /a\n", NULL };
	char alpha[512], beta[512], ha[41], hb[41];
	dsync_merge_outcome out;
	dsync_conflicts list;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), files);
	put(beta, "sub/.git", "gitdir: /beta\n");
	snap(beta, hb);
	sleep(1);
	put(alpha, "sub/.git", "gitdir: /alpha\n");
	snap(alpha, ha);
	assert_int_equal(merge(&out, alpha, hb), 0);
	list_conflicts(&list, alpha);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.v[0].path, "sub/.git");
	assert_true(list.v[0].path_exists);
	assert_int_equal(strncmp(list.v[0].copy, "sub/.git.sync-conflict-", 23), 0);
	content_is(alpha, list.v[0].copy, "gitdir: /beta\n");
	dsync_conflicts_dispose(&list);
	clean(alpha);
}

/* Bad input: a revision that doesn't exist, trees with hostile names:
 * refused with a clear message, nothing changed. */
static void test_refused(void **state)
{
	static const char *const hostile[][2] = {
		{ "40000", ".dsync" }, { "100644", ".." }, { "100644", "/etc" }, { "100644", ".dsync" },
		{ "100644", ".git" },
	};
	char alpha[512], beta[512], ha[41], ha2[41], hex[41], config_before[4096];
	dsync_merge_outcome out;
	git_repository *r;
	size_t i;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	snap(alpha, ha);
	snprintf(hex, sizeof(hex), "%s", "0123456789abcdef0123456789abcdef01234567");
	assert_int_equal(merge(&out, alpha, hex), DSYNC_ENOTFOUND);
	assert_non_null(strstr(dsync_error_last(), "0123456789"));
	/* neither an id, a ref nor a time: a bad argument */
	assert_int_equal(merge(&out, alpha, "no-such-ref"), DSYNC_EUSAGE);

	{
		char gitdir[600];

		snprintf(gitdir, sizeof(gitdir), "%s/.dsync", alpha);
		assert_int_equal(git_repository_open(&r, gitdir), 0);
	}
	{
		char *cfg = sandbox_slurp(alpha, ".dsync/config");

		snprintf(config_before, sizeof(config_before), "%s", cfg);
		free(cfg);
	}
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		/* a commit on top of alpha's head (a fast-forward) whose tree
		 * holds one hostile entry beside the real files */
		git_oid blob, inner, tree, commit, parent_id;
		git_commit *parent;
		git_tree *pt, *t;
		git_signature *sig;
		git_odb *odb;
		char raw[512];
		size_t n;

		assert_int_equal(git_blob_create_from_buffer(&blob, r, "[core]\n\tworktree = /\n", 20), 0);
		if (strcmp(hostile[i][0], "40000") == 0) {
			/* a folder ".dsync" holding "config" */
			n = (size_t)snprintf(raw, sizeof(raw), "100644 config") + 1;
			memcpy(raw + n, blob.id, GIT_OID_RAWSZ);
			assert_int_equal(git_repository_odb(&odb, r), 0);
			assert_int_equal(git_odb_write(&inner, odb, raw, n + GIT_OID_RAWSZ, GIT_OBJECT_TREE), 0);
			git_odb_free(odb);
		} else {
			inner = blob;
		}
		git_oid_fromstr(&parent_id, ha);
		assert_int_equal(git_commit_lookup(&parent, r, &parent_id), 0);
		assert_int_equal(git_commit_tree(&pt, parent), 0);
		{
			/* a raw tree (libgit2's builder refuses such names):
			 * the hostile entry first, then the real ones */
			char buf[2048];
			size_t len = 0, k;

			n = (size_t)snprintf(buf, sizeof(buf), "%s %s", hostile[i][0], hostile[i][1]) + 1;
			memcpy(buf + n, inner.id, GIT_OID_RAWSZ);
			len = n + GIT_OID_RAWSZ;
			for (k = 0; k < git_tree_entrycount(pt); k++) {
				const git_tree_entry *e = git_tree_entry_byindex(pt, k);

				len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%o %s",
							git_tree_entry_filemode(e), git_tree_entry_name(e)) + 1;
				memcpy(buf + len, git_tree_entry_id(e)->id, GIT_OID_RAWSZ);
				len += GIT_OID_RAWSZ;
			}
			assert_int_equal(git_repository_odb(&odb, r), 0);
			assert_int_equal(git_odb_write(&tree, odb, buf, len, GIT_OBJECT_TREE), 0);
			git_odb_free(odb);
		}
		assert_int_equal(git_tree_lookup(&t, r, &tree), 0);
		assert_int_equal(git_signature_new(&sig, "mallory", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 2000000000, 0), 0);
		assert_int_equal(git_commit_create(&commit, r, NULL, sig, sig, NULL, "evil\n", t, 1,
						   (const git_commit **)&parent), 0);
		git_oid_tostr(hex, sizeof(hex), &commit);
		assert_int_equal(merge(&out, alpha, hex), DSYNC_ECORRUPT);
		if (!strstr(dsync_error_last(), hostile[i][1]) && !strstr(dsync_error_last(), ".dsync"))
			fail_msg("unclear message for '%s': %s", hostile[i][1], dsync_error_last());
		git_signature_free(sig);
		git_tree_free(t);
		git_tree_free(pt);
		git_commit_free(parent);
	}
	git_repository_free(r);
	/* nothing changed: head, files, config, no journal */
	snap(alpha, ha2);
	assert_string_equal(ha, ha2);
	content_is(alpha, "notes.txt", start_files[1]);
	{
		char *cfg = sandbox_slurp(alpha, ".dsync/config");

		assert_string_equal(cfg, config_before);
		free(cfg);
	}
	assert_false(journal_exists(alpha));
	clean(alpha);
}

/* The merge of the crash trials: no conflicts, so the result is known. */
static void crash_setup(char *alpha, char *beta, size_t size, char hb[41])
{
	static const char *const files[] = {
		"a0.txt", "a0\n", "a1.txt", "a1\n", "a2.txt", "a2\n", "a3.txt", "a3\n", "a4.txt", "a4\n",
		"b0.txt", "b0\n", "b1.txt", "b1\n", "b2.txt", "b2\n", "b3.txt", "b3\n", "b4.txt", "b4\n",
		"gone.txt", "gone\n", "old/r.txt", "renamed by beta\n",
		"s.txt", "1\n2\n3\n4\n5\n6\n7\n8\n", "run.sh", "echo hi\n",
		NULL
	};
	char ha[41], name[32];
	int i;

	make_pair(alpha, beta, size, files);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "b%d.txt", i);
		put(beta, name, "edited by beta\n");
		snprintf(name, sizeof(name), "new/n%d.txt", i);
		put(beta, name, "new from beta\n");
	}
	{
		char p[600], q[600];

		snprintf(p, sizeof(p), "%s/gone.txt", beta);
		assert_int_equal(unlink(p), 0);
		snprintf(p, sizeof(p), "%s/old/r.txt", beta);
		snprintf(q, sizeof(q), "%s/dir", beta);
		mkdir(q, 0755);
		snprintf(q, sizeof(q), "%s/dir/r2.txt", beta);
		assert_int_equal(rename(p, q), 0);
		snprintf(p, sizeof(p), "%s/old", beta);
		assert_int_equal(rmdir(p), 0);
		snprintf(p, sizeof(p), "%s/run.sh", beta);
		assert_int_equal(chmod(p, 0755), 0);
	}
	put(beta, "s.txt", "1\n2\n3\n4\n5\n6\n7\neight\n");
	snap(beta, hb);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "a%d.txt", i);
		put(alpha, name, "edited by alpha\n");
	}
	put(alpha, "s.txt", "one\n2\n3\n4\n5\n6\n7\n8\n");
	snap(alpha, ha);
}

static void crash_check(const char *alpha)
{
	char name[32];
	struct stat st;
	char path[600];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "a%d.txt", i);
		content_is(alpha, name, "edited by alpha\n");
		snprintf(name, sizeof(name), "b%d.txt", i);
		content_is(alpha, name, "edited by beta\n");
		snprintf(name, sizeof(name), "new/n%d.txt", i);
		content_is(alpha, name, "new from beta\n");
	}
	content_is(alpha, "gone.txt", NULL);
	content_is(alpha, "old/r.txt", NULL);
	content_is(alpha, "dir/r2.txt", "renamed by beta\n");
	content_is(alpha, "s.txt", "one\n2\n3\n4\n5\n6\n7\neight\n");
	snprintf(path, sizeof(path), "%s/run.sh", alpha);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	snprintf(path, sizeof(path), "%s/old", alpha);
	assert_int_equal(access(path, F_OK), -1); /* its folder went with it */
	assert_false(journal_exists(alpha));
	/* no temporary file left behind */
	snprintf(path, sizeof(path), "test -z \"$(find '%s' -name '.dsync-tmp-*')\"", alpha);
	assert_int_equal(system(path), 0);
}

static unsigned long long rng;

static unsigned next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11);
}

/* kill -9 at a random step of the update; the next command completes it. */
static void test_crash(void **state)
{
	const char *s = getenv("DSYNC_CRASH_SEED"), *t = getenv("DSYNC_CRASH_TRIALS");
	unsigned long long seed = s ? strtoull(s, NULL, 10) : 1;
	unsigned trials = t ? (unsigned)strtoul(t, NULL, 10) : 24, trial, total;
	char alpha[512], beta[512], hb[41], head[41];
	dsync_merge_outcome out;
	hook_state h = { 0 };

	(void)state;
	/* how many steps an update of this merge has */
	crash_setup(alpha, beta, sizeof(alpha), hb);
	dsync_worktree_set_test_hook(hook_cb, &h);
	must_merge(&out, alpha, hb);
	dsync_worktree_set_test_hook(NULL, NULL);
	total = h.calls;
	assert_true(total > 20);
	crash_check(alpha);
	clean(alpha);

	rng = seed * 2654435761ULL + 1;
	for (trial = 0; trial < trials; trial++) {
		int status;
		pid_t pid;

		crash_setup(alpha, beta, sizeof(alpha), hb);
		memset(&h, 0, sizeof(h));
		h.kill_at = 1 + next_rand() % total;
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dsync_worktree_set_test_hook(hook_cb, &h);
			_exit(merge(&out, alpha, hb) == 0 ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("seed %llu trial %u: the merge was not killed at step %u of %u", seed, trial,
				 h.kill_at, total);
		/* the next command that takes the lock finishes the merge */
		snap(alpha, head);
		crash_check(alpha);
		clean(alpha);
		/* and merging again changes nothing */
		if (merge(&out, alpha, hb) != 0)
			fail_msg("merge again: %s", dsync_error_last());
		assert_false(out.merged);
	}
}

/* dsync conflicts resolve: file, copy, both; each recorded as a version. */
static void test_resolve(void **state)
{
	char alpha[512], beta[512], ha[41], hb[41], commit[41];
	dsync_merge_outcome out;
	dsync_conflicts list;
	dsync_folder *f;

	(void)state;
	make_pair(alpha, beta, sizeof(alpha), start_files);
	put(beta, "todo.txt", "beta\n");
	put(beta, "photo.bin", "PNG beta\0");
	put(beta, "notes.txt", "beta notes\n");
	snap(beta, hb);
	sleep(1); /* alpha's edits are later: alpha keeps the paths */
	put(alpha, "todo.txt", "alpha\n");
	put(alpha, "photo.bin", "PNG alpha\0");
	put(alpha, "notes.txt", "alpha notes\n");
	snap(alpha, ha);
	assert_int_equal(merge(&out, alpha, hb), 0);
	assert_int_equal(out.conflicts, 3);
	assert_int_equal(out.open_conflicts, 3);
	assert_int_equal(dsync_folder_open(&f, alpha), 0);
	assert_int_equal(dsync_conflicts_list(&list, f), 0);
	assert_int_equal(list.n, 3);
	assert_string_equal(list.v[0].path, "notes.txt");
	assert_string_equal(list.v[1].path, "photo.bin");
	assert_string_equal(list.v[2].path, "todo.txt");
	assert_true(list.v[0].path_exists);

	/* keep the file: the copy goes (into history) */
	assert_int_equal(dsync_conflict_resolve(commit, f, "todo.txt", DSYNC_KEEP_FILE, NULL), 0);
	content_is(alpha, list.v[2].copy, NULL);
	content_is(alpha, "todo.txt", "alpha\n");
	assert_true(in_history(alpha, list.v[2].copy, "beta\n"));

	/* keep the copy: it replaces the file */
	assert_int_equal(dsync_conflict_resolve(commit, f, list.v[1].copy, DSYNC_KEEP_COPY, NULL), 0);
	content_is(alpha, "photo.bin", "PNG beta");
	content_is(alpha, list.v[1].copy, NULL);

	/* keep both: the copy gets a plain name */
	assert_int_equal(dsync_conflict_resolve(commit, f, "notes.txt", DSYNC_KEEP_BOTH, NULL), 0);
	content_is(alpha, "notes.txt", "alpha notes\n");
	content_is(alpha, list.v[0].copy, NULL);
	{
		char name[128];
		struct tm tm;
		char stamp[32];

		gmtime_r(&list.v[0].when, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H%M%S", &tm);
		snprintf(name, sizeof(name), "notes (beta %s).txt", stamp);
		content_is(alpha, name, "beta notes\n");
	}
	dsync_conflicts_dispose(&list);
	assert_int_equal(dsync_conflicts_list(&list, f), 0);
	assert_int_equal(list.n, 0);
	dsync_conflicts_dispose(&list);
	assert_int_equal(dsync_conflict_resolve(commit, f, "notes.txt", DSYNC_KEEP_FILE, NULL), DSYNC_ENOTFOUND);
	dsync_folder_free(f);
	clean(alpha);
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("apply", SANDBOX_LIB | SANDBOX_CONFIG);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_change_during_write),
		cmocka_unit_test(test_new_file_in_the_way),
		cmocka_unit_test(test_file_replaces_folder),
		cmocka_unit_test(test_no_write_through_link),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_save_after_write),
		cmocka_unit_test(test_emptied_folder),
		cmocka_unit_test(test_escaped_names),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
