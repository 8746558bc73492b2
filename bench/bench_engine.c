/* bench_engine.c - `verity-bench engine`: how fast the engine runs a model
 * and how close that is to what the machine allows.
 *
 * For each model x weight type x thread count, --reps rounds (median kept):
 *   prefill tok/s: one vt_forward over a P-token prompt (logits of the last);
 *   decode tok/s:  then N single-token steps (greedy sampling included).
 * With --llama-bench, each round also runs llama.cpp's llama-bench once
 * (-r 1) on the same file, right after ours, so both see the same machine
 * (on a shared VM the read bandwidth drifts by 10-30% over a minute), and
 * times our decode on llama-bench's own schedule (tg: N steps from an
 * empty cache) for the side-by-side ratio: its tg never sees the prompt,
 * so its KV reads are smaller than in our decode after P tokens. The
 * ratios shown are medians of the per-round ratios.
 * Against two bounds measured in the same run:
 *   bandwidth bound = read bandwidth (AVX2 streaming loads, same threads)
 *                     / bytes a decode step must read (every weight matrix,
 *                     the embedding row, the KV cache at the mean position);
 *   compute bound   = peak MAC/s of the weight type's inner kernel (same
 *                     threads) / MACs per token (matmuls + attention).
 * The read bandwidth is probed before and after the runs (best of both).
 * Decode should approach the bandwidth bound, prefill the compute bound.
 * Model files are synthesized once into --dir (default $VERITY_BENCH_DIR,
 * else ./bench-models) and reused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_models.h"
#include "bench_util.h"
#include "cli_util.h"
#include "roofline.h"
#include "vt_engine.h"
#include "vt_worker.h"
#include "vt_synth.h"

static const char *prog = "verity-bench engine";

#define MAX_LIST VT_BENCH_MAX_LIST

typedef struct bench_opts {
    vt_bench_sel sel; /* --quick --json --dir --models --types */
    int threads[MAX_LIST];
    int n_threads;
    uint32_t prompt, decode;
    int reps;
    size_t bw_bytes;
    double peak_s;
    const char *llama_bench, *llama2c;
    int embed;             /* --embed N: N texts, one at a time and batched (0 = off) */
    uint32_t embed_tokens; /* --embed-tokens: their length */
} bench_opts;

typedef struct result {
    const char *model;
    uint32_t type;
    int threads;
    char file[512];
    vt_model_info info;
    double prefill_tps, decode_tps; /* medians over the rounds */
    double tg_tps;                  /* decode from an empty cache (llama-bench's tg) */
    double bw, peak; /* machine: bytes/s, MAC/s */
    double bytes_per_tok, macs_decode, macs_prefill;
    double ext_prefill, ext_decode; /* llama-bench, 0 if not run */
    double ratio_prefill, ratio_tg;  /* median of the rounds' ours/llama-bench */
    double l2c_decode;              /* llama2.c, 0 if not run */
    double embed_alone_s, embed_batched_s; /* --embed: medians, 0 if not run */
    int embed_same;                 /* --embed: batched bits == alone bits */
    const char *error;
} result;

static void usage(void)
{
    printf("usage: verity-bench engine [--quick] [--json FILE] [--dir DIR]\n"
           "       [--models 15m,110m] [--types f32,q8_0] [--threads 1,2]\n"
           "       [--prompt 128] [--decode 256] [--reps 5] [--bw-mib 1024]\n"
           "       [--llama-bench PATH] [--llama2c PATH]\n"
           "  --quick      tiny model, 16+16 tokens, short machine probes (a smoke test)\n"
           "  --reps N     timed rounds per model, type and thread count; medians are shown\n"
           "  --llama-bench PATH  also run llama.cpp's llama-bench on the same GGUF files\n"
           "  --llama2c PATH      also run llama2.c's `run` on an export of each F32 model\n"
           "  --embed N [--embed-tokens T]  also embed N texts of T (32) tokens one at a time\n"
           "               (vt_seq_embed) and as workers do (vt_embedder: up to %d per call\n"
           "               when T <= %d)\n",
           VT_EMBEDDER_BATCH, VT_EMBEDDER_SHORT);
}

