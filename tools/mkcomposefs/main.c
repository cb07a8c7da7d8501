/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* mkcomposefs: build a composefs image from a directory or a dump file. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/builder.h>
#include <composefs/composefs.h>
#include <composefs/dump.h>
#include <composefs/store.h>
#include <composefs/writer.h>

#include "common.h"
#include "mkcomposefs.h"

#define MAX_THREADS 1024

enum {
	OPT_SKIP_XATTRS = 256,
	OPT_USER_XATTRS,
	OPT_SKIP_DEVICES,
	OPT_USE_EPOCH,
	OPT_DIGEST_STORE,
	OPT_PRINT_DIGEST,
	OPT_PRINT_DIGEST_ONLY,
	OPT_FROM_FILE,
	OPT_MIN_VERSION,
	OPT_MAX_VERSION,
	OPT_THREADS,
	OPT_HASH,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option longopts[] = {
	{ "skip-xattrs", no_argument, NULL, OPT_SKIP_XATTRS },
	{ "user-xattrs", no_argument, NULL, OPT_USER_XATTRS },
	{ "skip-devices", no_argument, NULL, OPT_SKIP_DEVICES },
	{ "use-epoch", no_argument, NULL, OPT_USE_EPOCH },
	{ "digest-store", required_argument, NULL, OPT_DIGEST_STORE },
	{ "print-digest", no_argument, NULL, OPT_PRINT_DIGEST },
	{ "print-digest-only", no_argument, NULL, OPT_PRINT_DIGEST_ONLY },
	{ "from-file", no_argument, NULL, OPT_FROM_FILE },
	{ "min-version", required_argument, NULL, OPT_MIN_VERSION },
	{ "max-version", required_argument, NULL, OPT_MAX_VERSION },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "hash", required_argument, NULL, OPT_HASH },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct args {
	uint32_t build_flags;   /* directory-only CFS_BUILD_* options given */
	const char *build_opt;  /* name of one of them, for messages */
	unsigned threads;       /* 0 = automatic */
	const char *digest_store;
	bool print_digest, print_digest_only, from_file;
	bool min_set, max_set;
	uint32_t min_version, max_version;
	bool hash_set;
	enum cfs_hash_alg alg;  /* fs-verity algorithm of the digests */
	const char *src, *image;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] SOURCE IMAGE\n"
		"       %s [OPTIONS] --print-digest-only SOURCE\n"
		"Build a composefs image from SOURCE, a directory or (with --from-file) a dump\n"
		"file or '-' for standard input. IMAGE '-' writes the image to standard output.\n"
		"\n"
		"Options:\n"
		"  --digest-store=DIR    copy regular file content into the object store DIR\n"
		"  --print-digest        print the fs-verity digest of the image\n"
		"  --print-digest-only   print the digest and write no image (no IMAGE argument)\n"
		"  --use-epoch           set all modification times to 0\n"
		"  --skip-devices        leave out character and block devices\n"
		"  --skip-xattrs         record no extended attributes\n"
		"  --user-xattrs         record only user.* extended attributes\n"
		"  --from-file           SOURCE is a composefs-dump(5) file\n"
		"  --min-version=N       lowest image format version to write (default %d)\n"
		"  --max-version=N       highest format version to upgrade to (default %d)\n"
		"  --threads=N           threads reading and hashing files (default: CPUs)\n"
		"  --hash=ALG            fs-verity digests of files and image: sha256 (default)\n"
		"                        or sha512 (objects named XX/<126 hex>)\n"
		"  --help                show this help and exit\n"
		"  --version             show the version and exit\n"
		"\n"
		"Environment: CFS_PARSE_STRICT set (to any value, even 0) parses dump files strictly.\n",
		tool_prog, tool_prog, CFS_FORMAT_VERSION_DEFAULT_MIN, CFS_FORMAT_VERSION_DEFAULT_MAX);
}

