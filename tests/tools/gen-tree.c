/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: create a deterministic pseudo-random directory tree with every file type. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tool-die.h"

/*
 * Usage: gen-tree [OPTIONS] SEED DIR [COUNT]
 *
 * DIR must not exist or be empty. The same SEED and COUNT always give the
 * same names, types, contents, xattrs, modes, owners and mtimes (inode
 * numbers and ctimes differ, of course). Needs root (devices, chown,
 * trusted.* xattrs). Everything created stays inside DIR; hard links only
 * join files inside DIR. Xattrs the system adds on creation (SELinux labels,
 * inherited ACLs) are removed, so an image of DIR is the same on any
 * filesystem that keeps nanosecond mtimes and 32-bit owners (tmpfs, ext4,
 * xfs, btrfs, overlayfs on those); tests/assets/gen-tree relies on that.
 */

static const char *prog = "gen-tree";
static uint64_t rng;
static bool opt_sockets = true, opt_whiteouts, opt_devices = true, opt_big = true;
static bool opt_xattrs = true, opt_hardlinks = true;

/* splitmix64 */
static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static bool chance(unsigned percent)
{
	return rnd_below(100) < percent;
}

/* ---- bookkeeping of what exists ------------------------------------------- */

struct list {
	char **items;
	size_t n, cap;
};

static void list_add(struct list *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->items = realloc(l->items, l->cap * sizeof(*l->items));
		if (l->items == NULL)
			die("out of memory");
	}
	l->items[l->n] = strdup(s);
	if (l->items[l->n] == NULL)
		die("out of memory");
	l->n++;
}

static struct list dirs;       /* relative paths, "." first */
static struct list linkables;  /* non-directories that may get more names */
static char *root;

static char *join(const char *dir, const char *name)
{
	char *p;

	if (strcmp(dir, ".") == 0)
		p = strdup(name);
	else if (asprintf(&p, "%s/%s", dir, name) < 0)
		p = NULL;
	if (p == NULL)
		die("out of memory");
	return p;
}

/* ---- names ---------------------------------------------------------------------- */

static const char *const words[] = { "alpha", "bravo", "charlie", "delta", "echo",  "foxtrot",
				     "golf",  "hotel", "india",   "juliet", "kilo", "lima" };

static void gen_name(char *buf, size_t size, unsigned idx, bool short_name)
{
	const char *w = words[rnd_below(sizeof(words) / sizeof(words[0]))];
	unsigned kind = short_name ? 0 : rnd_below(16);
	size_t len;

	switch (kind) {
	case 1:
		snprintf(buf, size, "%s with spaces %u", w, idx);
		break;
	case 2:
		snprintf(buf, size, "new\nline%u", idx);
		break;
	case 3:
		snprintf(buf, size, "gr\xc3\xbc\xc3\x9f" "e-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x99\x82-%u", idx);
		break;
	case 4:
		snprintf(buf, size, "key=value=%u", idx);
		break;
	case 5:
		snprintf(buf, size, "back\\slash\\x41%u", idx);
		break;
	case 6: /* exactly 255 bytes, ending in a multi-byte character */
		len = 251;
		memset(buf, 'L', len);
		snprintf(buf + len - 8, size - len + 8, "%08u", idx);
		memcpy(buf + len, "\xe2\x82\xac", 3); /* euro sign, 3 bytes */
		buf[254] = 'Z';
		buf[255] = '\0';
		break;
	case 7:
		snprintf(buf, size, "-%s\t%u", w, idx);
		break;
	case 8:
		snprintf(buf, size, "ctl\x01\x7f\xff\xfe%u", idx);
		break;
	case 9:
		snprintf(buf, size, ".hidden-%u", idx);
		break;
	case 10:
		snprintf(buf, size, "%u", idx); /* digits only */
		break;
	case 11:
		snprintf(buf, size, "@%s%%20%u-", w, idx);
		break;
	default:
		snprintf(buf, size, "%s-%u", w, idx);
		break;
	}
}

