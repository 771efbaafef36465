/*
 * Ignore rules: a gitignore-syntax matcher of dsync's own (libgit2's reads
 * the user's .gitignore files, which must not apply) and the built-in
 * defaults.  Each pattern is compiled once, when added, into segments of
 * tokens (literal runs, '?', '*', 256-bit classes; "**" segments between
 * slashes); the common shapes of a base-name pattern ("name", "*.ext",
 * "prefix*", "~*.tmp") are compared directly.  Matching never allocates.
 * docs/ignore.md is the user's description.
 */
#include "core/base/internal.h"
#include "core/base/array.h"
#include "dsync/ignore.h"
#include "core/base/buf.h"
#include "core/base/file.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest .dsyncignore read. */
#define MAX_FILE_SIZE (1024 * 1024)

static const char *const default_rules[] = {
	/* editor swap, backup and lock files: vim (and its write test file
	 * 4913), emacs, kate */
	"*.swp", "*.swo", "*.swx", ".*.sw?", "*~", "4913",
	".#*", "\\#*#", ".*.kate-swp",
	/* office lock and temporary files: Microsoft Office, LibreOffice */
	"~$*", "~*.tmp", ".~lock.*#",
	/* macOS litter ("Icon\r" holds a folder's custom icon in a resource
	 * fork, which is not stored) */
	".DS_Store", "._*", "Icon\r", ".AppleDouble/", ".Spotlight-V100/",
	".Trashes/", ".fseventsd/", ".TemporaryItems/",
	".DocumentRevisions-V100/",
	/* Windows litter */
	"Thumbs.db", "ehthumbs.db", "desktop.ini", "$RECYCLE.BIN/",
	"System Volume Information/",
	/* Linux desktop litter: KDE folder settings, trash on other drives */
	".directory", ".Trash-*/",
	/* partial downloads: Firefox, Chrome, Safari (a folder), others */
	"*.part", "*.crdownload", "*.download/", "*.partial",
	/* dsync's own temporary files */
	"*.dsync-tmp", ".dsync-tmp-*",
};

enum { TOK_LIT, TOK_ANY, TOK_CLASS, TOK_STAR };

/* LIT: bytes[off, off + len); CLASS: classes[off]. */
struct tok {
	unsigned char kind;
	size_t off, len;
};

enum {
	SEG_GLOB,  /* toks[first, first + ntoks) match one path segment */
	SEG_DIRS,  /* "**": zero or more segments */
	SEG_TAIL   /* trailing "**": one or more segments */
};

struct seg {
	unsigned char kind;
	size_t first, ntoks;
};

enum {
	RULE_NEGATE = 1 << 0,  /* "!pattern" */
	RULE_DIR = 1 << 1,     /* "pattern/": directories only */
	RULE_PATH = 1 << 2     /* had a slash: matched against the whole path */
};

/* How a base-name rule is matched. */
enum {
	FAST_GLOB,   /* the general matcher on segs[0] */
	FAST_EXACT,  /* "name": the base name is toks[0] */
	FAST_AFFIX   /* "[pre]*[suf]": prefix and suffix compared */
};

struct rule {
	unsigned flags;
	unsigned char fast;
	size_t pre_off, pre_len, suf_off, suf_len;  /* FAST_EXACT, FAST_AFFIX */
	int head, tail;  /* the base name's first and last byte, or -1: any */
	size_t nsegs;
	struct seg *segs;
	struct tok *toks;
	uint8_t (*classes)[32];
	unsigned char *bytes;
	void *mem;  /* the one allocation behind the four arrays */
};

struct dsync_ignore {
	DSYNC_ARRAY(struct rule) rules;
};

/*
 * Compilation, in two passes over the same code: the first (arrays NULL)
 * counts, the second fills arrays of exactly that size.
 */
struct build {
	struct seg *segs;
	struct tok *toks;
	uint8_t (*classes)[32];
	unsigned char *bytes;
	size_t nsegs, ntoks, nclasses, nbytes;
	int last;  /* kind of the current segment's last token, -1: none */
};

