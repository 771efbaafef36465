/*
 * The commands that talk to remotes: remote, push, fetch, sync, join,
 * passphrase, check.  Passphrases are asked for by cmd/prompt.c.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/sync.h"
#include "cmd.h"
#include "options.h"
#include "output.h"
#include "prompt.h"

/* A mirror's round in a sync round, told as it ends and printed after
 * the remotes' lines. */
typedef struct mirror_done {
	char *name;
	dsync_mirror_result r;
	int error;
	char *message;
} mirror_done;

/* What the remote commands give the library's callbacks (where passphrases
 * come from, the progress line's state) and the options they share. */
typedef struct pass_source {
	prompt_source src;
	bool quiet;
	bool json;                 /* --json: 'remote list' and 'check' */
	out_rate rate;             /* the progress line's speed */
	const char *step;          /* the transfer it measures ("push", "fetch") */
	char step_remote[80];      /* and the remote's name */
	uint64_t rate_limit;       /* --limit-rate (0: none given; --limit-rate 0 is DSYNC_RATE_UNLIMITED) */
	const char *limit_rate;    /* its text, as remote.NAME.limitRate keeps it */
	const char *ssh;           /* --ssh: auto, openssh or builtin */
	const char *ssh_command;   /* --ssh-command */
	const char *group;         /* --group: a relay's group */
	const char *ca_file;       /* --ca-file: the CA an https relay's certificate is checked against */
	const char *fixed;         /* a passphrase asked already (init --relay): every ask gets it */
	mirror_done *mirrors;      /* the mirrors' rounds, printed after the remotes' lines */
	size_t n_mirrors;
} pass_source;

