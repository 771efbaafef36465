/*
 * Big files as chunk trees (see chunks.h and docs/chunks.md).  The trees are
 * serialized here rather than with libgit2's tree builder: their names are
 * fixed-width, so they are already in git's order, and the same bytes give
 * the ids whether the objects are written or only hashed.
 */
#include "core/base/internal.h"
#include "core/base/chunks.h"
#include "core/base/buf.h"
#include "core/base/strset.h"

#include <inttypes.h>
#include <unistd.h>

#define BUF_SIZE (2 * DSYNC_CHUNK_MAX)
#define MARKER_MAX 128

/* Writes (payload: the ODB) or hashes (NULL) one object. */
static int put_odb(git_oid *out, git_object_t type, const void *data, size_t len, void *payload)
{
	git_odb *odb = payload;
	int err;

	git_error_clear(); /* a failed write may say nothing: errno then */
	err = odb ? git_odb_write(out, odb, data, len, type) : git_odb_hash(out, data, len, type);

	return err < 0 ? dsync_error_git(err, "cannot store a chunk") : 0;
}

/* Appends the tree entry MODE NAME ID to a serialized tree. */
static int add_entry(dsync_buf *tree, const char *mode, const char *name, const git_oid *id)
{
	if (dsync_buf_printf(tree, "%s %s", mode, name) < 0 || dsync_buf_put(tree, "", 1) < 0 ||
	    dsync_buf_put(tree, id->id, GIT_OID_RAWSZ) < 0)
		return dsync_error_oom();
	return 0;
}

static int marker_text(dsync_buf *out, uint64_t size, uint32_t mode)
{
	return dsync_buf_printf(out, "dsync chunked file\nversion 1\nsize %" PRIu64 "\nmode %o\n", size, mode);
}

/* Ends the group being built: its tree goes into the root. */
static int end_group(dsync_chunk_tree *t, dsync_chunks_put_fn put, void *payload)
{
	char name[24];
	git_oid id;
	int error;

	if (t->in_leaf == 0)
		return 0;
	if ((error = put(&id, GIT_OBJECT_TREE, t->leaf.ptr, t->leaf.len, payload)) < 0)
		return error;
	snprintf(name, sizeof(name), "g%06zx", t->groups++);
	dsync_buf_truncate(&t->leaf, 0);
	t->in_leaf = 0;
	return add_entry(&t->root, "40000", name, &id);
}

int dsync_chunk_tree_add(dsync_chunk_tree *t, const git_oid *id, bool group_end, dsync_chunks_put_fn put,
			 void *payload)
{
	char name[24];
	int error;

	snprintf(name, sizeof(name), "c%04zx", t->in_leaf++);
	if ((error = add_entry(&t->leaf, "100644", name, id)) < 0)
		return error;
	return group_end || t->in_leaf == DSYNC_GROUP_MAX ? end_group(t, put, payload) : 0;
}

int dsync_chunk_tree_finish(dsync_chunk_tree *t, git_oid *out, uint64_t size, uint32_t mode,
			    dsync_chunks_put_fn put, void *payload)
{
	dsync_buf marker = DSYNC_BUF_INIT, tree = DSYNC_BUF_INIT;
	git_oid id;
	int error;

	if ((error = end_group(t, put, payload)) < 0)
		return error;
	/* the root: the marker first ('.' sorts before 'g'), then the groups */
	if ((error = marker_text(&marker, size, mode)) < 0 ||
	    (error = put(&id, GIT_OBJECT_BLOB, marker.ptr, marker.len, payload)) < 0 ||
	    (error = add_entry(&tree, "100644", DSYNC_CHUNKS_MARKER, &id)) < 0 ||
	    (t->root.len && (error = dsync_buf_put(&tree, t->root.ptr, t->root.len)) < 0))
		goto out;
	error = put(out, GIT_OBJECT_TREE, tree.ptr, tree.len, payload);
out:
	dsync_buf_dispose(&marker);
	dsync_buf_dispose(&tree);
	return error;
}

void dsync_chunk_tree_dispose(dsync_chunk_tree *t)
{
	dsync_buf_dispose(&t->root);
	dsync_buf_dispose(&t->leaf);
	memset(t, 0, sizeof(*t));
}

int dsync_chunk_cutter_init(dsync_chunk_cutter *k, const dsync_chunker *c, int fd)
{
	memset(k, 0, sizeof(*k));
	k->c = c;
	k->fd = fd;
	if ((k->buf = malloc(BUF_SIZE)) == NULL)
		return dsync_error_oom();
	return 0;
}

