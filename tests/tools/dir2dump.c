/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: print the composefs dump a directory should become, without the library. */
#include <dirent.h>
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
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tool-die.h"

/*
 * Usage: dir2dump [OPTIONS] DIR
 *
 * Prints DIR in the `composefs-info dump` format as mkcomposefs should record
 * it: depth-first, names in byte order, a hard link's first name (in that
 * order) printed in full and later names as "@MODE" lines whose payload is
 * the first name's path; files of 1..64 bytes inline, larger ones with
 * payload XX/<hex> and digest = their sha256 fs-verity digest (computed here
 * with OpenSSL, independent of the library under test). Directory sizes
 * depend on the image layout and are printed as 0.
 * --check-store=STORE additionally checks that every non-inline file has an
 * object STORE/XX/<hex> with identical content, and prints on stderr the
 * number of distinct objects expected.
 */

static const char *prog = "dir2dump";
static bool opt_epoch, opt_skip_xattrs, opt_user_xattrs, opt_skip_devices;
static const char *opt_store;
static char (*objects)[67];
static size_t n_objects, cap_objects;
static int failures;

#define INLINE_MAX 64
#define BLOCK 4096

/* ---- fs-verity (sha256, 4 KiB blocks, no salt) ----------------------------------- */

static void sha256(const void *a, size_t alen, uint8_t out[32])
{
	unsigned int len = 32;

	if (EVP_Digest(a, alen, out, &len, EVP_sha256(), NULL) != 1)
		die("EVP_Digest");
}

/*
 * Merkle tree bottom-up: level 0 hashes every data block (the last one zero
 * padded); each next level hashes blocks of 128 child hashes, until one
 * block remains. The root hash of an empty file is all zeroes.
 */
static void verity_digest(const uint8_t *data, size_t size, uint8_t out[32])
{
	size_t n = size == 0 ? 0 : (size + BLOCK - 1) / BLOCK;
	uint8_t *level = malloc(n * 32 + 32), *next;
	uint8_t root[32] = { 0 }, block[BLOCK];
	struct __attribute__((packed)) {
		uint8_t version, hash_algorithm, log_blocksize, salt_size;
		uint32_t reserved1;
		uint64_t data_size;
		uint8_t root_hash[64];
		uint8_t salt[32];
		uint8_t reserved2[144];
	} desc;

	if (level == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t len = size - i * BLOCK < BLOCK ? size - i * BLOCK : BLOCK;

		memset(block, 0, BLOCK);
		memcpy(block, data + i * BLOCK, len);
		sha256(block, BLOCK, level + 32 * i);
	}
	while (n > 1) {
		size_t m = (n + 127) / 128;

		next = malloc(m * 32);
		if (next == NULL)
			die("out of memory");
		for (size_t i = 0; i < m; i++) {
			size_t cnt = n - i * 128 < 128 ? n - i * 128 : 128;

			memset(block, 0, BLOCK);
			memcpy(block, level + i * 128 * 32, cnt * 32);
			sha256(block, BLOCK, next + 32 * i);
		}
		free(level);
		level = next;
		n = m;
	}
	if (n == 1)
		memcpy(root, level, 32);
	free(level);
	memset(&desc, 0, sizeof(desc));
	desc.version = 1;
	desc.hash_algorithm = 1;
	desc.log_blocksize = 12;
	desc.data_size = size; /* little-endian host assumed (x86, arm64) */
	memcpy(desc.root_hash, root, 32);
	sha256(&desc, sizeof(desc), out);
}

/* ---- escaping as the dump format wants it ------------------------------------------ */

enum { ESC_EQUAL = 1, ESC_DASH = 2 };

static void put_escaped(const uint8_t *s, size_t len, int how)
{
	if ((how & ESC_DASH) && len == 1 && s[0] == '-') {
		fputs("\\x2d", stdout);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];

		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c <= 0x20 || c >= 0x7f || (c == '=' && (how & ESC_EQUAL)))
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void put_str(const char *s, int how)
{
	put_escaped((const uint8_t *)s, strlen(s), how);
}

/* ---- hard link bookkeeping ----------------------------------------------------------- */

struct inode {
	dev_t dev;
	ino_t ino;
	unsigned count;
	char *first; /* path of the first name printed, NULL before */
};

static struct inode *inodes;
static size_t n_inodes, cap_inodes;

