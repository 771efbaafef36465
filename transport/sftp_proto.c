/*
 * SFTP v3 packets (sftp_proto.h): requests into a dsync_buf, replies from an
 * untrusted server checked field by field.  No I/O, no allocation on a
 * reply's behalf: a reply's strings are pointers into its packet.
 */
#include "core/base/internal.h"

#include "transport/sftp_proto.h"

/* ---- encoding ---- */

static int put_u32(dsync_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	return dsync_buf_put(b, x, 4);
}

static int put_u64(dsync_buf *b, uint64_t v)
{
	int error;

	if ((error = put_u32(b, (uint32_t)(v >> 32))) < 0)
		return error;
	return put_u32(b, (uint32_t)v);
}

static int put_bytes(dsync_buf *b, const void *p, size_t len)
{
	int error;

	/* A string never reaches 4 GiB: the packet's own limit stops it first,
	 * checked here so the length field cannot wrap. */
	if (len > DSYNC_SFTP_MAX_PACKET)
		return dsync_error_set(DSYNC_EUSAGE, "sftp request field too long (%zu bytes)", len);
	if ((error = put_u32(b, (uint32_t)len)) < 0)
		return error;
	return dsync_buf_put(b, p, len);
}

static int put_str(dsync_buf *b, const char *s)
{
	return put_bytes(b, s, strlen(s));
}

static int put_handle(dsync_buf *b, const dsync_sftp_handle *h)
{
	if (h->len > DSYNC_SFTP_MAX_HANDLE)
		return dsync_error_set(DSYNC_EUSAGE, "sftp handle too long (%u bytes)", h->len);
	return put_bytes(b, h->bytes, h->len);
}

static int put_attrs(dsync_buf *b, const dsync_sftp_attrs *a)
{
	uint32_t flags;
	int error;

	if (!a)
		return put_u32(b, 0);
	/* Requests never carry extended pairs; bits we do not know have no
	 * encoding. */
	flags = a->flags & (DSYNC_SFTP_ATTR_SIZE | DSYNC_SFTP_ATTR_UIDGID |
			    DSYNC_SFTP_ATTR_PERMISSIONS | DSYNC_SFTP_ATTR_ACMODTIME);
	if ((error = put_u32(b, flags)) < 0)
		return error;
	if ((flags & DSYNC_SFTP_ATTR_SIZE) && (error = put_u64(b, a->size)) < 0)
		return error;
	if ((flags & DSYNC_SFTP_ATTR_UIDGID) &&
	    ((error = put_u32(b, a->uid)) < 0 || (error = put_u32(b, a->gid)) < 0))
		return error;
	if ((flags & DSYNC_SFTP_ATTR_PERMISSIONS) && (error = put_u32(b, a->perms)) < 0)
		return error;
	if ((flags & DSYNC_SFTP_ATTR_ACMODTIME) &&
	    ((error = put_u32(b, a->atime)) < 0 || (error = put_u32(b, a->mtime)) < 0))
		return error;
	return 0;
}

/* Opens a packet: room for its length, the type and (but for INIT) the id. */
static int begin(dsync_buf *b, size_t *start, uint8_t type, uint32_t id)
{
	int error;

	*start = b->len;
	if ((error = put_u32(b, 0)) < 0 || (error = dsync_buf_put(b, &type, 1)) < 0)
		return error;
	if (type != DSYNC_SFTP_INIT)
		return put_u32(b, id);
	return 0;
}

/* Closes a packet: writes its length, or takes it all back on ERROR so
 * that a failed request leaves OUT as it was (a half packet would put the
 * stream out of step). */
static int end(dsync_buf *b, size_t start, int error)
{
	size_t len = 0;

	if (error >= 0) {
		len = b->len - start - 4;
		if (len > DSYNC_SFTP_MAX_PACKET)
			error = dsync_error_set(DSYNC_EUSAGE,
						"sftp request too long (%zu bytes)", len);
	}
	if (error < 0) {
		if (b->len > start)
			dsync_buf_truncate(b, start);
		return error;
	}
	b->ptr[start] = (char)(len >> 24);
	b->ptr[start + 1] = (char)(len >> 16);
	b->ptr[start + 2] = (char)(len >> 8);
	b->ptr[start + 3] = (char)len;
	return 0;
}

