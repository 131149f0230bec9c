
/*
 * Counters in a small shared zone and the page that shows them in
 * Prometheus text format (version 0.0.4).  The counters a request touches
 * are kept per worker (ngx_http_revoca_metrics_slot_t, summed by the
 * page); the rare ones, and the request-path signing rate limiter's bucket
 * (ngx_http_revoca_sign.c), are shared.
 */


#include "ngx_http_revoca.h"


/*
 * A worker slot's alignment: a cache line, doubled because x86's adjacent
 * line prefetcher pulls lines in pairs (the destructive interference size
 * C++17 compilers report for x86 is 128 too).
 */
#define NGX_HTTP_REVOCA_METRICS_LINE   128

/* nginx's own bound on worker processes */
#define NGX_HTTP_REVOCA_METRICS_SLOTS_MAX  1024


static ngx_buf_t *ngx_http_revoca_metrics_render(ngx_http_request_t *r,
    ngx_http_revoca_main_conf_t *rmcf);


/* Redis latency histogram bounds, in milliseconds; the last is +Inf */
static ngx_msec_t  ngx_http_revoca_lat_bounds[NGX_HTTP_REVOCA_LAT_N - 1] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000
};

static const char  *ngx_http_revoca_lat_labels[NGX_HTTP_REVOCA_LAT_N] = {
    "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2",
    "0.5", "1", "5", "+Inf"
};

static const char  *ngx_http_revoca_resp_names[NGX_HTTP_REVOCA_RESP_N] = {
    "successful", "malformedRequest", "internalError", "tryLater", NULL,
    "sigRequired", "unauthorized"
};

static const char  *ngx_http_revoca_cert_names[NGX_HTTP_REVOCA_CERT_N] = {
    "good", "revoked", "unknown", "none"
};

static const char  *ngx_http_revoca_method_names[NGX_HTTP_REVOCA_METHOD_N] = {
    "GET", "POST", "other"
};

static const char
    *ngx_http_revoca_ingest_outcomes[NGX_HTTP_REVOCA_INGEST_OUTCOME_N] =
{
    "accepted", "pending", "invalid", "forbidden", "too_large",
    "unavailable", "error"
};


/* the ingest counters of N clients: requests and events, per outcome */
#define ngx_http_revoca_metrics_ingest_n(nclients)                           \
    (2 * ((nclients) + 1) * NGX_HTTP_REVOCA_INGEST_OUTCOME_N)


static ngx_uint_t
ngx_http_revoca_metrics_nclients(ngx_http_revoca_main_conf_t *rmcf)
{
    return rmcf->ingest_clients ? rmcf->ingest_clients->nelts : 0;
}


static size_t
ngx_http_revoca_metrics_slot_size(ngx_uint_t nissuers)
{
    return ngx_align(offsetof(ngx_http_revoca_metrics_slot_t, answers)
                     + (nissuers + 1) * NGX_HTTP_REVOCA_RESP_N
                       * NGX_HTTP_REVOCA_CERT_N * sizeof(ngx_atomic_t),
                     NGX_HTTP_REVOCA_METRICS_LINE);
}


size_t
ngx_http_revoca_metrics_size(ngx_uint_t nissuers, ngx_uint_t nslots,
    ngx_uint_t nclients)
{
    /* the header, then the slots from the next line on */
    return ngx_align(sizeof(ngx_http_revoca_metrics_sh_t),
                     NGX_HTTP_REVOCA_METRICS_LINE)
           + NGX_HTTP_REVOCA_METRICS_LINE
           + nslots * ngx_http_revoca_metrics_slot_size(nissuers)
           + nissuers * sizeof(ngx_atomic_t)
           + ngx_http_revoca_metrics_ingest_n(nclients) * sizeof(ngx_atomic_t);
}


