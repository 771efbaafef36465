/*
 * Browsing history: log, versions of a file (following renames), the
 * contents at a version, diffs, and "REV or WHEN" resolution.
 */
#include "core/base/internal.h"
#include "dsync/history.h"
#include "dsync/timespec.h"
#include "core/folder/folder.h"
#include "core/history/snapshot_internal.h"
#include "core/base/chunks.h"
#include "core/base/buf.h"
#include "core/base/path.h"
#include "core/base/strset.h"
#include "core/history/verify.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define TRAILER "Dsync-Device: "

/* A commit's info, with owned strings behind the public view. */
typedef struct info_store {
	dsync_commit_info pub;
	char *name, *id, *message;
} info_store;

static void info_dispose(info_store *s)
{
	dsync_changes_dispose(&s->pub.changes);
	free(s->name);
	free(s->id);
	free(s->message);
	memset(s, 0, sizeof(*s));
}

static int info_fill(info_store *s, git_commit *c)
{
	const git_signature *a = git_commit_author(c);
	const char *msg = git_commit_message(c), *t;
	size_t len;

	memset(s, 0, sizeof(*s));
	git_oid_tostr(s->pub.id, sizeof(s->pub.id), git_commit_id(c));
	s->pub.time = (int64_t)git_commit_time(c);
	s->pub.tz_offset = git_commit_time_offset(c);
	s->pub.parents = git_commit_parentcount(c);
	s->name = strdup(a && a->name ? a->name : "");
	/* the last trailer line is dsync's: one earlier in the message (a
	 * user's -m text, a file name with a newline) is only text */
	for (t = strstr(msg, "\n" TRAILER); t && strstr(t + 1, "\n" TRAILER);)
		t = strstr(t + 1, "\n" TRAILER);
	if (!t && strncmp(msg, TRAILER, strlen(TRAILER)) == 0)
		t = msg - 1;
	if (t) {
		const char *v = t + 1 + strlen(TRAILER);

		s->id = strndup(v, strcspn(v, "\n"));
		len = (size_t)(t + 1 - msg);
	} else {
		s->id = strdup("");
		len = strlen(msg);
	}
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	s->message = strndup(msg, len);
	if (!s->name || !s->id || !s->message)
		return dsync_error_oom();
	s->pub.device_name = s->name;
	s->pub.device_id = s->id;
	s->pub.message = s->message;
	return 0;
}

/* The stored form of the folder-relative PATH. */
static int stored_path(dsync_buf *out, const char *path, bool is_link)
{
	int error;

	dsync_buf_truncate(out, 0);
	if ((error = dsync_buf_puts(out, "")) < 0)
		return error;
	return dsync_path_escape(out, path, is_link);
}

/* The stored form of PATH as snapshots made it before ".dsync" in another
 * case was escaped: such components raw, the rest escaped.  1 when PATH
 * holds no such component (nothing to try). */
static int legacy_path(dsync_buf *out, const char *path)
{
	const char *c = path;
	bool any = false;
	int error = dsync_buf_puts(out, "");

	while (*c && error == 0) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		char *name = strndup(c, len);

		if (!name)
			return dsync_error_oom();
		if (dsync_path_name_is_dsync_legacy(name)) {
			any = true;
			error = dsync_buf_puts(out, name);
		} else {
			error = dsync_path_escape(out, name, false);
		}
		free(name);
		if (!slash)
			break;
		if (error == 0)
			error = dsync_buf_puts(out, "/");
		c = slash + 1;
	}
	return error < 0 ? error : any ? 0 : 1;
}

int dsync_tree_lookup(git_tree_entry **out, git_tree *tree, const char *path)
{
	dsync_buf p = DSYNC_BUF_INIT;
	int err = GIT_ENOTFOUND, error;

	*out = NULL;
	if ((error = stored_path(&p, path, false)) < 0)
		return error;
	if (tree)
		err = git_tree_entry_bypath(out, tree, p.ptr);
	if (err == GIT_ENOTFOUND && tree) {
		dsync_buf q = DSYNC_BUF_INIT;

		if (stored_path(&q, path, true) == 0 && strcmp(q.ptr, p.ptr) != 0) {
			err = git_tree_entry_bypath(out, tree, q.ptr);
			if (err == 0 && git_tree_entry_filemode(*out) != GIT_FILEMODE_LINK) {
				git_tree_entry_free(*out);
				*out = NULL;
				err = GIT_ENOTFOUND;
			}
		}
		dsync_buf_dispose(&q);
	}
	if (err == GIT_ENOTFOUND && tree) {
		dsync_buf q = DSYNC_BUF_INIT;

		if ((error = legacy_path(&q, path)) == 0)
			err = git_tree_entry_bypath(out, tree, q.ptr);
		dsync_buf_dispose(&q);
		if (error < 0) {
			dsync_buf_dispose(&p);
			return error;
		}
	}
	dsync_buf_dispose(&p);
	if (err == GIT_ENOTFOUND)
		return DSYNC_ENOTFOUND;
	return err < 0 ? dsync_error_git(err, "cannot read '%s'", path) : 0;
}

