/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit test of the inode tree: entries, hard links, xattrs, limits, the walk. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

#include <composefs/composefs.h>

#include "testutil.h"

static void test_entries(void)
{
	struct cfs_node *root = cfs_node_new(S_IFDIR | 0755);
	struct cfs_node *f = cfs_node_new(S_IFREG | 0644);
	struct cfs_node *d = cfs_node_new(S_IFDIR | 0700);
	const char *name;
	bool hl;

	CHECK_EQ_INT(cfs_node_add_child(root, "zeta", f, false), 0);
	CHECK_EQ_INT(cfs_node_add_child(root, "alpha", d, false), 0);
	CHECK_EQ_INT(cfs_node_add_child(d, "link", f, true), 0);
	CHECK_EQ_INT(cfs_node_add_child(root, "mid", f, true), 0);
	CHECK_EQ_INT(cfs_node_add_child(root, "mid", f, true), -EEXIST);
	CHECK_EQ_INT(cfs_node_add_child(root, "", f, false), -EINVAL);
	CHECK_EQ_INT(cfs_node_add_child(root, ".", f, false), -EINVAL);
	CHECK_EQ_INT(cfs_node_add_child(root, "..", f, false), -EINVAL);
	CHECK_EQ_INT(cfs_node_add_child(root, "a/b", f, false), -EINVAL);
	CHECK_EQ_INT(cfs_node_add_child(f, "x", d, false), -ENOTDIR);
	CHECK_EQ_INT(cfs_node_add_child(root, "again", d, false), -EINVAL); /* dir hard link */
	CHECK_EQ_INT(cfs_node_n_children(root), 3);
	CHECK(cfs_node_child_at(root, 0, &name, &hl) == d);
	CHECK_EQ_STR(name, "alpha");
	CHECK(!hl);
	CHECK(cfs_node_child_at(root, 1, &name, &hl) == f);
	CHECK_EQ_STR(name, "mid");
	CHECK(hl);
	CHECK(cfs_node_child_at(root, 2, &name, &hl) == f);
	CHECK_EQ_STR(name, "zeta");
	CHECK(cfs_node_lookup(root, "alpha") == d);
	CHECK(cfs_node_lookup(root, "nope") == NULL);
	CHECK(cfs_node_get_parent(d) == root);

	char longname[300];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK_EQ_INT(cfs_node_add_child(root, longname, f, false), -ENAMETOOLONG);

	cfs_node_unref(f);
	cfs_node_unref(d);
	cfs_node_unref(root);
}

static void test_xattrs(void)
{
	struct cfs_node *n = cfs_node_new(S_IFREG | 0644);
	const void *v;
	size_t len;

	CHECK_EQ_INT(cfs_node_set_xattr(n, "user.a", "1", 1), 0);
	CHECK_EQ_INT(cfs_node_set_xattr(n, "user.b", "\0x", 2), 0);
	CHECK_EQ_INT(cfs_node_set_xattr(n, "user.a", "22", 2), 0);
	CHECK_EQ_INT(cfs_node_n_xattrs(n), 2);
	v = cfs_node_get_xattr(n, "user.a", &len);
	CHECK(v != NULL && len == 2 && memcmp(v, "22", 2) == 0);
	v = cfs_node_get_xattr(n, "user.b", &len);
	CHECK(v != NULL && len == 2 && memcmp(v, "\0x", 2) == 0);
	CHECK_EQ_INT(cfs_node_set_xattr(n, "", "1", 1), -EINVAL);
	CHECK_EQ_INT(cfs_node_remove_xattr(n, "user.a"), 0);
	CHECK_EQ_INT(cfs_node_remove_xattr(n, "user.a"), -ENODATA);
	CHECK_EQ_INT(cfs_node_n_xattrs(n), 1);
	CHECK_EQ_INT(cfs_node_set_content(n, (const uint8_t *)"abc", CFS_INLINE_MAX + 1), -EFBIG);
	CHECK_EQ_INT(cfs_node_set_content(n, (const uint8_t *)"abc", 3), 0);
	CHECK(memcmp(cfs_node_get_content(n, &len), "abc", 3) == 0 && len == 3);
	cfs_node_unref(n);
}

/* a chain far deeper than any stack frame budget: freeing must not recurse */
static void test_deep(void)
{
	struct cfs_node *root = cfs_node_new(S_IFDIR | 0755), *cur = root;

	for (int i = 0; i < 1000000; i++) {
		struct cfs_node *d = cfs_node_new(S_IFDIR | 0755);

		CHECK(d != NULL);
		CHECK_EQ_INT(cfs_node_add_child(cur, "d", d, false), 0);
		cfs_node_unref(d);
		cur = d;
	}
	cfs_node_unref(root);
}

