/*
 * dsync mirror: a plain folder on an SSH host (a phone's storage) kept in
 * step with the folder as a device of its own (docs/mirror.md): add, list,
 * remove, set, unset, sync.  And the line a mirror's round prints, which
 * 'dsync sync' prints too.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/mirror.h"
#include "dsync/sync.h"
#include "cmd.h"
#include "options.h"
#include "output.h"
#include "prompt.h"

#define KEPT_SHOWN 50            /* paths kept on the computer that 'list' names (--json: all) */
#define INTERVAL_MAX 604800      /* a week: a longer interval is surely a typo */

typedef struct mirror_args {
	const char *subdir;      /* --path-in-folder */
	bool create;             /* --create */
	const char *interval;    /* --interval, as typed */
	const char *ssh;         /* --ssh */
	const char *ssh_command; /* --ssh-command */
	const char *limit_rate;  /* --limit-rate, as typed */
	uint64_t rate_limit;
	bool json, allow_mass_delete, verbose, quiet;
} mirror_args;

/* ---------------------------------------------------------------- the round's line */

void cmd_mirror_print(const char *name, const dsync_mirror_result *r, bool verbose)
{
	char size[32];
	bool any = false;

	printf("%s:", out_name(name));
	/* a snapshot of the phone that changed no file's content or name (a
	 * first round over what the base held) is no news */
	if (r->recorded && r->recorded_added + r->recorded_changed + r->recorded_deleted + r->recorded_renamed) {
		printf(" recorded %zu added, %zu changed, %zu deleted, %zu renamed", r->recorded_added,
		       r->recorded_changed, r->recorded_deleted, r->recorded_renamed);
		any = true;
	}
	if (r->files_written || r->files_removed) {
		printf("%s wrote %zu, removed %zu", any ? ";" : "", r->files_written, r->files_removed);
		any = true;
	}
	if (!any)
		printf(" up to date");
	if (r->merge.conflicts)
		printf("; %zu new conflict%s", r->merge.conflicts, r->merge.conflicts == 1 ? "" : "s");
	if (r->kept_back)
		printf("; %zu still being written there (the next round takes %s)", r->kept_back,
		       r->kept_back == 1 ? "it" : "them");
	if (r->computer_only)
		printf("; %zu kept on the computer only", r->computer_only);
	if (r->cleaned)
		printf("; removed %zu left there by a round cut off", r->cleaned);
	if (verbose)
		printf("; listed %zu folder%s, read %zu file%s (%s)", r->dirs_listed, r->dirs_listed == 1 ? "" : "s",
		       r->files_read, r->files_read == 1 ? "" : "s", out_size(size, sizeof(size), r->bytes_read));
	printf("\n");
}

const char *cmd_mirror_message(const char *msg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(msg, "mirror '", 8) == 0 && strncmp(msg + 8, name, n) == 0 && strncmp(msg + 8 + n, "': ", 3) == 0)
		return msg + 8 + n + 3;
	return msg;
}

/* ---------------------------------------------------------------- arguments */

static int parse(int argc, char **argv, mirror_args *a)
{
	static const struct option opts[] = {
		{ "path-in-folder", required_argument, NULL, 'P' },
		{ "create", no_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'i' },
		{ "ssh", required_argument, NULL, 'S' },
		{ "ssh-command", required_argument, NULL, 'C' },
		{ "limit-rate", required_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "allow-mass-delete", no_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		CMD_HELP_OPTION,
		{ 0 }
	};
	int c, rc;

	while ((c = cmd_getopt(&rc, "mirror", argc, argv, "vqh", opts)) != -1) {
		switch (c) {
		case 'P':
			a->subdir = optarg;
			break;
		case 'c':
			a->create = true;
			break;
		case 'i':
			a->interval = optarg;
			break;
		case 'S':
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "openssh") != 0 && strcmp(optarg, "builtin") != 0)
				return cmd_usage_error("mirror", "--ssh can't be '%s': give auto, openssh or builtin", optarg);
			a->ssh = optarg;
			break;
		case 'C':
			a->ssh_command = optarg;
			break;
		case 'L':
			if (dsync_rate_parse(optarg, &a->rate_limit) < 0)
				return cmd_usage_msg("mirror", dsync_error_last());
			a->limit_rate = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case 'm':
			a->allow_mass_delete = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'q':
			a->quiet = true;
			break;
		}
	}
	return rc;
}

