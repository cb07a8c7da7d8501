/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs sign / verify: signatures of image files and of repository images. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/repo.h>
#include <composefs/sign.h>
#include <composefs/verity.h>

#include "composefs.h"
#include "sigcheck.h"

#define MAX_TRUST 64

static struct cfs_signer *load_signer(const char *key, const char *cert, bool embed)
{
	struct cfs_signer *s = NULL;
	uint8_t *kbuf, *cbuf;
	size_t klen, clen;
	char err[512] = "";
	int r;

	tool_read_file(key, 1024 * 1024, &kbuf, &klen);
	tool_read_file(cert, 1024 * 1024, &cbuf, &clen);
	r = cfs_signer_new(kbuf, klen, cbuf, clen, embed ? CFS_SIGNER_EMBED_CERTS : 0, &s, err,
			   sizeof(err));
	/* the key is no longer needed in this buffer */
	explicit_bzero(kbuf, klen);
	free(kbuf);
	free(cbuf);
	if (r < 0)
		tool_die("%s, %s: %s", key, cert, err[0] ? err : strerror(-r));
	return s;
}

static void write_sig(const char *path, const uint8_t *sig, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		tool_die_errno(-errno, "%s", path);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, sig + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			tool_die_errno(-errno, "%s", path);
		off += (size_t)n;
	}
	if (close(fd) < 0)
		tool_die_errno(-errno, "%s", path);
}

/* composefs sign FILE --output SIG | --enable-verity */
static int sign_file(const char *file, struct cfs_signer *s, enum cfs_hash_alg alg,
		     const char *output, bool enable)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST], *sig;
	size_t len;
	int fd, r;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tool_die_errno(-errno, "%s", file);
	r = cfs_verity_measure_fd(fd, alg, digest, NULL);
	if (r < 0)
		tool_die_errno(r, "%s: computing its fs-verity digest", file);
	r = cfs_signer_sign(s, alg, digest, &sig, &len);
	if (r < 0)
		tool_die("%s: %s", file, cfs_signer_errmsg(s));
	if (output != NULL)
		write_sig(output, sig, len);
	if (enable) {
		r = cfs_sign_enable_verity(fd, alg, sig, len);
		if (r == -EEXIST)
			tool_die("%s: fs-verity is already enabled (a signature can only be given when enabling it)",
				file);
		if (r == -EOPNOTSUPP)
			tool_die("%s: the kernel or file system has no fs-verity (or no builtin signatures)",
				file);
		if (r == -EKEYREJECTED || r == -ENOKEY || r == -EBADMSG)
			tool_die_errno(r, "%s: the kernel refused the signature (is the certificate in the .fs-verity keyring?)",
				      file);
		if (r < 0)
			tool_die_errno(r, "%s: enabling fs-verity", file);
	}
	free(sig);
	close(fd);
	return EXIT_OK;
}

/* composefs --repo R sign REF: store the signature beside the image */
static int sign_repo(struct tool *t, const char *ref, struct cfs_signer *s)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST], *sig;
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1], name[65], err[512] = "";
	struct cfs_repo *repo = tool_open_repo(t, false);
	size_t len;
	int fd, r;

	if (cfs_repo_resolve(repo, ref, digest, NULL) < 0)
		tool_die("%s", cfs_repo_errmsg(repo));
	cfs_repo_digest_hex(repo, digest, hex);
	/* only vouch for an image whose content really has that digest */
	if (cfs_repo_open_image(repo, digest, true, &fd) < 0)
		tool_die("%s", cfs_repo_errmsg(repo));
	close(fd);
	r = cfs_signer_sign(s, cfs_repo_hash_alg(repo), digest, &sig, &len);
	if (r < 0)
		tool_die("image %s: %s", hex, cfs_signer_errmsg(s));
	r = cfs_repo_signature_add(repo, digest, sig, len, name, err, sizeof(err));
	if (r < 0)
		tool_die("image %s: %s", hex, err[0] ? err : strerror(-r));
	printf("signatures/%s/%s\n", hex, name);
	free(sig);
	cfs_repo_free(repo);
	return EXIT_OK;
}

