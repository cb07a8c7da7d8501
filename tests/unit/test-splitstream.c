/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of split streams: the file layout composefs-rs writes, round trips, hostile files. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "splitstream.h"
#include "testutil.h"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* inline "hello", object A (100 bytes), inline 3000 bytes, object B, object A again; named refs */
static void build(enum cfs_hash_alg alg, uint8_t **buf, size_t *len)
{
	struct cfs_splitstream_writer *w;
	uint8_t a[64], b[64], big[3000];

	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	CHECK(cfs_splitstream_writer_new(alg, CFS_SPLITSTREAM_CT_OCI_LAYER, &w) == 0);
	CHECK(cfs_splitstream_write_inline(w, "hel", 3) == 0);
	CHECK(cfs_splitstream_write_inline(w, "lo", 2) == 0); /* merged with "hel" */
	CHECK(cfs_splitstream_write_external(w, a, 100) == 0);
	CHECK(cfs_splitstream_write_inline(w, big, sizeof(big)) == 0);
	CHECK(cfs_splitstream_write_external(w, b, 200) == 0);
	CHECK(cfs_splitstream_write_external(w, a, 100) == 0);
	CHECK(cfs_splitstream_add_named_ref(w, "zeta", b) == 0);
	CHECK(cfs_splitstream_add_named_ref(w, "alpha", a) == 0);
	CHECK(cfs_splitstream_writer_size(w) == 5 + 100 + 3000 + 200 + 100);
	CHECK(cfs_splitstream_writer_finish(w, buf, len) == 0);
	cfs_splitstream_writer_free(w);
}

static void test_layout_and_roundtrip(enum cfs_hash_alg alg)
{
	size_t ds = cfs_verity_digest_size(alg), len, n_chunks = 0;
	uint8_t *buf, named[256];
	struct cfs_splitstream *s;
	struct cfs_splitstream_chunk c;
	char err[256] = "", got[4000];
	size_t got_n = 0, ext[8], n_ext = 0;

	build(alg, &buf, &len);
	/* composefs-rs' layout: header, info at 32..112, stream refs, object refs, named refs, stream */
	CHECK(memcmp(buf, "SplitStream", 11) == 0 && buf[11] == 0 && buf[12] == 0 && buf[13] == 0);
	CHECK(buf[14] == (alg == CFS_HASH_SHA256 ? 1 : 2) && buf[15] == 12);
	CHECK(le64(buf + 16) == 32 && le64(buf + 24) == 112);
	CHECK(le64(buf + 32) == 112 && le64(buf + 40) == 112 + 2 * ds);           /* stream refs: b, a */
	CHECK(le64(buf + 48) == 112 + 2 * ds && le64(buf + 56) == 112 + 4 * ds); /* object refs: a, b */
	CHECK(le64(buf + 96) == 0x726579616c69636fULL);                          /* "ocilayer" */
	CHECK(le64(buf + 104) == 3405);
	CHECK(le64(buf + 64) == le64(buf + 88) && le64(buf + 72) == len);        /* named refs, then stream */
	CHECK(buf[112] == 0xbb && buf[112 + ds] == 0xaa);                         /* first use order */
	CHECK(buf[112 + 2 * ds] == 0xaa && buf[112 + 3 * ds] == 0xbb);
	{
		size_t n = ZSTD_decompress(named, sizeof(named), buf + le64(buf + 80), le64(buf + 88) - le64(buf + 80));

		CHECK(!ZSTD_isError(n));
		CHECK(n == 15 && memcmp(named, "1:alpha\0" "0:zeta\0", 15) == 0); /* sorted by name */
	}
	CHECK(cfs_splitstream_open_mem(buf, len, alg, CFS_SPLITSTREAM_CT_OCI_LAYER, &s, err, sizeof(err)) == 0);
	CHECK(cfs_splitstream_n_objects(s) == 2 && cfs_splitstream_n_stream_refs(s) == 2 && cfs_splitstream_n_named(s) == 2);
	CHECK(cfs_splitstream_lookup(s, "alpha")[0] == 0xaa && cfs_splitstream_lookup(s, "zeta")[0] == 0xbb);
	CHECK(cfs_splitstream_lookup(s, "none") == NULL);
	CHECK(cfs_splitstream_stream_size(s) == 3405);
	int r;
	while ((r = cfs_splitstream_next(s, &c, err, sizeof(err))) == 1) {
		n_chunks++;
		if (c.external) {
			CHECK(n_ext < 8);
			ext[n_ext++] = c.object;
		} else {
			CHECK(got_n + c.len <= sizeof(got));
			memcpy(got + got_n, c.data, c.len);
			got_n += c.len;
		}
	}
	CHECK(r == 0);
	CHECK(n_ext == 3 && ext[0] == 0 && ext[1] == 1 && ext[2] == 0);
	CHECK(got_n == 3005 && memcmp(got, "hello", 5) == 0 && (uint8_t)got[5 + 2999] == (uint8_t)(2999 * 7));
	cfs_splitstream_free(s);
	/* another content type is refused */
	CHECK(cfs_splitstream_open_mem(buf, len, alg, CFS_SPLITSTREAM_CT_OCI_CONFIG, &s, err, sizeof(err)) == -EMEDIUMTYPE);
	/* the other algorithm is refused */
	CHECK(cfs_splitstream_open_mem(buf, len, alg == CFS_HASH_SHA256 ? CFS_HASH_SHA512 : CFS_HASH_SHA256, 0, &s, err,
				       sizeof(err)) == -EUCLEAN);
	CHECK(strstr(err, "algorithm") != NULL);
	free(buf);
}

