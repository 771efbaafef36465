/*
 * gc: loose objects into one pack with deltas, then the loose copies and
 * older packs it supersedes removed, safely (see dsync/gc.h).
 */
#include "core/base/internal.h"
#include "core/history/gc.h"
#include "core/folder/folder.h"
#include "core/base/buf.h"
#include "core/base/packw.h"
#include "core/base/path.h"

#include <dirent.h>
#include <git2/sys/odb_backend.h>
#include <sys/stat.h>
#include <unistd.h>

static int du_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	struct stat st;

	(void)name;
	if (!is_dir && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		*(uint64_t *)payload += (uint64_t)st.st_blocks * 512;
	return 0;
}

/* Adds the disk use of the files below DIR (two levels) to *BYTES. */
static void du(const char *dir, uint64_t *bytes)
{
	dsync_path_walk(dir, 1, du_cb, bytes);
}

#define DUE_LOOSE_OBJECTS 2000
#define DUE_LOOSE_BYTES (16u << 20)
#define DUE_PACKS 50   /* as git's gc.autoPackLimit: a big snapshot writes a pack or two of its own */

typedef struct store_use {
	size_t loose, packs;
	uint64_t loose_bytes, pack_bytes;
} store_use;

static int use_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	store_use *u = payload;
	size_t plen = strlen(path), nlen = strlen(name);
	struct stat st;

	if (is_dir || lstat(path, &st) < 0)
		return 0;
	/* objects/xx/<38 hex>, or objects/pack/... */
	if (nlen == GIT_OID_HEXSZ - 2 && plen > nlen + 3 && path[plen - nlen - 4] == '/') {
		u->loose++;
		u->loose_bytes += (uint64_t)st.st_size;
	} else if (plen > nlen + 5 && strncmp(path + plen - nlen - 6, "/pack/", 6) == 0) {
		u->pack_bytes += (uint64_t)st.st_size;
		u->packs += nlen > 9 && strncmp(name, "pack-", 5) == 0 && strcmp(name + nlen - 4, ".idx") == 0;
	}
	return 0;
}

bool dsync_gc_due(const dsync_folder *f)
{
	dsync_buf objects = DSYNC_BUF_INIT;
	store_use u = { 0, 0, 0, 0 };
	uint64_t limit;

	if (dsync_buf_printf(&objects, "%s/objects", f->gitdir) < 0)
		return false;
	dsync_path_walk(objects.ptr, 1, use_cb, &u);
	dsync_buf_dispose(&objects);
	limit = u.pack_bytes / 4 > DUE_LOOSE_BYTES ? u.pack_bytes / 4 : DUE_LOOSE_BYTES;
	return u.loose >= DUE_LOOSE_OBJECTS || u.loose_bytes >= limit || u.packs >= DUE_PACKS;
}

static int push_ref(const char *name, void *payload)
{
	git_revwalk *walk = payload;

	/* refs that are not commits (none today) are simply not walked */
	git_revwalk_push_ref(walk, name);
	return 0;
}

/* Opens an object database holding only the pack whose index is IDX. */
static int open_pack(git_odb **out, const char *idx)
{
	git_odb_backend *b = NULL;
	int err;

	*out = NULL;
	if ((err = git_odb_new(out)) < 0 || (err = git_odb_backend_one_pack(&b, idx)) < 0 ||
	    (err = git_odb_add_backend(*out, b, 1)) < 0) {
		if (b && *out == NULL)
			b->free(b);
		git_odb_free(*out);
		*out = NULL;
		return dsync_error_git(err, "cannot read the pack '%s'", idx);
	}
	return 0;
}

/* Removes each loose object below OBJECTS that the pack database PACK holds. */
static int remove_loose(git_odb *pack, const char *objects, size_t *removed)
{
	char hex[DSYNC_OID_HEX_SIZE];
	int i;

	for (i = 0; i < 256; i++) {
		dsync_buf dir = DSYNC_BUF_INIT;
		DIR *d;
		struct dirent *e;

		if (dsync_buf_printf(&dir, "%s/%02x", objects, i) < 0)
			return -1;
		if ((d = opendir(dir.ptr)) == NULL) {
			dsync_buf_dispose(&dir);
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			git_oid oid;

			if (strlen(e->d_name) != GIT_OID_HEXSZ - 2)
				continue;
			snprintf(hex, 3, "%02x", i);
			memcpy(hex + 2, e->d_name, GIT_OID_HEXSZ - 2);
			hex[GIT_OID_HEXSZ] = '\0';
			if (git_oid_fromstr(&oid, hex) < 0 || !git_odb_exists(pack, &oid))
				continue;
			{
				dsync_buf p = DSYNC_BUF_INIT;

				if (dsync_buf_printf(&p, "%s/%s", dir.ptr, e->d_name) == 0 && unlink(p.ptr) == 0)
					(*removed)++;
				dsync_buf_dispose(&p);
			}
		}
		closedir(d);
		rmdir(dir.ptr); /* only when empty */
		dsync_buf_dispose(&dir);
	}
	return 0;
}

