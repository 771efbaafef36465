/*
 * The head of this device's history (refs/heads/main), read so that a lost
 * or damaged history is said as such, never taken for "no snapshot yet";
 * the errors of a damaged history for every command that reads one; and
 * .dsync/dsync-head, the cache that lets an unchanged snapshot skip libgit2.
 */
#include "core/base/internal.h"
#include "core/history/head.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/oidset.h"
#include "core/base/path.h"
#include "core/base/file.h"
#include "core/base/sha1.h"
#include "core/base/blobread.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>


/* The folder of REPO, for messages (its work tree, without the slash). */
static void folder_of(char *out, size_t size, git_repository *repo)
{
	const char *wd = git_repository_workdir(repo);
	size_t n;

	snprintf(out, size, "%s", wd ? wd : git_repository_path(repo));
	n = strlen(out);
	if (n > 1 && out[n - 1] == '/')
		out[n - 1] = '\0';
}

#define DAMAGED_FIX "run 'dsync check' to see what is missing; 'dsync join URL NEW-FOLDER' brings back " \
		    "the history a remote holds (the files in the folder are not affected)"

/* The new id of the last line of the reflog at PATH (only its tail is
 * read), into OUT. */
static bool reflog_last(git_oid *out, const char *path)
{
	char buf[4096], *line;
	struct stat st;
	ssize_t n;
	off_t at;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	at = st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0;
	n = pread(fd, buf, sizeof(buf) - 1, at);
	close(fd);
	if (n <= 0)
		return false;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	/* "OLD NEW NAME <EMAIL> TIME TZ\tMESSAGE" */
	if (strlen(line) < 2 * GIT_OID_HEXSZ + 2 || line[GIT_OID_HEXSZ] != ' ' ||
	    git_oid_fromstrn(out, line + GIT_OID_HEXSZ + 1, GIT_OID_HEXSZ) < 0 || git_oid_is_zero(out))
		return false;
	return true;
}

bool dsync_history_last_head(git_oid *out, git_repository *repo)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char rec[256];
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (dsync_buf_printf(&path, "%slogs/refs/heads/main", git_repository_path(repo)) == 0)
		found = reflog_last(out, path.ptr);
	dsync_buf_truncate(&path, 0);
	/* dsync-head is written after the ref moves: it names a snapshot */
	if (!found && dsync_buf_printf(&path, "%sdsync-head", git_repository_path(repo)) == 0 &&
	    dsync_path_read_small(path.ptr, rec, sizeof(rec)) >= GIT_OID_HEXSZ)
		found = git_oid_fromstrn(out, rec, GIT_OID_HEXSZ) == 0;
	dsync_buf_dispose(&path);
	return found;
}

int dsync_history_head(git_oid *out, git_repository *repo)
{
	git_commit *c = NULL;
	git_oid last;
	char root[4096], hex[DSYNC_OID_HEX_SIZE];
	int err, error = 0;

	memset(out, 0, sizeof(*out));
	folder_of(root, sizeof(root), repo);
	if ((err = git_reference_name_to_id(out, repo, "refs/heads/main")) == GIT_ENOTFOUND) {
		/* the reflog or dsync-head names a snapshot: there was one,
		 * and the ref was lost since */
		if (dsync_history_last_head(&last, repo)) {
			git_oid_tostr(hex, sizeof(hex), &last);
			error = dsync_error_set(DSYNC_ECORRUPT,
						"the history of '%s' is lost: refs/heads/main is gone, though the "
						"snapshot %.8s was taken; " DAMAGED_FIX, root, hex);
		} else {
			error = dsync_error_set(DSYNC_ENOTFOUND, "there is no snapshot yet; run 'dsync snapshot'");
		}
		goto out;
	}
	if (err < 0) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the history of '%s' is damaged: refs/heads/main can't be read "
					"(%s); " DAMAGED_FIX, root, git_error_last() ? git_error_last()->message : "");
		goto out;
	}
	if ((err = git_commit_lookup(&c, repo, out)) < 0) {
		git_oid_tostr(hex, 9, out);
		error = dsync_error_set(DSYNC_ECORRUPT, "the history of '%s' is damaged or lost: its last snapshot %s "
					"can't be read (%s); " DAMAGED_FIX, root, hex,
					git_error_last() ? git_error_last()->message : "");
	}
out:
	git_commit_free(c);
	return error;
}

bool dsync_history_is_damage(int err)
{
	const git_error *ge = git_error_last();

	return err == GIT_ENOTFOUND || !ge ||
	       ge->klass == GIT_ERROR_ODB || ge->klass == GIT_ERROR_OBJECT || ge->klass == GIT_ERROR_ZLIB;
}

