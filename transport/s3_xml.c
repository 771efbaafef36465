/*
 * The S3 client's XML replies (transport/s3_xml.h): one strict scanner that
 * calls back at each element's start and end with the element's path and
 * its own text, and the three readers on top of it.
 */
#include "core/base/internal.h"

#include "transport/s3_xml.h"

#define DEPTH_MAX 16
#define TEXT_MAX 2048
#define NAME_LEN_MAX 64

typedef struct scan scan;
typedef int (*scan_cb)(scan *s, bool open, void *payload);

struct scan {
	const char *p, *end;
	char names[DEPTH_MAX][NAME_LEN_MAX + 1];
	int depth;                     /* elements open; names[depth - 1] is the innermost */
	char text[TEXT_MAX + 4 + 1];   /* the innermost element's text since its last tag, decoded */
	size_t text_len;
};

static int corrupt(void)
{
	return dsync_error_set(DSYNC_ECORRUPT, "the S3 server sent a malformed XML reply");
}

static bool name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(int c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finds NEEDLE after P (bounded by END): its start, or NULL. */
static const char *find(const char *p, const char *end, const char *needle)
{
	size_t n = strlen(needle);

	for (; (size_t)(end - p) >= n; p++)
		if (memcmp(p, needle, n) == 0)
			return p;
	return NULL;
}

/* A name at S->p into OUT; advances past it. */
static int read_name(scan *s, char *out)
{
	size_t n = 0;

	if (s->p >= s->end || !name_start((unsigned char)*s->p))
		return -1;
	while (s->p < s->end && name_char((unsigned char)*s->p)) {
		if (n >= NAME_LEN_MAX)
			return -1;
		out[n++] = *s->p++;
	}
	out[n] = '\0';
	return 0;
}

static int put_utf8(scan *s, unsigned cp)
{
	unsigned char *o = (unsigned char *)s->text + s->text_len;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || s->text_len + 4 > TEXT_MAX)
		return -1;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		s->text_len += 1;
	} else if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		s->text_len += 2;
	} else if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		s->text_len += 3;
	} else {
		o[0] = (unsigned char)(0xf0 | (cp >> 18));
		o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (unsigned char)(0x80 | (cp & 0x3f));
		s->text_len += 4;
	}
	s->text[s->text_len] = '\0';
	return 0;
}

