/* ms_record.h - canonical bytes of memory items and op-log entries.
 *
 * These bytes are what the hash chain commits to (docs/memsync.md,
 * "Canonical bytes"), so the encoding is fixed and has exactly one form for
 * each value: big-endian integers, float32 as big-endian IEEE-754 bits,
 * strings as u32 length + bytes, lists as u16 count + elements, in the field
 * order below. Never change a layout; add a new magic instead.
 *
 * item record ("VMI1"):
 *   magic[4] "VMI1" | u64 id | u8 type | f32 importance | i64 created_ms |
 *   i64 updated_ms | u64 seq | str source | u16 ncat | ncat * str category |
 *   str text | u32 dim | dim * f32 embedding
 *
 * op-log entry ("VMO1"):
 *   magic[4] "VMO1" | u64 seq | u8 kind | i64 ts_ms | payload
 *   kind 1 add, 2 update : payload = item record (the full new state)
 *   kind 3 delete        : payload = u64 id
 *   kind 4 profile set   : payload = str key | str value
 *   kind 5 profile del   : payload = str key
 */
#ifndef MS_RECORD_H
#define MS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "ms_buf.h"
#include "vt_memsync.h"

enum ms_op_kind {
    MS_OP_ADD = 1,
    MS_OP_UPDATE = 2,
    MS_OP_DELETE = 3,
    MS_OP_PROFILE_SET = 4,
    MS_OP_PROFILE_DEL = 5,
};

/* One operation of the op log. For ADD/UPDATE `item` is the full state
 * after the operation; for DELETE only `id`; for profile ops key/value. */
typedef struct ms_op {
    uint64_t seq;
    int kind;
    int64_t ts_ms;
    vt_mem_item item;
    uint64_t id;
    char *key, *value;
} ms_op;

/* Validate an item against the hard format limits (VT_MEM_MAX_*) and the
 * configured text limit; returns 0, VT_ERR_INVAL, VT_ERR_TOOBIG or
 * VT_ERR_RANGE with a detail. */
int ms_item_check(const vt_mem_item *it, size_t max_text, vt_errinfo *ei);

void ms_item_encode(ms_buf *b, const vt_mem_item *it);
/* Decode one record; the item's strings and vectors are newly allocated
 * (vt_mem_item_clear frees them). Trailing bytes are an error. */
int ms_item_decode(const uint8_t *p, size_t n, vt_mem_item *it);

void ms_op_encode(ms_buf *b, const ms_op *op);
int ms_op_decode(const uint8_t *p, size_t n, ms_op *op);
void ms_op_clear(ms_op *op);

/* Deep copy; 0 or VT_ERR_NOMEM. */
int ms_item_copy(vt_mem_item *dst, const vt_mem_item *src);

#endif
