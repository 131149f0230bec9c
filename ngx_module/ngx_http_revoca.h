
/*
 * ngx_http_revoca_module: an OCSP responder (RFC 6960, RFC 5019) answering
 * from the pre-signed responses that revoca-signer keeps in Redis.
 *
 * Files, in the order a request goes through them:
 *   ngx_http_revoca_module.c   directives, configuration, module hooks
 *   ngx_http_revoca_request.c  request input: POST body, GET path
 *   ngx_http_revoca_lookup.c   issuer, shared cache, Redis; the answer
 *   ngx_http_revoca_sign.c     request-path signing and its rate limiter
 *   ngx_http_revoca_output.c   HTTP output: answers, errors, headers
 * and ngx_http_revoca_health.c, the health check for load balancers;
 * and beside them ngx_http_revoca_redis.c (non-blocking Redis client on
 * nginx's event loop, fail-over; its TLS in ngx_http_revoca_redis_ssl.c),
 * ngx_http_revoca_invalidate.c (the
 * subscription that drops changed answers from the cache),
 * ngx_http_revoca_cache.c (the shared-memory cache),
 * ngx_http_revoca_metrics.c (counters and the Prometheus page).  Every
 * OCSP, record and decoding rule is the core's (responder/, libocspcore);
 * docs/dev/architecture.md draws the whole.
 */


#ifndef _NGX_HTTP_REVOCA_H_INCLUDED_
#define _NGX_HTTP_REVOCA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "get_path.h"
#include "ingest.h"
#include "issuer.h"
#include "policy.h"
#include "reply_limits.h"
#include "request.h"
#include "response.h"


/* cert status labels: OCSP_CERT_GOOD..UNKNOWN (response.h), and NONE:
 * the answer carried no SingleResponse */
#define NGX_HTTP_REVOCA_CERT_NONE      (OCSP_CERT_UNKNOWN + 1)
#define NGX_HTTP_REVOCA_CERT_N         4

/* OCSPResponseStatus 0..6 (4 is unused by RFC 6960) */
#define NGX_HTTP_REVOCA_RESP_N         7

#define NGX_HTTP_REVOCA_METHOD_GET     0
#define NGX_HTTP_REVOCA_METHOD_POST    1
#define NGX_HTTP_REVOCA_METHOD_OTHER   2
#define NGX_HTTP_REVOCA_METHOD_N       3

#define NGX_HTTP_REVOCA_LAT_N          12

/* largest pre-signed response accepted from Redis */
#define NGX_HTTP_REVOCA_DER_MAX        (64 * 1024)

/* the most elements a Redis reply may have: the module's commands (GET of
 * the stored responses and of the record, AUTH, SELECT) get none, so any
 * array beyond this small bound is hostile */
#define NGX_HTTP_REVOCA_REDIS_ELEMENTS_MAX  4

/* the most "revoca_redis" servers, in preference order */
#define NGX_HTTP_REVOCA_REDIS_SERVERS_MAX  8
/* the ETag header's value: the MD5 of the DER in hex, quoted, formatted
 * once when the answer is made (RFC 9110 8.8.3) */
#define NGX_HTTP_REVOCA_ETAG_LEN       (2 + 2 * 16)


/*
 * Where an answer comes from, so that the shared cache gives a location only
 * what that location could have produced itself: a response pre-signed by
 * revoca-signer (any location), or one signed on the request path from the
 * status record (only where "revoca_sign unissued" is on).
 */
#define NGX_HTTP_REVOCA_ORIGIN_PRESIGNED  0x01
#define NGX_HTTP_REVOCA_ORIGIN_SIGNED     0x02


typedef struct {
    ngx_str_t                   der;
    time_t                      this_update;
    time_t                      next_update;
    u_char                      etag[NGX_HTTP_REVOCA_ETAG_LEN];
    ngx_uint_t                  cert_status;
    ngx_uint_t                  origin;     /* NGX_HTTP_REVOCA_ORIGIN_* */
    ngx_msec_t                  asked;      /* when Redis was asked */
    unsigned                    fresh:1;
} ngx_http_revoca_answer_t;


