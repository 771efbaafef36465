/*
 * Reading a blob whole for writing it out (see blobread.h).  Every object
 * read through git_odb_read() is hashed again with libgit2's SHA-1DC, which
 * costs more than inflating it.  The collision detection matters where an
 * id is first computed from bytes that came from elsewhere (the indexing of
 * a fetched pack, a snapshot): that is where a crafted pair would be
 * caught.  Here the id is already known and the question is only whether
 * the bytes on this disk are still the ones it names, which plain SHA-1
 * (with the CPU's SHA instructions) answers as well, several times faster.
 * Bytes that don't match are never used: the caller reads them through
 * libgit2, which fails with its own message.
 */
#include "core/base/internal.h"
#include "core/base/blobread.h"
#include "core/base/sha1.h"

#include <git2/sys/odb_backend.h>

/* Whether DATA (LEN bytes) is the blob ID. */
static bool blob_is(const git_oid *id, const void *data, size_t len)
{
	unsigned char got[20];

	dsync_sha1_object(got, "blob", data, len);
	return memcmp(got, id->id, sizeof(got)) == 0;
}

int dsync_blobread_get(dsync_blobread *r, git_repository *repo, const git_oid *id)
{
	size_t i, n;
	int err;

	memset(r, 0, sizeof(*r));
	if ((err = git_repository_odb(&r->odb, repo)) < 0)
		return dsync_error_git(err, "cannot open the history");
	n = git_odb_num_backends(r->odb);
	for (i = 0; i < n; i++) {
		git_odb_backend *b = NULL;
		git_object_t type = GIT_OBJECT_INVALID;
		void *data = NULL;
		size_t len = 0;

		if (git_odb_get_backend(&b, r->odb, i) < 0 || !b->read)
			continue;
		err = b->read(&data, &len, &type, b, id);
		if (err == GIT_ENOTFOUND || err == GIT_PASSTHROUGH)
			continue;
		if (err < 0)
			break;
		if (type != GIT_OBJECT_BLOB || !blob_is(id, data, len)) {
			git_odb_backend_data_free(b, data);
			break;
		}
		r->b = b;
		r->data = data;
		r->len = len;
		return 0;
	}
	git_error_clear();
	return 1;
}

void dsync_blobread_free(dsync_blobread *r)
{
	if (r->data)
		git_odb_backend_data_free(r->b, r->data);
	git_odb_free(r->odb);
	memset(r, 0, sizeof(*r));
}
