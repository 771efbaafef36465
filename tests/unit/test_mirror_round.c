/*
 * Mirror rounds (core/mirror/round.c, scan.c, writeback.c) against OpenSSH's
 * real sftp-server playing the phone: DSYNC_SSH_COMMAND runs a script that
 * execs it in place of ssh, so the whole path (transport, listing, reads,
 * writes, renames) is the real one.  The tests run in order on one folder
 * ("laptop") whose subfolder Phone mirrors the sandbox's phone/ folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#include <sys/wait.h>

#include <git2.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/mirror.h"
#include "dsync/snapshot.h"
#include "core/base/internal.h"
#include "core/folder/folder.h"
#include "core/mirror/mirror_internal.h"
#include "sandbox.h"

#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

static char folder[300], phone[300], dir_p[320];
static dsync_folder *f;
static time_t stamp = 1700000000;

/* ---- helpers ---------------------------------------------------------------------- */

/* Writes CONTENT to DIR/REL with a new mtime each time (a phone's clock
 * has seconds: the cache must see every edit). */
static void put(const char *dir, const char *rel, const char *content)
{
	char path[1024];
	struct utimbuf ut;

	sandbox_put(dir, rel, content);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	ut.actime = ut.modtime = stamp += 10;
	assert_int_equal(utime(path, &ut), 0);
}

static void content_is(const char *dir, const char *rel, const char *want)
{
	char *got = sandbox_slurp(dir, rel);

	if (!want) {
		if (got)
			fail_msg("'%s/%s' should be gone, holds '%s'", dir, rel, got);
		return;
	}
	if (!got)
		fail_msg("'%s/%s' is missing", dir, rel);
	if (strcmp(got, want) != 0)
		fail_msg("'%s/%s' holds '%s', not '%s'", dir, rel, got, want);
	free(got);
}

static void rm(const char *dir, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(unlink(path), 0);
}

/* The names in DIR (one level) that contain NEEDLE. */
static int count_named(const char *dir, const char *needle)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, needle))
			n++;
	closedir(d);
	return n;
}

/* Everything below DIR, as "find" lists it, without dsync's temporaries. */
static void no_temporaries(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -name '*.dsync-*')\"", dir);
	if (system(cmd) != 0)
		fail_msg("dsync left temporary names in %s", dir);
}

static void warn_cb(const char *msg, void *payload)
{
	(void)payload;
	fprintf(stderr, "warning: %s\n", msg);
}

static int round_is(dsync_mirror_result *r, int want, bool allow_mass_delete)
{
	dsync_mirror_options o = DSYNC_MIRROR_OPTIONS_INIT;
	int error;

	o.warn = warn_cb;
	o.allow_mass_delete = allow_mass_delete;
	error = dsync_mirror_round(r, f, "phone", &o);
	if (error != want)
		fail_msg("round: %d, not %d (%s)", error, want, error ? dsync_error_last() : "");
	return error;
}

/* Whether a version in the folder's history is authored by NAME. */
static bool authored_by(const char *name)
{
	git_revwalk *w;
	git_oid id;
	bool found = false;

	assert_int_equal(dsync_folder_repo(f), 0);
	assert_int_equal(git_revwalk_new(&w, f->repo), 0);
	assert_int_equal(git_revwalk_push_ref(w, "refs/heads/main"), 0);
	while (!found && git_revwalk_next(&id, w) == 0) {
		git_commit *c;

		assert_int_equal(git_commit_lookup(&c, f->repo, &id), 0);
		found = strcmp(git_commit_author(c)->name, name) == 0 &&
			strstr(git_commit_message(c), "Dsync-Device: ") != NULL;
		git_commit_free(c);
	}
	git_revwalk_free(w);
	return found;
}

static void snapshot(void)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;

	assert_int_equal(dsync_snapshot_take(&sr, f, &so), 0);
}

/* ---- the rounds ------------------------------------------------------------------- */