static void parse(int argc, char **argv, bench_opts *o)
{
    static char thr_buf[64] = "1,2";
    const char *v, *thr = NULL;
    memset(o, 0, sizeof *o);
    vt_bench_sel_init(&o->sel);
    o->prompt = 128;
    o->decode = 256;
    o->reps = 5;
    o->bw_bytes = (size_t)1 << 30;
    o->peak_s = 0.3;
    o->embed_tokens = 32;
    int set_prompt = 0, set_decode = 0, set_bw = 0, set_reps = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            exit(0);
        } else if (vt_bench_sel_flag(prog, argc, argv, &i, &o->sel))
            continue;
        else if (vt_cli_flag(prog, argc, argv, &i, "--threads", &v))
            thr = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--prompt", &v)) {
            o->prompt = (uint32_t)vt_cli_u64(prog, "--prompt", v, 1, 8192);
            set_prompt = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--decode", &v)) {
            o->decode = (uint32_t)vt_cli_u64(prog, "--decode", v, 1, 8192);
            set_decode = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--reps", &v)) {
            o->reps = (int)vt_cli_u64(prog, "--reps", v, 1, 100);
            set_reps = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--bw-mib", &v)) {
            o->bw_bytes = (size_t)vt_cli_u64(prog, "--bw-mib", v, 1, 65536) << 20;
            set_bw = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--llama-bench", &v))
            o->llama_bench = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--llama2c", &v))
            o->llama2c = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--embed", &v))
            o->embed = (int)vt_cli_u64(prog, "--embed", v, 1, 4096);
        else if (vt_cli_flag(prog, argc, argv, &i, "--embed-tokens", &v))
            o->embed_tokens = (uint32_t)vt_cli_u64(prog, "--embed-tokens", v, 1, 4096);
        else
            vt_cli_usage_error(prog, "unknown argument '%s'", argv[i]);
    }
    if (o->sel.quick) {
        snprintf(thr_buf, sizeof thr_buf, "1");
        if (!set_prompt)
            o->prompt = 16;
        if (!set_decode)
            o->decode = 16;
        if (!set_bw)
            o->bw_bytes = (size_t)64 << 20;
        if (!set_reps)
            o->reps = 1;
        o->peak_s = 0.02;
    }
    if (thr)
        snprintf(thr_buf, sizeof thr_buf, "%s", thr);
    vt_bench_sel_finish(prog, &o->sel, "15m,110m", "f32,q8_0");
    const char *items[MAX_LIST];
    o->n_threads = vt_bench_split(prog, thr_buf, items);
    for (int i = 0; i < o->n_threads; i++)
        o->threads[i] = (int)vt_cli_u64(prog, "--threads", items[i], 1, 64);
}

/* ------------------------------------------------------------ model cost */

static double elem_bytes(uint32_t type)
{
    return type == VT_DTYPE_Q8_0 ? 34.0 / 32.0 : type == VT_DTYPE_F16 ? 2.0 : 4.0;
}

/* Bytes one decode step at position pos reads: all weights except the
 * embedding table (one row of it, unless it is also the classifier), plus
 * the K and V caches (float32) of every layer up to pos. */
static double step_bytes(const vt_model_info *m, double pos)
{
    double kv_dim = (double)m->dim / m->n_heads * m->n_kv_heads;
    double embd = (double)m->vocab * m->dim * elem_bytes(m->wtype);
    double w = (double)m->weight_bytes - (m->tied_output ? 0 : embd) + m->dim * elem_bytes(m->wtype);
    return w + 2.0 * m->n_layers * (pos + 1) * kv_dim * 4.0;
}

/* MACs of one token at position pos: the layer matmuls, attention (q.k and
 * p.v over pos+1 positions for every head) and `logits` times the
 * classifier (1 in decode; 1/P in a prefill that wants only the last
 * token's logits). */
static double token_macs(const vt_model_info *m, double pos, double logits)
{
    double d = m->dim, kv = d / m->n_heads * m->n_kv_heads, h = m->hidden_dim;
    double layer = d * d * 2 + d * kv * 2 + 3 * d * h + 2 * d * (pos + 1);
    return m->n_layers * layer + logits * d * m->vocab;
}

