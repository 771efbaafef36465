/*
 * One object written as a loose file of the local object store
 * (GITDIR/objects/xx/...), as git and libgit2 write them, but hashed with
 * the CPU's SHA instructions (core/base/sha1.c) and compressed as the local
 * packs are (core/base/zcomp.c: stored when it doesn't compress, else
 * deflated with libdeflate): libgit2's own write, SHA-1DC and zlib, took
 * most of a small snapshot's CPU (docs/format.md, "Loose objects").
 *
 * An object whose id the store already holds is not written: its bytes are
 * hashed again with libgit2's SHA-1DC first, so a file crafted to collide
 * with a stored one fails the write rather than vanishing (as in packw.c).
 *
 * The file is written under a temporary name in GITDIR/objects
 * (DSYNC_LOOSE_TEMP..., which dsync_folder_repair() removes after a crash,
 * as libgit2's own) and renamed into its fan-out folder: nothing is flushed
 * here; the caller's syncfs before a ref moves makes it durable.
 */
#ifndef DSYNC_BASE_LOOSE_H
#define DSYNC_BASE_LOOSE_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

/* The start of a temporary object file's name. */
#define DSYNC_LOOSE_TEMP "tmp_obj_dsync_"

/* Writes the object of TYPE and LEN bytes at DATA into the store of GITDIR
 * (ODB, for what it holds already); its id into *OUT.  0 or a negative
 * DSYNC_E* code. */
int dsync_loose_write(git_oid *out, git_odb *odb, const char *gitdir, git_object_t type, const void *data,
		      size_t len);

/*
 * Whether the loose object file PATH holds object ID whole: inflated here
 * as a stream (64 KiB at a time, any size), not by libgit2 (1.5 loops
 * forever on a loose object cut short: libgit2 #7342, fixed after it), its
 * header parsed and its bytes hashed (SHA-1: a wreck is no crafted
 * collision).  0; DSYNC_ECORRUPT (cut short, zeroed, another object's
 * bytes, bytes after the stream) with a message naming ID; or another
 * negative DSYNC_E* code (the file can't be read, memory).
 */
int dsync_loose_check(const char *path, const git_oid *id);

/* Receives one loose object: its id and its file's path.  Non-zero stops. */
typedef int (*dsync_loose_cb)(const git_oid *id, const char *path, void *payload);

/*
 * Calls CB for each loose object of the store of GITDIR (objects/xx/<38
 * hex>) whose file was changed at SINCE (seconds since the epoch) or later
 * (0: every one, and no stat() of the files); a fan-out folder not changed
 * since is not listed.  Returns 0, CB's first non-zero answer, or
 * DSYNC_ERROR when out of memory.
 */
int dsync_loose_each(const char *gitdir, int64_t since, dsync_loose_cb cb, void *payload);

/*
 * Checks with dsync_loose_check() each loose object of GITDIR whose file
 * was changed at SINCE (seconds since the epoch) or later (0: every one;
 * a fan-out folder not changed since is not read) and moves each damaged
 * one to GITDIR/objects/damaged/<hex id>, where neither git nor libgit2
 * looks: a read of it then fails plainly, and a write of that object
 * writes it anew instead of taking the wreck for it; one that can't be
 * moved is removed (it holds no object, only the wreck of one).  *MOVED:
 * how many went; *STUCK (may be NULL): how many could be neither moved nor
 * removed (a read-only folder): libgit2 must not read those.  A file that
 * can't be read now (I/O, permissions) stays and is not counted.  Returns
 * 0, or DSYNC_ERROR when out of memory.
 */
int dsync_loose_sweep(const char *gitdir, int64_t since, size_t *moved, size_t *stuck);

#endif
