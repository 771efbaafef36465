/*
 * The relay's storage (transport/relay_disk.h, docs/relay-protocol.md
 * sections 7 and 9) on a temp folder: groups, devices, uploads and their
 * quota arithmetic (replacement, concurrent reservations), the SEQ rule,
 * listing pages, resumable uploads across an abort and a simulated crash,
 * links planted in the data folder, a folder that isn't a relay's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "dsync/common.h"
#include "transport/relay_disk.h"
#include "sandbox.h"

#define GID "0123456789abcdef0123456789abcdef"
#define DEV_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define UPLOAD "cccccccccccccccccccccccccccccccc"
#define PACK(c) "packs/" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
		c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define MANIFEST(dev, seq) "devices/" dev "/" seq

static char data[300];
static int counter;

static void fresh_dir(void)
{
	char name[32];

	snprintf(name, sizeof(name), "data%d", counter++);
	sandbox_path(data, sizeof(data), name);
}

static void key(uint8_t out[32], int n)
{
	memset(out, n, 32);
}

static relay_disk *open_disk(const relay_disk_limits *lim)
{
	relay_disk *d = NULL;

	assert_int_equal(relay_disk_open(&d, data, lim), 0);
	assert_non_null(d);
	return d;
}

static relay_disk *new_group(const relay_disk_limits *lim)
{
	uint8_t th[32], ah[32];
	relay_disk *d;

	fresh_dir();
	d = open_disk(lim);
	key(th, 1);
	key(ah, 2);
	assert_int_equal(relay_disk_group_create(d, GID, th, ah), 0);
	return d;
}

/* Stores LEN bytes of C as NAME (written by WRITER): the finish's result. */
static int put(relay_disk *d, const char *name, const char *writer, size_t len, char c, bool *replaced)
{
	uint8_t hash[32];
	char *body = malloc(len + 1);
	relay_upload *u;
	bool r;
	int error;

	assert_non_null(body);
	memset(body, c, len);
	crypto_generichash(hash, sizeof(hash), (uint8_t *)body, len, NULL, 0);
	error = relay_disk_upload_begin(&u, d, GID, name, writer, len, hash, NULL, NULL);
	if (error == 0) {
		assert_int_equal(relay_disk_upload_write(u, body, len / 2), 0);
		assert_int_equal(relay_disk_upload_write(u, body + len / 2, len - len / 2), 0);
		error = relay_disk_upload_finish(u, replaced ? replaced : &r);
	}
	free(body);
	return error;
}

