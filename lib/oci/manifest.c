/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* OCI and Docker JSON documents: image indexes, manifests, configs, docker-archive manifest.json. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "oci-private.h"
#include "util.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
/* more entries than any real index or image has; bounds the work a hostile document causes */
#define MAX_ENTRIES 4096

void oci_sha256_digest(const void *buf, size_t len, char *out)
{
	uint8_t d[32];
	unsigned n = 0;

	EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	cfs_hex_encode(d, 32, out + 7);
	out[OCI_DIGEST_LEN] = '\0';
}

bool oci_digest_valid(const char *s)
{
	if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != OCI_DIGEST_LEN)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static struct json_object *parse_json(const char *buf, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > OCI_JSON_MAX || len > (size_t)INT32_MAX) {
		cfs_errbuf_set(err, errlen, -EINVAL, "document larger than %u bytes", OCI_JSON_MAX);
		return NULL;
	}
	if (memchr(buf, '\0', len) != NULL) {
		cfs_errbuf_set(err, errlen, -EINVAL, "NUL byte in JSON document");
		return NULL;
	}
	tok = json_tokener_new_ex(64);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		cfs_errbuf_set(err, errlen, -EINVAL, "malformed JSON (%s)",
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Member @key of object @o if it has type @type; NULL otherwise. */
static struct json_object *member(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_is_type(v, type) ? v : NULL;
}

static const char *member_str(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_string);

	return v != NULL ? json_object_get_string(v) : NULL;
}

static int dup_opt(char **dst, const char *s)
{
	if (s == NULL)
		return 0;
	*dst = strdup(s);
	return *dst != NULL ? 0 : -ENOMEM;
}

static int parse_desc(struct json_object *o, struct oci_desc *d, bool with_platform, char *err, size_t errlen)
{
	struct json_object *size = member(o, "size", json_type_int);
	struct json_object *plat, *ann;
	const char *digest = member_str(o, "digest");
	int64_t sz;
	int r;

	memset(d, 0, sizeof(*d));
	if (!oci_digest_valid(digest))
		return cfs_errbuf_set(err, errlen, -EINVAL, "descriptor without a valid sha256 digest");
	snprintf(d->digest, sizeof(d->digest), "%s", digest);
	sz = size != NULL ? json_object_get_int64(size) : -1;
	if (sz < 0)
		return cfs_errbuf_set(err, errlen, -EINVAL, "descriptor %s: missing or negative size", digest);
	d->size = (uint64_t)sz;
	r = dup_opt(&d->media_type, member_str(o, "mediaType"));
	if (r == 0 && with_platform && (plat = member(o, "platform", json_type_object)) != NULL) {
		r = dup_opt(&d->os, member_str(plat, "os"));
		if (r == 0)
			r = dup_opt(&d->arch, member_str(plat, "architecture"));
		if (r == 0)
			r = dup_opt(&d->variant, member_str(plat, "variant"));
	}
	if (r == 0 && (ann = member(o, "annotations", json_type_object)) != NULL)
		r = dup_opt(&d->ref_name, member_str(ann, "org.opencontainers.image.ref.name"));
	return r;
}

static void desc_clear(struct oci_desc *d)
{
	free(d->media_type);
	free(d->os);
	free(d->arch);
	free(d->variant);
	free(d->ref_name);
	memset(d, 0, sizeof(*d));
}

void oci_doc_clear(struct oci_doc *d)
{
	for (size_t i = 0; i < d->n_descs; i++)
		desc_clear(&d->descs[i]);
	free(d->descs);
	desc_clear(&d->config);
	memset(d, 0, sizeof(*d));
}

static int parse_descs(struct json_object *arr, struct oci_doc *d, bool with_platform, char *err, size_t errlen)
{
	size_t n = json_object_array_length(arr);

	if (n > MAX_ENTRIES)
		return cfs_errbuf_set(err, errlen, -EINVAL, "more than %d entries", MAX_ENTRIES);
	d->descs = calloc(n ? n : 1, sizeof(*d->descs));
	if (d->descs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r = parse_desc(json_object_array_get_idx(arr, i), &d->descs[i], with_platform, err, errlen);

		d->n_descs = i + 1;
		if (r < 0)
			return r;
	}
	return 0;
}

int oci_doc_parse(const char *buf, size_t len, struct oci_doc *out, char *err, size_t errlen)
{
	struct json_object *o = parse_json(buf, len, err, errlen), *arr, *cfg;
	const char *mt;
	int r;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return -EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "not a JSON object");
		goto out;
	}
	if (json_object_get_int(member(o, "schemaVersion", json_type_int)) != 2) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "schemaVersion is not 2 (Docker schema 1 is not supported)");
		goto out;
	}
	mt = member_str(o, "mediaType");
	arr = member(o, "manifests", json_type_array);
	if ((mt != NULL && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0)) ||
	    (mt == NULL && arr != NULL)) {
		if (arr == NULL) {
			r = cfs_errbuf_set(err, errlen, -EINVAL, "image index without manifests");
			goto out;
		}
		out->kind = OCI_DOC_INDEX;
		r = parse_descs(arr, out, true, err, errlen);
		goto out;
	}
	if (mt != NULL && strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0) {
		r = cfs_errbuf_set(err, errlen, -EOPNOTSUPP, "unsupported media type %s", mt);
		goto out;
	}
	arr = member(o, "layers", json_type_array);
	cfg = member(o, "config", json_type_object);
	if (arr == NULL || cfg == NULL) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "manifest without config or layers");
		goto out;
	}
	out->kind = OCI_DOC_MANIFEST;
	r = parse_desc(cfg, &out->config, false, err, errlen);
	if (r == 0)
		r = parse_descs(arr, out, false, err, errlen);
