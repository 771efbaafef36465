/* sftp:// blob stores (transport/sftp.h).  Placeholder until the client lands. */
#include "core/base/internal.h"

#include "transport/sftp.h"

int dsync_blobstore_sftp_open(dsync_blobstore **out, dsync_sftp_stream *stream, const dsync_sftp_url *u,
			      bool create, uint64_t rate_limit)
{
	(void)create;
	(void)rate_limit;
	*out = NULL;
	stream->close(stream);
	return dsync_error_set(DSYNC_ERROR, "%s: sftp:// is not built yet", u->url);
}
