
/*
 * ngx_http_revoca_module: answers OCSP requests (RFC 6960; RFC 5019) over
 * GET and POST with the responses revoca-signer pre-signs into Redis.
 *
 * A request is decoded by libocspcore, matched to an issuer, looked up in
 * the shared cache and, on a miss, fetched from Redis without blocking.
 * Error answers are unsigned and never cacheable; a response is never
 * served past its nextUpdate.  Signing on the request path (nonces,
 * never-issued serials) is opt-in and rate-limited.
 */


#include "ngx_http_revoca.h"

#include <ngx_md5.h>

#include "keys.h"
#include "record.h"


#define NGX_HTTP_REVOCA_SIGN_NONCE     0x02
#define NGX_HTTP_REVOCA_SIGN_RATE_MAX  1000000
#define NGX_HTTP_REVOCA_SIGN_UNISSUED  0x04

/* invalid status records: each key logged once per interval per worker */
#define NGX_HTTP_REVOCA_BAD_LOG_KEYS      16
#define NGX_HTTP_REVOCA_BAD_LOG_INTERVAL  60

#define NGX_HTTP_REVOCA_CACHE_KEY_MAX  (OCSP_ISSUER_NAME_MAX                 \
                                        + OCSP_SERIAL_HEX_MAX + 16)


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  cache;
    time_t                      cache_valid;
    size_t                      max_request_size;
    ngx_uint_t                  max_singles;
    ngx_uint_t                  miss_status;
    ngx_uint_t                  sign;
} ngx_http_revoca_loc_conf_t;