/*
 * The counters a request may touch, one block per worker (the slot of
 * ngx_worker), each on cache lines of its own: a worker's increments stay
 * in its own core's cache instead of bouncing one line between the cores
 * on every request.  Increments are still atomic: in a reload, an old
 * worker still finishing its requests shares its slot with the new worker
 * of the same number.  The metrics page sums the slots.
 */
typedef struct {
    ngx_atomic_t                requests[NGX_HTTP_REVOCA_METHOD_N];
    ngx_atomic_t                cache_hits;
    ngx_atomic_t                cache_misses;
    ngx_atomic_t                cache_stale_served;
    ngx_atomic_t                redis_queries;
    ngx_atomic_t                redis_errors;
    ngx_atomic_t                redis_latency_sum_us;
    ngx_atomic_t                redis_latency[NGX_HTTP_REVOCA_LAT_N];
    /* attempts and failed attempts on each server, in configured order,
     * and queries retried on another server */
    ngx_atomic_t                server_queries[NGX_HTTP_REVOCA_REDIS_SERVERS_MAX
                                               + 1];   /* the primary */
    ngx_atomic_t                server_errors[NGX_HTTP_REVOCA_REDIS_SERVERS_MAX
                                              + 1];
    ngx_atomic_t                failovers;
    /* the worker's invalidation subscription (ngx_http_revoca_invalidate.c):
     * 1 while subscribed, subscriptions lost, messages, malformed ones,
     * cache entries they dropped */
    ngx_atomic_t                inval_connected;
    ngx_atomic_t                inval_lost;
    ngx_atomic_t                inval_messages;
    ngx_atomic_t                inval_malformed;
    ngx_atomic_t                inval_dropped;
    /* [issuer + 1][NGX_HTTP_REVOCA_RESP_N][NGX_HTTP_REVOCA_CERT_N];
     * the last issuer row counts requests no issuer matched */
    ngx_atomic_t                answers[1];
} ngx_http_revoca_metrics_slot_t;


/*
 * The metrics zone's block: what is rare stays one shared counter
 * (responses found expired, request-path signing and its rate limiter),
 * then the per-worker slots.
 */
typedef struct {
    ngx_atomic_t                expired;
    ngx_atomic_t                signatures;
    ngx_atomic_t                sign_limited;
    ngx_atomic_t                sign_errors;
    /* the sign rate limiter's bucket (ngx_http_revoca_sign.c): tokens in
     * thousandths, last refill in ms */
    ngx_atomic_t                sign_lock;
    ngx_atomic_uint_t           sign_tokens;
    ngx_atomic_uint_t           sign_last;
    /* the health check (ngx_http_revoca_health.c): its last verdict's
     * end (ngx_current_msec; 0: none) and whether Redis answered, the
     * start of the query under way (0: none); from due_off, each issuer's
     * earliest re-sign time in P:due:ISSUER */
    ngx_atomic_t                health_at;
    ngx_atomic_t                health_redis;
    ngx_atomic_t                health_busy;
    size_t                      due_off;
    /* from ingest_off: [nclients + 1][OUTCOME_N] requests, then as many
     * event counts; the last row counts requests of no known client */
    size_t                      ingest_off;
    ngx_uint_t                  nclients;
    ngx_uint_t                  nissuers;
    uint32_t                    issuers_crc;  /* of the names, in order,
                                                 and of the redis servers */
    ngx_uint_t                  nslots;
    size_t                      slot_size;    /* a multiple of the line */
    size_t                      slots_off;    /* from this block's start */
} ngx_http_revoca_metrics_sh_t;


/* "revoca_sign" flags */
#define NGX_HTTP_REVOCA_SIGN_NONCE     0x02
#define NGX_HTTP_REVOCA_SIGN_UNISSUED  0x04

#define NGX_HTTP_REVOCA_CACHE_KEY_MAX  (OCSP_ISSUER_NAME_MAX                 \
                                        + OCSP_SERIAL_HEX_MAX + 16)


