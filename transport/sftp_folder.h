/*
 * A plain folder on an SSH host, file by file (transport/sftp_folder.c,
 * docs/mirror.md): what a mirror (core/mirror/) needs of a phone's folder
 * over the pipelined SFTP client.  Unlike the sftp:// blob store these are
 * the user's own files with their own names: nothing here adds, hides or
 * sweeps a name on its own.  Every path is relative to the folder
 * ("DCIM/Camera/IMG_1.jpg", '/'-separated, no leading '/', no '.' or '..'
 * component: DSYNC_EUSAGE otherwise); the server is untrusted (a listing's
 * names are checked, a reply's lengths bounded).
 */
#ifndef DSYNC_TRANSPORT_SFTP_FOLDER_H
#define DSYNC_TRANSPORT_SFTP_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/opts.h"
#include "transport/sftp_stream.h"
#include "transport/sftp_url.h"

typedef struct dsync_sftp_folder dsync_sftp_folder;

enum {
	DSYNC_RFILE_NONE = 0,  /* (lstat) nothing by that name */
	DSYNC_RFILE_FILE = 1,
	DSYNC_RFILE_DIR = 2,
	DSYNC_RFILE_LINK = 3,  /* a symbolic link: never followed */
	DSYNC_RFILE_OTHER = 4  /* a FIFO, socket, device, or a type the server didn't say */
};

/* One name in the folder, as the server described it. */
typedef struct dsync_rfile {
	char *path;     /* folder-relative, malloc'd (NULL in lstat answers) */
	int kind;       /* DSYNC_RFILE_* */
	uint64_t size;
	uint32_t mtime; /* seconds (SFTP v3 has no finer time) */
	uint32_t perms; /* st_mode's permission bits */
} dsync_rfile;

typedef struct dsync_rfile_list {
	dsync_rfile *v;
	size_t n, cap;
} dsync_rfile_list;

void dsync_rfile_list_dispose(dsync_rfile_list *l);

/* What the connection did so far (for tests, benchmarks and -v). */
typedef struct dsync_sftp_folder_counts {
	uint64_t opendirs, readdirs;  /* folders listed, READDIR requests */
	uint64_t stats;               /* LSTAT/STAT/FSTAT requests */
	uint64_t opens_read, opens_write;
	uint64_t bytes_read, bytes_written;
	uint64_t renames, removes, mkdirs, rmdirs;
	uint64_t bad_names;           /* names a listing skipped: '/', NUL, empty */
} dsync_sftp_folder_counts;

/*
 * Opens the folder at U->path on the host STREAM reaches (taking STREAM:
 * closed on failure too).  With CREATE the folder is made when missing
 * (mkdir -p, 0700); without, a missing folder is DSYNC_ENOTFOUND ("no
 * folder at URL"), a file there DSYNC_ENOTDIR.  RATE_LIMIT: bytes per
 * second each way, 0 for none.
 */
int dsync_sftp_folder_open(dsync_sftp_folder **out, dsync_sftp_stream *stream, const dsync_sftp_url *u,
			   bool create, uint64_t rate_limit);
void dsync_sftp_folder_free(dsync_sftp_folder *pf);

/* The folder's URL (normalised sftp:// form), for messages. */
const char *dsync_sftp_folder_url(const dsync_sftp_folder *pf);
/* Whether a name can be replaced atomically (posix-rename@openssh.com). */
bool dsync_sftp_folder_can_replace(const dsync_sftp_folder *pf);
const dsync_sftp_folder_counts *dsync_sftp_folder_get_counts(const dsync_sftp_folder *pf);

/*
 * Lists everything below the folder into OUT (emptied first), sorted by
 * path in byte order, folders included: level by level, the OPENDIRs and
 * READDIRs of a level in one flight, so a tree costs one OPENDIR per
 * folder and its READDIRs.  Links and other types are listed, never
 * followed.  A name with '/' or NUL, "", "." or ".." in a reply is
 * skipped (all but "." and ".." counted in counts.bad_names), as is one
 * over 1024 bytes (no file system has it) and a name listed twice (one
 * kept); a tree deeper than 64 or over 4 million entries (or 1 GiB of
 * paths) is DSYNC_ERROR.  A folder
 * that can't be read (permission) is a warning and listed as empty, with
 * its path added to UNREADABLE (may be NULL; a dsync_rfile_list of paths
 * only).  The folder itself gone: *ROOT_MISSING true (not an error),
 * OUT empty.
 */
int dsync_sftp_folder_list(dsync_sftp_folder *pf, dsync_rfile_list *out, dsync_rfile_list *unreadable,
			   bool *root_missing);

/* LSTATs the N paths in one flight: OUT[i] (path left NULL), kind
 * DSYNC_RFILE_NONE for a name that is not there. */
int dsync_sftp_folder_lstat(dsync_sftp_folder *pf, const char *const *paths, size_t n, dsync_rfile *out);

/*
 * Reads the plain file PATH whole into FD (written from FD's current
 * position; reads pipelined), at most MAX bytes (a longer one:
 * DSYNC_ERROR "grew past", with ST->size the size it grew to, above MAX:
 * the file is being written, the connection is fine), and its attributes as the open handle saw them
 * after the last read into *ST (FSTAT).  Not a plain file: DSYNC_ENOTFOUND
 * for a missing one, DSYNC_EUSAGE otherwise.
 */
int dsync_sftp_folder_read(dsync_sftp_folder *pf, const char *path, int fd, uint64_t max, dsync_rfile *st);

/*
 * Creates PATH exclusively (an existing name: DSYNC_EEXISTS) with PERMS
 * and the bytes FD holds from offset 0 to its end, flushes it
 * (fsync@openssh.com when offered), closes it, and sets its mtime to MTIME
 * when not 0.  On failure a partly written PATH is removed (best effort).
 */
int dsync_sftp_folder_write_new(dsync_sftp_folder *pf, const char *path, int fd, uint32_t perms,
				uint32_t mtime);

/* Renames FROM to TO.  REPLACE: atomically over an existing TO
 * (posix-rename; only when dsync_sftp_folder_can_replace, else
 * DSYNC_EUSAGE); without, an existing TO is DSYNC_EEXISTS (as the server
 * says it; OpenSSH's RENAME refuses). */
int dsync_sftp_folder_rename(dsync_sftp_folder *pf, const char *from, const char *to, bool replace);

/* Removes the file or link PATH (missing: DSYNC_ENOTFOUND). */
int dsync_sftp_folder_remove(dsync_sftp_folder *pf, const char *path);
/* Makes the folder PATH, 0755 (there already: DSYNC_EEXISTS). */
int dsync_sftp_folder_mkdir(dsync_sftp_folder *pf, const char *path);
/* Removes the empty folder PATH (missing: DSYNC_ENOTFOUND; not empty or
 * refused: DSYNC_ERROR with the server's message). */
int dsync_sftp_folder_rmdir(dsync_sftp_folder *pf, const char *path);

#endif
