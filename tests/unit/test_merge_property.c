/*
 * A randomized property test of merging (issue 4, acceptance point 3): three
 * devices, each a real dsync folder, edit the same small set of names at
 * random (text edits, deletes, renames, binary overwrites, the executable
 * bit), snapshot, and merge each other's heads with dsync_merge_revs(), so
 * that heads diverge and conflict often.  Objects are shared the way a fetch
 * would share them: each folder's store lists the other two as alternates.
 *
 * Every line and every binary content the test writes carries a unique token
 * ("tok17-d1-op573-l2").  The test keeps its own model of which tokens an
 * edit, a delete or an overwrite replaced ("superseded"); dsync's own list of
 * conflicts is never used to decide what is right.  After every snapshot and
 * merge the working tree must equal the new head's tree.  Once editing
 * stops, two rounds of merges (each device in turn merges both others'
 * heads) must leave:
 *
 *   (a) every version any device ever recorded reachable from the head;
 *   (b) the same head on every device, each working tree equal to its tree
 *       and dsync_status() reporting nothing;
 *   (c) every token that was snapshotted and never superseded in some file
 *       of the head's tree (text merges combine lines, so tokens are looked
 *       for in every file, conflict copies included);
 *
 * and no path with a ".dsync" component, no conflict copy of a conflict
 * copy, no conflict markers.
 *
 * The run is reproducible: the operations come from a seeded generator, the
 * devices get fixed ids, and the clock the library reads (time()) is the
 * test's own, advanced by each operation.  Environment:
 *
 *   DSYNC_PROP_SEED     the generator's seed (default 1)
 *   DSYNC_PROP_OPS      how many operations (default 1000, the CI run)
 *   DSYNC_PROP_VERBOSE  set: print each operation
 *   DSYNC_PROP_KEEP     set: keep the temporary folders (their path is
 *                       printed)
 *
 * The long run, locally (about 15 minutes; TMPDIR=/dev/shm makes it faster):
 *
 *   DSYNC_PROP_OPS=100000 DSYNC_PROP_SEED=N build/tests/test_merge_property
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/merge.h"
#include "dsync/snapshot.h"
#include "core/base/buf.h"
#include "core/base/internal.h"
#define SANDBOX_WITH_REPO
#include "sandbox.h"

/* repo (sandbox.h): device 0's store, which sees every object */

#define DEVICES 3
#define LOG_LINES 40          /* operations shown when a check fails */
#define MAX_LINES 60          /* a text file longer than this gets no new lines */
#define T0 ((time_t)1704067200) /* 2024-01-01 00:00:00 UTC */

/* The names every device picks from: the same few on all of them, so they
 * collide.  "notes" is a file on one device and a folder on another. */
static const char *const text_names[] = {
	"a.txt", "b.txt", "notes", "Meeting notes.md", "caf\xc3\xa9.md", ".profile",
	"docs/d.txt", "docs/e.md", "docs/deep/f.txt", "notes/g.txt", "notes/h.txt",
};
static const char *const bin_names[] = { "p.bin", "q.bin", "docs/r.bin", "notes/s.bin" };
static const char *const words[] = { "lorem", "ipsum", "dolor", "sit", "amet", "quux", "zebra", "vivid" };

/* What the test knows of one token. */
enum {
	T_COMMITTED = 1,      /* some device snapshotted a file holding it */
	T_SUPERSEDED = 2,     /* an edit, a delete or an overwrite replaced it */
	T_BINARY = 4,         /* a binary file's whole content */
	T_SEEN = 8            /* found in the final tree */
};

typedef struct token {
	uint32_t dev;
	uint32_t op;
	uint8_t flags;
} token;

/* A file of a tree or of a working tree. */
typedef struct entry {
	char *path;
	uint32_t mode;
	git_oid id;
} entry;

typedef struct entries {
	entry *v;
	size_t n, cap;
} entries;

static char dev_dir[DEVICES][300];
static dsync_folder *dev[DEVICES];
static char heads[DEVICES][41];   /* each device's head as it last reported it */

static uint64_t seed = 1, rng;
static unsigned long nops = 1000, op;
static bool verbose;

static token *tokens;
static size_t ntokens, tokens_cap;

static git_oid *versions;         /* every head any device ever recorded */
static size_t nversions, versions_cap;

static char oplog[LOG_LINES][200];
static unsigned long oplog_n;

static struct {
	unsigned long snapshots, commits, merges, merge_commits, fast_forwards, conflicts, skipped;
} stats;

/*
 * The clock the library reads: the test's own while it runs, so commit times
 * (which decide which version keeps a contested path) and commit ids repeat
 * from run to run.  Zero: the real clock.
 */
static time_t fake_now;

