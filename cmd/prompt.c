/*
 * Passphrases for the remote commands: from --passphrase-file, then
 * $DSYNC_PASSPHRASE, then the terminal (no echo; a new one twice), each
 * the same way (the first line, at most PASS_MAX bytes), and wiped when
 * dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "dsync/common.h"
#include "dsync/sync.h"
#include "output.h"
#include "cmd.h"
#include "prompt.h"

void cmd_wipe(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

/* The longest passphrase line taken (a file, the environment, the terminal). */
#define PASS_MAX 4096
/* How long a FIFO given as the passphrase file may stay without a writer. */
#define FIFO_WAIT_MS 10000

/*
 * The passphrase in the LEN bytes at TEXT, as every source gives it: the
 * first line, without its line break ("\n" or "\r\n"); more lines are
 * ignored.  FROM names the source in messages.  An empty one is returned as
 * "" (the library refuses it, the same way whichever way it came).
 */
static int first_line(char **out, const char *text, size_t len, bool complete, const char *from)
{
	const char *nl = memchr(text, '\n', len);
	size_t n = nl ? (size_t)(nl - text) : len;

	*out = NULL;
	if (memchr(text, '\0', n))
		return dsync_error_set(DSYNC_EAUTH, "%s holds a NUL byte: give a text file with the passphrase on its "
				       "first line", from);
	if (!nl && !complete)
		return dsync_error_set(DSYNC_EAUTH, "the passphrase in %s is longer than %d bytes: give the passphrase "
				       "on its first line", from, PASS_MAX);
	if (n > 0 && text[n - 1] == '\r')
		n--;
	if (n > PASS_MAX)
		return dsync_error_set(DSYNC_EAUTH, "the passphrase in %s is longer than %d bytes", from, PASS_MAX);
	if ((*out = malloc(n + 1)) == NULL)
		return dsync_error_set(DSYNC_ERROR, "out of memory");
	memcpy(*out, text, n);
	(*out)[n] = '\0';
	return 0;
}

/*
 * Reads the first line of the passphrase file PATH: at most PASS_MAX bytes
 * and a line break are read, whatever the file is (/dev/zero, a huge file).
 * A folder is refused; a FIFO or a pipe (--passphrase-file <(pass show x))
 * is read while something writes to it; one nothing writes to is given up
 * on after FIFO_WAIT_MS instead of waited on forever.
 */
