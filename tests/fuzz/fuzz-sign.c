/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: signature, certificate and key parsing of lib/sign (trust sets, verify, signer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <composefs/composefs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: mode byte, le16 length N, N bytes "A", the rest "B".
 *  mode even: A = extra trusted certificates (PEM/DER), B = a signature,
 *             verified for the digest below (sha256 and sha512) against the
 *             fixed certificate plus A;
 *  mode odd:  A = a private key, B = its certificate(s): load them; when
 *             they load, sign the digest and verify it against B.
 * The seeds (tests/fuzz/corpus/sign/) hold real signatures by this certificate.
 */
static const char fixed_cert[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBgzCCASmgAwIBAgIUSF/ofbi8NZi3sIxhGS0gm/LxwKgwCgYIKoZIzj0EAwIw\n"
	"FjEUMBIGA1UEAwwLZnV6ei1zaWduZXIwIBcNMjYxMTMwMDcyNTIyWhgPMjEyNjEx\n"
	"MDYwNzI1MjJaMBYxFDASBgNVBAMMC2Z1enotc2lnbmVyMFkwEwYHKoZIzj0CAQYI\n"
	"KoZIzj0DAQcDQgAEgXAGQJP6DSK/SReT6PFfZ1CfLxfpgvzCBl922sZHOBsNIi9B\n"
	"zVpDu3tam4x6LwsnL3bi6K5um1jBKBEX+KYpnqNTMFEwHQYDVR0OBBYEFDZlIYrW\n"
	"bVpTZSRo6I8EaAL4xcx2MB8GA1UdIwQYMBaAFDZlIYrWbVpTZSRo6I8EaAL4xcx2\n"
	"MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAK+W+89sr0yMLZrn\n"
	"0Do+Tq/jt5YpXBuDjTBsmah+xPXuAiAC8AnUIHTLmsP+Shl0VzYftZ11Zre6abip\n"
	"r+IFwFZitg==\n"
	"-----END CERTIFICATE-----\n"
	;

static void verify(struct cfs_trust *t, const uint8_t *sig, size_t len)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];

	memset(digest, 0x11, sizeof(digest));
	for (int alg = CFS_HASH_SHA256; alg <= CFS_HASH_SHA512; alg++) {
		int r = cfs_trust_verify(t, (enum cfs_hash_alg)alg, digest, sig, len);

		/* every answer is explained; an accepted one names its signer */
		if (r < 0 && cfs_trust_errmsg(t)[0] == '\0')
			abort();
		if (r == 0 && cfs_trust_signer(t)[0] == '\0')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *a, *b;
	size_t alen, blen;
	struct cfs_trust *t = NULL;

	if (size < 3)
		return 0;
	alen = (size_t)data[1] | (size_t)data[2] << 8;
	if (alen > size - 3)
		alen = size - 3;
	a = data + 3;
	b = a + alen;
	blen = size - 3 - alen;
	if (cfs_trust_new(&t) < 0)
		abort();
	if (data[0] % 2 == 0) {
		if (cfs_trust_add_certs(t, fixed_cert, strlen(fixed_cert)) != 0)
			abort();
		(void)cfs_trust_add_certs(t, a, alen);
		verify(t, b, blen);
	} else {
		struct cfs_signer *s = NULL;
		char err[256];

		if (cfs_signer_new(a, alen, b, blen, data[0] & 2 ? CFS_SIGNER_EMBED_CERTS : 0, &s, err,
				   sizeof(err)) == 0) {
			uint8_t digest[CFS_VERITY_MAX_DIGEST], *sig = NULL;
			size_t len;

			memset(digest, 0x11, sizeof(digest));
			if (cfs_signer_sign(s, CFS_HASH_SHA256, digest, &sig, &len) == 0) {
				if (cfs_trust_add_certs(t, b, blen) == 0)
					verify(t, sig, len);
				free(sig);
			}
			cfs_signer_free(s);
		} else if (err[0] == '\0') {
			abort();
		}
	}
	cfs_trust_free(t);
	return 0;
}
