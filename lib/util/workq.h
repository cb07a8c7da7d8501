/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/*
 * The library's one thread pool and its one CPU-count policy (internal).
 *
 * Every module that spreads work over threads (the builder's content workers, the Merkle tree
 * of a large file, gc's and fsck's sweeps, the FUSE daemon's blocking requests) uses these, so
 * they agree on how many CPUs there are: those this thread may run on (sched_getaffinity,
 * which honours taskset, cgroup cpusets and containers), not those the machine has.
 */
#ifndef CFS_UTIL_WORKQ_H
#define CFS_UTIL_WORKQ_H

#include <stddef.h>
#include <stdint.h>

/* CPUs this thread may run on (at least 1). */
unsigned cfs_usable_cpus(void);

/* Thread count for @requested: itself when non-zero, else cfs_usable_cpus(), at most @max
 * (0: no limit). */
unsigned cfs_thread_count(unsigned requested, unsigned max);

struct cfs_workq;

/*
 * Options of a pool. Each worker owns @state_size bytes of state (zeroed, then @init, and
 * @fini when the pool is freed), handed to every item it runs: buffers and hash contexts
 * that must not be shared.
 */
struct cfs_workq_opts {
	unsigned threads;  /* 0: cfs_usable_cpus() */
	size_t state_size; /* per-worker state, may be 0 */
	int (*init)(void *state, void *user);  /* 0 or -errno; may be NULL */
	void (*fini)(void *state, void *user); /* may be NULL; also after a failed init */
	void *user;
	/*
	 * 0: cfs_workq_submit() never waits. Else it waits while this many items are queued or
	 * running, until half of them finished: a producer faster than the workers keeps its
	 * items (and what they hold) bounded instead of queueing everything.
	 */
	size_t max_pending;
};

/* An item: runs on some worker with that worker's state. */
typedef void (*cfs_work_fn)(void *state, void *arg);

/* Start the workers. 0, -ENOMEM, an @init error, or -EAGAIN when no thread can start. */
int cfs_workq_new(const struct cfs_workq_opts *o, struct cfs_workq **out);
/* Queue @fn(@arg) (first in, first out), first waiting for room if o->max_pending says so
 * (never call it from an item then). 0 or -ENOMEM (then it was not queued). */
int cfs_workq_submit(struct cfs_workq *q, cfs_work_fn fn, void *arg);
/*
 * Wait until every item submitted so far has run. While waiting, @tick(@user) is called every
 * @tick_ns nanoseconds (progress reports); @tick may be NULL.
 */
void cfs_workq_wait(struct cfs_workq *q, uint64_t tick_ns, void (*tick)(void *user), void *user);
/* Number of worker threads. */
unsigned cfs_workq_threads(const struct cfs_workq *q);
/* Run what is queued, stop the workers, release their state and @q. NULL is fine. */
void cfs_workq_free(struct cfs_workq *q);

/*
 * Call @fn(@user, i) for every i in [0, @n), on up to @threads threads (the calling one among
 * them; 0: cfs_usable_cpus()). Threads take the next index as they finish, so uneven items
 * balance themselves. Where a thread cannot start, the others do its share. Returns when all
 * calls returned.
 */
void cfs_parallel_for(unsigned threads, size_t n, void (*fn)(void *user, size_t i), void *user);

#endif
