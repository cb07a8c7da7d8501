/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-fuse: worker threads for the requests that may take long (opening and reading file data). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cfs-fuse.h"

/*
 * Why: metadata requests are answered from the mapped image in a few
 * microseconds, so what costs is waking a thread. One thread reading
 * /dev/fuse and answering inline keeps that to one wake-up per request
 * (libfuse's multi-threaded loop hands each request to the thread that
 * waited longest, a cold one, and was 2-3x slower for `ls -lR`). Requests
 * that hash or wait for object I/O go to this pool, so they never hold up
 * the metadata path and can use every CPU.
 */
struct cfuse_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cfuse_job *head, *tail;
	bool stop;
	unsigned n_threads;
	pthread_t threads[];
};

static void *worker_main(void *arg)
{
	struct cfuse_workers *w = arg;

	for (;;) {
		struct cfuse_job *job;

		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		job = w->head;
		if (job) {
			w->head = job->next;
			if (!w->head)
				w->tail = NULL;
		}
		pthread_mutex_unlock(&w->lock);
		if (!job)
			return NULL; /* stopping, and the queue is drained */
		job->run(job);
		free(job);
	}
}

int cfuse_workers_new(unsigned n, struct cfuse_workers **out)
{
	struct cfuse_workers *w;
	int r;

	*out = NULL;
	if (n == 0)
		return 0;
	w = calloc(1, sizeof(*w) + n * sizeof(w->threads[0]));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (; w->n_threads < n; w->n_threads++) {
		r = pthread_create(&w->threads[w->n_threads], NULL, worker_main, w);
		if (r != 0) {
			cfuse_workers_free(w);
			return -r;
		}
	}
	*out = w;
	return 0;
}

void cfuse_workers_submit(struct cfuse_workers *w, const struct cfuse_job *job)
{
	struct cfuse_job *copy = w ? malloc(sizeof(*copy)) : NULL;

	if (!copy) {
		/* No pool (or no memory for the queue entry): run it here. */
		struct cfuse_job local = *job;

		local.run(&local);
		return;
	}
	*copy = *job;
	copy->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = copy;
	else
		w->head = copy;
	w->tail = copy;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void cfuse_workers_free(struct cfuse_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->n_threads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
