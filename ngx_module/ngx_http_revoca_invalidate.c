
/*
 * Invalidation: each worker keeps one subscription to P:invalidate, on the
 * first healthy Redis server (TLS, AUTH as for queries).  The signer
 * publishes "ISSUER:SERIAL" in the transaction that commits a changed
 * status; every cached answer for that certificate, all CertID forms, is
 * dropped from the shared zone at once, so that the next request reads the
 * change instead of a cached answer up to revoca_cache_valid old.
 *
 * Messages published while a subscription is down are lost (pub/sub keeps
 * nothing): a worker that loses its subscription falls back to the cache
 * lifetime, reconnects with a backoff, and once subscribed again makes the
 * zone forget every entry stored until then: before the loss, or during
 * it from what Redis said before a message that was missed.  A PING every few seconds
 * finds a server that went silent.
 */


#include "ngx_http_revoca.h"

#include "keys.h"


#define NGX_HTTP_REVOCA_INVAL_PING         5000
#define NGX_HTTP_REVOCA_INVAL_BACKOFF      100
#define NGX_HTTP_REVOCA_INVAL_BACKOFF_MAX  5000


typedef struct {
    ngx_http_revoca_main_conf_t    *rmcf;
    ngx_http_revoca_redis_stream_t *stream;
    ngx_event_t                     timer;      /* reconnect, or ping */
    u_char                         *subscribe;  /* SUBSCRIBE P:invalidate */
    size_t                          subscribe_len;
    ngx_str_t                       channel;
    ngx_msec_t                      backoff;
    time_t                          started;    /* the worker */
    time_t                          lost;       /* down since; 0: up */
    unsigned                        subscribed:1;
    unsigned                        pinged:1;   /* PING sent */
    unsigned                        heard:1;    /* a reply since */
} ngx_http_revoca_inval_t;


static void ngx_http_revoca_inval_connect(ngx_http_revoca_inval_t *iv);
static ngx_int_t ngx_http_revoca_inval_reply(void *data, redisReply *reply);
static void ngx_http_revoca_inval_message(ngx_http_revoca_inval_t *iv,
    redisReply *payload);
static void ngx_http_revoca_inval_down(ngx_http_revoca_inval_t *iv);
static void ngx_http_revoca_inval_timer(ngx_event_t *ev);


static ngx_http_revoca_inval_t  *ngx_http_revoca_inval;

static u_char  ngx_http_revoca_inval_ping[] = "*1\r\n$4\r\nPING\r\n";


ngx_int_t
ngx_http_revoca_invalidate_init_worker(ngx_cycle_t *cycle,
    ngx_http_revoca_main_conf_t *rmcf)
{
    int                       n;
    char                      channel[OCSP_KEY_MAX], *cmd;
    const char               *argv[2];
    ngx_http_revoca_inval_t  *iv;

    if (rmcf->cache_zone == NULL) {
        /* nothing cached, nothing to invalidate */
        return NGX_OK;
    }

    n = ocsp_key_invalidate(channel, rmcf->ocsp->prefix);
    if (n < 0) {
        return NGX_ERROR;
    }

    iv = ngx_calloc(sizeof(ngx_http_revoca_inval_t), cycle->log);
    if (iv == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "SUBSCRIBE";
    argv[1] = channel;

    n = redisFormatCommandArgv(&cmd, 2, argv, NULL);
    if (n < 0) {
        ngx_free(iv);
        return NGX_ERROR;
    }

    iv->subscribe = ngx_alloc(n + ngx_strlen(channel), cycle->log);
    if (iv->subscribe == NULL) {
        free(cmd);
        ngx_free(iv);
        return NGX_ERROR;
    }

    ngx_memcpy(iv->subscribe, cmd, n);
    free(cmd);
    iv->subscribe_len = n;

    iv->channel.data = iv->subscribe + n;
    iv->channel.len = ngx_strlen(channel);
    ngx_memcpy(iv->channel.data, channel, iv->channel.len);

    iv->rmcf = rmcf;
    iv->started = ngx_time();
    iv->backoff = NGX_HTTP_REVOCA_INVAL_BACKOFF;

    iv->timer.handler = ngx_http_revoca_inval_timer;
    iv->timer.data = iv;
    iv->timer.log = cycle->log;
    iv->timer.cancelable = 1;

    ngx_http_revoca_inval = iv;

    ngx_http_revoca_inval_connect(iv);

    return NGX_OK;
}


void
ngx_http_revoca_invalidate_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_revoca_inval_t  *iv;

    iv = ngx_http_revoca_inval;

    if (iv == NULL) {
        return;
    }

    if (iv->timer.timer_set) {
        ngx_del_timer(&iv->timer);
    }

    if (iv->stream) {
        ngx_http_revoca_redis_stream_close(iv->stream);
        iv->stream = NULL;
    }

    if (iv->subscribed) {
        (void) ngx_atomic_fetch_add(
                   &ngx_http_revoca_metrics_slot(iv->rmcf)->inval_connected,
                   (ngx_atomic_int_t) -1);
    }

    ngx_free(iv->subscribe);
    ngx_free(iv);
    ngx_http_revoca_inval = NULL;
}


