/*
 * A growable byte buffer.
 *
 * Invariants: when ptr is non-NULL it holds len bytes followed by a NUL
 * (len < cap), so ptr is always a valid C string of the text put so far;
 * a buffer never grows past max bytes (0 = no limit beyond SIZE_MAX/2), which
 * bounds buffers that hold bytes from a remote or a request.
 */
#ifndef DSYNC_BUF_H
#define DSYNC_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct dsync_buf {
	char *ptr;
	size_t len;
	size_t cap;
	size_t max;
} dsync_buf;

#define DSYNC_BUF_INIT { NULL, 0, 0, 0 }

/* Fills B as an empty buffer that may hold at most MAX bytes (0: no limit). */
void dsync_buf_init(dsync_buf *b, size_t max);

/* Makes room for ADD more bytes.  Returns 0 or DSYNC_ERROR (too big / no memory). */
int dsync_buf_grow(dsync_buf *b, size_t add);

/* Appends LEN bytes of DATA.  Returns 0 or a negative DSYNC_E* code. */
int dsync_buf_put(dsync_buf *b, const void *data, size_t len);

/* Appends the C string S. */
int dsync_buf_puts(dsync_buf *b, const char *s);

/* Appends a printf-style text. */
int dsync_buf_printf(dsync_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Shortens the buffer to LEN bytes (LEN <= b->len). */
void dsync_buf_truncate(dsync_buf *b, size_t len);

/* Returns the contents as a malloc'd string the caller owns (never NULL on
 * success: an empty buffer gives ""), and leaves B empty; NULL when out of
 * memory. */
char *dsync_buf_detach(dsync_buf *b);

/* Empties B and releases its memory. */
void dsync_buf_dispose(dsync_buf *b);

/* The contents as a C string ("" when nothing was put). */
const char *dsync_buf_cstr(const dsync_buf *b);

#endif
