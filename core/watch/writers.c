/*
 * The files of a watched folder that are being written (see writers.h): a
 * search tree of the paths, each with the time of its last write.
 */
#include "core/base/internal.h"
#include "core/watch/writers.h"
#include "core/base/array.h"

#include <search.h>

typedef struct writer {
	char *path;
	int64_t last_ms;  /* its last write */
} writer;

static int cmp_writer(const void *a, const void *b)
{
	return strcmp(((const writer *)a)->path, ((const writer *)b)->path);
}

static void free_writer(void *p)
{
	writer *wr = p;

	free(wr->path);
	free(wr);
}

void writers_seen(writers *ws, const char *path, int64_t now)
{
	writer key = { (char *)path, 0 }, *wr;
	void **hit = tfind(&key, &ws->tree, cmp_writer);

	if (hit) {
		(*(writer **)hit)->last_ms = now;
		return;
	}
	if ((wr = calloc(1, sizeof(*wr))) == NULL || (wr->path = strdup(path)) == NULL) {
		free(wr);
		return; /* untracked: at worst a file is read while written, and
			   the snapshot's own check keeps its previous version */
	}
	wr->last_ms = now;
	if (!tsearch(wr, &ws->tree, cmp_writer)) {
		free_writer(wr);
		return;
	}
	ws->n++;
}

void writers_done(writers *ws, const char *path)
{
	writer key = { (char *)path, 0 }, *wr;
	void **hit = tfind(&key, &ws->tree, cmp_writer);

	if (!hit)
		return;
	wr = *(writer **)hit;
	tdelete(wr, &ws->tree, cmp_writer);
	free_writer(wr);
	ws->n--;
}

void writers_clear(writers *ws)
{
	tdestroy(ws->tree, free_writer);
	ws->tree = NULL;
	ws->n = 0;
}

typedef struct stale_ctx {
	int64_t before;      /* writes older than this are over */
	DSYNC_ARRAY(writer *) stale;
	int64_t oldest;      /* the oldest write still counted */
} stale_ctx;

static void stale_cb(const void *nodep, VISIT which, void *payload)
{
	writer *wr = *(writer *const *)nodep;
	stale_ctx *c = payload;

	if (which != postorder && which != leaf)
		return;
	if (wr->last_ms >= c->before) {
		if (!c->oldest || wr->last_ms < c->oldest)
			c->oldest = wr->last_ms;
		return;
	}
	/* out of memory: it stays, pruned another time */
	(void)dsync_array_push(c->stale, wr);
}

int64_t writers_prune(writers *ws, int64_t before)
{
	stale_ctx c = { .before = before };
	size_t i;

	twalk_r(ws->tree, stale_cb, &c);
	for (i = 0; i < c.stale.size; i++) {
		tdelete(c.stale.ptr[i], &ws->tree, cmp_writer);
		free_writer(c.stale.ptr[i]);
		ws->n--;
	}
	dsync_array_dispose(c.stale);
	return c.oldest;
}

bool writers_has(const writers *ws, const char *path)
{
	writer key = { (char *)path, 0 };

	return ws->n && tfind(&key, &ws->tree, cmp_writer) != NULL;
}
