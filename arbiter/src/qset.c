/* qset.c - the scheduler's in-memory copy of the quarantine set: a sorted
 * array of public keys (vt_arbiter.h). */
#include <stdlib.h>
#include <string.h>

#include "vt_arbiter.h"

void vt_arb_qset_init(vt_arb_qset *s)
{
    memset(s, 0, sizeof *s);
}

void vt_arb_qset_free(vt_arb_qset *s)
{
    free(s->pk);
    vt_arb_qset_init(s);
}

/* Index of the first entry >= pk. */
static size_t lower_bound(const vt_arb_qset *s, const uint8_t pk[VT_PUBKEY_BYTES])
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(s->pk[mid], pk, VT_PUBKEY_BYTES) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool vt_arb_qset_has(const vt_arb_qset *s, const uint8_t pk[VT_PUBKEY_BYTES])
{
    size_t i = lower_bound(s, pk);
    return i < s->n && memcmp(s->pk[i], pk, VT_PUBKEY_BYTES) == 0;
}

static int reserve(vt_arb_qset *s, size_t want)
{
    if (want <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 16;
    while (cap < want)
        cap *= 2;
    void *p = realloc(s->pk, cap * VT_PUBKEY_BYTES);
    if (!p)
        return VT_ERR_NOMEM;
    s->pk = p;
    s->cap = cap;
    return 0;
}

int vt_arb_qset_add(vt_arb_qset *s, const uint8_t pk[VT_PUBKEY_BYTES])
{
    size_t i = lower_bound(s, pk);
    if (i < s->n && memcmp(s->pk[i], pk, VT_PUBKEY_BYTES) == 0)
        return 0;
    if (reserve(s, s->n + 1))
        return VT_ERR_NOMEM;
    memmove(s->pk[i + 1], s->pk[i], (s->n - i) * VT_PUBKEY_BYTES);
    memcpy(s->pk[i], pk, VT_PUBKEY_BYTES);
    s->n++;
    return 0;
}

void vt_arb_qset_remove(vt_arb_qset *s, const uint8_t pk[VT_PUBKEY_BYTES])
{
    size_t i = lower_bound(s, pk);
    if (i >= s->n || memcmp(s->pk[i], pk, VT_PUBKEY_BYTES) != 0)
        return;
    memmove(s->pk[i], s->pk[i + 1], (s->n - i - 1) * VT_PUBKEY_BYTES);
    s->n--;
}

int vt_arb_qset_assign(vt_arb_qset *s, const vt_arb_qinfo *q, size_t n)
{
    if (reserve(s, n))
        return VT_ERR_NOMEM;
    s->n = 0;
    for (size_t i = 0; i < n; i++)
        vt_arb_qset_add(s, q[i].pk); /* capacity reserved: cannot fail */
    return 0;
}
