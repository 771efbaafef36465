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

/* Writes S as a JSON string (quotes included): '"', '\\' and control
 * characters escaped, each byte of invalid UTF-8 as U+FFFD (\ufffd). */
void out_json_string(FILE *fp, const char *s);

/* Writes "KEY":S for a name (a path): S as out_json_string() does and, when
 * S is not valid UTF-8, one more member "KEY_bytes" with S's exact bytes in
 * lowercase hex, so that no name is lost nor two names made one. */
void out_json_name(FILE *fp, const char *key, const char *s);

/* Writes "KEY":"YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC) and "KEY_UNIX":T
 * (seconds since 1970) for the moment T. */
void out_json_time(FILE *fp, const char *key, const char *key_unix, int64_t t);

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

/*
 * A transfer's speed over its last OUT_RATE_WINDOW seconds (samples kept at
 * most every 250 ms), so a stall or a burst shows within seconds while the
 * figure stays steady.  out_rate_start() begins a transfer; out_rate_add()
 * takes the bytes done by now and returns bytes per second over the
 * window, or -1 before OUT_RATE_SETTLE seconds have passed (too few to say).
 */
#define OUT_RATE_WINDOW 10.0
#define OUT_RATE_SETTLE 2.0
#define OUT_RATE_SAMPLES 48
typedef struct out_rate {
	double started;                    /* monotonic seconds */
	double t[OUT_RATE_SAMPLES];        /* a ring, oldest at FIRST */
	uint64_t bytes[OUT_RATE_SAMPLES];
	size_t first, n;
} out_rate;
void out_rate_start(out_rate *r);
double out_rate_add(out_rate *r, uint64_t bytes);

/* Seconds to go as "0:25", "12:03" or "1:02:03" into BUF ("-:--" for a
 * negative or a huge one). */
const char *out_duration(char *buf, size_t size, double secs);

/*
 * The progress line of a transfer (push, fetch) LABEL: "LABEL: DONE of
 * TOTAL, RATE/s, M:SS left", the total when known (BYTES_TOTAL), the rate
 * once R has one, the time left when both are known; OBJECTS, when not 0
 * and the total is not known, as "N objects".  A DONE line clears the
 * progress instead, so nothing else (an ssh prompt for the next remote)
 * is written over it.
 */
void out_transfer_progress(out_rate *r, const char *label, uint64_t bytes, uint64_t bytes_total, size_t objects,
			   bool done);

#endif
