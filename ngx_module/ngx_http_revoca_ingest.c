
/*
 * The event ingest (issue 13): a CA's front end POSTs events over HTTPS,
 * nginx doing TLS, client certificates, limits and logging.  A body is
 * JSON (one event or a batch, docs/ingest.md) or one protobuf Event; the
 * core parses and checks it (responder/ingest.c: the CLI's rules), the
 * client's certificate decides which issuers and kinds it may report
 * ("revoca_ingest_client"), and the events are written to the primary as
 * the CLI writes them: one XADD each to P:events, then WAIT for
 * redis.min_replica_acks replicas.  An answer may wait, on a timer, until
 * the signer has applied every event ("wait": true, or ?wait=1); a worker
 * never blocks.
 *
 * Every answer is JSON: {"accepted": N, ...} or
 * {"error": {"code": ..., "field": ..., "reason": ...}}.
 */


#include "ngx_http_revoca.h"

#include "event.h"
#include "ingest.h"
#include "keys.h"
#include "record.h"
#include "signer.h"    /* SIGNER_GROUP */


/* how often a waiting answer asks whether the signer has applied it */
#define NGX_HTTP_REVOCA_INGEST_POLL  50

/* the principal stamped on the events: the subject DN (RFC 2253) and the
 * certificate's SHA-256, within OCSP_ORIGIN_PRINCIPAL_MAX */
#define NGX_HTTP_REVOCA_INGEST_DN_MAX  400

#define NGX_HTTP_REVOCA_INGEST_KIND(k)  (1 << (k))


typedef struct {
    ngx_http_request_t                *request;
    ngx_http_revoca_loc_conf_t        *rlcf;
    ngx_http_revoca_ingest_client_t   *client;     /* NULL: none matched */
    u_char                             principal[OCSP_ORIGIN_PRINCIPAL_MAX
                                                 + 1];
    struct ocsp_ingest_batch           batch;      /* freed with the pool */
    ngx_http_revoca_redis_req_t        rr;
    ngx_uint_t                        *pending;    /* events not yet applied */
    ngx_uint_t                         npending;
    ngx_msec_t                         wait_until;
    ngx_event_t                        timer;
    int64_t                            last_entry[2];  /* "MS-SEQ" of the
                                                          last XADD */
    unsigned                           wait:1;
    unsigned                           polling:1;
    unsigned                           acking:1;   /* asking XPENDING */
} ngx_http_revoca_ingest_ctx_t;


static void ngx_http_revoca_ingest_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_revoca_ingest_process(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx);
static ngx_int_t ngx_http_revoca_ingest_identify(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx);
static ngx_int_t ngx_http_revoca_ingest_read_body(ngx_http_request_t *r,
    size_t max, ngx_str_t *body);
static ngx_int_t ngx_http_revoca_ingest_write(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx);
static void ngx_http_revoca_ingest_written(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);
static ngx_int_t ngx_http_revoca_ingest_poll(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx);
static void ngx_http_revoca_ingest_polled(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);
static void ngx_http_revoca_ingest_timer(ngx_event_t *ev);
static ngx_int_t ngx_http_revoca_ingest_entry(u_char *s, size_t len,
    int64_t id[2]);
static ngx_uint_t ngx_http_revoca_ingest_acked(
    ngx_http_revoca_ingest_ctx_t *ctx, redisReply *reply);

static ngx_int_t ngx_http_revoca_ingest_pending(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx, const char *why);
static ngx_int_t ngx_http_revoca_ingest_error(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *field, const char *reason);
static ngx_int_t ngx_http_revoca_ingest_send(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx, ngx_uint_t status,
    ngx_uint_t outcome, u_char *json, size_t len);
static void ngx_http_revoca_ingest_cleanup(void *data);


static ngx_str_t  ngx_http_revoca_ingest_json_type =
    ngx_string("application/json");

/* the kind of EV as the configuration names it */

static const char *
ngx_http_revoca_ingest_kind_name(const Revoca__Event *ev)
{
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        return "issue";
    case REVOCA__EVENT__KIND_REVOKED:
        return "revoke";
    case REVOCA__EVENT__KIND_HOLD:
        return "hold";
    case REVOCA__EVENT__KIND_RELEASE:
        return "release";
    default:
        return "?";
    }
}