int dsync_chunk_cutter_next(dsync_chunk_cutter *k, const unsigned char **data, size_t *len, bool *group_end,
			    bool *read_failed)
{
	size_t n;

	/* keep at least a whole chunk's worth ahead */
	if (!k->eof && k->have - k->pos < DSYNC_CHUNK_MAX) {
		memmove(k->buf, k->buf + k->pos, k->have - k->pos);
		k->have -= k->pos;
		k->pos = 0;
		while (!k->eof && k->have < BUF_SIZE) {
			ssize_t r = read(k->fd, k->buf + k->have, BUF_SIZE - k->have);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				if (read_failed)
					*read_failed = true;
				return dsync_error_sys(errno, "cannot read a big file");
			}
			k->eof = r == 0;
			k->have += (size_t)r;
			k->total += (uint64_t)r;
		}
	}
	if (k->pos == k->have)
		return 0;
	n = dsync_chunker_next(k->c, k->buf + k->pos, k->have - k->pos, k->eof, group_end);
	if (n == 0)
		return dsync_error_set(DSYNC_ERROR, "the chunker asked for more data at the end");
	*data = k->buf + k->pos;
	*len = n;
	k->pos += n;
	return 1;
}

void dsync_chunk_cutter_dispose(dsync_chunk_cutter *k)
{
	free(k->buf);
	memset(k, 0, sizeof(*k));
}

int dsync_chunks_from_fd_put(git_oid *out, uint64_t *size, dsync_chunks_put_fn put, void *payload,
			     const dsync_chunker *c, int fd, uint32_t mode, bool *read_failed)
{
	dsync_chunk_cutter k;
	dsync_chunk_tree t = { DSYNC_BUF_INIT, DSYNC_BUF_INIT, 0, 0 };
	const unsigned char *data = NULL;   /* set whenever the cutter returns 1: -O3 can't see it */
	size_t len = 0;
	bool group_end = false;
	git_oid id;
	int error;

	if ((error = dsync_chunk_cutter_init(&k, c, fd)) < 0)
		return error;
	while ((error = dsync_chunk_cutter_next(&k, &data, &len, &group_end, read_failed)) > 0)
		if ((error = put(&id, GIT_OBJECT_BLOB, data, len, payload)) < 0 ||
		    (error = dsync_chunk_tree_add(&t, &id, group_end, put, payload)) < 0)
			break;
	if (error == 0 && (error = dsync_chunk_tree_finish(&t, out, k.total, mode, put, payload)) == 0 && size)
		*size = k.total;
	dsync_chunk_cutter_dispose(&k);
	dsync_chunk_tree_dispose(&t);
	return error;
}

int dsync_chunks_from_fd(git_oid *out, uint64_t *size, git_odb *odb, const dsync_chunker *c, int fd,
			 uint32_t mode, bool *read_failed)
{
	return dsync_chunks_from_fd_put(out, size, put_odb, odb, c, fd, mode, read_failed);
}

int dsync_chunks_info(dsync_chunked *info, git_repository *repo, const git_tree *tree)
{
	const git_tree_entry *e = git_tree_entry_byname(tree, DSYNC_CHUNKS_MARKER);
	dsync_buf want = DSYNC_BUF_INIT;
	git_blob *b = NULL;
	char text[MARKER_MAX + 1];
	unsigned long long size;
	unsigned mode;
	size_t len;
	int err;

	memset(info, 0, sizeof(*info));
	if (!e)
		return 0;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return dsync_error_set(DSYNC_ECORRUPT, "a chunked file's marker is not a file");
	if ((err = git_blob_lookup(&b, repo, git_tree_entry_id(e))) < 0)
		return dsync_error_git(err, "cannot read a chunked file's marker");
	len = (size_t)git_blob_rawsize(b);
	if (len > MARKER_MAX) {
		git_blob_free(b);
		return dsync_error_set(DSYNC_ECORRUPT, "a chunked file's marker is too long");
	}
	memcpy(text, git_blob_rawcontent(b), len);
	text[len] = '\0';
	git_blob_free(b);
	/* exactly the text dsync writes, nothing else */
	if (memchr(text, '\0', len) ||
	    sscanf(text, "dsync chunked file\nversion 1\nsize %llu\nmode %o\n", &size, &mode) != 2 ||
	    (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE) ||
	    marker_text(&want, (uint64_t)size, mode) < 0 || strcmp(want.ptr, text) != 0) {
		dsync_buf_dispose(&want);
		return dsync_error_set(DSYNC_ECORRUPT, "a chunked file's marker is not dsync's");
	}
	dsync_buf_dispose(&want);
	info->size = (uint64_t)size;
	info->mode = mode;
	return 1;
}