static uint64_t used(relay_disk *d)
{
	relay_group_info gi;

	assert_int_equal(relay_disk_group(d, GID, &gi), 0);
	return gi.used;
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("relay-disk", 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

static void test_groups(void **state)
{
	relay_disk_limits lim = { 0, 0, 0, 2, 0 };
	uint8_t th[32], ah[32], other[32];
	relay_group_info gi;
	relay_disk *d;

	(void)state;
	fresh_dir();
	d = open_disk(&lim);
	key(th, 1);
	key(ah, 2);
	key(other, 3);
	assert_int_equal(relay_disk_group(d, GID, &gi), DSYNC_ENOTFOUND);
	assert_int_equal(relay_disk_group_create(d, GID, th, ah), 0);
	assert_int_equal(relay_disk_group_create(d, GID, th, ah), 1);
	assert_int_equal(relay_disk_group_create(d, GID, other, ah), DSYNC_EAUTH);
	assert_int_equal(relay_disk_group_create(d, "11111111111111111111111111111111", th, ah), 0);
	assert_int_equal(relay_disk_group_create(d, "22222222222222222222222222222222", th, ah), DSYNC_ENOSPACE);
	assert_string_equal(relay_disk_last_refusal(), "relay-full");
	assert_int_equal(relay_disk_group_create(d, "../etc", th, ah), DSYNC_EUSAGE);

	assert_int_equal(relay_disk_group_rotate(d, GID, other, other), 0);
	assert_int_equal(relay_disk_group_quota(d, GID, 12345), 0);
	relay_disk_close(d);

	/* all of it kept on disk */
	d = open_disk(&lim);
	assert_int_equal(relay_disk_group(d, GID, &gi), 0);
	assert_memory_equal(gi.token_hash, other, 32);
	assert_memory_equal(gi.admit_hash, other, 32);
	assert_int_equal(gi.quota, 12345);
	assert_true(gi.created > 0);
	assert_int_equal(gi.used, 0);
	assert_int_equal(relay_disk_group_create(d, GID, th, ah), DSYNC_EAUTH);
	relay_disk_close(d);
}

static void test_devices(void **state)
{
	relay_disk_limits lim = { 0, 0, 0, 0, 2 };
	uint8_t pk[32], pk2[32];
	relay_device_info di;
	relay_group_info gi;
	relay_disk *d = new_group(&lim);

	(void)state;
	key(pk, 7);
	key(pk2, 8);
	assert_int_equal(relay_disk_device(d, GID, DEV_A, &di), DSYNC_ENOTFOUND);
	assert_int_equal(relay_disk_device_add(d, GID, DEV_A, pk), 0);
	assert_int_equal(relay_disk_device_add(d, GID, DEV_A, pk), 1);
	assert_int_equal(relay_disk_device_add(d, GID, DEV_A, pk2), DSYNC_EEXISTS);
	assert_int_equal(relay_disk_device_add(d, GID, DEV_B, pk2), 0);
	assert_int_equal(relay_disk_device_add(d, GID, UPLOAD, pk2), DSYNC_ENOSPACE);
	assert_string_equal(relay_disk_last_refusal(), "too-many-devices");
	assert_int_equal(relay_disk_device(d, GID, DEV_A, &di), 0);
	assert_memory_equal(di.pk, pk, 32);
	assert_int_equal(di.seq_high, 0);
	assert_int_equal(relay_disk_device_remove(d, GID, DEV_B), 0);
	assert_int_equal(relay_disk_device_remove(d, GID, DEV_B), DSYNC_ENOTFOUND);
	relay_disk_close(d);

	d = open_disk(&lim);
	assert_int_equal(relay_disk_group(d, GID, &gi), 0);
	assert_int_equal(gi.devices, 1);
	assert_int_equal(relay_disk_device(d, GID, DEV_B, &di), DSYNC_ENOTFOUND);
	assert_int_equal(relay_disk_device(d, GID, DEV_A, &di), 0);
	assert_memory_equal(di.pk, pk, 32);
	relay_disk_close(d);
}

static void test_blobs(void **state)
{
	relay_disk *d = new_group(NULL);
	relay_blob_info bi;
	relay_group_info gi;
	uint8_t hash[32], bad[32];
	char buf[200];
	relay_upload *u;
	bool replaced = true;
	int fd;

	(void)state;
	assert_int_equal(put(d, PACK("1"), DEV_A, 100, 'x', &replaced), 0);
	assert_false(replaced);
	assert_int_equal(put(d, "keys/0123456789abcdef", DEV_A, 10, 'k', NULL), 0);
	assert_int_equal(relay_disk_blob_stat(d, GID, PACK("1"), &bi), 0);
	assert_int_equal(bi.size, 100);
	assert_string_equal(bi.writer, DEV_A);
	memset(buf, 'x', 100);
	crypto_generichash(hash, 32, (uint8_t *)buf, 100, NULL, 0);
	assert_memory_equal(bi.hash, hash, 32);
	assert_int_equal(used(d), 100 + 10 + 2 * DSYNC_RELAY_DISK_HEADER);

	/* the body from offset 64 */
	assert_int_equal(relay_disk_blob_open(d, GID, PACK("1"), &fd, &bi), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), DSYNC_RELAY_DISK_HEADER), 100);
	assert_int_equal(buf[0], 'x');
	close(fd);

	/* replaced by 50 bytes: usage follows */
	assert_int_equal(put(d, PACK("1"), DEV_A, 50, 'y', &replaced), 0);
	assert_true(replaced);
	assert_int_equal(used(d), 50 + 10 + 2 * DSYNC_RELAY_DISK_HEADER);
	assert_int_equal(relay_disk_group(d, GID, &gi), 0);
	assert_int_equal(gi.blobs, 2);
	assert_int_equal(gi.keys, 1);

	/* a body whose hash isn't the announced one stores nothing */
	memset(bad, 0, sizeof(bad));
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("2"), DEV_A, 5, bad, NULL, NULL), 0);
	assert_int_equal(used(d), 50 + 10 + 5 + 3 * DSYNC_RELAY_DISK_HEADER);   /* reserved */
	assert_int_equal(relay_disk_upload_write(u, "hello", 5), 0);
	assert_int_equal(relay_disk_upload_finish(u, &replaced), DSYNC_ECORRUPT);
	assert_int_equal(relay_disk_blob_stat(d, GID, PACK("2"), &bi), DSYNC_ENOTFOUND);
	assert_int_equal(used(d), 50 + 10 + 2 * DSYNC_RELAY_DISK_HEADER);

	/* an aborted plain upload leaves nothing either */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("2"), DEV_A, 5, bad, NULL, NULL), 0);
	assert_int_equal(relay_disk_upload_write(u, "hel", 3), 0);
	relay_disk_upload_abort(u);
	assert_int_equal(used(d), 50 + 10 + 2 * DSYNC_RELAY_DISK_HEADER);

	assert_int_equal(relay_disk_blob_delete(d, GID, PACK("1")), 0);
	assert_int_equal(relay_disk_blob_delete(d, GID, PACK("1")), 0);
	assert_int_equal(relay_disk_blob_stat(d, GID, PACK("1"), &bi), DSYNC_ENOTFOUND);
	assert_int_equal(used(d), 10 + DSYNC_RELAY_DISK_HEADER);
	relay_disk_close(d);

	/* usage recomputed from disk */
	d = open_disk(NULL);
	assert_int_equal(used(d), 10 + DSYNC_RELAY_DISK_HEADER);
	assert_int_equal(relay_disk_group(d, GID, &gi), 0);
	assert_int_equal(gi.blobs, 1);
	assert_int_equal(gi.keys, 1);
	relay_disk_close(d);
}

