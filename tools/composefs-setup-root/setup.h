/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: mount the image as the new root, and hand over to it. */
#ifndef SR_SETUP_H
#define SR_SETUP_H

#include <stdbool.h>
#include <stddef.h>

#include "cmdline.h"
#include "config.h"

struct sr_result {
	bool verity;          /* overlayfs verity=require on the objects */
	bool signed_checked;  /* a signature by a trusted certificate was found */
	char signer[256];
	char note[256];       /* a warning worth printing on success, or "" */
};

/*
 * Mount the image @req names from the repository @cfg->repository under
 * @sysroot (absolute; the real root, already mounted there) on top of
 * @sysroot, with the real root at @sysroot/sysroot and /etc and /var as @cfg
 * says. Either all of that is in place, or nothing: on failure every mount
 * made is taken away again and @sysroot shows the real root as before.
 * Returns 0, or a negative errno with the reason in @err.
 */
int sr_setup_root(const char *sysroot, const struct sr_config *cfg, const struct sr_request *req,
		  struct sr_result *res, char *err, size_t errlen);

/*
 * Make @sysroot the root: move /dev, /proc, /sys and /run there (where they
 * are mount points and the new root has the directory), move @sysroot onto /,
 * chroot into it and execute @init. Returns only on failure (a negative errno,
 * @err says why); checks that @init is executable before changing anything.
 */
int sr_switch_root(const char *sysroot, const char *init, char *err, size_t errlen);

#endif
