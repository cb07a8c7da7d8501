/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* tree-compare: report every difference between two directory trees (metadata, content, xattrs, hard links). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Fields that can be left out of the comparison (--ignore=). */
enum {
	F_MODE = 1 << 0,
	F_OWNER = 1 << 1,
	F_SIZE = 1 << 2,
	F_CONTENT = 1 << 3,
	F_MTIME = 1 << 4,
	F_NLINK = 1 << 5,
	F_DIRNLINK = 1 << 6,
	F_RDEV = 1 << 7,
	F_HARDLINKS = 1 << 8,
	F_XATTRS = 1 << 9,
};

static const struct {
	const char *name;
	unsigned bit;
} field_names[] = {
	{ "mode", F_MODE },	  { "owner", F_OWNER }, { "size", F_SIZE },
	{ "content", F_CONTENT }, { "mtime", F_MTIME }, { "nlink", F_NLINK },
	{ "dir-nlink", F_DIRNLINK }, { "rdev", F_RDEV }, { "hardlinks", F_HARDLINKS },
	{ "xattrs", F_XATTRS },
};

struct inode_rep {
	dev_t dev;
	ino_t ino;
	char *path; /* first path (in sorted walk order) naming this inode */
};

/* One side of the comparison: where it is and which inodes it has seen. */
struct side {
	const char *root;
	struct inode_rep *reps;
	size_t n_reps, cap_reps;
};

struct cmp {
	struct side a, b;
	unsigned ignore;
	char **ign_names;
	size_t n_ign_names;
	char **ign_prefixes;
	size_t n_ign_prefixes;
	unsigned long diffs;
	bool verbose;
	bool cfs_whiteouts; /* composefs turns 0:0 char devices into xattr-marked empty files */
};

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* With --cfs-whiteouts: a source whiteout shown as composefs does (an empty file marked by xattrs). */
static bool whiteout_pair(const struct cmp *c, const struct stat *a, const struct stat *b)
{
	return c->cfs_whiteouts && is_whiteout(a) && S_ISREG(b->st_mode) && b->st_size == 0;
}

/* xattrs composefs adds to escaped whiteouts and their directories (second tree only). */
static bool whiteout_xattr(const char *name)
{
	static const char *const names[] = {
		"trusted.overlay.whiteout", "user.overlay.whiteout",
		"trusted.overlay.whiteouts", "user.overlay.whiteouts",
		"trusted.overlay.opaque", "user.overlay.opaque",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "tree-compare: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "tree-compare: out of memory\n");
		exit(2);
	}
	return d;
}

static void diff(struct cmp *c, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void diff(struct cmp *c, const char *rel, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", rel[0] ? rel : ".");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	c->diffs++;
}

static char *join(const char *root, const char *rel)
{
	size_t n = strlen(root) + strlen(rel) + 2;
	char *p = xrealloc(NULL, n);

	snprintf(p, n, "%s%s%s", root, rel[0] ? "/" : "", rel);
	return p;
}

static size_t inode_hash(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4full);

	return (size_t)(h ^ (h >> 29));
}

/* Representative path of the inode @st on @s: the first name seen for it. */
static const char *inode_rep(struct side *s, const struct stat *st, const char *rel)
{
	size_t i;

	if (2 * (s->n_reps + 1) > s->cap_reps) {
		size_t cap = s->cap_reps ? 2 * s->cap_reps : 1024;
		struct inode_rep *t = xrealloc(NULL, cap * sizeof(*t));

		memset(t, 0, cap * sizeof(*t));
		for (size_t k = 0; k < s->cap_reps; k++) {
			if (s->reps[k].path == NULL)
				continue;
			for (i = inode_hash(s->reps[k].dev, s->reps[k].ino) % cap; t[i].path;
			     i = (i + 1) % cap)
				;
			t[i] = s->reps[k];
		}
		free(s->reps);
		s->reps = t;
		s->cap_reps = cap;
	}
	for (i = inode_hash(st->st_dev, st->st_ino) % s->cap_reps; s->reps[i].path;
	     i = (i + 1) % s->cap_reps)
		if (s->reps[i].dev == st->st_dev && s->reps[i].ino == st->st_ino)
			return s->reps[i].path;
	s->reps[i] = (struct inode_rep){ st->st_dev, st->st_ino, xstrdup(rel) };
	s->n_reps++;
	return s->reps[i].path;
}