static void test_quota(void **state)
{
	relay_disk_limits lim = { 1000, 0, 3, 0, 0 };
	relay_disk *d = new_group(&lim);
	uint8_t hash[32] = { 0 };
	relay_upload *u;
	bool replaced;

	(void)state;
	/* 64 + 600 stored */
	assert_int_equal(put(d, PACK("1"), DEV_A, 600, 'a', NULL), 0);
	/* 664 + 64 + 300 > 1000 */
	assert_int_equal(put(d, PACK("2"), DEV_A, 300, 'b', NULL), DSYNC_ENOSPACE);
	assert_string_equal(relay_disk_last_refusal(), "over-quota");
	/* replacing: 664 + 64 + 900 - 664 = 964 <= 1000 */
	assert_int_equal(put(d, PACK("1"), DEV_A, 900, 'c', &replaced), 0);
	assert_true(replaced);
	assert_int_equal(used(d), 964);
	/* exactly at the quota passes: 964 + 64 + 900 - 964 = 1000 */
	assert_int_equal(put(d, PACK("1"), DEV_A, 936, 'c', NULL), 0);
	assert_int_equal(put(d, PACK("1"), DEV_A, 937, 'c', NULL), DSYNC_ENOSPACE);
	assert_int_equal(relay_disk_blob_delete(d, GID, PACK("1")), 0);

	/* a reservation counts until the upload ends */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("3"), DEV_A, 500, hash, NULL, NULL), 0);
	assert_int_equal(put(d, PACK("4"), DEV_A, 500, 'd', NULL), DSYNC_ENOSPACE);
	relay_disk_upload_abort(u);
	assert_int_equal(used(d), 0);
	assert_int_equal(put(d, PACK("4"), DEV_A, 10, 'd', NULL), 0);

	/* the group's own quota overrides the default; 0 is none */
	assert_int_equal(relay_disk_group_quota(d, GID, 0), 0);
	assert_int_equal(put(d, PACK("5"), DEV_A, 5000, 'e', NULL), 0);

	/* max_blobs: 3 (4 and 5 stored, one upload in flight) */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("6"), DEV_A, 1, hash, NULL, NULL), 0);
	assert_int_equal(put(d, PACK("7"), DEV_A, 1, 'f', NULL), DSYNC_ENOSPACE);
	assert_string_equal(relay_disk_last_refusal(), "too-many-blobs");
	assert_int_equal(put(d, PACK("4"), DEV_A, 1, 'f', NULL), 0);   /* a replacement is no new blob */
	relay_disk_upload_abort(u);
	relay_disk_close(d);
}

