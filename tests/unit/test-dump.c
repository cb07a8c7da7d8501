/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit test of the dump parser and printer: compat assets, round trips, edge cases, limits. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <composefs/composefs.h>

#include "testutil.h"

#define ROOT "/ 4096 40755 2 0 0 0 0.0 - - -\n"
#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Print @root into a malloc'd string. */
static char *print_str(struct cfs_node *root, const char *const *filters, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	CHECK(f != NULL);
	CHECK_EQ_INT(cfs_dump_print(root, f, filters), 0);
	CHECK(fclose(f) == 0);
	if (len)
		*len = size;
	return buf;
}

static struct cfs_node *parse_ok(const char *text, unsigned flags)
{
	struct cfs_dump_error err;
	struct cfs_node *root = NULL;
	int r = cfs_dump_parse_buf(text, strlen(text), flags, &root, &err);

	if (r != 0)
		fprintf(stderr, "unexpected parse error %d: %s\n", r, err.msg);
	CHECK_EQ_INT(r, 0);
	CHECK(root != NULL);
	return root;
}

/* Parse must fail at @line with a message containing @what. */
static void parse_fail(const char *text, size_t len, unsigned flags, unsigned long line, const char *what)
{
	struct cfs_dump_error err;
	struct cfs_node *root = NULL;
	char prefix[64];
	int r = cfs_dump_parse_buf(text, len, flags, &root, &err);

	if (r != -EINVAL || err.line != line || strstr(err.msg, what) == NULL)
		fprintf(stderr, "input:\n%.*s\ngot %d line %lu \"%s\", want line %lu \"%s\"\n", (int)len, text, r,
			err.line, err.msg, line, what);
	CHECK_EQ_INT(r, -EINVAL);
	CHECK(root == NULL);
	CHECK_EQ_INT(err.line, line);
	CHECK(strstr(err.msg, what) != NULL);
	if (line) {
		snprintf(prefix, sizeof(prefix), "line %lu: ", line);
		CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0);
	}
}

static void parse_fail_s(const char *text, unsigned flags, unsigned long line, const char *what)
{
	parse_fail(text, strlen(text), flags, line, what);
}

/* print(parse(text)) must be @expect (or @text itself when NULL). */
static void check_print(const char *text, unsigned flags, const char *expect)
{
	struct cfs_node *root = parse_ok(text, flags);
	char *out = print_str(root, NULL, NULL);

	if (strcmp(out, expect ? expect : text) != 0)
		fprintf(stderr, "printed:\n%s\nexpected:\n%s\n", out, expect ? expect : text);
	CHECK_EQ_STR(out, expect ? expect : text);
	free(out);
	cfs_node_unref(root);
}

/* ---- compat assets ---- */

static char *read_asset(const char *dir, const char *name, size_t *len)
{
	char path[4096], *buf = NULL;
	size_t size = 0, n;
	char chunk[65536];
	FILE *in, *mem = open_memstream(&buf, &size);
	bool gz = strlen(name) > 3 && strcmp(name + strlen(name) - 3, ".gz") == 0;

	CHECK(mem != NULL);
	if (gz) {
		snprintf(path, sizeof(path), "gzip -dc '%s/%s'", dir, name);
		in = popen(path, "r");
	} else {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		in = fopen(path, "r");
	}
	CHECK(in != NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		CHECK(fwrite(chunk, 1, n, mem) == n);
	CHECK(!ferror(in));
	if (gz)
		CHECK_EQ_INT(pclose(in), 0);
	else
		fclose(in);
	CHECK(fclose(mem) == 0);
	*len = size;
	return buf;
}

/* Assets that are already in canonical `composefs-info dump` form. */
static bool is_canonical(const char *name)
{
	static const char *const not_canonical[] = {
		"honggfuzz-chardev-nonzero-size.dump", /* writer zeroes a whiteout's size */
		"honggfuzz-longlink-unterminated.dump", /* short line, symlink size, mode bits */
		"longlink.dump",                       /* symlink SIZE differs from target */
		"no-newline.dump",                     /* no final newline, rdev on a dir */
		"special_v1.dump",                     /* v1 images add opaque xattrs */
	};
	for (size_t i = 0; i < sizeof(not_canonical) / sizeof(not_canonical[0]); i++)
		if (strcmp(name, not_canonical[i]) == 0)
			return false;
	return true;
}

/* Dumps the reference rejects only with CFS_PARSE_STRICT set. */
static bool fails_strict(const char *name)
{
	return strcmp(name, "honggfuzz-longlink-unterminated.dump") == 0 ||
	       strcmp(name, "longlink.dump") == 0 || strcmp(name, "no-newline.dump") == 0;
}

static void test_asset_should_fail(const char *dir, const char *name)
{
	struct cfs_dump_error err;
	struct cfs_node *root = NULL;
	char path[4096], prefix[64];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	CHECK(f != NULL);
	r = cfs_dump_parse_file(f, 0, &root, &err);
	fclose(f);
	printf("  %s: %s\n", name, err.msg);
	CHECK_EQ_INT(r, -EINVAL);
	CHECK(root == NULL);
	CHECK(err.line >= 1);
	snprintf(prefix, sizeof(prefix), "line %lu: ", err.line);
	CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0);
}