static struct inode *inode_get(dev_t dev, ino_t ino, bool add)
{
	for (size_t i = 0; i < n_inodes; i++)
		if (inodes[i].dev == dev && inodes[i].ino == ino)
			return &inodes[i];
	if (!add)
		return NULL;
	if (n_inodes == cap_inodes) {
		cap_inodes = cap_inodes ? 2 * cap_inodes : 64;
		inodes = realloc(inodes, cap_inodes * sizeof(*inodes));
		if (inodes == NULL)
			die("out of memory");
	}
	inodes[n_inodes] = (struct inode){ .dev = dev, .ino = ino };
	return &inodes[n_inodes++];
}

/* ---- walking ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of a directory, NULL-terminated. */
static char **list_dir(const char *path)
{
	DIR *d = opendir(path);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (d == NULL)
		die("opendir %s", path);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n + 1 >= cap) {
			cap = cap ? 2 * cap : 32;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL)
				die("out of memory");
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (names == NULL) {
		names = calloc(1, sizeof(*names));
		if (names == NULL)
			die("out of memory");
	}
	names[n] = NULL;
	qsort(names, n, sizeof(*names), cmp_str);
	return names;
}

static bool skipped(const struct stat *st)
{
	return opt_skip_devices && (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode));
}

static void count_links(const char *path)
{
	char **names = list_dir(path);

	for (char **p = names; *p; p++) {
		char *child;
		struct stat st;

		if (asprintf(&child, "%s/%s", path, *p) < 0)
			die("out of memory");
		if (lstat(child, &st) < 0)
			die("lstat %s", child);
		if (S_ISDIR(st.st_mode))
			count_links(child);
		else if (!skipped(&st))
			inode_get(st.st_dev, st.st_ino, true)->count++;
		free(child);
		free(*p);
	}
	free(names);
}

static unsigned count_subdirs(const char *path)
{
	char **names = list_dir(path);
	unsigned n = 0;

	for (char **p = names; *p; p++) {
		char *child;
		struct stat st;

		if (asprintf(&child, "%s/%s", path, *p) < 0)
			die("out of memory");
		if (lstat(child, &st) < 0)
			die("lstat %s", child);
		n += S_ISDIR(st.st_mode);
		free(child);
		free(*p);
	}
	free(names);
	return n;
}

static uint8_t *read_file(const char *path, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t done = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || buf == NULL)
		die("open %s", path);
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n <= 0)
			die("read %s", path);
		done += (size_t)n;
	}
	close(fd);
	return buf;
}

