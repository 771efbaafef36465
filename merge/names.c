/*
 * Conflict copies' names (see merge/merge.h and DESIGN.md section 6).
 */
#include "core/base/internal.h"
#include "merge/merge.h"

#include <ctype.h>

#define TAG ".sync-conflict-"
#define TAG_LEN (sizeof(TAG) - 1)
#define DEVICE_MAX 32

/* The device name as it goes into a file name: letters, digits, '.', '_'
 * and '-' kept, anything else '_', at most DEVICE_MAX bytes. */
static void safe_device(char *out, const char *device)
{
	size_t i, n = 0;

	for (i = 0; device && device[i] && n < DEVICE_MAX; i++) {
		unsigned char c = (unsigned char)device[i];

		out[n++] = (isalnum(c) || c == '.' || c == '_' || c == '-') && c < 0x80 ? (char)c : '_';
	}
	if (n == 0)
		out[n++] = '_';
	out[n] = '\0';
}

/* Shortens a UTF-8 LEN so that it does not end inside a character. */
static size_t utf8_cut(const char *s, size_t len)
{
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

int dsync_conflict_name(dsync_buf *out, const char *path, const char *device, time_t when, unsigned n)
{
	const char *name = strrchr(path, '/'), *dot;
	char dev[DEVICE_MAX + 1], stamp[32], clash[16] = "";
	size_t base_len, ext_len, room, fixed;
	struct tm tm;

	name = name ? name + 1 : path;
	dot = strrchr(name, '.');
	/* no extension: none at all, a leading dot only (.bashrc), or a
	 * trailing one */
	if (!dot || dot == name || dot[1] == '\0')
		dot = name + strlen(name);
	base_len = (size_t)(dot - name);
	ext_len = strlen(dot);
	safe_device(dev, device);
	if (!gmtime_r(&when, &tm))
		return dsync_error_set(DSYNC_EUSAGE, "bad time for a conflict copy of '%s'", path);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	if (n > 1)
		snprintf(clash, sizeof(clash), "-%u", n);
	fixed = TAG_LEN + strlen(stamp) + 1 + strlen(dev) + strlen(clash);
	if (ext_len > DSYNC_NAME_MAX / 2)
		ext_len = 0, base_len = strlen(name); /* an "extension" that long is not one */
	room = DSYNC_NAME_MAX - fixed - (ext_len ? ext_len : 0);
	if (base_len > room)
		base_len = utf8_cut(name, room);
	return dsync_buf_put(out, path, (size_t)(name - path)) < 0 ||
	       dsync_buf_put(out, name, base_len) < 0 ||
	       dsync_buf_printf(out, TAG "%s-%s%s", stamp, dev, clash) < 0 ||
	       dsync_buf_put(out, name + strlen(name) - ext_len, ext_len) < 0
		? -1 : 0;
}

bool dsync_is_conflict_copy(const char *path)
{
	const char *name = strrchr(path, '/'), *p;

	name = name ? name + 1 : path;
	for (p = strstr(name, TAG); p; p = strstr(p + 1, TAG)) {
		const char *s = p + TAG_LEN;
		int i;

		for (i = 0; i < 15; i++)
			if (i == 8 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
				break;
		if (i == 15 && s[15] == '-' && s[16] && s[16] != '.')
			return true;
	}
	return false;
}