/* Whether URL names a relay (as the library's transport says: http, https). */
static bool is_relay_url(const char *url)
{
	return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* --group goes with a relay's URL, and a relay's URL needs it: -1 to go
 * on, else 2 with the reason. */
static int relay_args(const char *name, const char *url, const pass_source *p)
{
	if (is_relay_url(url) && (!p->group || !*p->group))
		return cmd_usage_error(name, "%s is a relay: name the group with --group NAME", url);
	if (!is_relay_url(url) && (p->group || p->ca_file))
		return cmd_usage_error(name, "--group and --ca-file are for relays (http:// or https://), not %s", url);
	return -1;
}

/* Reads --limit-rate's VALUE for command NAME into P; -1 to go on, else the
 * exit status (2: a rate not taken). */
static int limit_rate_option(const char *name, const char *value, pass_source *p)
{
	if (dsync_rate_parse(value, &p->rate_limit) < 0)
		return cmd_usage_msg(name, dsync_error_last());
	if (p->rate_limit == 0)   /* no limit, whatever remote.NAME.limitRate says */
		p->rate_limit = DSYNC_RATE_UNLIMITED;
	p->limit_rate = value;
	return -1;
}

/* Reads --ssh's VALUE for command NAME into P; -1 to go on, else 2. */
static int ssh_option(const char *name, const char *value, pass_source *p)
{
	if (strcmp(value, "auto") != 0 && strcmp(value, "openssh") != 0 && strcmp(value, "builtin") != 0)
		return cmd_usage_error(name, "--ssh can't be '%s': give auto, openssh or builtin", value);
	p->ssh = value;
	return -1;
}

/*
 * --ssh and --ssh-command for the connection this command makes before the
 * remote is in the config (remote add, join): the environment the library
 * reads, which wins over the config anyway (DSYNC_SSH, DSYNC_SSH_COMMAND).
 */
static void ssh_env(const pass_source *p)
{
	if (p->ssh)
		setenv("DSYNC_SSH", p->ssh, 1);
	if (p->ssh_command)
		setenv("DSYNC_SSH_COMMAND", p->ssh_command, 1);
}

/* Keeps --ssh, --ssh-command and (with RATE) --limit-rate as remote NAME's
 * settings in F. */
static int keep_settings(dsync_folder *f, const char *name, const pass_source *p, bool rate)
{
	int error = 0;

	if (p->ssh && (error = dsync_remote_set(f, name, "ssh", p->ssh)) < 0)
		return error;
	if (p->ssh_command && (error = dsync_remote_set(f, name, "sshCommand", p->ssh_command)) < 0)
		return error;
	if (rate && p->limit_rate && (error = dsync_remote_set(f, name, "limitRate", p->limit_rate)) < 0)
		return error;
	return 0;
}

static int ask_pass(char **out, int kind, const char *url, void *payload)
{
	pass_source *p = payload;

	if (p->fixed)
		return (*out = strdup(p->fixed)) ? 0 : dsync_error_set(DSYNC_ERROR, "out of memory");
	return prompt_passphrase(out, kind, url, &p->src);
}

static void on_progress(const dsync_transfer *t, void *payload)
{
	pass_source *p = payload;
	char label[160];

	if (p->quiet)
		return;
	if (strcmp(t->what, "pack") == 0) {
		if (t->done)
			out_progress_done();
		else
			out_progress_text(false, "%s: packing %zu/%zu objects", t->remote, t->objects, t->objects_total);
		return;
	}
	if (!t->remote) {   /* the local history ("history"); a store is checked next */
		if (t->done)
			out_progress_done();
		else
			out_progress_text(false, "checking the history: %zu objects", t->objects);
		return;
	}
	if (!p->step || strcmp(p->step, t->what) != 0 ||
	    strncmp(p->step_remote, t->remote, sizeof(p->step_remote)) != 0) {
		p->step = t->what;
		snprintf(p->step_remote, sizeof(p->step_remote), "%s", t->remote);
		out_rate_start(&p->rate);
	}
	snprintf(label, sizeof(label), "%s %s", t->what, out_text(t->remote, strlen(t->remote)));
	out_transfer_progress(&p->rate, label, t->bytes, t->bytes_total, t->objects, t->done);
	if (t->done)
		p->step = NULL;
}

/* dsync_sync_options.mirror_done: kept for report_mirrors(). */
static void on_mirror_done(const char *name, const dsync_mirror_result *r, int error, void *payload)
{
	pass_source *p = payload;
	mirror_done *v = realloc(p->mirrors, (p->n_mirrors + 1) * sizeof(*v));

	if (!v)
		return;
	p->mirrors = v;
	v += p->n_mirrors;
	v->name = strdup(name);
	v->r = *r;
	v->error = error;
	v->message = error < 0 ? strdup(dsync_error_last()) : NULL;
	if (v->name)
		p->n_mirrors++;
}

/* The mirrors' lines (their errors on stderr); frees what P kept of them. */
static void report_mirrors(pass_source *p)
{
	size_t i;

	out_progress_done();
	for (i = 0; i < p->n_mirrors; i++) {
		mirror_done *m = &p->mirrors[i];
		const char *msg = m->message ? m->message : "the round failed";

		if (m->error < 0 && strncmp(msg, "mirror '", 8) == 0)
			out_error("%s", msg);
		else if (m->error < 0)
			out_error("mirror '%s': %s", m->name, msg);
		else if (!p->quiet && !m->r.skipped)
			cmd_mirror_print(m->name, &m->r, false);
		free(m->name);
		free(m->message);
	}
	free(p->mirrors);
	p->mirrors = NULL;
	p->n_mirrors = 0;
}

static void sync_options(dsync_sync_options *so, pass_source *p)
{
	so->lock_wait_ms = DSYNC_LOCK_WAIT_MS;
	so->passphrase = ask_pass;
	so->progress = on_progress;
	so->warn = out_warn_cb;
	/* what ssh asks (a key's passphrase, a password, an unknown host key)
	 * only where someone can answer; the watcher never sets it */
	so->prompt = prompt_have_tty() ? prompt_ssh : NULL;
	so->payload = p;
	so->rate_limit = p->rate_limit;
	so->relay_group = p->group;
	so->relay_ca_file = p->ca_file;
	so->mirror_done = on_mirror_done;
}

/* The options most remote commands share; returns -1 to go on. */
static int parse_common(const char *name, int argc, char **argv, pass_source *p, bool *read_data)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "new-passphrase-file", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "read-data", no_argument, NULL, 'r' },
		{ "limit-rate", required_argument, NULL, 'L' },
		{ "ssh", required_argument, NULL, 'S' },
		{ "ssh-command", required_argument, NULL, 'C' },
		{ "group", required_argument, NULL, 'g' },
		{ "ca-file", required_argument, NULL, 'A' },
		CMD_HELP_OPTION,
		{ 0 }
	};
	int c, rc;

	while ((c = cmd_getopt(&rc, name, argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case 'L':
			if (strcmp(name, "passphrase") == 0)
				return cmd_usage_error(name, "unknown option '%s'", "--limit-rate");
			if ((rc = limit_rate_option(name, optarg, p)) >= 0)
				return rc;
			break;
		case 'S':
		case 'C':
			/* 'remote' takes them only for 'add' (checked there) */
			if (strcmp(name, "remote") != 0)
				return cmd_usage_error(name, "unknown option '%s'", c == 'S' ? "--ssh" : "--ssh-command");
			if (c == 'S' && (rc = ssh_option(name, optarg, p)) >= 0)
				return rc;
			if (c == 'C')
				p->ssh_command = optarg;
			break;
		case 'g':
		case 'A':
			/* 'remote' takes them only for 'add' (checked there) */
			if (strcmp(name, "remote") != 0)
				return cmd_usage_error(name, "unknown option '%s'", c == 'g' ? "--group" : "--ca-file");
			if (c == 'g')
				p->group = optarg;
			else
				p->ca_file = optarg;
			break;
		case 'p':
			p->src.file = optarg;
			break;
		case 'N':
			if (strcmp(name, "passphrase") != 0)
				return cmd_usage_error(name, "unknown option '%s'", "--new-passphrase-file");
			p->src.new_file = optarg;
			break;
		case 'q':
			p->quiet = true;
			break;
		case 'j':
			/* 'remote' takes it only for 'list' (checked there) */
			if (strcmp(name, "remote") != 0 && strcmp(name, "check") != 0)
				return cmd_usage_error(name, "unknown option '%s'", "--json");
			p->json = true;
			break;
		case 'r':
			if (!read_data)
				return cmd_usage_error(name, "unknown option '%s'", "--read-data");
			*read_data = true;
			break;
		}
	}
	return rc;
}

