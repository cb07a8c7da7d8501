/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Split stream writer and reader (composefs-rs format version 0), zstd through libzstd. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zstd.h>

#include "hashset.h"
#include "splitstream.h"
#include "util.h"

#define MAGIC "SplitStream"
#define MAGIC_LEN 11
#define HEADER_SIZE 32
#define INFO_SIZE 80
#define LG_BLOCKSIZE 12
/* a run of inline bytes is kept in memory until its length is known; a tar of nothing but
 * headers and small files could otherwise ask for any amount */
#define INLINE_RUN_MAX (1ull << 32)
#define OUT_CHUNK (128u << 10)

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint8_t alg_id(enum cfs_hash_alg alg)
{
	return alg == CFS_HASH_SHA512 ? 2 : 1;
}

/* A growable byte buffer. */
struct buf {
	uint8_t *p;
	size_t n, cap;
};

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (more <= b->cap - b->n)
		return 0;
	if (more > SIZE_MAX / 2 - b->n)
		return -ENOMEM;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->n + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const void *data, size_t len)
{
	int r = buf_reserve(b, len);

	if (r == 0 && len > 0) {
		memcpy(b->p + b->n, data, len);
		b->n += len;
	}
	return r;
}

/* ---------------------------------------------------------------- writer */

/* digests in order of first use, found again through a set of indices */
struct refs {
	struct buf digests;
	size_t n, dsize;
	struct cfs_hashset index; /* elements: size_t indices into digests */
};

static bool ref_eq(const void *elem, const void *key, void *arg)
{
	const struct refs *r = arg;

	return memcmp(r->digests.p + *(const size_t *)elem * r->dsize, key, r->dsize) == 0;
}

static uint64_t digest_hash(const uint8_t *d)
{
	uint64_t h;

	memcpy(&h, d, sizeof(h)); /* digests are uniformly distributed already */
	return cfs_hash_u64(h);
}

static int refs_ensure(struct refs *r, const uint8_t *digest, size_t *idx)
{
	void *slot;
	int k = cfs_hashset_insert(&r->index, digest_hash(digest), digest, &slot);

	if (k < 0)
		return k;
	if (k == 0) {
		*idx = *(size_t *)slot;
		return 0;
	}
	if (buf_add(&r->digests, digest, r->dsize) < 0) {
		cfs_hashset_remove_at(&r->index, slot);
		return -ENOMEM;
	}
	*(size_t *)slot = r->n;
	*idx = r->n++;
	return 0;
}

struct named {
	char *name;
	size_t idx;
};

struct cfs_splitstream_writer {
	enum cfs_hash_alg alg;
	size_t dsize;
	uint64_t content_type;
	uint64_t total;
	struct refs objects, streams;
	struct named *named;
	size_t n_named;
	struct buf run;  /* inline bytes not yet written as a chunk */
	struct buf out;  /* the compressed stream */
	ZSTD_CCtx *cctx;
	int err;
};

int cfs_splitstream_writer_new(enum cfs_hash_alg alg, uint64_t content_type, struct cfs_splitstream_writer **out)
{
	struct cfs_splitstream_writer *w;
	size_t dsize = cfs_verity_digest_size(alg);

	if (dsize == 0)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->alg = alg;
	w->dsize = dsize;
	w->content_type = content_type;
	w->objects.dsize = w->streams.dsize = dsize;
	cfs_hashset_init(&w->objects.index, sizeof(size_t), ref_eq, &w->objects);
	cfs_hashset_init(&w->streams.index, sizeof(size_t), ref_eq, &w->streams);
	w->cctx = ZSTD_createCCtx();
	if (w->cctx == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, ZSTD_CLEVEL_DEFAULT))) {
		cfs_splitstream_writer_free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

void cfs_splitstream_writer_free(struct cfs_splitstream_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n_named; i++)
		free(w->named[i].name);
	free(w->named);
	cfs_hashset_free(&w->objects.index);
	cfs_hashset_free(&w->streams.index);
	free(w->objects.digests.p);
	free(w->streams.digests.p);
	free(w->run.p);
	free(w->out.p);
	ZSTD_freeCCtx(w->cctx);
	free(w);
}

