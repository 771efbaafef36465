/*
 * Pausing a folder's automatic work, and whether a watcher watches it (see
 * dsync/pause.h and pause.h).
 *
 * A pause file is four lines, written whole (temp, fsync, rename, and the
 * folder flushed) so a reader never sees half of one:
 *
 *   dsync-pause 1
 *   since UNIX-SECONDS
 *   why ONE LINE
 *   until ONE LINE
 *
 * Read back, it is treated as untrusted: bounded, each line cut at
 * DSYNC_PAUSE_WHY_MAX bytes, control characters shown as '?'.
 */
#include "core/base/internal.h"
#include "core/folder/pause.h"
#include "core/base/file.h"
#include "core/base/path.h"
#include "core/folder/folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAUSE_MAGIC "dsync-pause 1"
#define PAUSE_FILE_MAX 4096
#define USER_WHY "paused by the user"
#define USER_UNTIL "dsync resume"

int dsync_pause_lock_path(dsync_buf *out, const char *cfgdir, const char *folder_id)
{
	return dsync_buf_printf(out, "%s/watch/%s.lock", cfgdir, folder_id);
}

static int file_path(dsync_buf *out, const char *root, const char *name)
{
	return dsync_buf_printf(out, "%s/" DSYNC_DIR "/%s", root, name);
}

bool dsync_pause_user_on(const char *root)
{
	dsync_buf path = DSYNC_BUF_INIT;
	struct stat st;
	bool on = file_path(&path, root, DSYNC_PAUSE_USER_FILE) == 0 && lstat(path.ptr, &st) == 0;

	dsync_buf_dispose(&path);
	return on;
}

/* A copy of the line S (LEN bytes) fit to show: at most DSYNC_PAUSE_WHY_MAX
 * bytes cut at a character's start, control characters and bytes that are
 * not UTF-8 as '?'. */
static char *clean_line(const char *s, size_t len)
{
	char *out = malloc(DSYNC_PAUSE_WHY_MAX + 1);
	size_t i = 0, n = 0;

	if (!out)
		return NULL;
	while (i < len) {
		unsigned cp;
		size_t k = dsync_utf8_next((const unsigned char *)s + i, &cp);

		bool shown = k > 0 && i + k <= len && cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0);

		if (k == 0 || i + k > len)
			k = 1;   /* not UTF-8: one byte at a time */
		if (n + (shown ? k : 1) > DSYNC_PAUSE_WHY_MAX)
			break;
		if (shown) {
			memcpy(out + n, s + i, k);
			n += k;
		} else {
			out[n++] = '?';
		}
		i += k;
	}
	out[n] = '\0';
	return out;
}

void dsync_pause_info_dispose(dsync_pause_info *p)
{
	free(p->why);
	free(p->until);
	memset(p, 0, sizeof(*p));
}

int dsync_pause_read(dsync_pause_info *out, const char *root, const char *name)
{
	dsync_buf path = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT;
	const char *p, *end;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = file_path(&path, root, name)) < 0)
		goto out;
	if ((error = dsync_file_read(&text, path.ptr, PAUSE_FILE_MAX, DSYNC_FILE_NOFOLLOW)) < 0) {
		if (error == DSYNC_ENOTFOUND)
			error = 0;
		goto out;
	}
	/* there, it is on, whatever the rest says: a damaged file pauses too
	 * (dsync resume removes it) */
	out->on = true;
	p = text.ptr ? text.ptr : "";
	end = p + text.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len > 6 && strncmp(p, "since ", 6) == 0) {
			char num[24];

			snprintf(num, sizeof(num), "%.*s", (int)(len - 6 < 20 ? len - 6 : 20), p + 6);
			out->since = strtoll(num, NULL, 10);
			if (out->since < 0)
				out->since = 0;
		} else if (len >= 4 && strncmp(p, "why ", 4) == 0 && !out->why) {
			out->why = clean_line(p + 4, len - 4);
		} else if (len >= 6 && strncmp(p, "until ", 6) == 0 && !out->until) {
			out->until = clean_line(p + 6, len - 6);
		}
		p += len + 1;
	}
	if ((!out->why && (out->why = strdup(strcmp(name, DSYNC_PAUSE_USER_FILE) == 0 ? USER_WHY : "paused")) == NULL) ||
	    (!out->until && (out->until = strdup(strcmp(name, DSYNC_PAUSE_USER_FILE) == 0 ? USER_UNTIL : "")) == NULL))
		error = dsync_error_oom();
out:
	if (error < 0)
		dsync_pause_info_dispose(out);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&text);
	return error;
}

/* Writes the pause file NAME of ROOT: WHY and UNTIL (clean already), since
 * the time of an earlier pause of the same WHY (KEEP_ANY: of any), else now. */
