/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Escaping and unescaping of dump fields (\\ \n \r \t \xHH). */
#include <stdlib.h>
#include <string.h>

#include "dump-private.h"
#include "util.h"

size_t cfs_dump_escape_char(uint8_t c, unsigned flags, char out[4])
{
	static const char hex[] = "0123456789abcdef";
	char simple = 0;

	switch (c) {
	case '\\':
		simple = '\\';
		break;
	case '\n':
		simple = 'n';
		break;
	case '\r':
		simple = 'r';
		break;
	case '\t':
		simple = 't';
		break;
	default:
		/* printable ASCII other than space stays as is (C-locale isgraph) */
		if (c > ' ' && c < 0x7f && !(c == '=' && (flags & CFS_ESC_EQUAL))) {
			out[0] = (char)c;
			return 1;
		}
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[c >> 4];
		out[3] = hex[c & 0xf];
		return 4;
	}
	out[0] = '\\';
	out[1] = simple;
	return 2;
}

void cfs_dump_escape_msg(const char *in, size_t len, char *out, size_t outlen)
{
	size_t pos = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		char e[4];
		size_t n = cfs_dump_escape_char((uint8_t)in[i], 0, e);

		if (pos + n + 4 > outlen) {
			if (pos + 4 <= outlen) {
				memcpy(out + pos, "...", 3);
				pos += 3;
			}
			break;
		}
		memcpy(out + pos, e, n);
		pos += n;
	}
	out[pos] = '\0';
}

char *cfs_dump_unescape(const char *in, size_t len, size_t *outlen, const char **why)
{
	char *res = malloc(len + 1), *o = res;
	const char *end = in + len;

	*why = NULL;
	if (res == NULL)
		return NULL;
	while (in < end) {
		char c = *in++;
		uint8_t byte;

		if (c != '\\') {
			*o++ = c;
			continue;
		}
		if (in == end) {
			*why = "backslash at the end of a field";
			goto fail;
		}
		switch ((c = *in++)) {
		case '\\':
			*o++ = '\\';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'x':
			if (end - in < 2) {
				*why = "\\x escape needs two hex digits";
				goto fail;
			}
			if (cfs_hex_decode(in, 2, &byte, 1) < 0) {
				*why = "invalid hex digit in \\x escape";
				goto fail;
			}
			*o++ = (char)byte;
			in += 2;
			break;
		default:
			*why = "unknown escape (only \\\\ \\n \\r \\t \\xHH exist)";
			goto fail;
		}
	}
	*o = '\0';
	if (outlen)
		*outlen = (size_t)(o - res);
	return res;
fail:
	free(res);
	return NULL;
}