ngx_int_t
ngx_http_revoca_ingest_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_pool_cleanup_t            *cln;
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_ingest_ctx_t  *ctx;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_revoca_ingest_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->rlcf = rlcf;
    ctx->timer.handler = ngx_http_revoca_ingest_timer;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;
    ngx_http_set_ctx(r, ctx, ngx_http_revoca_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_revoca_ingest_cleanup;
    cln->data = ctx;

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_revoca_ingest_error(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                            "method", "", "POST only");
    }

    /* who it is, before anything is read: a refused client sends no more
     * than its headers */

    if (ngx_http_revoca_ingest_identify(r, ctx) != NGX_OK) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_revoca_ingest_error(r, ctx, NGX_HTTP_FORBIDDEN,
                   "forbidden", "",
                   "no verified client certificate of a revoca_ingest_client"
                   " of this location");
    }

    if (r->headers_in.content_length_n > (off_t) rlcf->ingest_max_body) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_revoca_ingest_error(r, ctx,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            "too_large", "",
                                            "body over revoca_ingest_max_body");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_revoca_ingest_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_revoca_ingest_body(ngx_http_request_t *r)
{
    ngx_http_revoca_ingest_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);

    ngx_http_finalize_request(r, ngx_http_revoca_ingest_process(r, ctx));
}


/* the body read: parsed, authorised, checked, stamped, written */

static ngx_int_t
ngx_http_revoca_ingest_process(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx)
{
    u_char                            field[64];
    ngx_int_t                         rc;
    ngx_str_t                         body, *ct, arg;
    ngx_uint_t                        i, k, pb, allowed;
    ngx_str_t                        *iss;
    Revoca__Event                    *ev;
    struct ocsp_ingest_error          err;
    ngx_http_revoca_main_conf_t      *rmcf;
    ngx_http_revoca_ingest_client_t  *cl;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    rc = ngx_http_revoca_ingest_read_body(r, ctx->rlcf->ingest_max_body,
                                          &body);

    if (rc == NGX_DECLINED) {
        return ngx_http_revoca_ingest_error(r, ctx,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            "too_large", "",
                                            "body over revoca_ingest_max_body");
    }

    if (rc != NGX_OK) {
        return ngx_http_revoca_ingest_error(r, ctx,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR,
                                            "internal", "",
                                            "request body unreadable");
    }

    /* application/json or application/x-protobuf, parameters aside */

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                     : NULL;
    pb = 0;

    if (ct && ct->len >= 22
        && ngx_strncasecmp(ct->data, (u_char *) "application/x-protobuf", 22)
           == 0
        && (ct->len == 22 || ct->data[22] == ';' || ct->data[22] == ' '))
    {
        pb = 1;

    } else if (ct == NULL || ct->len < 16
               || ngx_strncasecmp(ct->data, (u_char *) "application/json",
                                  16) != 0
               || (ct->len > 16 && ct->data[16] != ';'
                   && ct->data[16] != ' '))
    {
        return ngx_http_revoca_ingest_error(r, ctx,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "content_type", "",
                   "Content-Type must be application/json or"
                   " application/x-protobuf");
    }

    rc = pb ? ocsp_ingest_parse_pb(body.data, body.len, &ctx->batch, &err)
            : ocsp_ingest_parse_json((const char *) body.data, body.len,
                                     (long long) ngx_time(), &ctx->batch,
                                     &err);
    if (rc != 0) {
        return ngx_http_revoca_ingest_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                            "invalid", err.field, err.reason);
    }

    ctx->wait = ctx->batch.wait;

    if (r->args.len
        && ngx_http_arg(r, (u_char *) "wait", 4, &arg) == NGX_OK)
    {
        ctx->wait = (arg.len == 1 && arg.data[0] == '1');
    }

    /* the client's rights: every event, before anything is written */

    cl = ctx->client;

    for (i = 0; i < ctx->batch.n; i++) {
        ev = ctx->batch.ev[i];

        if (!(cl->kinds & NGX_HTTP_REVOCA_INGEST_KIND(ev->kind_case))) {
            ngx_snprintf(field, sizeof(field), "events[%ui].kind%Z", i);
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "revoca: ingest client \"%V\" may not report"
                          " kind %s", &cl->name,
                          ngx_http_revoca_ingest_kind_name(ev));
            return ngx_http_revoca_ingest_error(r, ctx, NGX_HTTP_FORBIDDEN,
                       "forbidden", (char *) field,
                       "this client may not report events of this kind");
        }

        allowed = (cl->issuers == NULL);

        for (k = 0; !allowed && k < cl->issuers->nelts; k++) {
            iss = &((ngx_str_t *) cl->issuers->elts)[k];
            allowed = (ngx_strlen(ev->issuer) == iss->len
                       && ngx_strncmp(ev->issuer, iss->data, iss->len) == 0);
        }

        if (!allowed) {
            ngx_snprintf(field, sizeof(field), "events[%ui].issuer%Z", i);
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "revoca: ingest client \"%V\" may not report for"
                          " issuer \"%s\"", &cl->name, ev->issuer);
            return ngx_http_revoca_ingest_error(r, ctx, NGX_HTTP_FORBIDDEN,
                       "forbidden", (char *) field,
                       "this client may not report for this issuer");
        }
    }

    /* the configuration's rules: the issuer, its profile, a certificate's
     * signature and CRL shard (ingest.h) */

    if (ocsp_ingest_check(rmcf->registry, &ctx->batch, &err) != 0) {
        return ngx_http_revoca_ingest_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                            "invalid", err.field, err.reason);
    }

    /* who sent it, as this receiver saw it (issue 14) */

    if (ocsp_ingest_stamp(&ctx->batch, (char *) ctx->principal) != 0) {
        return ngx_http_revoca_ingest_error(r, ctx,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR,
                                            "internal", "",
                                            "cannot stamp the events");
    }

    return ngx_http_revoca_ingest_write(r, ctx);
}


