/*
 * The dsync program: one table of commands, argument parsing, output.
 * Everything it does is a call into libdsync.
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
#include "dsync/folder.h"
#include "dsync/gc.h"
#include "dsync/history.h"
#include "dsync/restore.h"
#include "dsync/merge.h"
#include "dsync/snapshot.h"
#include "dsync/timespec.h"
#include "dsync/watch.h"
#include "cmd/output.h"
#include "cmd/cmd.h"

#define DSYNC_VERSION "0.1.0"


typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool needs_folder;
	const char *summary;
	const char *usage;
} command;

static const command *find_command(const char *name);
static int cmd_help(int argc, char **argv);

/* A usage error quoting ARG, the user's (cut and made visible by
 * dsync_quote), as FMT's one %s. */
int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	char q[DSYNC_QUOTE_SIZE];

	out_error(fmt, dsync_quote(q, arg));
	fprintf(stderr, "see 'dsync help %s'\n", cmd);
	return 2;
}

/* A usage error with MSG, the program's own words. */
int usage_msg(const char *cmd, const char *msg)
{
	out_error("%s", msg);
	fprintf(stderr, "see 'dsync help %s'\n", cmd);
	return 2;
}

/* The option OPTS[i] whose value is VAL, or NULL. */
static const struct option *option_of(const struct option *opts, int val)
{
	for (; opts->name; opts++)
		if (opts->val == val)
			return opts;
	return NULL;
}

/* The name the user gave the option getopt just read (VAL; 0: unknown):
 * "--name" for a long one (without "=VALUE"), else "-C". */
static void option_name(char *buf, size_t size, char **argv, const struct option *opts, int val)
{
	const char *el = optind > 0 ? argv[optind - 1] : "";
	const struct option *o = option_of(opts, val);

	if (strncmp(el, "--", 2) == 0 && (val == 0 || (o && strncmp(el + 2, o->name, strcspn(el + 2, "=")) == 0)))
		snprintf(buf, size, "%.*s", (int)strcspn(el, "="), el);
	else if (val > 0 && val < 128 && val != '?')
		snprintf(buf, size, "-%c", val);
	else
		snprintf(buf, size, "%s", el);
}

int cmd_getopt(int *rc, const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *opts)
{
	char spec[64], name[256];
	bool plus = shortopts[0] == '+';
	const struct option *o;
	int c;

	*rc = -1;
	/* ':' first: a missing value is told from an unknown option */
	snprintf(spec, sizeof(spec), "%s:%s", plus ? "+" : "", shortopts + plus);
	optopt = 0;
	c = getopt_long(argc, argv, spec, opts, NULL);
	switch (c) {
	case -1:
		return -1;
	case 'h':
		*rc = print_usage(cmd);
		return -1;
	case ':':
		option_name(name, sizeof(name), argv, opts, optopt);
		*rc = usage_error(cmd, "option '%s' needs a value", name);
		return -1;
	case '?':
		option_name(name, sizeof(name), argv, opts, optopt);
		if (optopt && (o = option_of(opts, optopt)) != NULL && o->has_arg == no_argument &&
		    strchr(argv[optind - 1], '='))
			*rc = usage_error(cmd, "option '%s' takes no value", name);
		else
			*rc = usage_error(cmd, "unknown option '%s'", name);
		return -1;
	default:
		/* an empty value is as good as none */
		if ((o = option_of(opts, c)) != NULL && o->has_arg == required_argument && optarg && !*optarg) {
			snprintf(name, sizeof(name), "--%s", o->name);
			*rc = usage_error(cmd, "option '%s' needs a value, not an empty one", name);
			return -1;
		}
		return c;
	}
}

int cmd_args(const char *cmd, int argc, char **argv, int min, int max, const char *missing)
{
	int i, n = argc - optind;

	for (i = optind; i < argc; i++)
		if (!*argv[i])
			return usage_msg(cmd, "an argument is empty ('')");
	if (max >= 0 && n > max)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind + max]);
	if (n < min)
		return usage_msg(cmd, missing);
	return -1;
}

int print_usage(const char *name)
{
	const command *c = find_command(name);

	if (!c)
		return 2;
	printf("%s", c->usage);
	return 0;
}

int open_folder(dsync_folder **f)
{
	int error = dsync_folder_open(f, NULL);

	return error < 0 ? out_fail(error) : 0;
}

