/*
 * The commands that merge histories into the folder and settle what a
 * merge could not: merge, conflicts (and conflicts resolve).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/merge.h"
#include "cmd.h"
#include "options.h"
#include "output.h"

/* --------------------------------------------------------------- merge */

/* Exit status after a merge or resolve: 3 while conflicts wait. */
int cmd_conflicts_wait(size_t open)
{
	if (open == 0)
		return 0;
	printf("%zu conflict%s wait%s for you: see 'dsync conflicts'\n", open, open == 1 ? "" : "s",
	       open == 1 ? "s" : "");
	return 3;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' }, CMD_HELP_OPTION, { 0 } };
	dsync_merge_options mo = DSYNC_MERGE_OPTIONS_INIT;
	dsync_merge_outcome r;
	dsync_folder *f = NULL;
	bool quiet = false;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "merge", argc, argv, "qh", opts)) != -1)
		if (c == 'q')
			quiet = true;
	if (rc >= 0 ||
	    (rc = cmd_args("merge", argc, argv, 1, -1, "name the version to merge (a commit id or ref)")) >= 0)
		return rc;
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	mo.lock_wait_ms = DSYNC_LOCK_WAIT_MS;
	mo.warn = out_warn_cb;
	error = dsync_merge_revs(&r, f, (const char *const *)argv + optind, (size_t)(argc - optind), &mo);
	dsync_folder_free(f);
	if (error < 0)
		return out_fail(error);
	if (!quiet) {
		if (!r.merged)
			printf("already up to date at %.8s\n", r.head);
		else
			printf("%s %.8s: %zu file%s written, %zu removed, %zu new conflict%s\n",
			       r.fast_forward ? "fast-forwarded to" : "merged into", r.head, r.written,
			       r.written == 1 ? "" : "s", r.removed, r.conflicts, r.conflicts == 1 ? "" : "s");
		if (r.redone)
			printf("files you changed meanwhile were snapshotted and merged too\n");
	}
	return cmd_conflicts_wait(r.open_conflicts);
}

int cmd_conflicts(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep", required_argument, NULL, 'k' }, { "json", no_argument, NULL, 'j' }, CMD_HELP_OPTION, { 0 }
	};
	dsync_merge_options mo = DSYNC_MERGE_OPTIONS_INIT;
	dsync_conflicts list = { 0 };
	dsync_folder *f = NULL;
	const char *keep_arg = NULL;
	char *rel = NULL, commit[DSYNC_OID_HEX_SIZE];
	bool json = false;
	int c, keep = -1, rc, error;
	size_t i;

	while ((c = cmd_getopt(&rc, "conflicts", argc, argv, "k:jh", opts)) != -1) {
		if (c == 'k')
			keep_arg = optarg;
		else if (c == 'j')
			json = true;
	}
	if (rc >= 0)
		return rc;
	if (optind < argc && strcmp(argv[optind], "resolve") == 0) {
		optind++;
		if ((rc = cmd_args("conflicts", argc, argv, 1, 1, "name the file or copy: dsync conflicts resolve PATH "
							    "--keep file|copy|both")) >= 0)
			return rc;
		optind--;
		if (!keep_arg)
			return cmd_usage_msg("conflicts", "say what to keep: --keep file|copy|both");
		keep = strcmp(keep_arg, "file") == 0 ? DSYNC_KEEP_FILE
		       : strcmp(keep_arg, "copy") == 0 ? DSYNC_KEEP_COPY
		       : strcmp(keep_arg, "both") == 0 ? DSYNC_KEEP_BOTH : -1;
		if (keep < 0)
			return cmd_usage_error("conflicts", "--keep takes file, copy or both, not '%s'", keep_arg);
	} else if ((rc = cmd_args("conflicts", argc, argv, 0, 0, NULL)) >= 0) {
		return rc;
	} else if (keep_arg) {
		return cmd_usage_msg("conflicts", "--keep goes with 'resolve PATH'");
	}
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	if (keep >= 0) {
		if ((error = dsync_folder_relpath(&rel, f, argv[optind + 1])) < 0)
			goto out;
		mo.lock_wait_ms = DSYNC_LOCK_WAIT_MS;
		mo.warn = out_warn_cb;
		if ((error = dsync_conflict_resolve(commit, f, rel, keep, &mo)) < 0)
			goto out;
		printf("resolved '%s': kept %s (version %.8s)\n", out_text(rel, strlen(rel)),
		       keep == DSYNC_KEEP_FILE ? "the file" : keep == DSYNC_KEEP_COPY ? "the copy" : "both", commit);
		goto out;
	}
	if ((error = dsync_conflicts_list(&list, f)) < 0)
		goto out;
	if (json)
		printf("{\"conflicts\":[");
	for (i = 0; i < list.n; i++) {
		const dsync_conflict *k = &list.v[i];
		char when[32];

		if (json) {
			printf("%s{", i ? "," : "");
			out_json_name(stdout, "path", k->path);
			printf(",");
			out_json_name(stdout, "copy", k->copy);
			printf(",\"device\":");
			out_json_string(stdout, k->device);
			printf(",");
			out_json_time(stdout, "time", "timestamp", (int64_t)k->when);
			printf(",\"path_exists\":%s}", k->path_exists ? "true" : "false");
		} else {
			printf("%s\n    copy %s (from %s, %s)%s\n", out_name(k->path), out_name(k->copy), out_name(k->device),
			       out_time(when, sizeof(when), (int64_t)k->when), k->path_exists ? "" : "; the file itself is gone");
		}
	}
	if (json)
		printf("]}\n");
	else if (list.n == 0)
		printf("no conflicts\n");
	else
		printf("\nkeep one: dsync conflicts resolve PATH --keep file|copy|both\n");
out:
	free(rel);
	dsync_conflicts_dispose(&list);
	dsync_folder_free(f);
	return error < 0 ? out_fail(error) : 0;
}
