/*
 * The commands that read the history: status, log, versions, show, diff.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsync/common.h"
#include "dsync/folder.h"
#include "dsync/history.h"
#include "dsync/mirror.h"
#include "dsync/status.h"
#include "dsync/snapshot.h"
#include "dsync/sync.h"
#include "cmd.h"
#include "options.h"
#include "output.h"

/* -------------------------------------------------------------- status */

/* How long status waits to reach a relay (a host that is down) */
#define STATUS_CONNECT_MS 3000

/* One line per relay remote of F (its group's usage, asked of the relay:
 * a network call, made only when there are relay remotes; the passphrase
 * is never asked), or with JSON the member ,"relays":[...]. */
static void status_relays(dsync_folder *f, bool json)
{
	dsync_sync_options so = DSYNC_SYNC_OPTIONS_INIT;
	dsync_remote_info *list = NULL;
	uint64_t used, quota;
	char u[32], q[32];
	size_t n, i, shown = 0;
	int error;

	if (json)
		printf(",\"relays\":[");
	if (dsync_remote_list(&list, &n, f) < 0) {
		if (json)
			printf("]");
		return;
	}
	for (i = 0; i < n; i++) {
		if (!list[i].group)
			continue;
		so.connect_timeout_ms = STATUS_CONNECT_MS;
		error = dsync_remote_usage(f, list[i].name, &used, &quota, &so);
		if (json) {
			printf("%s{", shown++ ? "," : "");
			out_json_name(stdout, "remote", list[i].name);
			if (error < 0) {
				printf(",\"error\":");
				out_json_string(stdout, dsync_error_last());
				printf("}");
			} else {
				printf(",\"used\":%llu,\"quota\":%llu}", (unsigned long long)used,
				       (unsigned long long)quota);
			}
		} else if (error < 0) {
			printf("remote %s: usage unknown (%s)\n", list[i].name, out_text(dsync_error_last(),
											strlen(dsync_error_last())));
		} else if (quota == 0) {
			printf("remote %s: %s used (no quota)\n", list[i].name, out_size(u, sizeof(u), used));
		} else {
			/* rounded down, as the round's warning: 99.6% is not full */
			printf("remote %s: %s used of %s (%d%%)\n", list[i].name, out_size(u, sizeof(u), used),
			       out_size(q, sizeof(q), quota), used >= quota ? 100 : (int)((double)used * 100 / (double)quota));
		}
	}
	if (json)
		printf("]");
	dsync_remote_list_free(list, n);
}

/* One line per mirror of F (what its last round left: no network call),
 * or with JSON the member ,"mirrors":[...], each as 'mirror list' has it. */
static void status_mirrors(dsync_folder *f, bool json)
{
	dsync_mirror_info *list = NULL;
	char when[64], today[64];
	time_t now = time(NULL);
	size_t n = 0, i;

	if (json)
		printf(",\"mirrors\":[");
	if (dsync_mirror_list(&list, &n, f) < 0) {
		out_warn("%s", dsync_error_last());
		if (json)
			printf("]");
		return;
	}
	out_time(today, sizeof(today), (int64_t)now);
	for (i = 0; i < n; i++) {
		const dsync_mirror_info *m = &list[i];

		if (json) {
			printf("%s", i ? "," : "");
			cmd_mirror_json(m);
			continue;
		}
		printf("mirror %s: ", out_name(m->name));
		if (m->last_round) {
			/* "14:02" today, else the day too */
			out_time(when, sizeof(when), (int64_t)m->last_round);
			printf("last round %.*s, ", strncmp(when, today, 10) == 0 ? 5 : 16,
			       strncmp(when, today, 10) == 0 ? when + 11 : when);
		} else {
			printf("no round yet%s", m->paused || m->last_error ? ", " : "\n");
		}
		if (m->paused)
			printf("paused: %s\n", out_text(cmd_mirror_message(m->paused, m->name),
							  strlen(cmd_mirror_message(m->paused, m->name))));
		else if (m->last_error)
			printf("last error: %s\n", out_text(cmd_mirror_message(m->last_error, m->name),
							      strlen(cmd_mirror_message(m->last_error, m->name))));
		else if (m->last_round)
			printf("up to date\n");
	}
	if (json)
		printf("]");
	if (list)
		dsync_mirror_list_free(list, n);
}

