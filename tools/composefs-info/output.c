/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-info: text escaping (reference-compatible) and JSON string output. */
#include <stdio.h>
#include <string.h>

#include "info.h"

void info_print_escaped(FILE *out, const char *s, bool keep_space)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned c = *p;

		switch (c) {
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			/* printable ASCII as is (space only when asked), else \xNN */
			if ((c > 0x20 && c < 0x7f) || (keep_space && c == 0x20))
				fputc((int)c, out);
			else
				fprintf(out, "\\x%.2x", c);
		}
	}
}

/* Length of a valid UTF-8 sequence at @p (at most @n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void info_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	fputc('"', out);
	while (n > 0) {
		size_t l = utf8_seq(p, n);

		if (l == 0) {
			/* not UTF-8: the byte as the code point of the same value */
			fprintf(out, "\\u%04x", p[0]);
			l = 1;
		} else if (l == 1) {
			switch (p[0]) {
			case '"': fputs("\\\"", out); break;
			case '\\': fputs("\\\\", out); break;
			case '\n': fputs("\\n", out); break;
			case '\r': fputs("\\r", out); break;
			case '\t': fputs("\\t", out); break;
			default:
				if (p[0] < 0x20 || p[0] == 0x7f)
					fprintf(out, "\\u%04x", p[0]);
				else
					fputc(p[0], out);
			}
		} else {
			fwrite(p, 1, l, out);
		}
		p += l;
		n -= l;
	}
	fputc('"', out);
}