/* ---------------------------------------------------------------- init */

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device-name", required_argument, NULL, 'n' }, HELP_OPTION, { 0 }
	};
	dsync_snapshot_options so = DSYNC_SNAPSHOT_OPTIONS_INIT;
	dsync_snapshot_result sr;
	dsync_folder *f = NULL;
	const char *name = NULL, *dir = ".";
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "init", argc, argv, "h", opts)) != -1)
		if (c == 'n')
			name = optarg;
	if (rc >= 0 || (rc = cmd_args("init", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if (optind < argc)
		dir = argv[optind];
	if ((error = dsync_folder_init(&f, dir, name)) < 0)
		return out_fail(error);
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
		return dsync_exit_code(error);
	}
	printf("first snapshot %.8s: %zu file%s\n", sr.commit, sr.files, sr.files == 1 ? "" : "s");
	dsync_folder_free(f);
	return 0;
}

/* ------------------------------------------------------------ snapshot */

static int cmd_snapshot(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "allow-mass-delete", no_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' }, HELP_OPTION, { 0 }
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
	if ((error = open_folder(&f)) != 0)
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

/* -------------------------------------------------------------- status */

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, HELP_OPTION, { 0 } };
	dsync_changes ch;
	dsync_folder *f = NULL;
	bool json = false;
	size_t i;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "status", argc, argv, "h", opts)) != -1)
		if (c == 'j')
			json = true;
	if (rc >= 0 || (rc = cmd_args("status", argc, argv, 0, 0, NULL)) >= 0)
		return rc;
	if ((error = open_folder(&f)) != 0)
		return error;
	error = dsync_status(&ch, f, out_warn_cb, NULL);
	dsync_folder_free(f);
	if (error < 0)
		return out_fail(error);
	if (json) {
		printf("[");
		for (i = 0; i < ch.n; i++) {
			printf("%s{\"status\":\"%c\",\"path\":", i ? "," : "", ch.v[i].kind);
			out_json_string(stdout, ch.v[i].path);
			printf("}");
		}
		printf("]\n");
	} else if (ch.n == 0) {
		printf("nothing changed since the last snapshot\n");
	} else {
		for (i = 0; i < ch.n; i++)
			printf("%c %s\n", ch.v[i].kind, out_name(ch.v[i].path));
	}
	dsync_changes_dispose(&ch);
	return 0;
}

/* ----------------------------------------------------------------- log */

typedef struct log_ctx {
	bool json;
	bool first;
	size_t max_files;
} log_ctx;

static void print_changes_json(const dsync_changes *ch)
{
	size_t i;

	printf("[");
	for (i = 0; i < ch->n; i++) {
		printf("%s{\"status\":\"%c\",\"path\":", i ? "," : "", ch->v[i].kind);
		out_json_string(stdout, ch->v[i].path);
		if (ch->v[i].old_path) {
			printf(",\"from\":");
			out_json_string(stdout, ch->v[i].old_path);
		}
		printf("}");
	}
	printf("]");
}

static void print_commit_json(const dsync_commit_info *c)
{
	char iso[64];

	printf("{\"id\":\"%s\",\"time\":\"%s\",\"timestamp\":%lld,\"device\":", c->id,
	       out_time_iso(iso, sizeof(iso), c->time, c->tz_offset), (long long)c->time);
	out_json_string(stdout, c->device_name);
	printf(",\"device_id\":");
	out_json_string(stdout, c->device_id);
	printf(",\"message\":");
	out_json_string(stdout, c->message);
	printf(",\"files\":");
	print_changes_json(&c->changes);
	printf("}");
}

static void print_commit_text(const dsync_commit_info *c, size_t max_files)
{
	char when[64];
	const char *nl = strchr(c->message, '\n');
	size_t i;

	printf("%.8s  %s  %s  %s\n", c->id, out_time(when, sizeof(when), c->time), out_name(c->device_name),
	       out_text(c->message, nl ? (size_t)(nl - c->message) : strlen(c->message)));
	for (i = 0; i < c->changes.n && (max_files == 0 || i < max_files); i++) {
		if (c->changes.v[i].old_path)
			printf("    %c %s -> %s\n", c->changes.v[i].kind, out_name(c->changes.v[i].old_path),
			       out_name(c->changes.v[i].path));
		else
			printf("    %c %s\n", c->changes.v[i].kind, out_name(c->changes.v[i].path));
	}
	if (max_files && c->changes.n > max_files)
		printf("    … and %zu more\n", c->changes.n - max_files);
}

static int log_cb(const dsync_commit_info *c, void *payload)
{
	log_ctx *ctx = payload;

	if (ctx->json) {
		printf("%s", ctx->first ? "\n  " : ",\n  ");
		print_commit_json(c);
	} else {
		print_commit_text(c, ctx->max_files);
	}
	ctx->first = false;
	return 0;
}

/* SPEC, a time or a version (its snapshot's time), into *OUT; else the
 * error said with WHAT before it, and the exit status. */
static int parse_when(dsync_folder *f, const char *cmd, const char *what, const char *spec, int64_t *out)
{
	int error = dsync_history_when(out, f, spec);

	if (error < 0) {
		out_error("%s %s", what, dsync_error_last());
		if (error == DSYNC_EUSAGE)
			fprintf(stderr, "see 'dsync help %s'\n", cmd);
		return dsync_exit_code(error);
	}
	return 0;
}

