/*
 * The commands that write the local history: init (and its first
 * snapshot), snapshot, restore, gc.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/gc.h"
#include "dsync/restore.h"
#include "dsync/snapshot.h"
#include "cmd.h"
#include "options.h"
#include "output.h"

/* ---------------------------------------------------------------- init */

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device-name", required_argument, NULL, 'n' },
		{ "relay", required_argument, NULL, 'R' },
		{ "group", required_argument, NULL, 'g' },
		{ "ca-file", required_argument, NULL, 'A' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		CMD_HELP_OPTION, { 0 }
	};
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	dsync_folder *f = NULL;
	const char *name = NULL, *dir = ".", *relay = NULL, *group = NULL, *ca_file = NULL, *pass_file = NULL;
	char *pass = NULL;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "init", argc, argv, "h", opts)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 'R')
			relay = optarg;
		else if (c == 'g')
			group = optarg;
		else if (c == 'A')
			ca_file = optarg;
		else if (c == 'p')
			pass_file = optarg;
	}
	if (rc >= 0 || (rc = cmd_args("init", argc, argv, 0, 1, NULL)) >= 0 ||
	    (rc = cmd_relay_check_args(relay, group, ca_file)) >= 0)
		return rc;
	if (optind < argc)
		dir = argv[optind];
	/* the passphrase before anything is made: a weak one changes nothing */
	if (relay && (rc = cmd_relay_new_passphrase(&pass, relay, pass_file)) != 0)
		return rc;
	if ((error = dsync_folder_init(&f, dir, name)) < 0) {
		cmd_wipe(pass);
		return out_fail(error);
	}
	printf("dsync folder '%s' ready (device '%s', id %.8s)\n",
	       out_text(dsync_folder_root(f), strlen(dsync_folder_root(f))),
	       out_text(dsync_folder_device_name(f), strlen(dsync_folder_device_name(f))), dsync_folder_device_id(f));
	so.message = NULL;
	so.progress = out_progress;
	so.warn = out_warn_cb;
	so.payload = "first snapshot";
	so.lock_wait_ms = DSYNC_LOCK_WAIT_MS;
	error = dsync_snapshot_take(&sr, f, &so);
	out_progress_done();
	if (error < 0) {
		out_fail(error);
		fprintf(stderr, "the folder is set up; run 'dsync snapshot' there to try again\n");
		dsync_folder_free(f);
		cmd_wipe(pass);
		return dsync_error_exit_code(error);
	}
	printf("first snapshot %.8s: %zu file%s\n", sr.commit, sr.files, sr.files == 1 ? "" : "s");
	rc = 0;
	if (relay) {
		rc = cmd_init_relay(f, relay, group, ca_file, pass);
		if (rc != 0 && rc != 3)
			fprintf(stderr, "the folder is set up; add the relay there with 'dsync remote add origin %s "
				"--group NAME'\n", relay);
	}
	cmd_wipe(pass);
	dsync_folder_free(f);
	return rc;
}

/* ------------------------------------------------------------ snapshot */

int cmd_snapshot(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "allow-mass-delete", no_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' }, CMD_HELP_OPTION, { 0 }
	};
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	dsync_folder *f = NULL;
	bool quiet = false;
	int c, rc, error;

	so.lock_wait_ms = DSYNC_LOCK_WAIT_MS;
	while ((c = cmd_getopt(&rc, "snapshot", argc, argv, "m:qh", opts)) != -1) {
		if (c == 'm')
			so.message = optarg;
		else if (c == 'D')
			so.allow_mass_delete = true;
		else if (c == 'q')
			quiet = true;
	}
	if (rc >= 0 || (rc = cmd_args("snapshot", argc, argv, 0, 0, NULL)) >= 0)
		return rc;
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	so.progress = out_progress;
	so.warn = out_warn_cb;
	so.payload = "snapshot";
	error = dsync_snapshot_take(&sr, f, &so);
	out_progress_done();
	dsync_folder_free(f);
	if (error < 0)
		return out_fail(error);
	if (quiet)
		return 0;
	if (!sr.committed)
		printf("nothing changed since the last snapshot%s%.8s\n", sr.commit[0] ? " " : "", sr.commit);
	else
		printf("snapshot %.8s: %zu added, %zu modified, %zu deleted, %zu renamed\n", sr.commit,
		       sr.added, sr.modified, sr.deleted, sr.renamed);
	return 0;
}

