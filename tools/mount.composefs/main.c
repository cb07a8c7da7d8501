/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* mount.composefs: mount a composefs image, directly or as mount(8)'s helper for -t composefs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/composefs.h>
#include <composefs/mount.h>

#include "common.h"
#include "options.h"
#include "sigcheck.h"

static void usage(void)
{
	printf("Usage: %s [-o OPTIONS] IMAGE MOUNTPOINT\n"
	       "Mount the composefs image IMAGE at MOUNTPOINT; also called by\n"
	       "'mount -t composefs IMAGE MOUNTPOINT -o OPTIONS'.\n"
	       "\n"
	       "Options (-o, comma separated; '\\,' for a comma in a value):\n"
	       "  basedir=DIR[:DIR...]  object store(s) holding the file contents (required;\n"
	       "                        '\\:' for a colon in a path)\n"
	       "  digest=HEX            refuse the image unless its fs-verity digest is HEX;\n"
	       "                        implies verity unless tryverity is given\n"
	       "  signature=SIG         refuse the image unless SIG is a valid signature of its\n"
	       "                        fs-verity digest by a certificate of trust= (implies\n"
	       "                        verity unless tryverity is given)\n"
	       "  trust=CERT|DIR        trusted certificate(s): a file, or a directory of them\n"
	       "  verity                require fs-verity digests on all objects\n"
	       "  tryverity             require them if the basedir file system has fs-verity\n"
	       "  upperdir=DIR          writable overlay layer (with workdir=DIR)\n"
	       "  workdir=DIR           overlayfs work directory, on the upperdir's file system\n"
	       "  idmap=PATH            user namespace (/proc/PID/ns/user) to idmap the image with\n"
	       "  ro, rw                read-only / read-write mount\n"
	       "  nosuid, nodev, noexec, noatime, relatime, strictatime, nodiratime\n"
	       "                        the usual mount flags\n"
	       "  forceloop             read the image through a loop device\n"
	       "  legacymount           use mount(2) rather than the new mount API for overlayfs\n"
	       "\n"
	       "Flags: -o OPTS (repeatable), -r (ro), -w (rw), -t composefs, -s (ignore unknown\n"
	       "options), -f (check only, do not mount), -n (ignored), -v (verbose),\n"
	       "-N NS (mount in the mount namespace NS: a PID or a path), -h, --help, -V, --version\n",
	       tool_prog);
}

static void enter_namespace(const char *ns)
{
	char path[64];
	const char *p = ns;
	int fd;

	if (ns[0] != '\0' && strspn(ns, "0123456789") == strlen(ns)) {
		snprintf(path, sizeof(path), "/proc/%s/ns/mnt", ns);
		p = path;
	}
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tool_die_errno(-errno, "namespace %s", ns);
	if (setns(fd, CLONE_NEWNS) < 0)
		tool_die_errno(-errno, "cannot enter mount namespace %s", ns);
	close(fd);
}

struct cli {
	struct mount_args args;
	const char *ns;
	bool fake;
	bool verbose;
};

static void parse_cli(int argc, char **argv, struct cli *c, const char **image, const char **target)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *optstrs[64];
	size_t n_opts = 0;
	char err[512];
	int ch;

	/* GNU getopt permutes: mount(8) puts the flags after IMAGE and MOUNTPOINT. */
	while ((ch = getopt_long(argc, argv, "o:t:N:rwsfnvhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
		case 'r':
		case 'w':
			if (n_opts == sizeof(optstrs) / sizeof(optstrs[0]))
				tool_usage_error("too many -o, -r and -w arguments");
			optstrs[n_opts++] = ch == 'o' ? optarg : ch == 'r' ? "ro" : "rw";
			break;
		case 't':
			if (strcmp(optarg, "composefs") != 0)
				tool_usage_error("unsupported file system type '%s'", optarg);
			break;
		case 'N':
			c->ns = optarg;
			break;
		case 's':
			c->args.sloppy = true;
			break;
		case 'f':
			c->fake = true;
			break;
		case 'n':
			break; /* no mtab to write */
		case 'v':
			c->verbose = true;
			break;
		case 'h':
			usage();
			exit(EXIT_OK);
		case 'V':
			tool_print_version();
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", tool_prog);
			exit(EXIT_USAGE);
		}
	}
	if (argc - optind != 2)
		tool_usage_error("expected IMAGE and MOUNTPOINT, got %d argument%s", argc - optind,
				argc - optind == 1 ? "" : "s");
	*image = argv[optind];
	*target = argv[optind + 1];
	for (size_t i = 0; i < n_opts; i++)
		if (mount_args_parse(&c->args, optstrs[i], err, sizeof(err)) < 0)
			tool_usage_error("%s", err);
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	struct cfs_mount_opts o;
	const char *image, *target;
	char err[1024];
	int fd, idmap_fd = -1, r;

	tool_prog = "mount.composefs";
	parse_cli(argc, argv, &c, &image, &target);
	if (c.ns != NULL)
		enter_namespace(c.ns);
	mount_args_canonicalize(&c.args);
	if (mount_args_to_opts(&c.args, &o, err, sizeof(err)) < 0)
		tool_usage_error("%s", err);
	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tool_die_errno(-errno, "%s", image);
	if (c.args.signature != NULL) {
		const char *trust_path = c.args.trust;
		struct cfs_trust *trust = tool_load_trust(&trust_path, 1);

		/* Verified over digest= when given, else over the measured digest; either way the
		 * mount then accepts only bytes with that digest (see cfs_mount_opts.digest). */
		tool_check_signature(trust, c.args.signature, fd, image, &o.digest_alg, o.digest);
		if (c.verbose)
			tool_msg("%s: signed by %s", image, cfs_trust_signer(trust));
		cfs_trust_free(trust);
	}
	if (c.args.idmap != NULL) {
		idmap_fd = open(c.args.idmap, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (idmap_fd < 0)
			tool_die_errno(-errno, "idmap %s", c.args.idmap);
		o.idmap_fd = idmap_fd;
	}
	if (c.fake) {
		if (c.verbose)
			tool_msg("%s: not mounting (-f)", image);
	} else {
		r = cfs_mount_image(fd, target, &o, err, sizeof(err));
		if (r < 0)
			tool_die("%s: %s", image, err[0] ? err : strerror(-r));
		if (c.verbose)
			tool_msg("mounted %s on %s", image, target);
	}
	if (idmap_fd >= 0)
		close(idmap_fd);
	close(fd);
	mount_args_free(&c.args);
	return EXIT_OK;
}
