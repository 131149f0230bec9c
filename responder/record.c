#include "record.h"
#include "event.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "serial.h"

void ocsp_record_init(ocsp_record_t *r, char *serial)
{
    revoca__cert_record__init(r);
    r->serial = serial;
    r->status = REVOCA__STATUS__GOOD;
}

int ocsp_record_issued(const ocsp_record_t *r)
{
    return r->has_not_after;
}

static void record_clear_revocation(ocsp_record_t *r)
{
    r->has_revocation_time = 0;
    r->revocation_time = 0;
    r->has_reason = 0;
    r->reason = REVOCA__REASON__UNSPECIFIED;
    r->has_invalidity_date = 0;
    r->invalidity_date = 0;
}

static int apply_issued(ocsp_record_t *r, const Revoca__Issued *is)
{
    /* Two issue events for one serial: the later notAfter wins, so the
     * outcome does not depend on their order. */
    if (r->has_not_after && r->not_after >= is->not_after) {
        return 0;
    }
    r->has_not_before = 1;
    r->not_before = is->not_before;
    r->has_not_after = 1;
    r->not_after = is->not_after;
    r->has_shard = is->has_shard;
    r->shard = is->has_shard ? is->shard : 0;
    /* the subject was the replaced event's: the winner's is taken after
     * (ocsp_record_take_subject()) */
    r->subject = NULL;
    return 1;
}

int ocsp_subject_valid(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i >= OCSP_SUBJECT_MAX || s[i] < 0x20 || s[i] > 0x7e) {
            return 0;
        }
    }
    return i > 0;
}

int ocsp_subject_from_der(const unsigned char *der, size_t len,
                          const char *serial, const struct x509_st *issuer,
                          char *out)
{
    const unsigned char *p = der;
    char got[OCSP_SERIAL_HEX_MAX + 1];
    X509 *x = NULL;
    BIO *bio = NULL;
    char *mem;
    long n;
    int rv = -1;

    if (len > 64 * 1024 || (x = d2i_X509(NULL, &p, (long)len)) == NULL ||
        p != der + len ||
        ocsp_serial_from_asn1(X509_get0_serialNumber(x), got) != 0 ||
        strcmp(got, serial) != 0 ||
        (issuer != NULL &&
         X509_NAME_cmp(X509_get_issuer_name(x),
                       X509_get_subject_name((X509 *)issuer)) != 0) ||
        X509_NAME_entry_count(X509_get_subject_name(x)) == 0 ||
        (bio = BIO_new(BIO_s_mem())) == NULL ||
        /* RFC 4514 (XN_FLAG_RFC2253), bytes past ASCII as \XX: printable
         * ASCII only, for a table, CSV and JSON alike */
        X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) <
            0) {
        goto failed;
    }
    n = BIO_get_mem_data(bio, &mem);
    if (n <= 0) {
        goto failed;
    }
    if ((size_t)n > OCSP_SUBJECT_MAX) {
        memcpy(out, mem, OCSP_SUBJECT_MAX - 3);
        memcpy(out + OCSP_SUBJECT_MAX - 3, "...", 4);
    } else {
        memcpy(out, mem, (size_t)n);
        out[n] = '\0';
    }
    /* control characters are escaped by RFC 2253's rules only in part */
    for (char *c = out; *c != '\0'; c++) {
        if (*c < 0x20 || *c > 0x7e) {
            *c = '?';
        }
    }
    rv = 0;

failed:
    ERR_clear_error();
    BIO_free(bio);
    X509_free(x);
    return rv;
}

int ocsp_record_take_subject(ocsp_record_t *r, const ocsp_event_t *ev,
                             const char *subject, char *buf)
{
    if (subject == NULL || ev->kind_case != REVOCA__EVENT__KIND_ISSUED ||
        !r->has_not_after || r->not_after != ev->issued->not_after ||
        !ocsp_subject_valid(subject) ||
        (r->subject != NULL && strcmp(subject, r->subject) >= 0)) {
        return 0;
    }
    memmove(buf, subject, strlen(subject) + 1);
    r->subject = buf;
    return 1;
}

/* Unix seconds a record may hold: those an event may carry (event.h). */
static int time_ok(int has, int64_t t)
{
    return !has || (t >= 0 && t <= OCSP_TIME_MAX);
}

