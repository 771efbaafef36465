/*
 * The remote store against its host and against a rogue group member, through
 * the public API with real folders (DESIGN.md sections 4 and 9):
 *
 * Acceptance 3 (confidentiality): after pushes of a corpus with known file
 * names, contents and commit messages from two devices, no blob the remote
 * ever held contains any of those strings, plain or compressed the way git
 * compresses (every blob is searched raw and zlib-inflated from every
 * offset), nor the master key, the chunk secret, a subkey or the
 * passphrase's key; no nonce or stream header repeats across the blobs; the
 * sizes are padmé-padded.
 *
 * Acceptance 4, second half: a validly encrypted history (made with the
 * library and libgit2, as a rogue member could) whose tree holds
 * `.dsync/config`, `../x`, an absolute path (and two more variants) is
 * refused by a victim's sync before anything is written: DSYNC_ECORRUPT,
 * and its files, refs and .dsync/config are unchanged, nothing appears
 * outside the folder.
 *
 * Every device has its own HOME (its own key cache) below a temporary
 * folder; DSYNC_TEST_KDF=min.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>
#include <zlib.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/restore.h"
#include "dsync/snapshot.h"
#include "dsync/sync.h"
#include "core/base/buf.h"
#include "core/store/store.h"
#include "transport/transport.h"
#include "core/store/manifest.h"
#include "core/store/pack.h"
#include "transport/blobstore.h"
#include "sandbox.h"

#define PASS "Vinegar-Harpsichord-31-Lantern"


static int setup(void **state)
{
	(void)state;
	assert_int_equal(dsync_lib_init(), 0);
	assert_true(git_libgit2_init() > 0);
	sandbox_open("sec", 0);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("DSYNC_PASSPHRASE");
	unsetenv("DSYNC_DEVICE_NAME");
	setenv("DSYNC_TEST_KDF", "min", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	git_libgit2_shutdown();
	return 0;
}

/* ------------------------------------------------------------ helpers */

/* HOME becomes DIR/home-WHO (made when missing): that device's key cache
 * and list of folders. */
static void as(const char *dir, const char *who)
{
	char home[512];

	snprintf(home, sizeof(home), "%s/home-%s", dir, who);
	mkdir(home, 0700);
	setenv("HOME", home, 1);
}

static int give_pass(char **out, int kind, const char *url, void *payload)
{
	int *calls = payload;

	(void)kind;
	(void)url;
	if (calls)
		(*calls)++;
	*out = strdup(PASS);
	return *out ? 0 : DSYNC_ERROR;
}

static void mkdirs_for(const char *path)
{
	char *p = strdup(path), *s;

	assert_non_null(p);
	for (s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	free(p);
}

static void put_file(const char *root, const char *rel, const void *data, size_t len)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int fd;

	assert_int_equal(dsync_buf_printf(&path, "%s/%s", root, rel), 0);
	mkdirs_for(path.ptr);
	fd = open(path.ptr, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	dsync_buf_dispose(&path);
}

static void put_text(const char *root, const char *rel, const char *text)
{
	put_file(root, rel, text, strlen(text));
}

/* Reads PATH whole into OUT (emptied first); false when it can't be read. */
static bool read_file(dsync_buf *out, const char *path)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	dsync_buf_truncate(out, 0);
	assert_int_equal(dsync_buf_puts(out, ""), 0);
	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		assert_int_equal(dsync_buf_put(out, buf, (size_t)n), 0);
	close(fd);
	return n == 0;
}

static void snap(dsync_folder *f, const char *message)
{
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;

	so.message = message;
	if (dsync_snapshot_take(&sr, f, &so) != 0)
		fail_msg("snapshot: %s", dsync_error_last());
}

static void sync_ok(dsync_folder *f, unsigned what, int *calls)
{
	dsync_sync_options o = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result r;
	int error;

	o.passphrase = give_pass;
	o.payload = calls;
	if ((error = dsync_sync(&r, f, NULL, what, &o)) != 0)
		fail_msg("sync of %s: %d: %s", dsync_folder_root(f), error, dsync_error_last());
}

/* A listing of the files below ROOT/REL (not .dsync at the root): kind,
 * path, mode, size and a hash of the content, sorted. */
static void digest(dsync_buf *out, const char *root, const char *rel)
{
	dsync_buf dir = DSYNC_BUF_INIT, path = DSYNC_BUF_INIT, sub = DSYNC_BUF_INIT, content = DSYNC_BUF_INIT;
	struct dirent **list;
	int n, i;

	assert_int_equal(dsync_buf_printf(&dir, "%s%s%s", root, *rel ? "/" : "", rel), 0);
	n = scandir(dir.ptr, &list, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		struct stat st;

		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && (*rel || strcmp(name, ".dsync") != 0)) {
			dsync_buf_truncate(&path, 0);
			dsync_buf_truncate(&sub, 0);
			assert_int_equal(dsync_buf_printf(&path, "%s/%s", dir.ptr, name), 0);
			assert_int_equal(dsync_buf_printf(&sub, "%s%s%s", rel, *rel ? "/" : "", name), 0);
			assert_int_equal(lstat(path.ptr, &st), 0);
			if (S_ISDIR(st.st_mode)) {
				assert_int_equal(dsync_buf_printf(out, "D %s\n", sub.ptr), 0);
				digest(out, root, sub.ptr);
			} else {
				unsigned char h[16];
				char hex[33];

				assert_true(read_file(&content, path.ptr));
				crypto_generichash(h, sizeof(h), (unsigned char *)content.ptr, content.len, NULL, 0);
				sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
				assert_int_equal(dsync_buf_printf(out, "F %s %o %zu %s\n", sub.ptr,
								  (unsigned)st.st_mode, content.len, hex), 0);
			}
		}
		free(list[i]);
	}
	free(list);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&sub);
	dsync_buf_dispose(&content);
}

/* The names in DIR (one level), sorted. */
static void names_in(dsync_buf *out, const char *dir)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort), i;

	assert_true(n >= 0);
	dsync_buf_truncate(out, 0);
	assert_int_equal(dsync_buf_puts(out, ""), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(dsync_buf_printf(out, "%s\n", list[i]->d_name), 0);
		free(list[i]);
	}
	free(list);
}

static int ref_line(git_reference *ref, void *payload)
{
	dsync_buf *out = payload;
	char hex[GIT_OID_HEXSZ + 1] = "";

	if (git_reference_target(ref))
		git_oid_tostr(hex, sizeof(hex), git_reference_target(ref));
	assert_int_equal(dsync_buf_printf(out, "%s %s\n", git_reference_name(ref), hex), 0);
	git_reference_free(ref);
	return 0;
}

/* Every ref of the folder at ROOT with its target (refs/heads/main,
 * refs/remotes/...), in the order git lists them. */