static int commit_tree(git_tree **out, git_repository *repo, const char *hex)
{
	git_oid oid;
	git_commit *c = NULL;
	int err;

	if ((err = git_oid_fromstr(&oid, hex)) < 0 || (err = git_commit_lookup(&c, repo, &oid)) < 0 ||
	    (err = git_commit_tree(out, c)) < 0) {
		git_commit_free(c);
		return dsync_error_git(err, "cannot read the version '%s'", hex);
	}
	git_commit_free(c);
	return 0;
}

static int head_walk(git_revwalk **out, git_repository *repo)
{
	git_oid head;
	int error = 0, err = git_revwalk_new(out, repo);

	if (err < 0)
		return dsync_error_git(err, "cannot walk history");
	git_revwalk_sorting(*out, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	/* "no snapshot yet" only when there never was one */
	if ((error = dsync_history_head(&head, repo)) < 0 || (error = dsync_history_versions_ok(repo, &head)) < 0 ||
	    (err = git_revwalk_push(*out, &head)) < 0) {
		git_revwalk_free(*out);
		*out = NULL;
		return error < 0 ? error : dsync_history_walk_error(repo, err);
	}
	return 0;
}

/* Whether S is LEN hex digits. */
static bool all_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

/*
 * Resolves the short id HEX (LEN hex digits, 4 to 39) among the folder's
 * snapshots: the commits reachable from this device's head and from every
 * other device's head as last fetched (refs/heads, refs/remotes).  Trees,
 * blobs and unreachable commits are not candidates, so a prefix that one
 * snapshot and a file's blob share still names the snapshot.  *OUT the one;
 * 0 (no error set) when none matches; DSYNC_EUSAGE when several do.
 */
static int resolve_short_id(git_oid *out, bool *found, git_repository *repo, const char *hex, size_t len,
			    const char *spec)
{
	git_revwalk *walk = NULL;
	git_oid want, oid;
	char q[DSYNC_QUOTE_SIZE];
	size_t matches = 0;
	int err, error = 0;

	*found = false;
	if ((err = git_oid_fromstrn(&want, hex, len)) < 0 || (err = git_revwalk_new(&walk, repo)) < 0 ||
	    ((err = git_revwalk_push_glob(walk, "refs/heads/*")) < 0 && err != GIT_ENOTFOUND) ||
	    ((err = git_revwalk_push_glob(walk, "refs/remotes/*")) < 0 && err != GIT_ENOTFOUND)) {
		error = dsync_error_git(err, "cannot walk history");
		goto out;
	}
	while ((err = git_revwalk_next(&oid, walk)) == 0) {
		if (git_oid_ncmp(&want, &oid, len) != 0)
			continue;
		if (++matches > 1) {
			error = dsync_error_set(DSYNC_EUSAGE, "'%s' matches more than one snapshot; give more digits",
						dsync_quote(q, spec));
			goto out;
		}
		git_oid_cpy(out, &oid);
	}
	if (err < 0 && err != GIT_ITEROVER) {
		error = dsync_error_git(err, "cannot walk history");
		goto out;
	}
	*found = matches == 1;
out:
	git_revwalk_free(walk);
	return error;
}

int dsync_history_resolve(char out[DSYNC_OID_HEX_SIZE], dsync_folder *f, const char *spec)
{
	git_object *obj = NULL, *peeled = NULL;
	git_revwalk *walk = NULL;
	dsync_buf full = DSYNC_BUF_INIT;
	git_oid oid;
	int64_t when;
	size_t base;
	char q[DSYNC_QUOTE_SIZE];
	bool found, hexid;
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	out[0] = '\0';
	if (!spec)
		spec = "HEAD";
	if (!*spec)
		return dsync_error_set(DSYNC_EUSAGE, "an empty version: give a snapshot id, HEAD~N or a time");
	dsync_quote(q, spec);
	/* a short id, alone or with ~N / ^N after it, among the snapshots only */
	base = strcspn(spec, "~^");
	hexid = base >= 4 && base <= GIT_OID_HEXSZ && all_hex(spec, base);
	/* fewer digits name no snapshot surely, whatever the history holds */
	if (base > 0 && base < 4 && all_hex(spec, base) && dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is too short for a snapshot id; give at least 4 hex digits", q);
	/* a whole id is taken as it is: any commit in the store (another
	 * device's head included) */
	if (hexid && base < GIT_OID_HEXSZ) {
		if ((error = resolve_short_id(&oid, &found, f->repo, spec, base, spec)) < 0)
			goto out;
		if (found) {
			char hex[DSYNC_OID_HEX_SIZE];

			git_oid_tostr(hex, sizeof(hex), &oid);
			if ((error = dsync_buf_printf(&full, "%s%s", hex, spec + base)) < 0)
				goto out;
			spec = full.ptr;
		} else if (dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "no snapshot has the id '%s'; 'dsync log' lists them", q);
			goto out;
		}
	}
	err = git_revparse_single(&obj, f->repo, spec);
	if (err == 0) {
		if ((err = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT)) < 0) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a snapshot", q);
			goto out;
		}
		git_oid_tostr(out, DSYNC_OID_HEX_SIZE, git_object_id(peeled));
		error = 0;
		goto out;
	}
	if (err == GIT_EAMBIGUOUS) {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' matches more than one snapshot; give more digits", q);
		goto out;
	}
	if (strcmp(spec, "HEAD") == 0) {
		/* none yet, or a damaged history */
		if ((error = dsync_history_head(&oid, f->repo)) == 0)
			error = dsync_error_set(DSYNC_ENOTFOUND, "there is no snapshot yet; run 'dsync snapshot'");
		goto out;
	}
	/* a version that is there, taken back further than the history goes */
	if (spec[base] && base > 0) {
		char *head = strndup(spec, base);
		git_object *o = NULL;
		bool there = head && git_revparse_single(&o, f->repo, head) == 0;
		const char *p = spec + base;

		git_object_free(o);
		free(head);
		/* only ~N and ^N steps (N optional) follow: else a bad version */
		while (*p == '~' || *p == '^')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
		if (there && *p) {
			error = dsync_error_set(DSYNC_EUSAGE,
				"bad version '%s': after HEAD or an id give steps back as ~N (HEAD~3)", q);
			goto out;
		}
		if (there) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "there is no snapshot '%s': the history is shorter", q);
			goto out;
		}
	}
	if (hexid && !spec[base] && dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "no snapshot has the id '%s'; 'dsync log' lists them", q);
		goto out;
	}
	/* neither a snapshot nor a time: a bad argument, as a bad --since is */
	if (dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0) {
		error = dsync_error_set(DSYNC_EUSAGE,
			"unknown version '%s'; give a snapshot id (from 'dsync log'), HEAD~N, or a time such as '2 hours ago'",
			q);
		goto out;
	}
	if ((error = head_walk(&walk, f->repo)) < 0)
		goto out;
	while ((err = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *c;

		if ((err = git_commit_lookup(&c, f->repo, &oid)) < 0)
			break;
		if ((int64_t)git_commit_time(c) <= when) {
			git_oid_tostr(out, DSYNC_OID_HEX_SIZE, &oid);
			git_commit_free(c);
			error = 0;
			goto out;
		}
		git_commit_free(c);
	}
	if (err < 0 && err != GIT_ITEROVER) {
		error = dsync_history_walk_error(f->repo, err);
		goto out;
	}
	error = dsync_error_set(DSYNC_ENOTFOUND, "there is no snapshot at or before '%s'", q);
out:
	git_revwalk_free(walk);
	git_object_free(obj);
	git_object_free(peeled);
	dsync_buf_dispose(&full);
	return error;
}