/* Feed @len bytes (or, with @end, the end of the frame) through @cctx into @out. */
static int compress_into(ZSTD_CCtx *cctx, struct buf *out, const void *data, size_t len, bool end)
{
	ZSTD_inBuffer in = { data, len, 0 };
	size_t left;

	do {
		ZSTD_outBuffer o;

		if (buf_reserve(out, OUT_CHUNK) < 0)
			return -ENOMEM;
		o = (ZSTD_outBuffer){ out->p + out->n, out->cap - out->n, 0 };
		left = ZSTD_compressStream2(cctx, &o, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return -EIO;
		out->n += o.pos;
	} while (end ? left != 0 : in.pos < in.size);
	return 0;
}

static int flush_run(struct cfs_splitstream_writer *w)
{
	uint8_t hdr[8];
	int r;

	if (w->run.n == 0)
		return 0;
	put_le64(hdr, (uint64_t)-(int64_t)w->run.n);
	r = compress_into(w->cctx, &w->out, hdr, sizeof(hdr), false);
	if (r == 0)
		r = compress_into(w->cctx, &w->out, w->run.p, w->run.n, false);
	w->run.n = 0;
	return r;
}

int cfs_splitstream_write_inline(struct cfs_splitstream_writer *w, const void *buf, size_t len)
{
	if (w->err)
		return w->err;
	if (len == 0)
		return 0;
	if (w->run.n + (uint64_t)len > INLINE_RUN_MAX)
		return w->err = -EFBIG;
	if (buf_add(&w->run, buf, len) < 0)
		return w->err = -ENOMEM;
	w->total += len;
	return 0;
}

int cfs_splitstream_write_external(struct cfs_splitstream_writer *w, const uint8_t *digest, uint64_t size)
{
	uint8_t hdr[8];
	size_t idx;
	int r;

	if (w->err)
		return w->err;
	r = flush_run(w);
	if (r == 0)
		r = refs_ensure(&w->objects, digest, &idx);
	if (r == 0) {
		put_le64(hdr, (uint64_t)idx);
		r = compress_into(w->cctx, &w->out, hdr, sizeof(hdr), false);
	}
	if (r < 0)
		return w->err = r;
	w->total += size;
	return 0;
}

int cfs_splitstream_add_named_ref(struct cfs_splitstream_writer *w, const char *name, const uint8_t *digest)
{
	struct named *v;
	size_t idx;
	char *copy;
	int r;

	if (w->err)
		return w->err;
	if (name == NULL || strchr(name, '\0') == name)
		return -EINVAL;
	r = refs_ensure(&w->streams, digest, &idx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < w->n_named; i++) {
		if (strcmp(w->named[i].name, name) == 0) {
			w->named[i].idx = idx;
			return 0;
		}
	}
	copy = strdup(name);
	v = realloc(w->named, (w->n_named + 1) * sizeof(*v));
	if (copy == NULL || v == NULL) {
		free(copy);
		if (v != NULL)
			w->named = v;
		return -ENOMEM;
	}
	w->named = v;
	w->named[w->n_named++] = (struct named){ copy, idx };
	return 0;
}

uint64_t cfs_splitstream_writer_size(const struct cfs_splitstream_writer *w)
{
	return w->total;
}

static int cmp_named(const void *a, const void *b)
{
	/* composefs-rs keeps them in a BTreeMap of str: byte order */
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static int render_named(struct cfs_splitstream_writer *w, struct buf *out)
{
	struct buf plain = { 0 };
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	int r = cctx == NULL ? -ENOMEM : 0;

	if (r == 0 && ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ZSTD_CLEVEL_DEFAULT)))
		r = -EIO;
	if (w->n_named > 1)
		qsort(w->named, w->n_named, sizeof(*w->named), cmp_named);
	for (size_t i = 0; r == 0 && i < w->n_named; i++) {
		char num[32];
		int n = snprintf(num, sizeof(num), "%zu:", w->named[i].idx);

		r = buf_add(&plain, num, (size_t)n);
		if (r == 0)
			r = buf_add(&plain, w->named[i].name, strlen(w->named[i].name) + 1);
	}
	/* written and then ended, as composefs-rs' streaming encoder does (no size in the frame) */
	if (r == 0)
		r = compress_into(cctx, out, plain.p, plain.n, false);
	if (r == 0)
		r = compress_into(cctx, out, NULL, 0, true);
	free(plain.p);
	ZSTD_freeCCtx(cctx);
	return r;
}