/* First round: the phone's photo comes in, authored by the mirror; the
 * folder's file under Phone goes out. */
static void test_first_round(void **state)
{
	dsync_mirror_options o = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_mirror_result r;
	char url[400];

	(void)state;
	put(phone, "DCIM/a.jpg", "photo a");
	put(folder, "Phone/notes.txt", "notes 1");
	put(folder, "elsewhere.txt", "not for the phone");
	snapshot();
	snprintf(url, sizeof(url), "sftp://localhost%s", phone);
	if (dsync_mirror_add(f, "phone", url, "Phone", false, &o) != 0)
		fail_msg("mirror add: %s", dsync_error_last());
	round_is(&r, 0, false);
	content_is(folder, "Phone/DCIM/a.jpg", "photo a");
	content_is(phone, "notes.txt", "notes 1");
	content_is(phone, "elsewhere.txt", NULL);
	assert_true(r.recorded);
	assert_int_equal(r.recorded_added, 1);
	assert_int_equal(r.files_written, 1);
	assert_true(authored_by("phone"));
	no_temporaries(phone);
}

/* Nothing changed: one listing, no read, no write, no version. */
static void test_no_change(void **state)
{
	dsync_mirror_result r;

	(void)state;
	round_is(&r, 0, false);
	assert_false(r.recorded);
	assert_int_equal(r.files_read, 0);
	assert_int_equal(r.files_written, 0);
	assert_int_equal(r.files_removed, 0);
	assert_int_equal(r.dirs_listed, 2); /* the folder and DCIM */
	assert_int_equal(r.mirrors, 1);
}

static void test_edit_in_folder(void **state)
{
	dsync_mirror_result r;

	(void)state;
	put(folder, "Phone/notes.txt", "notes 2, longer");
	round_is(&r, 0, false);
	content_is(phone, "notes.txt", "notes 2, longer");
	assert_int_equal(r.files_written, 1);
	assert_false(r.recorded);
	round_is(&r, 0, false);
	assert_int_equal(r.files_read, 0);
	assert_int_equal(r.files_written, 0);
	no_temporaries(phone);
}

static void test_edit_on_phone(void **state)
{
	dsync_mirror_result r;

	(void)state;
	put(phone, "notes.txt", "notes 3 from the phone");
	round_is(&r, 0, false);
	content_is(folder, "Phone/notes.txt", "notes 3 from the phone");
	assert_int_equal(r.recorded_changed, 1);
	assert_int_equal(r.files_read, 1);
	assert_int_equal(r.files_written, 0);
}

static void test_deletions(void **state)
{
	dsync_mirror_result r;

	(void)state;
	put(phone, "gone-on-phone.txt", "x");
	put(folder, "Phone/gone-in-folder.txt", "y");
	round_is(&r, 0, false);
	content_is(folder, "Phone/gone-on-phone.txt", "x");
	content_is(phone, "gone-in-folder.txt", "y");
	rm(phone, "gone-on-phone.txt");
	rm(folder, "Phone/gone-in-folder.txt");
	round_is(&r, 0, false);
	content_is(folder, "Phone/gone-on-phone.txt", NULL);
	content_is(phone, "gone-in-folder.txt", NULL);
	assert_int_equal(r.recorded_deleted, 1);
	assert_int_equal(r.files_removed, 1);
}

