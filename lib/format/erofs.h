/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* On-disk layout of composefs images: the composefs header and the EROFS structures we use. */
#ifndef CFS_FORMAT_EROFS_H
#define CFS_FORMAT_EROFS_H

#include <assert.h>
#include <stdint.h>

#include <composefs/image.h>

/*
 * Every multi-byte field is little-endian on disk; convert with htole*()/le*toh()
 * from <endian.h>. Field names follow the Linux EROFS documentation.
 *
 * Format history (composefs_version in the composefs header):
 *   0  original layout; whiteouts written as 0/0 character devices.
 *   1  adds the xattr name filter (bloom) in each inode's xattr header, the
 *      EROFS_FEATURE_COMPAT_XATTR_FILTER bit, and overlay whiteout xattrs
 *      (trusted.overlay.overlay.whiteout) on escaped whiteouts.
 */

#define CFS_BLOCK_BITS 12
#define CFS_BLOCK_SIZE 4096u

/*
 * Directories may nest this deep below the root (depth 0) and no deeper: the
 * reader refuses deeper ones (it loads trees recursively), so the writer
 * refuses to produce them.
 */
#define CFS_DIR_DEPTH_MAX 2047u

/* composefs header, at offset 0 of every image */
#define CFS_MAGIC 0xd078629aU
#define CFS_HEADER_VERSION 1
#define CFS_HEADER_FLAG_HAS_ACL CFS_IMAGE_FLAG_HAS_ACL /* the public name */

struct cfs_disk_header {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t composefs_version;
	uint32_t unused[4];
} __attribute__((__packed__));
static_assert(sizeof(struct cfs_disk_header) == 32, "composefs header size");

/* EROFS superblock, at offset 1024 */
#define EROFS_SUPER_OFFSET 1024
#define EROFS_SUPER_MAGIC_V1 0xE0F5E1E2U

#define EROFS_FEATURE_COMPAT_SB_CHKSUM 0x00000001
#define EROFS_FEATURE_COMPAT_MTIME 0x00000002
#define EROFS_FEATURE_COMPAT_XATTR_FILTER 0x00000004

#define EROFS_FEATURE_INCOMPAT_ZERO_PADDING 0x00000001
#define EROFS_FEATURE_INCOMPAT_CHUNKED_FILE 0x00000004
#define EROFS_FEATURE_INCOMPAT_DEVICE_TABLE 0x00000008

struct erofs_disk_super {
	uint32_t magic;
	uint32_t checksum;
	uint32_t feature_compat;
	uint8_t blkszbits;
	uint8_t sb_extslots;
	uint16_t root_nid;
	uint64_t inos;
	uint64_t build_time;
	uint32_t build_time_nsec;
	uint32_t blocks;
	uint32_t meta_blkaddr;
	uint32_t xattr_blkaddr;
	uint8_t uuid[16];
	uint8_t volume_name[16];
	uint32_t feature_incompat;
	uint16_t available_compr_algs;
	uint16_t extra_devices;
	uint16_t devt_slotoff;
	uint8_t dirblkbits;
	uint8_t xattr_prefix_count;
	uint32_t xattr_prefix_start;
	uint64_t packed_nid;
	uint8_t xattr_filter_reserved;
	uint8_t reserved2[23];
} __attribute__((__packed__));
static_assert(sizeof(struct erofs_disk_super) == 128, "erofs superblock size");

/* i_format: bit 0 = extended inode, bits 1..3 = data layout */
#define EROFS_I_VERSION_BIT 0
#define EROFS_I_VERSION_MASK 0x01
#define EROFS_I_DATALAYOUT_BIT 1
#define EROFS_I_DATALAYOUT_MASK 0x07
#define EROFS_I_ALL 0x0f

#define EROFS_INODE_LAYOUT_COMPACT 0
#define EROFS_INODE_LAYOUT_EXTENDED 1

#define EROFS_INODE_FLAT_PLAIN 0
#define EROFS_INODE_COMPRESSED_FULL 1
#define EROFS_INODE_FLAT_INLINE 2
#define EROFS_INODE_COMPRESSED_COMPACT 3
#define EROFS_INODE_CHUNK_BASED 4

/* chunk info format (i_u for chunk-based inodes) */
#define EROFS_CHUNK_FORMAT_BLKBITS_MASK 0x001f
#define EROFS_CHUNK_FORMAT_INDEXES 0x0020

