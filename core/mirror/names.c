/*
 * What a phone's shared storage can hold (docs/mirror.md): the names of
 * FAT-like file systems (vfat, exFAT, Android's sdcardfs and its FUSE
 * layer), the names apps give files while they write them, and dsync's own
 * temporary names on the host.  A path the phone can't hold is kept on the
 * computer only: never written there, never removed here for its absence.
 */
#include "core/base/internal.h"

#include <locale.h>
#include <pthread.h>
#include <sodium.h>
#include <wctype.h>

#include "core/mirror/mirror_internal.h"

#define NAME_MAX_BYTES 255

/* ---- one path ---------------------------------------------------------------------- */

/* The reasons, one per forbidden character (static: callers keep pointers). */
static const char forbidden_chars[] = ":*?\"<>|\\";
static const char *const forbidden_reasons[] = {
	"name has ':'", "name has '*'", "name has '?'", "name has '\"'",
	"name has '<'", "name has '>'", "name has '|'", "name has '\\'",
};

/* Why the component NAME (LEN bytes) can't be a name there; NULL when it can. */
static const char *component_problem(const char *name, size_t len)
{
	const unsigned char *p = (const unsigned char *)name, *end = p + len;
	const char *hit;
	unsigned cp;
	size_t k;

	if (len > NAME_MAX_BYTES)
		return "name longer than 255 bytes";
	while (p < end) {
		if (*p < 0x20 || *p == 0x7f)
			return "control character in name";
		if (*p >= 0x80) {
			/* the sequence must end inside the component: the next '/'
			 * or NUL is never a continuation byte, so this holds */
			if ((k = dsync_utf8_next(p, &cp)) == 0 || p + k > end)
				return "name is not UTF-8";
			p += k;
			continue;
		}
		if ((hit = memchr(forbidden_chars, *p, sizeof(forbidden_chars) - 1)) != NULL)
			return forbidden_reasons[hit - forbidden_chars];
		p++;
	}
	if (len && name[len - 1] == '.')
		return "name ends with '.'";
	if (len && name[len - 1] == ' ')
		return "name ends with ' '";
	return NULL;
}

const char *dsync_mirror_name_problem(const char *path, unsigned mode)
{
	const char *p = path, *slash, *why;

	if (mode == 0120000)
		return "symbolic link";
	for (;;) {
		slash = strchr(p, '/');
		if ((why = component_problem(p, slash ? (size_t)(slash - p) : strlen(p))) != NULL)
			return why;
		if (!slash)
			return NULL;
		p = slash + 1;
	}
}

/* ---- transient and temporary names ------------------------------------------------- */

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* Suffixes in any ASCII case: FAT keeps a name's case but an app's "X.TMP"
 * is as temporary as its "x.tmp". */
static bool has_suffix_icase(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix), i;

	if (len < n)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[len - n + i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (unsigned char)suffix[i])
			return false;
	}
	return true;
}

#define TEMP_MARK ".dsync-"
#define TEMP_HEX 8
/* ".dsync-" KIND "-" and 8 hex digits after BASE */
#define TEMP_TAIL (sizeof(TEMP_MARK) - 1 + 3 + 1 + TEMP_HEX)

