/* verity-model - make, inspect and run GGUF models with the Verity engine.
 *
 *   verity-model synth --preset tiny|15m|110m --type f32|f16|q8_0 [--seed S] -o FILE
 *   verity-model info FILE [--tensors] [--check]
 *   verity-model run FILE --prompt TEXT -n N [--seed S] [--temp T] [--top-k K]
 *                [--top-p P] [--stop STR]... [--threads K] [--isa I] [--device D]
 *   verity-model digest FILE --tokens ID,ID,... [--mode prefill|decode|batch]
 *                [--chunk C] [--threads K] [--isa scalar|native] [--device D] [--layers]
 *
 * Exit status: 0 ok, 1 the operation failed, 2 usage error.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "generate.h"
#include "vt_engine.h"
#include "vt_gguf.h"
#include "vt_synth.h"
#include "vt_types.h"

static const char *prog = "verity-model";

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  verity-model synth --preset tiny|15m|110m --type f32|f16|q8_0 [--seed S] -o FILE\n"
            "      write a synthetic llama model (deterministic in preset, type, seed)\n"
            "  verity-model info FILE [--tensors] [--check]\n"
            "      SHA-256, architecture, shapes, tensor types, tokenizer; --tensors lists\n"
            "      every tensor, --check also loads it with the engine\n"
            "  verity-model run FILE --prompt TEXT -n N [--seed S] [--temp T] [--top-k K]\n"
            "      [--top-p P] [--stop STR]... [--no-eos] [--threads K] [--isa native|scalar]\n"
            "      [--device auto|cpu|cuda]\n"
            "      generate: the prompt and the text as it comes on stdout, one stats\n"
            "      line on stderr\n"
            "  verity-model digest FILE --tokens ID,ID,... [--mode prefill|decode|batch]\n"
            "      [--chunk C] [--threads K] [--isa native|scalar] [--device auto|cpu|cuda]\n"
            "      [--layers]\n"
            "      BLAKE2b-256 of the bits of every logit at every position, and the\n"
            "      trace digest; identical for every mode/chunk/threads/isa/device\n");
}

static int fail(const char *what, const vt_errinfo *ei, int rv)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, ei->detail[0] ? ei->detail : vt_strerror(rv));
    return 1;
}

/* ------------------------------------------------------------------ synth */

static const char *const type_names[] = {"f32", "f16", "q8_0", NULL};
static const uint32_t type_ids[] = {VT_DTYPE_F32, VT_DTYPE_F16, VT_DTYPE_Q8_0};

static int cmd_synth(int argc, char **argv)
{
    const char *preset = NULL, *type = "f32", *out = NULL, *v;
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        if (vt_cli_flag(prog, argc, argv, &i, "--preset", &v))
            preset = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--type", &v))
            type = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--seed", &v))
            seed = vt_cli_u64(prog, "--seed", v, 0, UINT64_MAX);
        else if (vt_cli_flag(prog, argc, argv, &i, "-o", &v) ||
                 vt_cli_flag(prog, argc, argv, &i, "--output", &v))
            out = v;
        else
            vt_cli_usage_error(prog, "synth: unknown argument '%s'", argv[i]);
    }
    if (!preset)
        vt_cli_usage_error(prog, "synth: --preset is required (tiny, 15m, 110m)");
    if (!out)
        vt_cli_usage_error(prog, "synth: -o FILE is required");
    static const char *const presets[] = {"tiny", "15m", "110m", NULL};
    vt_cli_choice(prog, "--preset", preset, presets);
    uint32_t dtype = type_ids[vt_cli_choice(prog, "--type", type, type_names)];
    vt_errinfo ei = {0};
    int rv = vt_synth_write(preset, dtype, seed, out, &ei);
    if (rv)
        return fail("synth", &ei, rv);
    printf("wrote %s (preset %s, type %s, seed %llu)\n", out, preset, type,
           (unsigned long long)seed);
    return 0;
}

/* ------------------------------------------------------------------- info */

static void print_kv_u32(const vt_gguf *g, const char *label, const char *key)
{
    uint32_t u;
    if (vt_gguf_get_u32(g, key, &u) == 0)
        printf(" %s %u", label, u);
}

