/*
 * Opening a blob store by its URL: the one place that knows every transport
 * (transport/transport.h).
 */
#include "core/base/internal.h"

#include "transport/transport.h"
#include "transport/blobstore.h"
#include "transport/file.h"
#include "transport/relay.h"
#include "transport/s3.h"
#include "transport/s3_url.h"
#include "transport/sftp.h"
#include "transport/sftp_folder.h"
#include "transport/sftp_url.h"
#include "transport/ssh_builtin.h"
#include "transport/ssh_exec.h"

bool dsync_transport_is_ssh(const char *url)
{
	return dsync_sftp_url_is_ssh(url);
}

bool dsync_transport_is_relay(const char *url)
{
	return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* Parses URL into *U (malloc'd: the caller frees it) and opens the ssh
 * stream to its host: the user's OpenSSH or the built-in client, as O says */
static int open_stream(dsync_sftp_stream **stream, dsync_sftp_url **u, const char *url,
		       const dsync_transport_opts *o)
{
	int mode, error;

	*stream = NULL;
	if (!(*u = malloc(sizeof(**u))))
		return dsync_error_oom();
	if ((error = dsync_sftp_url_parse(url, *u)) < 0)
		return error;
	mode = o->ssh_mode;
	if (mode == DSYNC_SSH_AUTO)
		mode = dsync_ssh_exec_available(o) ? DSYNC_SSH_OPENSSH : DSYNC_SSH_BUILTIN;
	if (mode == DSYNC_SSH_OPENSSH)
		return dsync_ssh_exec_open(stream, *u, o);
	return dsync_ssh_builtin_open(stream, *u, o);
}

static const dsync_transport_opts no_opts = { .ssh_mode = DSYNC_SSH_AUTO };

static int open_ssh(dsync_blobstore **out, const char *url, bool create, const dsync_transport_opts *o)
{
	dsync_sftp_stream *stream;
	dsync_sftp_url *u = NULL;
	int error;

	if (!o)
		o = &no_opts;
	if ((error = open_stream(&stream, &u, url, o)) == 0)
		error = dsync_blobstore_sftp_open(out, stream, u, create, o->rate_limit);
	free(u);
	return error;
}

int dsync_transport_open_folder(dsync_sftp_folder **out, const char *url, bool create,
				const dsync_transport_opts *o)
{
	char q[DSYNC_QUOTE_SIZE];
	dsync_sftp_stream *stream;
	dsync_sftp_url *u = NULL;
	int error;

	*out = NULL;
	if (!dsync_sftp_url_is_ssh(url))
		return dsync_error_set(DSYNC_EUSAGE,
				       "'%s': a mirror needs an ssh location: sftp://[user@]host[:port]/path, "
				       "ssh://... or [user@]host:path",
				       dsync_quote(q, url));
	if (!o)
		o = &no_opts;
	if ((error = open_stream(&stream, &u, url, o)) == 0)
		error = dsync_sftp_folder_open(out, stream, u, create, o->rate_limit);
	free(u);
	return error;
}

int dsync_transport_open(dsync_blobstore **out, const char *url, bool create, const dsync_transport_opts *o)
{
	char q[DSYNC_QUOTE_SIZE];

	*out = NULL;
	if (strncmp(url, "file://", 7) == 0) {
		if (url[7] != '/')
			return dsync_error_set(DSYNC_EUSAGE, "'%s': a file:// URL needs an absolute path (file:///path)",
					       dsync_quote(q, url));
		return dsync_blobstore_file_open(out, url + 7, create);
	}
	if (dsync_s3_url_is_s3(url))
		return dsync_blobstore_s3_open(out, url, create, o);
	if (dsync_sftp_url_is_ssh(url))
		return open_ssh(out, url, create, o);
	if (dsync_transport_is_relay(url))
		return dsync_blobstore_relay_open(out, url, create, o);
	if (strstr(url, "://") != NULL)
		return dsync_error_set(DSYNC_EUSAGE,
				       "'%s': this dsync knows file://, sftp://, ssh://, http://, https://, s3:// and "
				       "s3+http:// remotes and local paths",
				       dsync_quote(q, url));
	return dsync_blobstore_file_open(out, url, create);
}
