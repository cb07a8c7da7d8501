/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit test of lib/fetch and lib/pull without a server: parsers, option checks, refused connections. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <composefs/composefs.h>

#include "fetch-private.h"
#include "pull-private.h"
#include "testutil.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
/* HEX64 without its first byte, "01" */
#define REST62 "23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_symlink_targets(void)
{
	uint8_t d[64], want[32];
	const char *ok[] = { "../" HEX64, "../../images/" HEX64 "\n", HEX64, "../objects/01/" REST62,
			     "01/" REST62 };
	const char *bad[] = { "", "\n", "../" HEX64 "0", "../0/" REST62, "../001/" REST62,
			      "../" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", HEX64 "\n\n",
			      "../" REST62, "../x1/" REST62 };
	char buf[256];

	CHECK_EQ_INT(cfs_digest_from_hex(HEX64, want, 32), 0);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", ok[i]);
		memset(d, 0, sizeof(d));
		CHECK_EQ_INT(cfs_fetch_parse_symlink_target(buf, strlen(buf), 32, d), 0);
		CHECK(memcmp(d, want, 32) == 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cfs_fetch_parse_symlink_target(bad[i], strlen(bad[i]), 32, d) != -EBADMSG) {
			fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
			exit(1);
		}
	/* a sha256 name is not a sha512 one */
	CHECK_EQ_INT(cfs_fetch_parse_symlink_target("../" HEX64, 67, 64, d), -EBADMSG);
	CHECK_EQ_INT(cfs_fetch_parse_symlink_target("../" HEX64 HEX64, 131, 64, d), 0);
	CHECK_EQ_INT(cfs_fetch_parse_symlink_target("a\0/" HEX64, 67, 32, d), -EBADMSG);
}

static void test_content_types(void)
{
	CHECK(cfs_fetch_is_symlink_type("text/x-symlink-target"));
	CHECK(cfs_fetch_is_symlink_type("Text/X-Symlink-Target; charset=utf-8"));
	CHECK(cfs_fetch_is_symlink_type(" text/x-symlink-target ;x"));
	CHECK(!cfs_fetch_is_symlink_type(NULL));
	CHECK(!cfs_fetch_is_symlink_type("text/x-symlink-targets"));
	CHECK(!cfs_fetch_is_symlink_type("application/octet-stream"));
	CHECK(!cfs_fetch_is_symlink_type("text/x-symlink"));
}

static void test_escape(void)
{
	char *o = NULL;

	CHECK_EQ_INT(cfs_fetch_escape_path("images/refs/a b/c%d?#", &o), 0);
	CHECK_EQ_STR(o, "images/refs/a%20b/c%25d%3F%23");
	free(o);
	CHECK_EQ_INT(cfs_fetch_escape_path("meta.json", &o), 0);
	CHECK_EQ_STR(o, "meta.json");
	free(o);
	CHECK_EQ_INT(cfs_fetch_escape_path("", &o), -EINVAL);
	CHECK_EQ_INT(cfs_fetch_escape_path("/etc/passwd", &o), -EINVAL);
	CHECK_EQ_INT(cfs_fetch_escape_path("images/../../x", &o), -EINVAL);
	CHECK_EQ_INT(cfs_fetch_escape_path("a//b", &o), -EINVAL);
	CHECK_EQ_INT(cfs_fetch_escape_path("a/./b", &o), -EINVAL);
	CHECK_EQ_INT(cfs_fetch_escape_path("a/", &o), -EINVAL);
	CHECK(o == NULL);
}

static void test_sig_index(void)
{
	const char *b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	struct cfs_sig_name *v = NULL;
	char buf[1024];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s\n%s\n%s", b, HEX64, b);
	CHECK_EQ_INT(cfs_pull_parse_sig_index(buf, strlen(buf), &v, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_STR(v[0].hex, HEX64);
	CHECK_EQ_STR(v[1].hex, b);
	free(v);
	CHECK_EQ_INT(cfs_pull_parse_sig_index("", 0, &v, &n), 0);
	CHECK(v == NULL && n == 0);
	snprintf(buf, sizeof(buf), "%s\n\n", b);
	CHECK_EQ_INT(cfs_pull_parse_sig_index(buf, strlen(buf), &v, &n), -EBADMSG);
	snprintf(buf, sizeof(buf), "%s\r\n", b);
	CHECK_EQ_INT(cfs_pull_parse_sig_index(buf, strlen(buf), &v, &n), -EBADMSG);
	snprintf(buf, sizeof(buf), "%.63sB\n", b);
	CHECK_EQ_INT(cfs_pull_parse_sig_index(buf, strlen(buf), &v, &n), -EBADMSG);
	CHECK(v == NULL && n == 0);
}

/* A port nothing listens on: bound, never listened to. */
static int closed_port(int *fd_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*fd_out = fd;
	return ntohs(a.sin_port);
}

static void test_handle(void)
{
	struct cfs_fetch_opts o;
	struct cfs_fetch *f = NULL;
	char err[256], url[64];
	uint8_t *buf = (uint8_t *)"x";
	size_t len = 7;
	int fd, port;

	cfs_fetch_opts_init(&o);
	CHECK(o.jobs > 0 && o.retries > 0 && o.stall_timeout_ms > 0 && o.flags == 0);
	CHECK_EQ_INT(cfs_fetch_new("ftp://x/", &o, &f, err, sizeof(err)), -EINVAL);
	CHECK(f == NULL && err[0] != '\0');
	CHECK_EQ_INT(cfs_fetch_new("/local/path", NULL, &f, err, sizeof(err)), -EINVAL);
	o.flags = 1u << 7;
	CHECK_EQ_INT(cfs_fetch_new("http://127.0.0.1/", &o, &f, err, sizeof(err)), -EINVAL);
	cfs_fetch_opts_init(&o);
	o.reserved[3] = 1;
	CHECK_EQ_INT(cfs_fetch_new("http://127.0.0.1/", &o, &f, err, sizeof(err)), -EINVAL);
	cfs_fetch_opts_init(&o);
	o.jobs = 5000;
	CHECK_EQ_INT(cfs_fetch_new("http://127.0.0.1/", &o, &f, err, sizeof(err)), -EINVAL);

	port = closed_port(&fd);
	cfs_fetch_opts_init(&o);
	o.retries = 2;
	o.retry_delay_ms = 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	CHECK_EQ_INT(cfs_fetch_new(url, &o, &f, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_fetch_file(f, "../x", 100, &buf, &len, NULL), -EINVAL);
	CHECK(buf == NULL && len == 0);
	CHECK_EQ_INT(cfs_fetch_file(f, "meta.json", 100, &buf, &len, NULL), -ECONNREFUSED);
	CHECK(strstr(cfs_fetch_errmsg(f), "meta.json") != NULL && strstr(cfs_fetch_errmsg(f), "3 attempts") != NULL);
	{
		struct cfs_fetch_progress p;

		cfs_fetch_get_progress(f, &p);
		CHECK_EQ_INT(p.retries, 2);
	}
	cfs_fetch_free(f);
	cfs_fetch_free(NULL);
	close(fd);
}

int main(void)
{
	test_symlink_targets();
	test_content_types();
	test_escape();
	test_sig_index();
	test_handle();
	printf("fetch: ok\n");
	return 0;
}