static int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int list = 0, check = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--tensors") == 0)
            list = 1;
        else if (strcmp(argv[i], "--check") == 0)
            check = 1;
        else if (argv[i][0] == '-')
            vt_cli_usage_error(prog, "info: unknown flag '%s'", argv[i]);
        else if (path)
            vt_cli_usage_error(prog, "info: one FILE only");
        else
            path = argv[i];
    }
    if (!path)
        vt_cli_usage_error(prog, "info: FILE is required");
    vt_gguf *g;
    vt_errinfo ei = {0};
    int rv = vt_gguf_open(path, &g, &ei);
    if (rv)
        return fail(path, &ei, rv);
    size_t len;
    const void *bytes = vt_gguf_bytes(g, &len);
    uint8_t sha[32];
    char h[65];
    crypto_hash_sha256(sha, bytes, len);
    vt_hex_encode(sha, 32, h);
    printf("file       %s (%zu bytes)\n", path, len);
    printf("sha256     %s\n", h);
    printf("gguf       v%u, %llu metadata keys, %llu tensors\n", vt_gguf_version(g),
           (unsigned long long)vt_gguf_n_kv(g), (unsigned long long)vt_gguf_n_tensors(g));
    vt_gguf_str s = {"?", 1};
    vt_gguf_get_str(g, "general.architecture", &s);
    printf("arch       %.*s", (int)s.len, s.ptr);
    if (vt_gguf_get_str(g, "general.name", &s) == 0)
        printf(" (%.*s)", (int)s.len, s.ptr);
    printf("\nshape     ");
    print_kv_u32(g, "dim", "llama.embedding_length");
    print_kv_u32(g, "layers", "llama.block_count");
    print_kv_u32(g, "heads", "llama.attention.head_count");
    print_kv_u32(g, "kv_heads", "llama.attention.head_count_kv");
    print_kv_u32(g, "hidden", "llama.feed_forward_length");
    print_kv_u32(g, "ctx", "llama.context_length");
    print_kv_u32(g, "rope_dim", "llama.rope.dimension_count");
    float f;
    if (vt_gguf_get_f32(g, "llama.rope.freq_base", &f) == 0)
        printf(" rope_base %g", (double)f);
    if (vt_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) == 0)
        printf(" rms_eps %g", (double)f);
    printf("\n");
    /* Tensor types, counted; parameters and bytes. */
    uint64_t count[32] = {0}, other = 0, params = 0, wbytes = 0;
    for (uint64_t i = 0; i < vt_gguf_n_tensors(g); i++) {
        const vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
        if (t->type < 32)
            count[t->type]++;
        else
            other++;
        params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        wbytes += t->nbytes;
    }
    printf("tensors   ");
    for (uint32_t ty = 0; ty < 32; ty++)
        if (count[ty])
            printf(" %s: %llu", vt_dtype_name(ty), (unsigned long long)count[ty]);
    if (other)
        printf(" other: %llu", (unsigned long long)other);
    printf("\nparams     %llu (%llu bytes of tensor data)\n", (unsigned long long)params,
           (unsigned long long)wbytes);
    const vt_gguf_tensor *emb = vt_gguf_find_tensor(g, "token_embd.weight");
    printf("output     %s\n", vt_gguf_find_tensor(g, "output.weight") ? "separate output.weight"
                                                                      : "tied to token_embd");
    uint64_t n_tok = 0;
    uint32_t et;
    s.ptr = "?";
    s.len = 1;
    vt_gguf_get_str(g, "tokenizer.ggml.model", &s);
    vt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n_tok);
    printf("tokenizer  %.*s, %llu tokens,", (int)s.len, s.ptr, (unsigned long long)n_tok);
    print_kv_u32(g, "bos", "tokenizer.ggml.bos_token_id");
    print_kv_u32(g, "eos", "tokenizer.ggml.eos_token_id");
    print_kv_u32(g, "unk", "tokenizer.ggml.unknown_token_id");
    if (emb)
        printf(" (token_embd rows %llu)", (unsigned long long)emb->ne[1]);
    printf("\n");
    if (list) {
        for (uint64_t i = 0; i < vt_gguf_n_tensors(g); i++) {
            const vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
            printf("  %-32.*s %-5s [%llu", (int)t->name.len, t->name.ptr, vt_dtype_name(t->type),
                   (unsigned long long)t->ne[0]);
            for (uint32_t d = 1; d < t->n_dims; d++)
                printf(", %llu", (unsigned long long)t->ne[d]);
            printf("] offset %llu, %llu bytes\n", (unsigned long long)t->offset,
                   (unsigned long long)t->nbytes);
        }
    }
    vt_gguf_close(g);
    if (check) {
        vt_model *m;
        rv = vt_model_load(path, &m, &ei);
        if (rv) {
            printf("engine     cannot run it: %s\n", vt_errinfo_msg(&ei));
            return 1;
        }
        printf("engine     loads: ok\n");
        vt_model_free(m);
    }
    return 0;
}

