/*
 * A mirror's state on the computer (core/mirror/state.c, mirror.c): the
 * config round trip, the name check (a remote's name is taken), the scan
 * cache (saved, loaded, and a corrupt or cut one read as empty), the
 * journal (a torn last line skipped), the status files as dsync mirror
 * list shows them, set's checks, and remove.
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
#include <sys/stat.h>
#include <unistd.h>

#include "dsync/folder.h"
#include "dsync/mirror.h"
#include "core/base/file.h"
#include "core/folder/folder.h"
#include "core/mirror/mirror_internal.h"
#include "sandbox.h"

static dsync_folder *folder;

static const char dev_a[] = "0123456789abcdef0123456789abcdef";
static const char dev_b[] = "fedcba9876543210fedcba9876543210";

static int setup(void **state)
{
	char dir[512];

	(void)state;
	sandbox_open("mirror-state", SANDBOX_LIB | SANDBOX_CONFIG | SANDBOX_HOME);
	sandbox_path(dir, sizeof(dir), "folder");
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(dsync_folder_init(&folder, dir, "computer"), 0);
	assert_int_equal(dsync_folder_repo(folder), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dsync_folder_free(folder);
	sandbox_close();
	return 0;
}

static void cfg_fill(mirror_cfg *c, const char *name, const char *dev)
{
	memset(c, 0, sizeof(*c));
	c->name = (char *)name;
	c->url = (char *)"sftp://u0_a1@127.0.0.1:8022/storage/emulated/0/DCIM";
	c->path = (char *)"Phone/DCIM";
	memcpy(c->device_id, dev, 33);
	c->interval_s = 60;
}

static void set_raw(const char *key, const char *value)
{
	git_config *cfg;

	assert_int_equal(git_repository_config(&cfg, folder->repo), 0);
	if (value)
		assert_int_equal(git_config_set_string(cfg, key, value), 0);
	else
		git_config_delete_entry(cfg, key);
	git_config_free(cfg);
}

static void test_config_roundtrip(void **state)
{
	mirror_cfg c, *all = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), 0);
	assert_int_equal(n, 0);
	assert_false(dsync_folder_has_mirrors(folder));
	assert_int_equal(dsync_mirror_interval_ms(folder), 0);

	cfg_fill(&c, "tablet", dev_b);
	c.path = (char *)"";
	c.interval_s = 300;
	c.ssh_mode = 2;
	c.ssh_command = (char *)"ssh -p 8022";
	c.rate_limit = 1000000;
	assert_int_equal(dsync_mirror_config_write(folder, &c), 0);
	cfg_fill(&c, "phone", dev_a);
	assert_int_equal(dsync_mirror_config_write(folder, &c), 0);

	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), 0);
	assert_int_equal(n, 2);
	/* sorted by name */
	assert_string_equal(all[0].name, "phone");
	assert_string_equal(all[0].url, "sftp://u0_a1@127.0.0.1:8022/storage/emulated/0/DCIM");
	assert_string_equal(all[0].path, "Phone/DCIM");
	assert_string_equal(all[0].device_id, dev_a);
	assert_int_equal(all[0].interval_s, 60);
	assert_int_equal(all[0].ssh_mode, 0);
	assert_null(all[0].ssh_command);
	assert_int_equal(all[0].rate_limit, 0);
	assert_string_equal(all[1].name, "tablet");
	assert_string_equal(all[1].path, "");
	assert_string_equal(all[1].device_id, dev_b);
	assert_int_equal(all[1].interval_s, 300);
	assert_int_equal(all[1].ssh_mode, 2);
	assert_string_equal(all[1].ssh_command, "ssh -p 8022");
	assert_int_equal(all[1].rate_limit, 1000000);
	dsync_mirror_config_free(all, n);
	assert_true(dsync_folder_has_mirrors(folder));
	assert_int_equal(dsync_mirror_interval_ms(folder), 60000);

	/* a malformed entry names its key */
	set_raw("mirror.tablet.deviceId", "xyz");
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "mirror.tablet.deviceId"));
	set_raw("mirror.tablet.deviceId", dev_b);
	set_raw("mirror.tablet.path", "../outside");
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "mirror.tablet.path"));
	set_raw("mirror.tablet.path", ".DSYNC/x");
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), DSYNC_EUSAGE);
	set_raw("mirror.tablet.path", "");
	set_raw("mirror.tablet.interval", "0");
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "mirror.tablet.interval"));
	set_raw("mirror.tablet.interval", "300");
	/* a hand-made name that would lead out of .dsync/dsync-mirrors */
	set_raw("mirror...url", "sftp://h/x");
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), DSYNC_EUSAGE);
	set_raw("mirror...url", NULL);
	/* set twice: one mirror */
	{
		/* by hand: git_config_set_multivar leaks its regex's match data
		 * when the regex matches nothing (libgit2 1.5) */
		char cpath[600];
		FILE *fp;

		snprintf(cpath, sizeof(cpath), "%s/config", folder->gitdir);
		assert_non_null(fp = fopen(cpath, "a"));
		fprintf(fp, "[mirror \"tablet\"]\n\turl = sftp://h/other\n");
		fclose(fp);
	}
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), 0);
	assert_int_equal(n, 2);
	dsync_mirror_config_free(all, n);

	assert_int_equal(dsync_mirror_config_remove(folder, "tablet"), 0);
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), 0);
	assert_int_equal(n, 1);
	assert_string_equal(all[0].name, "phone");
	dsync_mirror_config_free(all, n);
	assert_int_equal(dsync_mirror_config_remove(folder, "phone"), 0);
	assert_false(dsync_folder_has_mirrors(folder));
}

