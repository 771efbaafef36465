/*
 * The growable buffer (see buf.h for its invariants).
 */
#include "core/base/internal.h"
#include "core/base/buf.h"

#include <stdarg.h>

void dsync_buf_init(dsync_buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int dsync_buf_grow(dsync_buf *b, size_t add)
{
	size_t limit = b->max ? b->max : SIZE_MAX / 2;
	size_t need, cap;
	char *p;

	if (add > limit || b->len > limit - add)
		return dsync_error_set(DSYNC_ERROR, "data too large (over %zu bytes)", limit);
	need = b->len + add + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap < SIZE_MAX / 2 ? cap * 2 : need;
	if ((p = realloc(b->ptr, cap)) == NULL)
		return dsync_error_oom();
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int dsync_buf_put(dsync_buf *b, const void *data, size_t len)
{
	int error;

	if ((error = dsync_buf_grow(b, len)) < 0)
		return error;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int dsync_buf_puts(dsync_buf *b, const char *s)
{
	return dsync_buf_put(b, s, strlen(s));
}

int dsync_buf_printf(dsync_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, error;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return dsync_error_set(DSYNC_ERROR, "cannot format text");
	if ((error = dsync_buf_grow(b, (size_t)n)) < 0)
		return error;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void dsync_buf_truncate(dsync_buf *b, size_t len)
{
	if (b->ptr && len < b->len) {
		b->len = len;
		b->ptr[len] = '\0';
	}
}

char *dsync_buf_detach(dsync_buf *b)
{
	char *p = b->ptr;

	if (!p)
		p = strdup("");
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

void dsync_buf_dispose(dsync_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

const char *dsync_buf_cstr(const dsync_buf *b)
{
	return b->ptr ? b->ptr : "";
}
