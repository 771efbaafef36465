/*
 * Device names (DESIGN.md section 3): the check every name passes before it
 * goes into commits and conflict copies' names, and the name a new folder
 * gets.
 */
#include "core/base/internal.h"
#include "core/folder/device.h"
#include "dsync/folder.h"

#include <unistd.h>

/* The rule a device name breaks, or NULL when it is a good one. */
static const char *device_name_fault(const char *name)
{
	const unsigned char *p;
	size_t len = name ? strlen(name) : 0, n;
	unsigned cp;

	if (len == 0)
		return "it is empty";
	if (len > DSYNC_DEVICE_NAME_MAX)
		return "it is longer than " DSYNC_STR(DSYNC_DEVICE_NAME_MAX) " bytes";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "'.' and '..' are not names";
	if (name[0] == ' ' || name[len - 1] == ' ')
		return "it starts or ends with a space";
	for (p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return "it holds a control character";
		if (*p == '/' || *p == '\\')
			return "it holds '/' or '\\'";
		if (*p == '<' || *p == '>')
			return "it holds '<' or '>'";
	}
	/* the name is shown to people (log, conflicts): text that reads as it
	 * is, in the order it is written */
	for (p = (const unsigned char *)name; *p; p += n) {
		if ((n = dsync_utf8_next(p, &cp)) == 0)
			return "it is not valid UTF-8";
		if (cp >= 0x80 && cp <= 0x9f)
			return "it holds a control character";
		if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			return "it holds a character that reorders text (U+202A to U+202E, U+2066 to U+2069)";
	}
	return NULL;
}

/* The error for a bad device name NAME that FAULT describes, WHERE (or "")
 * saying where it came from. */
static int device_name_error(const char *name, const char *fault, const char *where)
{
	char q[DSYNC_QUOTE_SIZE];

	return dsync_error_set(DSYNC_EUSAGE,
		"bad device name '%s'%s: %s; use printable text of at most " DSYNC_STR(DSYNC_DEVICE_NAME_MAX)
		" bytes of UTF-8 without '/', '\\', '<' or '>'", dsync_quote(q, name ? name : ""), where, fault);
}

int dsync_device_name_check_at(const char *name, const char *where)
{
	const char *fault = device_name_fault(name);

	return fault ? device_name_error(name, fault, where) : 0;
}

int dsync_device_name_check(const char *name)
{
	return dsync_device_name_check_at(name, "");
}

int dsync_device_name_pick(char out[DSYNC_DEVICE_NAME_MAX + 1], const char *name)
{
	char host[256];
	size_t i, len;

	const char *where = "", *fault;

	if (!name || !*name) {
		name = getenv("DSYNC_DEVICE_NAME");
		where = " in $DSYNC_DEVICE_NAME";
	}
	if (name && *name) {
		if ((fault = device_name_fault(name)) != NULL)
			return device_name_error(name, fault, where);
		memcpy(out, name, strlen(name) + 1);
		return 0;
	}
	/* the host name is not the user's choice: made safe, not refused */
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (len = 0; host[len] && len < DSYNC_DEVICE_NAME_MAX; len++) {
		unsigned char c = (unsigned char)host[len];

		out[len] = c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '<' || c == '>' ? '-' : (char)c;
	}
	out[len] = '\0';
	for (i = 0; out[i] == ' '; i++)
		;
	memmove(out, out + i, len - i + 1);
	for (len = strlen(out); len > 0 && out[len - 1] == ' '; len--)
		out[len - 1] = '\0';
	if (device_name_fault(out))
		memcpy(out, "device", sizeof("device"));
	return 0;
}
