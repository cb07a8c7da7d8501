/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Minimal assertion helpers for the unit tests (active in every build type). */
#ifndef CFS_TESTUTIL_H
#define CFS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                  \
	do {                                                                                \
		long long _a = (long long)(a), _b = (long long)(b);                           \
		if (_a != _b) {                                                             \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, \
				__LINE__, #a, _a, #b, _b);                                  \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                  \
	do {                                                                                \
		const char *_a = (a), *_b = (b);                                            \
		if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {                      \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,   \
				__LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)");       \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#endif