static void test_asset_round_trip(const char *dir, const char *name)
{
	struct cfs_dump_error err;
	struct cfs_node *root = NULL, *again = NULL;
	size_t len, plen, plen2;
	char *text = read_asset(dir, name, &len), *printed, *printed2;
	int r;

	r = cfs_dump_parse_buf(text, len, 0, &root, &err);
	if (r != 0)
		fprintf(stderr, "%s: %s\n", name, err.msg);
	CHECK_EQ_INT(r, 0);
	printed = print_str(root, NULL, &plen);
	if (is_canonical(name)) {
		CHECK_EQ_INT(plen, len);
		CHECK(memcmp(printed, text, len) == 0);
	}
	/* the printed form parses (even strictly) and prints identically */
	CHECK_EQ_INT(cfs_dump_parse_buf(printed, plen, CFS_DUMP_STRICT, &again, &err), 0);
	printed2 = print_str(again, NULL, &plen2);
	CHECK_EQ_INT(plen2, plen);
	CHECK(memcmp(printed, printed2, plen) == 0);
	cfs_node_unref(again);
	free(printed2);

	/* strict mode rejects exactly what the reference's strict mode does */
	r = cfs_dump_parse_buf(text, len, CFS_DUMP_STRICT, &again, &err);
	CHECK_EQ_INT(r, fails_strict(name) ? -EINVAL : 0);
	if (r == 0)
		cfs_node_unref(again);
	else
		CHECK(err.line >= 1);

	/* the stream parser agrees with the buffer parser */
	if (strstr(name, ".gz") == NULL) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = fopen(path, "r");
		CHECK(f != NULL);
		CHECK_EQ_INT(cfs_dump_parse_file(f, 0, &again, &err), 0);
		fclose(f);
		printed2 = print_str(again, NULL, &plen2);
		CHECK_EQ_INT(plen2, plen);
		CHECK(memcmp(printed, printed2, plen) == 0);
		free(printed2);
		cfs_node_unref(again);
	}
	printf("  %s: round trip ok (%zu bytes%s)\n", name, plen, is_canonical(name) ? ", canonical" : "");
	free(printed);
	free(text);
	cfs_node_unref(root);
}

static void test_compat_assets(void)
{
	const char *dir = getenv("CFS_COMPAT_ASSETS");
	struct dirent **names;
	int n, n_fail = 0, n_ok = 0;

	if (dir == NULL || (n = scandir(dir, &names, NULL, alphasort)) < 0) {
		printf("compat assets: skipped (CFS_COMPAT_ASSETS=%s not readable)\n", dir ? dir : "(unset)");
		return;
	}
	printf("compat assets in %s:\n", dir);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t l = strlen(name);
		bool dump = (l > 5 && strcmp(name + l - 5, ".dump") == 0) ||
			    (l > 8 && strcmp(name + l - 8, ".dump.gz") == 0);

		if (dump && strncmp(name, "should-fail-", 12) == 0) {
			test_asset_should_fail(dir, name);
			n_fail++;
		} else if (dump) {
			test_asset_round_trip(dir, name);
			n_ok++;
		}
		free(names[i]);
	}
	free(names);
	CHECK(n_fail >= 14);
	CHECK(n_ok >= 14);
}

/* ---- edge cases ---- */

