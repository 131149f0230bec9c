#include "crl_mem.h"

#include <stdint.h>
#include <sys/mman.h>

#define CRL_HUGE_PAGE ((uintptr_t)2 << 20)

void crl_mem_hint(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    uintptr_t lo = ((uintptr_t)p + CRL_HUGE_PAGE - 1) & ~(CRL_HUGE_PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(CRL_HUGE_PAGE - 1);

    if (p == NULL || len < CRL_MEM_HUGE_MIN || hi <= lo) {
        return;
    }
    (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}