static void test_name_check(void **state)
{
	static const char *const good[] = { "phone", "Phone-2", "my_tab.1", "a" };
	static const char *const bad[] = { "", ".phone", "-phone", "a/b", "a b", "a:b", "caf\xc3\xa9", "a\nb" };
	char long_name[70];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_int_equal(dsync_mirror_name_check(folder, good[i]), 0);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (dsync_mirror_name_check(folder, bad[i]) != DSYNC_EUSAGE)
			fail_msg("'%s' passed the name check", bad[i]);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_int_equal(dsync_mirror_name_check(folder, long_name), 0);
	long_name[64] = 'a';
	long_name[65] = '\0';
	assert_int_equal(dsync_mirror_name_check(folder, long_name), DSYNC_EUSAGE);

	/* a remote's name is taken */
	set_raw("remote.nas.url", "sftp://nas/store");
	assert_int_equal(dsync_mirror_name_check(folder, "nas"), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "already a remote"));
	assert_int_equal(dsync_mirror_name_check(folder, "nas2"), 0);
	set_raw("remote.nas.url", NULL);
	assert_int_equal(dsync_mirror_name_check(folder, "nas"), 0);
}

static void cache_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/dsync-mirrors/%s/cache", folder->gitdir, name);
}

static void oid_of(git_oid *id, unsigned char b)
{
	unsigned char raw[GIT_OID_RAWSZ];

	memset(raw, b, sizeof(raw));
	git_oid_fromraw(id, raw);
}

