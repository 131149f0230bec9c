/* An issuer's certificate inventory (inventory.h). */
#include "inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ocsp_inv_status_names[OCSP_INV_STATUSES] = {
    "revoked", "held", "unknown", "expired", "good"};

int ocsp_inv_status_parse(const char *name, size_t len)
{
    for (int i = 0; i < OCSP_INV_STATUSES; i++) {
        if (strlen(ocsp_inv_status_names[i]) == len &&
            memcmp(ocsp_inv_status_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

ocsp_inv_status_e ocsp_inv_status(const ocsp_record_t *r, int64_t now)
{
    if (r->status == REVOCA__STATUS__REVOKED) {
        return OCSP_INV_REVOKED;
    }
    if (r->status == REVOCA__STATUS__HELD) {
        return OCSP_INV_HELD;
    }
    if (!ocsp_record_issued(r)) {
        return OCSP_INV_UNKNOWN;
    }
    return r->not_after < now ? OCSP_INV_EXPIRED : OCSP_INV_GOOD;
}

int ocsp_inv_expiring(const ocsp_record_t *r, int64_t now, int64_t within)
{
    return ocsp_record_issued(r) && r->not_after >= now &&
           r->not_after - now <= within;
}

static int scan_send(ocsp_inv_scan_t *s)
{
    const char *argv[] = {"SCAN",     s->cursor, "MATCH",
                          s->pattern, "COUNT",   OCSP_INV_PAGE_S};

    if (ocsp_rconn_append(s->conn, 6, argv, NULL) != 0) {
        snprintf(s->err, sizeof(s->err), "SCAN: %.400s", s->conn->err);
        return -1;
    }
    s->scan_out = 1;
    return 0;
}

int ocsp_inv_scan_start(ocsp_inv_scan_t *s, ocsp_rconn_t *conn,
                        const char *prefix, const char *issuer)
{
    memset(s, 0, sizeof(*s));
    s->conn = conn;
    ocsp_record_arena_init(&s->arena);
    if (ocsp_key_cert_match(s->pattern, prefix, issuer, &s->serial_at) < 0) {
        snprintf(s->err, sizeof(s->err), "key prefix too long");
        return -1;
    }
    strcpy(s->cursor, "0");
    return scan_send(s) != 0 || ocsp_rconn_flush(conn) != 0 ? -1 : 0;
}

/* A failure on the connection (dropped: replies of it cannot be framed
 * any more once one is missing): -1 with s->err. */
static int scan_failed(ocsp_inv_scan_t *s, const char *what,
                       const redisReply *r)
{
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        snprintf(s->err, sizeof(s->err), "%s: %.*s", what,
                 (int)(r->len > 200 ? 200 : r->len), r->str);
    } else if (r != NULL) {
        snprintf(s->err, sizeof(s->err), "%s: unexpected reply", what);
    } else {
        snprintf(s->err, sizeof(s->err), "%s: %.400s", what, s->conn->err);
    }
    ocsp_rconn_drop(s->conn);
    s->scan_out = 0;
    return -1;
}

/* Reads the pending SCAN page, sends its MGET (and the next SCAN behind
 * it), reads the MGET.  0, or -1. */
static int scan_page(ocsp_inv_scan_t *s)
{
    redisReply *r = ocsp_rconn_reply(s->conn);
    const redisReply *ks;
    const char **argv = NULL;
    size_t *lens = NULL, n;

    s->scan_out = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[0]->len >= sizeof(s->cursor) ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        scan_failed(s, "SCAN", r);
        if (r != NULL) {
            freeReplyObject(r);
        }
        return -1;
    }
    memcpy(s->cursor, r->element[0]->str, r->element[0]->len);
    s->cursor[r->element[0]->len] = '\0';
    s->keys = r;
    ks = r->element[1];
    n = ks->elements;
    for (size_t i = 0; i < n; i++) {
        if (ks->element[i]->type != REDIS_REPLY_STRING) {
            return scan_failed(s, "SCAN", ks->element[i]);
        }
    }
    if (n > 0) {
        argv = malloc((n + 1) * sizeof(*argv));
        lens = malloc((n + 1) * sizeof(*lens));
        if (argv == NULL || lens == NULL) {
            free(argv);
            free(lens);
            snprintf(s->err, sizeof(s->err), "out of memory");
            ocsp_rconn_drop(s->conn);
            return -1;
        }
        argv[0] = "MGET";
        lens[0] = 4;
        for (size_t i = 0; i < n; i++) {
            argv[1 + i] = ks->element[i]->str;
            lens[1 + i] = ks->element[i]->len;
        }
        if (ocsp_rconn_append(s->conn, (int)(n + 1), argv, lens) != 0) {
            free(argv);
            free(lens);
            return scan_failed(s, "MGET", NULL);
        }
        free(argv);
        free(lens);
    }
    /* the next page is asked for now: Redis walks it while this one is
     * printed or counted */
    if (strcmp(s->cursor, "0") != 0 && scan_send(s) != 0) {
        return scan_failed(s, "SCAN", NULL);
    }
    if (n == 0) {
        return ocsp_rconn_flush(s->conn) != 0 ? scan_failed(s, "SCAN", NULL)
                                              : 0;
    }
    r = ocsp_rconn_reply(s->conn);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        scan_failed(s, "MGET", r);
        if (r != NULL) {
            freeReplyObject(r);
        }
        return -1;
    }
    s->vals = r;
    s->at = 0;
    return 0;
}

static void page_free(ocsp_inv_scan_t *s)
{
    if (s->keys != NULL) {
        freeReplyObject(s->keys);
        s->keys = NULL;
    }
    if (s->vals != NULL) {
        freeReplyObject(s->vals);
        s->vals = NULL;
    }
    s->at = 0;
}

int ocsp_inv_scan_next(ocsp_inv_scan_t *s, const ocsp_record_t **rec)
{
    for (;;) {
        while (s->vals != NULL && s->at < s->vals->elements) {
            const redisReply *k = s->keys->element[1]->element[s->at];
            const redisReply *v = s->vals->element[s->at];
            const char *serial = k->str + s->serial_at;
            size_t slen = k->len - s->serial_at;
            ocsp_record_t *r;

            s->at++;
            if (v->type == REDIS_REPLY_NIL) {
                continue; /* deleted since SCAN saw it */
            }
            snprintf(s->key, sizeof(s->key), "%.*s",
                     (int)(k->len < OCSP_KEY_MAX ? k->len : OCSP_KEY_MAX - 1),
                     k->str);
            /* MATCH chose the prefix; the serial must be canonical */
            if (k->len <= s->serial_at || slen > OCSP_SERIAL_HEX_MAX ||
                memchr(serial, '\0', slen) != NULL) {
                s->why = "not a serial";
                return 2;
            }
            memcpy(s->serial, serial, slen);
            s->serial[slen] = '\0';
            {
                char canon[OCSP_SERIAL_HEX_MAX + 1];
                if (ocsp_serial_from_hex(s->serial, canon) != 0 ||
                    strcmp(canon, s->serial) != 0) {
                    s->why = "not a canonical serial";
                    return 2;
                }
            }
            if (v->type != REDIS_REPLY_STRING) {
                s->why = "not a string";
                return 2;
            }
            ocsp_record_arena_reset(&s->arena);
            r = ocsp_record_decode(v->str, v->len, s->serial, &s->arena.alloc,
                                   &s->why);
            if (r == NULL) {
                return 2;
            }
            *rec = r;
            return 1;
        }
        page_free(s);
        if (!s->scan_out) {
            return 0;
        }
        if (scan_page(s) != 0) {
            page_free(s);
            return -1;
        }
    }
}

void ocsp_inv_scan_free(ocsp_inv_scan_t *s)
{
    page_free(s);
}
