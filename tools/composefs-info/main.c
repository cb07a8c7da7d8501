/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-info: list, dump and summarise composefs images; measure files. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/composefs.h>
#include <composefs/dump.h>
#include <composefs/image.h>
#include <composefs/verity.h>

#include "common.h"
#include "info.h"

struct opts {
	const char *basedir;
	const char **filters; /* NULL-terminated, or NULL */
	size_t n_filters;
	bool json;
	enum cfs_hash_alg alg;
};

/* Sorted, de-duplicated object names gathered over all images. */
struct strset {
	char **v;
	size_t n, cap;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTION]... COMMAND IMAGE...\n"
		"       %s [--hash=ALG] measure-file FILE...\n"
		"Inspect composefs images.\n\n"
		"Commands:\n"
		"  ls               list files, with symlink targets and backing objects\n"
		"  dump             print the images in the composefs dump format\n"
		"  objects          list the backing objects the images refer to (sorted)\n"
		"  missing-objects  list the backing objects absent from --basedir, or all of\n"
		"                   them without --basedir (sorted)\n"
		"  info             header and format versions, counts, size, fs-verity digest\n"
		"  measure-file     print the fs-verity digest of each FILE\n\n"
		"Options:\n"
		"  --basedir=DIR    object store directory for missing-objects\n"
		"  --filter=NAME    only entries under the top-level NAME (repeatable)\n"
		"  --json           JSON output for ls, objects, missing-objects and info\n"
		"  --hash=ALG       sha256 (default) or sha512, for measure-file and info\n"
		"  --help           show this help and exit\n"
		"  --version        show the version and exit\n\n"
		"Exit status: 0 success, 1 error (unreadable or invalid image), 2 usage error.\n",
		tool_prog, tool_prog);
}

static void oom(void)
{
	tool_die("out of memory");
}

static void set_add(struct strset *s, const char *str)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			oom();
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = strdup(str);
	if (s->v[s->n] == NULL)
		oom();
	s->n++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_finish(struct strset *s)
{
	size_t j = 0;

	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_str);
	for (size_t i = 1; i < s->n; i++) {
		if (strcmp(s->v[i], s->v[j]) == 0)
			free(s->v[i]);
		else
			s->v[++j] = s->v[i];
	}
	s->n = j + 1;
}

static void set_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "dir";
	case S_IFREG: return "file";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "chardev";
	case S_IFBLK: return "blockdev";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

struct ls_ctx {
	const struct opts *o;
	bool *first;
};

/* `ls`: one line per entry; extra names of hard-linked inodes show no detail. */
static int ls_entry(const struct cfs_walk_entry *e, void *user)
{
	const struct ls_ctx *c = user;
	uint32_t mode = cfs_node_get_mode(e->node);
	const char *payload = cfs_node_get_payload(e->node);

	if (e->depth == 0)
		return 0;
	if (c->o->json) {
		printf("%s\n  {\"path\": ", *c->first ? "" : ",");
		*c->first = false;
		tool_json_string(stdout, e->path);
		printf(", \"type\": \"%s\"", type_name(mode));
		if (e->hardlink)
			printf(", \"hardlink\": true");
		else if ((S_ISLNK(mode) || S_ISREG(mode)) && payload != NULL) {
			printf(S_ISLNK(mode) ? ", \"target\": " : ", \"object\": ");
			tool_json_string(stdout, payload);
		}
		putchar('}');
	} else {
		info_print_escaped(stdout, e->path, true);
		if (e->hardlink) {
			/* nothing: like the reference */
		} else if (S_ISDIR(mode)) {
			fputs("/\t", stdout);
		} else if (S_ISLNK(mode)) {
			fputs("\t-> ", stdout);
			info_print_escaped(stdout, payload ? payload : "", false);
		} else if (S_ISREG(mode) && payload != NULL) {
			fputs("\t@ ", stdout);
			info_print_escaped(stdout, payload, false);
		}
		putchar('\n');
	}
	return 0;
}

static void ls_tree(struct cfs_node *root, const struct opts *o, bool *first)
{
	struct ls_ctx c = { o, first };

	if (cfs_node_walk(root, CFS_WALK_HARDLINKS, ls_entry, NULL, &c) < 0)
		oom();
}

