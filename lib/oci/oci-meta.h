/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Records of pulled OCI images: oci/images/<escaped name> in the repository. */
#ifndef CFS_OCI_META_H
#define CFS_OCI_META_H

#include <stddef.h>
#include <stdint.h>

#include <composefs/repo.h>

struct oci_record {
	const char *name;
	const char *source;
	const char *config;
	const char *manifest;
	const uint8_t *image;
	size_t n_layers;
	const char *const *diff_ids;
};

/* Write (replace) the record of @rec->name, durably. */
int oci_record_write(struct cfs_repo *repo, const struct oci_record *rec, char *err, size_t errlen);

#endif