static int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' }, { "max-count", required_argument, NULL, 'n' },
		{ "all-files", no_argument, NULL, 'a' }, HELP_OPTION, { 0 }
	};
	dsync_log_options lo = { 0 };
	log_ctx ctx = { false, true, 10 };
	dsync_folder *f = NULL;
	const char *since = NULL, *until = NULL;
	char *rel = NULL;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "log", argc, argv, "n:h", opts)) != -1) {
		switch (c) {
		case 's':
			since = optarg;
			break;
		case 'u':
			until = optarg;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 'a':
			ctx.max_files = 0;
			break;
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v <= 0)
				return usage_error("log", "bad count '%s'", optarg);
			lo.max = (size_t)v;
			break;
		}
		}
	}
	if (rc >= 0 || (rc = cmd_args("log", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if ((error = open_folder(&f)) != 0)
		return error;
	if ((since && (rc = parse_when(f, "log", "--since:", since, &lo.since)) != 0) ||
	    (until && (rc = parse_when(f, "log", "--until:", until, &lo.until)) != 0)) {
		dsync_folder_free(f);
		return rc;
	}
	lo.has_since = since != NULL;
	lo.has_until = until != NULL;
	if (optind < argc && (error = dsync_folder_relpath(&rel, f, argv[optind])) < 0)
		goto fail;
	lo.path = rel;
	if (ctx.json)
		printf("[");
	error = dsync_history_log(f, &lo, log_cb, &ctx);
	if (ctx.json)
		printf("%s]\n", ctx.first ? "" : "\n");
	if (error < 0)
		goto fail;
	if (!ctx.json && ctx.first && rel)
		printf("no snapshot changed '%s'%s\n", out_text(argv[optind], strlen(argv[optind])),
		       lo.has_since || lo.has_until ? " in that time" : "");
	free(rel);
	dsync_folder_free(f);
	return 0;
fail:
	free(rel);
	dsync_folder_free(f);
	return out_fail(error);
}

/* ------------------------------------------------------------ versions */

static int version_cb(const dsync_version *v, void *payload)
{
	bool json = *(bool *)payload;
	char when[64], size[32];
	const char *what = v->kind == 'A' ? "added" : v->kind == 'M' ? "modified"
			 : v->kind == 'D' ? "deleted" : "renamed";

	if (json) {
		static bool first = true;
		char iso[64];

		printf("%s{\"id\":\"%s\",\"time\":\"%s\",\"timestamp\":%lld,\"device\":", first ? "\n  " : ",\n  ",
		       v->commit->id, out_time_iso(iso, sizeof(iso), v->commit->time, v->commit->tz_offset),
		       (long long)v->commit->time);
		first = false;
		out_json_string(stdout, v->commit->device_name);
		printf(",\"change\":\"%s\",\"path\":", what);
		out_json_string(stdout, v->path);
		if (v->old_path) {
			printf(",\"from\":");
			out_json_string(stdout, v->old_path);
		}
		if (v->kind != 'D')
			printf(",\"blob\":\"%s\",\"size\":%llu,\"mode\":\"%06o\"", v->blob,
			       (unsigned long long)v->size, v->mode);
		printf("}");
		return 0;
	}
	printf("%.8s  %s  %-12s  %10s  %s", v->commit->id, out_time(when, sizeof(when), v->commit->time),
	       out_name(v->commit->device_name), v->kind == 'D' ? "-" : out_size(size, sizeof(size), v->size), what);
	if (v->kind == 'R')
		printf(" from %s", out_name(v->old_path));
	{
		const char *m = v->commit->message;
		const char *nl = strchr(m, '\n');

		printf("  (%s)\n", out_text(m, nl ? (size_t)(nl - m) : strlen(m)));
	}
	return 0;
}

static int cmd_versions(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, HELP_OPTION, { 0 } };
	dsync_folder *f = NULL;
	char *rel = NULL;
	bool json = false;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "versions", argc, argv, "h", opts)) != -1)
		if (c == 'j')
			json = true;
	if (rc >= 0 || (rc = cmd_args("versions", argc, argv, 1, 1, "give one file: dsync versions PATH")) >= 0)
		return rc;
	if ((error = open_folder(&f)) != 0)
		return error;
	if ((error = dsync_folder_relpath(&rel, f, argv[optind])) < 0)
		goto out;
	if (!*rel) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_EUSAGE, "'%s' is the folder itself; name a file in it",
					dsync_quote(q, argv[optind]));
		goto out;
	}
	if (json)
		printf("[");
	error = dsync_history_versions(f, rel, version_cb, &json);
	if (json)
		printf("\n]\n");