int cfs_splitstream_writer_finish(struct cfs_splitstream_writer *w, uint8_t **buf_out, size_t *len_out)
{
	struct buf named = { 0 }, file = { 0 };
	uint8_t hdr[HEADER_SIZE] = { 0 }, info[INFO_SIZE];
	uint64_t sr, orf, nr, st, end;
	int r = w->err;

	if (r == 0)
		r = flush_run(w);
	if (r == 0)
		r = compress_into(w->cctx, &w->out, NULL, 0, true);
	if (r == 0)
		r = render_named(w, &named);
	if (r < 0)
		goto out;
	sr = HEADER_SIZE + INFO_SIZE;
	orf = sr + w->streams.digests.n;
	nr = orf + w->objects.digests.n;
	st = nr + named.n;
	end = st + w->out.n;
	memcpy(hdr, MAGIC, MAGIC_LEN);
	hdr[11] = 0;               /* version */
	hdr[12] = hdr[13] = 0;     /* flags */
	hdr[14] = alg_id(w->alg);
	hdr[15] = LG_BLOCKSIZE;
	put_le64(hdr + 16, HEADER_SIZE);
	put_le64(hdr + 24, HEADER_SIZE + INFO_SIZE);
	put_le64(info + 0, sr);
	put_le64(info + 8, orf);
	put_le64(info + 16, orf);
	put_le64(info + 24, nr);
	put_le64(info + 32, st);
	put_le64(info + 40, end);
	put_le64(info + 48, nr);
	put_le64(info + 56, st);
	put_le64(info + 64, w->content_type);
	put_le64(info + 72, w->total);
	r = buf_reserve(&file, (size_t)end);
	if (r == 0) {
		buf_add(&file, hdr, sizeof(hdr));
		buf_add(&file, info, sizeof(info));
		buf_add(&file, w->streams.digests.p, w->streams.digests.n);
		buf_add(&file, w->objects.digests.p, w->objects.digests.n);
		buf_add(&file, named.p, named.n);
		buf_add(&file, w->out.p, w->out.n);
		*buf_out = file.p;
		*len_out = file.n;
		file.p = NULL;
	}
out:
	w->err = r < 0 ? r : -EINVAL; /* spent */
	free(named.p);
	free(file.p);
	return r;
}

/* ---------------------------------------------------------------- reader */

struct cfs_splitstream {
	const uint8_t *file;
	size_t len;
	uint8_t *owned;
	size_t dsize;
	uint64_t content_type, stream_size;
	const uint8_t *stream_refs, *object_refs;
	size_t n_stream_refs, n_object_refs;
	struct named *named;
	size_t n_named;
	char *named_text;
	/* the compressed stream and where decompression stands */
	ZSTD_DCtx *dctx;
	ZSTD_inBuffer in;
	uint8_t *obuf;
	size_t opos, olen;      /* decompressed bytes not yet handed out: obuf[opos, olen) */
	bool frame_done;
	size_t last_ret;        /* ZSTD_decompressStream's last answer: 0 at a frame's end */
	uint64_t inline_left;   /* of the current inline chunk */
	uint64_t produced;      /* inline bytes handed out */
};

struct range {
	uint64_t start, end;
};

static int get_range(const struct cfs_splitstream *s, const uint8_t *p, const char *what, struct range *out,
		     char *err, size_t errlen)
{
	out->start = get_le64(p);
	out->end = get_le64(p + 8);
	if (out->start > out->end || out->end > s->len)
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "%s section [%llu, %llu) is outside the file of %zu bytes", what,
			    (unsigned long long)out->start, (unsigned long long)out->end, s->len);
	return 0;
}

static int get_refs(const struct cfs_splitstream *s, const uint8_t *p, const char *what, const uint8_t **refs,
		    size_t *n, char *err, size_t errlen)
{
	struct range rg;
	int r = get_range(s, p, what, &rg, err, errlen);

	if (r < 0)
		return r;
	if ((rg.end - rg.start) % s->dsize != 0)
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "%s section of %llu bytes is not a whole number of %zu-byte digests",
			    what, (unsigned long long)(rg.end - rg.start), s->dsize);
	*refs = s->file + rg.start;
	*n = (size_t)((rg.end - rg.start) / s->dsize);
	return 0;
}