static void report_round(const dsync_sync_result *r, unsigned what, bool quiet)
{
	char size[32];

	out_progress_done();
	if (quiet)
		return;
	if (r->join_finished)
		printf("finished the join that was cut off in this folder\n");
	if ((what & DSYNC_SYNC_FETCH) && r->remotes) {
		if (r->packs_fetched)
			printf("fetched %zu pack%s (%s) from %zu device%s\n", r->packs_fetched,
			       r->packs_fetched == 1 ? "" : "s", out_size(size, sizeof(size), r->bytes_fetched),
			       r->devices, r->devices == 1 ? "" : "s");
		else
			printf("nothing new to fetch (%zu other device%s)\n", r->devices, r->devices == 1 ? "" : "s");
	}
	if ((what & DSYNC_SYNC_MERGE) && r->merge.merged)
		printf("%s %.8s: %zu file%s written, %zu removed, %zu new conflict%s\n",
		       r->merge.fast_forward ? "fast-forwarded to" : "merged into", r->merge.head, r->merge.written,
		       r->merge.written == 1 ? "" : "s", r->merge.removed, r->merge.conflicts,
		       r->merge.conflicts == 1 ? "" : "s");
	if ((what & DSYNC_SYNC_PUSH) && r->remotes) {
		if (r->pushed)
			printf("pushed %zu object%s (%s)%s\n", r->objects_pushed, r->objects_pushed == 1 ? "" : "s",
			       out_size(size, sizeof(size), r->bytes_pushed),
			       r->consolidated ? "; this device's small packs were consolidated" : "");
		else
			printf("the remote%s already had%s this folder's history\n", r->remotes == 1 ? "" : "s",
			       r->remotes == 1 ? "" : " all");
		/* a push cut off earlier had sent these: not sent again */
		if (r->packs_reused)
			printf("reused %zu pack%s (%s) that a push cut off had sent\n", r->packs_reused,
			       r->packs_reused == 1 ? "" : "s", out_size(size, sizeof(size), r->bytes_reused));
	}
}