out:
	free(rel);
	dsync_folder_free(f);
	return error < 0 ? out_fail(error) : 0;
}

/* ---------------------------------------------------------------- show */

static int write_stdout(const void *data, size_t len, void *payload)
{
	(void)payload;
	return fwrite(data, 1, len, stdout) == len ? 0 : -1;
}

static int dir_cb(const dsync_dir_entry *e, void *payload)
{
	char size[32];

	(void)payload;
	if (e->mode == 040000)
		printf("%10s  %s/\n", "", out_name(e->name));
	else
		printf("%10s  %s%s\n", out_size(size, sizeof(size), e->size), out_name(e->name),
		       e->mode == 0120000 ? " (link)" : e->mode == 0100755 ? "*" : "");
	return 0;
}

static int show_commit_cb(const dsync_commit_info *c, void *payload)
{
	(void)payload;
	print_commit_text(c, 0);
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPTION, { 0 } };
	dsync_folder *f = NULL;
	char hex[DSYNC_OID_HEX_SIZE], *spec, *rel = NULL;
	const char *arg;
	size_t i, len;
	bool is_dir;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "show", argc, argv, "h", opts)) != -1)
		;
	if (rc >= 0 || (rc = cmd_args("show", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	arg = optind < argc ? argv[optind] : "HEAD";
	if ((error = open_folder(&f)) != 0)
		return error;
	if ((spec = strdup(arg)) == NULL) {
		error = dsync_error_set(DSYNC_ERROR, "out of memory");
		goto out;
	}
	/* REV alone, or REV:PATH where REV may itself hold ':' (a time): the
	 * longest REV that resolves wins ("2024-03-01 14:00:05:a.txt") */
	if (dsync_history_resolve(hex, f, arg) == 0) {
		error = dsync_history_show(f, hex, show_commit_cb, NULL);
		goto out;
	}
	error = DSYNC_ENOTFOUND;
	len = strlen(arg);
	for (i = len; i-- > 0;) {
		if (arg[i] != ':')
			continue;
		spec[i] = '\0';
		if (dsync_history_resolve(hex, f, i ? spec : "HEAD") == 0) {
			const char *path = arg + i + 1;

			if (*path) {
				if ((error = dsync_folder_relpath(&rel, f, path)) < 0)
					goto out;
			} else if ((rel = strdup("")) == NULL) {
				error = dsync_error_set(DSYNC_ERROR, "out of memory");
				goto out;
			}
			error = dsync_history_cat(f, hex, rel, &is_dir, write_stdout, dir_cb, NULL);
			goto out;
		}
		spec[i] = ':';
	}
	/* nothing resolved: REV:PATH's REV (up to the last ':') says what is
	 * wrong with it, a spec without ':' its own error */
	if ((i = (size_t)(strrchr(arg, ':') ? strrchr(arg, ':') - arg : 0)) > 0)
		spec[i] = '\0';
	error = dsync_history_resolve(hex, f, i > 0 ? spec : arg);
out:
	free(spec);
	free(rel);
	dsync_folder_free(f);
	if (fflush(stdout) != 0 && error == 0)
		error = dsync_error_set(DSYNC_ERROR, "cannot write the output");
	return error < 0 ? out_fail(error) : 0;
}

/* ---------------------------------------------------------------- diff */

static int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPTION, { 0 } };
	dsync_folder *f = NULL;
	const char *revs[2] = { NULL, NULL }, *path = NULL;
	char *rel = NULL;
	int c, i, nrev = 0, rc, error, dashdash = -1;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dashdash = i;
			break;
		}
	while ((c = cmd_getopt(&rc, "diff", dashdash > 0 ? dashdash : argc, argv, "+h", opts)) != -1)
		;
	if (rc >= 0)
		return rc;
	for (i = optind; i < argc; i++)
		if (i != dashdash && !*argv[i])
			return usage_msg("diff", "an argument is empty ('')");
	for (i = optind; i < (dashdash > 0 ? dashdash : argc); i++) {
		if (nrev == 2)
			return usage_error("diff", "too many versions: '%s'; put a path after '--'", argv[i]);
		revs[nrev++] = argv[i];
	}
	if (dashdash > 0) {
		if (argc - dashdash > 2)
			return usage_error("diff", "unexpected argument '%s': give one path after '--'", argv[dashdash + 2]);
		if (argc - dashdash == 2)
			path = argv[dashdash + 1];
	}
	if ((error = open_folder(&f)) != 0)
		return error;
	if (path && (error = dsync_folder_relpath(&rel, f, path)) < 0)
		goto out;
	error = dsync_history_diff(f, revs[0], nrev == 2 ? revs[1] : NULL, rel, write_stdout, NULL);
out:
	free(rel);
	dsync_folder_free(f);
	return error < 0 ? out_fail(error) : 0;
}

