/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in (composefs-c): the composefs header that starts every image. */
#ifndef LIBCOMPOSEFS_LCFS_EROFS_H
#define LIBCOMPOSEFS_LCFS_EROFS_H

#include <stdint.h>

/*
 * Every composefs image begins with this 32-byte header (little-endian on
 * disk), followed by the EROFS superblock at offset 1024. Same values and
 * layout as the reference libcomposefs.
 */

/** Value of the header's version field. */
#define LCFS_EROFS_VERSION 1
/** Value of the header's magic field. */
#define LCFS_EROFS_MAGIC 0xd078629aU

/** Header flags. */
typedef enum {
	/** Some inode carries a POSIX ACL (mount EROFS without "noacl"). */
	LCFS_EROFS_FLAGS_HAS_ACL = (1 << 0),
} lcfs_erofs_flag_t;

/**
 * struct lcfs_erofs_header_s - the image header.
 * @magic:             LCFS_EROFS_MAGIC.
 * @version:           LCFS_EROFS_VERSION.
 * @flags:             lcfs_erofs_flag_t bits.
 * @composefs_version: format version the image was written with (0 or 1,
 *                     see LCFS_VERSION_MAX in lcfs-writer.h).
 * @unused:            zero.
 */
struct lcfs_erofs_header_s {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t composefs_version;
	uint32_t unused[4];
} __attribute__((__packed__));

#endif
