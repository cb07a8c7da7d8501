/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Parsing what a server sends beyond libcurl's part: symlink targets, content types; URL paths. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch-private.h"
#include "util.h"

static bool all_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

int cfs_fetch_parse_symlink_target(const char *buf, size_t len, size_t dsize, uint8_t *digest)
{
	const char *last, *prev;
	size_t last_len, hexlen = 2 * dsize;

	if (dsize == 0 || dsize > 64 || len == 0 || len > CFS_FETCH_SYMLINK_MAX)
		return -EBADMSG;
	if (buf[len - 1] == '\n')
		len--;
	if (len == 0 || memchr(buf, '\0', len) != NULL)
		return -EBADMSG;
	last = buf + len;
	while (last > buf && last[-1] != '/')
		last--;
	last_len = (size_t)(buf + len - last);
	if (last_len == hexlen) {
		if (!all_lower_hex(last, hexlen))
			return -EBADMSG;
		return cfs_hex_decode(last, hexlen, digest, dsize) < 0 ? -EBADMSG : 0;
	}
	if (last_len != hexlen - 2 || last == buf)
		return -EBADMSG;
	/* "XX/<rest>": the component before the last must be exactly two hex digits */
	prev = last - 1;
	if (prev - buf < 2 || (prev - buf > 2 && prev[-3] != '/'))
		return -EBADMSG;
	prev -= 2;
	if (!all_lower_hex(prev, 2) || !all_lower_hex(last, last_len))
		return -EBADMSG;
	if (cfs_hex_decode(prev, 2, digest, 1) < 0 || cfs_hex_decode(last, last_len, digest + 1, dsize - 1) < 0)
		return -EBADMSG;
	return 0;
}

bool cfs_fetch_is_symlink_type(const char *ct)
{
	static const char want[] = "text/x-symlink-target";
	size_t n = sizeof(want) - 1;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

int cfs_fetch_escape_path(const char *path, char **out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *o, *p;
	const char *c = path;

	*out = NULL;
	if (n == 0 || path[0] == '/')
		return -EINVAL;
	/* every component non-empty and neither "." nor ".." */
	for (;;) {
		const char *e = strchr(c, '/');
		size_t cl = e != NULL ? (size_t)(e - c) : strlen(c);

		if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		if (e == NULL)
			break;
		c = e + 1;
	}
	if (n > (SIZE_MAX - 1) / 3)
		return -ENOMEM;
	o = malloc(3 * n + 1);
	if (o == NULL)
		return -ENOMEM;
	p = o;
	for (c = path; *c; c++) {
		unsigned char ch = (unsigned char)*c;

		if (ch == '/' || unreserved(ch)) {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	*out = o;
	return 0;
}
