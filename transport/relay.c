/* relay.c: being written (issue 15) */
#include "core/base/internal.h"

#include "transport/relay.h"

int dsync_blobstore_relay_open(dsync_blobstore **out, const char *url, bool create, const dsync_transport_opts *o)
{
	(void)url, (void)create, (void)o;
	*out = NULL;
	return dsync_error_set(DSYNC_EUSAGE, "relay remotes are being written");
}