static void holders_json(const char *key, const dsync_holder *v, size_t n)
{
	size_t i;

	printf(",\"%s\":[", key);
	for (i = 0; i < n; i++) {
		printf("%s{\"name\":", i ? "," : "");
		out_json_string(stdout, v[i].name);
		if (v[i].id) {
			printf(",\"id\":");
			out_json_string(stdout, v[i].id);
		}
		if (strcmp(key, "devices") == 0) {
			printf(",\"this_device\":%s,\"via\":", i == 0 ? "true" : "false");
			if (v[i].via)
				out_json_string(stdout, v[i].via);
			else
				printf("null");
		}
		printf(",\"holds\":%s,\"head\":", v[i].holds ? "true" : "false");
		if (v[i].head[0]) {
			out_json_string(stdout, v[i].head);
			printf(",");
			out_json_time(stdout, "head_time", "head_time_timestamp", v[i].head_time);
		} else {
			printf("null,\"head_time\":null,\"head_time_timestamp\":null");
		}
		if (v[i].since) {
			printf(",");
			out_json_time(stdout, "since", "since_timestamp", v[i].since);
		} else {
			printf(",\"since\":null,\"since_timestamp\":null");
		}
		printf("}");
	}
	printf("]");
}

/* Names of the holders in V that hold it (HOLD) or not, joined into OUT. */
static size_t holders_names(char *out, size_t size, const dsync_holder *v, size_t n, bool hold)
{
	size_t i, k = 0, len = 0;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (v[i].holds != hold)
			continue;
		len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s'%s'", k++ ? ", " : "",
					out_name(v[i].name));
		if (len >= size)
			len = size - 1;
	}
	return k;
}

/* dsync status PATH: which versions exist and who holds the latest. */
static int status_path(dsync_folder *f, const char *user_path, bool json)
{
	dsync_holders h;
	char *rel = NULL, when[64], list[1024];
	size_t i, nd = 0, nr = 0, nm = 0;
	int error;

	if ((error = dsync_folder_relpath(&rel, f, user_path)) < 0)
		return out_fail(error);
	error = dsync_status_holders(&h, f, rel);
	free(rel);
	if (error < 0)
		return out_fail(error);
	for (i = 0; i < h.n_devices; i++)
		nd += h.devices[i].holds;
	for (i = 0; i < h.n_remotes; i++)
		nr += h.remotes[i].holds;
	for (i = 0; i < h.n_mirrors; i++)
		nm += h.mirrors[i].holds;
	if (json) {
		printf("{");
		out_json_name(stdout, "path", h.path);
		printf(",\"exists\":%s,\"type\":\"%s\",\"latest\":", h.exists ? "true" : "false",
		       h.is_dir ? "folder" : "file");
		if (h.exists)
			out_json_string(stdout, h.latest);
		else
			printf("null");
		printf(",\"versions\":%zu", h.versions);
		if (h.versions) {
			printf(",");
			out_json_time(stdout, "newest", "newest_timestamp", h.newest);
			printf(",");
			out_json_time(stdout, "oldest", "oldest_timestamp", h.oldest);
		} else {
			printf(",\"newest\":null,\"newest_timestamp\":null,\"oldest\":null,\"oldest_timestamp\":null");
		}
		holders_json("devices", h.devices, h.n_devices);
		holders_json("remotes", h.remotes, h.n_remotes);
		holders_json("mirrors", h.mirrors, h.n_mirrors);
		printf(",\"only_here\":%s}\n", h.only_here ? "true" : "false");
	} else {
		printf("%s: %zu version%s", *h.path ? out_name(h.path) : "(the whole folder)", h.versions,
		       h.versions == 1 ? "" : "s");
		if (h.versions) {
			printf(", newest %s", out_time(when, sizeof(when), h.newest));
			printf(", oldest %s", out_time(when, sizeof(when), h.oldest));
		}
		printf("\n");
		if (!h.exists) {
			printf("deleted: not in the latest snapshot\n");
		} else {
			printf("latest version on %zu device%s, %zu remote%s", nd, nd == 1 ? "" : "s", nr,
			       nr == 1 ? "" : "s");
			if (h.n_mirrors)
				printf(" and %zu mirror%s", nm, nm == 1 ? "" : "s");
			printf("\n");
			if (holders_names(list, sizeof(list), h.devices, h.n_devices, true))
				printf("  devices holding it: %s\n", list);
			if (holders_names(list, sizeof(list), h.remotes, h.n_remotes, true))
				printf("  remotes holding it: %s\n", list);
			if (holders_names(list, sizeof(list), h.mirrors, h.n_mirrors, true))
				printf("  mirrors holding it: %s\n", list);
			for (i = 1; i < h.n_devices; i++)
				if (h.devices[i].holds && h.devices[i].since)
					printf("  device '%s' has it since %s\n", out_name(h.devices[i].name),
					       out_time(when, sizeof(when), h.devices[i].since));
			for (i = 0; i < h.n_remotes; i++)
				if (h.remotes[i].holds && h.remotes[i].since)
					printf("  remote '%s' has it since %s\n", out_name(h.remotes[i].name),
					       out_time(when, sizeof(when), h.remotes[i].since));
			if (holders_names(list, sizeof(list), h.devices, h.n_devices, false))
				printf("  not yet on device%s %s\n", strchr(list, ',') ? "s" : "", list);
			if (holders_names(list, sizeof(list), h.remotes, h.n_remotes, false))
				printf("  not yet on remote%s %s\n", strchr(list, ',') ? "s" : "", list);
			if (holders_names(list, sizeof(list), h.mirrors, h.n_mirrors, false))
				printf("  not yet on mirror%s %s\n", strchr(list, ',') ? "s" : "", list);
			if (h.only_here)
				printf("only here: no other device, remote or mirror has it yet\n");
		}
	}
	dsync_status_holders_dispose(&h);
	return 0;
}