typedef struct racer {
	relay_disk *d;
	const char *name;
	pthread_barrier_t *barrier;
	int result;
	char refusal[32];
} racer;

static void *race_begin(void *arg)
{
	racer *r = arg;
	uint8_t hash[32] = { 0 };
	relay_upload *u = NULL;

	pthread_barrier_wait(r->barrier);
	r->result = relay_disk_upload_begin(&u, r->d, GID, r->name, DEV_A, 600, hash, NULL, NULL);
	snprintf(r->refusal, sizeof(r->refusal), "%s", relay_disk_last_refusal());
	pthread_barrier_wait(r->barrier);   /* both decided before either ends */
	if (u)
		relay_disk_upload_abort(u);
	return NULL;
}

static void test_quota_concurrent(void **state)
{
	relay_disk_limits lim = { 1000, 0, 0, 0, 0 };
	relay_disk *d = new_group(&lim);
	pthread_barrier_t barrier;
	racer r[2] = { { d, PACK("1"), &barrier, 1, "" }, { d, PACK("2"), &barrier, 1, "" } };
	pthread_t t[2];
	int i;

	(void)state;
	pthread_barrier_init(&barrier, NULL, 2);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_begin, &r[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	/* 664 + 664 > 1000: exactly one of the two passed */
	assert_true((r[0].result == 0) != (r[1].result == 0));
	assert_int_equal(r[0].result + r[1].result, DSYNC_ENOSPACE);
	assert_string_equal(r[r[0].result == 0 ? 1 : 0].refusal, "over-quota");
	assert_int_equal(used(d), 0);
	relay_disk_close(d);
}

typedef struct seq_racer {
	relay_disk *d;
	const char *name;
	pthread_barrier_t *barrier;
	int result;
} seq_racer;

static void *race_seq(void *arg)
{
	seq_racer *r = arg;
	uint8_t hash[32];
	relay_upload *u;
	bool replaced;

	crypto_generichash(hash, sizeof(hash), (const uint8_t *)"m", 1, NULL, 0);
	assert_int_equal(relay_disk_upload_begin(&u, r->d, GID, r->name, DEV_A, 1, hash, NULL, NULL), 0);
	assert_int_equal(relay_disk_upload_write(u, "m", 1), 0);
	pthread_barrier_wait(r->barrier);
	r->result = relay_disk_upload_finish(u, &replaced);
	return NULL;
}

static void test_seq(void **state)
{
	relay_disk *d = new_group(NULL);
	relay_device_info di;
	pthread_barrier_t barrier;
	seq_racer r[2];
	pthread_t t[2];
	uint8_t pk[32];
	int i;

	(void)state;
	key(pk, 7);
	assert_int_equal(relay_disk_device_add(d, GID, DEV_A, pk), 0);
	assert_int_equal(put(d, MANIFEST(DEV_A, "0000000000000005"), DEV_A, 3, 'm', NULL), 0);
	assert_int_equal(relay_disk_device(d, GID, DEV_A, &di), 0);
	assert_int_equal(di.seq_high, 5);
	assert_int_equal(put(d, MANIFEST(DEV_A, "0000000000000005"), DEV_A, 3, 'm', NULL), DSYNC_ECONFLICT);
	assert_int_equal(put(d, MANIFEST(DEV_A, "0000000000000004"), DEV_A, 3, 'm', NULL), DSYNC_ECONFLICT);
	/* deleting the newest doesn't lower it */
	assert_int_equal(relay_disk_blob_delete(d, GID, MANIFEST(DEV_A, "0000000000000005")), 0);
	assert_int_equal(put(d, MANIFEST(DEV_A, "0000000000000005"), DEV_A, 3, 'm', NULL), DSYNC_ECONFLICT);
	/* an unknown device's manifest */
	assert_int_equal(put(d, MANIFEST(DEV_B, "0000000000000001"), DEV_B, 3, 'm', NULL), DSYNC_ENOTFOUND);

	/* two uploads of SEQ 7 begun together, finished together: the check at
	 * the finish, under the lock, lets exactly one through */
	r[0] = (seq_racer){ d, MANIFEST(DEV_A, "0000000000000007"), &barrier, 1 };
	r[1] = (seq_racer){ d, MANIFEST(DEV_A, "0000000000000007"), &barrier, 1 };
	pthread_barrier_init(&barrier, NULL, 2);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_seq, &r[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	/* the same SEQ twice at once: exactly one stored */
	assert_true((r[0].result == 0) != (r[1].result == 0));
	assert_int_equal(r[0].result + r[1].result, DSYNC_ECONFLICT);
	relay_disk_close(d);

	/* the record survives a reopen */
	d = open_disk(NULL);
	assert_int_equal(relay_disk_device(d, GID, DEV_A, &di), 0);
	assert_int_equal(di.seq_high, 7);
	relay_disk_close(d);
}

typedef struct collected {
	char names[16][DSYNC_RELAY_NAME_MAX + 1];
	int n;
} collected;

static int collect(const char *name, uint64_t size, int64_t mtime, void *payload)
{
	collected *c = payload;

	(void)size;
	(void)mtime;
	assert_true(c->n < 16);
	snprintf(c->names[c->n++], DSYNC_RELAY_NAME_MAX + 1, "%s", name);
	return 0;
}

static void test_list(void **state)
{
	relay_disk *d = new_group(NULL);
	collected c;
	uint8_t pk[32];
	bool more;

	(void)state;
	key(pk, 7);
	assert_int_equal(relay_disk_device_add(d, GID, DEV_A, pk), 0);
	assert_int_equal(relay_disk_device_add(d, GID, DEV_B, pk), 0);
	assert_int_equal(put(d, PACK("b"), DEV_A, 1, 'a', NULL), 0);
	assert_int_equal(put(d, PACK("1"), DEV_A, 2, 'a', NULL), 0);
	assert_int_equal(put(d, PACK("a"), DEV_A, 3, 'a', NULL), 0);
	assert_int_equal(put(d, "dsync-store", DEV_A, 4, 'a', NULL), 0);
	assert_int_equal(put(d, MANIFEST(DEV_B, "0000000000000002"), DEV_B, 5, 'a', NULL), 0);
	assert_int_equal(put(d, MANIFEST(DEV_A, "0000000000000010"), DEV_A, 6, 'a', NULL), 0);
	assert_int_equal(put(d, "keys/0123456789abcdef", DEV_A, 7, 'a', NULL), 0);

	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_disk_list(d, GID, "", NULL, 100, &more, collect, &c), 0);
	assert_false(more);
	assert_int_equal(c.n, 7);
	assert_string_equal(c.names[0], MANIFEST(DEV_A, "0000000000000010"));
	assert_string_equal(c.names[1], MANIFEST(DEV_B, "0000000000000002"));
	assert_string_equal(c.names[2], "dsync-store");
	assert_string_equal(c.names[3], "keys/0123456789abcdef");
	assert_string_equal(c.names[4], PACK("1"));
	assert_string_equal(c.names[5], PACK("a"));
	assert_string_equal(c.names[6], PACK("b"));

	/* pages */
	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_disk_list(d, GID, "packs/", NULL, 2, &more, collect, &c), 0);
	assert_true(more);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[1], PACK("a"));
	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_disk_list(d, GID, "packs/", PACK("a"), 2, &more, collect, &c), 0);
	assert_false(more);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.names[0], PACK("b"));

	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_disk_list(d, GID, "devices/", NULL, 1000, &more, collect, &c), 0);
	assert_int_equal(c.n, 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_disk_list(d, GID, "devices/" DEV_B "/", NULL, 1000, &more, collect, &c), 0);
	assert_int_equal(c.n, 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_disk_list(d, GID, "nothing", NULL, 1000, &more, collect, &c), 0);
	assert_int_equal(c.n, 0);
	relay_disk_close(d);
}

