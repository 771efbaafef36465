/*
 * libFuzzer target for the reply headers the relay's client reads
 * (transport/relay_client.c's dsync_relay_client_header, docs/relay-protocol.md
 * section 3): the input is a reply's header block, one line per '\n', as
 * libcurl hands them over one by one.  Whatever a hostile relay sends, each
 * header the client keeps has its shape (Dsync-Change parses, the ETag is
 * 64 hex digits, a Content-Range is ordered) or the reply is marked bad.
 * replay.c runs the same function over the seed corpus without clang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/relay_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	relay_reply r;
	char epoch[17];
	uint64_t n;

	memset(&r, 0, sizeof(r));
	r.retry_after = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);

		dsync_relay_client_header(&r, p, len);
		p += len;
	}
	if (r.bad)
		return 0;
	if (r.has_change && dsync_relay_change_parse(r.change, epoch, &n) != 0)
		abort();
	if (r.has_etag && (strlen(r.etag) != 64 || dsync_relay_hex_parse(NULL, r.etag, 64) != 0))
		abort();
	if (r.has_range && (r.range_start > r.range_end || r.range_end >= r.range_total))
		abort();
	if (r.retry_after < -1 || r.retry_after > 86400)
		abort();
	return 0;
}
