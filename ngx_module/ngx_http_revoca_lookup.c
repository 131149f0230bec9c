
/*
 * Lookup and answer: a decoded request is matched to an issuer, looked up
 * in the shared cache (only among what this location may produce) and, on
 * a miss, fetched from Redis without blocking: the pre-signed response,
 * and the status record when the location may sign from it.  A response is
 * never served past its nextUpdate.
 */


#include "ngx_http_revoca.h"

#include "keys.h"
#include "stored.h"


static void ngx_http_revoca_lookup_done(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);
static ngx_int_t ngx_http_revoca_format_get(ngx_http_revoca_redis_req_t *rr,
    char *key, int len);
static ngx_int_t ngx_http_revoca_answer_redis(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx);
static ngx_uint_t ngx_http_revoca_origins(ngx_http_revoca_loc_conf_t *rlcf,
    const ocsp_issuer_t *issuer);


ngx_int_t
ngx_http_revoca_lookup(ngx_http_request_t *r, u_char *der, size_t len)
{
    char                          key[OCSP_KEY_MAX];
    int                           n;
    ngx_int_t                     rc;
    ocsp_limits_t                 lim;
    ocsp_certid_t                *id;
    ocsp_resp_status_e            st;
    ngx_http_revoca_ctx_t        *ctx;
    ngx_http_revoca_answer_t      ans;
    ngx_http_revoca_loc_conf_t   *rlcf;
    ngx_http_revoca_main_conf_t  *rmcf;
    ngx_http_revoca_metrics_slot_t *slot;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);
    slot = ngx_http_revoca_metrics_slot(rmcf);

    lim.max_size = rlcf->max_request_size;
    lim.max_singles = rlcf->max_singles;

    st = ctx->decoded ? ctx->decode_st
                      : ocsp_request_decode(der, len, &lim, &ctx->req);

    if (st != OCSP_ST_SUCCESSFUL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "revoca: request refused: %s",
                      ctx->req.err ? ctx->req.err : "-");
        return ngx_http_revoca_send_error(r, ctx, st);
    }

    /* one singleRequest (RFC 5019 2.1.1; revoca_max_singles is 1) */

    id = &ctx->req.singles[0];

    ctx->issuer = ocsp_registry_find(rmcf->registry, id->hash,
                                     id->name_hash, ocsp_hash_len(id->hash),
                                     id->key_hash, ocsp_hash_len(id->hash));

    if (ctx->issuer == NULL) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "revoca: no issuer matches the CertID");
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_UNAUTHORIZED);
    }

    ctx->issuer_index = ctx->issuer - rmcf->registry->issuers;

    ctx->cache_key.data = ctx->cache_key_buf;
    ctx->cache_key.len = ngx_http_revoca_cache_key(ctx->cache_key_buf,
                                                   ctx->issuer->conf->name,
                                                   id->serial, id->hash);

    ctx->sign_nonce = (ctx->req.nonce_len
                       && (rlcf->sign & NGX_HTTP_REVOCA_SIGN_NONCE)
                       && ctx->issuer->key != NULL
                       && ngx_http_revoca_sign_allowed(rmcf) == NGX_OK);

    ctx->sign_unissued = (ngx_http_revoca_origins(rlcf, ctx->issuer)
                          & NGX_HTTP_REVOCA_ORIGIN_SIGNED) != 0;

    ctx->want_record = ctx->sign_nonce || ctx->sign_unissued;

    if (rlcf->cache && rmcf->cache_zone) {

        ngx_memzero(&ans, sizeof(ngx_http_revoca_answer_t));

        rc = ngx_http_revoca_cache_get(rmcf->cache_zone, &ctx->cache_key,
                                       ngx_http_revoca_origins(rlcf,
                                                               ctx->issuer),
                                       rlcf->cache_valid, &ans, r->pool);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /*
         * A nonce is signed fresh; the cached answer, without the nonce
         * (RFC 9654 lets a responder leave it out), is kept for when
         * Redis fails.
         */

        if (rc == NGX_OK && ans.fresh && !ctx->sign_nonce) {
            (void) ngx_atomic_fetch_add(&slot->cache_hits, 1);
            return ngx_http_revoca_send_answer(r, ctx, &ans);
        }

        if (rc == NGX_OK) {
            ctx->stale = ans;
            ctx->have_stale = 1;
        }

        (void) ngx_atomic_fetch_add(&slot->cache_misses, 1);
    }

    /* GET P:ocsp:ISSUER:SERIAL, the stored responses (stored.h) */

    ctx->rr.rmcf = rmcf;
    ctx->rr.pool = r->pool;
    ctx->rr.log = r->connection->log;
    ctx->rr.handler = ngx_http_revoca_lookup_done;
    ctx->rr.data = r;

    n = ocsp_key_ocsp(key, rmcf->ocsp->prefix, ctx->issuer->conf->name,
                      id->serial);
    if (n < 0) {
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_INTERNAL_ERROR);
    }

    if (ngx_http_revoca_format_get(&ctx->rr, key, n) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->rr.nreplies = 1;

    if (ctx->want_record) {
        /* pipelined: GET P:cert:ISSUER:SERIAL, the status record */
        u_char    *first, *both;
        size_t     first_len;

        first = ctx->rr.cmd;
        first_len = ctx->rr.cmd_len;

        n = ocsp_key_cert(key, rmcf->ocsp->prefix, ctx->issuer->conf->name,
                          id->serial);
        if (n < 0) {
            return ngx_http_revoca_send_error(r, ctx, OCSP_ST_INTERNAL_ERROR);
        }

        if (ngx_http_revoca_format_get(&ctx->rr, key, n) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        both = ngx_pnalloc(r->pool, first_len + ctx->rr.cmd_len);
        if (both == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(both, first, first_len);
        ngx_memcpy(both + first_len, ctx->rr.cmd, ctx->rr.cmd_len);
        ctx->rr.cmd = both;
        ctx->rr.cmd_len += first_len;
        ctx->rr.nreplies = 2;
    }

    rc = ngx_http_revoca_redis_query(&ctx->rr);

    if (rc == NGX_ERROR) {
        (void) ngx_atomic_fetch_add(&slot->redis_errors, 1);
        return ngx_http_revoca_miss(r, ctx);
    }

    r->main->count++;

    return NGX_DONE;
}


/* the Redis query's end: the answer, or revoca_miss if it failed */

static void
ngx_http_revoca_lookup_done(ngx_http_revoca_redis_req_t *rr, ngx_int_t rc)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_revoca_ctx_t  *ctx;

    r = rr->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);

    if (rc != NGX_OK) {
        rc = ngx_http_revoca_miss(r, ctx);

    } else {
        rc = ngx_http_revoca_answer_redis(r, ctx);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The stored responses (stored.h) are checked and the one asked for is
 * rebuilt with the responder certificate here, once per cache miss: the
 * shared cache keeps the full response.
 */

static ngx_int_t
ngx_http_revoca_answer_redis(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx)
{
    char                           expiry[160];
    size_t                         full_len;
    u_char                        *full;
    time_t                         now;
    ngx_str_t                      msg;
    const char                    *why;
    redisReply                    *stored_reply, *record;
    ocsp_stored_t                  st;
    const ocsp_issuer_t           *iss;
    ngx_http_revoca_answer_t       ans;
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_main_conf_t   *rmcf;
    ngx_http_revoca_metrics_sh_t  *sh;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);
    sh = ngx_http_revoca_metrics(rmcf);
    iss = ctx->issuer;

    stored_reply = ctx->rr.replies[0];
    record = (ctx->rr.nreplies > 1) ? ctx->rr.replies[1] : NULL;

    /* a responder certificate near its notAfter, once a day per worker
     * (issuer.h; each worker has its own copy of the registry) */

    while (ocsp_registry_expiry_due(rmcf->registry, ngx_time(), expiry,
                                    sizeof(expiry)))
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "revoca: %s", expiry);
    }

    if (stored_reply->type != REDIS_REPLY_STRING
        && stored_reply->type != REDIS_REPLY_NIL)
    {
        /* WRONGTYPE: a hash of the layout before stored.h, say */
        ngx_str_null(&msg);

        if (stored_reply->type == REDIS_REPLY_ERROR) {
            msg.data = (u_char *) stored_reply->str;
            msg.len = ngx_min(stored_reply->len, 128);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "revoca: unexpected redis reply type %d to GET of"
                      " the stored responses \"%V\"", stored_reply->type,
                      &msg);
        return ngx_http_revoca_miss(r, ctx);
    }

    if (record && record->type != REDIS_REPLY_STRING
        && record->type != REDIS_REPLY_NIL)
    {
        /* not "never issued": signing from it could deny a good one */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "revoca: unexpected redis reply type %d to GET of"
                      " the status record", record->type);
        return ngx_http_revoca_miss(r, ctx);
    }

    if (stored_reply->type == REDIS_REPLY_NIL) {
        /*
         * The CA never reported this serial (or not yet): signed only
         * with "revoca_sign unissued", a nonce or not; "nonce" alone
         * does not make nginx answer for serials it has no answer for.
         */

        if (ctx->sign_unissued) {
            return ngx_http_revoca_sign(r, ctx, record, ctx->sign_nonce);
        }

        /*
         * "unknown" and "revoked" need a signature; without request-path
         * signing RFC 5019 2.2.3 lets a pre-produced responder answer
         * unauthorized.
         */

        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_UNAUTHORIZED);
    }

    if (ctx->sign_nonce) {
        return ngx_http_revoca_sign(r, ctx, record, 1);
    }

    ngx_memzero(&ans, sizeof(ngx_http_revoca_answer_t));

    if (ocsp_stored_decode((u_char *) stored_reply->str, stored_reply->len,
                           &st, &why)
        != 0)
    {
        goto invalid;
    }

    ans.this_update = (time_t) st.this_update;
    ans.next_update = (time_t) st.next_update;

    now = ngx_time();

    if (ans.next_update <= now) {
        /* RFC 5019 4: never past nextUpdate; the signer is behind */
        (void) ngx_atomic_fetch_add(&sh->expired, 1);
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "revoca: response in redis for issuer \"%s\" serial"
                      " %s is past its nextUpdate",
                      iss->conf->name, ctx->req.singles[0].serial);
        ctx->have_stale = 0;

        if (ctx->want_record) {
            return ngx_http_revoca_sign(r, ctx, record, 0);
        }

        return ngx_http_revoca_miss(r, ctx);
    }

    if (ocsp_stored_full(iss, &st, ctx->req.singles[0].hash, &full,
                         &full_len, &why)
        != 0)
    {
        goto invalid;
    }

    if (ngx_http_revoca_der_to_pool(r, &ans.der, full, full_len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ans.der.len > NGX_HTTP_REVOCA_DER_MAX) {
        why = "too long";
        goto invalid;
    }

    ans.cert_status = st.status;
    ans.origin = NGX_HTTP_REVOCA_ORIGIN_PRESIGNED;
    ans.asked = ctx->rr.start;
    ans.fresh = 1;
    ngx_http_revoca_etag(&ans);

    if (rlcf->cache && rmcf->cache_zone) {
        ngx_http_revoca_cache_put(rmcf->cache_zone, &ctx->cache_key, &ans);
    }

    return ngx_http_revoca_send_answer(r, ctx, &ans);

invalid:

    /* never served, whatever it says: revoca_miss, as for Redis down */

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "revoca: incomplete or invalid response record in"
                  " redis for issuer \"%s\" serial %s: %s",
                  iss->conf->name, ctx->req.singles[0].serial, why);
    return ngx_http_revoca_miss(r, ctx);
}


