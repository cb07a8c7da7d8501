/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Signatures stored in a repository: signatures/<image-hex>/<sha256-hex> plus an index. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <composefs/sign.h>

#include "sign-private.h"
#include "util.h"

#define SIG_NAME_LEN 64

static bool sig_name(const char *n)
{
	return strlen(n) == SIG_NAME_LEN && strspn(n, "0123456789abcdef") == SIG_NAME_LEN;
}

static int sha256_hex(const void *buf, size_t len, char *hex)
{
	uint8_t md[32];

	if (EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL) != 1)
		return -EIO;
	cfs_hex_encode(md, sizeof(md), hex);
	return 0;
}

/* signatures/<hex>, created (with signatures/) when @create. */
static int open_sig_dir(struct cfs_repo *repo, const uint8_t *digest, bool create, char *rel,
			size_t rellen, int *fd_out)
{
	int dfd = cfs_repo_dirfd(repo), fd;
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];

	cfs_repo_digest_hex(repo, digest, hex);
	snprintf(rel, rellen, "signatures/%s", hex);
	if (create) {
		if (mkdirat(dfd, "signatures", 0755) < 0 && errno != EEXIST)
			return -errno;
		if (mkdirat(dfd, rel, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	fd = openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	*fd_out = fd;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted signature names in @dfd; *@names_out is one allocation of @n entries. */
static int list_names(int dfd, char ***names_out, size_t *n_out)
{
	size_t n = 0, cap = 8;
	char **names = malloc(cap * sizeof(char *));
	struct dirent *de;
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3), r = 0;
	DIR *d;

	if (names == NULL || fd < 0) {
		r = fd < 0 ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		free(names);
		return r;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		r = -errno;
		close(fd);
		free(names);
		return r;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!sig_name(de->d_name))
			continue;
		if (n == cap) {
			char **nn = realloc(names, 2 * cap * sizeof(char *));

			if (nn == NULL) {
				r = -ENOMEM;
				break;
			}
			names = nn;
			cap *= 2;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	qsort(names, n, sizeof(char *), cmp_str);
	*names_out = names;
	*n_out = n;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Rewrite "index" from the directory, atomically. */
static int write_index(int dfd)
{
	struct cfs_atomic_file af;
	char **names = NULL;
	size_t n = 0;
	int r;

	r = list_names(dfd, &names, &n);
	if (r < 0)
		return r;
	r = cfs_atomic_file_open(dfd, "index", 0644, &af);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = cfs_write_full(af.fd, names[i], SIG_NAME_LEN);
		if (r == 0)
			r = cfs_write_full(af.fd, "\n", 1);
	}
	if (r == 0)
		r = cfs_atomic_file_commit(&af, true, true);
	else if (af.fd >= 0)
		cfs_atomic_file_abort(&af);
	free_names(names, n);
	return r;
}

int cfs_repo_signature_add(struct cfs_repo *repo, const uint8_t *digest, const void *sig,
			   size_t sig_len, char *name_out, char *errbuf, size_t errlen)
{
	char name[SIG_NAME_LEN + 1], rel[64 + 2 * CFS_VERITY_MAX_DIGEST];
	struct cfs_atomic_file af;
	const char *why = NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (!cfs_repo_writable(repo, &why))
		return cfs_errbuf_set(errbuf, errlen, -EROFS, "repository is read-only: %s",
			    why != NULL ? why : "opened read-only");
	if (sig_len > CFS_SIGN_MAX_SIZE)
		return cfs_errbuf_set(errbuf, errlen, -EFBIG, "signature larger than %d bytes",
			    CFS_SIGN_MAX_SIZE);
	if (sha256_hex(sig, sig_len, name) < 0)
		return cfs_errbuf_set(errbuf, errlen, -EIO, "cannot hash the signature");
	r = open_sig_dir(repo, digest, true, rel, sizeof(rel), &dfd);
	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, "%s: %s", rel, strerror(-r));
	r = cfs_atomic_file_open(dfd, name, 0644, &af);
	if (r == 0) {
		r = cfs_write_full(af.fd, sig, sig_len);
		if (r == 0)
			r = cfs_atomic_file_commit(&af, false, true);
		else
			cfs_atomic_file_abort(&af);
	}
	if (r == -EEXIST)
		r = 0; /* the name is the content's hash: it is already there */
	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, "%s/%s: %s", rel, name, strerror(-r));
	/*
	 * Concurrent adds each list the directory and replace the index: under
	 * the directory's lock the last one to commit lists every file that any
	 * of them committed before, so no signature is left out of the index.
	 */
	if (flock(dfd, LOCK_EX) < 0)
		return cfs_errbuf_set(errbuf, errlen, -errno, "%s: lock: %s", rel, strerror(errno));
	r = write_index(dfd);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	flock(dfd, LOCK_UN);
	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, "%s/index: %s", rel, strerror(-r));
	if (name_out != NULL)
		memcpy(name_out, name, sizeof(name));
	return 0;
}

int cfs_repo_signature_list(struct cfs_repo *repo, const uint8_t *digest,
			    cfs_repo_signature_fn fn, void *user, char *errbuf, size_t errlen)
{
	char rel[64 + 2 * CFS_VERITY_MAX_DIGEST];
	_cleanup_close_ int dfd = -1;
	char **names = NULL;
	size_t n = 0;
	int r;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	r = open_sig_dir(repo, digest, false, rel, sizeof(rel), &dfd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, "%s: %s", rel, strerror(-r));
	r = list_names(dfd, &names, &n);
	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, "%s: %s", rel, strerror(-r));
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_close_ int fd = openat(dfd, names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		char check[SIG_NAME_LEN + 1];
		uint8_t *buf = NULL;
		size_t len;

		if (fd < 0) {
			r = cfs_errbuf_set(errbuf, errlen, -errno, "%s/%s: %s", rel, names[i], strerror(errno));
			break;
		}
		r = cfs_sign_read_fd(fd, CFS_SIGN_MAX_SIZE, &buf, &len);
		if (r == -EFBIG) {
			r = 0; /* too large to be one of ours */
			continue;
		}
		if (r < 0) {
			cfs_errbuf_set(errbuf, errlen, r, "%s/%s: %s", rel, names[i], strerror(-r));
			break;
		}
		if (sha256_hex(buf, len, check) == 0 && strcmp(check, names[i]) == 0)
			r = fn(user, names[i], buf, len);
		free(buf);
	}
	free_names(names, n);
	return r;
}
