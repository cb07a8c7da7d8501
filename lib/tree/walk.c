/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The one depth-first walk of an inode tree: dump order, paths, no recursion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "node.h"

#define KNOWN_FLAGS CFS_WALK_HARDLINKS

/* A directory being walked: its own entry (for @post) and the next child. */
struct frame {
	struct cfs_walk_entry e;
	size_t next;
	size_t path_len; /* of the directory; 0 for the root, whose path is "/" */
};

struct walk {
	struct frame *stack;
	size_t depth, cap;
	char *path;
	size_t path_cap;
};

/* Put "/@name" at @at in the path; the new length, or -ENOMEM. */
static ssize_t path_set(struct walk *w, size_t at, const char *name)
{
	size_t n = strlen(name);

	if (at + n + 2 > w->path_cap) {
		size_t cap = w->path_cap ? w->path_cap : 256;
		char *p;

		while (at + n + 2 > cap)
			cap *= 2;
		p = realloc(w->path, cap);
		if (p == NULL)
			return -ENOMEM;
		w->path = p;
		w->path_cap = cap;
	}
	w->path[at] = '/';
	memcpy(w->path + at + 1, name, n + 1);
	return (ssize_t)(at + 1 + n);
}

static int push(struct walk *w, const struct cfs_walk_entry *e, size_t path_len)
{
	if (w->depth == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 32;
		struct frame *s = realloc(w->stack, cap * sizeof(*s));

		if (s == NULL)
			return -ENOMEM;
		w->stack = s;
		w->cap = cap;
	}
	w->stack[w->depth++] = (struct frame){ .e = *e, .next = 0, .path_len = path_len };
	return 0;
}

static int call(cfs_node_walk_fn fn, const struct cfs_walk_entry *e, void *user)
{
	int r = fn ? fn(e, user) : 0;

	return r < 0 ? r : r == CFS_WALK_SKIP ? CFS_WALK_SKIP : 0;
}

static int walk(struct walk *w, struct cfs_node *root, unsigned flags, cfs_node_walk_fn pre,
		cfs_node_walk_fn post, void *user)
{
	struct cfs_walk_entry e = { .node = root, .name = "", .path = "/", .path_len = 1 };
	int r = call(pre, &e, user);

	if (r < 0)
		return r;
	if (r == CFS_WALK_SKIP || !S_ISDIR(root->mode)) {
		r = call(post, &e, user);
		return r < 0 ? r : 0;
	}
	r = push(w, &e, 0);
	while (r >= 0 && w->depth > 0) {
		struct frame *top = &w->stack[w->depth - 1];
		struct cfs_node *dir = top->e.node;
		const struct cfs_dirent *d;
		ssize_t len;

		if (top->next == dir->n_entries) {
			e = top->e;
			w->depth--;
			if (e.depth > 0) {
				w->path[top->path_len] = '\0';
				e.path = w->path;
			}
			r = call(post, &e, user);
			continue;
		}
		d = &dir->entries[top->next++];
		if (d->hardlink && !(flags & CFS_WALK_HARDLINKS))
			continue;
		len = path_set(w, top->path_len, d->name);
		if (len < 0) {
			r = (int)len;
			break;
		}
		e = (struct cfs_walk_entry){
			.node = d->node,
			.parent = dir,
			.name = d->name,
			.path = w->path,
			.path_len = (size_t)len,
			.depth = top->e.depth + 1,
			.hardlink = d->hardlink,
		};
		r = call(pre, &e, user);
		if (r == 0 && S_ISDIR(d->node->mode) && !d->hardlink)
			r = push(w, &e, (size_t)len); /* @post when its entries are done */
		else if (r >= 0)
			r = call(post, &e, user);
	}
	return r < 0 ? r : 0;
}

int cfs_node_walk(struct cfs_node *root, unsigned flags, cfs_node_walk_fn pre, cfs_node_walk_fn post,
		  void *user)
{
	struct walk w = { 0 };
	int r;

	if (root == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	r = walk(&w, root, flags, pre, post, user);
	free(w.stack);
	free(w.path);
	return r;
}
