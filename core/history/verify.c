/*
 * Verifying the local history (see verify.h): one walk from every ref over
 * every version, folder, file and chunk, each object read once.  libgit2
 * checks an object's hash whenever it reads it from disk (strict hash
 * verification, on by default and set again in dsync_lib_git_init), so a read
 * that succeeds is a check that succeeds; a read that fails names the
 * object.  Pack indexes are checked against their packs first, because
 * libgit2 silently skips a pack whose index is missing or unreadable, which
 * would show only as missing objects.
 */
#include "core/base/internal.h"
#include "core/history/verify.h"
#include "core/history/head.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/loose.h"
#include "core/base/oidset.h"
#include "core/base/path.h"
#include "core/base/sha1.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct pending {
	git_oid id;
	git_oid child;           /* the version that names it as parent */
	size_t ref;              /* else the ref that names it (index in refs) */
} pending;

typedef struct verify {
	dsync_check_result *out;
	dsync_transfer_cb progress;
	void *payload;
	dsync_folder *f;
	git_odb *odb;
	dsync_oidset seen;
	dsync_oidset damaged;    /* loose files that are not their object whole */
	dsync_buf path;          /* stored path of the folder being walked */
	const git_oid *version;  /* the version being walked */
	size_t missing;          /* problems that are missing objects */
	dsync_strlist problems;  /* the text of the first DSYNC_CHECK_LISTED (then OUT's) */
	dsync_strlist refs;
	DSYNC_ARRAY(pending) stack;
	dsync_strlist pack_notes; /* packs without an index (told when objects are missing) */
	size_t last_progress;
	int error;               /* a callback's */
} verify;

#define NO_REF ((size_t)-1)

/* Records one problem (formatted as printf); only the first
 * DSYNC_CHECK_LISTED are kept as text. */
