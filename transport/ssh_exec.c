/* The user's OpenSSH client (transport/ssh_exec.h).  Placeholder. */
#include "core/base/internal.h"

#include "transport/ssh_exec.h"

bool dsync_ssh_exec_available(const dsync_transport_opts *o)
{
	(void)o;
	return false;
}

int dsync_ssh_exec_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o)
{
	(void)o;
	*out = NULL;
	return dsync_error_set(DSYNC_ERROR, "%s: ssh is not built yet", u->url);
}
