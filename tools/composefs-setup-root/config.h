/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: the configuration file (a TOML subset). */
#ifndef SR_CONFIG_H
#define SR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* How /etc or /var of the new root is provided. */
enum sr_mount {
	SR_MOUNT_UNSET = 0,
	SR_MOUNT_NONE,      /* the image's directory as it is (read-only) */
	SR_MOUNT_BIND,      /* state/deploy/<digest>/<dir> bound over it */
	SR_MOUNT_OVERLAY,   /* writable overlay, upper and work in state/deploy/<digest>/<dir>/ */
	SR_MOUNT_TRANSIENT, /* writable overlay on a tmpfs: changes vanish at shutdown */
};

enum sr_verity {
	SR_VERITY_AUTO = 0, /* required where the repository's file system has fs-verity */
	SR_VERITY_REQUIRE,  /* refuse to boot without fs-verity on the objects */
};

#define SR_CONFIG_PATH_MAX 256
#define SR_CONFIG_MAX_TRUST 8
#define SR_CONFIG_MAX_SIZE (64 * 1024)

struct sr_config {
	char repository[SR_CONFIG_PATH_MAX]; /* relative to the sysroot */
	enum sr_verity verity;
	bool require_signature;
	char trust[SR_CONFIG_MAX_TRUST][SR_CONFIG_PATH_MAX];
	size_t n_trust;
	bool root_transient;
	enum sr_mount etc, var;
};

/* The defaults: repository "composefs", verity auto, no signature, /etc overlay, /var bind. */
void sr_config_init(struct sr_config *c);

/*
 * Parse the configuration @text (@len bytes, need not be NUL-terminated) over
 * the values already in @c. Returns 0, or -EINVAL with "line N: reason" in
 * @err (unknown section or key, bad value, repeated key, NUL byte, ...), or
 * -EFBIG when longer than SR_CONFIG_MAX_SIZE. On failure @c is unspecified.
 */
int sr_config_parse(struct sr_config *c, const char *text, size_t len, char *err, size_t errlen);

/* "none", "bind", "overlay", "transient". */
const char *sr_mount_name(enum sr_mount m);

#endif