static void test_cache(void **state)
{
	mirror_cache c = { 0 }, d;
	const mirror_cache_entry *e;
	git_oid a, b;
	char path[600], buf[128], deep[6000];
	struct stat st;
	size_t i;
	off_t len;
	int fd;

	(void)state;
	/* none: empty */
	assert_int_equal(dsync_mirror_cache_load(&d, folder, "phone"), 0);
	assert_int_equal(d.n, 0);
	assert_null(dsync_mirror_cache_find(&d, "x"));
	dsync_mirror_cache_dispose(&d);

	oid_of(&a, 0xaa);
	oid_of(&b, 0xbb);
	assert_int_equal(dsync_mirror_cache_put(&c, "DCIM/b.jpg", 12, 1700000000, &a), 0);
	assert_int_equal(dsync_mirror_cache_put(&c, "DCIM/a.jpg", 0, 0, &b), 0);
	assert_int_equal(dsync_mirror_cache_put(&c, "odd\nname\twith space", 1ull << 40, UINT32_MAX, &a), 0);
	assert_int_equal(dsync_mirror_cache_put(&c, "gone.txt", 5, 5, &a), 0);
	/* a path longer than PATH_MAX: a host's tree may be that deep */
	memset(deep, 'd', sizeof(deep) - 1);
	for (i = 200; i < sizeof(deep) - 1; i += 201)
		deep[i] = '/';
	deep[sizeof(deep) - 1] = '\0';
	assert_int_equal(dsync_mirror_cache_put(&c, deep, 9, 9, &a), 0);
	assert_int_equal(dsync_mirror_cache_put(&c, "DCIM/b.jpg", 13, 1700000001, &b), 0);  /* replaces */
	assert_int_equal(c.n, 5);
	dsync_mirror_cache_del(&c, "gone.txt");
	dsync_mirror_cache_del(&c, "never.txt");
	assert_int_equal(c.n, 4);
	assert_null(dsync_mirror_cache_find(&c, "gone.txt"));
	assert_non_null(e = dsync_mirror_cache_find(&c, "DCIM/b.jpg"));
	assert_int_equal(e->size, 13);
	assert_int_equal(e->mtime, 1700000001);
	assert_true(git_oid_equal(&e->id, &b));
	assert_int_equal(dsync_mirror_cache_save(&c, folder, "phone"), 0);
	/* saved in path order */
	assert_string_equal(c.v[0].path, "DCIM/a.jpg");
	assert_string_equal(c.v[1].path, "DCIM/b.jpg");

	assert_int_equal(dsync_mirror_cache_load(&d, folder, "phone"), 0);
	assert_int_equal(d.n, 4);
	assert_non_null(dsync_mirror_cache_find(&d, deep));
	for (i = 0; i < c.n; i++) {
		assert_non_null(e = dsync_mirror_cache_find(&d, c.v[i].path));
		assert_int_equal(e->size, c.v[i].size);
		assert_int_equal(e->mtime, c.v[i].mtime);
		assert_true(git_oid_equal(&e->id, &c.v[i].id));
	}
	assert_non_null(e = dsync_mirror_cache_find(&d, "odd\nname\twith space"));
	assert_int_equal(e->size, 1ull << 40);
	assert_int_equal(e->mtime, UINT32_MAX);
	dsync_mirror_cache_dispose(&d);

	/* cut at every length: empty (never a part of it, never a crash) */
	cache_path(path, sizeof(path), "phone");
	assert_int_equal(stat(path, &st), 0);
	for (len = 0; len < st.st_size; len++) {
		assert_int_equal(truncate(path, len), 0);
		assert_int_equal(dsync_mirror_cache_load(&d, folder, "phone"), 0);
		assert_int_equal(d.n, 0);
		dsync_mirror_cache_dispose(&d);
	}
	/* garbage, a wrong version, a bad length, a NUL in a path */
	static const struct { const char *s; size_t len; } bad[] = {
		{ "\x00\x01\x02garbage", sizeof("\x00\x01\x02garbage") - 1 },
		{ "dsync-mirror-cache 2\nend 0\n", sizeof("dsync-mirror-cache 2\nend 0\n") - 1 },
		{ "dsync-mirror-cache 1\n5 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 99 a\nend 1\n", sizeof("dsync-mirror-cache 1\n5 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 99 a\nend 1\n") - 1 },
		{ "dsync-mirror-cache 1\n5 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 3 a\0b\nend 1\n", sizeof("dsync-mirror-cache 1\n5 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 3 a\0b\nend 1\n") - 1 },
		{ "dsync-mirror-cache 1\n5 99999999999 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 a\nend 1\n", sizeof("dsync-mirror-cache 1\n5 99999999999 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 a\nend 1\n") - 1 },
		{ "dsync-mirror-cache 1\n5 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 a\nend 2\n", sizeof("dsync-mirror-cache 1\n5 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 a\nend 2\n") - 1 },
		{ "dsync-mirror-cache 1\n99999999999999999999999 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 a\nend 1\n", sizeof("dsync-mirror-cache 1\n99999999999999999999999 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 a\nend 1\n") - 1 },
	};
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_true((fd = open(path, O_WRONLY | O_TRUNC)) >= 0);
		assert_int_equal(write(fd, bad[i].s, bad[i].len), (ssize_t)bad[i].len);
		close(fd);
		assert_int_equal(dsync_mirror_cache_load(&d, folder, "phone"), 0);
		if (d.n != 0)
			fail_msg("bad cache %zu loaded %zu entries", i, d.n);
		dsync_mirror_cache_dispose(&d);
	}
	/* and a good hand-written one loads: the format is what it says */
	snprintf(buf, sizeof(buf), "dsync-mirror-cache 1\n5 7 %s 1 a\nend 1\n", git_oid_tostr_s(&a));
	assert_true((fd = open(path, O_WRONLY | O_TRUNC)) >= 0);
	assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
	close(fd);
	assert_int_equal(dsync_mirror_cache_load(&d, folder, "phone"), 0);
	assert_int_equal(d.n, 1);
	assert_non_null(e = dsync_mirror_cache_find(&d, "a"));
	assert_int_equal(e->mtime, 7);
	dsync_mirror_cache_dispose(&d);
	dsync_mirror_cache_dispose(&c);
}