int dsync_history_when(int64_t *out, dsync_folder *f, const char *spec)
{
	size_t base = strcspn(spec, "~^");
	/* a time is a time; an id (hex digits), HEAD and anything with ~N or
	 * ^N is a version; else the time's error says what is wrong */
	bool version = (base > 0 && all_hex(spec, base)) || spec[base] || strcmp(spec, "HEAD") == 0;
	char hex[DSYNC_OID_HEX_SIZE];
	git_oid oid;
	git_commit *c = NULL;
	int err, error = 0;

	if (!(base >= 4 && all_hex(spec, base)) && (error = dsync_timespec_parse(out, spec, (int64_t)time(NULL))) == 0)
		return 0;
	if (!version)
		return error;
	if ((error = dsync_history_resolve(hex, f, spec)) < 0)
		return error;
	git_oid_fromstr(&oid, hex);
	if ((err = git_commit_lookup(&c, f->repo, &oid)) < 0)
		return dsync_error_git(err, "cannot read the version %.8s", hex);
	*out = (int64_t)git_commit_time(c);
	git_commit_free(c);
	return 0;
}

/* Fills S for commit C with its changes against the first parent, limited to
 * the stored path PATHSPEC when non-NULL. */
static int info_with_changes(info_store *s, git_repository *repo, git_commit *c,
			     const char *pathspec)
{
	git_commit *parent = NULL;
	git_tree *tree = NULL, *ptree = NULL;
	int err, error;

	if ((error = info_fill(s, c)) < 0)
		return error;
	if ((err = git_commit_tree(&tree, c)) < 0 ||
	    (git_commit_parentcount(c) > 0 &&
	     ((err = git_commit_parent(&parent, c, 0)) < 0 || (err = git_commit_tree(&ptree, parent)) < 0))) {
		error = dsync_error_git(err, "cannot read the snapshot %s", s->pub.id);
		goto out;
	}
	error = dsync_changes_between(&s->pub.changes, repo, ptree, tree, pathspec, DSYNC_RENAMES_EXACT);
out:
	git_tree_free(tree);
	git_tree_free(ptree);
	git_commit_free(parent);
	return error;
}