static void refs_of(dsync_buf *out, const char *root)
{
	dsync_buf gitdir = DSYNC_BUF_INIT;
	git_repository *repo;

	assert_int_equal(dsync_buf_printf(&gitdir, "%s/.dsync", root), 0);
	assert_int_equal(git_repository_open(&repo, gitdir.ptr), 0);
	dsync_buf_truncate(out, 0);
	assert_int_equal(dsync_buf_puts(out, ""), 0);
	assert_int_equal(git_reference_foreach(repo, ref_line, out), 0);
	git_repository_free(repo);
	dsync_buf_dispose(&gitdir);
}

/* ------------------------------------------------------------ the blobs */

typedef struct blob_rec {
	char *name;
	unsigned char hash[32];
	unsigned char *data;
	size_t len;
} blob_rec;

typedef struct blob_set {
	blob_rec *v;
	size_t n, cap;
	size_t scans;
} blob_set;

static void blob_set_dispose(blob_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].data);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Records every blob below ROOT/REL not recorded yet (by name and content):
 * so blobs later replaced or removed are kept too. */
static void scan_dir(blob_set *s, const char *root, const char *rel)
{
	dsync_buf dir = DSYNC_BUF_INIT, path = DSYNC_BUF_INIT, sub = DSYNC_BUF_INIT, content = DSYNC_BUF_INIT;
	struct dirent **list;
	int n, i;
	size_t j;

	assert_int_equal(dsync_buf_printf(&dir, "%s%s%s", root, *rel ? "/" : "", rel), 0);
	n = scandir(dir.ptr, &list, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		struct stat st;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			goto next;
		dsync_buf_truncate(&path, 0);
		dsync_buf_truncate(&sub, 0);
		assert_int_equal(dsync_buf_printf(&path, "%s/%s", dir.ptr, name), 0);
		assert_int_equal(dsync_buf_printf(&sub, "%s%s%s", rel, *rel ? "/" : "", name), 0);
		assert_int_equal(lstat(path.ptr, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			scan_dir(s, root, sub.ptr);
		} else {
			unsigned char h[32];

			assert_true(S_ISREG(st.st_mode));
			assert_true(read_file(&content, path.ptr));
			crypto_generichash(h, 32, (unsigned char *)content.ptr, content.len, NULL, 0);
			for (j = 0; j < s->n; j++)
				if (strcmp(s->v[j].name, sub.ptr) == 0 && memcmp(s->v[j].hash, h, 32) == 0)
					break;
			if (j < s->n)
				goto next;
			if (s->n == s->cap) {
				s->cap = s->cap ? 2 * s->cap : 64;
				s->v = realloc(s->v, s->cap * sizeof(*s->v));
				assert_non_null(s->v);
			}
			s->v[s->n].name = strdup(sub.ptr);
			memcpy(s->v[s->n].hash, h, 32);
			s->v[s->n].len = content.len;
			s->v[s->n].data = malloc(content.len ? content.len : 1);
			assert_non_null(s->v[s->n].data);
			memcpy(s->v[s->n].data, content.ptr, content.len);
			s->n++;
		}
next:
		free(list[i]);
	}
	free(list);
	dsync_buf_dispose(&dir);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&sub);
	dsync_buf_dispose(&content);
}

static void scan(blob_set *s, const char *remote)
{
	scan_dir(s, remote, "");
	s->scans++;
}

/* ------------------------------------------------------------ the search */

typedef struct needle {
	const unsigned char *p;
	size_t len;
	char label[96];
	bool corpus;        /* from the folder: must be found in the packs' plaintext */
	bool found_plain;   /* the positive control found it */
} needle;

typedef struct needles {
	needle v[160];
	size_t n;
	size_t min_len;
	unsigned char *owned[160];
	size_t nowned;
} needles;

static void add_needle(needles *nd, const void *p, size_t len, bool corpus, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add_needle(needles *nd, const void *p, size_t len, bool corpus, const char *fmt, ...)
{
	unsigned char *copy = malloc(len);
	va_list ap;

	assert_true(nd->n < 160 && nd->nowned < 160);
	assert_true(len >= 12);
	assert_non_null(copy);
	memcpy(copy, p, len);
	nd->owned[nd->nowned++] = copy;
	nd->v[nd->n].p = copy;
	nd->v[nd->n].len = len;
	nd->v[nd->n].corpus = corpus;
	nd->v[nd->n].found_plain = false;
	va_start(ap, fmt);
	vsnprintf(nd->v[nd->n].label, sizeof(nd->v[nd->n].label), fmt, ap);
	va_end(ap);
	if (!nd->min_len || len < nd->min_len)
		nd->min_len = len;
	nd->n++;
}

/* A secret as raw bytes and as hex (lower and upper case). */
static void add_secret(needles *nd, const unsigned char *key, size_t len, const char *what)
{
	char hex[129];
	size_t i;

	assert_true(len <= 64);
	add_needle(nd, key, len, false, "%s (raw)", what);
	sodium_bin2hex(hex, sizeof(hex), key, len);
	add_needle(nd, hex, 2 * len, false, "%s (hex)", what);
	for (i = 0; i < 2 * len; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	add_needle(nd, hex, 2 * len, false, "%s (HEX)", what);
}

static void needles_dispose(needles *nd)
{
	size_t i;

	for (i = 0; i < nd->nowned; i++) {
		sodium_memzero(nd->owned[i], nd->v[i].len);
		free(nd->owned[i]);
	}
}

typedef struct hits {
	dsync_buf report;
	size_t count;
} hits;

/* Looks for every needle in DATA (LEN bytes); a hit is reported as found in
 * WHERE (HOW) and marks the needle when MARK. */
static void search(needles *nd, const unsigned char *data, size_t len, const char *where, const char *how,
		   size_t offset, hits *h, bool mark)
{
	size_t i;

	if (len < nd->min_len)
		return;
	for (i = 0; i < nd->n; i++) {
		if (!memmem(data, len, nd->v[i].p, nd->v[i].len))
			continue;
		if (mark) {
			nd->v[i].found_plain = true;
			continue;
		}
		h->count++;
		if (h->count <= 40)
			assert_int_equal(dsync_buf_printf(&h->report, "  %s found in %s (%s at offset %zu)\n",
							  nd->v[i].label, where, how, offset), 0);
	}
}

#define INFLATE_MAX (256 * 1024)

/* Inflates DATA from every offset (raw deflate, and zlib where a zlib
 * header could start) into a bounded buffer, searching what comes out. */
static void search_inflated(needles *nd, const unsigned char *data, size_t len, const char *where, hits *h,
			    bool mark, size_t *streams)
{
	z_stream raw, zl;
	unsigned char *out = malloc(INFLATE_MAX);
	size_t off;

	assert_non_null(out);
	memset(&raw, 0, sizeof(raw));
	memset(&zl, 0, sizeof(zl));
	assert_int_equal(inflateInit2(&raw, -15), Z_OK);
	assert_int_equal(inflateInit2(&zl, 15), Z_OK);
	for (off = 0; off < len; off++) {
		z_stream *zs;
		int k;

		for (k = 0; k < 2; k++) {
			size_t produced;
			int r;

			if (k == 1) {
				/* CMF (deflate, window <= 32K) and FLG (check bits) */
				if (off + 1 >= len || (data[off] & 0x0f) != 8 || (data[off] >> 4) > 7 ||
				    ((data[off] << 8) | data[off + 1]) % 31 != 0)
					continue;
				zs = &zl;
			} else {
				zs = &raw;
			}
			assert_int_equal(inflateReset(zs), Z_OK);
			zs->next_in = (unsigned char *)data + off;
			zs->avail_in = (uInt)(len - off > (1u << 30) ? (1u << 30) : len - off);
			zs->next_out = out;
			zs->avail_out = INFLATE_MAX;
			r = inflate(zs, Z_NO_FLUSH);
			produced = INFLATE_MAX - zs->avail_out;
			if (r == Z_STREAM_END && streams)
				(*streams)++;
			search(nd, out, produced, where, k ? "zlib-inflated" : "raw-inflated", off, h, mark);
		}
	}
	inflateEnd(&raw);
	inflateEnd(&zl);
	free(out);
}

/* ------------------------------------------------------------ acceptance 3 */

typedef struct sink {
	dsync_buf b;
} sink;

static int collect(const void *data, size_t len, void *payload)
{
	sink *s = payload;

	return dsync_buf_put(&s->b, data, len);
}

static int cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, 24);
}

