/*
 * Objects written straight into a pack (core/base/packw.h): libgit2 reads
 * every object back and git accepts the pack (fsck --full, verify-pack);
 * what does not compress is stored, what does is deflated; dedup against the
 * pack and the store; a wrong expected count is fixed, a big guess split in
 * two packs so that copies hash at most the second again; nothing is left
 * behind when a pack is not committed or holds nothing; ids are libgit2's,
 * and an object dropped as held is hashed again with SHA-1DC first (other
 * bytes under a held id fail); the .idx's table of
 * 8-byte offsets; the odb backend under a real snapshot, then `dsync gc`.
 * The compressor both packs' writers share (core/base/zcomp.h): every method
 * makes a stream zlib reads back, the samples pick the method, and a push's
 * pack of objects too big to compress whole (streamed) is one git accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>
#include <zlib.h>

#include "dsync/common.h"
#include "dsync/gc.h"
#include "dsync/snapshot.h"
#include "core/base/internal.h"
#include "core/base/file.h"
#include "core/base/loose.h"
#include "core/base/packw.h"
#include "core/base/sha1.h"
#include "core/base/zcomp.h"
#include "core/store/thinpack.h"
#include "core/folder/folder.h"
#include "core/history/gc.h"
#include "core/history/head.h"
#include "sandbox.h"

/* LEN bytes of reproducible noise. */
static unsigned char *noise(size_t len, unsigned char tag)
{
	unsigned char *p = malloc(len ? len : 1), seed[randombytes_SEEDBYTES] = { tag };

	assert_non_null(p);
	randombytes_buf_deterministic(p, len, seed);
	return p;
}

/* LEN bytes of text: words that repeat, as prose does. */
static unsigned char *text(size_t len)
{
	static const char *words[] = { "the ", "folder ", "sync ", "of ", "documents ", "and ", "a ", "version\n" };
	unsigned char *p = malloc(len ? len : 1);
	size_t i = 0, k = 0;

	assert_non_null(p);
	while (i < len) {
		const char *w = words[(k * 7 + k / 3) % DSYNC_ARRAY_SIZE(words)];

		for (; *w && i < len; w++)
			p[i++] = (unsigned char)*w;
		k++;
	}
	return p;
}

/* LEN bytes of hex digits of noise, a line break every 65 (hashes, keys). */
static unsigned char *hex_text(size_t len, unsigned char tag)
{
	unsigned char *p = noise(len, tag);
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = i % 65 == 64 ? '\n' : (unsigned char)"0123456789abcdef"[p[i] & 15];
	return p;
}

/* A new bare repository SANDBOX/NAME; its path in GITDIR. */
static git_repository *new_repo(char *gitdir, size_t size, const char *name)
{
	git_repository *r;

	sandbox_path(gitdir, size, name);
	assert_int_equal(git_repository_init(&r, gitdir, 1), 0);
	return r;
}

/* How many files in GITDIR/objects/pack start with PREFIX and end with SUFFIX. */
static int count_files(const char *gitdir, const char *prefix, const char *suffix)
{
	char path[600];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/objects/pack", gitdir);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && l >= s && strcmp(e->d_name + l - s, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Runs git's checks of GITDIR: fsck --full, and verify-pack -v of every pack. */
static void git_accepts(const char *gitdir)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' fsck --full --no-dangling >/dev/null 2>&1", gitdir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "for i in '%s'/objects/pack/pack-*.idx; do [ -e \"$i\" ] || continue; "
		 "git verify-pack -v \"$i\" >/dev/null 2>&1 || exit 1; done", gitdir);
	assert_int_equal(system(cmd), 0);
}

/* Reads ID from a fresh repository on GITDIR (not the writer's odb) and
 * checks type and bytes. */
static void reads_back(const char *gitdir, const git_oid *id, git_object_t type, const void *data, size_t len)
{
	git_repository *r;
	git_odb *odb;
	git_odb_object *o;

	assert_int_equal(git_repository_open_bare(&r, gitdir), 0);
	assert_int_equal(git_repository_odb(&odb, r), 0);
	assert_int_equal(git_odb_read(&o, odb, id), 0);
	assert_int_equal(git_odb_object_type(o), type);
	assert_int_equal(git_odb_object_size(o), len);
	assert_memory_equal(git_odb_object_data(o), data, len);
	git_odb_object_free(o);
	git_odb_free(odb);
	git_repository_free(r);
}

static bool is_loose(const char *gitdir, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1], path[600];
	struct stat st;

	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", gitdir, hex, hex + 2);
	return stat(path, &st) == 0;
}

#define BIG (1024 * 1024)

static void test_objects_read_back(void **state)
{
	char gitdir[300];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "objects.git");
	git_odb *odb;
	dsync_packw *w;
	dsync_packw_obj o = { 0 };
	unsigned char *zeros = calloc(1, BIG), *rnd = noise(BIG, 1), *txt = text(200000), *mid = noise(70000, 2);
	unsigned char tree[64];
	struct { const void *data; size_t len; git_object_t type; git_oid id; } obj[] = {
		{ "", 0, GIT_OBJECT_BLOB, { { 0 } } },        /* hostile: nothing */
		{ zeros, BIG, GIT_OBJECT_BLOB, { { 0 } } },   /* compresses to almost nothing */
		{ rnd, BIG, GIT_OBJECT_BLOB, { { 0 } } },     /* does not compress: stored, in 17 blocks */
		{ txt, 200000, GIT_OBJECT_BLOB, { { 0 } } },
		{ mid, 70000, GIT_OBJECT_BLOB, { { 0 } } },   /* two stored blocks */
		{ "x", 1, GIT_OBJECT_BLOB, { { 0 } } },
		{ tree, 0, GIT_OBJECT_TREE, { { 0 } } },
	};
	size_t i, n = DSYNC_ARRAY_SIZE(obj);

	(void)state;
	assert_non_null(zeros);
	assert_int_equal(git_repository_odb(&odb, r), 0);

	/* what each prepares to: stored for noise, deflated for the rest */
	assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, rnd, BIG), 0);
	assert_true(o.zlen > BIG && o.zlen < BIG + BIG / 1000);
	assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, zeros, BIG), 0);
	assert_true(o.zlen < BIG / 100);
	assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, txt, 200000), 0);
	assert_true(o.zlen < 200000 / 2);
	assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, "", 0), 0);
	assert_int_equal(o.size, 0);
	/* bytes as evenly spread as noise, but repeating: deflated */
	for (i = 0; i < BIG; i++)
		zeros[i] = rnd[i % 1000];
	assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, zeros, BIG), 0);
	assert_true(o.zlen < BIG / 10);
	memset(zeros, 0, BIG);
	assert_int_equal(dsync_packw_prepare(&o, (git_object_t)5, "x", 1), DSYNC_EUSAGE);
	dsync_packw_obj_dispose(&o);

	/* a tree naming the last blob */
	assert_int_equal(git_odb_hash(&obj[5].id, "x", 1, GIT_OBJECT_BLOB), 0);
	memcpy(tree, "100644 x", 9);
	memcpy(tree + 9, obj[5].id.id, GIT_OID_RAWSZ);
	obj[6].len = 9 + GIT_OID_RAWSZ;

	assert_int_equal(dsync_packw_open(&w, odb, gitdir, (uint32_t)n), 0);
	assert_int_equal(count_files(gitdir, "tmp-dsync-", ".pack"), 1);
	for (i = 0; i < n; i++) {
		git_oid want;

		assert_int_equal(dsync_packw_put(w, &obj[i].id, obj[i].type, obj[i].data, obj[i].len), 0);
		assert_int_equal(git_odb_hash(&want, obj[i].data, obj[i].len, obj[i].type), 0);
		assert_true(git_oid_equal(&want, &obj[i].id));
		assert_true(dsync_packw_has(w, &obj[i].id));
	}
	assert_int_equal(dsync_packw_count(w), n);
	assert_int_equal(dsync_packw_commit(w), 0);
	/* committed: the writer's own odb sees the objects at once */
	assert_int_equal(git_odb_exists(odb, &obj[2].id), 1);
	assert_int_equal(dsync_packw_put(w, NULL, GIT_OBJECT_BLOB, "y", 1), DSYNC_EUSAGE);
	dsync_packw_free(w);

	assert_int_equal(count_files(gitdir, "tmp-dsync-", ""), 0);
	assert_int_equal(count_files(gitdir, "pack-", ".pack"), 1);
	assert_int_equal(count_files(gitdir, "pack-", ".idx"), 1);
	for (i = 0; i < n; i++) {
		reads_back(gitdir, &obj[i].id, obj[i].type, obj[i].data, obj[i].len);
		assert_false(is_loose(gitdir, &obj[i].id));
	}
	git_accepts(gitdir);

	git_odb_free(odb);
	git_repository_free(r);
	free(zeros);
	free(rnd);
	free(txt);
	free(mid);
}

