/*
 * dsync — a synced folder: a working tree plus its git directory FOLDER/.dsync
 * (DESIGN.md section 3), its device identity, its lock, and the per-user list
 * of registered folders.
 */
#ifndef DSYNC_FOLDER_H
#define DSYNC_FOLDER_H

#include <stddef.h>

#include "dsync/common.h"

typedef struct dsync_folder dsync_folder;

/* The git directory's name inside a folder. */
#define DSYNC_DIR ".dsync"

/*
 * Makes DIR (created when missing) a synced folder: creates DIR/.dsync as
 * DESIGN.md section 3 says, with a new random device id and folder id and the
 * device name DEVICE_NAME (NULL: $DSYNC_DEVICE_NAME, else the host name), and
 * registers the folder in the per-user config directory.  Takes no snapshot.
 * Refuses a file (DSYNC_ENOTDIR), a folder that already is or is inside a
 * dsync folder (DSYNC_EEXISTS), an unwritable place (DSYNC_EACCESS).  On
 * success *OUT is the opened folder, freed with dsync_folder_free().
 */
int dsync_folder_init(dsync_folder **out, const char *dir, const char *device_name);

/* The longest device name, in bytes. */
#define DSYNC_DEVICE_NAME_MAX 64

/*
 * Checks a device name before it goes into commits and conflict copies'
 * names: not empty, at most DSYNC_DEVICE_NAME_MAX bytes, not "." or "..", no
 * '/' or '\\', no control character (a newline would break a commit's
 * trailer), no '<' or '>' (they end a commit's author), no space at either
 * end.  DSYNC_EUSAGE naming the rule it breaks.  dsync_folder_init() checks
 * the name it is given (or $DSYNC_DEVICE_NAME) and opening a folder checks
 * the one in its config; a host name that breaks a rule is made safe instead.
 */
int dsync_device_name_check(const char *name);

/*
 * Opens the synced folder that contains PATH (NULL: the current directory),
 * looking upwards.  DSYNC_ENOTFOLDER when there is none.  Its git repository
 * is opened when a call first needs it (an unchanged snapshot never does).
 */
int dsync_folder_open(dsync_folder **out, const char *path);

/* Frees F (releasing its lock if held); accepts NULL. */
void dsync_folder_free(dsync_folder *f);

/* The folder's root (absolute, symlinks resolved, no trailing slash). */
const char *dsync_folder_root(const dsync_folder *f);

/* This device's id (32 hex digits) and name ("" when the folder's history
 * cannot be opened). */
const char *dsync_folder_device_id(dsync_folder *f);
const char *dsync_folder_device_name(dsync_folder *f);

/*
 * Takes the folder's single-writer lock (DESIGN.md section 9): a lock file in
 * .dsync/ holding the holder's pid, held with flock() so that a dead holder's
 * lock is free again.  Waits up to WAIT_MS milliseconds; then DSYNC_ELOCKED
 * naming the holder's pid.  It only locks: every writing call of the library
 * also repairs what a crashed writer left and finishes its interrupted update
 * once it holds the lock.  Nested calls on the same handle count.
 */
DSYNC_WARN_UNUSED
int dsync_folder_lock(dsync_folder *f, int wait_ms);

/* Releases one level of the lock taken by dsync_folder_lock(). */
void dsync_folder_unlock(dsync_folder *f);

/*
 * Turns USER_PATH (absolute, or relative to the current directory) into a
 * path relative to the folder's root, '/'-separated, as on disk (unescaped);
 * "" names the root itself.  The path need not exist.  DSYNC_EUSAGE when it
 * lies outside the folder or inside .dsync.  The caller frees *OUT.
 */
int dsync_folder_relpath(char **out, const dsync_folder *f, const char *user_path);

/*
 * The per-user config directory ($XDG_CONFIG_HOME/dsync or
 * ~/.config/dsync), malloc'd, into *OUT.
 */
int dsync_config_dir(char **out);

/*
 * Lists the registered folders (absolute paths) into a NULL-terminated
 * malloc'd array *OUT of malloc'd strings, with their count in *COUNT.
 */
int dsync_folder_list_registered(char ***out, size_t *count);

/* Frees an array from dsync_folder_list_registered(). */
void dsync_folder_list_free(char **list);

#endif
