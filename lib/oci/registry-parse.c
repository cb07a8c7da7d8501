/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Registry texts from untrusted places: image references, WWW-Authenticate, auth files, token answers. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "oci-private.h"

/* Docker Hub: the name in references and auth files, and the host its API answers on. */
#define HUB_NAME "docker.io"
#define HUB_API "registry-1.docker.io"
#define MAX_HEADER 8192
#define MAX_AUTHFILE (1u << 20)

void oci_regref_clear(struct oci_regref *r)
{
	free(r->host);
	free(r->api_host);
	free(r->repo);
	free(r->tag);
	memset(r, 0, sizeof(*r));
}

static bool host_valid(const char *h, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > 255)
		return false;
	if (h[0] == '[') { /* [IPv6]:port */
		for (i = 1; i < n && h[i] != ']'; i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
				return false;
		if (i == n || i == 1)
			return false;
		i++;
	} else {
		for (; i < n && h[i] != ':'; i++)
			if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-')
				return false;
		if (i == 0 || h[0] == '-' || h[0] == '.')
			return false;
	}
	if (i == n)
		return true;
	if (h[i] != ':' || i + 1 == n || n - i - 1 > 5)
		return false;
	for (i++; i < n; i++)
		if (!isdigit((unsigned char)h[i]))
			return false;
	return true;
}

/* Repository paths as the distribution spec has them: lower-case components joined by '/'. */
static bool repo_valid(const char *s, size_t n)
{
	bool start = true;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '/') {
			if (start)
				return false;
			start = true;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			start = false;
			continue;
		}
		if ((c != '.' && c != '_' && c != '-') || start)
			return false;
		if (i + 1 == n || s[i + 1] == '/')
			return false;
		/* separators: '.', '_', "__" or a run of '-' (no "..", no "._") */
		if (s[i - 1] == '.' || s[i - 1] == '_' || s[i - 1] == '-') {
			bool dunder = c == '_' && s[i - 1] == '_' && !(i >= 2 && (s[i - 2] == '_' || s[i - 2] == '.' || s[i - 2] == '-'));

			if (!dunder && !(c == '-' && s[i - 1] == '-'))
				return false;
		}
	}
	return !start;
}

static bool tag_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

int oci_regref_parse(const char *s, struct oci_regref *out, char *err, size_t errlen)
{
	const char *at = strchr(s, '@'), *slash = strchr(s, '/'), *name_end, *colon, *repo = s;
	size_t hn = 0;
	int r = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (strlen(s) > 1024)
		return cfs_errbuf_set(err, errlen, -EINVAL, "reference longer than 1024 bytes");
	name_end = at != NULL ? at : s + strlen(s);
	if (at != NULL) {
		if (strncmp(at + 1, "sha256:", 7) != 0 && strchr(at + 1, ':') != NULL)
			return cfs_errbuf_set(err, errlen, -EOPNOTSUPP, "only sha256 digests are supported");
		if (!oci_digest_valid(at + 1))
			return cfs_errbuf_set(err, errlen, -EINVAL, "invalid digest \"%s\"", at + 1);
		memcpy(out->digest, at + 1, OCI_DIGEST_LEN + 1);
	}
	/* the first component names a registry when it looks like a host; otherwise Docker Hub */
	if (slash != NULL && slash < name_end) {
		hn = (size_t)(slash - s);
		if (memchr(s, '.', hn) == NULL && memchr(s, ':', hn) == NULL && memchr(s, '[', hn) == NULL &&
		    !(hn == 9 && strncmp(s, "localhost", 9) == 0))
			hn = 0;
	}
	if (hn > 0) {
		if (!host_valid(s, hn))
			return cfs_errbuf_set(err, errlen, -EINVAL, "invalid registry host \"%.*s\"", (int)hn, s);
		repo = s + hn + 1;
	}
	/* a tag follows the last ':' of the last component */
	colon = memchr(repo, ':', (size_t)(name_end - repo));
	if (colon != NULL) {
		out->tag = strndup(colon + 1, (size_t)(name_end - colon - 1));
		if (out->tag == NULL)
			goto fail;
		if (!tag_valid(out->tag)) {
			r = cfs_errbuf_set(err, errlen, -EINVAL, "invalid tag \"%s\"", out->tag);
			goto fail;
		}
	} else {
		colon = name_end;
	}
	if (!repo_valid(repo, (size_t)(colon - repo))) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "invalid repository name \"%.*s\"", (int)(colon - repo), repo);
		goto fail;
	}
	if (hn > 0) {
		out->host = strndup(s, hn);
		out->api_host = strndup(s, hn);
		out->repo = strndup(repo, (size_t)(colon - repo));
	} else {
		/* Docker Hub's official images live under library/ */
		bool official = memchr(repo, '/', (size_t)(colon - repo)) == NULL;

		out->host = strdup(HUB_NAME);
		out->api_host = strdup(HUB_API);
		if (asprintf(&out->repo, "%s%.*s", official ? "library/" : "", (int)(colon - repo), repo) < 0)
			out->repo = NULL;
	}
	if (out->host == NULL || out->api_host == NULL || out->repo == NULL)
		goto fail;
	if (out->tag == NULL && out->digest[0] == '\0' && (out->tag = strdup("latest")) == NULL)
		goto fail;
	return 0;
