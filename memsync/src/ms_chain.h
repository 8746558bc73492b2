/* ms_chain.h - the op log's hash chain.
 *
 *   h_0 = 32 zero bytes
 *   h_n = BLAKE2b-256(h_{n-1} || op_n)
 * where op_n is the canonical bytes of operation n (ms_record.h) and
 * BLAKE2b-256 is unkeyed BLAKE2b with a 32-byte output (RFC 7693), as
 * libsodium's crypto_generichash computes it. Redis Lua has only SHA-1, so
 * memsync computes the chain and appends with compare-and-set. */
#ifndef MS_CHAIN_H
#define MS_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "vt_memsync.h"

void ms_chain_next(const uint8_t prev[32], const uint8_t *op, size_t n, uint8_t out[32]);

/* head := (head.seq + 1, next hash). */
void ms_chain_advance(vt_mem_head *head, const uint8_t *op, size_t n);

#endif