/* N lower-case hex digits at S. */
static bool is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int commit_ids(const git_commit *c, needles *nd)
{
	char hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	add_needle(nd, hex, GIT_OID_HEXSZ, false, "commit %s (hex)", hex);
	add_needle(nd, git_commit_id(c)->id, GIT_OID_RAWSZ, false, "commit %s (raw)", hex);
	git_oid_tostr(hex, sizeof(hex), git_commit_tree_id(c));
	add_needle(nd, hex, GIT_OID_HEXSZ, false, "tree %s (hex)", hex);
	return 0;
}

/* The ids of every commit of the folder at ROOT, and of their trees. */
static void history_needles(needles *nd, const char *root)
{
	dsync_buf gitdir = DSYNC_BUF_INIT;
	git_repository *repo;
	git_revwalk *walk;
	git_oid id;

	assert_int_equal(dsync_buf_printf(&gitdir, "%s/.dsync", root), 0);
	assert_int_equal(git_repository_open(&repo, gitdir.ptr), 0);
	assert_int_equal(git_revwalk_new(&walk, repo), 0);
	assert_int_equal(git_revwalk_push_ref(walk, "refs/heads/main"), 0);
	git_revwalk_push_glob(walk, "refs/remotes/*");
	while (git_revwalk_next(&id, walk) == 0) {
		git_commit *c;

		assert_int_equal(git_commit_lookup(&c, repo, &id), 0);
		if (nd->n + 3 <= 160)
			commit_ids(c, nd);
		git_commit_free(c);
	}
	git_revwalk_free(walk);
	git_repository_free(repo);
	dsync_buf_dispose(&gitdir);
}

static const char *const corpus[] = {
	"Quarterly-Secret-Plan-Zebra",
	"treasure is buried under the old oak",
	"Ouagadougou-Springfield",
	"Confidential_Diagnosis_Xylophone",
	"Quixotic Pelican Protocol",
	"hypertension stage two",
	"holiday-in-Reykjavik-Zx9",
	"Letter-to-Grandmother-Wilhelmina",
	"inheritance papers are in the blue folder",
	"Operation Nightingale budget draft",
	"Marmalade Vortex Seventy-Seven",
	"Passwords-Backup-Kumquat",
	"bank pin for Tarquinius",
	"Nightingale revision Gamma-Okapi",
	"Letter-to-Grandfather-Bartholomew",
	"Wedding-Speech-Draft-Persimmon",
	"Zoltan Kodaly conservatory",
	"Bob adds Persimmon speech",
	"Alice-Laptop-Zanzibar",
	"Bob-Desktop-Quokka",
};