/* Decompress the whole named-refs section (one or more frames), bounded. */
static int inflate_small(const uint8_t *src, size_t len, struct buf *out, char *err, size_t errlen)
{
	ZSTD_DCtx *d;
	ZSTD_inBuffer in = { src, len, 0 };
	size_t ret = 1;
	int r = 0;

	if (len == 0)
		return 0;
	d = ZSTD_createDCtx();
	if (d == NULL)
		return -ENOMEM;
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 24);
	while (r == 0 && !(in.pos == in.size && ret == 0)) {
		ZSTD_outBuffer o;

		if (out->n >= CFS_SPLITSTREAM_NAMED_MAX) {
			r = cfs_errbuf_set(err, errlen, -EUCLEAN, "named references longer than %u bytes", CFS_SPLITSTREAM_NAMED_MAX);
			break;
		}
		if (buf_reserve(out, 4096) < 0) {
			r = -ENOMEM;
			break;
		}
		o = (ZSTD_outBuffer){ out->p + out->n, 4096, 0 };
		ret = ZSTD_decompressStream(d, &o, &in);
		if (ZSTD_isError(ret))
			r = cfs_errbuf_set(err, errlen, -EUCLEAN, "named references: %s", ZSTD_getErrorName(ret));
		else if (o.pos == 0 && in.pos == in.size && ret != 0)
			r = cfs_errbuf_set(err, errlen, -EUCLEAN, "named references: truncated compressed data");
		out->n += o.pos;
	}
	ZSTD_freeDCtx(d);
	return r;
}

static int parse_named(struct cfs_splitstream *s, const uint8_t *src, size_t len, char *err, size_t errlen)
{
	struct buf text = { 0 };
	size_t n = 0;
	int r = inflate_small(src, len, &text, err, errlen);

	if (r < 0)
		goto out;
	if (text.n > 0 && text.p[text.n - 1] != '\0') {
		r = cfs_errbuf_set(err, errlen, -EUCLEAN, "named references: trailing bytes after the last record");
		goto out;
	}
	for (size_t i = 0; i < text.n; i++)
		n += text.p[i] == '\0';
	s->named = calloc(n ? n : 1, sizeof(*s->named));
	if (s->named == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t pos = 0; pos < text.n;) {
		char *rec = (char *)text.p + pos, *colon = strchr(rec, ':'), *endp;
		unsigned long long idx;

		pos += strlen(rec) + 1;
		if (colon == NULL || colon == rec || rec[0] < '0' || rec[0] > '9') {
			r = cfs_errbuf_set(err, errlen, -EUCLEAN, "named reference record %zu is not INDEX:NAME", s->n_named);
			goto out;
		}
		errno = 0;
		idx = strtoull(rec, &endp, 10);
		if (errno != 0 || endp != colon || idx >= s->n_stream_refs) {
			r = cfs_errbuf_set(err, errlen, -EUCLEAN, "named reference record %zu: index out of range (%zu stream refs)",
				 s->n_named, s->n_stream_refs);
			goto out;
		}
		s->named[s->n_named++] = (struct named){ colon + 1, (size_t)idx };
	}
	s->named_text = (char *)text.p;
	text.p = NULL;
out:
	free(text.p);
	return r;
}

int cfs_splitstream_open_mem(const void *buf, size_t len, enum cfs_hash_alg alg, uint64_t content_type,
			     struct cfs_splitstream **out, char *err, size_t errlen)
{
	const uint8_t *f = buf, *h, *info;
	uint8_t version, algorithm, lg;
	struct cfs_splitstream *s;
	struct range info_rg, named_rg, stream_rg;
	int r;