static int run_round(const char *name, unsigned what, int argc, char **argv)
{
	pass_source p = { 0 };
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result r;
	dsync_folder *f = NULL;
	const char *remote = NULL;
	int rc, error;

	if ((rc = parse_common(name, argc, argv, &p, NULL)) >= 0 ||
	    (rc = cmd_args(name, argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if (optind < argc)
		remote = argv[optind++];
	if ((rc = cmd_open_folder(&f)) != 0)
		return rc;
	sync_options(&so, &p);
	error = dsync_sync(&r, f, remote, what, &so);
	dsync_folder_free(f);
	/* a mirror's failure comes after the rest of the round went: the
	 * round is reported, then the mirror's error (printed with its line) */
	if (error < 0 && !r.mirror_error) {
		report_mirrors(&p);
		return out_fail(error);
	}
	report_round(&r, what, p.quiet);
	report_mirrors(&p);
	if (error < 0)
		return dsync_error_exit_code(error);
	return (what & DSYNC_SYNC_MERGE) ? cmd_conflicts_wait(r.merge.open_conflicts) : 0;
}

int cmd_push(int argc, char **argv)
{
	return run_round("push", DSYNC_SYNC_PUSH, argc, argv);
}

int cmd_fetch(int argc, char **argv)
{
	return run_round("fetch", DSYNC_SYNC_FETCH, argc, argv);
}

int cmd_sync(int argc, char **argv)
{
	return run_round("sync", DSYNC_SYNC_ALL, argc, argv);
}

/* The setting KEY of 'remote set' as the config names it (ssh, sshCommand,
 * limitRate; the option's spelling and any case taken), or NULL. */
static const char *setting_key(const char *key)
{
	if (strcasecmp(key, "ssh") == 0)
		return "ssh";
	if (strcasecmp(key, "sshCommand") == 0 || strcasecmp(key, "ssh-command") == 0)
		return "sshCommand";
	if (strcasecmp(key, "limitRate") == 0 || strcasecmp(key, "limit-rate") == 0)
		return "limitRate";
	if (strcasecmp(key, "caFile") == 0 || strcasecmp(key, "ca-file") == 0)
		return "caFile";
	return NULL;
}

/* remote set NAME KEY VALUE, remote unset NAME KEY (VALUE NULL). */
static int remote_set(dsync_folder *f, const char *name, const char *key, const char *value, bool quiet)
{
	const char *k = setting_key(key);
	int error;

	if (!k)
		return cmd_usage_error("remote", "unknown setting '%s' (ssh, sshCommand, limitRate, caFile)", key);
	if ((error = dsync_remote_set(f, name, k, value)) < 0)
		return out_fail(error);
	if (!quiet) {
		if (value)
			printf("remote '%s': %s = %s\n", name, k, out_text(value, strlen(value)));
		else
			printf("remote '%s': %s unset\n", name, k);
	}
	return 0;
}

/* 'remote list --json': {"remotes":[{"name":..,"url":..,"store_id":..,"group":..|null}]} */
static void remote_list_json(const dsync_remote_info *list, size_t n)
{
	size_t i;

	printf("{\"remotes\":[");
	for (i = 0; i < n; i++) {
		printf("%s{", i ? "," : "");
		out_json_name(stdout, "name", list[i].name);
		printf(",");
		out_json_name(stdout, "url", list[i].url);
		printf(",\"store_id\":");
		if (list[i].store_id)
			out_json_string(stdout, list[i].store_id);
		else
			printf("null");
		printf(",\"group\":");
		if (list[i].group)
			out_json_string(stdout, list[i].group);
		else
			printf("null");
		printf("}");
	}
	printf("]}\n");
}

int cmd_remote(int argc, char **argv)
{
	pass_source p = { 0 };
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_remote_info *list = NULL;
	dsync_folder *f = NULL;
	const char *sub;
	size_t n, i;
	bool created = false;
	int rc, error = 0;

	if ((rc = parse_common("remote", argc, argv, &p, NULL)) >= 0 ||
	    (rc = cmd_args("remote", argc, argv, 0, -1, NULL)) >= 0)
		return rc;
	sub = optind < argc ? argv[optind++] : "list";
	if (strcmp(sub, "add") == 0)
		rc = cmd_args("remote", argc, argv, 2, 2, "name it and say where: dsync remote add NAME URL");
	else if (strcmp(sub, "remove") == 0 || strcmp(sub, "rm") == 0)
		rc = cmd_args("remote", argc, argv, 1, 1, "name the remote: dsync remote remove NAME");
	else if (strcmp(sub, "list") == 0)
		rc = cmd_args("remote", argc, argv, 0, 0, NULL);
	else if (strcmp(sub, "set") == 0)
		rc = cmd_args("remote", argc, argv, 3, 3,
			      "name the remote, the setting and its value: dsync remote set NAME ssh builtin");
	else if (strcmp(sub, "unset") == 0)
		rc = cmd_args("remote", argc, argv, 2, 2, "name the remote and the setting: dsync remote unset NAME ssh");
	else if (strcmp(sub, "passphrase") == 0)
		rc = cmd_args("remote", argc, argv, 1, 1, "name the remote: dsync remote passphrase NAME");
	else
		return cmd_usage_error("remote", "unknown subcommand '%s' (add, list, remove, set, unset, passphrase)",
				       sub);
	if (rc >= 0)
		return rc;
	if (p.json && strcmp(sub, "list") != 0)
		return cmd_usage_msg("remote", "--json goes with 'remote list'");
	if (strcmp(sub, "add") != 0 && (p.ssh || p.ssh_command || p.limit_rate || p.group || p.ca_file))
		return cmd_usage_msg("remote", "--ssh, --ssh-command, --limit-rate, --group and --ca-file go with "
					       "'remote add' (later: dsync remote set NAME KEY VALUE)");
	if (strcmp(sub, "add") == 0 && (rc = relay_args("remote", argv[optind + 1], &p)) >= 0)
		return rc;
	if ((rc = cmd_open_folder(&f)) != 0)
		return rc;
	sync_options(&so, &p);
	if (strcmp(sub, "add") == 0) {
		ssh_env(&p);
		error = dsync_remote_add(f, argv[optind], argv[optind + 1], &created, &so);
		if (error == 0)
			error = keep_settings(f, argv[optind], &p, true);
		out_progress_done();
		if (error == 0 && !p.quiet) {
			/* the URL as kept (an ssh address normalised), so a misread shows */
			const char *url = argv[optind + 1];

			if (dsync_remote_list(&list, &n, f) == 0) {
				for (i = 0; i < n; i++)
					if (strcmp(list[i].name, argv[optind]) == 0)
						url = list[i].url;
			}
			if (created)
				printf("created an encrypted store at %s and added it as '%s'\n"
				       "'dsync sync' sends this folder's history there\n", out_name(url), argv[optind]);
			else
				printf("added '%s' (%s)\n'dsync sync' merges its history into this folder\n", argv[optind],
				       out_name(url));
			if (list)
				dsync_remote_list_free(list, n);
		}
	} else if (strcmp(sub, "list") == 0) {
		if ((error = dsync_remote_list(&list, &n, f)) == 0 && p.json) {
			remote_list_json(list, n);
			dsync_remote_list_free(list, n);
		} else if (error == 0) {
			for (i = 0; i < n; i++) {
				/* a relay: its group too (a third column) */
				printf("%s\t%s", list[i].name, out_name(list[i].url));
				if (list[i].group)
					printf("\tgroup %s", out_text(list[i].group, strlen(list[i].group)));
				printf("\n");
			}
			dsync_remote_list_free(list, n);
		}
	} else if (strcmp(sub, "passphrase") == 0) {
		/* the group's passphrase was changed on another device */
		error = dsync_remote_passphrase(f, argv[optind], &so);
		if (error == 0 && !p.quiet)
			printf("remote '%s': the group's new passphrase is taken; its token is kept for the next "
			       "rounds\n", argv[optind]);
	} else if (strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0) {
		rc = remote_set(f, argv[optind], argv[optind + 1], sub[0] == 's' ? argv[optind + 2] : NULL, p.quiet);
		dsync_folder_free(f);
		return rc;
	} else {
		error = dsync_remote_remove(f, argv[optind]);
		if (error == 0 && !p.quiet)
			printf("removed remote '%s' (the store itself is untouched)\n", argv[optind]);
	}
	dsync_folder_free(f);
	return error < 0 ? out_fail(error) : 0;
}

int cmd_join(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "device-name", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "limit-rate", required_argument, NULL, 'L' },
		{ "ssh", required_argument, NULL, 'S' },
		{ "ssh-command", required_argument, NULL, 'C' },
		{ "relay", required_argument, NULL, 'R' },
		{ "group", required_argument, NULL, 'g' },
		{ "ca-file", required_argument, NULL, 'A' },
		CMD_HELP_OPTION,
		{ 0 }
	};
	pass_source p = { 0 };
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result r;
	dsync_folder *f = NULL;
	const char *url = NULL, *dir = NULL, *name = NULL, *device = NULL;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "join", argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case 'L':
			if ((rc = limit_rate_option("join", optarg, &p)) >= 0)
				return rc;
			break;
		case 'S':
			if ((rc = ssh_option("join", optarg, &p)) >= 0)
				return rc;
			break;
		case 'C':
			p.ssh_command = optarg;
			break;
		case 'R':
			if (!is_relay_url(optarg))
				return cmd_usage_error("join", "--relay takes a relay's URL (http:// or https://), not %s",
						       optarg);
			url = optarg;
			break;
		case 'g':
			p.group = optarg;
			break;
		case 'A':
			p.ca_file = optarg;
			break;
		case 'p':
			p.src.file = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'q':
			p.quiet = true;
			break;
		}
	}
	if (rc >= 0 || (rc = cmd_args("join", argc, argv, url ? 0 : 1, url ? 1 : 2,
				      "name the store: dsync join URL [DIR] (a relay: dsync join --relay URL --group "
				      "NAME [DIR])")) >= 0)
		return rc;
	if (!url)
		url = argv[optind++];
	if (optind < argc)
		dir = argv[optind++];
	if ((rc = relay_args("join", url, &p)) >= 0)
		return rc;
	sync_options(&so, &p);
	ssh_env(&p);
	error = dsync_join(&f, &r, url, dir, name, device, &so);
	if (error < 0)
		return out_fail(error);
	/* how the host is reached stays; the rate was for this join */
	if (keep_settings(f, name ? name : "origin", &p, false) < 0)
		out_warn("%s", dsync_error_last());
	report_round(&r, DSYNC_SYNC_ALL, p.quiet);
	report_mirrors(&p);
	if (!p.quiet)
		printf("'%s' is now a dsync folder kept in step with %s\n",
		       out_text(dsync_folder_root(f), strlen(dsync_folder_root(f))), out_name(url));
	dsync_folder_free(f);
	return cmd_conflicts_wait(r.merge.open_conflicts);
}

