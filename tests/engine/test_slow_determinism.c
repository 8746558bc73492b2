/* test_slow_determinism.c - the determinism battery (determinism_check.h)
 * on the 15m preset in Q8_0: real widths (dim 288, hidden 768), vocab
 * 32000, tied output, many row groups per thread. Slow under the scalar
 * path, so labelled "slow". */
#include "determinism_check.h"

int main(void)
{
    vt_model *m = tu_preset("15m", VT_DTYPE_Q8_0, 21);
    check_model(m, "15m q8_0");
    vt_model_free(m);
    return 0;
}
