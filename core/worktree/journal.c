/*
 * The journal of a working-tree update in progress (docs/merge.md):
 * .dsync/dsync-merge holds "FROM TO", written durably before the first file
 * and removed after the head moved, so that the next writer finishes an
 * update that was killed (dsync_worktree_resume).
 */
#include "core/base/internal.h"
#include "core/worktree/journal.h"
#include "core/base/buf.h"
#include "core/base/path.h"

#include <unistd.h>

static int journal_path(dsync_buf *out, const dsync_folder *f)
{
	return dsync_buf_printf(out, "%s/" DSYNC_MERGE_JOURNAL, f->gitdir);
}

/* Writes the journal FROM TO durably (the objects TO needs first). */
int dsync_journal_write(dsync_folder *f, const git_oid *from, const git_oid *to)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char text[2 * GIT_OID_HEXSZ + 2];
	int error;

	git_oid_fmt(text, from);
	text[GIT_OID_HEXSZ] = ' ';
	git_oid_fmt(text + GIT_OID_HEXSZ + 1, to);
	text[2 * GIT_OID_HEXSZ + 1] = '\n';
	if ((error = dsync_folder_sync(f)) < 0 || (error = journal_path(&path, f)) < 0 ||
	    (error = dsync_path_write_atomic(path.ptr, text, sizeof(text), 0644, false)) < 0)
		goto out;
	error = dsync_folder_sync(f);
out:
	dsync_buf_dispose(&path);
	return error;
}

/* Reads the journal: 1 with FROM and TO, 0 when there is none. */
int dsync_journal_read(dsync_folder *f, git_oid *from, git_oid *to)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char text[256];
	ssize_t n;
	int error = 0;

	if ((error = journal_path(&path, f)) < 0)
		return error;
	n = dsync_path_read_small(path.ptr, text, sizeof(text));
	if (n < 0 && errno == ENOENT)
		error = 0;
	else if (n != 2 * GIT_OID_HEXSZ + 2 || text[GIT_OID_HEXSZ] != ' ' ||
		 git_oid_fromstrn(from, text, GIT_OID_HEXSZ) < 0 ||
		 git_oid_fromstrn(to, text + GIT_OID_HEXSZ + 1, GIT_OID_HEXSZ) < 0)
		unlink(path.ptr); /* damaged: the next snapshot records the folder as it is */
	else
		error = 1;
	dsync_buf_dispose(&path);
	return error;
}

void dsync_journal_remove(dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;

	if (journal_path(&path, f) == 0)
		unlink(path.ptr);
	dsync_buf_dispose(&path);
}