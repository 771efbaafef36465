/*
 * The journal of a working-tree update in progress (internal to
 * core/worktree/).
 */
#ifndef DSYNC_CORE_JOURNAL_H
#define DSYNC_CORE_JOURNAL_H

#include <git2.h>

#include "core/folder/folder.h"

/* The journal's name in .dsync/: "FROM TO\n" (commit ids; FROM all zeros
 * before the first snapshot). */
#define DSYNC_MERGE_JOURNAL "dsync-merge"

/* Writes the journal FROM TO durably (what was written before it first). */
int dsync_journal_write(dsync_folder *f, const git_oid *from, const git_oid *to);

/* Reads the journal: 1 with FROM and TO, 0 when there is none (a damaged
 * one is removed: the next snapshot records the folder as it is). */
int dsync_journal_read(dsync_folder *f, git_oid *from, git_oid *to);

/* Removes the journal. */
void dsync_journal_remove(dsync_folder *f);

#endif