static void tmp_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/groups/%s/tmp/%s", data, GID, name);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* TOTAL bytes of a pattern that doesn't repeat in a 4 KiB block, and their hash */
static char *patterned(size_t total, uint8_t hash[32])
{
	char *body = malloc(total);
	size_t i;

	assert_non_null(body);
	for (i = 0; i < total; i++)
		body[i] = (char)(i * 7 + i / 4099);
	crypto_generichash(hash, 32, (uint8_t *)body, total, NULL, 0);
	return body;
}

/* U, all there, is stored as PACK("1"), the only blob, and its upload is gone */
static void stored_whole(relay_disk *d, relay_upload *u, size_t total, const uint8_t hash[32])
{
	relay_blob_info bi;
	uint64_t off;
	bool replaced;

	assert_int_equal(relay_disk_upload_finish(u, &replaced), 0);
	assert_int_equal(relay_disk_blob_stat(d, GID, PACK("1"), &bi), 0);
	assert_int_equal(bi.size, total);
	assert_memory_equal(bi.hash, hash, 32);
	assert_int_equal(used(d), total + DSYNC_RELAY_DISK_HEADER);
	assert_int_equal(relay_disk_upload_offset(d, GID, UPLOAD, &off), DSYNC_ENOTFOUND);
}

static void test_resume(void **state)
{
	relay_disk *d = new_group(NULL);
	const size_t total = 20u << 20;   /* past one 8 MiB sync */
	char *body, path[600];
	uint8_t hash[32];
	relay_upload *u;
	uint64_t off = 99;
	int fd;

	(void)state;
	body = patterned(total, hash);
	assert_int_equal(relay_disk_upload_offset(d, GID, UPLOAD, &off), DSYNC_ENOTFOUND);

	/* cut after 3 MiB: kept, its held length reported */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("1"), DEV_A, total, hash, UPLOAD, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(relay_disk_upload_write(u, body, 3u << 20), 0);
	relay_disk_upload_abort(u);
	assert_int_equal(relay_disk_upload_offset(d, GID, UPLOAD, &off), 0);
	assert_int_equal(off, 3u << 20);
	assert_int_equal(used(d), total + DSYNC_RELAY_DISK_HEADER);   /* still reserved */

	/* continued past 8 MiB: the length is recorded while it runs */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("1"), DEV_A, total, hash, UPLOAD, &off), 0);
	assert_int_equal(off, 3u << 20);
	assert_int_equal(relay_disk_upload_write(u, body + off, 9u << 20), 0);   /* 12 MiB: synced there */
	tmp_path(path, sizeof(path), UPLOAD ".len");
	{
		char text[200] = { 0 };

		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_true(read(fd, text, sizeof(text) - 1) > 0);
		close(fd);
		assert_non_null(strstr(text, "held 12582912\n"));
	}
	assert_int_equal(relay_disk_upload_write(u, body + (12u << 20), 3u << 20), 0);
	relay_disk_upload_abort(u);   /* 15 MiB recorded */
	relay_disk_close(d);

	/* a "crash": bytes written after the last recorded length, garbage temps around */
	tmp_path(path, sizeof(path), UPLOAD);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, 1000), 1000);
	close(fd);
	tmp_path(path, sizeof(path), "dddddddddddddddddddddddddddddddd");   /* a plain PUT's temp */
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	tmp_path(path, sizeof(path), "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.len");   /* a .len without its upload */
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	d = open_disk(NULL);
	tmp_path(path, sizeof(path), "dddddddddddddddddddddddddddddddd");
	assert_int_equal(access(path, F_OK), -1);
	tmp_path(path, sizeof(path), "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.len");
	assert_int_equal(access(path, F_OK), -1);
	tmp_path(path, sizeof(path), UPLOAD);
	assert_int_equal(file_size(path), DSYNC_RELAY_DISK_HEADER + (15 << 20));
	assert_int_equal(relay_disk_upload_offset(d, GID, UPLOAD, &off), 0);
	assert_int_equal(off, 15u << 20);
	assert_int_equal(used(d), total + DSYNC_RELAY_DISK_HEADER);

	/* resumed to the end */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("1"), DEV_A, total, hash, UPLOAD, &off), 0);
	assert_int_equal(off, 15u << 20);
	assert_int_equal(relay_disk_upload_write(u, body + off, total - off), 0);
	stored_whole(d, u, total, hash);
	tmp_path(path, sizeof(path), UPLOAD ".len");
	assert_int_equal(access(path, F_OK), -1);

	/* a kept upload expires */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("2"), DEV_A, 100, hash, UPLOAD, &off), 0);
	assert_int_equal(relay_disk_upload_write(u, body, 10), 0);
	relay_disk_upload_abort(u);
	assert_int_equal(relay_disk_expire_uploads(d, 3600), 0);
	assert_int_equal(relay_disk_upload_offset(d, GID, UPLOAD, &off), 0);
	assert_int_equal(relay_disk_expire_uploads(d, -10), 0);
	assert_int_equal(relay_disk_upload_offset(d, GID, UPLOAD, &off), DSYNC_ENOTFOUND);
	assert_int_equal(used(d), total + DSYNC_RELAY_DISK_HEADER);
	tmp_path(path, sizeof(path), UPLOAD);
	assert_int_equal(access(path, F_OK), -1);
	relay_disk_close(d);
	free(body);
}

