/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: what registries, users and auth files give (WWW-Authenticate, image references,
 * auth.json, token answers). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool printable_token(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct oci_challenge c;
	struct oci_regref ref;
	struct oci_cred cred;
	char err[256], *s, *token = NULL;

	if (oci_challenge_parse(buf, size, &c) == 0) {
		/* a Bearer challenge always has a realm (the URL tokens come from) */
		if (c.scheme == OCI_AUTH_NONE || (c.scheme == OCI_AUTH_BEARER && (c.realm == NULL || c.realm[0] == '\0')))
			abort();
		oci_challenge_clear(&c);
	}
	if (oci_authfile_lookup(buf, size, "127.0.0.1:5000", "a/b", &cred, err, sizeof(err)) == 0) {
		if (cred.user == NULL || cred.password == NULL || strchr(cred.user, ':') != NULL)
			abort();
		oci_cred_clear(&cred);
	}
	if (oci_authfile_lookup(buf, size, "docker.io", "library/x", &cred, err, sizeof(err)) == 0)
		oci_cred_clear(&cred);
	if (oci_token_parse(buf, size, &token, err, sizeof(err)) == 0) {
		/* it goes into a header line */
		if (token[0] == '\0' || !printable_token(token))
			abort();
		free(token);
	}
	s = strndup(buf, size);
	if (s == NULL)
		return 0;
	if (oci_regref_parse(s, &ref, err, sizeof(err)) == 0) {
		/* the parts go into URL paths: nothing that could leave them */
		if (strstr(ref.repo, "..") != NULL || strchr(ref.repo, '?') != NULL || strchr(ref.repo, '#') != NULL ||
		    strchr(ref.api_host, '/') != NULL || strchr(ref.api_host, '@') != NULL ||
		    (ref.tag == NULL && ref.digest[0] == '\0') || (ref.tag != NULL && strchr(ref.tag, '/') != NULL) ||
		    (ref.digest[0] != '\0' && !oci_digest_valid(ref.digest)))
			abort();
		oci_regref_clear(&ref);
	}
	free(s);
	return 0;
}
