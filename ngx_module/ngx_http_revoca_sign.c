
/*
 * Signing on the request path, opt-in ("revoca_sign"): for a nonce (RFC
 * 9654) and for a serial with no pre-signed response, from the status
 * record validated by the core (ocsp_record_decode(), ocsp_record_answer())
 * and timed by it (ocsp_response_times()); and the token bucket that
 * limits such signatures for all workers (revoca_sign_rate).
 */


#include "ngx_http_revoca.h"

#include "keys.h"
#include "record.h"


/* invalid status records: each key logged once per interval per worker */
#define NGX_HTTP_REVOCA_BAD_LOG_KEYS      16
#define NGX_HTTP_REVOCA_BAD_LOG_INTERVAL  60


static void ngx_http_revoca_log_invalid_record(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, const char *why);


/*
 * Signs on the request path from the certificate's status record (RECORD,
 * a GET reply, nil if none): for a nonce (RFC 9654), or for a serial with
 * no pre-signed response, answered per the issuer's unissued policy.
 */

ngx_int_t
ngx_http_revoca_sign(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx,
    redisReply *record, ngx_uint_t with_nonce)
{
    int                            reason;
    size_t                         outlen;
    time_t                         now;
    int64_t                        rev_time;
    unsigned char                 *out;
    ocsp_single_t                  s;
    const char                    *why;
    ocsp_times_t                   times;
    ocsp_answer_e                  answer;
    ocsp_record_t                  empty, *rec;
    ocsp_cert_status_e             status;
    const ocsp_sign_err_t         *err;
    ngx_http_revoca_answer_t       ans;
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_main_conf_t   *rmcf;
    ngx_http_revoca_metrics_sh_t  *sh;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);
    sh = ngx_http_revoca_metrics(rmcf);

    rec = NULL;

    /*
     * A record this code could not have written (a foreign writer, a
     * corruption) is never answered from, not even by the rules for a
     * never-issued serial: internalError (RFC 6960 4.2.1), unsigned and
     * never cached.  The signer holds the record's events back too.
     */

    if (record && record->type == REDIS_REPLY_STRING) {
        rec = ocsp_record_decode(record->str, record->len,
                                 ctx->req.singles[0].serial, NULL, &why);
        if (rec == NULL) {
            ngx_http_revoca_log_invalid_record(r, ctx, why);
            return ngx_http_revoca_send_error(r, ctx, OCSP_ST_INTERNAL_ERROR);
        }
    }

    if (rec == NULL) {
        ocsp_record_init(&empty, ctx->req.singles[0].serial);
    }

    answer = ocsp_record_answer(rec ? rec : &empty,
                                ctx->issuer->conf->unissued, &status,
                                &rev_time, &reason);
    ocsp_record_free(rec, NULL);

    switch (answer) {

    case OCSP_ANSWER_SIGN:
        break;

    case OCSP_ANSWER_UNAUTHORIZED:
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_UNAUTHORIZED);

    default: /* OCSP_ANSWER_INVALID: ocsp_record_decode() refuses those */
        ngx_http_revoca_log_invalid_record(r, ctx, "record not answerable");
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_INTERNAL_ERROR);
    }

    if (!with_nonce && ngx_http_revoca_sign_allowed(rmcf) != NGX_OK) {
        return ngx_http_revoca_miss(r, ctx);
    }

    now = ngx_time();

    ngx_memzero(&s, sizeof(ocsp_single_t));
    s.hash = ctx->req.singles[0].hash;
    s.serial = ctx->req.singles[0].serial;
    s.status = status;
    s.revocation_time = rev_time;
    s.reason = reason;
    ocsp_response_times(ctx->issuer->conf, now, &times);
    s.produced_at = times.produced_at;
    s.this_update = times.this_update;
    s.next_update = times.next_update;

    if (with_nonce) {
        s.nonce = ctx->req.nonce;
        s.nonce_len = ctx->req.nonce_len;
    }

    out = NULL;

    if (ocsp_response_sign(ctx->issuer, &s, &out, &outlen) != 0) {
        err = ctx->issuer->key ? ocsp_sign_key_err(ctx->issuer->key) : NULL;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "revoca: ocsp_response_sign() failed: %s",
                      err ? err->msg : "no key");
        (void) ngx_atomic_fetch_add(&sh->sign_errors, 1);

        /* a token that failed is reopened later (sign.h) */

        return ngx_http_revoca_send_error(r, ctx,
                   err && err->status == OCSP_SIGN_ETOKEN
                   ? OCSP_ST_TRY_LATER : OCSP_ST_INTERNAL_ERROR);
    }

    (void) ngx_atomic_fetch_add(&sh->signatures, 1);

    ngx_memzero(&ans, sizeof(ngx_http_revoca_answer_t));

    if (ngx_http_revoca_der_to_pool(r, &ans.der, out, outlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ans.this_update = s.this_update;
    ans.next_update = s.next_update;
    ans.cert_status = status;
    ans.origin = NGX_HTTP_REVOCA_ORIGIN_SIGNED;
    ans.fresh = 1;
    ngx_http_revoca_etag(&ans);

    if (with_nonce) {
        /* an answer to one client's nonce is for that client only */
        ctx->no_cache = 1;

    } else if (rlcf->cache && rmcf->cache_zone) {
        ans.asked = ctx->rr.start;
        ngx_http_revoca_cache_put(rmcf->cache_zone, &ctx->cache_key, &ans);
    }

    return ngx_http_revoca_send_answer(r, ctx, &ans);
}


/*
 * An invalid status record is a fault of the data, met on the hot path by
 * every request for that serial: logged at "error" with its Redis key once
 * per key and NGX_HTTP_REVOCA_BAD_LOG_INTERVAL in each worker, with the
 * number of requests refused for it meanwhile, so that a polled serial
 * does not flood the log and another bad key is still named at once.
 */

static void
ngx_http_revoca_log_invalid_record(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, const char *why)
{
    int                            n;
    char                           key[OCSP_KEY_MAX];
    time_t                         now;
    uint32_t                       hash;
    ngx_uint_t                     i, oldest;
    ngx_http_revoca_main_conf_t   *rmcf;

    /* per worker: the keys logged last */
    static struct {
        uint32_t                   hash;
        time_t                     logged;
        ngx_uint_t                 refused;
    } recent[NGX_HTTP_REVOCA_BAD_LOG_KEYS];

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    n = ocsp_key_cert(key, rmcf->ocsp->prefix, ctx->issuer->conf->name,
                      ctx->req.singles[0].serial);
    if (n < 0) {
        return;
    }

    hash = ngx_crc32_short((u_char *) key, n);
    now = ngx_time();
    oldest = 0;

    for (i = 0; i < NGX_HTTP_REVOCA_BAD_LOG_KEYS; i++) {

        if (recent[i].logged && recent[i].hash == hash
            && now - recent[i].logged < NGX_HTTP_REVOCA_BAD_LOG_INTERVAL)
        {
            recent[i].refused++;
            return;
        }

        if (recent[i].logged < recent[oldest].logged) {
            oldest = i;
        }
    }

    for (i = 0; i < NGX_HTTP_REVOCA_BAD_LOG_KEYS; i++) {
        if (recent[i].hash == hash) {
            oldest = i;
            break;
        }
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "revoca: invalid status record key=%s: %s, not answered"
                  " (%ui more requests refused for it since last logged)",
                  key, why, recent[oldest].hash == hash
                            ? recent[oldest].refused : 0);

    recent[oldest].hash = hash;
    recent[oldest].logged = now;
    recent[oldest].refused = 0;
}


/*
 * One token per signature, refilled at sign_rate per second up to
 * sign_burst, shared by all workers.
 */

ngx_int_t
ngx_http_revoca_sign_allowed(ngx_http_revoca_main_conf_t *rmcf)
{
    ngx_int_t                      rc;
    ngx_msec_t                     now, elapsed;
    ngx_atomic_uint_t              tokens, cap;
    ngx_slab_pool_t               *shpool;
    ngx_http_revoca_metrics_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) rmcf->metrics_zone->shm.addr;
    sh = shpool->data;
    now = ngx_current_msec;
    cap = rmcf->sign_burst * 1000;

    ngx_shmtx_lock(&shpool->mutex);

    elapsed = now - (ngx_msec_t) sh->sign_last;
    tokens = sh->sign_tokens + elapsed * rmcf->sign_rate;

    if (tokens > cap) {
        tokens = cap;
    }

    sh->sign_last = now;

    if (tokens >= 1000) {
        tokens -= 1000;
        rc = NGX_OK;

    } else {
        rc = NGX_DECLINED;
    }

    sh->sign_tokens = tokens;

    ngx_shmtx_unlock(&shpool->mutex);

    if (rc != NGX_OK) {
        (void) ngx_atomic_fetch_add(&sh->sign_limited, 1);
    }

    return rc;
}
