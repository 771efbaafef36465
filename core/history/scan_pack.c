/*
 * The reading phase of a big snapshot (see scan_read.h): the files that
 * changed are read, hashed and compressed on two worker threads while this
 * thread adds them to one pack, in the walk's order.
 *
 * The work is a ring of tasks, made and consumed in order by this thread
 * and run by the workers in between:
 *   - a file up to the chunk threshold: a worker opens and reads it whole
 *     and prepares its pack entry (dsync_packw_prepare: hash, then deflate,
 *     or stored blocks for what does not compress);
 *   - a big file: this thread cuts it into chunks (the chunker goes through
 *     a file in order), each chunk a task a worker prepares, and a last
 *     task that ends the file; the chunk tree is built as they are added.
 * Anything out of the ordinary (a file that vanished, changed while read,
 * grew past the threshold, could not be read) is handed back and read
 * again here by scan_read_entry(), which has the rules for all of it, so
 * the results are exactly those of a walk on one thread.
 *
 * Memory is bounded by the ring (RING tasks) and by the bytes its tasks
 * may hold (BUDGET, plus one task's worth past it), whatever the folder's
 * size.  No libgit2 object is touched off this thread.
 */
#include "core/base/internal.h"
#include "core/history/scan_read.h"
#include "core/base/buf.h"
#include "core/base/chunks.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#define WORKERS 2
#define RING 64
#define BUDGET (8u * 1024 * 1024)
/* A file the workers read whole at most (a bigger one that is not chunked,
 * when chunking is off, is streamed by scan_read_entry). */
#define WHOLE_MAX (8u * 1024 * 1024)
/* The room of a task's prepared object kept for the next task at most: the
 * ring's rooms are outside BUDGET, and a bigger cap let them grow to 10 MB
 * on a folder with a few hundred files over 100 KB. */
#define ROOM_KEPT (128u * 1024)
/* What a task is charged beyond its bytes (its struct, allocator slack). */
#define TASK_COST 256

enum { T_FILE, T_HELD, T_CHUNK, T_BIG_END };
enum { DONE_OK, DONE_AGAIN, DONE_FAILED };

typedef struct task {
	int kind;
	size_t entry;           /* its entry in the walk's list */
	uint64_t charge;        /* of the budget */
	/* T_FILE: the path as on disk, relative (the entry's own string) */
	const char *real;
	bool link;
	/* T_CHUNK: the chunk's bytes (owned until prepared) */
	unsigned char *data;
	size_t len;
	bool group_end;
	/* T_FILE, T_CHUNK: the index had the file, so its bytes may be stored
	 * already: hashed with SHA-1DC here, in parallel, rather than by the
	 * pack writer on this thread when it finds them held (packw.h) */
	bool was;
	/* results */
	int result;             /* DONE_OK, DONE_AGAIN (read it again here), DONE_FAILED */
	int code;               /* DONE_FAILED: the error and its message */
	char message[256];
	struct stat st;         /* T_FILE (not a link), T_BIG_END: as read */
	uint64_t size;          /* T_BIG_END: the bytes cut */
	dsync_packw_obj obj;
	bool done;
} task;

typedef struct pipeline {
	scan_reader *r;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	task ring[RING];
	size_t head, next, tail;  /* tasks made, taken by a worker, consumed */
	uint64_t held;            /* bytes the tasks in the ring are charged */
	bool stop;
	size_t idle;              /* workers waiting for a task */
	bool waiting;             /* this thread waits for the oldest task */
	pthread_t threads[WORKERS];
	size_t started;
	/* the maker (this thread) */
	size_t at;                /* the next entry to look at */
	bool big;                 /* cutting a big file */
	size_t big_entry;
	bool big_was;
	int big_fd;
	struct stat big_st;
	dsync_chunk_cutter cut;
	/* the consumer (this thread) */
	dsync_chunk_tree tree;
	uint64_t reported;        /* hashed bytes at the last progress call */
} pipeline;

/* ------------------------------------------------------------ workers */

/* A worker's room for the file it reads, kept from file to file: freeing
 * and allocating megabytes in turn leaves the allocator's arenas holding
 * more than is in use. */
typedef struct room {
	unsigned char *p;
	size_t cap;
} file_room;

static int prepare(task *t, const void *data, size_t len)
{
	return t->was ? dsync_packw_prepare_checked(&t->obj, GIT_OBJECT_BLOB, data, len)
		      : dsync_packw_prepare(&t->obj, GIT_OBJECT_BLOB, data, len);
}

