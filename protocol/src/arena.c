/* arena.c - chunked bump allocator for decoded messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define CHUNK_MIN 4096

struct chunk {
    struct chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char mem[];
};

struct vt_arena {
    struct chunk *head;
};

struct vt_arena *vt_arena_new(void) { return calloc(1, sizeof(struct vt_arena)); }

void *vt_arena_alloc(struct vt_arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size)
        return NULL;
    struct chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t csize = need > CHUNK_MIN ? need : CHUNK_MIN;
        if (csize > SIZE_MAX - sizeof(struct chunk))
            return NULL;
        c = malloc(sizeof(struct chunk) + csize);
        if (!c)
            return NULL;
        c->used = 0;
        c->size = csize;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->mem + c->used;
    c->used += need;
    memset(p, 0, size);
    return p;
}

void *vt_arena_calloc(struct vt_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    return vt_arena_alloc(a, bytes ? bytes : 1);
}

void vt_arena_free(struct vt_arena *a)
{
    if (!a)
        return;
    for (struct chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}