/* ------------------------------------------------------------- restore */

static int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' }, { "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' }, HELP_OPTION, { 0 }
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
	if ((error = open_folder(&f)) != 0)
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

/* --------------------------------------------------------------- merge */

/* Exit status after a merge or resolve: 3 while conflicts wait. */
int conflicts_wait(size_t open)
{
	if (open == 0)
		return 0;
	printf("%zu conflict%s wait%s for you: see 'dsync conflicts'\n", open, open == 1 ? "" : "s",
	       open == 1 ? "s" : "");
	return 3;
}

static int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' }, HELP_OPTION, { 0 } };
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
	if ((error = open_folder(&f)) != 0)
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
	return conflicts_wait(r.open_conflicts);
}

static int cmd_conflicts(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep", required_argument, NULL, 'k' }, { "json", no_argument, NULL, 'j' }, HELP_OPTION, { 0 }
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
			return usage_msg("conflicts", "say what to keep: --keep file|copy|both");
		keep = strcmp(keep_arg, "file") == 0 ? DSYNC_KEEP_FILE
		       : strcmp(keep_arg, "copy") == 0 ? DSYNC_KEEP_COPY
		       : strcmp(keep_arg, "both") == 0 ? DSYNC_KEEP_BOTH : -1;
		if (keep < 0)
			return usage_error("conflicts", "--keep takes file, copy or both, not '%s'", keep_arg);
	} else if ((rc = cmd_args("conflicts", argc, argv, 0, 0, NULL)) >= 0) {
		return rc;
	} else if (keep_arg) {
		return usage_msg("conflicts", "--keep goes with 'resolve PATH'");
	}
	if ((error = open_folder(&f)) != 0)
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
		printf("[");
	for (i = 0; i < list.n; i++) {
		const dsync_conflict *k = &list.v[i];
		char when[32];

		if (json) {
			printf("%s\n  {\"path\": ", i ? "," : "");
			out_json_string(stdout, k->path);
			printf(", \"copy\": ");
			out_json_string(stdout, k->copy);
			printf(", \"device\": ");
			out_json_string(stdout, k->device);
			printf(", \"time\": %lld, \"path_exists\": %s}", (long long)k->when,
			       k->path_exists ? "true" : "false");
		} else {
			printf("%s\n    copy %s (from %s, %s)%s\n", out_name(k->path), out_name(k->copy), out_name(k->device),
			       out_time(when, sizeof(when), (int64_t)k->when), k->path_exists ? "" : "; the file itself is gone");
		}
	}
	if (json)
		printf("%s]\n", list.n ? "\n" : "");
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

/* ------------------------------------------------------------------ gc */

static int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' }, HELP_OPTION, { 0 } };
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
	if ((error = open_folder(&f)) != 0)
		return error;
	error = dsync_gc(&r, f, DSYNC_LOCK_WAIT_MS);
	dsync_folder_free(f);
	if (error < 0)
		return out_fail(error);
	if (quiet)
		return 0;
	if (r.objects == 0)
		printf("nothing to pack\n");
	else
		printf("packed %zu objects; removed %zu loose objects and %zu older pack%s; store %s -> %s\n",
		       r.objects, r.loose_removed, r.packs_removed, r.packs_removed == 1 ? "" : "s",
		       out_size(before, sizeof(before), r.bytes_before),
		       out_size(after, sizeof(after), r.bytes_after));
	return 0;
}

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
		HELP_OPTION,
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
				return usage_error(name, "'%s' is not a number of seconds", optarg);
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

static int cmd_watch(int argc, char **argv)
{
	return run_watch("watch", false, argc, argv);
}

static int cmd_daemon(int argc, char **argv)
{
	return run_watch("daemon", true, argc, argv);
}

/* ---------------------------------------------------------------- help */

static int cmd_version(int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPTION, { 0 } };
	int rc;

	while (cmd_getopt(&rc, "version", argc, argv, "h", opts) != -1)
		;
	if (rc >= 0 || (rc = cmd_args("version", argc, argv, 0, 0, NULL)) >= 0)
		return rc;
	printf("dsync %s\n", DSYNC_VERSION);
	return 0;
}