static int problem(verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int problem(verify *v, const char *fmt, ...)
{
	va_list ap;
	char line[8192];
	int error;

	if (v->out->nproblems >= DSYNC_CHECK_LISTED) {
		v->out->nproblems++;
		return 0;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if ((error = dsync_strlist_add(&v->problems, line)) == 0)
		v->out->nproblems++;
	return error;
}

static void tell_progress(verify *v, bool done)
{
	dsync_transfer t = { "history", NULL, v->out->objects, 0, 0, 0, done };

	if (!v->progress || (!done && v->out->objects - v->last_progress < 4096))
		return;
	v->last_progress = v->out->objects;
	v->progress(&t, v->payload);
}

/* "missing", or "damaged" with libgit2's words in WHY (": ..."), for a
 * read of ID that failed with ERR. */
static const char *verdict(verify *v, int err, const git_oid *id, char *why, size_t size)
{
	const git_error *ge = git_error_last();

	snprintf(why, size, ": %s", ge && ge->message ? ge->message : "unreadable");
	/* a lookup of the wrong type says "not found" too: only an object
	 * that is not there at all is missing */
	if (err == GIT_ENOTFOUND && !git_odb_exists(v->odb, id)) {
		v->missing++;
		*why = '\0';
		return "missing";
	}
	return "damaged";
}

/* Whether ID's loose file is damaged (never to be read by libgit2, which
 * loops forever on one cut short); if so, *ERR and libgit2's last error
 * say so, for verdict(). */
static bool damaged_loose(verify *v, const git_oid *id, int *err)
{
	if (!dsync_oidset_has(&v->damaged, id))
		return false;
	git_error_set_str(GIT_ERROR_ODB, "its loose file is cut short or damaged (a power cut?); 'dsync gc' moves it "
					 "aside");
	*err = GIT_ERROR;
	return true;
}

/* The path being walked, as on disk, in quotes' worth of text. */
static const char *shown_path(dsync_buf *shown, const char *stored)
{
	dsync_buf_truncate(shown, 0);
	if (dsync_path_unescape(shown, stored, false) < 0)
		return stored;
	return dsync_buf_cstr(shown);
}

static int object_problem(verify *v, const char *kind, const git_oid *id, int err, size_t chunk_at)
{
	dsync_buf shown = DSYNC_BUF_INIT;
	char hex[DSYNC_OID_HEX_SIZE], ver[9], why[600];
	const char *what = verdict(v, err, id, why, sizeof(why));
	const char *p = dsync_buf_cstr(&v->path);
	int error;

	git_oid_tostr(hex, sizeof(hex), id);
	git_oid_tostr(ver, sizeof(ver), v->version);
	if (chunk_at != NO_REF) {
		char *file = strndup(p, chunk_at);

		if (!file)
			return dsync_error_oom();
		error = problem(v, "%s: chunk '%s' of the big file '%s' (%s %s) in version %s%s", what,
				p + chunk_at + 1, shown_path(&shown, file), kind, hex, ver, why);
		free(file);
	} else if (!*p) {
		error = problem(v, "%s: the top folder (tree %s) of version %s%s", what, hex, ver, why);
	} else {
		error = problem(v, "%s: %s '%s' (%s %s) in version %s%s", what,
				strcmp(kind, "tree") == 0 ? "folder" : "file", shown_path(&shown, p), kind, hex, ver, why);
	}
	dsync_buf_dispose(&shown);
	return error;
}

/*
 * Reads every object below tree ID not seen yet; v->path is its stored
 * path.  CHUNK_AT: where, in v->path, the big file being walked ends
 * (NO_REF outside one).
 */
static int walk_tree(verify *v, const git_oid *id, size_t chunk_at)
{
	git_tree *t = NULL;
	size_t i, n, len = v->path.len;
	int err, error;

	if ((error = dsync_oidset_add(&v->seen, id)) <= 0)
		return error;
	if (damaged_loose(v, id, &err) || (err = git_tree_lookup(&t, v->f->repo, id)) < 0)
		return object_problem(v, "tree", id, err, chunk_at);
	v->out->objects++;
	if (chunk_at == NO_REF && git_tree_entry_byname(t, DSYNC_CHUNKS_NAME))
		chunk_at = len;
	n = git_tree_entrycount(t);
	for (i = 0, error = 0; i < n && error == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_oid *eid = git_tree_entry_id(e);
		git_object_t type = git_tree_entry_type(e);
		git_odb_object *obj = NULL;

		if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB)
			continue;   /* a link to another repository: none in dsync's trees */
		if (type == GIT_OBJECT_BLOB && (error = dsync_oidset_add(&v->seen, eid)) <= 0)
			continue;
		if ((error = len ? dsync_buf_printf(&v->path, "/%s", git_tree_entry_name(e))
				 : dsync_buf_puts(&v->path, git_tree_entry_name(e))) < 0)
			break;
		if (type == GIT_OBJECT_TREE) {
			error = walk_tree(v, eid, chunk_at);
		} else if (damaged_loose(v, eid, &err) || (err = git_odb_read(&obj, v->odb, eid)) < 0) {
			error = object_problem(v, "blob", eid, err, chunk_at);
		} else {
			git_odb_object_free(obj);
			v->out->objects++;
			tell_progress(v, false);
		}
		dsync_buf_truncate(&v->path, len);
	}
	git_tree_free(t);
	return error;
}

static int push(verify *v, const git_oid *id, const git_oid *child, size_t ref)
{
	pending p = { .id = *id, .ref = ref };

	if (child)
		p.child = *child;
	return dsync_array_push(v->stack, p) < 0 ? dsync_error_oom() : 0;
}

/* Walks every version reachable from what is on the stack. */
static int walk_versions(verify *v)
{
	int err, error = 0;

	while (v->stack.size && error == 0) {
		pending p = v->stack.ptr[--v->stack.size];
		git_commit *c = NULL;
		char hex[DSYNC_OID_HEX_SIZE], child[9], why[600];
		size_t i;

		if ((error = dsync_oidset_add(&v->seen, &p.id)) <= 0)
			continue;
		if (damaged_loose(v, &p.id, &err) || (err = git_commit_lookup(&c, v->f->repo, &p.id)) < 0) {
			const char *what = verdict(v, err, &p.id, why, sizeof(why));

			git_oid_tostr(hex, sizeof(hex), &p.id);
			git_oid_tostr(child, sizeof(child), &p.child);
			error = p.ref != NO_REF
					? problem(v, "%s: version %s, the head named by %s%s", what, hex, v->refs.ptr[p.ref], why)
					: problem(v, "%s: version %s (a parent of version %s)%s", what, hex, child, why);
			continue;
		}
		v->out->objects++;
		v->out->versions++;
		v->version = &p.id;
		dsync_buf_truncate(&v->path, 0);
		error = walk_tree(v, git_commit_tree_id(c), NO_REF);
		/* the first parent on top, so a line of versions is walked in order */
		for (i = git_commit_parentcount(c); i > 0 && error == 0; i--)
			error = push(v, git_commit_parent_id(c, (unsigned int)(i - 1)), &p.id, NO_REF);
		git_commit_free(c);
	}
	return error;
}

typedef struct ref_scan {
	verify *v;
	size_t prefix;           /* the git directory's length, with the slash */
} ref_scan;

/* Lists one loose ref (a file under refs/; a leftover lock is none). */
static int loose_ref_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	ref_scan *s = payload;
	size_t len = strlen(name);

	if (is_dir || (len > 5 && strcmp(name + len - 5, ".lock") == 0))
		return 0;
	s->v->error = dsync_strlist_add(&s->v->refs, path + s->prefix);
	return s->v->error < 0 ? 1 : 0;
}

