/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The OCI distribution API over libcurl: ping, token and basic authentication, manifests, blob streams. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include <composefs/composefs.h>
#include <composefs/version.h>

#include "oci-private.h"
#include "util.h"

#define DEFAULT_RETRIES 4
#define DEFAULT_RETRY_DELAY_MS 250
#define MAX_RETRY_DELAY_MS 30000
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_HEADER_VALUE 8192
#define MAX_TOKEN_ANSWER (1u << 20)
/* a blob stream holds at most this much that the reader has not taken yet */
#define BLOB_BUFFER (1u << 20)
#define RECV_BUFFER (64 * 1024)
#define USER_AGENT "composefs-c/" CFS_VERSION_STRING

static const char *const manifest_accept =
	"Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.docker.distribution.manifest.v2+json";

struct oci_registry {
	struct oci_regref ref;
	char *base;          /* "https://HOST[:PORT]" */
	bool insecure;
	char *cacert;
	unsigned retries, retry_delay_ms, timeout_ms;
	struct oci_cred cred;
	char *cred_origin;   /* the auth file the credentials came from */
	char *auth;          /* "Authorization: ..." once authenticated */
	CURL *easy;          /* small requests, one reused connection */
};

/* What one response said, beyond its body. */
struct resp {
	long code;
	char *challenge;     /* WWW-Authenticate */
	char *content_range;
	/* body in memory (small requests) */
	char *body;
	size_t len, max;
	bool too_big;
};

struct oci_rblob {
	struct oci_registry *r;
	char *url;
	char digest[OCI_DIGEST_LEN + 1];
	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdrs;
	struct resp resp;
	uint8_t *buf;
	size_t off, len;
	uint64_t got;        /* blob bytes received, all attempts: where a resumed request starts */
	uint64_t skip;       /* this attempt: bytes a server ignoring the range sends again */
	bool checked_start;  /* this attempt's answer was checked against @got */
	bool paused, eof, reauthed;
	int failed;
	unsigned attempt, delay_ms;
	char curl_err[CURL_ERROR_SIZE];
	char err[512];
};

