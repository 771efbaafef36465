/*
 * One-pass indexing of a fetched pack of whole objects (see packidx.h).
 * libgit2's indexer hashes every object and the whole pack with SHA-1DC,
 * inflates each object, and writes the pack again beside the one given; for
 * a first join that was the largest cost.  Here each object is inflated
 * once (its bytes checked against its header's size), its id still comes
 * from libgit2's collision-detecting hash, the trailer (only a checksum:
 * the pack was authenticated whole before this) is checked with the CPU's
 * SHA instructions, and the caller's decrypted file becomes the pack by a
 * hard link.  Anything this reader does not expect makes it step aside.
 */
#include "core/base/internal.h"
#include "core/base/packidx.h"
#include "core/base/packw.h"
#include "core/base/sha1.h"
#include "core/base/array.h"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define RD_BUF (1u << 20)
/* an entry inflated from the buffer whole when its compressed bytes fit
 * in this much (grown to it, once per pack that has one that big) */
#define RD_WHOLE_MAX (4u << 20)
#define NOT_OURS 1

/* A buffered reader of the pack that hashes every byte before the
 * trailer as it is read. */
typedef struct rd {
	int fd;
	unsigned char *buf;
	size_t cap;              /* of buf */
	size_t pos, len;
	uint64_t off;            /* the file offset of buf[0] */
	uint64_t end;            /* where the trailer begins */
	uint64_t hashed;         /* bytes hashed so far (from offset 0) */
	dsync_sha1 sha;
	bool eof;
} rd;

static uint64_t rd_tell(const rd *r)
{
	return r->off + r->pos;
}

/* Reads more: <0 an error, 0 none left. */
static int rd_fill(rd *r)
{
	ssize_t n;

	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->off += r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->eof || r->len == r->cap)
		return 0;
	do
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return dsync_error_sys(errno, "cannot read a fetched pack");
	if (n == 0) {
		r->eof = true;
		return 0;
	}
	r->len += (size_t)n;
	/* the bytes before the trailer, each once */
	if (r->hashed < r->end && r->off + r->len > r->hashed) {
		uint64_t upto = r->off + r->len < r->end ? r->off + r->len : r->end;

		dsync_sha1_update(&r->sha, r->buf + (r->hashed - r->off), (size_t)(upto - r->hashed));
		r->hashed = upto;
	}
	return (int)n;
}

/* At least N bytes buffered (fewer only at the end of the file). */
static int rd_need(rd *r, size_t n)
{
	int got;

	while (r->len - r->pos < n)
		if ((got = rd_fill(r)) <= 0)
			return got < 0 ? got : NOT_OURS;
	return 0;
}

/* Inflates the entry's data at the reader into OUT (room for SIZE + 1
 * bytes: it must make SIZE exactly), adding the compressed bytes to *CRC. */
static int inflate_entry(rd *r, z_stream *z, unsigned char *out, size_t size, uint32_t *crc)
{
	int zerr, error;

	if (inflateReset(z) != Z_OK)
		return NOT_OURS;
	z->next_out = out;
	z->avail_out = (uInt)size + 1;
	for (;;) {
		size_t before;

		if (r->pos == r->len && (error = rd_fill(r)) <= 0)
			return error < 0 ? error : NOT_OURS;
		before = r->len - r->pos;
		z->next_in = r->buf + r->pos;
		z->avail_in = (uInt)before;
		zerr = inflate(z, Z_NO_FLUSH);
		*crc = (uint32_t)crc32(*crc, r->buf + r->pos, (uInt)(before - z->avail_in));
		r->pos += before - z->avail_in;
		if (zerr == Z_STREAM_END)
			return z->total_out == size ? 0 : NOT_OURS;
		if ((zerr != Z_OK && zerr != Z_BUF_ERROR) || z->avail_out == 0)
			return NOT_OURS;
	}
}

