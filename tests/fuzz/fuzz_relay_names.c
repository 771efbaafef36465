/*
 * libFuzzer target for the names a relay reads from the network
 * (transport/relay_proto.h, docs/relay-protocol.md section 3): the first
 * byte picks the function, the rest is its string.  0: a request path for
 * dsync_relay_target_parse; a path taken must hold no '%', no "." or ".."
 * component, and must read back from its parts byte for byte.  1: a listing
 * prefix.  2: a blob name (and, for a manifest, its device and SEQ).  3: a
 * Dsync-Change value, which must print back as it was.  4: a group name,
 * whose folding must be idempotent.  replay.c runs the same function over
 * the seed corpus without clang.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/relay_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* S has no '%', no '.' or '..' component, and no byte outside [!-~]. */
static void plain_path(const char *s)
{
	if (strchr(s, '%') || strstr(s, "/./") || strstr(s, "/../") || strstr(s, "//"))
		abort();
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			abort();
}

static void target(const char *url)
{
	static dsync_relay_target t;
	static const char *const ids[] = {[DSYNC_RELAY_T_GROUP] = ".group", [DSYNC_RELAY_T_LIST] = ".list",
					  [DSYNC_RELAY_T_POLL] = ".poll", [DSYNC_RELAY_T_USAGE] = ".usage",
					  [DSYNC_RELAY_T_DEVICE] = ".device/", [DSYNC_RELAY_T_UPLOAD] = ".upload/",
					  [DSYNC_RELAY_T_BLOB] = ""};
	char again[400];

	if (dsync_relay_target_parse(&t, url) != 0) {
		if (t.kind != DSYNC_RELAY_T_BAD)
			abort();
		return;
	}
	plain_path(url);
	if (t.kind == DSYNC_RELAY_T_ROOT) {
		if (strcmp(url, "/v1/") != 0)
			abort();
		return;
	}
	if (t.kind < DSYNC_RELAY_T_BLOB || t.kind > DSYNC_RELAY_T_UPLOAD || dsync_relay_hex_parse(NULL, t.gid, 32))
		abort();
	if ((t.kind == DSYNC_RELAY_T_DEVICE || t.kind == DSYNC_RELAY_T_UPLOAD) && dsync_relay_hex_parse(NULL, t.name, 32))
		abort();
	if (t.kind == DSYNC_RELAY_T_BLOB && dsync_relay_blob_name_ok(t.name) != 0)
		abort();
	snprintf(again, sizeof(again), "/v1/%s/%s%s", t.gid, ids[t.kind], t.name);
	if (strcmp(again, url) != 0)
		abort();
}

static void prefix(const char *p)
{
	if (dsync_relay_prefix_ok(p) != 0)
		return;
	if (strlen(p) > DSYNC_RELAY_NAME_MAX || strchr(p, '.') || p[0] == '/')
		abort();
	if (*p)
		plain_path(p);
}

static void blob_name(const char *name)
{
	char dev[DSYNC_RELAY_ID_HEX], again[DSYNC_RELAY_NAME_MAX + 1];
	uint64_t seq;

	if (dsync_relay_blob_name_ok(name) != 0) {
		if (dsync_relay_manifest_name(name, dev, &seq) == 0)
			abort();
		return;
	}
	plain_path(name);
	if (strlen(name) > DSYNC_RELAY_NAME_MAX || name[0] == '.' || name[0] == '/' || strchr(name, '.'))
		abort();
	if (dsync_relay_manifest_name(name, dev, &seq) == 0) {
		snprintf(again, sizeof(again), "devices/%s/%016" PRIu64, dev, seq);
		if (strcmp(again, name) != 0)
			abort();
	}
}

static void change(const char *s)
{
	char epoch[17], again[64];
	uint64_t n;

	if (dsync_relay_change_parse(s, epoch, &n) != 0)
		return;
	snprintf(again, sizeof(again), "%s.%" PRIu64, epoch, n);
	if (strcmp(again, s) != 0)
		abort();
}

static void group(const char *name)
{
	char folded[DSYNC_RELAY_GROUP_MAX + 1], twice[DSYNC_RELAY_GROUP_MAX + 1], gid[DSYNC_RELAY_ID_HEX];

	if (dsync_relay_group_fold(folded, name) != 0) {
		if (strchr(dsync_error_last(), '\n'))
			abort();
		return;
	}
	if (!*folded || strlen(folded) > DSYNC_RELAY_GROUP_MAX || dsync_relay_group_fold(twice, folded) != 0 ||
	    strcmp(folded, twice) != 0)
		abort();
	dsync_relay_group_id(gid, folded);
	if (dsync_relay_hex_parse(NULL, gid, 32) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 4096)
		return 0;
	if (!(s = malloc(size)))
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0:
		target(s);
		break;
	case 1:
		prefix(s);
		break;
	case 2:
		blob_name(s);
		break;
	case 3:
		change(s);
		break;
	default:
		group(s);
		break;
	}
	free(s);
	return 0;
}
