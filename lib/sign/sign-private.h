/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* lib/sign: helpers shared by the signer, the trust set and the repository storage. */
#ifndef CFS_SIGN_PRIVATE_H
#define CFS_SIGN_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

/* Largest key, certificate or trust file read (bytes). */
#define CFS_SIGN_MAX_INPUT (1024 * 1024)

/*
 * Write "message[: openssl reason]" to @buf (may be NULL), clear this
 * thread's OpenSSL error queue and return @err.
 */
int cfs_sign_fail(char *buf, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Read all of @fd (at most @max bytes; -EFBIG beyond) into a malloc()ed buffer. */
int cfs_sign_read_fd(int fd, size_t max, uint8_t **buf_out, size_t *len_out);

#endif
