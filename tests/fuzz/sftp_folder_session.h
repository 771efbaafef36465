/*
 * The session fuzz_sftp_folder.c drives with a server's bytes of its
 * choosing, and that test_sftp_folder.c runs against the real sftp-server
 * (recording what it answers, the seed): every folder call once, on the
 * tree sftp_folder_session_tree describes.  Returns how many calls
 * succeeded.
 */
#ifndef DSYNC_TEST_SFTP_FOLDER_SESSION_H
#define DSYNC_TEST_SFTP_FOLDER_SESSION_H

#include <sys/mman.h>
#include <unistd.h>

#include "transport/sftp_folder.h"

/* What the seed's folder holds: "a" (3 bytes), "sub/" with "sub/b" */
static inline int sftp_folder_session_run(dsync_sftp_folder *pf)
{
	const char *const paths[] = { "a", "missing", "sub" };
	dsync_rfile_list l = { 0 }, bad = { 0 };
	dsync_rfile st, sts[3];
	bool missing;
	int ok = 0, fd = memfd_create("fuzz", 0);

	if (fd < 0)
		return 0;
	ok += dsync_sftp_folder_list(pf, &l, &bad, &missing) == 0;
	ok += dsync_sftp_folder_lstat(pf, paths, 3, sts) == 0;
	ok += dsync_sftp_folder_read(pf, "a", fd, 1 << 20, &st) == 0;
	ok += dsync_sftp_folder_write_new(pf, "sub/n", fd, 0644, 1600000000) == 0;
	ok += dsync_sftp_folder_rename(pf, "sub/n", "sub/b", true) == 0;
	ok += dsync_sftp_folder_rename(pf, "sub/b", "m", false) == 0;
	ok += dsync_sftp_folder_remove(pf, "m") == 0;
	ok += dsync_sftp_folder_mkdir(pf, "d") == 0;
	ok += dsync_sftp_folder_rmdir(pf, "d") == 0;
	ok += dsync_sftp_folder_list(pf, &l, NULL, &missing) == 0;
	dsync_rfile_list_dispose(&l);
	dsync_rfile_list_dispose(&bad);
	close(fd);
	return ok;
}

#endif
