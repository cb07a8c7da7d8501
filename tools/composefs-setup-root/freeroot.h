/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: free the initramfs's memory before handing over the root. */
#ifndef SR_FREEROOT_H
#define SR_FREEROOT_H

#include <stdbool.h>
#include <stdint.h>

struct sr_free_stats {
	uint64_t removed; /* files and directories removed */
	uint64_t kept;    /* entries left: other file systems mounted there, errors */
	uint64_t bytes;   /* memory the removed files held */
};

/* Is the directory @dfd on a file system that lives in memory (ramfs, tmpfs)? */
bool sr_is_ram_root(int dfd);

/*
 * Remove everything below the directory @dfd that is on its file system,
 * never crossing into another one mounted below it (those and the
 * directories holding them stay). Refuses (-EXDEV) unless @dfd is on ramfs
 * or tmpfs: it exists to give back the memory of an initramfs, as
 * switch_root(8) does. Returns 0 (what was removed in @st) or -errno.
 */
int sr_free_tree(int dfd, struct sr_free_stats *st);

#endif
