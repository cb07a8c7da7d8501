/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Verifying signatures of fs-verity digests against a set of trusted certificates. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <composefs/sign.h>

#include "sign-private.h"
#include "util.h"

struct cfs_trust {
	STACK_OF(X509) *certs;
	char errmsg[512];
	char signer[256];
};

#define TFAIL(t, err, ...) cfs_sign_fail((t)->errmsg, sizeof((t)->errmsg), (err), __VA_ARGS__)

int cfs_trust_new(struct cfs_trust **out)
{
	struct cfs_trust *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->certs = sk_X509_new_null();
	if (t->certs == NULL) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void cfs_trust_free(struct cfs_trust *t)
{
	if (t == NULL)
		return;
	sk_X509_pop_free(t->certs, X509_free);
	free(t);
}

const char *cfs_trust_errmsg(const struct cfs_trust *t)
{
	return t->errmsg;
}

const char *cfs_trust_signer(const struct cfs_trust *t)
{
	return t->signer;
}

size_t cfs_trust_count(const struct cfs_trust *t)
{
	return (size_t)sk_X509_num(t->certs);
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

int cfs_trust_add_certs(struct cfs_trust *t, const void *buf, size_t len)
{
	int before = sk_X509_num(t->certs);
	BIO *bio;
	X509 *x;

	t->errmsg[0] = '\0';
	if (len > CFS_SIGN_MAX_INPUT)
		return TFAIL(t, -EFBIG, "certificate file larger than 1 MiB");
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL)
		return TFAIL(t, -ENOMEM, "out of memory");
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (!sk_X509_push(t->certs, x)) {
			X509_free(x);
			BIO_free(bio);
			return TFAIL(t, -ENOMEM, "out of memory");
		}
	}
	BIO_free(bio);
	ERR_clear_error();
	if (sk_X509_num(t->certs) == before) {
		const unsigned char *p = buf;

		x = d2i_X509(NULL, &p, (long)len);
		if (x == NULL)
			return TFAIL(t, -EINVAL, "no certificate (expected PEM or DER)");
		if (!sk_X509_push(t->certs, x)) {
			X509_free(x);
			return TFAIL(t, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int add_fd(struct cfs_trust *t, int fd, const char *name)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = cfs_sign_read_fd(fd, CFS_SIGN_MAX_INPUT, &buf, &len);
	if (r < 0)
		return TFAIL(t, r, "%s: %s", name, r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
	r = cfs_trust_add_certs(t, buf, len);
	free(buf);
	if (r < 0) {
		char msg[sizeof(t->errmsg)];

		snprintf(msg, sizeof(msg), "%s", t->errmsg);
		return TFAIL(t, r, "%s: %s", name, msg);
	}
	return 0;
}

static bool cert_name(const char *n)
{
	size_t l = strlen(n);

	if (n[0] == '.' || l < 5)
		return false;
	return strcmp(n + l - 4, ".pem") == 0 || strcmp(n + l - 4, ".crt") == 0 ||
	       strcmp(n + l - 4, ".cer") == 0;
}

static int add_dir(struct cfs_trust *t, int dfd, const char *path)
{
	int before = sk_X509_num(t->certs), r = 0;
	struct dirent *de;
	DIR *d = fdopendir(dfd);

	if (d == NULL) {
		r = -errno;
		close(dfd);
		return TFAIL(t, r, "%s: %s", path, strerror(-r));
	}
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		char name[1024];
		struct stat st;
		int fd;

		if (!cert_name(de->d_name))
			continue;
		snprintf(name, sizeof(name), "%s/%s", path, de->d_name);
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0) {
			r = -errno;
			TFAIL(t, r, "%s: %s", name, strerror(-r));
			break;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			r = add_fd(t, fd, name);
		close(fd);
	}
	if (r == 0 && errno != 0) {
		r = -errno;
		TFAIL(t, r, "%s: %s", path, strerror(-r));
	}
	closedir(d);
	if (r == 0 && sk_X509_num(t->certs) == before)
		r = TFAIL(t, -EINVAL, "%s: no certificate file (*.pem, *.crt, *.cer) in the directory",
			  path);
	return r;
}

int cfs_trust_add_path(struct cfs_trust *t, int atfd, const char *path)
{
	struct stat st;
	int fd, r;

	t->errmsg[0] = '\0';
	fd = openat(atfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		return TFAIL(t, r, "%s: %s", path, strerror(-r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return TFAIL(t, r, "%s: %s", path, strerror(-r));
	}
	if (S_ISDIR(st.st_mode))
		return add_dir(t, fd, path);
	r = add_fd(t, fd, path);
	close(fd);
	return r;
}

/* One-line RFC 2253 name into @buf. */
static void name_string(const X509_NAME *name, char *buf, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	buf[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(bio, &data);
		if (n > 0)
			snprintf(buf, len, "%.*s", (int)n, data);
	}
	BIO_free(bio);
	if (buf[0] == '\0')
		snprintf(buf, len, "(empty name)");
}

static void time_string(const ASN1_TIME *at, char *buf, size_t len)
{
	struct tm tm;

	if (at != NULL && ASN1_TIME_to_tm(at, &tm) == 1)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(buf, len, "(unreadable time)");
}

/* Structure checks: a detached SignedData over id-data with one signer. */
static int check_shape(struct cfs_trust *t, CMS_ContentInfo *cms, CMS_SignerInfo **si_out)
{
	STACK_OF(CMS_SignerInfo) *sis;
	const ASN1_OBJECT *ct;
	int n;

	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
		return TFAIL(t, -EUCLEAN, "not a signature (PKCS#7 type is not signedData)");
	ct = CMS_get0_eContentType(cms);
	if (ct == NULL || OBJ_obj2nid(ct) != NID_pkcs7_data)
		return TFAIL(t, -EUCLEAN, "signature over something other than plain data");
	if (!CMS_is_detached(cms))
		return TFAIL(t, -EUCLEAN, "signature carries its content (expected a detached one)");
	sis = CMS_get0_SignerInfos(cms);
	n = sis != NULL ? sk_CMS_SignerInfo_num(sis) : 0;
	if (n != 1)
		return TFAIL(t, -EUCLEAN, "signature with %d signers (expected one)", n < 0 ? 0 : n);
	*si_out = sk_CMS_SignerInfo_value(sis, 0);
	return 0;
}

static int unknown_signer(struct cfs_trust *t, CMS_SignerInfo *si)
{
	ASN1_OCTET_STRING *keyid = NULL;
	X509_NAME *issuer = NULL;
	ASN1_INTEGER *serial = NULL;
	char name[256] = "", num[128] = "?";

	if (CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &serial) == 1 && issuer != NULL) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
		char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

		name_string(issuer, name, sizeof(name));
		if (hex != NULL)
			snprintf(num, sizeof(num), "%s", hex);
		OPENSSL_free(hex);
		BN_free(bn);
		return TFAIL(t, -CFS_EUNTRUSTED,
			     "signed by an unknown certificate (issuer %s, serial %s): not in the trust set",
			     name, num);
	}
	return TFAIL(t, -CFS_EUNTRUSTED, "signed by an unknown certificate: not in the trust set");
}

static int check_signature(struct cfs_trust *t, CMS_ContentInfo *cms, CMS_SignerInfo *si,
			   EVP_PKEY *pk, const uint8_t *tbs, size_t tbs_len)
{
	int id = EVP_PKEY_get_base_id(pk), ok;

	if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) {
		/* RFC 8419 without signed attributes: the signature is over the content itself
		 * (OpenSSL 3.0's CMS_verify() cannot check EdDSA signatures at all). */
		ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
		X509_ALGOR *sigalg;
		EVP_MD_CTX *mctx;

		CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sigalg);
		if (CMS_signed_get_attr_count(si) >= 0)
			return TFAIL(t, -EUCLEAN, "EdDSA signature with signed attributes (not supported)");
		if (sigalg == NULL || OBJ_obj2nid(sigalg->algorithm) != id)
			return TFAIL(t, -CFS_ESIGNATURE, "signature algorithm does not match the key");
		mctx = EVP_MD_CTX_new();
		if (mctx == NULL)
			return TFAIL(t, -ENOMEM, "out of memory");
		ok = EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pk) == 1 &&
		     EVP_DigestVerify(mctx, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig),
				      tbs, tbs_len) == 1;
		EVP_MD_CTX_free(mctx);
	} else {
		/*
		 * A memory BIO would be copied by CMS_verify() into one that OpenSSL 3.0
		 * leaks when the signature's digest cannot be set up; behind a null
		 * filter it is used as it is, and freed here.
		 */
		BIO *mem = BIO_new_mem_buf(tbs, (int)tbs_len), *content = BIO_new(BIO_f_null());

		if (mem == NULL || content == NULL) {
			BIO_free(mem);
			BIO_free(content);
			return TFAIL(t, -ENOMEM, "out of memory");
		}
		BIO_push(content, mem);
		/* The signer certificate is already attached to @si; the chain is checked by us. */
		ok = CMS_verify(cms, NULL, NULL, content, NULL,
				CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1;
		BIO_free_all(content);
	}
	if (!ok)
		return TFAIL(t, -CFS_ESIGNATURE,
			     "signature does not match the digest (image changed, or signed with another key)");
	ERR_clear_error();
	return 0;
}

