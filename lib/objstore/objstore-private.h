/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* lib/objstore's internal interface for the modules above it (the repository's gc and fsck). */
#ifndef CFS_OBJSTORE_PRIVATE_H
#define CFS_OBJSTORE_PRIVATE_H

#include <stdbool.h>

struct cfs_objstore;

/*
 * True when @name in the store directory @dirfd is a temporary file or writer lock of a
 * writer that is still running (its `.tmp-<id>.lock` is locked), so it must be neither
 * removed nor reported as left behind: a lazy mount or a pull writing beside gc or fsck.
 * False for any other name and for a writer that is gone (its lock file missing, or its lock
 * taken by us); true also whenever that cannot be told (a lock file we may not open, no
 * flock here): such files are left alone, as cfs_objstore_clean() leaves them.
 */
bool cfs_objstore_temp_in_use(int dirfd, const char *name);

/*
 * A background publisher for a batch store: cfs_objstore_sync() on a worker of its own, so the
 * writer (a build's hashing threads, a pull's downloads) goes on while a batch is made durable
 * and renamed. cfs_objstore_syncer_kick() asks for one sync unless one is queued or running
 * (then that one takes the objects staged meanwhile too, or the next kick does); where no
 * worker could start, it syncs in line: slower, as safe. Both return the first sync error so
 * far (0 if none), so a writer can stop early. cfs_objstore_syncer_free() waits for a sync
 * under way and returns that error too; the caller still syncs what remains staged.
 */
struct cfs_objstore_syncer;

int cfs_objstore_syncer_new(struct cfs_objstore *s, struct cfs_objstore_syncer **out);
int cfs_objstore_syncer_kick(struct cfs_objstore_syncer *y);
int cfs_objstore_syncer_free(struct cfs_objstore_syncer *y);

#endif