typedef struct covered_ctx {
	git_odb *pack;
	bool all;
} covered_ctx;

static int covered_cb(const git_oid *id, void *payload)
{
	covered_ctx *c = payload;

	if (!git_odb_exists(c->pack, id)) {
		c->all = false;
		return 1;
	}
	return 0;
}

/* Calls CB with the .idx path and the base path (without ".idx") of every
 * pack in PACKDIR but those whose name starts with SKIP (may be NULL) and
 * those with a .keep file; stops at CB's first non-zero answer, returned. */
static int each_pack(const char *packdir, const char *skip,
		     int (*cb)(const char *idx, const char *base, void *payload), void *payload)
{
	DIR *d = opendir(packdir);
	struct dirent *e;
	int error = 0;

	if (!d)
		return 0;
	while (error == 0 && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		dsync_buf idx = DSYNC_BUF_INIT, base = DSYNC_BUF_INIT, keep = DSYNC_BUF_INIT;
		struct stat st;

		if (n < 5 || strncmp(e->d_name, "pack-", 5) != 0 || strcmp(e->d_name + n - 4, ".idx") != 0 ||
		    (skip && strncmp(e->d_name, skip, strlen(skip)) == 0))
			continue;
		if (dsync_buf_printf(&idx, "%s/%s", packdir, e->d_name) < 0 ||
		    dsync_buf_put(&base, idx.ptr, idx.len - 4) < 0 || dsync_buf_printf(&keep, "%s.keep", base.ptr) < 0)
			error = dsync_error_oom();
		else if (stat(keep.ptr, &st) < 0)
			error = cb(idx.ptr, base.ptr, payload);
		dsync_buf_dispose(&idx);
		dsync_buf_dispose(&base);
		dsync_buf_dispose(&keep);
	}
	closedir(d);
	return error;
}

static int insert_cb(const git_oid *id, void *payload)
{
	return git_packbuilder_insert(payload, id, NULL);
}

/* Puts into PB every object of the pack IDX (PB skips those it has).  Best
 * effort, as removing packs is: a pack that can't be read whole is not
 * wholly in the new pack, so it stays, and gc goes on. */
static int insert_pack(const char *idx, const char *base, void *payload)
{
	git_odb *old = NULL;

	(void)base;
	if (open_pack(&old, idx) < 0 || git_odb_foreach(old, insert_cb, payload) < 0) {
		dsync_error_clear();
		git_error_clear();
	}
	git_odb_free(old);
	return 0;
}

typedef struct remove_ctx {
	git_odb *pack;
	size_t *removed;
} remove_ctx;

/* Removes the pack of IDX and BASE when every object of it the new pack
 * holds (best effort: a pack that can't be read or removed stays). */
static int remove_pack(const char *idx, const char *base, void *payload)
{
	remove_ctx *rc = payload;
	dsync_buf p = DSYNC_BUF_INIT;
	git_odb *old = NULL;
	covered_ctx c;

	if (open_pack(&old, idx) < 0) {
		dsync_error_clear();
		return 0;
	}
	c.pack = rc->pack;
	c.all = true;
	if (git_odb_foreach(old, covered_cb, &c) < 0 && c.all)
		c.all = false;
	git_odb_free(old);
	if (c.all && dsync_buf_printf(&p, "%s.pack", base) == 0 && unlink(p.ptr) == 0) {
		unlink(idx);
		dsync_buf_truncate(&p, 0);
		if (dsync_buf_printf(&p, "%s.rev", base) == 0)
			unlink(p.ptr);
		(*rc->removed)++;
	}
	dsync_buf_dispose(&p);
	return 0;
}

