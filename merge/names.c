/*
 * Conflict copies' names (see merge/names.h and DESIGN.md section 6).
 */
#include "core/base/internal.h"
#include "merge/names.h"

#include <ctype.h>

#define TAG ".sync-conflict-"
#define TAG_LEN (sizeof(TAG) - 1)
#define DEVICE_MAX 32

/*
 * The device name as it goes into a file name: ASCII letters, digits, '_'
 * and '-' kept, anything else '_' (a '.' too, so that the extension is
 * everything after the first '.' that follows the device), at most
 * DEVICE_MAX bytes; a final "-DIGITS" becomes "_DIGITS" (it would read as a
 * clash number).  So a copy's name can be read back (dsync_copyname_parse).
 */
static void safe_device(char *out, const char *device)
{
	size_t i, n = 0;

	for (i = 0; device && device[i] && n < DEVICE_MAX; i++) {
		unsigned char c = (unsigned char)device[i];

		out[n++] = (isalnum(c) || c == '_' || c == '-') && c < 0x80 ? (char)c : '_';
	}
	if (n == 0)
		out[n++] = '_';
	out[n] = '\0';
	for (i = n; i > 0 && isdigit((unsigned char)out[i - 1]); i--)
		;
	if (i > 0 && i < n && out[i - 1] == '-')
		out[i - 1] = '_';
}

/* Shortens a UTF-8 LEN so that it does not end inside a character. */
static size_t utf8_cut(const char *s, size_t len)
{
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

int dsync_copyname_make(dsync_buf *out, const char *path, const char *device, time_t when, unsigned n)
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

/* The last place in NAME where a conflict tag with a valid stamp and a
 * device starts, or NULL. */
static const char *find_tag(const char *name)
{
	const char *p, *found = NULL;

	for (p = strstr(name, TAG); p; p = strstr(p + 1, TAG)) {
		const char *s = p + TAG_LEN;
		int i;

		for (i = 0; i < 15; i++)
			if (i == 8 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
				break;
		if (i == 15 && s[15] == '-' && s[16] && s[16] != '.')
			found = p;
	}
	return found;
}

bool dsync_copyname_is_copy(const char *path)
{
	const char *name = strrchr(path, '/');

	return find_tag(name ? name + 1 : path) != NULL;
}

int dsync_copyname_parse(dsync_copyname_parts *out, const char *path)
{
	const char *name = strrchr(path, '/'), *tag, *s, *dev, *end, *digits;
	struct tm tm;
	size_t len;

	memset(out, 0, sizeof(*out));
	name = name ? name + 1 : path;
	if ((tag = find_tag(name)) == NULL)
		return DSYNC_ENOTFOUND;
	s = tag + TAG_LEN;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d%2d%2d-%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec) != 6)
		return DSYNC_ENOTFOUND;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	out->when = timegm(&tm);
	dev = s + 16;
	end = strchr(dev, '.');
	if (!end)
		end = dev + strlen(dev);
	/* "-N" at the end of the device part: a clash number */
	for (digits = end; digits > dev && isdigit((unsigned char)digits[-1]); digits--)
		;
	out->n = 1;
	if (digits < end && digits - 1 > dev && digits[-1] == '-' && digits[0] != '0') {
		out->n = (unsigned)strtoul(digits, NULL, 10);
		len = (size_t)(digits - 1 - dev);
	} else {
		len = (size_t)(end - dev);
	}
	if (len > DEVICE_MAX)
		len = DEVICE_MAX;
	memcpy(out->device, dev, len);
	out->device[len] = '\0';
	out->dir_len = (size_t)(name - path);
	out->base_end = (size_t)(tag - path);
	out->device_end = (size_t)(dev - path) + len;
	out->ext = (size_t)(end - path);
	return 0;
}

int dsync_copyname_original(dsync_buf *out, const char *path)
{
	dsync_copyname_parts p;
	int error;

	if ((error = dsync_copyname_parse(&p, path)) < 0)
		return error;
	return dsync_buf_put(out, path, p.base_end) < 0 || dsync_buf_puts(out, path + p.ext) < 0 ? -1 : 0;
}

int dsync_copyname_renumber(dsync_buf *out, const char *path, unsigned n)
{
	dsync_copyname_parts p;
	int error;

	if ((error = dsync_copyname_parse(&p, path)) < 0)
		return error;
	if (dsync_buf_put(out, path, p.device_end) < 0 ||
	    (n > 1 && dsync_buf_printf(out, "-%u", n) < 0) || dsync_buf_puts(out, path + p.ext) < 0)
		return -1;
	return 0;
}
