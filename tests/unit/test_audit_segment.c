/* Archive segments (audit_segment.h, docs/audit.md "Segment format"):
 * what the writer builds the reader reads back, and every byte changed,
 * removed or a record moved is refused naming the record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_segment.h"
#include "check.h"

static const char cp_sig[] = "not a real signature";

/* A segment of N entries after the genesis: ids 1000-i, bytes "event i". */
static void build(ocsp_audit_segw_t *w, int n)
{
    unsigned char g[OCSP_AUDIT_LINK_LEN];
    ocsp_audit_checkpoint_t cp;
    char id[32], f[32], c[OCSP_AUDIT_CHECKPOINT_MAX];
    int cl;

    ocsp_audit_genesis(g);
    CHECK(ocsp_audit_segw_begin(w, 0, "0-0", g, 1 << 20) == 0);
    for (int i = 0; i < n; i++) {
        int il = snprintf(id, sizeof(id), "1000-%d", i);
        int fl = snprintf(f, sizeof(f), "event %d", i);
        CHECK(ocsp_audit_segw_add(w, id, (size_t)il, (unsigned char *)f,
                                  (size_t)fl) == 0);
    }
    /* not after the last: refused */
    CHECK(ocsp_audit_segw_add(w, "999-0", 5, (unsigned char *)"x", 1) == -1);
    ocsp_audit_segw_checkpoint(w, 1234, &cp);
    cl = ocsp_audit_checkpoint_encode(&cp, c, sizeof(c));
    CHECK(cl > 0);
    CHECK(ocsp_audit_segw_finish(w, c, (size_t)cl,
                                 (const unsigned char *)cp_sig,
                                 sizeof(cp_sig) - 1) == 0);
}

/* 0 when P[0..LEN) reads whole; -1 with the reader's message in err. */
static int read_all(const unsigned char *p, size_t len, uint64_t *n, char *err)
{
    ocsp_audit_seg_t s;
    ocsp_audit_seg_rec_t rec;
    int rc;

    if (ocsp_audit_seg_open_mem(&s, p, len) != 0) {
        strcpy(err, s.err);
        return -1;
    }
    while ((rc = ocsp_audit_seg_next(&s, &rec)) == 1) {
    }
    *n = s.n;
    strcpy(err, s.err);
    ocsp_audit_seg_close(&s);
    return rc;
}

static void test_roundtrip(void)
{
    ocsp_audit_segw_t w;
    ocsp_audit_seg_t s;
    ocsp_audit_seg_rec_t rec;
    unsigned char link[OCSP_AUDIT_LINK_LEN];
    int i = 0;

    build(&w, 5);
    CHECK(ocsp_audit_seg_open_mem(&s, w.buf, w.len) == 0);
    CHECK(strcmp(s.prev_id, "0-0") == 0 && s.first_count == 0);
    ocsp_audit_genesis(link);
    while (ocsp_audit_seg_next(&s, &rec) == 1) {
        char id[32];
        snprintf(id, sizeof(id), "1000-%d", i);
        CHECK(rec.idlen == strlen(id) && memcmp(rec.id, id, rec.idlen) == 0);
        CHECK(ocsp_audit_link(link, rec.id, rec.idlen, rec.field, rec.flen,
                              link) == 0);
        CHECK(memcmp(link, rec.link, sizeof(link)) == 0);
        CHECK(rec.index == (uint64_t)i + 1);
        i++;
    }
    CHECK(i == 5 && s.done);
    CHECK(s.cp.count == 5 && strcmp(s.cp.last_id, "1000-4") == 0);
    CHECK(memcmp(s.cp.head, link, sizeof(link)) == 0);
    CHECK(s.sig_len == sizeof(cp_sig) - 1 &&
          memcmp(s.sig, cp_sig, s.sig_len) == 0);
    CHECK(ocsp_audit_seg_next(&s, &rec) == 0);
    ocsp_audit_seg_close(&s);
    ocsp_audit_segw_free(&w);
}

static void test_every_byte(void)
{
    ocsp_audit_segw_t w;
    char err[OCSP_ERR_MAX];
    uint64_t n;

    build(&w, 3);
    CHECK(read_all(w.buf, w.len, &n, err) == 0 && n == 3);
    /* Every single byte flipped is refused, except inside the signature
     * (checked by the caller with the certificate). */
    for (size_t i = 0; i < w.len - (sizeof(cp_sig) - 1); i++) {
        w.buf[i] ^= 0x01;
        if (read_all(w.buf, w.len, &n, err) != -1) {
            /* only the checkpoint's time, which its signature covers, and
             * the header's previous id ("0-0" at 24..26), which the caller
             * checks against the segment before */
            const unsigned char *t = memmem(w.buf, w.len, "time=", 5);
            CHECK((i >= 24 && i <= 26) ||
                  (t != NULL && i >= (size_t)(t - w.buf) + 5 &&
                   i < (size_t)(t - w.buf) + 9));
        }
        w.buf[i] ^= 0x01;
    }
    /* Every truncation too. */
    for (size_t l = 0; l < w.len; l++) {
        CHECK(read_all(w.buf, l, &n, err) == -1);
    }
    ocsp_audit_segw_free(&w);
}

static void test_names(void)
{
    char name[OCSP_AUDIT_SEG_NAME_MAX];

    CHECK(ocsp_audit_seg_name("1700000000000-3", name) == 0);
    CHECK(strcmp(name, "audit-00000001700000000000-00000000000000000003.seg") ==
          0);
    CHECK(ocsp_audit_seg_name_check(name) == 0);
    CHECK(ocsp_audit_seg_name_check("audit-1-2.seg") == -1);
    CHECK(ocsp_audit_seg_name_check(
              ".audit-00000001700000000000-00000000000000000003.seg") == -1);
    /* names sort as ids do */
    {
        char a[OCSP_AUDIT_SEG_NAME_MAX], b[OCSP_AUDIT_SEG_NAME_MAX];
        CHECK(ocsp_audit_seg_name("9-0", a) == 0);
        CHECK(ocsp_audit_seg_name("10-0", b) == 0);
        CHECK(strcmp(a, b) < 0);
    }
}

static void test_size_bound(void)
{
    ocsp_audit_segw_t w;
    unsigned char g[OCSP_AUDIT_LINK_LEN], f[4000];
    char id[32];
    int i, full = 0;

    memset(f, 'x', sizeof(f));
    ocsp_audit_genesis(g);
    CHECK(ocsp_audit_segw_begin(&w, 7, "5-5", g, 65536) == 0);
    for (i = 0; i < 100 && !full; i++) {
        int il = snprintf(id, sizeof(id), "6-%d", i);
        int r = ocsp_audit_segw_add(&w, id, (size_t)il, f, sizeof(f));
        CHECK(r >= 0);
        full = r == 1;
    }
    CHECK(full && w.len < 65536 && w.n > 1);
    ocsp_audit_segw_free(&w);
}

int main(void)
{
    test_roundtrip();
    test_every_byte();
    test_names();
    test_size_bound();
    CHECK_DONE();
}