int cmd_sign(struct tool *t)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "cert", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "hash", required_argument, NULL, 'H' },
		{ "embed-cert", no_argument, NULL, 'e' },
		{ "enable-verity", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *cert = NULL, *output = NULL, *hash = NULL;
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	bool embed = false, enable = false;
	struct cfs_signer *s;
	int c, ret;

	while ((c = tool_getopt(t, "h", opts)) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'c': cert = optarg; break;
		case 'o': output = optarg; break;
		case 'H': hash = optarg; break;
		case 'e': embed = true; break;
		case 'v': enable = true; break;
		case 'h':
			printf("Usage: %s sign FILE --key KEY --cert CERT [--output SIG] [--enable-verity]\n"
			       "       %s sign IMAGE --key KEY --cert CERT   (store it in the repository)\n"
			       "Sign the fs-verity digest of FILE, or of the repository image IMAGE (a name\n"
			       "or a digest), with a detached PKCS#7 signature as `fsverity sign` makes it.\n\n"
			       "  --key KEY          private key (PEM or DER, unencrypted)\n"
			       "  --cert CERT        its certificate (PEM or DER)\n"
			       "  --output SIG       write the signature of FILE to SIG\n"
			       "  --enable-verity    enable fs-verity on FILE with the signature\n"
			       "  --hash ALG         digest of FILE to sign: sha256 (default) or sha512\n"
			       "  --embed-cert       put CERT (and any CA certificates after it) into the\n"
			       "                     signature, for verification against a trusted CA\n",
			       tool_prog, tool_prog);
			return EXIT_OK;
		}
	}
	if (t->argc - optind != 1)
		tool_usage_error("sign: expected one FILE or IMAGE");
	if (key == NULL || cert == NULL)
		tool_usage_error("sign: --key and --cert are required");
	if (hash != NULL && cfs_hash_alg_from_name(hash, &alg) < 0)
		tool_usage_error("--hash %s: expected sha256 or sha512", hash);
	if (hash != NULL && output == NULL && !enable)
		tool_usage_error("sign: --hash is for files (the repository decides for its images)");
	s = load_signer(key, cert, embed);
	if (output != NULL || enable)
		ret = sign_file(t->argv[optind], s, alg, output, enable);
	else
		ret = sign_repo(t, t->argv[optind], s);
	cfs_signer_free(s);
	return ret;
}

void tool_require_repo_signature(struct cfs_repo *repo, const uint8_t *digest,
				 struct cfs_trust *trust, bool quiet)
{
	struct tool_sig_seen rc;
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1], err[512] = "";
	int r;

	cfs_repo_digest_hex(repo, digest, hex);
	r = tool_repo_signature_find(repo, cfs_repo_hash_alg(repo), digest, trust, &rc, err, sizeof(err));
	if (r < 0)
		tool_die("image %s: signatures: %s", hex, err[0] ? err : strerror(-r));
	if (r == 1) {
		if (!quiet)
			printf("image %s: signed by %s\n", hex, cfs_trust_signer(trust));
		return;
	}
	if (rc.n_seen == 0)
		tool_die("image %s is not signed", hex);
	if (rc.n_seen == 1)
		tool_die("image %s: signature rejected: %s", hex, rc.last);
	tool_die("image %s: none of its %u signatures is acceptable (last: %s)", hex, rc.n_seen,
		rc.last);
}

int cmd_verify(struct tool *t)
{
	static const struct option opts[] = {
		{ "trust", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *trust_paths[MAX_TRUST];
	struct cfs_trust *trust;
	size_t n_trust = 0;
	int c, nargs;

	while ((c = tool_getopt(t, "h", opts)) != -1) {
		switch (c) {
		case 't':
			if (n_trust == MAX_TRUST)
				tool_usage_error("verify: more than %d --trust options", MAX_TRUST);
			trust_paths[n_trust++] = optarg;
			break;
		case 'h':
			printf("Usage: %s verify FILE SIG --trust CERT|DIR...\n"
			       "       %s verify IMAGE --trust CERT|DIR...   (a repository image)\n"
			       "Check that SIG (or a stored signature of IMAGE) is a signature of the\n"
			       "fs-verity digest by a trusted certificate: one given, one in a directory\n"
			       "(*.pem, *.crt, *.cer), or one that the signature embeds and that chains to a\n"
			       "trusted CA. Exit 0 if so, 1 with the reason otherwise.\n",
			       tool_prog, tool_prog);
			return EXIT_OK;
		}
	}
	nargs = t->argc - optind;
	if (nargs != 1 && nargs != 2)
		tool_usage_error("verify: expected FILE SIG, or IMAGE");
	if (n_trust == 0)
		tool_usage_error("verify: --trust is required");
	trust = tool_load_trust(trust_paths, n_trust);
	if (nargs == 2) {
		const char *file = t->argv[optind];
		uint8_t digest[CFS_VERITY_MAX_DIGEST];
		char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
		uint32_t alg = 0;
		int fd = open(file, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			tool_die_errno(-errno, "%s", file);
		tool_check_signature(trust, t->argv[optind + 1], fd, file, &alg, digest);
		for (size_t i = 0; i < cfs_verity_digest_size(alg); i++)
			snprintf(hex + 2 * i, 3, "%02x", digest[i]);
		printf("%s: signed by %s (%s:%s)\n", file, cfs_trust_signer(trust),
		       cfs_hash_alg_name(alg), hex);
		close(fd);
	} else {
		struct cfs_repo *repo = tool_open_repo(t, true);
		uint8_t digest[CFS_VERITY_MAX_DIGEST];
		int fd;

		if (cfs_repo_resolve(repo, t->argv[optind], digest, NULL) < 0)
			tool_die("%s", cfs_repo_errmsg(repo));
		/* the signatures vouch for the digest; the image must have it too */
		if (cfs_repo_open_image(repo, digest, true, &fd) < 0)
			tool_die("%s", cfs_repo_errmsg(repo));
		close(fd);
		tool_require_repo_signature(repo, digest, trust, false);
		cfs_repo_free(repo);
	}
	cfs_trust_free(trust);
	return EXIT_OK;
}
