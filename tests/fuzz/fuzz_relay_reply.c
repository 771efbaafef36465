/*
 * libFuzzer target for what a relay client reads from a relay that may be
 * hostile (transport/relay_proto.h, docs/relay-protocol.md sections 3, 5,
 * 6): the first byte picks.  0: a body in the line format, whose parsed keys
 * and values must have the format's shape and be found by their key.  1: a
 * listing body split into lines; each line taken must print back byte for
 * byte and name a valid blob.  2: an error body made from two strings of the
 * input, which must parse back as the line format with the same code.
 * replay.c runs the same function over the seed corpus without clang.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/relay_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dsync_relay_lines lines;

static void line_format(const char *body, size_t len)
{
	size_t bytes = 0;

	if (dsync_relay_lines_parse(&lines, body, len) != 0) {
		if (lines.n != 0 || lines.text != NULL)
			abort();
		return;
	}
	if (lines.n > DSYNC_RELAY_LINES_COUNT)
		abort();
	for (size_t i = 0; i < lines.n; i++) {
		const char *k = lines.v[i].key, *v = lines.v[i].value;

		if (!*k || k[strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789-")] || !dsync_relay_lines_get(&lines, k))
			abort();
		for (const char *p = v; *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				abort();
		bytes += strlen(k) + 1 + strlen(v) + 1;
	}
	/* every byte of the body is in some line */
	if (bytes != len)
		abort();
	dsync_relay_lines_dispose(&lines);
}

static void listing(const char *body, size_t len)
{
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		dsync_relay_list_line ll;
		char again[DSYNC_RELAY_NAME_MAX + 64];

		if (dsync_relay_list_line_parse(&ll, p, n) == 0) {
			if (dsync_relay_blob_name_ok(ll.name) != 0 || ll.mtime < 0)
				abort();
			if (ll.is_next)
				snprintf(again, sizeof(again), "next %s", ll.name);
			else
				snprintf(again, sizeof(again), "%s %" PRIu64 " %" PRId64, ll.name, ll.size, ll.mtime);
			if (strlen(again) != n || memcmp(again, p, n) != 0)
				abort();
		}
		p += n + 1;
	}
}

static void error_body(const char *in, size_t len)
{
	const char *nl = memchr(in, '\n', len);
	char code[64];
	const char *text = nl ? nl + 1 : "";
	dsync_buf b = DSYNC_BUF_INIT;

	/* CODE is what comes before the first newline, TEXT the rest (to its first NUL) */
	snprintf(code, sizeof(code), "%.*s", (int)(nl ? (size_t)(nl - in) : len), in);
	if (dsync_relay_error_body(&b, code, text) == 0) {
		if (dsync_relay_lines_parse(&lines, b.ptr, b.len) != 0 || lines.n != 2 ||
		    strcmp(dsync_relay_lines_get(&lines, "error"), code) != 0 || !dsync_relay_lines_get(&lines, "message"))
			abort();
		dsync_relay_lines_dispose(&lines);
	}
	dsync_buf_dispose(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 70000)
		return 0;
	/* one byte more, a NUL, so error_body can read the text as a string;
	 * the parsers get the exact length */
	if (!(s = malloc(size)))
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		line_format(s, size - 1);
		break;
	case 1:
		listing(s, size - 1);
		break;
	default:
		error_body(s, size - 1);
		break;
	}
	free(s);
	return 0;
}