int dsync_history_log(dsync_folder *f, const dsync_log_options *o, dsync_commit_cb cb,
		      void *payload)
{
	git_revwalk *walk = NULL;
	dsync_buf spec = DSYNC_BUF_INIT;
	git_oid oid;
	size_t shown = 0;
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if (o->path && *o->path && (error = stored_path(&spec, o->path, false)) < 0)
		return error;
	if ((error = head_walk(&walk, f->repo)) < 0)
		goto out;
	while ((err = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *c = NULL;
		info_store s;
		int64_t t;

		if ((err = git_commit_lookup(&c, f->repo, &oid)) < 0)
			break;
		t = (int64_t)git_commit_time(c);
		if ((o->has_since && t < o->since) || (o->has_until && t > o->until)) {
			git_commit_free(c);
			continue;
		}
		error = info_with_changes(&s, f->repo, c, spec.ptr);
		git_commit_free(c);
		if (error == 0 && (!spec.ptr || s.pub.changes.n > 0)) {
			error = cb(&s.pub, payload);
			shown++;
		}
		info_dispose(&s);
		if (error)
			goto out;
		if (o->max && shown >= o->max)
			break;
	}
	if (err < 0 && err != GIT_ITEROVER) {
		error = dsync_history_walk_error(f->repo, err);
		goto out;
	}
	error = 0;
out:
	git_revwalk_free(walk);
	dsync_buf_dispose(&spec);
	return error;
}

int dsync_history_show(dsync_folder *f, const char *rev, dsync_commit_cb cb, void *payload)
{
	git_commit *c = NULL;
	git_oid oid;
	info_store s = { 0 };
	char hex[DSYNC_OID_HEX_SIZE];
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((error = dsync_history_resolve(hex, f, rev)) < 0)
		return error;
	git_oid_fromstr(&oid, hex);
	if ((err = git_commit_lookup(&c, f->repo, &oid)) < 0)
		return dsync_error_git(err, "cannot read the snapshot %s", hex);
	if ((error = info_with_changes(&s, f->repo, c, NULL)) == 0)
		error = cb(&s.pub, payload);
	info_dispose(&s);
	git_commit_free(c);
	return error;
}

static uint64_t blob_size(git_repository *repo, const git_oid *id)
{
	git_odb *odb = NULL;
	size_t size = 0;
	git_object_t type;

	if (git_repository_odb(&odb, repo) == 0)
		git_odb_read_header(&size, &type, odb, id);
	git_odb_free(odb);
	return size;
}

/* Whether E is a file (a blob, or a big file's chunk tree); its size and
 * mode (may be NULL). */
static bool file_entry(git_repository *repo, const git_tree_entry *e, uint64_t *size, uint32_t *mode)
{
	dsync_chunked info;
	bool big;

	if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
		if (size)
			*size = blob_size(repo, git_tree_entry_id(e));
		if (mode)
			*mode = git_tree_entry_filemode(e);
		return true;
	}
	big = dsync_chunks_entry_is_big(&info, repo, e);
	if (big && size)
		*size = info.size;
	if (big && mode)
		*mode = info.mode;
	return big;
}