/* Whether a watcher watches S's folder, and its pause: status --all's lines. */
static void summary_watch_text(const dsync_folder_summary *s)
{
	char when[64];

	if (s->watched && s->watcher_pid)
		printf("  watching (pid %ld)\n", s->watcher_pid);
	else if (s->watched)
		printf("  watching\n");
	else
		printf("  not watched (no dsync daemon or watch running)\n");
	if (!s->paused)
		return;
	if (s->paused_since)
		printf("  paused since %s: ", out_time(when, sizeof(when), s->paused_since));
	else
		printf("  paused: ");
	printf("%s\n", out_text(s->paused_why, strlen(s->paused_why)));
	if (strcmp(s->paused_by, "user") == 0)
		printf("    (by the user: 'dsync resume' ends it)\n");
	else
		printf("    (by the watcher: it ends when %s)\n", out_text(s->paused_until, strlen(s->paused_until)));
}

/* The same in status --all --json (docs/json.md). */
static void summary_watch_json(const dsync_folder_summary *s)
{
	printf(",\"watched\":%s,\"watcher_pid\":", s->watched ? "true" : "false");
	if (s->watched && s->watcher_pid)
		printf("%ld", s->watcher_pid);
	else
		printf("null");
	printf(",\"paused\":%s,\"paused_by\":", s->paused ? "true" : "false");
	if (!s->paused) {
		printf("null,\"paused_why\":null,\"paused_until\":null,\"paused_since\":null,"
		       "\"paused_since_timestamp\":null");
		return;
	}
	out_json_string(stdout, s->paused_by);
	printf(",\"paused_why\":");
	out_json_string(stdout, s->paused_why);
	printf(",\"paused_until\":");
	out_json_string(stdout, s->paused_until);
	printf(",");
	if (s->paused_since)
		out_json_time(stdout, "paused_since", "paused_since_timestamp", s->paused_since);
	else
		printf("\"paused_since\":null,\"paused_since_timestamp\":null");
}