static void set_bit(uint8_t *set, unsigned char c)
{
	set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool has_bit(const uint8_t *set, unsigned char c)
{
	return set[c >> 3] & (1u << (c & 7));
}

/* Adds the ASCII members of the POSIX class NAME (LEN bytes) to SET;
 * false when there is no such class. */
static bool add_posix_class(uint8_t *set, const unsigned char *name, size_t len)
{
	static const struct {
		const char *name;
		int (*is)(int);
	} classes[] = {
		{ "alnum", isalnum }, { "alpha", isalpha }, { "blank", isblank },
		{ "cntrl", iscntrl }, { "digit", isdigit }, { "graph", isgraph },
		{ "lower", islower }, { "print", isprint }, { "punct", ispunct },
		{ "space", isspace }, { "upper", isupper }, { "xdigit", isxdigit },
	};
	size_t i;
	int c;

	for (i = 0; i < DSYNC_ARRAY_SIZE(classes); i++) {
		if (strlen(classes[i].name) == len &&
		    memcmp(classes[i].name, name, len) == 0)
			break;
	}
	if (i == DSYNC_ARRAY_SIZE(classes))
		return false;
	/* ASCII only, so the result does not depend on the locale */
	for (c = 0; c < 128; c++) {
		if (classes[i].is(c))
			set_bit(set, (unsigned char)c);
	}
	return true;
}

/*
 * Parses the class starting at P[I] == '[' into SET (may be NULL: only
 * parse).  Returns the index after its ']', or 0 when the class is malformed
 * (unterminated, or an unknown "[:name:]"), as git's wildmatch treats it: the
 * pattern then matches nothing.
 */
static size_t parse_class(uint8_t *set, const unsigned char *p, size_t n, size_t i)
{
	uint8_t tmp[32] = { 0 };
	bool negate = false, first = true;
	size_t j = i + 1, k;

	if (j < n && (p[j] == '!' || p[j] == '^')) {
		negate = true;
		j++;
	}
	for (;;) {
		unsigned char lo, hi;

		if (j >= n)
			return 0;
		if (p[j] == ']' && !first)
			break;
		first = false;
		if (p[j] == '[' && j + 1 < n && p[j + 1] == ':') {
			for (k = j + 2; k < n && p[k] != ']'; k++)
				;
			if (k >= n)
				return 0;
			if (k >= j + 3 && p[k - 1] == ':') {
				if (!add_posix_class(tmp, p + j + 2, k - 1 - (j + 2)))
					return 0;
				j = k + 1;
				continue;
			}
			/* no ":]": the '[' is an ordinary member */
		}
		if (p[j] == '\\' && ++j >= n)
			return 0;
		lo = hi = p[j++];
		if (j + 1 < n && p[j] == '-' && p[j + 1] != ']') {
			j++;
			if (p[j] == '\\' && ++j >= n)
				return 0;
			hi = p[j++];
		}
		for (k = lo; k <= hi; k++)
			set_bit(tmp, (unsigned char)k);
	}
	if (set) {
		for (k = 0; k < sizeof(tmp); k++)
			set[k] = negate ? (uint8_t)~tmp[k] : tmp[k];
		/* never matches the separator (a segment holds none anyway) */
		set['/' >> 3] &= (uint8_t)~(1u << ('/' & 7));
	}
	return j + 1;
}

/* The index of the first separator at or after I: a '/' (escaped or not)
 * outside a class; N when there is none. */
static size_t find_sep(const unsigned char *p, size_t n, size_t i)
{
	while (i < n) {
		size_t end;

		if (p[i] == '/')
			return i;
		if (p[i] == '\\' && i + 1 < n && p[i + 1] != '/')
			i += 2;
		else if (p[i] == '[' && (end = parse_class(NULL, p, n, i)) > 0)
			i = end;
		else
			i++;
	}
	return n;
}

static void add_tok(struct build *b, unsigned char kind, size_t off)
{
	if (b->toks) {
		b->toks[b->ntoks].kind = kind;
		b->toks[b->ntoks].off = off;
		b->toks[b->ntoks].len = 0;
	}
	b->ntoks++;
	b->last = kind;
}

/* Appends C to the segment, extending its literal run if it ends in one. */
static void add_lit(struct build *b, unsigned char c)
{
	if (b->last != TOK_LIT)
		add_tok(b, TOK_LIT, b->nbytes);
	if (b->toks)
		b->toks[b->ntoks - 1].len++;
	if (b->bytes)
		b->bytes[b->nbytes] = c;
	b->nbytes++;
}

/*
 * Compiles the segment P[S, E) of the pattern P (N bytes) into B.  PATH_MODE:
 * a segment of two or more bare stars is "**" (LAST: the trailing one).
 * Returns false when the segment is malformed.
 */
static bool compile_seg(struct build *b, const unsigned char *p, size_t n,
			size_t s, size_t e, bool path_mode, bool last)
{
	struct seg *g = b->segs ? &b->segs[b->nsegs] : NULL;
	unsigned char kind = SEG_GLOB;
	size_t i, first = b->ntoks;

	b->nsegs++;
	b->last = -1;
	if (path_mode && e - s >= 2) {
		for (i = s; i < e && p[i] == '*'; i++)
			;
		if (i == e)
			kind = last ? SEG_TAIL : SEG_DIRS;
	}
	for (i = s; kind == SEG_GLOB && i < e; ) {
		unsigned char c = p[i];
		size_t end;

		if (c == '*') {
			if (b->last != TOK_STAR)
				add_tok(b, TOK_STAR, 0);
			i++;
		} else if (c == '?') {
			add_tok(b, TOK_ANY, 0);
			i++;
		} else if (c == '[') {
			if ((end = parse_class(b->classes ? b->classes[b->nclasses] : NULL,
					       p, n, i)) == 0)
				return false;
			add_tok(b, TOK_CLASS, b->nclasses++);
			i = end;
		} else if (c == '\\' && i + 1 < e) {
			add_lit(b, p[i + 1]);
			i += 2;
		} else if (c == '\\') {
			/* "\/" is a separator like "/"; a backslash that ends
			 * the pattern makes it invalid */
			if (e == n)
				return false;
			i++;
		} else {
			add_lit(b, c);
			i++;
		}
	}
	if (g) {
		g->kind = kind;
		g->first = first;
		g->ntoks = b->ntoks - first;
	}
	return true;
}

/* Compiles the pattern P (N > 0 bytes) into B; false when malformed. */
static bool compile(struct build *b, const unsigned char *p, size_t n, bool path_mode)
{
	size_t s = 0, e;

	for (;;) {
		e = path_mode ? find_sep(p, n, s) : n;
		if (!compile_seg(b, p, n, s, e, path_mode, e == n))
			return false;
		if (e == n)
			return true;
		s = e + 1;
	}
}

static void rule_dispose(struct rule *r)
{
	free(r->mem);
}

/* Picks the direct comparison for a base-name rule when its shape allows. */
static void classify(struct rule *r)
{
	const struct seg *g = &r->segs[0];
	const struct tok *t = &r->toks[g->first];
	size_t i = 0;

	r->fast = FAST_GLOB;
	r->head = r->tail = -1;
	if (r->flags & RULE_PATH)
		return;
	/* the cheapest test: most names fail on a byte at either end */
	if (g->ntoks > 0 && t[0].kind == TOK_LIT)
		r->head = r->bytes[t[0].off];
	if (g->ntoks > 0 && t[g->ntoks - 1].kind == TOK_LIT)
		r->tail = r->bytes[t[g->ntoks - 1].off + t[g->ntoks - 1].len - 1];
	if (g->ntoks == 1 && t[0].kind == TOK_LIT) {
		r->fast = FAST_EXACT;
		r->pre_off = t[0].off;
		r->pre_len = t[0].len;
		return;
	}
	r->pre_off = r->pre_len = r->suf_off = r->suf_len = 0;
	if (i < g->ntoks && t[i].kind == TOK_LIT) {
		r->pre_off = t[i].off;
		r->pre_len = t[i].len;
		i++;
	}
	if (i >= g->ntoks || t[i].kind != TOK_STAR)
		return;
	i++;
	if (i < g->ntoks && t[i].kind == TOK_LIT) {
		r->suf_off = t[i].off;
		r->suf_len = t[i].len;
		i++;
	}
	if (i == g->ntoks)
		r->fast = FAST_AFFIX;
}

static int push_rule(dsync_ignore *ign, const struct rule *r)
{
	if (dsync_array_push(ign->rules, *r) < 0)
		return dsync_error_oom();
	return 0;
}

/* Adds one line of gitignore text (no line end).  Comments, blank lines and
 * malformed patterns (which match nothing, as in git) add no rule. */
static int add_line(dsync_ignore *ign, const char *line, size_t n)
{
	const unsigned char *p = (const unsigned char *)line;
	struct build b = { 0 };
	struct rule r = { 0 };
	size_t i, keep = 0, off;
	bool path_mode;
	char *mem;
	int error;

	/* trailing spaces go unless escaped ("\ ") */
	for (i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n)
			keep = ++i + 1;
		else if (p[i] != ' ')
			keep = i + 1;
	}
	n = keep;
	if (n == 0 || p[0] == '#')
		return 0;
	if (p[0] == '!') {
		r.flags |= RULE_NEGATE;
		p++;
		n--;
	}
	if (n > 0 && p[n - 1] == '/') {
		r.flags |= RULE_DIR;
		n--;
	}
	if (n > 0 && p[0] == '/') {
		r.flags |= RULE_PATH;
		p++;
		n--;
	}
	if (n == 0)
		return 0;
	if (find_sep(p, n, 0) < n)
		r.flags |= RULE_PATH;
	path_mode = r.flags & RULE_PATH;

	if (!compile(&b, p, n, path_mode))
		return 0;
	/* segs and toks first: both hold size_t, so the byte arrays after them
	 * need no further alignment */
	if (!(mem = malloc(b.nsegs * sizeof(struct seg) + b.ntoks * sizeof(struct tok) +
			   b.nclasses * 32 + b.nbytes + 1)))
		return dsync_error_oom();
	r.mem = mem;
	r.segs = (struct seg *)(void *)mem;
	off = b.nsegs * sizeof(struct seg);
	r.toks = (struct tok *)(void *)(mem + off);
	off += b.ntoks * sizeof(struct tok);
	r.classes = (uint8_t (*)[32])(void *)(mem + off);
	off += b.nclasses * 32;
	r.bytes = (unsigned char *)mem + off;
	r.nsegs = b.nsegs;

	memset(&b, 0, sizeof(b));
	b.segs = r.segs;
	b.toks = r.toks;
	b.classes = r.classes;
	b.bytes = r.bytes;
	compile(&b, p, n, path_mode);
	classify(&r);

	if ((error = push_rule(ign, &r)) < 0)
		rule_dispose(&r);
	return error;
}

