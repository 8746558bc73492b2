/* test_kernels.c - the arithmetic building blocks:
 *   vt_expf within 2 ulp of expf; the RoPE-table exp/log/sincos (double)
 *   against libm; vt_k_f16 against the GGUF module's converter for all
 *   65536 halves; and the AVX2 kernel table bit-identical to the scalar one
 *   (the CUDA arithmetic) on random data with odd sizes. */
#include <math.h>

#include "engine_testutil.h"
#include "kernels.h"
#include "vt_gguf.h"

static uint32_t ulp_dist(float a, float b)
{
    int32_t ia = (int32_t)vt_f32_bits(a), ib = (int32_t)vt_f32_bits(b);
    if (ia < 0)
        ia = (int32_t)0x80000000 - ia;
    if (ib < 0)
        ib = (int32_t)0x80000000 - ib;
    return ia > ib ? (uint32_t)(ia - ib) : (uint32_t)(ib - ia);
}

static void test_expf(void)
{
    uint32_t worst = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -87.0f + 175.5f * (float)i / 2000000.0f;
        uint32_t d = ulp_dist(vt_expf(x), expf(x));
        worst = d > worst ? d : worst;
    }
    uint64_t s = 1;
    for (int i = 0; i < 200000; i++) {
        float x = tu_randf(&s) * 2.0f;
        uint32_t d = ulp_dist(vt_expf(x), expf(x));
        worst = d > worst ? d : worst;
    }
    printf("vt_expf: worst %u ulp\n", worst);
    CHECK(worst <= 2);
    CHECK(vt_expf(-100.0f) == 0.0f && isinf(vt_expf(100.0f)) && isnan(vt_expf(NAN)));
    CHECK(vt_expf(0.0f) == 1.0f);
}

static void test_double_math(void)
{
    double worst_sc = 0, worst_el = 0;
    for (int i = 0; i < 200000; i++) {
        double x = (double)i * 0.731; /* up to ~1.5e5: beyond any context */
        double s, c;
        vt_sincos_d(x, &s, &c);
        double e = fabs(s - sin(x)) + fabs(c - cos(x));
        worst_sc = e > worst_sc ? e : worst_sc;
    }
    for (int i = 1; i < 20000; i++) {
        double x = (double)i * 0.37;
        double e = fabs(vt_log_d(x) - log(x)) / fabs(log(x) == 0 ? 1 : log(x));
        double y = -(double)i / 1000.0;
        e += fabs(vt_exp_d(y) - exp(y)) / exp(y);
        worst_el = e > worst_el ? e : worst_el;
    }
    printf("sincos abs err %.3g, exp/log rel err %.3g\n", worst_sc, worst_el);
    CHECK(worst_sc < 1e-13 && worst_el < 1e-13);
}

static void test_f16(void)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float a = vt_k_f16((uint16_t)h), b = vt_f16_to_f32((uint16_t)h);
        if (isnan(a) || isnan(b))
            CHECK(isnan(a) && isnan(b));
        else
            CHECK(vt_f32_bits(a) == vt_f32_bits(b));
    }
}


static void fill(float *x, size_t n, uint64_t *s, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tu_randf(s) * scale;
}

static void same_bits(const float *a, const float *b, size_t n, const char *what)
{
    if (memcmp(a, b, n * sizeof(float)) != 0) {
        for (size_t i = 0; i < n; i++)
            if (memcmp(&a[i], &b[i], 4) != 0) {
                fprintf(stderr, "%s: element %zu: %.9g vs %.9g\n", what, i, (double)a[i],
                        (double)b[i]);
                break;
            }
        exit(1);
    }
}