int dsync_sftp_put_init(dsync_buf *out)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_INIT, 0)) >= 0)
		error = put_u32(out, DSYNC_SFTP_VERSION);
	return end(out, start, error);
}

static int put_path_request(dsync_buf *out, uint8_t type, uint32_t id, const char *path)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, type, id)) >= 0)
		error = put_str(out, path);
	return end(out, start, error);
}

static int put_handle_request(dsync_buf *out, uint8_t type, uint32_t id,
			      const dsync_sftp_handle *h)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, type, id)) >= 0)
		error = put_handle(out, h);
	return end(out, start, error);
}

int dsync_sftp_put_open(dsync_buf *out, uint32_t id, const char *path, uint32_t pflags,
			const dsync_sftp_attrs *attrs)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_OPEN, id)) >= 0 &&
	    (error = put_str(out, path)) >= 0 && (error = put_u32(out, pflags)) >= 0)
		error = put_attrs(out, attrs);
	return end(out, start, error);
}

int dsync_sftp_put_close(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h)
{
	return put_handle_request(out, DSYNC_SFTP_CLOSE, id, h);
}

int dsync_sftp_put_read(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h,
			uint64_t offset, uint32_t len)
{
	size_t start;
	int error;

	if (len > DSYNC_SFTP_MAX_DATA)
		return dsync_error_set(DSYNC_EUSAGE, "sftp read of %u bytes is over the limit", len);
	if ((error = begin(out, &start, DSYNC_SFTP_READ, id)) >= 0 &&
	    (error = put_handle(out, h)) >= 0 && (error = put_u64(out, offset)) >= 0)
		error = put_u32(out, len);
	return end(out, start, error);
}

int dsync_sftp_put_write(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h,
			 uint64_t offset, const void *data, size_t len)
{
	size_t start;
	int error;

	if (len > DSYNC_SFTP_MAX_DATA)
		return dsync_error_set(DSYNC_EUSAGE, "sftp write of %zu bytes is over the limit", len);
	if ((error = begin(out, &start, DSYNC_SFTP_WRITE, id)) >= 0 &&
	    (error = put_handle(out, h)) >= 0 && (error = put_u64(out, offset)) >= 0)
		error = put_bytes(out, data, len);
	return end(out, start, error);
}

int dsync_sftp_put_lstat(dsync_buf *out, uint32_t id, const char *path)
{
	return put_path_request(out, DSYNC_SFTP_LSTAT, id, path);
}

int dsync_sftp_put_stat(dsync_buf *out, uint32_t id, const char *path)
{
	return put_path_request(out, DSYNC_SFTP_STAT, id, path);
}

int dsync_sftp_put_fstat(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h)
{
	return put_handle_request(out, DSYNC_SFTP_FSTAT, id, h);
}

int dsync_sftp_put_setstat(dsync_buf *out, uint32_t id, const char *path,
			   const dsync_sftp_attrs *attrs)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_SETSTAT, id)) >= 0 &&
	    (error = put_str(out, path)) >= 0)
		error = put_attrs(out, attrs);
	return end(out, start, error);
}

int dsync_sftp_put_fsetstat(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h,
			    const dsync_sftp_attrs *attrs)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_FSETSTAT, id)) >= 0 &&
	    (error = put_handle(out, h)) >= 0)
		error = put_attrs(out, attrs);
	return end(out, start, error);
}

int dsync_sftp_put_opendir(dsync_buf *out, uint32_t id, const char *path)
{
	return put_path_request(out, DSYNC_SFTP_OPENDIR, id, path);
}

int dsync_sftp_put_readdir(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h)
{
	return put_handle_request(out, DSYNC_SFTP_READDIR, id, h);
}

int dsync_sftp_put_remove(dsync_buf *out, uint32_t id, const char *path)
{
	return put_path_request(out, DSYNC_SFTP_REMOVE, id, path);
}

