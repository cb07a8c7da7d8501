/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Run-time version query. */
#include <composefs/composefs.h>

const char *cfs_version(void)
{
	return CFS_VERSION_STRING;
}
