/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* A background publisher for a batch store (objstore-private.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <composefs/store.h>

#include "objstore-private.h"
#include "workq.h"

struct cfs_objstore_syncer {
	struct cfs_objstore *s;
	struct cfs_workq *q; /* one worker; NULL when none could start (kicks sync in line) */
	atomic_bool busy;    /* a sync is queued or running */
	atomic_int err;      /* the first sync error */
};

static void record(struct cfs_objstore_syncer *y, int r)
{
	int none = 0;

	if (r < 0)
		atomic_compare_exchange_strong(&y->err, &none, r);
}

static void sync_item(void *state, void *arg)
{
	struct cfs_objstore_syncer *y = arg;

	(void)state;
	record(y, cfs_objstore_sync(y->s));
	atomic_store(&y->busy, false);
}

int cfs_objstore_syncer_new(struct cfs_objstore *s, struct cfs_objstore_syncer **out)
{
	struct cfs_workq_opts o = { .threads = 1 };
	struct cfs_objstore_syncer *y = calloc(1, sizeof(*y));

	*out = NULL;
	if (y == NULL)
		return -ENOMEM;
	y->s = s;
	atomic_init(&y->busy, false);
	atomic_init(&y->err, 0);
	if (cfs_workq_new(&o, &y->q) < 0)
		y->q = NULL;
	*out = y;
	return 0;
}

int cfs_objstore_syncer_kick(struct cfs_objstore_syncer *y)
{
	if (y->q == NULL)
		record(y, cfs_objstore_sync(y->s));
	else if (!atomic_exchange(&y->busy, true) && cfs_workq_submit(y->q, sync_item, y) < 0)
		atomic_store(&y->busy, false); /* the next kick asks again */
	return atomic_load(&y->err);
}

int cfs_objstore_syncer_free(struct cfs_objstore_syncer *y)
{
	int r;

	if (y == NULL)
		return 0;
	cfs_workq_free(y->q); /* runs a sync still queued */
	r = atomic_load(&y->err);
	free(y);
	return r;
}
