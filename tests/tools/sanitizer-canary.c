/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: commit one deliberate error of the kind ASan, UBSan or LSan reports. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Usage: sanitizer-canary clean|asan|ubsan|leak
 *
 * Built only in sanitizer builds; test-sanitizer-env.sh checks that each
 * error is reported with the test environment's distinct exit code, never
 * with 1 (the tools' exit code for a correct refusal), and that the shared
 * check in sanitizer-lib.sh notices it.
 */

/* volatile: the compiler must not fold the error away */
static volatile int big = INT_MAX;
static volatile size_t idx = 16;
static void *volatile kept;

int main(int argc, char **argv)
{
	char *p;

	if (argc != 2) {
		fprintf(stderr, "usage: sanitizer-canary clean|asan|ubsan|leak\n");
		return 2;
	}
	if (strcmp(argv[1], "clean") == 0)
		return 0;
	if (strcmp(argv[1], "asan") == 0) {
		p = malloc(16);
		if (p == NULL)
			return 3;
		memset(p, 0, 16);
		printf("%d\n", p[idx]); /* heap-buffer-overflow read */
		free(p);
		return 0;
	}
	if (strcmp(argv[1], "ubsan") == 0) {
		int x = big;

		printf("%d\n", x + 1); /* signed integer overflow */
		return 0;
	}
	if (strcmp(argv[1], "leak") == 0) {
		kept = malloc(100);
		kept = NULL; /* the only pointer is gone: a leak at exit */
		return 0;
	}
	fprintf(stderr, "sanitizer-canary: unknown mode %s\n", argv[1]);
	return 2;
}
