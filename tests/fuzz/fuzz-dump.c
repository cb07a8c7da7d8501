/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: dump parser (lenient and strict), printer, print/re-parse stability, writer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <composefs/composefs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_mem(struct cfs_node *root, const char *const *filters, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (f == NULL)
		abort();
	if (cfs_dump_print(root, f, filters) != 0)
		abort();
	if (fclose(f) != 0)
		abort();
	return buf;
}

static int count_sink(void *user, const void *buf, size_t len)
{
	(void)buf;
	*(size_t *)user += len;
	return 0;
}

/* every accepted tree goes through the writer too (mkcomposefs does that with dumps) */
static void write_one(struct cfs_node *root)
{
	uint8_t digest[32];
	char errbuf[256];
	size_t total = 0;

	if (cfs_write_image(root, NULL, count_sink, &total, digest, errbuf, sizeof(errbuf)) == 0 &&
	    (total == 0 || total % 4096 != 0))
		abort();
}

static int find_unservable(const struct cfs_walk_entry *e, void *user)
{
	if (!cfs_node_payload_servable(e->node))
		*(bool *)user = true;
	return 0;
}

static void check_one(const char *text, size_t len, unsigned flags)
{
	static const char *const filters[] = { "a", "usr", NULL };
	struct cfs_dump_error err;
	struct cfs_node *root = NULL, *again = NULL;
	char *out, *out2;
	size_t olen, olen2;

	if (cfs_dump_parse_buf(text, len, flags, &root, &err) != 0) {
		/* every rejection explains itself */
		if (root != NULL || err.msg[0] == '\0')
			abort();
		return;
	}
	write_one(root);
	out = print_mem(root, NULL, &olen);
	/*
	 * What we print must parse (also strictly) and print the same again. The one thing the
	 * lenient parser accepts (with a warning) that the strict one refuses is a payload no
	 * mount can serve: such a tree re-parses leniently.
	 */
	bool unservable = false;

	if (cfs_node_walk(root, 0, find_unservable, NULL, &unservable) != 0)
		abort();
	if (cfs_dump_parse_buf(out, olen, flags | (unservable ? 0 : CFS_DUMP_STRICT), &again, &err) != 0) {
		fprintf(stderr, "re-parse failed: %s\n", err.msg);
		abort();
	}
	out2 = print_mem(again, NULL, &olen2);
	if (olen != olen2 || memcmp(out, out2, olen) != 0)
		abort();
	free(out2);
	out2 = print_mem(again, filters, &olen2);
	free(out2);
	cfs_node_unref(again);
	free(out);
	cfs_node_unref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_one((const char *)data, size, 0);
	check_one((const char *)data, size, CFS_DUMP_STRICT);
	return 0;
}