static void
ngx_http_revoca_inval_connect(ngx_http_revoca_inval_t *iv)
{
    iv->pinged = 0;
    iv->heard = 0;

    iv->stream = ngx_http_revoca_redis_stream_open(iv->subscribe,
                                                   iv->subscribe_len,
                                                   ngx_http_revoca_inval_reply,
                                                   iv);
    if (iv->stream == NULL) {
        ngx_http_revoca_inval_down(iv);
        return;
    }

    /* the subscription is confirmed by then, or given up */

    if (iv->timer.timer_set) {
        ngx_del_timer(&iv->timer);
    }

    ngx_add_timer(&iv->timer, NGX_HTTP_REVOCA_INVAL_PING);
}


static ngx_int_t
ngx_http_revoca_inval_reply(void *data, redisReply *reply)
{
    ngx_http_revoca_inval_t *iv = data;

    redisReply                    *kind;
    ngx_http_revoca_metrics_slot_t *slot;

    slot = ngx_http_revoca_metrics_slot(iv->rmcf);

    if (reply == NULL) {
        iv->stream = NULL;
        ngx_http_revoca_inval_down(iv);
        return NGX_OK;
    }

    iv->heard = 1;

    if (reply->type == REDIS_REPLY_ERROR) {
        /* NOPERM: the ACL user may not subscribe */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "revoca: redis %V refused SUBSCRIBE %V: %*s",
                      ngx_http_revoca_redis_stream_server(iv->stream),
                      &iv->channel, ngx_min((size_t) reply->len, 128),
                      reply->str);
        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        goto unexpected;
    }

    kind = reply->element[0];

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && reply->elements == 3)
    {
        (void) ngx_atomic_fetch_add(&slot->inval_messages, 1);
        ngx_http_revoca_inval_message(iv, reply->element[2]);
        return NGX_OK;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0
        && !iv->subscribed)
    {
        iv->subscribed = 1;
        iv->backoff = NGX_HTTP_REVOCA_INVAL_BACKOFF;
        (void) ngx_atomic_fetch_add(&slot->inval_connected, 1);

        if (iv->lost) {
            /*
             * What was published meanwhile is gone: so are the answers it
             * could have been about, those stored before the loss and
             * those stored since, from what Redis said then.
             */
            ngx_http_revoca_cache_forget_before(iv->rmcf->cache_zone,
                                                ngx_time());

            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "revoca: subscribed to %V on redis %V again;"
                          " answers cached before the loss dropped",
                          &iv->channel,
                          ngx_http_revoca_redis_stream_server(iv->stream));
            iv->lost = 0;

        } else {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "revoca: subscribed to %V on redis %V",
                          &iv->channel,
                          ngx_http_revoca_redis_stream_server(iv->stream));
        }

        return NGX_OK;
    }

    if (kind->len == 4 && ngx_strncmp(kind->str, "pong", 4) == 0) {
        return NGX_OK;
    }

unexpected:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "revoca: redis %V: unexpected reply of type %d on the"
                  " subscription to %V",
                  ngx_http_revoca_redis_stream_server(iv->stream),
                  reply->type, &iv->channel);

    return NGX_ERROR;
}


/*
 * "ISSUER:SERIAL", as the signer writes it (ocsp_cert_ref()) and the core
 * reads it (ocsp_cert_ref_parse(): a valid issuer name, a canonical
 * serial, nothing else).  Anything else is counted and ignored.
 */