/* ------------------------------------------------------- shared run flags */

typedef struct run_opts {
    const char *path;
    int threads;
    vt_isa isa;
    vt_backend backend;
} run_opts;

/* Consumes --threads/--isa/--device; returns 1 if argv[*i] was one. */
static int common_flag(int argc, char **argv, int *i, run_opts *o)
{
    const char *v;
    static const char *const isas[] = {"native", "scalar", NULL};
    static const char *const devs[] = {"auto", "cpu", "cuda", NULL};
    if (vt_cli_flag(prog, argc, argv, i, "--threads", &v))
        o->threads = (int)vt_cli_u64(prog, "--threads", v, 1, 256);
    else if (vt_cli_flag(prog, argc, argv, i, "--isa", &v))
        o->isa = vt_cli_choice(prog, "--isa", v, isas) ? VT_ISA_SCALAR : VT_ISA_NATIVE;
    else if (vt_cli_flag(prog, argc, argv, i, "--device", &v))
        o->backend = (vt_backend)vt_cli_choice(prog, "--device", v, devs);
    else
        return 0;
    return 1;
}

static int open_ctx(const run_opts *o, int max_seqs, vt_model **m, vt_ctx **c)
{
    vt_errinfo ei = {0};
    int rv = vt_model_load(o->path, m, &ei);
    if (rv)
        return fail(o->path, &ei, rv);
    vt_ctx_params p;
    vt_ctx_params_default(&p);
    p.max_seqs = max_seqs;
    p.n_threads = o->threads;
    p.isa = o->isa;
    p.backend = o->backend;
    rv = vt_ctx_create(*m, &p, c, &ei);
    if (rv) {
        vt_model_free(*m);
        return fail("context", &ei, rv);
    }
    return 0;
}

/* -------------------------------------------------------------------- run */

typedef struct stream_out {
    vt_detok d;
    char buf[256];
} stream_out;

