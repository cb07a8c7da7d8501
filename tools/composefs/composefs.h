/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The `composefs` repository command: state shared by its command files. */
#ifndef TOOL_COMPOSEFS_H
#define TOOL_COMPOSEFS_H

#include <stdbool.h>
#include <stdint.h>

#include <composefs/repo.h>

#include "common.h"

/* Global options, parsed before the command name. */
struct tool {
	const char *repo_path;  /* resolved: --repo, --user/--system, or the default */
	bool nowait;
	bool progress;          /* stderr is a terminal */
	int argc;               /* the command's own arguments, argv[0] = command */
	char **argv;
};

/* Open the repository or exit with a message. */
struct cfs_repo *tool_open_repo(struct tool *t, bool readonly);
/* Progress callback printing to stderr (installed when stderr is a tty). */
void tool_progress(void *user, const char *phase, uint64_t done, uint64_t total);
/* Erase the progress line, if one is shown. */
void tool_progress_done(struct tool *t);
/* "1.5 MiB" style size. */
const char *tool_human_size(uint64_t n, char *buf, size_t len);
/* Parse a command's options with getopt_long; exits 2 on unknown options. */
int tool_getopt(struct tool *t, const char *shortopts, const void *longopts);

/* A listing command's output: a table, or with --json an array of objects. */
struct tool_list {
	struct cfs_repo *repo; /* opened read-only by tool_list_begin() */
	bool json;
	size_t n;              /* items so far */
};
/*
 * Options of a listing command @cmd ("images", "oci images"): [--json], no
 * arguments; --help prints the usage line and @what and returns false (the
 * command then exits 0). Otherwise opens the repository and, with --json,
 * starts the array; the caller prints a table's heading.
 */
bool tool_list_begin(struct tool *t, struct tool_list *l, const char *cmd, const char *what);
/* Before each JSON item: the separator (the item then prints itself). */
void tool_list_item(struct tool_list *l);
/* Ends the array with --json (call it before exiting on an error, too). */
void tool_list_end(struct tool_list *l);

/* commands.c and mount.c */
int cmd_create_image(struct tool *t);
int cmd_import_image(struct tool *t);
int cmd_images(struct tool *t);
int cmd_tag(struct tool *t);
int cmd_untag(struct tool *t);
int cmd_image_objects(struct tool *t);
int cmd_gc(struct tool *t);
int cmd_publish_trees(struct tool *t);
int cmd_fsck(struct tool *t);
int cmd_mount(struct tool *t);

/* oci.c */
int cmd_oci(struct tool *t);
/* pull.c */
int cmd_pull(struct tool *t);
/* Option values: a number from 0 to @max, or seconds (decimals allowed) as milliseconds; a bad
 * one is a usage error naming @cmd and @opt. */
unsigned tool_parse_uint(const char *cmd, const char *opt, const char *s, unsigned max);
unsigned tool_parse_seconds(const char *cmd, const char *opt, const char *s);

/* sign.c */
struct cfs_trust;
int cmd_sign(struct tool *t);
int cmd_verify(struct tool *t);
/* Exit 1 unless a stored signature of image @digest is accepted by @trust. */
void tool_require_repo_signature(struct cfs_repo *repo, const uint8_t *digest,
				 struct cfs_trust *trust, bool quiet);

#endif