static void test_escapes(void)
{
	static const char text[] = ROOT
		"/- 1 100644 1 0 0 0 0.0 \\x2d \\x2d -\n"
		"/a\\x20b\\tc\\\\\\n 3 100644 1 0 0 0 0.0 - a=\\r - user.a\\x3db=c\\x3dd\\x00\\xff trusted.x=-\n"
		"/z\\xc3\\xa9 5 100644 1 0 0 0 0.0 x\\x20y - " DIGEST " user.e=\n";
	struct cfs_node *root = parse_ok(text, CFS_DUMP_STRICT), *n;
	const uint8_t *content;
	const void *v;
	size_t len;

	n = cfs_node_lookup(root, "a b\tc\\\n");
	CHECK(n != NULL);
	content = cfs_node_get_content(n, &len);
	CHECK_EQ_INT(len, 3);
	CHECK(memcmp(content, "a=\r", 3) == 0);
	v = cfs_node_get_xattr(n, "user.a=b", &len);
	CHECK(v != NULL);
	CHECK_EQ_INT(len, 5);
	CHECK(memcmp(v, "c=d\0\xff", 5) == 0);
	v = cfs_node_get_xattr(n, "trusted.x", &len);
	CHECK(v != NULL && len == 1 && memcmp(v, "-", 1) == 0);
	n = cfs_node_lookup(root, "-");
	CHECK_EQ_STR(cfs_node_get_payload(n), "-");
	content = cfs_node_get_content(n, &len);
	CHECK(len == 1 && content[0] == '-');
	n = cfs_node_lookup(root, "z\xc3\xa9");
	CHECK_EQ_STR(cfs_node_get_payload(n), "x y");
	CHECK(cfs_node_get_digest(n) != NULL && cfs_node_get_digest(n)[1] == 0x23);
	CHECK(cfs_node_get_xattr(n, "user.e", &len) != NULL && len == 0);
	cfs_node_unref(root);

	/* entries come out sorted; the escaping is the reference's */
	check_print(text, 0, NULL);
	/* only the lone dash is escaped; \x41 and upper-case hex normalize */
	check_print(ROOT "/\\x41 2 100644 1 0 0 0 0.0 -- \\x2D- " DIGEST "\n", 0,
		    ROOT "/A 2 100644 1 0 0 0 0.0 -- -- " DIGEST "\n");
	parse_fail_s(ROOT "/a\\q 0 100644 1 0 0 0 0.0 - - -\n", 0, 2, "unknown escape");
	parse_fail_s(ROOT "/a\\ 0 100644 1 0 0 0 0.0 - - -\n", 0, 2, "backslash at the end");
	parse_fail_s(ROOT "/a\\x4 0 100644 1 0 0 0 0.0 - - -\n", 0, 2, "two hex digits");
	parse_fail_s(ROOT "/a\\x4g 0 100644 1 0 0 0 0.0 - - -\n", 0, 2, "invalid hex");
	parse_fail_s(ROOT "/a\\x00b 0 100644 1 0 0 0 0.0 - - -\n", 0, 2, "NUL");
	parse_fail_s(ROOT "/a 0 100644 1 0 0 0 0.0 - - - us\\x00er.a=b\n", 0, 2, "NUL");
	parse_fail_s(ROOT "/a 0 100644 1 0 0 0 0.0 a\\x00b - -\n", 0, 2, "NUL");
	parse_fail(ROOT "/a\0 0 100644 1 0 0 0 0.0 - - -\n", sizeof(ROOT "/a\0 0 100644 1 0 0 0 0.0 - - -\n") - 1,
		   0, 2, "NUL byte at column 3");
}