/* One registered folder of dsync status --all. */
/* A remote's space for status --all: ,"used":{...} or ,"used":null. */
static void space_json(const dsync_remote_summary *r)
{
	if (!r->used_known) {
		printf(",\"used\":null");
		return;
	}
	printf(",\"used\":{\"bytes\":%llu,\"store_bytes\":%llu,\"quota\":", (unsigned long long)r->used,
	       (unsigned long long)r->store_bytes);
	if (r->quota)
		printf("%llu,\"percent\":%d,", (unsigned long long)r->quota,
		       (int)(r->used >= r->quota ? 100 : r->used * 100.0 / (double)r->quota));
	else
		printf("null,\"percent\":null,");
	out_json_time(stdout, "time", "timestamp", r->used_time);
	printf("}");
}

/* ", used 1.2 GiB (of 5.0 GiB quota, 24%) as of 14:02" (a date too when
 * not today); nothing when no round recorded it. */
static void space_text(const dsync_remote_summary *r)
{
	char u[32], q[32], when[40];
	time_t now = time(NULL), t = (time_t)r->used_time;
	struct tm tn, tt;

	if (!r->used_known)
		return;
	localtime_r(&now, &tn);
	localtime_r(&t, &tt);
	strftime(when, sizeof(when), tn.tm_year == tt.tm_year && tn.tm_yday == tt.tm_yday ? "%H:%M" : "%Y-%m-%d %H:%M",
		 &tt);
	printf(", used %s", out_size(u, sizeof(u), r->used));
	if (r->quota)
		printf(" (of %s quota, %d%%)", out_size(q, sizeof(q), r->quota),
		       (int)(r->used >= r->quota ? 100 : r->used * 100.0 / (double)r->quota));
	printf(" as of %s", when);
}

static void summary_one(const char *root, bool json, bool first)
{
	dsync_folder_summary s;
	dsync_mirror_info *ml = NULL;
	dsync_folder *f = NULL;
	char when[64];
	size_t nm = 0, i;
	int error;

	if ((error = dsync_folder_open(&f, root)) < 0 || (error = dsync_status_summary(&s, f)) < 0) {
		if (json) {
			printf("%s{", first ? "" : ",");
			out_json_name(stdout, "root", root);
			printf(",\"error\":");
			out_json_string(stdout, dsync_error_last());
			printf("}");
		} else {
			printf("%s\n  cannot be read: %s\n", out_name(root), dsync_error_last());
		}
		dsync_folder_free(f);
		return;
	}
	if (dsync_mirror_list(&ml, &nm, f) < 0)
		nm = 0;
	if (json) {
		printf("%s{", first ? "" : ",");
		out_json_name(stdout, "root", s.root);
		printf(",\"device\":");
		out_json_string(stdout, s.device_name);
		summary_watch_json(&s);
		printf(",\"head\":");
		if (s.head[0]) {
			out_json_string(stdout, s.head);
			printf(",");
			out_json_time(stdout, "last_snapshot", "last_snapshot_timestamp", s.last_snapshot);
		} else {
			printf("null,\"last_snapshot\":null,\"last_snapshot_timestamp\":null");
		}
		printf(",\"conflicts\":%zu,\"remotes\":[", s.conflicts);
		for (i = 0; i < s.n_remotes; i++) {
			printf("%s{", i ? "," : "");
			out_json_name(stdout, "name", s.remotes[i].name);
			printf(",");
			if (s.remotes[i].last_sync)
				out_json_time(stdout, "last_sync", "last_sync_timestamp", s.remotes[i].last_sync);
			else
				printf("\"last_sync\":null,\"last_sync_timestamp\":null");
			printf(",\"has_latest\":%s", s.remotes[i].has_latest ? "true" : "false");
			space_json(&s.remotes[i]);
			printf("}");
		}
		printf("],\"only_here\":%zu,\"only_here_paths\":[", s.only_here);
		for (i = 0; i < s.n_only_here_paths; i++) {
			printf("%s", i ? "," : "");
			out_json_string(stdout, s.only_here_paths[i]);
		}
		printf("],\"mirrors\":[");
		for (i = 0; i < nm; i++) {
			printf("%s{", i ? "," : "");
			out_json_name(stdout, "name", ml[i].name);
			printf(",");
			if (ml[i].last_round)
				out_json_time(stdout, "last_round", "last_round_timestamp", (int64_t)ml[i].last_round);
			else
				printf("\"last_round\":null,\"last_round_timestamp\":null");
			printf(",\"paused\":");
			if (ml[i].paused)
				out_json_string(stdout, ml[i].paused);
			else
				printf("null");
			printf(",\"kept_here\":%zu}", ml[i].n_kept);
		}
		printf("]}");
	} else {
		printf("%s (device '%s')\n", out_name(s.root), out_name(s.device_name));
		summary_watch_text(&s);
		if (s.head[0])
			printf("  last snapshot %s (%.8s)\n", out_time(when, sizeof(when), s.last_snapshot), s.head);
		else
			printf("  no snapshot yet\n");
		for (i = 0; i < s.n_remotes; i++) {
			printf("  remote '%s': ", out_name(s.remotes[i].name));
			if (s.remotes[i].last_sync)
				printf("last sync %s, ", out_time(when, sizeof(when), s.remotes[i].last_sync));
			else
				printf("never synced, ");
			printf("%s", s.remotes[i].has_latest ? "has the latest snapshot"
							      : "has not got the latest snapshot yet");
			space_text(&s.remotes[i]);
			printf("\n");
		}
		for (i = 0; i < nm; i++) {
			printf("  mirror '%s': ", out_name(ml[i].name));
			if (ml[i].paused)
				printf("paused: %s", out_text(ml[i].paused, strlen(ml[i].paused)));
			else if (ml[i].last_round)
				printf("last round %s", out_time(when, sizeof(when), (int64_t)ml[i].last_round));
			else
				printf("no round yet");
			if (ml[i].n_kept)
				printf(", %zu file%s kept only here", ml[i].n_kept, ml[i].n_kept == 1 ? "" : "s");
			printf("\n");
		}
		if (s.head[0])
			printf("  %zu file%s only on this device\n", s.only_here, s.only_here == 1 ? "" : "s");
		if (s.conflicts)
			printf("  %zu conflict%s waiting (dsync conflicts)\n", s.conflicts, s.conflicts == 1 ? "" : "s");
	}
	if (ml)
		dsync_mirror_list_free(ml, nm);
	dsync_status_summary_dispose(&s);
	dsync_folder_free(f);
}

