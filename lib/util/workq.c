/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The library's thread pool, parallel loop and CPU count (see workq.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "workq.h"

unsigned cfs_usable_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = get_nprocs();
	return n > 0 ? (unsigned)n : 1;
}

unsigned cfs_thread_count(unsigned requested, unsigned max)
{
	unsigned n = requested ? requested : cfs_usable_cpus();

	return max && n > max ? max : n;
}

struct work_item {
	struct work_item *next;
	cfs_work_fn fn;
	void *arg;
};

struct worker {
	struct cfs_workq *q;
	pthread_t thread;
	bool started, initialised;
	void *state;
};

struct cfs_workq {
	pthread_mutex_t lock;
	pthread_cond_t work;  /* workers: an item, or stop */
	pthread_cond_t idle;  /* waiters: pending reached 0 */
	pthread_cond_t room;  /* a submitter: pending fell to o.max_pending / 2 */
	struct work_item *head, *tail;
	size_t pending;       /* submitted, not yet finished */
	bool stop;
	bool full;            /* a submitter waits on @room */
	struct cfs_workq_opts o;
	unsigned n;
	struct worker workers[];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct cfs_workq *q = w->q;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct work_item *it;

		while (q->head == NULL && !q->stop)
			pthread_cond_wait(&q->work, &q->lock);
		it = q->head;
		if (it == NULL)
			break; /* stopping, and nothing is left */
		q->head = it->next;
		if (q->head == NULL)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		it->fn(w->state, it->arg);
		free(it);
		pthread_mutex_lock(&q->lock);
		if (--q->pending == 0)
			pthread_cond_broadcast(&q->idle);
		if (q->full && q->pending <= q->o.max_pending / 2) {
			q->full = false;
			pthread_cond_broadcast(&q->room);
		}
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int cfs_workq_new(const struct cfs_workq_opts *o, struct cfs_workq **out)
{
	unsigned n = cfs_thread_count(o->threads, 0);
	struct cfs_workq *q;
	int r = 0;

	*out = NULL;
	q = calloc(1, sizeof(*q) + n * sizeof(q->workers[0]));
	if (q == NULL)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->idle, NULL);
	pthread_cond_init(&q->room, NULL);
	q->o = *o;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &q->workers[i];

		w->q = q;
		if (o->state_size) {
			w->state = calloc(1, o->state_size);
			if (w->state == NULL) {
				r = -ENOMEM;
				break;
			}
		}
		q->n = i + 1;
		if (o->init != NULL) {
			r = o->init(w->state, o->user);
			if (r < 0)
				break;
		}
		w->initialised = true;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			/* fewer threads than asked is fine, none is not */
			r = q->workers[0].started ? 0 : -EAGAIN;
			break;
		}
		w->started = true;
	}
	if (r < 0) {
		cfs_workq_free(q);
		return r;
	}
	*out = q;
	return 0;
}

int cfs_workq_submit(struct cfs_workq *q, cfs_work_fn fn, void *arg)
{
	struct work_item *it = malloc(sizeof(*it));

	if (it == NULL)
		return -ENOMEM;
	*it = (struct work_item){ .fn = fn, .arg = arg };
	pthread_mutex_lock(&q->lock);
	while (q->o.max_pending > 0 && q->pending >= q->o.max_pending && cfs_workq_threads(q) > 0) {
		q->full = true;
		pthread_cond_wait(&q->room, &q->lock);
	}
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->pending++;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void cfs_workq_wait(struct cfs_workq *q, uint64_t tick_ns, void (*tick)(void *user), void *user)
{
	pthread_mutex_lock(&q->lock);
	while (q->pending > 0) {
		if (tick == NULL || tick_ns == 0) {
			pthread_cond_wait(&q->idle, &q->lock);
			continue;
		}
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(tick_ns / 1000000000u);
		ts.tv_nsec += (long)(tick_ns % 1000000000u);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&q->idle, &q->lock, &ts) != 0 && q->pending > 0) {
			pthread_mutex_unlock(&q->lock);
			tick(user);
			pthread_mutex_lock(&q->lock);
		}
	}
	pthread_mutex_unlock(&q->lock);
}

unsigned cfs_workq_threads(const struct cfs_workq *q)
{
	unsigned n = 0;

	for (unsigned i = 0; i < q->n; i++)
		n += q->workers[i].started;
	return n;
}

void cfs_workq_free(struct cfs_workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->n; i++) {
		struct worker *w = &q->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
	}
	/* items left when no worker ran at all: run them here, so none is lost */
	while (q->head != NULL) {
		struct work_item *it = q->head;

		q->head = it->next;
		it->fn(q->n ? q->workers[0].state : NULL, it->arg);
		free(it);
	}
	for (unsigned i = 0; i < q->n; i++) {
		struct worker *w = &q->workers[i];

		if (q->o.fini != NULL && (w->initialised || w->state != NULL))
			q->o.fini(w->state, q->o.user);
		free(w->state);
	}
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->room);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* ---- parallel loop ---------------------------------------------------------------------- */

struct pfor {
	void (*fn)(void *user, size_t i);
	void *user;
	size_t n;
	atomic_size_t next;
};

static void *pfor_main(void *arg)
{
	struct pfor *p = arg;

	for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;)
		p->fn(p->user, i);
	return NULL;
}

void cfs_parallel_for(unsigned threads, size_t n, void (*fn)(void *user, size_t i), void *user)
{
	struct pfor p = { .fn = fn, .user = user, .n = n };
	unsigned want = cfs_thread_count(threads, 0), started = 0;
	pthread_t *tids = NULL;

	atomic_init(&p.next, 0);
	if (want > n)
		want = n > 0 ? (unsigned)n : 1;
	if (want > 1)
		tids = calloc(want - 1, sizeof(*tids));
	for (unsigned i = 0; tids != NULL && i + 1 < want; i++) {
		if (pthread_create(&tids[i], NULL, pfor_main, &p) != 0)
			break;
		started++;
	}
	pfor_main(&p); /* this thread takes its share, and any share a thread could not */
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
}
