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
#include "core/base/array.h"
#include "core/base/buf.h"
#include "core/base/strset.h"
#include "core/folder/folder.h"
#include "transport/sftp_folder.h"

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
/* Whether any component of the folder-relative PATH is such a name. */
bool dsync_mirror_path_transient(const char *path);

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

/* S case-folded as the case-clash check folds it (code points lowered in
 * a UTF-8 locale, ASCII without one; bytes that are no UTF-8 kept), malloc'd;
 * NULL when out of memory.  Two names the host takes for one fold alike. */
char *dsync_mirror_fold(const char *s);

/* A 64-bit hash of LEN bytes at S (the room's hash tables). */
uint64_t dsync_mirror_hash(const char *s, size_t len);

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

/* How to reach mirror C's host (transport/opts.h) under the options O:
 * $DSYNC_SSH wins over mirror.NAME.ssh (as for remotes), O's rate limit
 * over mirror.NAME.limitRate; asking only with a prompt. */
struct dsync_transport_opts;
int dsync_mirror_transport_opts(struct dsync_transport_opts *out, const mirror_cfg *c,
				const dsync_mirror_options *o);

/* Every mirror of F, sorted by name (*N may be 0).  A malformed entry is
 * DSYNC_EUSAGE naming the key. */
int dsync_mirror_config_read(mirror_cfg **out, size_t *n, dsync_folder *f);
void dsync_mirror_config_free(mirror_cfg *v, size_t n);
/* Writes CFG's keys (add); removes every mirror.NAME.* key (remove). */
int dsync_mirror_config_write(dsync_folder *f, const mirror_cfg *cfg);
int dsync_mirror_config_remove(dsync_folder *f, const char *name);
/* Sets (VALUE NULL: removes) mirror.NAME.KEY, unchecked (the caller checked). */
int dsync_mirror_config_set(dsync_folder *f, const char *name, const char *key, const char *value);
/* NAME as a mirror's name: letters, digits, '-', '_', '.', not starting
 * with '.' or '-', at most 64 bytes, passing the device-name check, and
 * no remote of F has it: else DSYNC_EUSAGE with the reason. */
int dsync_mirror_name_check(dsync_folder *f, const char *name);
/* The characters and length part of it alone. */
bool dsync_mirror_name_ok(const char *name);

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
/* Appends one line of "kept" to OUT: PATH TAB REASON, a backslash, TAB, LF
 * and CR in them written as backslash and one of '\\', 't', 'n', 'r' (a
 * path kept for its control character stays one line).  dsync_mirror_list
 * reads them back. */
int dsync_mirror_kept_put(dsync_buf *out, const char *path, const char *reason);
/* The LEN bytes at S with those escapes undone, malloc'd (NULL: no memory). */
char *dsync_mirror_kept_unescape(const char *s, size_t len);
/* Reads one into *OUT (malloc'd, trailing newline cut); missing: *OUT NULL, 0. */
int dsync_mirror_status_read(char **out, dsync_folder *f, const char *name, const char *file);
/* Removes .dsync/dsync-mirrors/NAME/ and refs/mirrors/NAME. */
int dsync_mirror_state_remove(dsync_folder *f, const char *name);

/* ---- round.c (core/mirror/round.h for core/sync) ---------------------------- */

struct dsync_ignore;

/* A path under the mirror's subfolder in a tree (BASE, or the folder's
 * head), by its name on the host. */
typedef struct mirror_entry {
	char *key;              /* host path; a folder's empty-folder marker: the folder's path and a '/' */
	char *stored;           /* the tree's (stored) path */
	git_oid id;
	unsigned mode;          /* index form: 100644, 100755, 120000, 160000 (a big file) */
	bool marker;            /* an empty folder */
	char *problem;          /* why the host can't hold it (malloc'd), NULL when it can */
} mirror_entry;

typedef DSYNC_ARRAY(mirror_entry) mirror_entries;

/* A file on the host as this round sees it. */
typedef struct mirror_hfile {
	char *key;              /* host path; a marker: the folder's path and a '/' */
	uint64_t size;
	uint32_t mtime;
	git_oid id;             /* its content (index form); for a marker the empty blob */
	unsigned mode;          /* in the mirror's tree */
	bool marker;
} mirror_hfile;

typedef DSYNC_ARRAY(mirror_hfile) mirror_hfiles;

