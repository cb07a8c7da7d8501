/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs: manage a repository of objects and images; global options, init, measure, dispatch. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <composefs/composefs.h>
#include <composefs/repo.h>
#include <composefs/verity.h>

#include "composefs.h"

#define SYSTEM_REPO "/sysroot/composefs"
#define USER_REPO ".var/lib/composefs"

static void usage(void)
{
	printf("Usage: %s [OPTION...] COMMAND [ARG...]\n"
	       "Manage a content-addressed repository of composefs objects and images.\n\n"
	       "Options:\n"
	       "  --repo DIR       use the repository in DIR\n"
	       "  --system         use the system repository (" SYSTEM_REPO ", the default for root)\n"
	       "  --user           use the user repository (~/" USER_REPO ", the default otherwise)\n"
	       "  --no-wait        fail instead of waiting when garbage collection holds the lock\n"
	       "  -h, --help       show this help\n"
	       "  -V, --version    show the version\n\n"
	       "Commands:\n"
	       "  init [--hash sha256|sha512] [DIR]     create a repository\n"
	       "  create-image [OPTION...] SRC [NAME]   store a directory, dump file or image; print its digest\n"
	       "  import-image FILE [NAME]              store an existing composefs image file\n"
	       "  images [--json]                       list images with their names, sizes, object counts\n"
	       "  tag IMAGE NAME                        name an image (IMAGE: digest or name)\n"
	       "  untag NAME                            remove a name\n"
	       "  mount [--fuse] IMAGE MOUNTPOINT       mount an image (kernel mount, or verified FUSE)\n"
	       "  image-objects IMAGE                   list the objects an image refers to\n"
	       "  gc [--dry-run]                        delete objects and images no name reaches\n"
	       "  publish-trees [--min-size BYTES]      write the Merkle trees of large objects (for ranged lazy fetch)\n"
	       "  fsck [--json] [--metadata-only] [--repair]  check the repository\n"
	       "  measure [--hash ALG] FILE...          print the fs-verity digests of files\n"
	       "  sign FILE|IMAGE --key K --cert C ...  sign a file's or an image's digest\n"
	       "  verify FILE SIG|IMAGE --trust CERT    check a signature\n"
	       "  pull [OPTION...] URL REF              copy an image and its objects from an HTTP(S) server\n"
	       "  oci pull|images|inspect|mount|rm|layer|fsck ...  OCI container images\n\n"
	       "Run '%s COMMAND --help' for a command's options.\n",
	       tool_prog, tool_prog);
}

int tool_getopt(struct tool *t, const char *shortopts, const void *longopts)
{
	int c = getopt_long(t->argc, t->argv, shortopts, (const struct option *)longopts, NULL);

	if (c == '?')
		tool_usage_error("%s: invalid option", t->argv[0]);
	return c;
}

bool tool_list_begin(struct tool *t, struct tool_list *l, const char *cmd, const char *what)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*l = (struct tool_list){ 0 };
	while ((c = tool_getopt(t, "h", opts)) != -1) {
		if (c == 'j')
			l->json = true;
		if (c == 'h') {
			printf("Usage: %s %s [--json]\n%s\n", tool_prog, cmd, what);
			return false;
		}
	}
	if (optind != t->argc)
		tool_usage_error("%s: no arguments expected", cmd);
	l->repo = tool_open_repo(t, true);
	if (l->json)
		printf("[");
	return true;
}

void tool_list_item(struct tool_list *l)
{
	printf("%s\n", l->n++ > 0 ? "," : "");
}

void tool_list_end(struct tool_list *l)
{
	if (l->json)
		printf("%s]\n", l->n > 0 ? "\n" : "");
}

const char *tool_human_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress_state {
	double last;
	bool shown;
};

static struct progress_state progress_state;