/* ------------------------------------------------------------- model run */

static int32_t prompt_token(uint32_t i, uint32_t vocab)
{
    /* Ordinary pieces (past the 259 special and byte tokens), varied. */
    return (int32_t)(259 + (i * 7919u) % (vocab - 259));
}

static double frac(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* The median of the positive entries of v[n] (0 if none): a round that
 * failed to give a figure (llama-bench refusing a file) leaves a 0. */
static double median_pos(const double *v, int n)
{
    double s[100];
    int m = 0;
    for (int i = 0; i < n && m < 100; i++)
        if (v[i] > 0) {
            int j = m++;
            for (; j > 0 && s[j - 1] > v[i]; j--)
                s[j] = s[j - 1];
            s[j] = v[i];
        }
    return m == 0 ? 0 : m % 2 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
}

/* n greedy decode steps from token `tok` at position pos0, each step fed
 * the token its predecessor's logits chose. */
static int decode_run(vt_ctx *c, int32_t tok, uint32_t pos0, uint32_t n, float *logits,
                      uint32_t vocab, vt_errinfo *ei)
{
    vt_sampling greedy;
    vt_sampling_default(&greedy);
    int rv = 0;
    for (uint32_t i = 0; i < n && !rv; i++) {
        vt_batch_item d = {0, &tok, 1, 1, logits};
        if ((rv = vt_forward(c, &d, 1, ei)) == 0)
            tok = vt_sample(logits, vocab, &greedy, pos0 + i);
    }
    return rv;
}

static void run_llama_bench(const bench_opts *o, const result *r, double *pp, double *tg);

/* Figures of one round, tok/s (0: not measured). */
typedef struct round_figs {
    double prefill, decode, tg, ext_prefill, ext_decode;
} round_figs;

/* One round: prefill the prompt, decode after it, and with --llama-bench
 * also our tg (decode from an empty cache) and one llama-bench run. */
static int run_round(const bench_opts *o, const result *r, vt_ctx *c, vt_batch_item *it,
                     uint32_t vocab, round_figs *f, vt_errinfo *ei)
{
    vt_sampling greedy;
    vt_sampling_default(&greedy);
    memset(f, 0, sizeof *f);
    /* An untimed prompt first, as llama-bench runs one before each timed
     * run: without it our prefill paid for the caches the previous round's
     * llama-bench process had taken over (15m F32 2 threads: 5.5k against
     * 6.8k tok/s warm), and the two figures were not measured alike. */
    int rv = vt_seq_reset(c, 0);
    if (rv || (rv = vt_forward(c, it, 1, ei)) != 0 || (rv = vt_seq_reset(c, 0)) != 0)
        return rv;
    double t0 = vt_bench_now();
    if ((rv = vt_forward(c, it, 1, ei)) != 0)
        return rv;
    double t1 = vt_bench_now();
    int32_t first = vt_sample(it->logits, vocab, &greedy, o->prompt - 1);
    if ((rv = decode_run(c, first, o->prompt, o->decode, it->logits, vocab, ei)) != 0)
        return rv;
    double t2 = vt_bench_now();
    f->prefill = o->prompt / (t1 - t0);
    f->decode = o->decode / (t2 - t1);
    if (!o->llama_bench)
        return 0;
    if ((rv = vt_seq_reset(c, 0)) != 0)
        return rv;
    t0 = vt_bench_now();
    if ((rv = decode_run(c, it->tokens[0], 0, o->decode, it->logits, vocab, ei)) != 0)
        return rv;
    f->tg = o->decode / (vt_bench_now() - t0);
    run_llama_bench(o, r, &f->ext_prefill, &f->ext_decode);
    return 0;
}

static int run_engine(const bench_opts *o, result *r)
{
    vt_errinfo ei = {0};
    vt_model *m = NULL;
    vt_ctx *c = NULL;
    int rv = vt_model_load(r->file, &m, &ei);
    if (rv)
        goto out;
    r->info = *vt_model_get_info(m);
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_seqs = 1;
    p.max_ctx = (int)(o->prompt + o->decode);
    p.n_threads = r->threads;
    p.backend = VT_BACKEND_CPU;
    if ((rv = vt_ctx_create(m, &p, &c, &ei)) != 0)
        goto out;
    uint32_t vocab = r->info.vocab;
    int32_t *prompt = malloc(o->prompt * sizeof *prompt);
    float *logits = malloc(vocab * sizeof *logits);
    round_figs *rf = calloc((size_t)o->reps, sizeof *rf);
    if (!prompt || !logits || !rf) {
        rv = VT_ERR_NOMEM;
        goto out_free;
    }
    for (uint32_t i = 0; i < o->prompt; i++)
        prompt[i] = prompt_token(i, vocab);
    vt_batch_item it = {0, prompt, (int)o->prompt, 1, logits};
    /* Untimed first pass: page the weights in, warm caches and threads. */
    rv = vt_forward(c, &it, 1, &ei);
    for (int k = 0; k < o->reps && !rv; k++) {
        if ((rv = run_round(o, r, c, &it, vocab, &rf[k], &ei)) != 0)
            break;
        fprintf(stderr, "%s %s %d thr round %d/%d: prefill %.1f decode %.1f", r->model,
                vt_bench_type_name(r->type), r->threads, k + 1, o->reps, rf[k].prefill,
                rf[k].decode);
        if (o->llama_bench)
            fprintf(stderr, " tg %.1f | llama-bench pp %.1f tg %.1f", rf[k].tg, rf[k].ext_prefill,
                    rf[k].ext_decode);
        fprintf(stderr, "\n");
    }
    if (!rv) {
        /* The ratios pair each round's two runs, seconds apart: the
         * machine's drift between rounds cancels out of them. */
        double v[7][100];
        for (int k = 0; k < o->reps; k++) {
            v[0][k] = rf[k].prefill;
            v[1][k] = rf[k].decode;
            v[2][k] = rf[k].tg;
            v[3][k] = rf[k].ext_prefill;
            v[4][k] = rf[k].ext_decode;
            v[5][k] = frac(rf[k].prefill, rf[k].ext_prefill);
            v[6][k] = frac(rf[k].tg, rf[k].ext_decode);
        }
        r->ratio_prefill = median_pos(v[5], o->reps);
        r->ratio_tg = median_pos(v[6], o->reps);
        r->prefill_tps = median_pos(v[0], o->reps);
        r->decode_tps = median_pos(v[1], o->reps);
        r->tg_tps = median_pos(v[2], o->reps);
        r->ext_prefill = median_pos(v[3], o->reps);
        r->ext_decode = median_pos(v[4], o->reps);
        if (o->llama_bench && r->ext_prefill <= 0 && r->ext_decode <= 0)
            fprintf(stderr, "%s: llama-bench gave no figures for %s; its stderr is in "
                    "%s.llama-bench.err\n", prog, r->file, r->file);
    }
out_free:
    free(rf);
    free(prompt);
    free(logits);
out:
    if (rv) {
        static char msg[300];
        snprintf(msg, sizeof msg, "%s", vt_errinfo_msg(&ei));
        r->error = msg;
    }
    vt_ctx_free(c);
    vt_model_free(m);
    return rv;
}

/* ---------------------------------------------------------------- embed */

/* The embedder's callback: keep the first error. */
static void embedded(void *arg, int k, int rc, vt_ctx *c, int seq, const vt_errinfo *ei)
{
    (void)k, (void)c, (void)seq;
    vt_errinfo *first = arg;
    if (rc && !first->code)
        *first = *ei;
}

/* --embed: the same N texts embedded one at a time (vt_seq_embed on one
 * slot) and as workers embed them (vt_embedder), --reps rounds each,
 * alternated; medians of the whole set's wall time. */
static int run_embed(const bench_opts *o, result *r)
{
    vt_errinfo ei = {0};
    vt_model *m = NULL;
    vt_ctx *c1 = NULL;
    vt_embedder emb = {0};
    int n = o->embed, len = (int)o->embed_tokens;
    int rv = vt_model_load(r->file, &m, &ei);
    if (rv)
        goto out;
    uint32_t dim = vt_model_get_info(m)->dim, vocab = vt_model_get_info(m)->vocab;
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_ctx = len;
    p.n_threads = r->threads;
    p.backend = VT_BACKEND_CPU;
    p.max_seqs = 1;
    if ((rv = vt_ctx_create(m, &p, &c1, &ei)) != 0)
        goto out;
    vt_embedder_init(&emb, m, &p, NULL);
    vt_embed_item *items = calloc((size_t)n, sizeof *items);
    int32_t *toks = malloc((size_t)n * len * sizeof *toks);
    float *ea = malloc((size_t)n * dim * sizeof *ea), *eb = malloc((size_t)n * dim * sizeof *eb);
    double *ta = calloc((size_t)o->reps, sizeof *ta), *tb = calloc((size_t)o->reps, sizeof *tb);
    if (!toks || !ea || !eb || !ta || !tb || !items)
        rv = vt_fail(&ei, VT_ERR_NOMEM, "embed: out of memory");
    for (int i = 0; rv == 0 && i < n * len; i++)
        toks[i] = prompt_token((uint32_t)(i * 7 + i / len), vocab);
    for (int i = 0; rv == 0 && i < n; i++)
        items[i] = (vt_embed_item){.tokens = toks + (size_t)i * len, .n_tokens = len,
                                   .out = eb + (size_t)i * dim};
    /* Untimed first pass: the embedder creates its contexts on first use. */
    if (rv == 0) {
        vt_embedder_run(&emb, items, n, embedded, &ei);
        rv = ei.code;
    }
    for (int k = 0; k < o->reps && rv == 0; k++) {
        double t0 = vt_bench_now();
        for (int i = 0; i < n && rv == 0; i++)
            rv = vt_seq_embed(c1, 0, toks + (size_t)i * len, len, ea + (size_t)i * dim, &ei);
        double t1 = vt_bench_now();
        if (rv == 0) {
            vt_embedder_run(&emb, items, n, embedded, &ei);
            rv = ei.code;
        }
        ta[k] = t1 - t0;
        tb[k] = vt_bench_now() - t1;
    }
    if (rv == 0) {
        r->embed_alone_s = median_pos(ta, o->reps);
        r->embed_batched_s = median_pos(tb, o->reps);
        r->embed_same = memcmp(ea, eb, (size_t)n * dim * sizeof *ea) == 0;
    }
    free(toks);
    free(ea);
    free(eb);
    free(ta);
    free(tb);
    free(items);
out:
    if (rv)
        fprintf(stderr, "%s: embed %s: %s\n", prog, r->file, vt_errinfo_msg(&ei));
    vt_ctx_free(c1);
    vt_embedder_free(&emb);
    vt_model_free(m);
    return rv;
}

/* ------------------------------------------------- external comparisons */

/* One llama-bench run (-r 1: one timed repetition after its own warm-up)
 * of pp P and tg N. -o json: an array of runs with "n_prompt", "n_gen",
 * "avg_ts". Its stderr goes to a file next to the model: when it gives no
 * figures (it rejected the file, say), the caller points there. */
static void run_llama_bench(const bench_opts *o, const result *r, double *pp, double *tg)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p %u -n %u -t %d -r 1 -o json 2>'%s.llama-bench.err'",
             o->llama_bench, r->file, o->prompt, o->decode, r->threads, r->file);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    static char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    pclose(f);
    long n_gen = -1;
    for (char *p = out; (p = strchr(p, '"')) != NULL; p++) {
        if (!strncmp(p, "\"n_gen\":", 8))
            n_gen = strtol(p + 8, NULL, 10);
        else if (!strncmp(p, "\"avg_ts\":", 9)) {
            double ts = strtod(p + 9, NULL);
            if (n_gen > 0)
                *tg = ts;
            else if (n_gen == 0)
                *pp = ts;
        }
    }
}

