/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs oci: pull OCI images (layouts, oci-archive, docker-archive), list, mount, remove them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/oci.h>
#include <composefs/repo.h>

#include "composefs.h"

#define HEXBUF (2 * CFS_VERITY_MAX_DIGEST + 1)

static void oci_usage(void)
{
	printf("Usage: %s oci COMMAND [ARG...]\n"
	       "Import OCI container images: one composefs image per OCI image, all layers merged.\n\n"
	       "  pull [--platform OS/ARCH[/VARIANT]] [REGISTRY OPTIONS] SOURCE NAME\n"
	       "        import SOURCE as image NAME: oci:DIR[:TAG], oci-archive:FILE[:TAG],\n"
	       "        docker-archive:FILE[:REF], docker://HOST[:PORT]/REPO[:TAG|@DIGEST];\n"
	       "        print the image digest\n"
	       "  images [--json]             list OCI images: name, image digest, config digest\n"
	       "  inspect NAME                print the record of NAME (JSON)\n"
	       "  mount [--fuse] NAME MNT     mount an OCI image (options as for 'mount')\n"
	       "  rm NAME...                  forget OCI images (their data goes at the next gc)\n"
	       "  layer DIFF_ID               write the layer's tar, re-created from its split stream\n"
	       "                              and checked against DIFF_ID, to standard output\n"
	       "  fsck [NAME]                 re-create every layer of NAME (default: of all OCI\n"
	       "                              images) and check it against its diff_id\n",
	       tool_prog);
}

static void oci_pull_help(void)
{
	printf("Usage: %s oci pull [OPTION...] SOURCE NAME\n"
	       "Import an OCI image as the composefs image NAME; print its digest.\n"
	       "SOURCE: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or\n"
	       "docker://[HOST[:PORT]/]REPO[:TAG|@sha256:HEX] (a registry).\n\n"
	       "  --platform OS/ARCH[/VARIANT]  the image to take from an index (default: this machine's)\n"
	       "Registries only:\n"
	       "  --authfile FILE         credentials (auth.json); default: $REGISTRY_AUTH_FILE,\n"
	       "                          then containers/auth.json, ~/.docker/config.json\n"
	       "  --tls-verify=BOOL       false: accept any certificate, and plain HTTP (default true)\n"
	       "  --cacert FILE           trust these CAs (PEM) instead of the system's\n"
	       "  --retries N             further attempts after a failed request (default 4)\n"
	       "  --retry-delay SEC       first wait before a retry, doubled each time (default 0.25)\n"
	       "  --timeout SEC           to connect, and longest a transfer may stall (default 30)\n",
	       tool_prog);
}

static bool parse_bool(const char *opt, const char *s)
{
	if (s == NULL || strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		return true;
	if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		return false;
	tool_usage_error("oci pull: %s=%s: expected true or false", opt, s);
}

static int oci_pull(struct tool *t)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "authfile", required_argument, NULL, 'a' },
		{ "tls-verify", optional_argument, NULL, 'V' },
		{ "cacert", required_argument, NULL, 'A' },
		{ "retries", required_argument, NULL, 'R' },
		{ "retry-delay", required_argument, NULL, 'D' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfs_oci_pull_opts o;
	struct cfs_oci_pull_result res;
	struct cfs_repo *repo;
	char err[1024] = "", hex[HEXBUF];
	int c, r;

	cfs_oci_pull_opts_init(&o);
	while ((c = tool_getopt(t, "h", opts)) != -1) {
		switch (c) {
		case 'p': o.platform = optarg; break;
		case 'a': o.authfile = optarg; break;
		case 'V':
			if (parse_bool("--tls-verify", optarg))
				o.flags &= ~CFS_OCI_PULL_TLS_NO_VERIFY;
			else
				o.flags |= CFS_OCI_PULL_TLS_NO_VERIFY;
			break;
		case 'A': o.cacert = optarg; break;
		case 'R': o.retries = tool_parse_uint("oci pull", "--retries", optarg, 100); break;
		case 'D': o.retry_delay_ms = tool_parse_seconds("oci pull", "--retry-delay", optarg); break;
		case 'T':
			o.timeout_ms = tool_parse_seconds("oci pull", "--timeout", optarg);
			if (o.timeout_ms == 0)
				tool_usage_error("oci pull: --timeout must be more than 0");
			break;
		case 'h': oci_pull_help(); return EXIT_OK;
		}
	}
	if (t->argc - optind != 2)
		tool_usage_error("oci pull: expected SOURCE NAME");
	repo = tool_open_repo(t, false);
	if (t->progress) {
		o.progress = tool_progress;
		o.progress_user = t;
	}
	r = cfs_oci_pull(repo, t->argv[optind], t->argv[optind + 1], &o, &res, err, sizeof(err));
	tool_progress_done(t);
	if (r < 0) {
		/* closing the repository removes what the refused pull staged */
		cfs_repo_free(repo);
		tool_die("oci pull %s: %s", t->argv[optind], err[0] ? err : strerror(-r));
	}
	printf("%s\n", cfs_repo_digest_hex(repo, res.image_digest, hex));
	fprintf(stderr, "config %s, %u layer(s), %u already imported", res.config_digest, res.n_layers,
		res.n_layers_reused);
	if (res.n_layers_reimported != 0)
		fprintf(stderr, ", %u imported again (objects of theirs were missing)", res.n_layers_reimported);
	fputc('\n', stderr);
	cfs_repo_free(repo);
	return EXIT_OK;
}

