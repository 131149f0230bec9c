#include "crl_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* Read back by crl_state_load() and, with the next_update fields (written
 * for them), by responder/health.c. */
static const char *const fields[] = {
    "full_number",      "full_this_update", "full_cutoff_ms",    "full_max_ms",
    "full_next_update", "delta_number",     "delta_this_update", "delta_base",
    "delta_max_ms",     "delta_next_update"};

int crl_state_load(ocsp_rconn_t *conn, const char *prefix, const char *issuer,
                   crl_state_t *st, char *err)
{
    char key[OCSP_KEY_MAX];
    const char *argv[12];
    int64_t v[10];
    redisReply *r;

    memset(st, 0, sizeof(*st));
    ocsp_key_crl_state(key, prefix, issuer);
    argv[0] = "HMGET";
    argv[1] = key;
    memcpy(argv + 2, fields, sizeof(fields));
    r = ocsp_rconn_cmd(conn, 12, argv, NULL);
    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "HMGET %s: %s", key, conn->err);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 10) {
        snprintf(err, OCSP_ERR_MAX, "HMGET %s: unexpected reply", key);
        freeReplyObject(r);
        return -1;
    }
    for (int i = 0; i < 10; i++) {
        redisReply *e = r->element[i];
        v[i] = 0; /* nil: nothing published yet */
        if (e->type != REDIS_REPLY_NIL && ocsp_reply_int64(e, 0, &v[i]) != 0) {
            snprintf(err, OCSP_ERR_MAX, "%s: field %s is not a number", key,
                     fields[i]);
            freeReplyObject(r);
            return -1;
        }
    }
    freeReplyObject(r);
    st->full_number = (uint64_t)v[0];
    st->full_this_update = v[1];
    st->full_cutoff_ms = v[2];
    st->full_max_ms = v[3];
    st->full_next_update = v[4];
    st->delta_number = (uint64_t)v[5];
    st->delta_this_update = v[6];
    st->delta_base = (uint64_t)v[7];
    st->delta_max_ms = v[8];
    st->delta_next_update = v[9];
    return 0;
}

static int crl_state_save(ocsp_rconn_t *conn, const crl_lease_t *l,
                          const char *prefix, const char *issuer,
                          const char *const *names, const int64_t *v)
{
    char key[OCSP_KEY_MAX], buf[5][24];
    const char *argv[10];

    ocsp_key_crl_state(key, prefix, issuer);
    for (int i = 0; i < 5; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%lld", (long long)v[i]);
        argv[2 * i] = names[i];
        argv[2 * i + 1] = buf[i];
    }
    return crl_lease_hset(conn, l, key, 10, argv);
}

int crl_state_save_full(ocsp_rconn_t *conn, const crl_lease_t *l,
                        const char *prefix, const char *issuer,
                        const crl_state_t *st)
{
    int64_t v[5] = {(int64_t)st->full_number, st->full_this_update,
                    st->full_cutoff_ms, st->full_max_ms, st->full_next_update};
    return crl_state_save(conn, l, prefix, issuer, fields, v);
}

int crl_state_save_delta(ocsp_rconn_t *conn, const crl_lease_t *l,
                         const char *prefix, const char *issuer,
                         const crl_state_t *st)
{
    int64_t v[5] = {(int64_t)st->delta_number, st->delta_this_update,
                    (int64_t)st->delta_base, st->delta_max_ms,
                    st->delta_next_update};
    return crl_state_save(conn, l, prefix, issuer, fields + 5, v);
}
