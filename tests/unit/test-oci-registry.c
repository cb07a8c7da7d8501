/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of the registry texts: image references, WWW-Authenticate, auth files, token answers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oci-private.h"
#include "testutil.h"

static void test_refs(void)
{
	struct oci_regref r;
	char err[256];

	CHECK_EQ_INT(oci_regref_parse("127.0.0.1:5000/test/img:v1", &r, err, sizeof(err)), 0);
	CHECK_EQ_STR(r.host, "127.0.0.1:5000");
	CHECK_EQ_STR(r.api_host, "127.0.0.1:5000");
	CHECK_EQ_STR(r.repo, "test/img");
	CHECK_EQ_STR(r.tag, "v1");
	CHECK_EQ_INT(r.digest[0], 0);
	oci_regref_clear(&r);

	CHECK_EQ_INT(oci_regref_parse("localhost/a/b-c/d_e", &r, err, sizeof(err)), 0);
	CHECK_EQ_STR(r.host, "localhost");
	CHECK_EQ_STR(r.repo, "a/b-c/d_e");
	CHECK_EQ_STR(r.tag, "latest");
	oci_regref_clear(&r);

	/* Docker Hub: no host, official images under library/ */
	CHECK_EQ_INT(oci_regref_parse("debian:12", &r, err, sizeof(err)), 0);
	CHECK_EQ_STR(r.host, "docker.io");
	CHECK_EQ_STR(r.api_host, "registry-1.docker.io");
	CHECK_EQ_STR(r.repo, "library/debian");
	CHECK_EQ_STR(r.tag, "12");
	oci_regref_clear(&r);
	CHECK_EQ_INT(oci_regref_parse("user/app", &r, err, sizeof(err)), 0);
	CHECK_EQ_STR(r.repo, "user/app");
	oci_regref_clear(&r);

	CHECK_EQ_INT(oci_regref_parse("[::1]:5000/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				      &r, err, sizeof(err)), 0);
	CHECK_EQ_STR(r.host, "[::1]:5000");
	CHECK(r.tag == NULL);
	CHECK_EQ_STR(r.digest, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	oci_regref_clear(&r);

	CHECK_EQ_INT(oci_regref_parse("h.io/x@sha512:00", &r, err, sizeof(err)), -EOPNOTSUPP);
	CHECK_EQ_INT(oci_regref_parse("h.io/x@sha256:00", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h.io/../x", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h.io/Upper", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("a..b", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h.io/a._b", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h.io/a___b", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h.io/a__b/c---d", &r, err, sizeof(err)), 0);
	oci_regref_clear(&r);
	CHECK_EQ_INT(oci_regref_parse("h.io/x:bad/tag", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h.io/x?y", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h:99999999/x", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("u@h.io/x", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_regref_parse("h.io/", &r, err, sizeof(err)), -EINVAL);
}

static void test_challenges(void)
{
	struct oci_challenge c;
	const char *h;

	h = "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	    "scope=\"repository:library/ubuntu:pull\"";
	CHECK_EQ_INT(oci_challenge_parse(h, strlen(h), &c), 0);
	CHECK_EQ_INT(c.scheme, OCI_AUTH_BEARER);
	CHECK_EQ_STR(c.realm, "https://auth.docker.io/token");
	CHECK_EQ_STR(c.service, "registry.docker.io");
	CHECK_EQ_STR(c.scope, "repository:library/ubuntu:pull");
	oci_challenge_clear(&c);

	/* several challenges in one value: Bearer preferred; quoted escapes; unknown parameters */
	h = "Basic realm=\"x\", Bearer realm=\"http://h/t?a=b\" , error=\"invalid_token\", service=s\\v";
	CHECK_EQ_INT(oci_challenge_parse(h, strlen(h), &c), -EINVAL); /* a backslash outside quotes */
	h = "Basic realm=\"x\", Bearer realm=\"http://h/t?a=\\\"b\" , error=\"invalid_token\", service=svc";
	CHECK_EQ_INT(oci_challenge_parse(h, strlen(h), &c), 0);
	CHECK_EQ_INT(c.scheme, OCI_AUTH_BEARER);
	CHECK_EQ_STR(c.realm, "http://h/t?a=\"b");
	CHECK_EQ_STR(c.service, "svc");
	CHECK(c.scope == NULL);
	oci_challenge_clear(&c);

	h = "basic realm=\"Registry Realm\"";
	CHECK_EQ_INT(oci_challenge_parse(h, strlen(h), &c), 0);
	CHECK_EQ_INT(c.scheme, OCI_AUTH_BASIC);
	oci_challenge_clear(&c);

	h = "Bearer service=x";
	CHECK_EQ_INT(oci_challenge_parse(h, strlen(h), &c), -EINVAL); /* no realm */
	h = "Bearer realm=\"unterminated";
	CHECK_EQ_INT(oci_challenge_parse(h, strlen(h), &c), -EINVAL);
	CHECK_EQ_INT(oci_challenge_parse("", 0, &c), -EINVAL);
	CHECK_EQ_INT(oci_challenge_parse("=x", 2, &c), -EINVAL);
	CHECK_EQ_INT(oci_challenge_parse("Bearer\0realm=x", 14, &c), -EINVAL);
}

static void test_authfile(void)
{
	struct oci_cred cred;
	char err[256];
	/* alice:s3cret:pw, foo:bar, ns:user, hub:pw */
	const char *f = "{\"auths\": {\"127.0.0.1:5000\": {\"auth\": \"YWxpY2U6czNjcmV0OnB3\"},"
			" \"127.0.0.1:5000/team\": {\"auth\": \"bnM6dXNlcg==\"},"
			" \"https://index.docker.io/v1/\": {\"auth\": \"aHViOnB3\"},"
			" \"other:1\": {\"auth\": \"Zm9vOmJhcg==\"}}}";

	CHECK_EQ_INT(oci_authfile_lookup(f, strlen(f), "127.0.0.1:5000", "test/img", &cred, err, sizeof(err)), 0);
	CHECK_EQ_STR(cred.user, "alice");
	CHECK_EQ_STR(cred.password, "s3cret:pw");
	oci_cred_clear(&cred);
	/* a namespace entry wins for repositories under it, on whole components */
	CHECK_EQ_INT(oci_authfile_lookup(f, strlen(f), "127.0.0.1:5000", "team/app", &cred, err, sizeof(err)), 0);
	CHECK_EQ_STR(cred.user, "ns");
	oci_cred_clear(&cred);
	CHECK_EQ_INT(oci_authfile_lookup(f, strlen(f), "127.0.0.1:5000", "teams/app", &cred, err, sizeof(err)), 0);
	CHECK_EQ_STR(cred.user, "alice");
	oci_cred_clear(&cred);
	CHECK_EQ_INT(oci_authfile_lookup(f, strlen(f), "docker.io", "library/x", &cred, err, sizeof(err)), 0);
	CHECK_EQ_STR(cred.user, "hub");
	oci_cred_clear(&cred);
	CHECK_EQ_INT(oci_authfile_lookup(f, strlen(f), "127.0.0.1", "x", &cred, err, sizeof(err)), -ENOENT);
	CHECK_EQ_INT(oci_authfile_lookup("{}", 2, "h", "x", &cred, err, sizeof(err)), -ENOENT);
	f = "{\"auths\": {\"h\": {\"auth\": \"bm9jb2xvbg==\"}}}"; /* "nocolon" */
	CHECK_EQ_INT(oci_authfile_lookup(f, strlen(f), "h", "x", &cred, err, sizeof(err)), -EINVAL);
	f = "{\"auths\": {\"h\": {\"auth\": \"!!!!\"}}}";
	CHECK_EQ_INT(oci_authfile_lookup(f, strlen(f), "h", "x", &cred, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_authfile_lookup("{\"auths\": {", 11, "h", "x", &cred, err, sizeof(err)), -EINVAL);
}

static void test_token(void)
{
	char err[256], *t = NULL;
	const char *a = "{\"token\": \"abc.def\", \"expires_in\": 60}", *b = "{\"access_token\": \"xyz\"}";

	CHECK_EQ_INT(oci_token_parse(a, strlen(a), &t, err, sizeof(err)), 0);
	CHECK_EQ_STR(t, "abc.def");
	free(t);
	CHECK_EQ_INT(oci_token_parse(b, strlen(b), &t, err, sizeof(err)), 0);
	CHECK_EQ_STR(t, "xyz");
	free(t);
	a = "{\"token\": \"a\\r\\nX-Injected: 1\"}";
	CHECK_EQ_INT(oci_token_parse(a, strlen(a), &t, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_token_parse("{\"token\": \"\"}", 13, &t, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(oci_token_parse("[]", 2, &t, err, sizeof(err)), -EINVAL);

	CHECK_EQ_INT(oci_base64_encode("alice:pw", 8, &t), 0);
	CHECK_EQ_STR(t, "YWxpY2U6cHc=");
	free(t);
}

int main(void)
{
	test_refs();
	test_challenges();
	test_authfile();
	test_token();
	return 0;
}