int dsync_sftp_put_mkdir(dsync_buf *out, uint32_t id, const char *path,
			 const dsync_sftp_attrs *attrs)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_MKDIR, id)) >= 0 &&
	    (error = put_str(out, path)) >= 0)
		error = put_attrs(out, attrs);
	return end(out, start, error);
}

int dsync_sftp_put_rmdir(dsync_buf *out, uint32_t id, const char *path)
{
	return put_path_request(out, DSYNC_SFTP_RMDIR, id, path);
}

int dsync_sftp_put_realpath(dsync_buf *out, uint32_t id, const char *path)
{
	return put_path_request(out, DSYNC_SFTP_REALPATH, id, path);
}

int dsync_sftp_put_rename(dsync_buf *out, uint32_t id, const char *oldpath, const char *newpath)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_RENAME, id)) >= 0 &&
	    (error = put_str(out, oldpath)) >= 0)
		error = put_str(out, newpath);
	return end(out, start, error);
}

int dsync_sftp_put_posix_rename(dsync_buf *out, uint32_t id, const char *oldpath,
				const char *newpath)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_EXTENDED, id)) >= 0 &&
	    (error = put_str(out, "posix-rename@openssh.com")) >= 0 &&
	    (error = put_str(out, oldpath)) >= 0)
		error = put_str(out, newpath);
	return end(out, start, error);
}

int dsync_sftp_put_fsync(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_EXTENDED, id)) >= 0 &&
	    (error = put_str(out, "fsync@openssh.com")) >= 0)
		error = put_handle(out, h);
	return end(out, start, error);
}

int dsync_sftp_put_statvfs(dsync_buf *out, uint32_t id, const char *path)
{
	size_t start;
	int error;

	if ((error = begin(out, &start, DSYNC_SFTP_EXTENDED, id)) >= 0 &&
	    (error = put_str(out, "statvfs@openssh.com")) >= 0)
		error = put_str(out, path);
	return end(out, start, error);
}

/* ---- decoding ---- */

/* A cursor over the bytes of a reply that are not read yet. */
struct rd {
	const unsigned char *p;
	size_t left;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool get_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = be32(r->p);
	r->p += 4;
	r->left -= 4;
	return true;
}

static bool get_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (!get_u32(r, &hi) || !get_u32(r, &lo))
		return false;
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

/* A string: its length is checked against what is left before anything
 * points at it. */
static bool get_str(struct rd *r, const unsigned char **s, size_t *len)
{
	uint32_t n;

	if (r->left < 4)
		return false;
	n = be32(r->p);
	if (n > r->left - 4)
		return false;
	*s = r->p + 4;
	*len = n;
	r->p += 4 + (size_t)n;
	r->left -= 4 + (size_t)n;
	return true;
}