static void resp_reset(struct resp *p)
{
	free(p->challenge);
	free(p->content_range);
	free(p->body);
	p->challenge = p->content_range = p->body = NULL;
	p->len = 0;
	p->code = 0;
	p->too_big = false;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *dup_value(const char *v, size_t n)
{
	while (n > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	return strndup(v, n);
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	struct resp *p = user;
	size_t len = size * n;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* a new response (after a redirect or 100): what the earlier one said is gone */
		free(p->challenge);
		free(p->content_range);
		p->challenge = p->content_range = NULL;
	} else if (len > 17 && len < MAX_HEADER_VALUE && strncasecmp(data, "WWW-Authenticate:", 17) == 0 &&
		   p->challenge == NULL) {
		p->challenge = dup_value(data + 17, len - 17);
	} else if (len > 14 && len < 256 && strncasecmp(data, "Content-Range:", 14) == 0 && p->content_range == NULL) {
		p->content_range = dup_value(data + 14, len - 14);
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct resp *p = user;
	size_t len = size * n;
	char *nb;

	if (p->len + len > p->max) {
		p->too_big = true;
		return 0;
	}
	nb = realloc(p->body, p->len + len + 1);
	if (nb == NULL)
		return 0;
	memcpy(nb + p->len, data, len);
	p->body = nb;
	p->len += len;
	p->body[p->len] = '\0';
	return len;
}

static void common_opts(struct oci_registry *r, CURL *e, const char *url, struct curl_slist *hdrs, char *errbuf)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* registries send blobs from storage elsewhere; curl drops our Authorization on another host */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)((r->timeout_ms + 999) / 1000));
	if (r->cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, r->cacert);
	if (r->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static bool curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_PARTIAL_FILE: case CURLE_GOT_NOTHING:
	case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool http_retryable(long code)
{
	return code == 408 || code == 429 || (code >= 500 && code <= 599);
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* The header list of a request: Accept (may be NULL), our Authorization (@auth may be NULL). */
static int make_headers(const char *accept, const char *auth, struct curl_slist **out)
{
	struct curl_slist *h = NULL, *t;

	if (accept != NULL) {
		t = curl_slist_append(h, accept);
		if (t == NULL)
			goto nomem;
		h = t;
	}
	if (auth != NULL) {
		t = curl_slist_append(h, auth);
		if (t == NULL)
			goto nomem;
		h = t;
	}
	*out = h;
	return 0;
nomem:
	curl_slist_free_all(h);
	return -ENOMEM;
}

/*
 * GET @url into @p (body up to @max bytes), retrying transfer failures and 408/429/5xx up to
 * @retries times. Returns 0 for 2xx; -EACCES for 401 (@p holds the challenge); -ENOENT for
 * 404; -EIO for other answers; transfer errors as curl_errno(). @what names it in @err.
 */
static int request(struct oci_registry *r, const char *url, const char *accept, const char *auth, size_t max,
		   unsigned retries, struct resp *p, const char *what, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL;
	unsigned delay = r->retry_delay_ms;
	int ret = make_headers(accept, auth, &hdrs);

	if (ret < 0)
		return ret;
	for (unsigned attempt = 0;; attempt++) {
		CURLcode c;
		bool retry;

		resp_reset(p);
		p->max = max;
		curl_err[0] = '\0';
		curl_easy_reset(r->easy);
		common_opts(r, r->easy, url, hdrs, curl_err);
		curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, p);
		curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, p);
		c = curl_easy_perform(r->easy);
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &p->code);
		if (c == CURLE_OK && p->code >= 200 && p->code < 300) {
			ret = 0;
			break;
		}
		if (c == CURLE_WRITE_ERROR && p->too_big) {
			ret = cfs_errbuf_set(err, errlen, -EFBIG, "%s: more than %zu bytes", what, max);
			break;
		}
		if (c == CURLE_OK && p->code == 401) {
			ret = -EACCES;
			break;
		}
		if (c == CURLE_OK && (p->code == 404 || p->code == 410)) {
			ret = cfs_errbuf_set(err, errlen, -ENOENT, "%s: not found (HTTP %ld)", what, p->code);
			break;
		}
		retry = c == CURLE_OK ? http_retryable(p->code) : curl_retryable(c);
		if (!retry || attempt >= retries) {
			if (c == CURLE_OK)
				ret = cfs_errbuf_set(err, errlen, p->code == 403 ? -EACCES : -EIO, "%s: HTTP %ld (%u attempt%s)",
					       what, p->code, attempt + 1, attempt ? "s" : "");
			else
				ret = cfs_errbuf_set(err, errlen, curl_errno(c), "%s: %s (%u attempt%s)", what,
					       curl_err[0] ? curl_err : curl_easy_strerror(c), attempt + 1,
					       attempt ? "s" : "");
			break;
		}
		sleep_ms(delay);
		delay = delay * 2 > MAX_RETRY_DELAY_MS ? MAX_RETRY_DELAY_MS : delay * 2;
	}
	curl_slist_free_all(hdrs);
	return ret;
}

static int basic_header(const struct oci_cred *c, char **out)
{
	char *pair = NULL, *b64 = NULL;
	int r;

	if (asprintf(&pair, "%s:%s", c->user, c->password) < 0)
		return -ENOMEM;
	r = oci_base64_encode(pair, strlen(pair), &b64);
	OPENSSL_cleanse(pair, strlen(pair));
	free(pair);
	if (r < 0)
		return r;
	r = asprintf(out, "Authorization: Basic %s", b64) < 0 ? -ENOMEM : 0;
	OPENSSL_cleanse(b64, strlen(b64));
	free(b64);
	return r;
}

static int no_credentials(struct oci_registry *r, const char *scheme, char *err, size_t errlen)
{
	return cfs_errbuf_set(err, errlen, -EACCES,
			"%s asks for credentials (%s) and none were found for it (--authfile, $REGISTRY_AUTH_FILE, "
			"containers/auth.json, ~/.docker/config.json)",
			r->ref.host, scheme);
}