fail:
	oci_regref_clear(out);
	return r;
}

/* --- WWW-Authenticate (RFC 9110 section 11.6.1) --- */

void oci_challenge_clear(struct oci_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* A token or quoted-string value at *@pp (unescaped, malloc()ed into *@out); NULL when malformed. */
static int parse_value(const char **pp, const char *end, char **out)
{
	const char *p = *pp;
	char *v = malloc((size_t)(end - p) + 1);
	size_t n = 0;

	if (v == NULL)
		return -ENOMEM;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if ((unsigned char)*p < 0x20 && *p != '\t')
				break;
			v[n++] = *p;
		}
		if (p == end || *p != '"') {
			free(v);
			return -EINVAL;
		}
		p++;
	} else {
		/* token68 values may end in '=' padding */
		while (p < end && (tchar(*p) || *p == '/' || *p == '=' || *p == ':'))
			v[n++] = *p++;
		if (n == 0) {
			free(v);
			return -EINVAL;
		}
	}
	v[n] = '\0';
	*pp = p;
	*out = v;
	return 0;
}

static int set_param(struct oci_challenge *c, const char *name, size_t nlen, char *value)
{
	char **slot = NULL;

	if (nlen == 5 && strncasecmp(name, "realm", 5) == 0)
		slot = &c->realm;
	else if (nlen == 7 && strncasecmp(name, "service", 7) == 0)
		slot = &c->service;
	else if (nlen == 5 && strncasecmp(name, "scope", 5) == 0)
		slot = &c->scope;
	if (slot == NULL || *slot != NULL) {
		free(value); /* other parameters (error=..., charset=...) and repeats: the first counts */
		return 0;
	}
	*slot = value;
	return 0;
}

/*
 * One header value may hold several challenges ("Basic realm=x, Bearer realm=y"); a challenge
 * starts where a token is followed by a space or the end instead of '='.
 */