/* ---- metadata --------------------------------------------------------------------- */

static const uint32_t ids[] = { 0, 0, 0, 1, 2, 100, 1000, 65534, 123456, 4000000000u };

static void set_owner(const char *path)
{
	uid_t uid = ids[rnd_below(sizeof(ids) / sizeof(ids[0]))];
	gid_t gid = ids[rnd_below(sizeof(ids) / sizeof(ids[0]))];

	if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		die("chown %s", path);
}

static void set_mtime(const char *path)
{
	struct timespec ts[2];
	unsigned k = rnd_below(10);

	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 0;
	if (k == 0)
		ts[1].tv_sec = 0;
	else if (k == 1)
		ts[1].tv_sec = 4102444800LL + rnd_below(1000000); /* after 2100 */
	else
		ts[1].tv_sec = 1000000000 + rnd_below(800000000);
	ts[1].tv_nsec = chance(20) ? 0 : rnd_below(1000000000);
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		die("utimensat %s", path);
}

static void fill_value(uint8_t *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (rnd_below(6)) {
		case 0:
			v[i] = (uint8_t)rnd_below(256); /* binary, incl. NUL */
			break;
		case 1:
			v[i] = "= \\\n\t-"[rnd_below(6)];
			break;
		default:
			v[i] = (uint8_t)('a' + rnd_below(26));
			break;
		}
	}
}

/*
 * Remove what the filesystem or the system put there on creation (an SELinux label, ACLs
 * inherited from a default ACL, ...): the tree must be the same on every machine.
 */
static void strip_xattrs(const char *path)
{
	char list[4096];
	ssize_t len = llistxattr(path, list, sizeof(list));

	if (len < 0) {
		if (errno == ENOTSUP)
			return;
		die("listxattr %s", path);
	}
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
		if (lremovexattr(path, list + i) < 0)
			die("removexattr %s %s (the filesystem added it; the tree would not be reproducible)",
			    path, list + i);
}

/* user.* is only allowed on regular files and directories. */
static void set_xattrs(const char *path, bool user_ok)
{
	static const char *const prefixes[] = { "user.", "trusted.", "security.", "trusted.overlay." };
	unsigned n;

	strip_xattrs(path);
	if (!opt_xattrs)
		return;
	n = chance(50) ? 0 : 1 + rnd_below(4);
	for (unsigned i = 0; i < n; i++) {
		const char *prefix = prefixes[rnd_below(4)];
		char name[300];
		uint8_t value[1200];
		size_t vlen;
		unsigned k = rnd_below(10);

		if (!user_ok && strcmp(prefix, "user.") == 0)
			prefix = "trusted.";
		if (strcmp(prefix, "trusted.overlay.") == 0)
			snprintf(name, sizeof(name), "%scfs-test-%u", prefix, rnd_below(5));
		else if (k == 0)
			snprintf(name, sizeof(name), "%sodd=name\\with\tchars%u", prefix, i);
		else
			snprintf(name, sizeof(name), "%sattr%u", prefix, rnd_below(20));
		vlen = k == 1 ? 0 : k == 2 ? 1000 + rnd_below(100) : rnd_below(40);
		fill_value(value, vlen);
		if (lsetxattr(path, name, value, vlen, 0) < 0)
			die("setxattr %s %s", path, name);
	}
}

/* ---- creating entries ------------------------------------------------------------ */

static const size_t special_sizes[] = { 0,    1,    2,    63,   64,   65,   100,
					4095, 4096, 4097, 5000, 5001, 8192, 12289 };

static size_t pick_size(unsigned idx)
{
	size_t n = sizeof(special_sizes) / sizeof(special_sizes[0]);

	if (idx < n)
		return special_sizes[idx]; /* every special size at least once */
	if (idx == n && opt_big)
		return (1u << 20) + 1; /* and one just over 1 MiB */
	if (opt_big && chance(3))
		return (1u << 20) + rnd_below(3) - 1; /* around 1 MiB */
	if (chance(40))
		return special_sizes[rnd_below((uint32_t)n)];
	return rnd_below(70000);
}

