/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Helpers shared by the tools that check image signatures: read files, load trust sets. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "sigcheck.h"

void tool_read_file(const char *path, size_t max, uint8_t **buf_out, size_t *len_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0, cap = 4096;
	uint8_t *buf;
	struct stat st;

	if (fd < 0)
		tool_die_errno(-errno, "%s", path);
	if (fstat(fd, &st) < 0)
		tool_die_errno(-errno, "%s", path);
	if (S_ISDIR(st.st_mode))
		tool_die_errno(-EISDIR, "%s", path);
	buf = malloc(cap);
	if (buf == NULL)
		tool_die_errno(-ENOMEM, "%s", path);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap > max)
				tool_die("%s: larger than %zu bytes", path, max);
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				tool_die_errno(-ENOMEM, "%s", path);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			tool_die_errno(-errno, "%s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > max)
		tool_die("%s: larger than %zu bytes", path, max);
	*buf_out = buf;
	*len_out = len;
}

struct cfs_trust *tool_load_trust(const char *const *paths, size_t n)
{
	struct cfs_trust *t;
	int r = cfs_trust_new(&t);

	if (r < 0)
		tool_die_errno(r, "trust");
	for (size_t i = 0; i < n; i++) {
		r = cfs_trust_add_path(t, AT_FDCWD, paths[i]);
		if (r < 0)
			tool_die("trust %s", cfs_trust_errmsg(t));
	}
	return t;
}

void tool_check_signature(struct cfs_trust *trust, const char *sig_path, int image_fd,
			  const char *what, uint32_t *alg, uint8_t *digest)
{
	enum cfs_hash_alg measured;
	uint8_t *sig;
	size_t len;
	int r;

	tool_read_file(sig_path, CFS_SIGN_MAX_SIZE, &sig, &len);
	if (*alg != 0) {
		r = cfs_trust_verify(trust, (enum cfs_hash_alg)*alg, digest, sig, len);
	} else {
		r = cfs_trust_verify_fd(trust, image_fd, sig, len, &measured, digest);
		if (r == 0)
			*alg = (uint32_t)measured;
	}
	free(sig);
	if (r < 0)
		tool_die("%s: signature %s: %s", what, sig_path, cfs_trust_errmsg(trust));
}

struct sig_find {
	struct cfs_trust *trust;
	enum cfs_hash_alg alg;
	const uint8_t *digest;
	struct tool_sig_seen *seen;
};

static int find_one(void *user, const char *name, const void *sig, size_t len)
{
	struct sig_find *f = user;

	(void)name;
	f->seen->n_seen++;
	if (cfs_trust_verify(f->trust, f->alg, f->digest, sig, len) == 0)
		return 1;
	snprintf(f->seen->last, sizeof(f->seen->last), "%s", cfs_trust_errmsg(f->trust));
	return 0;
}

int tool_repo_signature_find(struct cfs_repo *repo, enum cfs_hash_alg alg, const uint8_t *digest,
			     struct cfs_trust *trust, struct tool_sig_seen *seen, char *err,
			     size_t errlen)
{
	struct sig_find f = { trust, alg, digest, seen };

	seen->n_seen = 0;
	seen->last[0] = '\0';
	return cfs_repo_signature_list(repo, digest, find_one, &f, err, errlen);
}
