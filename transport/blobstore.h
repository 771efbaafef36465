/*
 * Blob stores: the one interface every transport implements (DESIGN.md
 * section 4).  A blob is named by a '/'-separated relative path ("dsync-store",
 * "packs/NAME", "devices/ID/SEQ"); nothing above transport/ knows which kind
 * of place holds the blobs.  Blob contents move through file descriptors so
 * that a blob of any size moves in bounded memory.
 *
 * Every call returns 0 or a negative DSYNC_E* code with the message set;
 * DSYNC_ENOTFOUND when the named blob does not exist.  A place never makes a
 * call leave it: links inside it are not followed, and a blob must be a
 * plain file.
 */
#ifndef DSYNC_TRANSPORT_BLOBSTORE_H
#define DSYNC_TRANSPORT_BLOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/base/buf.h"

typedef struct dsync_blobstore_info {
	uint64_t size;
	time_t mtime;
} dsync_blobstore_info;

/* Called for each blob a listing finds; a non-zero return stops the
 * listing and is returned by it. */
typedef int (*dsync_blobstore_list_cb)(const char *name, const dsync_blobstore_info *info, void *payload);

/* Bytes moved so far by one get or put (called now and then; may be NULL). */
typedef void (*dsync_blobstore_xfer_cb)(uint64_t bytes, void *payload);

typedef struct dsync_blobstore dsync_blobstore;

struct dsync_blobstore {
	/* The store's place as the user gave it, normalised (file:///abs). */
	char *url;
	/* Every blob whose name starts with PREFIX ("" for all; "devices/"
	 * for everything below devices), in no particular order.  Temporary
	 * files of puts in progress are never listed. */
	int (*list)(dsync_blobstore *s, const char *prefix, dsync_blobstore_list_cb cb, void *payload);
	/* Writes blob NAME to FD (at its current offset).  A blob of more than
	 * MAX bytes (0: no limit) is refused (DSYNC_ECORRUPT) before it is
	 * copied: a store can't make a device fill its memory or disk. */
	int (*get)(dsync_blobstore *s, const char *name, int fd, uint64_t max, dsync_blobstore_xfer_cb xfer,
		   void *payload);
	/* Optional (NULL where blobs are not files on this machine): blob NAME
	 * opened for reading, with get()'s checks (MAX as there), instead of
	 * copied: a descriptor the caller closes, or a negative code.  Read
	 * once from its start it gives what get() would have copied (a put
	 * replaces a blob by a rename, never in place); a caller that
	 * authenticates what it reads as it goes needs no copy of its own. */
	int (*open)(dsync_blobstore *s, const char *name, uint64_t max);
	/* Stores the bytes of FD from its current offset to its end as blob
	 * NAME, replacing any blob of that name, atomically: a reader sees the
	 * old blob or the whole new one, never a part; once it returns 0 the
	 * blob is durable. */
	int (*put)(dsync_blobstore *s, const char *name, int fd, dsync_blobstore_xfer_cb xfer, void *payload);
	/* Removes blob NAME; a blob that is not there is not an error. */
	int (*del)(dsync_blobstore *s, const char *name);
	/* Size and time of blob NAME. */
	int (*stat)(dsync_blobstore *s, const char *name, dsync_blobstore_info *out);
	/* True when the place holds nothing at all (or does not exist yet). */
	int (*is_empty)(dsync_blobstore *s, bool *empty);
	void (*free)(dsync_blobstore *s);
	/* Optional (NULL where the place can't tell; the relay can): waits at
	 * most TIMEOUT_MS for a blob under devices/ to change.  CURSOR
	 * (CURSOR_SIZE bytes, "" at first) is where the caller's last look
	 * left off; it is updated.  *CHANGED is set when something changed
	 * since CURSOR that a round should fetch (a change made by this
	 * device's own last push alone is not one); a first call with "" sets
	 * it at once. */
	int (*wait_change)(dsync_blobstore *s, char *cursor, size_t cursor_size, int timeout_ms, bool *changed);
	/* Optional (NULL where there is no quota): bytes used and the quota
	 * (0: none) of the place, as last known (a call may ask). */
	int (*usage)(dsync_blobstore *s, uint64_t *used, uint64_t *quota);
	/* Optional (NULL where no token admits to the place; a relay group
	 * has one): replaces the place's TOKEN and ADMIT by NEW_TOKEN and
	 * NEW_ADMIT (32 bytes each), the right to do so shown by ADMIT, the
	 * current one (a passphrase change).  The store goes on with
	 * NEW_TOKEN; every other holder of the old token is refused from then
	 * on. */
	int (*rotate_token)(dsync_blobstore *s, const unsigned char *admit, const unsigned char *new_token,
			    const unsigned char *new_admit);
};


/* For transports: 0 when NAME is a blob name (a relative path of plain
 * components: no "", ".", "..", no leading dot, which temporary files have),
 * else DSYNC_EUSAGE. */
int dsync_blobstore_check_name(const char *name);

/* For transports: *EMPTY set to whether S lists no blob at all. */
int dsync_blobstore_lists_nothing(dsync_blobstore *s, bool *empty);

/* Frees S; accepts NULL. */
void dsync_blobstore_free(dsync_blobstore *s);

/* Reads blob NAME whole into OUT (appended), refusing one over MAX bytes
 * (DSYNC_ECORRUPT: small blobs only, never the packs). */
int dsync_blobstore_get_buf(dsync_blobstore *s, const char *name, dsync_buf *out, size_t max);

/* Stores LEN bytes at DATA as blob NAME (atomically, durably). */
int dsync_blobstore_put_buf(dsync_blobstore *s, const char *name, const void *data, size_t len);

#endif