static void test_cache_many(void **state)
{
	mirror_cache c = { 0 }, d;
	git_oid id;
	char p[64];
	size_t i;

	(void)state;
	oid_of(&id, 0x11);
	/* out of order puts, then deletes of entries anywhere, interleaved
	 * with puts: each stays O(1), and every entry stays found */
	for (i = 0; i < 100000; i++) {
		snprintf(p, sizeof(p), "d%zu/f%zu", (i * 7919) % 100000 % 97, (i * 7919) % 100000);
		assert_int_equal(dsync_mirror_cache_put(&c, p, i, (uint32_t)i, &id), 0);
	}
	for (i = 0; i < 100000; i += 3) {
		snprintf(p, sizeof(p), "d%zu/f%zu", (i * 7919) % 100000 % 97, (i * 7919) % 100000);
		dsync_mirror_cache_del(&c, p);
		snprintf(p, sizeof(p), "new/%zu", i);
		assert_int_equal(dsync_mirror_cache_put(&c, p, i, (uint32_t)i, &id), 0);
	}
	assert_int_equal(c.n, 100000);
	for (i = 0; i < 100000; i++) {
		const mirror_cache_entry *e;

		snprintf(p, sizeof(p), "d%zu/f%zu", (i * 7919) % 100000 % 97, (i * 7919) % 100000);
		e = dsync_mirror_cache_find(&c, p);
		assert_true((e != NULL) == (i % 3 != 0));
		if (e)
			assert_int_equal(e->size, i);
		snprintf(p, sizeof(p), "new/%zu", i);
		assert_true((dsync_mirror_cache_find(&c, p) != NULL) == (i % 3 == 0));
	}
	assert_int_equal(dsync_mirror_cache_save(&c, folder, "many"), 0);
	assert_int_equal(dsync_mirror_cache_load(&d, folder, "many"), 0);
	assert_int_equal(d.n, c.n);
	for (i = 1; i < d.n; i++)
		assert_true(strcmp(d.v[i - 1].path, d.v[i].path) < 0);
	dsync_mirror_cache_dispose(&c);
	dsync_mirror_cache_dispose(&d);
	assert_int_equal(dsync_mirror_state_remove(folder, "many"), 0);
}

