/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit test of lib/sign: formatted digest, signing per key type, trust decisions, repo storage. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <composefs/composefs.h>

#include "testutil.h"

#define DAY (24L * 3600)

/* Test-only key and certificate factory (libcrypto; the code under test never sees it). */
struct pki {
	EVP_PKEY *key;
	X509 *cert;
	char *key_pem, *cert_pem;
	size_t key_len, cert_len;
};

static char *to_pem(bool key, void *obj, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	CHECK(b != NULL);
	if (key)
		CHECK(PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL) == 1);
	else
		CHECK(PEM_write_bio_X509(b, obj) == 1);
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	CHECK(out != NULL);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	return out;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	CHECK(ext != NULL);
	CHECK(X509_add_ext(x, ext, -1) == 1);
	X509_EXTENSION_free(ext);
}

/*
 * A key of @type ("RSA", "EC", "ED25519") and a certificate for it, issued by
 * @ca (or self-signed), valid from now+@from to now+@to seconds.
 */
static struct pki make_pki(const char *type, const char *cn, const struct pki *ca, long from,
			   long to, bool is_ca, const char *key_usage)
{
	static long serial = 1;
	struct pki p = { 0 };
	X509_NAME *name;

	if (strcmp(type, "RSA") == 0)
		p.key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(type, "EC") == 0)
		p.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		p.key = EVP_PKEY_Q_keygen(NULL, NULL, type);
	CHECK(p.key != NULL);
	p.cert = X509_new();
	CHECK(p.cert != NULL);
	X509_set_version(p.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(p.cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(p.cert), from);
	X509_gmtime_adj(X509_getm_notAfter(p.cert), to);
	name = X509_get_subject_name(p.cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(p.cert, ca ? X509_get_subject_name(ca->cert) : name);
	X509_set_pubkey(p.cert, p.key);
	add_ext(p.cert, ca ? ca->cert : p.cert, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (key_usage != NULL)
		add_ext(p.cert, ca ? ca->cert : p.cert, NID_key_usage, key_usage);
	{
		EVP_PKEY *signkey = ca ? ca->key : p.key;
		int id = EVP_PKEY_get_base_id(signkey);
		const EVP_MD *md = id == EVP_PKEY_ED25519 ? NULL : EVP_sha256();

		CHECK(X509_sign(p.cert, signkey, md) > 0);
	}
	p.key_pem = to_pem(true, p.key, &p.key_len);
	p.cert_pem = to_pem(false, p.cert, &p.cert_len);
	return p;
}

static void free_pki(struct pki *p)
{
	EVP_PKEY_free(p->key);
	X509_free(p->cert);
	free(p->key_pem);
	free(p->cert_pem);
}

static struct cfs_trust *trust_of(const struct pki *a, const struct pki *b)
{
	struct cfs_trust *t;

	CHECK_EQ_INT(cfs_trust_new(&t), 0);
	if (a != NULL)
		CHECK_EQ_INT(cfs_trust_add_certs(t, a->cert_pem, a->cert_len), 0);
	if (b != NULL)
		CHECK_EQ_INT(cfs_trust_add_certs(t, b->cert_pem, b->cert_len), 0);
	return t;
}

static void sign(const struct pki *p, const char *chain_pem, unsigned flags, enum cfs_hash_alg alg,
		 const uint8_t *digest, uint8_t **sig, size_t *len)
{
	struct cfs_signer *s = NULL;
	char err[256] = "";
	const char *certs = chain_pem != NULL ? chain_pem : p->cert_pem;

	CHECK_EQ_INT(cfs_signer_new(p->key_pem, p->key_len, certs, strlen(certs), flags, &s, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_signer_sign(s, alg, digest, sig, len), 0);
	cfs_signer_free(s);
}

static void test_formatted(void)
{
	uint8_t d[64], out[CFS_SIGN_FORMATTED_MAX];
	size_t len;

	for (int i = 0; i < 64; i++)
		d[i] = (uint8_t)i;
	CHECK_EQ_INT(cfs_sign_formatted_digest(CFS_HASH_SHA256, d, out, &len), 0);
	CHECK_EQ_INT(len, 44);
	CHECK(memcmp(out, "FSVerity\x01\x00\x20\x00", 12) == 0);
	CHECK(memcmp(out + 12, d, 32) == 0);
	CHECK_EQ_INT(cfs_sign_formatted_digest(CFS_HASH_SHA512, d, out, &len), 0);
	CHECK_EQ_INT(len, 76);
	CHECK(memcmp(out, "FSVerity\x02\x00\x40\x00", 12) == 0);
	CHECK_EQ_INT(cfs_sign_formatted_digest((enum cfs_hash_alg)3, d, out, &len), -EINVAL);
}

/* Each key type: a good signature verifies; another digest, algorithm or signer does not. */
static void test_key_type(const char *type)
{
	struct pki p = make_pki(type, "signer", NULL, -DAY, 30 * DAY, false, NULL);
	struct pki other = make_pki(type, "other", NULL, -DAY, 30 * DAY, false, NULL);
	struct cfs_trust *t = trust_of(&p, NULL), *t_other = trust_of(&other, NULL);
	uint8_t digest[64], *sig, *sig2;
	size_t len, len2;

	memset(digest, 0xa5, sizeof(digest));
	for (int a = CFS_HASH_SHA256; a <= CFS_HASH_SHA512; a++) {
		sign(&p, NULL, 0, (enum cfs_hash_alg)a, digest, &sig, &len);
		CHECK_EQ_INT(cfs_trust_verify(t, (enum cfs_hash_alg)a, digest, sig, len), 0);
		CHECK_EQ_STR(cfs_trust_signer(t), "CN=signer");
		/* the other algorithm names another formatted digest */
		CHECK_EQ_INT(cfs_trust_verify(t, (enum cfs_hash_alg)(3 - a), digest, sig, len), -CFS_ESIGNATURE);
		digest[5] ^= 1;
		CHECK_EQ_INT(cfs_trust_verify(t, (enum cfs_hash_alg)a, digest, sig, len), -CFS_ESIGNATURE);
		CHECK(strstr(cfs_trust_errmsg(t), "does not match") != NULL);
		CHECK_EQ_STR(cfs_trust_signer(t), "");
		digest[5] ^= 1;
		CHECK_EQ_INT(cfs_trust_verify(t_other, (enum cfs_hash_alg)a, digest, sig, len), -CFS_EUNTRUSTED);
		CHECK(strstr(cfs_trust_errmsg(t_other), "CN=signer") != NULL);
		/* corrupt the last byte (inside the signature value) */
		sig[len - 1] ^= 0x40;
		CHECK(cfs_trust_verify(t, (enum cfs_hash_alg)a, digest, sig, len) < 0);
		sig[len - 1] ^= 0x40;
		/* truncated and extended DER are not signatures */
		CHECK_EQ_INT(cfs_trust_verify(t, (enum cfs_hash_alg)a, digest, sig, len - 1), -EUCLEAN);
		sig2 = malloc(len + 1);
		CHECK(sig2 != NULL);
		memcpy(sig2, sig, len);
		sig2[len] = 0;
		CHECK_EQ_INT(cfs_trust_verify(t, (enum cfs_hash_alg)a, digest, sig2, len + 1), -EUCLEAN);
		free(sig2);
		/* RSA signatures are deterministic: the same bytes again (as `fsverity sign`) */
		sign(&p, NULL, 0, (enum cfs_hash_alg)a, digest, &sig2, &len2);
		CHECK_EQ_INT(cfs_trust_verify(t, (enum cfs_hash_alg)a, digest, sig2, len2), 0);
		if (strcmp(type, "RSA") == 0 || strcmp(type, "ED25519") == 0)
			CHECK(len == len2 && memcmp(sig, sig2, len) == 0);
		free(sig2);
		free(sig);
	}
	cfs_trust_free(t);
	cfs_trust_free(t_other);
	free_pki(&p);
	free_pki(&other);
	printf("%s: sign, verify, wrong digest/algorithm/signer, corrupt ok\n", type);
}

static void test_validity(void)
{
	struct pki old = make_pki("EC", "old", NULL, -30 * DAY, -DAY, false, NULL);
	struct pki future = make_pki("EC", "future", NULL, DAY, 30 * DAY, false, NULL);
	struct pki enc = make_pki("EC", "enc-only", NULL, -DAY, DAY, false, "keyAgreement");
	struct pki dsig = make_pki("EC", "dsig", NULL, -DAY, DAY, false, "digitalSignature");
	struct cfs_trust *t = trust_of(&old, &future), *t2 = trust_of(&enc, &dsig);
	uint8_t digest[32] = { 1 }, *sig;
	size_t len;

	sign(&old, NULL, 0, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t, CFS_HASH_SHA256, digest, sig, len), -CFS_EEXPIRED);
	CHECK(strstr(cfs_trust_errmsg(t), "expired on") != NULL);
	CHECK(strstr(cfs_trust_errmsg(t), "CN=old") != NULL);
	free(sig);
	sign(&future, NULL, 0, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t, CFS_HASH_SHA256, digest, sig, len), -CFS_EEXPIRED);
	CHECK(strstr(cfs_trust_errmsg(t), "not valid before") != NULL);
	free(sig);
	sign(&enc, NULL, 0, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t2, CFS_HASH_SHA256, digest, sig, len), -CFS_EUNTRUSTED);
	CHECK(strstr(cfs_trust_errmsg(t2), "key usage") != NULL);
	free(sig);
	sign(&dsig, NULL, 0, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t2, CFS_HASH_SHA256, digest, sig, len), 0);
	free(sig);
	cfs_trust_free(t);
	cfs_trust_free(t2);
	free_pki(&old);
	free_pki(&future);
	free_pki(&enc);
	free_pki(&dsig);
	printf("validity period and key usage ok\n");
}