/* Ids of prepared objects (dsync's SHA-1) are libgit2's (SHA-1DC), for
 * every type, sizes around SHA-1's 64-byte blocks and its padding, and big
 * ones; with the CPU's SHA instructions (where it has them) and with the
 * portable rounds. */
static void test_ids_are_libgit2s(void **state)
{
	static const git_object_t types[] = { GIT_OBJECT_BLOB, GIT_OBJECT_TREE, GIT_OBJECT_COMMIT, GIT_OBJECT_TAG };
	static const size_t big[] = { 65535, 65536 + 7, BIG - 1, BIG, 9 * BIG + 3 };
	unsigned char *rnd = noise(9 * BIG + 3, 9), *txt = text(9 * BIG + 3);
	dsync_packw_obj o = { 0 };
	git_oid want;
	size_t len, t, k;
	int portable;

	(void)state;
	for (portable = 0; portable < 2; portable++) {
		dsync_sha1_portable__(portable == 1);
		/* every size to 300: the header "blob N\0" ends anywhere in a block */
		for (len = 0; len <= 300; len++) {
			for (t = 0; t < DSYNC_ARRAY_SIZE(types); t++) {
				const unsigned char *data = t % 2 ? txt : rnd;

				assert_int_equal(dsync_packw_prepare(&o, types[t], data, len), 0);
				assert_int_equal(git_odb_hash(&want, data, len, types[t]), 0);
				assert_true(git_oid_equal(&o.id, &want));
				assert_false(o.checked);
			}
		}
		for (k = 0; k < DSYNC_ARRAY_SIZE(big); k++) {
			const unsigned char *data = k % 2 ? txt : rnd;

			assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, data, big[k]), 0);
			assert_int_equal(git_odb_hash(&want, data, big[k], GIT_OBJECT_BLOB), 0);
			assert_true(git_oid_equal(&o.id, &want));
			assert_false(o.checked);
			/* and by SHA-1DC itself, for an object likely held */
			assert_int_equal(dsync_packw_prepare_checked(&o, GIT_OBJECT_BLOB, data, big[k]), 0);
			assert_true(git_oid_equal(&o.id, &want));
			assert_true(o.checked);
		}
	}
	dsync_sha1_portable__(false);
	/* git's id of nothing (git hash-object /dev/null) */
	assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, "", 0), 0);
	git_oid_fromstr(&want, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	assert_true(git_oid_equal(&o.id, &want));
	dsync_packw_obj_dispose(&o);
	free(rnd);
	free(txt);
}

/* An object whose id is already held but whose bytes are others' (what a
 * crafted SHA-1 collision would be, seen from the writer): prepared from
 * DATA, its id set to ID's. */
static void forge(dsync_packw_obj *o, const void *data, size_t len, const git_oid *id)
{
	assert_int_equal(dsync_packw_prepare(o, GIT_OBJECT_BLOB, data, len), 0);
	o->id = *id;
}

static void test_dedup(void **state)
{
	char gitdir[300];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "dedup.git");
	git_odb *odb;
	dsync_packw *w;
	git_oid loose, a, b;
	dsync_packw_obj o = { 0 };

	(void)state;
	assert_int_equal(git_repository_odb(&odb, r), 0);
	assert_int_equal(git_odb_write(&loose, odb, "in the store", 12, GIT_OBJECT_BLOB), 0);

	assert_int_equal(dsync_packw_open(&w, odb, gitdir, 2), 0);
	assert_int_equal(dsync_packw_put(w, &a, GIT_OBJECT_BLOB, "twice", 5), 0);
	assert_int_equal(dsync_packw_put(w, &b, GIT_OBJECT_BLOB, "twice", 5), 0);
	assert_true(git_oid_equal(&a, &b));
	assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, "twice", 5), 0);
	assert_int_equal(dsync_packw_add(w, &o), 0);
	/* the store has it: not written again */
	assert_int_equal(dsync_packw_put(w, &b, GIT_OBJECT_BLOB, "in the store", 12), 0);
	assert_true(git_oid_equal(&loose, &b));
	assert_false(dsync_packw_has(w, &loose));
	assert_int_equal(dsync_packw_count(w), 1);
	/* each hit was hashed again with SHA-1DC: put's from its bytes, add's
	 * from its entry inflated */
	assert_int_equal(dsync_packw_rechecked(w), 3);

	/* other bytes under a held id are not dropped as copies: an error
	 * naming the object, for a small, a big stored (noise) and a deflated
	 * one, against the pack and against the store */
	{
		unsigned char *rnd = noise(BIG, 3), *txt = text(BIG);
		char hex[GIT_OID_HEXSZ + 1];

		forge(&o, "twinn", 5, &a);
		assert_int_equal(dsync_packw_add(w, &o), DSYNC_ECORRUPT);
		git_oid_tostr(hex, sizeof(hex), &a);
		assert_non_null(strstr(dsync_error_last(), hex));
		forge(&o, rnd, BIG, &a);
		assert_true(o.zlen > BIG);
		assert_int_equal(dsync_packw_add(w, &o), DSYNC_ECORRUPT);
		forge(&o, txt, BIG, &loose);
		assert_true(o.zlen < BIG / 2);
		assert_int_equal(dsync_packw_add(w, &o), DSYNC_ECORRUPT);
		assert_int_equal(dsync_packw_rechecked(w), 6);
		/* an entry that does not inflate to its size is no copy either */
		assert_int_equal(dsync_packw_prepare(&o, GIT_OBJECT_BLOB, "twice", 5), 0);
		o.size = 6;
		assert_int_equal(dsync_packw_add(w, &o), DSYNC_ECORRUPT);
		/* an id from libgit2 (SHA-1DC) is not hashed again */
		assert_int_equal(dsync_packw_prepare_checked(&o, GIT_OBJECT_BLOB, "twice", 5), 0);
		assert_int_equal(dsync_packw_add(w, &o), 0);
		assert_int_equal(dsync_packw_rechecked(w), 6);
		free(rnd);
		free(txt);
	}
	/* the writer goes on: only those objects failed */
	assert_int_equal(dsync_packw_put(w, &b, GIT_OBJECT_BLOB, "after", 5), 0);
	assert_int_equal(dsync_packw_count(w), 2);
	assert_int_equal(dsync_packw_commit(w), 0);
	dsync_packw_free(w);
	dsync_packw_obj_dispose(&o);
	reads_back(gitdir, &a, GIT_OBJECT_BLOB, "twice", 5);
	reads_back(gitdir, &b, GIT_OBJECT_BLOB, "after", 5);
	reads_back(gitdir, &loose, GIT_OBJECT_BLOB, "in the store", 12);
	git_accepts(gitdir);

	/* a pack of nothing new is not kept */
	assert_int_equal(dsync_packw_open(&w, odb, gitdir, 5), 0);
	assert_int_equal(dsync_packw_put(w, NULL, GIT_OBJECT_BLOB, "twice", 5), 0);
	assert_int_equal(dsync_packw_count(w), 0);
	assert_int_equal(dsync_packw_commit(w), 0);
	dsync_packw_free(w);
	assert_int_equal(count_files(gitdir, "pack-", ".pack"), 1);
	assert_int_equal(count_files(gitdir, "tmp-dsync-", ""), 0);

	git_odb_free(odb);
	git_repository_free(r);
}

