/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: check the image, mount it over the sysroot with /etc and /var; switch root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/mount.h>
#include <composefs/repo.h>
#include <composefs/sign.h>
#include <composefs/verity.h>

#include "freeroot.h"
#include "sigcheck.h"
#include "setup.h"

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r < 0 ? r : -EIO;
}

/* The kernel's own explanation of a failed fsconfig(2), read from the context. */
static void fs_context_msg(int fs, char *buf, size_t len)
{
	ssize_t n;

	buf[0] = '\0';
	while ((n = read(fs, buf, len - 1)) > 0) {
		buf[n] = '\0';
		if (buf[0] != 'w' && buf[0] != 'i') /* keep errors, skip warnings and infos */
			break;
		buf[0] = '\0';
	}
	if (buf[0] != '\0' && buf[1] == ' ')
		memmove(buf, buf + 2, strlen(buf + 2) + 1);
}

/*
 * An overlay of @lower with @upper/@work on top, attached at @target. The
 * paths go to fsconfig(2) one by one, so they need no escaping.
 */
static int mount_overlay(const char *source, const char *lower, const char *upper, const char *work,
			 const char *target, char *err, size_t errlen)
{
	char kmsg[256];
	int fs, mnt, r = 0;

	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return fail(err, errlen, -errno, "overlayfs: %s", strerror(errno));
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", source, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		r = -errno;
		fs_context_msg(fs, kmsg, sizeof(kmsg));
		close(fs);
		return fail(err, errlen, r, "overlay on %s (upper %s): %s", target, upper,
			    kmsg[0] ? kmsg : strerror(-r));
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		r = fail(err, errlen, -errno, "overlay on %s: fsmount: %s", target, strerror(errno));
	close(fs);
	if (r < 0)
		return r;
	if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		r = fail(err, errlen, -errno, "overlay on %s: %s", target, strerror(errno));
	close(mnt);
	return r;
}

/*
 * A writable overlay over @target whose changes live in a fresh tmpfs (gone at
 * shutdown). Before Linux 6.15 overlayfs cannot take a detached mount as its
 * upper layer, so the tmpfs is attached at a private temporary directory while
 * the overlay is created (which keeps its own reference), then detached.
 */
static int mount_transient(const char *target, char *err, size_t errlen)
{
	char dir[64], upper[80], work[80];
	int fs, mnt, r;

	fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return fail(err, errlen, -errno, "tmpfs for %s: %s", target, strerror(errno));
	if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		r = -errno;
		close(fs);
		return fail(err, errlen, r, "tmpfs for %s: %s", target, strerror(-r));
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	r = -errno;
	close(fs);
	if (mnt < 0)
		return fail(err, errlen, r, "tmpfs for %s: %s", target, strerror(-r));
	if (mkdirat(mnt, "upper", 0755) < 0 || mkdirat(mnt, "work", 0700) < 0) {
		r = fail(err, errlen, -errno, "tmpfs for %s: %s", target, strerror(errno));
		close(mnt);
		return r;
	}
	snprintf(dir, sizeof(dir), "/run/.composefs-setup-root-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		snprintf(dir, sizeof(dir), "/tmp/.composefs-setup-root-XXXXXX");
		if (mkdtemp(dir) == NULL) {
			r = fail(err, errlen, -errno, "transient %s: no directory in /run or /tmp: %s", target,
				 strerror(errno));
			close(mnt);
			return r;
		}
	}
	r = 0;
	if (move_mount(mnt, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		r = fail(err, errlen, -errno, "transient %s: attaching its tmpfs at %s: %s", target, dir,
			 strerror(errno));
	close(mnt);
	if (r == 0) {
		snprintf(upper, sizeof(upper), "%s/upper", dir);
		snprintf(work, sizeof(work), "%s/work", dir);
		r = mount_overlay("transient", target, upper, work, target, err, errlen);
		umount2(dir, MNT_DETACH);
	}
	rmdir(dir);
	return r;
}

/* mkdir -p of @path below @dirfd (every component created 0755 where missing). */
static int mkdir_below(int dirfd, const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			if (c == '\0')
				return 0;
			*p = c;
		}
	}
}

