/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* die() of the stand-alone test tools: "PROG: message[: strerror(errno)]" on stderr, exit 1. */
#ifndef CFS_TEST_TOOL_DIE_H
#define CFS_TEST_TOOL_DIE_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* errno is read before anything is printed: stdio may change it */
__attribute__((format(printf, 2, 3), noreturn)) static inline void test_tool_die(const char *prog,
										   const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e)
		fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	exit(1);
}

/* the file defines `static const char *prog` */
#define die(...) test_tool_die(prog, __VA_ARGS__)

#endif
