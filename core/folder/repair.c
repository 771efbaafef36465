/*
 * The repair of what a writer killed mid-way leaves in a folder's git
 * directory: git's lock files, libgit2's temporary files, a sync's
 * temporary packs (DESIGN.md section 9).  Run by whoever begins a write,
 * once the lock is taken (core/worktree/begin.c).
 */
#include "core/base/internal.h"
#include "core/folder/folder.h"
#include "core/folder/repair.h"
#include "core/base/buf.h"
#include "core/base/loose.h"
#include "core/base/path.h"

#include <sys/stat.h>
#include <unistd.h>

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Folder-walk callbacks: remove libgit2's temporary files ("*_git2_*") and
 * dsync's loose objects' (core/base/loose.h), and with LOCKS also stale
 * "*.lock" files. */
static int stale_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	bool locks = *(bool *)payload;

	if (!is_dir && ((locks && has_suffix(name, ".lock")) || strstr(name, "_git2_") != NULL ||
			strncmp(name, DSYNC_LOOSE_TEMP, strlen(DSYNC_LOOSE_TEMP)) == 0))
		unlink(path);
	return 0;
}

static int sync_tmp_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	(void)payload;
	if (strncmp(name, "dsync-tmp-", 10) == 0)
		dsync_path_remove(path, is_dir);
	return 0;
}

static void remove_stale(const char *dir, int depth, bool locks)
{
	dsync_path_walk(dir, depth, stale_cb, &locks);
}

void dsync_folder_repair(const dsync_folder *f)
{
	static const char *const files[] = { "index.lock", "HEAD.lock", "config.lock", "dsync-head.lock",
					     "packed-refs.lock" };
	dsync_buf p = DSYNC_BUF_INIT;
	size_t i;

	for (i = 0; i < DSYNC_ARRAY_SIZE(files); i++) {
		dsync_buf_truncate(&p, 0);
		if (dsync_buf_printf(&p, "%s/%s", f->gitdir, files[i]) == 0)
			unlink(p.ptr);
	}
	/* a sync killed half-way: its temporary packs (dsync-tmp-*) */
	dsync_path_walk(f->gitdir, 0, sync_tmp_cb, NULL);
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/refs", f->gitdir) == 0)
		remove_stale(p.ptr, 8, true);
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/logs", f->gitdir) == 0)
		remove_stale(p.ptr, 8, true);
	/* libgit2 and dsync make their temporary files in objects/ itself
	 * (loose objects) and objects/pack/ (packs): no need to visit the 256
	 * fan-out folders */
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/objects", f->gitdir) == 0)
		remove_stale(p.ptr, 0, false);
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/objects/pack", f->gitdir) == 0)
		remove_stale(p.ptr, 0, false);
	/* loose objects written after the last flush: a power cut's wrecks
	 * (no stamp, as in a store of an older release: all of them, once) */
	dsync_buf_truncate(&p, 0);
	if (dsync_buf_printf(&p, "%s/" DSYNC_SYNCED_STAMP, f->gitdir) == 0) {
		struct stat st;
		size_t moved = 0;

		int64_t since = stat(p.ptr, &st) == 0 ? (int64_t)st.st_mtime - 2 : 0;

		if (dsync_loose_sweep(f->gitdir, since, &moved, NULL) < 0)
			dsync_error_clear();
	}
	dsync_buf_dispose(&p);
}
