/* gguf_dtype.c - sizes and names of the GGML tensor types.
 *
 * The table lists every type the GGUF reader can measure (so `verity-model
 * info` can describe a Q4_K file), which is more than the engine can run
 * (F32, F16, Q8_0; see vt_engine.h). Sizes are from ggml's block structs.
 */
#include "vt_engine.h"
#include "vt_gguf.h"

struct dtype_desc {
    uint32_t id;
    const char *name;
    uint32_t block;      /* elements per block */
    uint32_t block_bytes;
};

static const struct dtype_desc dtypes[] = {
    {0, "F32", 1, 4},      {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},   {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},   {9, "Q8_1", 32, 36},    {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292}, {24, "I8", 1, 1},
    {25, "I16", 1, 2},     {26, "I32", 1, 4},      {27, "I64", 1, 8},
    {28, "F64", 1, 8},     {30, "BF16", 1, 2},
};

static const struct dtype_desc *find_dtype(uint32_t type)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].id == type)
            return &dtypes[i];
    return NULL;
}

const char *vt_dtype_name(uint32_t type)
{
    const struct dtype_desc *d = find_dtype(type);
    return d ? d->name : "unknown";
}

int vt_dtype_nbytes(uint32_t type, const uint64_t ne[4], uint32_t n_dims, uint64_t *out)
{
    const struct dtype_desc *d = find_dtype(type);
    if (!d)
        return VT_ERR_UNSUPPORTED;
    if (n_dims < 1 || n_dims > 4)
        return VT_ERR_RANGE;
    if (ne[0] % d->block != 0)
        return VT_ERR_RANGE;
    /* rows * (blocks per row * block bytes), every product overflow-checked. */
    uint64_t row_bytes;
    if (__builtin_mul_overflow(ne[0] / d->block, (uint64_t)d->block_bytes, &row_bytes))
        return VT_ERR_RANGE;
    uint64_t total = row_bytes;
    for (uint32_t i = 1; i < n_dims; i++)
        if (__builtin_mul_overflow(total, ne[i], &total))
            return VT_ERR_RANGE;
    *out = total;
    return 0;
}