/* Inflates the entry's data at the reader into OUT (SIZE bytes) in one
 * call of libdeflate's, about three times as fast as zlib's stream with
 * its Adler-32 check, when the compressed bytes fit in the buffer: 0 done
 * (the compressed bytes added to *CRC), NOT_OURS not done (the reader is
 * where it was: zlib's stream tries), <0 an error. */
static int inflate_whole(rd *r, struct libdeflate_decompressor *d, unsigned char *out, size_t size, uint32_t *crc)
{
	/* stored blocks add 5 bytes in 65535, the zlib wrapper 6: a stream
	 * larger than this is not one dsync writes */
	size_t want = size + size / 8 + 64, used = 0, got = 0;
	int error;

	if (!d || want > RD_WHOLE_MAX)
		return NOT_OURS;
	if (want > r->cap) {
		unsigned char *n = realloc(r->buf, want);

		if (!n)
			return NOT_OURS;
		r->buf = n;
		r->cap = want;
	}
	/* fewer at the end of the pack */
	if ((error = rd_need(r, want)) < 0)
		return error;
	if (libdeflate_zlib_decompress_ex(d, r->buf + r->pos, r->len - r->pos, out, size, &used, &got) !=
		    LIBDEFLATE_SUCCESS ||
	    got != size)
		return NOT_OURS;
	*crc = libdeflate_crc32(*crc, r->buf + r->pos, used);
	r->pos += used;
	return 0;
}

static char *stage_dir;
static uint64_t staged;   /* bytes (atomic) */

void dsync_packidx_stage(const char *dir)
{
	free(stage_dir);
	stage_dir = dir ? strdup(dir) : NULL;
	staged = 0;
}

const char *dsync_packidx_stage_dir(void)
{
	return stage_dir;
}

int dsync_packidx_stage_path(char *out, size_t size, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof(hex), id);
	if (!stage_dir || (size_t)snprintf(out, size, "%s/%.2s/%s", stage_dir, hex, hex + 2) >= size)
		return -1;
	return 0;
}

/* Writes the blob ID (DATA, LEN bytes) into the staging folder; any
 * failure leaves nothing. */
static void stage_blob(const git_oid *id, const unsigned char *data, size_t len)
{
	char path[4096];
	size_t done = 0;
	int fd;

	if (__atomic_add_fetch(&staged, len, __ATOMIC_RELAXED) > DSYNC_PACKIDX_STAGE_MAX)
		return;
	if (dsync_packidx_stage_path(path, sizeof(path), id) < 0)
		return;
	/* an id twice (two packs hold it): the first stays */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 && errno == ENOENT) {
		/* its fan-out folder, made by the first blob that needs it */
		char *slash = strrchr(path, '/');

		*slash = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return;
		*slash = '/';
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	/* a big one: the disk starts on it now (the checkout's syncfs waits
	 * for it); small ones are left to that syncfs, as in temp.c */
	if (done == len && len >= (256u << 10))
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) < 0 || done != len)
		unlink(path);
}

static int ent_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const dsync_packw_ent *)a)->id, &((const dsync_packw_ent *)b)->id);
}

typedef DSYNC_ARRAY(dsync_packw_ent) ent_list;

