/* The built-in SSH client (transport/ssh_builtin.h).  Placeholder. */
#include "core/base/internal.h"

#include "transport/ssh_builtin.h"

int dsync_ssh_builtin_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o)
{
	(void)o;
	*out = NULL;
	return dsync_error_set(DSYNC_ERROR, "%s: the built-in ssh client is not built yet", u->url);
}
