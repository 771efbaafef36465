/*
 * The SFTP version 3 protocol (draft-ietf-secsh-filexfer-02, as OpenSSH's
 * sftp-server speaks it), without any I/O: requests are encoded into a
 * dsync_buf, replies are decoded from bytes a caller has read from whatever
 * stream carries them (an `ssh -s sftp` process's pipes, a libssh2 channel).
 *
 * Every packet on the wire is a uint32 length (of what follows it), a type
 * byte, and (except INIT and VERSION) a uint32 request id.  Replies come from
 * a server we do not trust: every length is checked against what is left,
 * nothing is allocated by a reply's say-so, and a malformed reply is
 * DSYNC_ECORRUPT with a one-line message.
 */
#ifndef DSYNC_SFTP_PROTO_H
#define DSYNC_SFTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"

#define DSYNC_SFTP_VERSION 3

/* Packet types */
enum {
	DSYNC_SFTP_INIT = 1,
	DSYNC_SFTP_VERSION_REPLY = 2,
	DSYNC_SFTP_OPEN = 3,
	DSYNC_SFTP_CLOSE = 4,
	DSYNC_SFTP_READ = 5,
	DSYNC_SFTP_WRITE = 6,
	DSYNC_SFTP_LSTAT = 7,
	DSYNC_SFTP_FSTAT = 8,
	DSYNC_SFTP_SETSTAT = 9,
	DSYNC_SFTP_FSETSTAT = 10,
	DSYNC_SFTP_OPENDIR = 11,
	DSYNC_SFTP_READDIR = 12,
	DSYNC_SFTP_REMOVE = 13,
	DSYNC_SFTP_MKDIR = 14,
	DSYNC_SFTP_RMDIR = 15,
	DSYNC_SFTP_REALPATH = 16,
	DSYNC_SFTP_STAT = 17,
	DSYNC_SFTP_RENAME = 18,
	DSYNC_SFTP_STATUS = 101,
	DSYNC_SFTP_HANDLE = 102,
	DSYNC_SFTP_DATA = 103,
	DSYNC_SFTP_NAME = 104,
	DSYNC_SFTP_ATTRS = 105,
	DSYNC_SFTP_EXTENDED = 200,
	DSYNC_SFTP_EXTENDED_REPLY = 201
};

/* OPEN's pflags */
#define DSYNC_SFTP_FXF_READ 0x01u
#define DSYNC_SFTP_FXF_WRITE 0x02u
#define DSYNC_SFTP_FXF_APPEND 0x04u
#define DSYNC_SFTP_FXF_CREAT 0x08u
#define DSYNC_SFTP_FXF_TRUNC 0x10u
#define DSYNC_SFTP_FXF_EXCL 0x20u

/* Which fields an attribute block holds */
#define DSYNC_SFTP_ATTR_SIZE 0x00000001u
#define DSYNC_SFTP_ATTR_UIDGID 0x00000002u
#define DSYNC_SFTP_ATTR_PERMISSIONS 0x00000004u
#define DSYNC_SFTP_ATTR_ACMODTIME 0x00000008u
#define DSYNC_SFTP_ATTR_EXTENDED 0x80000000u

/* Status codes (v3 defines 0..8; later drafts' codes that some servers send
 * anyway are mapped too, see dsync_sftp_status_code) */
enum {
	DSYNC_SFTP_FX_OK = 0,
	DSYNC_SFTP_FX_EOF = 1,
	DSYNC_SFTP_FX_NO_SUCH_FILE = 2,
	DSYNC_SFTP_FX_PERMISSION_DENIED = 3,
	DSYNC_SFTP_FX_FAILURE = 4,
	DSYNC_SFTP_FX_BAD_MESSAGE = 5,
	DSYNC_SFTP_FX_NO_CONNECTION = 6,
	DSYNC_SFTP_FX_CONNECTION_LOST = 7,
	DSYNC_SFTP_FX_OP_UNSUPPORTED = 8
};

/* The most a READ asks for and a WRITE carries: OpenSSH refuses packets over
 * 256 KiB, so data stays under it with room for the header. */
