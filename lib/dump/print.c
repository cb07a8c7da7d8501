/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Inode tree -> dump text, byte-identical to the reference `composefs-info dump`. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <composefs/dump.h>

#include "dump-private.h"
#include "node.h"
#include "util.h"

/* Growable path buffer ("" for the root, then "/a", "/a/b", ...). */
struct pathbuf {
	char *s;
	size_t len, cap;
};

static int path_push(struct pathbuf *pb, const char *name)
{
	size_t n = strlen(name);

	if (pb->len + n + 2 > pb->cap) {
		size_t cap = pb->cap ? pb->cap : 256;
		char *s;

		while (pb->len + n + 2 > cap)
			cap *= 2;
		s = realloc(pb->s, cap);
		if (s == NULL)
			return -ENOMEM;
		pb->s = s;
		pb->cap = cap;
	}
	pb->s[pb->len++] = '/';
	memcpy(pb->s + pb->len, name, n + 1);
	pb->len += n;
	return 0;
}

/* First path printed for each multiply-referenced inode (open addressing). */
struct linkmap {
	struct linkslot {
		const struct cfs_node *node;
		char *path;
	} *slots;
	size_t size, used;
};

static size_t ptr_hash(const void *p, size_t size)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 17) & (size - 1);
}

static struct linkslot *linkmap_find(struct linkmap *m, const struct cfs_node *node)
{
	size_t i;

	if (m->size == 0)
		return NULL;
	for (i = ptr_hash(node, m->size); m->slots[i].node != NULL; i = (i + 1) & (m->size - 1))
		if (m->slots[i].node == node)
			return &m->slots[i];
	return NULL;
}

static int linkmap_add(struct linkmap *m, const struct cfs_node *node, const char *path, size_t len)
{
	size_t i;

	if ((m->used + 1) * 2 > m->size) {
		size_t size = m->size ? 2 * m->size : 64;
		struct linkslot *s = calloc(size, sizeof(*s));

		if (s == NULL)
			return -ENOMEM;
		for (size_t k = 0; k < m->size; k++) {
			if (m->slots[k].node == NULL)
				continue;
			for (i = ptr_hash(m->slots[k].node, size); s[i].node; i = (i + 1) & (size - 1))
				;
			s[i] = m->slots[k];
		}
		free(m->slots);
		m->slots = s;
		m->size = size;
	}
	for (i = ptr_hash(node, m->size); m->slots[i].node; i = (i + 1) & (m->size - 1))
		;
	m->slots[i].path = strndup(path, len);
	if (m->slots[i].path == NULL)
		return -ENOMEM;
	m->slots[i].node = node;
	m->used++;
	return 0;
}

static void linkmap_free(struct linkmap *m)
{
	for (size_t i = 0; i < m->size; i++)
		free(m->slots[i].path);
	free(m->slots);
}

static void put_escaped(FILE *out, const char *s, size_t len, unsigned flags)
{
	if ((flags & CFS_ESC_LONE_DASH) && len == 1 && s[0] == '-') {
		fputs("\\x2d", out);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		char e[4];
		size_t n = cfs_dump_escape_char((uint8_t)s[i], flags, e);

		if (n == 1)
			putc_unlocked(e[0], out);
		else
			fwrite_unlocked(e, 1, n, out);
	}
}

static void put_optional(FILE *out, const char *s, size_t len)
{
	if (s == NULL || len == 0)
		putc_unlocked('-', out);
	else
		put_escaped(out, s, len, CFS_ESC_LONE_DASH);
}

/*
 * One line for @node at @path (unescaped, "" for the root). @link_target is
 * the path of the inode's first printed name when this one is a hard link.
 */
