/*
 * The pipelined SFTP v3 client (transport/sftp_client.h, docs/sftp.md
 * section 4): requests go out while replies come in, over a non-blocking
 * stream, with a table of outstanding requests matched by id, a stall
 * timer, and a token bucket per direction for the rate limit (section 6).
 */
#include "core/base/internal.h"

#include <time.h>

#include "transport/sftp_client.h"

/* What every v3 server must take in a READ or WRITE */
#define DEFAULT_IO (32u * 1024u)
/* Room for two whole packets of replies */
#define IN_SIZE (2u * (DSYNC_SFTP_MAX_PACKET + 4u))
/* Below this rate, requests shrink to a quarter of a second's worth */
#define SMOOTH_RATE (1024u * 1024u)
#define MIN_CHUNK 1024u

typedef struct pending {
	bool used;
	bool status_ok;   /* a STATUS may answer it (all but INIT) */
	uint8_t type;     /* the request's type */
	uint8_t want;     /* the other reply type it may get (0: STATUS only) */
	uint32_t id;
	uint32_t bytes;   /* counted in flight */
	dsync_sftp_reply_cb cb;
	void *ctx;
	uint64_t tag;
} pending;

typedef struct bucket {
	double tokens;
	uint64_t last_ns;
} bucket;

struct dsync_sftp_client {
	dsync_sftp_stream *stream;
	dsync_buf out;          /* packets queued, out.len - out_off not sent yet */
	size_t out_off;
	unsigned char *in;      /* bytes received, not yet a whole packet */
	size_t in_len;
	pending table[DSYNC_SFTP_CLIENT_MAX_PENDING];
	unsigned npending;
	uint64_t inflight;
	uint32_t next_id;
	unsigned extensions;
	uint32_t max_io;        /* the server's READ/WRITE limit */
	uint32_t chunk;         /* what we ask for: max_io, smaller under a low rate */
	uint64_t rate;          /* bytes per second each way, 0: none */
	bucket up, down;
	int stall_ms;
	uint64_t last_recv_ns;  /* when a byte last came (or the wait began) */
	int broken;             /* the code the connection failed with, 0 while it works */
	char broken_msg[512];
	bool sent_since_wait;
	/* counters (DSYNC_TEST_SFTP_STATS) */
	uint64_t round_trips, requests, bytes_sent, bytes_received;
	/* start-up */
	uint32_t version;
	bool version_done;
	unsigned startup_count;
	uint64_t lim_read, lim_write;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Marks the connection failed with CODE (the message already set): the
 * outstanding requests are dropped, and every later call fails the same. */
static int fail(dsync_sftp_client *c, int code)
{
	if (code >= 0)
		code = DSYNC_ERROR;
	if (!c->broken) {
		c->broken = code;
		snprintf(c->broken_msg, sizeof(c->broken_msg), "%s", dsync_error_last());
	}
	memset(c->table, 0, sizeof(c->table));
	c->npending = 0;
	c->inflight = 0;
	return c->broken;
}

static int broken(const dsync_sftp_client *c)
{
	return dsync_error_set(c->broken, "%s", c->broken_msg);
}

/* The stream ended or failed under us: it tells why. */
static int ended(dsync_sftp_client *c)
{
	return fail(c, c->stream->ended(c->stream));
}

static int flush(dsync_sftp_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = c->stream->send(c->stream, c->out.ptr + c->out_off, c->out.len - c->out_off);

		if (n < 0)
			return ended(c);
		if (n == 0)
			break;
		c->out_off += (size_t)n;
		c->bytes_sent += (uint64_t)n;
	}
	if (c->out_off == c->out.len && c->out.len > 0) {
		dsync_buf_truncate(&c->out, 0);
		c->out_off = 0;
	}
	return 0;
}

static pending *find(dsync_sftp_client *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < DSYNC_SFTP_CLIENT_MAX_PENDING; i++)
		if (c->table[i].used && c->table[i].id == id)
			return &c->table[i];
	return NULL;
}