/* A token from the realm of a Bearer challenge, sent with our credentials when we have any. */
static int fetch_token(struct oci_registry *r, const struct oci_challenge *c, char **header, char *err,
		       size_t errlen)
{
	char *url = NULL, *svc = NULL, *scope = NULL, *basic = NULL, *token = NULL, *def_scope = NULL, msg[256] = "";
	struct resp p = { 0 };
	int ret;

	if (strncmp(c->realm, "https://", 8) != 0 && strncmp(c->realm, "http://", 7) != 0)
		return cfs_errbuf_set(err, errlen, -EACCES, "%s: token realm \"%.200s\" is not an http(s) URL", r->ref.host,
				c->realm);
	if (asprintf(&def_scope, "repository:%s:pull", r->ref.repo) < 0)
		return -ENOMEM;
	svc = c->service != NULL ? curl_easy_escape(r->easy, c->service, 0) : NULL;
	scope = curl_easy_escape(r->easy, c->scope != NULL ? c->scope : def_scope, 0);
	ret = -ENOMEM;
	if (scope == NULL || (c->service != NULL && svc == NULL))
		goto out;
	if (asprintf(&url, "%s%cscope=%s%s%s", c->realm, strchr(c->realm, '?') != NULL ? '&' : '?', scope,
		     svc != NULL ? "&service=" : "", svc != NULL ? svc : "") < 0) {
		url = NULL;
		goto out;
	}
	if (r->cred.user != NULL && (ret = basic_header(&r->cred, &basic)) < 0)
		goto out;
	ret = request(r, url, NULL, basic, MAX_TOKEN_ANSWER, r->retries, &p, "token", msg, sizeof(msg));
	if (ret == -EACCES)
		ret = r->cred.user != NULL
			      ? cfs_errbuf_set(err, errlen, -EACCES, "%s: the token server %s refused the credentials of %s",
					 r->ref.host, c->realm, r->cred_origin)
			      : no_credentials(r, "Bearer", err, errlen);
	else if (ret < 0)
		ret = cfs_errbuf_set(err, errlen, ret, "%s: token server %s: %s", r->ref.host, c->realm, msg);
	if (ret == 0) {
		ret = oci_token_parse(p.body != NULL ? p.body : "", p.len, &token, msg, sizeof(msg));
		if (ret < 0)
			ret = cfs_errbuf_set(err, errlen, -EACCES, "%s: token server %s: %s", r->ref.host, c->realm, msg);
	}
	if (ret == 0 && asprintf(header, "Authorization: Bearer %s", token) < 0)
		ret = -ENOMEM;
out:
	if (basic != NULL)
		OPENSSL_cleanse(basic, strlen(basic));
	free(basic);
	free(token);
	free(url);
	free(def_scope);
	curl_free(svc);
	curl_free(scope);
	resp_reset(&p);
	return ret;
}

/* Answer the challenge of a 401: set r->auth for the requests that follow. */
static int authenticate(struct oci_registry *r, const char *challenge, char *err, size_t errlen)
{
	struct oci_challenge c;
	char *header = NULL;
	int ret;

	if (challenge == NULL || oci_challenge_parse(challenge, strlen(challenge), &c) < 0)
		return cfs_errbuf_set(err, errlen, -EACCES, "%s: HTTP 401 without a usable WWW-Authenticate challenge",
				r->ref.host);
	if (c.scheme == OCI_AUTH_BEARER) {
		ret = fetch_token(r, &c, &header, err, errlen);
	} else if (c.scheme == OCI_AUTH_BASIC) {
		ret = r->cred.user != NULL ? basic_header(&r->cred, &header) : no_credentials(r, "Basic", err, errlen);
	} else {
		ret = cfs_errbuf_set(err, errlen, -EOPNOTSUPP, "%s: unsupported authentication scheme", r->ref.host);
	}
	oci_challenge_clear(&c);
	if (ret < 0)
		return ret;
	if (r->auth != NULL)
		OPENSSL_cleanse(r->auth, strlen(r->auth));
	free(r->auth);
	r->auth = header;
	return 0;
}

