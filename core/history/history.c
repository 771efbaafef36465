/*
 * Browsing history: log, versions of a file (following renames), a commit
 * with its changes, and the contents of a file or folder at a version.
 * Revision specs are in revspec.c, diffs in diff.c.
 */
#include "core/base/internal.h"
#include "dsync/history.h"
#include "core/folder/folder.h"
#include "core/base/chunks.h"
#include "core/base/buf.h"
#include "core/base/path.h"
#include "core/history/changes.h"
#include "core/history/head.h"
#include "core/history/tree.h"

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
	if (o->path && *o->path && (error = dsync_history_stored_path(&spec, o->path, false)) < 0)
		return error;
	if ((error = dsync_history_head_walk(&walk, f->repo)) < 0)
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

/* The path a commit still to be visited is looked at under, when a rename
 * seen in one of its descendants made it differ from the path asked for. */
typedef struct path_at {
	git_oid commit;
	char *path;
} path_at;

typedef struct paths_at {
	path_at *v;
	size_t n, cap;
} paths_at;

/* Takes the path recorded for ID out of PA (NULL: none, the path asked for). */
static char *path_take(paths_at *pa, const git_oid *id)
{
	size_t i;

	for (i = 0; i < pa->n; i++) {
		if (git_oid_equal(&pa->v[i].commit, id)) {
			char *p = pa->v[i].path;

			pa->v[i] = pa->v[--pa->n];
			return p;
		}
	}
	return NULL;
}

/* Records PATH for ID unless another child recorded one first. */
static int path_give(paths_at *pa, const git_oid *id, const char *path)
{
	size_t i;

	for (i = 0; i < pa->n; i++)
		if (git_oid_equal(&pa->v[i].commit, id))
			return 0;
	if (pa->n == pa->cap) {
		size_t cap = pa->cap ? 2 * pa->cap : 8;
		path_at *v = realloc(pa->v, cap * sizeof(*v));

		if (!v)
			return dsync_error_oom();
		pa->v = v;
		pa->cap = cap;
	}
	if (!(pa->v[pa->n].path = strdup(path)))
		return dsync_error_oom();
	git_oid_cpy(&pa->v[pa->n++].commit, id);
	return 0;
}

static void paths_dispose(paths_at *pa)
{
	size_t i;

	for (i = 0; i < pa->n; i++)
		free(pa->v[i].path);
	free(pa->v);
}

/* The file at PATH in TREE (a blob or a big file's chunk tree) into *OUT,
 * NULL when there is none; its size and mode (may be NULL). */
static int file_at(git_tree_entry **out, git_repository *repo, git_tree *tree, const char *path, uint64_t *size,
		   uint32_t *mode)
{
	int error;

	*out = NULL;
	if ((error = dsync_history_tree_lookup(out, tree, path)) < 0)
		return error == DSYNC_ENOTFOUND ? 0 : error;
	if (!file_entry(repo, *out, size, mode)) {
		git_tree_entry_free(*out);
		*out = NULL;
	}
	return 0;
}

static bool same_file(const git_tree_entry *a, const git_tree_entry *b)
{
	if (!a || !b)
		return !a && !b;
	return git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b)) &&
	       git_tree_entry_filemode(a) == git_tree_entry_filemode(b);
}

/*
 * Every snapshot of the whole history (every device's, not only along first
 * parents: a merge's parents are sorted by id, so a first-parent walk would
 * drop one side's versions at random) that brought a content of PATH no
 * parent had: a commit whose file at PATH differs from each of its parents'.
 * A merge that took one side's file is no version: that side's own snapshot
 * is.  A rename (a file added where its parent had a similar one) is followed
 * into that parent's line under the old name.
 */