/* dsync status --all: every registered folder. */
static int status_all(bool json)
{
	char **list = NULL;
	size_t n = 0, i;
	int error;

	if ((error = dsync_folder_list_registered(&list, &n)) < 0)
		return out_fail(error);
	if (json)
		printf("{\"folders\":[");
	else if (n == 0)
		printf("no folder registered (dsync init)\n");
	for (i = 0; i < n; i++)
		summary_one(list[i], json, i == 0);
	if (json)
		printf("]}\n");
	dsync_folder_list_free(list);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { "all", no_argument, NULL, 'a' },
					      CMD_HELP_OPTION, { 0 } };
	dsync_changes ch;
	bool all = false;
	dsync_folder *f = NULL;
	bool json = false;
	size_t i;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "status", argc, argv, "h", opts)) != -1)
		if (c == 'j')
			json = true;
		else if (c == 'a')
			all = true;
	if (rc >= 0 || (rc = cmd_args("status", argc, argv, 0, all ? 0 : 1, NULL)) >= 0)
		return rc;
	if (all)
		return status_all(json);
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	if (optind < argc) {
		error = status_path(f, argv[optind], json);
		dsync_folder_free(f);
		return error;
	}
	error = dsync_status(&ch, f, out_warn_cb, NULL);
	if (error < 0) {
		dsync_folder_free(f);
		return out_fail(error);
	}
	if (json) {
		printf("{\"changes\":[");
		for (i = 0; i < ch.n; i++) {
			printf("%s{\"status\":\"%c\",", i ? "," : "", ch.v[i].kind);
			out_json_name(stdout, "path", ch.v[i].path);
			printf("}");
		}
		printf("]");
	} else if (ch.n == 0) {
		printf("nothing changed since the last snapshot\n");
	} else {
		for (i = 0; i < ch.n; i++)
			printf("%c %s\n", ch.v[i].kind, out_name(ch.v[i].path));
	}
	dsync_changes_dispose(&ch);
	fflush(stdout);
	status_relays(f, json);
	status_mirrors(f, json);
	if (json)
		printf("}\n");
	dsync_folder_free(f);
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
		printf("%s{\"status\":\"%c\",", i ? "," : "", ch->v[i].kind);
		out_json_name(stdout, "path", ch->v[i].path);
		if (ch->v[i].old_path) {
			printf(",");
			out_json_name(stdout, "from", ch->v[i].old_path);
		}
		printf("}");
	}
	printf("]");
}