static const command commands[] = {
	{ "init", cmd_init, false, "start keeping the history of a folder",
	  "usage: dsync init [DIR] [--device-name NAME]\n\n"
	  "Makes DIR (default: the current folder; created if missing) a dsync folder:\n"
	  "its history lives in DIR/.dsync. The device is named NAME, else\n"
	  "$DSYNC_DEVICE_NAME, else the host name (made safe): at most 64 bytes of\n"
	  "printable UTF-8 text without '/', '\\', '<', '>' or characters that reorder\n"
	  "text (U+202A..U+202E, U+2066..U+2069), not '.' or '..'. The folder is\n"
	  "registered in ~/.config/dsync/folders for 'dsync daemon', and a first\n"
	  "snapshot is taken.\n" },
	{ "snapshot", cmd_snapshot, true, "record every change as a new version",
	  "usage: dsync snapshot [-m MSG] [--allow-mass-delete] [--quiet]\n\n"
	  "Records every change in the folder (adds, edits, deletes, renames, links,\n"
	  "the executable bit) as one version. Nothing changed: no version, exit 0.\n"
	  "A file that cannot be read keeps its previous version and is reported.\n"
	  "When more than half of the files (and more than 10) are gone, nothing is\n"
	  "recorded (an unmounted drive looks like that, and so does a .dsyncignore\n"
	  "that now leaves most files out: the message says which) unless\n"
	  "--allow-mass-delete.\n" },
	{ "status", cmd_status, true, "show what changed since the last snapshot",
	  "usage: dsync status [--json]\n\n"
	  "Lists files added (A), modified (M), deleted (D) or changed type (T) since\n"
	  "the last snapshot.\n" },
	{ "log", cmd_log, true, "list snapshots",
	  "usage: dsync log [PATH] [--since WHEN] [--until WHEN] [-n N] [--all-files] [--json]\n\n"
	  "Lists snapshots, newest first: id, time, device, message and the files\n"
	  "changed (first 10; --all-files for all). PATH limits it to snapshots that\n"
	  "changed that file or folder. WHEN: '2 hours ago', 'yesterday', 'last monday',\n"
	  "'2024-03-01', '2024-03-01 14:00', '@EPOCH', or a version (a snapshot id,\n"
	  "HEAD~3): the time its snapshot was taken.\n" },
	{ "versions", cmd_versions, true, "list every version of one file",
	  "usage: dsync versions PATH [--json]\n\n"
	  "Lists every version of the file PATH, newest first, following it back\n"
	  "across renames; deleted files too.\n" },
	{ "show", cmd_show, true, "show a snapshot, or a file or folder as it was",
	  "usage: dsync show [REV] | dsync show REV:PATH\n\n"
	  "REV alone: the snapshot's details. REV:PATH: the file's bytes as they were\n"
	  "(to stdout), or the folder's listing. REV: a snapshot id (short too),\n"
	  "HEAD, HEAD~3, or a time ('yesterday', '2024-03-01 14:00'): the last\n"
	  "snapshot taken at or before it. PATH is relative to the current folder.\n" },
	{ "diff", cmd_diff, true, "show changes between versions",
	  "usage: dsync diff [REV [REV]] [-- PATH]\n\n"
	  "No REV: the last snapshot against the working files. One REV: that version\n"
	  "against the working files. Two: between the versions.\n" },
	{ "restore", cmd_restore, true, "bring back files or folders as they were",
	  "usage: dsync restore PATH... [--at WHEN|REV] [--to DEST] [--force]\n\n"
	  "Brings back each PATH as it was at WHEN or REV (default: the last snapshot),\n"
	  "including files deleted since. A folder comes back file by file; files\n"
	  "added to it since stay. The versions being replaced are snapshotted first,\n"
	  "so nothing is lost. --to DEST writes there instead (DEST an existing folder\n"
	  "or one ending in '/', made if missing: each PATH goes inside it); a DEST inside the folder is a restore in place,\n"
	  "snapshotted first too. Everything is checked first: a file no version holds\n"
	  "(elsewhere: any different file or link; in the folder: an ignored or\n"
	  "unreadable one) is not replaced, the restore writes nothing and names it;\n"
	  "--force replaces such files. Identical files are not in the way. A folder\n"
	  "where a file goes, or a file or link where a folder goes, is never replaced.\n" },
	{ "merge", cmd_merge, true, "merge another version's history into the folder",
	  "usage: dsync merge REV... [--quiet]\n\n"
	  "Snapshots the folder, then merges each REV (a commit id or ref, e.g. another\n"
	  "device's head) into it: text edited on both sides is merged line by line;\n"
	  "what cannot be merged keeps the later version at its path and the other as a\n"
	  "conflict copy NAME.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.EXT beside it. Only\n"
	  "the files the merge changed are written; a file you change meanwhile is never\n"
	  "overwritten (it is snapshotted and merged too). Interrupted, the next dsync\n"
	  "command finishes the merge. Exit status 3 while conflicts wait.\n" },
	{ "conflicts", cmd_conflicts, true, "list conflict copies, or keep one version",
	  "usage: dsync conflicts [--json]\n"
	  "       dsync conflicts resolve PATH --keep file|copy|both\n\n"
	  "Lists the conflict copies a merge made that are still in the folder, each\n"
	  "with the path it is a copy of (a file merely named like a copy is none).\n"
	  "resolve PATH (the file, or one copy) keeps the version at the path (file),\n"
	  "the copy's (copy: it replaces the file), or both (the copy is renamed to\n"
	  "'NAME (DEVICE YYYY-MM-DD HHMMSS).EXT'), and records that as a new version;\n"
	  "what is removed stays in history. Deleting a copy by hand resolves it too.\n" },
	{ "remote", cmd_remote, true, "add, list or remove encrypted remotes",
	  "usage: dsync remote [list]\n"
	  "       dsync remote add NAME URL [--passphrase-file FILE]\n"
	  "       dsync remote remove NAME\n\n"
	  "add: URL is a folder (file:///media/usb/dsync, or a plain path: a USB disk,\n"
	  "a mounted share). An empty or missing folder gets a new encrypted store\n"
	  "(you choose its passphrase, asked twice); a folder holding a store is opened\n"
	  "with its passphrase, and the next 'dsync sync' merges its history with this\n"
	  "folder's (files on both sides are kept). The store's key is then kept in\n"
	  "~/.config/dsync/keys/ (0600) so later syncs don't ask. The passphrase comes\n"
	  "from --passphrase-file, $DSYNC_PASSPHRASE, or the terminal. remove forgets\n"
	  "the remote here; the store is untouched.\n" },
	{ "push", cmd_push, true, "send this folder's history to remotes",
	  "usage: dsync push [REMOTE] [--quiet] [--passphrase-file FILE]\n\n"
	  "Snapshots the folder, then uploads to REMOTE (default: every remote) the\n"
	  "history it does not hold yet, encrypted, and this device's new manifest.\n" },
	{ "fetch", cmd_fetch, true, "get other devices' histories from remotes",
	  "usage: dsync fetch [REMOTE] [--quiet] [--passphrase-file FILE]\n\n"
	  "Downloads every other device's newest history from REMOTE (default: every\n"
	  "remote), checks it, and records each device's head as\n"
	  "refs/remotes/REMOTE/DEVICE-ID. Changes no file: 'dsync sync' merges.\n" },
	{ "sync", cmd_sync, true, "snapshot, fetch, merge and push",
	  "usage: dsync sync [REMOTE] [--quiet] [--passphrase-file FILE]\n\n"
	  "One round with REMOTE (default: every remote): snapshot, fetch the other\n"
	  "devices' histories, merge them into the folder (as 'dsync merge' does; a\n"
	  "file you change meanwhile is never overwritten), then push. Exit status 3\n"
	  "while conflicts wait; 5 for a wrong passphrase; 6 when data from the remote\n"
	  "fails verification (nothing is changed then).\n" },
	{ "join", cmd_join, false, "make this device a copy of a remote's folder",
	  "usage: dsync join URL [DIR] [--name REMOTE] [--device-name NAME]\n"
	  "                  [--passphrase-file FILE] [--quiet]\n\n"
	  "For a new or replaced device: opens the store at URL with its passphrase,\n"
	  "makes DIR (default: the current folder, when it is empty; created if\n"
	  "missing) a dsync folder with the remote as REMOTE (default 'origin'), and\n"
	  "brings every file and the whole history. Files already in a DIR you name\n"
	  "are kept: identical ones merge, different ones become conflict copies. A\n"
	  "wrong passphrase (exit 5) or a store that fails verification (exit 6)\n"
	  "leaves nothing behind, no kept key either. A join cut off (killed, Ctrl-C)\n"
	  "is finished by the same 'dsync join' again, or by 'dsync sync' in DIR; the\n"
	  "files that were there are never lost. The passphrase is the first line of\n"
	  "FILE, or of $DSYNC_PASSPHRASE, or typed; empty or unreadable: exit 5.\n" },
	{ "passphrase", cmd_passphrase, true, "change a remote store's passphrase",
	  "usage: dsync passphrase [REMOTE] [--passphrase-file FILE]\n"
	  "                        [--new-passphrase-file FILE]\n\n"
	  "Asks for the current passphrase and a new one (twice), and seals the\n"
	  "store's key with the new one; nothing else in the store changes. A device\n"
	  "joining then needs the new one. The key itself stays the same: devices that\n"
	  "joined keep working with the key they hold, and a copy of the old key blob\n"
	  "(an old copy of the store) still opens with the old passphrase; to shut it\n"
	  "out for good, move to a new store (docs/sync.md). For scripts:\n"
	  "$DSYNC_PASSPHRASE and $DSYNC_NEW_PASSPHRASE (first line only).\n" },
	{ "check", cmd_check, true, "verify the history and the remote stores",
	  "usage: dsync check [--read-data] [REMOTE] [--quiet]\n\n"
	  "Checks the folder's history as 'git fsck --full' does: every version\n"
	  "reachable from any ref, and every folder, file and chunk in each, read once\n"
	  "with its hash checked, and each pack's index. What is missing or damaged is\n"
	  "listed, one line each (exit status 6). Then REMOTE's store (default: every\n"
	  "remote; with none, it says only the local history was checked): its key\n"
	  "blobs and header verify, every device's manifest decrypts, every pack it\n"
	  "names is there at its size. --read-data also downloads, decrypts and\n"
	  "indexes every pack. Exit status 6 names the first damaged blob; a pack that\n"
	  "can't be read is not called missing. A store holding several key blobs is\n"
	  "explained: an old one still opens it with its old passphrase.\n" },
	{ "gc", cmd_gc, true, "compact the history's store",
	  "usage: dsync gc [--quiet]\n\n"
	  "Packs the history's objects into one pack with deltas, then removes the\n"
	  "loose copies and older packs it holds (each checked in the new pack first).\n"
	  "Hundreds of one-line saves of a large text file then take little more room\n"
	  "than the file itself.\n" },
	{ "watch", cmd_watch, false, "record every save as it happens",
	  "usage: dsync watch [DIR...] [--delay SECONDS] [--max-delay SECONDS]\n"
	  "                   [--rescan-interval SECONDS] [--quiet | --verbose]\n\n"
	  "Watches the folders DIR (default: the current one) and records each change\n"
	  "as a snapshot once the folder has been quiet for the delay (default 1 s;\n"
	  "watch.delay in .dsync/config) and no file is still being written, and at\n"
	  "the latest after the maximum delay (default 30 s; watch.maxDelay) while\n"
	  "writes go on; files still being written then keep their previous version.\n"
	  "When most files vanish at once (an unmounted drive) or the folder itself\n"
	  "goes, it pauses until they return or 'dsync snapshot --allow-mass-delete';\n"
	  "when changed ignore rules would drop most files, until .dsyncignore no\n"
	  "longer does.\n"
	  "When inotify watches run out, it rescans every --rescan-interval seconds\n"
	  "(default 60). Logs go to stderr; SIGTERM or Ctrl-C records what is pending\n"
	  "and stops; SIGHUP reloads the configuration and ignore rules.\n" },
	{ "daemon", cmd_daemon, false, "watch every registered folder",
	  "usage: dsync daemon [--delay SECONDS] [--max-delay SECONDS]\n"
	  "                    [--rescan-interval SECONDS] [--quiet | --verbose]\n\n"
	  "As 'dsync watch', for every folder registered by 'dsync init'\n"
	  "(~/.config/dsync/folders), picking up folders registered while it runs.\n"
	  "A registered folder that is missing (an unmounted drive) is watched for\n"
	  "until it returns. Run it as a systemd user service: see contrib/.\n" },
	{ "help", cmd_help, false, "show help for dsync or a command",
	  "usage: dsync help [COMMAND]\n" },
	{ "version", cmd_version, false, "print dsync's version", "usage: dsync version\n" },
};