static void print_json(struct cfs_repo *repo, const struct cfs_oci_image_info *info)
{
	char hex[HEXBUF];

	printf("{\"name\": ");
	tool_json_string(stdout, info->name);
	printf(", \"image\": \"%s\", \"named\": %s, \"config\": ", cfs_repo_digest_hex(repo, info->image_digest, hex),
	       info->named ? "true" : "false");
	tool_json_string(stdout, info->config_digest);
	printf(", \"manifest\": ");
	tool_json_string(stdout, info->manifest_digest);
	printf(", \"source\": ");
	tool_json_string(stdout, info->source);
	printf(", \"layers\": [");
	for (size_t i = 0; i < info->n_layers; i++) {
		printf("%s", i ? ", " : "");
		tool_json_string(stdout, info->diff_ids[i]);
	}
	printf("]}");
}

static int list_one(void *user, const struct cfs_oci_image_info *info)
{
	struct tool_list *l = user;
	char hex[HEXBUF];

	if (l->json) {
		tool_list_item(l);
		print_json(l->repo, info);
		return 0;
	}
	printf("%-24s %s %s %zu%s\n", info->name, cfs_repo_digest_hex(l->repo, info->image_digest, hex),
	       info->config_digest, info->n_layers, info->named ? "" : " (name now elsewhere)");
	return 0;
}

static int oci_images(struct tool *t)
{
	struct tool_list l;
	char err[512] = "";
	int r;

	if (!tool_list_begin(t, &l, "oci images", "List OCI images: name, image digest, config digest, number of layers."))
		return EXIT_OK;
	if (!l.json)
		printf("%-24s %-*s %-71s %s\n", "NAME", (int)(2 * cfs_repo_digest_size(l.repo)), "IMAGE", "CONFIG",
		       "LAYERS");
	r = cfs_oci_list_images(l.repo, list_one, &l, err, sizeof(err));
	tool_list_end(&l);
	if (r < 0)
		tool_die("oci images: %s", err[0] ? err : strerror(-r));
	cfs_repo_free(l.repo);
	return EXIT_OK;
}

static int inspect_one(void *user, const struct cfs_oci_image_info *info)
{
	print_json(user, info);
	printf("\n");
	return 0;
}

static int oci_inspect(struct tool *t)
{
	struct cfs_repo *repo;
	char err[512] = "";
	int r;

	if (t->argc != 2 || t->argv[1][0] == '-')
		tool_usage_error("oci inspect: expected NAME");
	repo = tool_open_repo(t, true);
	r = cfs_oci_image_get(repo, t->argv[1], inspect_one, repo, err, sizeof(err));
	if (r < 0)
		tool_die("%s", err[0] ? err : strerror(-r));
	cfs_repo_free(repo);
	return EXIT_OK;
}

static int check_named(void *user, const struct cfs_oci_image_info *info)
{
	char *hex = user;

	if (!info->named)
		return -ESTALE;
	snprintf(hex, HEXBUF, "%s", info->config_digest); /* only to show it was found */
	return 0;
}

/* `oci mount [OPTION...] NAME MNT`: the repository's mount, for a name that is an OCI image. */
static int oci_mount(struct tool *t)
{
	struct cfs_repo *repo;
	char err[512] = "", seen[HEXBUF];
	const char *name = NULL;
	int r, positional = 0;

	for (int i = 1; i < t->argc; i++) {
		if (t->argv[i][0] != '-' && positional++ == 0)
			name = t->argv[i];
		else if (strcmp(t->argv[i], "--upperdir") == 0 || strcmp(t->argv[i], "--workdir") == 0 ||
			 strcmp(t->argv[i], "--trust") == 0)
			i++;
		else if (strcmp(t->argv[i], "-h") == 0 || strcmp(t->argv[i], "--help") == 0)
			return cmd_mount(t);
	}
	if (name == NULL)
		tool_usage_error("oci mount: expected NAME MOUNTPOINT");
	repo = tool_open_repo(t, true);
	r = cfs_oci_image_get(repo, name, check_named, seen, err, sizeof(err));
	if (r == -ESTALE)
		tool_die("%s: the name no longer refers to the OCI image pulled (see 'oci images')", name);
	if (r < 0)
		tool_die("%s", err[0] ? err : strerror(-r));
	cfs_repo_free(repo);
	return cmd_mount(t);
}