static void test_hardlinks(void)
{
	/* forward reference, chain, and a link whose other fields are junk */
	static const char text[] = ROOT
		"/a 0 @100644 x y z w q /d/b - -\n"
		"/d 4096 40755 2 0 0 0 0.0 - - -\n"
		"/d/b 0 @100644 1 0 0 0 0.0 /d/c - -\n"
		"/d/c 5 100644 3 7 8 0 12.5 - hello - user.x=1\n";
	struct cfs_node *root = parse_ok(text, CFS_DUMP_STRICT), *d, *c;
	bool hl;

	d = cfs_node_lookup(root, "d");
	c = cfs_node_lookup(d, "c");
	CHECK(c != NULL);
	CHECK(cfs_node_lookup(root, "a") == c);
	CHECK(cfs_node_lookup(d, "b") == c);
	CHECK_EQ_INT(cfs_node_get_nlink(c), 3); /* the full line's NLINK */
	CHECK(cfs_node_child_at(root, 0, NULL, &hl) == c && hl);
	CHECK(cfs_node_child_at(d, 0, NULL, &hl) == c && hl);
	CHECK(cfs_node_child_at(d, 1, NULL, &hl) == c && !hl);
	cfs_node_unref(root);

	/* the first name in print order gets the full line */
	check_print(text, 0,
		    ROOT "/a 5 100644 3 7 8 0 12.5 - hello - user.x=1\n"
			 "/d 4096 40755 2 0 0 0 0.0 - - -\n"
			 "/d/b 5 @100644 3 7 8 0 12.5 /a hello - user.x=1\n"
			 "/d/c 5 @100644 3 7 8 0 12.5 /a hello - user.x=1\n");
	/* a canonical dump with links round-trips */
	check_print(ROOT "/a 3 100644 2 0 0 0 0.0 - abc -\n/b 3 @100644 2 0 0 0 0.0 /a abc -\n", 0, NULL);
	/* a link to a name that starts with '-' needs no escape; a lone "-" does */
	check_print(ROOT "/- 0 100644 2 0 0 0 0.0 - - -\n/b 0 @100644 2 0 0 0 0.0 /- - -\n", 0, NULL);

	parse_fail_s(ROOT "/a 0 @100644 1 0 0 0 0.0 /b - -\n/b 0 @100644 1 0 0 0 0.0 /a - -\n", 0, 2, "loop");
	parse_fail_s(ROOT "/x 0 @60777 2 0 0 0 0.0 /x - -\n", 0, 2, "points to itself");
	parse_fail_s(ROOT "/d 4096 40755 2 0 0 0 0.0 - - -\n/x 0 @100644 1 0 0 0 0.0 /d - -\n", 0, 3,
		     "is a directory");
	parse_fail_s(ROOT "/x 0 @100644 1 0 0 0 0.0 / - -\n", 0, 2, "is a directory");
	parse_fail_s(ROOT "/x 0 @40755 1 0 0 0 0.0 /y - -\n", 0, 2, "directories cannot be hard links");
	parse_fail_s(ROOT "/x 0 @100644 1 0 0 0 0.0 /nope - -\n", 0, 2, "does not exist");
	parse_fail_s(ROOT "/x 0 @100644 1 0 0 0 0.0 - - -\n", 0, 2, "without a target");
	parse_fail_s(ROOT "/x 0 @0 1 0 0 0 0.0 /y - -\n", 0, 2, "not a known file type");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 0 0.0 - - -\n/x 0 @100644 1 0 0 0 0.0 /f - -\n/x/y 0 100644 1 0 0 0 0.0 - - -\n",
		     0, 4, "parent is not a directory");
	parse_fail_s("/ 4096 @40755 2 0 0 0 0.0 - - -\n", 0, 1, "hard link");
}