static void test_confidentiality(void **state)
{
	char dir_a[400], dir_b[400], remote[400], url[420];
	dsync_folder *fa, *fb;
	dsync_sync_options o = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result r;
	dsync_blobstore *bs;
	dsync_store *st;
	blob_set blobs = { 0 };
	needles nd;
	hits h = { DSYNC_BUF_INIT, 0 };
	dsync_buf text = DSYNC_BUF_INIT, big = DSYNC_BUF_INIT, check = DSYNC_BUF_INIT;
	unsigned char *photo, *kek, (*nonces)[24];
	size_t i, nnonces = 0, npacks = 0, nmanifests = 0, nkeys = 0, streams = 0;
	bool created;
	int calls_a = 0, calls_b = 0, error;

	(void)state;
	memset(&nd, 0, sizeof(nd));
	snprintf(dir_a, sizeof(dir_a), "%s/A", sandbox_dir);
	snprintf(dir_b, sizeof(dir_b), "%s/B", sandbox_dir);
	snprintf(remote, sizeof(remote), "%s/remote", sandbox_dir);
	snprintf(url, sizeof(url), "file://%s", remote);

	/* device A: a folder with a known corpus */
	as(sandbox_dir, "A");
	assert_int_equal(dsync_folder_init(&fa, dir_a, "Alice-Laptop-Zanzibar"), 0);
	put_text(dir_a, "Quarterly-Secret-Plan-Zebra.txt",
		 "The treasure is buried under the old oak tree near Ouagadougou-Springfield.\n");
	for (i = 0; i < 3000; i++)
		assert_int_equal(dsync_buf_puts(&big, "PATIENT RECORD: hypertension stage two, Quixotic Pelican Protocol.\n"), 0);
	put_file(dir_a, "notes/Confidential_Diagnosis_Xylophone.md", big.ptr, big.len);
	photo = malloc(300 * 1024);
	assert_non_null(photo);
	randombytes_buf(photo, 300 * 1024);
	put_file(dir_a, "photos/holiday-in-Reykjavik-Zx9.bin", photo, 300 * 1024);
	put_text(dir_a, "docs/Letter-to-Grandmother-Wilhelmina.txt",
		 "Dear Wilhelmina, the inheritance papers are in the blue folder.\n");
	snap(fa, "Secret-Commit: Operation Nightingale budget draft");
	o.passphrase = give_pass;
	o.payload = &calls_a;
	if (dsync_remote_add(fa, "origin", url, &created, &o) != 0)
		fail_msg("remote add: %s", dsync_error_last());
	assert_true(created);
	assert_int_equal(calls_a, 1);
	sync_ok(fa, DSYNC_SYNC_ALL, &calls_a);
	scan(&blobs, remote);

	/* edits, each pushed */
	put_text(dir_a, "Quarterly-Secret-Plan-Zebra.txt",
		 "The treasure is buried under the old oak tree near Ouagadougou-Springfield.\n"
		 "Appendix: Marmalade Vortex Seventy-Seven\n");
	put_text(dir_a, "Passwords-Backup-Kumquat.txt", "The bank pin for Tarquinius is 4812-9931.\n");
	snap(fa, "Secret-Commit: Nightingale revision Gamma-Okapi");
	sync_ok(fa, DSYNC_SYNC_ALL, &calls_a);
	scan(&blobs, remote);
	{
		dsync_buf from = DSYNC_BUF_INIT, to = DSYNC_BUF_INIT;

		assert_int_equal(dsync_buf_printf(&from, "%s/docs/Letter-to-Grandmother-Wilhelmina.txt", dir_a), 0);
		assert_int_equal(dsync_buf_printf(&to, "%s/docs/Letter-to-Grandfather-Bartholomew.txt", dir_a), 0);
		assert_int_equal(rename(from.ptr, to.ptr), 0);
		dsync_buf_dispose(&from);
		dsync_buf_dispose(&to);
	}
	memcpy(big.ptr + big.len / 2, "CHANGED", 7);
	put_file(dir_a, "notes/Confidential_Diagnosis_Xylophone.md", big.ptr, big.len);
	sync_ok(fa, DSYNC_SYNC_ALL, &calls_a);   /* the sync's own snapshot */
	scan(&blobs, remote);
	photo[1000] ^= 0xff;
	put_file(dir_a, "photos/holiday-in-Reykjavik-Zx9.bin", photo, 300 * 1024);
	sync_ok(fa, DSYNC_SYNC_ALL, &calls_a);
	scan(&blobs, remote);
	assert_int_equal(calls_a, 1);            /* the kept key from then on */

	/* device B joins (its own HOME: asks the passphrase), adds and pushes */
	as(sandbox_dir, "B");
	o.payload = &calls_b;
	if (dsync_join(&fb, &r, url, dir_b, NULL, "Bob-Desktop-Quokka", &o) != 0)
		fail_msg("join: %s", dsync_error_last());
	assert_int_equal(calls_b, 1);
	{
		dsync_buf p = DSYNC_BUF_INIT;

		assert_int_equal(dsync_buf_printf(&p, "%s/Passwords-Backup-Kumquat.txt", dir_b), 0);
		assert_true(read_file(&check, p.ptr));
		assert_string_equal(check.ptr, "The bank pin for Tarquinius is 4812-9931.\n");
		dsync_buf_dispose(&p);
	}
	scan(&blobs, remote);
	put_text(dir_b, "from-bob/Wedding-Speech-Draft-Persimmon.txt",
		 "I first met Evangeline at the Zoltan Kodaly conservatory.\n");
	snap(fb, "Secret-Commit: Bob adds Persimmon speech");
	sync_ok(fb, DSYNC_SYNC_ALL, &calls_b);
	scan(&blobs, remote);

	/* A merges B's and pushes the merge; B takes it */
	as(sandbox_dir, "A");
	sync_ok(fa, DSYNC_SYNC_ALL, &calls_a);
	scan(&blobs, remote);
	as(sandbox_dir, "B");
	sync_ok(fb, DSYNC_SYNC_ALL, &calls_b);
	scan(&blobs, remote);
	as(sandbox_dir, "A");
	sync_ok(fa, DSYNC_SYNC_ALL, &calls_a);
	scan(&blobs, remote);
	{
		dsync_buf p = DSYNC_BUF_INIT;

		assert_int_equal(dsync_buf_printf(&p, "%s/from-bob/Wedding-Speech-Draft-Persimmon.txt", dir_a), 0);
		assert_true(read_file(&check, p.ptr));
		dsync_buf_dispose(&p);
	}

	/* the secrets: open the store as a member would */
	assert_int_equal(dsync_transport_open(&bs, url, false, NULL), 0);
	assert_int_equal(dsync_store_open(&st, bs), 0);
	if (dsync_store_unlock(st, PASS) != 0)
		fail_msg("%s", dsync_error_last());
	kek = sodium_malloc(32);
	assert_non_null(kek);
	assert_int_equal(crypto_pwhash(kek, 32, PASS, strlen(PASS), st->salt, st->opslimit, st->memlimit,
				       crypto_pwhash_ALG_ARGON2ID13), 0);

	/* what must not show */
	for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
		add_needle(&nd, corpus[i], strlen(corpus[i]), true, "'%s'", corpus[i]);
	add_needle(&nd, photo + 4096, 32, true, "32 bytes of the photo");
	add_needle(&nd, PASS, strlen(PASS), false, "the passphrase");
	add_secret(&nd, DSYNC_STORE_MASTER(st), 32, "the master key");
	add_secret(&nd, DSYNC_STORE_SEED(st), 32, "the chunk secret");
	add_secret(&nd, DSYNC_STORE_KPACK(st), 32, "the pack subkey");
	add_secret(&nd, DSYNC_STORE_KMANIFEST(st), 32, "the manifest subkey");
	add_secret(&nd, DSYNC_STORE_KNAME(st), 32, "the name subkey");
	add_secret(&nd, DSYNC_STORE_KHEADER(st), 32, "the header subkey");
	add_secret(&nd, DSYNC_STORE_KKEYS(st), 32, "the keys subkey");
	add_secret(&nd, kek, 32, "the passphrase's key");
	history_needles(&nd, dir_a);
	history_needles(&nd, dir_b);

	nonces = calloc(blobs.n, 24);
	assert_non_null(nonces);
	for (i = 0; i < blobs.n; i++) {
		blob_rec *b = &blobs.v[i];
		const char *name = b->name, *base_name = strrchr(name, '/');
		dsync_buf where = DSYNC_BUF_INIT;

		assert_int_equal(dsync_buf_printf(&where, "%s (%zu bytes)", name, b->len), 0);
		/* the names say nothing either, and no temporary file is left */
		search(&nd, (const unsigned char *)name, strlen(name), where.ptr, "its name", 0, &h, false);
		if ((base_name ? base_name + 1 : name)[0] == '.')
			fail_msg("a temporary or hidden file was left in the store: %s", name);
		/* raw, then inflated from every offset */
		search(&nd, b->data, b->len, where.ptr, "raw bytes", 0, &h, false);
		search_inflated(&nd, b->data, b->len, where.ptr, &h, false, NULL);

		if (strcmp(name, "dsync-store") == 0)
			goto next;
		assert_true(b->len >= 32);
		memcpy(nonces[nnonces++], b->data + 8, 24);
		if (strncmp(name, "keys/", 5) == 0) {
			assert_true(strlen(name) == 5 + 16 && is_hex(name + 5, 16));
			assert_memory_equal(b->data, "dsyncK01", 8);
			assert_int_equal(b->len, 8 + 24 + 64 + 16 + 32 + 32);
			nkeys++;
		} else if (strncmp(name, "packs/", 6) == 0) {
			sink out = { DSYNC_BUF_INIT };
			char path[600];
			int fd;

			assert_true(strlen(name) == 6 + 64 && is_hex(name + 6, 64));
			assert_memory_equal(b->data, "dsyncP01", 8);
			/* decrypt (from a copy: it may have been removed since) */
			snprintf(path, sizeof(path), "%s/pack.tmp", sandbox_dir);
			put_file(sandbox_dir, "pack.tmp", b->data, b->len);
			fd = open(path, O_RDONLY);
			assert_true(fd >= 0);
			assert_int_equal(dsync_buf_puts(&out.b, ""), 0);
			if ((error = dsync_pack_decrypt(st, name + 6, fd, collect, &out)) != 0)
				fail_msg("%s: %s", name, dsync_error_last());
			close(fd);
			unlink(path);
			if (b->len != dsync_pack_blob_size(out.b.len))
				fail_msg("%s: %zu bytes for %zu of plaintext, expected %llu (padme)", name, b->len,
					 out.b.len, (unsigned long long)dsync_pack_blob_size(out.b.len));
			assert_memory_equal(out.b.ptr, "PACK", 4);
			/* the positive control: the search finds the corpus in
			 * the plaintext (the same code, the same needles) */
			search(&nd, (unsigned char *)out.b.ptr, out.b.len, name, "plaintext", 0, &h, true);
			search_inflated(&nd, (unsigned char *)out.b.ptr, out.b.len, name, &h, true, &streams);
			dsync_buf_dispose(&out.b);
			npacks++;
		} else if (strncmp(name, "devices/", 8) == 0) {
			size_t plain = b->len - (8 + 24 + 16);

			assert_true(strlen(name) == 8 + 32 + 1 + 16 && is_hex(name + 8, 32) && name[40] == '/' &&
				    strspn(name + 41, "0123456789") == 16);
			assert_memory_equal(b->data, "dsyncM01", 8);
			if (plain < 512 || dsync_store_padme(plain) != plain)
				fail_msg("%s: %zu bytes of plaintext is not a padme size of at least 512", name, plain);
			dsync_buf_truncate(&text, 0);
			if (dsync_manifest_open(&text, st, name, b->data, b->len) != 0)
				fail_msg("%s: %s", name, dsync_error_last());
			assert_true(strncmp(text.ptr, "dsync-manifest 1\n", 17) == 0);
			nmanifests++;
		} else {
			fail_msg("a blob the store format does not have: %s", name);
		}
next:
		dsync_buf_dispose(&where);
	}
	if (h.count)
		fail_msg("%zu secrets found in the remote's blobs:\n%s", h.count, h.report.ptr);

	/* every nonce and stream header once */
	qsort(nonces, nnonces, 24, cmp_nonce);
	for (i = 1; i < nnonces; i++)
		if (memcmp(nonces[i - 1], nonces[i], 24) == 0)
			fail_msg("a nonce or stream header repeats across the %zu blobs", nnonces);

	/* the search works: every corpus string is in the packs' plaintext */
	for (i = 0; i < nd.n; i++)
		if (nd.v[i].corpus && !nd.v[i].found_plain)
			fail_msg("the positive control did not find %s in the decrypted packs", nd.v[i].label);
	assert_true(streams > 0);
	print_message("confidentiality: %zu blobs over %zu scans (%zu packs, %zu manifests, %zu keys), "
		      "%zu needles, %zu zlib streams in the plaintext\n",
		      blobs.n, blobs.scans, npacks, nmanifests, nkeys, nd.n, streams);
	assert_true(npacks >= 5);
	assert_true(nmanifests >= 6);
	assert_int_equal(nkeys, 1);

	/* the unsealed key is kept per user, never in the folder: nothing
	 * under .dsync holds the master key, a subkey, the passphrase or its
	 * key (the chunk secret is kept there on purpose: docs/chunks.md) */
	{
		needles local;
		blob_set files = { 0 };
		dsync_buf gitdir = DSYNC_BUF_INIT;

		memset(&local, 0, sizeof(local));
		add_needle(&local, PASS, strlen(PASS), false, "the passphrase");
		add_secret(&local, DSYNC_STORE_MASTER(st), 32, "the master key");
		add_secret(&local, DSYNC_STORE_KPACK(st), 32, "the pack subkey");
		add_secret(&local, DSYNC_STORE_KMANIFEST(st), 32, "the manifest subkey");
		add_secret(&local, DSYNC_STORE_KNAME(st), 32, "the name subkey");
		add_secret(&local, DSYNC_STORE_KHEADER(st), 32, "the header subkey");
		add_secret(&local, DSYNC_STORE_KKEYS(st), 32, "the keys subkey");
		add_secret(&local, kek, 32, "the passphrase's key");
		assert_int_equal(dsync_buf_printf(&gitdir, "%s/.dsync", dir_a), 0);
		scan_dir(&files, gitdir.ptr, "");
		dsync_buf_truncate(&gitdir, 0);
		assert_int_equal(dsync_buf_printf(&gitdir, "%s/.dsync", dir_b), 0);
		scan_dir(&files, gitdir.ptr, "");
		for (i = 0; i < files.n; i++)
			search(&local, files.v[i].data, files.v[i].len, files.v[i].name, "a folder's .dsync", 0, &h, false);
		if (h.count)
			fail_msg("secrets found in the folders' .dsync:\n%s", h.report.ptr);
		print_message("confidentiality: %zu files under the two folders' .dsync hold no key\n", files.n);
		needles_dispose(&local);
		blob_set_dispose(&files);
		dsync_buf_dispose(&gitdir);
	}

	sodium_free(kek);
	free(nonces);
	free(photo);
	needles_dispose(&nd);
	dsync_store_free(st);
	dsync_blobstore_free(bs);
	dsync_folder_free(fa);
	dsync_folder_free(fb);
	blob_set_dispose(&blobs);
	dsync_buf_dispose(&h.report);
	dsync_buf_dispose(&text);
	dsync_buf_dispose(&big);
	dsync_buf_dispose(&check);
}