time_t time(time_t *t)
{
	struct timespec ts;
	time_t now = fake_now;

	if (!now) {
		clock_gettime(CLOCK_REALTIME, &ts);
		now = ts.tv_sec;
	}
	if (t)
		*t = now;
	return now;
}

/* xorshift64*: small, seeded, the same everywhere. */
static uint64_t next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static size_t pick(size_t n)
{
	return (size_t)(next_rand() % n);
}

static void show_log(void)
{
	unsigned long i = oplog_n > LOG_LINES ? oplog_n - LOG_LINES : 0;

	print_message("the last operations:\n");
	for (; i < oplog_n; i++)
		print_message("  %s\n", oplog[i % LOG_LINES]);
	print_message("reproduce: DSYNC_PROP_SEED=%llu DSYNC_PROP_OPS=%lu (failed at op %lu; "
		      "DSYNC_PROP_VERBOSE=1 shows every operation, DSYNC_PROP_KEEP=1 keeps the folders)\n",
		      (unsigned long long)seed, nops, op);
}

/* Fails the test, first saying how to run it again. */
#define FAIL(...) do { show_log(); fail_msg(__VA_ARGS__); } while (0)

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Records what the current operation does, for the log shown on failure. */
static void note(const char *fmt, ...)
{
	char *line = oplog[oplog_n++ % LOG_LINES];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(oplog[0]), "op %lu: ", op);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(oplog[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	if (verbose)
		print_message("%s\n", line);
}

static size_t new_token(unsigned d, bool binary)
{
	if (ntokens == tokens_cap) {
		tokens_cap = tokens_cap ? tokens_cap * 2 : 1024;
		tokens = realloc(tokens, tokens_cap * sizeof(*tokens));
		assert_non_null(tokens);
	}
	tokens[ntokens].dev = d;
	tokens[ntokens].op = (uint32_t)op;
	tokens[ntokens].flags = binary ? T_BINARY : 0;
	return ntokens++;
}

static void add_version(const char *hex)
{
	if (!hex[0])
		return;
	if (nversions == versions_cap) {
		versions_cap = versions_cap ? versions_cap * 2 : 256;
		versions = realloc(versions, versions_cap * sizeof(*versions));
		assert_non_null(versions);
	}
	assert_int_equal(git_oid_fromstr(&versions[nversions++], hex), 0);
}

/* Calls FN with the id of every token in DATA. */
static void each_token(const char *data, size_t len, void (*fn)(size_t id, void *payload), void *payload)
{
	size_t i, j, id;

	for (i = 0; i + 3 < len; i++) {
		if (memcmp(data + i, "tok", 3) != 0 || data[i + 3] < '0' || data[i + 3] > '9')
			continue;
		for (id = 0, j = i + 3; j < len && data[j] >= '0' && data[j] <= '9'; j++)
			id = id * 10 + (size_t)(data[j] - '0');
		if (id < ntokens)
			fn(id, payload);
		i = j - 1;
	}
}

static void mark(size_t id, void *payload)
{
	tokens[id].flags |= (uint8_t)(uintptr_t)payload;
}

static void path_of(char *out, size_t size, unsigned d, const char *rel)
{
	int n = snprintf(out, size, "%s/%s", dev_dir[d], rel);

	assert_true(n > 0 && (size_t)n < size);
}

/* Reads the file or link ABS into a malloc'd buffer (NUL-terminated). */
static char *read_all(const char *abs, size_t *len, const struct stat *st)
{
	char *data = malloc((size_t)st->st_size + 1);
	ssize_t got;
	int fd;

	assert_non_null(data);
	if (S_ISLNK(st->st_mode)) {
		got = readlink(abs, data, (size_t)st->st_size + 1);
		assert_true(got >= 0 && got <= st->st_size);
	} else {
		size_t have = 0;

		fd = open(abs, O_RDONLY);
		if (fd < 0)
			FAIL("cannot open '%s': %s", abs, strerror(errno));
		while (have < (size_t)st->st_size && (got = read(fd, data + have, (size_t)st->st_size - have)) > 0)
			have += (size_t)got;
		close(fd);
		assert_int_equal(have, (size_t)st->st_size);
		got = (ssize_t)have;
	}
	data[got] = '\0';
	*len = (size_t)got;
	return data;
}

static void write_all(const char *abs, const char *data, size_t len)
{
	int fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		FAIL("cannot write '%s': %s", abs, strerror(errno));
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void entries_add(entries *l, const char *path, uint32_t mode, const git_oid *id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n].path = strdup(path);
	assert_non_null(l->v[l->n].path);
	l->v[l->n].mode = mode;
	if (id)
		git_oid_cpy(&l->v[l->n].id, id);
	else
		memset(&l->v[l->n].id, 0, sizeof(git_oid));
	l->n++;
}

static void entries_dispose(entries *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

/* Lists the files and links below REL in device D's working tree (not
 * .dsync), with their git modes and, when HASH, their blob ids. */
static void list_disk(entries *out, unsigned d, const char *rel, bool hash)
{
	char abs[1024], sub[1024];
	struct dirent *de;
	DIR *dir;

	path_of(abs, sizeof(abs), d, rel);
	dir = opendir(abs);
	if (!dir)
		FAIL("cannot list '%s': %s", abs, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || (!rel[0] && !strcmp(de->d_name, DSYNC_DIR)))
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		path_of(abs, sizeof(abs), d, sub);
		if (lstat(abs, &st) < 0)
			FAIL("cannot stat '%s': %s", abs, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			list_disk(out, d, sub, hash);
		} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			uint32_t mode = S_ISLNK(st.st_mode) ? GIT_FILEMODE_LINK :
					(st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
			git_oid id;

			if (hash) {
				size_t len;
				char *data = read_all(abs, &len, &st);

				assert_int_equal(git_odb_hash(&id, data, len, GIT_OBJECT_BLOB), 0);
				free(data);
			}
			entries_add(out, sub, mode, hash ? &id : NULL);
		} else {
			FAIL("'%s' in device %u's folder is neither file, link nor folder", sub, d);
		}
	}
	closedir(dir);
	if (!rel[0] && out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_entry);
}

static int tree_cb(const char *root, const git_tree_entry *e, void *payload)
{
	char path[1024];

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	snprintf(path, sizeof(path), "%s%s", root, git_tree_entry_name(e));
	entries_add(payload, path, git_tree_entry_filemode(e), git_tree_entry_id(e));
	return 0;
}

/* Lists the files of commit HEX's tree, sorted by path. */
static void list_tree(entries *out, const char *hex)
{
	git_commit *c;
	git_tree *t;
	git_oid id;

	memset(out, 0, sizeof(*out));
	if (!hex[0])
		return;
	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	if (git_commit_lookup(&c, repo, &id) < 0)
		FAIL("cannot read the commit %s: %s", hex, git_error_last() ? git_error_last()->message : "");
	assert_int_equal(git_commit_tree(&t, c), 0);
	assert_int_equal(git_tree_walk(t, GIT_TREEWALK_PRE, tree_cb, out), 0);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_entry);
	git_tree_free(t);
	git_commit_free(c);
}

