/*
 * The folder handle's insides, shared by the core modules (not public).
 */
#ifndef DSYNC_CORE_FOLDER_H
#define DSYNC_CORE_FOLDER_H

#include <git2.h>
#include <stdbool.h>

#include "dsync/folder.h"
#include "dsync/ignore.h"
#include "core/base/chunker.h"
#include "core/folder/lock.h"

struct dsync_folder {
	char *root;        /* absolute, resolved, no trailing slash */
	char *gitdir;      /* root + "/.dsync" */
	git_repository *repo;  /* NULL until dsync_folder_repo() */
	char *device_id;       /* set with repo */
	char *device_name;
	dsync_lock lock;   /* the single-writer lock (core/folder/lock.h) */
};

/* Whether this handle holds F's lock (at any depth). */
bool dsync_folder_locked(const dsync_folder *f);

/*
 * Opens F's repository (starting libgit2) and reads its identity, unless
 * done already: every use of f->repo comes after it.
 */
int dsync_folder_repo(dsync_folder *f);

/*
 * Loads the folder's ignore rules (defaults plus ROOT/.dsyncignore) into
 * *OUT, a new rule set the caller frees.
 */
int dsync_folder_load_ignore(dsync_ignore **out, const dsync_folder *f);

/*
 * Makes everything written to the git directory so far durable (one syncfs
 * of its file system), then stamps DSYNC_SYNCED_STAMP's time: loose
 * objects written after it may be a power cut's wrecks (see
 * dsync_folder_repair()).
 */
int dsync_folder_sync(const dsync_folder *f);

/* In the git directory: its time is the last flush's. */
#define DSYNC_SYNCED_STAMP "dsync-synced"

/*
 * The marker file in .dsync/ that tells a present folder from a missing
 * mount (or another folder mounted in its place): the folder id and a
 * newline.  Written by init.
 */
#define DSYNC_MARKER "dsync-folder"

/* Reads F's folder id (32 hex digits) from its marker into OUT (33 bytes),
 * writing the marker from the config when an older folder has none. */
int dsync_folder_marker(char *out, dsync_folder *f);

/* True when ROOT holds the folder whose id is FOLDER_ID (its marker says
 * so); reads one small file, never starts libgit2. */
bool dsync_folder_present(const char *root, const char *folder_id);

/*
 * The folder's chunk secret (docs/chunks.md: it keys the chunker so that
 * chunk boundaries say nothing about content), DSYNC_CHUNK_SEED_BYTES bytes
 * into SEED; made and written to the config when an older folder has none
 * (the caller holds the lock).
 */
int dsync_folder_chunk_seed(unsigned char *seed, dsync_folder *f);

/*
 * As dsync_folder_init(), with PREPARE (unless NULL) called on the new
 * folder's config before the folder appears under its name: what it writes
 * (a join's remote and the mark of a join in progress) is there from the
 * folder's first moment, whenever the process is killed.
 */
typedef int (*dsync_folder_prepare_cb)(git_config *cfg, void *payload);
int dsync_folder_init_prepared(dsync_folder **out, const char *dir, const char *device_name,
			       dsync_folder_prepare_cb prepare, void *payload);

/* The folder's chunker, keyed by its secret, into *OUT. */
int dsync_folder_chunker(dsync_chunker *out, dsync_folder *f);

#endif
