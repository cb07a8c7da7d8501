/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* mkcomposefs: internal interfaces between the tool's source files. */
#ifndef TOOL_MKCOMPOSEFS_H
#define TOOL_MKCOMPOSEFS_H

enum mkcfs_out_kind {
	MKCFS_OUT_ATOMIC, /* new or replaced regular file: cfs_write_image_at() */
	MKCFS_OUT_DIRECT, /* existing non-regular file (symlink, device, pipe) */
	MKCFS_OUT_STDOUT,
};

struct mkcfs_output {
	enum mkcfs_out_kind kind;
	int fd; /* write the image here (-1 for MKCFS_OUT_ATOMIC) */
};

/* Open the destination "-" (stdout) or a path. Returns 0 or -errno. */
int mkcfs_output_open(const char *path, struct mkcfs_output *out);
/* Make the written image durable and visible. Returns 0 or -errno; releases @out. */
int mkcfs_output_commit(struct mkcfs_output *out);
/* Drop the image (nothing remains for an atomic file). */
void mkcfs_output_abort(struct mkcfs_output *out);

#endif