/* ------------------------------------------------------------- restore */

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' }, { "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' }, CMD_HELP_OPTION, { 0 }
	};
	dsync_restore_options ro = DSYNC_RESTORE_OPTIONS_INIT;
	dsync_restore_result rr;
	dsync_folder *f = NULL;
	char **rel = NULL;
	int c, i, n, rc, error = 0;

	while ((c = cmd_getopt(&rc, "restore", argc, argv, "a:t:fh", opts)) != -1) {
		if (c == 'a')
			ro.at = optarg;
		else if (c == 't')
			ro.to = optarg;
		else if (c == 'f')
			ro.force = true;
	}
	if (rc >= 0 || (rc = cmd_args("restore", argc, argv, 1, -1, "name a file or folder to restore")) >= 0)
		return rc;
	n = argc - optind;
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	if ((rel = calloc((size_t)n, sizeof(*rel))) == NULL) {
		error = dsync_error_set(DSYNC_ERROR, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((error = dsync_folder_relpath(&rel[i], f, argv[optind + i])) < 0)
			goto out;
	ro.lock_wait_ms = DSYNC_LOCK_WAIT_MS;
	ro.warn = out_warn_cb;
	if ((error = dsync_restore(&rr, f, (const char *const *)rel, (size_t)n, &ro)) < 0)
		goto out;
	printf("restored %zu file%s from %.8s%s%s\n", rr.files, rr.files == 1 ? "" : "s", rr.rev,
	       ro.to ? " to " : "", ro.to ? out_name(ro.to) : "");
	if (rr.before[0])
		printf("the versions it replaced are kept in snapshot %.8s\n", rr.before);
out:
	if (rel)
		for (i = 0; i < n; i++)
			free(rel[i]);
	free(rel);
	dsync_folder_free(f);
	return error < 0 ? out_fail(error) : 0;
}

/* ------------------------------------------------------------------ gc */

int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' }, CMD_HELP_OPTION, { 0 } };
	dsync_gc_result r;
	dsync_folder *f = NULL;
	bool quiet = false;
	char before[32], after[32];
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "gc", argc, argv, "qh", opts)) != -1)
		if (c == 'q')
			quiet = true;
	if (rc >= 0 || (rc = cmd_args("gc", argc, argv, 0, 0, NULL)) >= 0)
		return rc;
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	error = dsync_gc(&r, f, DSYNC_LOCK_WAIT_MS);
	dsync_folder_free(f);
	if (r.loose_damaged > 0)
		out_warn("%zu loose object file%s cut short or damaged (a power cut?) and taken out of the store "
			 "(into .dsync/objects/damaged); run 'dsync check'", r.loose_damaged,
			 r.loose_damaged == 1 ? " was" : "s were");
	if (error < 0)
		return out_fail(error);
	if (quiet)
		return 0;
	if (r.objects == 0 && r.loose_removed > 0) {
		printf("nothing to pack; removed %zu loose copies of packed objects\n", r.loose_removed);
	} else if (r.objects == 0) {
		printf("nothing to pack\n");
	} else {
		char kept[64] = "";

		if (r.packs_kept > 0)
			snprintf(kept, sizeof(kept), "; %zu pack%s left as %s", r.packs_kept,
				 r.packs_kept == 1 ? "" : "s", r.packs_kept == 1 ? "it is" : "they are");
		printf("packed %zu objects; removed %zu loose objects and %zu older pack%s%s; store %s -> %s\n",
		       r.objects, r.loose_removed, r.packs_removed, r.packs_removed == 1 ? "" : "s", kept,
		       out_size(before, sizeof(before), r.bytes_before),
		       out_size(after, sizeof(after), r.bytes_after));
	}
	return 0;
}
