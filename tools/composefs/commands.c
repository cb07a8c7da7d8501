/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs commands that add, name, list, collect and check images. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdnoreturn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/builder.h>
#include <composefs/dump.h>
#include <composefs/repo.h>

#include "composefs.h"

#define NAME_RULES "at most 1024 bytes in 1 to 64 '/'-separated components, none empty or starting with '.'"

#define HEXBUF (2 * CFS_VERITY_MAX_DIGEST + 1)

static void build_progress(void *user, const struct cfs_build_progress *p)
{
	char a[32], b[32], phase[64];

	snprintf(phase, sizeof(phase), "%s files (%s of %s)", p->scanning ? "scanning" : "storing",
		 tool_human_size(p->bytes_done, a, sizeof(a)), tool_human_size(p->bytes_total, b, sizeof(b)));
	tool_progress(user, phase, p->files_done, p->scanning ? 0 : p->files_total);
}

/* Is @fd a composefs image (its magic), rather than a dump file? */
static bool is_image(int fd)
{
	uint8_t m[4];

	if (pread(fd, m, sizeof(m), 0) != (ssize_t)sizeof(m))
		return false;
	return ((uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24) == 0xd078629aU;
}

static struct cfs_node *tree_from_dump(FILE *f, const char *what)
{
	struct cfs_dump_error err = { 0 };
	struct cfs_node *root = NULL;
	int r = cfs_dump_parse_file(f, 0, &root, &err);

	if (r < 0)
		tool_die("%s: %s", what, err.msg[0] ? err.msg : strerror(-r));
	return root;
}

static int count_missing(void *user, const uint8_t *digest)
{
	struct cfs_repo *repo = ((void **)user)[0];
	size_t *missing = ((void **)user)[1];

	if (cfs_objstore_has(cfs_repo_objstore(repo), digest) != 1)
		(*missing)++;
	return 0;
}

/*
 * Fail after the repository may have been written to: release the handle
 * first, so the objects staged but not yet published (their temporary files)
 * are removed rather than left to fill the file system.
 */
__attribute__((format(printf, 2, 3))) static noreturn void die_repo(struct cfs_repo *repo, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfs_repo_free(repo);
	tool_die("%s", msg);
}

static void warn_missing(struct cfs_repo *repo, const uint8_t *digest)
{
	size_t missing = 0;
	void *ctx[2] = { repo, &missing };

	if (cfs_repo_image_objects(repo, digest, count_missing, ctx) == 0 && missing > 0)
		tool_msg("warning: %zu object(s) the image refers to are not in the repository", missing);
}

int cmd_create_image(struct tool *t)
{
	static const struct option opts[] = {
		{ "skip-xattrs", no_argument, NULL, 'X' },
		{ "user-xattrs", no_argument, NULL, 'u' },
		{ "skip-devices", no_argument, NULL, 'D' },
		{ "use-epoch", no_argument, NULL, 'E' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfs_build_opts bo;
	struct cfs_repo *repo;
	struct cfs_node *root = NULL;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char hex[HEXBUF];
	const char *src, *name;
	bool from_dump = false;
	struct stat st;
	int c, r;

	cfs_build_opts_init(&bo);
	while ((c = tool_getopt(t, "hj:", opts)) != -1) {
		switch (c) {
		case 'X': bo.flags |= CFS_BUILD_SKIP_XATTRS; break;
		case 'u': bo.flags |= CFS_BUILD_USER_XATTRS; break;
		case 'D': bo.flags |= CFS_BUILD_SKIP_DEVICES; break;
		case 'E': bo.flags |= CFS_BUILD_USE_EPOCH; break;
		case 'j': bo.threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h':
			printf("Usage: %s create-image [OPTION...] SRC [NAME]\n"
			       "Store SRC (a directory, a dump file, '-' for a dump on standard input, or a\n"
			       "composefs image) in the repository, name it NAME if given, print its digest.\n\n"
			       "  --skip-xattrs   record no extended attributes\n"
			       "  --user-xattrs   record only user.* extended attributes\n"
			       "  --skip-devices  leave out device files\n"
			       "  --use-epoch     set all modification times to 0\n"
			       "  -j, --threads N read files on N threads (default: all CPUs)\n",
			       tool_prog);
			return EXIT_OK;
		}
	}
	if (optind >= t->argc || t->argc - optind > 2)
		tool_usage_error("create-image: expected SRC [NAME]");
	src = t->argv[optind];
	name = optind + 1 < t->argc ? t->argv[optind + 1] : NULL;
	if (name != NULL && strncmp(name, "refs/", 5) == 0)
		name += 5;
	if (name != NULL && !cfs_repo_ref_name_valid(name))
		tool_usage_error("create-image: invalid name '%s' (" NAME_RULES ")", name);
	repo = tool_open_repo(t, false);
	if (strcmp(src, "-") == 0) {
		root = tree_from_dump(stdin, "<stdin>");
		from_dump = true;
	} else if (stat(src, &st) < 0) {
		tool_die_errno(-errno, "%s", src);
	} else if (S_ISDIR(st.st_mode)) {
		if (t->progress) {
			bo.progress = build_progress;
			bo.progress_user = t;
		}
		r = cfs_repo_import_dir(repo, AT_FDCWD, src, &bo, &root);
		tool_progress_done(t);
		if (r < 0)
			die_repo(repo, "%s", cfs_repo_errmsg(repo));
	} else {
		int fd = open(src, O_RDONLY | O_CLOEXEC);
		FILE *f;

		if (fd < 0)
			tool_die_errno(-errno, "%s", src);
		if (is_image(fd)) {
			r = cfs_repo_import_image_fd(repo, fd, name, digest);
			close(fd);
			if (r < 0)
				die_repo(repo, "%s: %s", src, cfs_repo_errmsg(repo));
			warn_missing(repo, digest);
			printf("%s\n", cfs_repo_digest_hex(repo, digest, hex));
			cfs_repo_free(repo);
			return EXIT_OK;
		}
		f = fdopen(fd, "r");
		if (f == NULL)
			tool_die_errno(-errno, "%s", src);
		root = tree_from_dump(f, src);
		fclose(f);
		from_dump = true;
	}
	r = cfs_repo_commit_tree(repo, root, name, digest);
	tool_progress_done(t);
	cfs_node_unref(root);
	if (r < 0)
		die_repo(repo, "%s", cfs_repo_errmsg(repo));
	if (from_dump)
		warn_missing(repo, digest);
	printf("%s\n", cfs_repo_digest_hex(repo, digest, hex));
	cfs_repo_free(repo);
	return EXIT_OK;
}

/* --help of the commands that take no options. */
static bool simple_help(struct tool *t, const char *usage_line, const char *what)
{
	if (t->argc < 2 || (strcmp(t->argv[1], "--help") != 0 && strcmp(t->argv[1], "-h") != 0))
		return false;
	printf("Usage: %s %s\n%s\n", tool_prog, usage_line, what);
	return true;
}

int cmd_import_image(struct tool *t)
{
	struct cfs_repo *repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char hex[HEXBUF];
	const char *name;
	int fd, r;

	if (simple_help(t, "import-image FILE [NAME]", "Store a composefs image file; print its digest."))
		return EXIT_OK;
	if (t->argc < 2 || t->argc > 3)
		tool_usage_error("import-image: expected FILE [NAME]");
	name = t->argc == 3 ? t->argv[2] : NULL;
	if (name != NULL && strncmp(name, "refs/", 5) == 0)
		name += 5;
	fd = open(t->argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tool_die_errno(-errno, "%s", t->argv[1]);
	repo = tool_open_repo(t, false);
	r = cfs_repo_import_image_fd(repo, fd, name, digest);
	close(fd);
	if (r < 0)
		die_repo(repo, "%s: %s", t->argv[1], cfs_repo_errmsg(repo));
	warn_missing(repo, digest);
	printf("%s\n", cfs_repo_digest_hex(repo, digest, hex));
	cfs_repo_free(repo);
	return EXIT_OK;
}

static int list_one(void *user, const struct cfs_repo_image_info *info)
{
	struct tool_list *l = user;
	char hex[HEXBUF], objs[32];

	cfs_repo_digest_hex(l->repo, info->digest, hex);
	if (info->n_objects >= 0)
		snprintf(objs, sizeof(objs), "%lld", (long long)info->n_objects);
	else
		snprintf(objs, sizeof(objs), "?");
	if (!l->json) {
		if (info->n_names == 0)
			printf("%-24s %s %10llu %8s\n", "-", hex, (unsigned long long)info->size, objs);
		for (size_t i = 0; i < info->n_names; i++)
			printf("%-24s %s %10llu %8s\n", info->names[i], hex, (unsigned long long)info->size, objs);
		return 0;
	}
	tool_list_item(l);
	printf("  {\n    \"digest\": \"%s\",\n    \"names\": [", hex);
	for (size_t i = 0; i < info->n_names; i++) {
		printf("%s", i ? ", " : "");
		tool_json_string(stdout, info->names[i]);
	}
	printf("],\n    \"size\": %llu,\n    \"objects\": %s,\n    \"objects_size\": %llu\n  }",
	       (unsigned long long)info->size, info->n_objects >= 0 ? objs : "null",
	       (unsigned long long)info->objects_size);
	return 0;
}

int cmd_images(struct tool *t)
{
	struct tool_list l;
	int r;

	if (!tool_list_begin(t, &l, "images",
			     "List every image: name ('-' when it has none), digest, size of the image\n"
			     "file in bytes, number of objects it refers to."))
		return EXIT_OK;
	if (!l.json)
		printf("%-24s %-*s %10s %8s\n", "NAME", (int)(2 * cfs_repo_digest_size(l.repo)), "DIGEST", "SIZE",
		       "OBJECTS");
	r = cfs_repo_list_images(l.repo, true, list_one, &l);
	tool_list_end(&l);
	if (r < 0)
		tool_die("%s", cfs_repo_errmsg(l.repo));
	cfs_repo_free(l.repo);
	return EXIT_OK;
}

static void resolve_or_die(struct cfs_repo *repo, const char *spec, uint8_t *digest, bool *by_digest)
{
	if (cfs_repo_resolve(repo, spec, digest, by_digest) < 0)
		tool_die("%s", cfs_repo_errmsg(repo));
}

int cmd_tag(struct tool *t)
{
	struct cfs_repo *repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	const char *name;

	if (simple_help(t, "tag IMAGE NAME", "Name the image IMAGE (a digest or a name) NAME, replacing what NAME named."))
		return EXIT_OK;
	if (t->argc != 3)
		tool_usage_error("tag: expected IMAGE NAME");
	name = t->argv[2];
	if (strncmp(name, "refs/", 5) == 0)
		name += 5;
	if (!cfs_repo_ref_name_valid(name))
		tool_usage_error("tag: invalid name '%s' (" NAME_RULES ")", name);
	repo = tool_open_repo(t, false);
	resolve_or_die(repo, t->argv[1], digest, NULL);
	if (cfs_repo_tag(repo, digest, name) < 0)
		tool_die("%s", cfs_repo_errmsg(repo));
	cfs_repo_free(repo);
	return EXIT_OK;
}

int cmd_untag(struct tool *t)
{
	struct cfs_repo *repo;
	int ret = EXIT_OK;

	if (simple_help(t, "untag NAME...", "Remove names; their images stay until the next gc."))
		return EXIT_OK;
	if (t->argc < 2)
		tool_usage_error("untag: expected NAME...");
	repo = tool_open_repo(t, false);
	for (int i = 1; i < t->argc; i++) {
		if (cfs_repo_untag(repo, t->argv[i]) < 0) {
			tool_msg("%s", cfs_repo_errmsg(repo));
			ret = EXIT_ERROR;
		}
	}
	cfs_repo_free(repo);
	return ret;
}

static int print_object(void *user, const uint8_t *digest)
{
	char hex[HEXBUF];

	printf("%s\n", cfs_repo_digest_hex(user, digest, hex));
	return 0;
}

int cmd_image_objects(struct tool *t)
{
	struct cfs_repo *repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];

	if (simple_help(t, "image-objects IMAGE", "Print the digests of the objects IMAGE refers to, sorted."))
		return EXIT_OK;
	if (t->argc != 2)
		tool_usage_error("image-objects: expected IMAGE");
	repo = tool_open_repo(t, true);
	resolve_or_die(repo, t->argv[1], digest, NULL);
	if (cfs_repo_image_objects(repo, digest, print_object, repo) < 0)
		tool_die("%s", cfs_repo_errmsg(repo));
	cfs_repo_free(repo);
	return EXIT_OK;
}

int cmd_gc(struct tool *t)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfs_repo_gc_stats st;
	struct cfs_repo *repo;
	bool dry = false;
	char size[32];
	int c;

	while ((c = tool_getopt(t, "hn", opts)) != -1) {
		if (c == 'n')
			dry = true;
		if (c == 'h') {
			printf("Usage: %s gc [--dry-run]\n"
			       "Delete objects and images that no name reaches, names that lead nowhere,\n"
			       "and temporary files of interrupted writers.\n",
			       tool_prog);
			return EXIT_OK;
		}
	}
	if (optind != t->argc)
		tool_usage_error("gc: no arguments expected");
	repo = tool_open_repo(t, dry);
	if (cfs_repo_gc(repo, dry ? CFS_REPO_GC_DRY_RUN : 0, &st) < 0)
		tool_die("gc: %s", cfs_repo_errmsg(repo));
	tool_progress_done(t);
	printf("%s %llu objects, %llu images, %llu signatures, %llu refs, %llu temporary files, %llu trees, "
	       "%llu bytes (%s); kept %llu objects, %llu images\n",
	       dry ? "would remove" : "removed", (unsigned long long)st.objects_removed,
	       (unsigned long long)st.images_removed, (unsigned long long)st.signatures_removed,
	       (unsigned long long)st.refs_removed, (unsigned long long)st.temp_removed,
	       (unsigned long long)st.trees_removed, (unsigned long long)st.bytes_removed,
	       tool_human_size(st.bytes_removed, size, sizeof(size)), (unsigned long long)st.objects_kept,
	       (unsigned long long)st.images_kept);
	cfs_repo_free(repo);
	return EXIT_OK;
}

/* "1048576", "512K", "1M", "2G" (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift != 0)
		end++;
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int cmd_publish_trees(struct tool *t)
{
	static const struct option opts[] = {
		{ "min-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfs_repo_trees_stats st;
	uint64_t min_size = CFS_REPO_TREES_MIN_SIZE_DEFAULT;
	struct cfs_repo *repo;
	int c;

	while ((c = tool_getopt(t, "hm:", opts)) != -1) {
		if (c == 'm' && parse_size(optarg, &min_size) < 0)
			tool_usage_error("publish-trees: --min-size %s: expected a size in bytes (or with K, M, G)",
					 optarg);
		if (c == 'h') {
			printf("Usage: %s publish-trees [--min-size BYTES]\n"
			       "Write the Merkle tree of every object of at least BYTES (default 1M) to\n"
			       "trees/XX/<rest>, so that lazy mounts of this repository served over HTTP\n"
			       "fetch byte ranges of large files, each checked, before the whole file.\n",
			       tool_prog);
			return EXIT_OK;
		}
	}
	if (optind != t->argc)
		tool_usage_error("publish-trees: no arguments expected");
	repo = tool_open_repo(t, false);
	if (cfs_repo_publish_trees(repo, min_size, &st) < 0)
		tool_die("publish-trees: %s", cfs_repo_errmsg(repo));
	tool_progress_done(t);
	printf("%llu objects of at least %llu bytes: %llu trees written, %llu already there\n",
	       (unsigned long long)st.objects_large, (unsigned long long)min_size,
	       (unsigned long long)st.trees_written, (unsigned long long)st.trees_present);
	cfs_repo_free(repo);
	return EXIT_OK;
}

struct fsck_ctx {
	struct tool *t;
	bool json;
	bool first;
};

static int fsck_problem(void *user, enum cfs_repo_problem kind, const char *path, const char *detail)
{
	struct fsck_ctx *f = user;

	if (!f->json) {
		tool_progress_done(f->t);
		printf("%s: %s: %s\n", cfs_repo_problem_name(kind), path, detail);
		return 0;
	}
	printf("%s\n    { \"type\": ", f->first ? "" : ",");
	tool_json_string(stdout, cfs_repo_problem_name(kind));
	printf(", \"path\": ");
	tool_json_string(stdout, path);
	printf(", \"detail\": ");
	tool_json_string(stdout, detail);
	printf(" }");
	f->first = false;
	return 0;
}

int cmd_fsck(struct tool *t)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "metadata-only", no_argument, NULL, 'm' },
		{ "repair", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fsck_ctx f = { .t = t, .first = true };
	struct cfs_repo_fsck_stats st;
	struct cfs_repo *repo;
	unsigned flags = 0;
	int c, r;

	while ((c = tool_getopt(t, "h", opts)) != -1) {
		if (c == 'j')
			f.json = true;
		if (c == 'm')
			flags |= CFS_REPO_FSCK_METADATA_ONLY;
		if (c == 'r')
			flags |= CFS_REPO_FSCK_REPAIR;
		if (c == 'h') {
			printf("Usage: %s fsck [--json] [--metadata-only] [--repair]\n"
			       "Check the repository; print each problem; exit 1 if there is any.\n\n"
			       "  --json           print the result as JSON\n"
			       "  --metadata-only  do not re-hash object content\n"
			       "  --repair         remove temporary files of interrupted writers (waits for\n"
			       "                   running writers, like gc)\n",
			       tool_prog);
			return EXIT_OK;
		}
	}
	if (optind != t->argc)
		tool_usage_error("fsck: no arguments expected");
	repo = tool_open_repo(t, !(flags & CFS_REPO_FSCK_REPAIR));
	if (f.json)
		printf("{\n  \"problems\": [");
	r = cfs_repo_fsck(repo, flags, fsck_problem, &f, &st);
	tool_progress_done(t);
	if (r < 0)
		tool_die("fsck: %s", cfs_repo_errmsg(repo));
	if (f.json) {
		printf("%s],\n  \"objects_checked\": %llu,\n  \"objects_bad\": %llu,\n  \"bytes_checked\": %llu,\n"
		       "  \"images_checked\": %llu,\n  \"images_bad\": %llu,\n  \"refs_checked\": %llu,\n"
		       "  \"refs_bad\": %llu,\n  \"streams_checked\": %llu,\n  \"streams_bad\": %llu,\n"
		       "  \"signatures_checked\": %llu,\n  \"signatures_bad\": %llu,\n"
		       "  \"temporary_files\": %llu,\n  \"temporary_files_removed\": %llu,\n"
		       "  \"ok\": %s\n}\n",
		       f.first ? "" : "\n  ", (unsigned long long)st.objects_checked,
		       (unsigned long long)st.objects_bad, (unsigned long long)st.bytes_checked,
		       (unsigned long long)st.images_checked, (unsigned long long)st.images_bad,
		       (unsigned long long)st.refs_checked, (unsigned long long)st.refs_bad,
		       (unsigned long long)st.streams_checked, (unsigned long long)st.streams_bad,
		       (unsigned long long)st.signatures_checked, (unsigned long long)st.signatures_bad,
		       (unsigned long long)st.temp_files, (unsigned long long)st.temp_removed,
		       st.problems ? "false" : "true");
	} else {
		printf("objects: %llu checked, %llu bad\nimages: %llu checked, %llu bad\nrefs: %llu checked, %llu bad\n",
		       (unsigned long long)st.objects_checked, (unsigned long long)st.objects_bad,
		       (unsigned long long)st.images_checked, (unsigned long long)st.images_bad,
		       (unsigned long long)st.refs_checked, (unsigned long long)st.refs_bad);
		if (st.streams_checked || st.streams_bad)
			printf("streams: %llu checked, %llu bad\n", (unsigned long long)st.streams_checked,
			       (unsigned long long)st.streams_bad);
		if (st.signatures_checked || st.signatures_bad)
			printf("signatures: %llu checked, %llu bad\n", (unsigned long long)st.signatures_checked,
			       (unsigned long long)st.signatures_bad);
		if (st.temp_files)
			printf("temporary files: %llu (removable: run '%s fsck --repair' or '%s gc')\n",
			       (unsigned long long)st.temp_files, tool_prog, tool_prog);
		if (st.temp_removed)
			printf("temporary files: %llu removed\n", (unsigned long long)st.temp_removed);
		if (st.problems)
			printf("status: %llu problem(s)\n", (unsigned long long)st.problems);
		else
			printf("status: ok\n");
	}
	cfs_repo_free(repo);
	return st.problems ? EXIT_ERROR : EXIT_OK;
}