int oci_challenge_parse(const char *hdr, size_t len, struct oci_challenge *out)
{
	const char *p = hdr, *end = hdr + len;
	struct oci_challenge cur = { 0 }, best = { 0 };
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (len > MAX_HEADER || memchr(hdr, '\0', len) != NULL)
		return -EINVAL;
	for (;;) {
		const char *name;
		size_t nlen;

		p = skip_ws(p, end);
		while (p < end && *p == ',')
			p = skip_ws(p + 1, end);
		if (p == end)
			break;
		name = p;
		while (p < end && tchar(*p))
			p++;
		nlen = (size_t)(p - name);
		if (nlen == 0) {
			r = -EINVAL;
			break;
		}
		p = skip_ws(p, end);
		if (p < end && *p == '=' && cur.scheme != OCI_AUTH_NONE) {
			char *value;

			p = skip_ws(p + 1, end);
			r = parse_value(&p, end, &value);
			if (r == 0)
				r = set_param(&cur, name, nlen, value);
			if (r < 0)
				break;
			p = skip_ws(p, end);
			if (p < end && *p != ',') {
				r = -EINVAL;
				break;
			}
			continue;
		}
		/* a new challenge: keep the better of what came so far (Bearer over Basic) */
		if (cur.scheme > best.scheme) {
			oci_challenge_clear(&best);
			best = cur;
		} else {
			oci_challenge_clear(&cur);
		}
		memset(&cur, 0, sizeof(cur));
		if (nlen == 6 && strncasecmp(name, "bearer", 6) == 0)
			cur.scheme = OCI_AUTH_BEARER;
		else if (nlen == 5 && strncasecmp(name, "basic", 5) == 0)
			cur.scheme = OCI_AUTH_BASIC;
		else
			cur.scheme = OCI_AUTH_OTHER;
		if (p < end && *p == '=') { /* a token68 credential of an unknown scheme */
			r = -EINVAL;
			break;
		}
	}
	if (r == 0 && cur.scheme > best.scheme) {
		oci_challenge_clear(&best);
		best = cur;
		memset(&cur, 0, sizeof(cur));
	}
	oci_challenge_clear(&cur);
	if (r == 0 && best.scheme == OCI_AUTH_BEARER && (best.realm == NULL || best.realm[0] == '\0'))
		r = -EINVAL;
	if (r == 0 && best.scheme == OCI_AUTH_NONE)
		r = -EINVAL;
	if (r < 0) {
		oci_challenge_clear(&best);
		return r;
	}
	*out = best;
	return 0;
}

/* --- credentials: auth.json / config.json, base64 "user:password" --- */

/* Decoded base64 (OpenSSL) of @s, NUL-terminated; -EINVAL when it is not base64. */
static int b64_decode(const char *s, char **out, size_t *outlen)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *buf;
	int k;

	if (n == 0 || n % 4 != 0 || n > 65536)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/' && !(s[i] == '=' && i >= n - 2))
			return -EINVAL;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	if (pad == 1 && s[n - 2] == '=')
		return -EINVAL;
	buf = malloc(n / 4 * 3 + 1);
	if (buf == NULL)
		return -ENOMEM;
	k = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	if (k < 0 || (size_t)k < pad) {
		free(buf);
		return -EINVAL;
	}
	k -= (int)pad; /* EVP_DecodeBlock counts the padding as zero bytes */
	buf[k] = '\0';
	*out = (char *)buf;
	*outlen = (size_t)k;
	return 0;
}

int oci_base64_encode(const void *data, size_t len, char **out)
{
	char *buf;

	if (len > (1u << 20))
		return -EINVAL;
	buf = malloc((len + 2) / 3 * 4 + 1);
	if (buf == NULL)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)buf, data, (int)len);
	*out = buf;
	return 0;
}

/* An auth file key as a registry host (and maybe a path): no scheme, no trailing "/v1/" etc. */
static void normalize_key(const char *key, char *buf, size_t len)
{
	size_t n;

	if (strncmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncmp(key, "http://", 7) == 0)
		key += 7;
	snprintf(buf, len, "%s", key);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (n > 3 && (strcmp(buf + n - 3, "/v1") == 0 || strcmp(buf + n - 3, "/v2") == 0))
		buf[n - 3] = '\0';
	if (strcmp(buf, "index.docker.io") == 0 || strcmp(buf, HUB_API) == 0)
		snprintf(buf, len, "%s", HUB_NAME);
}

/* How well @key matches HOST/REPO: -1 not at all, else the length of what it names. */
static long key_match(const char *key, const char *host, const char *repo)
{
	char k[1024];
	size_t hl = strlen(host), kl;

	normalize_key(key, k, sizeof(k));
	kl = strlen(k);
	if (strncmp(k, host, hl) != 0 || (k[hl] != '\0' && k[hl] != '/'))
		return -1;
	if (k[hl] == '\0')
		return (long)hl;
	/* host/namespace: a prefix of the repository on whole components */
	if (strncmp(k + hl + 1, repo, kl - hl - 1) != 0 || (repo[kl - hl - 1] != '\0' && repo[kl - hl - 1] != '/'))
		return -1;
	return (long)kl;
}

