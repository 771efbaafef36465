/* ssh addresses (transport/sftp_url.h).  Placeholder until the parser lands. */
#include "core/base/internal.h"

#include "transport/sftp_url.h"

bool dsync_sftp_url_is_ssh(const char *in)
{
	return strncmp(in, "sftp://", 7) == 0 || strncmp(in, "ssh://", 6) == 0;
}

int dsync_sftp_url_parse(const char *in, dsync_sftp_url *out)
{
	memset(out, 0, sizeof(*out));
	return dsync_error_set(DSYNC_EUSAGE, "'%s': sftp:// is not built yet", in);
}