static void make_file(const char *path)
{
	static unsigned nfiles;
	size_t size = pick_size(nfiles++);
	/* a small pool of content seeds makes duplicate content (object dedup) */
	uint64_t content_seed = chance(30) ? rnd_below(4) : rnd();
	uint64_t saved = rng;
	static const mode_t modes[] = { 0644, 0644, 0600, 0755, 0444, 04755, 02755, 06711, 0000, 0777 };
	uint8_t buf[65536];
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die("create %s", path);
	rng = content_seed * 7919 + size;
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd();
		if (write(fd, buf, n) != (ssize_t)n)
			die("write %s", path);
		done += n;
	}
	rng = saved;
	close(fd);
	set_owner(path);
	if (fchmodat(AT_FDCWD, path, modes[rnd_below(sizeof(modes) / sizeof(modes[0]))], 0) < 0)
		die("chmod %s", path);
	set_xattrs(path, true);
	set_mtime(path);
	list_add(&linkables, path);
}

static void make_symlink(const char *path)
{
	static const size_t lens[] = { 1, 5, 30, 100, 255, 256, 1023, 1024, 1500, 3000 };
	size_t len = lens[rnd_below(sizeof(lens) / sizeof(lens[0]))];
	char *target = malloc(len + 1);

	if (target == NULL)
		die("out of memory");
	for (size_t i = 0; i < len; i++)
		target[i] = "abc/../xyz -=\\.\xc3\xa9"[rnd_below(17)];
	target[len] = '\0';
	if (len > 2 && chance(30))
		memcpy(target, "../", 3);
	if (symlink(target, path) < 0)
		die("symlink %s", path);
	free(target);
	set_owner(path);
	set_xattrs(path, false);
	set_mtime(path);
	list_add(&linkables, path);
}

static void make_special(const char *path, mode_t type)
{
	dev_t dev = 0;
	mode_t perm = chance(50) ? 0644 : 0600;

	if (type == S_IFCHR || type == S_IFBLK) {
		/* one draw after the other: the order of a call's arguments is unspecified, and
		 * gcc and clang pick different ones (the tree must not depend on the compiler);
		 * minor first, as gcc did when the vectors were recorded */
		unsigned min = rnd_below(70000), maj = 1 + rnd_below(300);

		dev = makedev(maj, min);
	}
	if (type == S_IFCHR && opt_whiteouts && chance(30))
		dev = makedev(0, 0);
	if (mknod(path, type | perm, dev) < 0)
		die("mknod %s", path);
	set_owner(path);
	set_xattrs(path, false);
	set_mtime(path);
	list_add(&linkables, path);
}

/* A socket file can only be made by bind(); its path must be short: bind relative to DIR. */
static void make_socket(const char *relpath)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(relpath) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, relpath, strlen(relpath));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind %s", relpath);
	close(fd);
	set_owner(relpath);
	if (fchmodat(AT_FDCWD, relpath, 0755, 0) < 0)
		die("chmod %s", relpath);
	set_xattrs(relpath, false);
	set_mtime(relpath);
}