int vt_bench_llama2c_export(const char *gguf, const char *bin, const char *tok, char *err,
                            size_t cap);

/* llama2.c `run`: prints "achieved tok/s: X" (prompt and generated tokens
 * one at a time, so compare with our decode). F32 only: its format. */
static void run_llama2c(const bench_opts *o, result *r)
{
    if (r->type != VT_DTYPE_F32)
        return;
    char bin[600], tok[600], err[256], cmd[2048];
    snprintf(bin, sizeof bin, "%.*s.llama2c.bin", (int)(strlen(r->file) - 5), r->file);
    snprintf(tok, sizeof tok, "%s/llama2c-tokenizer-%s.bin", o->sel.dir, r->model);
    if (access(bin, R_OK) != 0 || access(tok, R_OK) != 0) {
        if (vt_bench_llama2c_export(r->file, bin, tok, err, sizeof err) != 0) {
            fprintf(stderr, "%s: llama2.c export: %s\n", prog, err);
            return;
        }
    }
    snprintf(cmd, sizeof cmd,
             "OMP_NUM_THREADS=%d '%s' '%s' -z '%s' -t 0 -n %u -i 'Once upon a time' 2>&1",
             r->threads, o->llama2c, bin, tok, o->prompt + o->decode);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "achieved tok/s:");
        if (p)
            r->l2c_decode = strtod(p + 15, NULL);
    }
    pclose(f);
}