/* Checks that device D's working tree holds exactly the tree of commit HEX:
 * the same paths, contents and modes. */
static void check_worktree(unsigned d, const char *hex, const char *what)
{
	entries disk = { 0 }, tree;
	size_t i = 0, j = 0;
	bool bad = false;

	list_disk(&disk, d, "", true);
	list_tree(&tree, hex);
	while (i < disk.n || j < tree.n) {
		int c = i == disk.n ? 1 : j == tree.n ? -1 : strcmp(disk.v[i].path, tree.v[j].path);
		char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];

		if (c < 0) {
			print_message("  '%s' is on disk, not in the tree\n", disk.v[i++].path);
			bad = true;
		} else if (c > 0) {
			print_message("  '%s' is in the tree, not on disk\n", tree.v[j++].path);
			bad = true;
		} else {
			if (disk.v[i].mode != tree.v[j].mode || !git_oid_equal(&disk.v[i].id, &tree.v[j].id)) {
				print_message("  '%s' is %06o %s on disk, %06o %s in the tree\n", disk.v[i].path,
					      disk.v[i].mode, git_oid_tostr(a, sizeof(a), &disk.v[i].id), tree.v[j].mode,
					      git_oid_tostr(b, sizeof(b), &tree.v[j].id));
				bad = true;
			}
			i++;
			j++;
		}
	}
	entries_dispose(&disk);
	entries_dispose(&tree);
	if (bad)
		FAIL("%s: device %u's working tree differs from its head %s", what, d, hex[0] ? hex : "(none)");
}

/* Checks that dsync_status() finds nothing to snapshot on device D. */
static void check_status(unsigned d, const char *what)
{
	dsync_changes ch = { 0 };
	size_t i;

	if (dsync_status(&ch, dev[d], NULL, NULL) < 0)
		FAIL("%s: status on device %u: %s", what, d, dsync_error_last());
	for (i = 0; i < ch.n; i++)
		print_message("  %c %s\n", ch.v[i].kind, ch.v[i].path);
	if (ch.n)
		FAIL("%s: status on device %u reports %zu changes", what, d, ch.n);
	dsync_changes_dispose(&ch);
}