/* Whether the options given all go with subcommand SUB: -1 to go on, else 2. */
static int options_fit(const char *sub, const mirror_args *a)
{
	bool add = strcmp(sub, "add") == 0, list = strcmp(sub, "list") == 0, sync = strcmp(sub, "sync") == 0;

	if (!add && (a->subdir || a->create || a->interval || a->ssh || a->ssh_command || a->limit_rate))
		return cmd_usage_msg("mirror", "--path-in-folder, --create, --interval, --ssh, --ssh-command and "
					       "--limit-rate go with 'mirror add' (later: dsync mirror set NAME KEY VALUE)");
	if (!list && a->json)
		return cmd_usage_msg("mirror", "--json goes with 'mirror list'");
	if (!sync && (a->allow_mass_delete || a->verbose))
		return cmd_usage_msg("mirror", "--allow-mass-delete and --verbose go with 'mirror sync'");
	return -1;
}

/* --interval's VALUE: whole seconds, 1 to a week; -1 to go on, else 2. */
static int interval_ok(const char *value)
{
	char *end;
	unsigned long v = strtoul(value, &end, 10);

	if (value[0] < '0' || value[0] > '9' || *end || v < 1 || v > INTERVAL_MAX)
		return cmd_usage_error("mirror", "the interval can't be '%s': give whole seconds, 1 to 604800", value);
	return -1;
}

/* The setting KEY of 'mirror set' as the config names it (the option's
 * spelling and any case taken), or NULL. */
static const char *setting_key(const char *key)
{
	if (strcasecmp(key, "interval") == 0)
		return "interval";
	if (strcasecmp(key, "ssh") == 0)
		return "ssh";
	if (strcasecmp(key, "sshCommand") == 0 || strcasecmp(key, "ssh-command") == 0)
		return "sshCommand";
	if (strcasecmp(key, "limitRate") == 0 || strcasecmp(key, "limit-rate") == 0)
		return "limitRate";
	return NULL;
}

static void mirror_options(dsync_mirror_options *mo, const mirror_args *a)
{
	mo->lock_wait_ms = DSYNC_LOCK_WAIT_MS;
	mo->warn = out_warn_cb;
	/* what ssh asks (a key's passphrase, a password, an unknown host key)
	 * only where someone can answer */
	mo->prompt = prompt_have_tty() ? prompt_ssh : NULL;
	mo->payload = NULL;
	/* --limit-rate 0: no limit this time, whatever limitRate says */
	mo->rate_limit = a->limit_rate && a->rate_limit == 0 ? DSYNC_RATE_UNLIMITED : a->rate_limit;
	mo->allow_mass_delete = a->allow_mass_delete;
}

/* F's mirror NAME into *OUT (an entry of *LIST, which the caller frees);
 * else prints why and returns the exit status (1). */
static int find_mirror(dsync_mirror_info **list, size_t *n, const dsync_mirror_info **out, dsync_folder *f,
		       const char *name)
{
	char q[DSYNC_QUOTE_SIZE];
	size_t i;
	int error;

	*list = NULL;
	*n = 0;
	if ((error = dsync_mirror_list(list, n, f)) < 0)
		return out_fail(error);
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0) {
			*out = &(*list)[i];
			return -1;
		}
	out_error("no mirror '%s' in '%s' (see dsync mirror list)", dsync_quote(q, name),
		  out_text(dsync_folder_root(f), strlen(dsync_folder_root(f))));
	if (*list)
		dsync_mirror_list_free(*list, *n);
	*list = NULL;
	*n = 0;
	return 1;
}