static bool str_is(const unsigned char *s, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

static const char *type_name(uint8_t type)
{
	switch (type) {
	case DSYNC_SFTP_VERSION_REPLY: return "VERSION";
	case DSYNC_SFTP_STATUS: return "STATUS";
	case DSYNC_SFTP_HANDLE: return "HANDLE";
	case DSYNC_SFTP_DATA: return "DATA";
	case DSYNC_SFTP_NAME: return "NAME";
	case DSYNC_SFTP_ATTRS: return "ATTRS";
	case DSYNC_SFTP_EXTENDED_REPLY: return "EXTENDED_REPLY";
	default: return "unknown";
	}
}

static int bad(uint8_t type, const char *why)
{
	return dsync_error_set(DSYNC_ECORRUPT, "sftp server sent a malformed %s reply: %s",
			       type_name(type), why);
}

/* Reads an attribute block; false when it runs past the end or uses a
 * flag v3 does not define (its fields could not be skipped). */
static bool get_attrs(struct rd *r, dsync_sftp_attrs *a, const char **why)
{
	const unsigned char *s;
	size_t len;
	uint32_t i;

	memset(a, 0, sizeof(*a));
	*why = "attributes cut short";
	if (!get_u32(r, &a->flags))
		return false;
	if (a->flags & ~(DSYNC_SFTP_ATTR_SIZE | DSYNC_SFTP_ATTR_UIDGID |
			 DSYNC_SFTP_ATTR_PERMISSIONS | DSYNC_SFTP_ATTR_ACMODTIME |
			 DSYNC_SFTP_ATTR_EXTENDED)) {
		*why = "unknown attribute flags";
		return false;
	}
	if ((a->flags & DSYNC_SFTP_ATTR_SIZE) && !get_u64(r, &a->size))
		return false;
	if ((a->flags & DSYNC_SFTP_ATTR_UIDGID) && (!get_u32(r, &a->uid) || !get_u32(r, &a->gid)))
		return false;
	if ((a->flags & DSYNC_SFTP_ATTR_PERMISSIONS) && !get_u32(r, &a->perms))
		return false;
	if ((a->flags & DSYNC_SFTP_ATTR_ACMODTIME) &&
	    (!get_u32(r, &a->atime) || !get_u32(r, &a->mtime)))
		return false;
	if (a->flags & DSYNC_SFTP_ATTR_EXTENDED) {
		if (!get_u32(r, &a->extended_count))
			return false;
		/* Each pair takes at least 8 bytes: a count the packet cannot
		 * hold is refused before any loop over it. */
		if (a->extended_count > r->left / 8) {
			*why = "extended attribute count larger than the packet";
			return false;
		}
		for (i = 0; i < a->extended_count; i++)
			if (!get_str(r, &s, &len) || !get_str(r, &s, &len))
				return false;
	}
	return true;
}

static unsigned name_flags(const unsigned char *s, size_t len)
{
	unsigned f = 0;

	if (len == 0)
		f |= DSYNC_SFTP_NAME_EMPTY;
	if (memchr(s, '/', len))
		f |= DSYNC_SFTP_NAME_SLASH;
	if (memchr(s, '\0', len))
		f |= DSYNC_SFTP_NAME_NUL;
	if (str_is(s, len, ".") || str_is(s, len, ".."))
		f |= DSYNC_SFTP_NAME_DOT;
	return f;
}

static bool get_name(struct rd *r, dsync_sftp_name *out, const char **why)
{
	const unsigned char *s, *l;
	size_t slen, llen;

	*why = "name entry cut short";
	if (!get_str(r, &s, &slen) || !get_str(r, &l, &llen))
		return false;
	if (!get_attrs(r, &out->attrs, why))
		return false;
	out->name = (const char *)s;
	out->name_len = slen;
	out->longname = (const char *)l;
	out->longname_len = llen;
	out->name_flags = name_flags(s, slen);
	return true;
}

int dsync_sftp_name_next(dsync_sftp_name *out, const dsync_sftp_reply *reply, size_t *pos)
{
	struct rd r;
	const char *why;

	if (reply->type != DSYNC_SFTP_NAME || *pos >= reply->names_len)
		return 0;
	r.p = reply->names + *pos;
	r.left = reply->names_len - *pos;
	/* dsync_sftp_parse_reply checked every entry: this cannot fail on a
	 * reply it returned, but a reply a caller built by hand stops here. */
	if (!get_name(&r, out, &why))
		return 0;
	*pos = reply->names_len - r.left;
	return 1;
}

/* Copies a server's message as one line: control bytes and bytes that are
 * not UTF-8 become '?', so that it cannot forge terminal output. */
static void clean_message(char *dst, size_t size, const unsigned char *s, size_t len)
{
	size_t i = 0, o = 0, n;
	unsigned cp;

	while (i < len && o + 1 < size) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			dst[o++] = (char)s[i++];
			continue;
		}
		if (s[i] >= 0x80) {
			/* dsync_utf8_next reads up to 4 bytes: copy what is
			 * left into a NUL-ended scratch so it cannot overread */
			unsigned char tmp[5] = { 0 };

			memcpy(tmp, s + i, len - i < 4 ? len - i : 4);
			n = dsync_utf8_next(tmp, &cp);
			/* U+202A..U+202E and U+2066..U+2069 reorder text */
			if (n > 0 && o + n < size && !(cp >= 0x202a && cp <= 0x202e) &&
			    !(cp >= 0x2066 && cp <= 0x2069) && !(cp >= 0x80 && cp < 0xa0)) {
				memcpy(dst + o, s + i, n);
				o += n;
				i += n;
				continue;
			}
			if (n > 0 && o + n >= size)
				break;
			if (n > 0) {
				dst[o++] = '?';
				i += n;
				continue;
			}
		}
		dst[o++] = '?';
		i++;
	}
	dst[o] = '\0';
}

