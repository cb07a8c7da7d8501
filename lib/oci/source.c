/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Image sources: an OCI layout directory, or a tar of one (oci-archive), or a docker-archive. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "oci-private.h"
#include "util.h"

struct oci_source {
	enum oci_source_kind kind;
	int dirfd;      /* OCI_SRC_DIR */
	char *path;     /* directory or archive file */
	char *tag;
	struct oci_registry *reg; /* OCI_SRC_REGISTRY */
};

struct oci_blob {
	int fd;                 /* a file of a layout directory */
	struct archive *a;      /* or an archive positioned on the member */
	struct oci_rblob *rb;   /* or a registry's blob stream */
};

void oci_source_free(struct oci_source *s)
{
	if (s == NULL)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->path);
	free(s->tag);
	oci_registry_free(s->reg);
	free(s);
}

struct oci_registry *oci_source_registry(struct oci_source *s)
{
	return s->reg;
}

enum oci_source_kind oci_source_kind(const struct oci_source *s)
{
	return s->kind;
}

const char *oci_source_tag(const struct oci_source *s)
{
	return s->tag;
}

void oci_blob_path(const char *digest, char *buf, size_t len)
{
	snprintf(buf, len, "blobs/sha256/%s", digest + 7);
}

/*
 * "PATH[:TAG]": a PATH that exists as written has no tag; otherwise an OCI layout's tag follows
 * the last ':' (tags have no ':'), a docker-archive's reference ("name:tag") the first one.
 */
static int split_tag(const char *rest, struct oci_source *s)
{
	const char *colon = s->kind == OCI_SRC_DOCKER_ARCHIVE ? strchr(rest, ':') : strrchr(rest, ':');

	if (colon != NULL && colon != rest && access(rest, F_OK) < 0) {
		s->path = strndup(rest, (size_t)(colon - rest));
		s->tag = colon[1] ? strdup(colon + 1) : NULL;
		if (s->path == NULL || (colon[1] && s->tag == NULL))
			return -ENOMEM;
		return 0;
	}
	s->path = strdup(rest);
	return s->path != NULL ? 0 : -ENOMEM;
}

int oci_source_open(const char *spec, const struct cfs_oci_pull_opts *o, struct oci_source **out, char *err,
		    size_t errlen)
{
	static const struct {
		const char *prefix;
		enum oci_source_kind kind;
	} kinds[] = {
		{ "oci:", OCI_SRC_DIR },
		{ "oci-archive:", OCI_SRC_OCI_ARCHIVE },
		{ "docker-archive:", OCI_SRC_DOCKER_ARCHIVE },
	};
	struct oci_source *s = calloc(1, sizeof(*s));
	const char *rest = NULL;
	struct stat st;
	int r;

	if (s == NULL)
		return -ENOMEM;
	s->dirfd = -1;
	if (strncmp(spec, "docker://", 9) == 0) {
		s->kind = OCI_SRC_REGISTRY;
		r = oci_registry_open(spec + 9, o, &s->reg, err, errlen);
		if (r < 0)
			goto fail;
		*out = s;
		return 0;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strncmp(spec, kinds[i].prefix, strlen(kinds[i].prefix)) == 0) {
			s->kind = kinds[i].kind;
			rest = spec + strlen(kinds[i].prefix);
		}
	}
	if (rest == NULL || rest[0] == '\0') {
		oci_source_free(s);
		return cfs_errbuf_set(err, errlen, -EINVAL,
				"%s: expected oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:TAG] or "
				"docker://HOST/REPO[:TAG|@DIGEST]",
				spec);
	}
	r = split_tag(rest, s);
	if (r < 0)
		goto fail;
	if (s->kind == OCI_SRC_DIR) {
		s->dirfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->dirfd < 0) {
			r = cfs_errbuf_set(err, errlen, -errno, "%s: %s", s->path, strerror(errno));
			goto fail;
		}
	} else if (stat(s->path, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = cfs_errbuf_set(err, errlen, errno ? -errno : -EINVAL, "%s: %s", s->path,
			     errno ? strerror(errno) : "not a regular file");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	oci_source_free(s);
	return r;
}

/* Member names as tar writers spell them: "./x", "x", "/x" all name x. */
static const char *skip_dot_slash(const char *p)
{
	for (;;) {
		if (p[0] == '/')
			p++;
		else if (p[0] == '.' && p[1] == '/')
			p += 2;
		else
			return p;
	}
}

static int open_member(struct oci_source *s, const char *path, struct archive **out, char *err, size_t errlen)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	const char *want = skip_dot_slash(path);
	int r;

	if (a == NULL)
		return -ENOMEM;
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_filename(a, s->path, 1 << 16) != ARCHIVE_OK) {
		r = cfs_errbuf_set(err, errlen, -EIO, "%s: %s", s->path, archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);

		if (name != NULL && strcmp(skip_dot_slash(name), want) == 0) {
			if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != NULL)
				break;
			*out = a;
			return 0;
		}
	}
	if (r == ARCHIVE_EOF || r == ARCHIVE_OK || r == ARCHIVE_WARN)
		r = cfs_errbuf_set(err, errlen, -ENOENT, "%s: no regular file %s in the archive", s->path, want);
	else
		r = cfs_errbuf_set(err, errlen, -EUCLEAN, "%s: %s", s->path, archive_error_string(a));
	archive_read_free(a);
	return r;
}

