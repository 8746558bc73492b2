/* ms_buf.h - growable byte buffer and a bounded cursor for memsync's
 * canonical binary encodings (item records and op-log entries).
 *
 * Integers are written big-endian so the bytes are the same on every host;
 * float32 values are written as their IEEE-754 bit pattern, also big-endian.
 * The cursor never reads past its end: every getter checks what is left and
 * returns VT_ERR_TRUNCATED instead. */
#ifndef MS_BUF_H
#define MS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ms_buf {
    uint8_t *p;
    size_t len, cap;
    int oom; /* sticky: set when a grow failed; check once at the end */
} ms_buf;

void ms_buf_free(ms_buf *b);
void ms_buf_put(ms_buf *b, const void *src, size_t n);
void ms_buf_u8(ms_buf *b, uint8_t v);
void ms_buf_u16(ms_buf *b, uint16_t v);
void ms_buf_u32(ms_buf *b, uint32_t v);
void ms_buf_u64(ms_buf *b, uint64_t v);
void ms_buf_f32(ms_buf *b, float v);
/* u32 length, then the bytes. */
void ms_buf_str(ms_buf *b, const char *s, size_t n);

typedef struct ms_cur {
    const uint8_t *p;
    size_t left;
} ms_cur;

int ms_cur_u8(ms_cur *c, uint8_t *v);
int ms_cur_u16(ms_cur *c, uint16_t *v);
int ms_cur_u32(ms_cur *c, uint32_t *v);
int ms_cur_u64(ms_cur *c, uint64_t *v);
int ms_cur_f32(ms_cur *c, float *v);
/* Length-prefixed string: *s points into the cursor's bytes (not
 * NUL-terminated); max bounds the announced length. */
int ms_cur_str(ms_cur *c, const char **s, uint32_t *n, uint32_t max);

#endif
