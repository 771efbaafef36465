/*
 * UTF-8 for messages: decoding one character, and quoting what a user typed
 * so an error stays one readable line (include/dsync/common.h).
 */
#include "core/base/internal.h"

size_t dsync_utf8_next(const unsigned char *s, unsigned *cp)
{
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) || (n == 4 && *cp < 0x10000) || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* Length of the valid UTF-8 sequence at S (0 when invalid). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned cp;

	return dsync_utf8_next(s, &cp);
}

const char *dsync_quote(char buf[DSYNC_QUOTE_SIZE], const char *arg)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(arg ? arg : "");
	size_t used = 0, o = 0, n;

	/* each byte kept takes at most 4 bytes here: 60 * 4 + "…" fits */
	while (*p) {
		n = utf8_len(p);
		if (used + (n ? n : 1) > DSYNC_QUOTE_KEEP) {
			memcpy(buf + o, "\xe2\x80\xa6", 3); /* … */
			o += 3;
			break;
		}
		/* a character that reorders the text around it (U+202A..U+202E,
		 * U+2066..U+2069) is shown as \uXXXX: 6 bytes for its 3 */
		if (n == 3 && p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
					       (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
			unsigned cp = ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);

			memcpy(buf + o, "\\u20", 4);
			buf[o + 4] = hex[(cp >> 4) & 15];
			buf[o + 5] = hex[cp & 15];
			o += 6;
			p += n;
			used += n;
			continue;
		}
		if (n > 1) {
			memcpy(buf + o, p, n);
			o += n;
			p += n;
			used += n;
			continue;
		}
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			buf[o++] = '\\';
			buf[o++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
		} else if (*p < 0x20 || *p == 0x7f || n == 0) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		} else {
			buf[o++] = (char)*p;
		}
		p++;
		used++;
	}
	buf[o] = '\0';
	return buf;
}