/* Handles the whole packets in the input: *HANDLED counts them. */
static int dispatch(dsync_sftp_client *c, unsigned *handled)
{
	size_t pos = 0, plen;
	int error;

	while ((error = dsync_sftp_frame(&plen, c->in + pos, c->in_len - pos)) == 1) {
		dsync_sftp_reply r;
		pending p, *slot;

		if ((error = dsync_sftp_parse_reply(&r, c->in + pos, plen)) < 0)
			return fail(c, error);
		if ((slot = find(c, r.id)) == NULL)
			return fail(c, dsync_error_set(DSYNC_ECORRUPT,
						       "the SFTP server at %s answered request %u, which was not asked",
						       c->stream->label, r.id));
		if (!((r.type == DSYNC_SFTP_STATUS && slot->status_ok) || (slot->want && r.type == slot->want)))
			return fail(c, dsync_error_set(DSYNC_ECORRUPT,
						       "the SFTP server at %s answered a request of type %u with one of type %u",
						       c->stream->label, slot->type, r.type));
		p = *slot;
		memset(slot, 0, sizeof(*slot));
		c->npending--;
		c->inflight -= p.bytes;
		if (p.cb)
			p.cb(&r, p.ctx, p.tag);
		(*handled)++;
		pos += plen;
	}
	if (error < 0)
		return fail(c, error);
	if (pos > 0) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	return 0;
}

/* Reads what is there and handles the whole replies in it. */
static int receive(dsync_sftp_client *c, unsigned *handled)
{
	for (;;) {
		bool eof = false;
		ssize_t n = c->stream->recv(c->stream, c->in + c->in_len, IN_SIZE - c->in_len, &eof);
		int error;

		if (n < 0)
			return ended(c);
		if (n > 0) {
			c->in_len += (size_t)n;
			c->bytes_received += (uint64_t)n;
			c->last_recv_ns = now_ns();
			if ((error = dispatch(c, handled)) < 0)
				return error;
		}
		if (eof)
			return ended(c);
		if (n == 0)
			return 0;
	}
}

/* Sends and receives what can go without waiting. */
static int step(dsync_sftp_client *c, unsigned *handled)
{
	int error;

	if (c->broken)
		return broken(c);
	if ((error = flush(c)) < 0 || (error = receive(c, handled)) < 0)
		return error;
	return 0;
}

int dsync_sftp_client_pump(dsync_sftp_client *c)
{
	unsigned handled = 0;
	int error;

	for (;;) {
		uint64_t idle_ms;
		int timeout;

		if ((error = step(c, &handled)) < 0)
			return error;
		if (handled > 0 || (c->npending == 0 && c->out_off == c->out.len))
			return 0;
		if (c->npending > 0) {
			idle_ms = (now_ns() - c->last_recv_ns) / 1000000u;
			if (idle_ms >= (uint64_t)c->stall_ms)
				return fail(c, dsync_error_set(DSYNC_ERROR,
							       "the connection to %s stalled: nothing received for %d s",
							       c->stream->label, c->stall_ms / 1000));
			timeout = (int)((uint64_t)c->stall_ms - idle_ms);
			if (c->out_off == c->out.len && c->sent_since_wait) {
				c->round_trips++;
				c->sent_since_wait = false;
			}
		} else {
			timeout = c->stall_ms;
		}
		error = c->stream->wait(c->stream,
					DSYNC_SFTP_WANT_RECV | (c->out_off < c->out.len ? DSYNC_SFTP_WANT_SEND : 0u),
					timeout);
		if (error < 0)
			return fail(c, error);
	}
}

int dsync_sftp_client_wait_count(dsync_sftp_client *c, const unsigned *count)
{
	int error;

	while (*count > 0)
		if ((error = dsync_sftp_client_pump(c)) < 0)
			return error;
	return 0;
}

