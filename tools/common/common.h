/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Helpers shared by the command-line tools: messages and exit codes. */
#ifndef TOOL_COMMON_H
#define TOOL_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2

/* Set once in main(); messages are prefixed with it. */
extern const char *tool_prog;

/* "prog: message\n" on stderr. */
void tool_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message: strerror(-err)\n" on stderr (err is a negative errno). */
void tool_msg_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a message and exit 1. */
noreturn void tool_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void tool_die_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a message plus "Try 'prog --help'." and exit 2. */
noreturn void tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog (composefs-c) VERSION" and exit 0. */
noreturn void tool_print_version(void);

/* @x rounded up to a multiple of @a. */
#define TOOL_ALIGN_UP(x, a) ((((x) + (a)-1) / (a)) * (a))

/* A JSON string literal on @out, the one escaper of every tool's --json output: valid UTF-8
 * as is, control characters escaped, and each byte that is not UTF-8 (file names are bytes)
 * as the code point of its value (\u00NN), so the output is always valid JSON. */
void tool_json_string(FILE *out, const char *s);

/* read(2) until @len bytes, end of file or an error: the byte count or -errno. */
ssize_t tool_read_full(int fd, void *buf, size_t len);
/* write(2) all @len bytes: 0 or -errno. */
int tool_write_full(int fd, const void *buf, size_t len);

#endif