/* CA -> intermediate -> leaf: the CA alone is enough when the signature carries the chain. */
static void test_chain(void)
{
	struct pki ca = make_pki("RSA", "root", NULL, -DAY, 300 * DAY, true, "keyCertSign");
	struct pki mid = make_pki("EC", "mid", &ca, -DAY, 300 * DAY, true, "keyCertSign");
	struct pki leaf = make_pki("ED25519", "leaf", &mid, -DAY, 30 * DAY, false, "digitalSignature");
	struct pki rogue = make_pki("EC", "rogue-ca", NULL, -DAY, 300 * DAY, true, NULL);
	struct pki notca = make_pki("EC", "not-a-ca", NULL, -DAY, 300 * DAY, false, NULL);
	struct pki under_notca = make_pki("EC", "under", &notca, -DAY, 30 * DAY, false, NULL);
	struct cfs_trust *t_ca = trust_of(&ca, NULL), *t_leaf = trust_of(&leaf, NULL),
			 *t_rogue = trust_of(&rogue, NULL), *t_notca = trust_of(&notca, NULL);
	uint8_t digest[32] = { 7 }, *sig;
	size_t len, n = leaf.cert_len + mid.cert_len;
	char *chain = malloc(n + 1);

	CHECK(chain != NULL);
	snprintf(chain, n + 1, "%s%s", leaf.cert_pem, mid.cert_pem);
	/* without embedded certificates only the leaf itself can be trusted */
	sign(&leaf, chain, 0, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t_ca, CFS_HASH_SHA256, digest, sig, len), -CFS_EUNTRUSTED);
	CHECK_EQ_INT(cfs_trust_verify(t_leaf, CFS_HASH_SHA256, digest, sig, len), 0);
	free(sig);
	sign(&leaf, chain, CFS_SIGNER_EMBED_CERTS, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t_ca, CFS_HASH_SHA256, digest, sig, len), 0);
	CHECK_EQ_STR(cfs_trust_signer(t_ca), "CN=leaf");
	CHECK_EQ_INT(cfs_trust_verify(t_leaf, CFS_HASH_SHA256, digest, sig, len), 0);
	CHECK_EQ_INT(cfs_trust_verify(t_rogue, CFS_HASH_SHA256, digest, sig, len), -CFS_EUNTRUSTED);
	digest[0] ^= 1;
	CHECK_EQ_INT(cfs_trust_verify(t_ca, CFS_HASH_SHA256, digest, sig, len), -CFS_ESIGNATURE);
	digest[0] ^= 1;
	free(sig);
	/* leaf without the intermediate: no path to the root */
	sign(&leaf, NULL, CFS_SIGNER_EMBED_CERTS, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t_ca, CFS_HASH_SHA256, digest, sig, len), -CFS_EUNTRUSTED);
	free(sig);
	/* an issuer without CA:TRUE does not vouch for others */
	sign(&under_notca, NULL, CFS_SIGNER_EMBED_CERTS, CFS_HASH_SHA256, digest, &sig, &len);
	CHECK_EQ_INT(cfs_trust_verify(t_notca, CFS_HASH_SHA256, digest, sig, len), -CFS_EUNTRUSTED);
	free(sig);
	free(chain);
	cfs_trust_free(t_ca);
	cfs_trust_free(t_leaf);
	cfs_trust_free(t_rogue);
	cfs_trust_free(t_notca);
	free_pki(&ca);
	free_pki(&mid);
	free_pki(&leaf);
	free_pki(&rogue);
	free_pki(&notca);
	free_pki(&under_notca);
	printf("CA chains ok\n");
}

