/* tokenizer.h - internal: building a vt_tokenizer from GGUF metadata.
 *
 * The model loader (model.c) calls vt_tokenizer_load once per model; the
 * public vt_tok_* / vt_detok_* functions live in vt_engine.h.
 *
 * Supported: tokenizer.ggml.model = "llama" (SentencePiece BPE driven by
 * piece scores, with byte fallback <0xNN>). Anything else gives
 * VT_ERR_UNSUPPORTED naming the model.
 */
#ifndef VT_TOKENIZER_H
#define VT_TOKENIZER_H

#include "vt_engine.h"
#include "vt_gguf.h"

/* Reads tokenizer.ggml.{model,tokens,scores,token_type,bos_token_id,
 * eos_token_id,unknown_token_id}. Pieces are copied, so the tokenizer does
 * not reference the vt_gguf after this returns. */
int vt_tokenizer_load(const vt_gguf *g, vt_tokenizer **out, vt_errinfo *ei);
void vt_tokenizer_free(vt_tokenizer *t);

#endif
