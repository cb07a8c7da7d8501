/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs pull: copy an image and its objects from a repository served over HTTP(S). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/fetch.h>
#include <composefs/repo.h>
#include <composefs/sign.h>

#include "composefs.h"
#include "sigcheck.h"

#define MAX_TRUST 64
#define MAX_REPORTED 1000 /* failed objects kept for the --json summary */

struct failure {
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	char detail[192];
};

struct pull_ui {
	struct tool *t;
	struct cfs_repo *repo;
	bool json;
	bool shown;
	struct failure *failed;
	size_t n_failed;
};

unsigned tool_parse_uint(const char *cmd, const char *opt, const char *s, unsigned max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		tool_usage_error("%s: %s %s: expected a number from 0 to %u", cmd, opt, s, max);
	return (unsigned)v;
}

/* Seconds (decimals allowed) to milliseconds. */
unsigned tool_parse_seconds(const char *cmd, const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > 86400)
		tool_usage_error("%s: %s %s: expected seconds (0 to 86400)", cmd, opt, s);
	return (unsigned)(v * 1000 + 0.5);
}

static void on_progress(void *user, const struct cfs_fetch_progress *p)
{
	struct pull_ui *ui = user;
	char b[32], rate[32];
	double r = p->seconds > 0 ? (double)p->bytes / p->seconds : 0;

	tool_human_size(p->bytes, b, sizeof(b));
	tool_human_size((uint64_t)r, rate, sizeof(rate));
	fprintf(stderr, "\r\033[Kobjects %llu/%llu, %s, %s/s%s", (unsigned long long)p->objects_done,
		(unsigned long long)p->objects_total, b, rate, p->objects_failed ? ", some failed" : "");
	fflush(stderr);
	ui->shown = true;
}

static void on_failed(void *user, const uint8_t *digest, int status, const char *detail)
{
	struct pull_ui *ui = user;
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];

	cfs_repo_digest_hex(ui->repo, digest, hex);
	if (ui->shown) {
		fprintf(stderr, "\r\033[K");
		ui->shown = false;
	}
	tool_msg("objects/%.2s/%s: %s (%s)", hex, hex + 2, detail, strerror(-status));
	if (ui->json && ui->n_failed < MAX_REPORTED) {
		if (ui->failed == NULL && (ui->failed = calloc(MAX_REPORTED, sizeof(*ui->failed))) == NULL)
			return;
		snprintf(ui->failed[ui->n_failed].hex, sizeof(ui->failed[0].hex), "%s", hex);
		snprintf(ui->failed[ui->n_failed].detail, sizeof(ui->failed[0].detail), "%s", detail);
		ui->n_failed++;
	}
}


static void print_json(const struct pull_ui *ui, const char *url, const char *ref, const char *hex,
		       const struct cfs_pull_stats *st, const char *error)
{
	printf("{\n  \"url\": ");
	tool_json_string(stdout, url);
	printf(",\n  \"ref\": ");
	tool_json_string(stdout, ref);
	printf(",\n  \"digest\": ");
	if (hex != NULL)
		tool_json_string(stdout, hex);
	else
		printf("null");
	printf(",\n  \"ok\": %s,\n  \"error\": ", error == NULL ? "true" : "false");
	if (error != NULL)
		tool_json_string(stdout, error);
	else
		printf("null");
	printf(",\n  \"image_fetched\": %s,\n  \"objects\": %llu,\n  \"objects_present\": %llu,\n"
	       "  \"objects_fetched\": %llu,\n  \"objects_failed\": %llu,\n  \"bytes\": %llu,\n"
	       "  \"retries\": %llu,\n  \"signatures\": %llu,\n  \"signatures_bad\": %llu,\n"
	       "  \"signatures_trusted\": %llu,\n  \"seconds\": %.3f,\n  \"failed\": [",
	       st->image_fetched ? "true" : "false", (unsigned long long)st->objects,
	       (unsigned long long)st->objects_present, (unsigned long long)st->objects_fetched,
	       (unsigned long long)st->objects_failed, (unsigned long long)st->bytes, (unsigned long long)st->retries,
	       (unsigned long long)st->signatures, (unsigned long long)st->signatures_bad,
	       (unsigned long long)st->signatures_trusted, st->seconds);
	for (size_t i = 0; i < ui->n_failed; i++) {
		printf("%s\n    { \"object\": \"%s\", \"error\": ", i ? "," : "", ui->failed[i].hex);
		tool_json_string(stdout, ui->failed[i].detail);
		printf(" }");
	}
	printf("%s]\n}\n", ui->n_failed ? "\n  " : "");
}

