/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer: the split stream reader on hostile bytes (sha256 and sha512), and a layer's tree
 * rebuilt from one (what oci pull does for layers it has); every refusal explained. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-private.h"
#include "splitstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const uint8_t *data, size_t size, enum cfs_hash_alg alg)
{
	struct cfs_splitstream *s = NULL;
	struct cfs_splitstream_chunk c;
	char err[256] = "";
	uint64_t inline_bytes = 0;
	int r = cfs_splitstream_open_mem(data, size, alg, 0, &s, err, sizeof(err));

	if (r < 0) {
		if (err[0] == '\0' && r != -ENOMEM)
			abort(); /* every refusal says why */
		return;
	}
	for (size_t i = 0; i < cfs_splitstream_n_named(s); i++) {
		const uint8_t *d = NULL;
		const char *name = cfs_splitstream_named(s, i, &d);

		if (name == NULL || d == NULL || cfs_splitstream_lookup(s, name) == NULL)
			abort();
	}
	while ((r = cfs_splitstream_next(s, &c, err, sizeof(err))) == 1) {
		if (c.external) {
			if (c.object >= cfs_splitstream_n_objects(s) || c.digest != cfs_splitstream_object(s, c.object))
				abort();
		} else {
			if (c.len == 0)
				abort();
			inline_bytes += c.len;
			if (inline_bytes > cfs_splitstream_stream_size(s))
				abort(); /* the reader bounds inline bytes by the stream size */
		}
	}
	if (r < 0 && err[0] == '\0' && r != -ENOMEM)
		abort();
	cfs_splitstream_free(s);
	if (cfs_splitstream_open_mem(data, size, alg, CFS_SPLITSTREAM_CT_OCI_LAYER, &s, err, sizeof(err)) == 0) {
		struct cfs_node *tree = NULL;

		err[0] = '\0';
		r = oci_layer_from_stream(s, alg, &tree, err, sizeof(err));
		if (r < 0 && err[0] == '\0' && r != -ENOMEM)
			abort();
		if (r == 0 && tree == NULL)
			abort();
		cfs_node_unref(tree);
		cfs_splitstream_free(s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, CFS_HASH_SHA256);
	run(data, size, CFS_HASH_SHA512);
	return 0;
}
