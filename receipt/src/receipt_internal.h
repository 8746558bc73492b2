/* receipt_internal.h - shared between the receipt encoder, decoder and checker. */
#ifndef VT_RECEIPT_INTERNAL_H
#define VT_RECEIPT_INTERNAL_H

#include "vt_receipt.h"

#define RECEIPT_DOMAIN "verity/receipt/v1"
#define RECEIPT_SIG_DOMAIN "verity/receipt-sig/v1"
#define RECEIPT_BODY_FIELDS 14

/* Memory a decoded receipt points into. */
typedef struct receipt_mem {
    uint8_t *file;            /* copy of the whole file */
    int32_t *prompt;
    int32_t *tokens;
    char **stop;
    uint32_t n_stop;
    float *embedding;
    vt_receipt_verdict *verdicts;
} receipt_mem;

/* Parse canonical body bytes into r, allocating arrays in mem. */
int vt_receipt_body_decode(const uint8_t *body, size_t len, vt_receipt *r, receipt_mem *mem,
                           vt_errinfo *ei);
void receipt_mem_free(receipt_mem *m);

/* The message the scheduler signs. */
void receipt_sig_message(const uint8_t hash[VT_HASH_BYTES], uint64_t log_index,
                         uint8_t msg[64]);
#define RECEIPT_SIG_MSG_LEN (sizeof(RECEIPT_SIG_DOMAIN) - 1 + VT_HASH_BYTES + 8)

#endif