/* The header layout of composefs-rs before #[repr(C)] (bootc <= 1.15) is read too. */
static void test_old_header(void)
{
	uint8_t *buf, hdr[32], old[32];
	struct cfs_splitstream *s;
	char err[256];
	size_t len;

	build(CFS_HASH_SHA256, &buf, &len);
	memcpy(hdr, buf, 32);
	memcpy(old, hdr + 16, 16);      /* info range */
	memcpy(old + 16, hdr + 12, 2);  /* flags */
	memcpy(old + 18, hdr, 11);      /* magic */
	old[29] = hdr[11];
	old[30] = hdr[14];
	old[31] = hdr[15];
	memcpy(buf, old, 32);
	CHECK(cfs_splitstream_open_mem(buf, len, CFS_HASH_SHA256, 0, &s, err, sizeof(err)) == 0);
	CHECK(cfs_splitstream_n_objects(s) == 2);
	cfs_splitstream_free(s);
	free(buf);
}

static int read_all(struct cfs_splitstream *s, char *err, size_t errlen)
{
	struct cfs_splitstream_chunk c;
	int r;

	while ((r = cfs_splitstream_next(s, &c, err, errlen)) == 1)
		;
	return r;
}

/* Open and read @buf; the error (0 if none) and its message. */
static int try(uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct cfs_splitstream *s;
	int r;

	err[0] = '\0';
	r = cfs_splitstream_open_mem(buf, len, CFS_HASH_SHA256, 0, &s, err, errlen);
	if (r < 0)
		return r;
	r = read_all(s, err, errlen);
	cfs_splitstream_free(s);
	return r;
}

static void test_hostile(void)
{
	uint8_t *buf, *copy;
	char err[256];
	size_t len;

	build(CFS_HASH_SHA256, &buf, &len);
	copy = malloc(len);
	CHECK(copy != NULL);
	/* every truncation is refused with a reason */
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(copy, buf, cut);
		CHECK(try(copy, cut, err, sizeof(err)) == -EUCLEAN);
		CHECK(err[0] != '\0');
	}
	memcpy(copy, buf, len);
	copy[0] = 'X';
	CHECK(try(copy, len, err, sizeof(err)) == -EUCLEAN && strstr(err, "magic") != NULL);
	memcpy(copy, buf, len);
	copy[11] = 1;
	CHECK(try(copy, len, err, sizeof(err)) == -EUCLEAN && strstr(err, "version") != NULL);
	memcpy(copy, buf, len);
	copy[15] = 16;
	CHECK(try(copy, len, err, sizeof(err)) == -EUCLEAN && strstr(err, "block size") != NULL);
	/* huge ranges */
	memcpy(copy, buf, len);
	put64(copy + 24, UINT64_MAX);
	CHECK(try(copy, len, err, sizeof(err)) == -EUCLEAN && strstr(err, "outside the file") != NULL);
	memcpy(copy, buf, len);
	put64(copy + 40, 112 + 33); /* stream refs not a whole number of digests */
	CHECK(try(copy, len, err, sizeof(err)) == -EUCLEAN && strstr(err, "whole number") != NULL);
	memcpy(copy, buf, len);
	put64(copy + 56, le64(buf + 48)); /* no object refs: the stream's references are out of range */
	CHECK(try(copy, len, err, sizeof(err)) == -EUCLEAN && strstr(err, "out of range") != NULL);
	memcpy(copy, buf, len);
	put64(copy + 104, 10); /* a stream size smaller than its inline bytes */
	CHECK(try(copy, len, err, sizeof(err)) == -EUCLEAN && strstr(err, "beyond the stream size") != NULL);
	memcpy(copy, buf, len);
	copy[len - 3] ^= 0x55; /* corrupted compressed data */
	CHECK(try(copy, len, err, sizeof(err)) < 0 && err[0] != '\0');
	free(copy);
	free(buf);
	/* named refs that are not INDEX:NAME, or whose index is out of range */
	{
		static const char *const bad[] = { "x:a", ":a", "5:a", "0a" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct cfs_splitstream_writer *w;
			uint8_t d[32] = { 1 }, comp[256], *file;
			size_t flen, clen = ZSTD_compress(comp, sizeof(comp), bad[i], strlen(bad[i]) + 1, 3);

			CHECK(!ZSTD_isError(clen));
			CHECK(cfs_splitstream_writer_new(CFS_HASH_SHA256, 1, &w) == 0);
			CHECK(cfs_splitstream_add_named_ref(w, "n", d) == 0);
			CHECK(cfs_splitstream_writer_finish(w, &file, &flen) == 0);
			cfs_splitstream_writer_free(w);
			/* put our section where the writer's was, at the end of the file */
			file = realloc(file, flen + clen);
			CHECK(file != NULL);
			memcpy(file + flen, comp, clen);
			put64(file + 80, flen);
			put64(file + 88, flen + clen);
			CHECK(try(file, flen + clen, err, sizeof(err)) == -EUCLEAN && strstr(err, "named reference") != NULL);
			free(file);
		}
	}
}

int main(void)
{
	test_layout_and_roundtrip(CFS_HASH_SHA256);
	test_layout_and_roundtrip(CFS_HASH_SHA512);
	test_old_header();
	test_hostile();
	printf("splitstream: ok\n");
	return 0;
}