void tool_progress(void *user, const char *phase, uint64_t done, uint64_t total)
{
	double t = now_sec();

	(void)user;
	if (t - progress_state.last < 0.2 && !(total != 0 && done == total))
		return;
	progress_state.last = t;
	progress_state.shown = true;
	if (total != 0)
		fprintf(stderr, "\r\033[K%s: %llu/%llu", phase, (unsigned long long)done, (unsigned long long)total);
	else if (done != 0)
		fprintf(stderr, "\r\033[K%s: %llu", phase, (unsigned long long)done);
	else
		fprintf(stderr, "\r\033[K%s...", phase);
	fflush(stderr);
}

void tool_progress_done(struct tool *t)
{
	(void)t;
	if (progress_state.shown)
		fprintf(stderr, "\r\033[K");
	progress_state.shown = false;
}

struct cfs_repo *tool_open_repo(struct tool *t, bool readonly)
{
	struct cfs_repo *repo = NULL;
	char err[512] = "";
	unsigned flags = (t->nowait ? CFS_REPO_NOWAIT : 0) | (readonly ? CFS_REPO_READONLY : 0);
	int r;

	r = cfs_repo_open(AT_FDCWD, t->repo_path, flags, &repo, err, sizeof(err));
	if (r == -ENOENT && access(t->repo_path, F_OK) < 0)
		tool_die("%s: no repository here (create one with '%s init')", t->repo_path, tool_prog);
	if (r < 0)
		tool_die("%s: %s", t->repo_path, err[0] ? err : strerror(-r));
	if (t->progress)
		cfs_repo_set_progress(repo, tool_progress, t);
	return repo;
}

/* mkdir -p of the parents of @path (the repository itself is made by the library). */
static void make_parents(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		tool_die("%s: path too long", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			tool_die_errno(-errno, "%s", buf);
		*p = '/';
	}
}