/* Waits until the rate limit lets N more bytes go in direction B. */
static int take_tokens(dsync_sftp_client *c, bucket *b, uint32_t n)
{
	double burst = (double)(n > c->chunk ? n : c->chunk);

	if (!c->rate)
		return 0;
	for (;;) {
		uint64_t t = now_ns();
		unsigned handled = 0;
		double need;
		int error, ms;

		b->tokens += (double)(t - b->last_ns) * (double)c->rate / 1e9;
		b->last_ns = t;
		if (b->tokens > burst)
			b->tokens = burst;
		if (b->tokens >= (double)n) {
			b->tokens -= (double)n;
			return 0;
		}
		need = ((double)n - b->tokens) * 1000.0 / (double)c->rate;
		ms = need < 1.0 ? 1 : (int)need + 1;
		if ((error = step(c, &handled)) < 0)
			return error;
		if (handled > 0)
			continue;
		error = c->stream->wait(c->stream,
					DSYNC_SFTP_WANT_RECV | (c->out_off < c->out.len ? DSYNC_SFTP_WANT_SEND : 0u), ms);
		if (error < 0)
			return fail(c, error);
	}
}

/* Waits for room for a request of BYTES in flight; *ID: its id. */
static int begin(dsync_sftp_client *c, uint32_t bytes, uint32_t *id)
{
	int error;

	*id = 0;   /* set on every path: callers encode it only after a 0 */
	if (c->broken)
		return broken(c);
	while (c->npending >= DSYNC_SFTP_CLIENT_MAX_PENDING ||
	       (c->npending > 0 && c->inflight + bytes > DSYNC_SFTP_CLIENT_MAX_INFLIGHT))
		if ((error = dsync_sftp_client_pump(c)) < 0)
			return error;
	*id = c->next_id++;
	if (c->next_id == 0)
		c->next_id = 1;
	return 0;
}

/* Records the request just queued (ENCODED: what its encoder returned) and
 * sends what can go. */
static int track(dsync_sftp_client *c, int encoded, uint32_t id, uint8_t type, uint8_t want, uint32_t bytes,
		 dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	unsigned handled = 0;
	size_t i;

	if (encoded < 0)
		return encoded;
	for (i = 0; c->table[i].used; i++)
		;
	c->table[i] = (pending){ true, type != DSYNC_SFTP_INIT, type, want, id, bytes, cb, ctx, tag };
	if (c->npending++ == 0)
		c->last_recv_ns = now_ns();
	c->inflight += bytes;
	c->requests++;
	c->sent_since_wait = true;
	return step(c, &handled);
}

int dsync_sftp_client_open_file(dsync_sftp_client *c, const char *path, uint32_t pflags,
				const dsync_sftp_attrs *attrs, dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_open(&c->out, id, path, pflags, attrs), id, DSYNC_SFTP_OPEN,
		     DSYNC_SFTP_HANDLE, 0, cb, ctx, tag);
}

int dsync_sftp_client_close_handle(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb,
				   void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_close(&c->out, id, h), id, DSYNC_SFTP_CLOSE, 0, 0, cb, ctx, tag);
}

int dsync_sftp_client_read(dsync_sftp_client *c, const dsync_sftp_handle *h, uint64_t offset, uint32_t len,
			   dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = dsync_sftp_client_ready(c)) < 0)
		return error;
	if (len > c->max_io)
		len = c->max_io;
	if ((error = take_tokens(c, &c->down, len)) < 0 || (error = begin(c, len, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_read(&c->out, id, h, offset, len), id, DSYNC_SFTP_READ, DSYNC_SFTP_DATA, len,
		     cb, ctx, tag);
}

int dsync_sftp_client_write(dsync_sftp_client *c, const dsync_sftp_handle *h, uint64_t offset, const void *data,
			    uint32_t len, dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = dsync_sftp_client_ready(c)) < 0)
		return error;
	if (len > c->max_io)
		return dsync_error_set(DSYNC_EUSAGE, "a write of %u bytes is over the SFTP server's limit", len);
	if ((error = take_tokens(c, &c->up, len)) < 0 || (error = begin(c, len, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_write(&c->out, id, h, offset, data, len), id, DSYNC_SFTP_WRITE, 0, len, cb,
		     ctx, tag);
}

typedef int (*path_encoder)(dsync_buf *out, uint32_t id, const char *path);

static int path_request(dsync_sftp_client *c, path_encoder enc, uint8_t type, uint8_t want, const char *path,
			dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, enc(&c->out, id, path), id, type, want, 0, cb, ctx, tag);
}