static void print_commit_json(const dsync_commit_info *c)
{
	printf("{\"id\":\"%s\",", c->id);
	out_json_time(stdout, "time", "timestamp", c->time);
	printf(",\"tz_offset\":%d,\"device\":", c->tz_offset);
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
		printf("%s", ctx->first ? "" : ",");
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
		return dsync_error_exit_code(error);
	}
	return 0;
}

int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' }, { "max-count", required_argument, NULL, 'n' },
		{ "all-files", no_argument, NULL, 'a' }, CMD_HELP_OPTION, { 0 }
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
				return cmd_usage_error("log", "bad count '%s'", optarg);
			lo.max = (size_t)v;
			break;
		}
		}
	}
	if (rc >= 0 || (rc = cmd_args("log", argc, argv, 0, 1, NULL)) >= 0)
		return rc;
	if ((error = cmd_open_folder(&f)) != 0)
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
		printf("{\"snapshots\":[");
	error = dsync_history_log(f, &lo, log_cb, &ctx);
	if (ctx.json)
		printf("]}\n");
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
		printf("%s{\"id\":\"%s\",", first ? "" : ",", v->commit->id);
		first = false;
		out_json_time(stdout, "time", "timestamp", v->commit->time);
		printf(",\"tz_offset\":%d,\"device\":", v->commit->tz_offset);
		out_json_string(stdout, v->commit->device_name);
		printf(",\"device_id\":");
		out_json_string(stdout, v->commit->device_id);
		printf(",\"message\":");
		out_json_string(stdout, v->commit->message);
		printf(",\"change\":\"%s\",", what);
		out_json_name(stdout, "path", v->path);
		if (v->old_path) {
			printf(",");
			out_json_name(stdout, "from", v->old_path);
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

int cmd_versions(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, CMD_HELP_OPTION, { 0 } };
	dsync_folder *f = NULL;
	char *rel = NULL;
	bool json = false;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "versions", argc, argv, "h", opts)) != -1)
		if (c == 'j')
			json = true;
	if (rc >= 0 || (rc = cmd_args("versions", argc, argv, 1, 1, "give one file: dsync versions PATH")) >= 0)
		return rc;
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	if ((error = dsync_folder_relpath(&rel, f, argv[optind])) < 0)
		goto out;
	if (!*rel) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_EUSAGE, "'%s' is the folder itself; name a file in it",
					dsync_quote(q, argv[optind]));
		goto out;
	}
	if (json) {
		printf("{");
		out_json_name(stdout, "path", rel);
		printf(",\"versions\":[");
	}
	error = dsync_history_versions(f, rel, version_cb, &json);
	if (json)
		printf("]}\n");
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

int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = { CMD_HELP_OPTION, { 0 } };
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
	if ((error = cmd_open_folder(&f)) != 0)
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

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = { CMD_HELP_OPTION, { 0 } };
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
			return cmd_usage_msg("diff", "an argument is empty ('')");
	for (i = optind; i < (dashdash > 0 ? dashdash : argc); i++) {
		if (nrev == 2)
			return cmd_usage_error("diff", "too many versions: '%s'; put a path after '--'", argv[i]);
		revs[nrev++] = argv[i];
	}
	if (dashdash > 0) {
		if (argc - dashdash > 2)
			return cmd_usage_error("diff", "unexpected argument '%s': give one path after '--'",
					       argv[dashdash + 2]);
		if (argc - dashdash == 2)
			path = argv[dashdash + 1];
	}
	if ((error = cmd_open_folder(&f)) != 0)
		return error;
	if (path && (error = dsync_folder_relpath(&rel, f, path)) < 0)
		goto out;
	error = dsync_history_diff(f, revs[0], nrev == 2 ? revs[1] : NULL, rel, write_stdout, NULL);
out:
	free(rel);
	dsync_folder_free(f);
	return error < 0 ? out_fail(error) : 0;
}
