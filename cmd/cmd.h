/*
 * What the command files share: usage errors, help, opening the folder.
 */
#ifndef DSYNC_CMD_CMD_H
#define DSYNC_CMD_CMD_H

#include <stddef.h>

#include "dsync/folder.h"

#define HELP_OPTION { "help", no_argument, NULL, 'h' }
#define LOCK_WAIT_MS 5000

int usage_error(const char *cmd, const char *fmt, const char *arg);
int bad_option(const char *cmd, char **argv);
int print_usage(const char *name);
int open_folder(dsync_folder **f);
/* Exit status after a merge: 3 while conflicts wait (says so). */
int conflicts_wait(size_t open);

/* cmd/sync.c */
int cmd_remote(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_passphrase(int argc, char **argv);
int cmd_check(int argc, char **argv);

#endif