static void print_line(FILE *out, const struct cfs_node *node, const char *path, size_t len,
		       const char *link_target)
{
	char digest[2 * CFS_DIGEST_SIZE + 1];

	if (len == 0)
		putc_unlocked('/', out);
	else
		put_escaped(out, path, len, 0);
	fprintf(out, " %" PRIu64 " %s%o %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRId64 ".%" PRIu32 " ",
		node->size, link_target ? "@" : "", (unsigned)node->mode, node->nlink, node->uid, node->gid,
		node->rdev, node->mtime_sec, node->mtime_nsec);
	if (link_target)
		put_optional(out, link_target, strlen(link_target));
	else
		put_optional(out, node->payload, node->payload ? strlen(node->payload) : 0);
	putc_unlocked(' ', out);
	put_optional(out, (const char *)node->content, node->content ? node->content_len : 0);
	putc_unlocked(' ', out);
	if (node->has_digest) {
		cfs_hex_encode(node->digest, CFS_DIGEST_SIZE, digest);
		fputs(digest, out);
	} else {
		putc_unlocked('-', out);
	}
	for (size_t i = 0; i < node->n_xattrs; i++) {
		const struct cfs_xattr *x = &node->xattrs[i];

		putc_unlocked(' ', out);
		put_escaped(out, x->name, strlen(x->name), CFS_ESC_EQUAL);
		putc_unlocked('=', out);
		put_escaped(out, (const char *)x->value, x->len, CFS_ESC_EQUAL);
	}
	putc_unlocked('\n', out);
}

static bool filtered_out(const char *const *filters, const char *name)
{
	if (filters == NULL)
		return false;
	for (; *filters; filters++)
		if (strcmp(*filters, name) == 0)
			return false;
	return true;
}

struct frame {
	const struct cfs_node *dir;
	size_t next;     /* next entry index */
	size_t path_len; /* length of the directory's path */
};

/* Print the entries below the root, depth first, without recursion. */
static int print_tree(FILE *out, const struct cfs_node *root, const char *const *filters,
		      struct pathbuf *pb, struct linkmap *links)
{
	_cleanup_free_ struct frame *stack = malloc(32 * sizeof(*stack));
	size_t depth = 1, cap = 32;

	if (stack == NULL)
		return -ENOMEM;
	stack[0] = (struct frame){ .dir = root, .next = 0, .path_len = 0 };
	while (depth > 0) {
		struct frame *top = &stack[depth - 1];
		const struct cfs_node *dir = top->dir, *child;
		struct linkslot *seen = NULL;
		const char *name;

		if (top->next >= dir->n_entries) {
			depth--;
			continue;
		}
		child = dir->entries[top->next].node;
		name = dir->entries[top->next].name;
		top->next++;
		if (dir == root && filtered_out(filters, name))
			continue;
		pb->len = top->path_len;
		if (path_push(pb, name) < 0)
			return -ENOMEM;

		if (!S_ISDIR(child->mode))
			seen = linkmap_find(links, child);
		print_line(out, child, pb->s, pb->len, seen ? seen->path : NULL);
		if (S_ISDIR(child->mode)) {
			if (depth == cap) {
				struct frame *s = realloc(stack, 2 * cap * sizeof(*s));

				if (s == NULL)
					return -ENOMEM;
				stack = s;
				cap *= 2;
			}
			stack[depth++] = (struct frame){ .dir = child, .next = 0, .path_len = pb->len };
		} else if (seen == NULL && child->refcount > 1 &&
			   linkmap_add(links, child, pb->s, pb->len) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

int cfs_dump_print(struct cfs_node *root, FILE *out, const char *const *filters)
{
	struct pathbuf pb = { 0 };
	struct linkmap links = { 0 };
	int r;

	if (root == NULL || !S_ISDIR(root->mode))
		return -EINVAL;
	flockfile(out);
	print_line(out, root, "", 0, NULL);
	r = print_tree(out, root, filters, &pb, &links);
	funlockfile(out);
	free(pb.s);
	linkmap_free(&links);
	if (r == 0 && ferror(out))
		r = -EIO;
	return r;
}
