/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* OCI image records (oci/images/): write, list, look up, remove. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <composefs/oci.h>

#include "oci-meta.h"
#include "oci-private.h"
#include "util.h"

#define RECORD_DIR "oci/images"
#define RECORD_MAX (1u << 20)

/* File name of a record: the image name with '%' and '/' %-escaped (names never start with '.'). */
static int record_name(const char *name, char *buf, size_t len)
{
	size_t n = 0;

	for (const char *s = name; *s; s++) {
		if (n + 4 >= len)
			return -ENAMETOOLONG;
		if (*s == '%' || *s == '/')
			n += (size_t)snprintf(buf + n, len - n, "%%%02X", (unsigned char)*s);
		else
			buf[n++] = *s;
	}
	buf[n] = '\0';
	return n > 255 ? -ENAMETOOLONG : 0;
}

static int ensure_dirs(int dirfd)
{
	if (mkdirat(dirfd, "oci", 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mkdirat(dirfd, RECORD_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int oci_record_write(struct cfs_repo *repo, const struct oci_record *rec, char *err, size_t errlen)
{
	char file[300], path[320], hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	struct json_object *o = json_object_new_object(), *layers = json_object_new_array();
	struct cfs_atomic_file af;
	const char *text;
	int r;

	if (o == NULL || layers == NULL) {
		json_object_put(o);
		json_object_put(layers);
		return -ENOMEM;
	}
	json_object_object_add(o, "name", json_object_new_string(rec->name));
	json_object_object_add(o, "image", json_object_new_string(cfs_repo_digest_hex(repo, rec->image, hex)));
	json_object_object_add(o, "config", json_object_new_string(rec->config));
	json_object_object_add(o, "manifest", json_object_new_string(rec->manifest));
	json_object_object_add(o, "source", json_object_new_string(rec->source));
	for (size_t i = 0; i < rec->n_layers; i++)
		json_object_array_add(layers, json_object_new_string(rec->diff_ids[i]));
	json_object_object_add(o, "layers", layers);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = record_name(rec->name, file, sizeof(file));
	if (r == 0)
		r = ensure_dirs(cfs_repo_dirfd(repo));
	if (r == 0) {
		snprintf(path, sizeof(path), RECORD_DIR "/%s", file);
		r = cfs_atomic_file_open(cfs_repo_dirfd(repo), path, 0644, &af);
	}
	if (r == 0) {
		r = cfs_write_full(af.fd, text, strlen(text));
		if (r == 0)
			r = cfs_write_full(af.fd, "\n", 1);
		if (r == 0)
			r = cfs_atomic_file_commit(&af, true, true);
		else
			cfs_atomic_file_abort(&af);
	}
	json_object_put(o);
	return r < 0 ? cfs_errbuf_set(err, errlen, r, "%s: writing the record: %s", rec->name, strerror(-r)) : 0;
}

/* A parsed record, with the strings the info points to. */
struct record {
	struct json_object *json;
	struct cfs_oci_image_info info;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	const char **diff_ids;
};

static void record_clear(struct record *rec)
{
	json_object_put(rec->json);
	free(rec->diff_ids);
	memset(rec, 0, sizeof(*rec));
}

static const char *str_member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int record_read(struct cfs_repo *repo, int dirfd, const char *file, struct record *rec, char *err,
		       size_t errlen)
{
	_cleanup_free_ char *buf = malloc(RECORD_MAX + 1);
	struct json_object *layers;
	const char *image;
	uint8_t named[CFS_VERITY_MAX_DIGEST];
	ssize_t n;
	int fd = cfs_open_regular_beneath(dirfd, file, true);

	memset(rec, 0, sizeof(*rec));
	if (fd < 0)
		return fd;
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	n = cfs_read_full(fd, buf, RECORD_MAX + 1);
	close(fd);
	if (n < 0 || (size_t)n > RECORD_MAX)
		return cfs_errbuf_set(err, errlen, -EUCLEAN, RECORD_DIR "/%s: unreadable or too large", file);
	buf[n] = '\0';
	rec->json = json_tokener_parse(buf);
	image = str_member(rec->json, "image");
	rec->info.name = str_member(rec->json, "name");
	rec->info.config_digest = str_member(rec->json, "config");
	rec->info.manifest_digest = str_member(rec->json, "manifest");
	rec->info.source = str_member(rec->json, "source");
	if (rec->json == NULL || image == NULL || rec->info.name == NULL || rec->info.config_digest == NULL ||
	    rec->info.manifest_digest == NULL || rec->info.source == NULL ||
	    !json_object_object_get_ex(rec->json, "layers", &layers) || !json_object_is_type(layers, json_type_array) ||
	    cfs_repo_digest_parse(repo, image, rec->digest) < 0) {
		record_clear(rec);
		return cfs_errbuf_set(err, errlen, -EUCLEAN, RECORD_DIR "/%s: malformed record", file);
	}
	rec->info.image_digest = rec->digest;
	rec->info.n_layers = json_object_array_length(layers);
	rec->diff_ids = calloc(rec->info.n_layers + 1, sizeof(char *));
	if (rec->diff_ids == NULL) {
		record_clear(rec);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rec->info.n_layers; i++) {
		struct json_object *s = json_object_array_get_idx(layers, i);

		rec->diff_ids[i] = json_object_is_type(s, json_type_string) ? json_object_get_string(s) : "";
	}
	rec->info.diff_ids = rec->diff_ids;
	rec->info.named = cfs_repo_resolve(repo, rec->info.name, named, NULL) == 0 &&
			  memcmp(named, rec->digest, cfs_repo_digest_size(repo)) == 0;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The record file names, sorted; *@dirfd_out the directory (-1 and no names when there is none). */
static int list_files(struct cfs_repo *repo, int *dirfd_out, char ***names_out, size_t *n_out)
{
	int fd = cfs_open_beneath(cfs_repo_dirfd(repo), RECORD_DIR, O_RDONLY | O_DIRECTORY, true);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*dirfd_out = -1;
	*names_out = NULL;
	*n_out = 0;
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	d = fdopendir(dup(fd));
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **v = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (v == NULL)
				break;
			names = v;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			break;
		n++;
	}
	closedir(d);
	if (de != NULL) {
		oci_strv_free(names, n);
		close(fd);
		return -ENOMEM;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	*dirfd_out = fd;
	*names_out = names;
	*n_out = n;
	return 0;
}

int cfs_oci_list_images(struct cfs_repo *repo, cfs_oci_image_fn fn, void *user, char *errbuf, size_t errlen)
{
	char **names;
	size_t n;
	int fd, r = list_files(repo, &fd, &names, &n);

	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, RECORD_DIR ": %s", strerror(-r));
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct record rec;

		r = record_read(repo, fd, names[i], &rec, errbuf, errlen);
		if (r == 0)
			r = fn(user, &rec.info);
		record_clear(&rec);
	}
	oci_strv_free(names, n);
	if (fd >= 0)
		close(fd);
	return r;
}

int cfs_oci_image_get(struct cfs_repo *repo, const char *name, cfs_oci_image_fn fn, void *user, char *errbuf,
		      size_t errlen)
{
	char file[300];
	struct record rec;
	int fd, r;

	if (!cfs_repo_ref_name_valid(name) || record_name(name, file, sizeof(file)) < 0)
		return cfs_errbuf_set(errbuf, errlen, -ENOENT, "%s: no such OCI image", name);
	fd = cfs_open_beneath(cfs_repo_dirfd(repo), RECORD_DIR, O_RDONLY | O_DIRECTORY, true);
	if (fd < 0)
		return cfs_errbuf_set(errbuf, errlen, fd == -ENOENT ? -ENOENT : fd, "%s: no such OCI image", name);
	r = record_read(repo, fd, file, &rec, errbuf, errlen);
	close(fd);
	if (r == -ENOENT)
		return cfs_errbuf_set(errbuf, errlen, -ENOENT, "%s: no such OCI image", name);
	if (r < 0)
		return r;
	r = fn(user, &rec.info);
	record_clear(&rec);
	return r;
}

/* Whether any record other than @self lists @diff_id. */
static bool layer_used(struct cfs_repo *repo, const char *self, const char *diff_id)
{
	char **names;
	size_t n;
	int fd;
	bool used = false;

	if (list_files(repo, &fd, &names, &n) < 0)
		return true; /* when in doubt, keep */
	for (size_t i = 0; !used && i < n; i++) {
		struct record rec;

		if (strcmp(names[i], self) == 0)
			continue;
		if (record_read(repo, fd, names[i], &rec, NULL, 0) < 0) {
			used = true;
			continue;
		}
		for (size_t k = 0; k < rec.info.n_layers; k++)
			used |= strcmp(rec.diff_ids[k], diff_id) == 0;
		record_clear(&rec);
	}
	oci_strv_free(names, n);
	if (fd >= 0)
		close(fd);
	return used;
}

int cfs_oci_remove(struct cfs_repo *repo, const char *name, char *errbuf, size_t errlen)
{
	char file[300], ref[128];
	struct record rec;
	int fd, r;

	if (!cfs_repo_writable(repo, NULL))
		return cfs_errbuf_set(errbuf, errlen, -EROFS, "the repository is not writable");
	if (!cfs_repo_ref_name_valid(name) || record_name(name, file, sizeof(file)) < 0)
		return cfs_errbuf_set(errbuf, errlen, -ENOENT, "%s: no such OCI image", name);
	fd = cfs_open_beneath(cfs_repo_dirfd(repo), RECORD_DIR, O_RDONLY | O_DIRECTORY, true);
	if (fd < 0)
		return cfs_errbuf_set(errbuf, errlen, fd == -ENOENT ? -ENOENT : fd, "%s: no such OCI image", name);
	r = record_read(repo, fd, file, &rec, errbuf, errlen);
	if (r == -ENOENT)
		r = cfs_errbuf_set(errbuf, errlen, -ENOENT, "%s: no such OCI image", name);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (rec.info.named && cfs_repo_untag(repo, name) < 0)
		r = cfs_errbuf_set(errbuf, errlen, -EIO, "%s", cfs_repo_errmsg(repo));
	if (r == 0) {
		/* its tag among the streams (none when an older version pulled it) */
		char tag[1100];
		int k;

		oci_tag_ref(name, rec.info.manifest_digest[0] != '\0', tag, sizeof(tag));
		k = cfs_repo_stream_ref_remove(repo, tag);
		if (k < 0 && k != -ENOENT)
			r = cfs_errbuf_set(errbuf, errlen, k, "%s", cfs_repo_errmsg(repo));
	}
	for (size_t i = 0; r == 0 && i < rec.info.n_layers; i++) {
		if (!oci_digest_valid(rec.diff_ids[i]) || layer_used(repo, file, rec.diff_ids[i]))
			continue;
		snprintf(ref, sizeof(ref), CFS_OCI_LAYER_REF_PREFIX "%s", rec.diff_ids[i]);
		if (cfs_repo_untag(repo, ref) < 0 && cfs_repo_resolve(repo, ref, (uint8_t[CFS_VERITY_MAX_DIGEST]){ 0 }, NULL) == 0)
			r = cfs_errbuf_set(errbuf, errlen, -EIO, "%s", cfs_repo_errmsg(repo));
	}
	if (r == 0 && unlinkat(fd, file, 0) < 0)
		r = cfs_errbuf_set(errbuf, errlen, -errno, RECORD_DIR "/%s: %s", file, strerror(errno));
	if (r == 0 && fsync(fd) < 0)
		r = cfs_errbuf_set(errbuf, errlen, -errno, RECORD_DIR ": %s", strerror(errno));
	record_clear(&rec);
	close(fd);
	return r;
}
