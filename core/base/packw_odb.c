/*
 * A libgit2 odb backend over a pack being written (packw.h,
 * dsync_packw_backend()): libgit2's writes land in the pack, its reads of
 * those objects are served from it until it is committed.
 */
#include "core/base/internal.h"

#include <git2/sys/odb_backend.h>
#include <zlib.h>

#include "core/base/packw.h"
#include "core/base/packw_int.h"

struct packw_backend {
	git_odb_backend parent;
	dsync_packw *w;   /* NULL once the writer is freed */
};

static int be_read_header(size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id)
{
	uint64_t size, zoff;
	size_t zlen;
	int error = dsync_packw_entry__(((struct packw_backend *)b)->w, id, type, &size, &zoff, &zlen);

	if (error == 0)
		*len = (size_t)size;
	return error;
}

static int be_read(void **out, size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id)
{
	dsync_packw *w = ((struct packw_backend *)b)->w;
	z_stream zs;
	uint64_t size, zoff;
	size_t zlen;
	unsigned char *z = NULL, *data = NULL;
	int error, zerr;

	if ((error = dsync_packw_entry__(w, id, type, &size, &zoff, &zlen)) < 0)
		return error;
	if ((z = malloc(zlen ? zlen : 1)) == NULL || (data = git_odb_backend_data_alloc(b, (size_t)size + 1)) == NULL) {
		free(z);
		git_error_set_oom();
		return -1;
	}
	if (dsync_packw_read__(w, zoff, z, zlen) < 0)
		goto fail;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK) {
		git_error_set_str(GIT_ERROR_ZLIB, "cannot inflate an object of the pack being written");
		goto fail;
	}
	zs.next_in = z;
	zs.avail_in = (uInt)zlen;
	zs.next_out = data;
	zs.avail_out = (uInt)size + 1;
	zerr = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	if (zerr != Z_STREAM_END || zs.total_out != size) {
		git_error_set_str(GIT_ERROR_ZLIB, "an object of the pack being written does not inflate");
		goto fail;
	}
	data[size] = '\0';
	free(z);
	*out = data;
	*len = (size_t)size;
	return 0;
fail:
	free(z);
	git_odb_backend_data_free(b, data);
	return -1;
}

static int be_exists(git_odb_backend *b, const git_oid *id)
{
	dsync_packw *w = ((struct packw_backend *)b)->w;

	return w && dsync_packw_live__(w) && dsync_packw_has(w, id);
}

/* The writer still takes objects (else libgit2 tries its next backend). */
static dsync_packw *be_writer(git_odb_backend *b)
{
	dsync_packw *w = ((struct packw_backend *)b)->w;

	return w && dsync_packw_live__(w) ? w : NULL;
}

static int be_add(dsync_packw *w, const git_oid *id, const void *data, size_t len, git_object_t type)
{
	int error;

	/* libgit2 looked in every backend before it asked for a write */
	if ((error = dsync_packw_prepare__(&w->scratch, type, data, len, id)) < 0 ||
	    (error = dsync_packw_add__(w, &w->scratch, false)) < 0) {
		git_error_set_str(GIT_ERROR_ODB, dsync_error_last());
		return -1;
	}
	return 0;
}

static int be_write(git_odb_backend *b, const git_oid *id, const void *data, size_t len, git_object_t type)
{
	dsync_packw *w = be_writer(b);

	return w && len <= DSYNC_PACKW_MAX_OBJECT ? be_add(w, id, data, len, type) : GIT_PASSTHROUGH;
}

/* A write stream: the object gathered in memory (libgit2 declares its
 * size first), then added whole, as libgit2's own fallback does.  A bigger
 * one than STREAM_MAX goes loose, streamed, so memory stays bounded (dsync
 * streams files up to its chunking threshold, 8 MiB). */
#define STREAM_MAX (16u * 1024 * 1024)

struct be_stream {
	git_odb_stream parent;
	git_object_t type;
	unsigned char *buf;
	size_t len;
};

static int bs_write(git_odb_stream *s, const char *data, size_t len)
{
	struct be_stream *bs = (struct be_stream *)s;

	if (len > s->declared_size - bs->len) {
		git_error_set_str(GIT_ERROR_ODB, "more bytes written than declared");
		return -1;
	}
	memcpy(bs->buf + bs->len, data, len);
	bs->len += len;
	return 0;
}

static int bs_finalize(git_odb_stream *s, const git_oid *id)
{
	struct be_stream *bs = (struct be_stream *)s;
	dsync_packw *w = be_writer(s->backend);

	if (!w) {
		git_error_set_str(GIT_ERROR_ODB, "the pack being written was closed");
		return -1;
	}
	return be_add(w, id, bs->buf, bs->len, bs->type);
}

static void bs_free(git_odb_stream *s)
{
	struct be_stream *bs = (struct be_stream *)s;

	free(bs->buf);
	free(bs);
}

static int be_writestream(git_odb_stream **out, git_odb_backend *b, git_object_size_t size, git_object_t type)
{
	struct be_stream *bs;

	if (!be_writer(b) || size > STREAM_MAX)
		return GIT_PASSTHROUGH;
	if ((bs = calloc(1, sizeof(*bs))) == NULL || (bs->buf = malloc((size_t)size + 1)) == NULL) {
		free(bs);
		git_error_set_oom();
		return -1;
	}
	bs->parent.backend = b;
	bs->parent.mode = GIT_STREAM_WRONLY;
	bs->parent.declared_size = size;
	bs->parent.write = bs_write;
	bs->parent.finalize_write = bs_finalize;
	bs->parent.free = bs_free;
	bs->type = type;
	*out = &bs->parent;
	return 0;
}

static int be_foreach(git_odb_backend *b, git_odb_foreach_cb cb, void *payload)
{
	dsync_packw *w = be_writer(b);
	int error;

	for (size_t i = 0; w && i < w->ents.size; i++)
		if ((error = cb(&w->ents.ptr[i].id, payload)) != 0)
			return error;
	return 0;
}

static void be_free(git_odb_backend *b)
{
	struct packw_backend *pb = (struct packw_backend *)b;

	if (pb->w)
		pb->w->backref = NULL;
	free(pb);
}

int dsync_packw_backend(git_odb_backend **out, dsync_packw *w)
{
	struct packw_backend *pb;

	*out = NULL;
	if (w->backref)
		return dsync_error_set(DSYNC_EUSAGE, "pack '%s' already has a backend", packw_name__(w));
	if ((pb = calloc(1, sizeof(*pb))) == NULL)
		return dsync_error_oom();
	pb->parent.version = GIT_ODB_BACKEND_VERSION;
	pb->parent.read = be_read;
	pb->parent.read_header = be_read_header;
	pb->parent.write = be_write;
	pb->parent.writestream = be_writestream;
	pb->parent.exists = be_exists;
	pb->parent.foreach = be_foreach;
	pb->parent.free = be_free;
	pb->w = w;
	w->backref = &pb->w;
	*out = &pb->parent;
	return 0;
}