static void test_journal(void **state)
{
	mirror_journal j;
	char path[600];
	int fd;

	(void)state;
	assert_int_equal(dsync_mirror_journal_read(&j, folder, "phone"), 0);
	assert_int_equal(j.n, 0);
	dsync_mirror_journal_dispose(&j);
	assert_int_equal(dsync_mirror_journal_add(folder, "phone", 'n', "DCIM/.a b.jpg.dsync-new-0123abcd",
						  "DCIM/a b.jpg"), 0);
	assert_int_equal(dsync_mirror_journal_add(folder, "phone", 'o', "x/.c.dsync-old-deadbeef", "x/c"), 0);
	assert_true(dsync_mirror_journal_add(folder, "phone", 'z', "a", "b") < 0);
	/* a line cut by a crash */
	snprintf(path, sizeof(path), "%s/dsync-mirrors/phone/journal", folder->gitdir);
	assert_true((fd = open(path, O_WRONLY | O_APPEND)) >= 0);
	assert_int_equal(write(fd, "n 30 DCIM/.x.dsync-n", 20), 20);
	close(fd);
	assert_int_equal(dsync_mirror_journal_read(&j, folder, "phone"), 0);
	assert_int_equal(j.n, 2);
	assert_int_equal(j.v[0].kind, 'n');
	assert_string_equal(j.v[0].temp, "DCIM/.a b.jpg.dsync-new-0123abcd");
	assert_string_equal(j.v[0].target, "DCIM/a b.jpg");
	assert_int_equal(j.v[1].kind, 'o');
	assert_string_equal(j.v[1].temp, "x/.c.dsync-old-deadbeef");
	assert_string_equal(j.v[1].target, "x/c");
	dsync_mirror_journal_dispose(&j);
	/* a line whose lengths don't hold (cut inside a name, then more) */
	assert_true((fd = open(path, O_WRONLY | O_TRUNC)) >= 0);
	assert_int_equal(write(fd, "n 3 abc 1 d\nn 9 ab 1 c\nn 1 e 1 f\n", 33), 33);
	close(fd);
	assert_int_equal(dsync_mirror_journal_read(&j, folder, "phone"), 0);
	assert_int_equal(j.n, 1);
	assert_string_equal(j.v[0].temp, "abc");
	dsync_mirror_journal_dispose(&j);

	assert_int_equal(dsync_mirror_journal_clear(folder, "phone"), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(dsync_mirror_journal_clear(folder, "phone"), 0);  /* twice is fine */
	assert_int_equal(dsync_mirror_journal_read(&j, folder, "phone"), 0);
	assert_int_equal(j.n, 0);
	dsync_mirror_journal_dispose(&j);
}

static void test_status_and_list(void **state)
{
	dsync_mirror_info *list = NULL;
	dsync_buf kept = DSYNC_BUF_INIT;
	mirror_cfg c;
	char *text = NULL;
	size_t n;

	(void)state;
	assert_int_equal(dsync_mirror_list(&list, &n, folder), 0);
	assert_int_equal(n, 0);
	assert_null(list);
	cfg_fill(&c, "phone", dev_a);
	assert_int_equal(dsync_mirror_config_write(folder, &c), 0);

	assert_int_equal(dsync_mirror_status_read(&text, folder, "phone", "paused"), 0);
	assert_null(text);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "paused",
						   "412 of 415 files vanished at once on the phone (storage not mounted?)"), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "last", "1796565731"), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "error", "cannot reach 192.168.1.20: refused\n"), 0);
	assert_int_equal(dsync_mirror_kept_put(&kept, "Phone/DCIM/a:b.txt", "name has ':'"), 0);
	assert_int_equal(dsync_mirror_kept_put(&kept, "Phone/DCIM/readme.TXT",
					       "differs from 'Phone/DCIM/README.txt' only in case"), 0);
	assert_int_equal(dsync_buf_puts(&kept, "not a line of ours\n"), 0);
	assert_int_equal(dsync_mirror_kept_put(&kept, "Phone/DCIM/link", "symbolic link"), 0);
	assert_int_equal(dsync_mirror_kept_put(&kept, "Phone/a\nb\t\\c\\n\r", "control character in name"), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "kept", kept.ptr), 0);
	dsync_buf_dispose(&kept);
	assert_true(dsync_mirror_status_write(folder, "phone", "../escape", "x") < 0);
	assert_int_equal(dsync_mirror_status_read(&text, folder, "phone", "error"), 0);
	assert_string_equal(text, "cannot reach 192.168.1.20: refused");
	free(text);

	assert_int_equal(dsync_mirror_list(&list, &n, folder), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "phone");
	assert_string_equal(list[0].url, c.url);
	assert_string_equal(list[0].path, "Phone/DCIM");
	assert_string_equal(list[0].device_id, dev_a);
	assert_int_equal(list[0].interval_s, 60);
	assert_int_equal(list[0].last_round, 1796565731);
	assert_string_equal(list[0].paused, "412 of 415 files vanished at once on the phone (storage not mounted?)");
	assert_string_equal(list[0].last_error, "cannot reach 192.168.1.20: refused");
	assert_int_equal(list[0].n_kept, 4);
	assert_string_equal(list[0].kept[0].path, "Phone/DCIM/a:b.txt");
	assert_string_equal(list[0].kept[0].reason, "name has ':'");
	assert_string_equal(list[0].kept[1].reason, "differs from 'Phone/DCIM/README.txt' only in case");
	assert_string_equal(list[0].kept[2].path, "Phone/DCIM/link");
	assert_string_equal(list[0].kept[2].reason, "symbolic link");
	assert_string_equal(list[0].kept[3].path, "Phone/a\nb\t\\c\\n\r");
	assert_string_equal(list[0].kept[3].reason, "control character in name");
	dsync_mirror_list_free(list, n);

	/* removed: as none; a bad "last" is as none too */
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "paused", NULL), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "paused", NULL), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "error", NULL), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "kept", NULL), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "last", "soon"), 0);
	assert_int_equal(dsync_mirror_list(&list, &n, folder), 0);
	assert_int_equal(n, 1);
	assert_null(list[0].paused);
	assert_null(list[0].last_error);
	assert_int_equal(list[0].n_kept, 0);
	assert_int_equal(list[0].last_round, 0);
	dsync_mirror_list_free(list, n);
}