int dsync_history_versions(dsync_folder *f, const char *path, dsync_version_cb cb,
			   void *payload)
{
	git_revwalk *walk = NULL;
	git_oid oid;
	char *cur = strdup(path);
	size_t found = 0;
	int err, error = 0;

	if (!cur)
		return dsync_error_oom();
	if ((error = dsync_folder_repo(f)) < 0)
		goto out;
	if ((error = head_walk(&walk, f->repo)) < 0)
		goto out;
	git_revwalk_simplify_first_parent(walk);
	while (!error && (err = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *c = NULL, *p = NULL;
		git_tree *tree = NULL, *ptree = NULL;
		git_tree_entry *ec = NULL, *ep = NULL;
		info_store s = { 0 };
		dsync_version v;
		char *renamed_from = NULL;
		uint64_t size = 0;
		uint32_t mode = 0;

		memset(&v, 0, sizeof(v));
		if ((err = git_commit_lookup(&c, f->repo, &oid)) < 0 || (err = git_commit_tree(&tree, c)) < 0 ||
		    (git_commit_parentcount(c) > 0 &&
		     ((err = git_commit_parent(&p, c, 0)) < 0 || (err = git_commit_tree(&ptree, p)) < 0))) {
			error = dsync_error_git(err, "cannot read history");
			goto next;
		}
		if ((error = dsync_tree_lookup(&ec, tree, cur)) < 0 && error != DSYNC_ENOTFOUND)
			goto next;
		if ((error = dsync_tree_lookup(&ep, ptree, cur)) < 0 && error != DSYNC_ENOTFOUND)
			goto next;
		error = 0;
		if (ec && !file_entry(f->repo, ec, &size, &mode)) {
			git_tree_entry_free(ec);
			ec = NULL;
		}
		if (ep && !file_entry(f->repo, ep, NULL, NULL)) {
			git_tree_entry_free(ep);
			ep = NULL;
		}
		if (!ec && !ep)
			goto next;
		if (ec && ep && git_oid_equal(git_tree_entry_id(ec), git_tree_entry_id(ep)) &&
		    git_tree_entry_filemode(ec) == git_tree_entry_filemode(ep))
			goto next;
		if ((error = info_fill(&s, c)) < 0)
			goto next;
		v.commit = &s.pub;
		v.path = cur;
		if (ec) {
			v.kind = ep ? 'M' : 'A';
			git_oid_tostr(v.blob, sizeof(v.blob), git_tree_entry_id(ec));
			v.mode = mode;
			v.size = size;
		} else {
			v.kind = 'D';
		}
		if (v.kind == 'A' && ptree) {
			/* added here: was it renamed from another name? */
			dsync_changes ch;
			size_t i;

			if ((error = dsync_changes_between(&ch, f->repo, ptree, tree, NULL, DSYNC_RENAMES_SIMILAR)) < 0)
				goto next;
			for (i = 0; i < ch.n; i++) {
				if (ch.v[i].kind == 'R' && strcmp(ch.v[i].path, cur) == 0) {
					renamed_from = strdup(ch.v[i].old_path);
					break;
				}
			}
			dsync_changes_dispose(&ch);
			if (renamed_from) {
				v.kind = 'R';
				v.old_path = renamed_from;
			}
		}
		found++;
		error = cb(&v, payload);
		if (renamed_from) {
			free(cur);
			cur = renamed_from;
			renamed_from = NULL;
		}
next:
		free(renamed_from);
		info_dispose(&s);
		git_tree_entry_free(ec);
		git_tree_entry_free(ep);
		git_tree_free(tree);
		git_tree_free(ptree);
		git_commit_free(c);
		git_commit_free(p);
	}
	if (error)
		goto out;
	if (err < 0 && err != GIT_ITEROVER) {
		error = dsync_history_walk_error(f->repo, err);
		goto out;
	}
	if (!found) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' was never in the history of '%s'",
					dsync_quote(q, path), f->root);
	}
out:
	git_revwalk_free(walk);
	free(cur);
	return error;
}

