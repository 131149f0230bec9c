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
    memset(a, 0, sizeof(*a));
}

#if defined(__GNUC__)
/* both cache lines a 48-octet entry may straddle, for writing */
#define CRL_PREFETCH(e)                                                        \
    (__builtin_prefetch((e), 1), __builtin_prefetch((char *)(e) + 47, 1))
#else
#define CRL_PREFETCH(e) ((void)(e))
#endif

static int crl_entry_cmp(const void *x, const void *y)
{
    return memcmp(((const crl_entry_t *)x)->serial,
                  ((const crl_entry_t *)y)->serial, CRL_SERIAL_LEN);
}

/* memcmp() of two serials, inline: the insertion sorts of the radix
 * sort's small buckets compare ~20 million times per million entries. */
static inline int crl_serial_cmp(const unsigned char *a, const unsigned char *b)
{
    uint64_t x, y;
    uint32_t u, w;

    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    if (x == y) {
        memcpy(&x, a + 8, 8);
        memcpy(&y, b + 8, 8);
    }
    if (x != y) {
        return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
    }
    memcpy(&u, a + 16, 4);
    memcpy(&w, b + 16, 4);
    if (u != w) {
        return __builtin_bswap32(u) < __builtin_bswap32(w) ? -1 : 1;
    }
    return 0;
}
_Static_assert(CRL_SERIAL_LEN == 20, "crl_serial_cmp() compares 20 octets");

/* Insertion sort of v[0..n) (and q alongside) by serial, then arrival. */
static void crl_isort(crl_entry_t *v, uint32_t *q, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        crl_entry_t e;
        uint32_t eq;
        size_t j = i;
        int c = crl_serial_cmp(v[i - 1].serial, v[i].serial);

        if (c < 0 || (c == 0 && q[i - 1] < q[i])) {
            continue;
        }
        e = v[i];
        eq = q[i];
        do {
            v[j] = v[j - 1];
            q[j] = q[j - 1];
            j--;
        } while (j > 0 &&
                 ((c = crl_serial_cmp(v[j - 1].serial, e.serial)) > 0 ||
                  (c == 0 && q[j - 1] > eq)));
        v[j] = e;
        q[j] = eq;
    }
}

/*
 * In-place MSD radix sort (American flag sort: McIlroy, Bostic and
 * McIlroy, "Engineering radix sort", 1993) of v[0..n) on serial octets k..
 * (all equal before k), Q permuted alongside.  No scratch copy of the
 * entries: 48 MB per million saved against a stable out-of-place sort.  It
 * is not stable, so equal serials are ordered by Q, their arrival, once
 * their buckets are small.  Octets every entry shares are skipped, so
 * small serials cost no more than random ones; with 8-bit digits a million
 * random serials take two passes (the second within cache-sized buckets),
 * then insertion sorts of ~15.
 */
static void crl_afs(crl_entry_t *v, uint32_t *q, size_t n, int k)
{
    size_t count[256], next[256], end[256], d, sum = 0;

    if (n <= 32) {
        crl_isort(v, q, n);
        return;
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
        crl_isort(v, q, n); /* all equal: arrival order */
        return;
    }
    memset(count, 0, sizeof(count));
    for (size_t i = 0; i < n; i++) {
        count[v[i].serial[k]]++;
    }
    for (size_t b = 0; b < 256; b++) {
        next[b] = sum;
        sum += count[b];
        end[b] = sum;
        CRL_PREFETCH(&v[next[b]]);
    }
    /* Each swap puts one entry into its bucket for good. */
    for (size_t b = 0; b < 256; b++) {
        while (next[b] < end[b]) {
            size_t i = next[b], t = v[i].serial[k];

            while (t != b) {
                size_t j = next[t]++;
                crl_entry_t e = v[i];

                /* Bucket t's next slot, where its next entry goes: with
                 * it fetched ahead, each swap hits the cache rather than
                 * waiting on memory (256 slots, 16 KB). */
                CRL_PREFETCH(&v[next[t]]);
                uint32_t eq = q[i];

                v[i] = v[j];
                q[i] = q[j];
                v[j] = e;
                q[j] = eq;
                t = v[i].serial[k];
            }
            next[b]++;
        }
    }
    for (size_t b = 0, at = 0; b < 256; at = end[b], b++) {
        if (end[b] - at > 1) {
            crl_afs(v + at, q + at, end[b] - at, k + 1);
        }
    }
}

void crl_entries_sort(crl_entries_t *a)
{
    uint32_t *q = NULL;
    size_t w = 0;

    if (a->n < 2) {
        return;
    }
    /* Already sorted and unique (a snapshot): nothing to do. */
    for (w = 1; w < a->n; w++) {
        if (crl_serial_cmp(a->v[w - 1].serial, a->v[w].serial) >= 0) {
            break;
        }
    }
    if (w == a->n) {
        return;
    }
    w = 0;
    /* Arrival order, 4 octets an entry: what makes the later one of equal
     * serials win. */
    if (a->n <= UINT32_MAX) {
        q = malloc(a->n * sizeof(*q));
    }
    if (q == NULL) {
        /* not stable: duplicates are rare (a rehash during a scan) */
        qsort(a->v, a->n, sizeof(crl_entry_t), crl_entry_cmp);
    } else {
        crl_mem_hint(q, a->n * sizeof(*q));
        for (size_t i = 0; i < a->n; i++) {
            q[i] = (uint32_t)i;
        }
        crl_afs(a->v, q, a->n, 0);
        free(q);
    }
    for (size_t i = 0; i < a->n; i++) {
        if (w > 0 && crl_serial_cmp(a->v[w - 1].serial, a->v[i].serial) == 0) {
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