static void
ngx_http_revoca_inval_message(ngx_http_revoca_inval_t *iv,
    redisReply *payload)
{
    char                            issuer[OCSP_ISSUER_NAME_MAX + 1];
    char                            serial[OCSP_SERIAL_HEX_MAX + 1];
    ngx_uint_t                      n;
    ngx_http_revoca_metrics_slot_t *slot;

    slot = ngx_http_revoca_metrics_slot(iv->rmcf);

    if (payload->type != REDIS_REPLY_STRING
        || ocsp_cert_ref_parse(payload->str, payload->len, issuer, serial)
           != 0)
    {
        (void) ngx_atomic_fetch_add(&slot->inval_malformed, 1);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "revoca: invalidation message on %V ignored: not"
                      " ISSUER:SERIAL with a canonical serial",
                      &iv->channel);
        return;
    }

    if (ocsp_config_issuer(iv->rmcf->ocsp, issuer) == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "revoca: invalidation for issuer \"%s\", not ours",
                       issuer);
        return;
    }

    n = ngx_http_revoca_cache_drop(iv->rmcf->cache_zone, issuer, serial);

    (void) ngx_atomic_fetch_add(&slot->inval_dropped, n);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "revoca: invalidation %s:%s dropped %ui cached answers",
                   issuer, serial, n);
}


/* the subscription is down (or never came up): counted, and retried
 * after a backoff */

static void
ngx_http_revoca_inval_down(ngx_http_revoca_inval_t *iv)
{
    ngx_http_revoca_metrics_slot_t  *slot;

    slot = ngx_http_revoca_metrics_slot(iv->rmcf);

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        /* the worker's end (closed as idle): not a loss */
        if (iv->subscribed) {
            iv->subscribed = 0;
            (void) ngx_atomic_fetch_add(&slot->inval_connected,
                                        (ngx_atomic_int_t) -1);
        }

        if (iv->timer.timer_set) {
            ngx_del_timer(&iv->timer);
        }

        return;
    }

    if (iv->subscribed) {
        iv->subscribed = 0;
        iv->lost = ngx_time();
        (void) ngx_atomic_fetch_add(&slot->inval_connected,
                                    (ngx_atomic_int_t) -1);
        (void) ngx_atomic_fetch_add(&slot->inval_lost, 1);

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "revoca: subscription to %V lost, cached answers"
                      " live their revoca_cache_valid until it is back",
                      &iv->channel);

    } else if (iv->lost == 0) {
        /* never subscribed: down since the worker started */
        iv->lost = iv->started;
    }

    if (iv->timer.timer_set) {
        ngx_del_timer(&iv->timer);
    }

    ngx_add_timer(&iv->timer, iv->backoff);

    iv->backoff = ngx_min(2 * iv->backoff, NGX_HTTP_REVOCA_INVAL_BACKOFF_MAX);
}


static void
ngx_http_revoca_inval_timer(ngx_event_t *ev)
{
    ngx_http_revoca_inval_t *iv = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (iv->stream == NULL) {
        ngx_http_revoca_inval_connect(iv);
        return;
    }

    if ((iv->pinged || !iv->subscribed) && !iv->heard) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "revoca: redis %V silent for %d ms on the subscription"
                      " to %V", ngx_http_revoca_redis_stream_server(iv->stream),
                      NGX_HTTP_REVOCA_INVAL_PING, &iv->channel);
        ngx_http_revoca_redis_stream_close(iv->stream);
        iv->stream = NULL;
        ngx_http_revoca_inval_down(iv);
        return;
    }

    iv->heard = 0;

    switch (ngx_http_revoca_redis_stream_send(iv->stream,
                                              ngx_http_revoca_inval_ping,
                                              sizeof(ngx_http_revoca_inval_ping)
                                              - 1))
    {
    case NGX_OK:
        iv->pinged = 1;
        break;

    case NGX_ERROR:
        /* lost, and handled: iv->stream is gone */
        return;

    default:
        /* still sending: waiting is what the next tick judges */
        break;
    }

    ngx_add_timer(&iv->timer, NGX_HTTP_REVOCA_INVAL_PING);
}