static bool listed(const verify *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->refs.size; i++)
		if (strcmp(v->refs.ptr[i], name) == 0)
			return true;
	return false;
}

/* Lists the refs of packed-refs not listed already (a loose ref hides its
 * packed one); a line that is not "ID NAME" is a problem. */
static int packed_refs(verify *v)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char *line = NULL;
	size_t cap = 0, no = 0;
	ssize_t len;
	FILE *fp;
	int error;

	if ((error = dsync_buf_printf(&path, "%s/packed-refs", v->f->gitdir)) < 0)
		goto out;
	if (!(fp = fopen(path.ptr, "re"))) {
		if (errno != ENOENT)
			error = problem(v, "damaged: '%s' can't be read (%s)", path.ptr, strerror(errno));
		goto out;
	}
	while (error == 0 && (len = getline(&line, &cap, fp)) >= 0) {
		git_oid id;

		no++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (line[0] == '#' || (line[0] == '^' && len == GIT_OID_HEXSZ + 1))
			continue;
		if (len <= GIT_OID_HEXSZ + 1 || line[GIT_OID_HEXSZ] != ' ' || git_oid_fromstrn(&id, line, GIT_OID_HEXSZ) < 0 ||
		    strncmp(line + GIT_OID_HEXSZ + 1, "refs/", 5) != 0)
			error = problem(v, "damaged: line %zu of '%s' is not a ref ('%.60s'); the refs it holds "
					   "can't be read", no, path.ptr, line);
		else if (!listed(v, line + GIT_OID_HEXSZ + 1))
			error = dsync_strlist_add(&v->refs, line + GIT_OID_HEXSZ + 1);
	}
	fclose(fp);
out:
	free(line);
	dsync_buf_dispose(&path);
	return error;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fix for a lost or unreadable refs/heads/main, from the last head the
 * folder remembers (the reflog, else dsync-head), into OUT. */
