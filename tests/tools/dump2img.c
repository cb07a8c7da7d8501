/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: parse a composefs dump file and write its image with the library writer. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/composefs.h>
#include <composefs/dump.h>

static const char *prog = "dump2img";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTION]... DUMPFILE|- IMAGE|-\n"
		"Write the composefs image of a dump file (the reference `mkcomposefs "
		"--from-file`).\n"
		"  --min-version=N   minimal format version (default 0)\n"
		"  --max-version=N   maximal format version (default 1)\n"
		"  --no-strict       accept what the reference accepts outside strict mode\n"
		"  --print-digest    print the image's fs-verity digest on stdout\n"
		"  --help            this text\n",
		prog);
}

static int parse_version(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_MIN = 256, OPT_MAX, OPT_NO_STRICT, OPT_DIGEST };
	static const struct option opts[] = {
		{"min-version", required_argument, NULL, OPT_MIN},
		{"max-version", required_argument, NULL, OPT_MAX},
		{"no-strict", no_argument, NULL, OPT_NO_STRICT},
		{"print-digest", no_argument, NULL, OPT_DIGEST},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cfs_write_opts wo;
	struct cfs_dump_error derr = {0};
	struct cfs_node *root = NULL;
	unsigned flags = CFS_DUMP_STRICT;
	bool version_set = false, print_digest = false;
	uint32_t min_v = 0, max_v = 0;
	uint8_t digest[32];
	char errbuf[512];
	FILE *in;
	int c, fd, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_MIN:
		case OPT_MAX:
			if (parse_version(optarg, c == OPT_MIN ? &min_v : &max_v) < 0) {
				fprintf(stderr, "%s: invalid version %s\n", prog, optarg);
				return 2;
			}
			version_set = true;
			break;
		case OPT_NO_STRICT:
			flags &= ~CFS_DUMP_STRICT;
			break;
		case OPT_DIGEST:
			print_digest = true;
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

	cfs_write_opts_init(&wo);
	if (version_set) { /* like the reference: an unset bound is 0 */
		wo.min_version = min_v;
		wo.max_version = max_v;
	}

	in = strcmp(argv[optind], "-") == 0 ? stdin : fopen(argv[optind], "r");
	if (in == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, argv[optind], strerror(errno));
		return 1;
	}
	r = cfs_dump_parse_file(in, flags, &root, &derr);
	if (in != stdin)
		fclose(in);
	if (r < 0) {
		fprintf(stderr, "%s: %s:%lu: %s\n", prog, argv[optind], derr.line, derr.msg);
		return 1;
	}

	if (strcmp(argv[optind + 1], "-") == 0)
		fd = STDOUT_FILENO;
	else
		fd = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, argv[optind + 1], strerror(errno));
		cfs_node_unref(root);
		return 1;
	}
	r = cfs_write_image_fd(root, &wo, fd, print_digest ? digest : NULL, errbuf, sizeof(errbuf));
	cfs_node_unref(root);
	if (r == 0 && fd != STDOUT_FILENO && close(fd) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, argv[optind + 1],
			errbuf[0] ? errbuf : strerror(-r));
		return 1;
	}
	if (print_digest) {
		for (size_t i = 0; i < sizeof(digest); i++)
			printf("%02x", digest[i]);
		printf("\n");
	}
	return 0;
}
