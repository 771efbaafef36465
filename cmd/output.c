/*
 * The program's output helpers (see output.h).
 */
#include "output.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsync/common.h"

/* "dsync: LEVEL: MESSAGE" as one line: a control character in the message
 * (a name holding a newline or an escape sequence) is shown as \n, \t, \r
 * or \xNN, so it can neither split the line nor drive the terminal. */
static void out_line(const char *level, const char *fmt, va_list ap)
{
	static const char hex[] = "0123456789abcdef";
	char msg[4096];
	const unsigned char *p;

	out_progress_done();
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "dsync: %s: ", level);
	for (p = (const unsigned char *)msg; *p; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			fputc('\\', stderr);
			fputc(*p == '\n' ? 'n' : *p == '\t' ? 't' : 'r', stderr);
		} else if (*p < 0x20 || *p == 0x7f) {
			fputs("\\x", stderr);
			fputc(hex[*p >> 4], stderr);
			fputc(hex[*p & 15], stderr);
		} else {
			fputc(*p, stderr);
		}
	}
	fputc('\n', stderr);
}

void out_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_line("error", fmt, ap);
	va_end(ap);
}

void out_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_line("warning", fmt, ap);
	va_end(ap);
}

void out_warn_cb(const char *message, void *payload)
{
	(void)payload;
	out_warn("%s", message);
}

int out_fail(int error)
{
	const char *msg = dsync_error_last();

	out_error("%s", *msg ? msg : "failed");
	return dsync_error_exit_code(error);
}

const char *out_time(char *buf, size_t size, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

const char *out_time_iso(char *buf, size_t size, int64_t t, int offset_min)
{
	time_t tt = (time_t)(t + (int64_t)offset_min * 60);
	struct tm tm;
	int off = offset_min < 0 ? -offset_min : offset_min;
	size_t n;

	gmtime_r(&tt, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, "%c%02d:%02d", offset_min < 0 ? '-' : '+', off / 60, off % 60);
	return buf;
}

const char *out_size(char *buf, size_t size, uint64_t bytes)
{
	return dsync_size_text(buf, size, bytes);
}

/* Length of the valid UTF-8 sequence at S (0 when invalid). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned cp;

	return dsync_utf8_next(s, &cp);
}

#define ESC_RING 8

/* Whether the LEN-byte character at P reorders the text around it
 * (U+202A..U+202E, U+2066..U+2069). */
static bool bidi(const unsigned char *p, size_t len)
{
	return len == 3 && p[0] == 0xe2 &&
	       ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) || (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9));
}

/* S (N bytes) made safe for a terminal, in quotes when QUOTE (see
 * output.h); S itself when nothing needs it. */
static const char *escape(const char *s, size_t n, bool quote)
{
	static const char hex[] = "0123456789abcdef";
	static char *ring[ESC_RING];
	static size_t at;
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	bool need = false;
	size_t len;
	char *o, *buf;

	for (; p < end; p += len) {
		len = utf8_len(p);
		if (len == 0 || *p < 0x20 || *p == 0x7f || (len == 2 && p[0] == 0xc2 && p[1] < 0xa0) || bidi(p, len) ||
		    (quote && (*p == '"' || *p == '\\'))) {
			need = true;
			break;
		}
	}
	if (!need) {
		if (s[n] == '\0')
			return s;
		quote = false; /* a cut line: copied as it is */
	}
	at = (at + 1) % ESC_RING;
	free(ring[at]);
	/* at most 8 bytes for a byte (a C1 control), quotes and NUL */
	if ((buf = ring[at] = malloc(n * 8 + 3)) == NULL)
		return "(out of memory)";
	o = buf;
	if (quote)
		*o++ = '"';
	for (p = (const unsigned char *)s; p < end; p += len) {
		len = utf8_len(p);
		if (len == 3 && bidi(p, len)) {
			unsigned cp = ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);

			memcpy(o, "\\u20", 4);
			o[4] = hex[(cp >> 4) & 15];
			o[5] = hex[cp & 15];
			o += 6;
			continue;
		}
		if (len > 1 && p + len <= end && !(len == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			memcpy(o, p, len);
			o += len;
			continue;
		}
		if (len > 1) { /* a C1 control: each byte shown */
			size_t i;

			for (i = 0; i < len; i++) {
				*o++ = '\\';
				*o++ = 'x';
				*o++ = hex[p[i] >> 4];
				*o++ = hex[p[i] & 15];
			}
			continue;
		}
		len = 1;
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			*o++ = '\\';
			*o++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
		} else if (*p < 0x20 || *p >= 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		} else if (quote && (*p == '"' || *p == '\\')) {
			*o++ = '\\';
			*o++ = (char)*p;
		} else {
			*o++ = (char)*p;
		}
	}
	if (quote)
		*o++ = '"';
	*o = '\0';
	return buf;
}

const char *out_name(const char *s)
{
	return s ? escape(s, strlen(s), true) : "";
}

const char *out_text(const char *s, size_t n)
{
	return s ? escape(s, n, false) : "";
}