static bool xattr_ignored(const struct cmp *c, const char *name)
{
	for (size_t i = 0; i < c->n_ign_names; i++)
		if (strcmp(name, c->ign_names[i]) == 0)
			return true;
	for (size_t i = 0; i < c->n_ign_prefixes; i++)
		if (strncmp(name, c->ign_prefixes[i], strlen(c->ign_prefixes[i])) == 0)
			return true;
	return false;
}

/* The xattr names of @path (NUL-separated list), length in *@len; NULL on error. */
static char *list_xattrs(const char *path, ssize_t *len)
{
	ssize_t n = llistxattr(path, NULL, 0);
	char *buf;

	if (n < 0)
		return NULL;
	buf = xrealloc(NULL, (size_t)n + 1);
	n = llistxattr(path, buf, (size_t)n);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static char *get_xattr(const char *path, const char *name, ssize_t *len)
{
	ssize_t n = lgetxattr(path, name, NULL, 0);
	char *buf;

	if (n < 0)
		return NULL;
	buf = xrealloc(NULL, (size_t)n + 1);
	n = lgetxattr(path, name, buf, (size_t)n);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static bool name_in_list(const char *list, ssize_t len, const char *name)
{
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(list + off) + 1)
		if (strcmp(list + off, name) == 0)
			return true;
	return false;
}

static void compare_xattrs(struct cmp *c, const char *rel, const char *pa, const char *pb)
{
	ssize_t la = 0, lb = 0;
	char *a = list_xattrs(pa, &la), *b = list_xattrs(pb, &lb);

	if (a == NULL || b == NULL) {
		if ((a == NULL) != (b == NULL) || (errno != ENOTSUP && errno != EOPNOTSUPP))
			diff(c, rel, "cannot list xattrs (%s)", strerror(errno));
		goto out;
	}
	for (ssize_t off = 0; off < la; off += (ssize_t)strlen(a + off) + 1) {
		const char *name = a + off;
		ssize_t va_len = 0, vb_len = 0;
		char *va, *vb;

		if (xattr_ignored(c, name))
			continue;
		if (!name_in_list(b, lb, name)) {
			diff(c, rel, "xattr %s only in first tree", name);
			continue;
		}
		va = get_xattr(pa, name, &va_len);
		vb = get_xattr(pb, name, &vb_len);
		if (va == NULL || vb == NULL)
			diff(c, rel, "xattr %s: cannot read (%s)", name, strerror(errno));
		else if (va_len != vb_len || memcmp(va, vb, (size_t)va_len) != 0)
			diff(c, rel, "xattr %s: values differ (%zd vs %zd bytes)", name, va_len,
			     vb_len);
		free(va);
		free(vb);
	}
	for (ssize_t off = 0; off < lb; off += (ssize_t)strlen(b + off) + 1)
		if (!xattr_ignored(c, b + off) && !name_in_list(a, la, b + off) &&
		    !(c->cfs_whiteouts && whiteout_xattr(b + off)))
			diff(c, rel, "xattr %s only in second tree", b + off);
out:
	free(a);
	free(b);
}

static void compare_content(struct cmp *c, const char *rel, const char *pa, const char *pb)
{
	static char ba[1 << 16], bb[1 << 16];
	int fa = open(pa, O_RDONLY | O_CLOEXEC), fb = open(pb, O_RDONLY | O_CLOEXEC);
	uint64_t off = 0;

	if (fa < 0 || fb < 0) {
		diff(c, rel, "cannot open %s: %s", fa < 0 ? "first" : "second", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t na = read(fa, ba, sizeof(ba)), nb;

		if (na < 0) {
			diff(c, rel, "read error in first tree at %" PRIu64 ": %s", off,
			     strerror(errno));
			break;
		}
		nb = read(fb, bb, (size_t)na ? (size_t)na : sizeof(bb));
		if (nb < 0) {
			diff(c, rel, "read error in second tree at %" PRIu64 ": %s", off,
			     strerror(errno));
			break;
		}
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0) {
			diff(c, rel, "content differs near offset %" PRIu64, off);
			break;
		}
		if (na == 0)
			break;
		off += (uint64_t)na;
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
}

static void compare_symlink(struct cmp *c, const char *rel, const char *pa, const char *pb)
{
	char ta[4097], tb[4097];
	ssize_t na = readlink(pa, ta, sizeof(ta) - 1), nb = readlink(pb, tb, sizeof(tb) - 1);

	if (na < 0 || nb < 0) {
		diff(c, rel, "cannot read symlink: %s", strerror(errno));
		return;
	}
	ta[na] = tb[nb] = '\0';
	if (strcmp(ta, tb) != 0)
		diff(c, rel, "symlink target \"%s\" vs \"%s\"", ta, tb);
}

static void compare_stat(struct cmp *c, const char *rel, const struct stat *a,
			 const struct stat *b)
{
	bool dir = S_ISDIR(a->st_mode), wh = whiteout_pair(c, a, b);

	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT) && !wh) {
		diff(c, rel, "type %06o vs %06o", a->st_mode & S_IFMT, b->st_mode & S_IFMT);
		return;
	}
	if (!(c->ignore & F_MODE) && (a->st_mode & 07777) != (b->st_mode & 07777))
		diff(c, rel, "mode %04o vs %04o", a->st_mode & 07777, b->st_mode & 07777);
	if (!(c->ignore & F_OWNER) && (a->st_uid != b->st_uid || a->st_gid != b->st_gid))
		diff(c, rel, "owner %u:%u vs %u:%u", a->st_uid, a->st_gid, b->st_uid, b->st_gid);
	/* Directory sizes are a property of each file system, not of the tree. */
	if (!(c->ignore & F_SIZE) && !dir && !wh && a->st_size != b->st_size)
		diff(c, rel, "size %lld vs %lld", (long long)a->st_size, (long long)b->st_size);
	if (!(c->ignore & F_MTIME) && (a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
				       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec))
		diff(c, rel, "mtime %lld.%09ld vs %lld.%09ld", (long long)a->st_mtim.tv_sec,
		     a->st_mtim.tv_nsec, (long long)b->st_mtim.tv_sec, b->st_mtim.tv_nsec);
	if (!(c->ignore & (dir ? F_DIRNLINK | F_NLINK : F_NLINK)) && a->st_nlink != b->st_nlink)
		diff(c, rel, "nlink %ju vs %ju", (uintmax_t)a->st_nlink, (uintmax_t)b->st_nlink);
	if (!(c->ignore & F_RDEV) && (S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) && !wh &&
	    a->st_rdev != b->st_rdev)
		diff(c, rel, "rdev %u:%u vs %u:%u", major(a->st_rdev), minor(a->st_rdev),
		     major(b->st_rdev), minor(b->st_rdev));
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sorted entry names of directory @path (without . and ..); NULL on error. */
static char **read_names(const char *path, size_t *n_out)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			names = xrealloc(names, cap * sizeof(char *));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(char *), cmp_names);
	*n_out = n;
	return names ? names : xrealloc(NULL, sizeof(char *));
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void compare_path(struct cmp *c, const char *rel);

