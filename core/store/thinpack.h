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
 * is used when the delta is under half the object.  Whole objects whose
 * sampled bytes don't compress are stored (zlib stored blocks), the others
 * deflated at the fastest level; deltas at the default level.  The bytes
 * depend only on L and the objects (and this build's zlib): the same list
 * written twice gives the same pack, so the same name once encrypted. */
int dsync_thinpack_write(int fd, git_repository *repo, const dsync_thinpack_list *l, dsync_thinpack_progress_cb cb,
			 void *payload);

/* Sees every byte of the pack as it is written, in order. */
typedef void (*dsync_thinpack_tap)(const void *data, size_t len, void *payload);

/*
 * Where the objects of a list sit whole in the history's own packs
 * (objects/pack/pack-*.idx, version 2): their entries go into a push's pack
 * as they are, without inflating and deflating them again.  Read-only once
 * made: any number of threads may write packs with it.  Only the objects L
 * sends whole are looked for, so it holds at most one entry per object.
 */
typedef struct dsync_thinpack_reuse dsync_thinpack_reuse;

int dsync_thinpack_reuse_open(dsync_thinpack_reuse **out, git_repository *repo, const dsync_thinpack_list *l);
void dsync_thinpack_reuse_free(dsync_thinpack_reuse *r);

/*
 * Cuts L into segments of at most MAX bytes of raw object data, in order:
 * segment K holds the objects from (*CUTS)[K-1] (0 for the first) up to
 * (*CUTS)[K], excluded; *NCUTS segments, none when L is empty.  A new
 * segment starts before an object would take the sum past MAX; an object
 * larger than MAX gets a segment of its own.  The cut depends only on the
 * objects before it, so objects appended to L change only the last
 * segment and the ones after it.  *CUTS is the caller's to free.  The sizes
 * of objects whole in local packs are read from REUSE (may be NULL).
 */
int dsync_thinpack_list_cut(size_t **cuts, size_t *ncuts, const dsync_thinpack_list *l, git_repository *repo,
			    const dsync_thinpack_reuse *reuse, uint64_t max);

/* dsync_thinpack_write, with TAP (may be NULL) given every byte written
 * (the pack's name is hashed on the way instead of reading it back) and
 * the entries of REUSE (may be NULL) copied.  The bytes then depend also
 * on how the history holds the objects: the same list written again after
 * a 'dsync gc' may give another pack. */
int dsync_thinpack_write_tap(int fd, git_repository *repo, const dsync_thinpack_list *l,
			     dsync_thinpack_progress_cb cb, void *payload, const dsync_thinpack_reuse *reuse,
			     dsync_thinpack_tap tap, void *tap_payload);

#endif