/* a directory must not become its own descendant: no reference cycle, no endless walk */
static void test_cycle(void)
{
	struct cfs_node *root = cfs_node_new(S_IFDIR | 0755);
	struct cfs_node *a = cfs_node_new(S_IFDIR | 0755), *b = cfs_node_new(S_IFDIR | 0755);

	CHECK(root != NULL && a != NULL && b != NULL);
	CHECK_EQ_INT(cfs_node_add_child(root, "a", a, false), 0);
	CHECK_EQ_INT(cfs_node_add_child(a, "b", b, false), 0);
	CHECK_EQ_INT(cfs_node_add_child(b, "root", root, false), -EINVAL);
	CHECK_EQ_INT(cfs_node_add_child(a, "root", root, false), -EINVAL);
	CHECK_EQ_INT(cfs_node_add_child(root, "self", root, false), -EINVAL);
	CHECK_EQ_INT(cfs_node_n_children(b), 0);
	CHECK(cfs_node_get_parent(root) == NULL);
	cfs_node_unref(a);
	cfs_node_unref(b);
	cfs_node_unref(root); /* LeakSanitizer reports the tree if a cycle kept it alive */
}

/* Backing paths a mount can serve: relative, no empty, "." or ".." component, none over 255 bytes. */
static void test_payload_paths(void)
{
	static const char *const good[] = { "ab/cdef", "x", "a..b/..c/c..", ".hidden/x", "a/.b" };
	static const char *const bad[] = { "", "/etc/shadow", "../..", "xx/../..", "..", ".", "a//b",
					   "a/", "./a", "a/./b", "a/.." };
	char longname[300];
	struct cfs_node *f = cfs_node_new(S_IFREG | 0644);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(cfs_payload_path_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!cfs_payload_path_valid(bad[i]));
	CHECK(!cfs_payload_path_valid(NULL));
	memset(longname, 'a', sizeof(longname));
	longname[255] = '\0';
	CHECK(cfs_payload_path_valid(longname));
	longname[255] = 'a';
	longname[256] = '\0';
	CHECK(!cfs_payload_path_valid(longname));

	/* only a payload the content is read through matters */
	CHECK(f != NULL);
	CHECK_EQ_INT(cfs_node_set_payload(f, "../.."), 0);
	CHECK(cfs_node_payload_servable(f)); /* size 0: no redirect */
	cfs_node_set_size(f, 4);
	CHECK(!cfs_node_payload_servable(f));
	CHECK_EQ_INT(cfs_node_set_content(f, (const uint8_t *)"abcd", 4), 0);
	CHECK(cfs_node_payload_servable(f)); /* inline */
	cfs_node_unref(f);
	f = cfs_node_new(S_IFLNK | 0777);
	CHECK_EQ_INT(cfs_node_set_payload(f, "../.."), 0); /* a symlink target, not a redirect */
	cfs_node_set_size(f, 5);
	CHECK(cfs_node_payload_servable(f));
	cfs_node_unref(f);
}

/* ---- cfs_node_walk() ---- */

struct walk_log {
	char s[1024];
	const char *skip; /* path whose entries to leave out */
	const char *fail; /* path where to stop with -EIO */
};

static void log_event(struct walk_log *l, const char *what, const struct cfs_walk_entry *e)
{
	size_t n = strlen(l->s);

	CHECK(e->path_len == strlen(e->path));
	snprintf(l->s + n, sizeof(l->s) - n, "%s%s%s%s:%u ", what, e->path, e->hardlink ? "=" : "",
		 e->parent == NULL ? "(root)" : "", e->depth);
}

static int pre_cb(const struct cfs_walk_entry *e, void *user)
{
	struct walk_log *l = user;

	log_event(l, "+", e);
	if (l->fail != NULL && strcmp(e->path, l->fail) == 0)
		return -EIO;
	return l->skip != NULL && strcmp(e->path, l->skip) == 0 ? CFS_WALK_SKIP : 0;
}

static int post_cb(const struct cfs_walk_entry *e, void *user)
{
	log_event(user, "-", e);
	return 0;
}

static struct cfs_node *add(struct cfs_node *dir, const char *name, uint32_t mode)
{
	struct cfs_node *n = cfs_node_new(mode);

	CHECK(n != NULL);
	CHECK_EQ_INT(cfs_node_add_child(dir, name, n, false), 0);
	cfs_node_unref(n);
	return n;
}

