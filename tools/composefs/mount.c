/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs mount: a repository image through the kernel (EROFS + overlayfs) or composefs-fuse. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/fetch.h>
#include <composefs/mount.h>
#include <composefs/repo.h>

#include "composefs.h"
#include "sigcheck.h"

/* fuse_opt takes ',' as separator and '\' as escape inside -o values. */
static void append_escaped(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	for (; *s && n + 3 < len; s++) {
		if (*s == ',' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
}

static noreturn void exec_fuse(const char *repo_abs, const char *hex, const char *mountpoint, bool foreground,
			       const char *remote)
{
	char self[PATH_MAX], prog[PATH_MAX + 64], opts[5 * PATH_MAX + 400], tmp[PATH_MAX + 200];
	const char *argv[6];
	ssize_t n;
	int i = 0;

	opts[0] = '\0';
	snprintf(tmp, sizeof(tmp), "%s/images/%s", repo_abs, hex);
	strcat(opts, "source=");
	append_escaped(opts, sizeof(opts), tmp);
	snprintf(tmp, sizeof(tmp), "%s/objects", repo_abs);
	strcat(opts, ",basedir=");
	append_escaped(opts, sizeof(opts), tmp);
	strcat(opts, ",digest=");
	strcat(opts, hex);
	if (remote != NULL) {
		if (strlen(remote) > PATH_MAX)
			tool_die("--remote: URL too long");
		strcat(opts, ",remote=");
		append_escaped(opts, sizeof(opts), remote);
	}
	argv[i++] = "composefs-fuse";
	argv[i++] = "-o";
	argv[i++] = opts;
	if (foreground)
		argv[i++] = "-f";
	argv[i++] = mountpoint;
	argv[i] = NULL;
	/* COMPOSEFS_FUSE names the daemon (tests run it from the build tree); otherwise the one
	 * installed next to this program, then the one in the configured bindir, then $PATH */
	const char *env = getenv("COMPOSEFS_FUSE");
	if (env != NULL && env[0] != '\0') {
		execv(env, (char *const *)argv);
		tool_die_errno(-errno, "cannot run %s (COMPOSEFS_FUSE)", env);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(prog, sizeof(prog), "%s/composefs-fuse", self);
			if (access(prog, X_OK) == 0)
				execv(prog, (char *const *)argv);
		}
	}
	if (access(TOOL_BINDIR "/composefs-fuse", X_OK) == 0)
		execv(TOOL_BINDIR "/composefs-fuse", (char *const *)argv);
	execvp("composefs-fuse", (char *const *)argv);
	tool_die_errno(-errno, "cannot run composefs-fuse");
}

int cmd_mount(struct tool *t)
{
	static const struct option opts[] = {
		{ "fuse", no_argument, NULL, 'F' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "upperdir", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "require-verity", no_argument, NULL, 'v' },
		{ "require-signature", no_argument, NULL, 'S' },
		{ "trust", required_argument, NULL, 'T' },
		{ "remote", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool fuse = false, foreground = false, ro = false, require_verity = false, require_sig = false;
	const char *trust_paths[64];
	size_t n_trust = 0;
	const char *upper = NULL, *work = NULL, *mountpoint, *remote = NULL;
	char repo_abs[PATH_MAX], objects[PATH_MAX + 16], hex[2 * CFS_VERITY_MAX_DIGEST + 1], err[512] = "";
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	struct cfs_mount_opts o;
	const char *basedirs[1];
	struct cfs_repo *repo;
	int c, fd, r;

	while ((c = tool_getopt(t, "h", opts)) != -1) {
		switch (c) {
		case 'F': fuse = true; break;
		case 'f': foreground = true; break;
		case 'u': upper = optarg; break;
		case 'w': work = optarg; break;
		case 'r': ro = true; break;
		case 'v': require_verity = true; break;
		case 'S': require_sig = true; break;
		case 'R': remote = optarg; fuse = true; break;
		case 'T':
			if (n_trust == sizeof(trust_paths) / sizeof(trust_paths[0]))
				tool_usage_error("mount: too many --trust options");
			trust_paths[n_trust++] = optarg;
			break;
		case 'h':
			printf("Usage: %s mount [OPTION...] IMAGE MOUNTPOINT\n"
			       "Mount the image IMAGE (a name or a digest) of the repository. The image\n"
			       "is checked against its digest before it is mounted.\n\n"
			       "  --fuse              mount with composefs-fuse, which checks every file\n"
			       "  --foreground        with --fuse: stay in the foreground\n"
			       "  --upperdir DIR      writable overlayfs upper directory (needs --workdir)\n"
			       "  --workdir DIR       overlayfs work directory\n"
			       "  --read-only         make the mount read-only\n"
			       "  --require-verity    fail unless the kernel enforces fs-verity on the objects\n"
			       "  --require-signature refuse the image unless a stored signature of it is\n"
			       "                      by a certificate of --trust\n"
			       "  --trust CERT|DIR    trusted certificates (a file, or a directory of them)\n"
			       "  --remote URL        lazy mount (implies --fuse): fetch the image IMAGE from\n"
			       "                      the repository served at URL now, and each object on\n"
			       "                      its first use, verified, into this repository\n",
			       tool_prog);
			return EXIT_OK;
		}
	}
	if (t->argc - optind != 2)
		tool_usage_error("mount: expected IMAGE MOUNTPOINT");
	if ((upper == NULL) != (work == NULL))
		tool_usage_error("mount: --upperdir and --workdir go together");
	if (fuse && (upper != NULL || require_verity))
		tool_usage_error("mount: --fuse takes no --upperdir or --require-verity");
	if (require_sig != (n_trust > 0))
		tool_usage_error("mount: --require-signature and --trust go together");
	mountpoint = t->argv[optind + 1];
	if (realpath(t->repo_path, repo_abs) == NULL)
		tool_die_errno(-errno, "%s", t->repo_path);
	repo = tool_open_repo(t, remote == NULL);
	if (remote != NULL) {
		/* the image (and its signatures) now, named so gc keeps it and what comes later */
		struct cfs_fetch_opts fo;
		struct cfs_pull_opts po;
		struct cfs_fetch *f = NULL;
		struct cfs_trust *trust = NULL;

		cfs_fetch_opts_init(&fo);
		cfs_pull_opts_init(&po);
		po.flags = CFS_PULL_IMAGE_ONLY;
		if (require_sig) {
			trust = tool_load_trust(trust_paths, n_trust);
			po.flags |= CFS_PULL_REQUIRE_SIGNATURE;
			po.trust = trust;
		}
		r = cfs_fetch_new(remote, &fo, &f, err, sizeof(err));
		if (r == -EINVAL)
			tool_usage_error("mount: --remote %s: %s", remote, err);
		if (r == 0)
			r = cfs_repo_pull(repo, f, t->argv[optind], &po, NULL, NULL, err, sizeof(err));
		cfs_fetch_free(f);
		cfs_trust_free(trust);
		if (r < 0)
			tool_die("mount: %s", err[0] ? err : strerror(-r));
	}
	if (cfs_repo_resolve(repo, t->argv[optind], digest, NULL) < 0)
		tool_die("%s", cfs_repo_errmsg(repo));
	cfs_repo_digest_hex(repo, digest, hex);
	/*
	 * The signatures vouch for @digest; both mounts below refuse any bytes
	 * without that digest (kernel measurement, sealed copy, or FUSE's
	 * in-memory check), so what is mounted is what was signed.
	 */
	if (require_sig) {
		struct cfs_trust *trust = tool_load_trust(trust_paths, n_trust);

		tool_require_repo_signature(repo, digest, trust, true);
		cfs_trust_free(trust);
	}
	if (fuse) {
		cfs_repo_free(repo);
		exec_fuse(repo_abs, hex, mountpoint, foreground, remote);
	}
	snprintf(objects, sizeof(objects), "%s/objects", repo_abs);
	basedirs[0] = objects;
	cfs_mount_opts_init(&o);
	o.basedirs = basedirs;
	o.n_basedirs = 1;
	o.upperdir = upper;
	o.workdir = work;
	o.source = "composefs";
	/* the library checks the image against the digest before mounting it */
	o.digest_alg = (uint32_t)cfs_repo_hash_alg(repo);
	memcpy(o.digest, digest, cfs_repo_digest_size(repo));
	if (require_verity)
		o.flags |= CFS_MOUNT_VERITY;
	else
		o.flags |= CFS_MOUNT_TRY_VERITY;
	if (ro)
		o.flags |= CFS_MOUNT_READONLY;
	r = cfs_repo_open_image(repo, digest, false, &fd);
	if (r < 0)
		tool_die("%s", cfs_repo_errmsg(repo));
	r = cfs_mount_image(fd, mountpoint, &o, err, sizeof(err));
	close(fd);
	if (r == -CFS_EDIGEST)
		tool_die("image %s: content does not match its digest", hex);
	if (r < 0)
		tool_die("mount %s: %s", mountpoint, err[0] ? err : strerror(-r));
	cfs_repo_free(repo);
	return EXIT_OK;
}