/* ------------------------------------------------------------ acceptance 4b */

enum rogue_kind {
	ROGUE_DSYNC_CONFIG,     /* .dsync/config at the root */
	ROGUE_DOTDOT_SLASH,     /* an entry named "../x" */
	ROGUE_ABSOLUTE,         /* an entry named "/ABS/PATH/abs-x" */
	ROGUE_DOTDOT_TREE,      /* a folder named ".." holding x */
	ROGUE_NESTED_DSYNC      /* deep/.dsync/config */
};

typedef struct entry {
	char mode[8];
	char *name;
	git_oid id;
	bool tree;
} entry;

/* Git's order of tree entries: by name, a folder's as if followed by '/'. */
static int cmp_entry(const void *pa, const void *pb)
{
	const entry *a = pa, *b = pb;
	size_t la = strlen(a->name), lb = strlen(b->name), n = la < lb ? la : lb;
	int c = memcmp(a->name, b->name, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = la > n ? (unsigned char)a->name[n] : a->tree ? '/' : '\0';
	cb = lb > n ? (unsigned char)b->name[n] : b->tree ? '/' : '\0';
	return (int)ca - (int)cb;
}

/* Writes the raw tree of the N entries V (sorted here) into OUT. */
static void write_tree(git_oid *out, git_repository *repo, entry *v, size_t n)
{
	dsync_buf body = DSYNC_BUF_INIT;
	git_odb *odb;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_entry);
	assert_int_equal(dsync_buf_puts(&body, ""), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(dsync_buf_printf(&body, "%s %s", v[i].mode, v[i].name), 0);
		assert_int_equal(dsync_buf_put(&body, "", 1), 0);
		assert_int_equal(dsync_buf_put(&body, v[i].id.id, GIT_OID_RAWSZ), 0);
	}
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_write(out, odb, body.ptr, body.len, GIT_OBJECT_TREE), 0);
	git_odb_free(odb);
	dsync_buf_dispose(&body);
}