typedef int (*handle_encoder)(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h);

static int handle_request(dsync_sftp_client *c, handle_encoder enc, uint8_t type, uint8_t want,
			  const dsync_sftp_handle *h, dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, enc(&c->out, id, h), id, type, want, 0, cb, ctx, tag);
}

int dsync_sftp_client_lstat(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag)
{
	return path_request(c, dsync_sftp_put_lstat, DSYNC_SFTP_LSTAT, DSYNC_SFTP_ATTRS, path, cb, ctx, tag);
}

int dsync_sftp_client_stat(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			   uint64_t tag)
{
	return path_request(c, dsync_sftp_put_stat, DSYNC_SFTP_STAT, DSYNC_SFTP_ATTRS, path, cb, ctx, tag);
}

int dsync_sftp_client_fstat(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag)
{
	return handle_request(c, dsync_sftp_put_fstat, DSYNC_SFTP_FSTAT, DSYNC_SFTP_ATTRS, h, cb, ctx, tag);
}

int dsync_sftp_client_opendir(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			      uint64_t tag)
{
	return path_request(c, dsync_sftp_put_opendir, DSYNC_SFTP_OPENDIR, DSYNC_SFTP_HANDLE, path, cb, ctx, tag);
}

int dsync_sftp_client_readdir(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb, void *ctx,
			      uint64_t tag)
{
	return handle_request(c, dsync_sftp_put_readdir, DSYNC_SFTP_READDIR, DSYNC_SFTP_NAME, h, cb, ctx, tag);
}

int dsync_sftp_client_remove(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			     uint64_t tag)
{
	return path_request(c, dsync_sftp_put_remove, DSYNC_SFTP_REMOVE, 0, path, cb, ctx, tag);
}

int dsync_sftp_client_mkdir(dsync_sftp_client *c, const char *path, const dsync_sftp_attrs *attrs,
			    dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_mkdir(&c->out, id, path, attrs), id, DSYNC_SFTP_MKDIR, 0, 0, cb, ctx, tag);
}

int dsync_sftp_client_rmdir(dsync_sftp_client *c, const char *path, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag)
{
	return path_request(c, dsync_sftp_put_rmdir, DSYNC_SFTP_RMDIR, 0, path, cb, ctx, tag);
}

int dsync_sftp_client_setstat(dsync_sftp_client *c, const char *path, const dsync_sftp_attrs *attrs,
			      dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_setstat(&c->out, id, path, attrs), id, DSYNC_SFTP_SETSTAT, 0, 0, cb, ctx,
		     tag);
}

int dsync_sftp_client_rename(dsync_sftp_client *c, const char *oldpath, const char *newpath,
			     dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_rename(&c->out, id, oldpath, newpath), id, DSYNC_SFTP_RENAME, 0, 0, cb, ctx,
		     tag);
}

int dsync_sftp_client_posix_rename(dsync_sftp_client *c, const char *oldpath, const char *newpath,
				   dsync_sftp_reply_cb cb, void *ctx, uint64_t tag)
{
	uint32_t id;
	int error;

	if (!(c->extensions & DSYNC_SFTP_EXT_POSIX_RENAME))
		return dsync_error_set(DSYNC_EUSAGE, "the SFTP server at %s offers no posix-rename", c->stream->label);
	if ((error = begin(c, 0, &id)) < 0)
		return error;
	return track(c, dsync_sftp_put_posix_rename(&c->out, id, oldpath, newpath), id, DSYNC_SFTP_EXTENDED, 0, 0,
		     cb, ctx, tag);
}

int dsync_sftp_client_fsync(dsync_sftp_client *c, const dsync_sftp_handle *h, dsync_sftp_reply_cb cb, void *ctx,
			    uint64_t tag)
{
	if (!(c->extensions & DSYNC_SFTP_EXT_FSYNC))
		return dsync_error_set(DSYNC_EUSAGE, "the SFTP server at %s offers no fsync", c->stream->label);
	return handle_request(c, dsync_sftp_put_fsync, DSYNC_SFTP_EXTENDED, 0, h, cb, ctx, tag);
}

