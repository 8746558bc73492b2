/* tokenizer_internal.h - the vt_tokenizer struct, shared by tokenizer.c
 * (load, encode) and tokenizer_detok.c (pieces, streaming decode). */
#ifndef VT_TOKENIZER_INTERNAL_H
#define VT_TOKENIZER_INTERNAL_H

#include <stdint.h>

#include "tokenizer.h"

/* GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    VT_TOKTYPE_NORMAL = 1,
    VT_TOKTYPE_UNKNOWN = 2,
    VT_TOKTYPE_CONTROL = 3,
    VT_TOKTYPE_USER = 4,
    VT_TOKTYPE_UNUSED = 5,
    VT_TOKTYPE_BYTE = 6
};

struct vt_tokenizer {
    uint32_t n_vocab;
    char *arena;        /* every piece, then every decoded piece */
    uint64_t *piece_off; /* piece i: arena[piece_off[i] .. + piece_len[i]] */
    uint32_t *piece_len;
    uint64_t *dec_off;  /* what the token prints as (vt_tok_piece) */
    uint32_t *dec_len;
    float *scores;
    int32_t *types;
    /* Open-addressed hash of mergeable pieces (normal and user types):
     * slot holds id + 1, 0 = empty. Size is a power of two >= 2 n_vocab. */
    uint32_t *ht;
    uint64_t ht_mask;
    int32_t byte_tok[256]; /* id of <0xNN>, -1 when absent */
    int32_t bos, eos, unk;
};

/* Id of a mergeable piece with exactly these bytes, or -1. */
int32_t vt_tok_lookup(const vt_tokenizer *t, const char *p, size_t n);

#endif