static bool temp_name(const char *name, size_t len)
{
	const char *t;
	size_t i;

	/* '.', at least one byte of BASE, the tail */
	if (len < 2 + TEMP_TAIL || name[0] != '.')
		return false;
	t = name + len - TEMP_TAIL;
	if (memcmp(t, TEMP_MARK, sizeof(TEMP_MARK) - 1) != 0)
		return false;
	t += sizeof(TEMP_MARK) - 1;
	if ((memcmp(t, "new", 3) != 0 && memcmp(t, "old", 3) != 0) || t[3] != '-')
		return false;
	for (i = 4; i < 4 + TEMP_HEX; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return false;
	return true;
}

bool dsync_mirror_name_is_temp(const char *name)
{
	return temp_name(name, strlen(name));
}

static bool transient_name(const char *name, size_t len)
{
	return has_prefix(name, len, ".pending-") || has_prefix(name, len, ".trashed-") ||
	       has_prefix(name, len, "~$") || has_suffix_icase(name, len, ".tmp") ||
	       has_suffix_icase(name, len, ".part") || has_suffix_icase(name, len, ".crdownload") ||
	       (name[0] == '.' && has_suffix_icase(name, len, ".swp")) || temp_name(name, len);
}

bool dsync_mirror_name_transient(const char *name)
{
	return transient_name(name, strlen(name));
}

bool dsync_mirror_path_transient(const char *path)
{
	const char *p, *slash;

	for (p = path;; p = slash + 1) {
		slash = strchr(p, '/');
		if (transient_name(p, slash ? (size_t)(slash - p) : strlen(p)))
			return true;
		if (!slash)
			return false;
	}
}

int dsync_mirror_temp_name(dsync_buf *out, const char *path, const char *kind)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	unsigned char rnd[TEMP_HEX / 2];
	char hex[TEMP_HEX + 1];
	size_t blen = strlen(base), room = NAME_MAX_BYTES - 1 - TEMP_TAIL;
	int error;

	if (strcmp(kind, "new") != 0 && strcmp(kind, "old") != 0)
		return dsync_error_set(DSYNC_EUSAGE, "no temporary name of kind '%s'", kind);
	if (!*base)
		return dsync_error_set(DSYNC_EUSAGE, "no temporary name for a path ending in '/'");
	/* the component stays within 255 bytes: BASE shortened, never inside
	 * a UTF-8 sequence (continuation bytes are 10xxxxxx) */
	if (blen > room) {
		blen = room;
		while (blen > 0 && ((unsigned char)base[blen] & 0xc0) == 0x80)
			blen--;
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	if ((error = dsync_buf_put(out, path, (size_t)(base - path))) < 0 || (error = dsync_buf_puts(out, ".")) < 0 ||
	    (error = dsync_buf_put(out, base, blen)) < 0 ||
	    (error = dsync_buf_printf(out, "%s%s-%s", TEMP_MARK, kind, hex)) < 0)
		return error;
	return 0;
}

/* ---- case clashes ------------------------------------------------------------------ */

/*
 * Case folding: code points lowered one by one with towlower_l() in a
 * UTF-8 locale ("simple" folding, what FAT's and exFAT's upcase tables do
 * to within a few letters; no normalisation: "é" precomposed and "e" with
 * a combining accent are different names there too).  Without such a
 * locale on the system, ASCII letters only.
 */
static locale_t fold_locale;
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;

static void fold_init(void)
{
	fold_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!fold_locale)
		fold_locale = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
	if (!fold_locale)
		fold_locale = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
}

static unsigned fold_cp(unsigned cp)
{
	wint_t w;

	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
	if (!fold_locale)
		return cp;
	w = towlower_l((wint_t)cp, fold_locale);
	/* a lowered letter that is no code point (never, in practice) stays */
	return w > 0x10ffff || (w >= 0xd800 && w <= 0xdfff) ? cp : (unsigned)w;
}

static int put_utf8(dsync_buf *b, unsigned cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return dsync_buf_put(b, u, n);
}

/* Appends the folded form of the valid UTF-8 text S (LEN bytes) to OUT. */
static int fold(dsync_buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	unsigned cp;
	size_t k;
	int error;

	while (p < end) {
		/* a byte that is no UTF-8 stays as it is */
		if ((k = dsync_utf8_next(p, &cp)) == 0)
			error = dsync_buf_put(out, p, k = 1);
		else
			error = put_utf8(out, fold_cp(cp));
		if (error < 0)
			return error;
		p += k;
	}
	return 0;
}

char *dsync_mirror_fold(const char *s)
{
	dsync_buf b = DSYNC_BUF_INIT;
	char *out;

	pthread_once(&fold_once, fold_init);
	if (fold(&b, s, strlen(s)) < 0 || (out = dsync_buf_detach(&b)) == NULL) {
		dsync_buf_dispose(&b);
		return NULL;
	}
	return out;
}

/* The folded prefixes seen so far, each with the first prefix (a path's
 * first LEN bytes) that folded to it: open addressing. */
typedef struct fold_slot {
	char *key;             /* folded prefix, NULL: free */
	uint64_t hash;
	size_t path, len;      /* paths[path][0..len) */
} fold_slot;

typedef struct fold_map {
	fold_slot *v;
	size_t cap, n;         /* cap a power of two */
} fold_map;

uint64_t dsync_mirror_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int map_grow(fold_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024, i, j;
	fold_slot *v;

	if ((v = calloc(cap, sizeof(*v))) == NULL)
		return dsync_error_oom();
	for (i = 0; i < m->cap; i++) {
		if (!m->v[i].key)
			continue;
		for (j = m->v[i].hash & (cap - 1); v[j].key; j = (j + 1) & (cap - 1))
			;
		v[j] = m->v[i];
	}
	free(m->v);
	m->v = v;
	m->cap = cap;
	return 0;
}