int dsync_chunks_info_of(dsync_chunked *info, git_repository *repo, const git_oid *tree_id)
{
	git_tree *t = NULL;
	int err, error;

	memset(info, 0, sizeof(*info));
	if ((err = git_tree_lookup(&t, repo, tree_id)) < 0)
		return dsync_error_git(err, "cannot read a stored tree");
	error = dsync_chunks_info(info, repo, t);
	git_tree_free(t);
	return error;
}

bool dsync_chunks_entry_is_big(dsync_chunked *info, git_repository *repo, const git_tree_entry *e)
{
	dsync_chunked unused;

	return git_tree_entry_type(e) == GIT_OBJECT_TREE &&
	       dsync_chunks_info_of(info ? info : &unused, repo, git_tree_entry_id(e)) == 1;
}

int dsync_chunks_read(git_repository *repo, const git_oid *tree_id, const char *path,
		      int (*cb)(const void *data, size_t len, void *payload), void *payload)
{
	git_tree *root = NULL, *leaf = NULL;
	git_odb *odb = NULL;
	dsync_chunked info;
	uint64_t total = 0;
	size_t i, j, n;
	char want[24];
	int err, error;

	if ((err = git_tree_lookup(&root, repo, tree_id)) < 0)
		return dsync_error_git(err, "cannot read the stored '%s'", path);
	if (!cb && (err = git_repository_odb(&odb, repo)) < 0) {
		git_tree_free(root);
		return dsync_error_git(err, "cannot read the stored '%s'", path);
	}
	if ((error = dsync_chunks_info(&info, repo, root)) <= 0) {
		if (error == 0)
			error = dsync_error_set(DSYNC_ECORRUPT, "'%s' is not a chunked file", path);
		goto out;
	}
	n = git_tree_entrycount(root);
	for (i = 1; i < n; i++) {
		const git_tree_entry *g = git_tree_entry_byindex(root, i);

		snprintf(want, sizeof(want), "g%06zx", i - 1);
		if (strcmp(git_tree_entry_name(g), want) != 0 || git_tree_entry_type(g) != GIT_OBJECT_TREE)
			goto corrupt;
		if ((err = git_tree_lookup(&leaf, repo, git_tree_entry_id(g))) < 0) {
			error = dsync_error_git(err, "cannot read the stored '%s'", path);
			goto out;
		}
		if (git_tree_entrycount(leaf) == 0 || git_tree_entrycount(leaf) > DSYNC_GROUP_MAX)
			goto corrupt;
		for (j = 0; j < git_tree_entrycount(leaf); j++) {
			const git_tree_entry *c = git_tree_entry_byindex(leaf, j);
			git_blob *b = NULL;
			size_t len;

			snprintf(want, sizeof(want), "c%04zx", j);
			if (strcmp(git_tree_entry_name(c), want) != 0 || git_tree_entry_type(c) != GIT_OBJECT_BLOB)
				goto corrupt;
			if (!cb) {
				/* checking only: the sizes from the headers */
				git_object_t type;

				if ((err = git_odb_read_header(&len, &type, odb, git_tree_entry_id(c))) < 0) {
					error = dsync_error_git(err, "cannot read the stored '%s'", path);
					goto out;
				}
				total += len;
				if (len == 0 || len > DSYNC_CHUNK_MAX || total > info.size)
					goto corrupt;
				continue;
			}
			if ((err = git_blob_lookup(&b, repo, git_tree_entry_id(c))) < 0) {
				error = dsync_error_git(err, "cannot read the stored '%s'", path);
				goto out;
			}
			len = (size_t)git_blob_rawsize(b);
			total += len;
			if (len == 0 || len > DSYNC_CHUNK_MAX || total > info.size) {
				git_blob_free(b);
				goto corrupt;
			}
			error = cb(git_blob_rawcontent(b), len, payload);
			git_blob_free(b);
			if (error)
				goto out;
		}
		git_tree_free(leaf);
		leaf = NULL;
	}
	if (total != info.size)
		goto corrupt;
	error = 0;
	goto out;
corrupt:
	error = dsync_error_set(DSYNC_ECORRUPT, "the stored '%s' is damaged: its chunks are not what its marker says",
				path);
out:
	git_tree_free(leaf);
	git_tree_free(root);
	git_odb_free(odb);
	return error;
}

typedef struct conv {
	git_repository *repo;
	bool to_index;
	dsync_buf path;          /* of the tree being rewritten, for messages */
	dsync_strset *unreadable; /* NULL, or collects links whose chunk tree can't be read */
	int failed;              /* the first such failure's error */
} conv;

