/* test_reference.c - the engine against a plain double-precision llama
 * forward pass written here from the model definition (libm allowed):
 * logits agree within 1e-4 of the largest logit's magnitude (F32, F16;
 * Q8_0 within its quantisation error), and greedy choices match wherever
 * the top-two margin exceeds the tolerance.
 *
 * Random synthetic weights give near-uniform attention, which would hide a
 * wrong RoPE or GQA mapping, so Wq and Wk are scaled by 8 in the file bytes
 * first; and the test proves it can see RoPE: the reference with the other
 * (NEOX, split-half) pairing must disagree with the engine. */
#include <math.h>

#include "engine_testutil.h"
#include "vt_gguf.h"

#define NTOK 24

typedef struct ref {
    const vt_gguf *g;
    uint32_t dim, nl, nh, nkv, hd, hid, vocab, rope_dim;
    double base, eps;
    int neox; /* deliberately wrong pairing, to prove sensitivity */
} ref;

static double *tensor(const ref *r, const char *name, size_t *n_out)
{
    const vt_gguf_tensor *t = vt_gguf_find_tensor(r->g, name);
    CHECK(t);
    size_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        n *= (size_t)t->ne[d];
    double *out = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        if (t->type == VT_DTYPE_F32) {
            out[i] = ((const float *)t->data)[i];
        } else if (t->type == VT_DTYPE_F16) {
            out[i] = vt_f16_to_f32(((const uint16_t *)t->data)[i]);
        } else {
            const uint8_t *b = (const uint8_t *)t->data + (i / 32) * 34;
            uint16_t d;
            memcpy(&d, b, 2);
            out[i] = (double)vt_f16_to_f32(d) * (double)(int8_t)b[2 + i % 32];
        }
    }
    if (n_out)
        *n_out = n;
    return out;
}

/* y[rows] = W[rows][cols] x */
static void mv(const double *w, const double *x, int rows, int cols, double *y)
{
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++)
            s += w[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void rmsnorm(const double *x, const double *w, int n, double eps, double *out)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * sc * w[i];
}

static void rope(const ref *r, double *v, int pos)
{
    for (int i = 0; i < (int)r->rope_dim / 2; i++) {
        double th = pos * pow(r->base, -2.0 * i / r->rope_dim);
        int a = r->neox ? i : 2 * i, b = r->neox ? i + (int)r->rope_dim / 2 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * cos(th) - x1 * sin(th);
        v[b] = x0 * sin(th) + x1 * cos(th);
    }
}