/* Marks every token in device D's working tree with FLAG. */
static void mark_worktree(unsigned d, uint8_t flag)
{
	entries disk = { 0 };
	size_t i;

	list_disk(&disk, d, "", false);
	for (i = 0; i < disk.n; i++) {
		char abs[1024];
		struct stat st;
		size_t len;
		char *data;

		path_of(abs, sizeof(abs), d, disk.v[i].path);
		assert_int_equal(lstat(abs, &st), 0);
		data = read_all(abs, &len, &st);
		each_token(data, len, mark, (void *)(uintptr_t)flag);
		free(data);
	}
	entries_dispose(&disk);
}

static bool is_bin(const char *path)
{
	size_t n = strlen(path);

	return n >= 4 && !strcmp(path + n - 4, ".bin");
}

/* Picks an existing file of device D (BIN: -1 any, 0 text, 1 binary) into
 * OUT; false when there is none. */
static bool pick_file(char *out, size_t size, unsigned d, int bin)
{
	entries disk = { 0 };
	size_t i, n = 0, k;
	bool found = false;

	list_disk(&disk, d, "", false);
	for (i = 0; i < disk.n; i++)
		if (bin < 0 || is_bin(disk.v[i].path) == (bin == 1))
			n++;
	if (n) {
		k = pick(n);
		for (i = 0; i < disk.n; i++) {
			if (bin >= 0 && is_bin(disk.v[i].path) != (bin == 1))
				continue;
			if (k-- == 0) {
				snprintf(out, size, "%s", disk.v[i].path);
				found = true;
				break;
			}
		}
	}
	entries_dispose(&disk);
	return found;
}

/* Whether REL can be created on device D: nothing is there, and every
 * folder above it is a folder or missing. */
static bool can_create(unsigned d, const char *rel)
{
	char abs[1024];
	struct stat st;
	size_t i;

	path_of(abs, sizeof(abs), d, rel);
	if (lstat(abs, &st) == 0)
		return false;
	for (i = strlen(dev_dir[d]) + 1; abs[i]; i++) {
		if (abs[i] != '/')
			continue;
		abs[i] = '\0';
		if (lstat(abs, &st) == 0 && !S_ISDIR(st.st_mode)) {
			abs[i] = '/';
			return false;
		}
		abs[i] = '/';
	}
	return true;
}

/* Creates the folders above REL on device D. */
static void make_parents(unsigned d, const char *rel)
{
	char abs[1024];
	size_t i;

	path_of(abs, sizeof(abs), d, rel);
	for (i = strlen(dev_dir[d]) + 1; abs[i]; i++) {
		if (abs[i] != '/')
			continue;
		abs[i] = '\0';
		if (mkdir(abs, 0755) < 0 && errno != EEXIST)
			FAIL("cannot make '%s': %s", abs, strerror(errno));
		abs[i] = '/';
	}
}

/* Removes the folders above REL on device D that are now empty, as a user
 * tidying up would. */
static void remove_empty_parents(unsigned d, const char *rel)
{
	char abs[1024];
	size_t root = strlen(dev_dir[d]), i;

	path_of(abs, sizeof(abs), d, rel);
	for (i = strlen(abs); i > root; i--) {
		if (abs[i] != '/')
			continue;
		abs[i] = '\0';
		if (rmdir(abs) < 0)
			break;
	}
}

