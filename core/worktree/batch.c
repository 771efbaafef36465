/*
 * Writing many stored versions at once (DESIGN.md section 9): a batch's
 * temporary files are written by two threads, the caller's (with its own
 * repository) and one that opens the folder's history for itself (libgit2
 * objects are not shared between threads), each taking the next job.
 * Reading a version (inflating it, checking its hash) costs about as much
 * as writing it, so two threads keep the disk busy where one could not.
 *
 * Then one syncfs per file system the batch wrote to, instead of an fsync
 * per file: only after it does the caller rename a temporary file into
 * place.  A crash before then leaves temporary files (swept by the next
 * writer: the journal or the restore's record names their folders), never
 * a file whose name is there and whose bytes are not.
 */
#include "core/base/internal.h"
#include "core/worktree/batch.h"
#include "core/worktree/temp.h"
#include "core/base/chunks.h"

#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <unistd.h>

#define BATCH_FILES 4096                  /* temporaries at once */
#define BATCH_BYTES (256ull << 20)        /* and the room they take */
#define MAX_THREADS 2

void dsync_wbatch_init(dsync_wbatch *b, git_repository *repo, const char *gitdir, const char *root, mode_t umask)
{
	memset(b, 0, sizeof(*b));
	b->repo = repo;
	b->gitdir = gitdir;
	b->root = root;
	b->umask = umask;
}

int dsync_wbatch_add(dsync_wbatch *b, const git_oid *id, uint32_t mode, mode_t perm, const char *dest, uint64_t size)
{
	dsync_wjob *j;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		dsync_wjob *v = realloc(b->jobs, cap * sizeof(*v));

		if (!v)
			return dsync_error_oom();
		b->jobs = v;
		b->cap = cap;
	}
	j = &b->jobs[b->n];
	memset(j, 0, sizeof(*j));   /* an empty tmp too */
	if ((j->dest = strdup(dest)) == NULL)
		return dsync_error_oom();
	git_oid_cpy(&j->id, id);
	j->mode = mode;
	j->perm = perm;
	if (size == 0 && (mode == GIT_FILEMODE_TREE || mode == GIT_FILEMODE_COMMIT)) {
		/* a big file: its size is in its marker */
		dsync_chunked info;

		if (dsync_chunks_info_of(&info, b->repo, id) == 1)
			size = info.size;
		dsync_error_clear();
	} else if (size == 0) {
		/* a blob's size from its header: cheap, and a batch of big
		 * files stays bounded in room */
		git_odb *odb = NULL;
		git_object_t type;
		size_t len;

		if (git_repository_odb(&odb, b->repo) == 0 && git_odb_read_header(&len, &type, odb, id) == 0)
			size = len;
		git_odb_free(odb);
		git_error_clear();
	}
	b->bytes += size;
	b->n++;
	return 0;
}

bool dsync_wbatch_full(const dsync_wbatch *b)
{
	return b->n >= BATCH_FILES || b->bytes >= BATCH_BYTES;
}

/*
 * The jobs are in path order.  The caller's thread takes them from the
 * front and the helper from the back, so that the two threads create
 * files in different folders until they meet: creating a file holds its
 * folder's lock, and two threads in one folder mostly wait on each other.
 */
typedef struct runner {
	dsync_wbatch *b;
	pthread_mutex_t lock;
	size_t lo, hi;          /* the jobs not taken: [lo, hi) */
} runner;

/* The next job for the thread that takes from the front (FRONT) or from
 * the back; false: none is left. */
static bool take_job(runner *r, bool front, size_t *i)
{
	bool any;

	pthread_mutex_lock(&r->lock);
	any = r->lo < r->hi;
	if (any)
		*i = front ? r->lo++ : --r->hi;
	pthread_mutex_unlock(&r->lock);
	return any;
}

/* Writes jobs until none is left, reading versions from REPO. */
static void run_jobs(runner *r, git_repository *repo, bool front)
{
	dsync_wbatch *b = r->b;
	size_t i;

	dsync_worktree_temp_forget();
	while (take_job(r, front, &i)) {
		dsync_wjob *j = &b->jobs[i];

		j->error = dsync_worktree_temp(&j->tmp, &j->st, repo, &j->id, j->mode, j->perm, b->root, j->dest,
					       b->umask);
		if (j->error < 0)
			j->msg = strdup(dsync_error_last());
	}
	dsync_worktree_temp_forget();
}

static void *helper(void *payload)
{
	runner *r = payload;
	git_repository *repo = NULL;

	/* its own repository; none (it could not be opened): the caller's
	 * thread writes every job */
	if (git_repository_open_ext(&repo, r->b->gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0)
		run_jobs(r, repo, false);
	git_repository_free(repo);
	return NULL;
}

/* Flushes the file system of the folder of each written temporary, once
 * per file system. */
static int flush(dsync_wbatch *b)
{
	dev_t done[8];
	size_t ndone = 0, i, k;
	int error = 0;

	for (i = 0; i < b->n && error == 0; i++) {
		dsync_wjob *j = &b->jobs[i];
		char *dir;
		int fd;

		if (j->error < 0)
			continue;
		for (k = 0; k < ndone && done[k] != j->st.st_dev; k++)
			;
		if (k < ndone)
			continue;
		if ((dir = strdup(j->tmp.ptr)) == NULL)
			return dsync_error_oom();
		if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || syncfs(fd) < 0)
			error = dsync_error_sys(errno, "cannot flush '%s' to disk", j->dest);
		if (fd >= 0)
			close(fd);
		free(dir);
		/* more file systems than that: flushed again, which is only
		 * slower */
		if (ndone < sizeof(done) / sizeof(done[0]))
			done[ndone++] = j->st.st_dev;
	}
	return error;
}

int dsync_wbatch_write(dsync_wbatch *b)
{
	runner r = { .b = b, .lo = 0, .hi = b->n };
	pthread_t t;
	bool threaded;
	int error;

	pthread_mutex_init(&r.lock, NULL);
	threaded = b->n > 1 && dsync_thread_count(MAX_THREADS) > 1 && pthread_create(&t, NULL, helper, &r) == 0;
	run_jobs(&r, b->repo, true);
	if (threaded)
		pthread_join(t, NULL);
	pthread_mutex_destroy(&r.lock);
	if ((error = flush(b)) < 0)
		dsync_wbatch_clear(b);
	return error;
}

int dsync_wbatch_take(dsync_wbatch *b, size_t i, dsync_buf *tmp, struct stat *st)
{
	dsync_wjob *j = &b->jobs[i];

	if (j->error < 0)
		return dsync_error_set(j->error, "%s", j->msg ? j->msg : "cannot write a file");
	dsync_buf_truncate(tmp, 0);
	if (dsync_buf_put(tmp, j->tmp.ptr, j->tmp.len) < 0)
		return dsync_error_oom();
	if (st)
		*st = j->st;
	/* the caller's now */
	dsync_buf_truncate(&j->tmp, 0);
	return 0;
}

void dsync_wbatch_clear(dsync_wbatch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		dsync_wjob *j = &b->jobs[i];

		if (j->error == 0 && j->tmp.len)
			unlink(j->tmp.ptr);
		dsync_buf_dispose(&j->tmp);
		free(j->dest);
		free(j->msg);
	}
	b->n = 0;
	b->bytes = 0;
}

void dsync_wbatch_dispose(dsync_wbatch *b)
{
	dsync_wbatch_clear(b);
	free(b->jobs);
	b->jobs = NULL;
	b->cap = 0;
}