int dsync_ignore_new(dsync_ignore **out)
{
	dsync_ignore *ign;
	size_t i;
	int error;

	*out = NULL;
	if (!(ign = calloc(1, sizeof(*ign))))
		return dsync_error_oom();
	for (i = 0; i < DSYNC_ARRAY_SIZE(default_rules); i++) {
		if ((error = add_line(ign, default_rules[i], strlen(default_rules[i]))) < 0)
			goto out;
	}
	*out = ign;
	ign = NULL;
	error = 0;
out:
	dsync_ignore_free(ign);
	return error;
}

int dsync_ignore_add_rules(dsync_ignore *ign, const char *buf, size_t len)
{
	size_t pos = 0, before;
	int error;

	if (!ign || (!buf && len > 0))
		return dsync_error_set(DSYNC_EUSAGE, "no ignore rules given");
	before = ign->rules.size;
	/* a UTF-8 byte order mark, as Windows editors write it */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if ((error = add_line(ign, line, n)) < 0)
			goto out;
	}
	error = 0;
out:
	/* all of the text or none of it */
	while (error < 0 && ign->rules.size > before)
		rule_dispose(&ign->rules.ptr[--ign->rules.size]);
	return error;
}

int dsync_ignore_add_file(dsync_ignore *ign, const char *path)
{
	dsync_buf text = DSYNC_BUF_INIT;
	int error;

	if (!ign || !path)
		return dsync_error_set(DSYNC_EUSAGE, "no ignore file given");
	/* without blocking, a regular file only: a FIFO in its place must
	 * not hang the snapshot (or the watcher) */
	error = dsync_file_read(&text, path, MAX_FILE_SIZE, 0);
	if (error == DSYNC_ENOTFOUND)
		error = 0; /* no file: no rules of its own */
	else if (error == 0)
		error = dsync_ignore_add_rules(ign, text.ptr ? text.ptr : "", text.len);
	dsync_buf_dispose(&text);
	return error;
}