/* A resumed PUT of the same device takes an upload over from the connection
 * that still holds it: that one's later writes and its end change nothing. */
static void test_takeover(void **state)
{
	relay_disk *d = new_group(NULL);
	const size_t total = 1u << 20;
	char *body;
	uint8_t hash[32];
	relay_upload *old, *u, *other;
	relay_blob_info bi;
	uint64_t off = 99;
	bool replaced;

	(void)state;
	body = patterned(total, hash);
	assert_int_equal(relay_disk_upload_begin(&old, d, GID, PACK("1"), DEV_A, total, hash, UPLOAD, &off), 0);
	assert_int_equal(relay_disk_upload_write(old, body, 300000), 0);
	/* another device, or another length: still refused while OLD holds it */
	assert_int_equal(relay_disk_upload_begin(&other, d, GID, PACK("1"), DEV_B, total, hash, UPLOAD, &off),
			 DSYNC_ELOCKED);
	assert_int_equal(relay_disk_upload_begin(&other, d, GID, PACK("1"), DEV_A, total + 1, hash, UPLOAD, &off),
			 DSYNC_ELOCKED);
	/* the same device: taken over where OLD's bytes end (fsync'd and recorded then) */
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("1"), DEV_A, total, hash, UPLOAD, &off), 0);
	assert_int_equal(off, 300000);
	/* OLD's later bytes are refused (garbage here: they would corrupt the blob) */
	assert_int_equal(relay_disk_upload_write(old, body + total - 5000, 5000), DSYNC_ELOCKED);
	assert_int_equal(relay_disk_upload_write(u, body + off, 200000), 0);
	/* OLD's end touches neither the file nor the recorded length */
	relay_disk_upload_abort(old);
	assert_int_equal(relay_disk_upload_write(u, body + 500000, total - 500000), 0);
	stored_whole(d, u, total, hash);

	/* a taken-over connection that reaches its end stores nothing; the new one's record stays */
	assert_int_equal(relay_disk_upload_begin(&old, d, GID, PACK("2"), DEV_A, 10, hash, UPLOAD, &off), 0);
	assert_int_equal(relay_disk_upload_write(old, body, 4), 0);
	assert_int_equal(relay_disk_upload_begin(&u, d, GID, PACK("2"), DEV_A, 10, hash, UPLOAD, &off), 0);
	assert_int_equal(off, 4);
	assert_int_equal(relay_disk_upload_finish(old, &replaced), DSYNC_ELOCKED);
	assert_int_equal(relay_disk_upload_write(u, body + 4, 2), 0);
	relay_disk_upload_abort(u);
	assert_int_equal(relay_disk_upload_offset(d, GID, UPLOAD, &off), 0);
	assert_int_equal(off, 6);
	assert_int_equal(relay_disk_blob_stat(d, GID, PACK("2"), &bi), DSYNC_ENOTFOUND);
	relay_disk_close(d);
	free(body);
}

