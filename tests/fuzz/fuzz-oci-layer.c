/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: a layer stream (tar, gzip or zstd) -> tree, merged twice over itself, written;
 * the tree rebuilt from the layer's split stream must write the same image. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <composefs/composefs.h>

#include "oci-private.h"
#include "splitstream.h"
#include "../tools/mem-io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *user, const void *buf, size_t len)
{
	(void)user;
	(void)buf;
	(void)len;
	return 0;
}

/* The layer's tree rebuilt from the split stream written while reading it must be the same tree:
 * both write the same image bytes (or both are refused by the writer). */
static void check_rebuild(struct cfs_node *layer, struct cfs_splitstream_writer *w)
{
	struct image a = { 0 }, b = { 0 };
	struct cfs_splitstream *s = NULL;
	struct cfs_node *again = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[512] = "";
	int ra, rb;

	if (cfs_splitstream_writer_finish(w, &buf, &len) < 0)
		return;
	if (cfs_splitstream_open_mem(buf, len, CFS_HASH_SHA256, CFS_SPLITSTREAM_CT_OCI_LAYER, &s, err, sizeof(err)) < 0)
		abort(); /* our own writer's stream */
	ra = oci_layer_from_stream(s, CFS_HASH_SHA256, &again, err, sizeof(err));
	if (ra < 0) {
		if (ra != -ENOMEM) {
			fprintf(stderr, "rebuild from the split stream: %s\n", err);
			abort(); /* what was read from the tar is rebuilt from its stream */
		}
		goto out;
	}
	ra = cfs_write_image(layer, NULL, collect, &a, NULL, err, sizeof(err));
	rb = cfs_write_image(again, NULL, collect, &b, NULL, err, sizeof(err));
	if (ra != rb || (ra == 0 && (a.n != b.n || memcmp(a.p, b.p, a.n) != 0)))
		abort();
out:
	free(a.p);
	free(b.p);
	cfs_node_unref(again);
	cfs_splitstream_free(s);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = { data, size, 777 }; /* small reads: records and blocks straddle callbacks */
	struct cfs_node *layer = NULL, *root = NULL;
	struct cfs_splitstream_writer *w = NULL;
	struct oci_merge *merge = NULL;
	char err[512], diff_id[OCI_DIGEST_LEN + 1];

	if (cfs_splitstream_writer_new(CFS_HASH_SHA256, CFS_SPLITSTREAM_CT_OCI_LAYER, &w) < 0)
		return 0;
	if (oci_layer_read(mem_read, &m, NULL, NULL, CFS_HASH_SHA256, w, &layer, diff_id, err, sizeof(err)) < 0) {
		cfs_splitstream_writer_free(w);
		return 0;
	}
	if (!oci_digest_valid(diff_id))
		abort();
	check_rebuild(layer, w);
	cfs_splitstream_writer_free(w);
	if (oci_merge_new(&merge) == 0 && oci_merge_add(merge, layer, err, sizeof(err)) == 0 &&
	    oci_merge_add(merge, layer, err, sizeof(err)) == 0 && oci_merge_finish(merge, &root, err, sizeof(err)) == 0)
		cfs_write_image(root, NULL, sink, NULL, NULL, err, sizeof(err));
	oci_merge_free(merge);
	cfs_node_unref(root);
	cfs_node_unref(layer);
	return 0;
}