static entry mk(const char *mode, const char *name, const git_oid *id)
{
	entry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.mode, sizeof(e.mode), "%s", mode);
	e.name = strdup(name);
	assert_non_null(e.name);
	git_oid_cpy(&e.id, id);
	e.tree = strcmp(mode, "40000") == 0;
	return e;
}

#define ROGUE_MARK "ROGUE-PAYLOAD-7f3a9c"

/* The rogue tree of KIND: TREE's entries plus the bad one.  ABS is the
 * absolute name for ROGUE_ABSOLUTE. */
static void rogue_tree(git_oid *out, git_repository *repo, const git_oid *tree, enum rogue_kind kind, const char *abs)
{
	static const char config[] = "[core]\n\tbare = true\n\tworktree = /tmp\n# " ROGUE_MARK "\n";
	entry v[64], sub[2];
	git_tree *t;
	git_oid blob, subtree, inner;
	size_t n, i;

	memset(sub, 0, sizeof(sub));
	assert_int_equal(git_tree_lookup(&t, repo, tree), 0);
	n = git_tree_entrycount(t);
	assert_true(n < 60);
	for (i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		char mode[8];

		snprintf(mode, sizeof(mode), "%o", (unsigned)git_tree_entry_filemode_raw(e));
		v[i] = mk(mode, git_tree_entry_name(e), git_tree_entry_id(e));
	}
	git_tree_free(t);
	assert_int_equal(git_blob_create_from_buffer(&blob, repo, config, sizeof(config) - 1), 0);
	switch (kind) {
	case ROGUE_DSYNC_CONFIG:
		sub[0] = mk("100644", "config", &blob);
		write_tree(&subtree, repo, sub, 1);
		v[n++] = mk("40000", ".dsync", &subtree);
		break;
	case ROGUE_DOTDOT_SLASH:
		v[n++] = mk("100644", "../x", &blob);
		break;
	case ROGUE_ABSOLUTE:
		assert_true(abs[0] == '/');
		v[n++] = mk("100644", abs, &blob);
		break;
	case ROGUE_DOTDOT_TREE:
		sub[0] = mk("100644", "x", &blob);
		write_tree(&subtree, repo, sub, 1);
		v[n++] = mk("40000", "..", &subtree);
		break;
	case ROGUE_NESTED_DSYNC:
		sub[0] = mk("100644", "config", &blob);
		write_tree(&inner, repo, sub, 1);
		free(sub[0].name);
		sub[0] = mk("40000", ".dsync", &inner);
		write_tree(&subtree, repo, sub, 1);
		v[n++] = mk("40000", "deep", &subtree);
		break;
	}
	free(sub[0].name);
	write_tree(out, repo, v, n);
	for (i = 0; i < n; i++)
		free(v[i].name);
}

/* Makes a commit of TREE on top of the head of the folder at ROOT and moves
 * its refs/heads/main there (libgit2 only, as a rogue member's own program
 * could); the old head into OLD. */
static void rogue_commit(git_oid *out, git_oid *old, const char *root, enum rogue_kind kind, const char *abs)
{
	dsync_buf gitdir = DSYNC_BUF_INIT;
	git_repository *repo;
	git_commit *parent;
	git_signature *sig;
	git_reference *ref;
	git_oid tree;
	git_tree *t;

	assert_int_equal(dsync_buf_printf(&gitdir, "%s/.dsync", root), 0);
	assert_int_equal(git_repository_open(&repo, gitdir.ptr), 0);
	assert_int_equal(git_reference_name_to_id(old, repo, "refs/heads/main"), 0);
	assert_int_equal(git_commit_lookup(&parent, repo, old), 0);
	rogue_tree(&tree, repo, git_commit_tree_id(parent), kind, abs);
	assert_int_equal(git_tree_lookup(&t, repo, &tree), 0);
	assert_int_equal(git_signature_new(&sig, "Rogue-Device", "rogue@example.invalid",
					   git_commit_time(parent) + 60, 0), 0);
	assert_int_equal(git_commit_create(out, repo, NULL, sig, sig, NULL, "rogue\n", t, 1,
					   (const git_commit **)&parent), 0);
	assert_int_equal(git_reference_create(&ref, repo, "refs/heads/main", out, 1, "rogue"), 0);
	git_reference_free(ref);
	git_signature_free(sig);
	git_tree_free(t);
	git_commit_free(parent);
	git_repository_free(repo);
	dsync_buf_dispose(&gitdir);
}

/* The head of the folder at ROOT. */
static void head_of(git_oid *out, const char *root)
{
	dsync_buf gitdir = DSYNC_BUF_INIT;
	git_repository *repo;

	assert_int_equal(dsync_buf_printf(&gitdir, "%s/.dsync", root), 0);
	assert_int_equal(git_repository_open(&repo, gitdir.ptr), 0);
	assert_int_equal(git_reference_name_to_id(out, repo, "refs/heads/main"), 0);
	git_repository_free(repo);
	dsync_buf_dispose(&gitdir);
}

/* Tells the snapshot of the folder at ROOT that its head HEAD is what its
 * index holds (the stat cache's record: .dsync/dsync-head), so that the
 * push's snapshot has nothing to record over the rogue commit. */
