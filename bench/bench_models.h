/* bench_models.h - the model selection shared by `verity-bench engine` and
 * `verity-bench verify`: the flags --quick, --json, --dir, --models, --types,
 * and the synthesized model files both benches cache under --dir. */
#ifndef VT_BENCH_MODELS_H
#define VT_BENCH_MODELS_H

#include <stddef.h>
#include <stdint.h>

#define VT_BENCH_MAX_LIST 8

typedef struct vt_bench_sel {
    const char *models[VT_BENCH_MAX_LIST]; /* presets: tiny, 15m, 110m */
    int n_models;
    uint32_t types[VT_BENCH_MAX_LIST]; /* VT_DTYPE_* */
    int n_types;
    const char *dir, *json;
    int quick;
    /* private: the flags as given, and the split lists' storage */
    const char *models_arg, *types_arg;
    char models_buf[256], types_buf[64];
} vt_bench_sel;

/* Defaults: nothing chosen yet, dir from $VERITY_BENCH_DIR. */
void vt_bench_sel_init(vt_bench_sel *s);

/* If argv[*i] is one of the shared flags, take it (and its value), advance
 * *i and return 1; otherwise return 0. Bad values are usage errors. */
int vt_bench_sel_flag(const char *prog, int argc, char **argv, int *i, vt_bench_sel *s);

/* After the loop: --models / --types given win; else "tiny" under --quick,
 * else def_models; types default to def_types. Validates every item (usage
 * error on an unknown one); dir defaults to "bench-models". s must not be
 * copied afterwards (the lists point into it). */
void vt_bench_sel_finish(const char *prog, vt_bench_sel *s, const char *def_models,
                         const char *def_types);

/* Split comma list s (modified) into 1..VT_BENCH_MAX_LIST items; otherwise
 * a usage error. */
int vt_bench_split(const char *prog, char *s, const char **out);

const char *vt_bench_type_name(uint32_t type); /* "f32", "f16", "q8_0" */

/* path = DIR/synth-PRESET-TYPE-seed1.gguf, synthesized if missing (the
 * same file for every bench). 0, or -1 with a message in err. */
int vt_bench_model_file(const char *dir, const char *preset, uint32_t type, char *path, size_t cap,
                        char *err, size_t errcap);

#endif