#define DSYNC_SFTP_MAX_DATA (255u * 1024u)
/* The largest length field a reply may carry (what follows the field). */
#define DSYNC_SFTP_MAX_PACKET (256u * 1024u + 1024u)
/* The longest handle a server may hand out (the draft's limit). */
#define DSYNC_SFTP_MAX_HANDLE 256u
/* Room for a STATUS reply's message, cleaned to one line. */
#define DSYNC_SFTP_MESSAGE_SIZE 256

/* Extensions a VERSION reply offers that we use (bits of .extensions) */
#define DSYNC_SFTP_EXT_POSIX_RENAME 0x1u /* posix-rename@openssh.com "1" */
#define DSYNC_SFTP_EXT_FSYNC 0x2u        /* fsync@openssh.com "1" */
#define DSYNC_SFTP_EXT_STATVFS 0x4u      /* statvfs@openssh.com "2" */
#define DSYNC_SFTP_EXT_LIMITS 0x8u       /* limits@openssh.com "1" */

/* What is wrong with a NAME entry's filename (bits of .name_flags); a caller
 * that lists a folder refuses an entry with any of them, REALPATH's answer
 * (an absolute path) has DSYNC_SFTP_NAME_SLASH by nature. */
#define DSYNC_SFTP_NAME_SLASH 0x1u /* contains '/' */
#define DSYNC_SFTP_NAME_NUL 0x2u   /* contains a NUL byte */
#define DSYNC_SFTP_NAME_DOT 0x4u   /* is "." or ".." */
#define DSYNC_SFTP_NAME_EMPTY 0x8u /* is "" */

typedef struct dsync_sftp_attrs {
	uint32_t flags; /* DSYNC_SFTP_ATTR_*: which fields below are set */
	uint64_t size;
	uint32_t uid, gid;
	uint32_t perms; /* st_mode: type bits and permissions */
	uint32_t atime, mtime;
	uint32_t extended_count; /* pairs skipped in a reply (never sent) */
} dsync_sftp_attrs;

typedef struct dsync_sftp_handle {
	uint32_t len;
	unsigned char bytes[DSYNC_SFTP_MAX_HANDLE];
} dsync_sftp_handle;

/* One entry of a NAME reply; name and longname point into the packet and
 * are not NUL-terminated (a name may even hold a NUL: see name_flags). */
typedef struct dsync_sftp_name {
	const char *name;
	size_t name_len;
	const char *longname;
	size_t longname_len;
	dsync_sftp_attrs attrs;
	unsigned name_flags; /* DSYNC_SFTP_NAME_* */
} dsync_sftp_name;

/* A decoded reply.  Which fields are set depends on type; data and the NAME
 * entries point into the packet, which must outlive the reply. */
typedef struct dsync_sftp_reply {
	uint8_t type;
	uint32_t id; /* 0 for VERSION */
	/* VERSION: the decoder takes any version; the transport refuses a
	 * server that does not answer 3, the only one these packets speak */
	uint32_t version;
	unsigned extensions; /* DSYNC_SFTP_EXT_* */
	/* STATUS */
	uint32_t status;
	char message[DSYNC_SFTP_MESSAGE_SIZE]; /* control bytes and bad UTF-8 as '?' */
	/* HANDLE */
	dsync_sftp_handle handle;
	/* DATA, EXTENDED_REPLY (the rest of the packet) */
	const unsigned char *data;
	size_t data_len;
	/* NAME: count entries, all checked, walked with dsync_sftp_name_next */
	uint32_t count;
	const unsigned char *names;
	size_t names_len;
	/* ATTRS */
	dsync_sftp_attrs attrs;
} dsync_sftp_reply;

/* Walks a NAME reply's entries: set *POS to 0, then each call fills OUT and
 * returns 1, or 0 after the last one. */
int dsync_sftp_name_next(dsync_sftp_name *out, const dsync_sftp_reply *reply, size_t *pos);

/*
 * Framing: given the LEN bytes received so far at DATA, returns 1 and the
 * whole packet's length (length field included) in *OUT_LEN when a packet is
 * there, 0 when more bytes are needed, or DSYNC_ECORRUPT when its length
 * field is 0 or over DSYNC_SFTP_MAX_PACKET (known as soon as 4 bytes came).
 */