static void test_conflict(void **state)
{
	dsync_mirror_result r;

	(void)state;
	put(folder, "Phone/notes.txt", "laptop's edit");
	put(phone, "notes.txt", "phone's edit!");
	round_is(&r, DSYNC_ECONFLICT, false);
	/* both versions on both sides: the path and one conflict copy */
	assert_int_equal(count_named(phone, "notes.sync-conflict-"), 1);
	{
		char p[400];

		snprintf(p, sizeof(p), "%s/Phone", folder);
		assert_int_equal(count_named(p, "notes.sync-conflict-"), 1);
	}
	{
		char *a = sandbox_slurp(phone, "notes.txt"), *b = sandbox_slurp(folder, "Phone/notes.txt");

		assert_string_equal(a, b);
		assert_true(strcmp(a, "laptop's edit") == 0 || strcmp(a, "phone's edit!") == 0);
		free(a);
		free(b);
	}
	round_is(&r, 0, false);
	assert_int_equal(r.files_written, 0);
	assert_false(r.recorded);
	no_temporaries(phone);
	/* resolved on the computer: the copy goes on the phone too */
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm '%s'/Phone/notes.sync-conflict-*", folder);
		assert_int_equal(system(cmd), 0);
	}
	round_is(&r, 0, false);
	assert_int_equal(r.files_removed, 1);
	assert_int_equal(count_named(phone, "notes.sync-conflict-"), 0);
}

static void test_rename_on_phone(void **state)
{
	dsync_mirror_result r;
	char from[400], to[400];

	(void)state;
	snprintf(from, sizeof(from), "%s/DCIM/a.jpg", phone);
	snprintf(to, sizeof(to), "%s/DCIM/renamed.jpg", phone);
	assert_int_equal(rename(from, to), 0);
	round_is(&r, 0, false);
	assert_int_equal(r.recorded_renamed, 1);
	assert_int_equal(r.recorded_added + r.recorded_deleted, 0);
	assert_int_equal(r.files_read, 1); /* the cache knows paths: a new name is read */
	content_is(folder, "Phone/DCIM/renamed.jpg", "photo a");
	content_is(folder, "Phone/DCIM/a.jpg", NULL);
}

/* A file growing while it is read is kept back, then recorded whole. */
static int grown;
static void grow(const char *step, const char *path, void *payload)
{
	(void)payload;
	if (strcmp(step, "read") == 0 && strcmp(path, "DCIM/video.mp4") == 0 && !grown) {
		char p[400];
		FILE *fp;

		grown = 1;
		snprintf(p, sizeof(p), "%s/%s", phone, path);
		assert_non_null(fp = fopen(p, "ab"));
		fputs(" and more", fp);
		fclose(fp);
	}
}

static void test_growing(void **state)
{
	dsync_mirror_result r;

	(void)state;
	put(phone, "DCIM/video.mp4", "first part");
	dsync_mirror_set_test_hook(grow, NULL);
	round_is(&r, 0, false);
	dsync_mirror_set_test_hook(NULL, NULL);
	assert_int_equal(r.kept_back, 1);
	content_is(folder, "Phone/DCIM/video.mp4", NULL);
	content_is(phone, "DCIM/video.mp4", "first part and more");
	round_is(&r, 0, false);
	assert_int_equal(r.kept_back, 0);
	content_is(folder, "Phone/DCIM/video.mp4", "first part and more");
}

/* A writer that paused while the file was read (so the read's own FSTAT
 * saw no change) and wrote again before the second look: kept back too. */
static void grow_after_read(const char *step, const char *path, void *payload)
{
	(void)payload;
	(void)path;
	if (strcmp(step, "look-again") == 0 && !grown) {
		char p[400];
		FILE *fp;

		grown = 1;
		snprintf(p, sizeof(p), "%s/DCIM/doc.txt", phone);
		assert_non_null(fp = fopen(p, "ab"));
		fputs(", second write", fp);
		fclose(fp);
	}
}

static void test_growing_paused(void **state)
{
	dsync_mirror_result r;
	char p[400];

	(void)state;
	grown = 0;
	put(phone, "DCIM/doc.txt", "first write");
	/* written just now: only a recent file gets the second look */
	snprintf(p, sizeof(p), "%s/DCIM/doc.txt", phone);
	assert_int_equal(utime(p, NULL), 0);
	dsync_mirror_set_test_hook(grow_after_read, NULL);
	round_is(&r, 0, false);
	dsync_mirror_set_test_hook(NULL, NULL);
	assert_int_equal(grown, 1);
	assert_int_equal(r.kept_back, 1);
	content_is(folder, "Phone/DCIM/doc.txt", NULL);
	round_is(&r, 0, false);
	assert_int_equal(r.kept_back, 0);
	content_is(folder, "Phone/DCIM/doc.txt", "first write, second write");
}

