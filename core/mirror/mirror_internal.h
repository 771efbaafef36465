/*
 * What the files of core/mirror/ share (internal to this room; nothing
 * outside it includes this header).  docs/mirror.md has the design.
 *
 *   names.c     what a phone's storage can hold; transient and temporary names
 *   state.c     mirrors in .dsync/config; .dsync/dsync-mirrors/NAME/ (cache,
 *               journal, status files); refs/mirrors/NAME
 *   mirror.c    dsync mirror add/list/remove/set (include/dsync/mirror.h)
 *   scan.c      the host's folder listed and read into the mirror's tree
 *   writeback.c the merged result written to the host
 *   round.c     the round: snapshot, scan, record, merge, write back
 */
#ifndef DSYNC_CORE_MIRROR_INTERNAL_H
#define DSYNC_CORE_MIRROR_INTERNAL_H

#include <git2.h>
#include <stdbool.h>
#include <stdint.h>

#include "dsync/mirror.h"
#include "core/base/buf.h"
#include "core/folder/folder.h"

#define DSYNC_MIRROR_REF_PREFIX "refs/mirrors/"
#define DSYNC_MIRROR_STATE_DIR "dsync-mirrors"    /* under .dsync/ */
#define DSYNC_MIRROR_DEFAULT_INTERVAL 60          /* seconds */
/* The mass-vanish guard (the snapshot's rule): more than half of the
 * files, and more than this many; or every file, when any was there. */
#define DSYNC_MIRROR_MASS_DELETE_MIN 10

/* ---- names.c ---------------------------------------------------------------- */

/*
 * Why a phone's shared storage (FAT-like: vfat, exFAT, Android's sdcardfs
 * and FUSE) can't hold the file at PATH (folder-relative, as on disk) of
 * git mode MODE, as a short reason ("name has ':'", "symbolic link",
 * "name ends with '.'", "name is not UTF-8", "name longer than 255
 * bytes", "control character in name"); NULL when it can.  Checks every
 * component.  Case clashes are dsync_mirror_names_check's.
 */
const char *dsync_mirror_name_problem(const char *path, unsigned mode);

/*
 * Whether NAME (one component) is a file a phone's apps name while they
 * write it (Android's ".pending-*" and ".trashed-*", "*.tmp", "*.part",
 * "*.crdownload", ".*.swp", "~$*") or a temporary name of dsync's
 * (dsync_mirror_name_is_temp): never recorded, written or removed by a
 * round.
 */
bool dsync_mirror_name_transient(const char *name);

/* dsync's temporary names on the host: ".BASE.dsync-KIND-XXXXXXXX" in
 * PATH's folder (KIND "new": a file being written; "old": a file moved
 * aside while its name is replaced), XXXXXXXX random hex. */
int dsync_mirror_temp_name(dsync_buf *out, const char *path, const char *kind);
bool dsync_mirror_name_is_temp(const char *name);

/*
 * For the N paths PATHS (folder-relative, as on disk, sorted in byte
 * order; files and links, folders implied) of git modes MODES: PROBLEM[i]
 * set to a malloc'd reason when the phone can't hold PATHS[i] (the
 * caller frees each), NULL when it can.  Besides
 * dsync_mirror_name_problem and transient names ("name used by apps
 * while writing"), a path that differs from an earlier one only in case,
 * in any component, is kept back: "differs from 'A.txt' only in case"
 * (so the first in byte order goes to the phone).
 */
int dsync_mirror_names_check(char **problem, const char *const *paths, const unsigned *modes, size_t n);

/* ---- state.c ---------------------------------------------------------------- */

/* A mirror's config: mirror.NAME.* in .dsync/config. */
typedef struct mirror_cfg {
	char *name;
	char *url;              /* mirror.NAME.url: normalised sftp:// form */
	char *path;             /* mirror.NAME.path: "" or a folder-relative subfolder, no trailing '/' */
	char device_id[33];     /* mirror.NAME.deviceId */
	int interval_s;         /* mirror.NAME.interval, DSYNC_MIRROR_DEFAULT_INTERVAL */
	int ssh_mode;           /* mirror.NAME.ssh: DSYNC_SSH_* of transport/opts.h */
	char *ssh_command;      /* mirror.NAME.sshCommand, NULL */
	uint64_t rate_limit;    /* mirror.NAME.limitRate, 0 */
} mirror_cfg;

/* Every mirror of F, sorted by name (*N may be 0).  A malformed entry is
 * DSYNC_EUSAGE naming the key. */
