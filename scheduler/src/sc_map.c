/* sc_map.c - see sc_map.h. */
#include "sc_map.h"

#include <stdlib.h>

#include "vt_err.h"

/* A 64-bit finaliser (splitmix64): job ids are sequential, so without mixing
 * they would cluster in one run of the table. */
static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

int sc_map_init(sc_map *m, size_t initial_cap)
{
    size_t cap = 16;
    while (cap < initial_cap)
        cap <<= 1;
    m->tab = calloc(cap, sizeof(*m->tab));
    if (!m->tab)
        return VT_ERR_NOMEM;
    m->cap = cap;
    m->count = 0;
    return 0;
}

void sc_map_free(sc_map *m)
{
    free(m->tab);
    m->tab = NULL;
    m->cap = m->count = 0;
}

static void put_nogrow(sc_map *m, uint64_t key, uint32_t val)
{
    size_t i = slot_of(key, m->cap);
    for (;;) {
        if (m->tab[i].key == key) {
            m->tab[i].val = val;
            return;
        }
        if (m->tab[i].key == 0) {
            m->tab[i].key = key;
            m->tab[i].val = val;
            m->count++;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

static int grow(sc_map *m)
{
    sc_map bigger;
    if (sc_map_init(&bigger, m->cap * 2) != 0)
        return VT_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->tab[i].key)
            put_nogrow(&bigger, m->tab[i].key, m->tab[i].val);
    free(m->tab);
    *m = bigger;
    return 0;
}

int sc_map_put(sc_map *m, uint64_t key, uint32_t val)
{
    /* Keep the load factor under 1/2 so probe runs stay short. */
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return VT_ERR_NOMEM;
    put_nogrow(m, key, val);
    return 0;
}

int sc_map_get(const sc_map *m, uint64_t key, uint32_t *val)
{
    size_t i = slot_of(key, m->cap);
    while (m->tab[i].key) {
        if (m->tab[i].key == key) {
            *val = m->tab[i].val;
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

int sc_map_del(sc_map *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    size_t i = slot_of(key, m->cap);
    while (m->tab[i].key && m->tab[i].key != key)
        i = (i + 1) & mask;
    if (!m->tab[i].key)
        return 0;
    /* Backward shift: move later members of the run into the hole when
     * their home slot does not lie cyclically in (hole, j]. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->tab[j].key)
            break;
        size_t home = slot_of(m->tab[j].key, m->cap);
        int home_in_range = (hole <= j) ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!home_in_range) {
            m->tab[hole] = m->tab[j];
            hole = j;
        }
    }
    m->tab[hole].key = 0;
    m->tab[hole].val = 0;
    m->count--;
    return 1;
}
