/*
 * The plan of a working-tree update (docs/merge.md): the paths where the
 * folder's head FROM and the merged TO differ, each compared with the disk:
 * at FROM's version, at TO's, or changed by the user after the snapshot.
 */
#include "core/base/internal.h"
#include "core/worktree/plan.h"
#include "core/worktree/temp.h"
#include "core/base/chunks.h"
#include "core/base/path.h"

#include <fcntl.h>
#include <unistd.h>

void dsync_plan_dispose(dsync_plan *p)
{
	size_t i;

	for (i = 0; i < p->size; i++) {
		free(p->ptr[i].path);
		free(p->ptr[i].from.disk);
		free(p->ptr[i].to.disk);
	}
	dsync_array_dispose(*p);
}

static int disk_path(char **out, const char *stored, uint32_t mode)
{
	dsync_buf b = DSYNC_BUF_INIT;

	if (dsync_buf_puts(&b, "") < 0 || dsync_path_unescape(&b, stored, mode == GIT_FILEMODE_LINK) < 0) {
		dsync_buf_dispose(&b);
		return dsync_error_oom();
	}
	*out = dsync_buf_detach(&b);
	if (!dsync_path_is_safe(*out))
		return dsync_error_set(DSYNC_ECORRUPT, "refusing the stored path '%s'", *out);
	return 0;
}

/* Adds the delta's side to the plan (one change per stored path). */
static int plan_add(dsync_plan *p, const git_diff_delta *d)
{
	const git_diff_file *df;
	dsync_plan_change *c;
	bool is_from = d->status == GIT_DELTA_DELETED;
	int error;

	if (d->status != GIT_DELTA_ADDED && d->status != GIT_DELTA_DELETED && d->status != GIT_DELTA_MODIFIED)
		return dsync_error_set(DSYNC_ERROR, "unexpected change at '%s'", d->new_file.path);
	if (p->size && strcmp(p->ptr[p->size - 1].path, d->new_file.path) == 0) {
		c = &p->ptr[p->size - 1]; /* a type change: deleted, then added */
	} else {
		if (dsync_array_reserve(*p, p->size + 1) < 0)
			return dsync_error_oom();
		c = &p->ptr[p->size];
		memset(c, 0, sizeof(*c));
		if ((c->path = strdup(d->new_file.path)) == NULL)
			return dsync_error_oom();
		p->size++;
		c->marker = dsync_path_is_dir_marker(c->path);
	}
	if (d->status == GIT_DELTA_MODIFIED || is_from) {
		df = &d->old_file;
		c->from.id = df->id;
		c->from.mode = df->mode;
		if ((error = disk_path(&c->from.disk, df->path, df->mode)) < 0)
			return error;
	}
	if (d->status != GIT_DELTA_DELETED) {
		df = &d->new_file;
		c->to.id = df->id;
		c->to.mode = df->mode;
		if ((error = disk_path(&c->to.disk, df->path, df->mode)) < 0)
			return error;
	}
	return 0;
}

/* The paths where FROM_TREE (may be NULL) and TO_TREE differ. */
int dsync_plan_make(dsync_plan *out, git_repository *repo, git_tree *from_tree, git_tree *to_tree)
{
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	git_diff *diff = NULL;
	size_t i, n;
	int err, error = 0;

	dsync_plan_dispose(out);
	if ((err = git_diff_tree_to_tree(&diff, repo, from_tree, to_tree, &opts)) < 0)
		return dsync_error_git(err, "cannot compare the versions to merge");
	n = git_diff_num_deltas(diff);
	for (i = 0; i < n && !error; i++)
		error = plan_add(out, git_diff_get_delta(diff, i));
	for (i = 0; i < out->size; i++) {
		dsync_plan_change *c = &out->ptr[i];

		/* each side names the same place unless the escape of a link
		 * differs from a file's (".gitmodules") */
		if (!c->from.disk && (c->from.disk = strdup(c->to.disk)) == NULL)
			error = dsync_error_oom();
		if (!c->to.disk && (c->to.disk = strdup(c->from.disk)) == NULL)
			error = dsync_error_oom();
	}
	git_diff_free(diff);
	return error;
}

/* Refuses the plan P before anything is written when one of its paths
 * would land in .dsync on this file system (".DSYNC" where case folds). */
int dsync_plan_check_folds(const dsync_plan *p, const dsync_folder *f)
{
	size_t i;

	for (i = 0; i < p->size; i++) {
		const dsync_plan_change *c = &p->ptr[i];

		if (c->to.mode && dsync_path_folds_into_dsync(f->root, c->to.disk))
			return dsync_worktree_folds_error(c->to.disk);
		if (c->from.mode && dsync_path_folds_into_dsync(f->root, c->from.disk))
			return dsync_worktree_folds_error(c->from.disk);
	}
	return 0;
}

