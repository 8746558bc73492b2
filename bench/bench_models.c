/* bench_models.c - model selection flags and model files for the engine and
 * verify benches (see bench_models.h). */
#include "bench_models.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_util.h"
#include "vt_engine.h"
#include "vt_synth.h"

void vt_bench_sel_init(vt_bench_sel *s)
{
    memset(s, 0, sizeof *s);
    s->dir = getenv("VERITY_BENCH_DIR");
}

int vt_bench_sel_flag(const char *prog, int argc, char **argv, int *i, vt_bench_sel *s)
{
    if (!strcmp(argv[*i], "--quick")) {
        s->quick = 1;
        return 1;
    }
    return vt_cli_flag(prog, argc, argv, i, "--json", &s->json) ||
           vt_cli_flag(prog, argc, argv, i, "--dir", &s->dir) ||
           vt_cli_flag(prog, argc, argv, i, "--models", &s->models_arg) ||
           vt_cli_flag(prog, argc, argv, i, "--types", &s->types_arg);
}

int vt_bench_split(const char *prog, char *s, const char **out)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n == VT_BENCH_MAX_LIST)
            vt_cli_usage_error(prog, "at most %d items in a list", VT_BENCH_MAX_LIST);
        out[n++] = tok;
    }
    if (n == 0)
        vt_cli_usage_error(prog, "empty list");
    return n;
}

void vt_bench_sel_finish(const char *prog, vt_bench_sel *s, const char *def_models,
                         const char *def_types)
{
    static const char *const presets[] = {"tiny", "15m", "110m", NULL};
    static const char *const tnames[] = {"f32", "f16", "q8_0", NULL};
    static const uint32_t tids[] = {VT_DTYPE_F32, VT_DTYPE_F16, VT_DTYPE_Q8_0};
    const char *models = s->models_arg ? s->models_arg : s->quick ? "tiny" : def_models;
    const char *types = s->types_arg ? s->types_arg : def_types;
    snprintf(s->models_buf, sizeof s->models_buf, "%s", models);
    snprintf(s->types_buf, sizeof s->types_buf, "%s", types);
    s->n_models = vt_bench_split(prog, s->models_buf, s->models);
    for (int i = 0; i < s->n_models; i++)
        vt_cli_choice(prog, "--models", s->models[i], presets);
    const char *items[VT_BENCH_MAX_LIST];
    s->n_types = vt_bench_split(prog, s->types_buf, items);
    for (int i = 0; i < s->n_types; i++)
        s->types[i] = tids[vt_cli_choice(prog, "--types", items[i], tnames)];
    if (!s->dir || !*s->dir)
        s->dir = "bench-models";
}

const char *vt_bench_type_name(uint32_t t)
{
    return t == VT_DTYPE_Q8_0 ? "q8_0" : t == VT_DTYPE_F16 ? "f16" : "f32";
}

int vt_bench_model_file(const char *dir, const char *preset, uint32_t type, char *path, size_t cap,
                        char *err, size_t errcap)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, cap, "%s/synth-%s-%s-seed1.gguf", dir, preset, vt_bench_type_name(type));
    if (access(path, R_OK) == 0)
        return 0;
    fprintf(stderr, "synthesizing %s ...\n", path);
    vt_errinfo ei = {0};
    int rv = vt_synth_write(preset, type, 1, path, &ei);
    if (rv)
        snprintf(err, errcap, "%s", vt_errinfo_msg(&ei));
    return rv;
}