typedef struct ngx_http_revoca_redis_conn_s  ngx_http_revoca_redis_conn_t;
typedef struct ngx_http_revoca_redis_req_s  ngx_http_revoca_redis_req_t;
typedef struct ngx_http_revoca_redis_stream_s  ngx_http_revoca_redis_stream_t;

/* a reply of a stream (freed after the handler returns; NGX_OK to go on,
 * anything else drops the stream), or NULL once when the stream is lost,
 * after which the stream is gone */
typedef ngx_int_t (*ngx_http_revoca_redis_stream_pt)(void *data,
    redisReply *reply);

typedef void (*ngx_http_revoca_redis_done_pt)(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);

typedef struct {
    ngx_addr_t                 *addrs;
    ngx_uint_t                  naddrs;
    ngx_str_t                   name;       /* as configured, for the log */
    ngx_str_t                   host;       /* empty for a unix socket */
    ngx_str_t                   tls_name;   /* verified; NUL-terminated */
    unsigned                    tls:1;
    unsigned                    tls_ip:1;   /* tls_name is an address */
    unsigned                    write_only:1;  /* revoca_redis_primary, not
                                                  a revoca_redis server */
} ngx_http_revoca_redis_server_t;


typedef struct {
    ocsp_config_t              *ocsp;
    ocsp_registry_t            *registry;
    ngx_str_t                   config_file;

    ngx_array_t                *servers;    /* ngx_http_revoca_redis_server_t,
                                               preferred first */
    ngx_str_t                   primary;    /* revoca_redis_primary */
    ngx_uint_t                  write_server;  /* the primary's index in
                                                  servers; UNSET: none */
    ngx_array_t                *ingest_clients;  /* every location's
                                 ngx_http_revoca_ingest_client_t *, in
                                 order: the metrics' client labels */
    ngx_ssl_t                  *ssl;        /* redis.tls; NULL: plain */
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  timeout;
    ngx_uint_t                  keepalive;
    ngx_msec_t                  keepalive_timeout;

    ngx_shm_zone_t             *cache_zone;
    ngx_shm_zone_t             *metrics_zone;
    ngx_uint_t                  metrics_slots;

    ngx_uint_t                  sign_rate;  /* signatures per second, 0: off */
    ngx_uint_t                  sign_burst;
    ngx_flag_t                  sign_keys;  /* registry loaded with keys */
} ngx_http_revoca_main_conf_t;


struct ngx_http_revoca_redis_req_s {
    ngx_http_revoca_main_conf_t    *rmcf;
    ngx_http_revoca_redis_conn_t   *conn;
    ngx_pool_t                     *pool;
    ngx_log_t                      *log;
    u_char                         *cmd;
    size_t                          cmd_len;
    size_t                          sent;
    ngx_uint_t                      nreplies;   /* expected */
    ngx_uint_t                      ngot;
    redisReply                     *replies[4];
    redisReply                    **many;       /* nreplies of them, for a
                                                   longer pipeline; NULL:
                                                   replies[] */
    ngx_msec_t                      extra;      /* added to the timeouts:
                                                   a WAIT's own */
    ngx_msec_t                      start;
    ngx_msec_t                      deadline;   /* of the whole query */
    ngx_uint_t                      server;     /* being asked */
    ngx_http_revoca_redis_done_pt   handler;
    void                           *data;
    unsigned                        afresh:1;   /* stale keepalive retried */
    unsigned                        failed_over:1;
    unsigned                        probe:1;    /* of a skipped server */
    unsigned                        write:1;    /* to the primary only */
};


/* where a query's replies are */
#define ngx_http_revoca_redis_replies(rr)                                    \
    ((rr)->many ? (rr)->many : (rr)->replies)


/* "revoca_ingest_client NAME subject=DN|sha256=HEX issuers=.. kinds=.." */
typedef struct {
    ngx_str_t                   name;       /* the metrics' label */
    ngx_str_t                   subject;    /* RFC 2253, or empty */
    ngx_str_t                   sha256;     /* lower-case hex, or empty */
    ngx_array_t                *issuers;    /* ngx_str_t; NULL: any */
    ngx_uint_t                  kinds;      /* 1 << Revoca__Event kind_case */
    ngx_uint_t                  index;      /* in rmcf->ingest_clients */
} ngx_http_revoca_ingest_client_t;


