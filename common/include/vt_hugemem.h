/* vt_hugemem.h - anonymous memory advised into 2 MiB transparent huge pages.
 *
 * For data read in long streams (the engine's weights, the bench's
 * bandwidth probe): with 4 KiB pages such a walk takes a TLB miss every
 * 4 KiB. The advice is a hint; the kernel may still hand out small pages.
 */
#ifndef VT_HUGEMEM_H
#define VT_HUGEMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_hugemem {
    void *map; /* the whole mapping (NULL: none) */
    size_t len;
} vt_hugemem;

/* Maps at least `bytes` of zeroed memory and returns its start, aligned to
 * 2 MiB and advised MADV_HUGEPAGE; NULL when the mapping fails. Release
 * with vt_hugemem_free. */
void *vt_hugemem_alloc(vt_hugemem *h, size_t bytes);
void vt_hugemem_free(vt_hugemem *h);

/* Whether the kernel grants transparent huge pages to madvise()
 * (/sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise"). */
int vt_hugemem_thp_enabled(void);

#ifdef __cplusplus
}
#endif

#endif