/* Appends a new line of device D (with a fresh token) to the buffer. */
static void add_line(dsync_buf *b, unsigned d, unsigned k)
{
	size_t t = new_token(d, false), i, n = 1 + pick(4);

	assert_int_equal(dsync_buf_printf(b, "tok%zu-d%u-op%lu-l%u", t, d, op, k), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(dsync_buf_printf(b, " %s", words[pick(DSYNC_ARRAY_SIZE(words))]), 0);
	assert_int_equal(dsync_buf_puts(b, "\n"), 0);
}

static void edit_text(unsigned d, const char *rel);

static void create_text(unsigned d)
{
	const char *rel = text_names[pick(DSYNC_ARRAY_SIZE(text_names))];
	dsync_buf b = DSYNC_BUF_INIT;
	char abs[1024];
	struct stat st;
	unsigned k, n = 2 + (unsigned)pick(5);

	path_of(abs, sizeof(abs), d, rel);
	if (lstat(abs, &st) == 0 && S_ISREG(st.st_mode)) {
		edit_text(d, rel);
		return;
	}
	if (!can_create(d, rel)) {
		note("dev%u create '%s': in the way, skipped", d, rel);
		stats.skipped++;
		return;
	}
	for (k = 0; k < n; k++)
		add_line(&b, d, k);
	make_parents(d, rel);
	write_all(abs, b.ptr, b.len);
	note("dev%u create '%s' (%u lines)", d, rel, n);
	dsync_buf_dispose(&b);
}

/* Replaces, inserts or appends one line of the text file REL on device D,
 * as the file is on disk now. */
static void edit_text(unsigned d, const char *rel)
{
	dsync_buf b = DSYNC_BUF_INIT;
	char abs[1024];
	struct stat st;
	size_t len, nlines = 0, i, at, start = 0;
	char *data;
	int how = (int)pick(10);

	path_of(abs, sizeof(abs), d, rel);
	assert_int_equal(lstat(abs, &st), 0);
	data = read_all(abs, &len, &st);
	if (memchr(data, '\0', len)) {
		note("dev%u edit '%s': binary, skipped", d, rel);
		stats.skipped++;
		free(data);
		return;
	}
	for (i = 0; i < len; i++)
		if (data[i] == '\n' || i == len - 1)
			nlines++;
	if (nlines == 0)
		how = 9;                       /* append */
	else if (how >= 4 && nlines >= MAX_LINES)
		how = 0;                       /* replace */
	at = nlines ? pick(nlines) : 0;
	/* the lines before AT stay as they are */
	for (i = 0; i < len && at > 0; i++)
		if (data[i] == '\n' && --at == 0)
			start = i + 1;
	if (at > 0)
		start = len;
	assert_int_equal(dsync_buf_put(&b, data, start), 0);
	if (how < 4) {
		/* replace the line at START: its tokens are superseded */
		const char *end = memchr(data + start, '\n', len - start);
		size_t stop = end ? (size_t)(end - data) + 1 : len;

		each_token(data + start, stop - start, mark, (void *)(uintptr_t)T_SUPERSEDED);
		add_line(&b, d, 0);
		assert_int_equal(dsync_buf_put(&b, data + stop, len - stop), 0);
		note("dev%u edit '%s': replace the line at byte %zu", d, rel, start);
	} else if (how < 7) {
		add_line(&b, d, 0);
		assert_int_equal(dsync_buf_put(&b, data + start, len - start), 0);
		note("dev%u edit '%s': insert a line at byte %zu", d, rel, start);
	} else {
		assert_int_equal(dsync_buf_put(&b, data + start, len - start), 0);
		if (b.len && b.ptr[b.len - 1] != '\n')
			assert_int_equal(dsync_buf_puts(&b, "\n"), 0);
		add_line(&b, d, 0);
		note("dev%u edit '%s': append a line", d, rel);
	}
	write_all(abs, b.ptr, b.len);
	dsync_buf_dispose(&b);
	free(data);
}

static void op_edit(unsigned d)
{
	char rel[1024];

	if (!pick_file(rel, sizeof(rel), d, 0)) {
		create_text(d);
		return;
	}
	edit_text(d, rel);
}

static void op_delete(unsigned d)
{
	char rel[1024], abs[1024];
	struct stat st;
	size_t len;
	char *data;

	if (!pick_file(rel, sizeof(rel), d, -1)) {
		note("dev%u delete: no file", d);
		return;
	}
	path_of(abs, sizeof(abs), d, rel);
	assert_int_equal(lstat(abs, &st), 0);
	data = read_all(abs, &len, &st);
	each_token(data, len, mark, (void *)(uintptr_t)T_SUPERSEDED);
	free(data);
	assert_int_equal(unlink(abs), 0);
	remove_empty_parents(d, rel);
	note("dev%u delete '%s'", d, rel);
}

static void op_rename(unsigned d)
{
	static const char *const folders[] = { "", "docs/", "docs/deep/", "notes/" };
	char rel[1024], from[1024], to[1024], fresh[64];
	const char *dest;
	bool bin;

	if (!pick_file(rel, sizeof(rel), d, -1)) {
		note("dev%u rename: no file", d);
		return;
	}
	bin = is_bin(rel);
	dest = bin ? bin_names[pick(DSYNC_ARRAY_SIZE(bin_names))] : text_names[pick(DSYNC_ARRAY_SIZE(text_names))];
	if (!can_create(d, dest)) {
		/* the name from the pool is taken: a new one, in some folder */
		snprintf(fresh, sizeof(fresh), "%smoved-%lu%s", folders[pick(DSYNC_ARRAY_SIZE(folders))], op,
			 bin ? ".bin" : ".txt");
		dest = fresh;
	}
	if (!can_create(d, dest)) {
		note("dev%u rename '%s' to '%s': in the way, skipped", d, rel, dest);
		stats.skipped++;
		return;
	}
	path_of(from, sizeof(from), d, rel);
	path_of(to, sizeof(to), d, dest);
	make_parents(d, dest);
	if (rename(from, to) < 0)
		FAIL("cannot rename '%s' to '%s': %s", from, to, strerror(errno));
	remove_empty_parents(d, rel);
	note("dev%u rename '%s' to '%s'", d, rel, dest);
}

/* Creates or overwrites a binary file: bytes with NULs, no letters or
 * digits but the token's. */
static void op_binary(unsigned d)
{
	const char *rel = bin_names[pick(DSYNC_ARRAY_SIZE(bin_names))];
	dsync_buf b = DSYNC_BUF_INIT;
	char abs[1024];
	struct stat st;
	size_t i, n = 8 + pick(120), t;

	path_of(abs, sizeof(abs), d, rel);
	if (lstat(abs, &st) == 0 && S_ISREG(st.st_mode)) {
		size_t len;
		char *data = read_all(abs, &len, &st);

		each_token(data, len, mark, (void *)(uintptr_t)T_SUPERSEDED);
		free(data);
		note("dev%u overwrite the binary '%s'", d, rel);
	} else if (!can_create(d, rel)) {
		note("dev%u binary '%s': in the way, skipped", d, rel);
		stats.skipped++;
		return;
	} else {
		make_parents(d, rel);
		note("dev%u create the binary '%s'", d, rel);
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pick(16);

		c = c < 8 ? c : (unsigned char)(0x80 + pick(128));
		assert_int_equal(dsync_buf_put(&b, (const char *)&c, 1), 0);
	}
	t = new_token(d, true);
	assert_int_equal(dsync_buf_printf(&b, "tok%zu-d%u-op%lu-bin", t, d, op), 0);
	assert_int_equal(dsync_buf_put(&b, "\0\0\xff", 3), 0);
	write_all(abs, b.ptr, b.len);
	dsync_buf_dispose(&b);
}

static void op_chmod(unsigned d)
{
	char rel[1024], abs[1024];
	struct stat st;

	if (!pick_file(rel, sizeof(rel), d, -1)) {
		note("dev%u chmod: no file", d);
		return;
	}
	path_of(abs, sizeof(abs), d, rel);
	assert_int_equal(lstat(abs, &st), 0);
	assert_int_equal(chmod(abs, (st.st_mode & S_IXUSR) ? 0644 : 0755), 0);
	note("dev%u chmod %s '%s'", d, (st.st_mode & S_IXUSR) ? "-x" : "+x", rel);
}

static void op_snapshot(unsigned d)
{
	dsync_snapshot_options o = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result r;
	char what[64];

	o.allow_mass_delete = true;
	memset(&r, 0, sizeof(r));
	if (dsync_snapshot_take(&r, dev[d], &o) < 0)
		FAIL("snapshot on device %u: %s", d, dsync_error_last());
	note("dev%u snapshot: %s %.12s", d, r.committed ? "committed" : "unchanged", r.commit);
	stats.snapshots++;
	if (r.committed)
		stats.commits++;
	snprintf(heads[d], sizeof(heads[d]), "%s", r.commit);
	add_version(r.commit);
	mark_worktree(d, T_COMMITTED);
	snprintf(what, sizeof(what), "after the snapshot at op %lu", op);
	check_worktree(d, heads[d], what);
}

/* Whether commit A is B or has B in its history. */
static bool contains(const char *a, const char *b)
{
	git_oid x, y;
	int r;

	assert_int_equal(git_oid_fromstr(&x, a), 0);
	assert_int_equal(git_oid_fromstr(&y, b), 0);
	if (git_oid_equal(&x, &y))
		return true;
	r = git_graph_descendant_of(repo, &x, &y);
	assert_true(r >= 0);
	return r == 1;
}

/* Device D snapshots, then merges the heads of the devices in the bit set
 * WHO (those that have one). */
static void op_merge(unsigned d, unsigned who)
{
	dsync_merge_outcome out;
	const char *revs[DEVICES];
	char before[41], what[96], list[64] = "";
	size_t n = 0, i;

	op_snapshot(d);
	for (i = 0; i < DEVICES; i++) {
		if (i == d || !(who & (1u << i)) || !heads[i][0])
			continue;
		revs[n++] = heads[i];
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " dev%zu", i);
	}
	if (!n)
		return;
	snprintf(before, sizeof(before), "%s", heads[d]);
	memset(&out, 0, sizeof(out));
	if (dsync_merge_revs(&out, dev[d], revs, n, NULL) < 0)
		FAIL("merge on device %u of%s: %s", d, list, dsync_error_last());
	note("dev%u merge%s: %.12s%s%s, %zu conflicts, %zu written, %zu removed", d, list, out.head,
	     !out.merged ? " (had them)" : "", out.fast_forward ? " (fast-forward)" : "", out.conflicts,
	     out.written, out.removed);
	stats.merges++;
	stats.conflicts += out.conflicts;
	if (out.merged && out.fast_forward)
		stats.fast_forwards++;
	else if (out.merged)
		stats.merge_commits++;
	if (strlen(out.head) != 40)
		FAIL("merge on device %u of%s: the outcome's head is '%s'", d, list, out.head);
	snprintf(heads[d], sizeof(heads[d]), "%s", out.head);
	add_version(out.head);
	snprintf(what, sizeof(what), "after device %u merged%s at op %lu", d, list, op);
	if (before[0] && !contains(out.head, before))
		FAIL("%s: the new head %s lost the old one %s", what, out.head, before);
	for (i = 0; i < n; i++)
		if (!contains(out.head, revs[i]))
			FAIL("%s: the new head %s does not contain the merged %s", what, out.head, revs[i]);
	check_worktree(d, heads[d], what);
	check_status(d, what);
}

