/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Open-addressing hash set (linear probing, backward-shift removal) and XXH64. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashset.h"

/* ---- XXH64, written from the xxHash specification ---- */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t v, unsigned r)
{
	return (v << r) | (v >> (64 - r));
}

static inline uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline uint32_t rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t xround(uint64_t acc, uint64_t lane)
{
	return rotl64(acc + lane * P2, 31) * P1;
}

static inline uint64_t xmerge(uint64_t h, uint64_t v)
{
	return (h ^ xround(0, v)) * P1 + P4;
}

uint64_t cfs_hash64(const void *buf, size_t len, uint64_t seed)
{
	const unsigned char *p = buf, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t a = seed + P1 + P2, b = seed + P2, c = seed, d = seed - P1;

		for (; end - p >= 32; p += 32) {
			a = xround(a, rd64(p));
			b = xround(b, rd64(p + 8));
			c = xround(c, rd64(p + 16));
			d = xround(d, rd64(p + 24));
		}
		h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
		h = xmerge(h, a);
		h = xmerge(h, b);
		h = xmerge(h, c);
		h = xmerge(h, d);
	} else {
		h = seed + P5;
	}
	h += (uint64_t)len;
	for (; end - p >= 8; p += 8)
		h = rotl64(h ^ xround(0, rd64(p)), 27) * P1 + P4;
	if (end - p >= 4) {
		h = rotl64(h ^ (uint64_t)rd32(p) * P1, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl64(h ^ *p * P5, 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

/* ---- the set ---- */

#define MIN_CAP 16

void cfs_hashset_init(struct cfs_hashset *s, size_t elem_size, cfs_hashset_eq_fn eq, void *arg)
{
	*s = (struct cfs_hashset){ .elem_size = elem_size, .eq = eq, .arg = arg };
}

void cfs_hashset_init_keyed(struct cfs_hashset *s, size_t elem_size, size_t key_size)
{
	*s = (struct cfs_hashset){ .elem_size = elem_size, .key_size = key_size };
}

void cfs_hashset_free(struct cfs_hashset *s)
{
	free(s->elems);
	s->elems = NULL;
	s->tags = NULL;
	s->cap = 0;
	s->n = 0;
}

static inline uint32_t tag_of(uint64_t hash)
{
	uint32_t t = (uint32_t)hash;

	return t != 0 ? t : 1;
}

static inline void *elem_at(const struct cfs_hashset *s, size_t i)
{
	return s->elems + i * s->elem_size;
}

/* Move an element: the common sizes without a memcpy call. */
static inline void copy_elem(const struct cfs_hashset *s, void *dst, const void *src)
{
	switch (s->elem_size) {
	case 4:
		memcpy(dst, src, 4);
		break;
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, s->elem_size);
	}
}

static inline bool matches(const struct cfs_hashset *s, size_t i, const void *key)
{
	const unsigned char *e = elem_at(s, i);
	uint64_t a[2], b[2];

	if (s->eq != NULL)
		return s->eq(e, key, s->arg);
	/* the common keys (a pointer, a number, two numbers) without a call */
	switch (s->key_size) {
	case 8:
		memcpy(a, e, 8);
		memcpy(b, key, 8);
		return a[0] == b[0];
	case 16:
		memcpy(a, e, 16);
		memcpy(b, key, 16);
		return a[0] == b[0] && a[1] == b[1];
	default:
		return memcmp(e, key, s->key_size) == 0;
	}
}

/* Where @key is, or (when absent) the empty slot where it would go. */
static inline __attribute__((always_inline)) size_t probe(const struct cfs_hashset *s, uint32_t tag, const void *key, bool *found)
{
	size_t mask = s->cap - 1;

	for (size_t i = tag & mask;; i = (i + 1) & mask) {
		if (s->tags[i] == 0) {
			*found = false;
			return i;
		}
		if (s->tags[i] == tag && matches(s, i, key)) {
			*found = true;
			return i;
		}
	}
}

static int rehash(struct cfs_hashset *s, size_t cap)
{
	size_t tag_off, bytes;
	unsigned char *mem;
	uint32_t *tags;

	/* cap * (elem_size + 4) plus alignment padding, without overflow */
	if (s->elem_size == 0 || cap > (SIZE_MAX - 4) / (s->elem_size + 4))
		return -ENOMEM;
	tag_off = (cap * s->elem_size + 3) & ~(size_t)3;
	bytes = tag_off + cap * sizeof(uint32_t);
	/* zeroed tags; calloc of a large block takes fresh pages and writes nothing */
	mem = calloc(1, bytes);
	if (mem == NULL)
		return -ENOMEM;
	tags = (uint32_t *)(void *)(mem + tag_off);
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;

		if (s->tags[i] == 0)
			continue;
		for (j = s->tags[i] & (cap - 1); tags[j] != 0; j = (j + 1) & (cap - 1))
			;
		tags[j] = s->tags[i];
		copy_elem(s, mem + j * s->elem_size, elem_at(s, i));
	}
	free(s->elems);
	s->elems = mem;
	s->tags = tags;
	s->cap = cap;
	return 0;
}

int cfs_hashset_reserve(struct cfs_hashset *s, size_t n)
{
	size_t cap = s->cap ? s->cap : MIN_CAP;

	/* at most half full: short probe sequences even for absent keys */
	while (cap / 2 < n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	return cap == s->cap ? 0 : rehash(s, cap);
}

void *cfs_hashset_find(const struct cfs_hashset *s, uint64_t hash, const void *key)
{
	bool found;
	size_t i;

	if (s->n == 0)
		return NULL;
	i = probe(s, tag_of(hash), key, &found);
	return found ? elem_at(s, i) : NULL;
}

int cfs_hashset_insert(struct cfs_hashset *s, uint64_t hash, const void *key, void **elem_out)
{
	uint32_t tag = tag_of(hash);
	bool found = false;
	size_t i = 0;

	if (s->cap > 0) {
		i = probe(s, tag, key, &found);
		if (found) {
			*elem_out = elem_at(s, i);
			return 0;
		}
	}
	if (s->n + 1 > s->cap / 2) {
		int r = cfs_hashset_reserve(s, s->n + 1);

		if (r < 0)
			return r;
		/* the key is absent: its empty slot in the new table */
		for (i = tag & (s->cap - 1); s->tags[i] != 0; i = (i + 1) & (s->cap - 1))
			;
	}
	s->tags[i] = tag;
	s->n++;
	*elem_out = elem_at(s, i);
	return 1;
}

/*
 * Empty slot @i and close the gap: every later element of the run that may
 * live at @i (its home is not cyclically in (i, j]) moves back, so probes
 * never meet a hole before their key and no tombstone is needed.
 */
static void remove_slot(struct cfs_hashset *s, size_t i)
{
	size_t mask = s->cap - 1;

	for (size_t j = (i + 1) & mask; s->tags[j] != 0; j = (j + 1) & mask) {
		size_t home = s->tags[j] & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->tags[i] = s->tags[j];
			copy_elem(s, elem_at(s, i), elem_at(s, j));
			i = j;
		}
	}
	s->tags[i] = 0;
	s->n--;
}

bool cfs_hashset_remove(struct cfs_hashset *s, uint64_t hash, const void *key, void *removed)
{
	bool found;
	size_t i;

	if (s->n == 0)
		return false;
	i = probe(s, tag_of(hash), key, &found);
	if (!found)
		return false;
	if (removed != NULL)
		memcpy(removed, elem_at(s, i), s->elem_size);
	remove_slot(s, i);
	return true;
}

void cfs_hashset_remove_at(struct cfs_hashset *s, void *elem)
{
	remove_slot(s, (size_t)((unsigned char *)elem - s->elems) / s->elem_size);
}

void *cfs_hashset_next(const struct cfs_hashset *s, size_t *pos)
{
	for (size_t i = *pos; i < s->cap; i++) {
		if (s->tags[i] != 0) {
			*pos = i + 1;
			return elem_at(s, i);
		}
	}
	*pos = s->cap;
	return NULL;
}

bool cfs_hashset_eq_str(const void *elem, const void *key, void *arg)
{
	const char *e;

	(void)arg;
	memcpy(&e, elem, sizeof(e));
	return strcmp(e, key) == 0;
}
