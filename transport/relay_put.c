/*
 * Uploads to the relay (docs/relay-protocol.md section 4.2): the blob's
 * hash read from the descriptor first (it goes in Dsync-Body-Hash and in
 * the signature), then the body streamed from the descriptor in bounded
 * memory.  A body over 8 MiB goes as a resumable upload whose id is derived
 * from the device, the name and the hash, so the same blob sent again by
 * the same device resumes without any state kept here; a cut connection is
 * resumed (or, for a small body, resent) a few times with a backoff.
 */
#include "core/base/internal.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "transport/relay_client.h"
#include "transport/relay_put.h"

#define RESUMABLE_MIN (8 * 1024 * 1024)
#define HASH_BLOCK (256 * 1024)
#define BUSY_SECONDS 90 /* a resumable upload's 503 retried this long: the relay's idle timeout and more */
#define UPLOAD_LABEL "dsync-relay-upload-1" /* and its NUL */

static int hash_fd(relay_store *s, int fd, uint64_t start, uint64_t len, char hex[DSYNC_RELAY_HEX64],
		   const char *name)
{
	crypto_generichash_state h;
	unsigned char sum[DSYNC_RELAY_KEY_BYTES];
	unsigned char *block;
	uint64_t done = 0;

	if (!(block = malloc(HASH_BLOCK)))
		return dsync_error_oom();
	crypto_generichash_init(&h, NULL, 0, sizeof(sum));
	while (done < len) {
		size_t want = len - done < HASH_BLOCK ? (size_t)(len - done) : HASH_BLOCK;
		ssize_t n = pread(fd, block, want, (off_t)(start + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(block);
			return dsync_error_sys(n < 0 ? errno : EIO, "cannot read %s to send it to relay '%s'", name,
					       s->who);
		}
		crypto_generichash_update(&h, block, (size_t)n);
		done += (uint64_t)n;
	}
	free(block);
	crypto_generichash_final(&h, sum, sizeof(sum));
	dsync_relay_hex(hex, sum, sizeof(sum));
	return 0;
}

/* Dsync-Upload: the first 32 hex digits of BLAKE2b-256(label NUL DEVICE NAME HASH), all as text */
static void upload_id(char out[DSYNC_RELAY_ID_HEX], const char *device, const char *name, const char *hash)
{
	crypto_generichash_state h;
	unsigned char sum[32];

	crypto_generichash_init(&h, NULL, 0, sizeof(sum));
	crypto_generichash_update(&h, (const unsigned char *)UPLOAD_LABEL, sizeof(UPLOAD_LABEL));
	crypto_generichash_update(&h, (const unsigned char *)device, strlen(device));
	crypto_generichash_update(&h, (const unsigned char *)name, strlen(name));
	crypto_generichash_update(&h, (const unsigned char *)hash, strlen(hash));
	crypto_generichash_final(&h, sum, sizeof(sum));
	dsync_relay_hex(out, sum, 16);
}

/* HEAD .upload/ID: the bytes the relay holds of it (0: none).  R is the caller's, for its cut. */
static int upload_offset(relay_store *s, relay_call *r, const char *id, const char *name, uint64_t *offset)
{
	char target[64];
	int error;

	snprintf(target, sizeof(target), ".upload/%s", id);
	dsync_relay_call_init(r, "HEAD", target, name);
	*offset = 0;
	if ((error = dsync_relay_call_perform(s, r)) < 0)
		return error;
	if (r->reply.status == 404)
		return 0;
	if (r->reply.status != 200)
		return dsync_relay_call_refused(s, r, "resume");
	if (!r->reply.has_offset)
		return dsync_error_set(DSYNC_ECORRUPT, "relay '%s' sent no offset for the upload of %s", s->who, name);
	*offset = r->reply.offset;
	return 0;
}

/* A refused upload: the quota's size is named when it is known */
static int put_refused(relay_store *s, relay_call *r)
{
	uint64_t used, quota;

	if (r->reply.status == 507 && strcmp(r->code, "over-quota") == 0 && !s->have_usage)
		(void)s->base.usage(&s->base, &used, &quota); /* only for the message */
	return dsync_relay_call_refused(s, r, "store");
}

int dsync_relay_put_blob(dsync_blobstore *bs, const char *name, int fd, dsync_blobstore_xfer_cb xfer, void *payload)
{
	relay_store *s = (relay_store *)bs;
	char hash[DSYNC_RELAY_HEX64], id[DSYNC_RELAY_ID_HEX], q[DSYNC_QUOTE_SIZE];
	off_t start = lseek(fd, 0, SEEK_CUR);
	uint64_t total, offset = 0;
	struct stat st;
	relay_call r;
	time_t busy_until = 0;
	bool resumable;
	int error, try = 0, busy_try = 0;

	if (dsync_blobstore_check_name(name) < 0 || dsync_relay_blob_name_ok(name) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a blob name a relay holds (relay '%s')",
				       dsync_quote(q, name), s->who);
	if (start < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return dsync_error_set(DSYNC_EUSAGE, "cannot send %s to relay '%s': not from a file", name, s->who);
	total = st.st_size > start ? (uint64_t)(st.st_size - start) : 0;
	if ((error = hash_fd(s, fd, (uint64_t)start, total, hash, name)) < 0)
		return error;
	resumable = total > RESUMABLE_MIN;
	if (resumable)
		upload_id(id, s->device, name, hash);
	for (;;) {
		if (resumable) {
			error = upload_offset(s, &r, id, name, &offset);
			if (error == 0 && offset >= total)
				error = dsync_error_set(DSYNC_ECORRUPT, "relay '%s' holds more of %s than it has", s->who,
							name);
			if (error < 0) {
				bool cut = dsync_relay_call_is_cut(&r);

				dsync_relay_call_dispose(&r);
				if (cut && ++try < RELAY_CUT_TRIES) {
					dsync_relay_client_backoff(try);
					continue;
				}
				return error;
			}
			dsync_relay_call_dispose(&r);
		}
		dsync_relay_call_init(&r, "PUT", name, name);
		r.sign = true;
		r.body_hash = hash;
		r.total = total;
		r.fd = fd;
		r.fd_off = (uint64_t)start + offset;
		r.len = total - offset;
		r.has_body = true;
		r.upload = resumable ? id : NULL;
		r.range_start = offset;
		r.xfer = xfer;
		r.payload = payload;
		r.xfer_base = offset;
		error = dsync_relay_call_perform(s, &r);
		if (error < 0 && dsync_relay_call_is_cut(&r) && ++try < RELAY_CUT_TRIES) {
			dsync_relay_call_dispose(&r);
			dsync_relay_client_backoff(try);
			continue;
		}
		if (error < 0)
			break;
		dsync_relay_call_note_usage(s, &r);
		if (r.reply.status == 201 || r.reply.status == 204 || r.reply.status == 200) {
			s->created = false;
			break;
		}
		if (resumable && r.reply.status == 503 && !busy_until)
			busy_until = time(NULL) + BUSY_SECONDS; /* from the first refusal, not the put's start */
		if (resumable && r.reply.status == 503 && time(NULL) < busy_until) {
			/* 503 busy: our PUT takes the upload over from a cut
			 * connection the relay hasn't noticed, except while that one
			 * is completing it (or from a relay before takeovers, which
			 * holds it to its 60 s idle timeout): wait */
			dsync_relay_call_dispose(&r);
			dsync_relay_client_backoff(++busy_try);
			continue;
		}
		if (resumable && r.reply.status == 409 && strcmp(r.code, "offset") == 0 && ++try < RELAY_CUT_TRIES) {
			/* another try of ours moved it on: ask again */
			dsync_relay_call_dispose(&r);
			continue;
		}
		error = put_refused(s, &r);
		break;
	}
	dsync_relay_call_dispose(&r);
	if (error == 0 && lseek(fd, start + (off_t)total, SEEK_SET) < 0)
		error = dsync_error_sys(errno, "cannot seek past %s", name);
	return error;
}
