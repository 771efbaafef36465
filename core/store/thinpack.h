/*
 * Writing a git packfile whose changed files and folders are deltas against
 * the versions the remote already holds ("thin", as git fetch sends them):
 * libgit2's packbuilder deltas only within a pack, so an edit inside a file
 * would cost the whole file.  The reader's indexer resolves the bases from
 * its own history.
 */
#ifndef DSYNC_CORE_THINPACK_H
#define DSYNC_CORE_THINPACK_H

#include <git2.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/array.h"

typedef struct dsync_thinpack_entry {
	git_oid id;
	git_oid base;        /* a delta base (the remote holds it, or it is in the pack) */
	bool has_base;
} dsync_thinpack_entry;

/* The objects of a pack, in the order they are written. */
typedef DSYNC_ARRAY(dsync_thinpack_entry) dsync_thinpack_list;

void dsync_thinpack_list_dispose(dsync_thinpack_list *l);

/* Called now and then with the objects written so far. */
typedef void (*dsync_thinpack_progress_cb)(size_t done, size_t total, void *payload);

/*
 * The objects reachable from HEAD and not from any of the N commits HIDE
 * (each one's whole tree counts as held), with a delta base proposed for
 * each changed file and folder: its version at the same path in the
 * commit's first parent, when that is held or in the pack.
 */
int dsync_thinpack_list_build(dsync_thinpack_list *out, git_repository *repo, const git_oid *head,
			      const git_oid *hide, size_t n);

/* Writes the objects of L as a packfile (version 2) to FD; a proposed base
 * is used when the delta is under half the object. */
int dsync_thinpack_write(int fd, git_repository *repo, const dsync_thinpack_list *l, dsync_thinpack_progress_cb cb,
			 void *payload);

#endif