static const char *record_invalid(const ocsp_record_t *r)
{
    if (!time_ok(r->has_not_before, r->not_before) ||
        !time_ok(r->has_not_after, r->not_after) ||
        !time_ok(r->has_revocation_time, r->revocation_time) ||
        !time_ok(r->has_invalidity_date, r->invalidity_date) ||
        !time_ok(r->has_released_at, r->released_at) ||
        !time_ok(r->has_updated, r->updated)) {
        return "time out of range";
    }
    if (r->has_not_before && r->has_not_after && r->not_after < r->not_before) {
        return "bad validity period";
    }
    if (r->subject != NULL &&
        (!r->has_not_after || !ocsp_subject_valid(r->subject))) {
        return "bad subject";
    }
    switch (r->status) {
    case REVOCA__STATUS__GOOD:
        if (r->has_revocation_time || r->has_reason) {
            return "good with a revocation";
        }
        return NULL;
    case REVOCA__STATUS__REVOKED:
        /* an absent reason is unspecified (RFC 5280 5.3.1) */
        if (!r->has_revocation_time ||
            (r->has_reason && !ocsp_revocation_reason_valid((int)r->reason))) {
            return "revoked without a time or with an invalid reason";
        }
        return NULL;
    case REVOCA__STATUS__HELD:
        if (!r->has_revocation_time ||
            (r->has_reason && r->reason != REVOCA__REASON__CERTIFICATE_HOLD)) {
            return "held without a time or with a reason not "
                   "certificateHold";
        }
        return NULL;
    default:
        return "unknown status";
    }
}

/*
 * The stored record's decoder, written by hand for this one message
 * (CertRecord, feeds/revocation.proto): protobuf-c stays the schema and the
 * encoder (revoca__cert_record__pack), but its descriptor-driven unpack, one
 * malloc per field, and the re-pack to check the size were a third of the
 * CRL generator's time (issue 10).
 *
 * It accepts exactly the bytes that protobuf-c 1.4's
 * revoca__cert_record__unpack() accepts and whose
 * revoca__cert_record__get_packed_size() equals their length, and yields the
 * same values: tests/unit/test_record_codec.c and the fuzz_record target
 * run both over the same inputs.  So it keeps protobuf-c's quirks rather
 * than protobuf's specification where they differ:
 *  - enum values are not checked against the enum (record_invalid() does);
 *  - a uint32 or an enum keeps the low 32 bits of the varint, and an int64
 *    the low 64 bits of up to 10 bytes (rd_varint());
 *  - the last of a repeated field wins, unknown fields are kept (and
 *    re-packed by the signer) with their bytes as they came;
 *  - canonical is a total, not a per-field rule: the size protobuf-c would
 *    pack the decoded values in (record_packed_size()) equals the length.
 *    A negative enum in 5 bytes packs in 10, so it can make up for a
 *    non-minimal field elsewhere; record_invalid() refuses every negative
 *    enum, so no such record is ever used, but its reason stays the same.
 * Wire types are exact (a known field of another type is refused, as are
 * groups), every length is bounded by the buffer, varints by 10 bytes, tags
 * by 5 (protobuf-c 1.4.1: parse_tag_and_wiretype(), scan_varint(),
 * scan_length_prefixed_data(), parse_required_member()).
 */

/* revoca__cert_record__init()'s values, copied rather than called */
static const ocsp_record_t record_empty = REVOCA__CERT_RECORD__INIT;

/* A field of a number CertRecord does not have, as protobuf-c keeps it. */
typedef struct {
    uint32_t tag;
    uint8_t wire_type;
    size_t off, len; /* the bytes after the tag, length prefix included */
} rec_unknown_t;

/* Each field takes a tag byte and at least one more. */
#define REC_UNKNOWN_MAX (OCSP_RECORD_MAX / 2)

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

/* protobuf-c's parse_tag_and_wiretype(): at most 5 bytes, a first byte of
 * field number 0 refused (a longer tag of number 0 is an unknown field). */
static size_t rd_tag(const uint8_t *p, size_t rem, uint32_t *tag, unsigned *wt)
{
    size_t max = rem > 5 ? 5 : rem;
    uint32_t t = (p[0] & 0x7f) >> 3;
    unsigned shift = 4;

    if ((p[0] & 0xf8) == 0) {
        return 0;
    }
    *wt = p[0] & 7;
    if ((p[0] & 0x80) == 0) {
        *tag = t;
        return 1;
    }
    for (size_t i = 1; i < max; i++) {
        t |= (uint32_t)(p[i] & 0x7f) << shift;
        if ((p[i] & 0x80) == 0) {
            *tag = t;
            return i + 1;
        }
        shift += 7;
    }
    return 0;
}

