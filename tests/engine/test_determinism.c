/* test_determinism.c - the engine's contract, bit for bit: the logits (all
 * vocab floats, memcmp) and trace digests of a sequence are the same for
 *   one prefill == token-by-token decode == chunked prefill (sizes 2, 3, 7)
 *   == inside batches of 1..8 mixed-length neighbours (prefill and decode mix)
 *   == 1 or 2 threads == scalar or native (AVX2) kernels
 *   == called with flush-to-zero, denormals-are-zero and round-toward-zero
 *      set in the caller's MXCSR (restored afterwards),
 * for F32, F16 and Q8_0 on the tiny preset and on an odd-shaped model
 * (head_dim 24, 4 query heads on 1 KV head, vocab 517). The battery itself
 * is in determinism_check.h. */
#include "determinism_check.h"

int main(void)
{
    static const uint32_t types[] = {VT_DTYPE_F32, VT_DTYPE_F16, VT_DTYPE_Q8_0};
    static const char *const names[] = {"f32", "f16", "q8_0"};
    /* odd: head_dim 24 (not a multiple of 32: padded dot lanes), 4 heads on
     * 1 kv head, hidden 3x dim, vocab 517 (last row group partial). */
    vt_synth_config odd = {96, 3, 4, 1, 288, 517, 64, 0, "odd"};
    for (int i = 0; i < 3; i++) {
        char label[64];
        vt_model *m = tu_preset("tiny", types[i], 7);
        snprintf(label, sizeof label, "tiny %s", names[i]);
        check_model(m, label);
        vt_model_free(m);
        m = tu_model(&odd, types[i], 9);
        snprintf(label, sizeof label, "odd %s", names[i]);
        check_model(m, label);
        vt_model_free(m);
    }
    return 0;
}
