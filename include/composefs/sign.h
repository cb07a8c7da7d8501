/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Image signatures: detached PKCS#7 over the fs-verity formatted digest, and their verification. */
#ifndef COMPOSEFS_SIGN_H
#define COMPOSEFS_SIGN_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/repo.h>
#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What is signed
 * --------------
 * A signature vouches for one fs-verity digest (of an image, or of any file).
 * The signed bytes are the kernel's "fsverity_formatted_digest":
 *
 *     "FSVerity"  le16 algorithm (1 sha256, 2 sha512)  le16 digest size  digest
 *
 * and the signature is a detached PKCS#7 (CMS) SignedData in DER, with one
 * signer, identified by issuer and serial number. This is the format of the
 * kernel's fs-verity builtin signatures and of `fsverity sign`: for RSA and
 * ECDSA keys the signature carries no certificate and no signed attributes
 * (PKCS7_BINARY | PKCS7_DETACHED | PKCS7_NOATTR | PKCS7_NOCERTS), and for RSA
 * keys (whose signatures are deterministic) the bytes equal what
 * `fsverity sign` writes. The message digest algorithm is the fs-verity one.
 * Ed25519 keys sign the formatted digest directly (RFC 8419, no signed
 * attributes, digest algorithm SHA-512); the kernel does not accept those.
 *
 * Trust
 * -----
 * A struct cfs_trust holds certificates. A signature is accepted when
 *  - its signer certificate is found, by issuer and serial, among the trusted
 *    certificates or among the certificates embedded in the signature
 *    (CFS_SIGNER_EMBED_CERTS), and
 *  - that certificate is itself trusted, or chains through certificates of
 *    the signature or the trust set to a trusted CA (basicConstraints CA);
 *  - every certificate of that chain is valid now (notBefore/notAfter);
 *  - the signer certificate permits digital signatures, when it has a
 *    keyUsage extension at all (extendedKeyUsage is not looked at; the
 *    kernel checks neither);
 *  - and the signature matches the formatted digest.
 *
 * Error convention: 0 or a negative errno; the handle keeps a one-line
 * explanation (cfs_signer_errmsg(), cfs_trust_errmsg()). A handle is used by
 * one thread at a time; different handles are independent. Nothing here
 * prints or touches global state (OpenSSL's error queue is cleared after use).
 */

/** Signature does not match the digest (tampered image, or another key). */
#define CFS_ESIGNATURE EKEYREJECTED
/** No trusted certificate for the signer (unknown signer, no chain to a trusted CA). */
#define CFS_EUNTRUSTED ENOKEY
/** A certificate of the chain is expired or not yet valid. */
#define CFS_EEXPIRED EKEYEXPIRED

/** Largest signature accepted (bytes); larger input is -EFBIG. */
#define CFS_SIGN_MAX_SIZE (256 * 1024)
/** Size of the largest formatted digest: 12 header bytes + the digest. */
#define CFS_SIGN_FORMATTED_MAX (12 + CFS_VERITY_MAX_DIGEST)

/**
 * cfs_sign_formatted_digest() - the bytes that are signed for @digest.
 * @out: at least CFS_SIGN_FORMATTED_MAX bytes; @len_out receives the length.
 * Returns 0, or -EINVAL for an unknown @alg.
 */
int cfs_sign_formatted_digest(enum cfs_hash_alg alg, const uint8_t *digest, uint8_t *out,
			      size_t *len_out);

/* ---- Signing ------------------------------------------------------------ */

/** cfs_signer_new() flag: put the certificate(s) given into the signature. */
#define CFS_SIGNER_EMBED_CERTS (1u << 0)
/** All flags defined by this version. */
#define CFS_SIGNER_ALL_FLAGS 0x1u

/** A private key with its certificate, ready to sign digests. */
struct cfs_signer;

/**
 * cfs_signer_new() - load a private key and its certificate.
 * @key, @key_len:     private key, PEM (PKCS#8 or traditional) or DER; not
 *                     encrypted (no passphrase prompt is ever made).
 * @certs, @certs_len: the signer certificate, PEM or DER; a PEM file may
 *                     continue with intermediate CA certificates, which
 *                     CFS_SIGNER_EMBED_CERTS embeds too.
 * @flags:             CFS_SIGNER_* bits.
 * @out:               receives the handle (free with cfs_signer_free()).
 * @errbuf, @errlen:   optional buffer for a one-line explanation on failure.
 * Returns 0, or -EINVAL (unknown flag; unparsable key or certificate; the
 * key does not belong to the certificate), -EOPNOTSUPP (a key type that
 * cannot sign), -EFBIG (input over 1 MiB), -ENOMEM.
 */
int cfs_signer_new(const void *key, size_t key_len, const void *certs, size_t certs_len,
		   unsigned flags, struct cfs_signer **out, char *errbuf, size_t errlen);

/**
 * cfs_signer_sign() - sign the formatted digest of @digest.
 * @sig_out, @len_out: receive the DER signature, malloc()ed (caller frees).
 * Returns 0, or -EINVAL (unknown @alg), -ENOMEM, -EIO (OpenSSL failed; the
 * reason is in cfs_signer_errmsg()).
 */
int cfs_signer_sign(struct cfs_signer *s, enum cfs_hash_alg alg, const uint8_t *digest,
		    uint8_t **sig_out, size_t *len_out);

/** cfs_signer_errmsg() - detail of the last failure on @s ("" if none). */
const char *cfs_signer_errmsg(const struct cfs_signer *s);

/** cfs_signer_free() - free the handle (and the key). Accepts NULL. */
void cfs_signer_free(struct cfs_signer *s);

/**
 * cfs_sign_enable_verity() - enable fs-verity on @fd (open read-only, with no
 * writer anywhere) with @sig as its builtin signature (FS_IOC_ENABLE_VERITY
 * with sig_ptr). The kernel checks the signature against its ".fs-verity"
 * keyring (RSA or ECDSA only) when it supports builtin signatures.
 * Returns 0, or the kernel's error: -EKEYREJECTED / -ENOKEY (signature
 * rejected, signer not in the keyring), -EOPNOTSUPP (no fs-verity, or no
 * builtin signature support), -EEXIST (verity already enabled), -ETXTBSY
 * (the file is open for writing), -EINVAL (bad @alg or size).
 */
int cfs_sign_enable_verity(int fd, enum cfs_hash_alg alg, const void *sig, size_t sig_len);

/* ---- Verifying ---------------------------------------------------------- */

/** A set of trusted certificates. */
struct cfs_trust;

/** cfs_trust_new() - an empty trust set. Returns 0 or -ENOMEM. */
int cfs_trust_new(struct cfs_trust **out);

/** cfs_trust_free() - free a trust set. Accepts NULL. */
void cfs_trust_free(struct cfs_trust *t);

/** cfs_trust_errmsg() - detail of the last failure on @t ("" if none). */
const char *cfs_trust_errmsg(const struct cfs_trust *t);

/**
 * cfs_trust_add_certs() - trust the certificates in @buf: one or more PEM
 * certificates, or one DER certificate.
 * Returns 0, or -EINVAL (no certificate in @buf, or an unparsable one),
 * -EFBIG (over 1 MiB), -ENOMEM.
 */
int cfs_trust_add_certs(struct cfs_trust *t, const void *buf, size_t len);

/**
 * cfs_trust_add_path() - trust the certificates of a file (as
 * cfs_trust_add_certs()), or of every file in a directory whose name ends in
 * ".pem", ".crt" or ".cer" (not recursive; other names are ignored).
 * @atfd: AT_FDCWD or the directory @path is relative to.
 * Returns 0, or -ENOENT/-EACCES/... (cannot open), the errors of
 * cfs_trust_add_certs() (naming the file), -EINVAL (a directory with no
 * certificate).
 */
int cfs_trust_add_path(struct cfs_trust *t, int atfd, const char *path);

/** cfs_trust_count() - number of certificates in the set. */
size_t cfs_trust_count(const struct cfs_trust *t);

/**
 * cfs_trust_verify() - check that @sig is a valid signature of @digest by a
 * trusted signer (see "Trust" above).
 * Returns 0, or:
 *   -EUCLEAN        @sig is not a detached PKCS#7/CMS signature with exactly
 *                   one signer over plain data, or uses a digest weaker than
 *                   SHA-256 or a key type that is not supported;
 *   -CFS_EUNTRUSTED no trusted certificate for the signer (or no chain to a
 *                   trusted CA, or a certificate not allowed to sign);
 *   -CFS_EEXPIRED   a certificate of the chain is expired or not yet valid;
 *   -CFS_ESIGNATURE the signature does not match @digest;
 *   -EFBIG (@sig over CFS_SIGN_MAX_SIZE), -EINVAL (bad @alg), -ENOMEM.
 * On success cfs_trust_signer() names the signer.
 */
int cfs_trust_verify(struct cfs_trust *t, enum cfs_hash_alg alg, const uint8_t *digest,
		     const void *sig, size_t sig_len);

/**
 * cfs_trust_verify_fd() - measure the file @fd (cfs_verity_measure_fd():
 * the kernel's digest where verity is enabled) and check @sig against it,
 * with SHA-256 and then SHA-512 (the formatted digest names the algorithm,
 * so at most one can match).
 * @alg_out, @digest_out: may be NULL; receive the digest that was verified.
 *   To use the result for a mount without a race, pass that digest as the
 *   mount's expected digest (struct cfs_mount_opts): the mount then refuses
 *   bytes that differ from what was verified.
 * Returns the errors of cfs_trust_verify() (for the last algorithm tried),
 * or the (negative) errors of reading the file.
 */
int cfs_trust_verify_fd(struct cfs_trust *t, int fd, const void *sig, size_t sig_len,
			enum cfs_hash_alg *alg_out, uint8_t *digest_out);

/**
 * cfs_trust_signer() - the subject of the signer certificate of the last
 * successful verification (one line, RFC 2253 style), or "".
 */
const char *cfs_trust_signer(const struct cfs_trust *t);

/* ---- Signatures in a repository ------------------------------------------ */

/*
 * Layout (beside images/, see composefs(1)):
 *
 *   signatures/<image-hex>/<sha256-hex>   one DER signature, named by the
 *                                          SHA-256 of its bytes
 *   signatures/<image-hex>/index          the names of the signature files of
 *                                          that image, one per line, sorted
 *
 * Every file is immutable once written, except index, which is replaced
 * atomically whenever a signature is added (rebuilt from the directory). A
 * static HTTP mirror of the repository serves all of it: a client fetches
 * signatures/<image-hex>/index (404: unsigned), then each named file, and
 * checks each against its SHA-256 name. Adding the same signature twice
 * changes nothing. Readers here list the directory, not the index, so a
 * signature written just before a crash still counts.
 */

/**
 * cfs_repo_signature_add() - store @sig as a signature of image @digest.
 * Does not check the signature. The repository must be open for writing.
 * @name_out: NULL, or 65 bytes for the file name (SHA-256 hex).
 * Returns 0, -EFBIG, -EROFS (opened read-only), or an I/O error (explained in
 * @errbuf).
 */
int cfs_repo_signature_add(struct cfs_repo *repo, const uint8_t *digest, const void *sig,
			   size_t sig_len, char *name_out, char *errbuf, size_t errlen);

/** Called for each stored signature; a non-zero return stops the listing and is returned. */
typedef int (*cfs_repo_signature_fn)(void *user, const char *name, const void *sig,
				     size_t sig_len);

/**
 * cfs_repo_signature_list() - call @fn for every signature stored for image
 * @digest, in name order. Files with other names, and files whose content
 * does not match their name, are skipped.
 * Returns 0 (also when there are none), the first non-zero return of @fn, or
 * an I/O error (explained in @errbuf).
 */
int cfs_repo_signature_list(struct cfs_repo *repo, const uint8_t *digest,
			    cfs_repo_signature_fn fn, void *user, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