int dsync_mirror_config_read(mirror_cfg **out, size_t *n, dsync_folder *f);
void dsync_mirror_config_free(mirror_cfg *v, size_t n);
/* Writes CFG's keys (add); removes every mirror.NAME.* key (remove). */
int dsync_mirror_config_write(dsync_folder *f, const mirror_cfg *cfg);
int dsync_mirror_config_remove(dsync_folder *f, const char *name);
/* NAME as a mirror's name: letters, digits, '-', '_', '.', not starting
 * with '.' or '-', at most 64 bytes, passing the device-name check, and
 * no remote of F has it: else DSYNC_EUSAGE with the reason. */
int dsync_mirror_name_check(dsync_folder *f, const char *name);

/* Helpers of the config's checks (state.c), shared with mirror.c: whether
 * PATH may be mirror.NAME.path ("" or a folder-relative path, no '.', '..'
 * or '.dsync' in any case); mirror.NAME.ssh and .interval parsed
 * (DSYNC_EUSAGE without a message when bad). */
bool dsync_mirror_path_ok(const char *path);
int dsync_mirror_ssh_mode(int *out, const char *s);
int dsync_mirror_interval_parse(int *out, const char *s);
/* .dsync/dsync-mirrors/NAME/FILE (FILE NULL: the folder) into OUT (emptied first). */
int dsync_mirror_state_path(dsync_buf *out, const dsync_folder *f, const char *name, const char *file);

/* What the last scan saw of one file on the host: whether it changed is
 * told by size and mtime alone. */
typedef struct mirror_cache_entry {
	char *path;             /* host-folder-relative */
	uint64_t size;
	uint32_t mtime;
	git_oid id;             /* the content's id in the index form: a blob, or a big file's chunk tree */
} mirror_cache_entry;

typedef struct mirror_cache {
	mirror_cache_entry *v;  /* sorted by path after load; put appends, del moves the last entry into the gap */
	size_t n, cap;
	size_t *slots;          /* a hash index into v (index + 1; 0 free), so that put, find and del stay O(1) */
	size_t nslots;          /* a power of two, or 0 */
} mirror_cache;

/* .dsync/dsync-mirrors/NAME/cache; missing or unreadable: empty (every
 * file is read again; the cache only saves reads).  Entries are added
 * with dsync_mirror_cache_put, in any order. */
int dsync_mirror_cache_load(mirror_cache *out, dsync_folder *f, const char *name);
/* Written whole: temporary file, fsync, rename. */
int dsync_mirror_cache_save(mirror_cache *c, dsync_folder *f, const char *name);
const mirror_cache_entry *dsync_mirror_cache_find(mirror_cache *c, const char *path);
int dsync_mirror_cache_put(mirror_cache *c, const char *path, uint64_t size, uint32_t mtime, const git_oid *id);
void dsync_mirror_cache_del(mirror_cache *c, const char *path);
void dsync_mirror_cache_dispose(mirror_cache *c);

/*
 * The journal of names a round makes on the host
 * (.dsync/dsync-mirrors/NAME/journal): each is added (and made durable)
 * before it is created there, so the next round removes exactly what a
 * killed one left, and only that.  KIND 'n': a file being written (TEMP,
 * to become TARGET); 'o': TARGET moved aside to TEMP while its name is
 * replaced (the next round puts TEMP back at TARGET when TARGET is
 * missing, else removes TEMP).
 */
typedef struct mirror_journal_entry {
	char kind;
	char *temp, *target;
} mirror_journal_entry;

typedef struct mirror_journal {
	mirror_journal_entry *v;
	size_t n, cap;
} mirror_journal;

int dsync_mirror_journal_add(dsync_folder *f, const char *name, char kind, const char *temp, const char *target);
int dsync_mirror_journal_read(mirror_journal *out, dsync_folder *f, const char *name);
int dsync_mirror_journal_clear(dsync_folder *f, const char *name);
void dsync_mirror_journal_dispose(mirror_journal *j);

/* The status files of .dsync/dsync-mirrors/NAME/: "paused" (the reason),
 * "error" (the last round's error), "last" (the end of the last complete
 * round, seconds), "kept" (path TAB reason lines).  NULL/0 removes. */
int dsync_mirror_status_write(dsync_folder *f, const char *name, const char *file, const char *text);
/* Reads one into *OUT (malloc'd, trailing newline cut); missing: *OUT NULL, 0. */
int dsync_mirror_status_read(char **out, dsync_folder *f, const char *name, const char *file);
/* Removes .dsync/dsync-mirrors/NAME/ and refs/mirrors/NAME. */
int dsync_mirror_state_remove(dsync_folder *f, const char *name);

/* ---- round.c (core/mirror/round.h for core/sync) ---------------------------- */

#endif
