/*
 * Opening a blob store by its URL: the one place that knows every transport
 * (transport/transport.h).
 */
#include "core/base/internal.h"

#include "transport/transport.h"
#include "transport/blobstore.h"
#include "transport/file.h"

int dsync_transport_open(dsync_blobstore **out, const char *url, bool create)
{
	char q[DSYNC_QUOTE_SIZE];

	*out = NULL;
	if (strncmp(url, "file://", 7) == 0) {
		if (url[7] != '/')
			return dsync_error_set(DSYNC_EUSAGE, "'%s': a file:// URL needs an absolute path (file:///path)",
					       dsync_quote(q, url));
		return dsync_blobstore_file_open(out, url + 7, create);
	}
	if (strstr(url, "://") != NULL)
		return dsync_error_set(DSYNC_EUSAGE, "'%s': this dsync knows only file:// remotes and local paths",
				       dsync_quote(q, url));
	return dsync_blobstore_file_open(out, url, create);
}
