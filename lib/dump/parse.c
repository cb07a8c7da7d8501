/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Dump text -> inode tree, with the reference mkcomposefs --from-file rules and limits. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <composefs/dump.h>

#include "dump-private.h"
#include "hashset.h"
#include "node.h"
#include "util.h"

enum {
	F_PATH,
	F_SIZE,
	F_MODE,
	F_NLINK,
	F_UID,
	F_GID,
	F_RDEV,
	F_MTIME,
	F_PAYLOAD,
	F_CONTENT,
	F_DIGEST,
	N_FIELDS,
};

static const char *const field_names[N_FIELDS] = {
	"PATH", "SIZE", "MODE", "NLINK", "UID", "GID", "RDEV", "MTIME", "PAYLOAD", "CONTENT", "DIGEST",
};

struct field {
	const char *p;
	size_t len;
};

/* A hard-link line, resolved once every line has been read. */
struct fixup {
	struct cfs_node *dir;         /* directory holding the entry */
	char *name;                   /* entry name in @dir */
	char *target;                 /* unescaped target path */
	struct cfs_node *placeholder; /* stands in the tree until resolution */
	struct cfs_node *resolved;    /* the real inode, once known */
	unsigned long line;
	bool visiting;
};

struct parser {
	unsigned flags;
	unsigned long line;
	struct cfs_node *root;
	struct fixup *fixups;
	size_t n_fixups, cap_fixups;
	struct cfs_dump_error *err;
};

/* Per-line xattr set with a hash index for duplicate keys. */
struct xattr_set {
	struct cfs_xattr *v;
	size_t n, cap;
	struct cfs_hashset index; /* positions in v (size_t), keyed by name */
	size_t cost; /* the reference's accounting, header included */
};

static __attribute__((format(printf, 4, 5))) int fail(struct parser *p, unsigned long line, int ret,
						       const char *fmt, ...)
{
	size_t off = 0;
	va_list ap;

	if (p->err == NULL)
		return ret;
	p->err->line = line;
	if (line) {
		int n = snprintf(p->err->msg, sizeof(p->err->msg), "line %lu: ", line);

		off = n > 0 ? (size_t)n : 0;
	}
	va_start(ap, fmt);
	cfs_errbuf_vset(p->err->msg + off, sizeof(p->err->msg) - off, ret, fmt, ap);
	va_end(ap);
	return ret;
}

static int fail_oom(struct parser *p)
{
	return fail(p, 0, -ENOMEM, "out of memory");
}

/* Readable form of a (possibly binary) string for messages. */
struct shown {
	char s[160];
};
static struct shown show(const char *s, size_t len)
{
	struct shown r;

	cfs_dump_escape_msg(s, len, r.s, sizeof(r.s));
	return r;
}