static void test_set(void **state)
{
	mirror_cfg *all = NULL;
	size_t n;

	(void)state;
	/* test_status_and_list made "phone" */
	assert_int_equal(dsync_mirror_set(folder, "phone", "interval", "0"), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "phone", "interval", "ten"), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "phone", "interval", "-5"), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "phone", "ssh", "putty"), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "phone", "sshCommand", "ssh\nrm -rf"), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "phone", "sshCommand", ""), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "phone", "limitRate", "fast"), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "phone", "url", "sftp://elsewhere/x"), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_set(folder, "nosuch", "interval", "5"), DSYNC_ENOTFOUND);

	assert_int_equal(dsync_mirror_set(folder, "phone", "interval", "5"), 0);
	assert_int_equal(dsync_mirror_set(folder, "phone", "ssh", "builtin"), 0);
	assert_int_equal(dsync_mirror_set(folder, "phone", "sshCommand", "ssh -oPort=8022"), 0);
	assert_int_equal(dsync_mirror_set(folder, "phone", "limitRate", "1M"), 0);
	assert_int_equal(dsync_mirror_interval_ms(folder), 5000);
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), 0);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].interval_s, 5);
	assert_int_equal(all[0].ssh_mode, 2);
	assert_string_equal(all[0].ssh_command, "ssh -oPort=8022");
	assert_true(all[0].rate_limit > 0);
	dsync_mirror_config_free(all, n);

	assert_int_equal(dsync_mirror_set(folder, "phone", "interval", NULL), 0);
	assert_int_equal(dsync_mirror_set(folder, "phone", "ssh", NULL), 0);
	assert_int_equal(dsync_mirror_set(folder, "phone", "sshCommand", NULL), 0);
	assert_int_equal(dsync_mirror_set(folder, "phone", "limitRate", NULL), 0);
	assert_int_equal(dsync_mirror_set(folder, "phone", "limitRate", NULL), 0);  /* unset twice is fine */
	assert_int_equal(dsync_mirror_config_read(&all, &n, folder), 0);
	assert_int_equal(all[0].interval_s, DSYNC_MIRROR_DEFAULT_INTERVAL);
	assert_int_equal(all[0].ssh_mode, 0);
	assert_null(all[0].ssh_command);
	assert_int_equal(all[0].rate_limit, 0);
	dsync_mirror_config_free(all, n);
}

