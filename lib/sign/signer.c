/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Signing fs-verity digests: PKCS#7 as `fsverity sign` makes it, CMS for EdDSA keys. */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/fsverity.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <composefs/sign.h>

#include "sign-private.h"
#include "util.h"

struct cfs_signer {
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *extra; /* certificates after the first one in the PEM */
	unsigned flags;
	char errmsg[512];
};

int cfs_sign_fail(char *buf, size_t len, int err, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	va_list ap;

	va_start(ap, fmt);
	cfs_errbuf_vset(buf, len, err, fmt, ap);
	va_end(ap);
	if (buf != NULL && len > 0 && e != 0) {
		const char *reason = ERR_reason_error_string(e);
		size_t n = strlen(buf);

		if (reason != NULL && n + 1 < len)
			cfs_errbuf_set(buf + n, len - n, err, " (%s)", reason);
	}
	ERR_clear_error();
	return err;
}

int cfs_sign_read_fd(int fd, size_t max, uint8_t **buf_out, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *nb;

			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return -EFBIG;
	}
	*buf_out = buf;
	*len_out = len;
	return 0;
}

int cfs_sign_formatted_digest(enum cfs_hash_alg alg, const uint8_t *digest, uint8_t *out,
			      size_t *len_out)
{
	size_t dlen = cfs_verity_digest_size(alg);
	uint16_t le;

	if (dlen == 0)
		return -EINVAL;
	memcpy(out, "FSVerity", 8);
	le = htole16((uint16_t)alg);
	memcpy(out + 8, &le, 2);
	le = htole16((uint16_t)dlen);
	memcpy(out + 10, &le, 2);
	memcpy(out + 12, digest, dlen);
	*len_out = 12 + dlen;
	return 0;
}

/* Never prompt for a passphrase: an encrypted key simply fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static EVP_PKEY *load_key(const void *buf, size_t len)
{
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	EVP_PKEY *key;

	if (bio == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key == NULL) {
		const unsigned char *p = buf;

		ERR_clear_error();
		key = d2i_AutoPrivateKey(NULL, &p, (long)len);
	}
	return key;
}

/* First certificate to *@first, the rest (PEM only) to *@rest. */
static int load_certs(const void *buf, size_t len, X509 **first, STACK_OF(X509) **rest)
{
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	X509 *x;

	*first = NULL;
	*rest = sk_X509_new_null();
	if (bio == NULL || *rest == NULL) {
		BIO_free(bio);
		return -ENOMEM;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (*first == NULL)
			*first = x;
		else if (!sk_X509_push(*rest, x)) {
			X509_free(x);
			BIO_free(bio);
			return -ENOMEM;
		}
	}
	BIO_free(bio);
	ERR_clear_error();
	if (*first == NULL) {
		const unsigned char *p = buf;

		*first = d2i_X509(NULL, &p, (long)len);
	}
	return *first != NULL ? 0 : -EINVAL;
}

static bool is_eddsa(const EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);

	return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
}