/* The folder a marker stands for ("" for the root). */
void dsync_plan_marker_dir(char *disk)
{
	char *s = strrchr(disk, '/');

	if (s)
		*s = '\0';
	else
		*disk = '\0';
}

int dsync_plan_abs_path(dsync_buf *out, const dsync_folder *f, const char *rel)
{
	dsync_buf_truncate(out, 0);
	return *rel ? dsync_buf_printf(out, "%s/%s", f->root, rel) : dsync_buf_puts(out, f->root);
}

/*
 * Looks at S->disk: whether something is there (S->exists, S->st) and
 * whether it is S's version (*MATCH; nothing there matches an absent S).
 */
static int look(bool *match, dsync_plan_side *s, const dsync_folder *f, const dsync_chunker *ck)
{
	dsync_buf path = DSYNC_BUF_INIT, target = DSYNC_BUF_INIT;
	git_oid id;
	int err, error = 0;

	*match = false;
	if ((error = dsync_plan_abs_path(&path, f, s->disk)) < 0)
		return error;
	if (lstat(path.ptr, &s->st) < 0) {
		s->exists = false;
		memset(&s->st, 0, sizeof(s->st));
		if (errno != ENOENT && errno != ENOTDIR)
			error = dsync_error_sys(errno, "cannot read '%s'", path.ptr);
		*match = s->mode == 0;
		goto out;
	}
	s->exists = true;
	if (s->mode == 0)
		goto out;
	if (S_ISLNK(s->st.st_mode)) {
		ssize_t n;

		if (s->mode != GIT_FILEMODE_LINK)
			goto out;
		if ((error = dsync_buf_grow(&target, (size_t)s->st.st_size + 2)) < 0)
			goto out;
		n = readlink(path.ptr, target.ptr, target.cap);
		if (n < 0 || (size_t)n >= target.cap)
			goto out; /* changing under us: not a match */
		if ((err = git_odb_hash(&id, target.ptr, (size_t)n, GIT_OBJECT_BLOB)) < 0) {
			error = dsync_error_git(err, "cannot read '%s'", path.ptr);
			goto out;
		}
	} else if (S_ISREG(s->st.st_mode) && s->mode == GIT_FILEMODE_COMMIT) {
		/* a big file: its chunk tree's id, hashed (the mode is in it) */
		int fd = open(path.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

		if (fd < 0)
			goto out; /* changing under us: not a match */
		error = dsync_chunks_from_fd(&id, NULL, NULL, ck, fd, (s->st.st_mode & S_IXUSR)
					     ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB, NULL);
		close(fd);
		if (error < 0)
			goto out;
	} else if (S_ISREG(s->st.st_mode)) {
		uint32_t mode = (s->st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;

		if (mode != s->mode)
			goto out;
		if ((err = git_odb_hashfile(&id, path.ptr, GIT_OBJECT_BLOB)) < 0) {
			error = dsync_error_git(err, "cannot read '%s'", path.ptr);
			goto out;
		}
	} else {
		goto out;
	}
	*match = git_oid_equal(&id, &s->id);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&target);
	return error;
}

/* Whether the plan P removes the file or link at the first LEN bytes of
 * DISK, as it is now (its deletions come before anything is written). */
static bool removed_first(const dsync_plan *p, const char *disk, size_t len)
{
	size_t i;

	for (i = 0; i < p->size; i++) {
		const dsync_plan_change *c = &p->ptr[i];

		if (!c->to.mode && c->state == DSYNC_PLAN_AT_FROM && strlen(c->from.disk) == len &&
		    strncmp(c->from.disk, disk, len) == 0)
			return true;
	}
	return false;
}

/* Whether the folder-relative DISK under F is in the way of what the plan
 * writes there: a link or a file above it, or (WHOLE) at it, that the plan
 * does not remove first. */
static bool in_the_way(const dsync_plan *p, const dsync_folder *f, const char *disk, bool whole)
{
	dsync_buf path = DSYNC_BUF_INIT;
	struct stat st;
	size_t bad = 0;
	bool way = false;

	if (!dsync_worktree_parents_safe(f->root, disk, &bad))
		return !removed_first(p, disk, bad);
	if (whole && dsync_plan_abs_path(&path, f, disk) == 0 && lstat(path.ptr, &st) == 0 && !S_ISDIR(st.st_mode))
		way = !removed_first(p, disk, strlen(disk));
	dsync_buf_dispose(&path);
	return way;
}

/* The ignore rules TREE's .dsyncignore makes (with the defaults) into
 * *OUT. */
int dsync_plan_rules(dsync_ignore **out, git_repository *repo, git_tree *tree)
{
	git_tree_entry *e = NULL;
	git_blob *b = NULL;
	int error;

	if ((error = dsync_ignore_new(out)) < 0)
		return error;
	if (git_tree_entry_bypath(&e, tree, ".dsyncignore") == 0 && git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
	    git_blob_lookup(&b, repo, git_tree_entry_id(e)) == 0 && git_blob_rawsize(b) <= 1024 * 1024)
		error = dsync_ignore_add_rules(*out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
	git_blob_free(b);
	git_tree_entry_free(e);
	return error;
}

bool dsync_plan_ignored(const dsync_ignore *rules, const char *disk)
{
	char *d = strdup(disk), *s;
	bool yes = false;

	if (!d)
		return false;
	for (s = strchr(d, '/'); s && !yes; s = strchr(s + 1, '/')) {
		*s = '\0';
		yes = dsync_ignore_match(rules, d, 1) == 1;
		*s = '/';
	}
	yes = yes || dsync_ignore_match(rules, d, 0) == 1;
	free(d);
	return yes;
}

/* Compares every path of P with the disk; the number of dirty ones into
 * *DSYNC_PLAN_DIRTY.  A file that TO no longer has
 * because RULES (TO's) leave it out stays on disk: ignoring a file stops
 * syncing it, it never deletes it on the other devices. */
int dsync_plan_classify(dsync_plan *p, const dsync_folder *f, const dsync_chunker *ck, const dsync_ignore *rules,
		    size_t *dirty)
{
	size_t i;
	int error;

	*dirty = 0;
	/* first each path by itself ... */
	for (i = 0; i < p->size; i++) {
		dsync_plan_change *c = &p->ptr[i];
		bool same = strcmp(c->from.disk, c->to.disk) == 0, at_from, at_to;

		c->written = false;
		if (c->marker) {
			c->state = DSYNC_PLAN_AT_FROM; /* folders are made (again) after the deletions */
			continue;
		}
		if ((error = look(&at_from, &c->from, f, ck)) < 0 || (error = look(&at_to, &c->to, f, ck)) < 0)
			return error;
		if (!same) {
			at_from = at_from && !c->to.exists;
			at_to = at_to && !c->from.exists;
		}
		/* a file where a folder is that the plan empties (its files
		 * are removed first): the folder goes; anything else left in
		 * it is the user's, found when it is removed */
		c->folder_goes = same && !c->from.mode && c->to.mode && c->to.exists && S_ISDIR(c->to.st.st_mode);
		if (c->folder_goes)
			at_from = true;
		c->state = at_to ? DSYNC_PLAN_AT_TO : at_from ? DSYNC_PLAN_AT_FROM : DSYNC_PLAN_DIRTY;
		if (!c->to.mode && rules && dsync_plan_ignored(rules, c->from.disk))
			c->state = DSYNC_PLAN_AT_TO; /* left alone, whatever it holds */
	}
	/* ... then against each other: something in the way of a path that
	 * the plan itself removes first is not the user's */
	for (i = 0; i < p->size; i++) {
		dsync_plan_change *c = &p->ptr[i];

		if (c->state == DSYNC_PLAN_DIRTY && !c->from.mode && c->to.exists && !S_ISDIR(c->to.st.st_mode) &&
		    removed_first(p, c->to.disk, strlen(c->to.disk)))
			c->state = DSYNC_PLAN_AT_FROM;
		/* a link or a file above a path (or where a folder is to be
		 * made): the user's, recorded before anything goes through it */
		if (c->state == DSYNC_PLAN_AT_FROM && ((c->to.mode && in_the_way(p, f, c->to.disk, false)) ||
					   (c->from.mode && !c->marker && in_the_way(p, f, c->from.disk, false))))
			c->state = DSYNC_PLAN_DIRTY;
		if (c->state == DSYNC_PLAN_AT_FROM && c->marker && c->to.mode) {
			char *d = strdup(c->to.disk);

			if (!d)
				return dsync_error_oom();
			dsync_plan_marker_dir(d);
			if (*d && in_the_way(p, f, d, true))
				c->state = DSYNC_PLAN_DIRTY;
			free(d);
		}
		if (c->state == DSYNC_PLAN_DIRTY)
			(*dirty)++;
	}
	return 0;
}

/* Whether A and B are the lstat of one version of one file: the same inode,
 * type, size and modification time, and (CTIME) change time (a rename
 * changes only that). */
bool dsync_plan_same_stat(const struct stat *a, const struct stat *b, bool ctime)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
	       a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       (!ctime || (a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec));
}

/* Whether the place S was looked at is still as it was. */
bool dsync_plan_unchanged(const dsync_plan_side *s, const dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	struct stat st;
	bool exists;

	if (dsync_plan_abs_path(&path, f, s->disk) < 0)
		return false;
	exists = lstat(path.ptr, &st) == 0;
	dsync_buf_dispose(&path);
	if (exists != s->exists)
		return false;
	return !exists || dsync_plan_same_stat(&st, &s->st, true);
}