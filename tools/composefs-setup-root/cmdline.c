/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: parse composefs= and composefs.digest= from the kernel command line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"

#define WORD_MAX 512

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A printable, bounded excerpt of @s for messages (the command line may hold any byte). */
static void excerpt(char *buf, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < size; s++)
		buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[n] = '\0';
	if (n + 1 == size && *s != '\0' && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static int parse_value(const char *param, const char *value, struct sr_request *r, char *err,
		       size_t errlen)
{
	const char *hex = value;
	char shown[80];

	memset(r, 0, sizeof(*r));
	if (*hex == '?') {
		r->insecure = true;
		hex++;
	}
	if (strcmp(param, "composefs.digest") == 0) {
		if (strncmp(hex, "v1-sha256-12:", 13) == 0) {
			r->alg = CFS_HASH_SHA256;
		} else if (strncmp(hex, "v1-sha512-12:", 13) == 0) {
			r->alg = CFS_HASH_SHA512;
		} else {
			excerpt(shown, sizeof(shown), value);
			snprintf(err, errlen, "%s=%s: expected v1-sha256-12:HEX or v1-sha512-12:HEX",
				 param, shown);
			return -EINVAL;
		}
		hex += 13;
	}
	r->digest_len = strlen(hex) / 2;
	if (r->alg == 0)
		r->alg = r->digest_len == 64 ? CFS_HASH_SHA512 : CFS_HASH_SHA256;
	if (strlen(hex) != 2 * cfs_verity_digest_size(r->alg) ||
	    cfs_digest_from_hex(hex, r->digest, cfs_verity_digest_size(r->alg)) < 0) {
		excerpt(shown, sizeof(shown), value);
		snprintf(err, errlen, "%s=%s: expected %s hex digits", param, shown,
			 r->alg == CFS_HASH_SHA512 ? "128" : "64 (sha256) or 128 (sha512)");
		return -EINVAL;
	}
	r->digest_len = cfs_verity_digest_size(r->alg);
	cfs_digest_to_hex(r->digest, r->digest_len, r->hex);
	return 0;
}

int sr_cmdline_parse(const char *text, size_t len, struct sr_request *out, char *err, size_t errlen)
{
	char word[WORD_MAX + 1];
	struct sr_request cur;
	bool found = false;
	size_t i = 0;

	while (i < len) {
		size_t n = 0;
		bool quoted = false, toolong = false;
		const char *eq, *param;
		int r;

		while (i < len && is_space(text[i]))
			i++;
		if (i == len)
			break;
		for (; i < len && (quoted || !is_space(text[i])); i++) {
			if (text[i] == '"') {
				quoted = !quoted;
				continue;
			}
			if (n == WORD_MAX)
				toolong = true;
			else
				word[n++] = text[i] == '\0' ? '\x01' : text[i];
		}
		word[n] = '\0';
		if (strcmp(word, "--") == 0)
			break;
		eq = strchr(word, '=');
		if (eq == NULL)
			continue;
		if ((size_t)(eq - word) == 9 && memcmp(word, "composefs", 9) == 0)
			param = "composefs";
		else if ((size_t)(eq - word) == 16 && memcmp(word, "composefs.digest", 16) == 0)
			param = "composefs.digest";
		else
			continue;
		if (toolong) {
			snprintf(err, errlen, "%s=: value longer than %d bytes", param, WORD_MAX);
			return -EINVAL;
		}
		r = parse_value(param, eq + 1, &cur, err, errlen);
		if (r < 0)
			return r;
		if (found && (cur.alg != out->alg || cur.insecure != out->insecure ||
			      memcmp(cur.digest, out->digest, cur.digest_len) != 0)) {
			snprintf(err, errlen, "the command line names two different images (%s%s and %s%s)",
				 out->insecure ? "?" : "", out->hex, cur.insecure ? "?" : "", cur.hex);
			return -EINVAL;
		}
		*out = cur;
		found = true;
	}
	if (!found) {
		snprintf(err, errlen, "no composefs= or composefs.digest= on the kernel command line");
		return -ENOENT;
	}
	return 0;
}