static int parse_version(dsync_sftp_reply *out, struct rd *r)
{
	const unsigned char *name, *data;
	size_t nlen, dlen;

	if (!get_u32(r, &out->version))
		return bad(out->type, "no version");
	/* The rest is extension name and data pairs, to the end. */
	while (r->left > 0) {
		if (!get_str(r, &name, &nlen) || !get_str(r, &data, &dlen))
			return bad(out->type, "extension cut short");
		if (str_is(name, nlen, "posix-rename@openssh.com") && str_is(data, dlen, "1"))
			out->extensions |= DSYNC_SFTP_EXT_POSIX_RENAME;
		else if (str_is(name, nlen, "fsync@openssh.com") && str_is(data, dlen, "1"))
			out->extensions |= DSYNC_SFTP_EXT_FSYNC;
		else if (str_is(name, nlen, "statvfs@openssh.com") && str_is(data, dlen, "2"))
			out->extensions |= DSYNC_SFTP_EXT_STATVFS;
		else if (str_is(name, nlen, "limits@openssh.com") && str_is(data, dlen, "1"))
			out->extensions |= DSYNC_SFTP_EXT_LIMITS;
	}
	return 0;
}

static int parse_body(dsync_sftp_reply *out, struct rd *r)
{
	const unsigned char *s, *lang;
	size_t len, llen;
	const char *why;
	dsync_sftp_name name;
	uint32_t i;

	switch (out->type) {
	case DSYNC_SFTP_STATUS:
		if (!get_u32(r, &out->status) || !get_str(r, &s, &len) ||
		    !get_str(r, &lang, &llen))
			return bad(out->type, "cut short");
		clean_message(out->message, sizeof(out->message), s, len);
		return 0;
	case DSYNC_SFTP_HANDLE:
		if (!get_str(r, &s, &len))
			return bad(out->type, "cut short");
		if (len > DSYNC_SFTP_MAX_HANDLE)
			return bad(out->type, "handle over 256 bytes");
		out->handle.len = (uint32_t)len;
		memcpy(out->handle.bytes, s, len);
		return 0;
	case DSYNC_SFTP_DATA:
		if (!get_str(r, &out->data, &out->data_len))
			return bad(out->type, "cut short");
		return 0;
	case DSYNC_SFTP_NAME:
		if (!get_u32(r, &out->count))
			return bad(out->type, "cut short");
		/* An entry takes at least 12 bytes (two empty strings, no
		 * attributes) */
		if (out->count > r->left / 12)
			return bad(out->type, "count larger than the packet");
		out->names = r->p;
		for (i = 0; i < out->count; i++)
			if (!get_name(r, &name, &why))
				return bad(out->type, why);
		out->names_len = (size_t)(r->p - out->names);
		return 0;
	case DSYNC_SFTP_ATTRS:
		if (!get_attrs(r, &out->attrs, &why))
			return bad(out->type, why);
		return 0;
	case DSYNC_SFTP_EXTENDED_REPLY:
		/* the rest is the extension's own, parsed by whoever asked */
		out->data = r->p;
		out->data_len = r->left;
		r->p += r->left;
		r->left = 0;
		return 0;
	default:
		return dsync_error_set(DSYNC_ECORRUPT, "sftp server sent a packet of unknown type %u",
				       out->type);
	}
}

int dsync_sftp_frame(size_t *out_len, const void *data, size_t len)
{
	uint32_t n;

	*out_len = 0;
	if (len < 4)
		return 0;
	n = be32(data);
	if (n == 0 || n > DSYNC_SFTP_MAX_PACKET)
		return dsync_error_set(DSYNC_ECORRUPT,
				       "sftp server sent a packet of %u bytes (at most %u)",
				       n, DSYNC_SFTP_MAX_PACKET);
	if (len - 4 < n)
		return 0;
	*out_len = 4 + (size_t)n;
	return 1;
}