/* Whether the tokens of G match all of S (LEN bytes, no '/'): a glob with
 * backtracking to the last '*' only, which is enough when '*' is the one
 * token of variable length (O(pattern * text), no recursion). */
static bool glob_match(const struct rule *r, const struct seg *g,
		       const unsigned char *s, size_t len)
{
	const struct tok *t = &r->toks[g->first];
	size_t ti = 0, si = 0, star_ti = SIZE_MAX, star_si = 0;

	while (ti < g->ntoks || si < len) {
		if (ti < g->ntoks) {
			const struct tok *k = &t[ti];

			switch (k->kind) {
			case TOK_STAR:
				star_ti = ti++;
				star_si = si;
				continue;
			case TOK_LIT:
				if (len - si >= k->len &&
				    memcmp(s + si, r->bytes + k->off, k->len) == 0) {
					si += k->len;
					ti++;
					continue;
				}
				break;
			case TOK_ANY:
				if (si < len) {
					si++;
					ti++;
					continue;
				}
				break;
			case TOK_CLASS:
				if (si < len && has_bit(r->classes[k->off], s[si])) {
					si++;
					ti++;
					continue;
				}
				break;
			}
		}
		/* a mismatch, or text left over: the last '*' takes one more
		 * byte; when it has taken all, nothing can match */
		if (star_ti == SIZE_MAX || star_si >= len)
			return false;
		si = ++star_si;
		ti = star_ti + 1;
	}
	return true;
}

