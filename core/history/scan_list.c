/*
 * The walk's list of entries (see scan_list.h).
 */
#include "core/base/internal.h"
#include "core/history/scan_list.h"

int scan_list_problem(scan_list *l, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dsync_strlist_add(&l->problems, msg);
}

/* Room for N entries in L. */
int scan_list_reserve(scan_list *l, size_t n)
{
	if (n > l->cap && dsync_array_grow_(&l->v, &l->cap, n, sizeof(*l->v)) < 0)
		return dsync_error_oom();
	return 0;
}

void scan_stat_set(scan_stat *out, const struct stat *st)
{
	out->mtime_s = (int32_t)st->st_mtim.tv_sec;
	out->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	out->ctime_s = (int32_t)st->st_ctim.tv_sec;
	out->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
	out->dev = (uint32_t)st->st_dev;
	out->ino = (uint32_t)st->st_ino;
	out->size = (uint64_t)st->st_size;
	out->uid = st->st_uid;
	out->gid = st->st_gid;
	out->st_mode = st->st_mode;
}

int scan_list_push(scan_list *l, const char *path, uint32_t mode, const git_oid *oid,
		const struct stat *st, unsigned flags)
{
	scan_entry *e;
	int error;

	if ((error = scan_list_reserve(l, l->n + 1)) < 0)
		return error;
	e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	if ((e->path = strdup(path)) == NULL)
		return dsync_error_oom();
	e->mode = mode;
	if (oid)
		git_oid_cpy(&e->oid, oid);
	if (st)
		scan_stat_set(&e->st, st);
	e->flags = flags;
	l->n++;
	return 0;
}

void scan_stat_of_cache(struct stat *st, const statcache_entry *ie)
{
	memset(st, 0, sizeof(*st));
	st->st_mtim.tv_sec = ie->mtime_s;
	st->st_mtim.tv_nsec = ie->mtime_ns;
	st->st_ctim.tv_sec = ie->ctime_s;
	st->st_ctim.tv_nsec = ie->ctime_ns;
	st->st_dev = ie->dev;
	st->st_ino = ie->ino;
	st->st_uid = ie->uid;
	st->st_gid = ie->gid;
	st->st_size = ie->size;
}

uint32_t scan_git_mode(const struct stat *st)
{
	return S_ISLNK(st->st_mode) ? GIT_FILEMODE_LINK
	       : (st->st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE
					 : GIT_FILEMODE_BLOB;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const scan_entry *)a)->path, ((const scan_entry *)b)->path);
}

void scan_list_sort(scan_list *l)
{
	if (!l->sorted && l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
	l->sorted = true;
}

void scan_list_dispose(scan_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].real);
	}
	free(l->v);
	dsync_strlist_dispose(&l->problems);
	memset(l, 0, sizeof(*l));
}

/*
 * Compares the walk SCAN with the cache C (both sorted): *CONTENT true when a
 * file was added or changed content or mode, *STAT true when only stat data
 * needs refreshing, *DELETED the number of cached files the walk did not see.
 */
void scan_list_compare(const scan_list *scan, const statcache *c, bool *content,
			       bool *stat_only, size_t *deleted)
{
	size_t i = 0, j = 0;

	*content = *stat_only = false;
	*deleted = 0;
	while (i < c->n || j < scan->n) {
		int cmp = i >= c->n ? 1 : j >= scan->n ? -1 : strcmp(c->v[i].path, scan->v[j].path);

		if (cmp < 0) {
			(*deleted)++;
			i++;
		} else if (cmp > 0) {
			*content = true;
			j++;
		} else {
			if (scan->v[j].flags & SCAN_HASHED) {
				if (c->v[i].mode != scan->v[j].mode || !git_oid_equal(&c->v[i].id, &scan->v[j].oid))
					*content = true;
				else
					*stat_only = true;
			}
			i++;
			j++;
		}
	}
}


void scan_entry_to_index(git_index_entry *out, const scan_entry *e)
{
	memset(out, 0, sizeof(*out));
	out->ctime.seconds = (int32_t)e->st.ctime_s;
	out->ctime.nanoseconds = e->st.ctime_ns;
	out->mtime.seconds = (int32_t)e->st.mtime_s;
	out->mtime.nanoseconds = e->st.mtime_ns;
	out->dev = (uint32_t)e->st.dev;
	out->ino = (uint32_t)e->st.ino;
	out->mode = e->mode;
	out->uid = e->st.uid;
	out->gid = e->st.gid;
	out->file_size = (uint32_t)e->st.size;
	out->path = e->path;
	git_oid_cpy(&out->id, &e->oid);
}