static int oci_rm(struct tool *t)
{
	struct cfs_repo *repo;
	char err[512];
	int ret = EXIT_OK;

	if (t->argc < 2 || t->argv[1][0] == '-')
		tool_usage_error("oci rm: expected NAME...");
	repo = tool_open_repo(t, false);
	for (int i = 1; i < t->argc; i++) {
		err[0] = '\0';
		if (cfs_oci_remove(repo, t->argv[i], err, sizeof(err)) < 0) {
			tool_msg("%s", err);
			ret = EXIT_ERROR;
		}
	}
	cfs_repo_free(repo);
	return ret;
}

/* `oci layer DIFF_ID > x.tar` (cfsctl's name): never onto a terminal. */
static int oci_layer(struct tool *t)
{
	struct cfs_repo *repo;
	char err[1024] = "";
	int r;

	if (t->argc == 2 && (strcmp(t->argv[1], "-h") == 0 || strcmp(t->argv[1], "--help") == 0)) {
		printf("Usage: %s oci layer DIFF_ID > FILE\n"
		       "Write the tar of layer DIFF_ID (\"sha256:...\"), re-created from its split stream with\n"
		       "every object verified, to standard output. Exits 1 when the result does not match\n"
		       "DIFF_ID (what was written is then not the layer).\n",
		       tool_prog);
		return EXIT_OK;
	}
	if (t->argc != 2 || t->argv[1][0] == '-')
		tool_usage_error("oci layer: expected DIFF_ID");
	if (isatty(STDOUT_FILENO))
		tool_die("oci layer: refusing to write a tar to a terminal; redirect it to a file or a pipe");
	repo = tool_open_repo(t, true);
	r = cfs_oci_layer_cat(repo, t->argv[1], STDOUT_FILENO, err, sizeof(err));
	if (r < 0)
		tool_die("oci layer: %s", err[0] ? err : strerror(-r));
	cfs_repo_free(repo);
	return EXIT_OK;
}

static int fsck_report(void *user, const char *image, const char *diff_id, int result, const char *detail)
{
	(void)user;
	if (result < 0)
		printf("layer %s (of %s): %s\n", diff_id, image, detail);
	return 0;
}

static int oci_fsck(struct tool *t)
{
	struct cfs_oci_fsck_stats st;
	struct cfs_repo *repo;
	char err[1024] = "";
	int r;

	if (t->argc == 2 && (strcmp(t->argv[1], "-h") == 0 || strcmp(t->argv[1], "--help") == 0)) {
		printf("Usage: %s oci fsck [NAME]\n"
		       "Re-create the tar of every layer of OCI image NAME (default: of every OCI image)\n"
		       "from its split stream, every object verified, and compare its sha256 with the\n"
		       "layer's diff_id. Prints one line per bad layer; exits 1 if there is one.\n",
		       tool_prog);
		return EXIT_OK;
	}
	if (t->argc > 2 || (t->argc == 2 && t->argv[1][0] == '-'))
		tool_usage_error("oci fsck: expected at most one NAME");
	repo = tool_open_repo(t, true);
	r = cfs_oci_fsck(repo, t->argc == 2 ? t->argv[1] : NULL, fsck_report, NULL, &st, err, sizeof(err));
	if (r < 0)
		tool_die("oci fsck: %s", err[0] ? err : strerror(-r));
	printf("%llu image(s), %llu layer(s) checked, %llu bad\n", (unsigned long long)st.images_checked,
	       (unsigned long long)st.layers_checked, (unsigned long long)st.layers_bad);
	cfs_repo_free(repo);
	return st.layers_bad > 0 ? EXIT_ERROR : EXIT_OK;
}

int cmd_oci(struct tool *t)
{
	static const struct {
		const char *name;
		int (*fn)(struct tool *t);
	} cmds[] = {
		{ "pull", oci_pull }, { "images", oci_images }, { "inspect", oci_inspect },
		{ "mount", oci_mount }, { "rm", oci_rm }, { "layer", oci_layer }, { "fsck", oci_fsck },
	};

	if (t->argc < 2 || strcmp(t->argv[1], "--help") == 0 || strcmp(t->argv[1], "-h") == 0) {
		oci_usage();
		return t->argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, t->argv[1]) == 0) {
			t->argc--;
			t->argv++;
			optind = 0;
			return cmds[i].fn(t);
		}
	}
	tool_usage_error("oci: unknown command '%s'", t->argv[1]);
}