/* The slot of KEY (LEN bytes): found (its key set) or where it goes. */
static fold_slot *map_slot(fold_map *m, const char *key, size_t len, uint64_t h)
{
	size_t j;

	for (j = h & (m->cap - 1); m->v[j].key; j = (j + 1) & (m->cap - 1))
		if (m->v[j].hash == h && strlen(m->v[j].key) == len && memcmp(m->v[j].key, key, len) == 0)
			break;
	return &m->v[j];
}

static void map_dispose(fold_map *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->v[i].key);
	free(m->v);
}

/* The ends of PATH's prefixes: every '/' and the end. */
static size_t prefix_ends(size_t *ends, size_t max, const char *path)
{
	size_t n = 0, i;

	for (i = 0; path[i]; i++)
		if (path[i] == '/' && n < max)
			ends[n++] = i;
	if (n < max)
		ends[n++] = i;
	return n;
}

/*
 * Checks PATHS[I]'s prefixes (its folders and itself) against the map:
 * *WHY set to the clash's reason (malloc'd) when one of them folds to the
 * fold of an earlier, different prefix; else the prefixes are added.
 */
static int check_clash(char **why, fold_map *m, const char *const *paths, size_t i, dsync_buf *folded)
{
	const char *path = paths[i];
	size_t ends[64], n, k, done = 0;
	dsync_buf msg = DSYNC_BUF_INIT;
	fold_slot *s;
	uint64_t h;
	int error;

	*why = NULL;
	dsync_buf_truncate(folded, 0);
	n = prefix_ends(ends, DSYNC_ARRAY_SIZE(ends), path);
	if (n == DSYNC_ARRAY_SIZE(ends) && path[ends[n - 1]])
		ends[n - 1] = strlen(path);  /* deeper than 64 folders: the folders below 63 levels and the path */
	/* first look: nothing is added for a path that clashes */
	for (k = 0; k < n; k++) {
		if ((error = fold(folded, path + done, ends[k] - done)) < 0)
			return error;
		done = ends[k];
		h = dsync_mirror_hash(folded->ptr, folded->len);
		if (m->cap == 0)
			break;
		s = map_slot(m, folded->ptr, folded->len, h);
		if (s->key && (s->len != ends[k] || memcmp(paths[s->path], path, s->len) != 0)) {
			if (k + 1 < n)
				error = dsync_buf_printf(&msg, "folder '%.*s' differs from '%.*s' only in case",
							 (int)ends[k], path, (int)s->len, paths[s->path]);
			else
				error = dsync_buf_printf(&msg, "differs from '%.*s' only in case", (int)s->len,
							 paths[s->path]);
			if (error < 0 || (*why = dsync_buf_detach(&msg)) == NULL) {
				dsync_buf_dispose(&msg);
				return error < 0 ? error : dsync_error_oom();
			}
			return 0;
		}
		if ((error = dsync_buf_put(folded, "/", 1)) < 0)
			return error;
	}
	/* then record them */
	dsync_buf_truncate(folded, 0);
	done = 0;
	for (k = 0; k < n; k++) {
		if ((error = fold(folded, path + done, ends[k] - done)) < 0)
			return error;
		done = ends[k];
		if ((m->n + 1) * 2 > m->cap && (error = map_grow(m)) < 0)
			return error;
		h = dsync_mirror_hash(folded->ptr, folded->len);
		s = map_slot(m, folded->ptr, folded->len, h);
		if (!s->key) {
			if ((s->key = strdup(folded->ptr)) == NULL)
				return dsync_error_oom();
			s->hash = h;
			s->path = i;
			s->len = ends[k];
			m->n++;
		}
		if ((error = dsync_buf_put(folded, "/", 1)) < 0)
			return error;
	}
	return 0;
}

int dsync_mirror_names_check(char **problem, const char *const *paths, const unsigned *modes, size_t n)
{
	dsync_buf folded = DSYNC_BUF_INIT;
	fold_map m = { 0 };
	const char *why;
	size_t i;
	int error = 0;

	pthread_once(&fold_once, fold_init);
	for (i = 0; i < n; i++)
		problem[i] = NULL;
	for (i = 0; i < n && error == 0; i++) {
		if ((why = dsync_mirror_name_problem(paths[i], modes[i])) == NULL &&
		    dsync_mirror_path_transient(paths[i]))
			why = "name used by apps while writing";
		if (why) {
			if ((problem[i] = strdup(why)) == NULL)
				error = dsync_error_oom();
			continue;
		}
		error = check_clash(&problem[i], &m, paths, i, &folded);
	}
	map_dispose(&m);
	dsync_buf_dispose(&folded);
	if (error < 0)
		for (i = 0; i < n; i++) {
			free(problem[i]);
			problem[i] = NULL;
		}
	return error;
}