/* what became of an ingest request, for the metrics */
#define NGX_HTTP_REVOCA_INGEST_ACCEPTED     0   /* 200 */
#define NGX_HTTP_REVOCA_INGEST_PENDING      1   /* 202: not signed in time */
#define NGX_HTTP_REVOCA_INGEST_INVALID      2   /* 400, 405, 415 */
#define NGX_HTTP_REVOCA_INGEST_FORBIDDEN    3   /* 403 */
#define NGX_HTTP_REVOCA_INGEST_TOO_LARGE    4   /* 413 */
#define NGX_HTTP_REVOCA_INGEST_UNAVAILABLE  5   /* 503 */
#define NGX_HTTP_REVOCA_INGEST_ERROR        6   /* 500 */
#define NGX_HTTP_REVOCA_INGEST_OUTCOME_N    7


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  cache;
    time_t                      cache_valid;
    size_t                      max_request_size;
    ngx_uint_t                  max_singles;
    ngx_uint_t                  miss_status;
    ngx_uint_t                  sign;       /* NGX_HTTP_REVOCA_SIGN_* */
    time_t                      health_margin;
    ngx_flag_t                  ingest;
    ngx_array_t                *ingest_clients;  /* ..._ingest_client_t * */
    size_t                      ingest_max_body;
    ngx_msec_t                  ingest_wait;
} ngx_http_revoca_loc_conf_t;


/* a request's state, in its pool */
typedef struct {
    ngx_http_revoca_redis_req_t    rr;
    ocsp_request_t                 req;
    const ocsp_issuer_t           *issuer;
    ngx_int_t                      issuer_index;
    ngx_str_t                      body;       /* POST, up to body_max */
    size_t                         body_max;   /* its buffer's size */
    ngx_str_t                      cache_key;
    u_char                         cache_key_buf[NGX_HTTP_REVOCA_CACHE_KEY_MAX];
    ngx_http_revoca_answer_t       stale;      /* cached, past its lifetime */
    unsigned                       have_stale:1;
    unsigned                       want_record:1;
    unsigned                       sign_nonce:1;
    unsigned                       sign_unissued:1;
    unsigned                       no_cache:1;  /* a nonce answer */
    ocsp_resp_status_e             decode_st;   /* if decoded: */
    unsigned                       decoded:1;   /* req already decoded */
} ngx_http_revoca_ctx_t;


/* ngx_http_revoca_request.c */

/* The content handler of a "revoca_ocsp" location. */
ngx_int_t ngx_http_revoca_handler(ngx_http_request_t *r);


/* ngx_http_revoca_lookup.c */

/*
 * Answers the request whose DER is DER/LEN (already decoded if
 * ctx->decoded): an unsigned error, a cached answer, or NGX_DONE with a
 * Redis query under way, whose end finalizes the request.
 */
ngx_int_t ngx_http_revoca_lookup(ngx_http_request_t *r, u_char *der,
    size_t len);

/* Redis failed or had nothing usable: a stale cached answer, else the
 * location's revoca_miss. */
ngx_int_t ngx_http_revoca_miss(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx);


/* ngx_http_revoca_sign.c */

/*
 * Signs on the request path from the status record RECORD (the GET reply;
 * NULL or nil: none), with the request's nonce if WITH_NONCE, and sends
 * the answer.  An invalid record is answered internalError.
 */
ngx_int_t ngx_http_revoca_sign(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, redisReply *record, ngx_uint_t with_nonce);

/* Takes a token from the shared bucket: NGX_OK, or NGX_DECLINED (counted
 * in the metrics) when none is left. */
ngx_int_t ngx_http_revoca_sign_allowed(ngx_http_revoca_main_conf_t *rmcf);


/* ngx_http_revoca_output.c */

