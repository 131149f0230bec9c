#include "crl_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

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
    memcpy(argv + 2, ocsp_crl_state_fields, sizeof(ocsp_crl_state_fields));
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
                     ocsp_crl_state_fields[i]);
            freeReplyObject(r);
            return -1;
        }
    }
    freeReplyObject(r);
    st->full_number = (uint64_t)v[0];
    st->full_this_update = v[1];
    st->full_cutoff_ms = v[2];
    st->full_max_ms = v[3];
    st->delta_number = (uint64_t)v[4];
    st->delta_this_update = v[5];
    st->delta_base = (uint64_t)v[6];
    st->delta_max_ms = v[7];
    st->full_next_update = v[8];
    st->delta_next_update = v[9];
    return 0;
}

int crl_state_save(ocsp_rconn_t *conn, const crl_lease_t *l, const char *prefix,
                   const char *issuer, const crl_state_t *st)
{
    int64_t v[10] = {(int64_t)st->full_number,  st->full_this_update,
                     st->full_cutoff_ms,        st->full_max_ms,
                     (int64_t)st->delta_number, st->delta_this_update,
                     (int64_t)st->delta_base,   st->delta_max_ms,
                     st->full_next_update,      st->delta_next_update};
    char key[OCSP_KEY_MAX], buf[10][24];
    const char *argv[20];

    ocsp_key_crl_state(key, prefix, issuer);
    for (int i = 0; i < 10; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%lld", (long long)v[i]);
        argv[2 * i] = ocsp_crl_state_fields[i];
        argv[2 * i + 1] = buf[i];
    }
    return crl_lease_hset(conn, l, key, 20, argv);
}

int crl_state_merge(crl_state_t *st, const crl_state_t *mine)
{
    int changed = 0;

    /* CRL numbers only grow, across generators and failovers (crl_gen.c):
     * the half with the larger number is the later one. */
    if (mine->full_number > st->full_number) {
        st->full_number = mine->full_number;
        st->full_this_update = mine->full_this_update;
        st->full_next_update = mine->full_next_update;
        st->full_cutoff_ms = mine->full_cutoff_ms;
        st->full_max_ms = mine->full_max_ms;
        changed = 1;
    }
    if (mine->delta_number > st->delta_number) {
        st->delta_number = mine->delta_number;
        st->delta_this_update = mine->delta_this_update;
        st->delta_next_update = mine->delta_next_update;
        st->delta_base = mine->delta_base;
        st->delta_max_ms = mine->delta_max_ms;
        changed = 1;
    }
    return changed;
}
