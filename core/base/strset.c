/*
 * A set of strings (see strset.h).
 */
#include "core/base/internal.h"

#include "core/base/strset.h"

static size_t hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

/* The slot holding S (LEN bytes), or the empty slot where it would go. */
static size_t slot_of(char *const *v, size_t cap, const char *s, size_t len)
{
	size_t i;

	for (i = hash(s, len) & (cap - 1); v[i]; i = (i + 1) & (cap - 1))
		if (strncmp(v[i], s, len) == 0 && v[i][len] == '\0')
			break;
	return i;
}

bool dsync_strset_has(const dsync_strset *set, const char *s)
{
	return set->cap && set->v[slot_of(set->v, set->cap, s, strlen(s))] != NULL;
}

int dsync_strset_addn(dsync_strset *set, const char *s, size_t len)
{
	size_t i;

	if ((set->n + 1) * 2 > set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64, j;
		char **v = calloc(cap, sizeof(*v));

		if (!v)
			return dsync_error_oom();
		for (j = 0; j < set->cap; j++)
			if (set->v[j])
				v[slot_of(v, cap, set->v[j], strlen(set->v[j]))] = set->v[j];
		free(set->v);
		set->v = v;
		set->cap = cap;
	}
	i = slot_of(set->v, set->cap, s, len);
	if (set->v[i])
		return 0;
	if ((set->v[i] = strndup(s, len)) == NULL)
		return dsync_error_oom();
	set->n++;
	return 1;
}

int dsync_strset_add(dsync_strset *set, const char *s)
{
	return dsync_strset_addn(set, s, strlen(s));
}

void dsync_strset_dispose(dsync_strset *set)
{
	size_t i;

	for (i = 0; i < set->cap; i++)
		free(set->v[i]);
	free(set->v);
	memset(set, 0, sizeof(*set));
}
