/*
 * libFuzzer target: a whole sftp:// session (tests/fuzz/sftp_session.h)
 * whose server answers with the fuzzer's bytes, handed over in small pieces
 * as a slow stream would: start-up, listings, gets, a put and its sweep.
 * Whatever the bytes, nothing may crash, hang, or read out of bounds; the
 * requests' ids are 1, 2, 3... so the fuzzer can learn to answer them.
 * The seed is what the real sftp-server answered (test_sftp_client.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/sftp.h"
#include "fuzz_stream.h"
#include "sftp_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dsync_sftp_url u;
	fuzz_stream s = { .data = data, .size = size };
	dsync_blobstore *bs;

	if (!u.url[0]) {
		dsync_lib_init();
		snprintf(u.host, sizeof(u.host), "fuzz");
		snprintf(u.path, sizeof(u.path), "store");
		snprintf(u.url, sizeof(u.url), "sftp://fuzz/~/store");
		snprintf(u.label, sizeof(u.label), "fuzz");
	}
	fuzz_stream_init(&s);
	if (dsync_blobstore_sftp_open(&bs, &s.base, &u, false, 0) == 0) {
		sftp_session_run(bs);
		dsync_blobstore_free(bs);
	}
	return 0;
}
