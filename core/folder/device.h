/*
 * Device names (internal part; the check is public: dsync_device_name_check
 * in include/dsync/folder.h).
 */
#ifndef DSYNC_CORE_DEVICE_H
#define DSYNC_CORE_DEVICE_H

#include "dsync/folder.h"

/*
 * The device name a new folder gets into OUT: NAME, else $DSYNC_DEVICE_NAME
 * (either checked: DSYNC_EUSAGE when bad), else the host name made safe
 * (characters a name may not hold become '-', cut to the longest name), else
 * "device".
 */
int dsync_device_name_pick(char out[DSYNC_DEVICE_NAME_MAX + 1], const char *name);

/* As dsync_device_name_check(), the message saying WHERE (" in ...") the
 * name came from. */
int dsync_device_name_check_at(const char *name, const char *where);

#endif