static void main_fix(verify *v, char *out, size_t size)
{
	char hex[DSYNC_OID_HEX_SIZE];
	git_oid id;

	if (!dsync_history_last_head(&id, v->f->repo))
		snprintf(out, size, "no record of its last snapshot is left");
	else if (git_oid_tostr(hex, sizeof(hex), &id), git_odb_exists(v->odb, &id))
		snprintf(out, size, "its last snapshot %s is still there: 'git --git-dir=%s update-ref "
			 "refs/heads/main %s' puts it back", hex, v->f->gitdir, hex);
	else
		snprintf(out, size, "its last snapshot %s is gone too", hex);
}

/*
 * Pushes the target of every ref: every file under refs/ and every line of
 * packed-refs, read from disk (libgit2's listing skips a loose ref it can't
 * parse, so an emptied refs/heads/main would pass unseen).  A ref that
 * can't be read is a problem.
 */
static int push_refs(verify *v)
{
	dsync_buf dir = DSYNC_BUF_INIT;
	ref_scan s = { v, strlen(v->f->gitdir) + 1 };
	git_oid *ids = NULL;
	char fix[1024];
	size_t i;
	int err, error;

	v->error = 0;
	if ((error = dsync_buf_printf(&dir, "%s/refs", v->f->gitdir)) < 0)
		goto out;
	dsync_path_walk(dir.ptr, 32, loose_ref_cb, &s);
	if ((error = v->error) < 0 || (error = packed_refs(v)) < 0)
		goto out;
	if (v->refs.size)
		qsort(v->refs.ptr, v->refs.size, sizeof(*v->refs.ptr), cmp_str);
	if (v->refs.size && !(ids = calloc(v->refs.size, sizeof(*ids)))) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < v->refs.size && error == 0; i++) {
		const char *name = v->refs.ptr[i];
		char why[512];

		git_error_clear();
		if ((err = git_reference_name_to_id(&ids[i], v->f->repo, name)) >= 0)
			continue;
		memset(&ids[i], 0, sizeof(ids[i]));
		snprintf(why, sizeof(why), "%s", git_error_last() ? git_error_last()->message : "not a ref");
		if (strcmp(name, "refs/heads/main") == 0) {
			v->missing++;
			main_fix(v, fix, sizeof(fix));
			error = problem(v, "damaged: refs/heads/main, the ref of this device's history, can't be read "
					   "(%s); %s", why, fix);
		} else {
			error = problem(v, "damaged: the ref %s can't be read (%s)", name, why);
		}
	}
	/* pushed in reverse, so that refs/heads/main (sorted before
	 * refs/remotes/) is walked first and names the problems it meets */
	for (i = v->refs.size; i > 0 && error == 0; i--)
		if (!git_oid_is_zero(&ids[i - 1]))
			error = push(v, &ids[i - 1], NULL, i - 1);
out:
	free(ids);
	dsync_buf_dispose(&dir);
	return error;
}

/* The main branch is gone although a snapshot was recorded (the reflog or
 * dsync-head names one): the history was lost. */
static int check_main(verify *v)
{
	char fix[1024];
	git_oid id;

	if (git_reference_name_to_id(&id, v->f->repo, "refs/heads/main") != GIT_ENOTFOUND ||
	    !dsync_history_last_head(&id, v->f->repo))
		return 0;
	v->missing++;
	main_fix(v, fix, sizeof(fix));
	return problem(v, "missing: refs/heads/main, the ref of this device's history: the history is lost; %s", fix);
}

/* ---- pack indexes ------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Why the index IDX (of pack PACK) can't be used, or NULL when it can:
 * its header, size and checksum, and the pack's header and checksum. */
