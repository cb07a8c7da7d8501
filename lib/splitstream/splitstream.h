/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Split streams as composefs-rs writes them: inline bytes and object references, zstd-compressed. */
#ifndef CFS_SPLITSTREAM_H
#define CFS_SPLITSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/verity.h>

/*
 * File format (composefs-rs crates/composefs/src/splitstream.rs, format version 0; all
 * integers little-endian):
 *
 *   header  (32 bytes at 0): "SplitStream", version u8 = 0, flags u16 = 0, fs-verity
 *           algorithm u8 (1 sha256, 2 sha512), log2 block size u8 = 12, info range
 *           {start u64, end u64}. Files written by composefs-rs up to bootc 1.15 have the
 *           fields reordered: info range at 0, flags at 16, magic at 18, version, algorithm,
 *           log2 block size at 29..31; both are read.
 *   info    (80 bytes, or more: the rest is ignored): ranges of the stream refs, object
 *           refs, compressed stream and compressed named refs, content type u64,
 *           stream size u64 (the size of the reassembled stream).
 *   stream refs, object refs: flat arrays of binary digests.
 *   named refs: one zstd frame of "INDEX:NAME\0" records (index into the stream refs).
 *   stream: one zstd frame of chunks: an i64 n < 0 is followed by -n inline bytes; n >= 0
 *           is the content of object refs[n].
 *
 * The writer lays the file out as composefs-rs does (header, info, stream refs, object
 * refs, named refs, stream), references objects in order of first use, merges adjacent
 * inline bytes into one chunk, and compresses with zstd's default level.
 */

/** Content types: eight ASCII bytes read as a little-endian u64. */
#define CFS_SPLITSTREAM_CT(s)                                                                          \
	((uint64_t)(s)[0] | (uint64_t)(s)[1] << 8 | (uint64_t)(s)[2] << 16 | (uint64_t)(s)[3] << 24 | \
	 (uint64_t)(s)[4] << 32 | (uint64_t)(s)[5] << 40 | (uint64_t)(s)[6] << 48 | (uint64_t)(s)[7] << 56)
#define CFS_SPLITSTREAM_CT_OCI_LAYER CFS_SPLITSTREAM_CT("ocilayer")
#define CFS_SPLITSTREAM_CT_OCI_CONFIG CFS_SPLITSTREAM_CT("ociconfg")
#define CFS_SPLITSTREAM_CT_OCI_MANIFEST CFS_SPLITSTREAM_CT("ocimanif")

/** Largest split stream file read (the file itself; the stream it describes may be larger). */
#define CFS_SPLITSTREAM_FILE_MAX (1ull << 30)
/** Largest decompressed named-refs section. */
#define CFS_SPLITSTREAM_NAMED_MAX (1u << 20)

/* --- writing --- */

struct cfs_splitstream_writer;

/* A writer for digests of @alg and the given content type. 0, -EINVAL, -ENOMEM. */
int cfs_splitstream_writer_new(enum cfs_hash_alg alg, uint64_t content_type, struct cfs_splitstream_writer **out);
void cfs_splitstream_writer_free(struct cfs_splitstream_writer *w);
/* Append inline bytes (merged with the inline bytes before them). 0, -ENOMEM, -EFBIG. */
int cfs_splitstream_write_inline(struct cfs_splitstream_writer *w, const void *buf, size_t len);
/* Append the content of the object @digest (@size bytes, counted in the stream size). */
int cfs_splitstream_write_external(struct cfs_splitstream_writer *w, const uint8_t *digest, uint64_t size);
/* Name another stream (or object) @digest: "NAME" -> digest (replaces an earlier NAME). */
int cfs_splitstream_add_named_ref(struct cfs_splitstream_writer *w, const char *name, const uint8_t *digest);
/* Bytes written so far (inline and external). */
uint64_t cfs_splitstream_writer_size(const struct cfs_splitstream_writer *w);
/* The whole file: *@buf_out (malloc'd, the caller frees it), *@len_out. The writer is
 * spent afterwards (free it). 0, -ENOMEM, -EIO (compression failed). */
int cfs_splitstream_writer_finish(struct cfs_splitstream_writer *w, uint8_t **buf_out, size_t *len_out);

/* --- reading (every byte untrusted) --- */

struct cfs_splitstream;

/*
 * Parse the split stream in @buf (@len bytes; the buffer must outlive the handle) whose
 * digests are of @alg. @content_type: the expected content type, or 0 for any.
 * Checks the header, every section's range, the sizes of the reference arrays and the named
 * references (index in range, "INDEX:NAME" form); the stream itself is checked as it is read.
 * Returns 0; -EUCLEAN (malformed: bad magic, version, algorithm, block size, ranges,
 * compression, references), -EMEDIUMTYPE (another content type), -ENOMEM; @err says what.
 */
int cfs_splitstream_open_mem(const void *buf, size_t len, enum cfs_hash_alg alg, uint64_t content_type,
			     struct cfs_splitstream **out, char *err, size_t errlen);
/* The same for a file: read whole (at most CFS_SPLITSTREAM_FILE_MAX bytes) and owned by the handle. */
int cfs_splitstream_open_fd(int fd, enum cfs_hash_alg alg, uint64_t content_type, struct cfs_splitstream **out,
			    char *err, size_t errlen);
void cfs_splitstream_free(struct cfs_splitstream *s);

uint64_t cfs_splitstream_content_type(const struct cfs_splitstream *s);
uint64_t cfs_splitstream_stream_size(const struct cfs_splitstream *s);
size_t cfs_splitstream_n_objects(const struct cfs_splitstream *s);
const uint8_t *cfs_splitstream_object(const struct cfs_splitstream *s, size_t i);
size_t cfs_splitstream_n_stream_refs(const struct cfs_splitstream *s);
const uint8_t *cfs_splitstream_stream_ref(const struct cfs_splitstream *s, size_t i);
size_t cfs_splitstream_n_named(const struct cfs_splitstream *s);
/* Named reference @i (in file order): its name, and its digest through @digest. */
const char *cfs_splitstream_named(const struct cfs_splitstream *s, size_t i, const uint8_t **digest);
/* The digest named @name, or NULL. */
const uint8_t *cfs_splitstream_lookup(const struct cfs_splitstream *s, const char *name);

/* One piece of the stream: inline bytes (up to 128 KiB at a time), or an object. */
struct cfs_splitstream_chunk {
	bool external;
	const uint8_t *data;       /* inline: the bytes, valid until the next call */
	size_t len;
	size_t object;             /* external: index into the object refs */
	const uint8_t *digest;     /* external: its digest */
};

/*
 * The next piece of the stream, from the start: 1 with *@c filled, 0 at the end, -EUCLEAN
 * for a malformed stream (truncated or bad compression, a chunk that ends early, an
 * out-of-range reference, more inline bytes than the stream size allows), -ENOMEM; @err says
 * what.
 */
int cfs_splitstream_next(struct cfs_splitstream *s, struct cfs_splitstream_chunk *c, char *err, size_t errlen);

#endif
