#include "crl_entry.h"

#include <stdlib.h>
#include <string.h>

#include "crl_mem.h"

/* Grows a to room for CAP entries. */
static int crl_entries_grow(crl_entries_t *a, size_t cap)
{
    crl_entry_t *v;

    if (cap > SIZE_MAX / sizeof(crl_entry_t)) {
        return -1;
    }
    v = realloc(a->v, cap * sizeof(crl_entry_t));
    if (v == NULL) {
        return -1;
    }
    crl_mem_hint(v, cap * sizeof(crl_entry_t));
    a->v = v;
    a->cap = cap;
    return 0;
}

int crl_entries_reserve(crl_entries_t *a, size_t more)
{
    if (more <= a->cap - a->n) {
        return 0;
    }
    if (more > SIZE_MAX - a->n) {
        return -1;
    }
    return crl_entries_grow(a, a->n + more);
}

crl_entry_t *crl_entries_push(crl_entries_t *a)
{
    if (a->n == a->cap &&
        (a->cap > SIZE_MAX / 2 ||
         crl_entries_grow(a, a->cap ? a->cap * 2 : 1024) != 0)) {
        return NULL;
    }
    memset(&a->v[a->n], 0, sizeof(crl_entry_t));
    return &a->v[a->n++];
}

void crl_entries_free(crl_entries_t *a)
{
    free(a->v);
    free(a->spare);
    memset(a, 0, sizeof(*a));
}

int crl_entries_spare(crl_entries_t *a, size_t n)
{
    if (a->spare != NULL || n == 0 || n > SIZE_MAX / sizeof(crl_entry_t)) {
        return -1;
    }
    a->spare = malloc(n * sizeof(crl_entry_t));
    if (a->spare == NULL) {
        return -1;
    }
    crl_mem_hint(a->spare, n * sizeof(crl_entry_t));
    a->spare_cap = n;
    a->spare_ready = 0;
    return 0;
}

void crl_entries_prefault(crl_entries_t *a)
{
    size_t to = a->n < a->spare_cap ? a->n : a->spare_cap;
    volatile unsigned char *p = (unsigned char *)a->spare;

    if (a->spare == NULL || to <= a->spare_ready) {
        return;
    }
    /* one write per page; the sort overwrites it all anyway */
    for (size_t off = a->spare_ready * sizeof(crl_entry_t);
         off < to * sizeof(crl_entry_t); off += 4096) {
        p[off] = 0;
    }
    a->spare_ready = to;
}

static int crl_entry_cmp(const void *x, const void *y)
{
    return memcmp(((const crl_entry_t *)x)->serial,
                  ((const crl_entry_t *)y)->serial, CRL_SERIAL_LEN);
}

/* Stable insertion sort of v[0..n) on serial octets k.. */
static void crl_isort(crl_entry_t *v, size_t n, int k)
{
    for (size_t i = 1; i < n; i++) {
        crl_entry_t e;
        size_t j = i;

        if (memcmp(v[i - 1].serial + k, v[i].serial + k, CRL_SERIAL_LEN - k) <=
            0) {
            continue;
        }
        e = v[i];
        do {
            v[j] = v[j - 1];
            j--;
        } while (j > 0 && memcmp(v[j - 1].serial + k, e.serial + k,
                                 CRL_SERIAL_LEN - k) > 0);
        v[j] = e;
    }
}

/*
 * Stable MSD radix sort of v[0..n) on serial octets k.. (all equal before
 * k), with TMP (n entries) as scratch.  Octets every entry shares are
 * skipped, so small serials cost no more than random ones; buckets of a
 * 16-bit digit hold ~15 random serials per million, finished by insertion.
 * Returns 0 with v sorted, or 1 with the sorted entries in tmp instead
 * (only if TO_TMP: the caller swaps buffers rather than copying 48 MB back).
 */
