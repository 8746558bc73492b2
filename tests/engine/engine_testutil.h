/* engine_testutil.h - shared helpers for the engine tests: synthetic models
 * in temp files, a checked-call macro, a tiny PRNG. */
#ifndef ENGINE_TESTUTIL_H
#define ENGINE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vt_engine.h"
#include "vt_synth.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_OK(expr)                                                                 \
    do {                                                                               \
        vt_errinfo ei_ = {0};                                                          \
        (void)ei_;                                                                     \
        int rv_ = (expr);                                                              \
        if (rv_ < 0) {                                                                 \
            fprintf(stderr, "%s:%d: %s -> %d (%s)\n", __FILE__, __LINE__, #expr, rv_,  \
                    vt_strerror(rv_));                                                 \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static inline uint64_t tu_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float tu_randf(uint64_t *s)
{
    return (float)(tu_rand(s) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

/* Load a model from GGUF bytes through a temp file (removed at once: the
 * mapping keeps it alive). Returns vt_model_load's result. */
static inline int tu_load_bytes(const void *buf, size_t len, vt_model **m, vt_errinfo *ei)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/vt_engine_test_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, buf, len) == (ssize_t)len);
    close(fd);
    *m = NULL;
    int rv = vt_model_load(path, m, ei);
    unlink(path);
    return rv;
}

/* A synthetic model, loaded; exits on failure. */
static inline vt_model *tu_model(const vt_synth_config *cfg, uint32_t dtype, uint64_t seed)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    vt_errinfo ei = {0};
    vt_model *m = NULL;
    int rv = vt_synth_mem_cfg(cfg, dtype, seed, &buf, &len, &ei);
    if (rv == 0)
        rv = tu_load_bytes(buf, len, &m, &ei);
    free(buf);
    if (rv < 0) {
        fprintf(stderr, "synthetic model: %s\n", vt_errinfo_msg(&ei));
        exit(1);
    }
    return m;
}

static inline vt_model *tu_preset(const char *preset, uint32_t dtype, uint64_t seed)
{
    vt_synth_config cfg;
    CHECK(vt_synth_preset(preset, &cfg) == 0);
    return tu_model(&cfg, dtype, seed);
}

#endif