/* Names the phone can't hold stay on the computer, listed, and cause
 * nothing in later rounds. */
static void test_names(void **state)
{
	dsync_mirror_result r;
	dsync_mirror_info *list;
	size_t n;
	char p[400];

	(void)state;
	put(folder, "Phone/a:b.txt", "colon");
	put(folder, "Phone/Readme.txt", "R");
	put(folder, "Phone/readme.txt", "r");
	snprintf(p, sizeof(p), "%s/Phone/link", folder);
	assert_int_equal(symlink("notes.txt", p), 0);
	round_is(&r, 0, false);
	assert_int_equal(r.computer_only, 3);
	content_is(phone, "a:b.txt", NULL);
	content_is(phone, "Readme.txt", "R");
	content_is(phone, "readme.txt", NULL);
	content_is(phone, "link", NULL);
	assert_int_equal(dsync_mirror_list(&list, &n, f), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].n_kept, 3);
	dsync_mirror_list_free(list, n);
	round_is(&r, 0, false);
	assert_false(r.recorded);
	assert_int_equal(r.files_written + r.files_removed + r.files_read, 0);
	content_is(folder, "Phone/a:b.txt", "colon");
	content_is(folder, "Phone/readme.txt", "r");
}

/* The phone's folder emptied at once: paused, nothing recorded or deleted. */
static void test_emptied(void **state)
{
	dsync_mirror_result r;
	char cmd[1400], saved[320];

	(void)state;
	snprintf(saved, sizeof(saved), "%s.saved", phone);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s' && rm -rf '%s'/* '%s'/.[!.]*", phone, saved, phone, phone);
	assert_int_equal(system(cmd), 0);
	round_is(&r, DSYNC_EMASSDELETE, false);
	assert_true(r.paused);
	assert_false(r.recorded);
	content_is(folder, "Phone/DCIM/renamed.jpg", "photo a");
	content_is(folder, "Phone/Readme.txt", "R");
	content_is(phone, "Readme.txt", NULL); /* nothing written either */
	/* mounted again: the round goes on as before */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s' '%s'", phone, saved, phone);
	assert_int_equal(system(cmd), 0);
	round_is(&r, 0, false);
	assert_false(r.paused);
	assert_false(r.recorded);
	assert_int_equal(r.files_written + r.files_removed, 0);
}

/* A killed round's names on the phone: the next round removes exactly
 * those (and puts a file moved aside back). */
static void test_journal(void **state)
{
	dsync_mirror_result r;

	(void)state;
	put(phone, ".notes.txt.dsync-new-0badc0de", "half written");
	put(phone, ".Readme.txt.dsync-old-0badc0de", "R"); /* moved aside, new one not in yet */
	rm(phone, "Readme.txt");
	put(phone, ".mine.dsync-new-12345678", "the user's own file of such a name");
	assert_int_equal(dsync_mirror_journal_add(f, "phone", 'n', ".notes.txt.dsync-new-0badc0de", "notes.txt"), 0);
	assert_int_equal(dsync_mirror_journal_add(f, "phone", 'o', ".Readme.txt.dsync-old-0badc0de", "Readme.txt"), 0);
	round_is(&r, 0, false);
	assert_int_equal(r.cleaned, 2);
	content_is(phone, ".notes.txt.dsync-new-0badc0de", NULL);
	content_is(phone, ".Readme.txt.dsync-old-0badc0de", NULL);
	content_is(phone, "Readme.txt", "R");
	content_is(phone, ".mine.dsync-new-12345678", "the user's own file of such a name");
	assert_false(r.recorded);
	assert_int_equal(r.files_written + r.files_removed, 0);
	rm(phone, ".mine.dsync-new-12345678");
}

