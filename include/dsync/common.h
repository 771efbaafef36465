/*
 * dsync — common definitions: error codes, the thread-local last error and
 * library initialisation.
 */
#ifndef DSYNC_COMMON_H
#define DSYNC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* On a function whose result must be checked (a decryption, a verification,
 * a lock): ignoring it is a compiler warning, an error with -Werror. */
#define DSYNC_WARN_UNUSED __attribute__((warn_unused_result))

/*
 * Error codes.  Every library function returns 0 on success or one of these
 * (negative) on failure; the message is in dsync_error_last().
 */
enum {
	DSYNC_OK = 0,
	DSYNC_ERROR = -1,      /* generic failure */
	DSYNC_EUSAGE = -2,     /* bad argument from the caller */
	DSYNC_ENOTFOUND = -3,  /* no such revision, path, folder */
	DSYNC_EEXISTS = -4,    /* already there (folder already initialised) */
	DSYNC_ELOCKED = -5,    /* another dsync holds the folder's lock */
	DSYNC_EAUTH = -6,      /* authentication failed */
	DSYNC_ECORRUPT = -7,   /* data failed verification */
	DSYNC_ECONFLICT = -8,  /* done, but conflicts wait for the user */
	DSYNC_ENOSPACE = -9,   /* disk full */
	DSYNC_EACCESS = -10,   /* permission denied */
	DSYNC_ENOTDIR = -11,   /* not a folder */
	DSYNC_ENOTFOLDER = -12, /* not inside a dsync folder */
	DSYNC_EMASSDELETE = -13 /* a snapshot would delete most files */
};

/*
 * The message of the last error on this thread.  Never NULL (an empty string
 * when none was set).
 */
const char *dsync_error_last(void);

/* The code of the last error on this thread (0 when none). */
int dsync_error_last_code(void);

/*
 * Sets the last error to CODE with a printf-style message and returns CODE, so
 * that `return dsync_error_set(DSYNC_ENOTFOUND, "...")` reads naturally.
 */
int dsync_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The code point of the valid UTF-8 sequence at S in *CP and its length in
 * bytes, or 0 when the bytes there are not valid UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included). */
size_t dsync_utf8_next(const unsigned char *s, unsigned *cp);

/* Room for a version's (commit's) id in hex and its terminating NUL. */
#define DSYNC_OID_HEX_SIZE 41

/* How long a command waits for another writer's lock by default (ms). */
#define DSYNC_LOCK_WAIT_MS 5000

/* Room for dsync_quote()'s result. */
#define DSYNC_QUOTE_SIZE 256
/* How many bytes of an argument dsync_quote() keeps. */
#define DSYNC_QUOTE_KEEP 60

/*
 * An argument as a message quotes it, into BUF: at most its first
 * DSYNC_QUOTE_KEEP bytes (cut at a character's start, "…" added when cut),
 * control characters and bytes that are not UTF-8 shown as \n, \t, \r or
 * \xNN, characters that reorder text (U+202A..U+202E, U+2066..U+2069) as
 * \uXXXX, so an error stays one readable line.  Every message that quotes
 * what a user typed (a path, a version, a time, a name) quotes it through
 * this.  Returns BUF.
 */
const char *dsync_quote(char buf[DSYNC_QUOTE_SIZE], const char *arg);

/* Clears the last error. */
void dsync_error_clear(void);

/* Receives a warning (one line, no newline) from long work; PAYLOAD is the
 * caller's. */
typedef void (*dsync_warn_cb)(const char *message, void *payload);

/* Receives progress of long work: files seen and bytes read so far. */
typedef void (*dsync_progress_cb)(size_t files, uint64_t bytes, void *payload);

/* Progress of a push, fetch, join or check. */
typedef struct dsync_transfer {
	const char *what;        /* "push", "fetch", "pack", "check", "history" (the
				    local history checked: objects only, remote NULL) */
	const char *remote;
	size_t objects;          /* objects packed or indexed so far */
	size_t objects_total;    /* 0 when not known yet */
	uint64_t bytes;          /* bytes uploaded or downloaded so far */
	uint64_t bytes_total;    /* 0 when not known */
	bool done;               /* the last call for this step */
} dsync_transfer;
typedef void (*dsync_transfer_cb)(const dsync_transfer *t, void *payload);

/*
 * Initialises the library (libsodium; libgit2 is started on first use).  Safe
 * to call more than once.  Returns 0 or a negative DSYNC_E* code.
 */
int dsync_lib_init(void);

/* Releases what dsync_lib_init() set up. */
void dsync_lib_shutdown(void);

/*
 * The exit status the program should use for a library error code, as
 * DESIGN.md section 10 lists them.
 */
int dsync_error_exit_code(int error);

/*
 * Parses a bandwidth as rsync's --bwlimit does: a bare number is KiB/s;
 * K, M, G (or KiB...) are binary, KB, MB, GB decimal, "bit" suffixes
 * (20mbit) are bits per second; fractions are allowed; 0 means no limit.
 * Sets *OUT in bytes per second; DSYNC_EUSAGE for anything else.
 */
int dsync_rate_parse(const char *s, uint64_t *out);

/* BYTES as people read it, into BUF (SIZE bytes; 32 is enough): "512 B",
 * "1.5 KiB", "2.0 GiB" (binary units, one decimal).  Returns BUF. */
const char *dsync_size_text(char *buf, size_t size, uint64_t bytes);

#endif
