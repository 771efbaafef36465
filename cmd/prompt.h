/*
 * Asking for passphrases (from a file, the environment or the terminal) and
 * what reaching a host over ssh asks (on the terminal).
 */
#ifndef DSYNC_CMD_PROMPT_H
#define DSYNC_CMD_PROMPT_H

#include <stdbool.h>

/* Where a command's passphrases come from besides the environment and the
 * terminal. */
typedef struct prompt_source {
	const char *file;        /* --passphrase-file */
	const char *new_file;    /* --new-passphrase-file */
	bool changing;           /* 'dsync passphrase': NEW means the new one */
	bool relay;              /* ... of a relay group: a new one on the terminal is offered generated, as at init */
} prompt_source;

/*
 * The passphrase of KIND (DSYNC_PASSPHRASE_CURRENT or _NEW) for the store
 * at URL into *OUT (malloc'd; the caller wipes and frees it): the first
 * line of P's file, else of $DSYNC_PASSPHRASE (for a new one while
 * changing: the new file, $DSYNC_NEW_PASSPHRASE), else typed on the
 * terminal without echo, a new one twice (three tries).  What
 * dsync_sync_options.passphrase asks for.  0, or a negative error
 * (DSYNC_EAUTH when none can be had).
 */
int prompt_passphrase(char **out, int kind, const char *url, const prompt_source *p);

/*
 * The passphrase of a new relay group at URL (dsync init --relay) into *OUT:
 * from P's file or $DSYNC_PASSPHRASE, checked for strength (DSYNC_EUSAGE
 * with the reason when the relay could guess it); else on the terminal a
 * generated one is shown once, taken with Enter, or the user types their
 * own (checked, twice).  DSYNC_EAUTH when there is no terminal to ask on.
 */
int prompt_new_group_passphrase(char **out, const char *url, const prompt_source *p);

/* Whether a terminal exists to ask on (/dev/tty opens): only then do the
 * commands set dsync_sync_options.prompt. */
bool prompt_have_tty(void);

/*
 * dsync_sync_options.prompt (a dsync_prompt_cb): asks what reaching a host
 * over ssh needs on the terminal.  TEXT's lines are shown with control
 * characters escaped; a key passphrase or password (DSYNC_PROMPT_KEY_
 * PASSPHRASE, _PASSWORD) without echo, a keyboard-interactive answer with
 * echo as ECHO says, an unknown host key (DSYNC_PROMPT_HOSTKEY) with echo
 * (the library takes "yes", "no" or a fingerprint, and asks again).  *OUT
 * is the line typed (malloc'd; the library wipes and frees it).  DSYNC_EAUTH
 * when no terminal is there or nothing is typed (EOF).  PAYLOAD unused.
 */
int prompt_ssh(char **out, int kind, const char *text, bool echo, void *payload);

#endif