/*
 * The verified client certificate (ssl_verify_client: nginx has checked
 * its chain; SSL_get_verify_result() is what $ssl_client_verify shows) and
 * the first revoca_ingest_client of the location it matches, by subject
 * DN (RFC 2253, as $ssl_client_s_dn) or SHA-256 fingerprint, and the
 * principal stamped on its events, "DN sha256:HEX", in ctx->principal.
 * NGX_OK, or NGX_DECLINED (ctx->client NULL).
 */

static ngx_int_t
ngx_http_revoca_ingest_identify(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx)
{
    u_char                             dn[NGX_HTTP_REVOCA_INGEST_DN_MAX + 1];
    u_char                             md[EVP_MAX_MD_SIZE];
    u_char                             hex[2 * EVP_MAX_MD_SIZE + 1];
    BIO                               *bio;
    X509                              *x;
    size_t                             dn_len;
    ngx_int_t                          rc;
    ngx_uint_t                         i;
    unsigned int                       mdlen;
    ngx_http_revoca_ingest_client_t  **clients, *cl;

    ctx->client = NULL;

    if (r->connection->ssl == NULL || ctx->rlcf->ingest_clients == NULL) {
        return NGX_DECLINED;
    }

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    x = SSL_get1_peer_certificate(r->connection->ssl->connection);
#else
    x = SSL_get_peer_certificate(r->connection->ssl->connection);
#endif

    if (x == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    if (SSL_get_verify_result(r->connection->ssl->connection) != X509_V_OK) {
        goto done;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        goto done;
    }

    if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
                           XN_FLAG_RFC2253) < 0)
    {
        BIO_free(bio);
        goto done;
    }

    dn_len = BIO_read(bio, dn, NGX_HTTP_REVOCA_INGEST_DN_MAX);
    BIO_free(bio);

    if ((ssize_t) dn_len < 0) {
        dn_len = 0;
    }

    dn[dn_len] = '\0';

    if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1) {
        goto done;
    }

    ngx_hex_dump(hex, md, mdlen);
    hex[2 * mdlen] = '\0';

    clients = ctx->rlcf->ingest_clients->elts;

    for (i = 0; i < ctx->rlcf->ingest_clients->nelts; i++) {
        cl = clients[i];

        if (cl->sha256.len) {
            if (cl->sha256.len == 2 * mdlen
                && ngx_strncmp(cl->sha256.data, hex, 2 * mdlen) == 0)
            {
                break;
            }

        } else if (cl->subject.len == dn_len
                   && ngx_strncmp(cl->subject.data, dn, dn_len) == 0)
        {
            break;
        }
    }

    if (i == ctx->rlcf->ingest_clients->nelts) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "revoca: ingest refused: client \"%s\" sha256:%s is"
                      " not a revoca_ingest_client here", dn, hex);
        goto done;
    }

    ctx->client = clients[i];

    ngx_snprintf(ctx->principal, OCSP_ORIGIN_PRINCIPAL_MAX,
                 "%s sha256:%s%Z", dn, hex);
    ctx->principal[OCSP_ORIGIN_PRINCIPAL_MAX] = '\0';

    rc = NGX_OK;