static void step(void)
{
	unsigned d = (unsigned)pick(DEVICES);
	unsigned r = (unsigned)pick(100);
	unsigned advance = (unsigned)pick(6);

	/* some operations share a second, so commit times tie */
	fake_now += advance < 2 ? 0 : advance < 5 ? 1 : 90;
	if (r < 12)
		create_text(d);
	else if (r < 34)
		op_edit(d);
	else if (r < 41)
		op_delete(d);
	else if (r < 47)
		op_rename(d);
	else if (r < 53)
		op_binary(d);
	else if (r < 56)
		op_chmod(d);
	else if (r < 75)
		op_snapshot(d);
	else
		op_merge(d, 1 + (unsigned)pick((1u << DEVICES) - 1));
}

static int cmp_oid(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* (a): every recorded version is in the history of HEAD. */
static void check_reachable(const char *hex)
{
	git_oid *all = NULL, id;
	size_t n = 0, cap = 0, i, missing = 0;
	git_revwalk *walk;
	char s[GIT_OID_HEXSZ + 1];

	assert_int_equal(git_revwalk_new(&walk, repo), 0);
	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	assert_int_equal(git_revwalk_push(walk, &id), 0);
	while (git_revwalk_next(&id, walk) == 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			all = realloc(all, cap * sizeof(*all));
			assert_non_null(all);
		}
		all[n++] = id;
	}
	git_revwalk_free(walk);
	assert_true(n > 0);
	qsort(all, n, sizeof(*all), cmp_oid);
	for (i = 0; i < nversions; i++) {
		if (bsearch(&versions[i], all, n, sizeof(*all), cmp_oid))
			continue;
		print_message("  %s is not in the history of the head\n", git_oid_tostr(s, sizeof(s), &versions[i]));
		missing++;
	}
	free(all);
	if (missing)
		FAIL("%zu of %zu recorded versions are not in the history of the final head %s", missing, nversions, hex);
}