static void claim_head(const char *root, const git_oid *head)
{
	dsync_buf path = DSYNC_BUF_INIT, rec = DSYNC_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];

	assert_int_equal(dsync_buf_printf(&path, "%s/.dsync/dsync-head", root), 0);
	assert_true(read_file(&rec, path.ptr));
	assert_int_equal(rec.len, 2 * GIT_OID_HEXSZ + 2);
	git_oid_tostr(hex, sizeof(hex), head);
	memcpy(rec.ptr, hex, GIT_OID_HEXSZ);
	put_file(root, ".dsync/dsync-head", rec.ptr, rec.len);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&rec);
}

typedef struct victim_state {
	dsync_buf files, refs, config, parent, base;
} victim_state;

static void state_of(victim_state *s, const char *root, const char *parent)
{
	dsync_buf path = DSYNC_BUF_INIT;

	memset(s, 0, sizeof(*s));
	assert_int_equal(dsync_buf_puts(&s->files, ""), 0);
	digest(&s->files, root, "");
	refs_of(&s->refs, root);
	assert_int_equal(dsync_buf_printf(&path, "%s/.dsync/config", root), 0);
	assert_true(read_file(&s->config, path.ptr));
	names_in(&s->parent, parent);
	names_in(&s->base, sandbox_dir);
	dsync_buf_dispose(&path);
}

static void state_dispose(victim_state *s)
{
	dsync_buf_dispose(&s->files);
	dsync_buf_dispose(&s->refs);
	dsync_buf_dispose(&s->config);
	dsync_buf_dispose(&s->parent);
	dsync_buf_dispose(&s->base);
}

static void state_same(const victim_state *a, const victim_state *b, const char *what)
{
	if (strcmp(a->files.ptr, b->files.ptr) != 0)
		fail_msg("%s: the victim's files changed:\nbefore:\n%safter:\n%s", what, a->files.ptr, b->files.ptr);
	if (strcmp(a->refs.ptr, b->refs.ptr) != 0)
		fail_msg("%s: the victim's refs changed:\nbefore:\n%safter:\n%s", what, a->refs.ptr, b->refs.ptr);
	if (strcmp(a->config.ptr, b->config.ptr) != 0)
		fail_msg("%s: the victim's .dsync/config changed", what);
	if (strcmp(a->parent.ptr, b->parent.ptr) != 0)
		fail_msg("%s: the folder's parent changed:\nbefore:\n%safter:\n%s", what, a->parent.ptr, b->parent.ptr);
	if (strcmp(a->base.ptr, b->base.ptr) != 0)
		fail_msg("%s: the test's folder changed", what);
}

/* Nothing of the rogue payload anywhere it could have gone. */
static void nothing_escaped(const char *dir, const char *victim, const char *abs, const char *what)
{
	dsync_buf p = DSYNC_BUF_INIT, c = DSYNC_BUF_INIT;

	assert_int_equal(dsync_buf_printf(&p, "%s/x", dir), 0);
	if (access(p.ptr, F_OK) == 0)
		fail_msg("%s: %s was written", what, p.ptr);
	dsync_buf_truncate(&p, 0);
	assert_int_equal(dsync_buf_printf(&p, "%s/x", sandbox_dir), 0);
	if (access(p.ptr, F_OK) == 0)
		fail_msg("%s: %s was written", what, p.ptr);
	if (access(abs, F_OK) == 0)
		fail_msg("%s: %s was written", what, abs);
	dsync_buf_truncate(&p, 0);
	assert_int_equal(dsync_buf_printf(&p, "%s/.dsync/config", victim), 0);
	assert_true(read_file(&c, p.ptr));
	if (strstr(c.ptr, ROGUE_MARK))
		fail_msg("%s: the rogue config reached %s", what, p.ptr);
	dsync_buf_truncate(&p, 0);
	assert_int_equal(dsync_buf_printf(&p, "%s/deep", victim), 0);
	if (access(p.ptr, F_OK) == 0)
		fail_msg("%s: %s was written", what, p.ptr);
	dsync_buf_dispose(&p);
	dsync_buf_dispose(&c);
}

typedef struct rogue_setup {
	char dir[400], v[420], r[420], remote[420], abs[440];
	dsync_folder *fv, *fr;
	int calls;
} rogue_setup;

/* A victim V that made the store and a rogue R that joined it; both synced. */
static void rogue_begin(rogue_setup *s, const char *label)
{
	dsync_sync_options o = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result r;
	bool created;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "%s/%s", sandbox_dir, label);
	assert_int_equal(mkdir(s->dir, 0755), 0);
	snprintf(s->v, sizeof(s->v), "%s/V", s->dir);
	snprintf(s->r, sizeof(s->r), "%s/R", s->dir);
	snprintf(s->remote, sizeof(s->remote), "%s/remote", s->dir);
	snprintf(s->abs, sizeof(s->abs), "%s/abs-x", s->dir);
	o.passphrase = give_pass;
	o.payload = &s->calls;

	as(s->dir, "V");
	assert_int_equal(dsync_folder_init(&s->fv, s->v, "Victim"), 0);
	put_text(s->v, "a.txt", "victim's a\n");
	put_text(s->v, "sub/b.txt", "victim's b\n");
	put_text(s->v, "zeta.txt", "victim's zeta\n");
	snap(s->fv, NULL);
	if (dsync_remote_add(s->fv, "origin", s->remote, &created, &o) != 0)
		fail_msg("remote add: %s", dsync_error_last());
	sync_ok(s->fv, DSYNC_SYNC_ALL, &s->calls);

	as(s->dir, "R");
	if (dsync_join(&s->fr, &r, s->remote, s->r, NULL, "Rogue", &o) != 0)
		fail_msg("join: %s", dsync_error_last());

	as(s->dir, "V");
	sync_ok(s->fv, DSYNC_SYNC_ALL, &s->calls);
}

static void rogue_end(rogue_setup *s)
{
	dsync_folder_free(s->fv);
	dsync_folder_free(s->fr);
	sandbox_rm_rf(s->dir);
}

/* What the refusal must say for each kind. */
static const char *const rogue_why[] = {
	[ROGUE_DSYNC_CONFIG] = "'.dsync' would write into dsync's own history",
	[ROGUE_DOTDOT_SLASH] = "'../x' has a '/' in its name",
	[ROGUE_ABSOLUTE] = "abs-x' has a '/' in its name",
	[ROGUE_DOTDOT_TREE] = "'..' would leave its folder",
	[ROGUE_NESTED_DSYNC] = "'deep/.dsync' would write into dsync's own history",
};