/* Reads every entry of the pack at R (COUNT of them) into ENTS. */
static int read_entries(rd *r, uint32_t count, ent_list *ents)
{
	z_stream z;
	/* none: every entry through zlib's stream */
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	unsigned char *obj = NULL;
	size_t cap = 0;
	uint32_t i;
	int error = 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK) {
		libdeflate_free_decompressor(d);
		return dsync_error_oom();
	}
	for (i = 0; i < count && error == 0; i++) {
		dsync_packw_ent e;
		unsigned char c;
		uint64_t size;
		unsigned shift = 4;
		git_object_t type;
		size_t hl = 1;
		int err;

		memset(&e, 0, sizeof(e));
		e.offset = rd_tell(r);
		if ((error = rd_need(r, 12)) != 0 && (error < 0 || r->len == r->pos))
			break;
		error = 0;
		c = r->buf[r->pos];
		type = (git_object_t)((c >> 4) & 7);
		size = c & 15;
		while (c & 0x80) {
			if (hl == r->len - r->pos || shift > 57) {
				error = NOT_OURS;
				break;
			}
			c = r->buf[r->pos + hl++];
			size |= (uint64_t)(c & 0x7f) << shift;
			shift += 7;
		}
		/* deltas (and anything else) are libgit2's */
		if (error || (type != GIT_OBJECT_COMMIT && type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB &&
			      type != GIT_OBJECT_TAG) || size > DSYNC_PACKIDX_MAX_OBJECT) {
			error = NOT_OURS;
			break;
		}
		e.crc = libdeflate_crc32(0, r->buf + r->pos, hl);
		r->pos += hl;
		if (size + 1 > cap) {
			unsigned char *n = realloc(obj, (size_t)size + 1);

			if (!n) {
				error = dsync_error_oom();
				break;
			}
			obj = n;
			cap = (size_t)size + 1;
		}
		if ((error = inflate_whole(r, d, obj, (size_t)size, &e.crc)) == NOT_OURS)
			error = inflate_entry(r, &z, obj, (size_t)size, &e.crc);
		if (error != 0)
			break;
		/* libgit2's hash: a crafted collision is refused */
		if ((err = git_odb_hash(&e.id, obj, (size_t)size, type)) < 0) {
			git_error_clear();
			error = NOT_OURS;
			break;
		}
		if (type == GIT_OBJECT_BLOB && stage_dir)
			stage_blob(&e.id, obj, (size_t)size);
		if (dsync_array_push(*ents, e) < 0)
			error = dsync_error_oom();
	}
	inflateEnd(&z);
	libdeflate_free_decompressor(d);
	free(obj);
	return error;
}

/* Writes the idx of ENTS (sorted here) for the pack whose trailer is SHA
 * (PACK_FD, at PATH) into PACKDIR; links PATH there as the pack, then
 * names the idx. */
static int put_in_place(ent_list *ents, const unsigned char sha[20], int pack_fd, const char *path,
			const char *packdir, dsync_buf *idx_path)
{
	dsync_buf tmp = DSYNC_BUF_INIT, pack = DSYNC_BUF_INIT, idx = DSYNC_BUF_INIT;
	unsigned char idx_sha[20];
	char hex[GIT_OID_HEXSZ + 1];
	git_oid packid;
	size_t i;
	int fd = -1, error;

	qsort(ents->ptr, ents->size, sizeof(*ents->ptr), ent_cmp);
	for (i = 1; i < ents->size; i++)
		if (git_oid_equal(&ents->ptr[i - 1].id, &ents->ptr[i].id))
			return NOT_OURS;   /* an object twice: libgit2 decides */
	git_oid_fromraw(&packid, sha);
	git_oid_tostr(hex, sizeof(hex), &packid);
	/* not "*.idx" while written: git takes any NAME.idx beside a NAME.pack
	 * for a pack; swept like packw's when a kill leaves it */
	if ((error = dsync_buf_printf(&tmp, "%s/tmp-dsync-XXXXXX.tmpidx", packdir)) < 0 ||
	    (error = dsync_buf_printf(&pack, "%s/pack-%s.pack", packdir, hex)) < 0 ||
	    (error = dsync_buf_printf(&idx, "%s/pack-%s.idx", packdir, hex)) < 0)
		goto out;
	if (access(idx.ptr, F_OK) == 0) {
		error = NOT_OURS;   /* held already: libgit2's indexer knows what to do */
		goto out;
	}
	if ((fd = mkostemps(tmp.ptr, 7, O_CLOEXEC)) < 0) {
		error = dsync_error_sys(errno, "cannot make a pack index in '%s'", packdir);
		goto out;
	}
	/* both flushed before either is named, as packw's: a power cut must
	 * not leave a named pack of zeros, which would fail every lookup */
	if ((error = dsync_packw_write_idx__(fd, ents->ptr, ents->size, sha, idx_sha)) < 0 || fchmod(fd, 0444) < 0 ||
	    fdatasync(fd) < 0 || fdatasync(pack_fd) < 0 || close(fd) < 0) {
		error = error < 0 ? error : dsync_error_sys(errno, "cannot write '%s'", tmp.ptr);
		fd = -1;
		goto fail;
	}
	fd = -1;
	/* the .pack first: git finds packs by their .idx */
	if (link(path, pack.ptr) < 0) {
		error = errno == EEXIST || errno == EXDEV || errno == EPERM || errno == EMLINK || errno == ENOTSUP
				? NOT_OURS
				: dsync_error_sys(errno, "cannot store '%s'", pack.ptr);
		goto fail;
	}
	/* linked, as libgit2's indexer and git do: never over an idx that
	 * appeared meanwhile */
	if (link(tmp.ptr, idx.ptr) < 0) {
		/* one that appeared meanwhile indexes these very bytes (the
		 * name is their hash): the pack stays beside it */
		if (errno == EEXIST) {
			error = NOT_OURS;
		} else {
			error = dsync_error_sys(errno, "cannot store '%s'", idx.ptr);
			unlink(pack.ptr);
		}
		goto fail;
	}
	unlink(tmp.ptr);
	if (idx_path) {
		dsync_buf_truncate(idx_path, 0);
		error = dsync_buf_put(idx_path, idx.ptr, idx.len);
	}
	goto out;
fail:
	unlink(tmp.ptr);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp.ptr);
	}
	dsync_buf_dispose(&tmp);
	dsync_buf_dispose(&pack);
	dsync_buf_dispose(&idx);
	return error;
}