/* (c) and the names: every snapshotted token that nothing superseded is in
 * some file of HEX's tree; no .dsync, no copy of a copy, no markers. */
static void check_final_tree(const char *hex)
{
	entries tree;
	size_t i, lost = 0, live = 0;

	list_tree(&tree, hex);
	for (i = 0; i < tree.n; i++) {
		const char *p = tree.v[i].path, *c;
		git_blob *blob;
		size_t copies = 0;

		for (c = p; (c = strstr(c, ".sync-conflict-")) != NULL; c++)
			copies++;
		if (copies > 1)
			FAIL("'%s' in the final tree is a conflict copy of a conflict copy", p);
		for (c = p; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
			if (!strncasecmp(c, DSYNC_DIR, strlen(DSYNC_DIR)) &&
			    (c[strlen(DSYNC_DIR)] == '/' || !c[strlen(DSYNC_DIR)]))
				FAIL("'%s' in the final tree has a .dsync component", p);
		assert_int_equal(git_blob_lookup(&blob, repo, &tree.v[i].id), 0);
		each_token(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), mark, (void *)(uintptr_t)T_SEEN);
		if (!git_blob_is_binary(blob) &&
		    (memmem(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), "<<<<<<<", 7) ||
		     memmem(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), ">>>>>>>", 7)))
			FAIL("'%s' in the final tree holds conflict markers", p);
		git_blob_free(blob);
	}
	for (i = 0; i < ntokens; i++) {
		uint8_t fl = tokens[i].flags;

		if (!(fl & T_COMMITTED) || (fl & T_SUPERSEDED))
			continue;
		live++;
		if (fl & T_SEEN)
			continue;
		if (lost++ < 20)
			print_message("  lost: tok%zu (%s, written by dev%u at op %u)\n", i,
				      (fl & T_BINARY) ? "binary" : "a line", tokens[i].dev, tokens[i].op);
	}
	print_message("final tree: %zu files; %zu tokens written, %zu snapshotted and not superseded\n", tree.n,
		      ntokens, live);
	entries_dispose(&tree);
	if (lost)
		FAIL("%zu snapshotted, never superseded contents are in no file of the final tree %s", lost, hex);
}

