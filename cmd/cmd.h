/*
 * The program's commands, one per row of the table in cmd/main.c, by the
 * file that holds them, and what main.c gives every command.
 */
#ifndef DSYNC_CMD_CMD_H
#define DSYNC_CMD_CMD_H

#include <stddef.h>

#include "dsync/folder.h"

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

/* cmd/sync.c */
int cmd_remote(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_passphrase(int argc, char **argv);
int cmd_check(int argc, char **argv);

/* cmd/relay.c */
int cmd_relay(int argc, char **argv);

#endif