static void pull_usage(void)
{
	printf("Usage: %s pull [OPTION...] URL REF\n"
	       "Copy the image REF (a name under images/refs/ on the server, or a digest) and\n"
	       "every object it needs that the repository lacks from the repository served at\n"
	       "URL; each object is stored only if its fs-verity digest is its name. Name the\n"
	       "image REF locally, fetch its signatures, print its digest.\n\n"
	       "  -j, --jobs N            transfers at once (default 16)\n"
	       "  --retries N             further attempts after a failure (default 4)\n"
	       "  --retry-delay SEC       first wait before retrying, doubled each time (default 0.25)\n"
	       "  --connect-timeout SEC   to establish a connection (default 10)\n"
	       "  --timeout SEC           a transfer receiving nothing for this long fails (default 30)\n"
	       "  --cacert FILE           trust these CAs (PEM) instead of the system's\n"
	       "  --insecure              do not check the server's TLS certificate\n"
	       "  --http1.1               no HTTP/2\n"
	       "  --name NAME             name the image NAME here instead of REF\n"
	       "  --require-signature     refuse unless a signature fetched with the image is\n"
	       "                          accepted by a --trust certificate (checked before any\n"
	       "                          object is fetched)\n"
	       "  --trust CERT|DIR        trusted certificates (repeatable)\n"
	       "  --json                  print a JSON summary on standard output\n",
	       tool_prog);
}

int cmd_pull(struct tool *t)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "retries", required_argument, NULL, 'R' },
		{ "retry-delay", required_argument, NULL, 'D' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "cacert", required_argument, NULL, 'A' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "http1.1", no_argument, NULL, '1' },
		{ "name", required_argument, NULL, 'N' },
		{ "require-signature", no_argument, NULL, 'S' },
		{ "trust", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfs_fetch_opts fo;
	struct cfs_pull_opts po;
	struct cfs_pull_stats st;
	struct pull_ui ui = { .t = t };
	struct cfs_fetch *f = NULL;
	struct cfs_trust *trust = NULL;
	const char *trust_paths[MAX_TRUST];
	size_t n_trust = 0;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1], err[1024] = "";
	const char *url, *ref;
	int c, r;

	cfs_fetch_opts_init(&fo);
	cfs_pull_opts_init(&po);
	while ((c = tool_getopt(t, "hj:", opts)) != -1) {
		switch (c) {
		case 'j':
			fo.jobs = tool_parse_uint("pull", "--jobs", optarg, 1024);
			if (fo.jobs == 0)
				tool_usage_error("pull: --jobs must be at least 1");
			break;
		case 'R': fo.retries = tool_parse_uint("pull", "--retries", optarg, 100); break;
		case 'D': fo.retry_delay_ms = tool_parse_seconds("pull", "--retry-delay", optarg); break;
		case 'C': fo.connect_timeout_ms = tool_parse_seconds("pull", "--connect-timeout", optarg); break;
		case 'T': fo.stall_timeout_ms = tool_parse_seconds("pull", "--timeout", optarg); break;
		case 'A': fo.cacert = optarg; break;
		case 'k': fo.flags |= CFS_FETCH_INSECURE; break;
		case '1': fo.flags |= CFS_FETCH_HTTP1; break;
		case 'N':
			po.name = strncmp(optarg, "refs/", 5) == 0 ? optarg + 5 : optarg;
			if (!cfs_repo_ref_name_valid(po.name))
				tool_usage_error("pull: invalid name '%s'", optarg);
			break;
		case 'S': po.flags |= CFS_PULL_REQUIRE_SIGNATURE; break;
		case 't':
			if (n_trust == MAX_TRUST)
				tool_usage_error("pull: more than %d --trust options", MAX_TRUST);
			trust_paths[n_trust++] = optarg;
			break;
		case 'J': ui.json = true; break;
		case 'h': pull_usage(); return EXIT_OK;
		}
	}
	if (t->argc - optind != 2)
		tool_usage_error("pull: expected URL REF");
	if (((po.flags & CFS_PULL_REQUIRE_SIGNATURE) != 0) != (n_trust > 0))
		tool_usage_error("pull: --require-signature and --trust go together");
	url = t->argv[optind];
	ref = t->argv[optind + 1];
	if (n_trust > 0) {
		trust = tool_load_trust(trust_paths, n_trust);
		po.trust = trust;
	}
	if (t->progress) {
		fo.progress = on_progress;
		fo.progress_user = &ui;
	}
	r = cfs_fetch_new(url, &fo, &f, err, sizeof(err));
	if (r == -EINVAL)
		tool_usage_error("pull: %s: %s", url, err);
	if (r < 0)
		tool_die("pull: %s", err);
	ui.repo = tool_open_repo(t, false);
	po.failed = on_failed;
	po.user = &ui;
	r = cfs_repo_pull(ui.repo, f, ref, &po, digest, &st, err, sizeof(err));
	if (ui.shown)
		fprintf(stderr, "\r\033[K");
	if (r == 0)
		cfs_repo_digest_hex(ui.repo, digest, hex);
	if (ui.json)
		print_json(&ui, url, ref, r == 0 ? hex : NULL, &st, r == 0 ? NULL : err);
	else if (r == 0)
		printf("%s\n", hex);
	if (r < 0)
		tool_msg("pull %s: %s", ref, err);
	cfs_fetch_free(f);
	cfs_repo_free(ui.repo);
	cfs_trust_free(trust);
	free(ui.failed);
	return r == 0 ? EXIT_OK : EXIT_ERROR;
}