static const char *idx_fault(const char *idx, const char *pack)
{
	unsigned char head[8 + 1024], buf[65536], sum[20], trailer[40], pack_head[12], pack_sum[20];
	const char *fault = NULL;
	dsync_sha1 ctx;
	struct stat st, pst;
	uint64_t n, min, left;
	int fd, pfd = -1;

	if ((fd = open(idx, O_RDONLY | O_CLOEXEC)) < 0)
		return "unreadable";
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(head) + 40 ||
	    pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head)) {
		fault = "truncated";
		goto out;
	}
	if (memcmp(head, "\377tOc", 4) != 0 || be32(head + 4) != 2) {
		fault = "not a version 2 pack index";
		goto out;
	}
	n = be32(head + 8 + 255 * 4);
	min = sizeof(head) + n * 28 + 40;
	if ((uint64_t)st.st_size < min || ((uint64_t)st.st_size - min) % 8 || ((uint64_t)st.st_size - min) / 8 > n) {
		fault = "truncated";
		goto out;
	}
	dsync_sha1_init(&ctx);
	for (left = (uint64_t)st.st_size - 20; left;) {
		ssize_t r = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

		if (r <= 0) {
			fault = "unreadable";
			goto out;
		}
		dsync_sha1_update(&ctx, buf, (size_t)r);
		left -= (uint64_t)r;
	}
	dsync_sha1_final(&ctx, sum);
	if (pread(fd, trailer, sizeof(trailer), st.st_size - 40) != (ssize_t)sizeof(trailer) ||
	    memcmp(sum, trailer + 20, 20) != 0) {
		fault = "its checksum does not match its contents";
		goto out;
	}
	if ((pfd = open(pack, O_RDONLY | O_CLOEXEC)) < 0 || fstat(pfd, &pst) < 0 ||
	    (size_t)pst.st_size < sizeof(pack_head) + 20 ||
	    pread(pfd, pack_head, sizeof(pack_head), 0) != (ssize_t)sizeof(pack_head) ||
	    pread(pfd, pack_sum, sizeof(pack_sum), pst.st_size - 20) != (ssize_t)sizeof(pack_sum)) {
		fault = "its pack is unreadable or truncated";
		goto out;
	}
	if (memcmp(pack_head, "PACK", 4) != 0 || be32(pack_head + 8) != n || memcmp(pack_sum, trailer, 20) != 0)
		fault = "it does not match its pack (the pack is damaged or replaced)";
out:
	if (pfd >= 0)
		close(pfd);
	close(fd);
	return fault;
}

typedef struct pack_scan {
	verify *v;
	int error;
} pack_scan;

static int pack_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	pack_scan *s = payload;
	verify *v = s->v;
	size_t len = strlen(name);
	dsync_buf idx = DSYNC_BUF_INIT;
	struct stat st;
	const char *fault;

	if (is_dir || len < 6 || strncmp(name, "pack-", 5) != 0 || strcmp(name + len - 5, ".pack") != 0)
		return 0;
	if ((s->error = dsync_buf_put(&idx, path, strlen(path) - 5)) < 0 || (s->error = dsync_buf_puts(&idx, ".idx")) < 0)
		goto out;
	if (stat(idx.ptr, &st) < 0 && errno == ENOENT) {
		/* harmless after a crash while the pack was being written (its
		 * objects are still loose): told only when objects are missing */
		s->error = dsync_strlist_addf(&v->pack_notes,
				"missing: the index of the pack '%s', so its objects can't be read; rebuild it "
				"with 'git --git-dir=%s index-pack %s'", name, v->f->gitdir, path);
	} else if ((fault = idx_fault(idx.ptr, path)) != NULL) {
		s->error = problem(v, "damaged: the index of the pack '%s' (%s); move '%s' away and rebuild it with "
				      "'git --git-dir=%s index-pack %s'", name, fault, idx.ptr, v->f->gitdir, path);
	}
out:
	dsync_buf_dispose(&idx);
	return s->error < 0 ? 1 : 0;
}

static int check_packs(verify *v)
{
	dsync_buf dir = DSYNC_BUF_INIT;
	pack_scan s = { v, 0 };
	int error;

	if ((error = dsync_buf_printf(&dir, "%s/objects/pack", v->f->gitdir)) == 0) {
		dsync_path_walk(dir.ptr, 0, pack_cb, &s);
		error = s.error;
	}
	dsync_buf_dispose(&dir);
	return error;
}

