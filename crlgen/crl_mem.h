/*
 * Big buffers (a million CRL entries, the DER of their CRL): on a VM a
 * first touch of a 4 KiB page can cost 10+ us, so 150 MB of fresh memory
 * would cost more than building the CRL.  Transparent huge pages cut the
 * faults 512-fold where the kernel offers them ("madvise" mode).
 */
#ifndef CRL_MEM_H
#define CRL_MEM_H

#include <stddef.h>

/* Below this a buffer is left alone. */
#define CRL_MEM_HUGE_MIN ((size_t)4 << 20)

/*
 * Asks for huge pages on the 2 MiB-aligned part of P[0..LEN) (any heap or
 * mmap memory the caller owns) before it is first written.  Only advice:
 * nothing changes if the kernel has no THP or refuses.
 */
void crl_mem_hint(void *p, size_t len);

#endif