static void test_matmul(const vt_ops *A, const vt_ops *B, uint64_t *s)
{
    static const int rows_set[] = {1, 7, 8, 13, 37};
    static const int cols_f[] = {1, 5, 31, 33, 100};
    static const int cols_q[] = {32, 96, 160};
    /* token counts: the 4-, 2- and 1-token Q8 kernels and their mixes, and
     * one past the 32-token tile */
    static const int ts[] = {1, 2, 3, 4, 5, 7, 11, 33};
    for (int type = 0; type < 3; type++) {
        uint32_t dt = type == 0 ? VT_DTYPE_F32 : type == 1 ? VT_DTYPE_F16 : VT_DTYPE_Q8_0;
        for (int ri = 0; ri < 5; ri++) {
            for (int ci = 0; ci < (type == 2 ? 3 : 5); ci++) {
                int rows = rows_set[ri], cols = type == 2 ? cols_q[ci] : cols_f[ci];
                size_t wbytes = type == 0   ? (size_t)rows * cols * 4
                                : type == 1 ? (size_t)rows * cols * 2
                                            : (size_t)rows * (cols / 32) * sizeof(vt_blk_q8);
                uint8_t *wd = malloc(wbytes);
                if (type == 0) {
                    fill((float *)wd, (size_t)rows * cols, s, 3.0f);
                } else if (type == 1) {
                    uint16_t *h = (uint16_t *)wd;
                    for (size_t i = 0; i < (size_t)rows * cols; i++) {
                        uint16_t v = (uint16_t)tu_rand(s);
                        if (((v >> 10) & 0x1f) == 0x1f)
                            v &= 0xbfff; /* no inf/nan weights */
                        h[i] = v;
                    }
                } else {
                    vt_blk_q8 *q = (vt_blk_q8 *)wd;
                    for (size_t i = 0; i < (size_t)rows * (cols / 32); i++) {
                        q[i].d = vt_f32_to_f16(tu_randf(s) * 0.1f);
                        for (int k = 0; k < 32; k++)
                            q[i].qs[k] = (int8_t)(tu_rand(s) % 255 - 127);
                    }
                }
                vt_mat w = {dt, (uint32_t)rows, (uint32_t)cols, wd, NULL};
                vt_mat wp = w;
                if (type == 2)
                    CHECK(vt_mat_pack(&wp) == 0);
                for (int ti = 0; ti < (int)(sizeof ts / sizeof ts[0]); ti++) {
                    int T = ts[ti];
                    float *x = malloc((size_t)T * cols * 4);
                    int8_t *xq = malloc((size_t)T * cols);
                    float *xd = malloc((size_t)T * (cols / 32 + 1) * 4);
                    fill(x, (size_t)T * cols, s, 2.0f);
                    if (type == 2) {
                        int8_t *xq2 = malloc((size_t)T * cols);
                        float *xd2 = malloc((size_t)T * (cols / 32 + 1) * 4);
                        for (int t = 0; t < T; t++) {
                            A->quant_q8(x + (size_t)t * cols, cols, xq + (size_t)t * cols,
                                        xd + (size_t)t * (cols / 32));
                            B->quant_q8(x + (size_t)t * cols, cols, xq2 + (size_t)t * cols,
                                        xd2 + (size_t)t * (cols / 32));
                        }
                        CHECK(memcmp(xq, xq2, (size_t)T * cols) == 0);
                        same_bits(xd, xd2, (size_t)T * (cols / 32), "quant_q8 scales");
                        free(xq2);
                        free(xd2);
                    }
                    vt_xin in = {x, xq, xd, T, cols};
                    float *ya = malloc((size_t)T * rows * 4), *yb = malloc((size_t)T * rows * 4);
                    int groups = (rows + 7) / 8;
                    A->matmul(&w, 0, groups, &in, ya, rows);
                    /* the other table in two ranges: the split must not matter */
                    B->matmul(&wp, 0, groups / 2, &in, yb, rows);
                    B->matmul(&wp, groups / 2, groups, &in, yb, rows);
                    char what[96];
                    snprintf(what, sizeof what, "matmul type %u rows %d cols %d T %d", dt, rows,
                             cols, T);
                    same_bits(ya, yb, (size_t)T * rows, what);
                    free(ya), free(yb), free(x), free(xq), free(xd);
                }
                free(wp.packed);
                free(wd);
            }
        }
    }
}

static void test_quant_edge(const vt_ops *A, const vt_ops *B)
{
    float x[128];
    int8_t qa[128], qb[128];
    float da[4], db[4];
    for (int i = 0; i < 128; i++)
        x[i] = (float)(i % 7) - 3.0f + (float)i * 0.5f; /* ties at .5 */
    for (int i = 32; i < 64; i++)
        x[i] = 0.0f; /* zero block */
    x[70] = INFINITY; /* non-finite block */
    x[100] = NAN;
    A->quant_q8(x, 128, qa, da);
    B->quant_q8(x, 128, qb, db);
    CHECK(memcmp(qa, qb, 128) == 0 && memcmp(da, db, sizeof da) == 0);
    CHECK(da[1] == 0.0f && da[2] == 0.0f && da[3] == 0.0f);
    /* a block's largest magnitude maps to +-127 */
    int mx = 0;
    for (int i = 0; i < 32; i++)
        mx = abs(qa[i]) > mx ? abs(qa[i]) : mx;
    CHECK(mx == 127);
}