	if (cfs_verity_digest_size(alg) == 0)
		return -EINVAL;
	if (len < HEADER_SIZE)
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "%zu bytes, shorter than a split stream header", len);
	if (memcmp(f, MAGIC, MAGIC_LEN) == 0) {
		h = f + 16;
		version = f[11];
		algorithm = f[14];
		lg = f[15];
	} else if (memcmp(f + 18, MAGIC, MAGIC_LEN) == 0) {
		/* the field order of composefs-rs before its header was #[repr(C)] */
		h = f;
		version = f[29];
		algorithm = f[30];
		lg = f[31];
	} else {
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "not a split stream (bad magic)");
	}
	if (version != 0)
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "split stream version %u is not supported", version);
	if (algorithm != alg_id(alg))
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "split stream of fs-verity algorithm %u, expected %u (%s)", algorithm,
			    alg_id(alg), cfs_hash_alg_name(alg));
	if (lg != LG_BLOCKSIZE)
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "split stream with fs-verity block size 2^%u, expected 2^12", lg);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->file = f;
	s->len = len;
	s->dsize = cfs_verity_digest_size(alg);
	r = get_range(s, h, "info", &info_rg, err, errlen);
	if (r == 0 && info_rg.end - info_rg.start < INFO_SIZE)
		r = cfs_errbuf_set(err, errlen, -EUCLEAN, "info section of %llu bytes, expected at least %d",
			 (unsigned long long)(info_rg.end - info_rg.start), INFO_SIZE);
	if (r < 0)
		goto fail;
	info = f + info_rg.start;
	s->content_type = get_le64(info + 64);
	s->stream_size = get_le64(info + 72);
	if (content_type != 0 && s->content_type != content_type) {
		r = cfs_errbuf_set(err, errlen, -EMEDIUMTYPE, "split stream of content type %016llx, expected %016llx",
			 (unsigned long long)s->content_type, (unsigned long long)content_type);
		goto fail;
	}
	r = get_refs(s, info, "stream refs", &s->stream_refs, &s->n_stream_refs, err, errlen);
	if (r == 0)
		r = get_refs(s, info + 16, "object refs", &s->object_refs, &s->n_object_refs, err, errlen);
	if (r == 0)
		r = get_range(s, info + 32, "stream", &stream_rg, err, errlen);
	if (r == 0)
		r = get_range(s, info + 48, "named refs", &named_rg, err, errlen);
	if (r == 0)
		r = parse_named(s, f + named_rg.start, (size_t)(named_rg.end - named_rg.start), err, errlen);
	if (r < 0)
		goto fail;
	s->in = (ZSTD_inBuffer){ f + stream_rg.start, (size_t)(stream_rg.end - stream_rg.start), 0 };
	s->dctx = ZSTD_createDCtx();
	s->obuf = malloc(OUT_CHUNK);
	if (s->dctx == NULL || s->obuf == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	/* bound the decoder's window: composefs-rs compresses at the default level (8 MiB at most) */
	ZSTD_DCtx_setParameter(s->dctx, ZSTD_d_windowLogMax, 27);
	*out = s;
	return 0;
fail:
	cfs_splitstream_free(s);
	return r;
}

int cfs_splitstream_open_fd(int fd, enum cfs_hash_alg alg, uint64_t content_type, struct cfs_splitstream **out,
			    char *err, size_t errlen)
{
	struct cfs_splitstream *s;
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return cfs_errbuf_set(err, errlen, -errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "not a regular file");
	if ((uint64_t)st.st_size > CFS_SPLITSTREAM_FILE_MAX)
		return cfs_errbuf_set(err, errlen, -EFBIG, "split stream of %lld bytes, more than %llu", (long long)st.st_size,
			    (unsigned long long)CFS_SPLITSTREAM_FILE_MAX);
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (buf == NULL)
		return -ENOMEM;
	n = cfs_pread_full(fd, buf, (size_t)st.st_size, 0);
	if (n < 0 || n != st.st_size) {
		free(buf);
		return cfs_errbuf_set(err, errlen, n < 0 ? (int)n : -EUCLEAN, "reading the split stream: %s",
			    n < 0 ? strerror((int)-n) : "file changed size");
	}
	r = cfs_splitstream_open_mem(buf, (size_t)n, alg, content_type, &s, err, errlen);
	if (r < 0) {
		free(buf);
		return r;
	}
	s->owned = buf;
	*out = s;
	return 0;
}

void cfs_splitstream_free(struct cfs_splitstream *s)
{
	if (s == NULL)
		return;
	free(s->named);
	free(s->named_text);
	ZSTD_freeDCtx(s->dctx);
	free(s->obuf);
	free(s->owned);
	free(s);
}

uint64_t cfs_splitstream_content_type(const struct cfs_splitstream *s)
{
	return s->content_type;
}

uint64_t cfs_splitstream_stream_size(const struct cfs_splitstream *s)
{
	return s->stream_size;
}

size_t cfs_splitstream_n_objects(const struct cfs_splitstream *s)
{
	return s->n_object_refs;
}

const uint8_t *cfs_splitstream_object(const struct cfs_splitstream *s, size_t i)
{
	return i < s->n_object_refs ? s->object_refs + i * s->dsize : NULL;
}

size_t cfs_splitstream_n_stream_refs(const struct cfs_splitstream *s)
{
	return s->n_stream_refs;
}

const uint8_t *cfs_splitstream_stream_ref(const struct cfs_splitstream *s, size_t i)
{
	return i < s->n_stream_refs ? s->stream_refs + i * s->dsize : NULL;
}

