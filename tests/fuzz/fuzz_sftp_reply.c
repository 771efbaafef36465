/*
 * libFuzzer target: bytes as an SFTP server might send them, framed into
 * packets the way a reader of a pipelined stream frames them, each packet
 * decoded and everything a caller would then look at touched.  Whatever the
 * bytes, nothing may crash, read past the packet or allocate by their say-so.
 * replay.c runs the same function over the seed corpus without clang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "core/base/buf.h"
#include "transport/sftp_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) when [P, P+LEN) is not inside the packet. */
static void inside(const void *p, size_t len, const uint8_t *pkt, size_t pkt_len)
{
	const uint8_t *q = p;

	if (len == 0)
		return;
	if (q < pkt || q > pkt + pkt_len || len > (size_t)(pkt + pkt_len - q))
		abort();
}

static void touch(const dsync_sftp_reply *r, const uint8_t *pkt, size_t len)
{
	dsync_sftp_name n;
	dsync_sftp_statvfs sv;
	size_t pos = 0;
	uint32_t seen = 0;

	switch (r->type) {
	case DSYNC_SFTP_STATUS:
		if (strlen(r->message) >= sizeof(r->message) || strchr(r->message, '\n'))
			abort();
		dsync_sftp_status_error(r, "fuzz");
		break;
	case DSYNC_SFTP_HANDLE:
		if (r->handle.len > DSYNC_SFTP_MAX_HANDLE)
			abort();
		break;
	case DSYNC_SFTP_DATA:
		inside(r->data, r->data_len, pkt, len);
		break;
	case DSYNC_SFTP_NAME:
		inside(r->names, r->names_len, pkt, len);
		while (dsync_sftp_name_next(&n, r, &pos) == 1) {
			inside(n.name, n.name_len, pkt, len);
			inside(n.longname, n.longname_len, pkt, len);
			/* the flags must tell the truth about the name */
			if (!(n.name_flags & DSYNC_SFTP_NAME_SLASH) && memchr(n.name, '/', n.name_len))
				abort();
			if (!(n.name_flags & DSYNC_SFTP_NAME_NUL) && memchr(n.name, 0, n.name_len))
				abort();
			seen++;
		}
		if (seen != r->count)
			abort();
		break;
	case DSYNC_SFTP_EXTENDED_REPLY:
		inside(r->data, r->data_len, pkt, len);
		dsync_sftp_parse_statvfs(&sv, r);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsync_sftp_reply r;
	size_t at = 0, whole;

	while (at < size && dsync_sftp_frame(&whole, data + at, size - at) == 1) {
		if (whole > size - at)
			abort();
		/* an exact-size copy, so that AddressSanitizer sees an overread
		 * past this packet and not only past the whole input */
		uint8_t *pkt = malloc(whole);

		if (!pkt)
			abort();
		memcpy(pkt, data + at, whole);
		if (dsync_sftp_parse_reply(&r, pkt, whole) == 0)
			touch(&r, pkt, whole);
		else if (dsync_error_last_code() != DSYNC_ECORRUPT || strchr(dsync_error_last(), '\n'))
			abort();
		free(pkt);
		at += whole;
	}
	/* the whole input once more, as one packet, length field and all */
	if (dsync_sftp_parse_reply(&r, data, size) == 0)
		touch(&r, data, size);
	return 0;
}