ngx_uint_t
ngx_http_revoca_metrics_nslots(ngx_conf_t *cf)
{
    ngx_int_t         n;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    /*
     * "worker_processes" after the http block, or none (then 1): one slot
     * per CPU.  Were there fewer slots than workers, some would share one,
     * still counted right (the increments are atomic).
     */

    n = (ccf->worker_processes != NGX_CONF_UNSET) ? ccf->worker_processes
                                                  : ngx_ncpu;

    return (ngx_uint_t) ngx_max(1, ngx_min(n,
                                      NGX_HTTP_REVOCA_METRICS_SLOTS_MAX));
}


ngx_int_t
ngx_http_revoca_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_revoca_main_conf_t  *rmcf = shm_zone->data;

    u_char                        *slots;
    size_t                         size;
    uint32_t                       crc;
    ngx_uint_t                     i;
    const char                    *name;
    ngx_slab_pool_t               *shpool;
    ngx_http_revoca_metrics_sh_t  *sh;
    ngx_http_revoca_redis_server_t *srv;
    ngx_http_revoca_ingest_client_t *cl;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    size = ngx_http_revoca_metrics_size(rmcf->registry->n,
                                        rmcf->metrics_slots,
                                        ngx_http_revoca_metrics_nclients(rmcf));

    if (shm_zone->shm.exists) {
        return NGX_OK;
    }

    ngx_crc32_init(crc);

    for (i = 0; i < rmcf->registry->n; i++) {
        name = rmcf->registry->issuers[i].conf->name;
        ngx_crc32_update(&crc, (u_char *) name, ngx_strlen(name) + 1);
    }

    /* and the servers' labels */

    srv = rmcf->servers->elts;

    for (i = 0; i < rmcf->servers->nelts; i++) {
        ngx_crc32_update(&crc, srv[i].name.data, srv[i].name.len);
        ngx_crc32_update(&crc, (u_char *) "", 1);
    }

    /* and the ingest clients' */

    for (i = 0; i < ngx_http_revoca_metrics_nclients(rmcf); i++) {
        cl = ((ngx_http_revoca_ingest_client_t **)
              rmcf->ingest_clients->elts)[i];
        ngx_crc32_update(&crc, cl->name.data, cl->name.len);
        ngx_crc32_update(&crc, (u_char *) "", 1);
    }

    ngx_crc32_final(crc);

    sh = data ? shpool->data : NULL;

    if (sh && sh->nissuers == rmcf->registry->n && sh->issuers_crc == crc
        && sh->nslots == rmcf->metrics_slots
        && sh->nclients == ngx_http_revoca_metrics_nclients(rmcf))
    {
        /* a reload keeps the counters when the issuers, by name and in
         * order, stay the same: else the issuer labels would be wrong */
        return NGX_OK;
    }

    /* a reused zone: the old block is cleared or given back, not leaked */

    if (sh && (sh->nissuers != rmcf->registry->n
               || sh->nslots != rmcf->metrics_slots
               || sh->nclients != ngx_http_revoca_metrics_nclients(rmcf)))
    {
        ngx_slab_free(shpool, sh);
        sh = NULL;
    }

    if (sh == NULL) {
        sh = ngx_slab_alloc(shpool, size);
        if (sh == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memzero(sh, size);
    sh->nissuers = rmcf->registry->n;
    sh->issuers_crc = crc;
    sh->nslots = rmcf->metrics_slots;
    sh->slot_size = ngx_http_revoca_metrics_slot_size(sh->nissuers);

    slots = ngx_align_ptr((u_char *) sh
                          + ngx_align(sizeof(ngx_http_revoca_metrics_sh_t),
                                      NGX_HTTP_REVOCA_METRICS_LINE),
                          NGX_HTTP_REVOCA_METRICS_LINE);
    sh->slots_off = slots - (u_char *) sh;
    sh->due_off = sh->slots_off + sh->nslots * sh->slot_size;
    sh->nclients = ngx_http_revoca_metrics_nclients(rmcf);
    sh->ingest_off = sh->due_off + sh->nissuers * sizeof(ngx_atomic_t);

    sh->sign_tokens = rmcf->sign_burst * 1000;
    sh->sign_last = ngx_current_msec;
    shpool->data = sh;

    return NGX_OK;
}


ngx_http_revoca_metrics_sh_t *
ngx_http_revoca_metrics(ngx_http_revoca_main_conf_t *rmcf)
{
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) rmcf->metrics_zone->shm.addr;

    return shpool->data;
}


