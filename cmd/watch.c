/*
 * The commands that record saves as they happen: watch (the folders
 * named) and daemon (every registered folder).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/watch.h"
#include "cmd.h"
#include "options.h"
#include "output.h"

/* ---------------------------------------------------------------- watch */

static const char *const level_names[] = { "error", "warning", "info", "debug" };

/* One log line on stderr: UTC time to the millisecond (journal-friendly). */
static void log_line(dsync_log_level level, const char *folder, const char *message, void *payload)
{
	dsync_log_level max = *(const dsync_log_level *)payload;
	struct timeval tv;
	struct tm tm;
	char when[32];

	if (level > max)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s%s%s\n", when, (long)(tv.tv_usec / 1000), level_names[level],
		folder ? out_name(folder) : "", folder ? ": " : "", out_text(message, strlen(message)));
	fflush(stderr);
}

static int run_watch(const char *name, bool registered, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "max-delay", required_argument, NULL, 'D' },
		{ "rescan-interval", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		CMD_HELP_OPTION,
		{ 0 }
	};
	dsync_watch_options wo = DSYNC_WATCH_OPTIONS_INIT;
	dsync_log_level level = DSYNC_LOG_INFO;
	const char *here = ".";
	char **dirs;
	size_t n, i;
	int c, error, rc, *target;

	while ((c = cmd_getopt(&rc, name, argc, argv, "qvh", opts)) != -1) {
		switch (c) {
		case 'd':
		case 'D':
		case 'r':
			target = c == 'd' ? &wo.delay_ms : c == 'D' ? &wo.max_delay_ms : &wo.rescan_ms;
			if (!dsync_parse_seconds(optarg, target) || (c == 'r' && *target < 100))
				return cmd_usage_error(name, "'%s' is not a number of seconds", optarg);
			break;
		case 'q':
			level = DSYNC_LOG_WARNING;
			break;
		case 'v':
			level = DSYNC_LOG_DEBUG;
			break;
		}
	}
	if (rc >= 0 || (rc = cmd_args(name, argc, argv, 0, registered ? 0 : -1, NULL)) >= 0)
		return rc;
	wo.registered = registered;
	wo.log = log_line;
	wo.payload = &level;
	if (optind == argc) {
		argv = (char **)&here;
		argc = registered ? 0 : 1;
		optind = 0;
	}
	if ((dirs = calloc((size_t)(argc - optind) + 1, sizeof(*dirs))) == NULL) {
		out_error("out of memory");
		return 1;
	}
	/* absolute paths, then out of the way: a watcher's working folder
	 * would keep the user from unmounting the drive it is on */
	for (n = 0; optind + (int)n < argc; n++) {
		if ((dirs[n] = realpath(argv[optind + (int)n], NULL)) == NULL) {
			char q[DSYNC_QUOTE_SIZE];

			out_error("cannot watch '%s': %s", dsync_quote(q, argv[optind + (int)n]), strerror(errno));
			rc = 1;
			goto out;
		}
	}
	if (chdir("/") < 0) {
		out_error("cannot leave the current folder: %s", strerror(errno));
		rc = 1;
		goto out;
	}
	error = dsync_watch_run((const char *const *)dirs, n, &wo);
	rc = error < 0 ? out_fail(error) : 0;
out:
	for (i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}

int cmd_watch(int argc, char **argv)
{
	return run_watch("watch", false, argc, argv);
}

int cmd_daemon(int argc, char **argv)
{
	return run_watch("daemon", true, argc, argv);
}
