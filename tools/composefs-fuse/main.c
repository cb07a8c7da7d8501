/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-fuse: options, image loading and verification, FUSE session setup. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "common.h"
#include "sigcheck.h"

#include "cfs-fuse.h"

#define DEFAULT_TREE_MEM_MIB 256u
#define DEFAULT_TIMEOUT 86400.0
#define DEFAULT_WORKERS 4u
#define MAX_WORKERS 256ul
#define DEFAULT_READAHEAD_KB 4096ul
#define MAX_READAHEAD_KB (1024ul * 1024)
#define MAX_PREFILL_MIB (1024ul * 1024)

struct options {
	char *source;
	char *basedir;
	char *remote;
	char *digest;
	char *signature;
	char *trust;
	char *verity;
	char *verity_cache;
	char *tree_mem;
	char *workers;
	char *readahead_kb;
	char *prefill_mem;
	char *range_min;
	int noacl;
	int stats;
};

#define OPT(t, f, v)                                                                               \
	{                                                                                          \
		t, offsetof(struct options, f), v                                                  \
	}
static const struct fuse_opt opt_spec[] = {
	OPT("source=%s", source, 0),
	OPT("basedir=%s", basedir, 0),
	OPT("remote=%s", remote, 0),
	OPT("digest=%s", digest, 0),
	OPT("signature=%s", signature, 0),
	OPT("trust=%s", trust, 0),
	OPT("verity=%s", verity, 0),
	OPT("verity_cache=%s", verity_cache, 0),
	OPT("tree_mem=%s", tree_mem, 0),
	OPT("workers=%s", workers, 0),
	OPT("readahead_kb=%s", readahead_kb, 0),
	OPT("prefill_mem=%s", prefill_mem, 0),
	OPT("range_min=%s", range_min, 0),
	OPT("noacl", noacl, 1),
	OPT("stats", stats, 1),
	FUSE_OPT_END,
};

static bool log_syslog;
/*
 * The image's private copy (digest=, signature=), also known to main(): a
 * tool_die() in load_image() exits with it allocated, and a local of main()'s
 * that the compiler keeps nowhere would not keep it reachable.
 */
static void *image_copy;

void cfuse_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(LOG_ERR, fmt, ap);
	} else {
		char line[1024];

		/* One write per line so concurrent threads do not interleave. */
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s: %s\n", tool_prog, line);
	}
	va_end(ap);
}

void cfuse_log_to_syslog(void)
{
	openlog(tool_prog, LOG_PID, LOG_DAEMON);
	log_syslog = true;
}

static void usage(void)
{
	printf("Usage: %s -o source=IMAGE,basedir=DIR[:DIR...][,OPTION...] MOUNTPOINT\n\n"
	       "Mount a composefs image with FUSE, checking file contents against the\n"
	       "fs-verity digests recorded in the image.\n\n"
	       "composefs options:\n"
	       "    -o source=IMAGE        the composefs image (required)\n"
	       "    -o basedir=DIR[:DIR]   object directories, searched in order (required)\n"
	       "    -o remote=URL          fetch objects missing from the basedirs from the\n"
	       "                           repository served at URL, verified, into the first\n"
	       "                           basedir (lazy mount; needs digests in the image)\n"
	       "    -o range_min=KIB       with remote=: objects of at least KIB KiB whose Merkle\n"
	       "                           tree the server publishes are read in ranges (1024)\n"
	       "    -o digest=HEX          refuse to mount unless the image has this fs-verity "
	       "digest\n"
	       "    -o signature=SIG       refuse to mount unless SIG is a signature of the image's\n"
	       "                           fs-verity digest by a certificate of trust=\n"
	       "    -o trust=CERT|DIR      trusted certificate(s): a file, or a directory of them\n"
	       "    -o verity=MODE         on (default): check files that have a digest;\n"
	       "                           require: also fail files without one; off: no checks\n"
	       "    -o verity_cache=DIR    keep Merkle trees of large objects in DIR\n"
	       "    -o tree_mem=MIB        memory for unused Merkle trees (default %u)\n"
	       "    -o workers=N           threads for opening and reading files (default %u;\n"
	       "                           0: everything in the one thread that reads requests)\n"
	       "    -o readahead_kb=N      read-ahead window of the mount (default %lu; set\n"
	       "                           when run as root; 0: keep the kernel's)\n"
	       "    -o prefill_mem=MIB     memory for file data read while a first open builds\n"
	       "                           its Merkle tree, stored in the page cache so that\n"
	       "                           it is not read and hashed again (default 0: off)\n"
	       "    -o noacl               do not enforce POSIX ACLs\n"
	       "    -o stats               print cache statistics at exit\n\n",
	       tool_prog, DEFAULT_TREE_MEM_MIB, DEFAULT_WORKERS, DEFAULT_READAHEAD_KB);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static int parse_verity(const char *s, enum cfuse_verity *out)
{
	if (!s || strcmp(s, "on") == 0)
		*out = CFUSE_VERITY_ON;
	else if (strcmp(s, "require") == 0)
		*out = CFUSE_VERITY_REQUIRE;
	else if (strcmp(s, "off") == 0)
		*out = CFUSE_VERITY_OFF;
	else
		return -EINVAL;
	return 0;
}

/* Open every ':'-separated directory of @list; exits on failure. */
static void open_basedirs(const char *list, int **fds_out, size_t *n_out)
{
	char *copy = strdup(list);
	size_t n = 0, cap = 1;
	int *fds;
	char *save = NULL;

	if (!copy)
		tool_die_errno(-ENOMEM, "basedir");
	for (const char *p = list; *p; p++)
		cap += *p == ':';
	fds = calloc(cap, sizeof(*fds));
	if (!fds)
		tool_die_errno(-ENOMEM, "basedir");
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		fds[n] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[n] < 0)
			tool_die_errno(-errno, "basedir %s", dir);
		n++;
	}
	free(copy);
	if (n == 0)
		tool_usage_error("basedir= names no directory");
	*fds_out = fds;
	*n_out = n;
}