/* Killed at a step of writing back: the next round finishes the work, the
 * phone holds nothing of dsync's, and both sides end up alike. */
static const char *kill_step;
static int kill_at, kill_seen;

static void killer(const char *step, const char *path, void *payload)
{
	(void)path;
	(void)payload;
	if (strcmp(step, kill_step) == 0 && ++kill_seen == kill_at)
		raise(SIGKILL);
}

static void alike(void)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "diff -r -x 'a:b.txt' -x readme.txt -x link '%s/Phone' '%s' >&2", folder, phone);
	if (system(cmd) != 0)
		fail_msg("the phone and the folder differ");
}

static void test_killed(void **state)
{
	static const char *steps[] = { "write", "renaming", "remove", "read" };
	dsync_mirror_result r;
	int trial;

	(void)state;
	for (trial = 0; trial < 8; trial++) {
		dsync_mirror_options o = DSYNC_MIRROR_OPTIONS_INIT;
		char name[64], content[64];
		pid_t pid;
		int status;

		/* changes on both sides, none in conflict */
		snprintf(name, sizeof(name), "k%d.txt", trial);
		snprintf(content, sizeof(content), "trial %d in the folder", trial);
		put(folder, "Phone/notes.txt", content);
		put(folder, name, "outside");
		snprintf(name, sizeof(name), "Phone/new-%d.txt", trial);
		put(folder, name, content);
		if (trial > 0) {
			snprintf(name, sizeof(name), "Phone/new-%d.txt", trial - 1);
			rm(folder, name);
		}
		snprintf(name, sizeof(name), "DCIM/p%d.jpg", trial);
		put(phone, name, "a photo");
		snprintf(content, sizeof(content), "video, trial %d", trial);
		put(phone, "DCIM/video.mp4", content);

		kill_step = steps[trial % 4];
		kill_at = 1 + trial / 4;
		kill_seen = 0;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dsync_mirror_set_test_hook(killer, NULL);
			dsync_mirror_round(&r, f, "phone", &o);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* each step is reached (one removal a round: its second never is) */
		if (!(kill_step == steps[2] && kill_at == 2) && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
			fail_msg("trial %d: the round was not killed at '%s' #%d", trial, kill_step, kill_at);
		round_is(&r, 0, false);
		no_temporaries(phone);
		alike();
		round_is(&r, 0, false);
		assert_false(r.recorded);
		assert_int_equal(r.files_read + r.files_written + r.files_removed, 0);
	}
}

/* A host that can't replace a name atomically: the old file is moved
 * aside first; killed right then, the next round puts it back. */
static void app_writes(const char *step, const char *path, void *payload)
{
	(void)payload;
	if (strcmp(step, "moved-aside") == 0 && strcmp(path, "notes.txt") == 0)
		put(phone, "notes.txt", "the app's version");
}

static void test_no_atomic_replace(void **state)
{
	dsync_mirror_options o = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_mirror_result r;
	pid_t pid;
	int status;

	(void)state;
	dsync_mirror_set_test_no_replace(true);
	put(folder, "Phone/notes.txt", "replaced without posix-rename");
	round_is(&r, 0, false);
	content_is(phone, "notes.txt", "replaced without posix-rename");
	no_temporaries(phone);
	put(folder, "Phone/notes.txt", "killed while moved aside");
	kill_step = "moved-aside";
	kill_at = 1;
	kill_seen = 0;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dsync_mirror_set_test_hook(killer, NULL);
		dsync_mirror_round(&r, f, "phone", &o);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	content_is(phone, "notes.txt", NULL); /* moved aside */
	round_is(&r, 0, false);
	assert_int_equal(r.cleaned, 2);  /* the old one put back, the new temporary removed */
	content_is(phone, "notes.txt", "killed while moved aside");
	no_temporaries(phone);
	alike();
	/* an app makes the name again while the old file is aside: the new
	 * temporary can't take the name, nor the old one its place back; the
	 * app's file stays, the next round removes what was ours and records
	 * the app's file as the phone's edit (nothing recorded as deleted) */
	put(folder, "Phone/notes.txt", "the computer's version");
	dsync_mirror_set_test_hook(app_writes, NULL);
	round_is(&r, 0, false);
	dsync_mirror_set_test_hook(NULL, NULL);
	content_is(phone, "notes.txt", "the app's version");
	/* both changed it since the last round: a conflict, both kept */
	round_is(&r, DSYNC_ECONFLICT, false);
	assert_int_equal(r.recorded_deleted, 0);
	assert_int_equal(r.recorded_changed, 1);
	no_temporaries(phone);
	{
		char commit[DSYNC_OID_HEX_SIZE];
		dsync_conflicts cs = { 0 };
		char *at, *copy;

		/* which keeps the path goes by commit time, then device id */
		assert_int_equal(dsync_conflicts_list(&cs, f), 0);
		assert_int_equal(cs.n, 1);
		at = sandbox_slurp(folder, "Phone/notes.txt");
		copy = sandbox_slurp(folder, cs.v[0].copy);
		assert_true((strcmp(at, "the app's version") == 0 && strcmp(copy, "the computer's version") == 0) ||
			    (strcmp(at, "the computer's version") == 0 && strcmp(copy, "the app's version") == 0));
		free(at);
		free(copy);
		dsync_conflicts_dispose(&cs);
		assert_int_equal(dsync_conflict_resolve(commit, f, "Phone/notes.txt", DSYNC_KEEP_FILE, NULL), 0);
	}
	round_is(&r, 0, false);
	no_temporaries(phone);
	alike();
	dsync_mirror_set_test_no_replace(false);
}

/* Big files (chunk trees) both ways, at a small threshold. */
static void put_big(const char *dir, const char *rel, unsigned seed, size_t size)
{
	char path[1024];
	struct utimbuf ut;
	FILE *fp;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_non_null(fp = fopen(path, "wb"));
	for (i = 0; i < size; i++)
		fputc((int)((i * 7919u + seed * 104729u + (i >> 9)) & 0xff), fp);
	assert_int_equal(fclose(fp), 0);
	ut.actime = ut.modtime = stamp += 10;
	assert_int_equal(utime(path, &ut), 0);
}

static void same_file(const char *a, const char *b)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "cmp '%s' '%s'", a, b);
	if (system(cmd) != 0)
		fail_msg("%s and %s differ", a, b);
}