/* The header's count was a guess: too high, then too low. */
static void test_count_fixup(void **state)
{
	static const uint32_t expect[] = { 50, 1 };
	char gitdir[300];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "fixup.git");
	git_odb *odb;

	(void)state;
	assert_int_equal(git_repository_odb(&odb, r), 0);
	for (size_t k = 0; k < DSYNC_ARRAY_SIZE(expect); k++) {
		dsync_packw *w;
		git_oid ids[5];
		char buf[64];

		assert_int_equal(dsync_packw_open(&w, odb, gitdir, expect[k]), 0);
		for (int i = 0; i < 5; i++) {
			snprintf(buf, sizeof(buf), "object %zu.%d", k, i);
			assert_int_equal(dsync_packw_put(w, &ids[i], GIT_OBJECT_BLOB, buf, strlen(buf)), 0);
		}
		assert_int_equal(dsync_packw_commit(w), 0);
		dsync_packw_free(w);
		for (int i = 0; i < 5; i++) {
			snprintf(buf, sizeof(buf), "object %zu.%d", k, i);
			reads_back(gitdir, &ids[i], GIT_OBJECT_BLOB, buf, strlen(buf));
		}
	}
	assert_int_equal(count_files(gitdir, "pack-", ".idx"), 2);
	git_accepts(gitdir);
	git_odb_free(odb);
	git_repository_free(r);
}

/* Size of the pack in GITDIR/objects/pack whose header counts N objects
 * (0 when none does). */
static uint64_t pack_of_count(const char *gitdir, uint32_t n)
{
	char path[900];
	unsigned char hdr[12];
	struct dirent *e;
	struct stat st;
	uint64_t size = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/objects/pack", gitdir);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		int fd;

		if (strncmp(e->d_name, "pack-", 5) != 0 || l < 5 || strcmp(e->d_name + l - 5, ".pack") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/objects/pack/%s", gitdir, e->d_name);
		assert_true((fd = open(path, O_RDONLY)) >= 0);
		assert_int_equal(read(fd, hdr, sizeof(hdr)), sizeof(hdr));
		assert_int_equal(fstat(fd, &st), 0);
		close(fd);
		if (((uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 | (uint32_t)hdr[10] << 8 | hdr[11]) == n)
			size = (uint64_t)st.st_size;
	}
	closedir(d);
	return size;
}

/*
 * A guess of 1,000 objects: the first pack announces 875, the second the
 * rest.  Some of the objects given are copies of earlier ones (dropped):
 * before the split, the second pack's count is right and no pack is hashed
 * twice; after it, only the second pack is; so many that the first never
 * fills, the one pack is.  Every object reads back, git accepts the packs.
 */
static void test_split(void **state)
{
	static const struct {
		const char *name;
		int copies_from, copies_to;   /* objects in [from, to) copy the one before */
		int packs;
		uint32_t first, second;       /* header counts */
	} cases[] = {
		{ "split-before.git", 0, 20, 2, 875, 115 },
		{ "split-after.git", 980, 1000, 2, 875, 115 },
		{ "split-never.git", 0, 1000, 1, 500, 0 },
	};

	(void)state;
	for (size_t k = 0; k < DSYNC_ARRAY_SIZE(cases); k++) {
		char gitdir[300], buf[64];
		git_repository *r = new_repo(gitdir, sizeof(gitdir), cases[k].name);
		git_odb *odb;
		dsync_packw *w;
		git_oid *ids = calloc(1000, sizeof(*ids));
		uint64_t second;

		assert_non_null(ids);
		assert_int_equal(git_repository_odb(&odb, r), 0);
		assert_int_equal(dsync_packw_open(&w, odb, gitdir, 1000), 0);
		for (int i = 0; i < 1000; i++) {
			int n = i >= cases[k].copies_from && i < cases[k].copies_to && i % 2 ? i - 1 : i;

			snprintf(buf, sizeof(buf), "object %d of %s", n, cases[k].name);
			assert_int_equal(dsync_packw_put(w, &ids[i], GIT_OBJECT_BLOB, buf, strlen(buf)), 0);
		}
		assert_int_equal(dsync_packw_count(w), cases[k].first + cases[k].second);
		assert_int_equal(dsync_packw_commit(w), 0);
		assert_int_equal(count_files(gitdir, "pack-", ".idx"), cases[k].packs);
		assert_int_not_equal(pack_of_count(gitdir, cases[k].first), 0);
		second = cases[k].second ? pack_of_count(gitdir, cases[k].second) : 0;
		if (k == 0)
			assert_int_equal(dsync_packw_rehashed__(w), 0);
		else if (k == 1)   /* the second pack alone, without its trailer */
			assert_int_equal(dsync_packw_rehashed__(w), second - 20);
		else
			assert_int_equal(dsync_packw_rehashed__(w), pack_of_count(gitdir, 500) - 20);
		dsync_packw_free(w);
		for (int i = 0; i < 1000; i++) {
			int n = i >= cases[k].copies_from && i < cases[k].copies_to && i % 2 ? i - 1 : i;

			snprintf(buf, sizeof(buf), "object %d of %s", n, cases[k].name);
			reads_back(gitdir, &ids[i], GIT_OBJECT_BLOB, buf, strlen(buf));
		}
		git_accepts(gitdir);
		free(ids);
		git_odb_free(odb);
		git_repository_free(r);
	}
}

/*
 * A split while libgit2 writes through the backend of another object
 * database on the same store (as a snapshot's trees are): the objects of
 * the first pack, finished, are still found there (a copy is not written
 * again) and read, and the rest land in the second pack.
 */
static void test_split_backend(void **state)
{
	char gitdir[300], objects[400], buf[64];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "split-backend.git");
	git_odb *odb, *other;
	git_odb_backend *be;
	git_odb_object *o;
	dsync_packw *w;
	git_oid ids[300], again;

	(void)state;
	assert_int_equal(git_repository_odb(&odb, r), 0);
	snprintf(objects, sizeof(objects), "%s/objects", gitdir);
	assert_int_equal(git_odb_open(&other, objects), 0);
	assert_int_equal(dsync_packw_open(&w, odb, gitdir, 300), 0);
	assert_int_equal(dsync_packw_backend(&be, w), 0);
	assert_int_equal(git_odb_add_backend(other, be, 1000), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "through the backend %d", i);
		assert_int_equal(git_odb_write(&ids[i], other, buf, strlen(buf), GIT_OBJECT_BLOB), 0);
	}
	/* 263 in the first pack (300 less an eighth), finished */
	assert_int_equal(count_files(gitdir, "pack-", ".idx"), 1);
	assert_false(dsync_packw_has(w, &ids[0]));
	assert_true(dsync_packw_has(w, &ids[299]));
	assert_int_equal(git_odb_write(&again, other, "through the backend 0", 21, GIT_OBJECT_BLOB), 0);
	assert_true(git_oid_equal(&again, &ids[0]));
	assert_int_equal(dsync_packw_count(w), 300);
	assert_int_equal(git_odb_read(&o, other, &ids[1]), 0);
	assert_memory_equal(git_odb_object_data(o), "through the backend 1", 21);
	git_odb_object_free(o);
	assert_int_equal(dsync_packw_commit(w), 0);
	assert_int_equal(dsync_packw_rehashed__(w), 0);
	assert_int_equal(count_files(gitdir, "pack-", ".idx"), 2);
	dsync_packw_free(w);
	git_odb_free(other);
	git_odb_free(odb);
	git_repository_free(r);
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "through the backend %d", i);
		reads_back(gitdir, &ids[i], GIT_OBJECT_BLOB, buf, strlen(buf));
	}
	git_accepts(gitdir);
}

