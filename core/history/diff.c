/*
 * Diffs between two versions, or a version and the working tree, as
 * unified text the way git prints them (big files as binary).
 */
#include "core/base/internal.h"
#include "dsync/history.h"
#include "core/folder/folder.h"
#include "core/base/buf.h"
#include "core/base/chunks.h"
#include "core/base/strset.h"
#include "core/history/changes.h"
#include "core/history/head.h"
#include "core/history/tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The paths a diff of tree FROM against the working tree compares, into
 * OUT: what status sees changed since the last snapshot and, when FROM is
 * another version, what changed from FROM to the last snapshot. */
static int work_changes(dsync_changes *out, dsync_folder *f, git_tree *from)
{
	git_tree *head = NULL;
	dsync_changes more = { 0 };
	git_oid h;
	bool born;
	int error;

	if ((error = dsync_status(out, f, NULL, NULL)) < 0 || !from)
		return error;
	if ((error = dsync_history_head_tree(&head, &h, &born, f->repo)) < 0)
		goto out;
	if (head && !git_oid_equal(git_tree_id(head), git_tree_id(from)) &&
	    (error = dsync_changes_between(&more, f->repo, from, head, NULL, DSYNC_RENAMES_NONE)) == 0)
		error = dsync_changes_move(out, &more);
out:
	git_tree_free(head);
	dsync_changes_dispose(&more);
	if (error < 0)
		dsync_changes_dispose(out);
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

	if ((error = work_changes(&ch, f, from)) < 0)
		return error;
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
		if (dsync_history_tree_lookup(&te, from, path) == 0 && git_tree_entry_type(te) == GIT_OBJECT_BLOB &&
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
	    (error = dsync_history_commit_tree(&a, f->repo, hex)) < 0)
		goto out;
	if (!to) {
		error = diff_work(f, a, path, &pc);
		goto out;
	}
	if ((error = dsync_history_resolve(hex, f, to)) < 0 ||
	    (error = dsync_history_commit_tree(&b, f->repo, hex)) < 0)
		goto out;
	if (path && *path) {
		if ((error = dsync_history_stored_path(&spec, path, false)) < 0)
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
