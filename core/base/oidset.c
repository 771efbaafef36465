/*
 * A set of object ids (see oidset.h).
 */
#include "core/base/internal.h"

#include "core/base/oidset.h"

static size_t slot_of(const git_oid *id, size_t cap)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h));
	return h & (cap - 1);
}

bool dsync_oidset_has(const dsync_oidset *s, const git_oid *id)
{
	size_t i;

	if (!s->cap)
		return false;
	for (i = slot_of(id, s->cap); !git_oid_is_zero(&s->v[i]); i = (i + 1) & (s->cap - 1))
		if (git_oid_equal(&s->v[i], id))
			return true;
	return false;
}

int dsync_oidset_add(dsync_oidset *s, const git_oid *id)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024, j;
		git_oid *v = calloc(cap, sizeof(*v));

		if (!v)
			return dsync_error_oom();
		for (j = 0; j < s->cap; j++)
			if (!git_oid_is_zero(&s->v[j])) {
				for (i = slot_of(&s->v[j], cap); !git_oid_is_zero(&v[i]); i = (i + 1) & (cap - 1))
					;
				v[i] = s->v[j];
			}
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	for (i = slot_of(id, s->cap); !git_oid_is_zero(&s->v[i]); i = (i + 1) & (s->cap - 1))
		if (git_oid_equal(&s->v[i], id))
			return 0;
	s->v[i] = *id;
	s->n++;
	return 1;
}

void dsync_oidset_dispose(dsync_oidset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}