/* Not committed, or failed: its temp file goes; old temp files of a killed
 * run go, young ones (maybe another process's) stay. */
static void test_temp_files(void **state)
{
	char gitdir[300], path[600];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "temp.git");
	dsync_packw *w;
	struct timeval old[2] = { { .tv_sec = time(NULL) - 7200 }, { .tv_sec = time(NULL) - 7200 } };

	(void)state;
	assert_int_equal(dsync_packw_open(&w, NULL, gitdir, 1), 0);
	assert_int_equal(dsync_packw_put(w, NULL, GIT_OBJECT_BLOB, "gone", 4), 0);
	assert_int_equal(count_files(gitdir, "tmp-dsync-", ".pack"), 1);
	dsync_packw_free(w);
	assert_int_equal(count_files(gitdir, "", ""), 0 + 2);   /* "." and ".." */
	dsync_packw_free(NULL);

	snprintf(path, sizeof(path), "%s/objects/pack/tmp-dsync-old123.pack", gitdir);
	sandbox_put(gitdir, "objects/pack/tmp-dsync-old123.pack", "killed");
	assert_int_equal(utimes(path, old), 0);
	sandbox_put(gitdir, "objects/pack/tmp-dsync-young1.pack", "in progress");
	sandbox_put(gitdir, "objects/pack/tmp_pack_other", "not ours");
	assert_int_equal(dsync_packw_clean_temp(gitdir, DSYNC_PACKW_TEMP_AGE), 1);
	assert_int_equal(count_files(gitdir, "tmp-dsync-", ""), 1);
	assert_int_equal(count_files(gitdir, "tmp_pack_other", ""), 1);
	assert_int_equal(dsync_packw_clean_temp("/nonexistent", 0), 0);
	git_repository_free(r);
}

/* A writer killed half-way (SIGKILL, so nothing of its own runs) leaves its
 * temp file and a store that libgit2 and git read as before; the temp file
 * is removed once old enough. */
static void test_killed(void **state)
{
	char gitdir[300];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "killed.git");
	git_odb *odb;
	git_oid before;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(git_repository_odb(&odb, r), 0);
	assert_int_equal(git_odb_write(&before, odb, "before", 6, GIT_OBJECT_BLOB), 0);
	if ((pid = fork()) == 0) {
		dsync_packw *w;
		unsigned char *rnd = noise(3 * BIG, 5);

		if (dsync_packw_open(&w, odb, gitdir, 100) < 0)
			_exit(1);
		for (size_t i = 0; i < 3; i++)
			if (dsync_packw_put(w, NULL, GIT_OBJECT_BLOB, rnd + i * BIG, BIG) < 0)
				_exit(1);
		raise(SIGKILL);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(count_files(gitdir, "tmp-dsync-", ".pack"), 1);
	assert_int_equal(count_files(gitdir, "pack-", ""), 0);
	reads_back(gitdir, &before, GIT_OBJECT_BLOB, "before", 6);
	git_accepts(gitdir);
	assert_int_equal(dsync_packw_clean_temp(gitdir, DSYNC_PACKW_TEMP_AGE), 0);   /* young: maybe in progress */
	assert_int_equal(dsync_packw_clean_temp(gitdir, 0), 1);
	assert_int_equal(count_files(gitdir, "tmp-dsync-", ""), 0);
	git_odb_free(odb);
	git_repository_free(r);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The .idx writer with offsets past 2 GiB (a pack that big is too slow to
 * write here): each lands in the 8-byte table, the rest stay 4-byte. */
static void test_idx_large_offsets(void **state)
{
	static const uint64_t offs[] = { 12, 0x7fffffffu, 0x80000000u, 5ull << 30, 300 };
	dsync_packw_ent e[DSYNC_ARRAY_SIZE(offs)];
	unsigned char sha[20] = { 9 }, idx_sha[20], *idx;
	char path[300];
	size_t n = DSYNC_ARRAY_SIZE(offs), i, large = 0, len;
	int fd;

	(void)state;
	for (i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].id.id[0] = (unsigned char)(0xf0 - 0x30 * i);   /* reversed: the writer sorts */
		e[i].id.id[19] = (unsigned char)i;
		e[i].offset = offs[i];
		e[i].crc = 0x1000u + (uint32_t)i;
	}
	sandbox_path(path, sizeof(path), "large.idx");
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644)) >= 0);
	assert_int_equal(dsync_packw_write_idx__(fd, e, n, sha, idx_sha), 0);
	close(fd);
	assert_non_null(idx = (unsigned char *)sandbox_slurp(sandbox_dir, "large.idx"));
	len = 8 + 256 * 4 + n * (20 + 4 + 4) + 2 * 8 + 20 + 20;
	assert_int_equal(be32(idx), 0xff744f63);
	assert_int_equal(be32(idx + 4), 2);
	assert_int_equal(be32(idx + 8 + 255 * 4), n);
	for (i = 0; i < n; i++) {
		const unsigned char *id = idx + 8 + 1024 + i * 20;
		uint32_t crc = be32(idx + 8 + 1024 + n * 20 + i * 4), o4 = be32(idx + 8 + 1024 + n * 24 + i * 4);
		size_t k = n - 1 - i;   /* sorted: the input reversed */
		uint64_t off = o4;

		assert_int_equal(id[0], 0xf0 - 0x30 * k);
		assert_int_equal(crc, 0x1000u + k);
		if (o4 & 0x80000000u) {
			const unsigned char *l = idx + 8 + 1024 + n * 28 + (o4 & 0x7fffffffu) * 8;

			off = (uint64_t)be32(l) << 32 | be32(l + 4);
			large++;
		}
		assert_int_equal(off, offs[k]);
	}
	assert_int_equal(large, 2);
	assert_memory_equal(idx + len - 40, sha, 20);
	assert_memory_equal(idx + len - 20, idx_sha, 20);
	free(idx);
}

