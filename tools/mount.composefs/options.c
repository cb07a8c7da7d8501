/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* mount.composefs: parsing of the -o option string into struct cfs_mount_opts. */
#include <errno.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "options.h"

/* Length of the next item of @s up to an unescaped @sep (or the end). */
static size_t item_len(const char *s, char sep)
{
	size_t i = 0;

	while (s[i] != '\0' && s[i] != sep) {
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		i++;
	}
	return i;
}

/* Copy @len bytes of @s, turning "\x" into "x". */
static char *unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1), *d = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		*d++ = s[i];
	}
	*d = '\0';
	return out;
}

static void free_basedirs(struct mount_args *a)
{
	for (size_t i = 0; i < a->n_basedirs; i++)
		free(a->basedirs[i]);
	free(a->basedirs);
	a->basedirs = NULL;
	a->n_basedirs = 0;
}

static int set_basedirs(struct mount_args *a, const char *raw, size_t len, char *err,
			size_t errlen)
{
	size_t n = 1, pos = 0;

	free_basedirs(a);
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '\\' && i + 1 < len)
			i++;
		else if (raw[i] == ':')
			n++;
	}
	a->basedirs = calloc(n, sizeof(char *));
	if (a->basedirs == NULL)
		goto oom;
	while (a->n_basedirs < n) {
		size_t l = item_len(raw + pos, ':');

		if (pos + l > len)
			l = len - pos;
		if (l == 0) {
			snprintf(err, errlen, "basedir: empty directory name in \"%.*s\"", (int)len,
				 raw);
			return -1;
		}
		a->basedirs[a->n_basedirs] = unescape(raw + pos, l);
		if (a->basedirs[a->n_basedirs] == NULL)
			goto oom;
		a->n_basedirs++;
		pos += l + 1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int set_string(char **dst, const char *raw, size_t len, char *err, size_t errlen)
{
	free(*dst);
	*dst = unescape(raw, len);
	if (*dst == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Mount attributes: name, bits set, bits cleared. */
static const struct {
	const char *name;
	uint64_t set, clear;
} attr_opts[] = {
	{ "nosuid", MOUNT_ATTR_NOSUID, 0 },
	{ "suid", 0, MOUNT_ATTR_NOSUID },
	{ "nodev", MOUNT_ATTR_NODEV, 0 },
	{ "dev", 0, MOUNT_ATTR_NODEV },
	{ "noexec", MOUNT_ATTR_NOEXEC, 0 },
	{ "exec", 0, MOUNT_ATTR_NOEXEC },
	{ "nodiratime", MOUNT_ATTR_NODIRATIME, 0 },
	{ "diratime", 0, MOUNT_ATTR_NODIRATIME },
	{ "relatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME },
	{ "noatime", MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME },
	{ "strictatime", MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME },
};

/* Options without a value. Returns 1 if handled. */
static int flag_option(struct mount_args *a, const char *key, size_t klen)
{
#define IS(name) (klen == strlen(name) && memcmp(key, name, klen) == 0)
	if (IS("verity"))
		a->verity = true;
	else if (IS("tryverity"))
		a->tryverity = true;
	else if (IS("ro"))
		a->readonly = true;
	else if (IS("rw"))
		a->readonly = false;
	else if (IS("forceloop"))
		a->force_loop = true;
	else if (IS("legacymount"))
		a->force_legacy = true;
	else if (IS("defaults") || IS("silent") || IS("loud") || IS("auto") || IS("noauto"))
		; /* meaningful to mount(8) only */
	else {
		for (size_t i = 0; i < sizeof(attr_opts) / sizeof(attr_opts[0]); i++) {
			if (!IS(attr_opts[i].name))
				continue;
			a->attr_set &= ~attr_opts[i].clear;
			a->attr_set |= attr_opts[i].set;
			if (attr_opts[i].clear == MOUNT_ATTR__ATIME)
				a->atime_set = true;
			return 1;
		}
		return 0;
	}
	return 1;
#undef IS
}

static int one_option(struct mount_args *a, const char *s, size_t len, char *err, size_t errlen)
{
	const char *eq = memchr(s, '=', len);
	size_t klen = eq ? (size_t)(eq - s) : len;
	const char *val = eq ? eq + 1 : NULL;
	size_t vlen = eq ? len - klen - 1 : 0;
	char **dst = NULL;

#define IS(name) (klen == strlen(name) && memcmp(s, name, klen) == 0)
	if (IS("basedir"))
		;
	else if (IS("digest"))
		dst = &a->digest;
	else if (IS("upperdir"))
		dst = &a->upperdir;
	else if (IS("workdir"))
		dst = &a->workdir;
	else if (IS("idmap"))
		dst = &a->idmap;
	else if (IS("signature"))
		dst = &a->signature;
	else if (IS("trust"))
		dst = &a->trust;
	else if (flag_option(a, s, klen)) {
		if (val != NULL) {
			snprintf(err, errlen, "option %.*s takes no value", (int)klen, s);
			return -1;
		}
		return 0;
	} else if (a->sloppy) {
		return 0;
	} else {
		snprintf(err, errlen, "unknown option \"%.*s\"", (int)klen, s);
		return -1;
	}
	if (val == NULL || vlen == 0) {
		snprintf(err, errlen, "option %.*s needs a value", (int)klen, s);
		return -1;
	}
	if (IS("basedir"))
		return set_basedirs(a, val, vlen, err, errlen);
#undef IS
	return set_string(dst, val, vlen, err, errlen);
}

int mount_args_parse(struct mount_args *a, const char *optstr, char *err, size_t errlen)
{
	const char *s = optstr;

	while (*s != '\0') {
		size_t len = item_len(s, ',');

		if (len > 0 && one_option(a, s, len, err, errlen) < 0)
			return -1;
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

int mount_args_to_opts(const struct mount_args *a, struct cfs_mount_opts *o, char *err,
		       size_t errlen)
{
	cfs_mount_opts_init(o);
	if (a->n_basedirs == 0) {
		snprintf(err, errlen, "no basedir given (-o basedir=DIR)");
		return -1;
	}
	if ((a->upperdir == NULL) != (a->workdir == NULL)) {
		snprintf(err, errlen, "upperdir and workdir must be given together");
		return -1;
	}
	if ((a->signature == NULL) != (a->trust == NULL)) {
		snprintf(err, errlen, "signature and trust must be given together");
		return -1;
	}
	o->basedirs = (const char *const *)a->basedirs;
	o->n_basedirs = (uint32_t)a->n_basedirs;
	o->upperdir = a->upperdir;
	o->workdir = a->workdir;
	if (a->digest != NULL && cfs_mount_opts_set_digest(o, a->digest) < 0) {
		snprintf(err, errlen,
			 "digest: \"%s\" is not a sha256 (64 hex digits) or sha512 (128) digest",
			 a->digest);
		return -1;
	}
	/* A pinned image implies verified objects, unless the caller settles for "if possible". */
	if (a->verity || ((a->digest != NULL || a->signature != NULL) && !a->tryverity))
		o->flags |= CFS_MOUNT_VERITY;
	else if (a->tryverity)
		o->flags |= CFS_MOUNT_TRY_VERITY;
	if (a->readonly)
		o->flags |= CFS_MOUNT_READONLY;
	if (a->force_loop)
		o->flags |= CFS_MOUNT_FORCE_LOOP;
	if (a->force_legacy)
		o->flags |= CFS_MOUNT_FORCE_LEGACY;
	o->mount_attr = a->attr_set;
	return 0;
}

/* Only when the absolute name still leads to the same directory (a hidden cwd would not). */
static void make_absolute(char **path)
{
	char *abs = *path ? realpath(*path, NULL) : NULL;
	struct stat a, b;

	if (abs != NULL && stat(*path, &a) == 0 && stat(abs, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino) {
		free(*path);
		*path = abs;
	} else {
		free(abs);
	}
}

void mount_args_canonicalize(struct mount_args *a)
{
	for (size_t i = 0; i < a->n_basedirs; i++)
		make_absolute(&a->basedirs[i]);
	make_absolute(&a->upperdir);
	make_absolute(&a->workdir);
}

void mount_args_free(struct mount_args *a)
{
	free_basedirs(a);
	free(a->digest);
	free(a->upperdir);
	free(a->workdir);
	free(a->idmap);
	free(a->signature);
	free(a->trust);
}