static void test_structure(void)
{
	/* no final newline: fine unless strict */
	check_print(ROOT "/b 0 100644 1 0 0 0 0.0 - - -", 0, ROOT "/b 0 100644 1 0 0 0 0.0 - - -\n");
	parse_fail_s(ROOT "/b 0 100644 1 0 0 0 0.0 - - -", CFS_DUMP_STRICT, 2, "missing newline");
	/* relative paths, doubled slashes and a trailing space are accepted like the reference */
	check_print(ROOT "d 4096 40755 2 0 0 0 0.0 - - - \nd//f 0 100644 1 0 0 0 0.0 - - - user.a=b \n", 0,
		    ROOT "/d 4096 40755 2 0 0 0 0.0 - - -\n/d/f 0 100644 1 0 0 0 0.0 - - - user.a=b\n");
	/* a line may stop after MTIME: missing PAYLOAD/CONTENT are empty, DIGEST absent */
	check_print(ROOT "/f 0 100644 1 0 0 0 0.0\n/l 0 120777 1 0 0 0 0.0 target\n", 0,
		    ROOT "/f 0 100644 1 0 0 0 0.0 - - -\n/l 6 120777 1 0 0 0 0.0 target - -\n");
	parse_fail_s(ROOT "/f 3 100644 1 0 0 0 0.0 -\n", 0, 2, "CONTENT has 0 bytes but SIZE is 3");

	parse_fail("", 0, 0, 0, "empty dump");
	parse_fail_s("\n", 0, 1, "empty PATH");
	parse_fail_s(ROOT "\n", 0, 2, "empty PATH");
	parse_fail_s("/a 0 100644 1 0 0 0 0.0 - - -\n" ROOT, 0, 1, "root directory");
	parse_fail_s(ROOT ROOT, 0, 2, "second root");
	parse_fail_s("/ 0 100644 1 0 0 0 0.0 - - -\n", 0, 1, "must be a directory");
	parse_fail_s(ROOT "/a/b 0 100644 1 0 0 0 0.0 - - -\n", 0, 2, "parent directory missing");
	parse_fail_s(ROOT "/a 0 100644 1 0 0 0 0.0 - - -\n/a 0 100644 1 0 0 0 0.0 - - -\n", 0, 3, "already exists");
	parse_fail_s(ROOT "/. 4096 40755 2 0 0 0 0.0 - - -\n", 0, 2, "not valid names");
	parse_fail_s(ROOT "/d/.. 4096 40755 2 0 0 0 0.0 - - -\n", 0, 2, "parent directory missing");
	parse_fail_s(ROOT "/.. 4096 40755 2 0 0 0 0.0 - - -\n", 0, 2, "not valid names");
	parse_fail_s(ROOT "// 4096 40755 2 0 0 0 0.0 - - -\n", 0, 2, "empty file name");
	parse_fail_s(ROOT "/d 4096 40755 2 0 0 0 0.0 - - -\n/d/ 0 100644 1 0 0 0 0.0 - - -\n", 0, 3,
		     "empty file name");
	parse_fail_s(ROOT "/a 0 100644 1 0 0 0 0.0 - - -  \n", 0, 2, "missing '='");
	parse_fail_s(ROOT "/a 0 100644 1 0 0 0 0.0 - - - =v\n", 0, 2, "empty");
}

static void test_numbers(void)
{
	/* negative seconds and large values print back as given */
	check_print(ROOT "/p 18446744073709551615 10644 4294967295 4294967295 4294967295 0 -9223372036854775808.4294967295 - - -\n",
		    0, NULL);
	check_print(ROOT "/c 0 20644 1 0 0 4294967295 9223372036854775807.999999999 - - -\n", 0, NULL);
	/* MODE bits above 16 are dropped (the image has 16); RDEV off devices too */
	check_print(ROOT "/f 0 7777100644 1 0 0 9 0.0 - - -\n", 0, ROOT "/f 0 100644 1 0 0 0 0.0 - - -\n");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 9 0.0 - - -\n", CFS_DUMP_STRICT, 2, "not a device");

	/* the reference's strtoull takes these; we do not */
	parse_fail_s(ROOT "/f 0 100644 1 +5 0 0 0.0 - - -\n", 0, 2, "UID");
	parse_fail_s(ROOT "/f 0 100644 1 0 -1 0 0.0 - - -\n", 0, 2, "GID");
	parse_fail_s(ROOT "/f 0 100644 1 0 4294967296 0 0.0 - - -\n", 0, 2, "GID 4294967296: out of range");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 4294967296 0.0 - - -\n", 0, 2, "RDEV");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 x 0.0 - - -\n", 0, 2, "RDEV");
	parse_fail_s(ROOT "/f 0 100644 4294967296 0 0 0 0.0 - - -\n", 0, 2, "NLINK");
	parse_fail_s(ROOT "/f 18446744073709551616 100644 1 0 0 0 0.0 - - -\n", 0, 2, "SIZE");
	parse_fail_s(ROOT "/f 0 100648 1 0 0 0 0.0 - - -\n", 0, 2, "MODE");
	parse_fail_s(ROOT "/f 0 77777100644 1 0 0 0 0.0 - - -\n", 0, 2, "MODE");
	parse_fail_s(ROOT "/f 0 0 1 0 0 0 0.0 - - -\n", 0, 2, "not a known file type");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 0 5 - - -\n", 0, 2, "MTIME");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 0 5.4294967296 - - -\n", 0, 2, "MTIME");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 0 9223372036854775808.0 - - -\n", 0, 2, "MTIME");
	parse_fail_s(ROOT "/f 0 100644 1 0 0 0 .5 - - -\n", 0, 2, "MTIME");
	/* DIGEST: exactly 64 hex digits */
	parse_fail_s(ROOT "/f 9 100644 1 0 0 0 0.0 ab/cd - " DIGEST "0\n", 0, 2, "DIGEST");
	parse_fail_s(ROOT "/f 9 100644 1 0 0 0 0.0 ab/cd - 123\n", 0, 2, "DIGEST");
	parse_fail_s(ROOT "/f 9 100644 1 0 0 0 0.0 ab/cd - x123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		     0, 2, "not hexadecimal");
	parse_fail_s(ROOT "/f 9 100644 1 0 0 0 0.0 ab/cd -  user.a=b\n", 0, 2, "DIGEST");
}