int cfs_signer_new(const void *key, size_t key_len, const void *certs, size_t certs_len,
		   unsigned flags, struct cfs_signer **out, char *errbuf, size_t errlen)
{
	struct cfs_signer *s;
	int r;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (flags & ~CFS_SIGNER_ALL_FLAGS)
		return cfs_sign_fail(errbuf, errlen, -EINVAL, "unknown flags 0x%x", flags);
	if (key_len > CFS_SIGN_MAX_INPUT || certs_len > CFS_SIGN_MAX_INPUT)
		return cfs_sign_fail(errbuf, errlen, -EFBIG, "key or certificate larger than 1 MiB");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->flags = flags;
	s->key = load_key(key, key_len);
	if (s->key == NULL) {
		r = cfs_sign_fail(errbuf, errlen, -EINVAL,
				  "cannot parse the private key (expected PEM or DER, unencrypted)");
		goto fail;
	}
	r = load_certs(certs, certs_len, &s->cert, &s->extra);
	if (r < 0) {
		cfs_sign_fail(errbuf, errlen, r, "%s",
			      r == -ENOMEM ? "out of memory"
					   : "cannot parse the certificate (expected PEM or DER)");
		goto fail;
	}
	if (X509_check_private_key(s->cert, s->key) != 1) {
		r = cfs_sign_fail(errbuf, errlen, -EINVAL, "the key does not belong to the certificate");
		goto fail;
	}
	if (!is_eddsa(s->key) && !EVP_PKEY_is_a(s->key, "RSA") && !EVP_PKEY_is_a(s->key, "EC")) {
		r = cfs_sign_fail(errbuf, errlen, -EOPNOTSUPP,
				  "unsupported key type %s (RSA, ECDSA, Ed25519 and Ed448 are)",
				  EVP_PKEY_get0_type_name(s->key));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	cfs_signer_free(s);
	return r;
}

void cfs_signer_free(struct cfs_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	sk_X509_pop_free(s->extra, X509_free);
	free(s);
}

const char *cfs_signer_errmsg(const struct cfs_signer *s)
{
	return s->errmsg;
}

#define SFAIL(s, err, ...) cfs_sign_fail((s)->errmsg, sizeof((s)->errmsg), (err), __VA_ARGS__)

/* Copy the DER from OpenSSL's allocation into one the caller frees with free(). */
static int hand_out(unsigned char *der, int n, uint8_t **sig_out, size_t *len_out)
{
	uint8_t *copy;

	if (n <= 0)
		return -EIO;
	copy = malloc((size_t)n);
	if (copy == NULL) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	memcpy(copy, der, (size_t)n);
	OPENSSL_free(der);
	*sig_out = copy;
	*len_out = (size_t)n;
	return 0;
}

/*
 * RSA and ECDSA: the PKCS#7 API with the flags of fsverity-utils, so that the
 * encoding (digest algorithm parameters included) is the one the kernel and
 * `fsverity sign` use, byte for byte for RSA.
 */
static int sign_pkcs7(struct cfs_signer *s, const EVP_MD *md, const uint8_t *tbs, size_t tbs_len,
		      uint8_t **sig_out, size_t *len_out)
{
	int fl = PKCS7_BINARY | PKCS7_DETACHED | PKCS7_NOATTR | PKCS7_PARTIAL;
	bool embed = s->flags & CFS_SIGNER_EMBED_CERTS;
	unsigned char *der = NULL;
	PKCS7 *p7 = NULL;
	BIO *bio;
	int n, r = -EIO;

	if (!embed)
		fl |= PKCS7_NOCERTS;
	bio = BIO_new_mem_buf(tbs, (int)tbs_len);
	if (bio == NULL)
		return SFAIL(s, -ENOMEM, "out of memory");
	p7 = PKCS7_sign(NULL, NULL, embed ? s->extra : NULL, bio, fl);
	if (p7 == NULL) {
		r = SFAIL(s, -EIO, "cannot create a PKCS#7 signature");
		goto out;
	}
	if (PKCS7_sign_add_signer(p7, s->cert, s->key, md, fl) == NULL) {
		r = SFAIL(s, -EIO, "cannot add the signer to the PKCS#7 signature");
		goto out;
	}
	if (PKCS7_final(p7, bio, fl) != 1) {
		r = SFAIL(s, -EIO, "cannot compute the PKCS#7 signature");
		goto out;
	}
	n = i2d_PKCS7(p7, &der);
	r = hand_out(der, n, sig_out, len_out);
	if (r < 0)
		SFAIL(s, r, "cannot encode the PKCS#7 signature");
out:
	PKCS7_free(p7);
	BIO_free(bio);
	return r;
}

/*
 * Ed25519/Ed448 (RFC 8419): OpenSSL 3.0 can neither add an EdDSA signer
 * through PKCS#7 nor sign without signed attributes through CMS, so the CMS
 * structure is built by CMS_add1_signer() and the signature made with
 * EVP_DigestSign() over the content itself, as RFC 8419 specifies when there
 * are no signed attributes.
 */
static int sign_eddsa(struct cfs_signer *s, const uint8_t *tbs, size_t tbs_len, uint8_t **sig_out,
		      size_t *len_out)
{
	unsigned fl = CMS_BINARY | CMS_DETACHED | CMS_PARTIAL | CMS_NOATTR | CMS_NOSMIMECAP;
	bool embed = s->flags & CFS_SIGNER_EMBED_CERTS;
	unsigned char *der = NULL, *raw = NULL;
	CMS_ContentInfo *cms = NULL;
	EVP_MD_CTX *mctx = NULL;
	CMS_SignerInfo *si;
	X509_ALGOR *sigalg;
	size_t rawlen = 0;
	int n, r = -EIO;

	if (!embed)
		fl |= CMS_NOCERTS;
	cms = CMS_sign(NULL, NULL, embed ? s->extra : NULL, NULL, fl);
	if (cms == NULL) {
		r = SFAIL(s, -EIO, "cannot create a CMS signature");
		goto out;
	}
	si = CMS_add1_signer(cms, s->cert, s->key, EVP_sha512(), fl);
	if (si == NULL) {
		r = SFAIL(s, -EIO, "cannot add the signer to the CMS signature");
		goto out;
	}
	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sigalg);
	if (!X509_ALGOR_set0(sigalg, OBJ_nid2obj(EVP_PKEY_get_base_id(s->key)), V_ASN1_UNDEF, NULL)) {
		r = SFAIL(s, -ENOMEM, "out of memory");
		goto out;
	}
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestSignInit(mctx, NULL, NULL, NULL, s->key) != 1 ||
	    EVP_DigestSign(mctx, NULL, &rawlen, tbs, tbs_len) != 1) {
		r = SFAIL(s, -EIO, "cannot set up the EdDSA signature");
		goto out;
	}
	raw = OPENSSL_malloc(rawlen);
	if (raw == NULL || EVP_DigestSign(mctx, raw, &rawlen, tbs, tbs_len) != 1) {
		r = SFAIL(s, -EIO, "cannot compute the EdDSA signature");
		goto out;
	}
	if (!ASN1_STRING_set(CMS_SignerInfo_get0_signature(si), raw, (int)rawlen)) {
		r = SFAIL(s, -ENOMEM, "out of memory");
		goto out;
	}
	n = i2d_CMS_ContentInfo(cms, &der);
	r = hand_out(der, n, sig_out, len_out);
	if (r < 0)
		SFAIL(s, r, "cannot encode the CMS signature");