size_t cfs_splitstream_n_named(const struct cfs_splitstream *s)
{
	return s->n_named;
}

const char *cfs_splitstream_named(const struct cfs_splitstream *s, size_t i, const uint8_t **digest)
{
	if (i >= s->n_named)
		return NULL;
	if (digest != NULL)
		*digest = s->stream_refs + s->named[i].idx * s->dsize;
	return s->named[i].name;
}

const uint8_t *cfs_splitstream_lookup(const struct cfs_splitstream *s, const char *name)
{
	for (size_t i = 0; i < s->n_named; i++)
		if (strcmp(s->named[i].name, name) == 0)
			return s->stream_refs + s->named[i].idx * s->dsize;
	return NULL;
}

/* Make decompressed bytes available in obuf: 1, 0 at the end of the frame, -EUCLEAN. */
static int fill(struct cfs_splitstream *s, char *err, size_t errlen)
{
	while (s->opos == s->olen) {
		ZSTD_outBuffer o = { s->obuf, OUT_CHUNK, 0 };
		size_t ret;

		/* an empty section is an empty stream; frames may follow one another */
		if (s->frame_done || (s->in.pos == s->in.size && s->last_ret == 0))
			return 0;
		ret = ZSTD_decompressStream(s->dctx, &o, &s->in);
		if (ZSTD_isError(ret))
			return cfs_errbuf_set(err, errlen, -EUCLEAN, "stream: %s", ZSTD_getErrorName(ret));
		s->last_ret = ret;
		s->opos = 0;
		s->olen = o.pos;
		if (o.pos == 0 && s->in.pos == s->in.size && ret != 0)
			return cfs_errbuf_set(err, errlen, -EUCLEAN, "stream: truncated compressed data");
	}
	return 1;
}

/* Read exactly @len (<= 8) bytes: 1, 0 at a clean end (nothing read), -EUCLEAN. */
static int read_small(struct cfs_splitstream *s, uint8_t *dst, size_t len, char *err, size_t errlen)
{
	size_t got = 0;

	while (got < len) {
		int r = fill(s, err, errlen);
		size_t k;

		if (r < 0)
			return r;
		if (r == 0) {
			if (got == 0)
				return 0;
			return cfs_errbuf_set(err, errlen, -EUCLEAN, "stream: truncated chunk header");
		}
		k = s->olen - s->opos < len - got ? s->olen - s->opos : len - got;
		memcpy(dst + got, s->obuf + s->opos, k);
		s->opos += k;
		got += k;
	}
	return 1;
}

int cfs_splitstream_next(struct cfs_splitstream *s, struct cfs_splitstream_chunk *c, char *err, size_t errlen)
{
	int r;

	memset(c, 0, sizeof(*c));
	if (s->inline_left == 0) {
		uint8_t hdr[8];
		int64_t v;

		r = read_small(s, hdr, sizeof(hdr), err, errlen);
		if (r <= 0)
			return r;
		v = (int64_t)get_le64(hdr);
		if (v >= 0) {
			if ((uint64_t)v >= s->n_object_refs)
				return cfs_errbuf_set(err, errlen, -EUCLEAN, "stream: reference %lld out of range (%zu objects)",
					    (long long)v, s->n_object_refs);
			c->external = true;
			c->object = (size_t)v;
			c->digest = s->object_refs + c->object * s->dsize;
			return 1;
		}
		if (v == INT64_MIN)
			return cfs_errbuf_set(err, errlen, -EUCLEAN, "stream: invalid inline chunk length");
		s->inline_left = (uint64_t)-v;
		if (s->inline_left > s->stream_size - (s->produced < s->stream_size ? s->produced : s->stream_size))
			return cfs_errbuf_set(err, errlen, -EUCLEAN, "stream: inline chunk of %llu bytes beyond the stream size %llu",
				    (unsigned long long)s->inline_left, (unsigned long long)s->stream_size);
	}
	r = fill(s, err, errlen);
	if (r < 0)
		return r;
	if (r == 0)
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "stream: inline chunk cut short (%llu bytes missing)",
			    (unsigned long long)s->inline_left);
	c->data = s->obuf + s->opos;
	c->len = s->olen - s->opos < s->inline_left ? s->olen - s->opos : (size_t)s->inline_left;
	s->opos += c->len;
	s->inline_left -= c->len;
	s->produced += c->len;
	return 1;
}