static void test_types_and_limits(void)
{
	char *big, *line;
	size_t cap = 300000;
	struct cfs_node *root;

	/* per-type meaning of the fields */
	root = parse_ok(ROOT "/d 9 40755 2 0 0 0 0.0 pay abcdefghi " DIGEST "\n"
			     "/l 1 120777 1 0 0 0 0.0 target - " DIGEST "\n"
			     "/f 3 100644 1 0 0 0 0.0 ab/cd abc " DIGEST "\n"
			     "/c 0 20644 1 0 0 259 0.0 pay - -\n",
			0);
	CHECK(cfs_node_get_payload(cfs_node_lookup(root, "d")) == NULL);
	CHECK(cfs_node_get_content(cfs_node_lookup(root, "d"), NULL) == NULL);
	CHECK(cfs_node_get_digest(cfs_node_lookup(root, "d")) == NULL);
	CHECK_EQ_INT(cfs_node_get_size(cfs_node_lookup(root, "l")), 6);
	CHECK(cfs_node_get_digest(cfs_node_lookup(root, "l")) == NULL);
	CHECK_EQ_STR(cfs_node_get_payload(cfs_node_lookup(root, "f")), "ab/cd");
	CHECK(cfs_node_get_digest(cfs_node_lookup(root, "f")) != NULL);
	CHECK_EQ_INT(cfs_node_get_rdev(cfs_node_lookup(root, "c")), 259);
	CHECK(cfs_node_get_payload(cfs_node_lookup(root, "c")) == NULL);
	cfs_node_unref(root);
	parse_fail_s(ROOT "/l 6 120777 1 0 0 0 0.0 - - -\n", 0, 2, "symlink without a target");
	parse_fail_s(ROOT "/l 3 120777 1 0 0 0 0.0 abc abc -\n", CFS_DUMP_STRICT, 2, "symlink with CONTENT");
	parse_fail_s(ROOT "/l 4 120777 1 0 0 0 0.0 abc - -\n", CFS_DUMP_STRICT, 2, "symlink SIZE 4");
	parse_fail_s(ROOT "/f 4 100644 1 0 0 0 0.0 - abc -\n", 0, 2, "CONTENT has 3 bytes but SIZE is 4");

	big = malloc(cap);
	line = malloc(cap + 200);
	CHECK(big && line);
	/* inline content: 5000 bytes ok, 5001 not */
	memset(big, 'x', 5001);
	big[5000] = '\0';
	snprintf(line, cap + 200, ROOT "/f 5000 100644 1 0 0 0 0.0 - %s -\n", big);
	cfs_node_unref(parse_ok(line, 0));
	big[5000] = 'x';
	big[5001] = '\0';
	snprintf(line, cap + 200, ROOT "/f 5001 100644 1 0 0 0 0.0 - %s -\n", big);
	parse_fail_s(line, 0, 2, "exceeds the maximum 5000");
	/* payload: 4095 bytes ok, 4096 not (PATH_MAX) */
	memset(big, 'a', 4096);
	big[4095] = '\0';
	snprintf(line, cap + 200, ROOT "/l 4095 120777 1 0 0 0 0.0 %s - -\n", big);
	cfs_node_unref(parse_ok(line, CFS_DUMP_STRICT));
	big[4095] = 'a';
	big[4096] = '\0';
	snprintf(line, cap + 200, ROOT "/l 4096 120777 1 0 0 0 0.0 %s - -\n", big);
	parse_fail_s(line, 0, 2, "PAYLOAD longer than 4095");
	/* names: 255 bytes ok, 256 not */
	memset(big, 'n', 256);
	big[255] = '\0';
	snprintf(line, cap + 200, ROOT "/%s 0 100644 1 0 0 0 0.0 - - -\n", big);
	cfs_node_unref(parse_ok(line, 0));
	big[255] = 'n';
	big[256] = '\0';
	snprintf(line, cap + 200, ROOT "/%s 0 100644 1 0 0 0 0.0 - - -\n", big);
	parse_fail_s(line, 0, 2, "longer than 255");
	/* xattr names: 255 ok, 256 not */
	memset(big, 'k', 256);
	big[255] = '\0';
	snprintf(line, cap + 200, ROOT "/f 0 100644 1 0 0 0 0.0 - - - %s=v\n", big);
	cfs_node_unref(parse_ok(line, 0));
	big[255] = 'k';
	big[256] = '\0';
	snprintf(line, cap + 200, ROOT "/f 0 100644 1 0 0 0 0.0 - - - %s=v\n", big);
	parse_fail_s(line, 0, 2, "longer than 255");
	/* xattr budget: 12 + 7 + 6 + value <= 32767 */
	memset(big, 'v', 32742);
	big[32742] = '\0';
	snprintf(line, cap + 200, ROOT "/f 0 100644 1 0 0 0 0.0 - - - user.a=%s\n", big);
	cfs_node_unref(parse_ok(line, 0));
	snprintf(line, cap + 200, ROOT "/f 0 100644 1 0 0 0 0.0 - - - user.b=x user.a=%s\n", big);
	parse_fail_s(line, 0, 2, "exceed 32767");
	/* replacing a value frees its budget; later values win */
	snprintf(line, cap + 200, ROOT "/f 0 100644 1 0 0 0 0.0 - - - user.a=x user.a=%s\n", big);
	root = parse_ok(line, 0);
	CHECK_EQ_INT(cfs_node_n_xattrs(cfs_node_lookup(root, "f")), 1);
	cfs_node_unref(root);
	check_print(ROOT "/f 0 100644 1 0 0 0 0.0 - - - user.b=1 user.a=2 user.b=3\n", 0,
		    ROOT "/f 0 100644 1 0 0 0 0.0 - - - user.b=3 user.a=2\n");
	/* the printed form of a fully escaped maximal xattr still parses */
	memset(big, 0xff, 32742);
	snprintf(line, cap + 200, ROOT "/f 0 100644 1 0 0 0 0.0 - - - user.a=%s\n", big);
	root = parse_ok(line, 0);
	free(big);
	big = print_str(root, NULL, NULL);
	cfs_node_unref(root);
	cfs_node_unref(parse_ok(big, CFS_DUMP_STRICT));
	/* too much xattr text on one line */
	memset(line, 0, cap + 200);
	strcpy(line, ROOT "/f 0 100644 1 0 0 0 0.0 - - -");
	for (size_t l = strlen(line); l < 270000; l += 8)
		strcat(line + l, " user.a=");
	strcat(line, "\n");
	parse_fail_s(line, 0, 2, "too many xattrs");
	/* chunk limit: 2^53 bytes is the largest external file */
	cfs_node_unref(parse_ok(ROOT "/f 9007199254740992 100644 1 0 0 0 0.0 - - -\n", 0));
	parse_fail_s(ROOT "/f 9007199254740993 100644 1 0 0 0 0.0 - - -\n", 0, 2, "too big");
	free(line);
	free(big);
}