/* ---------------------------------------------------------------- output */

static void write_json(const bench_opts *o, FILE *f, const result *rs, int n, const double *bw,
                       const double (*peak)[2])
{
    vt_json j;
    vt_json_init(&j, f);
    vt_json_obj_begin(&j, NULL);
    vt_json_str(&j, "bench", "engine");
    vt_json_bool(&j, "quick", o->sel.quick);
    vt_json_bool(&j, "avx2", vt_roof_avx2());
    vt_json_int(&j, "prompt_tokens", o->prompt);
    vt_json_int(&j, "decode_tokens", o->decode);
    vt_json_int(&j, "reps", o->reps);
    vt_json_arr_begin(&j, "machine");
    for (int t = 0; t < o->n_threads; t++) {
        vt_json_obj_begin(&j, NULL);
        vt_json_int(&j, "threads", o->threads[t]);
        vt_json_num(&j, "read_bytes_per_s", bw[t]);
        vt_json_num(&j, "peak_macs_per_s_f32", peak[t][0]);
        vt_json_num(&j, "peak_macs_per_s_q8_0", peak[t][1]);
        vt_json_obj_end(&j);
    }
    vt_json_arr_end(&j);
    vt_json_arr_begin(&j, "results");
    for (int i = 0; i < n; i++) {
        const result *r = &rs[i];
        vt_json_obj_begin(&j, NULL);
        vt_json_str(&j, "model", r->model);
        vt_json_str(&j, "type", vt_bench_type_name(r->type));
        vt_json_int(&j, "threads", r->threads);
        vt_json_str(&j, "file", r->file);
        if (r->error) {
            vt_json_str(&j, "error", r->error);
            vt_json_obj_end(&j);
            continue;
        }
        vt_json_int(&j, "weight_bytes", (int64_t)r->info.weight_bytes);
        vt_json_num(&j, "prefill_tok_s", r->prefill_tps);
        vt_json_num(&j, "decode_tok_s", r->decode_tps);
        vt_json_num(&j, "decode_bytes_per_token", r->bytes_per_tok);
        vt_json_num(&j, "decode_macs_per_token", r->macs_decode);
        vt_json_num(&j, "prefill_macs_per_token", r->macs_prefill);
        vt_json_num(&j, "bandwidth_bound_tok_s", frac(r->bw, r->bytes_per_tok));
        vt_json_num(&j, "compute_bound_decode_tok_s", frac(r->peak, r->macs_decode));
        vt_json_num(&j, "compute_bound_prefill_tok_s", frac(r->peak, r->macs_prefill));
        vt_json_num(&j, "decode_frac_of_bandwidth_bound", frac(r->decode_tps, frac(r->bw, r->bytes_per_tok)));
        vt_json_num(&j, "decode_frac_of_compute_bound", frac(r->decode_tps, frac(r->peak, r->macs_decode)));
        vt_json_num(&j, "prefill_frac_of_compute_bound", frac(r->prefill_tps, frac(r->peak, r->macs_prefill)));
        if (r->ext_prefill > 0 || r->ext_decode > 0) {
            vt_json_num(&j, "decode_from_empty_tok_s", r->tg_tps);
            vt_json_num(&j, "llama_bench_prefill_tok_s", r->ext_prefill);
            vt_json_num(&j, "llama_bench_decode_tok_s", r->ext_decode);
            vt_json_num(&j, "prefill_ratio_to_llama_bench", r->ratio_prefill);
            vt_json_num(&j, "decode_from_empty_ratio_to_llama_bench", r->ratio_tg);
        }
        if (r->l2c_decode > 0)
            vt_json_num(&j, "llama2c_tok_s", r->l2c_decode);
        if (r->embed_alone_s > 0) {
            vt_json_num(&j, "embed_alone_s", r->embed_alone_s);
            vt_json_num(&j, "embed_batched_s", r->embed_batched_s);
            vt_json_num(&j, "embed_batched_over_alone", frac(r->embed_batched_s, r->embed_alone_s));
            vt_json_bool(&j, "embed_bits_identical", r->embed_same);
        }
        vt_json_obj_end(&j);
    }
    vt_json_arr_end(&j);
    vt_json_obj_end(&j);
}

