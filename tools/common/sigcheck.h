/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Helpers shared by the tools that check image signatures: read files, load trust sets. */
#ifndef TOOL_SIGCHECK_H
#define TOOL_SIGCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <composefs/sign.h>

/* Read all of @path (at most @max bytes) into a malloc()ed buffer; exits 1 on failure. */
void tool_read_file(const char *path, size_t max, uint8_t **buf_out, size_t *len_out);

/* A trust set from @n files or directories of certificates; exits 1 on failure. */
struct cfs_trust *tool_load_trust(const char *const *paths, size_t n);

/*
 * Check the signature in the file @sig_path against the fs-verity digest of
 * @alg/@digest when @alg is not 0, else against the digest of @image_fd (the
 * measured digest then goes to @alg/@digest, for the caller to pin the mount
 * to those bytes). @what names the image in messages. Exits 1 when the
 * signature is not acceptable.
 */
void tool_check_signature(struct cfs_trust *trust, const char *sig_path, int image_fd,
			  const char *what, uint32_t *alg, uint8_t *digest);

/* What tool_repo_signature_find() tried: how many stored signatures, why the last was refused. */
struct tool_sig_seen {
	unsigned n_seen;
	char last[512];
};

/*
 * Whether a signature stored in @repo for image @alg/@digest verifies against
 * @trust: 1 (cfs_trust_signer() names who signed), 0 when none does (@seen
 * says how many were tried), or -errno with @err set when the signatures
 * cannot be listed. Exits on nothing: setup-root reports through its caller.
 */
int tool_repo_signature_find(struct cfs_repo *repo, enum cfs_hash_alg alg, const uint8_t *digest,
			     struct cfs_trust *trust, struct tool_sig_seen *seen, char *err,
			     size_t errlen);

#endif
