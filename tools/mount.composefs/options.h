/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* mount.composefs: parsing of the -o option string into struct cfs_mount_opts. */
#ifndef TOOL_MOUNT_OPTIONS_H
#define TOOL_MOUNT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <composefs/mount.h>

/* Everything the option string can say; strings are owned (free with mount_args_free). */
struct mount_args {
	char **basedirs;
	size_t n_basedirs;
	char *digest;
	char *upperdir;
	char *workdir;
	char *idmap;
	char *signature;     /* signature=SIG: detached signature of the image */
	char *trust;         /* trust=CERT|DIR: who may have made it */
	bool verity;
	bool tryverity;
	bool readonly;
	bool force_loop;
	bool force_legacy;
	uint64_t attr_set;   /* MOUNT_ATTR_* requested */
	bool atime_set;      /* an atime mode was named (relatime counts) */
	bool sloppy;         /* -s: ignore unknown options */
};

/*
 * Parse one -o argument ("key[=value],..."; "\," and "\\" escape, and "\:"
 * inside basedir). Later options override earlier ones. Returns 0, or -1 after
 * writing a message to @err (an unknown option or a missing/extra value).
 */
int mount_args_parse(struct mount_args *a, const char *optstr, char *err, size_t errlen);

/* Fill @o from @a (borrowing its strings). Returns 0 or -1 with a message in @err. */
int mount_args_to_opts(const struct mount_args *a, struct cfs_mount_opts *o, char *err,
		       size_t errlen);

/*
 * Make the directory paths absolute (where they resolve), so that the mount
 * table shows where the layers really are. Unresolvable paths stay as given,
 * for the library to report.
 */
void mount_args_canonicalize(struct mount_args *a);

void mount_args_free(struct mount_args *a);

#endif