/*
 * Check that what /etc or /var needs from the state directory is there, before
 * any mount is made: a bind source must exist (an empty /etc would hide the
 * image's, so the deployment tool provides it; /var alone is created empty),
 * overlay directories are created.
 */
static int prepare_state(int sysroot_fd, const char *state_rel, const char *dir, enum sr_mount m,
			 char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	int r = 0;

	switch (m) {
	case SR_MOUNT_BIND:
		snprintf(path, sizeof(path), "%s/%s", state_rel, dir);
		if (strcmp(dir, "var") == 0)
			r = mkdir_below(sysroot_fd, path);
		if (r == 0 && fstatat(sysroot_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		if (r == 0 && !S_ISDIR(st.st_mode))
			r = -ENOTDIR;
		break;
	case SR_MOUNT_OVERLAY:
		snprintf(path, sizeof(path), "%s/%s/upper", state_rel, dir);
		r = mkdir_below(sysroot_fd, path);
		if (r == 0) {
			snprintf(path, sizeof(path), "%s/%s/work", state_rel, dir);
			r = mkdir_below(sysroot_fd, path);
		}
		break;
	default:
		return 0;
	}
	if (r < 0)
		return fail(err, errlen, r, "/%s (%s): state directory %s: %s", dir, sr_mount_name(m), path,
			    strerror(-r));
	return 0;
}

/* /etc or /var of the new root (at @root) from the state directory @state (an absolute path). */
static int mount_dir(const char *root, const char *state, const char *dir, enum sr_mount m, char *err,
		     size_t errlen)
{
	char target[PATH_MAX], src[PATH_MAX], work[PATH_MAX];

	snprintf(target, sizeof(target), "%s/%s", root, dir);
	switch (m) {
	case SR_MOUNT_BIND:
		snprintf(src, sizeof(src), "%s/%s", state, dir);
		if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return fail(err, errlen, -errno, "bind %s on %s: %s", src, target, strerror(errno));
		return 0;
	case SR_MOUNT_OVERLAY:
		snprintf(src, sizeof(src), "%s/%s/upper", state, dir);
		snprintf(work, sizeof(work), "%s/%s/work", state, dir);
		return mount_overlay("composefs-state", target, src, work, target, err, errlen);
	case SR_MOUNT_TRANSIENT:
		return mount_transient(target, err, errlen);
	default:
		return 0;
	}
}

static int check_signature(struct cfs_repo *repo, const struct sr_config *cfg, const struct sr_request *req,
			   struct sr_result *res, char *err, size_t errlen)
{
	struct tool_sig_seen seen;
	struct cfs_trust *trust;
	char lerr[256] = "";
	int r = cfs_trust_new(&trust);

	if (r < 0)
		return fail(err, errlen, r, "trust: %s", strerror(-r));
	for (size_t i = 0; i < cfg->n_trust && r == 0; i++) {
		r = cfs_trust_add_path(trust, AT_FDCWD, cfg->trust[i]);
		if (r < 0)
			fail(err, errlen, r, "trust %s", cfs_trust_errmsg(trust));
	}
	if (r == 0) {
		r = tool_repo_signature_find(repo, req->alg, req->digest, trust, &seen, lerr, sizeof(lerr));
		if (r == 1) {
			res->signed_checked = true;
			snprintf(res->signer, sizeof(res->signer), "%s", cfs_trust_signer(trust));
			r = 0;
		} else if (r < 0) {
			fail(err, errlen, r, "signatures of image %s: %s", req->hex, lerr[0] ? lerr : strerror(-r));
		} else if (seen.n_seen == 0) {
			r = fail(err, errlen, -ENOKEY, "a signature is required and image %s has none", req->hex);
		} else {
			r = fail(err, errlen, -EKEYREJECTED,
				 "a signature is required and none of the %u of image %s is acceptable (%s)",
				 seen.n_seen, req->hex, seen.last);
		}
	}
	cfs_trust_free(trust);
	return r;
}

/*
 * Whether objects must have fs-verity: where the repository's file system has
 * it (the kernel can measure the image, or says verity is not enabled on it),
 * unless the command line asked for the insecure '?' form.
 */
static int choose_verity(int image_fd, const struct sr_config *cfg, const struct sr_request *req,
			 struct sr_result *res, char *err, size_t errlen)
{
	uint8_t d[CFS_VERITY_MAX_DIGEST];
	int r = cfs_verity_kernel_measure(image_fd, req->alg, d);
	bool have = r == 0 || r == -ENODATA || r == -EINVAL;

	if (r < 0 && !have && r != -EOPNOTSUPP)
		return fail(err, errlen, r, "image %s: %s", req->hex, strerror(-r));
	if (req->insecure && cfg->verity == SR_VERITY_REQUIRE)
		return fail(err, errlen, -EPERM,
			    "the command line asks for no fs-verity (composefs=?...) but the configuration requires it");
	if (!have && cfg->verity == SR_VERITY_REQUIRE)
		return fail(err, errlen, -EOPNOTSUPP,
			    "fs-verity is required but the repository's file system does not support it");
	res->verity = have && !req->insecure;
	if (!res->verity)
		snprintf(res->note, sizeof(res->note), "%s: objects are not checked by fs-verity; "
			 "the image itself is checked against its digest",
			 req->insecure ? "insecure mode (composefs=?)" : "no fs-verity on the repository's file system");
	return 0;
}

/* Check and open the image, choose the mount options: nothing is mounted yet. */
static int open_image(int sysroot_fd, const char *sysroot, const struct sr_config *cfg,
		      const struct sr_request *req, struct sr_result *res, int *image_fd, char *err,
		      size_t errlen)
{
	struct cfs_repo *repo = NULL;
	char rerr[256] = "";
	int r;

	r = cfs_repo_open(sysroot_fd, cfg->repository, CFS_REPO_READONLY, &repo, rerr, sizeof(rerr));
	if (r < 0)
		return fail(err, errlen, r, "repository %s/%s: %s", sysroot, cfg->repository,
			    rerr[0] ? rerr : strerror(-r));
	if (cfs_repo_hash_alg(repo) != req->alg) {
		r = fail(err, errlen, -EINVAL, "the command line names a %s digest, the repository uses %s",
			 cfs_hash_alg_name(req->alg), cfs_hash_alg_name(cfs_repo_hash_alg(repo)));
		goto out;
	}
	r = cfs_repo_open_image(repo, req->digest, false, image_fd);
	if (r == -ENOENT) {
		fail(err, errlen, r, "image %s is not in the repository %s/%s", req->hex, sysroot, cfg->repository);
		goto out;
	}
	if (r < 0) {
		fail(err, errlen, r, "image %s: %s", req->hex, cfs_repo_errmsg(repo));
		goto out;
	}
	if (cfg->require_signature)
		r = check_signature(repo, cfg, req, res, err, errlen);
	if (r == 0)
		r = choose_verity(*image_fd, cfg, req, res, err, errlen);
	if (r < 0) {
		close(*image_fd);
		*image_fd = -1;
	}
out:
	cfs_repo_free(repo);
	return r;
}

/* Attach the mount @fd on top of whatever is at @target. */
static int attach(int fd, const char *target, const char *what, char *err, size_t errlen)
{
	if (move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return fail(err, errlen, -errno, "attaching %s at %s: %s", what, target, strerror(errno));
	return 0;
}

static int need_dir(int root_fd, const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (fstatat(root_fd, dir, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return fail(err, errlen, -ENOENT, "the image has no /%s directory", dir);
	return 0;
}

/*
 * [root] transient: a tmpfs overlay over the whole image, stacked on top of it.
 * /etc, /var and /sysroot keep the mounts just made on the image (copies move
 * onto the new top): an /etc overlay directly on the image, not on the
 * transient overlay, stays within the kernel's limit of two stacked file
 * systems. *@stacked counts the mounts on the sysroot for the caller's undo.
 */
static int stack_transient_root(const char *sysroot, const struct sr_config *cfg, int *stacked, char *err,
				size_t errlen)
{
	const char *dirs[] = { "sysroot", cfg->etc != SR_MOUNT_NONE ? "etc" : NULL,
			       cfg->var != SR_MOUNT_NONE ? "var" : NULL };
	int fds[3] = { -1, -1, -1 }, r = 0;
	char path[PATH_MAX];

	for (size_t i = 0; i < 3 && r == 0; i++) {
		if (dirs[i] == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", sysroot, dirs[i]);
		fds[i] = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (fds[i] < 0)
			r = fail(err, errlen, -errno, "copying the mount at %s: %s", path, strerror(errno));
	}
	if (r == 0)
		r = mount_transient(sysroot, err, errlen);
	if (r == 0)
		(*stacked)++;
	for (size_t i = 0; i < 3 && r == 0; i++) {
		if (fds[i] < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", sysroot, dirs[i]);
		r = attach(fds[i], path, dirs[i], err, errlen);
	}
	for (size_t i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

int sr_setup_root(const char *sysroot, const struct sr_config *cfg, const struct sr_request *req,
		  struct sr_result *res, char *err, size_t errlen)
{
	char objects[PATH_MAX], state_rel[PATH_MAX], state[2 * PATH_MAX], inner[PATH_MAX];
	const char *basedirs[1] = { objects };
	int sysroot_fd = -1, image_fd = -1, clone_fd = -1, root_fd = -1, stacked = 0, r;
	struct cfs_mount_opts o;

	memset(res, 0, sizeof(*res));
	if (sysroot[0] != '/' || strpbrk(sysroot, ":,\\") != NULL)
		return fail(err, errlen, -EINVAL, "sysroot %s: expected an absolute path without ':', ',' or '\\'",
			    sysroot);
	sysroot_fd = open(sysroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sysroot_fd < 0)
		return fail(err, errlen, -errno, "sysroot %s: %s", sysroot, strerror(errno));
	r = open_image(sysroot_fd, sysroot, cfg, req, res, &image_fd, err, errlen);
	if (r < 0)
		goto out;
	snprintf(state_rel, sizeof(state_rel), "state/deploy/%s", req->hex);
	r = prepare_state(sysroot_fd, state_rel, "etc", cfg->etc, err, errlen);
	if (r == 0)
		r = prepare_state(sysroot_fd, state_rel, "var", cfg->var, err, errlen);
	if (r < 0)
		goto out;

	cfs_mount_opts_init(&o);
	snprintf(objects, sizeof(objects), "%s/%s/objects", sysroot, cfg->repository);
	o.basedirs = basedirs;
	o.n_basedirs = 1;
	o.source = "composefs";
	o.flags = res->verity ? CFS_MOUNT_VERITY : 0;
	o.digest_alg = (uint32_t)req->alg;
	memcpy(o.digest, req->digest, req->digest_len);
	r = cfs_mount_image_detached(image_fd, &o, &root_fd, inner, sizeof(inner));
	if (r == -CFS_EDIGEST) {
		fail(err, errlen, r, "image %s: its content does not match the digest", req->hex);
		goto out;
	}
	if (r < 0) {
		fail(err, errlen, r, "mounting image %s: %s", req->hex, inner[0] ? inner : strerror(-r));
		goto out;
	}
	r = need_dir(root_fd, "sysroot", err, errlen);
	if (r == 0 && cfg->etc != SR_MOUNT_NONE)
		r = need_dir(root_fd, "etc", err, errlen);
	if (r == 0 && cfg->var != SR_MOUNT_NONE)
		r = need_dir(root_fd, "var", err, errlen);
	if (r < 0)
		goto out;
	/* the real root, with whatever is mounted below it, to appear at /sysroot of the new root */
	clone_fd = open_tree(sysroot_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	if (clone_fd < 0) {
		r = fail(err, errlen, -errno, "cloning %s: %s", sysroot, strerror(errno));
		goto out;
	}

	/*
	 * From here on the new root is stacked on the sysroot, its submounts on
	 * it; the way back is to detach the top of the stack (with everything on
	 * it), which leaves the real root as it was.
	 */
	r = attach(root_fd, sysroot, "the image", err, errlen);
	if (r < 0)
		goto out;
	stacked = 1;
	snprintf(inner, sizeof(inner), "%s/sysroot", sysroot);
	r = attach(clone_fd, inner, "the real root", err, errlen);
	if (r < 0)
		goto out;
	snprintf(state, sizeof(state), "%s/sysroot/%s", sysroot, state_rel);
	r = mount_dir(sysroot, state, "etc", cfg->etc, err, errlen);
	if (r == 0)
		r = mount_dir(sysroot, state, "var", cfg->var, err, errlen);
	if (r == 0 && cfg->root_transient)
		r = stack_transient_root(sysroot, cfg, &stacked, err, errlen);
out:
	if (r < 0) {
		for (; stacked > 0; stacked--)
			umount2(sysroot, MNT_DETACH);
	}
	if (clone_fd >= 0)
		close(clone_fd);
	if (root_fd >= 0)
		close(root_fd);
	if (image_fd >= 0)
		close(image_fd);
	close(sysroot_fd);
	return r;
}

int sr_switch_root(const char *sysroot, const char *init, char *err, size_t errlen)
{
	static const char *const api[] = { "/dev", "/proc", "/sys", "/run" };
	char path[PATH_MAX];
	struct stat st, parent;

	snprintf(path, sizeof(path), "%s%s", sysroot, init);
	if (init[0] != '/' || access(path, X_OK) < 0)
		return fail(err, errlen, -errno, "init %s: not executable in the new root (%s)", init,
			    strerror(errno));
	for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
		/* a mount point: another device than its parent's */
		if (stat(api[i], &st) < 0 || stat("/", &parent) < 0 || st.st_dev == parent.st_dev)
			continue;
		snprintf(path, sizeof(path), "%s%s", sysroot, api[i]);
		if (mount(api[i], path, NULL, MS_MOVE, NULL) < 0)
			umount2(api[i], MNT_DETACH);
	}
	if (chdir(sysroot) < 0)
		return fail(err, errlen, -errno, "chdir %s: %s", sysroot, strerror(errno));
	/*
	 * As switch_root(8) does: when this is the initramfs's process 1 on a
	 * root in memory, its files are never seen again, so give their memory
	 * back (the new root, mounted below, is another file system and stays).
	 */
	if (getpid() == 1 && faccessat(AT_FDCWD, "/init", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct sr_free_stats fs;

		if (rootfd >= 0 && sr_is_ram_root(rootfd) && sr_free_tree(rootfd, &fs) == 0)
			fprintf(stderr, "composefs-setup-root: freed the initramfs (%llu files, %llu KiB)\n",
				(unsigned long long)fs.removed, (unsigned long long)(fs.bytes / 1024));
		if (rootfd >= 0)
			close(rootfd);
	}
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return fail(err, errlen, -errno, "moving %s to /: %s", sysroot, strerror(errno));
	if (chroot(".") < 0 || chdir("/") < 0)
		return fail(err, errlen, -errno, "chroot %s: %s", sysroot, strerror(errno));
	execl(init, init, (char *)NULL);
	return fail(err, errlen, -errno, "executing %s: %s", init, strerror(errno));
}