/* ---------------------------------------------------------------- add */

/* Keeps --interval, --ssh, --ssh-command and --limit-rate as mirror NAME's settings. */
static int keep_settings(dsync_folder *f, const char *name, const mirror_args *a)
{
	int error = 0;

	if (a->interval && (error = dsync_mirror_set(f, name, "interval", a->interval)) < 0)
		return error;
	if (a->ssh && (error = dsync_mirror_set(f, name, "ssh", a->ssh)) < 0)
		return error;
	if (a->ssh_command && (error = dsync_mirror_set(f, name, "sshCommand", a->ssh_command)) < 0)
		return error;
	if (a->limit_rate && (error = dsync_mirror_set(f, name, "limitRate", a->limit_rate)) < 0)
		return error;
	return 0;
}

static int mirror_add(dsync_folder *f, const char *name, const char *url, const mirror_args *a)
{
	dsync_mirror_options mo = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_mirror_info *list = NULL;
	const dsync_mirror_info *m = NULL;
	const char *root = dsync_folder_root(f);
	size_t n;
	int rc, error;

	mirror_options(&mo, a);
	/* the first connection is made before the settings are kept: the
	 * environment the library reads, which wins over the config anyway */
	if (a->ssh)
		setenv("DSYNC_SSH", a->ssh, 1);
	if (a->ssh_command)
		setenv("DSYNC_SSH_COMMAND", a->ssh_command, 1);
	error = dsync_mirror_add(f, name, url, a->subdir, a->create, &mo);
	out_progress_done();
	if (error < 0)
		return out_fail(error);
	if ((error = keep_settings(f, name, a)) < 0)
		out_warn("mirror '%s' added, but its settings were not all kept: %s (dsync mirror set %s KEY VALUE)",
			 name, dsync_error_last(), name);
	if ((rc = find_mirror(&list, &n, &m, f, name)) >= 0)
		return rc;
	if (!a->quiet)
		printf("mirror '%s' added: %s -> %s%s%s (device id %s); the first round ('dsync mirror sync %s', or the "
		       "daemon within %d s) merges both folders\n", name, out_name(m->url), out_text(root, strlen(root)),
		       *m->path ? "/" : "", out_text(m->path, strlen(m->path)), m->device_id, name, m->interval_s);
	dsync_mirror_list_free(list, n);
	return 0;
}

/* ---------------------------------------------------------------- list */

static void json_string_or_null(const char *s)
{
	if (s)
		out_json_string(stdout, s);
	else
		printf("null");
}

void cmd_mirror_json(const dsync_mirror_info *m)
{
	size_t k;

	printf("{");
	out_json_name(stdout, "name", m->name);
	printf(",");
	out_json_name(stdout, "url", m->url);
	printf(",");
	out_json_name(stdout, "path", m->path);
	printf(",\"device_id\":");
	out_json_string(stdout, m->device_id);
	printf(",\"interval\":%d,", m->interval_s);
	if (m->last_round)
		out_json_time(stdout, "last_round", "last_round_timestamp", (int64_t)m->last_round);
	else
		printf("\"last_round\":null,\"last_round_timestamp\":null");
	printf(",\"paused\":");
	json_string_or_null(m->paused);
	printf(",\"last_error\":");
	json_string_or_null(m->last_error);
	printf(",\"kept\":[");
	for (k = 0; k < m->n_kept; k++) {
		printf("%s{", k ? "," : "");
		out_json_name(stdout, "path", m->kept[k].path);
		printf(",\"reason\":");
		out_json_string(stdout, m->kept[k].reason);
		printf("}");
	}
	printf("]}");
}

static void list_json(const dsync_mirror_info *list, size_t n)
{
	size_t i;

	printf("{\"mirrors\":[");
	for (i = 0; i < n; i++) {
		printf("%s", i ? "," : "");
		cmd_mirror_json(&list[i]);
	}
	printf("]}\n");
}