static void compare_dir(struct cmp *c, const char *rel, const char *pa, const char *pb)
{
	size_t na = 0, nb = 0, i = 0, j = 0;
	char **a = read_names(pa, &na), **b = read_names(pb, &nb);

	if (a == NULL || b == NULL) {
		diff(c, rel, "cannot read directory: %s", strerror(errno));
		goto out;
	}
	while (i < na || j < nb) {
		int o = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
		const char *name = o <= 0 ? a[i] : b[j];
		char *sub = rel[0] ? join(rel, name) : xstrdup(name);

		if (o < 0)
			diff(c, sub, "only in first tree");
		else if (o > 0)
			diff(c, sub, "only in second tree");
		else
			compare_path(c, sub);
		free(sub);
		if (o <= 0)
			i++;
		if (o >= 0)
			j++;
	}
out:
	if (a)
		free_names(a, na);
	if (b)
		free_names(b, nb);
}

static void compare_path(struct cmp *c, const char *rel)
{
	char *pa = join(c->a.root, rel), *pb = join(c->b.root, rel);
	struct stat sa, sb;

	if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0) {
		diff(c, rel, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (c->verbose)
		fprintf(stderr, "checking %s\n", rel[0] ? rel : ".");
	compare_stat(c, rel, &sa, &sb);
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) && !whiteout_pair(c, &sa, &sb))
		goto out;
	if (!(c->ignore & F_XATTRS))
		compare_xattrs(c, rel, pa, pb);
	if (!S_ISDIR(sa.st_mode) && !(c->ignore & F_HARDLINKS)) {
		const char *ra = inode_rep(&c->a, &sa, rel), *rb = inode_rep(&c->b, &sb, rel);

		if (strcmp(ra, rb) != 0)
			diff(c, rel, "hard link structure: same inode as \"%s\" vs \"%s\"", ra, rb);
	}
	if (S_ISREG(sa.st_mode) && S_ISREG(sb.st_mode) && !(c->ignore & F_CONTENT))
		compare_content(c, rel, pa, pb);
	else if (S_ISLNK(sa.st_mode))
		compare_symlink(c, rel, pa, pb);
	else if (S_ISDIR(sa.st_mode))
		compare_dir(c, rel, pa, pb);