static void test_big_files(void **state)
{
	dsync_mirror_result r;
	git_config *cfg;
	char a[400], b[400];

	(void)state;
	assert_int_equal(git_repository_config(&cfg, f->repo), 0);
	assert_int_equal(git_config_set_int64(cfg, "dsync.chunkThreshold", 4096), 0);
	git_config_free(cfg);
	put_big(phone, "DCIM/big.mp4", 1, 300000);
	put_big(folder, "Phone/big.iso", 2, 200000);
	round_is(&r, 0, false);
	snprintf(a, sizeof(a), "%s/DCIM/big.mp4", phone);
	snprintf(b, sizeof(b), "%s/Phone/DCIM/big.mp4", folder);
	same_file(a, b);
	snprintf(a, sizeof(a), "%s/big.iso", phone);
	snprintf(b, sizeof(b), "%s/Phone/big.iso", folder);
	same_file(a, b);
	round_is(&r, 0, false);
	assert_int_equal(r.files_read + r.files_written, 0);
	/* changed on the phone, then in the folder */
	put_big(phone, "DCIM/big.mp4", 3, 310000);
	round_is(&r, 0, false);
	assert_int_equal(r.recorded_changed, 1);
	snprintf(a, sizeof(a), "%s/DCIM/big.mp4", phone);
	snprintf(b, sizeof(b), "%s/Phone/DCIM/big.mp4", folder);
	same_file(a, b);
	put_big(folder, "Phone/DCIM/big.mp4", 4, 290000);
	round_is(&r, 0, false);
	assert_int_equal(r.files_written, 1);
	same_file(a, b);
	round_is(&r, 0, false);
	assert_int_equal(r.files_read + r.files_written, 0);
}