/* prepare on several threads at once: the same ids and bodies as on one. */
struct prep_job {
	const unsigned char *data;
	size_t len;
	git_oid id;
	size_t zlen;
};

static void *prep_thread(void *arg)
{
	struct prep_job *j = arg;
	dsync_packw_obj o = { 0 };

	for (int k = 0; k < 20; k++)
		if (dsync_packw_prepare(&o, GIT_OBJECT_BLOB, j->data, j->len) < 0)
			return arg;
	j->id = o.id;
	j->zlen = o.zlen;
	dsync_packw_obj_dispose(&o);
	return NULL;
}

static void test_prepare_threads(void **state)
{
	unsigned char *a = noise(300000, 3), *b = text(300000);
	struct prep_job j[4] = { { a, 300000 }, { b, 300000 }, { a, 300000 }, { b, 300000 } };
	pthread_t t[4];
	git_oid ia, ib;
	void *ret;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, prep_thread, &j[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(git_odb_hash(&ia, a, 300000, GIT_OBJECT_BLOB), 0);
	assert_int_equal(git_odb_hash(&ib, b, 300000, GIT_OBJECT_BLOB), 0);
	assert_true(git_oid_equal(&j[0].id, &ia) && git_oid_equal(&j[2].id, &ia));
	assert_true(git_oid_equal(&j[1].id, &ib) && git_oid_equal(&j[3].id, &ib));
	assert_int_equal(j[0].zlen, j[2].zlen);
	assert_int_equal(j[1].zlen, j[3].zlen);
	free(a);
	free(b);
}

/* Every write of libgit2's callers lands in the pack through the backend,
 * is read back before the commit, and goes loose after it. */
static void test_backend(void **state)
{
	char gitdir[300];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "backend.git");
	git_odb *odb;
	git_odb_backend *be;
	git_odb_stream *st;
	git_odb_object *o;
	git_treebuilder *tb;
	dsync_packw *w;
	git_oid blob, streamed, tree, after;
	unsigned char *rnd = noise(100000, 4);
	size_t len;
	git_object_t type;

	(void)state;
	assert_int_equal(git_repository_odb(&odb, r), 0);
	assert_int_equal(dsync_packw_open(&w, odb, gitdir, 3), 0);
	assert_int_equal(dsync_packw_backend(&be, w), 0);
	assert_int_equal(git_odb_add_backend(odb, be, 1000), 0);

	assert_int_equal(git_blob_create_from_buffer(&blob, r, rnd, 100000), 0);
	assert_int_equal(git_odb_open_wstream(&st, odb, 11, GIT_OBJECT_BLOB), 0);
	assert_int_equal(git_odb_stream_write(st, "streamed in", 11), 0);
	assert_int_equal(git_odb_stream_finalize_write(&streamed, st), 0);
	git_odb_stream_free(st);
	assert_int_equal(git_treebuilder_new(&tb, r, NULL), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, "random", &blob, GIT_FILEMODE_BLOB), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, "streamed", &streamed, GIT_FILEMODE_BLOB), 0);
	assert_int_equal(git_treebuilder_write(&tree, tb), 0);
	git_treebuilder_free(tb);
	assert_true(dsync_packw_has(w, &blob) && dsync_packw_has(w, &streamed) && dsync_packw_has(w, &tree));
	assert_false(is_loose(gitdir, &blob) || is_loose(gitdir, &streamed) || is_loose(gitdir, &tree));
	assert_int_equal(dsync_packw_count(w), 3);

	/* read back from the pack in progress (some still in the write buffer) */
	assert_int_equal(git_odb_read_header(&len, &type, odb, &blob), 0);
	assert_int_equal(len, 100000);
	assert_int_equal(type, GIT_OBJECT_BLOB);
	assert_int_equal(git_odb_read(&o, odb, &blob), 0);
	assert_memory_equal(git_odb_object_data(o), rnd, 100000);
	git_odb_object_free(o);

	assert_int_equal(dsync_packw_commit(w), 0);
	assert_int_equal(git_odb_write(&after, odb, "after the commit", 16, GIT_OBJECT_BLOB), 0);
	assert_true(is_loose(gitdir, &after));
	assert_int_equal(git_odb_open_wstream(&st, odb, 14, GIT_OBJECT_BLOB), 0);
	assert_int_equal(git_odb_stream_write(st, "streamed after", 14), 0);
	assert_int_equal(git_odb_stream_finalize_write(&after, st), 0);
	git_odb_stream_free(st);
	assert_true(is_loose(gitdir, &after));
	dsync_packw_free(w);   /* before the odb: the backend must not use it */
	assert_int_equal(git_odb_write(&after, odb, "after the free", 14, GIT_OBJECT_BLOB), 0);
	assert_true(is_loose(gitdir, &after));
	assert_int_equal(git_odb_read(&o, odb, &tree), 0);
	git_odb_object_free(o);
	git_odb_free(odb);
	git_repository_free(r);

	reads_back(gitdir, &blob, GIT_OBJECT_BLOB, rnd, 100000);
	reads_back(gitdir, &streamed, GIT_OBJECT_BLOB, "streamed in", 11);
	git_accepts(gitdir);
	free(rnd);
}

/* Which packs gc merges (git's repack --geometric=2): sizes in MiB. */
static size_t choose_mib(bool *merge, const uint64_t *mib, size_t n, uint64_t loose_mib)
{
	uint64_t b[16];

	for (size_t i = 0; i < n; i++)
		b[i] = mib[i] << 20;
	return dsync_gc_choose(merge, b, n, loose_mib << 20, DSYNC_GC_SMALL_PACK);
}