static int print_token(void *arg, int32_t tok)
{
    stream_out *s = arg;
    size_t n;
    if (vt_detok_push(&s->d, tok, s->buf, sizeof s->buf, &n) == 0) {
        fwrite(s->buf, 1, n, stdout);
        fflush(stdout);
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_opts o = {NULL, 1, VT_ISA_NATIVE, VT_BACKEND_AUTO};
    const char *prompt = NULL, *v;
    const char *stops[16];
    vt_gen_params gp;
    memset(&gp, 0, sizeof gp);
    vt_sampling_default(&gp.sampling);
    gp.stop_at_eos = 1;
    gp.stop = stops;
    int have_n = 0;
    for (int i = 2; i < argc; i++) {
        if (common_flag(argc, argv, &i, &o))
            continue;
        if (vt_cli_flag(prog, argc, argv, &i, "--prompt", &v))
            prompt = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "-n", &v)) {
            gp.max_tokens = (uint32_t)vt_cli_u64(prog, "-n", v, 0, 1u << 20);
            have_n = 1;
        } else if (vt_cli_flag(prog, argc, argv, &i, "--seed", &v))
            gp.sampling.seed = vt_cli_u64(prog, "--seed", v, 0, UINT64_MAX);
        else if (vt_cli_flag(prog, argc, argv, &i, "--temp", &v))
            gp.sampling.temperature = vt_cli_f32(prog, "--temp", v, 0.0f, 100.0f);
        else if (vt_cli_flag(prog, argc, argv, &i, "--top-k", &v))
            gp.sampling.top_k = (uint32_t)vt_cli_u64(prog, "--top-k", v, 0, UINT32_MAX);
        else if (vt_cli_flag(prog, argc, argv, &i, "--top-p", &v))
            gp.sampling.top_p = vt_cli_f32(prog, "--top-p", v, 0.0f, 1.0f);
        else if (vt_cli_flag(prog, argc, argv, &i, "--stop", &v)) {
            if (gp.n_stop == 16)
                vt_cli_usage_error(prog, "run: at most 16 --stop strings");
            if (!*v)
                vt_cli_usage_error(prog, "run: --stop needs a non-empty string");
            stops[gp.n_stop++] = v;
        } else if (strcmp(argv[i], "--no-eos") == 0)
            gp.stop_at_eos = 0;
        else if (argv[i][0] == '-')
            vt_cli_usage_error(prog, "run: unknown flag '%s'", argv[i]);
        else if (o.path)
            vt_cli_usage_error(prog, "run: one FILE only");
        else
            o.path = argv[i];
    }
    if (!o.path)
        vt_cli_usage_error(prog, "run: FILE is required");
    if (!prompt)
        vt_cli_usage_error(prog, "run: --prompt is required");
    if (!have_n)
        vt_cli_usage_error(prog, "run: -n N is required");
    vt_model *m;
    vt_ctx *c;
    if (open_ctx(&o, 1, &m, &c))
        return 1;
    const vt_tokenizer *tok = vt_model_tokenizer(m);
    size_t n_prompt = 0;
    vt_tok_encode(tok, prompt, strlen(prompt), 1, NULL, 0, &n_prompt);
    int32_t *ids = malloc((n_prompt + 1) * sizeof *ids);
    vt_errinfo ei = {0};
    int rv = ids ? vt_tok_encode(tok, prompt, strlen(prompt), 1, ids, n_prompt, &n_prompt)
                 : VT_ERR_NOMEM;
    vt_gen_result res;
    memset(&res, 0, sizeof res);
    stream_out so;
    vt_detok_init(&so.d, tok);
    so.d.at_start = 0; /* printed after the prompt: keep the first space */
    fputs(prompt, stdout);
    if (!rv)
        rv = vt_generate_stream(c, 0, ids, (uint32_t)n_prompt, &gp, print_token, &so, &res, &ei);
    else
        vt_fail(&ei, rv, "cannot tokenize the prompt");
    size_t n;
    if (vt_detok_flush(&so.d, so.buf, sizeof so.buf, &n) == 0)
        fwrite(so.buf, 1, n, stdout);
    printf("\n");
    fflush(stdout);
    int status = 0;
    if (rv) {
        status = fail("run", &ei, rv);
    } else {
        static const char *const reasons[] = {"max_tokens", "eos", "stop string"};
        char h[65];
        vt_hex_encode(res.trace.final_digest, 32, h);
        fprintf(stderr,
                "prompt %zu tok, prefill %.1f tok/s | generated %u tok, decode %.1f tok/s | "
                "stop %s | %s | trace %s\n",
                n_prompt, res.prefill_s > 0 ? (double)n_prompt / res.prefill_s : 0.0,
                res.n_tokens, res.decode_s > 0 ? (double)res.n_tokens / res.decode_s : 0.0,
                reasons[res.stop_reason], vt_ctx_describe(c), h);
    }
    free(res.tokens);
    free(ids);
    vt_ctx_free(c);
    vt_model_free(m);
    return status;
}

/* ----------------------------------------------------------------- digest */

static int32_t *parse_tokens(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int32_t *t = malloc(cap * sizeof *t);
    if (!t)
        return NULL;
    *n = 0;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char num[24];
        if (len == 0 || len >= sizeof num)
            vt_cli_usage_error(prog, "--tokens: bad item '%.*s'", (int)(len < 40 ? len : 40), p);
        memcpy(num, p, len);
        num[len] = 0;
        t[(*n)++] = (int32_t)vt_cli_u64(prog, "--tokens", num, 0, INT32_MAX);
        if (!e)
            break;
        p = e + 1;
    }
    return t;
}

