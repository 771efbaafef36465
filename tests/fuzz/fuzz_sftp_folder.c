/*
 * libFuzzer target: a mirror's folder session over SFTP
 * (tests/fuzz/sftp_folder_session.h) whose server answers with the
 * fuzzer's bytes, in flights and small pieces (fuzz_stream.h): start-up,
 * listings (names, attributes, counts, handles, ends of folders), lstats,
 * a read, a write and the changes.  Whatever the bytes, nothing may crash,
 * hang, or read out of bounds.  The seed is what the real sftp-server
 * answered (test_sftp_folder.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/sftp_folder.h"
#include "fuzz_stream.h"
#include "sftp_folder_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dsync_sftp_url u;
	fuzz_stream s = { .data = data, .size = size };
	dsync_sftp_folder *pf;

	if (!u.url[0]) {
		dsync_lib_init();
		snprintf(u.host, sizeof(u.host), "fuzz");
		snprintf(u.path, sizeof(u.path), "phone");
		snprintf(u.url, sizeof(u.url), "sftp://fuzz/~/phone");
		snprintf(u.label, sizeof(u.label), "fuzz");
	}
	fuzz_stream_init(&s);
	if (dsync_sftp_folder_open(&pf, &s.base, &u, false, 0) == 0) {
		sftp_folder_session_run(pf);
		dsync_sftp_folder_free(pf);
	}
	return 0;
}
