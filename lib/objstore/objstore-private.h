/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* lib/objstore's internal interface for the modules above it (the repository's gc and fsck). */
#ifndef CFS_OBJSTORE_PRIVATE_H
#define CFS_OBJSTORE_PRIVATE_H

#include <stdbool.h>

/*
 * True when @name in the store directory @dirfd is a temporary file or writer lock of a
 * writer that is still running (its `.tmp-<id>.lock` is locked), so it must be neither
 * removed nor reported as left behind: a lazy mount or a pull writing beside gc or fsck.
 * False for any other name and for a writer that is gone (its lock file missing, or its lock
 * taken by us); true also whenever that cannot be told (a lock file we may not open, no
 * flock here): such files are left alone, as cfs_objstore_clean() leaves them.
 */
bool cfs_objstore_temp_in_use(int dirfd, const char *name);

#endif
