/*
 * Passphrases for relay groups (core/sync/passgen.c): the EFF large wordlist
 * the generated ones are drawn from.  Internal to core/sync (and its unit
 * test); the public entry points are in include/dsync/sync.h.
 */
#ifndef DSYNC_CORE_SYNC_PASSGEN_H
#define DSYNC_CORE_SYNC_PASSGEN_H

#define DSYNC_WORDLIST_EFF_SIZE 7776

/* The words, in the list's order (core/sync/wordlist_eff.c, generated). */
extern const char *const dsync_wordlist_eff[DSYNC_WORDLIST_EFF_SIZE];

#endif