/* The name of F's remote REMOTE (NULL: the only one) when it is a relay
 * group (malloc'd), else NULL. */
static char *remote_is_relay(dsync_folder *f, const char *remote)
{
	dsync_remote_info *list = NULL;
	char *name = NULL;
	size_t n, i;

	if (dsync_remote_list(&list, &n, f) < 0) {
		dsync_error_clear();
		return NULL;
	}
	for (i = 0; i < n; i++)
		if ((remote ? strcmp(list[i].name, remote) == 0 : n == 1) && list[i].group)
			name = strdup(list[i].name);
	dsync_remote_list_free(list, n);
	return name;
}

int cmd_passphrase(int argc, char **argv)
{
	pass_source p = { 0 };
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_folder *f = NULL;
	const char *remote = NULL;
	char *relay;
	int rc, error;

	p.src.changing = true;
	if ((rc = parse_common("passphrase", argc, argv, &p, NULL)) >= 0 ||
	    (rc = cmd_args("passphrase", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if (optind < argc)
		remote = argv[optind++];
	if ((rc = cmd_open_folder(&f)) != 0)
		return rc;
	relay = remote_is_relay(f, remote);
	p.src.relay = relay != NULL;   /* a new one is offered generated, as at init */
	sync_options(&so, &p);
	error = dsync_passphrase_change(f, remote, &so);
	dsync_folder_free(f);
	if (error < 0)
		return out_fail(error);
	/* what a change does and doesn't do (docs/sync.md, docs/relays.md) */
	if (!p.quiet && relay)
		printf("passphrase changed: the store's key is sealed with the new one and the relay now takes\n"
		       "only its token. Every other device of the group is refused (exit 5) until it is given\n"
		       "the new one there: dsync remote passphrase %s\n", relay);
	else if (!p.quiet)
		printf("passphrase changed: the store's key is sealed with the new one, and a device joining\n"
		       "now needs it. The key itself is the same: devices that joined keep working, and a\n"
		       "copy of the old key blob (an old copy of the store) still opens with the old one.\n");
	free(relay);
	return 0;
}

/* 'check --json': one object, the counts of dsync_check_result (ERROR < 0:
 * a store could not be checked, the error goes to stderr after it). */
static void check_json(const dsync_check_result *r, const char *remote, bool read_data, int error)
{
	size_t i;

	printf("{\"ok\":%s,\"remote\":", error == 0 && r->nproblems == 0 ? "true" : "false");
	if (remote)
		out_json_string(stdout, remote);
	else
		printf("null");
	printf(",\"error\":");
	if (error < 0)
		out_json_string(stdout, dsync_error_last());
	else
		printf("null");
	printf(",\"history\":{\"walked\":%s,\"versions\":%zu,\"objects\":%zu,\"problems_total\":%zu,"
	       "\"problems\":[", r->walked ? "true" : "false", r->versions, r->objects, r->nproblems);
	for (i = 0; i < r->nproblems && i < DSYNC_CHECK_LISTED && r->problems; i++) {
		printf("%s", i ? "," : "");
		out_json_string(stdout, r->problems[i]);
	}
	printf("]},\"stores\":{\"checked\":%zu,\"keys\":%zu,\"manifests\":%zu,\"packs\":%zu,"
	       "\"read_data\":%s,\"packs_read\":%zu,\"bytes_read\":%llu,\"packs_unnamed\":%zu,"
	       "\"bytes_unnamed\":%llu}}\n",
	       r->stores, r->keys, r->manifests, r->packs, read_data ? "true" : "false", r->packs_read,
	       (unsigned long long)r->bytes_read, r->packs_unnamed, (unsigned long long)r->bytes_unnamed);
}

int cmd_check(int argc, char **argv)
{
	pass_source p = { 0 };
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_check_result r;
	dsync_folder *f = NULL;
	const char *remote = NULL;
	bool read_data = false;
	char size[32];
	size_t i;
	int rc, error;

	if ((rc = parse_common("check", argc, argv, &p, &read_data)) >= 0 ||
	    (rc = cmd_args("check", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if (optind < argc)
		remote = argv[optind++];
	if ((rc = cmd_open_folder(&f)) != 0)
		return rc;
	sync_options(&so, &p);
	if (p.json)
		p.quiet = true;   /* no progress: stdout holds the JSON alone */
	error = dsync_check(&r, f, remote, read_data, &so);
	dsync_folder_free(f);
	out_progress_done();
	if (p.json) {
		check_json(&r, remote, read_data, error);
		dsync_check_result_dispose(&r);
		fflush(stdout);
		return error < 0 ? out_fail(error) : 0;
	}
	/* the local history's damage is shown even when a store failed too */
	if (r.nproblems) {
		printf("history: %zu problem%s (%zu version%s, %zu objects intact):\n", r.nproblems,
		       r.nproblems == 1 ? "" : "s", r.versions, r.versions == 1 ? "" : "s", r.objects);
		for (i = 0; i < r.nproblems && i < DSYNC_CHECK_LISTED; i++)
			printf("  %s\n", out_text(r.problems[i], strlen(r.problems[i])));
		if (r.nproblems > DSYNC_CHECK_LISTED)
			printf("  ... and %zu more\n", r.nproblems - DSYNC_CHECK_LISTED);
	} else if (!p.quiet && r.walked) {
		printf("history: %zu version%s, %zu objects ok\n", r.versions, r.versions == 1 ? "" : "s", r.objects);
	}
	if (!p.quiet && r.walked && r.stores == 0 && (error == 0 || r.nproblems))
		printf("no remote: only the local history was checked\n");
	if (!p.quiet && r.keys > r.stores)
		printf("note: a store holds %zu key blobs: each still opens it with the passphrase it was sealed with, "
		       "an old one too (a passphrase change was cut short?); 'dsync passphrase' keeps only the "
		       "new one\n", r.keys);
	if (!p.quiet && r.packs_unnamed)
		printf("note: %zu pack%s (%s) %s named by no manifest: left by a push cut off; the device that "
		       "wrote them reuses them or deletes them after a day\n", r.packs_unnamed,
		       r.packs_unnamed == 1 ? "" : "s", out_size(size, sizeof(size), r.bytes_unnamed),
		       r.packs_unnamed == 1 ? "is" : "are");
	if (!p.quiet && r.manifests && (error == 0 || r.nproblems)) {
		printf("store: %zu manifest%s, %zu pack%s present%s", r.manifests, r.manifests == 1 ? "" : "s",
		       r.packs, r.packs == 1 ? "" : "s", read_data ? "" : "\n");
		if (read_data)
			printf(", %zu decrypted and indexed (%s)\n", r.packs_read,
			       out_size(size, sizeof(size), r.bytes_read));
	}
	dsync_check_result_dispose(&r);
	fflush(stdout);   /* the list above, then the error below it */
	if (error < 0)
		return out_fail(error);
	return 0;
}

int cmd_relay_check_args(const char *url, const char *group, const char *ca_file)
{
	pass_source p = { 0 };

	if (!url) {
		if (group || ca_file)
			return cmd_usage_msg("init", "--group and --ca-file go with --relay URL");
		return -1;
	}
	if (!is_relay_url(url))
		return cmd_usage_error("init", "--relay takes a relay's URL (http:// or https://), not %s", url);
	p.group = group;
	p.ca_file = ca_file;
	return relay_args("init", url, &p);
}

int cmd_relay_new_passphrase(char **out, const char *url, const char *file)
{
	prompt_source src = { 0 };
	int error;

	src.file = file;
	if ((error = prompt_new_group_passphrase(out, url, &src)) < 0)
		return out_fail(error);
	return 0;
}

int cmd_init_relay(dsync_folder *f, const char *url, const char *group, const char *ca_file, const char *pass)
{
	pass_source p = { 0 };
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_sync_result r;
	bool created = false;
	int error;

	p.group = group;
	p.ca_file = ca_file;
	p.fixed = pass;
	sync_options(&so, &p);
	so.relay_create = true;
	if ((error = dsync_remote_add(f, "origin", url, &created, &so)) < 0) {
		out_progress_done();
		return out_fail(error);
	}
	out_progress_done();
	printf("%s relay group '%s' at %s as remote 'origin'\n", created ? "created the" : "added the",
	       out_text(group, strlen(group)), out_name(url));
	/* the first push (a group that had a store already: merged first) */
	if ((error = dsync_sync(&r, f, "origin", DSYNC_SYNC_ALL, &so)) < 0)
		return out_fail(error);
	report_round(&r, DSYNC_SYNC_ALL, false);
	report_mirrors(&p);
	printf("other devices join with: dsync join --relay %s --group '%s' DIR\n", out_name(url),
	       out_text(group, strlen(group)));
	return cmd_conflicts_wait(r.merge.open_conflicts);
}