/* The end of the segment of PATH (LEN bytes) starting at OFF. */
static size_t seg_end(const unsigned char *path, size_t len, size_t off)
{
	const unsigned char *slash = memchr(path + off, '/', len - off);

	return slash ? (size_t)(slash - path) : len;
}

/* Whether the segments of R match all of PATH (LEN bytes): the glob above one
 * level up, with "**" as the star and segments as the characters.  A cursor
 * past LEN means every segment of the path was used. */
static bool path_match(const struct rule *r, const unsigned char *path, size_t len)
{
	size_t pi = 0, off = 0, star_pi = SIZE_MAX, star_off = 0;

	for (;;) {
		if (pi < r->nsegs) {
			const struct seg *g = &r->segs[pi];
			size_t end;

			if (g->kind == SEG_DIRS) {
				star_pi = pi++;
				star_off = off;
				continue;
			}
			/* a trailing "**" takes what is inside, not the folder */
			if (g->kind == SEG_TAIL)
				return off <= len;
			if (off > len)
				return false;
			end = seg_end(path, len, off);
			if (glob_match(r, g, path + off, end - off)) {
				pi++;
				off = end + 1;
				continue;
			}
		} else if (off > len) {
			return true;
		}
		if (star_pi == SIZE_MAX || star_off > len)
			return false;
		star_off = seg_end(path, len, star_off) + 1;
		off = star_off;
		pi = star_pi + 1;
	}
}

static bool rule_match(const struct rule *r, const unsigned char *path, size_t len,
		       const unsigned char *base, size_t base_len)
{
	if (r->flags & RULE_PATH)
		return path_match(r, path, len);
	if ((r->head >= 0 && (base_len == 0 || base[0] != r->head)) ||
	    (r->tail >= 0 && (base_len == 0 || base[base_len - 1] != r->tail)))
		return false;
	switch (r->fast) {
	case FAST_EXACT:
		return base_len == r->pre_len &&
		       memcmp(base, r->bytes + r->pre_off, base_len) == 0;
	case FAST_AFFIX:
		return base_len >= r->pre_len + r->suf_len &&
		       memcmp(base, r->bytes + r->pre_off, r->pre_len) == 0 &&
		       memcmp(base + base_len - r->suf_len, r->bytes + r->suf_off,
			      r->suf_len) == 0;
	default:
		return glob_match(r, &r->segs[0], base, base_len);
	}
}

/* Whether PATH (LEN bytes, its base name at BASE) is ignored by its own rules
 * alone: the last rule that matches decides. */
static bool decide(const dsync_ignore *ign, const unsigned char *path, size_t len,
		   size_t base, bool is_dir)
{
	size_t i = ign->rules.size;

	while (i-- > 0) {
		const struct rule *r = &ign->rules.ptr[i];

		if ((r->flags & RULE_DIR) && !is_dir)
			continue;
		if (rule_match(r, path, len, path + base, len - base))
			return !(r->flags & RULE_NEGATE);
	}
	return false;
}

int dsync_ignore_match(const dsync_ignore *ign, const char *path, int is_dir)
{
	const unsigned char *p = (const unsigned char *)path;
	size_t len, base = 0, i;

	if (!ign || !path)
		return 0;
	/* tolerated, though callers should not pass them */
	while (*p == '/')
		p++;
	len = strlen((const char *)p);
	while (len > 0 && p[len - 1] == '/') {
		len--;
		is_dir = 1;
	}
	/* a directory above PATH that is ignored takes PATH with it, as a
	 * walk would never have reached PATH */
	for (i = 0; i < len; i++) {
		if (p[i] != '/')
			continue;
		if (decide(ign, p, i, base, true))
			return 1;
		base = i + 1;
	}
	return len > 0 && decide(ign, p, len, base, is_dir);
}

int dsync_ignore_match_walked(const dsync_ignore *ign, const char *path, int is_dir)
{
	const char *slash;
	size_t len;

	if (!ign || !path || !*path)
		return 0;
	len = strlen(path);
	slash = strrchr(path, '/');
	return decide(ign, (const unsigned char *)path, len,
		      slash ? (size_t)(slash - path) + 1 : 0, is_dir);
}

void dsync_ignore_free(dsync_ignore *ign)
{
	size_t i;

	if (!ign)
		return;
	for (i = 0; i < ign->rules.size; i++)
		rule_dispose(&ign->rules.ptr[i]);
	dsync_array_dispose(ign->rules);
	free(ign);
}
