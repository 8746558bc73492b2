/* synth_internal.h - pieces of synth.c shared with its tests. */
#ifndef VT_SYNTH_INTERNAL_H
#define VT_SYNTH_INTERNAL_H

#include <stdint.h>

/* The synthetic vocabulary of `n` tokens: pieces (UTF-8, NUL-terminated),
 * scores and GGUF token types. Free with synth_vocab_free. Returns 0,
 * VT_ERR_NOMEM, or VT_ERR_INVAL when n is below synth_vocab_min(). */
typedef struct synth_vocab {
    uint32_t n;
    char **pieces;
    float *scores;
    int32_t *types;
} synth_vocab;

uint32_t synth_vocab_min(void);
int synth_vocab_build(uint32_t n, synth_vocab *v);
void synth_vocab_free(synth_vocab *v);

#endif
