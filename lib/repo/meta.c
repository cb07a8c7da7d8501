/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* meta.json of a repository: a small strict JSON reader for the fields we use, and its writer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "repo-private.h"

#define JSON_MAX_DEPTH 32

struct jp {
	const char *p;
	const char *end;
	char *err;
	size_t errlen;
	int depth;
};

static int jp_fail(struct jp *j, const char *what)
{
	if (j->err != NULL && j->errlen > 0)
		snprintf(j->err, j->errlen, "meta.json: %s", what);
	return -EPROTO;
}

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int jp_expect(struct jp *j, char c)
{
	jp_ws(j);
	if (j->p >= j->end || *j->p != c) {
		char msg[48];

		snprintf(msg, sizeof(msg), "expected '%c'", c);
		return jp_fail(j, msg);
	}
	j->p++;
	return 0;
}

/* Peek at the next non-blank character (0 at the end). */
static char jp_peek(struct jp *j)
{
	jp_ws(j);
	return j->p < j->end ? *j->p : 0;
}

/* A string into @out (NUL-terminated; longer strings are an error). @out may be
 * NULL to skip. Escapes other than \uXXXX of ASCII become '?'. */
static int jp_string(struct jp *j, char *out, size_t outlen)
{
	size_t n = 0;

	if (jp_expect(j, '"') < 0)
		return -EPROTO;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;

		if (c < 0x20)
			return jp_fail(j, "control character in string");
		if (c == '\\') {
			if (j->p >= j->end)
				break;
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned v = 0;

				if (j->end - j->p < 4)
					return jp_fail(j, "short \\u escape");
				for (int i = 0; i < 4; i++) {
					char h = *j->p++;

					v <<= 4;
					if (h >= '0' && h <= '9')
						v |= (unsigned)(h - '0');
					else if (h >= 'a' && h <= 'f')
						v |= (unsigned)(h - 'a' + 10);
					else if (h >= 'A' && h <= 'F')
						v |= (unsigned)(h - 'A' + 10);
					else
						return jp_fail(j, "bad \\u escape");
				}
				c = (v > 0 && v < 0x80) ? (unsigned char)v : '?';
				break;
			}
			default:
				return jp_fail(j, "bad escape in string");
			}
		}
		if (out != NULL) {
			if (n + 1 >= outlen)
				return jp_fail(j, "string too long");
			out[n++] = (char)c;
		}
	}
	if (j->p >= j->end)
		return jp_fail(j, "unterminated string");
	j->p++;
	if (out != NULL)
		out[n] = '\0';
	return 0;
}

static int jp_uint(struct jp *j, uint64_t *v)
{
	uint64_t x = 0;
	const char *start;

	jp_ws(j);
	start = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return jp_fail(j, "number too large");
		x = x * 10 + (uint64_t)(*j->p++ - '0');
	}
	if (j->p == start)
		return jp_fail(j, "expected a non-negative integer");
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return jp_fail(j, "expected an integer");
	*v = x;
	return 0;
}

static int jp_skip(struct jp *j);

static int jp_skip_container(struct jp *j, char open, char close)
{
	int r;

	if (++j->depth > JSON_MAX_DEPTH)
		return jp_fail(j, "nested too deeply");
	if ((r = jp_expect(j, open)) < 0)
		return r;
	if (jp_peek(j) == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		if (open == '{') {
			if ((r = jp_string(j, NULL, 0)) < 0 || (r = jp_expect(j, ':')) < 0)
				return r;
		}
		if ((r = jp_skip(j)) < 0)
			return r;
		if (jp_peek(j) == ',') {
			j->p++;
			continue;
		}
		if ((r = jp_expect(j, close)) < 0)
			return r;
		j->depth--;
		return 0;
	}
}

static int jp_literal(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return jp_fail(j, "unexpected token");
	j->p += n;
	return 0;
}

static int jp_skip(struct jp *j)
{
	switch (jp_peek(j)) {
	case '{':
		return jp_skip_container(j, '{', '}');
	case '[':
		return jp_skip_container(j, '[', ']');
	case '"':
		return jp_string(j, NULL, 0);
	case 't':
		return jp_literal(j, "true");
	case 'f':
		return jp_literal(j, "false");
	case 'n':
		return jp_literal(j, "null");
	default:
		if (*j->p == '-')
			j->p++;
		if (j->p >= j->end || !((*j->p >= '0' && *j->p <= '9')))
			return jp_fail(j, "unexpected token");
		while (j->p < j->end && strchr("0123456789.eE+-", *j->p) != NULL)
			j->p++;
		return 0;
	}
}

/* Iterate an array: *first tells whether it is the first call; returns 1 while
 * there is another element to read, 0 at the end. */
static int jp_array_next(struct jp *j, bool *first)
{
	int r;

	if (*first) {
		*first = false;
		if ((r = jp_expect(j, '[')) < 0)
			return r;
		if (jp_peek(j) == ']') {
			j->p++;
			return 0;
		}
		return 1;
	}
	if (jp_peek(j) == ',') {
		j->p++;
		return 1;
	}
	if ((r = jp_expect(j, ']')) < 0)
		return r;
	return 0;
}