static void test_symlink(void **state)
{
	relay_disk *d = new_group(NULL);
	char path[1000], outside[400], target[500];
	relay_blob_info bi;
	collected c;
	bool more;
	int fd;

	(void)state;
	/* a folder outside, and links to it planted where blobs go */
	snprintf(outside, sizeof(outside), "%s.outside", data);
	assert_int_equal(mkdir(outside, 0700), 0);
	snprintf(target, sizeof(target), "%s/secret", outside);
	fd = open(target, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789012345678901234567890123456789012345678901234567890123456789", 70), 70);
	close(fd);
	snprintf(path, sizeof(path), "%s/groups/%s/b/packs", data, GID);
	assert_int_equal(symlink(outside, path), 0);
	snprintf(path, sizeof(path), "%s/groups/%s/b/dsync-store", data, GID);
	assert_int_equal(symlink(target, path), 0);

	assert_int_not_equal(relay_disk_blob_stat(d, GID, "dsync-store", &bi), 0);
	assert_int_not_equal(relay_disk_blob_stat(d, GID, PACK("1"), &bi), 0);
	assert_int_not_equal(put(d, PACK("1"), DEV_A, 10, 'z', NULL), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_disk_list(d, GID, "", NULL, 100, &more, collect, &c), 0);
	assert_int_equal(c.n, 0);
	/* nothing was written outside */
	snprintf(path, sizeof(path), "%s/%s", outside, PACK("1") + 6);
	assert_int_equal(access(path, F_OK), -1);
	relay_disk_close(d);

	/* a group folder that is a link is no group */
	snprintf(path, sizeof(path), "%s/groups/%s", data, "fedcba9876543210fedcba9876543210");
	assert_int_equal(symlink(outside, path), 0);
	d = open_disk(NULL);
	assert_int_equal(relay_disk_group(d, "fedcba9876543210fedcba9876543210", &(relay_group_info){ 0 }),
			 DSYNC_ENOTFOUND);
	relay_disk_close(d);
}

static void test_not_relay(void **state)
{
	relay_disk *d = NULL;
	char path[600];
	int fd;

	(void)state;
	fresh_dir();
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(path, sizeof(path), "%s/photo.jpg", data);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(relay_disk_open(&d, data, NULL), DSYNC_EUSAGE);
	assert_null(d);
	assert_non_null(strstr(dsync_error_last(), "not a relay's data folder"));

	/* a 'relay' file that isn't ours */
	fresh_dir();
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(path, sizeof(path), "%s/relay", data);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(relay_disk_open(&d, data, NULL), DSYNC_EUSAGE);

	/* an empty folder is made one */
	fresh_dir();
	assert_int_equal(mkdir(data, 0700), 0);
	d = open_disk(NULL);
	relay_disk_close(d);
	snprintf(path, sizeof(path), "%s/relay", data);
	assert_int_equal(file_size(path), 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_blobs),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_quota_concurrent),
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_takeover),
		cmocka_unit_test(test_symlink),
		cmocka_unit_test(test_not_relay),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