#define EROFS_NULL_ADDR 0xffffffffU

union erofs_disk_inode_u {
	uint32_t raw_blkaddr;
	uint32_t rdev;
	uint32_t compressed_blocks;
	struct {
		uint16_t format;
		uint16_t reserved;
	} c;
};

struct erofs_disk_inode_compact {
	uint16_t i_format;
	uint16_t i_xattr_icount;
	uint16_t i_mode;
	uint16_t i_nlink;
	uint32_t i_size;
	uint32_t i_reserved;
	union erofs_disk_inode_u i_u;
	uint32_t i_ino;
	uint16_t i_uid;
	uint16_t i_gid;
	uint32_t i_reserved2;
} __attribute__((__packed__));
static_assert(sizeof(struct erofs_disk_inode_compact) == 32, "compact inode size");

struct erofs_disk_inode_extended {
	uint16_t i_format;
	uint16_t i_xattr_icount;
	uint16_t i_mode;
	uint16_t i_reserved;
	uint64_t i_size;
	union erofs_disk_inode_u i_u;
	uint32_t i_ino;
	uint32_t i_uid;
	uint32_t i_gid;
	uint64_t i_mtime;
	uint32_t i_mtime_nsec;
	uint32_t i_nlink;
	uint8_t i_reserved2[16];
} __attribute__((__packed__));
static_assert(sizeof(struct erofs_disk_inode_extended) == 64, "extended inode size");

/* inode slots are 32 bytes; nid = offset from meta_blkaddr / 32 */
#define EROFS_ISLOTBITS 5
#define EROFS_ISLOT_SIZE 32u

/* inline xattr area: header, shared ids (u32 each), then entries, 4-aligned */
struct erofs_disk_xattr_ibody_header {
	uint32_t h_name_filter; /* bit set = name hash not present */
	uint8_t h_shared_count;
	uint8_t h_reserved2[7];
	/* followed by uint32_t h_shared_xattrs[h_shared_count] */
} __attribute__((__packed__));
static_assert(sizeof(struct erofs_disk_xattr_ibody_header) == 12, "xattr ibody header size");

#define EROFS_XATTR_INDEX_USER 1
#define EROFS_XATTR_INDEX_POSIX_ACL_ACCESS 2
#define EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT 3
#define EROFS_XATTR_INDEX_TRUSTED 4
#define EROFS_XATTR_INDEX_LUSTRE 5
#define EROFS_XATTR_INDEX_SECURITY 6
#define EROFS_XATTR_LONG_PREFIX 0x80

#define EROFS_XATTR_FILTER_BITS 32
#define EROFS_XATTR_FILTER_DEFAULT UINT32_MAX
#define EROFS_XATTR_FILTER_SEED 0x25BBE08FU

struct erofs_disk_xattr_entry {
	uint8_t e_name_len;
	uint8_t e_name_index;
	uint16_t e_value_size;
	/* followed by name, then value */
} __attribute__((__packed__));
static_assert(sizeof(struct erofs_disk_xattr_entry) == 4, "xattr entry size");

/* size of the inline xattr area for a given i_xattr_icount */
static inline uint32_t erofs_xattr_ibody_size(uint16_t icount)
{
	return icount == 0 ? 0 : 12u + 4u * ((uint32_t)icount - 1u);
}

struct erofs_disk_chunk_index {
	uint16_t advise;
	uint16_t device_id;
	uint32_t blkaddr;
} __attribute__((__packed__));
static_assert(sizeof(struct erofs_disk_chunk_index) == 8, "chunk index size");

struct erofs_disk_dirent {
	uint64_t nid;
	uint16_t nameoff;
	uint8_t file_type;
	uint8_t reserved;
} __attribute__((__packed__));
static_assert(sizeof(struct erofs_disk_dirent) == 12, "dirent size");

/* dirent file types (same values as the kernel's FT_*) */
#define EROFS_FT_UNKNOWN 0
#define EROFS_FT_REG_FILE 1
#define EROFS_FT_DIR 2
#define EROFS_FT_CHRDEV 3
#define EROFS_FT_BLKDEV 4
#define EROFS_FT_FIFO 5
#define EROFS_FT_SOCK 6
#define EROFS_FT_SYMLINK 7

#define EROFS_NAME_LEN 255

#endif