static void test_gc_choose(void **state)
{
	bool m[16];

	(void)state;
	/* no pack: nothing to choose */
	assert_int_equal(dsync_gc_choose(m, NULL, 0, 1 << 20, DSYNC_GC_SMALL_PACK), 0);
	{
		/* a big first snapshot's two packs (7/8 and 1/8) stay, whatever
		 * the order, beside a little loose */
		const uint64_t s[] = { 900, 123 };

		assert_int_equal(choose_mib(m, s, 2, 1), 2);
		assert_false(m[0]);
		assert_false(m[1]);
	}
	{
		/* small packs always merge; a big one stays */
		const uint64_t s[] = { 4, 1000, 31 };

		assert_int_equal(choose_mib(m, s, 3, 0), 1);
		assert_true(m[0]);
		assert_false(m[1]);
		assert_true(m[2]);
	}
	{
		/* fifty packs of a size: no run doubles, so all merge */
		uint64_t s[16];

		for (int i = 0; i < 16; i++)
			s[i] = 50;
		assert_int_equal(choose_mib(m, s, 16, 0), 0);
		for (int i = 0; i < 16; i++)
			assert_true(m[i]);
	}
	{
		/* a progression stays (100, 400, 1000, 3000); the packs below
		 * it merge (40 and 60, which do not double), and so does its
		 * first once they reach half its size (100 < 2 * 100), but not
		 * the next (400 = 2 * 200) */
		const uint64_t s[] = { 3000, 100, 40, 400, 60, 1000 };

		assert_int_equal(choose_mib(m, s, 6, 0), 3);
		assert_false(m[0]);
		assert_true(m[1]);
		assert_true(m[2]);
		assert_false(m[3]);
		assert_true(m[4]);
		assert_false(m[5]);
	}
	{
		/* loose objects count too: 40 MiB loose beside a 64 MiB pack
		 * merge it (64 < 2 * 40); 20 MiB loose leave it */
		const uint64_t s[] = { 64 };

		assert_int_equal(choose_mib(m, s, 1, 40), 0);
		assert_true(m[0]);
		assert_int_equal(choose_mib(m, s, 1, 20), 1);
		assert_false(m[0]);
	}
	{
		/* a perfect progression from 32 MiB up: each stays */
		const uint64_t s[] = { 32, 64, 128, 256, 512, 1024, 2048 };

		assert_int_equal(choose_mib(m, s, 7, 1), 7);
		for (int i = 0; i < 7; i++)
			assert_false(m[i]);
	}
}

/* A real snapshot through the backend, then `dsync gc` over its pack. */
static void test_snapshot_then_gc(void **state)
{
	char dir[300], gitdir[400], name[32];
	dsync_folder *f;
	dsync_snapshot_result res;
	dsync_gc_result gc;
	git_odb *odb;
	git_odb_backend *be;
	dsync_packw *w;
	git_oid head;

	(void)state;
	sandbox_path(dir, sizeof(dir), "folder");
	assert_int_equal(mkdir(dir, 0755), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "d%d/file%d.txt", i % 4, i);
		sandbox_put(dir, name, i % 2 ? "same content\n" : name);
	}
	assert_int_equal(dsync_folder_init(&f, dir, "unit"), 0);
	assert_int_equal(dsync_folder_repo(f), 0);
	snprintf(gitdir, sizeof(gitdir), "%s", f->gitdir);
	assert_int_equal(git_repository_odb(&odb, f->repo), 0);
	assert_int_equal(dsync_packw_open(&w, odb, gitdir, 100), 0);
	assert_int_equal(dsync_packw_backend(&be, w), 0);
	assert_int_equal(git_odb_add_backend(odb, be, 1000), 0);
	assert_int_equal(dsync_snapshot_take(&res, f, NULL), 0);
	assert_true(res.committed);
	/* the files are loose (a small snapshot writes them itself): the
	 * trees (four folders and the root) and the commit went through the
	 * backend */
	assert_int_equal(dsync_packw_count(w), 6);
	assert_int_equal(dsync_packw_commit(w), 0);
	dsync_packw_free(w);
	git_odb_free(odb);
	assert_int_equal(git_reference_name_to_id(&head, f->repo, "refs/heads/main"), 0);
	assert_false(is_loose(gitdir, &head));
	git_accepts(gitdir);

	assert_int_equal(dsync_gc(&gc, f, 1000), 0);
	assert_true(gc.objects > 20);
	assert_int_equal(gc.packs_removed, 1);
	assert_int_equal(count_files(gitdir, "pack-", ".idx"), 1);
	git_accepts(gitdir);

	/* packs pile up as loose objects do: gc is due at 50, as git's
	 * gc.autoPackLimit (a big snapshot writes a pack of its own) */
	assert_false(dsync_gc_due(f));
	assert_int_equal(git_repository_odb(&odb, f->repo), 0);
	for (int i = 1; i < 50; i++) {
		git_oid id;

		snprintf(name, sizeof(name), "pack number %d\n", i);
		assert_false(dsync_gc_due(f));
		assert_int_equal(dsync_packw_open(&w, odb, gitdir, 1), 0);
		assert_int_equal(dsync_packw_put(w, &id, GIT_OBJECT_BLOB, name, strlen(name)), 0);
		assert_int_equal(dsync_packw_commit(w), 0);
		dsync_packw_free(w);
	}
	git_odb_free(odb);
	assert_int_equal(count_files(gitdir, "pack-", ".idx"), 50);
	assert_true(dsync_gc_due(f));
	dsync_folder_free(f);
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("packw", SANDBOX_HOME | SANDBOX_CONFIG | SANDBOX_LIB);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

/* Inflates the zlib stream Z (ZLEN bytes) with zlib and checks it gives LEN
 * bytes equal to DATA. */
static void inflates_to(const unsigned char *z, size_t zlen, const unsigned char *data, size_t len)
{
	unsigned char *out = malloc(len + 1);
	uLongf n = (uLongf)len + 1;

	assert_non_null(out);
	assert_int_equal(uncompress(out, &n, z, (uLong)zlen), Z_OK);
	assert_int_equal(n, len);
	assert_memory_equal(out, data, len);
	free(out);
}

/* Every method on every kind of input makes a zlib stream zlib reads back;
 * the samples pick the method; the sizes are what each method is for. */
static void test_zcomp_methods(void **state)
{
	enum { N = 300000 };
	unsigned char *hex = hex_text(N, 3), *txt = text(N), *rnd = noise(N, 4), *small = noise(3000, 5);
	unsigned char *skew = noise(N, 9);
	struct {
		const unsigned char *data;
		size_t len;
	} in[] = { { hex, N }, { txt, N }, { rnd, N }, { small, 3000 }, { txt, 3000 }, { (const unsigned char *)"x", 1 },
		   { (const unsigned char *)"", 0 }, { skew, N }, { (const unsigned char *)"aaaaaaaaaaaaaaaaaaaa", 20 } };
	size_t zlen[DSYNC_ARRAY_SIZE(in)][4], i;
	dsync_zcomp *z = dsync_zcomp_new();
	unsigned char *out = malloc(dsync_zcomp_bound(N));
	int m;

	(void)state;
	assert_non_null(z);
	assert_non_null(out);
	/* byte K with chance 2^-(K+1): a Huffman tree deeper than deflate's 15
	 * bits, which the Huffman-only writer must cut to a complete code */
	for (i = 0; i < N; i++) {
		unsigned k = 0;

		while (k < 40 && (skew[i] >> (k % 8) & 1) && (k < 8 || (i * 2654435761u >> (k % 32) & 1)))
			k++;
		skew[i] = (unsigned char)k;
	}
	for (i = 0; i < DSYNC_ARRAY_SIZE(in); i++)
		for (m = DSYNC_ZCOMP_STORE; m <= DSYNC_ZCOMP_FINE; m++) {
			zlen[i][m] = dsync_zcomp_write(z, m, out, in[i].data, in[i].len);
			assert_true(zlen[i][m] > 0 && zlen[i][m] <= dsync_zcomp_bound(in[i].len));
			inflates_to(out, zlen[i][m], in[i].data, in[i].len);
		}
	/* hex digits: no repeats, 4 bits a byte: Huffman codes alone */
	assert_int_equal(dsync_zcomp_choose(z, hex, N, false), DSYNC_ZCOMP_HUFFMAN);
	assert_int_equal(dsync_zcomp_choose(z, hex, N, true), DSYNC_ZCOMP_HUFFMAN);
	assert_true(zlen[0][DSYNC_ZCOMP_HUFFMAN] < N * 56 / 100);
	/* prose repeats: deflated, finer when asked, and smaller for it */
	assert_int_equal(dsync_zcomp_choose(z, txt, N, false), DSYNC_ZCOMP_FAST);
	assert_int_equal(dsync_zcomp_choose(z, txt, N, true), DSYNC_ZCOMP_FINE);
	assert_true(zlen[1][DSYNC_ZCOMP_FINE] <= zlen[1][DSYNC_ZCOMP_FAST]);
	assert_true(zlen[1][DSYNC_ZCOMP_FAST] < N / 10);
	/* noise is stored (a copy and 5 bytes a 64 KiB block), whatever asked */
	assert_int_equal(dsync_zcomp_choose(z, rnd, N, true), DSYNC_ZCOMP_STORE);
	assert_int_equal(zlen[2][DSYNC_ZCOMP_STORE], 2 + 5 * 5 + N + 4);
	assert_true(zlen[2][DSYNC_ZCOMP_FAST] <= zlen[2][DSYNC_ZCOMP_STORE] + N / 100);
	/* small objects are not sampled; when deflating them grows them, stored */
	assert_int_equal(dsync_zcomp_choose(z, small, 3000, false), DSYNC_ZCOMP_FAST);
	assert_int_equal(zlen[3][DSYNC_ZCOMP_FAST], 2 + 5 + 3000 + 4);
	assert_int_equal(dsync_crc32(dsync_crc32(0, rnd, 1000), rnd + 1000, N - 1000), (uint32_t)crc32(0L, rnd, N));
	dsync_zcomp_free(z);
	free(out);
	free(hex);
	free(txt);
	free(rnd);
	free(small);
	free(skew);
}

