/*
 * The program's commands, one per row of the table in cmd/main.c, by the
 * file that holds them, and what main.c gives every command.
 */
#ifndef DSYNC_CMD_CMD_H
#define DSYNC_CMD_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "dsync/folder.h"
#include "dsync/mirror.h"

/* cmd/main.c */
/* Prints the usage of the command NAME (stdout); returns 0, or 2 for a
 * name not in the table. */
int cmd_print_usage(const char *name);
/* Opens the folder the current directory is in; else prints why and
 * returns the exit status. */
int cmd_open_folder(dsync_folder **f);

/* cmd/snapshot.c */
int cmd_init(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_gc(int argc, char **argv);

/* cmd/history.c */
int cmd_status(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_versions(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_diff(int argc, char **argv);

/* cmd/merge.c */
int cmd_merge(int argc, char **argv);
int cmd_conflicts(int argc, char **argv);
/* Exit status after a merge: 3 while conflicts wait (says so). */
int cmd_conflicts_wait(size_t open);

/* cmd/watch.c */
int cmd_watch(int argc, char **argv);
int cmd_daemon(int argc, char **argv);

/* cmd/pause.c */
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);

/* cmd/prompt.c (besides prompt.h): wipes and frees a secret (may be NULL). */
void cmd_wipe(char *secret);

/* cmd/sync.c */
int cmd_remote(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_passphrase(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* dsync init --relay URL --group NAME: -1 when URL, GROUP and CA_FILE go
 * together (or are all absent), else 2 with the reason. */
int cmd_relay_check_args(const char *url, const char *group, const char *ca_file);
/* The new group's passphrase (--passphrase-file FILE, $DSYNC_PASSPHRASE,
 * or the terminal: generated or typed), checked: 0, else the exit status. */
int cmd_relay_new_passphrase(char **out, const char *url, const char *file);
/* The relay remote 'origin' of the new folder F (the group made, the
 * store in it), and the first push: the exit status. */
int cmd_init_relay(dsync_folder *f, const char *url, const char *group, const char *ca_file, const char *pass);

/* cmd/mirror.c */
int cmd_mirror(int argc, char **argv);
/* Prints mirror NAME's round R as one line ("phone: recorded ...; wrote
 * 3, removed 1" or "phone: up to date"; VERBOSE: what the scan read). */
void cmd_mirror_print(const char *name, const dsync_mirror_result *r, bool verbose);
/* MSG (a mirror's error or pause) without its leading "mirror 'NAME': ",
 * for a line that names the mirror already. */
const char *cmd_mirror_message(const char *msg, const char *name);
/* Prints mirror M as 'dsync mirror list --json' lists it (one object). */
void cmd_mirror_json(const dsync_mirror_info *m);

/* cmd/relay.c */
int cmd_relay(int argc, char **argv);

/* cmd/ui.c */
int cmd_ui(int argc, char **argv);

#endif
