/* test_matmul_tiles.c - the AVX2 F32 / F16 matmul (kernels_avx2_f32.c)
 * against the scalar table (vt_k_dot_f32 / vt_k_dot_f16, the CUDA
 * arithmetic), bit for bit, on shapes that reach every edge of its tiling:
 * register tiles of 3 rows x 4 tokens and their 1-row / 3-token remainders,
 * single leftover tokens, row blocks (several per call and a partial last
 * one), whole rows (one slice, n % 32 == 0: the tile_rows path) with 1 or
 * 2 rows left over, rows cut into k slices whose chains are parked between slices (more
 * than 1024 columns), a partial last 32-block, and calls over arbitrary
 * ranges of 8-row groups (as threads get them). test_kernels covers the
 * small shapes. */
#include "engine_testutil.h"
#include "kernels.h"
#include "vt_gguf.h"

typedef struct shape {
    int rows, cols, T;
} shape;

static void fill_w(uint32_t dt, void *w, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        float v = tu_randf(s);
        /* now and then a signed zero or a tiny value */
        uint64_t k = tu_rand(s) % 64;
        v = k == 0 ? -0.0f : k == 1 ? 0.0f : k == 2 ? v * 1e-30f : v;
        if (dt == VT_DTYPE_F32)
            ((float *)w)[i] = v;
        else
            ((uint16_t *)w)[i] = vt_f32_to_f16(v);
    }
}

static void check_shape(const vt_ops *A, const vt_ops *B, uint32_t dt, shape sh, uint64_t *s)
{
    size_t esz = dt == VT_DTYPE_F32 ? 4 : 2, nw = (size_t)sh.rows * sh.cols;
    void *wd = malloc(nw * esz);
    float *x = malloc((size_t)sh.T * sh.cols * sizeof(float));
    float *ya = malloc((size_t)sh.T * sh.rows * sizeof(float));
    float *yb = malloc((size_t)sh.T * sh.rows * sizeof(float));
    CHECK(wd && x && ya && yb);
    fill_w(dt, wd, nw, s);
    for (size_t i = 0; i < (size_t)sh.T * sh.cols; i++)
        x[i] = tu_randf(s) * 2.0f;
    x[0] = -0.0f;
    vt_mat w = {dt, (uint32_t)sh.rows, (uint32_t)sh.cols, wd, NULL};
    vt_xin in = {x, NULL, NULL, sh.T, sh.cols};
    int groups = (sh.rows + VT_ROW_GROUP - 1) / VT_ROW_GROUP;
    A->matmul(&w, 0, groups, &in, ya, sh.rows);
    /* B over three ranges with random cuts (a thread's share each) */
    memset(yb, 0xff, (size_t)sh.T * sh.rows * sizeof(float));
    int c1 = (int)(tu_rand(s) % (uint64_t)(groups + 1));
    int c2 = c1 + (int)(tu_rand(s) % (uint64_t)(groups - c1 + 1));
    B->matmul(&w, 0, c1, &in, yb, sh.rows);
    B->matmul(&w, c1, c2, &in, yb, sh.rows);
    B->matmul(&w, c2, groups, &in, yb, sh.rows);
    for (size_t i = 0; i < (size_t)sh.T * sh.rows; i++) {
        if (memcmp(&ya[i], &yb[i], sizeof(float)) != 0) {
            fprintf(stderr, "%s rows %d cols %d T %d (cuts %d, %d): token %zu row %zu: %.9g vs %.9g\n",
                    dt == VT_DTYPE_F32 ? "F32" : "F16", sh.rows, sh.cols, sh.T, c1, c2,
                    i / (size_t)sh.rows, i % (size_t)sh.rows, (double)ya[i], (double)yb[i]);
            exit(1);
        }
    }
    free(wd), free(x), free(ya), free(yb);
}

int main(void)
{
    static const shape shapes[] = {
        {150, 2081, 13}, /* 3 k slices, several row blocks, 2-token tiles, tail of 1 */
        {70, 768, 10},   /* two row blocks, T % 3 == 1 */
        {9, 64, 128},    /* one block, 42 tiles of 3 and one of 2 */
        {33, 1024, 2},   /* exactly one slice, only a 2-token tile */
        {17, 1025, 5},   /* two slices, the second a lone partial block */
        {64, 2048, 4},   /* the 110m ffn_down shape, two 2-token tiles */
        {131, 96, 7},    /* many rows per block, odd row count */
        {5, 3000, 3},    /* a 1-row remainder in each slice */
        {288, 288, 128}, /* the 15m attention shape: whole rows, 32 full tiles */
        {100, 256, 9},   /* whole rows, one left over per block, tiles of 3 + 3 + 3 */
    };
    uint64_t s = 2024;
    const vt_ops *A = vt_ops_for(VT_ISA_SCALAR), *B = vt_ops_for(VT_ISA_NATIVE);
    if (B == A)
        printf("no AVX2 on this CPU: comparing the scalar table with itself\n");
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            check_shape(A, B, d == 0 ? VT_DTYPE_F32 : VT_DTYPE_F16, shapes[i], &s);
    printf("matmul tiles: %s == %s\n", A->name, B->name);
    return 0;
}
