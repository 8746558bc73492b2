/* vt_hugemem.c - see vt_hugemem.h. */
#include "vt_hugemem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *vt_hugemem_alloc(vt_hugemem *h, size_t bytes)
{
    h->map = NULL;
    h->len = 0;
    if (bytes == 0 || bytes > SIZE_MAX - 2 * HUGE_PAGE)
        return NULL;
    /* one page more than needed, so that a 2 MiB boundary falls inside */
    size_t len = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    h->map = map;
    h->len = len;
    uint8_t *start = (uint8_t *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    (void)madvise(start, len - (size_t)(start - (uint8_t *)map), MADV_HUGEPAGE); /* a hint */
    return start;
}

void vt_hugemem_free(vt_hugemem *h)
{
    if (h->map)
        munmap(h->map, h->len);
    h->map = NULL;
    h->len = 0;
}

int vt_hugemem_thp_enabled(void)
{
    char buf[128] = {0};
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "[always]") != NULL || strstr(buf, "[madvise]") != NULL;
}