out:
	free(pa);
	free(pb);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tree-compare [OPTIONS] DIR1 DIR2\n"
		"Compare two directory trees: file types, modes, owners, sizes, contents,\n"
		"symlink targets, device numbers, mtimes (with nanoseconds), link counts, hard\n"
		"link structure and all xattrs. Prints one line per difference.\n"
		"Exit status: 0 identical, 1 differences found, 2 usage or setup error.\n"
		"  --ignore-xattr=NAME          do not compare this xattr (repeatable)\n"
		"  --ignore-xattr-prefix=PFX    do not compare xattrs starting with PFX (repeatable)\n"
		"  --ignore=FIELD[,FIELD...]    skip fields: mode owner size content mtime nlink\n"
		"                               dir-nlink rdev hardlinks xattrs\n"
		"  --cfs-whiteouts              a 0:0 character device (overlay whiteout) in DIR1\n"
		"                               matches an empty file in DIR2, where composefs\n"
		"                               marks it with overlay whiteout xattrs\n"
		"  -v, --verbose                list every path checked (stderr)\n");
}

static void parse_ignore(struct cmp *c, char *list)
{
	for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
		size_t i;

		for (i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
			if (strcmp(tok, field_names[i].name) == 0)
				break;
		if (i == sizeof(field_names) / sizeof(field_names[0])) {
			fprintf(stderr, "tree-compare: unknown field \"%s\"\n", tok);
			exit(2);
		}
		c->ignore |= field_names[i].bit;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ignore-xattr", required_argument, NULL, 'x' },
		{ "ignore-xattr-prefix", required_argument, NULL, 'p' },
		{ "ignore", required_argument, NULL, 'i' },
		{ "cfs-whiteouts", no_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmp c = { 0 };
	struct stat st;
	int ch;

	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'x':
			c.ign_names = xrealloc(c.ign_names, (c.n_ign_names + 1) * sizeof(char *));
			c.ign_names[c.n_ign_names++] = optarg;
			break;
		case 'p':
			c.ign_prefixes =
				xrealloc(c.ign_prefixes, (c.n_ign_prefixes + 1) * sizeof(char *));
			c.ign_prefixes[c.n_ign_prefixes++] = optarg;
			break;
		case 'i':
			parse_ignore(&c, optarg);
			break;
		case 'w':
			c.cfs_whiteouts = true;
			break;
		case 'v':
			c.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	c.a.root = argv[optind];
	c.b.root = argv[optind + 1];
	for (int i = 0; i < 2; i++) {
		const char *root = i ? c.b.root : c.a.root;

		if (stat(root, &st) < 0) {
			fprintf(stderr, "tree-compare: %s: %s\n", root, strerror(errno));
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "tree-compare: %s: not a directory\n", root);
			return 2;
		}
	}
	compare_path(&c, "");
	for (size_t i = 0; i < c.a.cap_reps; i++)
		free(c.a.reps[i].path);
	for (size_t i = 0; i < c.b.cap_reps; i++)
		free(c.b.reps[i].path);
	free(c.a.reps);
	free(c.b.reps);
	free(c.ign_names);
	free(c.ign_prefixes);
	if (c.diffs > 0) {
		printf("%lu difference%s\n", c.diffs, c.diffs == 1 ? "" : "s");
		return 1;
	}
	return 0;
}