static ngx_http_revoca_metrics_slot_t *
ngx_http_revoca_metrics_slot_n(ngx_http_revoca_metrics_sh_t *sh, ngx_uint_t n)
{
    return (ngx_http_revoca_metrics_slot_t *)
               ((u_char *) sh + sh->slots_off + n * sh->slot_size);
}


ngx_http_revoca_metrics_slot_t *
ngx_http_revoca_metrics_slot(ngx_http_revoca_main_conf_t *rmcf)
{
    static ngx_http_revoca_metrics_sh_t    *last_sh;
    static ngx_http_revoca_metrics_slot_t  *last_slot;

    ngx_http_revoca_metrics_sh_t  *sh;

    sh = ngx_http_revoca_metrics(rmcf);

    /* a worker lives in one cycle: its slot is found once (ngx_worker is
     * 0 in the single process) */

    if (sh != last_sh) {
        last_slot = ngx_http_revoca_metrics_slot_n(sh,
                                                   ngx_worker % sh->nslots);
        last_sh = sh;
    }

    return last_slot;
}


void
ngx_http_revoca_metrics_answer(ngx_http_revoca_main_conf_t *rmcf,
    ngx_int_t issuer, ngx_uint_t resp_status, ngx_uint_t cert_status)
{
    ngx_uint_t                       row;
    ngx_http_revoca_metrics_sh_t    *sh;
    ngx_http_revoca_metrics_slot_t  *slot;

    sh = ngx_http_revoca_metrics(rmcf);

    if (sh->nissuers != rmcf->registry->n) {
        return;
    }

    row = (issuer < 0 || (ngx_uint_t) issuer >= sh->nissuers)
          ? sh->nissuers : (ngx_uint_t) issuer;

    if (resp_status >= NGX_HTTP_REVOCA_RESP_N) {
        resp_status = OCSP_ST_INTERNAL_ERROR;
    }

    if (cert_status >= NGX_HTTP_REVOCA_CERT_N) {
        cert_status = NGX_HTTP_REVOCA_CERT_NONE;
    }

    slot = ngx_http_revoca_metrics_slot(rmcf);

    (void) ngx_atomic_fetch_add(
        &slot->answers[(row * NGX_HTTP_REVOCA_RESP_N + resp_status)
                     * NGX_HTTP_REVOCA_CERT_N + cert_status], 1);
}


void
ngx_http_revoca_metrics_ingest(ngx_http_revoca_main_conf_t *rmcf,
    ngx_int_t client, ngx_uint_t outcome, ngx_uint_t nevents)
{
    ngx_uint_t                     row;
    ngx_atomic_t                  *c;
    ngx_http_revoca_metrics_sh_t  *sh;

    sh = ngx_http_revoca_metrics(rmcf);

    row = (client < 0 || (ngx_uint_t) client >= sh->nclients)
          ? sh->nclients : (ngx_uint_t) client;

    c = (ngx_atomic_t *) ((u_char *) sh + sh->ingest_off);
    c += row * NGX_HTTP_REVOCA_INGEST_OUTCOME_N + outcome;

    /* once per request, not per event: shared, not per worker */

    (void) ngx_atomic_fetch_add(c, 1);
    (void) ngx_atomic_fetch_add(c + (sh->nclients + 1)
                                    * NGX_HTTP_REVOCA_INGEST_OUTCOME_N,
                                nevents);
}


