/*
 * S3 credentials and settings as the AWS CLI, restic and rclone find them
 * (docs/remotes-s3.md section 2):
 *
 *   keys     AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *            from the environment; else the profile's aws_access_key_id,
 *            aws_secret_access_key, aws_session_token in the shared
 *            credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *            ~/.aws/credentials), else in the config file
 *   profile  AWS_PROFILE (else AWS_DEFAULT_PROFILE), default "default"
 *   region   AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region
 *            in the config file (AWS_CONFIG_FILE, default ~/.aws/config;
 *            "[default]" or "[profile NAME]"), else us-east-1
 *   CA       AWS_CA_BUNDLE, else the profile's ca_bundle
 *   style    the profile's "s3 =" block's addressing_style (path, virtual,
 *            auto) in the config file
 *
 * The secret and the session token live in sodium_malloc'd memory, wiped by
 * dsync_s3_creds_dispose; no message ever holds them.
 */
#ifndef DSYNC_TRANSPORT_S3_CREDS_H
#define DSYNC_TRANSPORT_S3_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#define DSYNC_S3_FILE_MAX (1024 * 1024) /* a credentials or config file read at most */

typedef struct dsync_s3_creds {
	char key_id[129];
	char *secret;          /* sodium_malloc'd */
	char *token;           /* sodium_malloc'd, or NULL */
	char region[64];
	char *ca_bundle;       /* malloc'd, or NULL */
	int style;             /* DSYNC_S3_STYLE_* from addressing_style (AUTO when none) */
	char from[160];        /* where the keys came from, for messages ("the environment", "profile 'x' of ~/.aws/credentials") */
} dsync_s3_creds;

/*
 * Finds the credentials and settings as above, into OUT (disposed of
 * with dsync_s3_creds_dispose, also after a failure).  No keys anywhere:
 * DSYNC_EAUTH "no S3 credentials: ...".  A named profile found in neither
 * file, one key without the other, a malformed value: DSYNC_EUSAGE.
 */
int dsync_s3_creds_find(dsync_s3_creds *out);

/*
 * For tests and the fuzz target: reads TEXT (LEN bytes), a credentials
 * (CONFIG false) or config (CONFIG true) file, for PROFILE into OUT: only
 * the settings found are set (OUT filled by the caller first, or zeroed).
 * Returns 1 when the profile's section was there, 0 when not, DSYNC_EUSAGE
 * for a malformed value (a line too long, a control byte in a key).
 */
int dsync_s3_creds_parse(dsync_s3_creds *out, const char *text, size_t len, const char *profile, bool config,
			 const char *path);

void dsync_s3_creds_dispose(dsync_s3_creds *c);

#endif