/* Reads the whole file of T (a plain file or a link) into bytes prepared
 * for the pack, read into ROOM.  Anything unusual is DONE_AGAIN, for
 * scan_read_entry(). */
static void run_file(pipeline *p, task *t, file_room *room)
{
	const scan_reader *r = p->r;
	dsync_buf abs = DSYNC_BUF_INIT;
	unsigned char *whole;
	struct stat after;
	size_t done = 0, size;
	int fd = -1, error;

	t->result = DONE_AGAIN;
	if (dsync_buf_printf(&abs, "%s/%s", strcmp(r->root, "/") ? r->root : "", t->real) < 0)
		goto out;
	if (t->link) {
		char target[4096];
		ssize_t n = readlink(abs.ptr, target, sizeof(target));

		if (n < 0 || (size_t)n >= sizeof(target))
			goto out;
		error = prepare(t, target, (size_t)n);
		goto prepared;
	}
	fd = open(abs.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(abs.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &t->st) < 0 || !S_ISREG(t->st.st_mode) || t->st.st_size < 0 ||
	    (uint64_t)t->st.st_size > WHOLE_MAX || scan_chunked(r, (uint64_t)t->st.st_size))
		goto out;
	size = (size_t)t->st.st_size;
	if (size > room->cap) {
		free(room->p);
		room->cap = 0;
		if ((room->p = malloc(size)) == NULL)
			goto out;
		room->cap = size;
	}
	whole = room->p;
	while (done < size) {
		ssize_t n = read(fd, whole + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out; /* an error, or shorter than it was */
		done += (size_t)n;
	}
	if (fstat(fd, &after) < 0 || !scan_same_version(&t->st, &after))
		goto out;
	error = prepare(t, whole, size);
prepared:
	if (error < 0) {
		t->result = DONE_FAILED;
		t->code = error;
		snprintf(t->message, sizeof(t->message), "%s", dsync_error_last());
	} else {
		t->result = DONE_OK;
	}
out:
	if (fd >= 0)
		close(fd);
	dsync_buf_dispose(&abs);
}

static void run_task(pipeline *p, task *t, file_room *room)
{
	int error;

	if (t->kind == T_FILE) {
		run_file(p, t, room);
	} else if (t->kind == T_CHUNK) {
		error = prepare(t, t->data, t->len);
		free(t->data);
		t->data = NULL;
		t->result = error < 0 ? DONE_FAILED : DONE_OK;
		if (error < 0) {
			t->code = error;
			snprintf(t->message, sizeof(t->message), "%s", dsync_error_last());
		}
	}
}

static void *worker_main(void *arg)
{
	pipeline *p = arg;
	file_room room = { NULL, 0 };

	pthread_mutex_lock(&p->lock);
	for (;;) {
		task *t;

		while (!p->stop && p->next == p->head) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
		}
		if (p->stop)
			break;
		t = &p->ring[p->next++ % RING];
		pthread_mutex_unlock(&p->lock);
		run_task(p, t, &room);
		pthread_mutex_lock(&p->lock);
		t->done = true;
		/* a wake-up only when it is awaited: 100,000 small files would
		 * otherwise cost as many futex calls */
		if (p->waiting)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	free(room.p);
	return NULL;
}

/* ------------------------------------------------------------- making */

/* The next free task of the ring, for entry ENTRY. */
static task *new_task(pipeline *p, int kind, size_t entry, uint64_t charge)
{
	task *t = &p->ring[p->head % RING];
	dsync_packw_obj keep = t->obj; /* its room is reused */

	memset(t, 0, sizeof(*t));
	t->obj = keep;
	t->kind = kind;
	t->entry = entry;
	t->charge = charge + TASK_COST;
	t->result = DONE_AGAIN; /* until a worker has it all */
	return t;
}

/* Hands the task made by new_task() to the workers. */
static void push_task(pipeline *p, task *t)
{
	pthread_mutex_lock(&p->lock);
	p->held += t->charge;
	p->head++;
	if (p->idle)
		pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

/* Ends the big file being cut: a T_BIG_END task, DONE_OK when it was read
 * whole and did not change, else DONE_AGAIN. */
static void end_big(pipeline *p, bool whole)
{
	task *t = new_task(p, T_BIG_END, p->big_entry, 0);
	struct stat after;

	if (whole && fstat(p->big_fd, &after) == 0 && scan_same_version(&p->big_st, &after) &&
	    p->cut.total == (uint64_t)p->big_st.st_size) {
		t->result = DONE_OK;
		t->st = p->big_st;
		t->size = p->cut.total;
	}
	close(p->big_fd);
	p->big_fd = -1;
	dsync_chunk_cutter_dispose(&p->cut);
	p->big = false;
	push_task(p, t);
}

/* The next chunk of the big file being cut, as a task. */
static int make_chunk(pipeline *p)
{
	const unsigned char *data;
	size_t len;
	bool group_end, read_failed = false;
	task *t;
	int rc = dsync_chunk_cutter_next(&p->cut, &data, &len, &group_end, &read_failed);

	if (rc <= 0) {
		/* the end, or a failed read: scan_read_entry() reads it again
		 * and says what is wrong, with the file's path */
		dsync_error_clear();
		end_big(p, rc == 0);
		return 0;
	}
	t = new_task(p, T_CHUNK, p->big_entry, 2 * (uint64_t)len);
	if ((t->data = malloc(len)) == NULL)
		return dsync_error_oom();
	memcpy(t->data, data, len);
	t->len = len;
	t->group_end = group_end;
	t->was = p->big_was;
	push_task(p, t);
	return 0;
}

/* Starts cutting the big file of entry I, or makes its T_BIG_END (DONE_AGAIN)
 * when it is not what discovery saw. */
static int start_big(pipeline *p, size_t i, const char *real)
{
	dsync_buf abs = DSYNC_BUF_INIT;
	int error;

	p->big_entry = i;
	if ((error = dsync_buf_printf(&abs, "%s/%s", strcmp(p->r->root, "/") ? p->r->root : "", real)) < 0)
		return error;
	p->big_fd = open(abs.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOATIME);
	if (p->big_fd < 0 && errno == EPERM)
		p->big_fd = open(abs.ptr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	dsync_buf_dispose(&abs);
	if (p->big_fd < 0) {
		push_task(p, new_task(p, T_BIG_END, i, 0)); /* DONE_AGAIN */
		return 0;
	}
	if (fstat(p->big_fd, &p->big_st) < 0 || !S_ISREG(p->big_st.st_mode) ||
	    !scan_chunked(p->r, (uint64_t)p->big_st.st_size)) {
		close(p->big_fd);
		p->big_fd = -1;
		push_task(p, new_task(p, T_BIG_END, i, 0));
		return 0;
	}
	if ((error = dsync_chunk_cutter_init(&p->cut, &p->r->chunker, p->big_fd)) < 0) {
		close(p->big_fd);
		p->big_fd = -1;
		return error;
	}
	p->big = true;
	return 0;
}

/* Makes the next task; *MORE false when there is none left. */
static int make_task(pipeline *p, bool *more)
{
	scan_reader *r = p->r;
	scan_list *out = r->out;
	scan_entry *e;
	uint64_t size;

	if (p->big)
		return make_chunk(p);
	while (p->at < out->n && !(out->v[p->at].flags & SCAN_READ))
		p->at++;
	if (p->at == out->n) {
		*more = false;
		return 0;
	}
	e = &out->v[p->at++];
	size = e->st.size;
	if (r->keep && r->keep(scan_entry_real(e), r->payload)) {
		push_task(p, new_task(p, T_HELD, (size_t)(e - out->v), 0));
		return 0;
	}
	scan_test_pause();
	if (!S_ISLNK(e->st.st_mode) && scan_chunked(r, size)) {
		p->big_was = e->flags & SCAN_WAS;
		return start_big(p, (size_t)(e - out->v), scan_entry_real(e));
	}
	{
		task *t = new_task(p, T_FILE, (size_t)(e - out->v), 2 * size);

		t->was = e->flags & SCAN_WAS;
		t->real = scan_entry_real(e);
		t->link = S_ISLNK(e->st.st_mode);
		push_task(p, t);
	}
	return 0;
}

/* ----------------------------------------------------------- consuming */

static void report(pipeline *p)
{
	scan_reader *r = p->r;

	if (r->progress && r->out->hashed_bytes - p->reported >= 1024 * 1024) {
		p->reported = r->out->hashed_bytes;
		r->progress(r->seen, r->out->hashed_bytes, r->payload);
	}
}

/* Records the file read into entry E: its id, mode and stat. */
static void resolved(scan_entry *e, const git_oid *id, uint32_t mode, const struct stat *st)
{
	git_oid_cpy(&e->oid, id);
	e->mode = mode;
	if (st)
		scan_stat_set(&e->st, st); /* a link keeps the walk's lstat */
	e->flags = SCAN_HASHED;
}

/* Adds the finished task T to the pack and its entry to the list. */
static int consume(pipeline *p, task *t)
{
	scan_reader *r = p->r;
	scan_entry *e = &r->out->v[t->entry];
	git_oid id;
	bool drop = false;
	int error;

	if (t->result == DONE_FAILED)
		return dsync_error_set(t->code, "%s", t->message);
	switch (t->kind) {
	case T_CHUNK:
		if ((error = dsync_packw_add(r->pack, &t->obj)) < 0 ||
		    (error = dsync_chunk_tree_add(&p->tree, &t->obj.id, t->group_end, scan_put_pack, r->pack)) < 0)
			return error;
		r->out->hashed_bytes += t->obj.size;
		report(p);
		return 0;
	case T_HELD:
		scan_hold_back(r, e, &drop);
		break;
	case T_FILE:
		if (t->result == DONE_AGAIN) {
			if ((error = scan_read_entry(r, e, false, &drop)) < 0)
				return error;
			break;
		}
		if ((error = dsync_packw_add(r->pack, &t->obj)) < 0)
			return error;
		if (!t->link) /* as scan_read_entry() counts */
			r->out->hashed_bytes += t->obj.size;
		resolved(e, &t->obj.id, t->link ? GIT_FILEMODE_LINK : scan_git_mode(&t->st), t->link ? NULL : &t->st);
		break;
	case T_BIG_END:
		if (t->result == DONE_AGAIN) {
			/* its chunks so far stay in the pack, named by nothing
			 * (gc drops them) */
			dsync_chunk_tree_dispose(&p->tree);
			if ((error = scan_read_entry(r, e, false, &drop)) < 0)
				return error;
			break;
		}
		error = dsync_chunk_tree_finish(&p->tree, &id, t->size, scan_git_mode(&t->st), scan_put_pack, r->pack);
		dsync_chunk_tree_dispose(&p->tree);
		if (error < 0)
			return error;
		resolved(e, &id, GIT_FILEMODE_COMMIT, &t->st);
		break;
	}
	return scan_finish_to(r, t->entry, drop);
}

/* Frees what a task holds beyond the room of its object kept for reuse
 * (a big one is let go). */
static void clear_task(task *t)
{
	free(t->data);
	t->data = NULL;
	if (t->obj.zcap > ROOM_KEPT)
		dsync_packw_obj_dispose(&t->obj);
}

int scan_read_parallel(scan_reader *r)
{
	pipeline *p;
	bool more = true;
	size_t i;
	int error = 0;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return dsync_error_oom();
	p->r = r;
	p->big_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (i = 0; i < WORKERS; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			break;
		p->started++;
	}
	if (p->started == 0) {
		error = dsync_error_set(DSYNC_ERROR, "cannot start a thread to read files");
		goto out;
	}
	for (;;) {
		task *t;

		while (more && p->head - p->tail < RING && p->held < BUDGET)
			if ((error = make_task(p, &more)) < 0)
				goto out;
		if (p->tail == p->head)
			break;
		t = &p->ring[p->tail % RING];
		pthread_mutex_lock(&p->lock);
		while (!t->done) {
			p->waiting = true;
			pthread_cond_wait(&p->done, &p->lock);
			p->waiting = false;
		}
		pthread_mutex_unlock(&p->lock);
		error = consume(p, t);
		clear_task(t);
		pthread_mutex_lock(&p->lock);
		p->held -= t->charge;
		p->tail++;
		pthread_mutex_unlock(&p->lock);
		if (error < 0)
			goto out;
	}
	/* the entries after the last one read */
	error = scan_finish_to(r, r->out->n, false);
out:
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	for (i = 0; i < RING; i++) {
		free(p->ring[i].data);
		dsync_packw_obj_dispose(&p->ring[i].obj);
	}
	if (p->big_fd >= 0)
		close(p->big_fd);
	dsync_chunk_cutter_dispose(&p->cut);
	dsync_chunk_tree_dispose(&p->tree);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
	/* the workers' rooms, freed in their malloc arenas, would stay
	 * resident through the trees and the index (10 MB) */
	malloc_trim(0);
	return error;
}