static int read_secret_file(char **out, const char *path)
{
	char buf[PASS_MAX + 3], from[4200];
	size_t len = 0;
	bool complete = false, waited = false;
	struct stat st;
	int fd, error;

	*out = NULL;
	snprintf(from, sizeof(from), "'%s'", path);
	/* not blocking in open() on a FIFO nobody writes to */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0)
		return dsync_error_set(DSYNC_EAUTH, "cannot read the passphrase file '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		error = dsync_error_set(DSYNC_EAUTH, "cannot read the passphrase file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		error = dsync_error_set(DSYNC_EAUTH, "the passphrase file '%s' is a folder: give the file that holds "
					"the passphrase", path);
		goto out;
	}
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n == 0 && S_ISFIFO(st.st_mode) && len == 0 && !waited) {
			/* no writer yet: one may be opening it right now */
			struct pollfd p = { fd, POLLIN, 0 };

			waited = true;
			if (poll(&p, 1, FIFO_WAIT_MS) == 0) {
				error = dsync_error_set(DSYNC_EAUTH, "nothing wrote to the FIFO '%s' (waited %d s): give "
							"a file, or write the passphrase to it", path, FIFO_WAIT_MS / 1000);
				goto out;
			}
			continue;
		}
		if (n == 0) {
			complete = true;
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* a FIFO, pipe or terminal with a writer: wait for it */
			struct pollfd p = { fd, POLLIN, 0 };

			if (poll(&p, 1, -1) < 0 && errno != EINTR) {
				error = dsync_error_set(DSYNC_EAUTH, "cannot read the passphrase file '%s': %s", path,
							strerror(errno));
				goto out;
			}
			continue;
		}
		if (n < 0) {
			error = dsync_error_set(DSYNC_EAUTH, "cannot read the passphrase file '%s': %s", path,
						strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	error = first_line(out, buf, len, complete || memchr(buf, '\n', len), from);
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return error;
}

/* The passphrase in environment variable NAME (its first line). */
static int read_secret_env(char **out, const char *name, const char *value)
{
	char from[64];

	snprintf(from, sizeof(from), "$%s", name);
	return first_line(out, value, strlen(value), true, from);
}

/* The terminal's settings while echo is off, put back by a signal that ends
 * the program meanwhile (Ctrl-C at the prompt must not leave a terminal that
 * shows nothing typed). */
static struct termios tty_saved;
static int tty_saved_fd = -1;
static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void tty_restore_and_die(int sig)
{
	if (tty_saved_fd >= 0)
		tcsetattr(tty_saved_fd, TCSAFLUSH, &tty_saved);
	raise(sig);   /* delivered when this returns, with the default action */
}

/* Installs (ON) or takes back the handler for TTY_SIGNALS that are not
 * ignored; OLD keeps what was there. */
static void tty_guard(bool on, struct sigaction *old)
{
	size_t i;

	for (i = 0; i < sizeof(tty_signals) / sizeof(*tty_signals); i++) {
		if (on) {
			struct sigaction sa;

			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = tty_restore_and_die;
			sa.sa_flags = (int)SA_RESETHAND;
			sigemptyset(&sa.sa_mask);
			if (sigaction(tty_signals[i], NULL, &old[i]) == 0 && old[i].sa_handler != SIG_IGN)
				sigaction(tty_signals[i], &sa, NULL);
		} else if (old[i].sa_handler != SIG_IGN) {
			sigaction(tty_signals[i], &old[i], NULL);
		}
	}
}

/*
 * Writes PROMPT on the terminal TTY and reads one line, echoed or not (ECHO):
 * the line without its break into *OUT.  The terminal is put back as it
 * was, also when a signal ends the program meanwhile.  WHAT names the
 * answer in the message when none comes (EOF).
 */
static int tty_line(char **out, FILE *tty, const char *prompt, bool echo, const char *what)
{
	struct sigaction old_actions[sizeof(tty_signals) / sizeof(*tty_signals)];
	struct termios old, quiet;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool restored = true;
	int error;

	*out = NULL;
	memset(old_actions, 0, sizeof(old_actions));
	out_progress_done();
	fputs(prompt, tty);
	fflush(tty);
	if (!echo && tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tty_saved = old;
		tty_saved_fd = fileno(tty);
		tty_guard(true, old_actions);
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
		restored = false;
	}
	n = getline(&line, &cap, tty);
	if (!restored) {
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
		tty_guard(false, old_actions);
		tty_saved_fd = -1;
	}
	if (n < 0) {
		free(line);
		return dsync_error_set(DSYNC_EAUTH, "no %s given", what);
	}
	error = first_line(out, line, (size_t)n, true, "the typed line");
	explicit_bzero(line, (size_t)n);
	free(line);
	return error;
}

/* The controlling terminal, to ask on (NULL: none: cron, systemd, the
 * daemon).  The test ssh's BatchMode choice makes too (docs/sftp.md 2). */
static FILE *tty_open(void)
{
	return fopen("/dev/tty", "r+e");
}

/* Asks on the terminal, without echo. */
static int read_tty(char **out, const char *prompt, bool is_new)
{
	FILE *tty = tty_open();
	int error;

	*out = NULL;
	if (!tty)
		return dsync_error_set(DSYNC_EAUTH, "a %spassphrase is needed: no terminal to ask on (set %s or use %s)",
				       is_new ? "new " : "", is_new ? "DSYNC_NEW_PASSPHRASE" : "DSYNC_PASSPHRASE",
				       is_new ? "--new-passphrase-file" : "--passphrase-file");
	error = tty_line(out, tty, prompt, false, "passphrase");
	fclose(tty);
	return error;
}

/* A typed passphrase for a new relay group: refused (DSYNC_EUSAGE, the
 * reason in the message) when the relay could guess it. */
static int strong_enough(char **pass)
{
	int error;

	if (!**pass || (error = dsync_passphrase_strength(*pass, NULL)) == 0)
		return 0;   /* an empty one: the library refuses it */
	cmd_wipe(*pass);
	*pass = NULL;
	return error;
}

/* A relay group's new passphrase on the terminal (CHANGING: a group's
 * passphrase changed): a generated one offered, Enter takes it; one typed
 * instead is checked for strength and asked twice. */
static int new_group_tty(char **out, const char *url, bool changing)
{
	char *mine = NULL, *again = NULL;
	FILE *tty;
	int tries, error;

	*out = NULL;
	if ((tty = tty_open()) == NULL)
		return dsync_error_set(DSYNC_EAUTH, "a new passphrase is needed: no terminal to ask on (set %s or "
				       "use %s)", changing ? "DSYNC_NEW_PASSPHRASE" : "DSYNC_PASSPHRASE",
				       changing ? "--new-passphrase-file" : "--passphrase-file");
	if ((error = dsync_passphrase_generate(out, 0)) < 0) {
		fclose(tty);
		return error;
	}
	out_progress_done();
	/* shown once, on the terminal only (never in a log) */
	fprintf(tty, "The relay group at %s needs a%s passphrase: it admits devices and encrypts the store.\n"
		"Here is one, made of %d random words (%.0f bits):\n\n    %s\n\n"
		"Write it down or keep it in a password manager: every device that joins needs it, and\n"
		"nobody can recover it.\n", out_name(url), changing ? " new" : "", DSYNC_PASSPHRASE_WORDS,
		dsync_passphrase_generated_bits(0), *out);
	fflush(tty);
	for (tries = 0; tries < 3; tries++) {
		if ((error = tty_line(&mine, tty, "Press Enter to use it, or type your own: ", false, "passphrase")) < 0)
			break;
		if (!*mine) {   /* Enter: the generated one */
			cmd_wipe(mine);
			fclose(tty);
			return 0;
		}
		if ((error = strong_enough(&mine)) < 0) {
			fprintf(tty, "%s\n", dsync_error_last());
			continue;
		}
		if ((error = tty_line(&again, tty, "Repeat it: ", false, "passphrase")) < 0)
			break;
		if (strcmp(mine, again) == 0) {
			cmd_wipe(again);
			cmd_wipe(*out);
			*out = mine;
			fclose(tty);
			return 0;
		}
		fprintf(tty, "they differ; again\n");
		error = dsync_error_set(DSYNC_EAUTH, "the passphrase typed twice differed");
		cmd_wipe(again);
		cmd_wipe(mine);
		again = mine = NULL;
	}
	fclose(tty);
	cmd_wipe(mine);
	cmd_wipe(*out);
	*out = NULL;
	return error < 0 ? error : dsync_error_set(DSYNC_EAUTH, "no new passphrase given");
}

int prompt_passphrase(char **out, int kind, const char *url, const prompt_source *p)
{
	const char *env;
	char prompt[4200], *again = NULL;
	int tries, error;

	*out = NULL;
	if (kind == DSYNC_PASSPHRASE_NEW && p->changing) {
		if (p->new_file)
			return read_secret_file(out, p->new_file);
		if ((env = getenv("DSYNC_NEW_PASSPHRASE")) != NULL)
			return read_secret_env(out, "DSYNC_NEW_PASSPHRASE", env);
		if (p->relay)
			return new_group_tty(out, url, true);
	} else {
		if (p->file)
			return read_secret_file(out, p->file);
		if ((env = getenv("DSYNC_PASSPHRASE")) != NULL)
			return read_secret_env(out, "DSYNC_PASSPHRASE", env);
	}
	if (kind == DSYNC_PASSPHRASE_CURRENT) {
		snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", url);
		return read_tty(out, prompt, false);
	}
	for (tries = 0; tries < 3; tries++) {
		snprintf(prompt, sizeof(prompt), "New passphrase for %s: ", url);
		if ((error = read_tty(out, prompt, p->changing)) < 0)
			return error;
		if ((error = read_tty(&again, "Repeat it: ", p->changing)) < 0)
			break;
		/* the same twice: taken (an empty one too, for the library to
		 * refuse as it refuses one from a file) after the last try */
		if (strcmp(*out, again) == 0 && (**out || tries == 2)) {
			cmd_wipe(again);
			return 0;
		}
		fprintf(stderr, "%s\n", **out ? "they differ; again" : "empty; again");
		cmd_wipe(again);
		again = NULL;
		cmd_wipe(*out);
		*out = NULL;
	}
	cmd_wipe(*out);
	*out = NULL;
	return error < 0 ? error : dsync_error_set(DSYNC_EAUTH, "no new passphrase given");
}

bool prompt_have_tty(void)
{
	FILE *tty = tty_open();

	if (!tty)
		return false;
	fclose(tty);
	return true;
}

/* Writes TEXT (from the library; a keyboard-interactive question comes from
 * the server) on TTY, each line through out_text() so no control
 * character reaches the terminal; the last line without its break, as the
 * question the answer follows. */
static void put_question(FILE *tty, const char *text)
{
	const char *p = text, *nl;

	while ((nl = strchr(p, '\n')) != NULL) {
		fprintf(tty, "%s\n", out_text(p, (size_t)(nl - p)));
		p = nl + 1;
	}
	fputs(out_text(p, strlen(p)), tty);
}

int prompt_ssh(char **out, int kind, const char *text, bool echo, void *payload)
{
	static const char *const what[] = { "answer", "key passphrase", "password", "answer", "answer" };
	FILE *tty;
	int error;

	(void)payload;
	*out = NULL;
	if (kind < DSYNC_PROMPT_KEY_PASSPHRASE || kind > DSYNC_PROMPT_HOSTKEY)
		return dsync_error_set(DSYNC_EAUTH, "cannot answer a question of kind %d", kind);
	if ((tty = tty_open()) == NULL)
		return dsync_error_set(DSYNC_EAUTH, "a %s is needed: no terminal to ask on", what[kind]);
	out_progress_done();
	/* a secret is never echoed, whatever the caller says */
	if (kind == DSYNC_PROMPT_KEY_PASSPHRASE || kind == DSYNC_PROMPT_PASSWORD)
		echo = false;
	else if (kind == DSYNC_PROMPT_HOSTKEY)
		echo = true;
	/* the library judges the answer (and asks again, as ssh does) */
	put_question(tty, text);
	error = tty_line(out, tty, "", echo, what[kind]);
	fclose(tty);
	return error;
}

int prompt_new_group_passphrase(char **out, const char *url, const prompt_source *p)
{
	const char *env;
	int error;

	*out = NULL;
	if (p->file) {
		if ((error = read_secret_file(out, p->file)) < 0)
			return error;
		return strong_enough(out);
	}
	if ((env = getenv("DSYNC_PASSPHRASE")) != NULL) {
		if ((error = read_secret_env(out, "DSYNC_PASSPHRASE", env)) < 0)
			return error;
		return strong_enough(out);
	}
	return new_group_tty(out, url, false);
}
