/*
 * Asking for passphrases: from a file, the environment or the terminal.
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

#endif
