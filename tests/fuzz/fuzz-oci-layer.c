/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: a layer stream (tar, gzip or zstd) -> tree, merged twice over itself, written. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <composefs/composefs.h>

#include "oci-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t left;
};

/* small reads, so records and blocks straddle callbacks */
static ssize_t mem_read(void *user, void *buf, size_t len)
{
	struct mem *m = user;
	size_t n = len < m->left ? len : m->left;

	if (n > 777)
		n = 777;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

static int sink(void *user, const void *buf, size_t len)
{
	(void)user;
	(void)buf;
	(void)len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = { data, size };
	struct cfs_node *layer = NULL, *root = NULL;
	struct oci_merge *merge = NULL;
	char err[512], diff_id[OCI_DIGEST_LEN + 1];

	if (oci_layer_read(mem_read, &m, NULL, NULL, CFS_HASH_SHA256, NULL, &layer, diff_id, err, sizeof(err)) < 0)
		return 0;
	if (!oci_digest_valid(diff_id))
		abort();
	/* the layer image itself must be writable, as pull stores it */
	cfs_write_image(layer, NULL, sink, NULL, NULL, err, sizeof(err));
	if (oci_merge_new(&merge) == 0 && oci_merge_add(merge, layer, err, sizeof(err)) == 0 &&
	    oci_merge_add(merge, layer, err, sizeof(err)) == 0 && oci_merge_finish(merge, &root, err, sizeof(err)) == 0)
		cfs_write_image(root, NULL, sink, NULL, NULL, err, sizeof(err));
	oci_merge_free(merge);
	cfs_node_unref(root);
	cfs_node_unref(layer);
	return 0;
}
