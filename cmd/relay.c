/*
 * `dsync relay`: the relay server (docs/relay-protocol.md), run until
 * SIGTERM or Ctrl-C.  Prints "listening on ADDR:PORT" once it accepts (tests
 * and scripts read the port it picked for port 0) and one line per refused
 * request or event on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "dsync/common.h"
#include "dsync/relay.h"
#include "cmd.h"
#include "options.h"
#include "output.h"

/* A size as dsync's other sizes: a number, then K, M, G or T (binary, "KiB"
 * and "KB" alike), a bare number in bytes.  0 for success. */
static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	const char *u;
	char *end;
	unsigned long long v;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		if ((u = strchr(units, *end | 0x20)) == NULL)
			return -1;
		shift = 10 * (int)(u - units + 1);
		end++;
		if ((*end | 0x20) == 'i')
			end++;
		if ((*end | 0x20) == 'b')
			end++;
		if (*end)
			return -1;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void ready(const char *addr, void *payload)
{
	(void)payload;
	printf("listening on %s\n", addr);
	fflush(stdout);
}

/* One log line on stderr, UTC to the millisecond as the watcher's. */
static void log_line(const char *message, void *payload)
{
	struct timeval tv;
	struct tm tm;
	char when[32];

	(void)payload;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s\n", when, (long)(tv.tv_usec / 1000), out_text(message, strlen(message)));
	fflush(stderr);
}

int cmd_relay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data", required_argument, NULL, 'd' },
		{ "s3", required_argument, NULL, 's' },
		{ "s3-spool", required_argument, NULL, 'S' },
		{ "quota", required_argument, NULL, 'q' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "max-blob", required_argument, NULL, 'b' },
		{ "max-groups", required_argument, NULL, 'g' },
		{ "threads", required_argument, NULL, 't' },
		{ "trust-proxy", no_argument, NULL, 'p' },
		CMD_HELP_OPTION,
		{ 0 }
	};
	dsync_relay_config rc_ = { 0 };
	uint64_t n;
	int c, rc, error;

	while ((c = cmd_getopt(&rc, "relay", argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 'l':
			rc_.listen = optarg;
			break;
		case 'd':
			rc_.data_dir = optarg;
			break;
		case 's':
			rc_.s3_url = optarg;
			break;
		case 'S':
			rc_.s3_spool = optarg;
			break;
		case 'q':
		case 'b':
			if (parse_size(optarg, c == 'q' ? &rc_.quota : &rc_.max_blob) < 0)
				return cmd_usage_error("relay", "'%s' is not a size (e.g. 3M, 2G)", optarg);
			break;
		case 'c':
			rc_.tls_cert = optarg;
			break;
		case 'k':
			rc_.tls_key = optarg;
			break;
		case 'g':
		case 't':
			if (parse_size(optarg, &n) < 0 || n == 0 || n > (c == 't' ? 256 : 1000000))
				return cmd_usage_error("relay", "'%s' is not a count taken here", optarg);
			if (c == 'g')
				rc_.max_groups = n;
			else
				rc_.threads = (unsigned)n;
			break;
		case 'p':
			rc_.trust_proxy = true;
			break;
		}
	}
	if (rc >= 0 || (rc = cmd_args("relay", argc, argv, 0, 0, NULL)) >= 0)
		return rc;
	if (!rc_.listen)
		return cmd_usage_msg("relay", "--listen ADDR:PORT is required");
	if (!rc_.data_dir == !rc_.s3_url)
		return cmd_usage_msg("relay", "--data DIR or --s3 URL is required (one of them)");
	if (rc_.s3_spool && !rc_.s3_url)
		return cmd_usage_msg("relay", "--s3-spool goes with --s3");
	if (!rc_.tls_cert != !rc_.tls_key)
		return cmd_usage_msg("relay", "--tls-cert and --tls-key go together");
	rc_.ready = ready;
	rc_.log = log_line;
	if ((error = dsync_relay_run(&rc_)) < 0)
		return out_fail(error);
	return 0;
}
