#ifndef DSYNC_BASE_BLOBREAD_H
#define DSYNC_BASE_BLOBREAD_H

#include <git2.h>

/*
 * A stored file's bytes read for writing it out (restore, checkout): from
 * the object database's backends, without libgit2's re-hash (SHA-1DC, the
 * largest cost of writing a version out), its id checked with
 * core/base/sha1.c instead (docs/format.md, "Reading objects").
 */
typedef struct dsync_blobread {
	git_odb *odb;
	git_odb_backend *b;     /* the backend that read it */
	void *data;
	size_t len;
} dsync_blobread;

/* Reads blob ID from REPO into R (free with dsync_blobread_free(), also
 * after a failure): 0, or 1 when not read this way (missing, not a blob,
 * its bytes not matching its id, ...: the caller reads it through libgit2,
 * which says why), or a negative code. */
int dsync_blobread_get(dsync_blobread *r, git_repository *repo, const git_oid *id);
void dsync_blobread_free(dsync_blobread *r);

#endif