static void collect_objects(struct cfs_node *node, struct strset *s, int basedir_fd)
{
	const char *payload = cfs_node_get_payload(node);

	/* confined to the basedir as a mount is: nothing is learnt about files outside it */
	if (S_ISREG(cfs_node_get_mode(node)) && payload != NULL &&
	    (basedir_fd < 0 || cfs_basedir_has_payload(basedir_fd, payload) != 1))
		set_add(s, payload);
	for (size_t i = 0; i < cfs_node_n_children(node); i++) {
		bool hardlink;
		struct cfs_node *child = cfs_node_child_at(node, i, NULL, &hardlink);

		if (!hardlink)
			collect_objects(child, s, basedir_fd);
	}
}

static void print_hex(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", d[i]);
}

static int cmd_measure(int argc, char **argv, const struct opts *o)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	size_t dlen = cfs_verity_digest_size(o->alg);

	if (argc == 0)
		tool_usage_error("measure-file: no file specified");
	for (int i = 0; i < argc; i++) {
		bool from_kernel;
		int r, fd = open(argv[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			tool_die_errno(-errno, "%s", argv[i]);
		r = cfs_verity_measure_fd(fd, o->alg, digest, &from_kernel);
		close(fd);
		if (r < 0)
			tool_die_errno(r, "%s: failed to measure", argv[i]);
		print_hex(digest, dlen);
		putchar('\n');
	}
	return EXIT_OK;
}

static size_t count_objects(struct cfs_node *root)
{
	struct strset s = { 0 };
	size_t n;

	collect_objects(root, &s, -1);
	set_finish(&s);
	n = s.n;
	set_free(&s);
	return n;
}

static void print_info(const char *path, struct cfs_image *img, struct cfs_node *root, const struct opts *o, bool first)
{
	struct cfs_image_info info;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	const char *alg = cfs_hash_alg_name(o->alg);
	size_t len;
	const void *data = cfs_image_data(img, &len);
	size_t objects = count_objects(root);
	int r = cfs_verity_digest_buf(o->alg, data, len, digest);

	if (r < 0)
		tool_die_errno(r, "%s: computing the fs-verity digest", path);
	cfs_image_get_info(img, &info);
	if (o->json) {
		printf("%s\n  {\"image\": ", first ? "" : ",");
		tool_json_string(stdout, path);
		printf(", \"header_version\": %" PRIu32 ", \"format_version\": %" PRIu32 ", \"flags\": %" PRIu32
		       ", \"inodes\": %" PRIu64 ", \"objects\": %zu, \"image_size\": %" PRIu64 ", \"fsverity_%s\": \"",
		       info.header_version, info.composefs_version, info.header_flags, info.inodes, objects,
		       info.image_size, alg);
		print_hex(digest, cfs_verity_digest_size(o->alg));
		printf("\"}");
		return;
	}
	if (!first)
		putchar('\n');
	printf("image: ");
	info_print_escaped(stdout, path, true);
	printf("\nheader-version: %" PRIu32 "\nformat-version: %" PRIu32 "\nflags: 0x%" PRIx32 "%s\n"
	       "inodes: %" PRIu64 "\nobjects: %zu\nimage-size: %" PRIu64 "\nfs-verity-%s: ",
	       info.header_version, info.composefs_version, info.header_flags,
	       (info.header_flags & CFS_IMAGE_FLAG_HAS_ACL) ? " (acl)" : "", info.inodes, objects, info.image_size, alg);
	print_hex(digest, cfs_verity_digest_size(o->alg));
	putchar('\n');
}

enum cmd { CMD_LS, CMD_DUMP, CMD_OBJECTS, CMD_MISSING, CMD_INFO };

static int run_images(enum cmd cmd, int argc, char **argv, const struct opts *o)
{
	struct strset objs = { 0 };
	int basedir_fd = -1;
	bool first = true;

	/* without --basedir nothing is present, so every object is missing (as the reference says) */
	if (cmd == CMD_MISSING && o->basedir != NULL) {
		basedir_fd = open(o->basedir, O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_PATH);
		if (basedir_fd < 0)
			tool_die_errno(-errno, "%s", o->basedir);
	}
	if (argc == 0)
		tool_usage_error("no image specified");
	if (o->json && cmd == CMD_DUMP)
		tool_usage_error("--json is not available for dump");
	if (o->json && (cmd == CMD_LS || cmd == CMD_INFO))
		putchar('[');

	for (int i = 0; i < argc; i++) {
		struct cfs_image *img = NULL;
		struct cfs_node *root = NULL;
		char err[512];
		int r, fd = open(argv[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			tool_die_errno(-errno, "%s", argv[i]);
		err[0] = '\0';
		r = cfs_image_open_fd_err(fd, NULL, &img, err, sizeof(err));
		close(fd);
		if (r < 0 && err[0])
			tool_die("%s: %s", argv[i], err);
		if (r < 0)
			tool_die_errno(r, "%s", argv[i]);
		r = cfs_image_load_tree_filtered(img, o->filters, &root);
		if (r < 0) {
			if (r == -EUCLEAN || r == -EOPNOTSUPP || r == -E2BIG)
				tool_die("%s: %s", argv[i], cfs_image_errmsg(img));
			tool_die_errno(r, "%s", argv[i]);
		}
		switch (cmd) {
		case CMD_LS:
			ls_tree(root, o, &first);
			break;
		case CMD_DUMP:
			r = cfs_dump_print(root, stdout, NULL);
			if (r < 0)
				tool_die_errno(r, "%s: printing", argv[i]);
			break;
		case CMD_OBJECTS:
		case CMD_MISSING:
			collect_objects(root, &objs, basedir_fd);
			break;
		case CMD_INFO:
			print_info(argv[i], img, root, o, first);
			first = false;
			break;
		}
		cfs_node_unref(root);
		cfs_image_close(img);
	}

	if (o->json && (cmd == CMD_LS || cmd == CMD_INFO))
		printf("%s]\n", first ? "" : "\n");
	if (cmd == CMD_OBJECTS || cmd == CMD_MISSING) {
		set_finish(&objs);
		if (o->json)
			putchar('[');
		for (size_t i = 0; i < objs.n; i++) {
			if (o->json) {
				printf("%s\n  ", i ? "," : "");
				tool_json_string(stdout, objs.v[i]);
			} else {
				printf("%s\n", objs.v[i]);
			}
		}
		if (o->json)
			printf("%s]\n", objs.n ? "\n" : "");
		set_free(&objs);
	}
	if (basedir_fd >= 0)
		close(basedir_fd);
	return EXIT_OK;
}

enum { OPT_BASEDIR = 256, OPT_FILTER, OPT_JSON, OPT_HASH, OPT_HELP, OPT_VERSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "basedir", required_argument, NULL, OPT_BASEDIR },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "hash", required_argument, NULL, OPT_HASH },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .alg = CFS_HASH_SHA256 };
	const char *cmd;
	int c, ret;

	tool_prog = "composefs-info";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BASEDIR:
			o.basedir = optarg;
			break;
		case OPT_FILTER: {
			const char **f;

			if (strchr(optarg, '/') != NULL)
				tool_usage_error("--filter must be a single name: %s", optarg);
			f = realloc(o.filters, (o.n_filters + 2) * sizeof(*f));
			if (f == NULL)
				oom();
			o.filters = f;
			o.filters[o.n_filters++] = optarg;
			o.filters[o.n_filters] = NULL;
			break;
		}
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_HASH:
			if (cfs_hash_alg_from_name(optarg, &o.alg) < 0)
				tool_usage_error("unknown hash algorithm '%s' (use sha256 or sha512)", optarg);
			break;
		case OPT_HELP:
			usage(stdout);
			return EXIT_OK;
		case OPT_VERSION:
			tool_print_version();
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", tool_prog);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		tool_usage_error("no command specified");
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;

	if (strcmp(cmd, "measure-file") == 0)
		ret = cmd_measure(argc, argv, &o);
	else if (strcmp(cmd, "ls") == 0)
		ret = run_images(CMD_LS, argc, argv, &o);
	else if (strcmp(cmd, "dump") == 0)
		ret = run_images(CMD_DUMP, argc, argv, &o);
	else if (strcmp(cmd, "objects") == 0)
		ret = run_images(CMD_OBJECTS, argc, argv, &o);
	else if (strcmp(cmd, "missing-objects") == 0)
		ret = run_images(CMD_MISSING, argc, argv, &o);
	else if (strcmp(cmd, "info") == 0)
		ret = run_images(CMD_INFO, argc, argv, &o);
	else
		tool_usage_error("unknown command '%s'", cmd);
	free(o.filters);
	if (fflush(stdout) != 0 || ferror(stdout))
		tool_die_errno(-errno, "writing output");
	return ret;
}