void out_json_string(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', fp);
	while (*p) {
		size_t n;

		if (*p == '"' || *p == '\\') {
			fputc('\\', fp);
			fputc(*p++, fp);
		} else if (*p == '\n') {
			fputs("\\n", fp);
			p++;
		} else if (*p == '\t') {
			fputs("\\t", fp);
			p++;
		} else if (*p == '\r') {
			fputs("\\r", fp);
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(fp, "\\u%04x", *p++);
		} else if ((n = utf8_len(p)) == 0) {
			fputs("\\ufffd", fp);   /* the exact bytes: out_json_name()'s KEY_bytes */
			p++;
		} else {
			fwrite(p, 1, n, fp);
			p += n;
		}
	}
	fputc('"', fp);
}

void out_json_name(FILE *fp, const char *key, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fprintf(fp, "\"%s\":", key);
	out_json_string(fp, s);
	for (; *p; p += n)
		if ((n = utf8_len(p)) == 0)
			break;
	if (!*p)
		return;
	fprintf(fp, ",\"%s_bytes\":\"", key);
	for (p = (const unsigned char *)s; *p; p++)
		fprintf(fp, "%02x", *p);
	fputc('"', fp);
}

void out_json_time(FILE *fp, const char *key, const char *key_unix, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[64];

	if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, sizeof(buf), "1970-01-01T00:00:00Z");
	fprintf(fp, "\"%s\":\"%s\",\"%s\":%lld", key, buf, key_unix, (long long)t);
}

static bool progress_shown;
static struct timespec progress_last;

void out_progress(size_t files, uint64_t bytes, void *payload)
{
	struct timespec now;
	char size[32];

	if (!isatty(2))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (progress_shown && (now.tv_sec - progress_last.tv_sec) * 1000 +
				      (now.tv_nsec - progress_last.tv_nsec) / 1000000 < 200)
		return;
	progress_last = now;
	progress_shown = true;
	fprintf(stderr, "\r%s: %zu files, %s read\033[K", payload ? (const char *)payload : "working",
		files, out_size(size, sizeof(size), bytes));
	fflush(stderr);
}

void out_progress_done(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		progress_shown = false;
	}
}

void out_progress_text(bool force, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;

	if (!isatty(2))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && progress_shown &&
	    (now.tv_sec - progress_last.tv_sec) * 1000 + (now.tv_nsec - progress_last.tv_nsec) / 1000000 < 200)
		return;
	progress_last = now;
	progress_shown = true;
	fputc('\r', stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\033[K", stderr);
	fflush(stderr);
}

/* Now on the monotonic clock, in seconds. */
static double mono_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

void out_rate_start(out_rate *r)
{
	memset(r, 0, sizeof(*r));
	r->started = mono_now();
}

double out_rate_add(out_rate *r, uint64_t bytes)
{
	double now = mono_now(), dt;
	size_t last;

	/* the samples older than the window go, but one stays to measure from */
	while (r->n > 1 && now - r->t[(r->first + 1) % OUT_RATE_SAMPLES] >= OUT_RATE_WINDOW) {
		r->first = (r->first + 1) % OUT_RATE_SAMPLES;
		r->n--;
	}
	last = (r->first + r->n - 1) % OUT_RATE_SAMPLES;
	if (r->n == 0 || now - r->t[last] >= 0.25) {
		if (r->n == OUT_RATE_SAMPLES) {
			r->first = (r->first + 1) % OUT_RATE_SAMPLES;
			r->n--;
		}
		last = (r->first + r->n) % OUT_RATE_SAMPLES;
		r->t[last] = now;
		r->bytes[last] = bytes;
		r->n++;
	}
	if (now - r->started < OUT_RATE_SETTLE || r->n < 2)
		return -1;
	dt = now - r->t[r->first];
	if (dt <= 0 || bytes < r->bytes[r->first])
		return -1;
	return (double)(bytes - r->bytes[r->first]) / dt;
}

const char *out_duration(char *buf, size_t size, double secs)
{
	unsigned long s;

	if (secs < 0 || secs > 100.0 * 3600)
		snprintf(buf, size, "-:--");
	else if ((s = (unsigned long)(secs + 0.5)) >= 3600)
		snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
	return buf;
}

void out_transfer_progress(out_rate *r, const char *label, uint64_t bytes, uint64_t bytes_total, size_t objects,
			   bool done)
{
	char done_s[32], total_s[32], rate_s[32], left_s[32], line[256];
	double rate;
	int n;

	if (done) {
		out_progress_done();
		return;
	}
	rate = out_rate_add(r, bytes);
	out_size(done_s, sizeof(done_s), bytes);
	if (bytes_total)
		n = snprintf(line, sizeof(line), "%s of %s", done_s, out_size(total_s, sizeof(total_s), bytes_total));
	else if (objects)
		n = snprintf(line, sizeof(line), "%s, %zu objects", done_s, objects);
	else
		n = snprintf(line, sizeof(line), "%s", done_s);
	if (rate >= 0 && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", %s/s",
			      out_size(rate_s, sizeof(rate_s), (uint64_t)rate));
	if (rate > 0 && bytes_total >= bytes && n > 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ", %s left",
			 out_duration(left_s, sizeof(left_s), (double)(bytes_total - bytes) / rate));
	out_progress_text(false, "%s: %s", label, line);
}