static void test_rows(const vt_ops *A, const vt_ops *B, uint64_t *s)
{
    static const int hds[] = {16, 24, 64, 72, 128};
    /* 300 x 64+: enough K and V rows for the AVX2 kernel's prefetching */
    static const int ctxs[] = {1, 5, 33, 100, 300};
    for (int hi = 0; hi < 5; hi++) {
        for (int ci = 0; ci < 5; ci++) {
            int hd = hds[hi], n = ctxs[ci], stride = hd * 3;
            float *q = malloc(hd * 4), *k = malloc((size_t)n * stride * 4),
                  *v = malloc((size_t)n * stride * 4);
            fill(q, hd, s, 4.0f);
            fill(k, (size_t)n * stride, s, 4.0f);
            fill(v, (size_t)n * stride, s, 1.0f);
            float sa[300], sb[300], oa[128], ob[128]; /* ctxs[] at most */
            A->attn_head(q, k, v, stride, n, hd, 0.125f, sa, oa);
            B->attn_head(q, k, v, stride, n, hd, 0.125f, sb, ob);
            same_bits(oa, ob, hd, "attn_head");
            same_bits(sa, sb, n, "attn scores");
            free(q), free(k), free(v);
        }
    }
    float x[300], w[300], ya[300], yb[300], cs[64], sn[64];
    fill(x, 300, s, 10.0f);
    fill(w, 300, s, 1.5f);
    fill(cs, 64, s, 1.0f);
    fill(sn, 64, s, 1.0f);
    A->rmsnorm(x, w, 300, 1e-5f, ya);
    B->rmsnorm(x, w, 300, 1e-5f, yb);
    same_bits(ya, yb, 300, "rmsnorm");
    A->swiglu(x, w, 300, ya);
    B->swiglu(x, w, 300, yb);
    same_bits(ya, yb, 300, "swiglu");
    memcpy(ya, x, sizeof x);
    memcpy(yb, x, sizeof x);
    A->rope(ya, 3, 96, 64, cs, sn);
    B->rope(yb, 3, 96, 64, cs, sn);
    same_bits(ya, yb, 288, "rope");
}

/* Every path of vt_expf inside the vectorised kernels: SwiGLU computes
 * exp(-g) over a sweep that crosses the underflow (-87.3) and overflow
 * (88.7) limits, the 2^k two-step scaling, zeros, infinities and NaN;
 * attention scores spread wide enough that softmax underflows some
 * exponentials to 0; lengths with and without 8-element tails. */
static void test_exp_paths(const vt_ops *A, const vt_ops *B, uint64_t *s)
{
    enum { N = 1203 };
    static float g[N], u[N], ya[N], yb[N];
    for (int i = 0; i < N; i++) {
        g[i] = -120.0f + 240.0f * (float)i / (float)(N - 1);
        u[i] = 1.0f + tu_randf(s);
    }
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 87.33654f, -87.33654f,
                             88.72283f, -88.72283f, 87.34f, -88.73f, 1e-40f, -1e-40f};
    for (int i = 0; i < (int)(sizeof special / sizeof special[0]); i++)
        g[3 * i] = special[i];
    for (int n = N - 8; n <= N; n++) {
        A->swiglu(g, u, n, ya);
        B->swiglu(g, u, n, yb);
        same_bits(ya, yb, (size_t)n, "swiglu exp paths");
    }
    enum { HD = 64, CTX = 77 };
    static float q[HD], k[CTX * HD], v[CTX * HD], sa[CTX], sb[CTX], oa[HD], ob[HD];
    fill(q, HD, s, 30.0f);
    fill(k, (size_t)CTX * HD, s, 30.0f);
    fill(v, (size_t)CTX * HD, s, 1.0f);
    for (int n = 1; n <= CTX; n += 4) {
        A->attn_head(q, k, v, HD, n, HD, 0.125f, sa, oa);
        B->attn_head(q, k, v, HD, n, HD, 0.125f, sb, ob);
        same_bits(sa, sb, (size_t)n, "wide softmax");
        same_bits(oa, ob, HD, "wide attention");
    }
    int zeros = 0;
    for (int j = 0; j < CTX - 4; j++)
        zeros += sa[j] == 0.0f;
    printf("exp paths: swiglu over [-120, 120] and specials, softmax with %d underflows\n", zeros);
}

int main(void)
{
    test_expf();
    test_double_math();
    test_f16();
    uint64_t s = 77;
    const vt_ops *A = vt_ops_for(VT_ISA_SCALAR), *B = vt_ops_for(VT_ISA_NATIVE);
    if (B == A)
        printf("no AVX2 on this CPU: comparing the scalar table with itself\n");
    test_quant_edge(A, B);
    test_matmul(A, B, &s);
    test_rows(A, B, &s);
    test_exp_paths(A, B, &s);
    printf("kernels: %s == %s\n", A->name, B->name);
    return 0;
}