static void test_remove(void **state)
{
	git_reference *ref = NULL;
	git_oid blob;
	mirror_journal j;
	mirror_cache c = { 0 };
	char dir[600];

	(void)state;
	/* "phone" of the tests above, with state and a ref */
	assert_int_equal(git_blob_create_from_buffer(&blob, folder->repo, "x", 1), 0);
	assert_int_equal(git_reference_create(&ref, folder->repo, "refs/mirrors/phone", &blob, 0, "test"), 0);
	git_reference_free(ref);
	assert_int_equal(dsync_mirror_cache_put(&c, "a", 1, 1, &blob), 0);
	assert_int_equal(dsync_mirror_cache_save(&c, folder, "phone"), 0);
	dsync_mirror_cache_dispose(&c);
	assert_int_equal(dsync_mirror_journal_add(folder, "phone", 'n', ".a.dsync-new-00000000", "a"), 0);
	assert_int_equal(dsync_mirror_status_write(folder, "phone", "paused", "why"), 0);
	snprintf(dir, sizeof(dir), "%s/dsync-mirrors/phone/tmp", folder->gitdir);
	assert_int_equal(mkdir(dir, 0700), 0);

	assert_int_equal(dsync_mirror_remove(folder, "nosuch"), DSYNC_ENOTFOUND);
	assert_int_equal(dsync_mirror_remove(folder, "phone"), 0);
	assert_false(dsync_folder_has_mirrors(folder));
	snprintf(dir, sizeof(dir), "%s/dsync-mirrors/phone", folder->gitdir);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(git_reference_lookup(&ref, folder->repo, "refs/mirrors/phone"), GIT_ENOTFOUND);
	assert_int_equal(dsync_mirror_journal_read(&j, folder, "phone"), 0);
	assert_int_equal(j.n, 0);
	dsync_mirror_journal_dispose(&j);
	assert_int_equal(dsync_mirror_remove(folder, "phone"), DSYNC_ENOTFOUND);
	/* state removal of what isn't there is fine */
	assert_int_equal(dsync_mirror_state_remove(folder, "phone"), 0);
}

static void test_add_checks(void **state)
{
	mirror_cfg c;

	(void)state;
	/* refused before any connection: no host is reachable at this URL */
	assert_int_equal(dsync_mirror_add(folder, ".bad", "sftp://127.0.0.1:1/x", NULL, false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", "../up", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", "/abs", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", ".dsync/x", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", ".Dsync", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", "a/../b", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", "a/b/..", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", "a\\b", false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "ok", "", NULL, false, NULL), DSYNC_EUSAGE);
	setenv("DSYNC_SSH", "putty", 1);
	assert_int_equal(dsync_mirror_add(folder, "ok", "sftp://127.0.0.1:1/x", NULL, false, NULL), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "DSYNC_SSH"));
	unsetenv("DSYNC_SSH");
	set_raw("remote.nas.url", "sftp://nas/store");
	assert_int_equal(dsync_mirror_add(folder, "nas", "sftp://127.0.0.1:1/x", NULL, false, NULL), DSYNC_EUSAGE);
	set_raw("remote.nas.url", NULL);
	cfg_fill(&c, "tab", dev_b);
	assert_int_equal(dsync_mirror_config_write(folder, &c), 0);
	assert_int_equal(dsync_mirror_add(folder, "tab", "sftp://127.0.0.1:1/x", NULL, false, NULL), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "already a mirror"));
	assert_int_equal(dsync_mirror_remove(folder, "tab"), 0);
}

/* A host for add: DSYNC_SSH_COMMAND runs the local OpenSSH sftp-server in
 * place of ssh (whatever the URL's host, it is this machine). */
#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