/* Unsigned decimal or octal number: digits only, no sign or blanks, <= max. */
static int parse_uint(const struct field *f, unsigned base, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (f->len == 0)
		return -EINVAL;
	for (size_t i = 0; i < f->len; i++) {
		unsigned d = (unsigned)(f->p[i] - '0');

		if (d >= base)
			return -EINVAL;
		if (v > (max - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

static int parse_num(struct parser *p, int idx, const struct field *f, unsigned base, uint64_t max,
		     uint64_t *out)
{
	int r = parse_uint(f, base, max, out);

	if (r == -ERANGE)
		return fail(p, p->line, -EINVAL, "%s %s: out of range (at most %" PRIu64 ")",
			    field_names[idx], show(f->p, f->len).s, max);
	if (r < 0)
		return fail(p, p->line, -EINVAL, "%s \"%s\": not a%s number", field_names[idx],
			    show(f->p, f->len).s, base == 8 ? "n octal" : " decimal");
	return 0;
}

/* MTIME is SEC.NSEC; seconds may be negative (printed as signed 64-bit). */
static int parse_mtime(struct parser *p, const struct field *f, int64_t *sec, uint32_t *nsec)
{
	const char *dot = memchr(f->p, '.', f->len);
	struct field s, ns;
	bool neg;
	uint64_t v, n;

	if (dot == NULL)
		return fail(p, p->line, -EINVAL, "MTIME \"%s\": expected SECONDS.NANOSECONDS",
			    show(f->p, f->len).s);
	s = (struct field){ f->p, (size_t)(dot - f->p) };
	ns = (struct field){ dot + 1, f->len - s.len - 1 };
	neg = s.len > 0 && s.p[0] == '-';
	if (neg) {
		s.p++;
		s.len--;
	}
	if (parse_uint(&s, 10, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v) < 0 ||
	    parse_uint(&ns, 10, UINT32_MAX, &n) < 0)
		return fail(p, p->line, -EINVAL, "MTIME \"%s\": invalid or out of range",
			    show(f->p, f->len).s);
	*sec = neg ? (int64_t)(0 - v) : (int64_t)v;
	*nsec = (uint32_t)n;
	return 0;
}

/*
 * Unescape an optional field: "-" gives NULL with *@present false. A
 * malloc'd result is NUL-terminated; *@len is its length.
 */
static int unescape_field(struct parser *p, int idx, const struct field *f, bool optional,
			  char **out, size_t *len)
{
	const char *why;

	*out = NULL;
	*len = 0;
	if (optional && f->len == 1 && f->p[0] == '-')
		return 0;
	*out = cfs_dump_unescape(f->p, f->len, len, &why);
	if (*out == NULL) {
		if (why == NULL)
			return fail_oom(p);
		return fail(p, p->line, -EINVAL, "%s: %s", field_names[idx], why);
	}
	return 0;
}

/* Find the node at @path (components separated by one or more '/'). */
static int lookup_path(struct cfs_node *root, const char *path, size_t len, struct cfs_node **out)
{
	struct cfs_node *cur = root;
	size_t i = 0;

	while (i < len) {
		char name[CFS_NAME_MAX + 1];
		size_t start;

		while (i < len && path[i] == '/')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		if (!S_ISDIR(cur->mode))
			return -ENOTDIR;
		if (i - start > CFS_NAME_MAX)
			return -ENOENT;
		memcpy(name, path + start, i - start);
		name[i - start] = '\0';
		cur = cfs_node_lookup(cur, name);
		if (cur == NULL)
			return -ENOENT;
	}
	*out = cur;
	return 0;
}

/* Put @node into the tree at @path; the directory and name are returned. */
static int add_node(struct parser *p, const char *path, size_t plen, struct cfs_node *node,
		    bool hardlink, struct cfs_node **dir_out, const char **name_out)
{
	const char *slash, *name;
	struct cfs_node *dir;
	size_t nlen;
	int r;

	if (plen == 1 && path[0] == '/') {
		if (p->root != NULL)
			return fail(p, p->line, -EINVAL, "a second root directory \"/\"");
		if (!S_ISDIR(node->mode))
			return fail(p, p->line, -EINVAL, "the root \"/\" must be a directory");
		if (hardlink)
			return fail(p, p->line, -EINVAL, "the root \"/\" cannot be a hard link");
		p->root = cfs_node_ref(node);
		*dir_out = NULL;
		*name_out = NULL;
		return 0;
	}
	if (p->root == NULL)
		return fail(p, p->line, -EINVAL, "the first line must be the root directory \"/\"");

	slash = memrchr(path, '/', plen);
	name = slash ? slash + 1 : path;
	nlen = plen - (size_t)(name - path);
	r = lookup_path(p->root, path, (size_t)(name - path), &dir);
	if (r == 0 && !S_ISDIR(dir->mode))
		r = -ENOTDIR;
	if (r == -ENOENT)
		return fail(p, p->line, -EINVAL, "%s: parent directory missing (it must come on an earlier line)",
			    show(path, plen).s);
	if (r < 0)
		return fail(p, p->line, -EINVAL, "%s: parent is not a directory", show(path, plen).s);
	if (nlen == 0)
		return fail(p, p->line, -EINVAL, "%s: empty file name", show(path, plen).s);
	if ((nlen == 1 && name[0] == '.') || (nlen == 2 && name[0] == '.' && name[1] == '.'))
		return fail(p, p->line, -EINVAL, "%s: \".\" and \"..\" are not valid names",
			    show(path, plen).s);
	if (nlen > CFS_NAME_MAX)
		return fail(p, p->line, -EINVAL, "%s: file name longer than %d bytes", show(path, plen).s,
			    CFS_NAME_MAX);
	if (hardlink && S_ISDIR(node->mode))
		return fail(p, p->line, -EINVAL, "%s: directories cannot be hard links", show(path, plen).s);

	r = cfs_node_add_child(dir, name, node, hardlink);
	if (r == -EEXIST)
		return fail(p, p->line, -EINVAL, "%s: path already exists", show(path, plen).s);
	if (r == -ENOMEM)
		return fail_oom(p);
	if (r < 0)
		return fail(p, p->line, -EINVAL, "%s: cannot add entry: %s", show(path, plen).s, strerror(-r));
	*dir_out = dir;
	*name_out = name;
	return 0;
}

static int add_fixup(struct parser *p, struct cfs_node *dir, const char *name, char *target,
		     struct cfs_node *placeholder)
{
	struct fixup *f;

	if (p->n_fixups == p->cap_fixups) {
		size_t cap = p->cap_fixups ? 2 * p->cap_fixups : 16;

		f = realloc(p->fixups, cap * sizeof(*f));
		if (f == NULL)
			return fail_oom(p);
		p->fixups = f;
		p->cap_fixups = cap;
	}
	f = &p->fixups[p->n_fixups];
	*f = (struct fixup){ .dir = dir, .target = target, .placeholder = placeholder, .line = p->line };
	f->name = strdup(name);
	if (f->name == NULL)
		return fail_oom(p);
	p->n_fixups++;
	/* marks the node as a placeholder: index + 1 */
	placeholder->scratch_u64 = p->n_fixups;
	return 0;
}

static bool xattr_name_eq(const void *elem, const void *key, void *arg)
{
	const struct xattr_set *xs = arg;

	return strcmp(xs->v[*(const size_t *)elem].name, key) == 0;
}

static void xattr_set_init(struct xattr_set *xs)
{
	*xs = (struct xattr_set){ 0 };
	cfs_hashset_init(&xs->index, sizeof(size_t), xattr_name_eq, xs);
}

static void xattr_set_free(struct xattr_set *xs)
{
	for (size_t i = 0; i < xs->n; i++) {
		free(xs->v[i].name);
		free(xs->v[i].value);
	}
	free(xs->v);
	cfs_hashset_free(&xs->index);
}

/* Add or replace; takes ownership of @key and @value on success. */
static int xattr_set_put(struct parser *p, struct xattr_set *xs, char *key, size_t klen, char *value,
			 size_t vlen)
{
	size_t *pos, cost = 7 + klen + vlen, old = 0;
	int r = cfs_hashset_insert(&xs->index, cfs_hash64(key, klen, 0), key, (void **)&pos);

	if (r < 0)
		return fail_oom(p);
	if (r == 0)
		old = 7 + klen + xs->v[*pos].len;
	else if (xs->n == 0)
		cost += 12; /* the inode's xattr header */
	if (xs->cost - old + cost > CFS_DUMP_XATTR_BUDGET) {
		if (r == 1)
			cfs_hashset_remove_at(&xs->index, pos);
		return fail(p, p->line, -EINVAL, "xattr %s: the xattrs of one file exceed %d bytes",
			    show(key, klen).s, CFS_DUMP_XATTR_BUDGET);
	}
	if (r == 0) {
		struct cfs_xattr *x = &xs->v[*pos];

		xs->cost = xs->cost - old + cost;
		free(x->value);
		free(key);
		x->value = (uint8_t *)value;
		x->len = vlen;
		return 0;
	}
	if (xs->n == xs->cap) {
		size_t cap = xs->cap ? 2 * xs->cap : 4;
		struct cfs_xattr *v = realloc(xs->v, cap * sizeof(*v));

		if (v == NULL) {
			cfs_hashset_remove_at(&xs->index, pos);
			return fail_oom(p);
		}
		xs->v = v;
		xs->cap = cap;
	}
	xs->cost += cost;
	xs->v[xs->n] = (struct cfs_xattr){ .name = key, .value = (uint8_t *)value, .len = vlen };
	*pos = xs->n++;
	return 0;
}

static int parse_xattr(struct parser *p, struct xattr_set *xs, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len), *why;
	size_t klen, vlen;
	char *key, *value;
	int r;

	if (eq == NULL)
		return fail(p, p->line, -EINVAL, "xattr \"%s\": missing '='", show(s, len).s);
	key = cfs_dump_unescape(s, (size_t)(eq - s), &klen, &why);
	if (key == NULL)
		return why ? fail(p, p->line, -EINVAL, "xattr name: %s", why) : fail_oom(p);
	if (klen == 0 || klen > CFS_XATTR_NAME_MAX || strlen(key) != klen) {
		r = fail(p, p->line, -EINVAL, "xattr name \"%s\": %s", show(key, klen).s,
			 klen == 0 ? "empty" : klen > CFS_XATTR_NAME_MAX ? "longer than 255 bytes" : "contains a NUL byte");
		free(key);
		return r;
	}
	value = cfs_dump_unescape(eq + 1, len - (size_t)(eq + 1 - s), &vlen, &why);
	if (value == NULL) {
		free(key);
		return why ? fail(p, p->line, -EINVAL, "xattr value: %s", why) : fail_oom(p);
	}
	r = xattr_set_put(p, xs, key, klen, value, vlen);
	if (r < 0) {
		free(key);
		free(value);
	}
	return r;
}

static int parse_xattrs(struct parser *p, struct cfs_node *node, const char *s, size_t len)
{
	struct xattr_set xs;
	int r = 0;

	if (len > CFS_DUMP_XATTR_TEXT_MAX)
		return fail(p, p->line, -EINVAL, "too many xattrs (%zu bytes of text, at most %u)", len,
			    CFS_DUMP_XATTR_TEXT_MAX);
	xattr_set_init(&xs);
	while (len > 0) {
		const char *sp = memchr(s, ' ', len);
		size_t n = sp ? (size_t)(sp - s) : len;

		r = parse_xattr(p, &xs, s, n);
		if (r < 0) {
			xattr_set_free(&xs);
			return r;
		}
		s += n;
		len -= n;
		if (sp) {
			s++;
			len--;
		}
	}
	cfs_hashset_free(&xs.index);
	node->xattrs = xs.v;
	node->n_xattrs = xs.n;
	return 0;
}

struct attrs {
	uint64_t size, nlink, uid, gid, rdev;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	char *payload, *content, *digest;
	size_t payload_len, content_len, digest_len;
};

static void attrs_free(struct attrs *a)
{
	free(a->payload);
	free(a->content);
	free(a->digest);
}

static int parse_attrs(struct parser *p, const struct field *f, size_t rest_len, struct attrs *a)
{
	int r;

	if ((r = parse_num(p, F_SIZE, &f[F_SIZE], 10, UINT64_MAX, &a->size)) < 0 ||
	    (r = parse_num(p, F_NLINK, &f[F_NLINK], 10, UINT32_MAX, &a->nlink)) < 0 ||
	    (r = parse_num(p, F_UID, &f[F_UID], 10, UINT32_MAX, &a->uid)) < 0 ||
	    (r = parse_num(p, F_GID, &f[F_GID], 10, UINT32_MAX, &a->gid)) < 0 ||
	    (r = parse_num(p, F_RDEV, &f[F_RDEV], 10, UINT32_MAX, &a->rdev)) < 0 ||
	    (r = parse_mtime(p, &f[F_MTIME], &a->mtime_sec, &a->mtime_nsec)) < 0 ||
	    (r = unescape_field(p, F_PAYLOAD, &f[F_PAYLOAD], true, &a->payload, &a->payload_len)) < 0 ||
	    (r = unescape_field(p, F_CONTENT, &f[F_CONTENT], true, &a->content, &a->content_len)) < 0 ||
	    (r = unescape_field(p, F_DIGEST, &f[F_DIGEST], true, &a->digest, &a->digest_len)) < 0)
		return r;
	if (a->content && a->content_len != a->size)
		return fail(p, p->line, -EINVAL, "CONTENT has %zu bytes but SIZE is %" PRIu64, a->content_len,
			    a->size);
	if (a->content && a->content_len > CFS_INLINE_MAX)
		return fail(p, p->line, -EINVAL, "inline CONTENT of %zu bytes exceeds the maximum %d",
			    a->content_len, CFS_INLINE_MAX);
	if (a->payload && a->payload_len > CFS_DUMP_PAYLOAD_MAX)
		return fail(p, p->line, -EINVAL, "PAYLOAD longer than %d bytes", CFS_DUMP_PAYLOAD_MAX);
	if (a->payload && strlen(a->payload) != a->payload_len)
		return fail(p, p->line, -EINVAL, "PAYLOAD contains a NUL byte");
	/* a line may stop early; the reference then reads an empty DIGEST */
	if (a->digest && a->digest_len == 0 && rest_len == 0) {
		free(a->digest);
		a->digest = NULL;
	}
	/* 64 hex digits: a sha256 fs-verity digest (all the reference knows); 128: sha512 */
	if (a->digest && a->digest_len != 2 * CFS_DIGEST_SIZE && a->digest_len != 2 * CFS_DIGEST_MAX_SIZE)
		return fail(p, p->line, -EINVAL,
			    "DIGEST \"%s\": expected %d (sha256) or %d (sha512) hex digits or \"-\"",
			    show(a->digest, a->digest_len).s, 2 * CFS_DIGEST_SIZE, 2 * CFS_DIGEST_MAX_SIZE);
	return 0;
}

/* Apply the attributes of a full (non-hard-link) line to @node. */
static int apply_attrs(struct parser *p, struct cfs_node *node, struct attrs *a)
{
	uint32_t type = node->mode & S_IFMT;
	bool strict = p->flags & CFS_DUMP_STRICT;
	uint8_t digest[CFS_DIGEST_MAX_SIZE];

	if (a->digest && cfs_hex_decode(a->digest, a->digest_len, digest, a->digest_len / 2) < 0)
		return fail(p, p->line, -EINVAL, "DIGEST \"%s\": not hexadecimal",
			    show(a->digest, a->digest_len).s);
	node->nlink = (uint32_t)a->nlink;
	node->uid = (uint32_t)a->uid;
	node->gid = (uint32_t)a->gid;
	node->mtime_sec = a->mtime_sec;
	node->mtime_nsec = a->mtime_nsec;
	node->size = a->size;
	if (type == S_IFCHR || type == S_IFBLK)
		node->rdev = (uint32_t)a->rdev;
	else if (strict && a->rdev != 0)
		return fail(p, p->line, -EINVAL, "RDEV %" PRIu64 " on a file that is not a device", a->rdev);

	if (type == S_IFLNK) {
		if (a->payload == NULL || a->payload_len == 0)
			return fail(p, p->line, -EINVAL, "symlink without a target (PAYLOAD)");
		if (strict && a->size != a->payload_len)
			return fail(p, p->line, -EINVAL, "symlink SIZE %" PRIu64 " is not the target length %zu",
				    a->size, a->payload_len);
		if (strict && a->content_len > 0)
			return fail(p, p->line, -EINVAL, "symlink with CONTENT");
		node->payload = steal_pointer(&a->payload);
		node->size = a->payload_len;
		return 0;
	}
	if (type != S_IFREG)
		return 0;
	if (a->payload_len > 0)
		node->payload = steal_pointer(&a->payload);
	if (a->content_len > 0) {
		node->content = (uint8_t *)steal_pointer(&a->content);
		node->content_len = a->content_len;
	} else if (a->size > CFS_DUMP_FILE_SIZE_MAX) {
		return fail(p, p->line, -EINVAL, "SIZE %" PRIu64 " too big (more than 1024 chunks, at most %" PRIu64 ")",
			    a->size, CFS_DUMP_FILE_SIZE_MAX);
	}
	/* the reference accepts these; no mount can serve them (invalid redirect, FUSE EIO) */
	if (strict && !cfs_node_payload_servable(node))
		return fail(p, p->line, -EINVAL,
			    "PAYLOAD \"%s\": not a backing path any mount can serve (absolute, or an empty, "
			    "\".\" or \"..\" component)",
			    show(node->payload, strlen(node->payload)).s);
	if (a->digest)
		cfs_node_set_digest_alg(node, a->digest_len == 2 * CFS_DIGEST_SIZE ? CFS_HASH_SHA256 : CFS_HASH_SHA512,
					digest);
	return 0;
}

static int parse_hardlink(struct parser *p, const struct field *f, struct cfs_node *dir, const char *name,
			  struct cfs_node *placeholder)
{
	char *target;
	size_t tlen;
	int r = unescape_field(p, F_PAYLOAD, &f[F_PAYLOAD], true, &target, &tlen);

	if (r < 0)
		return r;
	if (target == NULL)
		return fail(p, p->line, -EINVAL, "hard link without a target path (PAYLOAD is \"-\")");
	if (strlen(target) != tlen) {
		free(target);
		return fail(p, p->line, -EINVAL, "hard link target contains a NUL byte");
	}
	r = add_fixup(p, dir, name, target, placeholder);
	if (r < 0)
		free(target);
	return r;
}

static int parse_line(struct parser *p, const char *line, size_t len)
{
	struct field f[N_FIELDS];
	_cleanup_free_ char *path = NULL;
	struct cfs_node *node = NULL, *dir = NULL;
	struct attrs a = { 0 };
	const char *nul = memchr(line, '\0', len), *name = NULL;
	bool hardlink;
	uint64_t mode;
	size_t plen;
	int r;

	if (nul != NULL)
		return fail(p, p->line, -EINVAL, "NUL byte at column %zu", (size_t)(nul - line) + 1);
	for (int i = 0; i < N_FIELDS; i++) {
		const char *sp = memchr(line, ' ', len);

		f[i].p = line;
		f[i].len = sp ? (size_t)(sp - line) : len;
		line += f[i].len + (sp != NULL);
		len -= f[i].len + (sp != NULL);
	}

	r = unescape_field(p, F_PATH, &f[F_PATH], false, &path, &plen);
	if (r < 0)
		return r;
	if (plen == 0)
		return fail(p, p->line, -EINVAL, "empty PATH");
	if (strlen(path) != plen)
		return fail(p, p->line, -EINVAL, "PATH contains a NUL byte");

	hardlink = f[F_MODE].len > 0 && f[F_MODE].p[0] == '@';
	if (hardlink) {
		f[F_MODE].p++;
		f[F_MODE].len--;
	}
	r = parse_num(p, F_MODE, &f[F_MODE], 8, UINT32_MAX, &mode);
	if (r < 0)
		return r;
	/* the image keeps 16 bits; the reference silently drops the rest too */
	mode &= S_IFMT | 07777;
	if (!cfs_node_type_valid((uint32_t)mode))
		return fail(p, p->line, -EINVAL, "MODE %" PRIo64 ": not a known file type", mode);

	node = cfs_node_new((uint32_t)mode);
	if (node == NULL)
		return fail_oom(p);
	r = add_node(p, path, plen, node, hardlink, &dir, &name);
	if (r == 0 && hardlink)
		r = parse_hardlink(p, f, dir, name, node);
	else if (r == 0) {
		r = parse_attrs(p, f, len, &a);
		if (r == 0)
			r = apply_attrs(p, node, &a);
		if (r == 0)
			r = parse_xattrs(p, node, line, len);
		attrs_free(&a);
	}
	cfs_node_unref(node); /* the tree holds its own reference */
	return r;
}

/* Resolve the target of fixup @i, following chains of hard links. */
static int resolve_one(struct parser *p, size_t i, size_t *chain)
{
	struct cfs_node *target = NULL;
	size_t n = 0, cur = i;
	int r;

	while (p->fixups[cur].resolved == NULL) {
		struct fixup *fx = &p->fixups[cur];

		if (fx->visiting)
			return fail(p, p->fixups[i].line, -EINVAL, "hard link %s: loop of hard links",
				    show(fx->target, strlen(fx->target)).s);
		fx->visiting = true;
		chain[n++] = cur;
		r = lookup_path(p->root, fx->target, strlen(fx->target), &target);
		if (r < 0)
			return fail(p, fx->line, -EINVAL, "hard link target %s does not exist",
				    show(fx->target, strlen(fx->target)).s);
		if (target == fx->placeholder)
			return fail(p, fx->line, -EINVAL, "hard link %s points to itself",
				    show(fx->target, strlen(fx->target)).s);
		if (S_ISDIR(target->mode))
			return fail(p, fx->line, -EINVAL, "hard link target %s is a directory",
				    show(fx->target, strlen(fx->target)).s);
		if (target->scratch_u64 == 0) {
			fx->resolved = target;
			break;
		}
		cur = (size_t)target->scratch_u64 - 1;
	}
	target = p->fixups[cur].resolved;
	for (size_t k = 0; k < n; k++)
		p->fixups[chain[k]].resolved = target;
	return 0;
}

/* Replace every placeholder entry by the inode it names. */
static int resolve_hardlinks(struct parser *p)
{
	_cleanup_free_ size_t *chain = NULL;

	if (p->n_fixups == 0)
		return 0;
	chain = calloc(p->n_fixups, sizeof(*chain));
	if (chain == NULL)
		return fail_oom(p);
	for (size_t i = 0; i < p->n_fixups; i++) {
		int r = resolve_one(p, i, chain);

		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < p->n_fixups; i++) {
		struct fixup *fx = &p->fixups[i];
		struct cfs_dirent *e = cfs_node_find_entry(fx->dir, fx->name);

		if (e == NULL || e->node != fx->placeholder)
			return fail(p, fx->line, -EINVAL, "internal error: hard link entry vanished");
		e->node = cfs_node_ref(fx->resolved);
		cfs_node_unref(fx->placeholder);
		fx->placeholder = NULL;
	}
	return 0;
}

static void parser_free(struct parser *p)
{
	for (size_t i = 0; i < p->n_fixups; i++) {
		free(p->fixups[i].name);
		free(p->fixups[i].target);
	}
	free(p->fixups);
	cfs_node_unref(p->root);
}

static int parser_init(struct parser *p, unsigned flags, struct cfs_dump_error *err)
{
	*p = (struct parser){ .flags = flags, .err = err };
	if (err) {
		err->line = 0;
		err->msg[0] = '\0';
	}
	if (flags & ~CFS_DUMP_STRICT)
		return fail(p, 0, -EINVAL, "unknown flags 0x%x", flags & ~CFS_DUMP_STRICT);
	return 0;
}

/* One line; @terminated tells whether a newline followed it. */
static int parser_feed(struct parser *p, const char *line, size_t len, bool terminated)
{
	p->line++;
	if (!terminated && (p->flags & CFS_DUMP_STRICT))
		return fail(p, p->line, -EINVAL, "missing newline at the end of the last line");
	return parse_line(p, line, len);
}

static int parser_finish(struct parser *p, struct cfs_node **root_out)
{
	int r;

	if (p->root == NULL)
		return fail(p, 0, -EINVAL, "empty dump: no root directory");
	r = resolve_hardlinks(p);
	if (r < 0)
		return r;
	*root_out = steal_pointer(&p->root);
	return 0;
}

int cfs_dump_parse_buf(const char *buf, size_t len, unsigned flags, struct cfs_node **root_out,
		       struct cfs_dump_error *err)
{
	struct parser p;
	int r = parser_init(&p, flags, err);

	while (r == 0 && len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;

		r = parser_feed(&p, buf, n, nl != NULL);
		buf += n + (nl != NULL);
		len -= n + (nl != NULL);
	}
	if (r == 0)
		r = parser_finish(&p, root_out);
	parser_free(&p);
	return r;
}

int cfs_dump_parse_file(FILE *f, unsigned flags, struct cfs_node **root_out, struct cfs_dump_error *err)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	struct parser p;
	int r = parser_init(&p, flags, err);

	while (r == 0) {
		ssize_t n;

		errno = 0;
		n = getline(&line, &cap, f);
		if (n < 0) {
			/* getline() can also fail (ENOMEM) without an error indicator: only EOF is the end */
			if (ferror(f) || !feof(f)) {
				int e = errno ? errno : EIO;

				r = fail(&p, 0, -e, "read error after line %lu: %s", p.line, strerror(e));
			}
			break;
		}
		if (line[n - 1] == '\n')
			r = parser_feed(&p, line, (size_t)n - 1, true);
		else
			r = parser_feed(&p, line, (size_t)n, false);
	}
	if (r == 0)
		r = parser_finish(&p, root_out);
	parser_free(&p);
	return r;
}
