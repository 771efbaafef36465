/*
 * Preparing an object for a local pack (packw.h): its id, and its entry's
 * zlib stream, deflated or stored.  Runs on any thread.
 */
#include "core/base/internal.h"

#include <pthread.h>
#include <zlib.h>

#include "core/base/packw_int.h"

/*
 * zlib level of what compresses.  Measured on the text of bench/corpus.pl
 * (89 MB): level 1 gives 59.2% of the size at 33 MB/s, level 2 58.9% at
 * 17 MB/s, level 6 57.8% at 9 MB/s (a loaded 2-core machine): a percent
 * of size is not worth half the speed, and `dsync gc` repacks with deltas.
 */
#define LEVEL 1
/*
 * The compressibility test: two samples (the start and the middle) of SAMPLE
 * bytes each, deflated at level 1; the object is stored (level 0) unless
 * each saves at least a tenth.  Each, not their sum: a media file's header
 * (EXIF, a zip's names) compresses while its body does not.  Small samples:
 * level 1 runs at a tenth of SHA-1's speed on random bytes, so the test is
 * what storing costs beyond the hash: a 32 KiB chunk's test deflates an
 * eighth of it (measured, per CPU second: 250 MB/s of random 32 KiB chunks
 * prepared with the test, 370 MB/s without), so a cheaper look comes first
 * (sample_incompressible()).
 */
#define SAMPLE 2048
#define SAVES_ENOUGH(in, out) ((out) * 10 <= (in) * 9)

/*
 * Deflate streams per thread, reset between objects: making one costs a
 * quarter MiB of allocations.  Two of them: a reset clears the stream's hash
 * table, 64 KiB in the default one, and the samples and small objects (most
 * of a folder of many files) need only a small window and table; the
 * result is a zlib stream all the same (its header says its window).
 */
#define SMALL 4096             /* objects up to this size use the small stream */
#define SMALL_WBITS 12         /* a 4 KiB window */
#define SMALL_MEMLEVEL 6       /* an 8192-entry hash table, 4 KiB of symbols a block */

struct zstreams {
	z_stream big, small;
	bool big_ok, small_ok;
};

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;
static int zkey_err;

static void zstreams_free(void *p)
{
	struct zstreams *z = p;

	if (z->big_ok)
		deflateEnd(&z->big);
	if (z->small_ok)
		deflateEnd(&z->small);
	free(z);
}

static void zkey_make(void)
{
	zkey_err = pthread_key_create(&zkey, zstreams_free);
}

static struct zstreams *thread_zstreams(void)
{
	struct zstreams *z;

	if (pthread_once(&zonce, zkey_make) != 0 || zkey_err != 0)
		return NULL;
	if ((z = pthread_getspecific(zkey)) != NULL)
		return z;
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return NULL;
	z->big_ok = deflateInit(&z->big, LEVEL) == Z_OK;
	z->small_ok = deflateInit2(&z->small, LEVEL, Z_DEFLATED, SMALL_WBITS, SMALL_MEMLEVEL,
				   Z_DEFAULT_STRATEGY) == Z_OK;
	if (!z->big_ok || !z->small_ok || pthread_setspecific(zkey, z) != 0) {
		zstreams_free(z);
		return NULL;
	}
	return z;
}

static int obj_room(dsync_packw_obj *o, size_t need)
{
	unsigned char *z;

	if (need <= o->zcap)
		return 0;
	if ((z = realloc(o->z, need)) == NULL)
		return dsync_error_oom();
	o->z = z;
	o->zcap = need;
	return 0;
}

/* Deflates LEN bytes at DATA in one go into OUT (room for CAP bytes): its
 * length, or 0 when it did not fit or zlib failed. */
static size_t deflate_into(z_stream *s, unsigned char *out, size_t cap, const void *data, size_t len)
{
	size_t n;

	if (deflateReset(s) != Z_OK)
		return 0;
	s->next_in = (Bytef *)(uintptr_t)data;
	s->avail_in = (uInt)len;
	s->next_out = out;
	s->avail_out = (uInt)cap;
	if (deflate(s, Z_FINISH) != Z_STREAM_END)
		return 0;
	n = cap - s->avail_out;
	return n;
}

/* Whether a sample of LEN bytes at DATA deflates by a tenth or more. */
/*
 * Whether a sample of LEN bytes at DATA clearly does not compress, cheaply
 * (a few microseconds, where deflating it costs some forty): its bytes are
 * spread evenly and no 4 bytes repeat within it.  Even spread: the sum of
 * the squares of the byte counts is at most LEN^2 / 2^7.5, so the sample's
 * collision entropy, which bounds its Shannon entropy from below, is 7.5 bits
 * a byte or more, and Huffman codes save at most 6%; random bytes give 7.8.
 * No repeats: the strings deflate would match cover under a sixteenth of
 * it.  What fails either test is deflated as a sample, as before.
 */