int dsync_packidx_index(int fd, const char *path, const char *packdir, size_t *objects, dsync_buf *idx_path)
{
	ent_list ents = DSYNC_ARRAY_INIT;
	unsigned char sha[20];
	struct stat st;
	uint32_t count;
	rd r;
	int error;

	*objects = 0;
	memset(&r, 0, sizeof(r));
	r.fd = fd;
	if (fstat(fd, &st) < 0)
		return dsync_error_sys(errno, "cannot read '%s'", path);
	/* a header, at least one byte per object, a trailer */
	if (st.st_size < 12 + 20 || lseek(fd, 0, SEEK_SET) < 0)
		return NOT_OURS;
	r.end = (uint64_t)st.st_size - 20;
	dsync_sha1_init(&r.sha);
	if ((r.buf = malloc(RD_BUF)) == NULL)
		return dsync_error_oom();
	r.cap = RD_BUF;
	if ((error = rd_need(&r, 12)) != 0)
		goto out;
	count = (uint32_t)r.buf[8] << 24 | (uint32_t)r.buf[9] << 16 | (uint32_t)r.buf[10] << 8 | r.buf[11];
	if (memcmp(r.buf, "PACK\0\0\0\2", 8) != 0 || count > r.end / 2) {
		error = NOT_OURS;
		goto out;
	}
	r.pos = 12;
	if ((error = read_entries(&r, count, &ents)) != 0)
		goto out;
	/* every byte up to the trailer was an object's, and the trailer
	 * hashes them */
	if (ents.size != count || rd_tell(&r) != r.end || (error = rd_need(&r, 20)) != 0 || r.len - r.pos != 20 ||
	    (dsync_sha1_final(&r.sha, sha), memcmp(sha, r.buf + r.pos, 20) != 0)) {
		error = error < 0 ? error : NOT_OURS;
		goto out;
	}
	/* git's own packs are read-only */
	if (fchmod(fd, 0444) < 0) {
		error = dsync_error_sys(errno, "cannot store '%s'", path);
		goto out;
	}
	if ((error = put_in_place(&ents, sha, fd, path, packdir, idx_path)) == 0)
		*objects = ents.size;
out:
	dsync_array_dispose(ents);
	free(r.buf);
	return error;
}