/* A push's pack of objects over 8 MiB (compressed a piece at a time: hex,
 * prose, noise, each its own way) and small ones: libgit2 indexes it, git
 * accepts it, every object reads back. */
static void test_push_pack_streamed(void **state)
{
	enum { HUGE = 9 << 20 };
	char src[300], dst[300];
	git_repository *r = new_repo(src, sizeof(src), "push-src.git"), *d = new_repo(dst, sizeof(dst), "push-dst.git");
	unsigned char *data[] = { hex_text(HUGE, 6), text(HUGE), noise(HUGE, 7), hex_text(20000, 8), text(20000) };
	size_t len[] = { HUGE, HUGE, HUGE, 20000, 20000 }, i;
	dsync_thinpack_list l = DSYNC_ARRAY_INIT;
	git_indexer *idx = NULL;
	git_indexer_options io = GIT_INDEXER_OPTIONS_INIT;
	git_indexer_progress st;
	dsync_buf pack = DSYNC_BUF_INIT;
	char path[600];
	git_odb *odb;
	int fd;

	(void)state;
	for (i = 0; i < DSYNC_ARRAY_SIZE(data); i++) {
		dsync_thinpack_entry e = { 0 };

		assert_int_equal(git_blob_create_from_buffer(&e.id, r, data[i], len[i]), 0);
		assert_int_equal(dsync_array_push(l, e), 0);
	}
	sandbox_path(path, sizeof(path), "push.pack");
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(dsync_thinpack_write(fd, r, &l, NULL, NULL), 0);
	close(fd);
	assert_int_equal(dsync_file_read(&pack, path, 1 << 30, 0), 0);
	/* noise is stored, hex text Huffman-coded to about half */
	assert_true(pack.len > HUGE + HUGE / 2 && pack.len < HUGE + HUGE * 6 / 10);
	assert_int_equal(git_repository_odb(&odb, d), 0);
	snprintf(path, sizeof(path), "%s/objects/pack", dst);
	assert_int_equal(git_indexer_new(&idx, path, 0, odb, &io), 0);
	assert_int_equal(git_indexer_append(idx, pack.ptr, pack.len, &st), 0);
	assert_int_equal(git_indexer_commit(idx, &st), 0);
	git_indexer_free(idx);
	git_odb_free(odb);
	for (i = 0; i < DSYNC_ARRAY_SIZE(data); i++) {
		reads_back(dst, &l.ptr[i].id, GIT_OBJECT_BLOB, data[i], len[i]);
		free(data[i]);
	}
	git_accepts(dst);
	dsync_buf_dispose(&pack);
	dsync_array_dispose(l);
	git_repository_free(d);
	git_repository_free(r);
}

/* How many files the fan-out folder of ID holds (temporary ones included). */
static int fanout_files(const char *gitdir, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1], path[600];
	struct dirent *e;
	DIR *d;
	int n = 0;

	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(path, sizeof(path), "%s/objects/%.2s", gitdir, hex);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Loose objects written by dsync: libgit2's ids, read back by libgit2 and
 * git, whatever the method chosen; one the store holds is not written */
static void test_loose_write(void **state)
{
	char gitdir[300];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "loose.git");
	unsigned char *rnd = noise(300000, 7), *txt = text(200000);
	const struct {
		const void *data;
		size_t len;
	} cases[] = { { "", 0 }, { "hello\n", 6 }, { rnd, 300000 }, { txt, 200000 }, { rnd, 3000 } };
	git_odb *odb;
	git_oid id, want;
	size_t i;

	(void)state;
	assert_int_equal(git_repository_odb(&odb, r), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dsync_loose_write(&id, odb, gitdir, GIT_OBJECT_BLOB, cases[i].data, cases[i].len), 0);
		assert_int_equal(git_odb_hash(&want, cases[i].data, cases[i].len, GIT_OBJECT_BLOB), 0);
		assert_true(git_oid_equal(&id, &want));
		assert_true(is_loose(gitdir, &id));
		reads_back(gitdir, &id, GIT_OBJECT_BLOB, cases[i].data, cases[i].len);
	}
	/* the store has it: the same id, nothing written (no temporary file) */
	assert_int_equal(git_odb_write(&want, odb, "in the store", 12, GIT_OBJECT_BLOB), 0);
	assert_int_equal(dsync_loose_write(&id, odb, gitdir, GIT_OBJECT_BLOB, "in the store", 12), 0);
	assert_true(git_oid_equal(&id, &want));
	assert_int_equal(fanout_files(gitdir, &id), 1);
	assert_int_equal(dsync_loose_write(&id, odb, gitdir, GIT_OBJECT_BLOB, "hello\n", 6), 0);
	assert_int_equal(fanout_files(gitdir, &id), 1);
	git_accepts(gitdir);
	git_odb_free(odb);
	git_repository_free(r);
	free(rnd);
	free(txt);
}