/* Empty folders both ways; what apps are still writing, ignored files and
 * dsync's own names on the phone are never recorded. */
static void test_folders_and_skipped(void **state)
{
	dsync_mirror_result r;
	char p[400];
	struct stat st;

	(void)state;
	snprintf(p, sizeof(p), "%s/Phone/Empty", folder);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/Made on phone/inner", phone);
	assert_int_equal(system("true"), 0);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p);
		assert_int_equal(system(cmd), 0);
	}
	put(phone, "DCIM/.pending-1700000000-IMG_2.jpg", "half a photo");
	put(phone, "DCIM/download.crdownload", "half a download");
	put(phone, "DCIM/.x.jpg.dsync-new-abcdef01", "not ours to record");
	put(folder, ".dsyncignore", "*.thumb\n");
	put(phone, "DCIM/x.thumb", "ignored by the folder's rules");
	snprintf(p, sizeof(p), "%s/DCIM/link.jpg", phone);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	round_is(&r, 0, false);
	content_is(folder, "Phone/DCIM/x.thumb", NULL);
	content_is(folder, "Phone/DCIM/link.jpg", NULL);
	content_is(phone, "DCIM/x.thumb", "ignored by the folder's rules");
	snprintf(p, sizeof(p), "%s/DCIM/link.jpg", phone);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	snprintf(p, sizeof(p), "%s/Empty", phone);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(p, sizeof(p), "%s/Phone/Made on phone/inner", folder);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	content_is(folder, "Phone/DCIM/.pending-1700000000-IMG_2.jpg", NULL);
	content_is(folder, "Phone/DCIM/download.crdownload", NULL);
	content_is(folder, "Phone/DCIM/.x.jpg.dsync-new-abcdef01", NULL);
	round_is(&r, 0, false);
	assert_false(r.recorded);
	assert_int_equal(r.files_written + r.dirs_made + r.dirs_removed, 0);
	/* removed on one side each */
	snprintf(p, sizeof(p), "%s/Phone/Empty", folder);
	assert_int_equal(rmdir(p), 0);
	snprintf(p, sizeof(p), "%s/Made on phone/inner", phone);
	assert_int_equal(rmdir(p), 0);
	round_is(&r, 0, false);
	snprintf(p, sizeof(p), "%s/Empty", phone);
	assert_int_not_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/Phone/Made on phone/inner", folder);
	assert_int_not_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/Phone/Made on phone", folder);
	assert_int_equal(stat(p, &st), 0); /* still there, empty now */
	/* the apps' files are untouched on the phone */
	content_is(phone, "DCIM/.pending-1700000000-IMG_2.jpg", "half a photo");
	content_is(phone, "DCIM/.x.jpg.dsync-new-abcdef01", "not ours to record");
	rm(phone, "DCIM/.pending-1700000000-IMG_2.jpg");
	rm(phone, "DCIM/download.crdownload");
	rm(phone, "DCIM/.x.jpg.dsync-new-abcdef01");
	rm(phone, "DCIM/x.thumb");
	rm(phone, "DCIM/link.jpg");
}

/* A second mirror of the whole folder: names of the phone that would land
 * in the folder's own .dsync are never recorded; .git and .DSYNC are the
 * user's files, stored escaped. */
