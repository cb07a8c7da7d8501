/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* In-memory byte sources and sinks for tests and fuzz targets that drive read/write callbacks. */
#ifndef CFS_TEST_MEM_IO_H
#define CFS_TEST_MEM_IO_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* A source of @left bytes at @p, given out at most @chunk at a time (0: as asked). */
struct mem {
	const uint8_t *p;
	size_t left;
	size_t chunk;
};

static inline ssize_t mem_read(void *user, void *buf, size_t len)
{
	struct mem *m = user;
	size_t n = len < m->left ? len : m->left;

	if (m->chunk != 0 && n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

/* A sink that keeps everything written to it: @n bytes at @p (free(@p) when done). */
struct image {
	uint8_t *p;
	size_t n;
};

static inline int collect(void *user, const void *buf, size_t len)
{
	struct image *im = user;
	uint8_t *p = realloc(im->p, im->n + len);

	if (p == NULL)
		return -ENOMEM;
	memcpy(p + im->n, buf, len);
	im->p = p;
	im->n += len;
	return 0;
}

#endif