static void list_text(const dsync_mirror_info *list, size_t n)
{
	char when[64];
	size_t i, k;

	for (i = 0; i < n; i++) {
		const dsync_mirror_info *m = &list[i];

		printf("%s  %s  -> %s\n", out_name(m->name), out_name(m->url),
		       *m->path ? out_name(m->path) : "the whole folder");
		printf("  every %d s; %s%s; device %.8s\u2026\n", m->interval_s, m->last_round ? "last round " : "no round yet",
		       m->last_round ? out_time(when, sizeof(when), m->last_round) : "", m->device_id);
		if (m->paused) {
			const char *e = cmd_mirror_message(m->paused, m->name);

			printf("  paused: %s\n", out_text(e, strlen(e)));
		}
		if (m->last_error) {
			const char *e = cmd_mirror_message(m->last_error, m->name);

			printf("  last error: %s\n", out_text(e, strlen(e)));
		}
		if (m->n_kept)
			printf("  kept on the computer only (%zu):\n", m->n_kept);
		for (k = 0; k < m->n_kept && k < KEPT_SHOWN; k++)
			printf("    %s  (%s)\n", out_name(m->kept[k].path),
			       out_text(m->kept[k].reason, strlen(m->kept[k].reason)));
		if (m->n_kept > KEPT_SHOWN)
			printf("    ... and %zu more (dsync mirror list --json lists them all)\n", m->n_kept - KEPT_SHOWN);
	}
}

static int mirror_list(dsync_folder *f, const mirror_args *a)
{
	dsync_mirror_info *list = NULL;
	size_t n = 0;
	int error;

	if ((error = dsync_mirror_list(&list, &n, f)) < 0)
		return out_fail(error);
	if (a->json)
		list_json(list, n);
	else if (n == 0)
		printf("no mirrors (add one: dsync mirror add NAME URL)\n");
	else
		list_text(list, n);
	dsync_mirror_list_free(list, n);
	return 0;
}

/* ---------------------------------------------------------------- sync */

/* One round with mirror NAME: its line, or its error; the exit status. */
static int sync_one(dsync_folder *f, const char *name, const mirror_args *a, size_t *conflicts)
{
	dsync_mirror_options mo = DSYNC_MIRROR_OPTIONS_INIT;
	dsync_mirror_result r;
	int error;

	mirror_options(&mo, a);
	memset(&r, 0, sizeof(r));
	error = dsync_mirror_round(&r, f, name, &mo);
	out_progress_done();
	if (error < 0 && error != DSYNC_ECONFLICT) {
		const char *msg = dsync_error_last();

		/* the library's message names the mirror; else it is named here */
		if (strncmp(msg, "mirror '", 8) == 0)
			out_error("%s", msg);
		else
			out_error("mirror '%s': %s", name, *msg ? msg : "the round failed");
		return dsync_error_exit_code(error);
	}
	if (!a->quiet)
		cmd_mirror_print(name, &r, a->verbose);
	if (r.merge.head[0])
		*conflicts = r.merge.open_conflicts;
	return 0;
}

static int mirror_sync(dsync_folder *f, const char *name, const mirror_args *a)
{
	dsync_mirror_info *list = NULL;
	const dsync_mirror_info *m = NULL;
	size_t n = 0, i, conflicts = 0;
	int rc, first = 0, error;

	if (name) {
		if ((rc = find_mirror(&list, &n, &m, f, name)) >= 0)
			return rc;
		first = sync_one(f, name, a, &conflicts);
	} else {
		if ((error = dsync_mirror_list(&list, &n, f)) < 0)
			return out_fail(error);
		if (n == 0) {
			out_error("no mirrors to sync (add one: dsync mirror add NAME URL)");
			first = 1;
		}
		/* one at a time; a phone that can't be reached stops none of the others */
		for (i = 0; i < n; i++)
			if ((rc = sync_one(f, list[i].name, a, &conflicts)) != 0 && first == 0)
				first = rc;
	}
	if (list)
		dsync_mirror_list_free(list, n);
	if (first)
		return first;
	return cmd_conflicts_wait(conflicts);
}