static const command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_overview(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: dsync COMMAND [ARGS]\n\n"
		    "dsync keeps the history of a folder: every snapshot is a version you can\n"
		    "browse and restore; remotes keep it, encrypted, in step with your other\n"
		    "devices.\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n'dsync help COMMAND' or 'dsync COMMAND --help' for more.\n"
		    "exit status: 0 done, 1 failed, 2 usage error, 3 conflicts wait,\n"
		    "4 folder locked by another dsync, 5 authentication failed,\n"
		    "6 remote data failed verification.\n");
}

static int cmd_help(int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPTION, { 0 } };
	const command *c;
	int rc;

	while (cmd_getopt(&rc, "help", argc, argv, "h", opts) != -1)
		;
	if (rc >= 0 || (rc = cmd_args("help", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if (optind == argc) {
		print_overview(stdout);
		return 0;
	}
	if ((c = find_command(argv[optind])) == NULL) {
		char q[DSYNC_QUOTE_SIZE];

		out_error("unknown command '%s'; see 'dsync help'", dsync_quote(q, argv[optind]));
		return 2;
	}
	printf("%s", c->usage);
	return 0;
}

int main(int argc, char **argv)
{
	const command *c;
	int error, rc;

	if (argc < 2) {
		print_overview(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_overview(stdout);
		return 0;
	}
	opterr = 0;
	optind = 1;
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	if ((c = find_command(argv[1])) == NULL) {
		char q[DSYNC_QUOTE_SIZE];

		out_error("unknown command '%s'; see 'dsync help'", dsync_quote(q, argv[1]));
		return 2;
	}
	if ((error = dsync_lib_init()) < 0)
		return out_fail(error);
	rc = c->fn(argc - 1, argv + 1);
	dsync_lib_shutdown();
	if (fflush(stdout) != 0 && rc == 0) {
		out_error("cannot write the output");
		rc = 1;
	}
	return rc;
}
