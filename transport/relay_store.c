/*
 * Opening the relay's storage (relay_store.h): the data folder
 * (relay_store_disk.c) or a bucket (relay_s3.c), as the configuration says.
 */
#include "core/base/internal.h"

#include "transport/relay_store.h"

int relay_store_open(relay_store **out, const relay_store_config *c)
{
	*out = NULL;
	if (c->s3_url && c->data_dir)
		return dsync_error_set(DSYNC_EUSAGE, "the relay keeps its state in --data DIR or --s3 URL, not both");
	if (c->s3_url)
		return relay_store_s3_open(out, c->s3_url, c->spool, &c->lim);
	if (!c->data_dir)
		return dsync_error_set(DSYNC_EUSAGE, "the relay needs --data DIR or --s3 URL");
	return relay_store_disk_open(out, c->data_dir, &c->lim);
}
