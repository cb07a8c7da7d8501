/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: mount the composefs image named on the kernel command line as the root. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/composefs.h>

#include "cmdline.h"
#include "common.h"
#include "config.h"
#include "setup.h"

#define CMDLINE_MAX 65536
#define DEFAULT_CONFIG "/etc/composefs/setup-root.conf"
#define DEFAULT_CONFIG_USR "/usr/lib/composefs/setup-root.conf"

static void usage(void)
{
	printf("Usage: %s [OPTION...]\n"
	       "Mount the composefs image named by composefs=DIGEST on the kernel command line,\n"
	       "from the repository on the real root, as the new root (in an initramfs).\n\n"
	       "  --sysroot DIR        where the real root is mounted (default /sysroot); the\n"
	       "                       new root is mounted there, the real root at DIR/sysroot\n"
	       "  --config FILE        configuration (default " DEFAULT_CONFIG ",\n"
	       "                       else " DEFAULT_CONFIG_USR ")\n"
	       "  --cmdline TEXT       use TEXT instead of /proc/cmdline\n"
	       "  --switch-root INIT   then make the new root / and execute INIT there\n"
	       "  -h, --help           this text\n"
	       "  --version            print the version\n",
	       tool_prog);
}

/* Read at most @max bytes of @path; -EFBIG when it is longer. */
static int read_small(const char *path, size_t max, char **out, size_t *len)
{
	char *buf = malloc(max + 1);
	ssize_t n;
	int fd, r = 0;

	if (buf == NULL)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		free(buf);
		return r;
	}
	n = tool_read_full(fd, buf, max + 1);
	close(fd);
	if (n < 0)
		r = (int)n;
	else if ((size_t)n > max)
		r = -EFBIG;
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static void load_config(const char *path, struct sr_config *cfg)
{
	char err[256] = "", *text;
	size_t len;
	int r;

	sr_config_init(cfg);
	if (path == NULL) {
		path = DEFAULT_CONFIG;
		if (access(path, F_OK) < 0 && errno == ENOENT)
			path = DEFAULT_CONFIG_USR;
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return; /* the defaults */
	}
	r = read_small(path, SR_CONFIG_MAX_SIZE, &text, &len);
	if (r < 0)
		tool_die("config %s: %s", path, strerror(-r));
	r = sr_config_parse(cfg, text, len, err, sizeof(err));
	free(text);
	if (r < 0)
		tool_die("config %s: %s", path, err);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sysroot", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "cmdline", required_argument, NULL, 'k' },
		{ "switch-root", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sysroot = "/sysroot", *config = NULL, *cmdline = NULL, *init = NULL;
	char err[512] = "", *text = NULL;
	struct sr_request req;
	struct sr_config cfg;
	struct sr_result res;
	size_t len;
	int c, r;

	tool_prog = "composefs-setup-root";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sysroot = optarg; break;
		case 'c': config = optarg; break;
		case 'k': cmdline = optarg; break;
		case 'i': init = optarg; break;
		case 'h': usage(); return EXIT_OK;
		case 'V': tool_print_version();
		default: tool_usage_error("unknown option");
		}
	}
	if (optind != argc)
		tool_usage_error("unexpected argument %s", argv[optind]);
	if (init != NULL && init[0] != '/')
		tool_usage_error("--switch-root %s: expected an absolute path", init);
	load_config(config, &cfg);
	if (cmdline == NULL) {
		r = read_small("/proc/cmdline", CMDLINE_MAX, &text, &len);
		if (r < 0)
			tool_die("/proc/cmdline: %s", strerror(-r));
		cmdline = text;
	} else {
		len = strlen(cmdline);
	}
	r = sr_cmdline_parse(cmdline, len, &req, err, sizeof(err));
	free(text);
	if (r < 0)
		tool_die("%s", err);
	r = sr_setup_root(sysroot, &cfg, &req, &res, err, sizeof(err));
	if (r < 0)
		tool_die("refusing image %s%s: %s (%s left as it was)", req.insecure ? "?" : "", req.hex, err,
			sysroot);
	if (res.note[0] != '\0')
		tool_msg("warning: %s", res.note);
	fprintf(stderr, "%s: %s is image %s (%s%s%s; /etc %s, /var %s)\n", tool_prog, sysroot, req.hex,
		res.verity ? "fs-verity required on every object" : "no fs-verity",
		res.signed_checked ? ", signed by " : "", res.signed_checked ? res.signer : "",
		sr_mount_name(cfg.etc), sr_mount_name(cfg.var));
	if (init == NULL)
		return EXIT_OK;
	r = sr_switch_root(sysroot, init, err, sizeof(err));
	tool_die("switch root: %s", err);
}