static void test_printer(void)
{
	static const char text[] = ROOT
		"/a 0 100644 1 0 0 0 0.0 - - -\n"
		"/b 4096 40755 2 0 0 0 0.0 - - -\n"
		"/b/x 0 100644 1 0 0 0 0.0 - - -\n"
		"/c 0 100644 1 0 0 0 0.0 - - -\n"
		"/d 0 @100644 1 0 0 0 0.0 /b/x - -\n";
	const char *const keep[] = { "b", "d", "nope", NULL };
	const char *const none[] = { NULL };
	struct cfs_node *root = parse_ok(text, 0), *f, *g;
	char *out;
	FILE *closed;

	/* --filter semantics: top-level names only, links re-anchored */
	out = print_str(root, keep, NULL);
	CHECK_EQ_STR(out, ROOT "/b 4096 40755 2 0 0 0 0.0 - - -\n/b/x 0 100644 1 0 0 0 0.0 - - -\n"
			       "/d 0 @100644 1 0 0 0 0.0 /b/x - -\n");
	free(out);
	out = print_str(root, (const char *const[]){ "d", NULL }, NULL);
	CHECK_EQ_STR(out, ROOT "/d 0 100644 1 0 0 0 0.0 - - -\n");
	free(out);
	out = print_str(root, none, NULL);
	CHECK_EQ_STR(out, ROOT);
	free(out);
	cfs_node_unref(root);

	/* a tree built by hand: the primary flag does not decide print order */
	root = cfs_node_new(S_IFDIR | 0755);
	f = cfs_node_new(S_IFREG | 0600);
	g = cfs_node_new(S_IFREG | 0644);
	cfs_node_set_nlink(root, 2);
	cfs_node_set_nlink(f, 2);
	CHECK_EQ_INT(cfs_node_add_child(root, "z", f, false), 0);
	CHECK_EQ_INT(cfs_node_add_child(root, "y", f, true), 0);
	CHECK_EQ_INT(cfs_node_add_child(root, "empty", g, false), 0);
	CHECK_EQ_INT(cfs_node_set_content(g, (const uint8_t *)"", 0), 0); /* empty content prints "-" */
	CHECK_EQ_INT(cfs_node_set_payload(g, ""), 0);
	cfs_node_set_mtime(f, -1, 5);
	CHECK_EQ_INT(cfs_node_set_xattr(f, "user.k", "a b", 3), 0);
	out = print_str(root, NULL, NULL);
	CHECK_EQ_STR(out, "/ 0 40755 2 0 0 0 0.0 - - -\n"
			  "/empty 0 100644 1 0 0 0 0.0 - - -\n"
			  "/y 0 100600 2 0 0 0 -1.5 - - - user.k=a\\x20b\n"
			  "/z 0 @100600 2 0 0 0 -1.5 /y - - user.k=a\\x20b\n");
	free(out);
	CHECK_EQ_INT(cfs_dump_print(f, stdout, NULL), -EINVAL); /* not a directory */
	/* write errors are reported */
	closed = fopen("/dev/full", "w");
	if (closed != NULL) {
		setvbuf(closed, NULL, _IONBF, 0);
		CHECK_EQ_INT(cfs_dump_print(root, closed, NULL), -EIO);
		fclose(closed);
	}
	cfs_node_unref(f);
	cfs_node_unref(g);
	cfs_node_unref(root);
}