int dsync_history_read_error(git_repository *repo, int err, const git_oid *id, git_object_t type,
			     const char *path, const char *version)
{
	git_odb *odb = NULL;
	char root[4096], hex[DSYNC_OID_HEX_SIZE], what[4200], why[600];
	bool missing;

	if (!dsync_history_is_damage(err))
		return dsync_error_git(err, "cannot read '%s'", path ? path : "a stored file");
	snprintf(why, sizeof(why), "%s", git_error_last() ? git_error_last()->message : "unreadable");
	missing = git_repository_odb(&odb, repo) == 0 && !git_odb_exists(odb, id);
	git_odb_free(odb);
	folder_of(root, sizeof(root), repo);
	git_oid_tostr(hex, sizeof(hex), id);
	if (path && version)
		snprintf(what, sizeof(what), " (the %s '%s' of version %.8s)",
			 type == GIT_OBJECT_TREE ? "folder" : "file", path, version);
	else if (path)
		snprintf(what, sizeof(what), " (the %s '%s')", type == GIT_OBJECT_TREE ? "folder" : "file", path);
	else
		what[0] = '\0';
	if (missing)
		return dsync_error_set(DSYNC_ECORRUPT, "the history of '%s' is damaged: %s %s%s is missing; "
				       "run 'dsync check'", root, git_object_type2string(type), hex, what);
	return dsync_error_set(DSYNC_ECORRUPT, "the history of '%s' is damaged: %s %s%s can't be read (%s); "
			       "run 'dsync check'", root, git_object_type2string(type), hex, what, why);
}

int dsync_history_lookup(git_object **out, git_repository *repo, const git_oid *id, git_object_t type,
			 const char *path, const char *version)
{
	int err;

	if ((err = git_object_lookup(out, repo, id, type)) < 0)
		return dsync_history_read_error(repo, err, id, type, path, version);
	return 0;
}

int dsync_history_compare_error(git_repository *repo, int err)
{
	return dsync_history_is_damage(err) ? dsync_history_walk_error(repo, err)
					    : dsync_error_git(err, "cannot compare versions");
}

int dsync_history_walk_error(git_repository *repo, int err)
{
	char root[4096];

	if (!dsync_history_is_damage(err))
		return dsync_error_git(err, "cannot walk history");
	folder_of(root, sizeof(root), repo);
	return dsync_error_set(DSYNC_ECORRUPT, "the history of '%s' is damaged: %s; " DAMAGED_FIX, root,
			       git_error_last() ? git_error_last()->message : "a version can't be read");
}

int dsync_history_versions_ok(git_repository *repo, const git_oid *head)
{
	dsync_oidset seen = { 0 };
	DSYNC_ARRAY(git_oid) stack = DSYNC_ARRAY_INIT;
	size_t i;
	char root[4096], hex[DSYNC_OID_HEX_SIZE];
	int err, error = 0;

	if (dsync_array_push(stack, *head) < 0)
		return dsync_error_oom();
	while (stack.size && error == 0) {
		git_oid id = stack.ptr[--stack.size];
		git_commit *c = NULL;

		if ((error = dsync_oidset_add(&seen, &id)) <= 0)
			continue;
		error = 0;
		if ((err = git_commit_lookup(&c, repo, &id)) < 0) {
			/* only a parent can fail here: the head was read */
			folder_of(root, sizeof(root), repo);
			git_oid_tostr(hex, sizeof(hex), &id);
			error = dsync_error_set(DSYNC_ECORRUPT, "the history of '%s' is damaged: the version %s can't be "
						"read (%s); " DAMAGED_FIX, root, hex,
						git_error_last() ? git_error_last()->message : "");
			break;
		}
		for (i = 0; i < git_commit_parentcount(c); i++) {
			if (dsync_array_push(stack, *git_commit_parent_id(c, (unsigned int)i)) < 0) {
				error = dsync_error_oom();
				break;
			}
		}
		git_commit_free(c);
	}
	dsync_array_dispose(stack);
	dsync_oidset_dispose(&seen);
	return error;
}

/*
 * The head as the last snapshot recorded it, without libgit2:
 * .dsync/dsync-head holds "COMMIT TREE\n", and is believed only while the
 * loose ref refs/heads/main still names COMMIT.  False when it can't tell.
 */
bool dsync_history_cached_head(const dsync_folder *f, git_oid *commit, git_oid *tree)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char ref[128], rec[256];
	bool ok = false;

	if (dsync_buf_printf(&path, "%s/" DSYNC_MAIN_REF, f->gitdir) < 0 ||
	    dsync_path_read_small(path.ptr, ref, sizeof(ref)) != GIT_OID_HEXSZ + 1)
		goto out;
	dsync_buf_truncate(&path, 0);
	if (dsync_buf_printf(&path, "%s/dsync-head", f->gitdir) < 0 ||
	    dsync_path_read_small(path.ptr, rec, sizeof(rec)) != 2 * GIT_OID_HEXSZ + 2)
		goto out;
	if (memcmp(ref, rec, GIT_OID_HEXSZ) != 0 || rec[GIT_OID_HEXSZ] != ' ')
		goto out;
	ok = git_oid_fromstrn(commit, rec, GIT_OID_HEXSZ) == 0 &&
	     git_oid_fromstrn(tree, rec + GIT_OID_HEXSZ + 1, GIT_OID_HEXSZ) == 0;
