/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* meta.json of a repository: the fields we use, read with json-c (strict), and its writer. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "repo-private.h"
#include "util.h"

/* deeper documents are refused (meta.json has three levels) */
#define JSON_MAX_DEPTH 32

static int meta_fail(char *err, size_t errlen, const char *what)
{
	return cfs_errbuf_set(err, errlen, -EPROTO, "meta.json: %s", what);
}

/* A non-negative integer member; -EPROTO for another type or a negative value. */
static int get_uint(json_object *v, uint64_t *out)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int))
		return -EPROTO;
	n = json_object_get_int64(v);
	if (n < 0)
		return -EPROTO;
	*out = (uint64_t)n;
	return 0;
}

static int parse_features(json_object *feat, struct cfs_repo_meta *m, char *err, size_t errlen)
{
	static const char *const kinds[] = { "read-only-compatible", "incompatible" };

	if (!json_object_is_type(feat, json_type_object))
		return meta_fail(err, errlen, "\"features\" is not an object");
	for (size_t k = 0; k < 2; k++) {
		json_object *arr;
		size_t n;

		if (!json_object_object_get_ex(feat, kinds[k], &arr))
			continue;
		if (!json_object_is_type(arr, json_type_array))
			return meta_fail(err, errlen, "a feature list is not an array");
		n = json_object_array_length(arr);
		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(arr, i);
			const char *val;

			if (!json_object_is_type(e, json_type_string))
				return meta_fail(err, errlen, "a feature is not a string");
			val = json_object_get_string(e);
			if (k == 0 && strcmp(val, "v1_erofs") == 0)
				m->v1_flag = true;
			else if (k == 0 && m->unknown_ro[0] == '\0')
				snprintf(m->unknown_ro, sizeof(m->unknown_ro), "%.63s", val);
			else if (k == 1 && m->unknown_incompat[0] == '\0')
				snprintf(m->unknown_incompat, sizeof(m->unknown_incompat), "%.63s", val);
		}
	}
	return 0;
}

static int parse_formats(json_object *fmt, struct cfs_repo_meta *m, char *err, size_t errlen)
{
	json_object *v;
	uint64_t n;

	if (!json_object_is_type(fmt, json_type_object))
		return meta_fail(err, errlen, "\"erofs_formats\" is not an object");
	if (json_object_object_get_ex(fmt, "default", &v)) {
		if (get_uint(v, &n) < 0 || n > 255)
			return meta_fail(err, errlen, "erofs_formats.default out of range");
		m->erofs_default = (int)n;
	}
	if (json_object_object_get_ex(fmt, "extra", &v)) {
		size_t len;

		if (!json_object_is_type(v, json_type_array))
			return meta_fail(err, errlen, "erofs_formats.extra is not an array");
		len = json_object_array_length(v);
		for (size_t i = 0; i < len; i++) {
			if (get_uint(json_object_array_get_idx(v, i), &n) < 0 || n > 255)
				return meta_fail(err, errlen, "erofs_formats.extra out of range");
			/* duplicates of the default are ignored by composefs-rs too;
			 * dropped after both members are read */
			m->erofs_extra_mask |= 1u << (n & 31);
		}
	}
	return 0;
}

static int parse_root(json_object *root, struct cfs_repo_meta *m, char *err, size_t errlen)
{
	json_object *v;
	uint64_t n;
	const char *alg;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return meta_fail(err, errlen, "not a JSON object");
	if (!json_object_object_get_ex(root, "version", &v))
		return meta_fail(err, errlen, "no \"version\"");
	if (get_uint(v, &n) < 0)
		return meta_fail(err, errlen, "\"version\" is not a non-negative integer");
	m->version = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	if (!json_object_object_get_ex(root, "algorithm", &v))
		return meta_fail(err, errlen, "no \"algorithm\"");
	if (!json_object_is_type(v, json_type_string))
		return meta_fail(err, errlen, "\"algorithm\" is not a string");
	alg = json_object_get_string(v);
	if (strcmp(alg, "fsverity-sha256-12") == 0)
		m->alg = CFS_HASH_SHA256;
	else if (strcmp(alg, "fsverity-sha512-12") == 0)
		m->alg = CFS_HASH_SHA512;
	else {
		char msg[128];

		snprintf(msg, sizeof(msg), "unsupported algorithm \"%.64s\"", alg);
		return meta_fail(err, errlen, msg);
	}
	if (json_object_object_get_ex(root, "features", &v) && (r = parse_features(v, m, err, errlen)) < 0)
		return r;
	if (json_object_object_get_ex(root, "erofs_formats", &v) && (r = parse_formats(v, m, err, errlen)) < 0)
		return r;
	if (m->erofs_default != CFS_REPO_EROFS_UNSET)
		m->erofs_extra_mask &= ~(1u << (m->erofs_default & 31));
	m->erofs_extra = m->erofs_extra_mask != 0;
	return 0;
}

int cfs_repo_meta_parse(const char *buf, size_t len, struct cfs_repo_meta *m, char *err, size_t errlen)
{
	struct json_tokener *tok;
	json_object *root;
	size_t used;
	int r;

	*m = (struct cfs_repo_meta){ .erofs_default = CFS_REPO_EROFS_UNSET };
	if (len > INT_MAX)
		return meta_fail(err, errlen, "too large");
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (tok == NULL)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (root == NULL) {
		enum json_tokener_error e = json_tokener_get_error(tok);
		char msg[160];

		snprintf(msg, sizeof(msg), "%s",
			 e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(e));
		json_tokener_free(tok);
		return meta_fail(err, errlen, msg);
	}
	used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	/* one document: only white space after it */
	for (; used < len; used++) {
		if (!strchr(" \t\r\n", buf[used]) || buf[used] == '\0') {
			json_object_put(root);
			return meta_fail(err, errlen, "trailing data");
		}
	}
	r = parse_root(root, m, err, errlen);
	json_object_put(root);
	return r;
}

int cfs_repo_meta_render(enum cfs_hash_alg alg, char *buf, size_t len)
{
	const char *name = alg == CFS_HASH_SHA512 ? "sha512" : alg == CFS_HASH_SHA256 ? "sha256" : NULL;
	int n;

	if (name == NULL)
		return -EINVAL;
	/* Same fields, order and pretty-printing as composefs-rs writes them. */
	n = snprintf(buf, len,
		     "{\n"
		     "  \"version\": %d,\n"
		     "  \"algorithm\": \"fsverity-%s-12\",\n"
		     "  \"features\": {\n"
		     "    \"compatible\": [],\n"
		     "    \"read-only-compatible\": [\n"
		     "      \"v1_erofs\"\n"
		     "    ],\n"
		     "    \"incompatible\": []\n"
		     "  },\n"
		     "  \"erofs_formats\": {\n"
		     "    \"default\": 1\n"
		     "  }\n"
		     "}\n",
		     CFS_REPO_FORMAT_VERSION, name);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