int dsync_gc_locked(dsync_gc_result *out, dsync_folder *f, int lock_wait_ms)
{
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	git_odb *pack = NULL;
	dsync_buf objects = DSYNC_BUF_INIT, packdir = DSYNC_BUF_INIT, idx = DSYNC_BUF_INIT;
	bool locked = false;
	int err, error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((error = dsync_folder_lock(f, lock_wait_ms)) < 0)
		return error;
	locked = true;
	if ((error = dsync_buf_printf(&objects, "%s/objects", f->gitdir)) < 0 ||
	    (error = dsync_buf_printf(&packdir, "%s/pack", objects.ptr)) < 0)
		goto out;
	du(objects.ptr, &out->bytes_before);

	if ((err = git_packbuilder_new(&pb, f->repo)) < 0 || (err = git_revwalk_new(&walk, f->repo)) < 0) {
		error = dsync_error_git(err, "cannot start packing");
		goto out;
	}
	git_packbuilder_set_threads(pb, 0);
	if ((err = git_reference_foreach_name(f->repo, push_ref, walk)) < 0 ||
	    (err = git_packbuilder_insert_walk(pb, walk)) < 0) {
		error = dsync_error_git(err, "cannot list the objects to pack");
		goto out;
	}
	/* and what the packs hold that nothing refers to (the index's trees
	 * of big files, chunks of a file that changed while read): else a pack
	 * holding one of them stayed whole beside the new one, and a first
	 * snapshot with a big file doubled the store */
	if ((error = each_pack(packdir.ptr, NULL, insert_pack, pb)) < 0)
		goto out;
	out->objects = git_packbuilder_object_count(pb);
	if (out->objects == 0) {
		out->bytes_after = out->bytes_before;
		error = 0;
		goto out;
	}
	if (mkdir(packdir.ptr, 0777) < 0 && errno != EEXIST) {
		error = dsync_error_sys(errno, "cannot create '%s'", packdir.ptr);
		goto out;
	}
	if ((err = git_packbuilder_write(pb, packdir.ptr, 0, NULL, NULL)) < 0) {
		error = dsync_error_git(err, "cannot write a pack");
		goto out;
	}
	snprintf(out->pack, sizeof(out->pack), "%s", git_packbuilder_name(pb));
	/* the pack is durable before any copy of its objects goes */
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	if ((error = dsync_buf_printf(&idx, "%s/pack-%s.idx", packdir.ptr, out->pack)) < 0 ||
	    (error = open_pack(&pack, idx.ptr)) < 0)
		goto out;
	{
		git_oid head;

		if (git_reference_name_to_id(&head, f->repo, "refs/heads/main") == 0 &&
		    !git_odb_exists(pack, &head)) {
			error = dsync_error_set(DSYNC_ECORRUPT,
				"the new pack '%s' does not hold the last snapshot; nothing removed", idx.ptr);
			goto out;
		}
	}
	/*
	 * Every object the loose copies and older packs hold is in the durable
	 * new pack, so removing them needs no lock: a snapshot meanwhile that
	 * finds an object "already stored" finds it in the pack all the same.
	 * Removing thousands of files can take long (a slow disk, discard on
	 * unlink); writers need not wait for it.
	 */
	dsync_folder_unlock(f);
	locked = false;
	if ((error = remove_loose(pack, objects.ptr, &out->loose_removed)) < 0)
		goto out;
	{
		char keep[64];
		remove_ctx rc = { pack, &out->packs_removed };

		snprintf(keep, sizeof(keep), "pack-%s.", out->pack);
		each_pack(packdir.ptr, keep, remove_pack, &rc);
	}
	/* packs a killed snapshot left half-written */
	dsync_packw_clean_temp(f->gitdir, DSYNC_PACKW_TEMP_AGE);
	{
		git_odb *odb = NULL;

		if (git_repository_odb(&odb, f->repo) == 0)
			git_odb_refresh(odb);
		git_odb_free(odb);
	}
	if ((error = dsync_folder_sync(f)) < 0)
		goto out;
	du(objects.ptr, &out->bytes_after);
	error = 0;
out:
	if (locked)
		dsync_folder_unlock(f);
	git_odb_free(pack);
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	dsync_buf_dispose(&objects);
	dsync_buf_dispose(&packdir);
	dsync_buf_dispose(&idx);
	return error;
}