ngx_int_t ngx_http_revoca_send_answer(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, ngx_http_revoca_answer_t *ans);
ngx_int_t ngx_http_revoca_send_error(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, ocsp_resp_status_e status);
/* sends the headers set, then the LEN bytes at BODY as the whole body
 * (MEMORY: read-only bytes, not the pool's) */
ngx_int_t ngx_http_revoca_send(ngx_http_request_t *r, u_char *body,
    size_t len, ngx_uint_t memory);
/* ans->etag, the ETag header's value, from ans->der */
void ngx_http_revoca_etag(ngx_http_revoca_answer_t *ans);
/* moves DER, malloc'ed by the core, into the request pool (DER is freed
 * either way) */
ngx_int_t ngx_http_revoca_der_to_pool(ngx_http_request_t *r, ngx_str_t *dst,
    u_char *der, size_t len);


/* ngx_http_revoca_redis.c */

/*
 * Sends the command of rr (rr->cmd, already formatted, rr->nreplies replies
 * expected) on a pooled or new connection.  Returns NGX_AGAIN: rr->handler
 * will be called with NGX_OK (rr->replies filled, owned by rr and freed with
 * the pool) or NGX_ERROR; or NGX_ERROR at once (handler not called).
 */
ngx_int_t ngx_http_revoca_redis_query(ngx_http_revoca_redis_req_t *rr);

/* Formats argv into rr->cmd (pool memory); returns NGX_OK or NGX_ERROR. */
ngx_int_t ngx_http_revoca_redis_format(ngx_http_revoca_redis_req_t *rr,
    int argc, const char **argv, const size_t *argvlen);

ngx_int_t ngx_http_revoca_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_revoca_main_conf_t *rmcf);
void ngx_http_revoca_redis_exit_worker(ngx_cycle_t *cycle);

/*
 * At configuration: the TLS context of redis.tls (CA, optional client
 * certificate, TLS 1.2 at least) and each server's name to verify.
 * NGX_OK, or NGX_ERROR with an [emerg] logged.
 */
ngx_int_t ngx_http_revoca_redis_init_ssl(ngx_conf_t *cf,
    ngx_http_revoca_main_conf_t *rmcf);

/*
 * A long-lived connection that receives pushed replies (a SUBSCRIBE): to
 * the first healthy server, with TLS, AUTH and SELECT as for queries; CMD
 * (LEN bytes, kept by the caller while the stream lives) is sent once
 * connected.  Every reply then goes to HANDLER; a failure, including the
 * connect, calls HANDLER(DATA, NULL) once, after which the stream is gone.
 * Returns the stream, or NULL (nothing to call back).
 */
ngx_http_revoca_redis_stream_t *ngx_http_revoca_redis_stream_open(
    u_char *cmd, size_t len, ngx_http_revoca_redis_stream_pt handler,
    void *data);
/* Sends CMD (LEN bytes, kept by the caller) on the stream: NGX_OK, or
 * NGX_DECLINED while an earlier command is still being sent. */
ngx_int_t ngx_http_revoca_redis_stream_send(
    ngx_http_revoca_redis_stream_t *st, u_char *cmd, size_t len);
/* Closes the stream without calling its handler. */
void ngx_http_revoca_redis_stream_close(ngx_http_revoca_redis_stream_t *st);
/* The server a stream is connected to, for the log. */
ngx_str_t *ngx_http_revoca_redis_stream_server(
    ngx_http_revoca_redis_stream_t *st);


/* ngx_http_revoca_invalidate.c */

/* Starts the worker's subscription to P:invalidate when there is a cache
 * zone to keep true; stops it. */
ngx_int_t ngx_http_revoca_invalidate_init_worker(ngx_cycle_t *cycle,
    ngx_http_revoca_main_conf_t *rmcf);
void ngx_http_revoca_invalidate_exit_worker(ngx_cycle_t *cycle);


/* ngx_http_revoca_cache.c */

typedef struct ngx_http_revoca_cache_s  ngx_http_revoca_cache_t;

/* the zone's data: an ngx_http_revoca_cache_t allocated from POOL */
void *ngx_http_revoca_cache_create(ngx_pool_t *pool);

ngx_int_t ngx_http_revoca_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);