/* Writes LEN bytes at DATA as the loose file of ID in GITDIR (made writable). */
static void put_loose_file(const char *gitdir, const git_oid *id, const void *data, size_t len)
{
	char hex[GIT_OID_HEXSZ + 1], path[600];
	FILE *fp;

	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", gitdir, hex, hex + 2);
	chmod(path, 0644);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

/* A loose file read whole by dsync (libgit2 1.5 loops forever on one cut
 * short): whole ones pass; every kind of wreck is DSYNC_ECORRUPT, none
 * hangs; the sweep moves exactly the wrecks aside. */
static void test_loose_check(void **state)
{
	char gitdir[300], path[600], hex[GIT_OID_HEXSZ + 1];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "check.git");
	unsigned char *rnd = noise(70000, 3), z[1024];
	git_odb *odb;
	git_oid ids[6];
	uLongf zlen;
	size_t moved, i;

	(void)state;
	assert_int_equal(git_repository_odb(&odb, r), 0);
	assert_int_equal(git_odb_write(&ids[0], odb, "", 0, GIT_OBJECT_BLOB), 0);
	assert_int_equal(git_odb_write(&ids[1], odb, "hello\n", 6, GIT_OBJECT_BLOB), 0);
	assert_int_equal(dsync_loose_write(&ids[2], odb, gitdir, GIT_OBJECT_BLOB, rnd, 70000), 0);
	for (i = 0; i < 3; i++) {
		git_oid_tostr(hex, sizeof(hex), &ids[i]);
		snprintf(path, sizeof(path), "%s/objects/%.2s/%s", gitdir, hex, hex + 2);
		assert_int_equal(dsync_loose_check(path, &ids[i]), 0);
	}
	/* the wrecks: empty; cut short; a header that claims more; another
	 * object's bytes; trailing bytes after the stream */
	assert_int_equal(git_odb_write(&ids[3], odb, "three\n", 6, GIT_OBJECT_BLOB), 0);
	assert_int_equal(git_odb_write(&ids[4], odb, "four\n", 5, GIT_OBJECT_BLOB), 0);
	assert_int_equal(git_odb_write(&ids[5], odb, "five\n", 5, GIT_OBJECT_BLOB), 0);
	put_loose_file(gitdir, &ids[1], "", 0);
	zlen = sizeof(z);
	assert_int_equal(compress(z, &zlen, (const unsigned char *)"blob 6\0three\n", 13), Z_OK);
	put_loose_file(gitdir, &ids[3], z, (size_t)zlen - 3);
	zlen = sizeof(z);
	assert_int_equal(compress(z, &zlen, (const unsigned char *)"blob 9\0four\n", 12), Z_OK);
	put_loose_file(gitdir, &ids[4], z, zlen);
	zlen = sizeof(z);
	assert_int_equal(compress2(z, &zlen, (const unsigned char *)"blob 5\0fivE\n", 12, 9), Z_OK);
	put_loose_file(gitdir, &ids[5], z, zlen);
	for (i = 1; i < 6; i++) {
		if (i == 2)
			continue;
		git_oid_tostr(hex, sizeof(hex), &ids[i]);
		snprintf(path, sizeof(path), "%s/objects/%.2s/%s", gitdir, hex, hex + 2);
		assert_int_equal(dsync_loose_check(path, &ids[i]), DSYNC_ECORRUPT);
		dsync_error_clear();
	}
	/* a stream with bytes after its end */
	git_oid_tostr(hex, sizeof(hex), &ids[0]);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", gitdir, hex, hex + 2);
	zlen = sizeof(z);
	assert_int_equal(compress(z, &zlen, (const unsigned char *)"blob 0", 7), Z_OK);
	z[zlen] = 'x';
	put_loose_file(gitdir, &ids[0], z, (size_t)zlen + 1);
	assert_int_equal(dsync_loose_check(path, &ids[0]), DSYNC_ECORRUPT);
	dsync_error_clear();
	/* a sweep from the future reads nothing; a full one moves the five */
	assert_int_equal(dsync_loose_sweep(gitdir, (int64_t)time(NULL) + 3600, &moved, NULL), 0);
	assert_int_equal(moved, 0);
	assert_int_equal(dsync_loose_sweep(gitdir, 0, &moved, NULL), 0);
	assert_int_equal(moved, 5);
	assert_true(is_loose(gitdir, &ids[2]));
	for (i = 0; i < 6; i++) {
		git_oid_tostr(hex, sizeof(hex), &ids[i]);
		snprintf(path, sizeof(path), "%s/objects/damaged/%s", gitdir, hex);
		assert_int_equal(access(path, F_OK) == 0, i != 2);
		assert_int_equal(is_loose(gitdir, &ids[i]), i == 2);
	}
	git_odb_free(odb);
	git_repository_free(r);
	free(rnd);
}

/* A commit read without libgit2 (an unchanged snapshot's look at its
 * head): loose or packed, and never when its bytes are damaged or gone */
static void test_commit_intact(void **state)
{
	char gitdir[300], hex[GIT_OID_HEXSZ + 1], path[700], cmd[800];
	git_repository *r = new_repo(gitdir, sizeof(gitdir), "intact.git");
	git_signature *sig;
	git_treebuilder *tb;
	git_tree *tree;
	git_oid tid, cid, missing;
	unsigned char byte;
	int fd;

	(void)state;
	assert_int_equal(git_treebuilder_new(&tb, r, NULL), 0);
	assert_int_equal(git_treebuilder_write(&tid, tb), 0);
	git_treebuilder_free(tb);
	assert_int_equal(git_tree_lookup(&tree, r, &tid), 0);
	assert_int_equal(git_signature_new(&sig, "t", "t@example.invalid", 1000000000, 0), 0);
	assert_int_equal(git_commit_create(&cid, r, "refs/heads/main", sig, sig, NULL, "a version\n", tree, 0, NULL), 0);
	git_signature_free(sig);
	git_tree_free(tree);
	git_repository_free(r);

	assert_true(dsync_history_commit_intact(gitdir, &cid));
	/* not a commit, or not there */
	assert_false(dsync_history_commit_intact(gitdir, &tid));
	memset(&missing, 0x5a, sizeof(missing));
	assert_false(dsync_history_commit_intact(gitdir, &missing));

	/* a damaged copy is never taken as whole */
	git_oid_tostr(hex, sizeof(hex), &cid);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", gitdir, hex, hex + 2);
	assert_int_equal(chmod(path, 0644), 0);
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pread(fd, &byte, 1, 20), 1);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, 20), 1);
	assert_false(dsync_history_commit_intact(gitdir, &cid));
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, 20), 1);
	close(fd);
	assert_true(dsync_history_commit_intact(gitdir, &cid));

	/* packed by git, the loose copy gone */
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' repack -a -d -q && git --git-dir='%s' prune-packed", gitdir,
		 gitdir);
	assert_int_equal(system(cmd), 0);
	assert_false(is_loose(gitdir, &cid));
	assert_true(dsync_history_commit_intact(gitdir, &cid));
	assert_false(dsync_history_commit_intact(gitdir, &tid));
	assert_false(dsync_history_commit_intact(gitdir, &missing));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_objects_read_back),
		cmocka_unit_test(test_ids_are_libgit2s),
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_count_fixup),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_backend),
		cmocka_unit_test(test_gc_choose),
		cmocka_unit_test(test_loose_check),
		cmocka_unit_test(test_temp_files),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_idx_large_offsets),
		cmocka_unit_test(test_prepare_threads),
		cmocka_unit_test(test_zcomp_methods),
		cmocka_unit_test(test_push_pack_streamed),
		cmocka_unit_test(test_backend),
		cmocka_unit_test(test_snapshot_then_gc),
		cmocka_unit_test(test_loose_write),
		cmocka_unit_test(test_commit_intact),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