static int write_pause(const char *root, const char *name, const char *why, const char *until, bool keep_any)
{
	dsync_buf path = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT;
	dsync_pause_info old;
	int64_t since = (int64_t)time(NULL);
	int error;

	if ((error = dsync_pause_read(&old, root, name)) < 0)
		dsync_error_clear();   /* unreadable: written anew */
	else if (old.on && old.since && (keep_any || (old.why && strcmp(old.why, why) == 0)))
		since = old.since;
	if (error == 0 && old.on && old.why && strcmp(old.why, why) == 0 && old.until && strcmp(old.until, until) == 0 &&
	    old.since == since) {
		dsync_pause_info_dispose(&old);
		return 0;   /* the same already: nothing written */
	}
	if (error == 0)
		dsync_pause_info_dispose(&old);
	if ((error = file_path(&path, root, name)) < 0 ||
	    (error = dsync_buf_printf(&text, PAUSE_MAGIC "\nsince %lld\nwhy %s\nuntil %s\n", (long long)since, why,
				      until)) < 0)
		goto out;
	error = dsync_path_write_atomic(path.ptr, text.ptr, text.len, 0644, true);
out:
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&text);
	return error;
}

/* Checks the user's reason: one line of printable UTF-8, not too long. */
static int check_why(const char *why)
{
	size_t i = 0, len = strlen(why);

	if (len > DSYNC_PAUSE_WHY_MAX)
		return dsync_error_set(DSYNC_EUSAGE, "the reason is %zu bytes long; at most %d are allowed", len,
				       DSYNC_PAUSE_WHY_MAX);
	while (i < len) {
		unsigned cp;
		size_t k = dsync_utf8_next((const unsigned char *)why + i, &cp);

		if (k == 0)
			return dsync_error_set(DSYNC_EUSAGE, "the reason is not UTF-8 text");
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return dsync_error_set(DSYNC_EUSAGE, "the reason must be one line without control characters");
		i += k;
	}
	return 0;
}

int dsync_folder_pause(dsync_folder *f, const char *why)
{
	int error;

	if (!why || !*why)
		why = USER_WHY;
	if ((error = check_why(why)) < 0)
		return error;
	return write_pause(f->root, DSYNC_PAUSE_USER_FILE, why, USER_UNTIL, true);
}

/* Removes the pause file NAME of ROOT, durably (the folder flushed). */
static int remove_pause(const char *root, const char *name)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char q[DSYNC_QUOTE_SIZE];
	int error = 0, fd;

	if ((error = file_path(&path, root, name)) < 0)
		return error;
	if (unlink(path.ptr) < 0) {
		if (errno != ENOENT)
			error = dsync_error_sys(errno, "cannot remove '%s'", dsync_quote(q, path.ptr));
	} else {
		dsync_buf_truncate(&path, path.len - strlen(name) - 1);
		if ((fd = open(path.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	dsync_buf_dispose(&path);
	return error;
}

int dsync_folder_resume(dsync_folder *f)
{
	return remove_pause(f->root, DSYNC_PAUSE_USER_FILE);
}

int dsync_pause_watcher_set(const char *root, const char *why, const char *until)
{
	char *w = clean_line(why, strlen(why)), *u = clean_line(until, strlen(until));
	int error = w && u ? write_pause(root, DSYNC_PAUSE_WATCHER_FILE, w, u, false) : dsync_error_oom();

	free(w);
	free(u);
	return error;
}

void dsync_pause_watcher_clear(const char *root)
{
	if (remove_pause(root, DSYNC_PAUSE_WATCHER_FILE) < 0)
		dsync_error_clear();
}

/* Whether a watcher holds the watch lock of F now: *PID its pid (0 unknown). */
static int read_watched(bool *watched, long *pid, dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char id[33], text[32];
	char *cfgdir = NULL;
	int fd = -1, error;

	*watched = false;
	*pid = 0;
	if ((error = dsync_folder_marker(id, f)) < 0 || (error = dsync_config_dir(&cfgdir)) < 0 ||
	    (error = dsync_pause_lock_path(&path, cfgdir, id)) < 0)
		goto out;
	if ((error = dsync_file_open(&fd, path.ptr, DSYNC_FILE_NOFOLLOW, NULL)) < 0) {
		if (error == DSYNC_ENOTFOUND)
			error = 0;   /* never watched on this device */
		goto out;
	}
	/* a shared lock for a moment, never waited for: taken, nobody holds it
	 * (a watcher that died holds nothing); the watcher tries again when it
	 * meets this one (take_watch_lock) */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
	} else if (errno == EWOULDBLOCK) {
		ssize_t n = pread(fd, text, sizeof(text) - 1, 0);

		*watched = true;
		text[n > 0 ? n : 0] = '\0';
		*pid = strtol(text, NULL, 10);
		if (*pid < 0)
			*pid = 0;
	}
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	free(cfgdir);
	dsync_buf_dispose(&path);
	return error;
}

int dsync_watch_state_read(dsync_watch_state *out, dsync_folder *f)
{
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = read_watched(&out->watched, &out->pid, f)) < 0 ||
	    (error = dsync_pause_read(&out->user, f->root, DSYNC_PAUSE_USER_FILE)) < 0)
		goto out;
	/* the watcher's pause is its own: a watcher that is gone paused nothing
	 * (the next one finds out again at its first snapshot) */
	if (out->watched && (error = dsync_pause_read(&out->watcher, f->root, DSYNC_PAUSE_WATCHER_FILE)) < 0)
		goto out;
out:
	if (error < 0)
		dsync_watch_state_dispose(out);
	return error;
}

void dsync_watch_state_dispose(dsync_watch_state *s)
{
	if (!s)
		return;
	dsync_pause_info_dispose(&s->user);
	dsync_pause_info_dispose(&s->watcher);
}