void
ngx_http_revoca_metrics_latency(ngx_http_revoca_main_conf_t *rmcf,
    ngx_msec_t ms)
{
    ngx_uint_t                       i;
    ngx_http_revoca_metrics_slot_t  *slot;

    slot = ngx_http_revoca_metrics_slot(rmcf);

    for (i = 0; i < NGX_HTTP_REVOCA_LAT_N - 1; i++) {
        if (ms <= ngx_http_revoca_lat_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&slot->redis_latency[i], 1);
    (void) ngx_atomic_fetch_add(&slot->redis_latency_sum_us, ms * 1000);
    (void) ngx_atomic_fetch_add(&slot->redis_queries, 1);
}


ngx_int_t
ngx_http_revoca_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_chain_t                   out;
    ngx_http_revoca_main_conf_t  *rmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    if (rmcf->metrics_zone == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    b = ngx_http_revoca_metrics_render(r, rmcf);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* a slot counter's offset, and its sum over the slots */
#define ngx_http_revoca_metrics_off(field)                                    \
    offsetof(ngx_http_revoca_metrics_slot_t, field)


static ngx_atomic_uint_t
ngx_http_revoca_metrics_sum(ngx_http_revoca_metrics_sh_t *sh, size_t off)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  v;

    v = 0;

    for (i = 0; i < sh->nslots; i++) {
        v += *(ngx_atomic_t *) ((u_char *) ngx_http_revoca_metrics_slot_n(sh, i)
                                + off);
    }

    return v;
}


/* revoca_ingest_{requests,events}_total{client, outcome} */

static u_char *
ngx_http_revoca_metrics_render_ingest(u_char *p, u_char *end,
    ngx_http_revoca_main_conf_t *rmcf, ngx_http_revoca_metrics_sh_t *sh)
{
    ngx_str_t                         name;
    ngx_uint_t                        i, row, k;
    ngx_atomic_t                     *c;
    ngx_http_revoca_ingest_client_t **clients;
    static const char                *what[2] = { "requests", "events" };

    clients = rmcf->ingest_clients->elts;
    c = (ngx_atomic_t *) ((u_char *) sh + sh->ingest_off);

    for (i = 0; i < 2; i++) {
        p = ngx_slprintf(p, end,
                         "# HELP revoca_ingest_%s_total ingest %s by client"
                         " (\"\": none identified) and outcome\n"
                         "# TYPE revoca_ingest_%s_total counter\n",
                         what[i], what[i], what[i]);

        for (row = 0; row <= sh->nclients; row++) {
            if (row < sh->nclients && row < rmcf->ingest_clients->nelts) {
                name = clients[row]->name;

            } else {
                ngx_str_null(&name);
            }

            for (k = 0; k < NGX_HTTP_REVOCA_INGEST_OUTCOME_N; k++) {
                p = ngx_slprintf(p, end,
                                 "revoca_ingest_%s_total{client=\"%V\","
                                 "outcome=\"%s\"} %uA\n", what[i], &name,
                                 ngx_http_revoca_ingest_outcomes[k],
                                 c[(i * (sh->nclients + 1) + row)
                                   * NGX_HTTP_REVOCA_INGEST_OUTCOME_N + k]);
            }
        }
    }

    return p;
}


#define ngx_http_revoca_metric(p, end, help, type, name, fmt, ...)           \
    p = ngx_slprintf(p, end, "# HELP " name " " help "\n# TYPE " name " "    \
                     type "\n" name fmt "\n", __VA_ARGS__)


static ngx_buf_t *
ngx_http_revoca_metrics_render(ngx_http_request_t *r,
    ngx_http_revoca_main_conf_t *rmcf)
{
    u_char                        *p, *end;
    size_t                         size;
    ngx_buf_t                     *b;
    ngx_uint_t                     i, j, k, row;
    ngx_atomic_uint_t              v, cum;
    const char                    *issuer;
    ngx_http_revoca_metrics_sh_t  *sh;
    ngx_http_revoca_redis_server_t *srv;

    sh = ngx_http_revoca_metrics(rmcf);

    size = 8192 + (sh->nissuers + 1) * NGX_HTTP_REVOCA_RESP_N
                  * NGX_HTTP_REVOCA_CERT_N * 160
           + rmcf->registry->n * 128
           + rmcf->servers->nelts * 256
           + ngx_http_revoca_metrics_ingest_n(sh->nclients) * 160;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;
    end = b->end;

    p = ngx_slprintf(p, end,
                     "# HELP revoca_ocsp_http_requests_total HTTP requests"
                     " by method\n"
                     "# TYPE revoca_ocsp_http_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_REVOCA_METHOD_N; i++) {
        v = ngx_http_revoca_metrics_sum(sh,
                                   ngx_http_revoca_metrics_off(requests[i]));
        p = ngx_slprintf(p, end,
                         "revoca_ocsp_http_requests_total{method=\"%s\"} %uA\n",
                         ngx_http_revoca_method_names[i], v);
    }

    p = ngx_slprintf(p, end,
                     "# HELP revoca_ocsp_responses_total OCSP answers by"
                     " issuer, response status and certificate status\n"
                     "# TYPE revoca_ocsp_responses_total counter\n");

    for (row = 0; row <= sh->nissuers; row++) {

        issuer = (row < sh->nissuers && row < rmcf->registry->n)
                 ? rmcf->registry->issuers[row].conf->name : "";

        for (j = 0; j < NGX_HTTP_REVOCA_RESP_N; j++) {

            if (ngx_http_revoca_resp_names[j] == NULL) {
                continue;
            }

            for (k = 0; k < NGX_HTTP_REVOCA_CERT_N; k++) {

                v = ngx_http_revoca_metrics_sum(sh,
                        ngx_http_revoca_metrics_off(
                            answers[(row * NGX_HTTP_REVOCA_RESP_N + j)
                                    * NGX_HTTP_REVOCA_CERT_N + k]));

                if (v == 0) {
                    continue;
                }

                p = ngx_slprintf(p, end,
                                 "revoca_ocsp_responses_total{issuer=\"%s\","
                                 "status=\"%s\",cert_status=\"%s\"} %uA\n",
                                 issuer, ngx_http_revoca_resp_names[j],
                                 ngx_http_revoca_cert_names[k], v);
            }
        }
    }

    ngx_http_revoca_metric(p, end, "responses served from the shared cache",
                           "counter", "revoca_ocsp_cache_hits_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(cache_hits)));
    ngx_http_revoca_metric(p, end, "look-ups that went to Redis",
                           "counter", "revoca_ocsp_cache_misses_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(cache_misses)));
    ngx_http_revoca_metric(p, end, "cached responses served past their cache"
                           " lifetime (before nextUpdate) because Redis"
                           " failed", "counter",
                           "revoca_ocsp_stale_served_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                           ngx_http_revoca_metrics_off(cache_stale_served)));
    ngx_http_revoca_metric(p, end, "responses found in Redis past their"
                           " nextUpdate (not served)", "counter",
                           "revoca_ocsp_expired_total", " %uA", sh->expired);
    ngx_http_revoca_metric(p, end, "Redis queries that failed (connect,"
                           " timeout, protocol)", "counter",
                           "revoca_ocsp_redis_errors_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(redis_errors)));
    ngx_http_revoca_metric(p, end, "responses signed on the request path",
                           "counter", "revoca_ocsp_signed_total",
                           " %uA", sh->signatures);
    ngx_http_revoca_metric(p, end, "request-path signatures refused by the"
                           " rate limit", "counter",
                           "revoca_ocsp_sign_rate_limited_total",
                           " %uA", sh->sign_limited);
    ngx_http_revoca_metric(p, end, "request-path signatures that failed",
                           "counter", "revoca_ocsp_sign_errors_total",
                           " %uA", sh->sign_errors);

    srv = rmcf->servers->elts;

    p = ngx_slprintf(p, end,
                     "# HELP revoca_ocsp_redis_server_queries_total query"
                     " attempts on each Redis server, preferred first\n"
                     "# TYPE revoca_ocsp_redis_server_queries_total"
                     " counter\n");

    for (i = 0; i < rmcf->servers->nelts; i++) {
        p = ngx_slprintf(p, end,
                         "revoca_ocsp_redis_server_queries_total"
                         "{server=\"%V\"} %uA\n", &srv[i].name,
                         ngx_http_revoca_metrics_sum(sh,
                             ngx_http_revoca_metrics_off(server_queries[i])));
    }

    p = ngx_slprintf(p, end,
                     "# HELP revoca_ocsp_redis_server_errors_total failed"
                     " query attempts on each Redis server\n"
                     "# TYPE revoca_ocsp_redis_server_errors_total"
                     " counter\n");

    for (i = 0; i < rmcf->servers->nelts; i++) {
        p = ngx_slprintf(p, end,
                         "revoca_ocsp_redis_server_errors_total"
                         "{server=\"%V\"} %uA\n", &srv[i].name,
                         ngx_http_revoca_metrics_sum(sh,
                             ngx_http_revoca_metrics_off(server_errors[i])));
    }

    ngx_http_revoca_metric(p, end, "Redis queries retried on the next server",
                           "counter", "revoca_ocsp_redis_failovers_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(failovers)));
    ngx_http_revoca_metric(p, end, "workers subscribed to the invalidation"
                           " channel", "gauge",
                           "revoca_invalidation_connected",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(inval_connected)));
    ngx_http_revoca_metric(p, end, "invalidation subscriptions lost",
                           "counter", "revoca_invalidation_lost_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(inval_lost)));
    ngx_http_revoca_metric(p, end, "invalidation messages received (by each"
                           " worker)", "counter",
                           "revoca_invalidation_messages_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(inval_messages)));
    ngx_http_revoca_metric(p, end, "invalidation messages ignored as"
                           " malformed", "counter",
                           "revoca_invalidation_malformed_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(inval_malformed)));
    ngx_http_revoca_metric(p, end, "cached answers dropped by invalidation"
                           " messages", "counter",
                           "revoca_invalidation_dropped_total",
                           " %uA", ngx_http_revoca_metrics_sum(sh,
                               ngx_http_revoca_metrics_off(inval_dropped)));

    p = ngx_slprintf(p, end,
                     "# HELP revoca_ocsp_redis_latency_seconds Redis query"
                     " round trips\n"
                     "# TYPE revoca_ocsp_redis_latency_seconds histogram\n");

    cum = 0;

    for (i = 0; i < NGX_HTTP_REVOCA_LAT_N; i++) {
        cum += ngx_http_revoca_metrics_sum(sh,
                   ngx_http_revoca_metrics_off(redis_latency[i]));
        p = ngx_slprintf(p, end,
                         "revoca_ocsp_redis_latency_seconds_bucket"
                         "{le=\"%s\"} %uA\n",
                         ngx_http_revoca_lat_labels[i], cum);
    }

    v = ngx_http_revoca_metrics_sum(sh,
            ngx_http_revoca_metrics_off(redis_latency_sum_us));

    p = ngx_slprintf(p, end,
                     "revoca_ocsp_redis_latency_seconds_sum %uA.%06uA\n"
                     "revoca_ocsp_redis_latency_seconds_count %uA\n",
                     v / 1000000, v % 1000000, cum);

    if (sh->nclients) {
        p = ngx_http_revoca_metrics_render_ingest(p, end, rmcf, sh);
    }

    p = ngx_slprintf(p, end,
                     "# HELP revoca_responder_cert_expiry_seconds seconds"
                     " until the responder certificate's notAfter\n"
                     "# TYPE revoca_responder_cert_expiry_seconds gauge\n");

    for (i = 0; i < rmcf->registry->n; i++) {
        p = ngx_slprintf(p, end,
                         "revoca_responder_cert_expiry_seconds"
                         "{issuer=\"%s\"} %L\n",
                         rmcf->registry->issuers[i].conf->name,
                         (int64_t) ocsp_issuer_responder_expiry(
                             &rmcf->registry->issuers[i], ngx_time()));
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return b;
}