static int cmd_init(struct tool *t)
{
	static const struct option opts[] = {
		{ "hash", required_argument, NULL, 'H' },
		{ "algorithm", required_argument, NULL, 'a' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	const char *path;
	char err[512] = "";
	int c, r;

	while ((c = tool_getopt(t, "h", opts)) != -1) {
		switch (c) {
		case 'H':
			if (cfs_hash_alg_from_name(optarg, &alg) < 0)
				tool_usage_error("--hash %s: expected sha256 or sha512", optarg);
			break;
		case 'a': /* composefs-rs spelling: fsverity-<hash>-12 */
			if (strcmp(optarg, "fsverity-sha256-12") == 0)
				alg = CFS_HASH_SHA256;
			else if (strcmp(optarg, "fsverity-sha512-12") == 0)
				alg = CFS_HASH_SHA512;
			else
				tool_usage_error("--algorithm %s: expected fsverity-sha256-12 or fsverity-sha512-12", optarg);
			break;
		case 'I':
			break; /* this tool never asks for fs-verity on meta.json */
		case 'h':
			printf("Usage: %s init [--hash sha256|sha512] [DIR]\n"
			       "Create a repository (default hash: sha256) in DIR or the --repo directory.\n",
			       tool_prog);
			return EXIT_OK;
		}
	}
	if (optind + 1 < t->argc)
		tool_usage_error("init: too many arguments");
	path = optind < t->argc ? t->argv[optind] : t->repo_path;
	make_parents(path);
	r = cfs_repo_init(AT_FDCWD, path, alg, t->nowait ? CFS_REPO_NOWAIT : 0, err, sizeof(err));
	if (r < 0)
		tool_die("%s", err[0] ? err : strerror(-r));
	printf("initialized %s repository in %s\n", cfs_hash_alg_name(alg), path);
	return EXIT_OK;
}

static int cmd_measure(struct tool *t)
{
	static const struct option opts[] = {
		{ "hash", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	int c, ret = EXIT_OK;

	while ((c = tool_getopt(t, "h", opts)) != -1) {
		if (c == 'H' && cfs_hash_alg_from_name(optarg, &alg) < 0)
			tool_usage_error("--hash %s: expected sha256 or sha512", optarg);
		if (c == 'h') {
			printf("Usage: %s measure [--hash sha256|sha512] FILE...\n"
			       "Print the fs-verity digest of each file (from the kernel when it has one).\n",
			       tool_prog);
			return EXIT_OK;
		}
	}
	if (optind >= t->argc)
		tool_usage_error("measure: no file given");
	for (int i = optind; i < t->argc; i++) {
		uint8_t d[CFS_VERITY_MAX_DIGEST];
		char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
		int fd = open(t->argv[i], O_RDONLY | O_CLOEXEC);
		int r;

		if (fd < 0) {
			tool_msg_errno(-errno, "%s", t->argv[i]);
			ret = EXIT_ERROR;
			continue;
		}
		r = cfs_verity_measure_fd(fd, alg, d, NULL);
		close(fd);
		if (r < 0) {
			tool_msg_errno(r, "%s", t->argv[i]);
			ret = EXIT_ERROR;
			continue;
		}
		for (size_t k = 0; k < cfs_verity_digest_size(alg); k++)
			snprintf(hex + 2 * k, 3, "%02x", d[k]);
		printf("%s  %s\n", hex, t->argv[i]);
	}
	return ret;
}

static const struct {
	const char *name;
	int (*fn)(struct tool *t);
} commands[] = {
	{ "init", cmd_init },
	{ "create-image", cmd_create_image },
	{ "import-image", cmd_import_image },
	{ "images", cmd_images },
	{ "list-images", cmd_images },
	{ "tag", cmd_tag },
	{ "untag", cmd_untag },
	{ "mount", cmd_mount },
	{ "image-objects", cmd_image_objects },
	{ "gc", cmd_gc },
	{ "publish-trees", cmd_publish_trees },
	{ "fsck", cmd_fsck },
	{ "measure", cmd_measure },
	{ "sign", cmd_sign },
	{ "verify", cmd_verify },
	{ "oci", cmd_oci },
	{ "pull", cmd_pull },
};

static const char *default_repo(char *buf, size_t len)
{
	const char *home;

	if (geteuid() == 0)
		return SYSTEM_REPO;
	home = getenv("HOME");
	if (home == NULL || home[0] == '\0')
		tool_die("HOME is not set: give the repository with --repo");
	snprintf(buf, len, "%s/%s", home, USER_REPO);
	return buf;
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "system", no_argument, NULL, 'S' },
		{ "user", no_argument, NULL, 'U' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static char userbuf[PATH_MAX];
	struct tool t = { 0 };
	const char *repo = NULL;
	bool sys = false, user = false;
	int c;

	tool_prog = "composefs";
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'r': repo = optarg; break;
		case 'S': sys = true; break;
		case 'U': user = true; break;
		case 'n': t.nowait = true; break;
		case 'h': usage(); return EXIT_OK;
		case 'V': tool_print_version();
		default: tool_usage_error("invalid option");
		}
	}
	if (optind >= argc)
		tool_usage_error("no command given");
	if ((repo != NULL) + sys + user > 1)
		tool_usage_error("--repo, --system and --user exclude each other");
	if (repo != NULL)
		t.repo_path = repo;
	else if (sys)
		t.repo_path = SYSTEM_REPO;
	else if (user) {
		const char *home = getenv("HOME");

		if (home == NULL || home[0] == '\0')
			tool_die("--user: HOME is not set");
		snprintf(userbuf, sizeof(userbuf), "%s/%s", home, USER_REPO);
		t.repo_path = userbuf;
	} else
		t.repo_path = default_repo(userbuf, sizeof(userbuf));
	t.progress = isatty(STDERR_FILENO);
	t.argc = argc - optind;
	t.argv = argv + optind;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, t.argv[0]) == 0) {
			optind = 0; /* a full restart of getopt: the command parses its own options, in any order (optind = 1 would keep the "+" of the global options) */
			return commands[i].fn(&t);
		}
	}
	tool_usage_error("unknown command '%s'", t.argv[0]);
}