out:
	OPENSSL_free(raw);
	EVP_MD_CTX_free(mctx);
	CMS_ContentInfo_free(cms);
	return r;
}

int cfs_signer_sign(struct cfs_signer *s, enum cfs_hash_alg alg, const uint8_t *digest,
		    uint8_t **sig_out, size_t *len_out)
{
	uint8_t tbs[CFS_SIGN_FORMATTED_MAX];
	size_t tbs_len;

	s->errmsg[0] = '\0';
	if (cfs_sign_formatted_digest(alg, digest, tbs, &tbs_len) < 0)
		return SFAIL(s, -EINVAL, "unknown hash algorithm %d", (int)alg);
	if (is_eddsa(s->key))
		return sign_eddsa(s, tbs, tbs_len, sig_out, len_out);
	return sign_pkcs7(s, alg == CFS_HASH_SHA512 ? EVP_sha512() : EVP_sha256(), tbs, tbs_len,
			  sig_out, len_out);
}

int cfs_sign_enable_verity(int fd, enum cfs_hash_alg alg, const void *sig, size_t sig_len)
{
	struct fsverity_enable_arg arg;

	if (cfs_verity_digest_size(alg) == 0 || sig_len > UINT32_MAX)
		return -EINVAL;
	memset(&arg, 0, sizeof(arg));
	arg.version = 1;
	arg.hash_algorithm = (uint32_t)alg;
	arg.block_size = CFS_VERITY_BLOCK_SIZE;
	arg.sig_size = (uint32_t)sig_len;
	arg.sig_ptr = (uint64_t)(uintptr_t)sig;
	for (;;) {
		if (ioctl(fd, FS_IOC_ENABLE_VERITY, &arg) == 0)
			return 0;
		if (errno != EINTR)
			return errno == ENOTTY ? -EOPNOTSUPP : -errno;
	}
}
