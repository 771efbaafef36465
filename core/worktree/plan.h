/*
 * The plan of a working-tree update (internal to core/worktree/): the paths
 * where two versions differ, each compared with what is on disk.
 */
#ifndef DSYNC_CORE_PLAN_H
#define DSYNC_CORE_PLAN_H

#include <git2.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "dsync/ignore.h"
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/chunker.h"
#include "core/folder/folder.h"

/* What a path on disk holds: FROM's version (to be replaced), TO's (done
 * already), or neither (the user changed it: dirty). */
enum { DSYNC_PLAN_AT_FROM, DSYNC_PLAN_AT_TO, DSYNC_PLAN_DIRTY };

typedef struct dsync_plan_side {
	git_oid id;
	uint32_t mode;      /* 0: absent */
	char *disk;         /* folder-relative, as on disk */
	bool exists;        /* something is at DISK */
	struct stat st;     /* its lstat when compared */
} dsync_plan_side;

typedef struct dsync_plan_change {
	char *path;         /* stored path */
	bool marker;        /* an empty folder's marker: the folder itself */
	bool folder_goes;   /* a folder at the path, which FROM had as a folder
			       (or not at all): it goes when emptied */
	dsync_plan_side from, to;      /* DISK equal in both unless the escape differs */
	int state;
	bool written;       /* TO's version written by this update ... */
	struct stat done;   /* ... and its lstat right after */
} dsync_plan_change;

/* The changes, one per stored path, sorted by it. */
typedef DSYNC_ARRAY(dsync_plan_change) dsync_plan;

/* Empties P. */
void dsync_plan_dispose(dsync_plan *p);

/* The paths where FROM_TREE (may be NULL) and TO_TREE differ into *OUT
 * (emptied first). */
int dsync_plan_make(dsync_plan *out, git_repository *repo, git_tree *from_tree, git_tree *to_tree);

/* Refuses P before anything is written when one of its paths would land
 * in .dsync on this file system (".DSYNC" where case folds). */
int dsync_plan_check_folds(const dsync_plan *p, const dsync_folder *f);

/* Cuts a marker's path DISK to the folder it stands for ("" for the root). */
void dsync_plan_marker_dir(char *disk);

/* F's root joined with the folder-relative REL into OUT (emptied first). */
int dsync_plan_abs_path(dsync_buf *out, const dsync_folder *f, const char *rel);

/* The ignore rules TREE's .dsyncignore makes (with the defaults) into *OUT. */
int dsync_plan_rules(dsync_ignore **out, git_repository *repo, git_tree *tree);

/* Whether RULES leave out the folder-relative file DISK (or a folder above
 * it). */
bool dsync_plan_ignored(const dsync_ignore *rules, const char *disk);

/*
 * Compares every path of P with the disk (CK: the folder's chunker, for
 * big files); the number of dirty ones into *DIRTY.  A file that TO no
 * longer has because RULES (TO's) leave it out stays on disk.
 */
int dsync_plan_classify(dsync_plan *p, const dsync_folder *f, const dsync_chunker *ck, const dsync_ignore *rules,
			size_t *dirty);

/* Whether A and B are the lstat of one version of one file (with CTIME:
 * the change time too, which only a rename changes). */
bool dsync_plan_same_stat(const struct stat *a, const struct stat *b, bool ctime);

/* Whether the place S was looked at is still as it was. */
bool dsync_plan_unchanged(const dsync_plan_side *s, const dsync_folder *f);

#endif