static void test_bad_input(void)
{
	struct pki p = make_pki("EC", "p", NULL, -DAY, DAY, false, NULL);
	struct pki q = make_pki("EC", "q", NULL, -DAY, DAY, false, NULL);
	struct cfs_signer *s = NULL;
	struct cfs_trust *t;
	uint8_t digest[32] = { 0 }, junk[100];
	char err[256] = "";

	CHECK_EQ_INT(cfs_signer_new(p.key_pem, p.key_len, q.cert_pem, q.cert_len, 0, &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "does not belong") != NULL);
	CHECK_EQ_INT(cfs_signer_new("junk", 4, q.cert_pem, q.cert_len, 0, &s, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(cfs_signer_new(p.key_pem, p.key_len, "junk", 4, 0, &s, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(cfs_signer_new(p.key_pem, p.key_len, p.cert_pem, p.cert_len, 0x80, &s, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(cfs_trust_new(&t), 0);
	CHECK_EQ_INT(cfs_trust_add_certs(t, "not a cert", 10), -EINVAL);
	CHECK_EQ_INT(cfs_trust_count(t), 0);
	CHECK_EQ_INT(cfs_trust_add_certs(t, p.cert_pem, p.cert_len), 0);
	memset(junk, 0x30, sizeof(junk));
	CHECK_EQ_INT(cfs_trust_verify(t, CFS_HASH_SHA256, digest, junk, sizeof(junk)), -EUCLEAN);
	CHECK_EQ_INT(cfs_trust_verify(t, CFS_HASH_SHA256, digest, junk, 0), -EUCLEAN);
	CHECK_EQ_INT(cfs_trust_verify(t, CFS_HASH_SHA256, digest, junk, CFS_SIGN_MAX_SIZE + 1), -EFBIG);
	/* a certificate is DER but not a signature */
	{
		unsigned char *der = NULL;
		int n = i2d_X509(p.cert, &der);

		CHECK(n > 0);
		CHECK_EQ_INT(cfs_trust_verify(t, CFS_HASH_SHA256, digest, der, (size_t)n), -EUCLEAN);
		CHECK_EQ_INT(cfs_trust_add_certs(t, der, (size_t)n), 0); /* and DER certificates load */
		CHECK_EQ_INT(cfs_trust_count(t), 2);
		OPENSSL_free(der);
	}
	cfs_trust_free(t);
	free_pki(&p);
	free_pki(&q);
	printf("bad input ok\n");
}

struct seen {
	int n;
	char names[4][65];
};

static int collect(void *user, const char *name, const void *sig, size_t len)
{
	struct seen *s = user;

	(void)sig;
	CHECK(len > 0);
	CHECK(s->n < 4);
	snprintf(s->names[s->n++], 65, "%s", name);
	return 0;
}

static void test_repo(void)
{
	char dir[] = "/tmp/test-sign-XXXXXX", path[256], err[512] = "", n1[65], n2[65], index[200];
	struct pki a = make_pki("EC", "a", NULL, -DAY, DAY, false, NULL);
	struct pki b = make_pki("RSA", "b", NULL, -DAY, DAY, false, NULL);
	uint8_t digest[32], *s1, *s2;
	struct cfs_repo *repo;
	struct seen seen = { 0 };
	size_t l1, l2;
	ssize_t n;
	int fd;

	memset(digest, 0x3c, sizeof(digest));
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/repo", dir);
	CHECK_EQ_INT(cfs_repo_init(AT_FDCWD, path, CFS_HASH_SHA256, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_open(AT_FDCWD, path, 0, &repo, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_signature_list(repo, digest, collect, &seen, err, sizeof(err)), 0);
	CHECK_EQ_INT(seen.n, 0);
	sign(&a, NULL, 0, CFS_HASH_SHA256, digest, &s1, &l1);
	sign(&b, NULL, 0, CFS_HASH_SHA256, digest, &s2, &l2);
	CHECK_EQ_INT(cfs_repo_signature_add(repo, digest, s1, l1, n1, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_signature_add(repo, digest, s2, l2, n2, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_signature_add(repo, digest, s1, l1, NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_signature_list(repo, digest, collect, &seen, err, sizeof(err)), 0);
	CHECK_EQ_INT(seen.n, 2);
	CHECK(strcmp(seen.names[0], seen.names[1]) < 0);
	CHECK((strcmp(seen.names[0], n1) == 0 && strcmp(seen.names[1], n2) == 0) ||
	      (strcmp(seen.names[0], n2) == 0 && strcmp(seen.names[1], n1) == 0));
	/* the index lists both, sorted, one per line */
	snprintf(path, sizeof(path), "%s/repo/signatures/%.64s/index", dir,
		 "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c");
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	n = read(fd, index, sizeof(index));
	close(fd);
	CHECK_EQ_INT(n, 130);
	CHECK(memcmp(index, seen.names[0], 64) == 0 && index[64] == '\n');
	CHECK(memcmp(index + 65, seen.names[1], 64) == 0 && index[129] == '\n');
	/* a tampered file no longer matches its name and is skipped */
	snprintf(path, sizeof(path), "%s/repo/signatures/%.64s/%s", dir,
		 "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c", n1);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, "x", 1), 1);
	close(fd);
	seen.n = 0;
	CHECK_EQ_INT(cfs_repo_signature_list(repo, digest, collect, &seen, err, sizeof(err)), 0);
	CHECK_EQ_INT(seen.n, 1);
	CHECK_EQ_STR(seen.names[0], n2);
	cfs_repo_free(repo);
	/* read-only handles cannot add */
	CHECK_EQ_INT(cfs_repo_open(AT_FDCWD, dir, 0, &repo, err, sizeof(err)) < 0, 1);
	snprintf(path, sizeof(path), "%s/repo", dir);
	CHECK_EQ_INT(cfs_repo_open(AT_FDCWD, path, CFS_REPO_READONLY, &repo, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_signature_add(repo, digest, s1, l1, NULL, err, sizeof(err)), -EROFS);
	cfs_repo_free(repo);
	free(s1);
	free(s2);
	free_pki(&a);
	free_pki(&b);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK_EQ_INT(system(cmd), 0);
	}
	printf("repository signatures ok\n");
}

/*
 * Signatures added at once by several processes: the index lists every one
 * (each add rewrites it from the directory, under the directory's lock).
 */
static void test_repo_concurrent(void)
{
	enum { PROCS = 8, ROUNDS = 6 };
	char dir[] = "/tmp/test-sign-XXXXXX", path[256], err[512] = "";
	struct pki a = make_pki("EC", "a", NULL, -DAY, DAY, false, NULL);
	uint8_t *sigs[PROCS];
	size_t lens[PROCS];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/repo", dir);
	CHECK_EQ_INT(cfs_repo_init(AT_FDCWD, path, CFS_HASH_SHA256, 0, err, sizeof(err)), 0);
	for (int round = 0; round < ROUNDS; round++) {
		uint8_t digest[32];
		char index[PROCS * 65 + 16], idxpath[400], hex[65];
		pid_t pids[PROCS];
		ssize_t n;
		int fd;

		memset(digest, 0x40 + round, sizeof(digest));
		for (int i = 0; i < PROCS; i++)
			sign(&a, NULL, 0, CFS_HASH_SHA256, digest, &sigs[i], &lens[i]); /* ECDSA: all differ */
		for (int i = 0; i < PROCS; i++) {
			pids[i] = fork();
			CHECK(pids[i] >= 0);
			if (pids[i] == 0) {
				struct cfs_repo *repo;

				if (cfs_repo_open(AT_FDCWD, path, 0, &repo, err, sizeof(err)) < 0 ||
				    cfs_repo_signature_add(repo, digest, sigs[i], lens[i], NULL, err, sizeof(err)) < 0)
					_exit(1);
				cfs_repo_free(repo);
				_exit(0);
			}
		}
		for (int i = 0; i < PROCS; i++) {
			int status;

			CHECK(waitpid(pids[i], &status, 0) == pids[i]);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			free(sigs[i]);
		}
		for (size_t i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", digest[i]);
		snprintf(idxpath, sizeof(idxpath), "%s/signatures/%s/index", path, hex);
		fd = open(idxpath, O_RDONLY);
		CHECK(fd >= 0);
		n = read(fd, index, sizeof(index));
		close(fd);
		CHECK_EQ_INT(n, PROCS * 65);
	}
	free_pki(&a);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK_EQ_INT(system(cmd), 0);
	}
	printf("concurrent repository signatures ok\n");
}

int main(void)
{
	test_formatted();
	test_key_type("RSA");
	test_key_type("EC");
	test_key_type("ED25519");
	test_validity();
	test_chain();
	test_bad_input();
	test_repo();
	test_repo_concurrent();
	printf("test-sign: all passed\n");
	return 0;
}
