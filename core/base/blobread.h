#ifndef DSYNC_BASE_BLOBREAD_H
#define DSYNC_BASE_BLOBREAD_H

#include <git2.h>

/*
 * A stored file's bytes read for writing it out (restore, checkout): from
 * the object database's backends, without libgit2's re-hash (SHA-1DC, the
 * largest cost of writing a version out), its id checked with
 * core/base/sha1.c instead (docs/format.md, "Reading objects").  A whole
 * (not delta) blob in one of the history's packs is read from the pack
 * here and inflated by libdeflate, about three times as fast as libgit2's
 * zlib; any other goes through the backends.
 */
typedef struct dsync_blobread {
	git_odb *odb;
	git_odb_backend *b;     /* the backend that read it (NULL: read from
				 * its pack here, DATA malloc'd) */
	void *data;
	size_t len;
} dsync_blobread;

/* Reads blob ID from REPO into R (free with dsync_blobread_free(), also
 * after a failure): 0, or 1 when not read this way (missing, not a blob,
 * its bytes not matching its id, ...: the caller reads it through libgit2,
 * which says why), or a negative code. */
int dsync_blobread_get(dsync_blobread *r, git_repository *repo, const git_oid *id);
void dsync_blobread_free(dsync_blobread *r);

/* Reads object ID of TYPE whole from a pack of the history at GITDIR
 * (stored whole, not as a delta; at most MAX bytes), its hash checked:
 * 0 with *DATA malloc'd (*LEN bytes, free() it), or 1 when not read this
 * way (not in a pack, a delta, larger, another type, damaged: the caller
 * reads it otherwise).  Also without libgit2 (an unchanged snapshot's look
 * at its head commit, core/history/head.c). */
int dsync_packed_read(const char *gitdir, const git_oid *id, git_object_t type, size_t max, void **data,
		      size_t *len);

#endif