/* logits[NTOK][vocab] for the whole prompt, position by position. */
static void reference(const ref *r, const int32_t *toks, double *logits)
{
    int dim = (int)r->dim, kvd = (int)(r->nkv * r->hd), hd = (int)r->hd, hid = (int)r->hid;
    char name[96];
    double *emb = tensor(r, "token_embd.weight", NULL);
    double *outw = vt_gguf_find_tensor(r->g, "output.weight") ? tensor(r, "output.weight", NULL)
                                                              : emb;
    double *onorm = tensor(r, "output_norm.weight", NULL);
    double *kc = calloc((size_t)r->nl * NTOK * kvd, sizeof(double));
    double *vc = calloc((size_t)r->nl * NTOK * kvd, sizeof(double));
    double *x = malloc(dim * sizeof(double)), *xb = malloc(dim * sizeof(double));
    double *q = malloc(dim * sizeof(double)), *k = malloc(kvd * sizeof(double));
    double *att = malloc(dim * sizeof(double)), *o = malloc(dim * sizeof(double));
    double *g = malloc(hid * sizeof(double)), *u = malloc(hid * sizeof(double));
    double *sc = malloc(NTOK * sizeof(double));
    double *W[16];
    for (int p = 0; p < NTOK; p++) {
        memcpy(x, emb + (size_t)toks[p] * dim, dim * sizeof(double));
        for (uint32_t l = 0; l < r->nl; l++) {
            static const char *const nm[] = {"attn_norm", "attn_q", "attn_k", "attn_v",
                                             "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                                             "ffn_down"};
            for (int i = 0; i < 9; i++) {
                snprintf(name, sizeof name, "blk.%u.%s.weight", l, nm[i]);
                W[i] = tensor(r, name, NULL);
            }
            double *kl = kc + (size_t)l * NTOK * kvd, *vl = vc + (size_t)l * NTOK * kvd;
            rmsnorm(x, W[0], dim, r->eps, xb);
            mv(W[1], xb, dim, dim, q);
            mv(W[2], xb, kvd, dim, k);
            mv(W[3], xb, kvd, dim, vl + (size_t)p * kvd);
            for (uint32_t h = 0; h < r->nh; h++)
                rope(r, q + h * hd, p);
            for (uint32_t h = 0; h < r->nkv; h++)
                rope(r, k + h * hd, p);
            memcpy(kl + (size_t)p * kvd, k, kvd * sizeof(double));
            for (uint32_t h = 0; h < r->nh; h++) {
                uint32_t kvh = h / (r->nh / r->nkv);
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= p; j++) {
                    double s = 0;
                    for (int d = 0; d < hd; d++)
                        s += q[h * hd + d] * kl[(size_t)j * kvd + kvh * hd + d];
                    sc[j] = s / sqrt((double)hd);
                    mx = sc[j] > mx ? sc[j] : mx;
                }
                for (int j = 0; j <= p; j++)
                    sum += (sc[j] = exp(sc[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double s = 0;
                    for (int j = 0; j <= p; j++)
                        s += sc[j] / sum * vl[(size_t)j * kvd + kvh * hd + d];
                    att[h * hd + d] = s;
                }
            }
            mv(W[4], att, dim, dim, o);
            for (int i = 0; i < dim; i++)
                x[i] += o[i];
            rmsnorm(x, W[5], dim, r->eps, xb);
            mv(W[6], xb, hid, dim, g);
            mv(W[7], xb, hid, dim, u);
            for (int i = 0; i < hid; i++)
                g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            mv(W[8], g, dim, hid, o);
            for (int i = 0; i < dim; i++)
                x[i] += o[i];
            for (int i = 0; i < 9; i++)
                free(W[i]);
        }
        rmsnorm(x, onorm, dim, r->eps, xb);
        mv(outw, xb, (int)r->vocab, dim, logits + (size_t)p * r->vocab);
    }
    if (outw != emb)
        free(outw);
    free(emb);
    free(onorm);
    free(kc), free(vc), free(x), free(xb), free(q), free(k), free(att), free(o), free(g),
        free(u), free(sc);
}

static int ends_with(const vt_gguf_str *s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s->len >= n && memcmp(s->ptr + s->len - n, suffix, n) == 0;
}

/* Scale every attn_q / attn_k weight by 8 (exact: a power of two). */
static void sharpen(const vt_gguf *g)
{
    for (uint64_t i = 0; i < vt_gguf_n_tensors(g); i++) {
        const vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
        int is_qk = ends_with(&t->name, "attn_q.weight") || ends_with(&t->name, "attn_k.weight");
        if (!is_qk)
            continue;
        size_t n = (size_t)t->ne[0] * t->ne[1];
        if (t->type == VT_DTYPE_F32) {
            float *w = (float *)t->data;
            for (size_t k = 0; k < n; k++)
                w[k] *= 8.0f;
        } else if (t->type == VT_DTYPE_F16) {
            uint16_t *w = (uint16_t *)t->data;
            for (size_t k = 0; k < n; k++)
                w[k] = vt_f32_to_f16(vt_f16_to_f32(w[k]) * 8.0f);
        } else {
            uint8_t *b = (uint8_t *)t->data;
            for (size_t k = 0; k < n / 32; k++) {
                uint16_t d;
                memcpy(&d, b + 34 * k, 2);
                d = vt_f32_to_f16(vt_f16_to_f32(d) * 8.0f);
                memcpy(b + 34 * k, &d, 2);
            }
        }
    }
}

static double max_err(const float *a, const double *b, size_t n, double *scale)
{
    double mx = 0, err = 0;
    for (size_t i = 0; i < n; i++)
        mx = fabs(b[i]) > mx ? fabs(b[i]) : mx;
    for (size_t i = 0; i < n; i++)
        err = fabs(a[i] - b[i]) > err ? fabs(a[i] - b[i]) : err;
    *scale = mx;
    return err;
}

/* Rewrite the u32 value of metadata key `key` in a GGUF image in place
 * (key string, then u32 value type, then the value). */
static void patch_u32(uint8_t *buf, size_t len, const char *key, uint32_t v)
{
    size_t kl = strlen(key);
    for (size_t i = 8; i + kl + 8 <= len; i++) {
        uint64_t n;
        memcpy(&n, buf + i - 8, 8);
        if (n == kl && memcmp(buf + i, key, kl) == 0) {
            uint32_t type;
            memcpy(&type, buf + i + kl, 4);
            CHECK(type == 4); /* VT_GGUF_U32 */
            memcpy(buf + i + kl + 4, &v, 4);
            return;
        }
    }
    CHECK(!"key not found");
}

/* rope_dim: 0 = as written (head_dim), else a partial rotation. */
static void check(const vt_synth_config *cfg, uint32_t dtype, double rel_tol, const char *label,
                  uint32_t rope_dim)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    vt_errinfo ei = {0};
    CHECK_OK(vt_synth_mem_cfg(cfg, dtype, 5, &buf, &len, &ei));
    if (rope_dim)
        patch_u32(buf, len, "llama.rope.dimension_count", rope_dim);
    vt_gguf *g = NULL;
    CHECK_OK(vt_gguf_open_mem(buf, len, &g, &ei));
    sharpen(g);
    vt_model *m = NULL;
    int rv = tu_load_bytes(buf, len, &m, &ei);
    if (rv < 0) {
        fprintf(stderr, "load: %s\n", vt_errinfo_msg(&ei));
        exit(1);
    }
    const vt_model_info *in = vt_model_get_info(m);
    ref r = {g, in->dim, in->n_layers, in->n_heads, in->n_kv_heads, in->head_dim,
             in->hidden_dim, in->vocab, in->rope_dim, in->rope_base, in->rms_eps, 0};
    int32_t toks[NTOK];
    uint64_t seed = 3;
    for (int i = 0; i < NTOK; i++)
        toks[i] = (int32_t)(tu_rand(&seed) % in->vocab);
    size_t n = (size_t)NTOK * in->vocab;
    float *lg = malloc(n * sizeof(float));
    double *want = malloc(n * sizeof(double));
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.backend = VT_BACKEND_CPU;
    vt_ctx *c = NULL;
    CHECK_OK(vt_ctx_create(m, &p, &c, &ei));
    vt_batch_item it = {0, toks, NTOK, NTOK, lg};
    CHECK_OK(vt_forward(c, &it, 1, &ei));
    reference(&r, toks, want);
    double scale, err = max_err(lg, want, n, &scale);
    double tol = rel_tol * scale;
    printf("%s: max |logit| %.4g, max error %.3g (tolerance %.3g)\n", label, scale, err, tol);
    CHECK(scale > 0 && err <= tol);
    /* greedy agreement where the reference margin is clear */
    int agree = 0, clear = 0;
    for (int t = 0; t < NTOK; t++) {
        const double *w = want + (size_t)t * in->vocab;
        const float *e = lg + (size_t)t * in->vocab;
        uint32_t b1 = 0, b2 = 1, eb = 0;
        if (w[b2] > w[b1])
            b1 = 1, b2 = 0;
        for (uint32_t v = 0; v < in->vocab; v++) {
            if (v > 1 && w[v] > w[b1])
                b2 = b1, b1 = v;
            else if (v > 1 && w[v] > w[b2])
                b2 = v;
            if (e[v] > e[eb])
                eb = v;
        }
        if (w[b1] - w[b2] > 2 * tol) {
            clear++;
            agree += eb == b1;
        }
    }
    CHECK(agree == clear);
    /* sensitivity: the wrong RoPE pairing must be visibly wrong */
    r.neox = 1;
    reference(&r, toks, want);
    double werr = max_err(lg, want, n, &scale);
    printf("%s: NEOX-pairing reference differs by %.3g (must exceed tolerance)\n", label, werr);
    CHECK(werr > 10 * tol);
    vt_ctx_free(c);
    vt_model_free(m);
    vt_gguf_close(g);
    free(buf);
    free(lg);
    free(want);
}

int main(void)
{
    vt_synth_config tiny;
    CHECK(vt_synth_preset("tiny", &tiny) == 0);
    vt_synth_config odd = {96, 2, 4, 1, 288, 517, 64, 0, "odd"};
    check(&tiny, VT_DTYPE_F32, 1e-4, "tiny f32", 0);
    check(&tiny, VT_DTYPE_F16, 1e-4, "tiny f16", 0);
    check(&odd, VT_DTYPE_F32, 1e-4, "odd f32", 0);
    /* RoPE on the first 8 of 16 head dims only: the rest pass through */
    check(&tiny, VT_DTYPE_F32, 1e-4, "tiny f32 rope_dim 8", 8);
    /* Q8_0 quantises activations too: only its coarse error is bounded */
    check(&tiny, VT_DTYPE_Q8_0, 3e-2, "tiny q8_0", 0);
    return 0;
}