int oci_blob_open(struct oci_source *s, const char *path, struct oci_blob **out, char *err, size_t errlen)
{
	struct oci_blob *b = calloc(1, sizeof(*b));
	int r;

	if (b == NULL)
		return -ENOMEM;
	b->fd = -1;
	if (s->kind == OCI_SRC_REGISTRY) {
		char digest[OCI_DIGEST_LEN + 1];

		/* the layout path of a digest is all a registry source is asked for */
		if (strncmp(path, "blobs/sha256/", 13) != 0 ||
		    snprintf(digest, sizeof(digest), "sha256:%s", path + 13) != OCI_DIGEST_LEN || !oci_digest_valid(digest)) {
			free(b);
			return cfs_errbuf_set(err, errlen, -EINVAL, "%s: not a blob", path);
		}
		r = oci_registry_blob_open(s->reg, digest, &b->rb, err, errlen);
		if (r < 0) {
			free(b);
			return r;
		}
	} else if (s->kind == OCI_SRC_DIR) {
		/* blobs are plain files inside the layout: no symlink may lead out of it */
		b->fd = cfs_open_regular_beneath(s->dirfd, path, true);
		if (b->fd < 0) {
			r = cfs_errbuf_set(err, errlen, b->fd, "%s/%s: %s", s->path, path, strerror(-b->fd));
			free(b);
			return r;
		}
	} else {
		r = open_member(s, path, &b->a, err, errlen);
		if (r < 0) {
			free(b);
			return r;
		}
	}
	*out = b;
	return 0;
}

ssize_t oci_blob_read(struct oci_blob *b, void *buf, size_t len)
{
	ssize_t n;

	if (b->rb != NULL)
		return oci_rblob_read(b->rb, buf, len);
	if (b->a != NULL) {
		n = archive_read_data(b->a, buf, len);
		return n < 0 ? -EIO : n;
	}
	do
		n = read(b->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

void oci_blob_close(struct oci_blob *b)
{
	if (b == NULL)
		return;
	if (b->fd >= 0)
		close(b->fd);
	if (b->a != NULL)
		archive_read_free(b->a);
	oci_rblob_close(b->rb);
	free(b);
}

const char *oci_blob_errmsg(const struct oci_blob *b)
{
	return b->rb != NULL ? oci_rblob_errmsg(b->rb) : "";
}

int oci_source_read_file(struct oci_source *s, const char *path, size_t max, char **buf, size_t *len, char *err,
			 size_t errlen)
{
	struct oci_blob *b;
	size_t n = 0, cap = 4096;
	char *p = malloc(cap + 1);
	int r;

	if (p == NULL)
		return -ENOMEM;
	r = oci_blob_open(s, path, &b, err, errlen);
	if (r < 0) {
		free(p);
		return r;
	}
	for (;;) {
		ssize_t k;

		if (n == cap) {
			char *q;

			if (cap > max) {
				r = cfs_errbuf_set(err, errlen, -EFBIG, "%s: larger than %zu bytes", path, max);
				break;
			}
			cap *= 2;
			q = realloc(p, cap + 1);
			if (q == NULL) {
				r = -ENOMEM;
				break;
			}
			p = q;
		}
		k = oci_blob_read(b, p + n, cap - n);
		if (k < 0) {
			if (oci_blob_errmsg(b)[0] != '\0')
				r = cfs_errbuf_set(err, errlen, (int)k, "%s", oci_blob_errmsg(b));
			else
				r = cfs_errbuf_set(err, errlen, (int)k, "%s: read error", path);
			break;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	oci_blob_close(b);
	if (r == 0 && n > max)
		r = cfs_errbuf_set(err, errlen, -EFBIG, "%s: larger than %zu bytes", path, max);
	if (r < 0) {
		free(p);
		return r;
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	return 0;
}