static int open_cache_dir(const char *dir)
{
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		tool_die_errno(-errno, "verity_cache %s", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		tool_die_errno(-errno, "verity_cache %s", dir);
	return fd;
}

/*
 * The signature in @o->signature must vouch for the digest of the image bytes
 * in @mem (the same bytes that are served): over @want when digest= pinned
 * it, else over the digest of @mem with each algorithm. Exits on failure.
 */
static void check_signature(const struct options *o, const void *mem, size_t len, uint32_t alg,
			    const uint8_t *want)
{
	const char *trust_path = o->trust;
	struct cfs_trust *trust = tool_load_trust(&trust_path, 1);
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	int memfd = -1;

	if (alg != 0) {
		memcpy(digest, want, cfs_verity_digest_size((enum cfs_hash_alg)alg));
	} else {
		/* the verifier measures a file: give it a private copy of these very bytes */
		memfd = memfd_create("composefs-image", MFD_CLOEXEC);
		int r = memfd < 0 ? -errno : tool_write_full(memfd, mem, len);

		if (r < 0)
			tool_die_errno(r, "%s: cannot copy the image for its signature check", o->source);
	}
	tool_check_signature(trust, o->signature, memfd, o->source, &alg, digest);
	if (memfd >= 0)
		close(memfd);
	cfs_trust_free(trust);
}

/*
 * Open the image. With digest= or signature= the whole image is read into
 * private memory, its fs-verity digest (or signature) checked there, and the
 * reader opened on those very bytes, so what was checked is what is served.
 * Exits on failure.
 */
static void load_image(const struct options *o, struct cfuse *fs, void **mem_out)
{
	const char *path = o->source, *digest_hex = o->digest;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char err[256] = "";
	int r;

	if (fd < 0)
		tool_die_errno(-errno, "%s", path);
	if (fstat(fd, &st) < 0)
		tool_die_errno(-errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		tool_die("%s: not a regular file", path);
	fs->image_size = (uint64_t)st.st_size;
	*mem_out = NULL;

	if (digest_hex || o->signature) {
		size_t hexlen = digest_hex ? strlen(digest_hex) : 0, dlen = hexlen / 2;
		enum cfs_hash_alg alg = dlen == 64 ? CFS_HASH_SHA512 : CFS_HASH_SHA256;
		uint8_t want[CFS_VERITY_MAX_DIGEST], got[CFS_VERITY_MAX_DIGEST];
		char got_hex[2 * CFS_VERITY_MAX_DIGEST + 1];
		void *mem = NULL;
		ssize_t n;

		if (digest_hex && ((hexlen != 64 && hexlen != 128) ||
				   cfs_digest_from_hex(digest_hex, want, dlen) < 0))
			tool_usage_error("digest=%s: expected 64 or 128 hex digits", digest_hex);
		mem = malloc(st.st_size ? (size_t)st.st_size : 1);
		if (!mem)
			tool_die_errno(-ENOMEM, "%s", path);
		*mem_out = mem; /* the caller's from here */
		image_copy = mem; /* reachable from a root if we exit below (leak checkers) */
		n = tool_read_full(fd, mem, (size_t)st.st_size);
		if (n < 0)
			tool_die_errno((int)n, "%s", path);
		if ((uint64_t)n != fs->image_size)
			tool_die("%s: changed while being read", path);
		r = digest_hex ? cfs_verity_digest_buf(alg, mem, (size_t)n, got) : 0;
		if (r < 0)
			tool_die_errno(r, "%s: computing its fs-verity digest", path);
		if (digest_hex && memcmp(want, got, dlen) != 0) {
			cfs_digest_to_hex(got, dlen, got_hex);
			tool_die("%s: fs-verity digest mismatch: expected %s, image has %s", path,
				digest_hex, got_hex);
		}
		if (o->signature)
			check_signature(o, mem, (size_t)n, digest_hex ? (uint32_t)alg : 0, want);
		r = cfs_image_open_mem_err(mem, (size_t)n, NULL, &fs->img, err, sizeof(err));
		if (r < 0) {
			free(mem);
			*mem_out = NULL;
		}
	} else {
		r = cfs_image_open_fd_err(fd, NULL, &fs->img, err, sizeof(err));
	}
	close(fd);
	if (r < 0 && err[0])
		tool_die("%s: %s", path, err);
	if (r < 0)
		tool_die_errno(r, "%s: cannot open image", path);
	fs->root_nid = cfs_image_root(fs->img);
}

/* Undo mountinfo's octal escapes (\040 for a space...) in place. */
static void unescape_mountinfo(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/*
 * Widen the read-ahead window of our new mount at @mountpoint to @kb KiB
 * (before the kernel's INIT request is answered; op_init() then asks for the
 * same). The kernel's default (128 KiB) makes every read a 128 KiB round trip;
 * with a wider window reads come in 1 MiB requests, several at once, and the
 * workers hash them in parallel. Only root may write the mount's
 * /sys/class/bdi entry: for anyone else, or if it fails, the default stays.
 * The device number comes from /proc/self/mountinfo: stat() of the mount
 * point would wait for INIT, which this thread has yet to answer.
 */
static void set_readahead(const char *mountpoint, unsigned kb)
{
	FILE *f;
	char *line = NULL, path[64], dev[32] = "";
	size_t cap = 0;

	if (kb == 0 || geteuid() != 0)
		return;
	f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return;
	while (getline(&line, &cap, f) > 0) {
		char mdev[32], mpoint[PATH_MAX + 1], *dash = strstr(line, " - ");

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - FSTYPE ...; the last one wins */
		if (dash == NULL || strncmp(dash, " - fuse", 7) != 0)
			continue;
		if (sscanf(line, "%*s %*s %31s %*s %4096s", mdev, mpoint) != 2)
			continue;
		unescape_mountinfo(mpoint);
		if (strcmp(mpoint, mountpoint) == 0)
			snprintf(dev, sizeof(dev), "%s", mdev);
	}
	free(line);
	fclose(f);
	if (dev[0] == '\0')
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	{
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		char val[16];
		int n = snprintf(val, sizeof(val), "%u\n", kb);

		/* a failure leaves the kernel's default, which works */
		if (fd >= 0) {
			(void)!write(fd, val, (size_t)n);
			close(fd);
		}
	}
}

/*
 * Serve until unmounted or signalled. One thread reads the requests and
 * answers metadata ones itself; @n_workers threads (started here, after
 * fuse_daemonize() has forked) open and read files.
 */
static int run_session(struct fuse_args *args, struct fuse_cmdline_opts *copts, unsigned n_workers,
		       struct cfuse *fs)
{
	struct fuse_session *se;
	int ret = EXIT_ERROR, r;

	se = fuse_session_new(args, &cfuse_ops, sizeof(cfuse_ops), fs);
	if (!se) {
		tool_msg("cannot set up the FUSE session (unknown option?)");
		return EXIT_USAGE;
	}
	fs->se = se;
	if (fuse_set_signal_handlers(se) != 0) {
		tool_msg("cannot install signal handlers");
		goto out_destroy;
	}
	if (fuse_session_mount(se, copts->mountpoint) != 0) {
		tool_msg("%s: mount failed", copts->mountpoint);
		goto out_signals;
	}
	set_readahead(copts->mountpoint, fs->readahead_kb);
	if (fuse_daemonize(copts->foreground) != 0) {
		tool_msg("cannot daemonize");
		goto out_unmount;
	}
	if (!copts->foreground)
		cfuse_log_to_syslog();
	r = cfuse_workers_new(copts->singlethread ? 0 : n_workers, &fs->workers);
	if (r < 0) {
		cfuse_log("cannot start worker threads: %s", strerror(-r));
		goto out_unmount;
	}
	r = fuse_session_loop(se);
	/* Let queued opens and reads finish (their replies may fail: unmounted). */
	cfuse_workers_free(fs->workers);
	fs->workers = NULL;
	/* A loop ended by SIGTERM/SIGINT/SIGHUP reports the signal: that is a clean stop. */
	ret = (r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP) ? EXIT_OK : EXIT_ERROR;
	if (ret != EXIT_OK)
		cfuse_log("session ended with error %d", r);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return ret;
}

/* The library names each broken object once; say it where the daemon's messages go. */
static void report_object(void *user, const char *path, const char *why, int err)
{
	(void)user;
	if (err)
		cfuse_log("object %s: %s: %s", path, why, strerror(-err));
	else
		cfuse_log("object %s: %s", path, why);
}

static void print_stats(struct cfs_objects *c)
{
	struct cfs_objects_stats st;

	cfs_objects_get_stats(c, &st);
	cfuse_log("trees built %llu, loaded %llu, saved %llu, cache hits %llu, evictions %llu, "
		     "memory %zu bytes",
		     (unsigned long long)st.trees_built, (unsigned long long)st.trees_loaded,
		     (unsigned long long)st.trees_saved, (unsigned long long)st.tree_hits,
		     (unsigned long long)st.evictions, st.mem_used);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts copts = {0};
	struct options o = {0};
	struct cfuse fs = {.timeout = DEFAULT_TIMEOUT, .readahead_kb = DEFAULT_READAHEAD_KB};
	unsigned long tree_mem = DEFAULT_TREE_MEM_MIB, n_workers = DEFAULT_WORKERS;
	unsigned long prefill_mem = 0;
	unsigned long range_min_kb = CFUSE_RANGE_MIN_DEFAULT / 1024;
	void *image_mem = NULL;
	struct cfuse_remote *remote = NULL;
	int *basedirs = NULL;
	size_t n_basedirs = 0;
	int ret, r;

	tool_prog = "composefs-fuse";
	if (fuse_parse_cmdline(&args, &copts) != 0)
		tool_usage_error("invalid command line");
	if (copts.show_help) {
		usage();
		exit(EXIT_OK);
	}
	if (copts.show_version)
		tool_print_version();
	if (fuse_opt_parse(&args, &o, opt_spec, NULL) != 0)
		tool_usage_error("invalid -o options");
	if (!copts.mountpoint)
		tool_usage_error("no mount point given");
	if (!o.source)
		tool_usage_error("missing -o source=IMAGE");
	if (!o.basedir)
		tool_usage_error("missing -o basedir=DIR");
	if (parse_verity(o.verity, &fs.verity) < 0)
		tool_usage_error("verity=%s: expected require, on or off", o.verity);
	if (o.tree_mem) {
		char *end;

		errno = 0;
		tree_mem = strtoul(o.tree_mem, &end, 10);
		if (errno || *end || end == o.tree_mem || tree_mem > SIZE_MAX / (1024 * 1024))
			tool_usage_error("tree_mem=%s: expected a number of MiB", o.tree_mem);
	}
	if (o.range_min) {
		char *end;

		errno = 0;
		range_min_kb = strtoul(o.range_min, &end, 10);
		if (errno || *end || end == o.range_min || range_min_kb > UINT64_MAX / 1024)
			tool_usage_error("range_min=%s: expected a number of KiB", o.range_min);
	}
	if (o.workers) {
		char *end;

		errno = 0;
		n_workers = strtoul(o.workers, &end, 10);
		if (errno || *end || end == o.workers || n_workers > MAX_WORKERS)
			tool_usage_error("workers=%s: expected a number from 0 to %lu", o.workers,
					MAX_WORKERS);
	}
	if (o.readahead_kb) {
		char *end;
		unsigned long kb;

		errno = 0;
		kb = strtoul(o.readahead_kb, &end, 10);
		if (errno || *end || end == o.readahead_kb || kb > MAX_READAHEAD_KB)
			tool_usage_error("readahead_kb=%s: expected a number from 0 to %lu", o.readahead_kb,
					MAX_READAHEAD_KB);
		fs.readahead_kb = (unsigned)kb;
	}
	if (o.prefill_mem) {
		char *end;

		errno = 0;
		prefill_mem = strtoul(o.prefill_mem, &end, 10);
		if (errno || *end || end == o.prefill_mem || prefill_mem > MAX_PREFILL_MIB)
			tool_usage_error("prefill_mem=%s: expected a number of MiB from 0 to %lu", o.prefill_mem,
					 MAX_PREFILL_MIB);
	}
	if (!o.signature != !o.trust)
		tool_usage_error("signature= and trust= go together");
	load_image(&o, &fs, &image_mem);
	{
		struct cfs_image_info info;

		cfs_image_get_info(fs.img, &info);
		fs.image_acls = info.header_flags & CFS_IMAGE_FLAG_HAS_ACL;
		/* The kernel enforces (and caches) ACLs, for images that have some. */
		fs.acl = fs.image_acls && !o.noacl;
	}
	fs.image_labels = cfs_image_may_store_xattr(fs.img, "security.selinux");
	open_basedirs(o.basedir, &basedirs, &n_basedirs);
	{
		struct cfs_objects_opts oo;

		cfs_objects_opts_init(&oo);
		oo.cache_dirfd = o.verity_cache ? open_cache_dir(o.verity_cache) : -1;
		oo.tree_mem = (size_t)tree_mem * 1024 * 1024;
		oo.keep_mem = (uint64_t)prefill_mem * 1024 * 1024;
		fs.prefill = prefill_mem > 0;
		oo.report = report_object;
		if (o.remote != NULL) {
			char first[PATH_MAX], err[512] = "";
			const char *colon = strchr(o.basedir, ':');

			snprintf(first, sizeof(first), "%.*s",
				 (int)(colon ? (size_t)(colon - o.basedir) : strlen(o.basedir)), o.basedir);
			r = cfuse_remote_new(o.remote, first, n_workers ? (unsigned)n_workers : 1,
					     (uint64_t)range_min_kb * 1024, &remote, err, sizeof(err));
			if (r < 0)
				tool_die("remote=%s: %s", o.remote, err[0] ? err : strerror(-r));
			oo.fetch = cfuse_remote_fetch;
			oo.fetch_tree = cfuse_remote_tree;
			oo.fetch_range = cfuse_remote_range;
			oo.fetch_user = remote;
		}
		r = cfs_objects_new(basedirs, n_basedirs, &oo, &fs.cache);
		if (r < 0)
			tool_die_errno(r, "basedir");
		if (oo.cache_dirfd >= 0)
			close(oo.cache_dirfd);
		for (size_t i = 0; i < n_basedirs; i++)
			close(basedirs[i]);
		free(basedirs);
	}

	/* The kernel checks permissions; the file system is read-only. */
	fuse_opt_add_arg(&args, "-oro,default_permissions,fsname=composefs,subtype=composefs");

	pthread_mutex_init(&fs.files_lock, NULL);
	ret = run_session(&args, &copts, (unsigned)n_workers, &fs);
	cfuse_close_open_files(&fs);
	pthread_mutex_destroy(&fs.files_lock);

	if (o.stats)
		print_stats(fs.cache);
	cfs_objects_free(fs.cache);
	cfuse_remote_free(remote);
	cfs_image_close(fs.img);
	free(image_mem);
	free(copts.mountpoint);
	free(o.source);
	free(o.basedir);
	free(o.remote);
	free(o.digest);
	free(o.signature);
	free(o.trust);
	free(o.verity);
	free(o.verity_cache);
	free(o.tree_mem);
	free(o.range_min);
	free(o.workers);
	free(o.readahead_kb);
	free(o.prefill_mem);
	fuse_opt_free_args(&args);
	return ret;
}
