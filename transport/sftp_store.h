/*
 * What transport/sftp.c (open, get, put, del, stat) and transport/sftp_list.c
 * (the listing and the sweep) share: the store's struct and the small helpers
 * both use (sftp_store.c).  Internal to the sftp:// store.
 */
#ifndef DSYNC_TRANSPORT_SFTP_STORE_H
#define DSYNC_TRANSPORT_SFTP_STORE_H

#include "core/base/buf.h"
#include "transport/blobstore.h"
#include "transport/sftp_client.h"
#include "transport/sftp_xfer.h"

#define LIST_DEPTH 16 /* no store of ours is deeper; a server's loop stops here */

typedef struct sftp_store {
	dsync_blobstore base;
	dsync_sftp_client *c;
	char *root; /* "" (the login folder), "/", or a path without a trailing '/' */
	bool swept;
} sftp_store;

/* The error for reply O, which was not what was hoped for: "WHAT NAME in
 * the store at URL: MESSAGE" (NAME may be "") */
int dsync_sftp_store_reply_error(const one *o, const char *what, const char *name, const char *url);

/* OUT: the server's path of NAME ("" for the store's folder itself) */
int dsync_sftp_store_path_of(const sftp_store *s, const char *name, dsync_buf *out);

#endif