static void test_whole_folder(void **state)
{
	dsync_mirror_options o = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_mirror_result r;
	char url[400], phone2[320], p[400];
	struct stat st;
	int error;

	(void)state;
	sandbox_path(phone2, sizeof(phone2), "phone2");
	assert_int_equal(mkdir(phone2, 0755), 0);
	put(phone2, ".dsync/config", "[core]\n\tworktree = /\n");
	put(phone2, "x/.dsync/HEAD", "nested history");
	put(phone2, ".DSYNC/note.txt", "a user's folder");
	put(phone2, "repo/.git/HEAD", "ref: refs/heads/main\n");
	snprintf(url, sizeof(url), "sftp://localhost%s", phone2);
	/* a mirror of the whole folder overlaps the one of Phone/: refused
	 * while that one is there */
	assert_int_equal(dsync_mirror_add(f, "phone2", url, NULL, false, &o), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_remove(f, "phone"), 0);
	assert_int_equal(dsync_mirror_add(f, "phone2", url, NULL, false, &o), 0);
	o.warn = warn_cb;
	error = dsync_mirror_round(&r, f, "phone2", &o);
	if (error != 0)
		fail_msg("round: %s", dsync_error_last());
	content_is(folder, ".DSYNC/note.txt", "a user's folder");
	content_is(folder, "repo/.git/HEAD", "ref: refs/heads/main\n");
	content_is(folder, "x/.dsync/HEAD", NULL);
	snprintf(p, sizeof(p), "%s/.dsync/config", folder);
	assert_int_equal(stat(p, &st), 0);
	content_is(phone2, ".dsync/config", "[core]\n\tworktree = /\n");
	/* the folder went to the phone, its .dsync did not */
	{
		char *notes = sandbox_slurp(folder, "Phone/notes.txt");

		content_is(phone2, "Phone/notes.txt", notes);
		free(notes);
	}
	content_is(phone2, "elsewhere.txt", "not for the phone");
	assert_int_equal(dsync_mirror_remove(f, "phone2"), 0);
}

/* ---- setup -------------------------------------------------------------------------- */

static int setup(void **state)
{
	char script[400];
	FILE *fp;

	(void)state;
	if (access(SFTP_SERVER, X_OK) != 0) {
		fprintf(stderr, "no %s: skipped\n", SFTP_SERVER);
		return -1;
	}
	sandbox_open("mirror-round", SANDBOX_LIB | SANDBOX_HOME | SANDBOX_CONFIG);
	sandbox_path(folder, sizeof(folder), "folder");
	sandbox_path(phone, sizeof(phone), "phone");
	snprintf(dir_p, sizeof(dir_p), "%s/Phone", folder);
	assert_int_equal(mkdir(folder, 0755), 0);
	assert_int_equal(mkdir(phone, 0755), 0);
	/* ssh's stand-in: the arguments (host, -s, sftp) are not needed */
	sandbox_path(script, sizeof(script), "fake-ssh");
	assert_non_null(fp = fopen(script, "w"));
	fprintf(fp, "#!/bin/sh\nexec %s\n", SFTP_SERVER);
	fclose(fp);
	assert_int_equal(chmod(script, 0755), 0);
	setenv("DSYNC_SSH_COMMAND", script, 1);
	assert_int_equal(dsync_folder_init(&f, folder, "laptop"), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dsync_folder_free(f);
	sandbox_close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_round), cmocka_unit_test(test_no_change),
		cmocka_unit_test(test_edit_in_folder), cmocka_unit_test(test_edit_on_phone),
		cmocka_unit_test(test_deletions), cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_rename_on_phone), cmocka_unit_test(test_growing), cmocka_unit_test(test_growing_paused),
		cmocka_unit_test(test_names), cmocka_unit_test(test_emptied),
		cmocka_unit_test(test_journal), cmocka_unit_test(test_killed), cmocka_unit_test(test_no_atomic_replace),
		cmocka_unit_test(test_big_files), cmocka_unit_test(test_folders_and_skipped),
		cmocka_unit_test(test_whole_folder),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
