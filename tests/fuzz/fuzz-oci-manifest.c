/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: OCI/Docker JSON documents (index, manifest, config, docker-archive manifest.json). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char err[256], **v = NULL, *config = NULL;
	struct oci_doc doc;
	size_t n = 0, w;

	if (oci_doc_parse(buf, size, &doc, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < doc.n_descs; i++)
			if (!oci_digest_valid(doc.descs[i].digest))
				abort();
		if (doc.kind == OCI_DOC_INDEX) {
			oci_index_select(&doc, "linux/amd64", &w, err, sizeof(err));
			if (oci_index_select(&doc, "linux/arm/v7", &w, err, sizeof(err)) == 0 && w >= doc.n_descs)
				abort();
		}
		oci_doc_clear(&doc);
	}
	if (oci_config_parse(buf, size, &v, &n, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (!oci_digest_valid(v[i]))
				abort();
		oci_strv_free(v, n);
	}
	if (oci_docker_manifest_parse(buf, size, NULL, &config, &v, &n, err, sizeof(err)) == 0) {
		free(config);
		oci_strv_free(v, n);
	}
	if (oci_docker_manifest_parse(buf, size, "a:b", &config, &v, &n, err, sizeof(err)) == 0) {
		free(config);
		oci_strv_free(v, n);
	}
	return 0;
}