int dsync_history_versions(dsync_folder *f, const char *path, dsync_version_cb cb,
			   void *payload)
{
	git_revwalk *walk = NULL;
	paths_at renamed = { 0 };
	git_oid oid;
	size_t found = 0;
	int err, error = 0;

	if ((error = dsync_folder_repo(f)) < 0)
		goto out;
	if ((error = dsync_history_head_walk(&walk, f->repo)) < 0)
		goto out;
	while (!error && (err = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *c = NULL;
		git_tree *tree = NULL;
		git_tree_entry *ec = NULL;
		info_store s = { 0 };
		dsync_version v;
		char *own = path_take(&renamed, &oid), *renamed_from = NULL;
		const char *cur = own ? own : path;
		unsigned i, np;
		bool in_parent = false, same = false;
		uint64_t size = 0;
		uint32_t mode = 0;

		memset(&v, 0, sizeof(v));
		if ((err = git_commit_lookup(&c, f->repo, &oid)) < 0 || (err = git_commit_tree(&tree, c)) < 0) {
			error = dsync_error_git(err, "cannot read history");
			goto next;
		}
		if ((error = file_at(&ec, f->repo, tree, cur, &size, &mode)) < 0)
			goto next;
		np = git_commit_parentcount(c);
		for (i = 0; i < np && !same; i++) {
			git_commit *p = NULL;
			git_tree *ptree = NULL;
			git_tree_entry *ep = NULL;

			if ((err = git_commit_parent(&p, c, i)) < 0 || (err = git_commit_tree(&ptree, p)) < 0)
				error = dsync_error_git(err, "cannot read history");
			else
				error = file_at(&ep, f->repo, ptree, cur, NULL, NULL);
			if (!error) {
				in_parent |= ep != NULL;
				same = same_file(ec, ep);
			}
			git_tree_entry_free(ep);
			git_tree_free(ptree);
			git_commit_free(p);
			if (error)
				goto next;
		}
		if (same || (!ec && !in_parent))
			goto next;
		if ((error = info_fill(&s, c)) < 0)
			goto next;
		v.commit = &s.pub;
		v.path = cur;
		if (ec) {
			v.kind = in_parent ? 'M' : 'A';
			git_oid_tostr(v.blob, sizeof(v.blob), git_tree_entry_id(ec));
			v.mode = mode;
			v.size = size;
		} else {
			v.kind = 'D';
		}
		if (v.kind == 'A' && np == 1) {
			/* added here: was it renamed from another name? */
			git_commit *p = NULL;
			git_tree *ptree = NULL;
			dsync_changes ch;
			size_t k;

			if ((err = git_commit_parent(&p, c, 0)) < 0 || (err = git_commit_tree(&ptree, p)) < 0) {
				git_commit_free(p);
				error = dsync_error_git(err, "cannot read history");
				goto next;
			}
			error = dsync_changes_between(&ch, f->repo, ptree, tree, NULL, DSYNC_RENAMES_SIMILAR);
			git_tree_free(ptree);
			git_commit_free(p);
			if (error < 0)
				goto next;
			for (k = 0; k < ch.n; k++) {
				if (ch.v[k].kind == 'R' && strcmp(ch.v[k].path, cur) == 0) {
					renamed_from = strdup(ch.v[k].old_path);
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
next:
		/* the parents are looked at under the name this commit had
		 * there: the old name of a rename, else this one's */
		if (!error && (renamed_from || own)) {
			for (i = 0; i < git_commit_parentcount(c) && !error; i++)
				error = path_give(&renamed, git_commit_parent_id(c, i), renamed_from ? renamed_from : cur);
		}
		free(renamed_from);
		free(own);
		info_dispose(&s);
		git_tree_entry_free(ec);
		git_tree_free(tree);
		git_commit_free(c);
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
	paths_dispose(&renamed);
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
	    (error = dsync_history_commit_tree(&tree, f->repo, hex)) < 0)
		return error;
	if (!path || !*path) {
		*is_dir = true;
		error = list_dir(f->repo, tree, dir, payload);
		goto out;
	}
	if ((error = dsync_history_tree_lookup(&te, tree, path)) < 0) {
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