static int cmd_digest(int argc, char **argv)
{
    run_opts o = {NULL, 1, VT_ISA_NATIVE, VT_BACKEND_AUTO};
    const char *tokens = NULL, *v;
    static const char *const modes[] = {"prefill", "decode", "batch", NULL};
    int mode = 0, layers = 0;
    uint64_t chunk = 0;
    for (int i = 2; i < argc; i++) {
        if (common_flag(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--layers") == 0)
            layers = 1;
        else if (vt_cli_flag(prog, argc, argv, &i, "--tokens", &v))
            tokens = v;
        else if (vt_cli_flag(prog, argc, argv, &i, "--mode", &v))
            mode = vt_cli_choice(prog, "--mode", v, modes);
        else if (vt_cli_flag(prog, argc, argv, &i, "--chunk", &v))
            chunk = vt_cli_u64(prog, "--chunk", v, 1, 1u << 20);
        else if (argv[i][0] == '-')
            vt_cli_usage_error(prog, "digest: unknown flag '%s'", argv[i]);
        else if (o.path)
            vt_cli_usage_error(prog, "digest: one FILE only");
        else
            o.path = argv[i];
    }
    if (!o.path)
        vt_cli_usage_error(prog, "digest: FILE is required");
    if (!tokens)
        vt_cli_usage_error(prog, "digest: --tokens is required");
    size_t n = 0;
    int32_t *toks = parse_tokens(tokens, &n);
    if (!toks)
        return 1;
    const int n_side = 3; /* batch mode: neighbours in slots 1..3 */
    vt_model *m;
    vt_ctx *c;
    if (open_ctx(&o, mode == 2 ? 1 + n_side : 1, &m, &c)) {
        free(toks);
        return 1;
    }
    const vt_model_info *info = vt_model_get_info(m);
    uint32_t vocab = info->vocab;
    for (size_t i = 0; i < n; i++)
        if ((uint32_t)toks[i] >= vocab)
            vt_cli_usage_error(prog, "--tokens: id %d at index %zu is not below vocab %u", toks[i], i,
                               vocab);
    if (n > info->ctx_len)
        vt_cli_usage_error(prog, "--tokens: %zu tokens exceed the context length %u", n,
                           info->ctx_len);
    size_t step = mode == 1 ? 1 : chunk ? (size_t)chunk : n;
    float *logits = malloc(step * vocab * sizeof *logits);
    float *side_logits = malloc(vocab * sizeof *side_logits);
    int32_t *side = malloc(n * sizeof *side);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    vt_errinfo ei = {0};
    int rv = logits && side_logits && side ? 0 : VT_ERR_NOMEM;
    /* Neighbour j runs its own tokens (the main ones shifted by j), a
     * different number per call, so the main sequence shares every forward
     * call with unrelated work of changing shape. */
    size_t side_done[4] = {0};
    for (size_t i = 0; i < n; i++)
        side[i] = (int32_t)(((uint32_t)toks[i] + 7u * (uint32_t)(i + 1)) % vocab);
    for (size_t at = 0; at < n && !rv;) {
        size_t k = n - at < step ? n - at : step;
        vt_batch_item items[4];
        int n_items = 0;
        items[n_items++] = (vt_batch_item){0, toks + at, (int)k, (int)k, logits};
        for (int j = 1; mode == 2 && j <= n_side; j++) {
            size_t want = (at / step + (size_t)j) % (k + 1) + 1;
            size_t left = n - side_done[j];
            size_t kk = want < left ? want : left;
            if (kk == 0)
                continue;
            items[n_items++] = (vt_batch_item){j, side + side_done[j], (int)kk, 1, side_logits};
            side_done[j] += kk;
        }
        rv = vt_forward(c, items, n_items, &ei);
        if (rv)
            break;
        crypto_generichash_update(&st, (const unsigned char *)logits, k * vocab * sizeof(float));
        at += k;
    }
    int status = 0;
    if (rv) {
        status = fail("digest", &ei, rv);
    } else {
        uint8_t d[32];
        char h[65];
        crypto_generichash_final(&st, d, 32);
        vt_hex_encode(d, 32, h);
        printf("logits %s\n", h);
        vt_trace tr;
        if ((rv = vt_seq_trace(c, 0, &tr)) != 0) {
            status = fail("trace", &ei, rv);
        } else {
            vt_hex_encode(tr.final_digest, 32, h);
            printf("trace  %s\n", h);
            for (uint32_t l = 0; layers && l < tr.n_layers; l++) {
                vt_hex_encode(tr.layer_digest[l], 32, h);
                printf("layer %u %s\n", l, h);
            }
        }
    }
    free(logits);
    free(side_logits);
    free(side);
    free(toks);
    vt_ctx_free(c);
    vt_model_free(m);
    return status;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "%s: libsodium failed to initialise\n", prog);
        return 1;
    }
    if (argc < 2)
        vt_cli_usage_error(prog, "a command is required: synth, info, run, digest");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    if (!strcmp(cmd, "synth"))
        return cmd_synth(argc, argv);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc, argv);
    if (!strcmp(cmd, "run"))
        return cmd_run(argc, argv);
    if (!strcmp(cmd, "digest"))
        return cmd_digest(argc, argv);
    vt_cli_usage_error(prog, "unknown command '%s' (synth, info, run, digest)", cmd);
}
