
/*
 * The health check of a "revoca_health" location, for load balancers: 200
 * when this responder can answer, 503 when it cannot, with a small JSON
 * body naming each check.  Redis is asked at most once a second for the
 * whole zone (one ZRANGE P:due:ISSUER 0 0 WITHSCORES per issuer, in turn,
 * through the module's client): whether it answered, and each issuer's
 * earliest re-sign time, are kept in the metrics zone, so that many
 * balancers polling every second cost one query.  The responder
 * certificates are checked from the registry, without Redis.
 */


#include "ngx_http_revoca.h"

#include "keys.h"


/* how long a verdict is reused */
#define NGX_HTTP_REVOCA_HEALTH_VALID   1000

/* an issuer's due slot: not asked yet, an empty set, a reply not a score */
#define NGX_HTTP_REVOCA_HEALTH_UNKNOWN  0
#define NGX_HTTP_REVOCA_HEALTH_EMPTY    NGX_MAX_INT_T_VALUE
#define NGX_HTTP_REVOCA_HEALTH_INVALID  (-NGX_MAX_INT_T_VALUE)


typedef struct {
    ngx_http_revoca_redis_req_t    rr;         /* first: rr is the ctx */
    ngx_uint_t                     issuer;     /* being asked */
    ngx_atomic_uint_t              busy;       /* our mark in health_busy */
} ngx_http_revoca_health_ctx_t;


static ngx_int_t ngx_http_revoca_health_ask(ngx_http_request_t *r,
    ngx_http_revoca_health_ctx_t *ctx);
static void ngx_http_revoca_health_done(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);
static void ngx_http_revoca_health_verdict(ngx_http_revoca_metrics_sh_t *sh,
    ngx_int_t rc);
static ngx_atomic_int_t ngx_http_revoca_health_score(redisReply *reply);
static void ngx_http_revoca_health_release(void *data);
static const char *ngx_http_revoca_health_resign(ngx_http_request_t *r,
    ngx_uint_t redis_ok, ngx_atomic_int_t due);
static ngx_int_t ngx_http_revoca_health_send(ngx_http_request_t *r);


