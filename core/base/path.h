/*
 * Paths: the escaping rule for names git cannot hold, lexical normalisation,
 * and checks on folder-relative paths.
 *
 * Escaping (docs/format.md): git refuses a tree entry named ".git" (in any
 * case) and a symlink named ".gitmodules", ".dsync-empty" marks an empty
 * folder and ".dsync-chunks" a big file's chunk tree, and ".dsync" in any
 * case but exactly that one (".DSYNC", ".Dsync") would be dsync's own
 * history on a file system that folds case, which no tree from another
 * device may name.  dsync stores such a name with "~dsync" appended.  So
 * that the rule is a bijection, a name that already is such a name followed
 * by one or more "~dsync" gets one more "~dsync" too (".dsync~dsync" is
 * stored as ".dsync~dsync~dsync": ".dsync" itself is never stored).
 * Unescaping removes one "~dsync" from a name of that form.
 */
#ifndef DSYNC_PATH_H
#define DSYNC_PATH_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>

#include "core/base/buf.h"

#define DSYNC_ESCAPE_SUFFIX "~dsync"

/*
 * An empty folder is stored as a folder holding one empty file of this name
 * (git keeps no empty trees in its index).  A user's own file of that name is
 * escaped like ".git", so the marker is unambiguous.
 */
#define DSYNC_DIR_MARKER ".dsync-empty"

/* A big file's chunk tree holds a marker of this name (docs/chunks.md); a
 * user's file of that name is escaped too. */
#define DSYNC_CHUNKS_NAME ".dsync-chunks"

/* Whether the name NAME (LEN bytes, one path component) needs escaping when
 * stored; IS_LINK: it is a symbolic link. */
bool dsync_path_name_needs_escape(const char *name, size_t len, bool is_link);

/* Whether the stored name NAME (LEN bytes) is an escaped name. */
bool dsync_path_name_is_escaped(const char *name, size_t len, bool is_link);

/*
 * Appends to OUT the stored form of the folder-relative path PATH (each
 * component escaped; the last one is a link when LAST_IS_LINK).
 */
int dsync_path_escape(dsync_buf *out, const char *path, bool last_is_link);

/* Whether the stored path STORED_PATH is an empty-folder marker. */
bool dsync_path_is_dir_marker(const char *stored_path);

/* Appends to OUT the on-disk form of the stored path PATH. */
int dsync_path_unescape(dsync_buf *out, const char *path, bool last_is_link);

/*
 * Normalises PATH lexically in place: collapses "//", drops "." components
 * and resolves ".." against the previous component (a ".." above the start
 * stays for an absolute path's root: "/.." is "/").  Trailing slashes are
 * removed (except for "/").  An empty relative result is ".".
 */
void dsync_path_normalize(char *path);

/*
 * Whether the folder-relative path PATH is one dsync may read or write:
 * not empty, not absolute, no "", "." or ".." component, no ".dsync"
 * component, no NUL (by construction).
 */
bool dsync_path_is_safe(const char *path);

/*
 * Whether NAME is ".dsync" in another case (".DSYNC") or ".dsync~dsync":
 * names that snapshots stored raw before the ".dsync" family was escaped,
 * which the rule now stores with one more "~dsync".  Trees holding one are
 * still read (as that name on disk), so histories made then stay usable.
 */
bool dsync_path_name_is_dsync_legacy(const char *name);

/*
 * Whether a write or removal at the folder-relative REL under ROOT would
 * land in a ".dsync" folder: REL has a component that is ".dsync" in
 * another case and the file system finds dsync's own ".dsync" under that
 * name (it folds case, as FAT, exFAT, macOS and ext4's casefold folders do).
 */
bool dsync_path_folds_into_dsync(const char *root, const char *rel);

/*
 * Makes the folder PATH and its missing parents (mkdir -p).  DSYNC_ENOTDIR
 * when a file stands in the way.
 */
int dsync_path_mkdirs(const char *path);

/*
 * Reads the small file PATH (at most SIZE-1 bytes; not through a symlink,
 * without blocking, a regular file only: dsync_file_read_small) into BUF,
 * NUL-terminated; its length, or -1: errno ENOENT when PATH is missing,
 * else EINVAL and the message in dsync_error_last().
 */
ssize_t dsync_path_read_small(const char *path, char *buf, size_t size);

/* Receives one entry of a folder walk: its full path, its name, whether it is
 * a folder.  Return non-zero to stop. */
typedef int (*dsync_path_entry_cb)(const char *path, const char *name, bool is_dir, void *payload);

/*
 * Calls CB for each entry of the folder DIR except "." and "..", going into
 * subfolders (after calling CB for them) down to DEPTH levels below DIR.  A
 * folder that cannot be read is skipped.  Returns 0 or CB's non-zero value.
 */
int dsync_path_walk(const char *dir, int depth, dsync_path_entry_cb cb, void *payload);

/* Removes everything inside DIR (not DIR itself), links as links. */
void dsync_path_remove_tree(const char *dir);

/* Removes PATH: a folder (IS_DIR) with everything inside, else the file. */
void dsync_path_remove(const char *path, bool is_dir);

/*
 * Replaces PATH with LEN bytes of DATA durably: PATH.tmp (mode MODE) written
 * and flushed, then renamed over PATH; FLUSH_DIR also flushes the folder.
 */
int dsync_path_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool flush_dir);

#endif