int dsync_sftp_frame(size_t *out_len, const void *data, size_t len);

/*
 * Decodes the one whole packet at PACKET (LEN bytes, length field included,
 * as dsync_sftp_frame measured it) into OUT.  Returns 0, or DSYNC_ECORRUPT
 * for anything malformed: a length past the end, trailing bytes, a handle
 * over 256 bytes, an unknown type or attribute flag.
 */
int dsync_sftp_parse_reply(dsync_sftp_reply *out, const void *packet, size_t len);

/* statvfs@openssh.com's reply (EXTENDED_REPLY's data) */
typedef struct dsync_sftp_statvfs {
	uint64_t bsize, frsize, blocks, bfree, bavail, files, ffree, favail;
	uint64_t fsid, flag, namemax;
} dsync_sftp_statvfs;

int dsync_sftp_parse_statvfs(dsync_sftp_statvfs *out, const dsync_sftp_reply *reply);

/*
 * The dsync code for an SFTP status: 0 for OK, DSYNC_ENOTFOUND for
 * NO_SUCH_FILE, DSYNC_EACCESS for PERMISSION_DENIED, ... DSYNC_ERROR for
 * FAILURE and whatever is not known.
 */
int dsync_sftp_status_code(uint32_t status);

/* For a STATUS reply that is not OK: sets the error to "WHAT: MESSAGE" (the
 * server's message, or the status's name when it sent none) and returns
 * dsync_sftp_status_code.  Returns 0 for OK. */
int dsync_sftp_status_error(const dsync_sftp_reply *reply, const char *what);

/*
 * Requests: each appends one whole packet to OUT (nothing when it fails) and
 * returns 0, DSYNC_EUSAGE when a path, handle or data is too long for a
 * packet, or DSYNC_ERROR when OUT cannot grow.  Paths are C strings; ATTRS
 * may be NULL (no attributes); its extended pairs are never sent.
 */
int dsync_sftp_put_init(dsync_buf *out);
int dsync_sftp_put_open(dsync_buf *out, uint32_t id, const char *path, uint32_t pflags,
			const dsync_sftp_attrs *attrs);
int dsync_sftp_put_close(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h);
int dsync_sftp_put_read(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h,
			uint64_t offset, uint32_t len);
int dsync_sftp_put_write(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h,
			 uint64_t offset, const void *data, size_t len);
int dsync_sftp_put_lstat(dsync_buf *out, uint32_t id, const char *path);
int dsync_sftp_put_stat(dsync_buf *out, uint32_t id, const char *path);
int dsync_sftp_put_fstat(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h);
int dsync_sftp_put_setstat(dsync_buf *out, uint32_t id, const char *path,
			   const dsync_sftp_attrs *attrs);
int dsync_sftp_put_fsetstat(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h,
			    const dsync_sftp_attrs *attrs);
int dsync_sftp_put_opendir(dsync_buf *out, uint32_t id, const char *path);
int dsync_sftp_put_readdir(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h);
int dsync_sftp_put_remove(dsync_buf *out, uint32_t id, const char *path);
int dsync_sftp_put_mkdir(dsync_buf *out, uint32_t id, const char *path,
			 const dsync_sftp_attrs *attrs);
int dsync_sftp_put_rmdir(dsync_buf *out, uint32_t id, const char *path);
int dsync_sftp_put_realpath(dsync_buf *out, uint32_t id, const char *path);
/* RENAME: v3 servers (OpenSSH) refuse when NEWPATH exists; posix-rename
 * replaces it atomically, which a put needs. */
int dsync_sftp_put_rename(dsync_buf *out, uint32_t id, const char *oldpath, const char *newpath);
int dsync_sftp_put_posix_rename(dsync_buf *out, uint32_t id, const char *oldpath,
				const char *newpath);
int dsync_sftp_put_fsync(dsync_buf *out, uint32_t id, const dsync_sftp_handle *h);
int dsync_sftp_put_statvfs(dsync_buf *out, uint32_t id, const char *path);

#endif