/* The entity at S->p ('&'), decoded into the text. */
static int entity(scan *s)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' } };
	const char *semi, *e = s->p + 1;
	size_t len, i;
	unsigned cp = 0;

	for (semi = e; semi < s->end && semi - e <= 10 && *semi != ';'; semi++)
		;
	if (semi >= s->end || *semi != ';')
		return -1;
	len = (size_t)(semi - e);
	s->p = semi + 1;
	if (len >= 2 && e[0] == '#') {
		bool hex = e[1] == 'x';
		size_t n = 0;

		for (i = hex ? 2 : 1; i < len; i++, n++) {
			int c = (unsigned char)e[i], d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (hex && c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (hex && c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return -1;
			cp = cp * (hex ? 16u : 10u) + (unsigned)d;
			if (cp > 0x10ffff)
				return -1;
		}
		return n ? put_utf8(s, cp) : -1;
	}
	for (i = 0; i < DSYNC_ARRAY_SIZE(named); i++)
		if (strlen(named[i].name) == len && memcmp(e, named[i].name, len) == 0)
			return put_utf8(s, (unsigned char)named[i].c);
	return -1;
}

/* A start tag at S->p (after '<'). */
static int start_tag(scan *s, scan_cb cb, void *payload)
{
	bool empty = false;
	int error;

	if (s->depth >= DEPTH_MAX || read_name(s, s->names[s->depth]) < 0)
		return -1;
	/* attributes: name="value" or name='value', skipped */
	for (;;) {
		char attr[NAME_LEN_MAX + 1], quote;
		bool had_space = false;

		while (s->p < s->end && space((unsigned char)*s->p)) {
			s->p++;
			had_space = true;
		}
		if (s->p >= s->end)
			return -1;
		if (*s->p == '>') {
			s->p++;
			break;
		}
		if (*s->p == '/') {
			if (s->end - s->p < 2 || s->p[1] != '>')
				return -1;
			s->p += 2;
			empty = true;
			break;
		}
		if (!had_space || read_name(s, attr) < 0)
			return -1;
		while (s->p < s->end && space((unsigned char)*s->p))
			s->p++;
		if (s->p >= s->end || *s->p++ != '=')
			return -1;
		while (s->p < s->end && space((unsigned char)*s->p))
			s->p++;
		if (s->p >= s->end || (*s->p != '"' && *s->p != '\''))
			return -1;
		quote = *s->p++;
		while (s->p < s->end && *s->p != quote) {
			if (*s->p == '<' || *s->p == '\0')
				return -1;
			s->p++;
		}
		if (s->p >= s->end)
			return -1;
		s->p++;
	}
	s->depth++;
	s->text_len = 0;
	s->text[0] = '\0';
	if ((error = cb(s, true, payload)) != 0)
		return error;
	if (empty) {
		if ((error = cb(s, false, payload)) != 0)
			return error;
		s->depth--;
	}
	return 0;
}

static int end_tag(scan *s, scan_cb cb, void *payload)
{
	char name[NAME_LEN_MAX + 1];
	int error;

	if (read_name(s, name) < 0 || s->depth == 0 || strcmp(name, s->names[s->depth - 1]) != 0)
		return -1;
	while (s->p < s->end && space((unsigned char)*s->p))
		s->p++;
	if (s->p >= s->end || *s->p++ != '>')
		return -1;
	if ((error = cb(s, false, payload)) != 0)
		return error;
	s->depth--;
	s->text_len = 0;
	s->text[0] = '\0';
	return 0;
}

/* Scans BODY: CB at each element's start and end (S->text is its own text
 * at the end); 0, CB's non-zero return, or -1 when malformed. */
static int xml_scan(scan *s, const char *body, size_t len, scan_cb cb, void *payload)
{
	bool root_done = false, any = false;
	int error;

	memset(s, 0, sizeof(*s));
	if (len > DSYNC_S3_XML_MAX)
		return -1;
	s->p = body;
	s->end = body + len;
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		s->p += 3;
	while (s->p < s->end) {
		int c = (unsigned char)*s->p;

		if (c == '<') {
			const char *close;

			if (s->end - s->p >= 2 && s->p[1] == '?') {
				/* the declaration, before the root only */
				if (any || !(close = find(s->p + 2, s->end, "?>")))
					return -1;
				s->p = close + 2;
			} else if (s->end - s->p >= 4 && memcmp(s->p, "<!--", 4) == 0) {
				if (!(close = find(s->p + 4, s->end, "-->")))
					return -1;
				s->p = close + 3;
			} else if (s->end - s->p >= 2 && s->p[1] == '!') {
				return -1; /* DOCTYPE, CDATA */
			} else if (s->end - s->p >= 2 && s->p[1] == '/') {
				s->p += 2;
				if ((error = end_tag(s, cb, payload)) != 0)
					return error;
				root_done = s->depth == 0;
			} else {
				if (root_done)
					return -1; /* one root */
				s->p++;
				if ((error = start_tag(s, cb, payload)) != 0)
					return error;
				root_done = s->depth == 0;
			}
			any = true;
		} else if (c == '&') {
			if (s->depth == 0 || entity(s) < 0)
				return -1;
		} else if (c == '\0') {
			return -1;
		} else {
			if (s->depth == 0) {
				if (!space(c))
					return -1;
			} else {
				if (s->text_len >= TEXT_MAX)
					return -1;
				s->text[s->text_len++] = (char)c;
				s->text[s->text_len] = '\0';
			}
			s->p++;
		}
	}
	return root_done ? 0 : -1;
}

/* Whether S is at path ROOT/A/B (B, A may be NULL for a shorter path). */
static bool at(const scan *s, const char *root, const char *a, const char *b)
{
	int want = b ? 3 : a ? 2 : 1;

	return s->depth == want && strcmp(s->names[0], root) == 0 && (!a || strcmp(s->names[1], a) == 0) &&
	       (!b || strcmp(s->names[2], b) == 0);
}

/* ---- values */

int dsync_s3_dec_u64(uint64_t *out, const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int digits(const char *s, int n, int lo, int hi)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v < lo || v > hi ? -1 : v;
}

int dsync_s3_xml_time(time_t *out, const char *s, size_t len)
{
	struct tm tm = { 0 };
	size_t i = 19;
	int y, mo, d, h, mi, se;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -1;
	if ((y = digits(s, 4, 1970, 9999)) < 0 || (mo = digits(s + 5, 2, 1, 12)) < 0 ||
	    (d = digits(s + 8, 2, 1, 31)) < 0 || (h = digits(s + 11, 2, 0, 23)) < 0 ||
	    (mi = digits(s + 14, 2, 0, 59)) < 0 || (se = digits(s + 17, 2, 0, 60)) < 0)
		return -1;
	if (s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9' && i < 30; i++)
			;
		if (s[i - 1] == '.')
			return -1;
	}
	if (i != len - 1 || s[i] != 'Z')
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = timegm(&tm);
	return 0;
}

int dsync_s3_xml_etag(char *out, const char *s, size_t len)
{
	size_t i;

	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len >= DSYNC_S3_ETAG_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || strchr("\"\\<>&", s[i]))
			return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* Text of 1..MAX bytes, no control byte (UTF-8 beyond ASCII allowed). */
static bool clean(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* ---- ListBucketResult */

#define LIST "ListBucketResult"

typedef struct list_state {
	dsync_s3_xml_list *l;
	bool in_entry, has_size, has_truncated, oom;
} list_state;

static int on_list(scan *s, bool open, void *payload)
{
	list_state *st = payload;
	dsync_s3_xml_list *l = st->l;
	dsync_s3_xml_entry *e;

	if (s->depth == 1 && strcmp(s->names[0], LIST) != 0)
		return -1;
	if (open) {
		if (at(s, LIST, "Contents", NULL)) {
			if (l->n >= DSYNC_S3_LIST_MAX)
				return -1;
			if (!l->entries && !(l->entries = calloc(DSYNC_S3_LIST_MAX, sizeof(*l->entries)))) {
				st->oom = true;
				return -1;
			}
			memset(&l->entries[l->n], 0, sizeof(l->entries[0]));
			st->in_entry = true;
			st->has_size = false;
		}
		return 0;
	}
	if (at(s, LIST, "Contents", NULL)) {
		if (!l->entries[l->n].key || !st->has_size)
			return -1;
		l->n++;
		st->in_entry = false;
		return 0;
	}
	if (st->in_entry && s->depth == 3 && strcmp(s->names[1], "Contents") == 0) {
		e = &l->entries[l->n];
		if (strcmp(s->names[2], "Key") == 0) {
			if (e->key || !clean(s->text, s->text_len, DSYNC_S3_KEY_MAX))
				return -1;
			if (!(e->key = strdup(s->text))) {
				st->oom = true;
				return -1;
			}
		} else if (strcmp(s->names[2], "Size") == 0) {
			if (st->has_size || dsync_s3_dec_u64(&e->obj.size, s->text, s->text_len) < 0)
				return -1;
			st->has_size = true;
		} else if (strcmp(s->names[2], "LastModified") == 0) {
			if (dsync_s3_xml_time(&e->obj.mtime, s->text, s->text_len) < 0)
				return -1;
		} else if (strcmp(s->names[2], "ETag") == 0) {
			if (dsync_s3_xml_etag(e->obj.etag, s->text, s->text_len) < 0)
				return -1;
		}
		return 0;
	}
	if (at(s, LIST, "IsTruncated", NULL)) {
		if (st->has_truncated)
			return -1;
		st->has_truncated = true;
		if (strcmp(s->text, "true") == 0)
			l->truncated = true;
		else if (strcmp(s->text, "false") != 0)
			return -1;
	} else if (at(s, LIST, "NextContinuationToken", NULL)) {
		if (l->next_token || !clean(s->text, s->text_len, DSYNC_S3_TOKEN_MAX))
			return -1;
		if (!(l->next_token = strdup(s->text))) {
			st->oom = true;
			return -1;
		}
	}
	return 0;
}

void dsync_s3_xml_list_dispose(dsync_s3_xml_list *l)
{
	size_t i;

	if (l->entries)
		for (i = 0; i < DSYNC_S3_LIST_MAX; i++)
			free(l->entries[i].key);
	free(l->entries);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int dsync_s3_xml_list_parse(dsync_s3_xml_list *out, const char *body, size_t len)
{
	list_state st = { out, false, false, false, false };
	scan *s;
	int error;

	memset(out, 0, sizeof(*out));
	if (!(s = malloc(sizeof(*s))))
		return dsync_error_oom();
	error = xml_scan(s, body, len, on_list, &st);
	free(s);
	if (st.oom)
		return dsync_error_oom();
	if (error != 0 || (out->truncated && !out->next_token))
		return corrupt();
	return 0;
}

/* ---- ListMultipartUploadsResult */

#define UPLOADS "ListMultipartUploadsResult"

static bool upload_id_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > DSYNC_S3_UPLOAD_ID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.~+/=:", c)))
			return false;
	}
	return true;
}

typedef struct uploads_state {
	dsync_s3_xml_uploads *u;
	bool in_upload, oom, has_truncated;
} uploads_state;

static int on_uploads(scan *s, bool open, void *payload)
{
	uploads_state *st = payload;
	dsync_s3_xml_uploads *u = st->u;
	dsync_s3_xml_upload *e;

	if (s->depth == 1 && strcmp(s->names[0], UPLOADS) != 0)
		return -1;
	if (open) {
		if (at(s, UPLOADS, "Upload", NULL)) {
			if (u->n >= DSYNC_S3_LIST_MAX)
				return -1;
			if (!u->uploads && !(u->uploads = calloc(DSYNC_S3_LIST_MAX, sizeof(*u->uploads)))) {
				st->oom = true;
				return -1;
			}
			st->in_upload = true;
		}
		return 0;
	}
	if (at(s, UPLOADS, "Upload", NULL)) {
		if (!u->uploads[u->n].key || !u->uploads[u->n].upload_id)
			return -1;
		u->n++;
		st->in_upload = false;
		return 0;
	}
	if (st->in_upload && s->depth == 3 && strcmp(s->names[1], "Upload") == 0) {
		char **field = NULL;

		e = &u->uploads[u->n];
		if (strcmp(s->names[2], "Key") == 0) {
			if (!clean(s->text, s->text_len, DSYNC_S3_KEY_MAX))
				return -1;
			field = &e->key;
		} else if (strcmp(s->names[2], "UploadId") == 0) {
			if (!upload_id_ok(s->text, s->text_len))
				return -1;
			field = &e->upload_id;
		} else if (strcmp(s->names[2], "Initiated") == 0) {
			if (dsync_s3_xml_time(&e->initiated, s->text, s->text_len) < 0)
				return -1;
		}
		if (field) {
			if (*field)
				return -1;
			if (!(*field = strdup(s->text))) {
				st->oom = true;
				return -1;
			}
		}
		return 0;
	}
	if (at(s, UPLOADS, "IsTruncated", NULL)) {
		if (st->has_truncated)
			return -1;
		st->has_truncated = true;
		if (strcmp(s->text, "true") == 0)
			u->truncated = true;
		else if (strcmp(s->text, "false") != 0)
			return -1;
	}
	return 0;
}

void dsync_s3_xml_uploads_dispose(dsync_s3_xml_uploads *u)
{
	size_t i;

	if (u->uploads)
		for (i = 0; i < DSYNC_S3_LIST_MAX; i++) {
			free(u->uploads[i].key);
			free(u->uploads[i].upload_id);
		}
	free(u->uploads);
	memset(u, 0, sizeof(*u));
}

int dsync_s3_xml_uploads_parse(dsync_s3_xml_uploads *out, const char *body, size_t len)
{
	uploads_state st = { out, false, false, false };
	scan *s;
	int error;

	memset(out, 0, sizeof(*out));
	if (!(s = malloc(sizeof(*s))))
		return dsync_error_oom();
	error = xml_scan(s, body, len, on_uploads, &st);
	free(s);
	if (st.oom)
		return dsync_error_oom();
	if (error != 0)
		return corrupt();
	return 0;
}

/* ---- InitiateMultipartUploadResult, Error */

typedef struct leaf_state {
	const char *root, *leaf;
	char *out;
	size_t max;
	bool found;
} leaf_state;

static int on_leaf(scan *s, bool open, void *payload)
{
	leaf_state *st = payload;

	if (s->depth == 1 && strcmp(s->names[0], st->root) != 0)
		return -1;
	if (!open && at(s, st->root, st->leaf, NULL)) {
		if (st->found || s->text_len == 0 || s->text_len > st->max)
			return -1;
		memcpy(st->out, s->text, s->text_len + 1);
		st->found = true;
	}
	return 0;
}

static int leaf(const char *root, const char *name, char *out, size_t max, const char *body, size_t len)
{
	leaf_state st = { root, name, out, max, false };
	scan *s;
	int error;

	out[0] = '\0';
	if (!(s = malloc(sizeof(*s))))
		return dsync_error_oom();
	error = xml_scan(s, body, len, on_leaf, &st);
	free(s);
	if (error != 0 || !st.found) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int dsync_s3_xml_upload_id(char *out, const char *body, size_t len)
{
	if (leaf("InitiateMultipartUploadResult", "UploadId", out, DSYNC_S3_UPLOAD_ID_MAX, body, len) < 0 ||
	    !upload_id_ok(out, strlen(out))) {
		out[0] = '\0';
		return corrupt();
	}
	return 0;
}

void dsync_s3_xml_error_code(char *code, const char *body, size_t len)
{
	size_t i;

	if (leaf("Error", "Code", code, DSYNC_S3_CODE_MAX - 1, body, len) < 0) {
		code[0] = '\0';
		return;
	}
	for (i = 0; code[i]; i++) {
		int c = (unsigned char)code[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.')) {
			code[0] = '\0';
			return;
		}
	}
}
