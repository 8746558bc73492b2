/* fuzz_decode.c - libFuzzer target for the message decoder.
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DVT_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_protocol_decode
 *   build-fuzz/bin/fuzz_protocol_decode -max_total_time=60
 *
 * Property: decoding never crashes, and anything that decodes also
 * encodes (decoder and encoder enforce the same limits). */
#include <stdint.h>
#include <stdlib.h>

#include "vt_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vt_msg m;
    if (vt_msg_decode(data, size, &m, NULL) == 0) {
        vt_buf b;
        vt_buf_init(&b, 64u << 20);
        if (vt_msg_encode(&m, &b, NULL) != 0)
            abort();
        vt_buf_free(&b);
    }
    vt_msg_free(&m);
    return 0;
}