/* ---- loose objects ------------------------------------------------------ */

static int loose_cb(const git_oid *id, const char *path, void *payload)
{
	verify *v = payload;
	int error = dsync_loose_check(path, id);

	dsync_error_clear();   /* unreadable: the walk says so if it is needed */
	return error == DSYNC_ECORRUPT ? dsync_oidset_add(&v->damaged, id) < 0 : 0;
}

/* Reads every loose file with dsync's own reader before libgit2 reads any
 * (libgit2 1.5 loops forever on a loose object cut short): the walk tells
 * a damaged one where a version needs it, and never reads it. */
static int check_loose(verify *v)
{
	return dsync_loose_each(v->f->gitdir, 0, loose_cb, v) != 0 ? dsync_error_oom() : 0;
}

/* Tells the damaged loose files no version needs (the walk told the others). */
static int unreached_damaged(verify *v)
{
	char hex[DSYNC_OID_HEX_SIZE];
	size_t i;
	int error = 0;

	for (i = 0; i < v->damaged.cap && error == 0; i++)
		if (!git_oid_is_zero(&v->damaged.v[i]) && !dsync_oidset_has(&v->seen, &v->damaged.v[i]))
			error = problem(v, "damaged: the loose file of object %s, which no version needs, is cut short "
					   "(a power cut?); 'dsync gc' moves it aside",
					git_oid_tostr(hex, sizeof(hex), &v->damaged.v[i]));
	return error;
}

/* Puts the packs without an index first among the problems: they explain
 * the missing objects listed after them. */
static int put_first(verify *v)
{
	dsync_strlist all = DSYNC_STRLIST_INIT;
	size_t i;
	int error = 0;

	for (i = 0; i < v->pack_notes.size && all.size < DSYNC_CHECK_LISTED && !error; i++)
		error = dsync_strlist_add(&all, v->pack_notes.ptr[i]);
	for (i = 0; i < v->problems.size && all.size < DSYNC_CHECK_LISTED && !error; i++)
		error = dsync_strlist_add(&all, v->problems.ptr[i]);
	if (error < 0) {
		dsync_strlist_dispose(&all);
		return error;
	}
	dsync_strlist_dispose(&v->problems);
	v->problems = all;
	v->out->nproblems += v->pack_notes.size;
	return 0;
}

int dsync_verify_history(dsync_check_result *out, dsync_folder *f, dsync_transfer_cb progress, void *payload)
{
	verify v;
	int err, error, handed;

	memset(&v, 0, sizeof(v));
	v.out = out;
	v.progress = progress;
	v.payload = payload;
	v.f = f;
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((err = git_repository_odb(&v.odb, f->repo)) < 0)
		return dsync_error_git(err, "cannot read the history of '%s'", f->root);
	if ((error = check_packs(&v)) < 0 || (error = check_loose(&v)) < 0 || (error = check_main(&v)) < 0 ||
	    (error = push_refs(&v)) < 0 ||
	    (error = walk_versions(&v)) < 0 || (error = unreached_damaged(&v)) < 0)
		goto out;
	if (v.missing && v.pack_notes.size)
		error = put_first(&v);
	out->walked = error == 0;
	tell_progress(&v, true);
out:
	/* the problems' text to OUT, whatever happened (OUT's count says how
	 * many there are) */
	if ((handed = dsync_strlist_detach(&out->problems, NULL, &v.problems)) < 0) {
		out->nproblems = 0;
		if (error == 0)
			error = handed;
	}
	dsync_strlist_dispose(&v.problems);
	dsync_strlist_dispose(&v.refs);
	dsync_strlist_dispose(&v.pack_notes);
	dsync_array_dispose(v.stack);
	dsync_buf_dispose(&v.path);
	dsync_oidset_dispose(&v.seen);
	dsync_oidset_dispose(&v.damaged);
	git_odb_free(v.odb);
	return error;
}