out:
	json_object_put(o);
	if (r < 0)
		oci_doc_clear(out);
	return r;
}

void oci_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The strings of array @arr; @digests: each must be a valid digest. */
static int strv_from_array(struct json_object *arr, bool digests, char ***out, size_t *n_out, char *err, size_t errlen)
{
	size_t n = json_object_array_length(arr);
	char **v;

	if (n > MAX_ENTRIES)
		return cfs_errbuf_set(err, errlen, -EINVAL, "more than %d entries", MAX_ENTRIES);
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		const char *str = json_object_is_type(s, json_type_string) ? json_object_get_string(s) : NULL;

		if (str == NULL || (digests && !oci_digest_valid(str)) || str[0] == '\0') {
			oci_strv_free(v, n);
			return cfs_errbuf_set(err, errlen, -EINVAL, "entry %zu is not a %s", i,
					digests ? "valid sha256 digest" : "non-empty string");
		}
		v[i] = strdup(str);
		if (v[i] == NULL) {
			oci_strv_free(v, n);
			return -ENOMEM;
		}
	}
	*out = v;
	*n_out = n;
	return 0;
}

int oci_config_parse(const char *buf, size_t len, char ***diff_ids, size_t *n, char *err, size_t errlen)
{
	struct json_object *o = parse_json(buf, len, err, errlen), *rootfs, *ids;
	const char *type;
	int r;

	if (o == NULL)
		return -EINVAL;
	rootfs = member(o, "rootfs", json_type_object);
	type = member_str(rootfs, "type");
	ids = member(rootfs, "diff_ids", json_type_array);
	if (rootfs == NULL || ids == NULL || type == NULL || strcmp(type, "layers") != 0)
		r = cfs_errbuf_set(err, errlen, -EINVAL, "config without rootfs of type \"layers\" and diff_ids");
	else
		r = strv_from_array(ids, true, diff_ids, n, err, errlen);
	json_object_put(o);
	return r;
}

static bool has_tag(struct json_object *entry, const char *tag)
{
	struct json_object *tags = member(entry, "RepoTags", json_type_array);
	size_t n = tags != NULL ? json_object_array_length(tags) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(tags, i);

		if (json_object_is_type(s, json_type_string) && strcmp(json_object_get_string(s), tag) == 0)
			return true;
	}
	return false;
}

int oci_docker_manifest_parse(const char *buf, size_t len, const char *tag, char **config, char ***layers,
			      size_t *n_layers, char *err, size_t errlen)
{
	struct json_object *o = parse_json(buf, len, err, errlen), *entry = NULL, *arr;
	const char *cfg;
	size_t n;
	int r;

	if (o == NULL)
		return -EINVAL;
	if (!json_object_is_type(o, json_type_array)) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "manifest.json is not an array");
		goto out;
	}
	n = json_object_array_length(o);
	for (size_t i = 0; i < n && tag != NULL; i++)
		if (has_tag(json_object_array_get_idx(o, i), tag))
			entry = json_object_array_get_idx(o, i);
	if (tag == NULL && n == 1)
		entry = json_object_array_get_idx(o, 0);
	if (entry == NULL) {
		if (tag != NULL)
			r = cfs_errbuf_set(err, errlen, -ENOENT, "manifest.json has no image tagged %s", tag);
		else
			r = cfs_errbuf_set(err, errlen, -ENOENT, "manifest.json holds %zu images: name one with :TAG", n);
		goto out;
	}
	cfg = member_str(entry, "Config");
	arr = member(entry, "Layers", json_type_array);
	if (cfg == NULL || cfg[0] == '\0' || arr == NULL) {
		r = cfs_errbuf_set(err, errlen, -EINVAL, "manifest.json entry without Config or Layers");
		goto out;
	}
	*config = strdup(cfg);
	if (*config == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = strv_from_array(arr, false, layers, n_layers, err, errlen);
	if (r < 0) {
		free(*config);
		*config = NULL;
	}
out:
	json_object_put(o);
	return r;
}

void oci_host_platform(char *buf, size_t len)
{
	static const struct {
		const char *uname, *goarch;
	} map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "i686", "386" }, { "i386", "386" },
		{ "armv7l", "arm" }, { "ppc64le", "ppc64le" }, { "s390x", "s390x" }, { "riscv64", "riscv64" },
	};
	struct utsname u;
	const char *arch = "amd64";

	if (uname(&u) == 0) {
		arch = u.machine;
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(u.machine, map[i].uname) == 0)
				arch = map[i].goarch;
	}
	snprintf(buf, len, "linux/%s", arch);
}

int oci_index_select(const struct oci_doc *idx, const char *platform, size_t *which, char *err, size_t errlen)
{
	char want[128], *os, *arch, *variant;

	if (snprintf(want, sizeof(want), "%s", platform) >= (int)sizeof(want))
		return cfs_errbuf_set(err, errlen, -EINVAL, "platform %s: too long", platform);
	os = want;
	arch = strchr(os, '/');
	if (arch == NULL || arch[1] == '\0')
		return cfs_errbuf_set(err, errlen, -EINVAL, "platform %s: expected OS/ARCH[/VARIANT]", platform);
	*arch++ = '\0';
	variant = strchr(arch, '/');
	if (variant != NULL)
		*variant++ = '\0';
	for (size_t i = 0; i < idx->n_descs; i++) {
		const struct oci_desc *d = &idx->descs[i];

		if (d->os == NULL || d->arch == NULL || strcmp(d->os, os) != 0 || strcmp(d->arch, arch) != 0)
			continue;
		if (variant != NULL && (d->variant == NULL || strcmp(d->variant, variant) != 0))
			continue;
		*which = i;
		return 0;
	}
	return cfs_errbuf_set(err, errlen, -ENOENT, "no image for platform %s in the index", platform);
}