static int crl_msd(crl_entry_t *v, crl_entry_t *tmp, size_t n, int k,
                   int to_tmp)
{
    size_t small[257], *count = small, nb, sum = 0, d;
    int wide;

    if (n <= 32) {
        crl_isort(v, n, k);
        return 0;
    }
    /* the first octet where some entry differs from v[0] */
    d = CRL_SERIAL_LEN;
    for (size_t i = 1; i < n && d > (size_t)k; i++) {
        size_t j = (size_t)k;

        while (j < d && v[i].serial[j] == v[0].serial[j]) {
            j++;
        }
        d = j;
    }
    k = (int)d;
    if (k >= CRL_SERIAL_LEN) {
        return 0; /* all equal */
    }
    wide = n >= 65536 && k + 1 < CRL_SERIAL_LEN;
    nb = wide ? 65536 : 256;
    if (wide) {
        count = calloc(nb + 1, sizeof(size_t));
        if (count == NULL) {
            /* sorted all the same; equal serials in any order */
            qsort(v, n, sizeof(crl_entry_t), crl_entry_cmp);
            return 0;
        }
    } else {
        memset(small, 0, sizeof(small));
    }
#define CRL_DIGIT(e)                                                           \
    (wide ? (size_t)(e).serial[k] << 8 | (e).serial[k + 1]                     \
          : (size_t)(e).serial[k])
    for (size_t i = 0; i < n; i++) {
        count[CRL_DIGIT(v[i]) + 1]++;
    }
    for (size_t b = 1; b <= nb; b++) {
        count[b] += count[b - 1];
    }
    for (size_t i = 0; i < n; i++) {
        tmp[count[CRL_DIGIT(v[i])]++] = v[i];
    }
#undef CRL_DIGIT
    /* count[b] is now the end of bucket b */
    for (size_t b = 0; b < nb; b++) {
        size_t end = count[b], m = end - sum;

        if (m > 1) {
            crl_msd(tmp + sum, v + sum, m, k + (wide ? 2 : 1), 0);
        }
        sum = end;
    }
    if (count != small) {
        free(count);
    }
    if (to_tmp) {
        return 1;
    }
    memcpy(v, tmp, n * sizeof(crl_entry_t));
    return 0;
}

void crl_entries_sort(crl_entries_t *a)
{
    crl_entry_t *tmp;
    size_t w = 0, cap;

    if (a->n < 2) {
        return;
    }
    /* Already sorted and unique (a snapshot): nothing to do. */
    for (w = 1; w < a->n; w++) {
        if (memcmp(a->v[w - 1].serial, a->v[w].serial, CRL_SERIAL_LEN) >= 0) {
            break;
        }
    }
    if (w == a->n) {
        return;
    }
    w = 0;
    if (a->spare != NULL && a->spare_cap >= a->n) {
        tmp = a->spare;
        cap = a->spare_cap;
    } else {
        tmp = malloc(a->n * sizeof(crl_entry_t));
        crl_mem_hint(tmp, a->n * sizeof(crl_entry_t));
        cap = a->n;
    }
    if (tmp == NULL) {
        /* not stable: duplicates are rare (a rehash during a scan) */
        qsort(a->v, a->n, sizeof(crl_entry_t), crl_entry_cmp);
    } else if (crl_msd(a->v, tmp, a->n, 0, 1) == 1) {
        if (tmp == a->spare) {
            a->spare = NULL;
        }
        free(a->v);
        a->v = tmp;
        a->cap = cap;
        tmp = NULL;
    }
    if (tmp != a->spare) {
        free(tmp);
    }
    /* the scratch is not kept: 48 MB per million entries */
    free(a->spare);
    a->spare = NULL;
    a->spare_cap = a->spare_ready = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (w > 0 &&
            memcmp(a->v[w - 1].serial, a->v[i].serial, CRL_SERIAL_LEN) == 0) {
            a->v[w - 1] = a->v[i];
            continue;
        }
        a->v[w++] = a->v[i];
    }
    a->n = w;
}

const crl_entry_t *crl_entries_find(const crl_entries_t *a,
                                    const unsigned char *serial)
{
    size_t lo = 0, hi = a->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(a->v[mid].serial, serial, CRL_SERIAL_LEN);
        if (c == 0) {
            return &a->v[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}