static int list_dir(git_repository *repo, git_tree *tree, dsync_dir_cb cb, void *payload)
{
	size_t i, n = git_tree_entrycount(tree);
	int error = 0;

	for (i = 0; i < n && !error; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(te);
		dsync_buf real = DSYNC_BUF_INIT;
		dsync_dir_entry e;
		uint64_t size = 0;
		uint32_t mode = 0;

		if (strcmp(name, DSYNC_DIR_MARKER) == 0)
			continue;

		e.mode = git_tree_entry_filemode(te);
		if ((error = dsync_buf_puts(&real, "")) < 0 ||
		    (error = dsync_path_unescape(&real, name, e.mode == GIT_FILEMODE_LINK)) < 0) {
			dsync_buf_dispose(&real);
			break;
		}
		e.name = real.ptr;
		e.size = 0;
		if (file_entry(repo, te, &size, &mode)) {
			/* a file, or a big file's chunk tree */
			e.size = size;
			e.mode = mode;
		}
		error = cb(&e, payload);
		dsync_buf_dispose(&real);
	}
	return error;
}

int dsync_history_cat(dsync_folder *f, const char *rev, const char *path, bool *is_dir,
		      dsync_write_cb write, dsync_dir_cb dir, void *payload)
{
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *te = NULL;
	git_blob *blob = NULL;
	char hex[DSYNC_OID_HEX_SIZE];
	int error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	*is_dir = false;
	if ((error = dsync_history_resolve(hex, f, rev)) < 0 ||
	    (error = commit_tree(&tree, f->repo, hex)) < 0)
		return error;
	if (!path || !*path) {
		*is_dir = true;
		error = list_dir(f->repo, tree, dir, payload);
		goto out;
	}
	if ((error = dsync_tree_lookup(&te, tree, path)) < 0) {
		char q[DSYNC_QUOTE_SIZE];

		if (error == DSYNC_ENOTFOUND)
			error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not in the version %.8s",
						dsync_quote(q, path), hex);
		goto out;
	}
	if (git_tree_entry_type(te) == GIT_OBJECT_TREE) {
		dsync_chunked info;

		if ((error = dsync_history_lookup((git_object **)&sub, f->repo, git_tree_entry_id(te), GIT_OBJECT_TREE,
						  path, hex)) < 0)
			goto out;
		if ((error = dsync_chunks_info(&info, f->repo, sub)) < 0)
			goto out;
		if (error == 1) {
			/* a big file: its chunks, one at a time */
			error = dsync_chunks_read(f->repo, git_tree_entry_id(te), path, write, payload);
			goto out;
		}
		*is_dir = true;
		error = list_dir(f->repo, sub, dir, payload);
		goto out;
	}
	if ((error = dsync_history_lookup((git_object **)&blob, f->repo, git_tree_entry_id(te), GIT_OBJECT_BLOB,
					  path, hex)) < 0)
		goto out;
	error = write(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), payload);
out:
	git_blob_free(blob);
	git_tree_entry_free(te);
	git_tree_free(sub);
	git_tree_free(tree);
	return error;
}

typedef struct print_ctx {
	dsync_write_cb write;
	void *payload;
	int error;
} print_ctx;

static int print_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l,
		      void *payload)
{
	print_ctx *p = payload;
	char origin = l->origin;

	(void)d;
	(void)h;
	if (origin == GIT_DIFF_LINE_CONTEXT || origin == GIT_DIFF_LINE_ADDITION ||
	    origin == GIT_DIFF_LINE_DELETION) {
		if ((p->error = p->write(&origin, 1, p->payload)) != 0)
			return -1;
	}
	if ((p->error = p->write(l->content, l->content_len, p->payload)) != 0)
		return -1;
	return 0;
}

/* A working file larger than this is not read for a diff: binary. */
#define BIG_DIFF (8u * 1024 * 1024)

