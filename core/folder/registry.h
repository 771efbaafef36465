/*
 * The per-user registry of folders (internal part; the public one is in
 * include/dsync/folder.h: dsync_config_dir, dsync_folder_list_registered).
 */
#ifndef DSYNC_CORE_REGISTRY_H
#define DSYNC_CORE_REGISTRY_H

/* Takes ROOT out of the per-user registry of folders (a join that failed). */
int dsync_folder_unregister(const char *root);

/* Adds ROOT to the per-user registry (a join resumed after one killed
 * before init registered the folder). */
int dsync_folder_register(const char *root);

/*
 * Whether dsync's per-user config folder (dsync_config_dir) is there, or
 * can be made now, and is writable: what init and remote add need before
 * they make anything (a folder registered nowhere, a store whose key is
 * kept nowhere).  0, or an error naming what is missing (HOME unset).
 */
int dsync_folder_config_dir_ready(void);

#endif
