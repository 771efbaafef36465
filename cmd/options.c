/*
 * The option parser every command uses (cmd_getopt, cmd_args) and the
 * usage errors it and the commands print: the same words and exit status 2
 * for the same mistake in any command.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dsync/common.h"
#include "options.h"
#include "output.h"

/* Prints a command's usage for --help: main.c's, which holds the table,
 * handed in by cmd_options_init() (so this file calls nothing of main.c's
 * directly and the two make no circle). */
static int (*usage_printer)(const char *cmd);

void cmd_options_init(int (*print_usage)(const char *cmd))
{
	usage_printer = print_usage;
}

/* A usage error quoting ARG, the user's (cut and made visible by
 * dsync_quote), as FMT's one %s. */
int cmd_usage_error(const char *cmd, const char *fmt, const char *arg)
{
	char q[DSYNC_QUOTE_SIZE];

	out_error(fmt, dsync_quote(q, arg));
	fprintf(stderr, "see 'dsync help %s'\n", cmd);
	return 2;
}

/* A usage error with MSG, the program's own words. */
int cmd_usage_msg(const char *cmd, const char *msg)
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
		*rc = usage_printer ? usage_printer(cmd) : 2;
		return -1;
	case ':':
		option_name(name, sizeof(name), argv, opts, optopt);
		*rc = cmd_usage_error(cmd, "option '%s' needs a value", name);
		return -1;
	case '?':
		option_name(name, sizeof(name), argv, opts, optopt);
		if (optopt && (o = option_of(opts, optopt)) != NULL && o->has_arg == no_argument &&
		    strchr(argv[optind - 1], '='))
			*rc = cmd_usage_error(cmd, "option '%s' takes no value", name);
		else
			*rc = cmd_usage_error(cmd, "unknown option '%s'", name);
		return -1;
	default:
		/* an empty value is as good as none */
		if ((o = option_of(opts, c)) != NULL && o->has_arg == required_argument && optarg && !*optarg) {
			snprintf(name, sizeof(name), "--%s", o->name);
			*rc = cmd_usage_error(cmd, "option '%s' needs a value, not an empty one", name);
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
			return cmd_usage_msg(cmd, "an argument is empty ('')");
	if (max >= 0 && n > max)
		return cmd_usage_error(cmd, "unexpected argument '%s'", argv[optind + max]);
	if (n < min)
		return cmd_usage_msg(cmd, missing);
	return -1;
}