/* Same for the members of an object; the key goes to @key. */
static int jp_object_next(struct jp *j, bool *first, char *key, size_t keylen)
{
	int r;

	if (*first) {
		*first = false;
		if ((r = jp_expect(j, '{')) < 0)
			return r;
		if (jp_peek(j) == '}') {
			j->p++;
			return 0;
		}
	} else {
		if (jp_peek(j) == '}') {
			j->p++;
			return 0;
		}
		if ((r = jp_expect(j, ',')) < 0)
			return r;
	}
	if ((r = jp_string(j, key, keylen)) < 0 || (r = jp_expect(j, ':')) < 0)
		return r;
	return 1;
}

static int parse_features(struct jp *j, struct cfs_repo_meta *m)
{
	char key[64], val[128];
	bool first = true;
	int r;

	while ((r = jp_object_next(j, &first, key, sizeof(key))) > 0) {
		bool ro = strcmp(key, "read-only-compatible") == 0;
		bool incompat = strcmp(key, "incompatible") == 0;
		bool afirst = true;

		if (!ro && !incompat) {
			if ((r = jp_skip(j)) < 0)
				return r;
			continue;
		}
		while ((r = jp_array_next(j, &afirst)) > 0) {
			if ((r = jp_string(j, val, sizeof(val))) < 0)
				return r;
			if (ro && strcmp(val, "v1_erofs") == 0)
				m->v1_flag = true;
			else if (ro && m->unknown_ro[0] == '\0')
				snprintf(m->unknown_ro, sizeof(m->unknown_ro), "%.63s", val);
			else if (incompat && m->unknown_incompat[0] == '\0')
				snprintf(m->unknown_incompat, sizeof(m->unknown_incompat), "%.63s", val);
		}
		if (r < 0)
			return r;
	}
	return r;
}

static int parse_formats(struct jp *j, struct cfs_repo_meta *m)
{
	char key[64];
	bool first = true;
	uint64_t v;
	int r;

	while ((r = jp_object_next(j, &first, key, sizeof(key))) > 0) {
		if (strcmp(key, "default") == 0) {
			if ((r = jp_uint(j, &v)) < 0)
				return r;
			if (v > 255)
				return jp_fail(j, "erofs_formats.default out of range");
			m->erofs_default = (int)v;
		} else if (strcmp(key, "extra") == 0) {
			bool afirst = true;

			while ((r = jp_array_next(j, &afirst)) > 0) {
				if ((r = jp_uint(j, &v)) < 0)
					return r;
				/* duplicates of the default are ignored by composefs-rs too;
				 * decided after the loop since "default" may come later */
				if (v > 255)
					return jp_fail(j, "erofs_formats.extra out of range");
				m->erofs_extra_mask |= 1u << (v & 31);
			}
			if (r < 0)
				return r;
		} else if ((r = jp_skip(j)) < 0) {
			return r;
		}
	}
	return r;
}

static int parse_algorithm(struct jp *j, struct cfs_repo_meta *m)
{
	char val[64];
	int r;

	if ((r = jp_string(j, val, sizeof(val))) < 0)
		return r;
	if (strcmp(val, "fsverity-sha256-12") == 0)
		m->alg = CFS_HASH_SHA256;
	else if (strcmp(val, "fsverity-sha512-12") == 0)
		m->alg = CFS_HASH_SHA512;
	else {
		char msg[128];

		snprintf(msg, sizeof(msg), "unsupported algorithm \"%s\"", val);
		return jp_fail(j, msg);
	}
	return 0;
}

int cfs_repo_meta_parse(const char *buf, size_t len, struct cfs_repo_meta *m, char *err, size_t errlen)
{
	struct jp j = { .p = buf, .end = buf + len, .err = err, .errlen = errlen };
	bool first = true, have_version = false;
	char key[64];
	uint64_t v;
	int r;

	*m = (struct cfs_repo_meta){ .erofs_default = CFS_REPO_EROFS_UNSET };
	while ((r = jp_object_next(&j, &first, key, sizeof(key))) > 0) {
		if (strcmp(key, "version") == 0) {
			if ((r = jp_uint(&j, &v)) < 0)
				return r;
			m->version = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
			have_version = true;
		} else if (strcmp(key, "algorithm") == 0) {
			r = parse_algorithm(&j, m);
		} else if (strcmp(key, "features") == 0) {
			r = parse_features(&j, m);
		} else if (strcmp(key, "erofs_formats") == 0) {
			r = parse_formats(&j, m);
		} else {
			r = jp_skip(&j);
		}
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (jp_peek(&j) != 0)
		return jp_fail(&j, "trailing data");
	if (!have_version)
		return jp_fail(&j, "no \"version\"");
	if (m->alg == 0)
		return jp_fail(&j, "no \"algorithm\"");
	if (m->erofs_default != CFS_REPO_EROFS_UNSET)
		m->erofs_extra_mask &= ~(1u << (m->erofs_default & 31));
	m->erofs_extra = m->erofs_extra_mask != 0;
	return 0;
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