int dsync_sftp_parse_reply(dsync_sftp_reply *out, const void *packet, size_t len)
{
	struct rd r;
	size_t whole;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_sftp_frame(&whole, packet, len)) < 0)
		return error;
	if (error == 0 || whole != len)
		return dsync_error_set(DSYNC_ECORRUPT,
				       "sftp server sent a packet whose length disagrees with its size");
	r.p = (const unsigned char *)packet + 5;
	r.left = len - 5;
	out->type = ((const unsigned char *)packet)[4];
	if (out->type == DSYNC_SFTP_VERSION_REPLY)
		return parse_version(out, &r);
	if (!get_u32(&r, &out->id))
		return bad(out->type, "no request id");
	if ((error = parse_body(out, &r)) < 0)
		return error;
	/* Bytes past the fields mean the server and we disagree on the shape
	 * of this reply: nothing after it could be trusted. */
	if (r.left > 0)
		return bad(out->type, "trailing bytes");
	return 0;
}

int dsync_sftp_parse_statvfs(dsync_sftp_statvfs *out, const dsync_sftp_reply *reply)
{
	struct rd r;
	uint64_t *f[] = { &out->bsize, &out->frsize, &out->blocks, &out->bfree, &out->bavail,
			  &out->files, &out->ffree, &out->favail, &out->fsid, &out->flag,
			  &out->namemax };
	size_t i;

	memset(out, 0, sizeof(*out));
	if (reply->type != DSYNC_SFTP_EXTENDED_REPLY)
		return bad(reply->type, "not a statvfs reply");
	r.p = reply->data;
	r.left = reply->data_len;
	for (i = 0; i < DSYNC_ARRAY_SIZE(f); i++)
		if (!get_u64(&r, f[i]))
			return bad(reply->type, "statvfs cut short");
	if (r.left > 0)
		return bad(reply->type, "trailing bytes after statvfs");
	return 0;
}

/* ---- status codes ---- */

int dsync_sftp_status_code(uint32_t status)
{
	switch (status) {
	case DSYNC_SFTP_FX_OK:
		return 0;
	case DSYNC_SFTP_FX_NO_SUCH_FILE:
	case 10: /* NO_SUCH_PATH (v4+) */
		return DSYNC_ENOTFOUND;
	case DSYNC_SFTP_FX_PERMISSION_DENIED:
	case 12: /* WRITE_PROTECT (v4+) */
		return DSYNC_EACCESS;
	case 11: /* FILE_ALREADY_EXISTS (v4+) */
		return DSYNC_EEXISTS;
	case 14: /* NO_SPACE_ON_FILESYSTEM (v5+) */
	case 15: /* QUOTA_EXCEEDED (v5+) */
		return DSYNC_ENOSPACE;
	case 19: /* NOT_A_DIRECTORY (v6) */
		return DSYNC_ENOTDIR;
	default: /* EOF, FAILURE, BAD_MESSAGE, NO_CONNECTION, CONNECTION_LOST,
		  * OP_UNSUPPORTED and what we do not know */
		return DSYNC_ERROR;
	}
}

static const char *status_name(uint32_t status)
{
	static const char *const names[] = {
		"ok", "end of file", "no such file", "permission denied", "failure",
		"bad message", "no connection", "connection lost", "operation unsupported"
	};

	return status < DSYNC_ARRAY_SIZE(names) ? names[status] : "unknown error";
}

int dsync_sftp_status_error(const dsync_sftp_reply *reply, const char *what)
{
	int code = dsync_sftp_status_code(reply->status);

	if (reply->status == DSYNC_SFTP_FX_OK)
		return 0;
	if (reply->message[0])
		return dsync_error_set(code, "%s: %s (sftp status %u)", what, reply->message,
				       reply->status);
	return dsync_error_set(code, "%s: %s (sftp status %u)", what,
			       status_name(reply->status), reply->status);
}