ngx_int_t
ngx_http_revoca_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_msec_t                     age, stuck;
    ngx_atomic_uint_t              busy;
    ngx_pool_cleanup_t            *cln;
    ngx_http_revoca_health_ctx_t  *ctx;
    ngx_http_revoca_main_conf_t   *rmcf;
    ngx_http_revoca_metrics_sh_t  *sh;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    if (rmcf->metrics_zone == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    sh = ngx_http_revoca_metrics(rmcf);

    age = ngx_current_msec - (ngx_msec_t) sh->health_at;

    if (sh->health_at && age < NGX_HTTP_REVOCA_HEALTH_VALID) {
        return ngx_http_revoca_health_send(r);
    }

    /*
     * One query at a time for the zone; one whose worker died (or whose
     * request went away uncleaned) is taken over after its deadline.
     */

    busy = sh->health_busy;
    stuck = rmcf->connect_timeout + rmcf->timeout
            + NGX_HTTP_REVOCA_HEALTH_VALID;

    if (busy && ngx_current_msec - (ngx_msec_t) busy < stuck) {
        return ngx_http_revoca_health_send(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_revoca_health_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->busy = ngx_current_msec ? ngx_current_msec : 1;

    if (!ngx_atomic_cmp_set(&sh->health_busy, busy, ctx->busy)) {
        return ngx_http_revoca_health_send(r);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        (void) ngx_atomic_cmp_set(&sh->health_busy, ctx->busy, 0);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_revoca_health_release;
    cln->data = ctx;

    ctx->rr.rmcf = rmcf;
    ctx->rr.pool = r->pool;
    ctx->rr.log = r->connection->log;
    ctx->rr.handler = ngx_http_revoca_health_done;
    ctx->rr.data = r;
    ctx->issuer = 0;

    if (rmcf->registry->n == 0) {
        ngx_http_revoca_health_verdict(sh, NGX_OK);
        return ngx_http_revoca_health_send(r);
    }

    rc = ngx_http_revoca_health_ask(r, ctx);

    if (rc == NGX_ERROR) {
        ngx_http_revoca_health_verdict(sh, rc);
        return ngx_http_revoca_health_send(r);
    }

    r->main->count++;

    return NGX_DONE;
}


/* ZRANGE P:due:ISSUER 0 0 WITHSCORES for the issuer ctx->issuer */

static ngx_int_t
ngx_http_revoca_health_ask(ngx_http_request_t *r,
    ngx_http_revoca_health_ctx_t *ctx)
{
    int                           n;
    char                          key[OCSP_KEY_MAX];
    const char                   *argv[5];
    size_t                        argvlen[5];
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ctx->rr.rmcf;

    n = ocsp_key_due(key, rmcf->ocsp->prefix,
                     rmcf->registry->issuers[ctx->issuer].conf->name);
    if (n < 0) {
        return NGX_ERROR;
    }

    argv[0] = "ZRANGE"; argvlen[0] = 6;
    argv[1] = key; argvlen[1] = n;
    argv[2] = "0"; argvlen[2] = 1;
    argv[3] = "0"; argvlen[3] = 1;
    argv[4] = "WITHSCORES"; argvlen[4] = 10;

    if (ngx_http_revoca_redis_format(&ctx->rr, 5, argv, argvlen) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the previous issuer's reply, read by now */

    if (ctx->rr.ngot) {
        freeReplyObject(ctx->rr.replies[0]);
        ctx->rr.replies[0] = NULL;
        ctx->rr.ngot = 0;
    }

    ctx->rr.nreplies = 1;

    return ngx_http_revoca_redis_query(&ctx->rr);
}


static void
ngx_http_revoca_health_done(ngx_http_revoca_redis_req_t *rr, ngx_int_t rc)
{
    ngx_connection_t              *c;
    ngx_atomic_int_t              *due;
    ngx_http_request_t            *r;
    ngx_http_revoca_health_ctx_t  *ctx;
    ngx_http_revoca_metrics_sh_t  *sh;

    r = rr->data;
    c = r->connection;
    ctx = (ngx_http_revoca_health_ctx_t *) rr;
    sh = ngx_http_revoca_metrics(rr->rmcf);
    due = (ngx_atomic_int_t *) ((u_char *) sh + sh->due_off);

    if (rc == NGX_OK) {
        due[ctx->issuer] = ngx_http_revoca_health_score(rr->replies[0]);

        if (++ctx->issuer < rr->rmcf->registry->n) {
            rc = ngx_http_revoca_health_ask(r, ctx);

            if (rc != NGX_ERROR) {
                return;
            }
        }
    }

    ngx_http_revoca_health_verdict(sh, rc);

    ngx_http_finalize_request(r, ngx_http_revoca_health_send(r));
    ngx_http_run_posted_requests(c);
}


/* the query's end: its verdict holds for a second from now */

static void
ngx_http_revoca_health_verdict(ngx_http_revoca_metrics_sh_t *sh, ngx_int_t rc)
{
    sh->health_redis = (rc == NGX_OK);
    sh->health_at = ngx_current_msec ? ngx_current_msec : 1;
}


/* the score of a one-member ZRANGE WITHSCORES reply, in whole seconds */

static ngx_atomic_int_t
ngx_http_revoca_health_score(redisReply *reply)
{
    char    *end;
    double   score;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_HTTP_REVOCA_HEALTH_INVALID;
    }

    if (reply->elements == 0) {
        return NGX_HTTP_REVOCA_HEALTH_EMPTY;
    }

    if (reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[1]->len == 0 || reply->element[1]->len > 32)
    {
        return NGX_HTTP_REVOCA_HEALTH_INVALID;
    }

    /* hiredis NUL-terminates its strings */

    score = strtod(reply->element[1]->str, &end);

    if (end != reply->element[1]->str + reply->element[1]->len
        || !(score > -1e15 && score < 1e15))
    {
        return NGX_HTTP_REVOCA_HEALTH_INVALID;
    }

    if (score == 0) {
        /* not NGX_HTTP_REVOCA_HEALTH_UNKNOWN: as far in the past */
        return 1;
    }

    return (ngx_atomic_int_t) score;
}


/* the request is gone: the query is no longer ours to finish */

static void
ngx_http_revoca_health_release(void *data)
{
    ngx_http_revoca_health_ctx_t *ctx = data;

    (void) ngx_atomic_cmp_set(
               &ngx_http_revoca_metrics(ctx->rr.rmcf)->health_busy,
               ctx->busy, 0);
}


/* an issuer's re-sign state, from the zone; "ok" or why not */

static const char *
ngx_http_revoca_health_resign(ngx_http_request_t *r, ngx_uint_t redis_ok,
    ngx_atomic_int_t due)
{
    ngx_http_revoca_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    if (!redis_ok || due == NGX_HTTP_REVOCA_HEALTH_UNKNOWN) {
        return "unknown";
    }

    if (due == NGX_HTTP_REVOCA_HEALTH_INVALID) {
        return "invalid";
    }

    if (due != NGX_HTTP_REVOCA_HEALTH_EMPTY
        && due < (ngx_atomic_int_t) (ngx_time() - rlcf->health_margin))
    {
        return "behind";
    }

    return "ok";
}


/* the verdict from the zone and the registry */

static ngx_int_t
ngx_http_revoca_health_send(ngx_http_request_t *r)
{
    u_char                        *p, *end;
    size_t                         size;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_uint_t                     i, n, ok, redis_ok;
    ngx_msec_t                     age;
    ngx_chain_t                    out;
    ngx_table_elt_t               *cc;
    const char                    *redis, **resign, **certs;
    ngx_atomic_int_t              *due;
    ngx_http_revoca_main_conf_t   *rmcf;
    ngx_http_revoca_metrics_sh_t  *sh;
    const ocsp_issuer_t           *iss;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    sh = ngx_http_revoca_metrics(rmcf);
    due = (ngx_atomic_int_t *) ((u_char *) sh + sh->due_off);
    n = rmcf->registry->n;

    /* a verdict older than a query may take is no longer one */

    age = ngx_current_msec - (ngx_msec_t) sh->health_at;

    if (sh->health_at == 0
        || age >= 2 * NGX_HTTP_REVOCA_HEALTH_VALID + rmcf->connect_timeout
                  + rmcf->timeout)
    {
        redis = "unknown";
        redis_ok = 0;

    } else {
        redis_ok = (sh->health_redis != 0);
        redis = redis_ok ? "ok" : "fail";
    }

    ok = redis_ok;

    resign = ngx_palloc(r->pool, 2 * (n + 1) * sizeof(const char *));
    if (resign == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    certs = resign + n + 1;

    for (i = 0; i < n; i++) {
        iss = &rmcf->registry->issuers[i];

        resign[i] = ngx_http_revoca_health_resign(r, redis_ok, due[i]);
        certs[i] = (ocsp_issuer_responder_expiry(iss, ngx_time()) > 0)
                   ? "ok" : "expired";

        ok = ok && resign[i][0] == 'o' && certs[i][0] == 'o';
    }

    size = sizeof("{\"status\":\"fail\",\"redis\":\"unknown\","
                  "\"resign\":{},\"responder_certs\":{}}\n")
           + n * 2 * (OCSP_ISSUER_NAME_MAX + sizeof(",\"\":\"unknown\""));

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;
    end = b->end;

    p = ngx_slprintf(p, end, "{\"status\":\"%s\",\"redis\":\"%s\","
                     "\"resign\":{", ok ? "ok" : "fail", redis);

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, end, "%s\"%s\":\"%s\"", i ? "," : "",
                         rmcf->registry->issuers[i].conf->name, resign[i]);
    }

    p = ngx_slprintf(p, end, "},\"responder_certs\":{");

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, end, "%s\"%s\":\"%s\"", i ? "," : "",
                         rmcf->registry->issuers[i].conf->name, certs[i]);
    }

    b->last = ngx_slprintf(p, end, "}}\n");

    cc = ngx_list_push(&r->headers_out.headers);
    if (cc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cc->hash = 1;
    ngx_str_set(&cc->key, "Cache-Control");
    ngx_str_set(&cc->value, "no-store");

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = ok ? NGX_HTTP_OK : NGX_HTTP_SERVICE_UNAVAILABLE;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
