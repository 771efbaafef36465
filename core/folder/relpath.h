/*
 * User paths as folder paths (internal part; dsync_folder_relpath is
 * public, in include/dsync/folder.h).
 */
#ifndef DSYNC_CORE_RELPATH_H
#define DSYNC_CORE_RELPATH_H

#include "dsync/folder.h"

/*
 * As dsync_folder_relpath(), without judging the result: *OUT is the
 * folder-relative path (possibly inside .dsync), or NULL when USER_PATH lies
 * outside the folder.
 */
int dsync_folder_locate(char **out, const dsync_folder *f, const char *user_path);

#endif