static int chain_error(struct cfs_trust *t, X509_STORE_CTX *ctx)
{
	int err = X509_STORE_CTX_get_error(ctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	char name[256] = "(unknown)", when[64];

	if (cur != NULL)
		name_string(X509_get_subject_name(cur), name, sizeof(name));
	if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
		time_string(X509_get0_notAfter(cur), when, sizeof(when));
		return TFAIL(t, -CFS_EEXPIRED, "certificate %s expired on %s", name, when);
	}
	if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
		time_string(X509_get0_notBefore(cur), when, sizeof(when));
		return TFAIL(t, -CFS_EEXPIRED, "certificate %s is not valid before %s", name, when);
	}
	return TFAIL(t, -CFS_EUNTRUSTED, "certificate %s: %s", name,
		     X509_verify_cert_error_string(err));
}

/*
 * The signer must be trusted itself (partial chains are allowed, so a
 * trusted leaf needs no CA) or chain up to a trusted certificate through the
 * signature's certificates; every certificate of that chain must be valid now.
 */
static int check_chain(struct cfs_trust *t, CMS_ContentInfo *cms, X509 *signer)
{
	STACK_OF(X509) *embedded = CMS_get1_certs(cms);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	uint32_t ku;
	int r = 0;

	if (store == NULL || ctx == NULL) {
		r = TFAIL(t, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(t->certs); i++) {
		if (!X509_STORE_add_cert(store, sk_X509_value(t->certs, i))) {
			r = TFAIL(t, -ENOMEM, "out of memory");
			goto out;
		}
	}
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	if (!X509_STORE_CTX_init(ctx, store, signer, embedded)) {
		r = TFAIL(t, -ENOMEM, "out of memory");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		r = chain_error(t, ctx);
		goto out;
	}
	ku = X509_get_key_usage(signer);
	if (ku != UINT32_MAX && !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
		char name[256];

		name_string(X509_get_subject_name(signer), name, sizeof(name));
		r = TFAIL(t, -CFS_EUNTRUSTED,
			  "certificate %s: its key usage does not allow digital signatures", name);
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(embedded, X509_free);
	ERR_clear_error();
	return r;
}

int cfs_trust_verify(struct cfs_trust *t, enum cfs_hash_alg alg, const uint8_t *digest,
		     const void *sig, size_t sig_len)
{
	uint8_t tbs[CFS_SIGN_FORMATTED_MAX];
	const unsigned char *p = sig;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si = NULL;
	X509_ALGOR *dig = NULL;
	EVP_PKEY *pk = NULL;
	X509 *signer = NULL;
	size_t tbs_len;
	int md, r;

	t->errmsg[0] = '\0';
	t->signer[0] = '\0';
	if (cfs_sign_formatted_digest(alg, digest, tbs, &tbs_len) < 0)
		return TFAIL(t, -EINVAL, "unknown hash algorithm %d", (int)alg);
	if (sig_len > CFS_SIGN_MAX_SIZE)
		return TFAIL(t, -EFBIG, "signature larger than %d bytes", CFS_SIGN_MAX_SIZE);
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig_len);
	if (cms == NULL)
		return TFAIL(t, -EUCLEAN, "not a PKCS#7 signature (DER)");
	if ((size_t)(p - (const unsigned char *)sig) != sig_len) {
		r = TFAIL(t, -EUCLEAN, "trailing bytes after the PKCS#7 signature");
		goto out;
	}
	r = check_shape(t, cms, &si);
	if (r < 0)
		goto out;
	/* Trusted certificates first, then those the signature carries. */
	if (CMS_set1_signers_certs(cms, t->certs, 0) < 0)
		ERR_clear_error();
	CMS_SignerInfo_get0_algs(si, &pk, &signer, &dig, NULL);
	if (signer == NULL || pk == NULL) {
		r = unknown_signer(t, si);
		goto out;
	}
	md = dig != NULL ? OBJ_obj2nid(dig->algorithm) : NID_undef;
	if (md != NID_sha256 && md != NID_sha384 && md != NID_sha512) {
		r = TFAIL(t, -EUCLEAN, "signature digest %s not accepted (SHA-256, -384 or -512 are)",
			  md != NID_undef ? OBJ_nid2sn(md) : "(unknown)");
		goto out;
	}
	r = check_signature(t, cms, si, pk, tbs, tbs_len);
	if (r < 0)
		goto out;
	r = check_chain(t, cms, signer);
	if (r < 0)
		goto out;
	name_string(X509_get_subject_name(signer), t->signer, sizeof(t->signer));
out:
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return r;
}

int cfs_trust_verify_fd(struct cfs_trust *t, int fd, const void *sig, size_t sig_len,
			enum cfs_hash_alg *alg_out, uint8_t *digest_out)
{
	static const enum cfs_hash_alg algs[] = { CFS_HASH_SHA256, CFS_HASH_SHA512 };
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	int r = -EINVAL;

	for (size_t i = 0; i < CFS_ARRAY_SIZE(algs); i++) {
		r = cfs_verity_measure_fd(fd, algs[i], digest, NULL);
		if (r < 0)
			return TFAIL(t, r, "cannot compute the fs-verity digest: %s", strerror(-r));
		r = cfs_trust_verify(t, algs[i], digest, sig, sig_len);
		if (r == 0) {
			if (alg_out != NULL)
				*alg_out = algs[i];
			if (digest_out != NULL)
				memcpy(digest_out, digest, cfs_verity_digest_size(algs[i]));
			return 0;
		}
		if (r != -CFS_ESIGNATURE)
			return r;
	}
	return TFAIL(t, r,
		     "signature does not match the file's fs-verity digest (sha256 or sha512): "
		     "the file changed, or it was signed with another key");
}