static void fake_ssh(char *host_dir, size_t size)
{
	char script[600];
	FILE *fp;

	sandbox_path(script, sizeof(script), "fake-ssh");
	assert_non_null(fp = fopen(script, "w"));
	fprintf(fp, "#!/bin/sh\nexec " SFTP_SERVER "\n");
	fclose(fp);
	assert_int_equal(chmod(script, 0700), 0);
	setenv("DSYNC_SSH_COMMAND", script, 1);
	sandbox_path(host_dir, size, "host");
}

static void test_add(void **state)
{
	dsync_mirror_info *list = NULL;
	git_reference *ref = NULL;
	char host[512], url[600], dir[600], other_id[33];
	struct stat st;
	size_t n;

	(void)state;
	if (access(SFTP_SERVER, X_OK) != 0) {
		skip();
		return;
	}
	fake_ssh(host, sizeof(host));
	snprintf(url, sizeof(url), "sftp://127.0.0.1%s/DCIM", host);
	/* no folder there: refused, nothing written */
	assert_true(dsync_mirror_add(folder, "phone", url, "Phone/DCIM", false, NULL) < 0);
	assert_false(dsync_folder_has_mirrors(folder));
	snprintf(dir, sizeof(dir), "%s/Phone", folder->root);
	assert_int_equal(access(dir, F_OK), -1);
	/* made with create */
	assert_int_equal(dsync_mirror_add(folder, "phone", url, "./Phone//DCIM/", true, NULL), 0);
	snprintf(dir, sizeof(dir), "%s/DCIM", host);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(dir, sizeof(dir), "%s/Phone/DCIM", folder->root);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(dsync_mirror_list(&list, &n, folder), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "phone");
	assert_int_equal(strncmp(list[0].url, "sftp://", 7), 0);
	assert_non_null(strstr(list[0].url, "/DCIM"));
	assert_string_equal(list[0].path, "Phone/DCIM");
	assert_int_equal(strlen(list[0].device_id), 32);
	assert_int_equal(list[0].interval_s, DSYNC_MIRROR_DEFAULT_INTERVAL);
	assert_int_equal(list[0].last_round, 0);
	assert_null(list[0].paused);
	memcpy(other_id, list[0].device_id, 33);
	dsync_mirror_list_free(list, n);
	/* nothing recorded */
	assert_int_equal(git_reference_lookup(&ref, folder->repo, "refs/mirrors/phone"), GIT_ENOTFOUND);
	snprintf(dir, sizeof(dir), "%s/dsync-mirrors/phone", folder->gitdir);
	assert_int_equal(access(dir, F_OK), -1);
	/* taken now */
	assert_int_equal(dsync_mirror_add(folder, "phone", url, NULL, false, NULL), DSYNC_EUSAGE);
	/* a subfolder through a file is refused after the connection: nothing written */
	snprintf(dir, sizeof(dir), "%s/afile", folder->root);
	assert_int_equal(close(open(dir, O_WRONLY | O_CREAT, 0644)), 0);
	assert_true(dsync_mirror_add(folder, "tab", url, "afile/x", false, NULL) < 0);
	/* the scp form; its own device id; the whole folder overlaps phone's
	 * part of it (refused), a part beside it does not */
	snprintf(url, sizeof(url), "127.0.0.1:%s/DCIM", host);
	assert_int_equal(dsync_mirror_add(folder, "tab", url, NULL, false, NULL), DSYNC_EUSAGE);
	assert_int_equal(dsync_mirror_add(folder, "tab", url, "Tablet", false, NULL), 0);
	assert_int_equal(dsync_mirror_list(&list, &n, folder), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].name, "tab");
	assert_string_equal(list[1].path, "Tablet");
	assert_int_equal(strncmp(list[1].url, "sftp://", 7), 0);
	assert_string_not_equal(list[1].device_id, other_id);
	dsync_mirror_list_free(list, n);
	assert_int_equal(dsync_mirror_remove(folder, "phone"), 0);
	assert_int_equal(dsync_mirror_remove(folder, "tab"), 0);
	unsetenv("DSYNC_SSH_COMMAND");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_roundtrip),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_many),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_status_and_list),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_add_checks),
		cmocka_unit_test(test_add),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