static void print_table(const result *rs, int n)
{
    printf("\n%-5s %-5s %3s | %10s %7s | %10s %7s %7s | %10s %10s | %s\n", "model", "type", "thr",
           "prefill/s", "%comp", "decode/s", "%bw", "%comp", "bw-bound", "comp-bound", "external");
    for (int i = 0; i < n; i++) {
        const result *r = &rs[i];
        if (r->error) {
            printf("%-5s %-5s %3d | error: %s\n", r->model, vt_bench_type_name(r->type), r->threads,
                   r->error);
            continue;
        }
        double bwb = frac(r->bw, r->bytes_per_tok), cd = frac(r->peak, r->macs_decode),
               cp = frac(r->peak, r->macs_prefill);
        printf("%-5s %-5s %3d | %10.1f %6.1f%% | %10.1f %6.1f%% %6.1f%% | %10.1f %10.1f |", r->model,
               vt_bench_type_name(r->type), r->threads, r->prefill_tps, 100 * frac(r->prefill_tps, cp),
               r->decode_tps, 100 * frac(r->decode_tps, bwb), 100 * frac(r->decode_tps, cd), bwb, cd);
        if (r->ext_decode > 0 || r->ext_prefill > 0)
            printf(" llama-bench pp %.1f tg %.1f, ours tg %.1f (ours x%.2f, x%.2f)", r->ext_prefill,
                   r->ext_decode, r->tg_tps, r->ratio_prefill, r->ratio_tg);
        if (r->l2c_decode > 0)
            printf(" llama2.c %.1f tok/s (ours x%.2f)", r->l2c_decode,
                   frac(r->decode_tps, r->l2c_decode));
        printf("\n");
    }
}

