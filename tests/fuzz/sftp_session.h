/*
 * The session fuzz_sftp_session.c drives with a server's bytes of its
 * choosing, and that test_sftp_client.c runs against the real sftp-server
 * (recording what it answers, the seed): every store call once.  Returns how
 * many calls succeeded.
 */
#ifndef DSYNC_TEST_SFTP_SESSION_H
#define DSYNC_TEST_SFTP_SESSION_H

#include "core/base/buf.h"
#include "transport/blobstore.h"

/*
 * Both streams answer in flights: the replies to the requests sent so far
 * are handed over only when the client waits, so a pipelined client sends
 * the same requests in the same order whatever the timing, and a recorded
 * session replays.  This counts the whole packets among bytes sent.
 */
typedef struct sftp_flight {
	size_t sent;
	unsigned char head[4];
	size_t head_have, body_left;
} sftp_flight;

static inline void sftp_flight_sent(sftp_flight *f, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i = 0;

	while (i < len) {
		if (f->body_left > 0) {
			size_t n = len - i < f->body_left ? len - i : f->body_left;

			f->body_left -= n;
			i += n;
			if (f->body_left == 0)
				f->sent++;
			continue;
		}
		f->head[f->head_have++] = p[i++];
		if (f->head_have == 4) {
			f->body_left = (size_t)f->head[0] << 24 | (size_t)f->head[1] << 16 | (size_t)f->head[2] << 8 |
				       f->head[3];
			f->head_have = 0;
			if (f->body_left == 0)
				f->sent++;
		}
	}
}

/* The end of the first N packets framed in DATA (SIZE bytes), or SIZE when
 * fewer are there whole; *WHOLE: how many are */
static inline size_t sftp_flight_end(const unsigned char *data, size_t size, size_t n, size_t *whole)
{
	size_t pos = 0;

	*whole = 0;
	while (*whole < n && size - pos >= 4) {
		size_t len = (size_t)data[pos] << 24 | (size_t)data[pos + 1] << 16 | (size_t)data[pos + 2] << 8 |
			     data[pos + 3];

		if (len > size - pos - 4)
			break;
		pos += 4 + len;
		(*whole)++;
	}
	return *whole < n ? size : pos;
}

static int sftp_session_count(const char *name, const dsync_blobstore_info *info, void *payload)
{
	(void)name;
	(void)info;
	(*(int *)payload)++;
	return 0;
}

static inline int sftp_session_run(dsync_blobstore *bs)
{
	dsync_buf b = DSYNC_BUF_INIT;
	dsync_blobstore_info info;
	int ok = 0, n = 0;
	bool empty;

	ok += bs->list(bs, "", sftp_session_count, &n) == 0;
	ok += dsync_blobstore_get_buf(bs, "dsync-store", &b, 4096) == 0;
	ok += bs->stat(bs, "packs/p", &info) == 0;
	ok += bs->list(bs, "devices/", sftp_session_count, &n) == 0;
	ok += dsync_blobstore_put_buf(bs, "devices/A/1", "one", 3) == 0;
	ok += bs->del(bs, "packs/p") == 0;
	ok += dsync_blobstore_get_buf(bs, "packs/p", &b, 4096) == DSYNC_ENOTFOUND;
	ok += bs->is_empty(bs, &empty) == 0;
	dsync_buf_dispose(&b);
	return ok;
}

#endif
