/*
 * The listing of an sftp:// blob store and the sweep of killed puts'
 * temporary files (transport/sftp_list.c), for transport/sftp.c.
 */
#ifndef DSYNC_TRANSPORT_SFTP_LIST_H
#define DSYNC_TRANSPORT_SFTP_LIST_H

#include <stdbool.h>

#include "transport/blobstore.h"
#include "transport/sftp_store.h"

/* The store's list and is_empty */
int dsync_sftp_store_list(dsync_blobstore *bs, const char *prefix, dsync_blobstore_list_cb cb, void *payload);
int dsync_sftp_store_is_empty(dsync_blobstore *bs, bool *empty);

/* Once per handle, after its first put, removes the temporary
 * files of puts killed long ago, wherever they were (file.c's rule), best
 * effort. */
void dsync_sftp_store_sweep_stale(sftp_store *s);

#endif
