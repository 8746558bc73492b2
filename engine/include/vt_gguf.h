/* vt_gguf.h - GGUF v3 reader and writer (spec: ggml/docs/gguf.md).
 *
 * The reader never trusts the file: every count, length, offset and size is
 * checked against the bytes that remain before anything is allocated, so a
 * hostile or truncated file gives VT_ERR_FORMAT / VT_ERR_TRUNCATED with a
 * detail naming the field, never a crash or a huge allocation.
 */
#ifndef VT_GGUF_H
#define VT_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vt_gguf_vtype {
    VT_GGUF_U8 = 0, VT_GGUF_I8 = 1, VT_GGUF_U16 = 2, VT_GGUF_I16 = 3,
    VT_GGUF_U32 = 4, VT_GGUF_I32 = 5, VT_GGUF_F32 = 6, VT_GGUF_BOOL = 7,
    VT_GGUF_STRING = 8, VT_GGUF_ARRAY = 9, VT_GGUF_U64 = 10, VT_GGUF_I64 = 11,
    VT_GGUF_F64 = 12
};

typedef struct vt_gguf vt_gguf;

typedef struct vt_gguf_str {
    const char *ptr; /* into the mapping; NOT NUL-terminated */
    uint64_t len;
} vt_gguf_str;

typedef struct vt_gguf_tensor {
    vt_gguf_str name;
    uint32_t n_dims;
    uint64_t ne[4];      /* ne[0] is the contiguous (row) dimension */
    uint32_t type;       /* vt_dtype */
    uint64_t offset;     /* relative to the data section */
    uint64_t nbytes;
    const void *data;    /* into the mapping, aligned to general.alignment */
} vt_gguf_tensor;

/* Open a file by mmap, or parse an in-memory image (not copied; must outlive
 * the vt_gguf). */
int vt_gguf_open(const char *path, vt_gguf **out, vt_errinfo *ei);
int vt_gguf_open_mem(const void *buf, size_t len, vt_gguf **out, vt_errinfo *ei);
void vt_gguf_close(vt_gguf *g);

uint32_t vt_gguf_version(const vt_gguf *g);
const void *vt_gguf_bytes(const vt_gguf *g, size_t *len); /* the whole file */
/* SHA-256 of the whole file (a model's identity); returns the file size. */
size_t vt_gguf_sha256(const vt_gguf *g, uint8_t out[32]);

/* Metadata. Integer getters accept any integer type whose value fits.
 * VT_ERR_NOTFOUND if absent, VT_ERR_FORMAT if the type does not fit. */
int vt_gguf_get_u32(const vt_gguf *g, const char *key, uint32_t *out);
int vt_gguf_get_u64(const vt_gguf *g, const char *key, uint64_t *out);
int vt_gguf_get_f32(const vt_gguf *g, const char *key, float *out);
int vt_gguf_get_str(const vt_gguf *g, const char *key, vt_gguf_str *out);
/* Arrays: element type and count; elements read with the accessors below. */
int vt_gguf_get_arr(const vt_gguf *g, const char *key, uint32_t *elem_type, uint64_t *count);
int vt_gguf_arr_str(const vt_gguf *g, const char *key, uint64_t i, vt_gguf_str *out);
int vt_gguf_arr_f32(const vt_gguf *g, const char *key, uint64_t i, float *out);
int vt_gguf_arr_i32(const vt_gguf *g, const char *key, uint64_t i, int32_t *out);

uint64_t vt_gguf_n_kv(const vt_gguf *g);
int vt_gguf_kv_at(const vt_gguf *g, uint64_t i, vt_gguf_str *key, uint32_t *vtype);

uint64_t vt_gguf_n_tensors(const vt_gguf *g);
const vt_gguf_tensor *vt_gguf_tensor_at(const vt_gguf *g, uint64_t i);
const vt_gguf_tensor *vt_gguf_find_tensor(const vt_gguf *g, const char *name);

/* Bytes a tensor of this type and shape takes; VT_ERR_UNSUPPORTED for an
 * unknown type, VT_ERR_RANGE on overflow or a row not divisible by the block. */
int vt_dtype_nbytes(uint32_t type, const uint64_t ne[4], uint32_t n_dims, uint64_t *out);
const char *vt_dtype_name(uint32_t type);

/* ------------------------------------------------------------------ writer */

/* Builds a GGUF v3 file in memory then writes it. Used by `verity-model
 * synth` and by tests (which also craft corrupt files from its output). */
typedef struct vt_gguf_writer vt_gguf_writer;

int vt_gguf_writer_new(vt_gguf_writer **out);
void vt_gguf_writer_free(vt_gguf_writer *w);
int vt_gguf_w_u32(vt_gguf_writer *w, const char *key, uint32_t v);
int vt_gguf_w_f32(vt_gguf_writer *w, const char *key, float v);
int vt_gguf_w_str(vt_gguf_writer *w, const char *key, const char *v);
int vt_gguf_w_arr_str(vt_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
int vt_gguf_w_arr_f32(vt_gguf_writer *w, const char *key, const float *v, uint64_t n);
int vt_gguf_w_arr_i32(vt_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Tensor data is copied. ne[0] is the row length. */
int vt_gguf_w_tensor(vt_gguf_writer *w, const char *name, uint32_t type, const uint64_t *ne,
                     uint32_t n_dims, const void *data, uint64_t nbytes);
/* Serialize to a malloc'd buffer (caller frees) or straight to a file. */
int vt_gguf_w_to_mem(vt_gguf_writer *w, uint8_t **buf, size_t *len);
int vt_gguf_w_to_file(vt_gguf_writer *w, const char *path, vt_errinfo *ei);

/* F16 <-> F32, exact (the F32->F16 direction rounds to nearest even). */
float vt_f16_to_f32(uint16_t h);
uint16_t vt_f32_to_f16(float f);

#ifdef __cplusplus
}
#endif
#endif
