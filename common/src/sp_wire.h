/* sp_wire.h - byte helpers shared by vt_sp.c (REQ) and vt_sp_rep.c (REP);
 * internal to vt_common. */
#ifndef VT_SP_WIRE_H
#define VT_SP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void sp_put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t sp_get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Bytes read from a connection and not consumed yet: p[off, off + len). */
typedef struct sp_rx {
    uint8_t *p;
    size_t off, len, cap;
} sp_rx;

/* Room for `need` more bytes after the unconsumed ones: compacts first,
 * then doubles from `chunk`. */
static inline int sp_rx_reserve(sp_rx *b, size_t need, size_t chunk)
{
    if (b->off + b->len + need <= b->cap)
        return 0;
    if (b->off) {
        memmove(b->p, b->p + b->off, b->len);
        b->off = 0;
        if (b->len + need <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : chunk;
    while (cap < b->len + need)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline void sp_rx_consume(sp_rx *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
}

#endif