/* GET base + @path with our authorization; a 401 is answered once, then the request repeated. */
static int get(struct oci_registry *r, const char *path, const char *accept, size_t max, struct resp *p,
	       const char *what, char *err, size_t errlen)
{
	char *url = NULL;
	int ret;

	if (asprintf(&url, "%s%s", r->base, path) < 0)
		return -ENOMEM;
	ret = request(r, url, accept, r->auth, max, r->retries, p, what, err, errlen);
	if (ret == -EACCES) {
		bool had_auth = r->auth != NULL;

		ret = authenticate(r, p->challenge, err, errlen);
		if (ret == 0)
			ret = request(r, url, accept, r->auth, max, r->retries, p, what, err, errlen);
		if (ret == -EACCES)
			ret = r->cred.user != NULL || had_auth
				      ? cfs_errbuf_set(err, errlen, -EACCES, "%s: access refused (HTTP 401)%s%s", what,
						 r->cred_origin ? " with the credentials of " : "",
						 r->cred_origin ? r->cred_origin : "")
				      : no_credentials(r, "HTTP 401", err, errlen);
	}
	free(url);
	return ret;
}

/* --- credentials --- */

static int read_small_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 0, n = 0;
	char *b = NULL;

	if (f == NULL)
		return -errno;
	for (;;) {
		char *nb;
		size_t k;

		if (n == cap) {
			if (cap >= (1u << 20)) {
				free(b);
				fclose(f);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 4096;
			nb = realloc(b, cap + 1);
			if (nb == NULL) {
				free(b);
				fclose(f);
				return -ENOMEM;
			}
			b = nb;
		}
		k = fread(b + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		free(b);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* Credentials for the registry from @path: 0 found, -ENOENT none (or no file, when @optional). */
static int creds_from(struct oci_registry *r, const char *path, bool optional, char *err, size_t errlen)
{
	char *buf = NULL, msg[256] = "";
	size_t len = 0;
	int ret = read_small_file(path, &buf, &len);

	if (ret == -ENOENT && optional)
		return -ENOENT;
	if (ret < 0)
		return cfs_errbuf_set(err, errlen, ret, "auth file %s: %s", path, strerror(-ret));
	ret = oci_authfile_lookup(buf, len, r->ref.host, r->ref.repo, &r->cred, msg, sizeof(msg));
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (ret == -ENOENT)
		return ret;
	if (ret < 0)
		return cfs_errbuf_set(err, errlen, ret, "auth file %s: %s", path, msg);
	r->cred_origin = strdup(path);
	return r->cred_origin != NULL ? 0 : -ENOMEM;
}

/* The file given, or the first of the places podman and skopeo look that names the registry. */
static int find_creds(struct oci_registry *r, const char *authfile, char *err, size_t errlen)
{
	const char *env = getenv("REGISTRY_AUTH_FILE"), *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	char path[4096];
	int ret;

	if (authfile != NULL) {
		ret = creds_from(r, authfile, false, err, errlen);
		return ret == -ENOENT ? 0 : ret;
	}
	if (env != NULL && env[0] != '\0') {
		ret = creds_from(r, env, false, err, errlen);
		return ret == -ENOENT ? 0 : ret;
	}
	if (xdg != NULL && xdg[0] == '/' && snprintf(path, sizeof(path), "%s/containers/auth.json", xdg) < (int)sizeof(path)) {
		ret = creds_from(r, path, true, err, errlen);
		if (ret != -ENOENT)
			return ret;
	}
	if (home != NULL && home[0] == '/') {
		snprintf(path, sizeof(path), "%s/.config/containers/auth.json", home);
		ret = creds_from(r, path, true, err, errlen);
		if (ret != -ENOENT)
			return ret;
		snprintf(path, sizeof(path), "%s/.docker/config.json", home);
		ret = creds_from(r, path, true, err, errlen);
		if (ret != -ENOENT)
			return ret;
	}
	return 0;
}

/* --- the registry --- */

void oci_registry_free(struct oci_registry *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	oci_regref_clear(&r->ref);
	oci_cred_clear(&r->cred);
	if (r->auth != NULL)
		OPENSSL_cleanse(r->auth, strlen(r->auth));
	free(r->auth);
	free(r->cred_origin);
	free(r->base);
	free(r->cacert);
	free(r);
	curl_global_cleanup();
}

const struct oci_regref *oci_registry_ref(const struct oci_registry *r)
{
	return &r->ref;
}

/* GET /v2/ at @scheme: 0 (a registry; authenticated when it asked), or why not. */
static int ping(struct oci_registry *r, const char *scheme, unsigned retries, char *err, size_t errlen)
{
	struct resp p = { 0 };
	char *url = NULL;
	int ret;

	free(r->base);
	if (asprintf(&r->base, "%s://%s", scheme, r->ref.api_host) < 0 || asprintf(&url, "%s/v2/", r->base) < 0) {
		free(url);
		return -ENOMEM;
	}
	ret = request(r, url, NULL, NULL, 65536, retries, &p, r->base, err, errlen);
	if (ret == -EACCES)
		ret = authenticate(r, p.challenge, err, errlen);
	else if (ret == -ENOENT)
		ret = cfs_errbuf_set(err, errlen, -ENOENT, "%s: no registry there (HTTP %ld for /v2/)", r->base, p.code);
	resp_reset(&p);
	free(url);
	return ret;
}

int oci_registry_open(const char *ref, const struct cfs_oci_pull_opts *o, struct oci_registry **out, char *err,
		      size_t errlen)
{
	struct oci_registry *r;
	char msg[512] = "";
	int ret;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return cfs_errbuf_set(err, errlen, -EIO, "libcurl initialisation failed");
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	r->insecure = o != NULL && (o->flags & CFS_OCI_PULL_TLS_NO_VERIFY) != 0;
	r->retries = o != NULL ? o->retries : DEFAULT_RETRIES;
	r->retry_delay_ms = o != NULL ? o->retry_delay_ms : DEFAULT_RETRY_DELAY_MS;
	r->timeout_ms = o != NULL && o->timeout_ms != 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	ret = oci_regref_parse(ref, &r->ref, msg, sizeof(msg));
	if (ret < 0) {
		ret = cfs_errbuf_set(err, errlen, ret, "docker://%s: %s", ref, msg);
		goto fail;
	}
	ret = -ENOMEM;
	r->easy = curl_easy_init();
	if (r->easy == NULL || (o != NULL && o->cacert != NULL && (r->cacert = strdup(o->cacert)) == NULL))
		goto fail;
	ret = find_creds(r, o != NULL ? o->authfile : NULL, err, errlen);
	if (ret < 0)
		goto fail;
	/* without TLS checks, a registry that does not speak HTTPS is asked over HTTP */
	ret = ping(r, "https", r->insecure ? 0 : r->retries, err, errlen);
	if (r->insecure && ret < 0 && ret != -EACCES && ret != -ENOMEM)
		ret = ping(r, "http", r->retries, err, errlen);
	if (ret < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	oci_registry_free(r);
	return ret;
}

int oci_registry_manifest(struct oci_registry *r, const char *reference, char **buf, size_t *len, char *err,
			  size_t errlen)
{
	char path[1024], what[700], actual[OCI_DIGEST_LEN + 1];
	struct resp p = { 0 };
	int ret;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->ref.repo, reference);
	snprintf(what, sizeof(what), "manifest %s%c%s", r->ref.repo, oci_digest_valid(reference) ? '@' : ':',
		 reference);
	ret = get(r, path, manifest_accept, OCI_JSON_MAX, &p, what, err, errlen);
	if (ret == 0 && oci_digest_valid(reference)) {
		oci_sha256_digest(p.body != NULL ? p.body : "", p.len, actual);
		if (strcmp(actual, reference) != 0)
			ret = cfs_errbuf_set(err, errlen, -CFS_EDIGEST, "%s: content has digest %s", what, actual);
	}
	if (ret == 0) {
		*buf = p.body != NULL ? p.body : strdup("");
		*len = p.len;
		p.body = NULL;
		ret = *buf != NULL ? 0 : -ENOMEM;
	}
	resp_reset(&p);
	return ret;
}

/* --- blob streams --- */

static size_t blob_body(char *data, size_t size, size_t n, void *user)
{
	struct oci_rblob *b = user;
	size_t len = size * n, drop;
	long code = 0;

	curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200 && code != 206)
		return len; /* an error page: the end of the transfer decides */
	if (!b->checked_start) {
		unsigned long long start = 0;

		/* a resumed request: a 206 must start where we are, a 200 starts again from 0 */
		if (code == 206 && (b->resp.content_range == NULL ||
				    sscanf(b->resp.content_range, "bytes %llu-", &start) != 1 || start != b->got)) {
			snprintf(b->err, sizeof(b->err), "blob %s: range answer does not start at byte %llu", b->digest,
				 (unsigned long long)b->got);
			return 0;
		}
		b->skip = code == 200 ? b->got : 0;
		b->checked_start = true;
	}
	drop = b->skip < len ? (size_t)b->skip : len;
	if (b->len - b->off + (len - drop) > BLOB_BUFFER) {
		/* the reader is behind: curl keeps these bytes and offers them again after the unpause */
		b->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (b->off > 0 && b->len + len - drop > BLOB_BUFFER) {
		memmove(b->buf, b->buf + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	memcpy(b->buf + b->len, data + drop, len - drop);
	b->len += len - drop;
	b->skip -= drop;
	b->got += len - drop;
	return len;
}

static int blob_start(struct oci_rblob *b)
{
	struct oci_registry *r = b->r;
	char range[64];

	if (b->easy != NULL) {
		curl_multi_remove_handle(b->multi, b->easy);
		curl_easy_cleanup(b->easy);
	}
	curl_slist_free_all(b->hdrs);
	b->hdrs = NULL;
	resp_reset(&b->resp);
	b->checked_start = false;
	b->paused = false;
	b->easy = curl_easy_init();
	if (b->easy == NULL || make_headers(NULL, r->auth, &b->hdrs) < 0)
		return -ENOMEM;
	b->curl_err[0] = '\0';
	common_opts(r, b->easy, b->url, b->hdrs, b->curl_err);
	curl_easy_setopt(b->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(b->easy, CURLOPT_HEADERDATA, &b->resp);
	curl_easy_setopt(b->easy, CURLOPT_WRITEFUNCTION, blob_body);
	curl_easy_setopt(b->easy, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(b->easy, CURLOPT_BUFFERSIZE, (long)RECV_BUFFER);
	if (b->got > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)b->got);
		curl_easy_setopt(b->easy, CURLOPT_RANGE, range);
	}
	return curl_multi_add_handle(b->multi, b->easy) == CURLM_OK ? 0 : -EIO;
}

/* The end of one attempt: done, or answered (401), retried, or failed for good. */
static int blob_attempt_done(struct oci_rblob *b, CURLcode c)
{
	long code = 0;
	bool retry;

	curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &code);
	if (c == CURLE_OK && (code == 200 || code == 206)) {
		b->eof = true;
		return 0;
	}
	if (c == CURLE_OK && code == 401 && !b->reauthed) {
		char msg[512] = "";
		int r;

		b->reauthed = true;
		r = authenticate(b->r, b->resp.challenge, msg, sizeof(msg));
		if (r < 0)
			return cfs_errbuf_set(b->err, sizeof(b->err), r, "blob %s: %s", b->digest, msg);
		return blob_start(b);
	}
	if (c == CURLE_OK && (code == 404 || code == 410))
		return cfs_errbuf_set(b->err, sizeof(b->err), -ENOENT, "blob %s: not found (HTTP %ld)", b->digest, code);
	if (c == CURLE_OK && (code == 401 || code == 403))
		return cfs_errbuf_set(b->err, sizeof(b->err), -EACCES, "blob %s: access refused (HTTP %ld)", b->digest, code);
	if (b->err[0] != '\0') /* our own refusal in the body callback */
		return -EIO;
	retry = c == CURLE_OK ? http_retryable(code) : curl_retryable(c);
	if (!retry || b->attempt >= b->r->retries) {
		if (c == CURLE_OK)
			return cfs_errbuf_set(b->err, sizeof(b->err), -EIO, "blob %s: HTTP %ld (%u attempts)", b->digest, code,
					b->attempt + 1);
		return cfs_errbuf_set(b->err, sizeof(b->err), curl_errno(c), "blob %s: %s (%u attempts)", b->digest,
				b->curl_err[0] ? b->curl_err : curl_easy_strerror(c), b->attempt + 1);
	}
	b->attempt++;
	sleep_ms(b->delay_ms);
	b->delay_ms = b->delay_ms * 2 > MAX_RETRY_DELAY_MS ? MAX_RETRY_DELAY_MS : b->delay_ms * 2;
	return blob_start(b);
}

int oci_registry_blob_open(struct oci_registry *r, const char *digest, struct oci_rblob **out, char *err,
			   size_t errlen)
{
	struct oci_rblob *b;
	int ret;

	if (!oci_digest_valid(digest))
		return cfs_errbuf_set(err, errlen, -EINVAL, "invalid blob digest");
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->r = r;
	b->delay_ms = r->retry_delay_ms;
	memcpy(b->digest, digest, sizeof(b->digest));
	b->buf = malloc(BLOB_BUFFER);
	b->multi = curl_multi_init();
	ret = -ENOMEM;
	if (b->buf == NULL || b->multi == NULL || asprintf(&b->url, "%s/v2/%s/blobs/%s", r->base, r->ref.repo, digest) < 0)
		goto fail;
	ret = blob_start(b);
	if (ret < 0)
		goto fail;
	*out = b;
	return 0;
fail:
	oci_rblob_close(b);
	return cfs_errbuf_set(err, errlen, ret, "blob %s: cannot start the transfer", digest);
}

ssize_t oci_rblob_read(struct oci_rblob *b, void *buf, size_t len)
{
	for (;;) {
		CURLMsg *m;
		int running, q;

		if (b->off < b->len) {
			size_t n = b->len - b->off < len ? b->len - b->off : len;

			memcpy(buf, b->buf + b->off, n);
			b->off += n;
			if (b->off == b->len)
				b->off = b->len = 0;
			return (ssize_t)n;
		}
		if (b->failed < 0)
			return b->failed;
		if (b->eof)
			return 0;
		if (b->paused) {
			b->paused = false;
			curl_easy_pause(b->easy, CURLPAUSE_CONT);
			continue;
		}
		if (curl_multi_perform(b->multi, &running) != CURLM_OK) {
			b->failed = cfs_errbuf_set(b->err, sizeof(b->err), -EIO, "blob %s: libcurl failed", b->digest);
			continue;
		}
		while ((m = curl_multi_info_read(b->multi, &q)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			b->failed = blob_attempt_done(b, m->data.result);
			break; /* a restarted attempt has a new handle: ask the multi again */
		}
		if (b->off < b->len || b->eof || b->paused || b->failed < 0)
			continue;
		curl_multi_poll(b->multi, NULL, 0, 1000, NULL);
	}
}

const char *oci_rblob_errmsg(const struct oci_rblob *b)
{
	return b->err;
}

void oci_rblob_close(struct oci_rblob *b)
{
	if (b == NULL)
		return;
	if (b->easy != NULL) {
		curl_multi_remove_handle(b->multi, b->easy);
		curl_easy_cleanup(b->easy);
	}
	if (b->multi != NULL)
		curl_multi_cleanup(b->multi);
	curl_slist_free_all(b->hdrs);
	resp_reset(&b->resp);
	free(b->buf);
	free(b->url);
	free(b);
}