static void check_object(const char *objpath, const uint8_t *data, size_t size)
{
	char *full;
	struct stat st;

	if (asprintf(&full, "%s/%s", opt_store, objpath) < 0)
		die("out of memory");
	if (stat(full, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != size) {
		fprintf(stderr, "%s: object %s missing or of the wrong size\n", prog, full);
		failures++;
	} else {
		uint8_t *obj = read_file(full, size);

		if (memcmp(obj, data, size) != 0) {
			fprintf(stderr, "%s: object %s has the wrong content\n", prog, full);
			failures++;
		}
		free(obj);
	}
	free(full);
}

static int cmp_objpath(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static int cmp_xattr_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_xattrs(const char *path)
{
	char list[65536], value[65536];
	const char *names[4096];
	size_t n = 0;
	ssize_t len;

	if (opt_skip_xattrs)
		return;
	len = llistxattr(path, list, sizeof(list));
	if (len < 0)
		die("llistxattr %s", path);
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		if (!opt_user_xattrs || strncmp(p, "user.", 5) == 0)
			names[n++] = p;
	qsort(names, n, sizeof(*names), cmp_xattr_names);
	for (size_t i = 0; i < n; i++) {
		ssize_t vlen = lgetxattr(path, names[i], value, sizeof(value));

		if (vlen < 0)
			die("lgetxattr %s %s", path, names[i]);
		putchar(' ');
		put_str(names[i], ESC_EQUAL);
		putchar('=');
		put_escaped((const uint8_t *)value, (size_t)vlen, ESC_EQUAL);
	}
}

static void print_entry(const char *path, const char *dumppath)
{
	struct stat st;
	struct inode *ino = NULL;
	uint64_t size = 0;
	unsigned nlink = 1;
	int64_t sec = 0;
	uint32_t nsec = 0;

	if (lstat(path, &st) < 0)
		die("lstat %s", path);
	if (!S_ISDIR(st.st_mode)) {
		ino = inode_get(st.st_dev, st.st_ino, false);
		nlink = ino ? ino->count : 1;
	} else {
		nlink = 2 + count_subdirs(path);
	}
	if (!opt_epoch) {
		sec = st.st_mtim.tv_sec;
		nsec = (uint32_t)st.st_mtim.tv_nsec;
	}
	if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
		size = (uint64_t)st.st_size;

	put_str(dumppath, 0);
	printf(" %" PRIu64 " %s%o %u %u %u %" PRIu64 " %" PRId64 ".%u ", size,
	       ino && ino->first ? "@" : "", (unsigned)st.st_mode, nlink, (unsigned)st.st_uid,
	       (unsigned)st.st_gid,
	       (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) ? (uint64_t)st.st_rdev : 0, sec,
	       nsec);
	if (ino && ino->first) {
		/* a later name of a hard-linked inode */
		put_str(ino->first, ESC_DASH);
		fputs(" - -", stdout);
	} else if (S_ISLNK(st.st_mode)) {
		char target[8192];
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		if (n < 0)
			die("readlink %s", path);
		target[n] = '\0';
		put_str(target, ESC_DASH);
		fputs(" - -", stdout);
	} else if (S_ISREG(st.st_mode) && size > 0) {
		uint8_t *data = read_file(path, (size_t)size);

		if (size <= INLINE_MAX) {
			fputs("- ", stdout);
			put_escaped(data, (size_t)size, ESC_DASH);
			fputs(" -", stdout);
		} else {
			uint8_t d[32];
			char hex[65], objpath[67];

			verity_digest(data, (size_t)size, d);
			for (int i = 0; i < 32; i++)
				sprintf(hex + 2 * i, "%02x", d[i]);
			snprintf(objpath, sizeof(objpath), "%.2s/%s", hex, hex + 2);
			printf("%s - %s", objpath, hex);
			if (opt_store)
				check_object(objpath, data, (size_t)size);
			if (n_objects == cap_objects) {
				cap_objects = cap_objects ? 2 * cap_objects : 64;
				objects = realloc(objects, cap_objects * sizeof(*objects));
				if (objects == NULL)
					die("out of memory");
			}
			memcpy(objects[n_objects++], objpath, sizeof(objpath));
		}
		free(data);
	} else {
		fputs("- - -", stdout);
	}
	/* the xattrs of a hard link's later names are those of the inode: print them too */
	print_xattrs(path);
	putchar('\n');
	if (ino && !ino->first) {
		ino->first = strdup(dumppath);
		if (ino->first == NULL)
			die("out of memory");
	}
}

static void walk(const char *path, const char *dumppath)
{
	char **names = list_dir(path);

	for (char **p = names; *p; p++) {
		char *child = NULL, *childdump = NULL;
		struct stat st;

		if (asprintf(&child, "%s/%s", path, *p) < 0 ||
		    asprintf(&childdump, "%s/%s", dumppath[1] ? dumppath : "", *p) < 0)
			die("out of memory");
		if (lstat(child, &st) < 0)
			die("lstat %s", child);
		if (!skipped(&st)) {
			print_entry(child, childdump);
			if (S_ISDIR(st.st_mode))
				walk(child, childdump);
		}
		free(child);
		free(childdump);
		free(*p);
	}
	free(names);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "use-epoch", no_argument, NULL, 'e' },
		{ "skip-xattrs", no_argument, NULL, 'x' },
		{ "user-xattrs", no_argument, NULL, 'u' },
		{ "skip-devices", no_argument, NULL, 'd' },
		{ "check-store", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			opt_epoch = true;
			break;
		case 'x':
			opt_skip_xattrs = true;
			break;
		case 'u':
			opt_user_xattrs = true;
			break;
		case 'd':
			opt_skip_devices = true;
			break;
		case 's':
			opt_store = optarg;
			break;
		default:
			fprintf(stderr, "Usage: %s [--use-epoch] [--skip-xattrs] [--user-xattrs] "
					"[--skip-devices] [--check-store=STORE] DIR\n", prog);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: expected one DIR\n", prog);
		return 2;
	}
	count_links(argv[optind]);
	print_entry(argv[optind], "/");
	walk(argv[optind], "/");
	if (fflush(stdout) != 0)
		die("stdout");
	if (opt_store) {
		size_t distinct = 0;

		qsort(objects, n_objects, sizeof(*objects), cmp_objpath);
		for (size_t i = 0; i < n_objects; i++)
			distinct += i == 0 || strcmp(objects[i], objects[i - 1]) != 0;
		/* the last line on stderr is just the count, for scripts */
		fprintf(stderr, "%s: %zu non-inline files checked against %s\n%zu\n", prog,
			n_objects, opt_store, distinct);
	}
	return failures ? 1 : 0;
}
