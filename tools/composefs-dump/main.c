/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-dump: read a composefs image and write it again with the same format version. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <composefs/composefs.h>
#include <composefs/image.h>
#include <composefs/writer.h>

#include "common.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTION]... SRC DEST\n"
		"Read the composefs image SRC and write it to DEST through this implementation's\n"
		"writer, keeping the format version of SRC. DEST appears only when complete.\n\n"
		"  --help       show this help and exit\n"
		"  --version    show the version and exit\n\n"
		"Exit status: 0 success, 1 error, 2 usage error.\n",
		tool_prog);
}

static struct cfs_node *load(const char *src, uint32_t *version)
{
	struct cfs_image *img = NULL;
	struct cfs_node *root = NULL;
	char err[512] = "";
	int r, fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		tool_die_errno(-errno, "%s", src);
	r = cfs_image_open_fd_err(fd, NULL, &img, err, sizeof(err));
	close(fd);
	if (r < 0 && err[0])
		tool_die("%s: %s", src, err);
	if (r < 0)
		tool_die_errno(r, "%s", src);
	cfs_image_header_version(img, version);
	r = cfs_image_load_tree(img, &root);
	if (r < 0) {
		if (r == -EUCLEAN || r == -EOPNOTSUPP || r == -E2BIG)
			tool_die("%s: %s", src, cfs_image_errmsg(img));
		tool_die_errno(r, "%s", src);
	}
	cfs_image_close(img);
	return root;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfs_write_opts wo;
	struct cfs_node *root;
	uint32_t version = 0;
	char err[512] = "";
	int c, r;

	tool_prog = "composefs-dump";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			tool_print_version();
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", tool_prog);
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 1)
		tool_usage_error("no source image specified");
	if (argc - optind < 2)
		tool_usage_error("no destination specified");
	if (argc - optind > 2)
		tool_usage_error("too many arguments");

	root = load(argv[optind], &version);
	cfs_write_opts_init(&wo);
	wo.min_version = version;
	wo.max_version = version;

	r = cfs_write_image_at(root, &wo, AT_FDCWD, argv[optind + 1], 0666, NULL, err, sizeof(err));
	cfs_node_unref(root);
	if (r < 0) {
		if (err[0])
			tool_die("%s: %s", argv[optind + 1], err);
		tool_die_errno(r, "%s", argv[optind + 1]);
	}
	return EXIT_OK;
}