/*
 * Looks KEY up among the entries whose origin is in ORIGINS (a mask of
 * NGX_HTTP_REVOCA_ORIGIN_*: what the asking location may produce).
 * NGX_OK: a copy of a response still before its nextUpdate is in *ans (DER
 * in POOL), ans->fresh says whether it was stored less than VALID seconds
 * ago (the asking location's lifetime); NGX_DECLINED: nothing usable;
 * NGX_ERROR: no memory.
 */
ngx_int_t ngx_http_revoca_cache_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t origins, time_t valid, ngx_http_revoca_answer_t *ans,
    ngx_pool_t *pool);

/* Stores ANS (with its origin) under KEY, now; not if an invalidation
 * came after ans->asked, since the answer may predate it. */
void ngx_http_revoca_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_revoca_answer_t *ans);

/* The cache key of the answer for ISSUER, SERIAL (canonical hex) and a
 * CertID hash (ocsp_hash_e) into BUF (NGX_HTTP_REVOCA_CACHE_KEY_MAX
 * bytes); returns its length. */
size_t ngx_http_revoca_cache_key(u_char *buf, const char *issuer,
    const char *serial, ngx_uint_t hash);

/* Drops the answers for ISSUER and SERIAL, every CertID form; returns
 * how many there were. */
ngx_uint_t ngx_http_revoca_cache_drop(ngx_shm_zone_t *zone,
    const char *issuer, const char *serial);

/* From now on, no entry stored at or before WHEN is ever returned, nor
 * stored an answer being read now (those an invalidation message may have
 * been about). */
void ngx_http_revoca_cache_forget_before(ngx_shm_zone_t *zone, time_t when);
/* Makes every answer stored at or before WHEN stale: read again from
 * Redis, and served only when no server answers (as past
 * revoca_cache_valid); answers being read meanwhile are not stored. */
void ngx_http_revoca_cache_stale_before(ngx_shm_zone_t *zone, time_t when);


/* ngx_http_revoca_metrics.c */

ngx_int_t ngx_http_revoca_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
/* the zone's block for NISSUERS issuers, NSLOTS worker slots and
 * NCLIENTS ingest clients */
size_t ngx_http_revoca_metrics_size(ngx_uint_t nissuers, ngx_uint_t nslots,
    ngx_uint_t nclients);
/* the worker slots to make: worker_processes if known by now, else one
 * per CPU */
ngx_uint_t ngx_http_revoca_metrics_nslots(ngx_conf_t *cf);
ngx_http_revoca_metrics_sh_t *ngx_http_revoca_metrics(
    ngx_http_revoca_main_conf_t *rmcf);
/* this worker's counters */
ngx_http_revoca_metrics_slot_t *ngx_http_revoca_metrics_slot(
    ngx_http_revoca_main_conf_t *rmcf);
void ngx_http_revoca_metrics_answer(ngx_http_revoca_main_conf_t *rmcf,
    ngx_int_t issuer, ngx_uint_t resp_status, ngx_uint_t cert_status);
void ngx_http_revoca_metrics_latency(ngx_http_revoca_main_conf_t *rmcf,
    ngx_msec_t ms);
ngx_int_t ngx_http_revoca_metrics_handler(ngx_http_request_t *r);
/* an ingest request of CLIENT (its index; -1: none identified) that
 * ended in OUTCOME (NGX_HTTP_REVOCA_INGEST_*) with NEVENTS events */
void ngx_http_revoca_metrics_ingest(ngx_http_revoca_main_conf_t *rmcf,
    ngx_int_t client, ngx_uint_t outcome, ngx_uint_t nevents);


/* ngx_http_revoca_ingest.c */

/* The content handler of a "revoca_ingest" location. */
ngx_int_t ngx_http_revoca_ingest_handler(ngx_http_request_t *r);


/* ngx_http_revoca_health.c */

/* The content handler of a "revoca_health" location. */
ngx_int_t ngx_http_revoca_health_handler(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_revoca_module;


#endif /* _NGX_HTTP_REVOCA_H_INCLUDED_ */