done:

    X509_free(x);
    ERR_clear_error();

    return rc;
}


/*
 * The whole body, in memory (a single buffer, or copied from nginx's
 * buffers and its temporary file): NGX_OK, NGX_DECLINED if over MAX (a
 * chunked body, whose length was not announced), NGX_ERROR.
 */

static ngx_int_t
ngx_http_revoca_ingest_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = (u_char *) "";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (len > (off_t) max) {
        return NGX_DECLINED;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        /* nginx's own temporary file of this body, on local disk */

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/*
 * XADD P:events * e EVENT for each event, as the CLI writes them
 * (cli_append_event), then WAIT for redis.min_replica_acks replicas:
 * pipelined on one connection to the primary.
 */

static ngx_int_t
ngx_http_revoca_ingest_write(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx)
{
    int                           n;
    char                          key[OCSP_KEY_MAX], acks[NGX_INT_T_LEN + 1];
    char                          ms[NGX_INT_T_LEN + 1], *cmd;
    u_char                       *buf, *ev, *p, field[32];
    size_t                        packed, most, total, keylen;
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    const char                   *argv[5];
    size_t                        argvlen[5];
    ocsp_config_t                *oc;
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    oc = rmcf->ocsp;

    if (ocsp_key_events(key, oc->prefix) < 0) {
        return ngx_http_revoca_ingest_error(r, ctx,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR,
                                            "internal", "", "no events key");
    }

    keylen = ngx_strlen(key);

    /* an upper bound of the commands' length: the events, and for each
     * the RESP framing of five arguments */

    total = 64;
    most = 0;

    for (i = 0; i < ctx->batch.n; i++) {
        packed = revoca__event__get_packed_size(ctx->batch.ev[i]);

        if (packed > OCSP_EVENT_MAX) {
            ngx_snprintf(field, sizeof(field), "events[%ui]%Z", i);
            return ngx_http_revoca_ingest_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                                "invalid", (char *) field,
                                                "event too large");
        }

        total += packed + keylen + 128;
        most = ngx_max(most, packed);
    }

    buf = ngx_pnalloc(r->pool, total);
    ev = ngx_pnalloc(r->pool, ngx_max(most, 1));
    if (buf == NULL || ev == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = buf;

    argv[0] = "XADD";
    argvlen[0] = 4;
    argv[1] = key;
    argvlen[1] = keylen;
    argv[2] = "*";
    argvlen[2] = 1;
    argv[3] = OCSP_STREAM_FIELD;
    argvlen[3] = sizeof(OCSP_STREAM_FIELD) - 1;
    argv[4] = (const char *) ev;

    for (i = 0; i < ctx->batch.n; i++) {
        argvlen[4] = revoca__event__pack(ctx->batch.ev[i], ev);

        n = redisFormatCommandArgv(&cmd, 5, argv, argvlen);
        if (n < 0 || p + n > buf + total) {
            if (n >= 0) {
                free(cmd);
            }

            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "revoca: ingest: redisFormatCommandArgv() failed");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(p, cmd, n);
        free(cmd);
    }

    ctx->rr.nreplies = ctx->batch.n;
    ctx->rr.extra = 0;

    if (oc->redis_min_replica_acks > 0) {
        ngx_sprintf((u_char *) acks, "%d%Z", oc->redis_min_replica_acks);
        ngx_sprintf((u_char *) ms, "%l%Z", oc->redis_wait_timeout_ms);
        argv[0] = "WAIT";
        argv[1] = acks;
        argv[2] = ms;

        n = redisFormatCommandArgv(&cmd, 3, argv, NULL);
        if (n < 0 || p + n > buf + total) {
            if (n >= 0) {
                free(cmd);
            }

            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(p, cmd, n);
        free(cmd);

        ctx->rr.nreplies++;
        ctx->rr.extra = oc->redis_wait_timeout_ms;
    }

    ctx->rr.many = ngx_pcalloc(r->pool,
                               ctx->rr.nreplies * sizeof(redisReply *));
    if (ctx->rr.many == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->rr.rmcf = rmcf;
    ctx->rr.pool = r->pool;
    ctx->rr.log = r->connection->log;
    ctx->rr.cmd = buf;
    ctx->rr.cmd_len = p - buf;
    ctx->rr.handler = ngx_http_revoca_ingest_written;
    ctx->rr.data = r;
    ctx->rr.write = 1;

    rc = ngx_http_revoca_redis_query(&ctx->rr);

    if (rc == NGX_ERROR) {
        return ngx_http_revoca_ingest_error(r, ctx,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "redis", "",
                   "the Redis primary cannot be reached; nothing was written");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_revoca_ingest_written(ngx_http_revoca_redis_req_t *rr, ngx_int_t rc)
{
    u_char                        json[256], reason[256], *last;
    ngx_uint_t                    i, n;
    redisReply                   *reply;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_revoca_ingest_ctx_t *ctx;

    r = rr->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);
    n = ctx->batch.n;

    if (rc != NGX_OK) {
        rc = ngx_http_revoca_ingest_error(r, ctx,
                 NGX_HTTP_SERVICE_UNAVAILABLE, "redis", "",
                 "the Redis primary failed; some events may be in the"
                 " stream: repeating the request with the same ids is safe");
        goto done;
    }

    for (i = 0; i < n; i++) {
        reply = rr->many[i];

        if (reply->type == REDIS_REPLY_STRING) {
            continue;
        }

        ngx_log_error(NGX_LOG_ERR, c->log, 0, "revoca: ingest XADD: %*s",
                      (size_t) (reply->type == REDIS_REPLY_ERROR
                                ? ngx_min(reply->len, 200) : 0),
                      reply->str);

        last = ngx_snprintf(reason, sizeof(reason) - 1,
                            "Redis refused an event: %*s",
                            (size_t) (reply->type == REDIS_REPLY_ERROR
                                      ? ngx_min(reply->len, 120) : 0),
                            reply->str);
        *last = '\0';

        rc = ngx_http_revoca_ingest_error(r, ctx,
                                          NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "redis", "", (char *) reason);
        goto done;
    }

    if (rr->nreplies > n) {
        /* WAIT: how many replicas have the events (rconn.h's rule) */

        reply = rr->many[n];

        if (reply->type != REDIS_REPLY_INTEGER
            || reply->integer < ctx->rr.rmcf->ocsp->redis_min_replica_acks)
        {
            last = ngx_snprintf(reason, sizeof(reason) - 1,
                                "written to the primary, but %L of"
                                " redis.min_replica_acks %d replicas"
                                " acknowledged; repeating the request with"
                                " the same ids is safe",
                                (long long) (reply->type
                                             == REDIS_REPLY_INTEGER
                                             ? reply->integer : 0),
                                ctx->rr.rmcf->ocsp->redis_min_replica_acks);
            *last = '\0';

            rc = ngx_http_revoca_ingest_error(r, ctx,
                                              NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "replicas", "",
                                              (char *) reason);
            goto done;
        }
    }

    /* the stream entry of the last event: entries are in order, so the
     * signer has acknowledged all of ours once it has this one */

    reply = rr->many[n - 1];

    if (ngx_http_revoca_ingest_entry((u_char *) reply->str, reply->len,
                                     ctx->last_entry)
        != NGX_OK)
    {
        ctx->last_entry[0] = -1;
    }

    for (i = 0; i < rr->nreplies; i++) {
        freeReplyObject(rr->many[i]);
        rr->many[i] = NULL;
    }

    rr->ngot = 0;

    if (!ctx->wait) {
        last = ngx_snprintf(json, sizeof(json), "{\"accepted\":%ui}\n", n);
        rc = ngx_http_revoca_ingest_send(r, ctx, NGX_HTTP_OK,
                                         NGX_HTTP_REVOCA_INGEST_ACCEPTED,
                                         json, last - json);
        goto done;
    }

    /* answerable before the CA hands the certificate out: until the
     * signer has applied every event, or revoca_ingest_wait */

    ctx->pending = ngx_palloc(r->pool, n * sizeof(ngx_uint_t));
    if (ctx->pending == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    for (i = 0; i < n; i++) {
        ctx->pending[i] = i;
    }

    ctx->npending = n;
    ctx->wait_until = ngx_current_msec + ctx->rlcf->ingest_wait;

    rc = ngx_http_revoca_ingest_poll(r, ctx);

    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* GET P:cert:ISSUER:SERIAL of each event still pending, on the primary
 * (where the signer writes): NGX_DONE with the query under way, or the
 * answer when it cannot be made */

static ngx_int_t
ngx_http_revoca_ingest_poll(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx)
{
    int                           n;
    char                          key[OCSP_KEY_MAX], *cmd;
    u_char                       *buf, *p;
    size_t                        total;
    ngx_uint_t                    i;
    const char                   *argv[2], *xargv[6];
    Revoca__Event                *ev;
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ctx->rr.rmcf;

    if (ctx->npending == 0) {
        /*
         * Every record reflects its event; with redis.min_replica_acks,
         * also the signer's acknowledgement, which it gives once that many
         * replicas have its writes (the CLI's rule, cli.c wait_applied):
         * nothing older than our last entry pending in the signer group
         */
        ctx->acking = 1;

        if (ocsp_key_events(key, rmcf->ocsp->prefix) < 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        xargv[0] = "XPENDING";
        xargv[1] = key;
        xargv[2] = SIGNER_GROUP;
        xargv[3] = "-";
        xargv[4] = "+";
        xargv[5] = "1";

        ctx->rr.nreplies = 1;

        if (ngx_http_revoca_redis_format(&ctx->rr, 6, xargv, NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        goto query;
    }

    total = ctx->npending * (OCSP_KEY_MAX + 32);

    buf = ngx_pnalloc(r->pool, total);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = buf;
    argv[0] = "GET";
    argv[1] = key;

    for (i = 0; i < ctx->npending; i++) {
        ev = ctx->batch.ev[ctx->pending[i]];

        if (ocsp_key_cert(key, rmcf->ocsp->prefix, ev->issuer, ev->serial)
            < 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n = redisFormatCommandArgv(&cmd, 2, argv, NULL);
        if (n < 0 || p + n > buf + total) {
            if (n >= 0) {
                free(cmd);
            }

            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(p, cmd, n);
        free(cmd);
    }

    ctx->rr.cmd = buf;
    ctx->rr.cmd_len = p - buf;
    ctx->rr.nreplies = ctx->npending;

query:

    ctx->rr.extra = 0;
    ctx->rr.handler = ngx_http_revoca_ingest_polled;
    ctx->polling = 1;

    if (ngx_http_revoca_redis_query(&ctx->rr) == NGX_ERROR) {
        ctx->polling = 0;

        if ((ngx_msec_int_t) (ctx->wait_until - ngx_current_msec) <= 0) {
            return ngx_http_revoca_ingest_pending(r, ctx, NULL);
        }

        ngx_add_timer(&ctx->timer, NGX_HTTP_REVOCA_INGEST_POLL);
    }

    return NGX_DONE;
}


static void
ngx_http_revoca_ingest_polled(ngx_http_revoca_redis_req_t *rr, ngx_int_t rc)
{
    u_char                        json[128], *last;
    ngx_uint_t                    i, k, acked;
    ngx_msec_int_t                left;
    const char                   *why;
    redisReply                   *reply;
    ocsp_record_t                *rec;
    Revoca__Event                *ev;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_revoca_ingest_ctx_t *ctx;

    r = rr->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);
    ctx->polling = 0;

    if (ctx->acking) {
        acked = (rc == NGX_OK
                 && ngx_http_revoca_ingest_acked(ctx, rr->many[0]));

        for (i = 0; i < rr->ngot; i++) {
            freeReplyObject(rr->many[i]);
            rr->many[i] = NULL;
        }

        rr->ngot = 0;

        if (acked) {
            goto applied;
        }

        goto again;
    }

    if (rc == NGX_OK) {
        k = 0;

        for (i = 0; i < ctx->npending; i++) {
            ev = ctx->batch.ev[ctx->pending[i]];
            reply = rr->many[i];

            if (reply->type == REDIS_REPLY_STRING) {
                rec = ocsp_record_decode(reply->str, reply->len, ev->serial,
                                         NULL, &why);
                if (rec == NULL) {
                    /* the signer leaves such a record alone: waiting
                     * cannot succeed (the CLI says the same) */
                    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                                  "revoca: ingest wait: record of %s %s is"
                                  " invalid: %s", ev->issuer, ev->serial,
                                  why);
                    rc = ngx_http_revoca_ingest_pending(r, ctx,
                             "a record is invalid; the signer cannot apply"
                             " this event until it is repaired");
                    goto done;
                }

                if (ocsp_record_reflects(rec, ev)) {
                    ocsp_record_free(rec, NULL);
                    continue;
                }

                ocsp_record_free(rec, NULL);
            }

            ctx->pending[k++] = ctx->pending[i];
        }

        ctx->npending = k;
    }

    for (i = 0; i < rr->ngot; i++) {
        freeReplyObject(rr->many[i]);
        rr->many[i] = NULL;
    }

    rr->ngot = 0;

    if (ctx->npending == 0) {
        if (ctx->rr.rmcf->ocsp->redis_min_replica_acks > 0) {
            /* now the signer's acknowledgement, at once */
            rc = ngx_http_revoca_ingest_poll(r, ctx);

            if (rc == NGX_DONE) {
                return;
            }

            goto done;
        }

        goto applied;
    }

again:

    left = (ngx_msec_int_t) (ctx->wait_until - ngx_current_msec);

    if (left <= 0) {
        rc = ngx_http_revoca_ingest_pending(r, ctx, ctx->acking
                 ? "applied on the primary, but the signer has not yet"
                   " acknowledged it, which it does once redis."
                   "min_replica_acks replicas have it; repeating the"
                   " request with the same ids is safe"
                 : NULL);
        goto done;
    }

    ngx_add_timer(&ctx->timer,
                  ngx_min((ngx_msec_t) left, NGX_HTTP_REVOCA_INGEST_POLL));

    return;

applied:

    last = ngx_snprintf(json, sizeof(json),
                        "{\"accepted\":%ui,\"signed\":true}\n",
                        ctx->batch.n);
    rc = ngx_http_revoca_ingest_send(r, ctx, NGX_HTTP_OK,
                                     NGX_HTTP_REVOCA_INGEST_ACCEPTED,
                                     json, last - json);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_revoca_ingest_timer(ngx_event_t *ev)
{
    ngx_int_t                      rc;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_revoca_ingest_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    rc = ngx_http_revoca_ingest_poll(r, ctx);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* a stream entry ID "MS-SEQ" as two numbers */

static ngx_int_t
ngx_http_revoca_ingest_entry(u_char *s, size_t len, int64_t id[2])
{
    u_char  *dash;

    dash = ngx_strlchr(s, s + len, '-');

    if (dash == NULL || dash == s || dash + 1 == s + len) {
        return NGX_ERROR;
    }

    id[0] = ngx_atoof(s, dash - s);
    id[1] = ngx_atoof(dash + 1, s + len - dash - 1);

    return (id[0] < 0 || id[1] < 0) ? NGX_ERROR : NGX_OK;
}


/*
 * XPENDING KEY signer - + 1: the oldest entry pending in the signer group,
 * [[ID, consumer, idle, deliveries]], or none.  Our events are
 * acknowledged when nothing is pending, or the oldest pending is younger
 * than our last entry (every record reflected its event, so the signer has
 * read them all).  An error reply (no group yet) or anything else: not yet.
 */

static ngx_uint_t
ngx_http_revoca_ingest_acked(ngx_http_revoca_ingest_ctx_t *ctx,
    redisReply *reply)
{
    int64_t      oldest[2];
    redisReply  *e;

    if (ctx->last_entry[0] < 0 || reply->type != REDIS_REPLY_ARRAY) {
        return 0;
    }

    if (reply->elements == 0) {
        return 1;
    }

    e = reply->element[0];

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1
        || e->element[0]->type != REDIS_REPLY_STRING
        || ngx_http_revoca_ingest_entry((u_char *) e->element[0]->str,
                                        e->element[0]->len, oldest)
           != NGX_OK)
    {
        return 0;
    }

    return ctx->last_entry[0] < oldest[0]
           || (ctx->last_entry[0] == oldest[0]
               && ctx->last_entry[1] < oldest[1]);
}


/* 202: written, not yet applied by the signer within revoca_ingest_wait */

static ngx_int_t
ngx_http_revoca_ingest_pending(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx, const char *why)
{
    u_char  *json, *last;
    size_t   len;

    if (why == NULL) {
        why = "accepted and in the stream, but not yet signed within"
              " revoca_ingest_wait (is revoca-signer running?); it will be"
              " applied, and repeating the request with the same ids is"
              " safe";
    }

    len = 96 + ngx_strlen(why);

    json = ngx_pnalloc(r->pool, len);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_snprintf(json, len,
                        "{\"accepted\":%ui,\"signed\":false,\"pending\":%ui,"
                        "\"reason\":\"%s\"}\n",
                        ctx->batch.n, ctx->npending, why);

    return ngx_http_revoca_ingest_send(r, ctx, NGX_HTTP_ACCEPTED,
                                       NGX_HTTP_REVOCA_INGEST_PENDING,
                                       json, last - json);
}


/* {"error": {"code": CODE, "field": FIELD, "reason": REASON}}, the
 * field and reason escaped (a field may name a client's member) */

static ngx_int_t
ngx_http_revoca_ingest_error(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *field, const char *reason)
{
    u_char           *json, *p;
    size_t            flen, rlen, len;
    ngx_uint_t        outcome;
    ngx_table_elt_t  *h;

    flen = ngx_strlen(field);
    rlen = ngx_strlen(reason);
    len = 64 + ngx_strlen(code) + flen + ngx_escape_json(NULL, (u_char *) field,
                                                         flen)
          + rlen + ngx_escape_json(NULL, (u_char *) reason, rlen);

    json = ngx_pnalloc(r->pool, len);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(json, "{\"error\":{\"code\":\"%s\",\"field\":\"", code);
    p = (u_char *) ngx_escape_json(p, (u_char *) field, flen);
    p = ngx_cpymem(p, "\",\"reason\":\"", 12);
    p = (u_char *) ngx_escape_json(p, (u_char *) reason, rlen);
    p = ngx_cpymem(p, "\"}}\n", 4);

    switch (status) {
    case NGX_HTTP_FORBIDDEN:
        outcome = NGX_HTTP_REVOCA_INGEST_FORBIDDEN;
        break;
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        outcome = NGX_HTTP_REVOCA_INGEST_TOO_LARGE;
        break;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        outcome = NGX_HTTP_REVOCA_INGEST_UNAVAILABLE;

        /* a failover takes Sentinel seconds: ask again after them */

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, "5");
        break;
    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        outcome = NGX_HTTP_REVOCA_INGEST_ERROR;
        break;
    default:
        outcome = NGX_HTTP_REVOCA_INGEST_INVALID;
        break;
    }

    /* a client's fault is its own business, Redis's the operator's */

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "revoca: ingest refused with %ui: %s", status, reason);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "revoca: ingest %ui: %s %s", status, field, reason);
    }

    return ngx_http_revoca_ingest_send(r, ctx, status, outcome, json,
                                       p - json);
}


static ngx_int_t
ngx_http_revoca_ingest_send(ngx_http_request_t *r,
    ngx_http_revoca_ingest_ctx_t *ctx, ngx_uint_t status, ngx_uint_t outcome,
    u_char *json, size_t len)
{
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    ngx_http_revoca_metrics_ingest(rmcf,
                                   ctx->client ? (ngx_int_t) ctx->client->index
                                               : -1,
                                   outcome, ctx->batch.n);

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_revoca_ingest_json_type;
    r->headers_out.content_type_len = ngx_http_revoca_ingest_json_type.len;
    r->headers_out.content_length_n = len;

    /* keep-alive stays: the client reads the whole body */

    return ngx_http_revoca_send(r, json, len, 0);
}


/* the request goes: its timer, and the events the core allocated */

static void
ngx_http_revoca_ingest_cleanup(void *data)
{
    ngx_http_revoca_ingest_ctx_t *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ocsp_ingest_batch_free(&ctx->batch);
}
