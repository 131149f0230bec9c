#include "crl_entry.h"

#include <stdlib.h>
#include <string.h>

crl_entry_t *crl_entries_push(crl_entries_t *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        crl_entry_t *v;

        if (cap > SIZE_MAX / sizeof(crl_entry_t)) {
            return NULL;
        }
        v = realloc(a->v, cap * sizeof(crl_entry_t));
        if (v == NULL) {
            return NULL;
        }
        a->v = v;
        a->cap = cap;
    }
    memset(&a->v[a->n], 0, sizeof(crl_entry_t));
    return &a->v[a->n++];
}

void crl_entries_free(crl_entries_t *a)
{
    free(a->v);
    memset(a, 0, sizeof(*a));
}

/*
 * LSD radix sort on the serial octets that vary: far faster than qsort for
 * a million entries, and stable, which keeps "the later one wins" simple.
 */
static int crl_radix(crl_entries_t *a)
{
    crl_entry_t *tmp, *src, *dst, *t;
    size_t count[256];
    int first = CRL_SERIAL_LEN;

    /* Octets before the first one that ever differs from zero are all
     * zero: random 16-octet serials only need 16 passes, small ones 2-3. */
    for (size_t i = 0; i < a->n; i++) {
        for (int k = 0; k < first; k++) {
            if (a->v[i].serial[k] != 0) {
                first = k;
                break;
            }
        }
    }
    tmp = malloc(a->n * sizeof(crl_entry_t));
    if (tmp == NULL) {
        return -1;
    }
    src = a->v;
    dst = tmp;
    for (int k = CRL_SERIAL_LEN - 1; k >= first; k--) {
        size_t sum = 0;

        memset(count, 0, sizeof(count));
        for (size_t i = 0; i < a->n; i++) {
            count[src[i].serial[k]]++;
        }
        for (int b = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < a->n; i++) {
            dst[count[src[i].serial[k]]++] = src[i];
        }
        t = src;
        src = dst;
        dst = t;
    }
    if (src != a->v) {
        memcpy(a->v, src, a->n * sizeof(crl_entry_t));
    }
    free(tmp);
    return 0;
}

static int crl_entry_cmp(const void *x, const void *y)
{
    return memcmp(((const crl_entry_t *)x)->serial,
                  ((const crl_entry_t *)y)->serial, CRL_SERIAL_LEN);
}

void crl_entries_sort(crl_entries_t *a)
{
    size_t w = 0;

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
    if (crl_radix(a) != 0) {
        qsort(a->v, a->n, sizeof(crl_entry_t), crl_entry_cmp);
    }
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

static int crl_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int crl_serial_from_hex(const char *hex, size_t len, unsigned char *out)
{
    /* Canonical: 1..40 lower-case digits, no leading zero, not zero. */
    if (len == 0 || len > 2 * CRL_SERIAL_LEN || hex[0] == '0') {
        return -1;
    }
    memset(out, 0, CRL_SERIAL_LEN);
    for (size_t i = 0; i < len; i++) {
        int v = crl_hexval(hex[len - 1 - i]);
        if (v < 0) {
            return -1;
        }
        out[CRL_SERIAL_LEN - 1 - i / 2] |= (unsigned char)(i & 1 ? v << 4 : v);
    }
    return 0;
}

size_t crl_serial_der(const unsigned char *serial, unsigned char *out)
{
    size_t k = 0, n = 0;

    while (k < CRL_SERIAL_LEN - 1 && serial[k] == 0) {
        k++;
    }
    if (serial[k] & 0x80) {
        out[n++] = 0; /* X.690 8.3: keep the INTEGER positive */
    }
    memcpy(out + n, serial + k, CRL_SERIAL_LEN - k);
    return n + CRL_SERIAL_LEN - k;
}