unsigned dsync_sftp_client_extensions(const dsync_sftp_client *c)
{
	return c->extensions;
}

uint32_t dsync_sftp_client_chunk(const dsync_sftp_client *c)
{
	return c->chunk;
}

const char *dsync_sftp_client_label(const dsync_sftp_client *c)
{
	return c->stream->label;
}

unsigned dsync_sftp_client_pending(const dsync_sftp_client *c)
{
	return c->npending;
}

static void got_version(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	dsync_sftp_client *c = ctx;

	(void)tag;
	c->version = r->version;
	c->extensions = r->extensions & (DSYNC_SFTP_EXT_POSIX_RENAME | DSYNC_SFTP_EXT_FSYNC | DSYNC_SFTP_EXT_LIMITS);
	c->version_done = true;
	c->startup_count--;
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t clamp_io(uint64_t v);

/* The READ/WRITE size, from the server's limits and the rate limit */
static void set_sizes(dsync_sftp_client *c)
{
	if (c->lim_read && c->lim_write)
		c->max_io = clamp_io(c->lim_read < c->lim_write ? c->lim_read : c->lim_write);
	c->chunk = c->max_io;
	if (c->rate && c->rate < SMOOTH_RATE) {
		uint64_t q = c->rate / 4;

		c->chunk = q < MIN_CHUNK ? MIN_CHUNK : q < c->max_io ? (uint32_t)q : c->max_io;
	}
	c->up.tokens = c->down.tokens = (double)c->chunk;
}

static void got_limits(const dsync_sftp_reply *r, void *ctx, uint64_t tag)
{
	dsync_sftp_client *c = ctx;

	(void)tag;
	c->startup_count--;
	/* max packet, max read, max write, max open handles; a server that
	 * refuses the request leaves the v3 default */
	if (r->type == DSYNC_SFTP_EXTENDED_REPLY && r->data_len >= 32) {
		c->lim_read = be64(r->data + 8);
		c->lim_write = be64(r->data + 16);
	}
	set_sizes(c);
}

int dsync_sftp_client_ready(dsync_sftp_client *c)
{
	return dsync_sftp_client_wait_count(c, &c->startup_count);
}

static int ask_limits(dsync_sftp_client *c)
{
	static const char name[] = "limits@openssh.com";
	unsigned char head[13];
	uint32_t id, n = 1 + 4 + 4 + (uint32_t)(sizeof(name) - 1);
	int error;

	if ((error = begin(c, 0, &id)) < 0)
		return error;
	head[0] = (unsigned char)(n >> 24);
	head[1] = (unsigned char)(n >> 16);
	head[2] = (unsigned char)(n >> 8);
	head[3] = (unsigned char)n;
	head[4] = DSYNC_SFTP_EXTENDED;
	head[5] = (unsigned char)(id >> 24);
	head[6] = (unsigned char)(id >> 16);
	head[7] = (unsigned char)(id >> 8);
	head[8] = (unsigned char)id;
	head[9] = head[10] = head[11] = 0;
	head[12] = (unsigned char)(sizeof(name) - 1);
	if ((error = dsync_buf_put(&c->out, head, sizeof(head))) < 0 ||
	    (error = dsync_buf_put(&c->out, name, sizeof(name) - 1)) < 0)
		return error;
	c->startup_count++;
	return track(c, 0, id, DSYNC_SFTP_EXTENDED, DSYNC_SFTP_EXTENDED_REPLY, 0, got_limits, c, 0);
}

static uint32_t clamp_io(uint64_t v)
{
	if (v == 0)
		return DEFAULT_IO;
	if (v > DSYNC_SFTP_MAX_DATA)
		return DSYNC_SFTP_MAX_DATA;
	if (v < MIN_CHUNK)
		return MIN_CHUNK;
	return (uint32_t)v;
}

#ifdef DSYNC_TESTING
/* DSYNC_TEST_SFTP_IGNORE_EXT: extensions to act as if not offered */
static void test_ignore(dsync_sftp_client *c)
{
	const char *ign = getenv("DSYNC_TEST_SFTP_IGNORE_EXT");

	if (!ign)
		return;
	if (strstr(ign, "posix-rename@openssh.com"))
		c->extensions &= ~(unsigned)DSYNC_SFTP_EXT_POSIX_RENAME;
	if (strstr(ign, "fsync@openssh.com"))
		c->extensions &= ~(unsigned)DSYNC_SFTP_EXT_FSYNC;
	if (strstr(ign, "limits@openssh.com"))
		c->extensions &= ~(unsigned)DSYNC_SFTP_EXT_LIMITS;
}

static void test_stats(const dsync_sftp_client *c)
{
	const char *path = getenv("DSYNC_TEST_SFTP_STATS");
	FILE *f;

	if (!path || !*path || (f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "round_trips=%llu requests=%llu bytes_sent=%llu bytes_received=%llu ext=%s%s%s%s%s\n",
		(unsigned long long)c->round_trips, (unsigned long long)c->requests,
		(unsigned long long)c->bytes_sent, (unsigned long long)c->bytes_received,
		c->extensions & DSYNC_SFTP_EXT_POSIX_RENAME ? "posix-rename" : "",
		(c->extensions & DSYNC_SFTP_EXT_POSIX_RENAME) && (c->extensions & DSYNC_SFTP_EXT_FSYNC) ? "," : "",
		c->extensions & DSYNC_SFTP_EXT_FSYNC ? "fsync" : "",
		(c->extensions & (DSYNC_SFTP_EXT_POSIX_RENAME | DSYNC_SFTP_EXT_FSYNC)) &&
				(c->extensions & DSYNC_SFTP_EXT_LIMITS) ? "," : "",
		c->extensions & DSYNC_SFTP_EXT_LIMITS ? "limits" : "");
	fclose(f);
}
#endif

int dsync_sftp_client_open(dsync_sftp_client **out, dsync_sftp_stream *stream, uint64_t rate_limit)
{
	dsync_sftp_client *c;
	int error;
	uint32_t id = 0;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->in = malloc(IN_SIZE)) == NULL) {
		free(c);
		stream->close(stream);
		return dsync_error_oom();
	}
	c->stream = stream;
	c->next_id = 1;
	c->rate = rate_limit;
	c->max_io = c->chunk = DEFAULT_IO;
	c->stall_ms = DSYNC_SFTP_CLIENT_STALL_SECONDS * 1000;
	dsync_buf_init(&c->out, 0);
#ifdef DSYNC_TESTING
	{
		const char *stall = getenv("DSYNC_TEST_SFTP_STALL");

		if (stall && atoi(stall) > 0)
			c->stall_ms = atoi(stall) * 1000;
	}
#endif
	c->up.last_ns = c->down.last_ns = now_ns();
	/* INIT is answered by VERSION, whose id field is absent (0) */
	c->startup_count = 1;
	if ((error = track(c, dsync_sftp_put_init(&c->out), id, DSYNC_SFTP_INIT, DSYNC_SFTP_VERSION_REPLY, 0,
			   got_version, c, 0)) < 0 ||
	    (error = dsync_sftp_client_wait_count(c, &c->startup_count)) < 0)
		goto fail;
	if (c->version != DSYNC_SFTP_VERSION) {
		error = dsync_error_set(DSYNC_ERROR, "the SFTP server at %s speaks version %u, not 3",
					stream->label, c->version);
		goto fail;
	}
#ifdef DSYNC_TESTING
	test_ignore(c);
#endif
	set_sizes(c);
	/* the limits' answer comes with the caller's first requests */
	if ((c->extensions & DSYNC_SFTP_EXT_LIMITS) && (error = ask_limits(c)) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	{
		/* closing the stream must not change the message */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", dsync_error_last());
		dsync_sftp_client_free(c);
		return dsync_error_set(error, "%s", msg);
	}
}

void dsync_sftp_client_free(dsync_sftp_client *c)
{
	if (!c)
		return;
#ifdef DSYNC_TESTING
	test_stats(c);
#endif
	c->stream->close(c->stream);
	dsync_buf_dispose(&c->out);
	free(c->in);
	free(c);
}