typedef struct {
    ngx_http_revoca_redis_req_t    rr;
    ocsp_request_t                 req;
    const ocsp_issuer_t           *issuer;
    ngx_int_t                      issuer_index;
    ngx_str_t                      body;       /* POST, up to the limit */
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


static ngx_int_t ngx_http_revoca_handler(ngx_http_request_t *r);
static void ngx_http_revoca_body_handler(ngx_http_request_t *r);
static void ngx_http_revoca_body_read_handler(ngx_http_request_t *r);
static void ngx_http_revoca_read_body(ngx_http_request_t *r,
    ngx_uint_t read_first);
static ngx_int_t ngx_http_revoca_take_body(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx);
static ngx_int_t ngx_http_revoca_get_der(ngx_http_request_t *r,
    ngx_str_t *der);
static ngx_int_t ngx_http_revoca_process(ngx_http_request_t *r,
    u_char *der, size_t len);
static void ngx_http_revoca_redis_done(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);
static ngx_int_t ngx_http_revoca_answer_redis(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx);
static ngx_int_t ngx_http_revoca_sign(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, redisReply *record, ngx_uint_t with_nonce);
static ngx_uint_t ngx_http_revoca_origins(ngx_http_revoca_loc_conf_t *rlcf,
    const ocsp_issuer_t *issuer);
static void ngx_http_revoca_log_invalid_record(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, const char *why);
static ngx_int_t ngx_http_revoca_miss(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx);
static ngx_int_t ngx_http_revoca_send_answer(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, ngx_http_revoca_answer_t *ans);
static ngx_int_t ngx_http_revoca_send_error(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx, ocsp_resp_status_e status);
static ngx_int_t ngx_http_revoca_send(ngx_http_request_t *r, u_char *der,
    size_t len, ngx_uint_t memory);
static ngx_int_t ngx_http_revoca_add_header(ngx_http_request_t *r,
    char *key, ngx_str_t *value, ngx_table_elt_t **out);
static void ngx_http_revoca_etag(ngx_http_revoca_answer_t *ans);
static ngx_int_t ngx_http_revoca_parse_time(redisReply *rp, time_t *t);

static void *ngx_http_revoca_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_revoca_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_revoca_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_revoca_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_revoca_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_revoca_init_worker(ngx_cycle_t *cycle);
static void ngx_http_revoca_exit_worker(ngx_cycle_t *cycle);

static char *ngx_http_revoca_ocsp(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_metrics_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_revoca_config(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_sign_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_sign_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_revoca_config_cleanup(void *data);


static ngx_conf_enum_t  ngx_http_revoca_miss_statuses[] = {
    { ngx_string("try_later"), OCSP_ST_TRY_LATER },
    { ngx_string("internal_error"), OCSP_ST_INTERNAL_ERROR },
    { ngx_string("unauthorized"), OCSP_ST_UNAUTHORIZED },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_revoca_commands[] = {

    { ngx_string("revoca_ocsp"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_revoca_ocsp,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_revoca_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_config"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_revoca_config,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_revoca_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, connect_timeout),
      NULL },

    { ngx_string("revoca_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, timeout),
      NULL },

    { ngx_string("revoca_redis_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, keepalive),
      NULL },

    { ngx_string("revoca_redis_keepalive_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, keepalive_timeout),
      NULL },

    { ngx_string("revoca_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_revoca_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_sign_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_revoca_sign_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, cache),
      NULL },

    { ngx_string("revoca_cache_valid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, cache_valid),
      NULL },

    { ngx_string("revoca_max_request_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, max_request_size),
      NULL },

    { ngx_string("revoca_max_singles"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, max_singles),
      NULL },

    { ngx_string("revoca_miss"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, miss_status),
      &ngx_http_revoca_miss_statuses },

    { ngx_string("revoca_sign"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_revoca_sign_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_revoca_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_revoca_postconfiguration,     /* postconfiguration */

    ngx_http_revoca_create_main_conf,      /* create main configuration */
    ngx_http_revoca_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_revoca_create_loc_conf,       /* create location configuration */
    ngx_http_revoca_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_revoca_module = {
    NGX_MODULE_V1,
    &ngx_http_revoca_module_ctx,           /* module context */
    ngx_http_revoca_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_revoca_init_worker,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_revoca_exit_worker,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_revoca_ocsp_type =
    ngx_string("application/ocsp-response");
static ngx_str_t  ngx_http_revoca_no_cache =
    ngx_string("max-age=0, no-cache");


static ngx_int_t
ngx_http_revoca_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      der;
    ngx_http_revoca_ctx_t         *ctx;
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_main_conf_t   *rmcf;
    ngx_http_revoca_metrics_sh_t  *sh;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    sh = ngx_http_revoca_metrics(rmcf);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        (void) ngx_atomic_fetch_add(
                          &sh->requests[NGX_HTTP_REVOCA_METHOD_OTHER], 1);
        return NGX_HTTP_NOT_ALLOWED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_revoca_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->issuer_index = -1;
    ngx_http_set_ctx(r, ctx, ngx_http_revoca_module);

    if (r->method == NGX_HTTP_POST) {
        (void) ngx_atomic_fetch_add(
                          &sh->requests[NGX_HTTP_REVOCA_METHOD_POST], 1);

        if (r->headers_in.content_length_n > (off_t) rlcf->max_request_size) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "revoca: request body of %O bytes is over %uz",
                          r->headers_in.content_length_n,
                          rlcf->max_request_size);

            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED);
        }

        /*
         * Read unbuffered, into a buffer of the size limit: a body is never
         * written to a temporary file, and a chunked one (no length known
         * beforehand) is refused as soon as it passes the limit, not once
         * the client has sent all of it.
         */

        ctx->body.data = ngx_pnalloc(r->pool, rlcf->max_request_size);
        if (ctx->body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->request_body_no_buffering = 1;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_revoca_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    (void) ngx_atomic_fetch_add(&sh->requests[NGX_HTTP_REVOCA_METHOD_GET], 1);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_revoca_get_der(r, &der);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED);
    }

    return ngx_http_revoca_process(r, der.data, der.len);
}


/*
 * The body is read unbuffered: nginx calls ngx_http_revoca_body_handler()
 * once its first part (or all of it) is in, and the read event handler is
 * ours until the end.  Each part read is moved into ctx->body at once (so
 * that nginx reuses its buffer), and then reading goes on while the socket
 * has data, as ngx_http_upstream_send_request_body() does for an
 * unbuffered proxy.
 */

static void
ngx_http_revoca_body_handler(ngx_http_request_t *r)
{
    ngx_http_revoca_read_body(r, 0);
}


static void
ngx_http_revoca_body_read_handler(ngx_http_request_t *r)
{
    ngx_http_revoca_read_body(r, 1);
}


static void
ngx_http_revoca_read_body(ngx_http_request_t *r, ngx_uint_t read_first)
{
    ngx_int_t               rc;
    ngx_http_revoca_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);

    for ( ;; ) {

        if (read_first) {
            rc = ngx_http_read_unbuffered_request_body(r);

            if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
                ngx_http_finalize_request(r, rc);
                return;
            }
        }

        read_first = 1;

        rc = ngx_http_revoca_take_body(r, ctx);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (rc == NGX_DECLINED) {
            /* nginx discards the rest with a lingering close */
            r->keepalive = 0;
            r->lingering_close = 1;
            ngx_http_finalize_request(r,
                ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED));
            return;
        }

        if (!r->reading_body) {
            break;
        }

        if (rc == NGX_AGAIN) {
            /* nothing new: wait for the socket */
            r->read_event_handler = ngx_http_revoca_body_read_handler;
            return;
        }
    }

    if (ctx->body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "revoca: empty request body refused");
        ngx_http_finalize_request(r,
            ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_revoca_process(r, ctx->body.data, ctx->body.len));
}


/*
 * Moves what nginx read of the body into ctx->body: NGX_OK if something
 * was read, NGX_AGAIN if nothing, NGX_DECLINED as soon as the body would
 * pass revoca_max_request_size (malformedRequest, as for a Content-Length
 * over it), NGX_ERROR.
 */

static ngx_int_t
ngx_http_revoca_take_body(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx)
{
    size_t                       size;
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_revoca_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    if (r->request_body == NULL) {
        return NGX_AGAIN;
    }

    rc = NGX_AGAIN;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            /* unbuffered reading never writes one */
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "revoca: request body in a file");
            return NGX_ERROR;
        }

        size = b->last - b->pos;

        if (size > rlcf->max_request_size - ctx->body.len) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "revoca: request body over %uz bytes refused",
                          rlcf->max_request_size);
            return NGX_DECLINED;
        }

        ctx->body.len = ngx_cpymem(ctx->body.data + ctx->body.len, b->pos,
                                   size)
                        - ctx->body.data;

        /* consumed: nginx reuses the buffer for what comes next */
        b->pos = b->last;
        rc = NGX_OK;
    }

    r->request_body->bufs = NULL;

    return rc;
}


/*
 * The base64 OCSPRequest of a GET (RFC 6960 A.1) as sent: from the raw
 * request line, so that nginx's merge_slashes cannot damage a "//" of the
 * base64, and after the location's prefix.  Decoding it, with the variants
 * clients send and the repair of slashes a proxy merged, is the core's
 * (get_path.h).
 */

static ngx_int_t
ngx_http_revoca_get_der(ngx_http_request_t *r, ngx_str_t *der)
{
    u_char                      *p, *last, *q, *buf;
    size_t                       size;
    ocsp_limits_t                lim;
    ocsp_get_path_t              path;
    ngx_http_revoca_ctx_t       *ctx;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_revoca_loc_conf_t  *rlcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);

    p = r->unparsed_uri.data;
    last = p + r->unparsed_uri.len;

    q = ngx_strlchr(p, last, '?');
    if (q) {
        last = q;
    }

    if ((size_t) (last - p) >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;

    } else if (r->uri.len >= clcf->name.len) {
        /* the prefix itself was percent-encoded: fall back to r->uri */
        p = r->uri.data + clcf->name.len;
        last = r->uri.data + r->uri.len;

    } else {
        return NGX_DECLINED;
    }

    /*
     * The scratch is bounded by the longest path the core accepts (twice
     * the DER size limit); a longer one it refuses without using it.
     */

    size = ngx_min((size_t) (last - p), rlcf->max_request_size * 2);

    buf = ngx_pnalloc(r->pool, OCSP_GET_PATH_BUF(size));
    if (buf == NULL) {
        return NGX_ERROR;
    }

    lim.max_size = rlcf->max_request_size;
    lim.max_singles = rlcf->max_singles;

    if (ocsp_get_path_decode((const char *) p, last - p, &lim, buf,
                             OCSP_GET_PATH_BUF(size), &ctx->req, &path)
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "revoca: %s", path.err);
        return NGX_DECLINED;
    }

    if (path.repair) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "revoca: GET path repaired (attempt %ui)",
                       (ngx_uint_t) path.repair);
    }

    /* decoded already: ngx_http_revoca_process() takes the verdict */

    ctx->decoded = 1;
    ctx->decode_st = path.status;

    der->data = (u_char *) path.der;
    der->len = path.der_len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_revoca_process(ngx_http_request_t *r, u_char *der, size_t len)
{
    char                          key[OCSP_KEY_MAX];
    int                           n, argc;
    size_t                        argvlen[6];
    ngx_int_t                     rc;
    const char                   *argv[6];
    ocsp_limits_t                 lim;
    ocsp_certid_t                *id;
    ocsp_resp_status_e            st;
    ngx_http_revoca_ctx_t        *ctx;
    ngx_http_revoca_answer_t      ans;
    ngx_http_revoca_loc_conf_t   *rlcf;
    ngx_http_revoca_main_conf_t  *rmcf;
    ngx_http_revoca_metrics_sh_t *sh;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);
    sh = ngx_http_revoca_metrics(rmcf);

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
    ctx->cache_key.len = ngx_snprintf(ctx->cache_key_buf,
                                      NGX_HTTP_REVOCA_CACHE_KEY_MAX,
                                      "%s:%s:%d", ctx->issuer->conf->name,
                                      id->serial, (int) id->hash)
                         - ctx->cache_key_buf;

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
            (void) ngx_atomic_fetch_add(&sh->cache_hits, 1);
            return ngx_http_revoca_send_answer(r, ctx, &ans);
        }

        if (rc == NGX_OK) {
            ctx->stale = ans;
            ctx->have_stale = 1;
        }

        (void) ngx_atomic_fetch_add(&sh->cache_misses, 1);
    }

    /* HMGET P:ocsp:ISSUER:SERIAL <form> this_update next_update status */

    ctx->rr.rmcf = rmcf;
    ctx->rr.pool = r->pool;
    ctx->rr.log = r->connection->log;
    ctx->rr.handler = ngx_http_revoca_redis_done;
    ctx->rr.data = r;

    n = ocsp_key_ocsp(key, rmcf->ocsp->prefix, ctx->issuer->conf->name,
                      id->serial);
    if (n < 0) {
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_INTERNAL_ERROR);
    }

    argc = 0;
    argv[argc] = "HMGET"; argvlen[argc++] = 5;
    argv[argc] = key; argvlen[argc++] = n;
    argv[argc] = ocsp_hash_field(id->hash);
    argvlen[argc] = ngx_strlen(argv[argc]); argc++;
    argv[argc] = OCSP_FIELD_THIS_UPDATE;
    argvlen[argc++] = sizeof(OCSP_FIELD_THIS_UPDATE) - 1;
    argv[argc] = OCSP_FIELD_NEXT_UPDATE;
    argvlen[argc++] = sizeof(OCSP_FIELD_NEXT_UPDATE) - 1;
    argv[argc] = OCSP_FIELD_STATUS;
    argvlen[argc++] = sizeof(OCSP_FIELD_STATUS) - 1;

    if (ngx_http_revoca_redis_format(&ctx->rr, argc, argv, argvlen)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->rr.nreplies = 1;

    if (ctx->want_record) {
        /* pipelined: GET P:cert:ISSUER:SERIAL, the status record */
        u_char    *first;
        size_t     first_len;

        first = ctx->rr.cmd;
        first_len = ctx->rr.cmd_len;

        n = ocsp_key_cert(key, rmcf->ocsp->prefix, ctx->issuer->conf->name,
                          id->serial);
        if (n < 0) {
            return ngx_http_revoca_send_error(r, ctx, OCSP_ST_INTERNAL_ERROR);
        }

        argv[0] = "GET"; argvlen[0] = 3;
        argv[1] = key; argvlen[1] = n;

        if (ngx_http_revoca_redis_format(&ctx->rr, 2, argv, argvlen)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        der = ngx_pnalloc(r->pool, first_len + ctx->rr.cmd_len);
        if (der == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(der, first, first_len);
        ngx_memcpy(der + first_len, ctx->rr.cmd, ctx->rr.cmd_len);
        ctx->rr.cmd = der;
        ctx->rr.cmd_len += first_len;
        ctx->rr.nreplies = 2;
    }

    rc = ngx_http_revoca_redis_query(&ctx->rr);

    if (rc == NGX_ERROR) {
        (void) ngx_atomic_fetch_add(&sh->redis_errors, 1);
        return ngx_http_revoca_miss(r, ctx);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_revoca_redis_done(ngx_http_revoca_redis_req_t *rr, ngx_int_t rc)
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


static ngx_int_t
ngx_http_revoca_answer_redis(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx)
{
    time_t                         now;
    ngx_int_t                      n;
    redisReply                    *rp, *der, *st, *record;
    ngx_http_revoca_answer_t       ans;
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_main_conf_t   *rmcf;
    ngx_http_revoca_metrics_sh_t  *sh;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);
    sh = ngx_http_revoca_metrics(rmcf);

    rp = ctx->rr.replies[0];
    record = (ctx->rr.nreplies > 1) ? ctx->rr.replies[1] : NULL;

    if (rp->type != REDIS_REPLY_ARRAY
        || rp->elements != NGX_HTTP_REVOCA_REDIS_ELEMENTS_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "revoca: unexpected redis reply type %d to HMGET",
                      rp->type);
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

    der = rp->element[0];

    if (der->type == REDIS_REPLY_NIL
        && rp->element[1]->type == REDIS_REPLY_NIL
        && rp->element[2]->type == REDIS_REPLY_NIL)
    {
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

    if (der->type != REDIS_REPLY_STRING
        || der->len < 2 || der->len > NGX_HTTP_REVOCA_DER_MAX
        || (u_char) der->str[0] != 0x30
        || ngx_http_revoca_parse_time(rp->element[1], &ans.this_update)
           != NGX_OK
        || ngx_http_revoca_parse_time(rp->element[2], &ans.next_update)
           != NGX_OK
        || ans.this_update >= ans.next_update)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "revoca: incomplete or invalid response record in"
                      " redis for issuer \"%s\" serial %s",
                      ctx->issuer->conf->name,
                      ctx->req.singles[0].serial);
        return ngx_http_revoca_miss(r, ctx);
    }

    now = ngx_time();

    if (ans.next_update <= now) {
        /* RFC 5019 4: never past nextUpdate; the signer is behind */
        (void) ngx_atomic_fetch_add(&sh->expired, 1);
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "revoca: response in redis for issuer \"%s\" serial"
                      " %s is past its nextUpdate",
                      ctx->issuer->conf->name, ctx->req.singles[0].serial);
        ctx->have_stale = 0;

        if (ctx->want_record) {
            return ngx_http_revoca_sign(r, ctx, record, 0);
        }

        return ngx_http_revoca_miss(r, ctx);
    }

    st = rp->element[3];
    ans.cert_status = NGX_HTTP_REVOCA_CERT_NONE;

    if (st->type == REDIS_REPLY_STRING) {
        n = ocsp_status_from_field(st->str, st->len);
        if (n >= 0) {
            ans.cert_status = n;
        }
    }

    /* the reply is freed with the request's pool, after the answer */
    ans.der.data = (u_char *) der->str;
    ans.der.len = der->len;
    ans.origin = NGX_HTTP_REVOCA_ORIGIN_PRESIGNED;
    ans.fresh = 1;
    ngx_http_revoca_etag(&ans);

    if (rlcf->cache && rmcf->cache_zone) {
        ngx_http_revoca_cache_put(rmcf->cache_zone, &ctx->cache_key, &ans);
    }

    return ngx_http_revoca_send_answer(r, ctx, &ans);
}


/*
 * Signs on the request path from the certificate's status record (RECORD,
 * a GET reply, nil if none): for a nonce (RFC 9654), or for a serial with
 * no pre-signed response, answered per the issuer's unissued policy.
 */

static ngx_int_t
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
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "revoca: ocsp_response_sign() failed");
        (void) ngx_atomic_fetch_add(&sh->sign_errors, 1);
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_INTERNAL_ERROR);
    }

    (void) ngx_atomic_fetch_add(&sh->signatures, 1);

    ngx_memzero(&ans, sizeof(ngx_http_revoca_answer_t));

    ans.der.data = ngx_pnalloc(r->pool, outlen);
    if (ans.der.data == NULL) {
        free(out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ans.der.data, out, outlen);
    ans.der.len = outlen;
    free(out);

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

static ngx_int_t
ngx_http_revoca_miss(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx)
{
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_main_conf_t   *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    if (ctx->have_stale && ctx->stale.next_update > ngx_time()) {
        (void) ngx_atomic_fetch_add(
                           &ngx_http_revoca_metrics(rmcf)->cache_stale_served,
                           1);
        return ngx_http_revoca_send_answer(r, ctx, &ctx->stale);
    }

    return ngx_http_revoca_send_error(r, ctx, rlcf->miss_status);
}


static ngx_int_t
ngx_http_revoca_send_answer(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx,
    ngx_http_revoca_answer_t *ans)
{
    u_char                        *p;
    time_t                         now, max_age, resign;
    ngx_str_t                      v;
    ngx_uint_t                     i;
    ngx_table_elt_t               *h;
    ngx_http_revoca_main_conf_t   *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    ngx_http_revoca_metrics_answer(rmcf, ctx->issuer_index,
                                   OCSP_ST_SUCCESSFUL, ans->cert_status);

    now = ngx_time();

    /*
     * RFC 5019 6.2: max-age no later than nextUpdate; also no later than
     * the point where the signer replaces the response, so that caches
     * pick up a revocation by then.
     */

    max_age = ans->next_update - now;
    resign = ocsp_resign_at(ctx->issuer->conf, ans->this_update) - now;

    if (resign > 0 && resign < max_age) {
        max_age = resign;
    }

    if (max_age < 0) {
        max_age = 0;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_revoca_ocsp_type;
    r->headers_out.content_type_len = ngx_http_revoca_ocsp_type.len;
    r->headers_out.content_length_n = ans->der.len;

    if (ctx->no_cache) {
        if (ngx_http_revoca_add_header(r, "Cache-Control",
                                       &ngx_http_revoca_no_cache, NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_revoca_send(r, ans->der.data, ans->der.len, 0);
    }

    r->headers_out.last_modified_time = ans->this_update;

    v.data = ngx_pnalloc(r->pool, sizeof("public, no-transform,"
                                         " must-revalidate, max-age=")
                                  + NGX_TIME_T_LEN);
    if (v.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.len = ngx_sprintf(v.data, "public, no-transform, must-revalidate,"
                        " max-age=%T", max_age) - v.data;

    if (ngx_http_revoca_add_header(r, "Cache-Control", &v, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.data = ngx_pnalloc(r->pool, sizeof("Mon, 28 Sep 1970 06:00:00 GMT"));
    if (v.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.len = ngx_http_time(v.data, now + max_age) - v.data;

    if (ngx_http_revoca_add_header(r, "Expires", &v, &h) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.expires = h;

    v.data = ngx_pnalloc(r->pool, 2 + 2 * NGX_HTTP_REVOCA_ETAG_LEN);
    if (v.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = v.data;
    *p++ = '"';

    for (i = 0; i < NGX_HTTP_REVOCA_ETAG_LEN; i++) {
        p = ngx_sprintf(p, "%02xd", ans->etag[i]);
    }

    *p++ = '"';
    v.len = p - v.data;

    if (ngx_http_revoca_add_header(r, "ETag", &v, &h) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.etag = h;

    return ngx_http_revoca_send(r, ans->der.data, ans->der.len, 0);
}


/* RFC 6960 4.2.1 / RFC 5019 2.2.3: unsigned, sent with HTTP 200 */

static ngx_int_t
ngx_http_revoca_send_error(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx,
    ocsp_resp_status_e status)
{
    size_t                        len;
    const unsigned char          *der;
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    ngx_http_revoca_metrics_answer(rmcf, ctx ? ctx->issuer_index : -1,
                                   status, NGX_HTTP_REVOCA_CERT_NONE);

    der = ocsp_response_error(status, &len);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_revoca_ocsp_type;
    r->headers_out.content_type_len = ngx_http_revoca_ocsp_type.len;
    r->headers_out.content_length_n = len;
    r->disable_not_modified = 1;

    if (ngx_http_revoca_add_header(r, "Cache-Control",
                                   &ngx_http_revoca_no_cache, NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_revoca_send(r, (u_char *) der, len, 1);
}


static ngx_int_t
ngx_http_revoca_send(ngx_http_request_t *r, u_char *der, size_t len,
    ngx_uint_t memory)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = der;
    b->last = der + len;

    if (memory) {
        b->memory = 1;

    } else {
        b->temporary = 1;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_revoca_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    if (out) {
        *out = h;
    }

    return NGX_OK;
}


static void
ngx_http_revoca_etag(ngx_http_revoca_answer_t *ans)
{
    ngx_md5_t  md5;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, ans->der.data, ans->der.len);
    ngx_md5_final(ans->etag, &md5);
}


static ngx_int_t
ngx_http_revoca_parse_time(redisReply *rp, time_t *t)
{
    ngx_int_t  n;

    if (rp->type != REDIS_REPLY_STRING || rp->len == 0 || rp->len > 12) {
        return NGX_ERROR;
    }

    n = ngx_atoi((u_char *) rp->str, rp->len);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    *t = (time_t) n;

    return NGX_OK;
}


static void *
ngx_http_revoca_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_revoca_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->ocsp = NULL;
     *     rmcf->registry = NULL;
     *     rmcf->servers = NULL;
     *     rmcf->cache_zone = NULL;
     *     rmcf->sign_keys = 0;
     */

    rmcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    rmcf->timeout = NGX_CONF_UNSET_MSEC;
    rmcf->keepalive = NGX_CONF_UNSET_UINT;
    rmcf->keepalive_timeout = NGX_CONF_UNSET_MSEC;
    rmcf->sign_rate = NGX_CONF_UNSET_UINT;
    rmcf->sign_burst = NGX_CONF_UNSET_UINT;

    return rmcf;
}


static char *
ngx_http_revoca_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ngx_conf_init_msec_value(rmcf->connect_timeout, 1000);
    ngx_conf_init_msec_value(rmcf->timeout, 1000);
    ngx_conf_init_uint_value(rmcf->keepalive, 32);
    ngx_conf_init_msec_value(rmcf->keepalive_timeout, 60000);
    ngx_conf_init_uint_value(rmcf->sign_rate, 10);
    ngx_conf_init_uint_value(rmcf->sign_burst, rmcf->sign_rate);

    return NGX_CONF_OK;
}


static void *
ngx_http_revoca_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_revoca_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_revoca_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    rlcf->enable = NGX_CONF_UNSET;
    rlcf->cache = NGX_CONF_UNSET;
    rlcf->cache_valid = NGX_CONF_UNSET;
    rlcf->max_request_size = NGX_CONF_UNSET_SIZE;
    rlcf->max_singles = NGX_CONF_UNSET_UINT;
    rlcf->miss_status = NGX_CONF_UNSET_UINT;
    rlcf->sign = NGX_CONF_UNSET_UINT;

    return rlcf;
}


static char *
ngx_http_revoca_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_revoca_loc_conf_t *prev = parent;
    ngx_http_revoca_loc_conf_t *conf = child;

    ngx_http_revoca_main_conf_t  *rmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_revoca_module);

    if (conf->enable && rmcf->ocsp == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_ocsp\" needs \"revoca_config\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->cache, prev->cache, 1);
    ngx_conf_merge_sec_value(conf->cache_valid, prev->cache_valid, 60);
    ngx_conf_merge_size_value(conf->max_request_size,
                              prev->max_request_size, 10240);
    ngx_conf_merge_uint_value(conf->max_singles, prev->max_singles, 1);
    ngx_conf_merge_uint_value(conf->miss_status, prev->miss_status,
                              OCSP_ST_TRY_LATER);
    ngx_conf_merge_uint_value(conf->sign, prev->sign, 0);

    /*
     * A pre-signed response answers one certificate, and RFC 6960 4.2.2.3
     * wants a SingleResponse for each one asked about: more than one per
     * request (which RFC 5019 2.1.1 rules out anyway) cannot be answered.
     */

    if (conf->max_singles != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_max_singles\" must be 1: a pre-signed"
                           " response answers one certificate");
        return NGX_CONF_ERROR;
    }

    if (conf->max_request_size < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_max_request_size\" is too small");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_revoca_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                     name;
    ngx_http_revoca_main_conf_t  *rmcf;
    ngx_http_revoca_redis_server_t *srv;
    ngx_url_t                     u;
    ocsp_config_t                *oc;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_revoca_module);

    if (rmcf->ocsp == NULL) {
        return NGX_OK;
    }

    oc = rmcf->ocsp;

    rmcf->registry = ngx_pcalloc(cf->pool, sizeof(ocsp_registry_t));
    if (rmcf->registry == NULL) {
        return NGX_ERROR;
    }

    if (ocsp_registry_load(rmcf->registry, oc,
                           rmcf->sign_keys ? OCSP_REGISTRY_KEYS : 0)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "revoca: %V: %s", &rmcf->config_file,
                           rmcf->registry->err);
        ocsp_registry_free(rmcf->registry);
        rmcf->registry = NULL;
        return NGX_ERROR;
    }

    /* Redis from the shared file unless revoca_redis says otherwise */

    if (rmcf->servers == NULL) {
        rmcf->servers = ngx_array_create(cf->pool, 1,
                                     sizeof(ngx_http_revoca_redis_server_t));
        if (rmcf->servers == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        if (oc->redis_host[0] == '/') {
            u.url.len = ngx_strlen(oc->redis_host) + 5;
            u.url.data = ngx_pnalloc(cf->pool, u.url.len + 1);
            if (u.url.data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(u.url.data, "unix:%s%Z", oc->redis_host);

        } else {
            u.url.len = ngx_strlen(oc->redis_host) + 1 + NGX_INT_T_LEN;
            u.url.data = ngx_pnalloc(cf->pool, u.url.len + 1);
            if (u.url.data == NULL) {
                return NGX_ERROR;
            }

            u.url.len = ngx_sprintf(u.url.data, "%s:%d", oc->redis_host,
                                    oc->redis_port)
                        - u.url.data;
        }

        u.no_resolve = 0;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "revoca: redis \"%V\" in %V: %s", &u.url,
                               &rmcf->config_file,
                               u.err ? u.err : "invalid address");
            return NGX_ERROR;
        }

        srv = ngx_array_push(rmcf->servers);
        if (srv == NULL) {
            return NGX_ERROR;
        }

        srv->addrs = u.addrs;
        srv->naddrs = u.naddrs;
        srv->name = u.url;
    }

    /* the counters, one zone per configuration file's issuer set */

    ngx_str_set(&name, "revoca_metrics");

    rmcf->metrics_zone = ngx_shared_memory_add(cf, &name,
        ngx_align(ngx_http_revoca_metrics_size(rmcf->registry->n)
                  + 8 * ngx_pagesize, ngx_pagesize),
        &ngx_http_revoca_module);
    if (rmcf->metrics_zone == NULL) {
        return NGX_ERROR;
    }

    rmcf->metrics_zone->init = ngx_http_revoca_metrics_init_zone;
    rmcf->metrics_zone->data = rmcf;
    rmcf->metrics_zone->noreuse = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_revoca_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_revoca_main_conf_t  *rmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_revoca_module);

    if (rmcf == NULL || rmcf->ocsp == NULL) {
        return NGX_OK;
    }

    return ngx_http_revoca_redis_init_worker(cycle, rmcf);
}


static void
ngx_http_revoca_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_revoca_redis_exit_worker(cycle);
}


static char *
ngx_http_revoca_ocsp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    rlcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_revoca_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_revoca_metrics_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    char                  err[OCSP_ERR_MAX];
    ngx_str_t            *value;
    ngx_pool_cleanup_t   *cln;

    if (rmcf->ocsp) {
        return "is duplicate";
    }

    value = cf->args->elts;
    rmcf->config_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &rmcf->config_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rmcf->ocsp = ngx_pcalloc(cf->pool, sizeof(ocsp_config_t));
    if (rmcf->ocsp == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ocsp_config_load(rmcf->ocsp, (char *) rmcf->config_file.data, err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "revoca: %s", err);
        rmcf->ocsp = NULL;
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_revoca_config_cleanup;
    cln->data = rmcf;

    return NGX_CONF_OK;
}


static void
ngx_http_revoca_config_cleanup(void *data)
{
    ngx_http_revoca_main_conf_t *rmcf = data;

    if (rmcf->registry) {
        ocsp_registry_free(rmcf->registry);
        rmcf->registry = NULL;
    }

    if (rmcf->ocsp) {
        ocsp_config_free(rmcf->ocsp);
        rmcf->ocsp = NULL;
    }
}


static char *
ngx_http_revoca_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ngx_str_t                       *value;
    ngx_url_t                        u;
    ngx_http_revoca_redis_server_t  *srv;

    value = cf->args->elts;

    if (rmcf->servers == NULL) {
        rmcf->servers = ngx_array_create(cf->pool, 2,
                                     sizeof(ngx_http_revoca_redis_server_t));
        if (rmcf->servers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                           u.err ? u.err : "invalid address", &u.url);
        return NGX_CONF_ERROR;
    }

    srv = ngx_array_push(rmcf->servers);
    if (srv == NULL) {
        return NGX_CONF_ERROR;
    }

    srv->addrs = u.addrs;
    srv->naddrs = u.naddrs;
    srv->name = u.url;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;
    void       *cache;

    if (rmcf->cache_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid revoca cache zone size \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "revoca_cache");

    rmcf->cache_zone = ngx_shared_memory_add(cf, &name, size,
                                             &ngx_http_revoca_module);
    if (rmcf->cache_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    cache = ngx_http_revoca_cache_create(cf->pool);
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    rmcf->cache_zone->init = ngx_http_revoca_cache_init_zone;
    rmcf->cache_zone->data = cache;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_sign_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (rmcf->sign_rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    s = value[1];

    if (s.len > 3 && ngx_strncmp(s.data + s.len - 3, "r/s", 3) == 0) {
        s.len -= 3;
    }

    /* request-path signing is always rate-limited: no "off" */

    /* bounded so that the token arithmetic (thousandths) cannot wrap */

    n = ngx_atoi(s.data, s.len);
    if (n == NGX_ERROR || n == 0 || n > NGX_HTTP_REVOCA_SIGN_RATE_MAX) {
        return "invalid rate, expected 1..1000000 r/s";
    }

    rmcf->sign_rate = n;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "burst=", 6) != 0) {
            return "invalid parameter, expected burst=N";
        }

        n = ngx_atoi(value[2].data + 6, value[2].len - 6);
        if (n == NGX_ERROR || n == 0 || n > NGX_HTTP_REVOCA_SIGN_RATE_MAX) {
            return "invalid burst, expected 1..1000000";
        }

        rmcf->sign_burst = n;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_sign_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_revoca_loc_conf_t *rlcf = conf;

    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_revoca_main_conf_t  *rmcf;

    if (rlcf->sign != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    rlcf->sign = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "off") == 0 && cf->args->nelts == 2) {
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(value[i].data, "nonce") == 0) {
            rlcf->sign |= NGX_HTTP_REVOCA_SIGN_NONCE;

        } else if (ngx_strcmp(value[i].data, "unissued") == 0) {
            rlcf->sign |= NGX_HTTP_REVOCA_SIGN_UNISSUED;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected \"off\","
                               " \"nonce\" or \"unissued\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    /* the responder keys are loaded only when something may sign */

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_revoca_module);
    rmcf->sign_keys = 1;

    return NGX_CONF_OK;
}