static int setup(void **state)
{
	char path[1024];
	unsigned d, e;
	FILE *fp;

	(void)state;
	if (getenv("DSYNC_PROP_SEED"))
		seed = strtoull(getenv("DSYNC_PROP_SEED"), NULL, 10);
	if (getenv("DSYNC_PROP_OPS"))
		nops = strtoul(getenv("DSYNC_PROP_OPS"), NULL, 10);
	verbose = getenv("DSYNC_PROP_VERBOSE") != NULL;
	rng = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
	if (!rng)
		rng = 1;
	fake_now = T0;
	/* folder registration goes to the test's own config directory */
	sandbox_open("prop", SANDBOX_LIB | SANDBOX_CONFIG);
	for (d = 0; d < DEVICES; d++) {
		char name[40];
		git_config *c;

		snprintf(dev_dir[d], sizeof(dev_dir[d]), "%s/dev%u", sandbox_dir, d);
		snprintf(name, sizeof(name), "dev%u", d);
		if (dsync_folder_init(&dev[d], dev_dir[d], name) < 0)
			fail_msg("init dev%u: %s", d, dsync_error_last());
		/* the folder's root as the library sees it (symlinks resolved) */
		snprintf(dev_dir[d], sizeof(dev_dir[d]), "%s", dsync_folder_root(dev[d]));
		dsync_folder_free(dev[d]);
		dev[d] = NULL;
		/* fixed device ids, so that runs repeat */
		snprintf(path, sizeof(path), "%s/" DSYNC_DIR "/config", dev_dir[d]);
		assert_int_equal(git_config_open_ondisk(&c, path), 0);
		snprintf(name, sizeof(name), "%032x", 0xd0 + d);
		assert_int_equal(git_config_set_string(c, "dsync.deviceId", name), 0);
		git_config_free(c);
		heads[d][0] = '\0';
	}
	/* each store reads the others' objects, as if it had fetched them */
	for (d = 0; d < DEVICES; d++) {
		snprintf(path, sizeof(path), "%s/" DSYNC_DIR "/objects/info", dev_dir[d]);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/" DSYNC_DIR "/objects/info/alternates", dev_dir[d]);
		assert_non_null(fp = fopen(path, "w"));
		for (e = 0; e < DEVICES; e++)
			if (e != d)
				fprintf(fp, "%s/" DSYNC_DIR "/objects\n", dev_dir[e]);
		assert_int_equal(fclose(fp), 0);
	}
	for (d = 0; d < DEVICES; d++)
		if (dsync_folder_open(&dev[d], dev_dir[d]) < 0)
			fail_msg("open dev%u: %s", d, dsync_error_last());
	snprintf(path, sizeof(path), "%s/" DSYNC_DIR, dev_dir[0]);
	assert_int_equal(git_repository_open(&repo, path), 0);
	return 0;
}

static int teardown(void **state)
{
	unsigned d;

	(void)state;
	git_repository_free(repo);
	for (d = 0; d < DEVICES; d++)
		dsync_folder_free(dev[d]);
	free(tokens);
	free(versions);
	fake_now = 0;
	if (getenv("DSYNC_PROP_KEEP")) {
		print_message("kept %s\n", sandbox_dir);
		return 0;
	}
	sandbox_close();
	return 0;
}

static void test_property(void **state)
{
	struct timespec t0, t1;
	unsigned round, d;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	print_message("seed %llu, %lu operations, in %s\n", (unsigned long long)seed, nops, sandbox_dir);
	for (op = 0; op < nops; op++)
		step();

	/* editing stops: two rounds, each device merging both others */
	for (round = 0; round < 2; round++) {
		for (d = 0; d < DEVICES; d++) {
			fake_now += 1;
			op_merge(d, (1u << DEVICES) - 1);
			op++;
		}
	}
	for (d = 1; d < DEVICES; d++)
		if (strcmp(heads[d], heads[0]) != 0)
			FAIL("(b) after two rounds the heads differ: dev0 %s, dev%u %s", heads[0], d, heads[d]);
	if (!heads[0][0])
		FAIL("no device has a head after %lu operations", nops);
	for (d = 0; d < DEVICES; d++) {
		check_worktree(d, heads[0], "(b) at the end");
		check_status(d, "(b) at the end");
	}
	check_reachable(heads[0]);
	check_final_tree(heads[0]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%lu snapshots (%lu commits), %lu merges (%lu merge commits, %lu fast-forwards), "
		      "%lu conflict copies made, %lu operations skipped; %zu versions; %.1f s\n",
		      stats.snapshots, stats.commits, stats.merges, stats.merge_commits, stats.fast_forwards,
		      stats.conflicts, stats.skipped, nversions,
		      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_property, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