/*
 * Rewrites TREE: C->TO_INDEX, chunk trees become links; else links become
 * chunk trees.  *OUT: the new id (TREE's own when nothing changed).  A link
 * whose chunk tree or marker can't be read goes into C->UNREADABLE, when
 * set, and the walk goes on (the caller fails it after).
 */
static int convert(git_oid *out, conv *c, const git_tree *tree)
{
	git_treebuilder *bld = NULL;
	git_repository *repo = c->repo;
	dsync_buf *path = &c->path;
	size_t i, n = git_tree_entrycount(tree), len = path->len;
	int err, error = 0;

	git_oid_cpy(out, git_tree_id(tree));
	for (i = 0; i < n && !error; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		git_filemode_t mode = git_tree_entry_filemode(e), want = mode;
		bool link = mode == GIT_FILEMODE_COMMIT && !c->to_index, unread = false;
		git_tree *sub = NULL;
		git_oid id;
		dsync_chunked info;

		git_oid_cpy(&id, git_tree_entry_id(e));
		if (mode != GIT_FILEMODE_TREE && mode != GIT_FILEMODE_COMMIT)
			continue;
		if ((len && (error = dsync_buf_put(path, "/", 1)) < 0) ||
		    (error = dsync_buf_puts(path, git_tree_entry_name(e))) < 0)
			break;
		if ((err = git_tree_lookup(&sub, repo, &id)) < 0) {
			error = dsync_error_git(err, "cannot read the stored '%s'", path->ptr);
			unread = link;
		} else if ((error = dsync_chunks_info(&info, repo, sub)) < 0) {
			unread = link;
		} else if (link && error == 0) {
			error = dsync_error_set(DSYNC_ECORRUPT, "the stored '%s' links to something that is not a big file",
						path->ptr);
		} else if (error == 1) {
			want = c->to_index ? GIT_FILEMODE_COMMIT : GIT_FILEMODE_TREE;
		} else if (mode == GIT_FILEMODE_TREE) {
			error = convert(&id, c, sub);
		}
		git_tree_free(sub);
		if (unread && c->unreadable) {
			/* its chunk tree or marker can't be read: noted, and on */
			if (!c->failed)
				c->failed = error;
			error = dsync_strset_add(c->unreadable, path->ptr);
		}
		dsync_buf_truncate(path, len);
		if (error < 0)
			break;
		error = 0;
		if (want == mode && git_oid_equal(&id, git_tree_entry_id(e)))
			continue;
		if (!bld && (err = git_treebuilder_new(&bld, repo, tree)) < 0) {
			error = dsync_error_git(err, "cannot rewrite a tree");
			break;
		}
		if ((err = git_treebuilder_insert(NULL, bld, git_tree_entry_name(e), &id, want)) < 0)
			error = dsync_error_git(err, "cannot rewrite a tree");
	}
	if (!error && bld && (err = git_treebuilder_write(out, bld)) < 0)
		error = dsync_error_git(err, "cannot write a tree");
	git_treebuilder_free(bld);
	return error;
}

static int convert_root(git_oid *out, git_repository *repo, const git_tree *tree, bool to_index,
			dsync_strset *unreadable)
{
	conv c = { repo, to_index, DSYNC_BUF_INIT, unreadable, 0 };
	int error;

	if ((error = dsync_buf_puts(&c.path, "")) == 0 && (error = convert(out, &c, tree)) == 0)
		error = c.failed;
	dsync_buf_dispose(&c.path);
	return error;
}

int dsync_chunks_to_index_form(git_oid *out, git_repository *repo, const git_tree *tree)
{
	return convert_root(out, repo, tree, true, NULL);
}

int dsync_chunks_from_index_form(git_oid *out, git_repository *repo, const git_tree *tree)
{
	return convert_root(out, repo, tree, false, NULL);
}

int dsync_chunks_swap_to_index_form(git_tree **tree, git_repository *repo)
{
	git_tree *t = NULL;
	git_oid id;
	int err, error;

	if ((error = dsync_chunks_to_index_form(&id, repo, *tree)) < 0)
		return error;
	if (git_oid_equal(&id, git_tree_id(*tree)))
		return 0;
	if ((err = git_tree_lookup(&t, repo, &id)) < 0)
		return dsync_error_git(err, "cannot read a tree");
	git_tree_free(*tree);
	*tree = t;
	return 0;
}

int dsync_chunks_id_to_stored_form(git_oid *id, git_repository *repo, dsync_strset *unreadable)
{
	git_tree *t = NULL;
	int err, error;

	if ((err = git_tree_lookup(&t, repo, id)) < 0)
		return dsync_error_git(err, "cannot read a tree");
	error = convert_root(id, repo, t, false, unreadable);
	git_tree_free(t);
	return error;
}