/* One round with one mirror: what round.c, scan.c and writeback.c share. */
typedef struct mirror_run {
	dsync_folder *f;
	const mirror_cfg *cfg;
	const dsync_mirror_options *o;
	dsync_mirror_result *res;
	dsync_sftp_folder *pf;
	struct dsync_ignore *ignore;
	char *label;            /* the host's name ([user@]host[:port]), for messages */
	mirror_cache cache;
	bool cache_dirty;
	int tmp_fd;             /* an unnamed file in .dsync/dsync-mirrors/NAME/tmp/ (-1: none yet) */
	/* the listing */
	dsync_rfile_list listing;     /* everything listed, sorted by path */
	dsync_rfile_list unreadable;  /* folders that could not be listed: what is below them is kept back */
	mirror_hfiles host;           /* the files (and empty folders) recorded from the host, sorted by key */
	dsync_strset kept_back;       /* host paths of files kept back (still being written): asked per path */
	/* BASE: refs/mirrors/NAME */
	bool has_base;
	git_oid base_commit;
	git_oid base_tree;            /* stored form */
	/* the mirror's version after the scan */
	git_oid m_tree;               /* stored form */
	git_oid m_commit;             /* BASE's commit when nothing changed */
	bool has_m;
	/* the paths kept on the computer only: a folder-relative path, then its reason */
	dsync_strlist kept;
	bool incomplete;              /* writing back left something undone */
	bool keep_journal;            /* a temporary name may be left on the host: the next round removes it */
} mirror_run;

/*
 * scan.c: the entries of the index-form tree INDEX under the mirror's
 * subfolder into OUT, sorted by key, each with the reason the host can't
 * hold it (dsync_mirror_names_check, and names a listing skips: transient,
 * ignored, into .dsync).
 */
int dsync_mirror_tree_entries(mirror_entries *out, mirror_run *r, git_index *index);
void dsync_mirror_entries_dispose(mirror_entries *e);

/* scan.c: the folder-relative path of the host path HOST (as on disk) into OUT. */
int dsync_mirror_folder_path(dsync_buf *out, const mirror_run *r, const char *host);

/* scan.c: a warning "mirror 'NAME': ..." through the round's options. */
void dsync_mirror_warn(mirror_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* scan.c: an unnamed temporary file of R (emptied), for downloads and uploads. */
int dsync_mirror_tmp(mirror_run *r, int *fd);

/* scan.c: whether HOST (a host path) is at or below a file kept back or a
 * folder that could not be listed: this round neither records nor writes it. */
bool dsync_mirror_is_kept_back(const mirror_run *r, const char *host);

/*
 * scan.c: steps 3 to 6 of the round: lists the host's folder, applies the
 * mass-vanish guard (DSYNC_EMASSDELETE, nothing recorded), reads what is
 * new or changed, and builds the mirror's tree into R->m_tree.
 */
int dsync_mirror_scan(mirror_run *r);
/* The host's folder itself is gone (the connection said no folder there,
 * as when the phone's storage is not mounted): the guard over an empty
 * listing, as step 3 treats a missing root. DSYNC_EMASSDELETE (paused)
 * when BASE holds files it protects, else 0. */
int dsync_mirror_guard_missing(mirror_run *r);

/*
 * writeback.c: step 9: writes the folder's version HEAD_TREE (index form)
 * to the host where it differs from what the host holds; R->incomplete
 * when anything was left undone.
 */
int dsync_mirror_writeback(mirror_run *r, git_index *head);

#ifdef DSYNC_TESTING
/*
 * A test hook (test builds only): called at steps of a round ("listed"
 * after the listing, "read" before a file is read, "write" before a file is
 * written on the host (journalled, its temporary not made yet), "renaming"
 * once the temporary is there, "moved-aside" once a file replaced without
 * an atomic rename is out of the way, "remove" before one is removed
 * there), with the host path where there is one.  NULL removes it.
 */
void dsync_mirror_set_test_hook(void (*hook)(const char *step, const char *path, void *payload), void *payload);
void dsync_mirror_test_hook(const char *step, const char *path);
/* Test builds only: the host taken as one that can't replace a name
 * atomically (the old file moved aside first), whatever it offers. */
void dsync_mirror_set_test_no_replace(bool on);
#else
#define dsync_mirror_test_hook(step, path) ((void)0)
#endif

#endif
