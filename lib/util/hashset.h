/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The library's one hash table: an open-addressing set of fixed-size elements, and its hash. */
#ifndef CFS_HASHSET_H
#define CFS_HASHSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * 64-bit hash of @len bytes (XXH64, from the xxHash specification; any @seed,
 * and a first hash may seed a second to hash two fields as one key). Not
 * keyed against an adversary: a hostile input can make its own keys collide,
 * which costs time (probing), never correctness.
 */
uint64_t cfs_hash64(const void *buf, size_t len, uint64_t seed);

/* Hash of an integer or pointer: XXH64's final avalanche, every input bit reaches every output bit. */
static inline uint64_t cfs_hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xC2B2AE3D27D4EB4FULL;
	v ^= v >> 29;
	v *= 0x165667B19E3779F9ULL;
	v ^= v >> 32;
	return v;
}

static inline uint64_t cfs_hash_ptr(const void *p)
{
	return cfs_hash_u64((uint64_t)(uintptr_t)p);
}

/*
 * Does the stored element @elem match the lookup @key? @arg is the one given
 * at init: a set of indices into an array can compare through it.
 */
typedef bool (*cfs_hashset_eq_fn)(const void *elem, const void *key, void *arg);

/*
 * A set of elements of @elem_size bytes stored inline, found by a hash the
 * caller computes from the key (the same hash for the same key, always) and
 * an equality test. Elements are usually a key followed by a value (a map),
 * a pointer to an entry that holds its own key, or an index into the
 * caller's array. Linear probing with at most half the slots in use, 32 bits
 * of each hash kept beside its element (so most mismatches and all growth
 * cost no call to @eq), removal by shifting back (no tombstones).
 *
 * Element pointers returned by the functions below stay valid until the next
 * insert or remove (growth and removal move elements): keep pointers to
 * entries, not into the set, across those. Iteration order is unspecified;
 * callers whose output must be reproducible sort, or keep their own array.
 * Not thread-safe; no global state. All-zero (after init) is an empty set
 * that allocates on the first insert.
 */
struct cfs_hashset {
	unsigned char *elems; /* cap elements, then cap uint32_t tags; one allocation */
	uint32_t *tags;	      /* 0 = empty slot, else the hash's low 32 bits (0 -> 1) */
	size_t cap;	      /* 0 or a power of two */
	size_t n;
	size_t elem_size;
	size_t key_size;      /* cfs_hashset_init_keyed(): compared with memcmp */
	cfs_hashset_eq_fn eq;
	void *arg;
};

/* Elements of @elem_size bytes (> 0) compared by @eq(elem, key, @arg). */
void cfs_hashset_init(struct cfs_hashset *s, size_t elem_size, cfs_hashset_eq_fn eq, void *arg);
/*
 * Elements whose first @key_size bytes are the key (0 < @key_size <=
 * @elem_size), compared with memcmp: the key must have no padding bytes, or
 * have them zeroed. Hash the same bytes (cfs_hash64(&key, key_size, 0)).
 */
void cfs_hashset_init_keyed(struct cfs_hashset *s, size_t elem_size, size_t key_size);
/* Free the table (not what elements point to: iterate first). Leaves an empty set. */
void cfs_hashset_free(struct cfs_hashset *s);

/* Make room for @n elements in all, so that inserting up to that many cannot fail.
 * 0 or -ENOMEM (the set is unchanged). */
int cfs_hashset_reserve(struct cfs_hashset *s, size_t n);

/* The element matching @key (with @hash), or NULL. */
void *cfs_hashset_find(const struct cfs_hashset *s, uint64_t hash, const void *key);

/*
 * Insert-or-find: *@elem_out is the element matching @key, and the result
 * 0 when it was there, or 1 when a slot was just taken for it: the caller
 * must then fill the element (its key must match @key) before the next call
 * on the set, or give the slot back with cfs_hashset_remove_at().
 * -ENOMEM leaves the set unchanged.
 */
int cfs_hashset_insert(struct cfs_hashset *s, uint64_t hash, const void *key, void **elem_out);

/* Remove the element matching @key, copying it to @removed (if not NULL) so the caller
 * can release what it owns. Returns whether there was one. */
bool cfs_hashset_remove(struct cfs_hashset *s, uint64_t hash, const void *key, void *removed);
/* Remove @elem, a pointer the set returned since its last change. */
void cfs_hashset_remove_at(struct cfs_hashset *s, void *elem);

static inline size_t cfs_hashset_count(const struct cfs_hashset *s)
{
	return s->n;
}

/*
 * Iterate: start with *@pos = 0; returns the next element, or NULL at the
 * end. The set must not change during the iteration.
 *     for (size_t it = 0; (e = cfs_hashset_next(&s, &it)) != NULL;) ...
 */
void *cfs_hashset_next(const struct cfs_hashset *s, size_t *pos);

/* Equality for elements that start with a pointer to a NUL-terminated string, the key being
 * the string (a string set, or a map keyed by name). Pointer keys need no test:
 * cfs_hashset_init_keyed(s, size, sizeof(void *)), key &ptr, hash cfs_hash_ptr(ptr). */
bool cfs_hashset_eq_str(const void *elem, const void *key, void *arg);

#endif