static void test_api(void)
{
	struct cfs_dump_error err;
	struct cfs_node *root = NULL;
	FILE *f;

	CHECK_EQ_INT(cfs_dump_parse_buf(ROOT, strlen(ROOT), 2, &root, &err), -EINVAL);
	CHECK(strstr(err.msg, "flags") != NULL);
	CHECK(root == NULL);
	/* err may be NULL */
	CHECK_EQ_INT(cfs_dump_parse_buf("x", 1, 0, &root, NULL), -EINVAL);
	CHECK_EQ_INT(cfs_dump_parse_buf(ROOT, strlen(ROOT), 0, &root, NULL), 0);
	cfs_node_unref(root);
	/* stream parser: same line numbers, unterminated last line */
	f = fmemopen((void *)(ROOT "/a 0 100644 1 0 0 0 0.0 - - -\n/b x"), strlen(ROOT) + 34, "r");
	CHECK(f != NULL);
	CHECK_EQ_INT(cfs_dump_parse_file(f, 0, &root, &err), -EINVAL);
	CHECK_EQ_INT(err.line, 3);
	fclose(f);
	f = fmemopen((void *)(ROOT "/a 0 100644 1 0 0 0 0.0 - - -"), strlen(ROOT) + 29, "r");
	CHECK_EQ_INT(cfs_dump_parse_file(f, CFS_DUMP_STRICT, &root, &err), -EINVAL);
	CHECK(strstr(err.msg, "line 2: missing newline") != NULL);
	rewind(f);
	CHECK_EQ_INT(cfs_dump_parse_file(f, 0, &root, &err), 0);
	CHECK(cfs_node_lookup(root, "a") != NULL);
	cfs_node_unref(root);
	fclose(f);
}

int main(void)
{
	test_escapes();
	printf("escapes ok\n");
	test_hardlinks();
	printf("hard links ok\n");
	test_structure();
	printf("structure ok\n");
	test_numbers();
	printf("numbers ok\n");
	test_types_and_limits();
	printf("types and limits ok\n");
	test_printer();
	printf("printer ok\n");
	test_api();
	printf("api ok\n");
	test_compat_assets();
	return 0;
}