static void run_rogue(enum rogue_kind kind, const char *label)
{
	char message[1024];

	dsync_sync_options o = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result res;
	victim_state before, after;
	rogue_setup s;
	git_oid rogue, good, now;
	int error;

	rogue_begin(&s, label);
	o.passphrase = give_pass;
	o.payload = &s.calls;

	/* the rogue device makes and pushes its history */
	as(s.dir, "R");
	rogue_commit(&rogue, &good, s.r, kind, s.abs);
	claim_head(s.r, &rogue);
	if ((error = dsync_sync(&res, s.fr, NULL, DSYNC_SYNC_PUSH, &o)) != 0)
		fail_msg("%s: the rogue's push: %d: %s", label, error, dsync_error_last());
	assert_true(res.pushed);
	head_of(&now, s.r);
	if (!git_oid_equal(&now, &rogue))
		fail_msg("%s: the rogue's push snapshotted over the rogue commit", label);

	/* the victim syncs: refused, nothing changed */
	as(s.dir, "V");
	state_of(&before, s.v, s.dir);
	error = dsync_sync(&res, s.fv, NULL, DSYNC_SYNC_ALL, &o);
	if (error != DSYNC_ECORRUPT)
		fail_msg("%s: the victim's sync returned %d (%s), expected DSYNC_ECORRUPT", label, error,
			 dsync_error_last());
	/* the message is checked last (the rest first) */
	snprintf(message, sizeof(message), "%s", dsync_error_last());
	state_of(&after, s.v, s.dir);
	state_same(&before, &after, label);
	nothing_escaped(s.dir, s.v, s.abs, label);
	state_dispose(&after);
	/* and again: still refused, still nothing */
	assert_int_equal(dsync_sync(&res, s.fv, NULL, DSYNC_SYNC_ALL, &o), DSYNC_ECORRUPT);
	state_of(&after, s.v, s.dir);
	state_same(&before, &after, label);
	state_dispose(&after);
	/* a fetch alone is refused too */
	assert_int_equal(dsync_sync(&res, s.fv, NULL, DSYNC_SYNC_FETCH, &o), DSYNC_ECORRUPT);

	/* the rogue (or the member it was) goes back to the good head and
	 * pushes: the victim syncs again, unharmed */
	as(s.dir, "R");
	{
		dsync_buf gitdir = DSYNC_BUF_INIT;
		git_repository *repo;
		git_reference *ref;

		assert_int_equal(dsync_buf_printf(&gitdir, "%s/.dsync", s.r), 0);
		assert_int_equal(git_repository_open(&repo, gitdir.ptr), 0);
		assert_int_equal(git_reference_create(&ref, repo, "refs/heads/main", &good, 1, "back"), 0);
		git_reference_free(ref);
		git_repository_free(repo);
		dsync_buf_dispose(&gitdir);
	}
	sync_ok(s.fr, DSYNC_SYNC_PUSH, &s.calls);
	as(s.dir, "V");
	sync_ok(s.fv, DSYNC_SYNC_ALL, &s.calls);
	state_of(&after, s.v, s.dir);
	if (strcmp(before.files.ptr, after.files.ptr) != 0)
		fail_msg("%s: after the rogue went back, the victim's files changed:\n%s", label, after.files.ptr);
	nothing_escaped(s.dir, s.v, s.abs, label);
	state_dispose(&after);
	state_dispose(&before);
	rogue_end(&s);
	/* it names the manifest and says what was refused, once */
	if (!strstr(message, "devices/") || !strstr(message, "refused a tree from another device: ") ||
	    !strstr(message, rogue_why[kind]))
		fail_msg("%s: refused and nothing written (good), but the victim's message does not say what was "
			 "refused (wanted the manifest's name and \"refused a tree from another device: ...%s\"): %s",
			 label, rogue_why[kind], message);
	print_message("%s: %s\n", label, message);
}

static void test_rogue_dsync_config(void **state)
{
	(void)state;
	run_rogue(ROGUE_DSYNC_CONFIG, "dsync-config");
}

static void test_rogue_dotdot_slash(void **state)
{
	(void)state;
	run_rogue(ROGUE_DOTDOT_SLASH, "dotdot-slash-x");
}

static void test_rogue_absolute(void **state)
{
	(void)state;
	run_rogue(ROGUE_ABSOLUTE, "absolute");
}

static void test_rogue_dotdot_tree(void **state)
{
	(void)state;
	run_rogue(ROGUE_DOTDOT_TREE, "dotdot-tree");
}

static void test_rogue_nested_dsync(void **state)
{
	(void)state;
	run_rogue(ROGUE_NESTED_DSYNC, "nested-dsync");
}

/*
 * What a plain push does with a rogue commit as the head: the push's
 * snapshot records the working tree (which can't hold the bad entry) as a
 * new commit on top, so the rogue tree travels as an ancestor.  The victim
 * checks every new version of a fetched history, not only the head: the
 * sync is refused, and nothing moves or escapes.
 */
static void test_rogue_ancestor(void **state)
{
	dsync_sync_options o = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result res;
	victim_state before, after;
	rogue_setup s;
	git_oid rogue, good, now;
	int error;

	(void)state;
	rogue_begin(&s, "ancestor");
	o.passphrase = give_pass;
	o.payload = &s.calls;
	as(s.dir, "R");
	rogue_commit(&rogue, &good, s.r, ROGUE_DOTDOT_SLASH, s.abs);
	sync_ok(s.fr, DSYNC_SYNC_PUSH, &s.calls);
	head_of(&now, s.r);
	print_message("ancestor: the rogue's push %s\n",
		      git_oid_equal(&now, &rogue) ? "kept the rogue commit as the head"
						  : "made a snapshot on top of the rogue commit");

	as(s.dir, "V");
	state_of(&before, s.v, s.dir);
	error = dsync_sync(&res, s.fv, NULL, DSYNC_SYNC_ALL, &o);
	print_message("ancestor: the victim's sync: %d %s\n", error, error ? dsync_error_last() : "");
	assert_int_equal(error, DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "refused"));
	state_of(&after, s.v, s.dir);
	if (strcmp(before.refs.ptr, after.refs.ptr) != 0)
		fail_msg("ancestor: the victim's refs moved:\n%s", after.refs.ptr);
	if (strcmp(before.files.ptr, after.files.ptr) != 0)
		fail_msg("ancestor: the victim's files changed:\n%s", after.files.ptr);
	nothing_escaped(s.dir, s.v, s.abs, "ancestor");
	state_dispose(&after);
	state_dispose(&before);
	rogue_end(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confidentiality),
		cmocka_unit_test(test_rogue_dsync_config),
		cmocka_unit_test(test_rogue_dotdot_slash),
		cmocka_unit_test(test_rogue_absolute),
		cmocka_unit_test(test_rogue_dotdot_tree),
		cmocka_unit_test(test_rogue_nested_dsync),
		cmocka_unit_test(test_rogue_ancestor),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
