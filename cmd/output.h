/*
 * The program's output helpers: errors and warnings, times, sizes, JSON
 * strings, progress on a terminal.
 */
#ifndef DSYNC_CMD_OUTPUT_H
#define DSYNC_CMD_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* "dsync: error: MSG" on stderr. */
void out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "dsync: warning: MSG" on stderr. */
void out_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A warning callback for the library (PAYLOAD unused). */
void out_warn_cb(const char *message, void *payload);

/* Prints the library's last error and returns the exit code for ERROR. */
int out_fail(int error);

/* Formats T (epoch seconds) as local "YYYY-MM-DD HH:MM:SS" into BUF. */
const char *out_time(char *buf, size_t size, int64_t t);

/* Formats T with offset OFFSET_MIN as ISO 8601 "YYYY-MM-DDTHH:MM:SS+HH:MM". */
const char *out_time_iso(char *buf, size_t size, int64_t t, int offset_min);

/* Formats a byte count as "1.2 MiB". */
const char *out_size(char *buf, size_t size, uint64_t bytes);

/* Writes S as a JSON string (quotes included); invalid UTF-8 bytes become
 * \u00XX. */
void out_json_string(FILE *fp, const char *s);

/*
 * A name (path, device, remote) or a line of text for people's output, safe
 * to print: returned as it is when it holds no control character (nor, for a name,
 * '"' or '\\'), else (as git's core.quotePath does) a name in double quotes with \n, \t, \r, \"
 * and \\ and other control characters, invalid UTF-8 bytes and C1 controls
 * as \xNN, characters that reorder text (U+202A..U+202E, U+2066..U+2069) as
 * \uXXXX; other valid UTF-8 is kept.  out_text() does the same for the first N
 * bytes of a line of text, without the quotes.  The result lives until a few
 * more calls (a small ring of buffers): use it in one printf.
 */
const char *out_name(const char *s);
const char *out_text(const char *s, size_t n);

/* Progress on stderr while it is a terminal (throttled); PAYLOAD is a label
 * string. out_progress_done() clears the line. */
void out_progress(size_t files, uint64_t bytes, void *payload);
void out_progress_done(void);

/* A progress line on stderr while it is a terminal, at most five a second
 * unless FORCE. */
void out_progress_text(bool force, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
