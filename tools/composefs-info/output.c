/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-info: text escaping (reference-compatible). */
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