static unsigned long parse_number(const char *opt, const char *val, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	if (val[0] < '0' || val[0] > '9')
		tool_usage_error("invalid value for --%s: '%s'", opt, val);
	v = strtoul(val, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		tool_usage_error("invalid value for --%s: '%s' (at most %lu)", opt, val, max);
	return v;
}

static void set_build_flag(struct args *a, uint32_t flag, const char *name)
{
	a->build_flags |= flag;
	a->build_opt = name;
}

static void parse_args(int argc, char **argv, struct args *a)
{
	int opt;

	memset(a, 0, sizeof(*a));
	a->alg = CFS_HASH_SHA256;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SKIP_XATTRS:
			set_build_flag(a, CFS_BUILD_SKIP_XATTRS, "--skip-xattrs");
			break;
		case OPT_USER_XATTRS:
			set_build_flag(a, CFS_BUILD_USER_XATTRS, "--user-xattrs");
			break;
		case OPT_SKIP_DEVICES:
			set_build_flag(a, CFS_BUILD_SKIP_DEVICES, "--skip-devices");
			break;
		case OPT_USE_EPOCH:
			set_build_flag(a, CFS_BUILD_USE_EPOCH, "--use-epoch");
			break;
		case OPT_DIGEST_STORE:
			if (optarg[0] == '\0')
				tool_usage_error("--digest-store needs a directory");
			a->digest_store = optarg;
			break;
		case OPT_PRINT_DIGEST:
			a->print_digest = true;
			break;
		case OPT_PRINT_DIGEST_ONLY:
			a->print_digest = a->print_digest_only = true;
			break;
		case OPT_FROM_FILE:
			a->from_file = true;
			break;
		case OPT_MIN_VERSION:
			a->min_version = (uint32_t)parse_number("min-version", optarg,
								 CFS_FORMAT_VERSION_MAX);
			a->min_set = true;
			break;
		case OPT_MAX_VERSION:
			a->max_version = (uint32_t)parse_number("max-version", optarg,
								 CFS_FORMAT_VERSION_MAX);
			a->max_set = true;
			break;
		case OPT_THREADS:
			a->threads = (unsigned)parse_number("threads", optarg, MAX_THREADS);
			if (a->threads == 0)
				tool_usage_error("invalid value for --threads: '%s' (at least 1)", optarg);
			break;
		case OPT_HASH:
			if (cfs_hash_alg_from_name(optarg, &a->alg) < 0)
				tool_usage_error("invalid value for --hash: '%s' (sha256 or sha512)", optarg);
			a->hash_set = true;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(EXIT_OK);
		case OPT_VERSION:
			tool_print_version();
		default:
			tool_usage_error("unknown option or missing value");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		tool_usage_error("no SOURCE given");
	if (argc > 2)
		tool_usage_error("too many arguments");
	a->src = argv[0];
	if (a->src[0] == '\0')
		tool_usage_error("SOURCE is an empty string");
	if (a->print_digest_only) {
		if (argc == 2)
			tool_usage_error("no IMAGE may be given with --print-digest-only");
	} else {
		if (argc < 2)
			tool_usage_error("no IMAGE given");
		a->image = argv[1];
		if (a->image[0] == '\0')
			tool_usage_error("IMAGE is an empty string");
	}
	if ((a->build_flags & CFS_BUILD_SKIP_XATTRS) && (a->build_flags & CFS_BUILD_USER_XATTRS))
		tool_usage_error("--skip-xattrs and --user-xattrs exclude each other");
	if (a->from_file) {
		/* these act on the directory walk only; refuse rather than ignore them */
		if (a->digest_store)
			tool_usage_error("--digest-store cannot be used with --from-file");
		if (a->build_flags)
			tool_usage_error("%s cannot be used with --from-file", a->build_opt);
		if (a->threads)
			tool_usage_error("--threads cannot be used with --from-file");
	}
}

/* ---- sources -------------------------------------------------------------- */

/*
 * Lenient mode accepts, as the reference does, payloads no mount can serve
 * (strict mode refuses them in the parser): say so once, naming the first.
 */
static void warn_unservable(const char *name, struct cfs_node *root)
{
	struct cfs_node **stack = NULL, *first = NULL;
	size_t n = 0, cap = 0, bad = 0;

	for (struct cfs_node *node = root; node != NULL; node = n > 0 ? stack[--n] : NULL) {
		size_t nc = cfs_node_n_children(node);

		if (!cfs_node_payload_servable(node) && bad++ == 0)
			first = node;
		for (size_t i = 0; i < nc; i++) {
			bool hardlink;
			struct cfs_node *child = cfs_node_child_at(node, i, NULL, &hardlink);

			if (hardlink)
				continue;
			if (n == cap) {
				struct cfs_node **ns = realloc(stack, (cap ? 2 * cap : 64) * sizeof(*stack));

				if (ns == NULL) {
					free(stack);
					return; /* a warning is not worth failing for */
				}
				stack = ns;
				cap = cap ? 2 * cap : 64;
			}
			stack[n++] = child;
		}
	}
	free(stack);
	if (bad > 0) {
		const char *p = cfs_node_get_payload(first);
		char shown[128];
		size_t k = 0;

		/* one line: control bytes shown as '?', long paths cut */
		for (; *p != '\0' && k + 4 < sizeof(shown); p++)
			shown[k++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
		if (*p != '\0')
			shown[k++] = '.', shown[k++] = '.', shown[k++] = '.';
		shown[k] = '\0';
		tool_msg("warning: %s: %zu file(s) with a backing path no mount can serve (absolute, or an empty, "
			"'.' or '..' component), e.g. \"%s\"; CFS_PARSE_STRICT refuses them",
			name, bad, shown);
	}
}

struct alg_check {
	enum cfs_hash_alg want;
	const char *path; /* first file with another digest */
	enum cfs_hash_alg got;
};

static int check_one_alg(const struct cfs_walk_entry *e, void *user)
{
	struct alg_check *c = user;
	enum cfs_hash_alg alg = cfs_node_get_digest_alg(e->node);

	if (alg == 0 || alg == c->want)
		return 0;
	c->path = strdup(e->path);
	c->got = alg;
	return -EINVAL;
}

/* With --hash, a dump's digests must all be of that algorithm: an image that
 * mixes them cannot name its objects in one store. */
static void check_digest_alg(const char *name, struct cfs_node *root, enum cfs_hash_alg want)
{
	struct alg_check c = { .want = want };
	int r = cfs_node_walk(root, 0, check_one_alg, NULL, &c);

	if (r == -EINVAL && c.path != NULL)
		tool_die("%s: %s: %s digest, but --hash=%s", name, c.path, cfs_hash_alg_name(c.got),
			 cfs_hash_alg_name(want));
	if (r < 0)
		tool_die_errno(r, "%s", name);
}

static struct cfs_node *tree_from_dump(const struct args *a)
{
	/* As in the reference: set to anything, even "0" or "", means strict. */
	unsigned flags = getenv("CFS_PARSE_STRICT") != NULL ? CFS_DUMP_STRICT : 0;
	struct cfs_dump_error err = { 0 };
	const char *name = a->src;
	struct cfs_node *root = NULL;
	FILE *f = stdin;
	int r;

	if (strcmp(a->src, "-") == 0) {
		name = "<stdin>";
	} else {
		f = fopen(a->src, "re");
		if (f == NULL)
			tool_die_errno(-errno, "%s", a->src);
	}
	r = cfs_dump_parse_file(f, flags, &root, &err);
	if (f != stdin)
		fclose(f);
	if (r < 0) {
		/* the parser's message starts with "line N: " when it is about a line */
		if (err.line > 0 && strncmp(err.msg, "line ", 5) != 0)
			tool_die("%s: line %lu: %s", name, err.line, err.msg[0] ? err.msg : strerror(-r));
		if (err.msg[0])
			tool_die("%s: %s", name, err.msg);
		tool_die_errno(r, "%s", name);
	}
	warn_unservable(name, root);
	if (a->hash_set)
		check_digest_alg(name, root, a->alg);
	return root;
}

static void show_progress(void *user, const struct cfs_build_progress *p)
{
	/* "+": the directory walk is still finding more */
	const char *more = p->scanning ? "+" : "";

	(void)user;
	fprintf(stderr, "\r\033[K%s: %llu/%llu%s files, %llu/%llu%s MiB", tool_prog,
		(unsigned long long)p->files_done, (unsigned long long)p->files_total, more,
		(unsigned long long)(p->bytes_done >> 20), (unsigned long long)(p->bytes_total >> 20),
		more);
}

static struct cfs_node *tree_from_dir(const struct args *a, struct cfs_objstore **store_out)
{
	struct cfs_build_opts o;
	struct cfs_node *root = NULL;
	char errbuf[1200];
	bool tty = isatty(STDERR_FILENO);
	int r;

	cfs_build_opts_init(&o);
	o.flags = a->build_flags | CFS_BUILD_COMPUTE_DIGEST;
	o.threads = a->threads;
	o.hash_alg = a->alg;
	if (a->digest_store) {
		r = cfs_objstore_open(AT_FDCWD, a->digest_store,
				      CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH, a->alg, store_out);
		if (r < 0)
			tool_die_errno(r, "%s", a->digest_store);
		/* what killed writers left behind would otherwise stay forever */
		r = cfs_objstore_clean(*store_out, 0, NULL, NULL);
		if (r < 0)
			tool_msg_errno(r, "warning: %s: removing temporary files of dead writers", a->digest_store);
		o.store = *store_out;
	}
	if (tty) {
		o.progress = show_progress;
		o.progress_user = NULL;
	}
	r = cfs_build_from_dir(AT_FDCWD, a->src, &o, &root, errbuf, sizeof(errbuf));
	if (tty)
		fprintf(stderr, "\r\033[K");
	if (r < 0) {
		/* drop the objects staged so far: no temporary files stay behind */
		cfs_objstore_free(*store_out);
		*store_out = NULL;
		tool_die("%s", errbuf[0] ? errbuf : strerror(-r));
	}
	if (*store_out != NULL) {
		r = cfs_objstore_sync(*store_out);
		if (r < 0)
			tool_die_errno(r, "%s: sync", a->digest_store);
	}
	return root;
}

/* ---- output ------------------------------------------------------------------ */

static int discard_bytes(void *user, const void *buf, size_t len)
{
	(void)user;
	(void)buf;
	(void)len;
	return 0;
}

static void write_image(const struct args *a, struct cfs_node *root, uint8_t *digest)
{
	struct cfs_write_opts wo;
	struct mkcfs_output out;
	char errbuf[512] = "";
	int r;

	cfs_write_opts_init(&wo);
	wo.hash_alg = a->alg;
	if (a->min_set || a->max_set) {
		/* as the reference: giving one of them zeroes the other */
		wo.min_version = a->min_set ? a->min_version : 0;
		wo.max_version = a->max_set ? a->max_version : 0;
		if (wo.max_version < wo.min_version)
			wo.max_version = wo.min_version;
	}
	if (a->print_digest_only) {
		r = cfs_write_image(root, &wo, discard_bytes, NULL, digest, errbuf, sizeof(errbuf));
		if (r < 0)
			tool_die("cannot build image: %s", errbuf[0] ? errbuf : strerror(-r));
		return;
	}
	r = mkcfs_output_open(a->image, &out);
	if (r < 0)
		tool_die_errno(r, "%s", a->image);
	if (out.kind == MKCFS_OUT_ATOMIC)
		r = cfs_write_image_at(root, &wo, AT_FDCWD, a->image, 0666,
				       a->print_digest ? digest : NULL, errbuf, sizeof(errbuf));
	else
		r = cfs_write_image_fd(root, &wo, out.fd, a->print_digest ? digest : NULL, errbuf,
				       sizeof(errbuf));
	if (r < 0) {
		mkcfs_output_abort(&out);
		if (errbuf[0])
			tool_die("%s: %s", a->image, errbuf);
		tool_die_errno(r, "%s", a->image);
	}
	r = mkcfs_output_commit(&out);
	if (r < 0)
		tool_die_errno(r, "%s", a->image);
}

int main(int argc, char **argv)
{
	struct cfs_objstore *store = NULL;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	struct cfs_node *root;
	struct args a;

	tool_prog = "mkcomposefs";
	parse_args(argc, argv, &a);

	if (a.image != NULL && strcmp(a.image, "-") == 0 && isatty(STDOUT_FILENO))
		tool_die("refusing to write the image to a terminal");

	root = a.from_file ? tree_from_dump(&a) : tree_from_dir(&a, &store);
	write_image(&a, root, digest);

	if (a.print_digest) {
		char hex[2 * CFS_VERITY_MAX_DIGEST + 1];

		cfs_digest_to_hex(digest, cfs_verity_digest_size(a.alg), hex);
		printf("%s\n", hex);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		tool_die("standard output: write error");
	cfs_node_unref(root);
	cfs_objstore_free(store);
	return EXIT_OK;
}
