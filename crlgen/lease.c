#include "lease.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char lua_acquire[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == ARGV[1] then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1\n"
    "elseif not v then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1\n"
    "end\n"
    "return 0\n";

static const char lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

static const char lua_hset[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[2], unpack(ARGV, 2))\n"
    "return 1\n";

int crl_lease_init(crl_lease_t *l, const char *prefix, const char *issuer,
                   const char *consumer, int64_t ttl_s)
{
    unsigned char rnd[8];

    memset(l, 0, sizeof(*l));
    ocsp_key_crl_lease(l->key, prefix, issuer);
    /* Unique even if two generators were given the same consumer name;
     * OpenSSL's generator, as every random value of Revoca's. */
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }
    snprintf(l->id, sizeof(l->id), "%s/%02x%02x%02x%02x%02x%02x%02x%02x",
             consumer, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
             rnd[7]);
    l->ttl_ms = ttl_s * 1000;
    return 0;
}

static long long crl_eval(ocsp_rconn_t *conn, const char *script, int nkeys,
                          int argc, const char **argv)
{
    const char *a[28];
    char nk[8];
    redisReply *r;
    long long v = -1;

    if (argc > 25) {
        return -1;
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    a[0] = "EVAL";
    a[1] = script;
    a[2] = nk;
    memcpy(a + 3, argv, (size_t)argc * sizeof(char *));
    r = ocsp_rconn_cmd(conn, argc + 3, a, NULL);
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        v = r->integer;
    } else if (r->type == REDIS_REPLY_ERROR) {
        /* (NOPERM, a script error): the failure policy of rconn.h, and
         * conn->err says why */
        ocsp_rconn_fail_reply(conn, "EVAL", r);
    }
    freeReplyObject(r);
    return v;
}

int crl_lease_acquire(ocsp_rconn_t *conn, crl_lease_t *l)
{
    char ttl[24];
    const char *argv[] = {l->key, l->id, ttl};
    long start = ocsp_now_ms();
    long long v;

    snprintf(ttl, sizeof(ttl), "%lld", (long long)l->ttl_ms);
    v = crl_eval(conn, lua_acquire, 1, 3, argv);
    if (v < 0) {
        return -1;
    }
    if (v == 1) {
        /* Counted from before the request: never later than Redis's. */
        l->expires = start + (long)l->ttl_ms;
        return 1;
    }
    l->expires = 0;
    return 0;
}

int crl_lease_safe(const crl_lease_t *l)
{
    return l->expires != 0 &&
           ocsp_now_ms() + (long)(l->ttl_ms / 3) < l->expires;
}

void crl_lease_release(ocsp_rconn_t *conn, crl_lease_t *l)
{
    const char *argv[] = {l->key, l->id};

    if (l->expires != 0) {
        crl_eval(conn, lua_release, 1, 2, argv);
    }
    l->expires = 0;
}

int crl_lease_hset(ocsp_rconn_t *conn, const crl_lease_t *l, const char *key,
                   int argc, const char **argv)
{
    const char *a[23];

    if (argc > 20 || argc % 2 != 0) {
        return -1;
    }
    a[0] = l->key;
    a[1] = key;
    a[2] = l->id;
    memcpy(a + 3, argv, (size_t)argc * sizeof(char *));
    return (int)crl_eval(conn, lua_hset, 2, argc + 3, a);
}
