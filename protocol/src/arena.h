/* arena.h - bump allocator that owns every pointer in a decoded vt_msg.
 * One vt_msg_free releases it all, so decoders never leak on error paths. */
#ifndef VT_ARENA_H
#define VT_ARENA_H

#include <stddef.h>

struct vt_arena;

struct vt_arena *vt_arena_new(void);
/* Zeroed, 16-byte aligned. NULL on overflow or out of memory. */
void *vt_arena_alloc(struct vt_arena *a, size_t size);
/* Zeroed array of n elements of size bytes, overflow-checked. */
void *vt_arena_calloc(struct vt_arena *a, size_t n, size_t size);
void vt_arena_free(struct vt_arena *a);

#endif