/* ---------------------------------------------------------------- the command */

int cmd_mirror(int argc, char **argv)
{
	dsync_mirror_info *list = NULL;
	const dsync_mirror_info *m = NULL;
	mirror_args a = { 0 };
	dsync_folder *f = NULL;
	const char *sub, *key = NULL;
	size_t n;
	int rc, error;

	if ((rc = parse(argc, argv, &a)) >= 0 || (rc = cmd_args("mirror", argc, argv, 0, -1, NULL)) >= 0)
		return rc;
	sub = optind < argc ? argv[optind++] : "list";
	if (strcmp(sub, "add") == 0)
		rc = cmd_args("mirror", argc, argv, 2, 2, "name it and say where: dsync mirror add NAME URL");
	else if (strcmp(sub, "remove") == 0 || strcmp(sub, "rm") == 0)
		rc = cmd_args("mirror", argc, argv, 1, 1, "name the mirror: dsync mirror remove NAME");
	else if (strcmp(sub, "list") == 0)
		rc = cmd_args("mirror", argc, argv, 0, 0, NULL);
	else if (strcmp(sub, "set") == 0)
		rc = cmd_args("mirror", argc, argv, 3, 3,
			      "name the mirror, the setting and its value: dsync mirror set NAME interval 300");
	else if (strcmp(sub, "unset") == 0)
		rc = cmd_args("mirror", argc, argv, 2, 2, "name the mirror and the setting: dsync mirror unset NAME ssh");
	else if (strcmp(sub, "sync") == 0)
		rc = cmd_args("mirror", argc, argv, 0, 1, NULL);
	else
		return cmd_usage_error("mirror", "unknown subcommand '%s' (add, list, remove, set, unset, sync)", sub);
	if (rc >= 0 || (rc = options_fit(sub, &a)) >= 0)
		return rc;
	if (a.interval && (rc = interval_ok(a.interval)) >= 0)
		return rc;
	if (strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0) {
		if ((key = setting_key(argv[optind + 1])) == NULL)
			return cmd_usage_error("mirror", "unknown setting '%s' (interval, ssh, sshCommand, limitRate)",
					       argv[optind + 1]);
		if (strcmp(sub, "set") == 0 && strcmp(key, "interval") == 0 && (rc = interval_ok(argv[optind + 2])) >= 0)
			return rc;
	}
	if ((rc = cmd_open_folder(&f)) != 0)
		return rc;
	if (strcmp(sub, "add") == 0) {
		rc = mirror_add(f, argv[optind], argv[optind + 1], &a);
	} else if (strcmp(sub, "list") == 0) {
		rc = mirror_list(f, &a);
	} else if (strcmp(sub, "sync") == 0) {
		rc = mirror_sync(f, optind < argc ? argv[optind] : NULL, &a);
	} else if ((rc = find_mirror(&list, &n, &m, f, argv[optind])) < 0) {
		rc = 0;
		if (strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0) {
			const char *value = strcmp(sub, "set") == 0 ? argv[optind + 2] : NULL;

			if ((error = dsync_mirror_set(f, argv[optind], key, value)) < 0)
				rc = out_fail(error);
			else if (!a.quiet && value)
				printf("mirror '%s': %s = %s\n", argv[optind], key, out_text(value, strlen(value)));
			else if (!a.quiet)
				printf("mirror '%s': %s unset\n", argv[optind], key);
		} else if ((error = dsync_mirror_remove(f, argv[optind])) < 0) {
			rc = out_fail(error);
		} else if (!a.quiet) {
			printf("removed mirror '%s' (its snapshots stay in the history; nothing on the host was "
			       "touched)\n", argv[optind]);
		}
		dsync_mirror_list_free(list, n);
	}
	dsync_folder_free(f);
	return rc;
}
