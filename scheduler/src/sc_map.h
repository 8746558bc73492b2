/* sc_map.h - open-addressing hash map from a 64-bit key to a 32-bit value.
 *
 * Used for job id -> job slot and (agent, request token) digest -> job slot.
 * Linear probing with backward-shift deletion (no tombstones), so lookups
 * stay short however many inserts and deletes have happened. Key 0 is
 * reserved as "empty": callers never use 0 as a key (job ids start at 1,
 * token digests are forced non-zero).
 *
 * Not thread-safe: the scheduler core lock guards it.
 */
#ifndef SC_MAP_H
#define SC_MAP_H

#include <stdint.h>
#include <stddef.h>

typedef struct sc_map_entry {
    uint64_t key;
    uint32_t val;
} sc_map_entry;

typedef struct sc_map {
    sc_map_entry *tab;
    size_t cap;   /* power of two */
    size_t count;
} sc_map;

int sc_map_init(sc_map *m, size_t initial_cap);
void sc_map_free(sc_map *m);
/* Insert or overwrite. Returns 0 or VT_ERR_NOMEM. */
int sc_map_put(sc_map *m, uint64_t key, uint32_t val);
/* Returns 1 and sets *val when found, else 0. */
int sc_map_get(const sc_map *m, uint64_t key, uint32_t *val);
/* Returns 1 when the key was present. */
int sc_map_del(sc_map *m, uint64_t key);

#endif
