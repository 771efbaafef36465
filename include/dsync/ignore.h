/*
 * dsync — ignore rules: gitignore syntax from FOLDER/.dsyncignore plus the
 * built-in defaults (editor swap and backup files, office lock files, OS
 * litter, partial downloads).
 */
#ifndef DSYNC_IGNORE_H
#define DSYNC_IGNORE_H

#include <stddef.h>

typedef struct dsync_ignore dsync_ignore;

/*
 * Makes a rule set holding the built-in defaults.  The caller frees it with
 * dsync_ignore_free().  Returns 0 or a negative DSYNC_E* code.
 */
int dsync_ignore_new(dsync_ignore **out);

/*
 * Adds the rules of one gitignore-syntax text (BUF, LEN bytes; need not be
 * NUL-terminated).  Later rules win over earlier ones, so a "!pattern" in the
 * text can re-include what a default left out.  Patterns are anchored at the
 * folder's root (the text is the root .dsyncignore).  Returns 0 or a negative
 * DSYNC_E* code.
 */
int dsync_ignore_add_rules(dsync_ignore *ign, const char *buf, size_t len);

/*
 * Reads and adds PATH (a .dsyncignore file).  A missing file is not an error.
 * Returns 0 or a negative DSYNC_E* code.
 */
int dsync_ignore_add_file(dsync_ignore *ign, const char *path);

/*
 * Whether PATH (relative to the folder's root, '/'-separated, no leading or
 * trailing slash) is ignored.  IS_DIR says whether PATH is a directory
 * (patterns ending in '/' only match directories).  Callers walk the tree top
 * down and do not descend into an ignored directory, so a rule matching a
 * directory excludes everything below it (as git does: a file below an
 * excluded directory cannot be re-included).  Returns 1 when ignored, 0 when
 * not.
 */
int dsync_ignore_match(const dsync_ignore *ign, const char *path, int is_dir);

/*
 * As dsync_ignore_match(), for a walk that has already checked every folder
 * above PATH (and did not descend into ignored ones): only PATH itself is
 * decided, which halves the cost for a tree two levels deep.
 */
int dsync_ignore_match_walked(const dsync_ignore *ign, const char *path, int is_dir);

/* Frees IGN; accepts NULL. */
void dsync_ignore_free(dsync_ignore *ign);

#endif