/*
 * The varint at P: its length (1..10; 0 if it does not end within 10 bytes
 * or REM) and in *V its low 64 bits, as protobuf-c's parse_uint64() reads
 * them (the tenth byte gives bit 63 only).  The low 32 bits are what its
 * parse_uint32() reads for a uint32 or an enum, from any length.
 */
static size_t rd_varint(const uint8_t *p, size_t rem, uint64_t *v)
{
    size_t max = rem > 10 ? 10 : rem;
    uint64_t x = 0;

    for (size_t i = 0; i < max; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Bytes of V as a minimal varint: 7 bits a byte. */
static size_t u64_size(uint64_t v)
{
    return 1 + (size_t)(63 - __builtin_clzll(v | 1)) / 7;
}

static size_t u32_size(uint32_t v)
{
    return u64_size(v);
}

/* A negative enum packs sign-extended to 64 bits: 10 bytes. */
static size_t enum_size(int32_t v)
{
    return v < 0 ? 10 : u32_size((uint32_t)v);
}

/* protobuf-c's get_tag_size(): by field number, the wire type not in it. */
static size_t tag_size(uint32_t number)
{
    return number < 1u << 4    ? 1
           : number < 1u << 11 ? 2
           : number < 1u << 18 ? 3
           : number < 1u << 25 ? 4
                               : 5;
}

/* What revoca__cert_record__get_packed_size() returns for R (serial of
 * SLEN bytes and subject, if any, of SUBLEN, each up to its first NUL;
 * every field number < 16). */
static size_t record_packed_size(const ocsp_record_t *r, size_t slen,
                                 size_t sublen, const rec_unknown_t *unk,
                                 size_t nunk)
{
    size_t n =
        1 + u32_size((uint32_t)slen) + slen + 1 + enum_size((int32_t)r->status);

    n += r->has_not_before ? 1 + u64_size((uint64_t)r->not_before) : 0;
    n += r->has_not_after ? 1 + u64_size((uint64_t)r->not_after) : 0;
    n += r->has_shard ? 1 + u32_size(r->shard) : 0;
    n +=
        r->has_revocation_time ? 1 + u64_size((uint64_t)r->revocation_time) : 0;
    n += r->has_reason ? 1 + enum_size((int32_t)r->reason) : 0;
    n +=
        r->has_invalidity_date ? 1 + u64_size((uint64_t)r->invalidity_date) : 0;
    n += r->has_released_at ? 1 + u64_size((uint64_t)r->released_at) : 0;
    n += r->has_updated ? 1 + u64_size((uint64_t)r->updated) : 0;
    n += r->subject != NULL ? 1 + u32_size((uint32_t)sublen) + sublen : 0;
    for (size_t i = 0; i < nunk; i++) {
        n += tag_size(unk[i].tag) + unk[i].len;
    }
    return n;
}

static void set_i64(protobuf_c_boolean *has, int64_t *v, uint64_t x)
{
    *has = 1;
    *v = (int64_t)x;
}

/*
 * Decodes the LEN (<= OCSP_RECORD_MAX) bytes at P into R, the serial's
 * bytes (not NUL-terminated, maybe holding a NUL) left at *SERIAL, *SLEN,
 * the subject's likewise at *SUBJECT, *SUBLEN (*SUBJECT NULL: none) and
 * the unknown fields in UNK, *NUNK.  Returns -1 for what protobuf-c's unpack
 * refuses.
 */
static int record_scan(const uint8_t *p, size_t len, ocsp_record_t *r,
                       const uint8_t **serial, size_t *slen,
                       const uint8_t **subject, size_t *sublen,
                       rec_unknown_t *unk, size_t *nunk)
{
    int have_serial = 0, have_status = 0;
    size_t pos = 0;

    *nunk = 0;
    while (pos < len) {
        uint32_t tag;
        unsigned wt;
        size_t used = rd_tag(p + pos, len - pos, &tag, &wt);
        size_t rem, n, pre = 0;
        const uint8_t *v;
        uint64_t x = 0;

        if (used == 0) {
            return -1;
        }
        pos += used;
        rem = len - pos;
        v = p + pos;
        switch (wt) {
        case WT_VARINT:
            if ((n = rd_varint(v, rem, &x)) == 0) {
                return -1;
            }
            break;
        case WT_64BIT:
        case WT_32BIT:
            n = wt == WT_64BIT ? 8 : 4;
            if (rem < n) {
                return -1;
            }
            break;
        case WT_LEN: {
            /* protobuf-c's scan_length_prefixed_data(): 5 bytes at most,
             * in a size_t, so nothing falls off; bounded by REM */
            size_t max = rem < 5 ? rem : 5, plen = 0;

            for (pre = 0; pre < max; pre++) {
                plen |= (size_t)(v[pre] & 0x7f) << (7 * pre);
                if ((v[pre] & 0x80) == 0) {
                    break;
                }
            }
            if (pre == max) {
                return -1;
            }
            pre++;
            if (plen > rem - pre) {
                return -1;
            }
            n = pre + plen;
            break;
        }
        default:
            return -1; /* groups (3, 4) and 6, 7: protobuf-c has none */
        }
        pos += n;
        if (tag < 1 || tag > 11) {
            unk[*nunk].tag = tag;
            unk[*nunk].wire_type = (uint8_t)wt;
            unk[*nunk].off = (size_t)(v - p);
            unk[*nunk].len = n;
            ++*nunk;
            continue;
        }
        /* a known field of another wire type is refused */
        if (wt != (tag == 1 || tag == 11 ? WT_LEN : WT_VARINT)) {
            return -1;
        }
        switch (tag) {
        case 1:
            have_serial = 1;
            *serial = v + pre;
            *slen = n - pre;
            break;
        case 2:
            have_status = 1;
            r->status = (Revoca__Status)(int32_t)(uint32_t)x;
            break;
        case 3:
            set_i64(&r->has_not_before, &r->not_before, x);
            break;
        case 4:
            set_i64(&r->has_not_after, &r->not_after, x);
            break;
        case 5:
            r->has_shard = 1;
            r->shard = (uint32_t)x;
            break;
        case 6:
            set_i64(&r->has_revocation_time, &r->revocation_time, x);
            break;
        case 7:
            r->has_reason = 1;
            r->reason = (Revoca__Reason)(int32_t)(uint32_t)x;
            break;
        case 8:
            set_i64(&r->has_invalidity_date, &r->invalidity_date, x);
            break;
        case 9:
            set_i64(&r->has_released_at, &r->released_at, x);
            break;
        case 11:
            *subject = v + pre;
            *sublen = n - pre;
            break;
        default:
            set_i64(&r->has_updated, &r->updated, x);
            break;
        }
    }
    return have_serial && have_status ? 0 : -1; /* both required */
}

ocsp_record_t *ocsp_record_decode(const void *p, size_t len, const char *serial,
                                  ProtobufCAllocator *alloc, const char **why)
{
    ocsp_record_t tmp, *r;
    rec_unknown_t unk[REC_UNKNOWN_MAX];
    const uint8_t *sp = NULL, *subp = NULL;
    const char *nul, *subnul = NULL;
    size_t slen = 0, sublen = 0, nunk, unk_bytes = 0, size;
    unsigned char *block;

    if (len > OCSP_RECORD_MAX) {
        *why = "record too long";
        return NULL;
    }
    tmp = record_empty;
    if (record_scan(p, len, &tmp, &sp, &slen, &subp, &sublen, unk, &nunk) !=
        0) {
        *why = "record undecodable";
        return NULL;
    }
    nul = memchr(sp, '\0', slen);
    if (subp != NULL) {
        subnul = memchr(subp, '\0', sublen);
        tmp.subject = (char *)""; /* present, for the size */
    }
    if (record_packed_size(&tmp, nul ? (size_t)(nul - (const char *)sp) : slen,
                           subnul ? (size_t)(subnul - (const char *)subp)
                                  : sublen,
                           unk, nunk) != len) {
        /* a NUL inside the serial, a repeated field: not what the signer
         * packs, and the serial would compare equal up to the NUL */
        *why = "record not canonical";
        return NULL;
    }
    /* One block, freed by ocsp_record_free(): the record, its unknown
     * fields, the serial, the unknown fields' bytes, the subject. */
    for (size_t i = 0; i < nunk; i++) {
        unk_bytes += unk[i].len;
    }
    size = sizeof(*r) + nunk * sizeof(ProtobufCMessageUnknownField) + slen + 1 +
           unk_bytes + (subp != NULL ? sublen + 1 : 0);
    block = alloc ? alloc->alloc(alloc->allocator_data, size) : malloc(size);
    if (block == NULL) {
        *why = "out of memory";
        return NULL;
    }
    r = (ocsp_record_t *)(void *)block;
    *r = tmp;
    block += sizeof(*r);
    if (nunk) {
        unsigned char *data;

        r->base.n_unknown_fields = (unsigned)nunk;
        r->base.unknown_fields = (ProtobufCMessageUnknownField *)(void *)block;
        data = block + nunk * sizeof(ProtobufCMessageUnknownField) + slen + 1;
        for (size_t i = 0; i < nunk; i++) {
            ProtobufCMessageUnknownField *u = &r->base.unknown_fields[i];

            u->tag = unk[i].tag;
            u->wire_type = (ProtobufCWireType)unk[i].wire_type;
            u->len = unk[i].len;
            u->data = data;
            memcpy(data, (const uint8_t *)p + unk[i].off, unk[i].len);
            data += unk[i].len;
        }
        block += nunk * sizeof(ProtobufCMessageUnknownField);
    }
    r->serial = (char *)block;
    memcpy(r->serial, sp, slen);
    r->serial[slen] = '\0';
    if (subp != NULL) {
        /* after the unknown fields' bytes: the end of the block */
        r->subject = (char *)block + slen + 1 + unk_bytes;
        memcpy(r->subject, subp, sublen);
        r->subject[sublen] = '\0';
    }
    if (serial != NULL && strcmp(r->serial, serial) != 0) {
        *why = "record of another serial";
    } else if ((*why = record_invalid(r)) == NULL) {
        return r;
    }
    ocsp_record_free(r, alloc);
    return NULL;
}

void ocsp_record_free(ocsp_record_t *r, ProtobufCAllocator *alloc)
{
    /* one block (ocsp_record_decode()), never protobuf-c's unpack */
    if (r == NULL) {
        return;
    }
    if (alloc != NULL) {
        alloc->free(alloc->allocator_data, r);
    } else {
        free(r);
    }
}

static void *arena_alloc(void *data, size_t size)
{
    ocsp_record_arena_t *a = data;
    size_t n = (size + 15) & ~(size_t)15;
    void *p;

    if (n > sizeof(a->buf) - a->used) {
        return NULL;
    }
    p = a->buf + a->used;
    a->used += n;
    return p;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

void ocsp_record_arena_init(ocsp_record_arena_t *a)
{
    a->alloc.alloc = arena_alloc;
    a->alloc.free = arena_free;
    a->alloc.allocator_data = a;
    a->used = 0;
}

void ocsp_record_arena_reset(ocsp_record_arena_t *a)
{
    a->used = 0;
}

int ocsp_record_reflects(const ocsp_record_t *r, const ocsp_event_t *ev)
{
    ocsp_record_t copy = *r;

    /* apply() changes only scalar fields, so a shallow copy is enough. */
    return ocsp_record_apply(&copy, ev) == 0;
}

/* Puts r on the CRL: revoked or held, since T, for REASON. */
static void set_listed(ocsp_record_t *r, Revoca__Status status, int64_t t,
                       Revoca__Reason reason, int has_invalidity,
                       int64_t invalidity)
{
    r->status = status;
    r->has_revocation_time = 1;
    r->revocation_time = t;
    r->has_reason = 1;
    r->reason = reason;
    r->has_invalidity_date = has_invalidity;
    r->invalidity_date = has_invalidity ? invalidity : 0;
}

static int apply_revoked(ocsp_record_t *r, const Revoca__Revoked *rv)
{
    Revoca__Reason reason =
        rv->has_reason ? rv->reason : REVOCA__REASON__UNSPECIFIED;

    if (r->status == REVOCA__STATUS__REVOKED) {
        int old_kc = r->reason == REVOCA__REASON__KEY_COMPROMISE;
        int new_kc = reason == REVOCA__REASON__KEY_COMPROMISE;
        /* keyCompromise outranks; then the earlier time; then the lower
         * reason, so that any order of the same events ends alike. */
        if (old_kc != new_kc) {
            if (old_kc) {
                return 0;
            }
        } else if (rv->revocation_time > r->revocation_time ||
                   (rv->revocation_time == r->revocation_time &&
                    reason >= r->reason)) {
            return 0;
        }
    }
    set_listed(r, REVOCA__STATUS__REVOKED, rv->revocation_time, reason,
               rv->has_invalidity_date, rv->invalidity_date);
    return 1;
}

static int apply_hold(ocsp_record_t *r, const Revoca__Hold *h)
{
    if (r->status == REVOCA__STATUS__REVOKED) {
        return 0; /* revoked is final */
    }
    if (r->has_released_at && h->hold_time <= r->released_at) {
        return 0; /* a release already lifted this hold */
    }
    if (r->status == REVOCA__STATUS__HELD &&
        r->revocation_time >= h->hold_time) {
        return 0; /* the latest hold counts: the timeline's last word */
    }
    set_listed(r, REVOCA__STATUS__HELD, h->hold_time,
               REVOCA__REASON__CERTIFICATE_HOLD, h->has_invalidity_date,
               h->invalidity_date);
    return 1;
}

static int apply_release(ocsp_record_t *r, const Revoca__Release *rl)
{
    int changed = 0;

    if (!r->has_released_at || r->released_at < rl->release_time) {
        r->has_released_at = 1;
        r->released_at = rl->release_time;
        changed = 1;
    }
    if (r->status == REVOCA__STATUS__HELD &&
        r->revocation_time <= rl->release_time) {
        r->status = REVOCA__STATUS__GOOD;
        record_clear_revocation(r);
        changed = 1;
    }
    return changed;
}

int ocsp_record_apply(ocsp_record_t *r, const ocsp_event_t *ev)
{
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        return apply_issued(r, ev->issued);
    case REVOCA__EVENT__KIND_REVOKED:
        return apply_revoked(r, ev->revoked);
    case REVOCA__EVENT__KIND_HOLD:
        return apply_hold(r, ev->hold);
    case REVOCA__EVENT__KIND_RELEASE:
        return apply_release(r, ev->release);
    default:
        return -1;
    }
}

ocsp_answer_e ocsp_record_answer(const ocsp_record_t *r, ocsp_unissued_e policy,
                                 ocsp_cert_status_e *status, int64_t *rev_time,
                                 int *reason)
{
    *status = OCSP_CERT_UNKNOWN;
    *rev_time = 0;
    *reason = OCSP_REASON_NONE;

    if (record_invalid(r) != NULL) {
        return OCSP_ANSWER_INVALID;
    }
    switch (r->status) {
    case REVOCA__STATUS__REVOKED:
    case REVOCA__STATUS__HELD:
        *status = OCSP_CERT_REVOKED;
        *rev_time = r->revocation_time;
        /* RFC 5280 5.3.1: unspecified is expressed by leaving it out. */
        if (r->status == REVOCA__STATUS__HELD) {
            *reason = REVOCA__REASON__CERTIFICATE_HOLD;
        } else if (r->has_reason && r->reason != REVOCA__REASON__UNSPECIFIED) {
            *reason = (int)r->reason;
        }
        return OCSP_ANSWER_SIGN;
    case REVOCA__STATUS__GOOD:
        break;
    default:
        return OCSP_ANSWER_INVALID; /* record_invalid() refused it */
    }
    if (ocsp_record_issued(r)) {
        *status = OCSP_CERT_GOOD;
        return OCSP_ANSWER_SIGN;
    }
    /* Never reported as issued: never "good". */
    switch (policy) {
    case OCSP_UNISSUED_REVOKED:
        /* RFC 6960 2.2: certificateHold, revoked at the epoch. */
        *status = OCSP_CERT_REVOKED;
        *reason = REVOCA__REASON__CERTIFICATE_HOLD;
        return OCSP_ANSWER_SIGN;
    case OCSP_UNISSUED_UNAUTHORIZED:
        return OCSP_ANSWER_UNAUTHORIZED;
    default:
        *status = OCSP_CERT_UNKNOWN;
        return OCSP_ANSWER_SIGN;
    }
}

int ocsp_record_on_crl(const ocsp_record_t *r)
{
    return r->status == REVOCA__STATUS__REVOKED ||
           r->status == REVOCA__STATUS__HELD;
}

unsigned ocsp_record_shard(const ocsp_record_t *r, unsigned nshards)
{
    if (nshards <= 1) {
        return 0;
    }
    if (r->has_shard && r->shard < nshards) {
        return r->shard;
    }
    return ocsp_serial_shard(r->serial, nshards);
}
