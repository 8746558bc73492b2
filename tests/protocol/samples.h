/* samples.h - one fully populated example of every message type, shared by
 * the round-trip, hostile-input and fuzz tests. */
#ifndef VT_TEST_SAMPLES_H
#define VT_TEST_SAMPLES_H

#include "vt_protocol.h"

/* Fill m with a sample of type t (every optional field set). Pointers
 * refer to static storage; do not vt_msg_free. */
void sample_msg(vt_msg_type t, vt_msg *m);

/* Encode the sample of type t into b (asserts on failure). */
void sample_encode(vt_msg_type t, vt_buf *b);

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#endif
