/*
 * The option parser every command uses, and its usage errors.
 */
#ifndef DSYNC_CMD_OPTIONS_H
#define DSYNC_CMD_OPTIONS_H

#define CMD_HELP_OPTION { "help", no_argument, NULL, 'h' }

struct option;

/* Hands the option parser the function that prints a command's usage (from
 * the table in cmd/main.c) for --help: main() calls this first. */
void cmd_options_init(int (*print_usage)(const char *cmd));

/* Prints a usage error (FMT with ARG, the user's, quoted through
 * dsync_quote: cut and made visible) and where to read more; returns 2. */
int cmd_usage_error(const char *cmd, const char *fmt, const char *arg);
/* As cmd_usage_error() with MSG, the program's own words. */
int cmd_usage_msg(const char *cmd, const char *msg);

/*
 * getopt_long for the command CMD, the same for every command: returns the
 * next option for the command to handle, or -1 when there are no more; *RC
 * is then -1 to go on, or the exit status to return at once: 0 after --help
 * (the usage printed), 2 after an unknown option, an option without its
 * value (or with an empty one), or a value given to an option that takes
 * none.  SHORTOPTS as getopt's (a leading '+' stops at the first argument).
 */
int cmd_getopt(int *rc, const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *opts);

/*
 * Checks the arguments after the options (argv[optind..argc)): none empty,
 * at most MAX (-1: any number; the first one too many is quoted), at least
 * MIN (else MISSING is the message).  Returns -1 to go on, else 2.
 */
int cmd_args(const char *cmd, int argc, char **argv, int min, int max, const char *missing);

#endif