/*
 * What a location may answer from the shared cache: what it could produce
 * itself.  Pre-signed responses anywhere; answers signed on the request
 * path from the status record (never-issued serials, responses past
 * nextUpdate) only where "revoca_sign unissued" signs such answers, so that
 * another location's "unknown" never replaces this one's "unauthorized".
 * Nonce answers are never cached.
 */

static ngx_uint_t
ngx_http_revoca_origins(ngx_http_revoca_loc_conf_t *rlcf,
    const ocsp_issuer_t *issuer)
{
    ngx_uint_t  origins;

    origins = NGX_HTTP_REVOCA_ORIGIN_PRESIGNED;

    if ((rlcf->sign & NGX_HTTP_REVOCA_SIGN_UNISSUED) && issuer->key != NULL) {
        origins |= NGX_HTTP_REVOCA_ORIGIN_SIGNED;
    }

    return origins;
}


/* Redis failed or had nothing valid: a cached answer, else revoca_miss */

ngx_int_t
ngx_http_revoca_miss(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx)
{
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_main_conf_t   *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    if (ctx->have_stale && ctx->stale.next_update > ngx_time()) {
        (void) ngx_atomic_fetch_add(
                    &ngx_http_revoca_metrics_slot(rmcf)->cache_stale_served, 1);
        return ngx_http_revoca_send_answer(r, ctx, &ctx->stale);
    }

    return ngx_http_revoca_send_error(r, ctx, rlcf->miss_status);
}


/* formats GET KEY into RR's command */

static ngx_int_t
ngx_http_revoca_format_get(ngx_http_revoca_redis_req_t *rr, char *key,
    int len)
{
    const char  *argv[2];
    size_t       argvlen[2];

    argv[0] = "GET"; argvlen[0] = 3;
    argv[1] = key; argvlen[1] = len;

    return ngx_http_revoca_redis_format(rr, 2, argv, argvlen);
}
