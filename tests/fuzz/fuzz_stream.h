/*
 * The stream the SFTP session fuzz targets (fuzz_sftp_session.c,
 * fuzz_sftp_folder.c) give a client: the server's bytes are the fuzzer's,
 * handed over in flights (sftp_session.h) and in small pieces as a slow
 * stream would.
 */
#ifndef DSYNC_TEST_FUZZ_STREAM_H
#define DSYNC_TEST_FUZZ_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/sftp_stream.h"
#include "sftp_session.h"

typedef struct fuzz_stream {
	dsync_sftp_stream base;
	const uint8_t *data;
	size_t size, pos;
	size_t released; /* bytes handed over at the last wait */
	unsigned calls, idle;
	bool at_end;     /* waited with every byte handed over: the server hung up */
	sftp_flight flight;
} fuzz_stream;

static ssize_t fz_send(dsync_sftp_stream *st, const void *buf, size_t len)
{
	fuzz_stream *s = (fuzz_stream *)st;

	sftp_flight_sent(&s->flight, buf, len);
	return (ssize_t)len;
}

static ssize_t fz_recv(dsync_sftp_stream *st, void *buf, size_t len, bool *eof)
{
	fuzz_stream *s = (fuzz_stream *)st;
	/* pieces of 1 to 4096 bytes (never none while some are there: the
	 * client would wait, and answers would come in other flights than
	 * the seed's) */
	size_t piece = 1 + (++s->calls * 2654435761u) % 4096;

	*eof = false;
	if ((s->at_end && s->pos == s->size) || s->idle > 1000) {
		*eof = true;
		return 0;
	}
	if (piece > len)
		piece = len;
	if (piece > s->released - s->pos)
		piece = s->released - s->pos;
	if (piece == 0) {
		s->idle++;
		return 0;
	}
	s->idle = 0;
	memcpy(buf, s->data + s->pos, piece);
	s->pos += piece;
	return (ssize_t)piece;
}

/* hands over the replies to every request sent so far */
static int fz_wait(dsync_sftp_stream *st, unsigned want, int timeout_ms)
{
	fuzz_stream *s = (fuzz_stream *)st;
	size_t whole;

	(void)want;
	(void)timeout_ms;
	if (s->pos == s->size)
		s->at_end = true;
	s->released = sftp_flight_end(s->data, s->size, s->flight.sent, &whole);
	return 0;
}

static int fz_ended(dsync_sftp_stream *s)
{
	return dsync_error_set(DSYNC_ERROR, "the connection to %s ended", s->label);
}

static void fz_close(dsync_sftp_stream *s)
{
	(void)s;
}

static void fuzz_stream_init(fuzz_stream *s)
{
	s->base.send = fz_send;
	s->base.recv = fz_recv;
	s->base.wait = fz_wait;
	s->base.ended = fz_ended;
	s->base.close = fz_close;
	snprintf(s->base.label, sizeof(s->base.label), "fuzz");
}

#endif
