/*
 * s3-blob: one blob into or out of an s3:// store through the blob store
 * (transport/s3.c), to measure what a get or put costs (peak RSS with
 * /usr/bin/time -f %M) against a real S3 server; not installed.
 *
 *   s3-blob put URL NAME FILE      FILE's bytes as blob NAME (the bucket made when missing)
 *   s3-blob get URL NAME FILE      blob NAME into FILE (made or truncated)
 *
 * Credentials as dsync finds them (AWS_* or ~/.aws).  Exit 0, or 1 with a
 * line on stderr.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dsync/common.h"
#include "core/base/internal.h"
#include "transport/blobstore.h"
#include "transport/s3.h"

int main(int argc, char **argv)
{
	dsync_blobstore *bs = NULL;
	bool put = argc == 5 && strcmp(argv[1], "put") == 0;
	int fd = -1, error;

	if (argc != 5 || (!put && strcmp(argv[1], "get") != 0)) {
		fprintf(stderr, "usage: s3-blob put|get URL NAME FILE\n");
		return 1;
	}
	if (dsync_lib_init() < 0) {
		fprintf(stderr, "s3-blob: %s\n", dsync_error_last());
		return 1;
	}
	fd = put ? open(argv[4], O_RDONLY | O_CLOEXEC) : open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(argv[4]);
		return 1;
	}
	if ((error = dsync_blobstore_s3_open(&bs, argv[2], put, NULL)) == 0)
		error = put ? bs->put(bs, argv[3], fd, NULL, NULL) : bs->get(bs, argv[3], fd, UINT64_MAX >> 1, NULL, NULL);
	if (error < 0)
		fprintf(stderr, "s3-blob: %s\n", dsync_error_last());
	dsync_blobstore_free(bs);
	close(fd);
	return error < 0 ? 1 : 0;
}