static bool exists(const char *path)
{
	struct stat st;

	return fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void create_entry(unsigned idx)
{
	/* the first entries cover every type, then weighted random choices */
	static const char order[] = "dfspcbShfffffffd";
	const char *parent = dirs.items[rnd_below((uint32_t)dirs.n)];
	char name[300];
	char *path;
	char type;

	if (idx < sizeof(order) - 1) {
		type = order[idx];
	} else {
		unsigned r = rnd_below(100);

		type = r < 18 ? 'd' : r < 60 ? 'f' : r < 72 ? 's' : r < 84 ? 'h' : r < 88 ? 'p'
		       : r < 92 ? 'c' : r < 95 ? 'b' : r < 97 ? 'S' : 'f';
	}
	if ((type == 'c' || type == 'b') && !opt_devices)
		type = 'f';
	if (type == 'S' && !opt_sockets)
		type = 'p';
	if (type == 'h' && (linkables.n == 0 || !opt_hardlinks))
		type = 'f';
	do {
		gen_name(name, sizeof(name), idx, type == 'S');
		path = join(parent, name);
		if (!exists(path))
			break;
		free(path);
		idx += 100000;
	} while (1);

	switch (type) {
	case 'd':
		if (mkdir(path, 0700) < 0)
			die("mkdir %s", path);
		set_xattrs(path, true);
		list_add(&dirs, path);
		break;
	case 'f':
		make_file(path);
		break;
	case 's':
		make_symlink(path);
		break;
	case 'h': {
		const char *target = linkables.items[rnd_below((uint32_t)linkables.n)];

		if (linkat(AT_FDCWD, target, AT_FDCWD, path, 0) < 0)
			die("link %s", path);
		break;
	}
	case 'p':
		make_special(path, S_IFIFO);
		break;
	case 'c':
		make_special(path, S_IFCHR);
		break;
	case 'b':
		make_special(path, S_IFBLK);
		break;
	case 'S':
		make_socket(path);
		break;
	}
	free(path);
}

/* Directory metadata last: adding entries changes a directory's mtime. */
static void finish_dirs(void)
{
	static const mode_t modes[] = { 0755, 0755, 0700, 0750, 01777, 0555, 02775, 0711 };

	for (size_t i = dirs.n; i-- > 0;) {
		const char *path = dirs.items[i];

		set_owner(path);
		if (fchmodat(AT_FDCWD, path,
			     i == 0 ? 0755 : modes[rnd_below(sizeof(modes) / sizeof(modes[0]))], 0) < 0)
			die("chmod %s", path);
		set_mtime(path);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] SEED DIR [COUNT]\n"
		"Create a deterministic random tree of COUNT entries (default 200) in DIR.\n"
		"  --no-sockets    no socket files\n"
		"  --no-devices    no character or block devices\n"
		"  --no-big        no files of about 1 MiB\n"
		"  --no-xattrs     no extended attributes\n"
		"  --no-hardlinks  every non-directory has one name\n"
		"  --whiteouts     some character devices are 0:0 (overlay whiteouts)\n",
		prog);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-sockets", no_argument, NULL, 'S' }, { "no-devices", no_argument, NULL, 'D' },
		{ "no-big", no_argument, NULL, 'B' },     { "no-xattrs", no_argument, NULL, 'X' },
		{ "no-hardlinks", no_argument, NULL, 'H' },
		{ "whiteouts", no_argument, NULL, 'W' },  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long count = 200;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			opt_sockets = false;
			break;
		case 'D':
			opt_devices = false;
			break;
		case 'B':
			opt_big = false;
			break;
		case 'X':
			opt_xattrs = false;
			break;
		case 'H':
			opt_hardlinks = false;
			break;
		case 'W':
			opt_whiteouts = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2 || argc - optind > 3) {
		usage(stderr);
		return 2;
	}
	rng = strtoull(argv[optind], &end, 0);
	if (*end != '\0') {
		usage(stderr);
		return 2;
	}
	root = argv[optind + 1];
	if (argc - optind == 3)
		count = strtoul(argv[optind + 2], NULL, 0);

	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		die("mkdir %s", root);
	errno = 0;
	if (chdir(root) < 0)
		die("chdir %s", root);
	umask(0);
	list_add(&dirs, ".");
	set_xattrs(".", true);
	for (unsigned i = 0; i < count; i++)
		create_entry(i);
	finish_dirs();
	printf("%s: %lu entries in %s (seed %s)\n", prog, count, root, argv[optind]);
	return 0;
}
