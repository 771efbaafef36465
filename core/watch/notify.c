/*
 * Desktop notifications (see notify.h).  A child per notification, never
 * waited for long: it forks the tool and ends at once, so the tool is
 * init's (no zombie in the loop, no wait on a slow bus).
 */
#include "core/base/internal.h"
#include "core/base/buf.h"
#include "core/watch/notify.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOTIFY_EXPIRE_MS "10000"

static bool tool_missing_told;

/* Whether the executable NAME is on $PATH; its path in OUT. */
static bool find_tool(char *out, size_t size, const char *name)
{
	const char *path = getenv("PATH");
	const char *p, *end;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p; p = *end ? end + 1 : end) {
		int n;

		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		if (end == p)
			continue;
		n = snprintf(out, size, "%.*s/%s", (int)(end - p), p, name);
		if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* Whether a session bus is there to talk to (no display, no bus: nothing). */
static bool have_session_bus(void)
{
	const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *run = getenv("XDG_RUNTIME_DIR");
	char bus[4096];
	struct stat st;
	int n;

	if (addr && *addr)
		return true;
	if (!run || !*run)
		return false;
	n = snprintf(bus, sizeof(bus), "%s/bus", run);
	return n > 0 && (size_t)n < sizeof(bus) && stat(bus, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Whether F's notifications are on. */
static bool enabled(const wfolder *f)
{
	const char *v = getenv("DSYNC_NOTIFY");

	if (v && (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
		  strcmp(v, "off") == 0))
		return false;
	return !f || f->notify;
}

/* A GVariant text string for `gdbus call`: "..." with \ and " escaped. */
static int gvariant_string(dsync_buf *out, const char *s)
{
	int error = dsync_buf_puts(out, "\"");

	for (; !error && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			error = dsync_buf_printf(out, "\\%c", c);
		else if (c < 0x20)
			error = dsync_buf_puts(out, " ");
		else
			error = dsync_buf_printf(out, "%c", c);
	}
	return error ? error : dsync_buf_puts(out, "\"");
}

/*
 * BODY as the servers that take markup in a body show it as text (&, < and
 * > escaped: a path may hold them), cut to a whole UTF-8 character when it
 * was cut at its size.
 */
static int body_text(dsync_buf *out, char *body, bool cut)
{
	size_t len = strlen(body);
	int error = 0;
	const char *p;

	if (cut) {
		while (len && ((unsigned char)body[len - 1] & 0xC0) == 0x80)
			len--;
		if (len && (unsigned char)body[len - 1] >= 0xC0)
			len--;
		body[len] = '\0';
	}
	for (p = body; !error && *p; p++)
		error = *p == '&' ? dsync_buf_puts(out, "&amp;")
			: *p == '<' ? dsync_buf_puts(out, "&lt;")
			: *p == '>' ? dsync_buf_puts(out, "&gt;")
			: dsync_buf_printf(out, "%c", *p);
	return error;
}

/* In the child: starts TOOL with ARGV detached (stdio on /dev/null, every
 * other descriptor closed: no lock of the loop outlives it). */
static void run_detached(const watch *w, const char *tool, char *const argv[])
{
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		_exit(pid < 0 ? 1 : 0);
	pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	closefrom(3);
	execv(tool, argv);
	_exit(127);
}

void watch_notify(const wfolder *f, const char *summary, const char *fmt, ...)
{
	const watch *w = f ? f->w : NULL;
	char tool[4096], body[1024];
	dsync_buf sum = DSYNC_BUF_INIT, text = DSYNC_BUF_INIT, plain = DSYNC_BUF_INIT;
	bool gdbus;
	va_list ap;
	pid_t pid;
	int status, n;

	if (!w || !enabled(f) || !have_session_bus())
		return;
	if (!(gdbus = find_tool(tool, sizeof(tool), "gdbus")) && !find_tool(tool, sizeof(tool), "notify-send")) {
		if (!tool_missing_told)
			watch_say(w, DSYNC_LOG_INFO, NULL, "notifications: neither gdbus nor notify-send is installed; "
				  "none shown (install libglib2.0-bin or libnotify-bin)");
		tool_missing_told = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	watch_say(w, DSYNC_LOG_DEBUG, f, "notified: %s: %s", summary, body);
	if (body_text(&plain, body, (size_t)n >= sizeof(body)) < 0 || !plain.ptr)
		goto out;
	if (gdbus && (gvariant_string(&sum, summary) < 0 || gvariant_string(&text, plain.ptr) < 0))
		goto out;
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0) {
		if (gdbus) {
			char *argv[] = { "gdbus", "call", "--session", "--timeout", "10",
					 "--dest", "org.freedesktop.Notifications",
					 "--object-path", "/org/freedesktop/Notifications",
					 "--method", "org.freedesktop.Notifications.Notify",
					 "\"dsync\"", "uint32 0", "\"folder-sync\"", sum.ptr, text.ptr,
					 "@as []", "@a{sv} {}", "int32 " NOTIFY_EXPIRE_MS, NULL };

			run_detached(w, tool, argv);
		} else {
			char *argv[] = { "notify-send", "--app-name=dsync", "--icon=folder-sync",
					 "--expire-time=" NOTIFY_EXPIRE_MS, "--", (char *)summary, plain.ptr, NULL };

			run_detached(w, tool, argv);
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
out:
	dsync_buf_dispose(&plain);
	dsync_buf_dispose(&sum);
	dsync_buf_dispose(&text);
}