int oci_authfile_lookup(const char *buf, size_t len, const char *host, const char *repo, struct oci_cred *cred,
			char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o, *auths, *entry, *v;
	const char *best_key = NULL, *b64;
	long best = -1;
	char *dec = NULL, *colon;
	size_t dlen;
	int r;

	memset(cred, 0, sizeof(*cred));
	if (len > MAX_AUTHFILE || memchr(buf, '\0', len) != NULL)
		return cfs_errbuf_set(err, errlen, -EINVAL, "not a JSON document of at most 1 MiB");
	tok = json_tokener_new_ex(32);
	if (tok == NULL)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		return cfs_errbuf_set(err, errlen, -EINVAL, "malformed JSON");
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(o, "auths", &auths) || !json_object_is_type(auths, json_type_object)) {
		r = -ENOENT; /* a docker config.json without auths */
		goto out;
	}
	json_object_object_foreach(auths, key, val) {
		long m = key_match(key, host, repo);

		if (m > best && json_object_is_type(val, json_type_object)) {
			best = m;
			best_key = key;
		}
	}
	if (best_key == NULL) {
		r = -ENOENT;
		goto out;
	}
	json_object_object_get_ex(auths, best_key, &entry);
	if (!json_object_object_get_ex(entry, "auth", &v) || !json_object_is_type(v, json_type_string)) {
		r = -ENOENT; /* e.g. an entry kept by a credential helper */
		goto out;
	}
	b64 = json_object_get_string(v);
	r = b64_decode(b64, &dec, &dlen);
	if (r == -ENOMEM)
		goto out;
	if (r < 0 || (colon = memchr(dec, ':', dlen)) == NULL || colon == dec || memchr(dec, '\0', dlen) != NULL) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "entry \"%s\": \"auth\" is not base64 of USER:PASSWORD", best_key);
		goto out;
	}
	*colon = '\0';
	cred->user = strdup(dec);
	cred->password = strdup(colon + 1);
	r = cred->user != NULL && cred->password != NULL ? 0 : -ENOMEM;
	if (r < 0)
		oci_cred_clear(cred);
out:
	if (dec != NULL)
		OPENSSL_cleanse(dec, strlen(dec));
	free(dec);
	json_object_put(o);
	return r;
}

void oci_cred_clear(struct oci_cred *c)
{
	if (c->password != NULL)
		OPENSSL_cleanse(c->password, strlen(c->password));
	free(c->user);
	free(c->password);
	memset(c, 0, sizeof(*c));
}

int oci_token_parse(const char *buf, size_t len, char **token, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	const char *t = NULL;

	if (len > (1u << 20) || memchr(buf, '\0', len) != NULL)
		return cfs_errbuf_set(err, errlen, -EINVAL, "token answer is not a JSON document of at most 1 MiB");
	tok = json_tokener_new_ex(32);
	if (tok == NULL)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		return cfs_errbuf_set(err, errlen, -EINVAL, "token answer is malformed JSON");
	}
	json_tokener_free(tok);
	if ((json_object_object_get_ex(o, "token", &v) && json_object_is_type(v, json_type_string)) ||
	    (json_object_object_get_ex(o, "access_token", &v) && json_object_is_type(v, json_type_string)))
		t = json_object_get_string(v);
	/* it goes into a header line: printable ASCII without spaces only */
	for (const char *c = t; c != NULL && *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			t = NULL;
	if (t == NULL || t[0] == '\0' || strlen(t) > 65536) {
		json_object_put(o);
		return cfs_errbuf_set(err, errlen, -EINVAL, "token answer without a usable \"token\" or \"access_token\"");
	}
	*token = strdup(t);
	json_object_put(o);
	return *token != NULL ? 0 : -ENOMEM;
}
