/* Growable arrays and the string list (core/base/array.h). */
#include "core/base/internal.h"
#include "core/base/array.h"

int dsync_array_grow_(void *ptrp, size_t *asize, size_t need, size_t item_size)
{
	void *ptr, *grown;
	size_t n = *asize ? *asize : 16;

	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -1;
		n *= 2;
	}
	if (item_size && n > SIZE_MAX / item_size)
		return -1;
	memcpy(&ptr, ptrp, sizeof(ptr));
	if (!(grown = realloc(ptr, n * item_size)))
		return -1;
	memcpy(ptrp, &grown, sizeof(grown));
	*asize = n;
	return 0;
}

static int strlist_take(dsync_strlist *l, char *s)
{
	if (!s || dsync_array_push(*l, s) < 0) {
		free(s);
		return dsync_error_oom();
	}
	return 0;
}

int dsync_strlist_add(dsync_strlist *l, const char *s)
{
	return strlist_take(l, strdup(s));
}

int dsync_strlist_addf(dsync_strlist *l, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return strlist_take(l, n < 0 ? NULL : s);
}

int dsync_strlist_detach(char ***out, size_t *count, dsync_strlist *l)
{
	if (dsync_array_reserve(*l, l->size + 1) < 0)
		return dsync_error_oom();
	l->ptr[l->size] = NULL;
	*out = l->ptr;
	if (count)
		*count = l->size;
	l->ptr = NULL;
	l->size = l->asize = 0;
	return 0;
}

void dsync_strlist_dispose(dsync_strlist *l)
{
	for (size_t i = 0; i < l->size; i++)
		free(l->ptr[i]);
	dsync_array_dispose(*l);
}
