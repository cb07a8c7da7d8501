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
#include "hashset.h"
#include "node.h"
#include "util.h"

/* First path printed for an inode with several names, in a cfs_hashset keyed by the node. */
struct link {
	const struct cfs_node *node;
	char *path;
};

static void links_free(struct cfs_hashset *links)
{
	struct link *l;

	for (size_t it = 0; (l = cfs_hashset_next(links, &it)) != NULL;)
		free(l->path);
	cfs_hashset_free(links);
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
	char digest[2 * CFS_DIGEST_MAX_SIZE + 1];

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
		cfs_hex_encode(node->digest, node->digest_size, digest);
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

struct printer {
	FILE *out;
	const char *const *filters;
	struct cfs_hashset links; /* struct link */
};

static int print_entry(const struct cfs_walk_entry *e, void *user)
{
	struct printer *pr = user;
	const struct cfs_node *node = e->node;
	struct link *seen = NULL;
	int r;

	if (e->depth == 0) {
		print_line(pr->out, node, "", 0, NULL);
		return 0;
	}
	if (e->depth == 1 && filtered_out(pr->filters, e->name))
		return CFS_WALK_SKIP;
	/* the dump order decides which name is the target, not the primary entry */
	if (S_ISDIR(node->mode) || node->refcount <= 1) {
		print_line(pr->out, node, e->path, e->path_len, NULL);
		return 0;
	}
	r = cfs_hashset_insert(&pr->links, cfs_hash_ptr(node), &node, (void **)&seen);
	if (r < 0)
		return r;
	if (r == 0) {
		print_line(pr->out, node, e->path, e->path_len, seen->path);
		return 0;
	}
	seen->node = node;
	seen->path = strndup(e->path, e->path_len);
	if (seen->path == NULL) {
		cfs_hashset_remove_at(&pr->links, seen);
		return -ENOMEM;
	}
	print_line(pr->out, node, e->path, e->path_len, NULL);
	return 0;
}

int cfs_dump_print(struct cfs_node *root, FILE *out, const char *const *filters)
{
	struct printer pr = { .out = out, .filters = filters };
	int r;

	if (root == NULL || !S_ISDIR(root->mode))
		return -EINVAL;
	cfs_hashset_init_keyed(&pr.links, sizeof(struct link), sizeof(const struct cfs_node *));
	flockfile(out);
	r = cfs_node_walk(root, CFS_WALK_HARDLINKS, print_entry, NULL, &pr);
	funlockfile(out);
	links_free(&pr.links);
	if (r == 0 && ferror(out))
		r = -EIO;
	return r;
}
