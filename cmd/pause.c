/*
 * The commands that stop and restart a folder's automatic work: pause and
 * resume (docs/watch.md, "Pause").  Only the watcher's work stops; dsync
 * snapshot, dsync sync and the others still run when asked.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/pause.h"
#include "cmd.h"
#include "options.h"
#include "output.h"

/* What the watcher of F does now, after a pause or a resume: one line. */
static void tell_state(dsync_folder *f, bool pausing)
{
	dsync_watch_state ws;
	char when[64];

	if (dsync_watch_state_read(&ws, f) < 0) {
		out_warn("%s", dsync_error_last());
		return;
	}
	if (!ws.watched)
		printf("  no watcher runs for it now (dsync daemon or dsync watch)%s\n",
		       pausing ? "; one started later stays paused too" : "");
	if (!pausing && ws.watcher.on)
		printf("  still paused by the watcher since %s: %s\n  (that pause ends when %s)\n",
		       out_time(when, sizeof(when), ws.watcher.since), out_text(ws.watcher.why, strlen(ws.watcher.why)),
		       out_text(ws.watcher.until, strlen(ws.watcher.until)));
	dsync_watch_state_dispose(&ws);
}

/* Pauses (WHY) or resumes the folder at PATH; the exit status. */
static int one(const char *cmd, const char *path, bool pausing, const char *why)
{
	dsync_folder *f = NULL;
	dsync_watch_state before;
	bool was = false;
	int error;

	if ((error = dsync_folder_open(&f, path)) < 0)
		return out_fail(error);
	if (dsync_watch_state_read(&before, f) == 0) {
		was = before.user.on;
		dsync_watch_state_dispose(&before);
	}
	error = pausing ? dsync_folder_pause(f, why) : dsync_folder_resume(f);
	if (error == DSYNC_EUSAGE) {
		char msg[256];

		snprintf(msg, sizeof(msg), "--why: %s; nothing changed", dsync_error_last());
		dsync_folder_free(f);
		return cmd_usage_msg(cmd, msg);
	}
	if (error < 0) {
		dsync_folder_free(f);
		return out_fail(error);
	}
	if (pausing)
		printf("%s '%s': no snapshot and no sync by the watcher until 'dsync resume' (dsync snapshot and "
		       "dsync sync still work)\n", was ? "still paused" : "paused", out_name(dsync_folder_root(f)));
	else if (was)
		printf("resumed '%s': what changed meanwhile is recorded and synced now\n", out_name(dsync_folder_root(f)));
	else
		printf("'%s' was not paused by the user\n", out_name(dsync_folder_root(f)));
	tell_state(f, pausing);
	dsync_folder_free(f);
	return 0;
}

static int run(const char *cmd, bool pausing, int argc, char **argv)
{
	static const struct option pause_opts[] = { { "why", required_argument, NULL, 'w' },
						    { "all", no_argument, NULL, 'a' }, CMD_HELP_OPTION, { 0 } };
	static const struct option resume_opts[] = { { "all", no_argument, NULL, 'a' }, CMD_HELP_OPTION, { 0 } };
	const char *why = NULL;
	char **list = NULL;
	size_t n = 0, i;
	bool all = false;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, cmd, argc, argv, "h", pausing ? pause_opts : resume_opts)) != -1) {
		if (c == 'w')
			why = optarg;
		else if (c == 'a')
			all = true;
	}
	if (rc >= 0 || (rc = cmd_args(cmd, argc, argv, 0, all ? 0 : 1, NULL)) >= 0)
		return rc;
	if (!all)
		return one(cmd, optind < argc ? argv[optind] : NULL, pausing, why);
	if ((error = dsync_folder_list_registered(&list, &n)) < 0)
		return out_fail(error);
	if (n == 0)
		printf("no folder registered (dsync init)\n");
	/* each folder on its own: one that cannot be read does not stop the others */
	rc = 0;
	for (i = 0; i < n; i++) {
		int r = one(cmd, list[i], pausing, why);

		if (r == 2) {
			rc = 2;
			break;
		}
		if (r && !rc)
			rc = r;
	}
	dsync_folder_list_free(list);
	return rc;
}

int cmd_pause(int argc, char **argv)
{
	return run("pause", true, argc, argv);
}

int cmd_resume(int argc, char **argv)
{
	return run("resume", false, argc, argv);
}