out:
	dsync_buf_dispose(&path);
	return ok;
}

void dsync_history_record_head(const dsync_folder *f, const git_oid *commit, const git_oid *tree)
{
	dsync_buf path = DSYNC_BUF_INIT, tmp = DSYNC_BUF_INIT;
	char text[2 * GIT_OID_HEXSZ + 3];
	int fd;

	git_oid_fmt(text, commit);
	text[GIT_OID_HEXSZ] = ' ';
	git_oid_fmt(text + GIT_OID_HEXSZ + 1, tree);
	text[2 * GIT_OID_HEXSZ + 1] = '\n';
	if (dsync_buf_printf(&path, "%s/dsync-head", f->gitdir) < 0 ||
	    dsync_buf_printf(&tmp, "%s.lock", path.ptr) < 0)
		goto out;
	if ((fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0644)) < 0)
		goto out;
	if (write(fd, text, 2 * GIT_OID_HEXSZ + 2) != 2 * GIT_OID_HEXSZ + 2 || close(fd) < 0 ||
	    rename(tmp.ptr, path.ptr) < 0)
		unlink(tmp.ptr);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&tmp);
}

/* The biggest commit the quick check below reads; a bigger one (a long
 * message) is read through libgit2 */
#define PEEK_MAX (64 * 1024)

/* Whether DATA, inflated to LEN bytes, is the commit ID. */
static bool commit_is(const git_oid *id, const unsigned char *data, size_t len)
{
	unsigned char sum[20];

	dsync_sha1_object(sum, "commit", data, len);
	return memcmp(sum, id->id, sizeof(sum)) == 0;
}

/* The loose object ID under GITDIR is the commit ID, whole. */
static bool loose_commit_intact(const char *gitdir, const git_oid *id, unsigned char *buf)
{
	dsync_buf path = DSYNC_BUF_INIT, z = DSYNC_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1], head[32];
	uLongf len = PEEK_MAX + sizeof(head);
	size_t hl;
	bool ok = false;

	git_oid_tostr(hex, sizeof(hex), id);
	if (dsync_buf_printf(&path, "%s/objects/%.2s/%s", gitdir, hex, hex + 2) < 0 ||
	    dsync_file_read(&z, path.ptr, PEEK_MAX + 4096, 0) < 0 || uncompress(buf, &len, (void *)z.ptr, z.len) != Z_OK)
		goto out;
	hl = strnlen((char *)buf, len < sizeof(head) ? len : sizeof(head));
	if (hl == len || hl == sizeof(head))
		goto out;
	snprintf(head, sizeof(head), "commit %zu", (size_t)len - hl - 1);
	ok = strcmp((char *)buf, head) == 0 && commit_is(id, buf + hl + 1, len - hl - 1);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&z);
	return ok;
}

bool dsync_history_commit_intact(const char *gitdir, const git_oid *id)
{
	unsigned char *buf = malloc(PEEK_MAX + 64);
	void *data = NULL;
	size_t len = 0;
	bool ok;

	if (!buf)
		return false;
	ok = loose_commit_intact(gitdir, id, buf) ||
	     dsync_packed_read(gitdir, id, GIT_OBJECT_COMMIT, PEEK_MAX, &data, &len) == 0;
	free(data);
	free(buf);
	return ok;
}

int dsync_history_head_readable(dsync_folder *f, const git_oid *cached)
{
	git_oid head;
	int error;

	if (dsync_history_commit_intact(f->gitdir, cached))
		return 0;
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	return dsync_history_head(&head, f->repo);
}

int dsync_history_head_tree(git_tree **out, git_oid *head, bool *born, git_repository *repo)
{
	git_commit *c = NULL;
	int err;

	*out = NULL;
	*born = false;
	/* a head that can't be read is a damaged history, never "no
	 * snapshot yet": a new first snapshot would start a second history */
	if ((err = dsync_history_head(head, repo)) == DSYNC_ENOTFOUND)
		return 0;
	if (err < 0)
		return err;
	*born = true;
	if ((err = git_commit_lookup(&c, repo, head)) < 0 || (err = git_commit_tree(out, c)) < 0) {
		git_commit_free(c);
		return dsync_history_walk_error(repo, err);
	}
	git_commit_free(c);
	return 0;
}

int dsync_history_head_walk(git_revwalk **out, git_repository *repo)
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