/* Reads the working file ABS (a link's target when LINK) into OUT. */
static int read_work(dsync_buf *out, const char *abs, bool link)
{
	char tmp[65536];
	ssize_t n;
	int fd;

	if (link) {
		if ((n = readlink(abs, tmp, sizeof(tmp))) < 0)
			return dsync_error_sys(errno, "cannot read '%s'", abs);
		return dsync_buf_put(out, tmp, (size_t)n);
	}
	if ((fd = open(abs, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) /* a FIFO: no wait */
		return dsync_error_sys(errno, "cannot read '%s'", abs);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		int error = dsync_buf_put(out, tmp, (size_t)n);

		if (error < 0) {
			close(fd);
			return error;
		}
	}
	close(fd);
	return n < 0 ? dsync_error_sys(errno, "cannot read '%s'", abs) : 0;
}

static bool under(const char *path, const char *spec)
{
	size_t n;

	if (!spec || !*spec)
		return true;
	n = strlen(spec);
	return strncmp(path, spec, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* PREFIX and PATH into OUT as git's (and libgit2's) diff headers write a
 * name: in double quotes with C escapes when it holds a control character,
 * '"', '\\' or a byte above 126, as it is otherwise. */
static int header_name(dsync_buf *out, const char *prefix, const char *path)
{
	const unsigned char *p;
	int error = 0;

	for (p = (const unsigned char *)path; *p; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			break;
	if (!*p)
		return dsync_buf_printf(out, "%s%s", prefix, path);
	error = dsync_buf_printf(out, "\"%s", prefix);
	for (p = (const unsigned char *)path; *p && !error; p++) {
		static const char named[] = "\a\b\t\n\v\f\r", letters[] = "abtnvfr";
		const char *k = *p ? strchr(named, *p) : NULL;

		if (*p == '"' || *p == '\\')
			error = dsync_buf_printf(out, "\\%c", *p);
		else if (k)
			error = dsync_buf_printf(out, "\\%c", letters[k - named]);
		else if (*p < 0x20 || *p >= 0x7f)
			error = dsync_buf_printf(out, "\\%03o", *p);
		else
			error = dsync_buf_printf(out, "%c", *p);
	}
	return error ? error : dsync_buf_puts(out, "\"");
}

/* What a diff shows for a big file (stored path PATH): it is binary. */
static int binary_notice(print_ctx *pc, const char *path)
{
	dsync_buf b = DSYNC_BUF_INIT;
	int error;

	if ((error = dsync_buf_puts(&b, "diff --git ")) == 0 && (error = header_name(&b, "a/", path)) == 0 &&
	    (error = dsync_buf_puts(&b, " ")) == 0 && (error = header_name(&b, "b/", path)) == 0 &&
	    (error = dsync_buf_puts(&b, "\nBinary files ")) == 0 && (error = header_name(&b, "a/", path)) == 0 &&
	    (error = dsync_buf_puts(&b, " and ")) == 0 && (error = header_name(&b, "b/", path)) == 0 &&
	    (error = dsync_buf_puts(&b, " differ\n")) == 0)
		error = pc->write(b.ptr, b.len, pc->payload);
	dsync_buf_dispose(&b);
	return error;
}

/* The diff of tree FROM against the working tree. */
static int diff_work(dsync_folder *f, git_tree *from, const char *spec, print_ctx *pc)
{
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	dsync_changes ch = { 0 };
	dsync_strset shown = DSYNC_STRSET_INIT;
	size_t i;
	int err, error;

	if ((error = dsync_status(&ch, f, NULL, NULL)) < 0)
		return error;
	/* status compares with the last snapshot; FROM may be another one */
	if (from) {
		git_tree *head = NULL;
		git_oid h;
		bool born;

		if ((error = dsync_head_tree(&head, &h, &born, f->repo)) < 0)
			goto out;
		if (head && !git_oid_equal(git_tree_id(head), git_tree_id(from))) {
			/* changes from FROM to HEAD, then HEAD to work: compare every
			 * path either one touched */
			dsync_changes more;

			error = dsync_changes_between(&more, f->repo, from, head, NULL, DSYNC_RENAMES_NONE);
			git_tree_free(head);
			if (error < 0)
				goto out;
			/* move MORE's (already unescaped) entries over */
			for (i = 0; i < more.n && !error; i++) {
				if (ch.n == ch.cap) {
					size_t cap = ch.cap ? ch.cap * 2 : 16;
					dsync_change *v = realloc(ch.v, cap * sizeof(*v));

					if (!v) {
						error = dsync_error_oom();
						break;
					}
					ch.v = v;
					ch.cap = cap;
				}
				ch.v[ch.n++] = more.v[i];
				memset(&more.v[i], 0, sizeof(more.v[i]));
			}
			dsync_changes_dispose(&more);
			if (error < 0)
				goto out;
		} else {
			git_tree_free(head);
		}
	}
	for (i = 0; i < ch.n && !error; i++) {
		const char *path = ch.v[i].path;
		git_tree_entry *te = NULL;
		git_blob *old = NULL;
		git_patch *patch = NULL;
		dsync_buf abs = DSYNC_BUF_INIT, buf = DSYNC_BUF_INIT;
		struct stat st;
		bool exists;

		if (!under(path, spec))
			continue;
		if ((error = dsync_strset_add(&shown, path)) <= 0)
			continue; /* shown already (or out of memory) */
		error = 0;
		if (dsync_tree_lookup(&te, from, path) == 0 && git_tree_entry_type(te) == GIT_OBJECT_BLOB &&
		    (error = dsync_history_lookup((git_object **)&old, f->repo, git_tree_entry_id(te), GIT_OBJECT_BLOB,
						  path, NULL)) < 0)
			goto next;
		if ((error = dsync_buf_printf(&abs, "%s/%s", f->root, path)) < 0)
			goto next;
		exists = lstat(abs.ptr, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));
		if ((te && dsync_chunks_entry_is_big(NULL, f->repo, te)) || (exists && st.st_size > BIG_DIFF)) {
			/* a big file: binary, never read whole */
			error = binary_notice(pc, path);
			goto next;
		}
		if (exists && (error = read_work(&buf, abs.ptr, S_ISLNK(st.st_mode))) < 0)
			goto next;
		if (!old && !exists)
			goto next;
		if ((err = git_patch_from_blob_and_buffer(&patch, old, path, exists ? dsync_buf_cstr(&buf) : NULL,
							  buf.len, exists ? path : NULL, &opts)) < 0) {
			error = dsync_error_git(err, "cannot compare '%s'", path);
			goto next;
		}
		if (git_patch_num_hunks(patch) > 0 || !old || !exists) {
			if (git_patch_print(patch, print_line, pc) < 0 && pc->error == 0)
				error = dsync_error_set(DSYNC_ERROR, "cannot print the diff of '%s'", path);
			else if (pc->error)
				error = pc->error;
		}
next:
		git_patch_free(patch);
		git_blob_free(old);
		git_tree_entry_free(te);
		dsync_buf_dispose(&abs);
		dsync_buf_dispose(&buf);
	}
out:
	dsync_strset_dispose(&shown);
	dsync_changes_dispose(&ch);
	return error;
}

int dsync_history_diff(dsync_folder *f, const char *from, const char *to, const char *path,
		       dsync_write_cb write, void *payload)
{
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	git_tree *a = NULL, *b = NULL;
	git_diff *diff = NULL;
	dsync_buf spec = DSYNC_BUF_INIT;
	print_ctx pc = { write, payload, 0 };
	char hex[DSYNC_OID_HEX_SIZE];
	char *specs[1];
	size_t i;
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((error = dsync_history_resolve(hex, f, from)) < 0 ||
	    (error = commit_tree(&a, f->repo, hex)) < 0)
		goto out;
	if (!to) {
		error = diff_work(f, a, path, &pc);
		goto out;
	}
	if ((error = dsync_history_resolve(hex, f, to)) < 0 ||
	    (error = commit_tree(&b, f->repo, hex)) < 0)
		goto out;
	if (path && *path) {
		if ((error = stored_path(&spec, path, false)) < 0)
			goto out;
		specs[0] = spec.ptr;
		opts.pathspec.strings = specs;
		opts.pathspec.count = 1;
		opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH;
	}
	/* big files as one entry each (docs/chunks.md), shown as binary; a
	 * file that crossed the threshold is one change */
	opts.flags |= GIT_DIFF_INCLUDE_TYPECHANGE;
	if ((error = dsync_chunks_swap_to_index_form(&a, f->repo)) < 0 ||
	    (error = dsync_chunks_swap_to_index_form(&b, f->repo)) < 0)
		goto out;
	if ((err = git_diff_tree_to_tree(&diff, f->repo, a, b, &opts)) < 0) {
		error = dsync_history_compare_error(f->repo, err);
		goto out;
	}
	for (i = 0; i < git_diff_num_deltas(diff) && !error; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		git_patch *patch = NULL;

		if (d->old_file.mode == GIT_FILEMODE_COMMIT || d->new_file.mode == GIT_FILEMODE_COMMIT) {
			error = binary_notice(&pc, d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path);
			continue;
		}
		if ((err = git_patch_from_diff(&patch, diff, i)) < 0) {
			error = dsync_history_compare_error(f->repo, err);
			break;
		}
		if (patch && git_patch_print(patch, print_line, &pc) < 0)
			error = pc.error ? pc.error : dsync_error_set(DSYNC_ERROR, "cannot print the diff");
		git_patch_free(patch);
	}
out:
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	dsync_buf_dispose(&spec);
	return error;
}