static void test_walk(void)
{
	struct cfs_node *root = cfs_node_new(S_IFDIR | 0755), *b, *f, *d;
	struct walk_log l = { .s = "" };

	CHECK(root != NULL);
	/* added out of order: the walk follows name order */
	b = add(root, "b", S_IFDIR | 0755);
	add(b, "x", S_IFREG | 0644);
	f = add(root, "a", S_IFREG | 0644);
	CHECK_EQ_INT(cfs_node_add_child(b, "y", f, true), 0); /* a second name of /a */
	add(root, "c", S_IFDIR | 0755);
	d = add(root, "d", S_IFDIR | 0755);
	add(add(d, "e", S_IFDIR | 0755), "f", S_IFLNK | 0777);

	CHECK_EQ_INT(cfs_node_walk(root, 0, pre_cb, post_cb, &l), 0);
	CHECK_EQ_STR(l.s, "+/(root):0 +/a:1 -/a:1 +/b:1 +/b/x:2 -/b/x:2 -/b:1 +/c:1 -/c:1 +/d:1 +/d/e:2 "
			  "+/d/e/f:3 -/d/e/f:3 -/d/e:2 -/d:1 -/(root):0 ");
	/* every name of a hard-linked inode */
	l = (struct walk_log){ .s = "" };
	CHECK_EQ_INT(cfs_node_walk(root, CFS_WALK_HARDLINKS, pre_cb, NULL, &l), 0);
	CHECK_EQ_STR(l.s, "+/(root):0 +/a:1 +/b:1 +/b/x:2 +/b/y=:2 +/c:1 +/d:1 +/d/e:2 +/d/e/f:3 ");
	/* a skipped directory still ends (post), without its entries */
	l = (struct walk_log){ .s = "", .skip = "/b" };
	CHECK_EQ_INT(cfs_node_walk(root, 0, pre_cb, post_cb, &l), 0);
	CHECK_EQ_STR(l.s, "+/(root):0 +/a:1 -/a:1 +/b:1 -/b:1 +/c:1 -/c:1 +/d:1 +/d/e:2 +/d/e/f:3 -/d/e/f:3 "
			  "-/d/e:2 -/d:1 -/(root):0 ");
	l = (struct walk_log){ .s = "", .skip = "/" };
	CHECK_EQ_INT(cfs_node_walk(root, 0, pre_cb, post_cb, &l), 0);
	CHECK_EQ_STR(l.s, "+/(root):0 -/(root):0 ");
	/* an error stops everything and comes back */
	l = (struct walk_log){ .s = "", .fail = "/b/x" };
	CHECK_EQ_INT(cfs_node_walk(root, 0, pre_cb, post_cb, &l), -EIO);
	CHECK_EQ_STR(l.s, "+/(root):0 +/a:1 -/a:1 +/b:1 +/b/x:2 ");
	/* a lone node, no callbacks, bad arguments */
	l = (struct walk_log){ .s = "" };
	CHECK_EQ_INT(cfs_node_walk(f, 0, pre_cb, post_cb, &l), 0);
	CHECK_EQ_STR(l.s, "+/(root):0 -/(root):0 ");
	CHECK_EQ_INT(cfs_node_walk(root, 0, NULL, NULL, NULL), 0);
	CHECK_EQ_INT(cfs_node_walk(NULL, 0, pre_cb, NULL, &l), -EINVAL);
	CHECK_EQ_INT(cfs_node_walk(root, 1u << 31, pre_cb, NULL, &l), -EINVAL);
	cfs_node_unref(root);
}

struct deep_walk {
	struct cfs_node *root;
	unsigned max_depth;
	size_t max_path;
	int r;
};

static int deep_cb(const struct cfs_walk_entry *e, void *user)
{
	struct deep_walk *w = user;

	if (e->depth > w->max_depth)
		w->max_depth = e->depth;
	if (e->path_len > w->max_path)
		w->max_path = e->path_len;
	return 0;
}

static void *deep_thread(void *arg)
{
	struct deep_walk *w = arg;

	w->r = cfs_node_walk(w->root, 0, deep_cb, deep_cb, w);
	return NULL;
}

/* far deeper than a kernel mount allows, on the smallest thread stack: no recursion */
static void test_walk_deep(void)
{
	struct deep_walk w = { .root = cfs_node_new(S_IFDIR | 0755) };
	struct cfs_node *cur = w.root;
	pthread_attr_t attr;
	pthread_t t;

	CHECK(cur != NULL);
	for (int i = 0; i < 100000; i++)
		cur = add(cur, "d", S_IFDIR | 0755);
	CHECK_EQ_INT(pthread_attr_init(&attr), 0);
	CHECK_EQ_INT(pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN), 0);
	CHECK_EQ_INT(pthread_create(&t, &attr, deep_thread, &w), 0);
	CHECK_EQ_INT(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&attr);
	CHECK_EQ_INT(w.r, 0);
	CHECK_EQ_INT(w.max_depth, 100000);
	CHECK_EQ_INT(w.max_path, 200000);
	cfs_node_unref(w.root);
}

int main(void)
{
	test_payload_paths();
	test_entries();
	test_walk();
	test_walk_deep();
	test_cycle();
	test_deep();
	test_xattrs();
	printf("tree: ok\n");
	return 0;
}