int vt_bench_engine(int argc, char **argv)
{
    bench_opts o;
    parse(argc, argv, &o);
    FILE *jf = NULL;
    if (o.sel.json && !(jf = fopen(o.sel.json, "w"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, o.sel.json, strerror(errno));
        return 1;
    }
    /* Machine limits, per thread count. A peak is a best case: on a shared
     * machine one long probe is cut short by neighbours, so take the best of
     * several short ones (same total time). */
    double bw[MAX_LIST], peak[MAX_LIST][2];
    const int probes = o.sel.quick ? 1 : 5;
    for (int t = 0; t < o.n_threads; t++) {
        bw[t] = vt_roof_read_bw(o.bw_bytes, o.threads[t], o.sel.quick ? 1 : 3);
        peak[t][0] = peak[t][1] = -1;
        for (int k = 0; k < probes; k++) {
            double f = vt_roof_peak_macs(VT_DTYPE_F32, o.threads[t], o.peak_s / probes);
            double q = vt_roof_peak_macs(VT_DTYPE_Q8_0, o.threads[t], o.peak_s / probes);
            peak[t][0] = f > peak[t][0] ? f : peak[t][0];
            peak[t][1] = q > peak[t][1] ? q : peak[t][1];
        }
        printf("machine, %d thread%s: read %.2f GB/s (%zu MiB buffer), peak %.1f GMAC/s f32 "
               "fmadd, %.1f GMAC/s q8_0 maddubs%s\n",
               o.threads[t], o.threads[t] > 1 ? "s" : "", bw[t] / 1e9, o.bw_bytes >> 20,
               peak[t][0] / 1e9, peak[t][1] / 1e9, vt_roof_avx2() ? "" : " (scalar: no AVX2)");
    }
    result rs[MAX_LIST * MAX_LIST * MAX_LIST];
    int n = 0, failed = 0;
    for (int mi = 0; mi < o.sel.n_models; mi++) {
        for (int ti = 0; ti < o.sel.n_types; ti++) {
            char path[512];
            char err[300];
            if (vt_bench_model_file(o.sel.dir, o.sel.models[mi], o.sel.types[ti], path, sizeof path,
                                    err, sizeof err) != 0) {
                fprintf(stderr, "%s: %s\n", prog, err);
                failed = 1;
                continue;
            }
            for (int hi = 0; hi < o.n_threads; hi++) {
                result *r = &rs[n++];
                memset(r, 0, sizeof *r);
                r->model = o.sel.models[mi];
                r->type = o.sel.types[ti];
                r->threads = o.threads[hi];
                snprintf(r->file, sizeof r->file, "%s", path);
                r->bw = bw[hi];
                r->peak = peak[hi][r->type == VT_DTYPE_Q8_0];
                if (run_engine(&o, r) != 0) {
                    failed = 1;
                    continue;
                }
                double mean_pos = o.prompt + o.decode / 2.0;
                r->bytes_per_tok = step_bytes(&r->info, mean_pos);
                r->macs_decode = token_macs(&r->info, mean_pos, 1.0);
                r->macs_prefill = token_macs(&r->info, (o.prompt - 1) / 2.0, 1.0 / o.prompt);
                if (o.llama2c)
                    run_llama2c(&o, r);
                if (o.embed && run_embed(&o, r) != 0)
                    failed = 1;
                else if (o.embed)
                    printf("%s %s %d thread%s: embed %d x %u tokens: one at a time %.1f ms, "
                           "as workers (%d per call) %.1f ms: batched/alone %.2f, bits %s\n",
                           r->model, vt_bench_type_name(r->type), r->threads,
                           r->threads > 1 ? "s" : "", o.embed, o.embed_tokens,
                           r->embed_alone_s * 1e3, VT_EMBEDDER_BATCH, r->embed_batched_s * 1e3,
                           frac(r->embed_batched_s, r->embed_alone_s),
                           r->embed_same ? "identical" : "DIFFER");
                fprintf(stderr, "%s %s %d threads: prefill %.1f tok/s, decode %.1f tok/s "
                        "(medians of %d)\n", r->model, vt_bench_type_name(r->type), r->threads,
                        r->prefill_tps, r->decode_tps, o.reps);
            }
        }
    }
    /* The read probe is a best case too, and neighbours on a shared machine
     * can take bandwidth during it: one probe before the runs has read 26 GB/s
     * on a machine that gave 30-31 a minute later, and decode then printed
     * 105% of its "bound". Probe again after the runs and keep the best. */
    if (!o.sel.quick) {
        for (int t = 0; t < o.n_threads; t++) {
            double again = vt_roof_read_bw(o.bw_bytes, o.threads[t], 3);
            printf("machine, %d thread%s: read %.2f GB/s after the runs", o.threads[t],
                   o.threads[t] > 1 ? "s" : "", again / 1e9);
            if (again > bw[t]) {
                bw[t] = again;
                for (int i = 0; i < n; i++)
                    if (rs[i].threads == o.threads[t])
                        rs[i].bw = again;
            }
            printf(" (bound uses %.2f)\n", bw[t] / 1e9);
        }
    }
    print_table(rs, n);
    if (jf) {
        write_json(&o, jf, rs, n, bw, (const double(*)[2])peak);
        if (fclose(jf) != 0) {
            fprintf(stderr, "%s: writing %s failed\n", prog, o.sel.json);
            return 1;
        }
    }
    return failed ? 1 : 0;
}
