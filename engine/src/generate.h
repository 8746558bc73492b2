/* generate.h - internal: vt_generate with a per-token callback, for the
 * CLI's streamed output (vt_engine.h keeps the plain form). */
#ifndef VT_GENERATE_H
#define VT_GENERATE_H

#include "vt_engine.h"

/* Called after each sampled token (already stored in the result); a
 * non-zero return stops generation with that value as the error. */
typedef int (*vt_gen_token_fn)(void *arg, int32_t token);

int vt_generate_stream(vt_ctx *c, int seq, const int32_t *prompt, uint32_t n_prompt,
                       const vt_gen_params *gp, vt_gen_token_fn on_token, void *arg,
                       vt_gen_result *out, vt_errinfo *ei);

#endif