static bool sample_incompressible(const unsigned char *data, size_t len)
{
	uint32_t count[256] = { 0 };
	uint16_t last[4096] = { 0 };   /* position + 1 of the last 4 bytes of each hash */
	uint64_t sq = 0;
	size_t i, matched = 0;

	for (i = 0; i < len; i++)
		count[data[i]]++;
	for (i = 0; i < 256; i++)
		sq += (uint64_t)count[i] * count[i];
	/* sq / len^2 <= 2^-7.5, in integers: sq * 181 <= len^2 (2^7.5 = 181.02) */
	if (sq * 181 > (uint64_t)len * len)
		return false;
	for (i = 0; i + 4 <= len; i++) {
		uint32_t v, h;
		size_t j;

		memcpy(&v, data + i, 4);
		h = (v * 2654435761u) >> 20;
		j = last[h];
		if (j && memcmp(data + j - 1, data + i, 4) == 0)
			matched += 4;
		last[h] = (uint16_t)(i + 1);
	}
	return matched * 16 < len;
}

static bool sample_compresses(z_stream *s, const unsigned char *data, size_t len)
{
	unsigned char out[SAMPLE + 64];
	size_t n;

	if (sample_incompressible(data, len))
		return false;
	n = deflate_into(s, out, sizeof(out), data, len);
	return n != 0 && SAVES_ENOUGH(len, n);
}

/*
 * The zlib stream of LEN bytes in stored blocks (RFC 1950/1951): a header,
 * blocks of up to 65535 bytes copied as they are, the Adler-32.  Written
 * here rather than by zlib at level 0, which copies through its window: this
 * is a memcpy and a checksum.
 */
static size_t stored_bound(size_t len)
{
	return 2 + (len / 65535 + 1) * 5 + len + 4;
}

static size_t stored_into(unsigned char *out, const unsigned char *data, size_t len)
{
	unsigned char *p = out;
	size_t left = len;
	uLong adler = adler32(1L, Z_NULL, 0);

	*p++ = 0x78;   /* deflate, 32 KiB window */
	*p++ = 0x01;   /* no dictionary, "fastest"; (0x78 << 8 | 0x01) % 31 == 0 */
	do {
		size_t n = left < 65535 ? left : 65535;

		*p++ = n == left ? 1 : 0;   /* BFINAL on the last; BTYPE 00 (stored) */
		p[0] = (unsigned char)(n & 0xff);
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)(~n & 0xff);
		p[3] = (unsigned char)((~n >> 8) & 0xff);
		memcpy(p + 4, data, n);
		adler = adler32(adler, data, (uInt)n);
		p += 4 + n;
		data += n;
		left -= n;
	} while (left);
	p[0] = (unsigned char)(adler >> 24);
	p[1] = (unsigned char)(adler >> 16);
	p[2] = (unsigned char)(adler >> 8);
	p[3] = (unsigned char)adler;
	return (size_t)(p + 4 - out);
}

static bool compresses(z_stream *s, const unsigned char *data, size_t len)
{
	if (len <= 2 * SAMPLE)
		return true;   /* small: deflated whole; stored after all when it did not pay */
	return sample_compresses(s, data, SAMPLE) && sample_compresses(s, data + len / 2, SAMPLE);
}

int dsync_packw_prepare__(dsync_packw_obj *o, git_object_t type, const void *data, size_t len, const git_oid *known)
{
	struct zstreams *zs;
	z_stream *s;
	size_t bound, n = 0;
	int error;

	if (type != GIT_OBJECT_BLOB && type != GIT_OBJECT_TREE && type != GIT_OBJECT_COMMIT &&
	    type != GIT_OBJECT_TAG)
		return dsync_error_set(DSYNC_EUSAGE, "cannot pack an object of type %d", (int)type);
	if (len > DSYNC_PACKW_MAX_OBJECT)
		return dsync_error_set(DSYNC_EUSAGE, "cannot pack an object of %zu bytes", len);
	if (known)
		o->id = *known;
	else if ((error = git_odb_hash(&o->id, data, len, type)) < 0)
		return dsync_error_git(error, "cannot hash an object");
	o->type = type;
	o->size = len;
	if ((zs = thread_zstreams()) == NULL)
		return dsync_error_oom();
	s = len <= SMALL ? &zs->small : &zs->big;
	bound = stored_bound(len);
	if (deflateBound(s, (uLong)len) > bound)
		bound = deflateBound(s, (uLong)len);
	if ((error = obj_room(o, bound)) < 0)
		return error;
	if (compresses(&zs->small, data, len)) {
		n = deflate_into(s, o->z, o->zcap, data, len);
		if (n == 0)
			return dsync_error_set(DSYNC_ERROR, "cannot deflate an object of %zu bytes", len);
		if (len <= 2 * SAMPLE && n > stored_bound(len))
			n = 0;   /* small and incompressible: stored is smaller */
	}
	if (n == 0)
		n = stored_into(o->z, data, len);
	o->zlen = n;
	return 0;
}

int dsync_packw_prepare(dsync_packw_obj *o, git_object_t type, const void *data, size_t len)
{
	return dsync_packw_prepare__(o, type, data, len, NULL);
}

void dsync_packw_obj_dispose(dsync_packw_obj *o)
{
	free(o->z);
	memset(o, 0, sizeof(*o));
}
