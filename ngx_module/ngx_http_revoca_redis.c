
/*
 * A non-blocking Redis client on nginx's own event machinery, as nginx's
 * OCSP stapling client talks to an OCSP responder: ngx_event_connect_peer(),
 * a timer on every wait, and a per-worker pool of idle keepalive
 * connections.  hiredis is used only to format commands and to parse
 * replies; its async context is not, since it can neither time out nor be
 * cancelled when a request goes away (docs/dev/style.md).
 */


#include "ngx_http_revoca.h"


/*
 * What a reply may hold (reply_limits.h): a small array at most, none
 * nested, no string longer than a pre-signed response.  Anything more is
 * refused as it is announced and the connection closed.
 */
static const ocsp_reply_limits_t  ngx_http_revoca_redis_limits = {
    NGX_HTTP_REVOCA_REDIS_ELEMENTS_MAX,    /* max_elements */
    1,                                     /* max_depth */
    NGX_HTTP_REVOCA_DER_MAX                /* max_string */
};


struct ngx_http_revoca_redis_conn_s {
    ngx_queue_t                     queue;
    ngx_peer_connection_t           peer;
    redisReader                    *reader;
    ocsp_reply_guard_t              guard;     /* bounds reader's replies */
    ngx_http_revoca_redis_req_t    *rr;
    ngx_uint_t                      nskip;      /* AUTH/SELECT replies */
    size_t                          received;
    unsigned                        ready:1;
    unsigned                        reused:1;
};


static ngx_int_t ngx_http_revoca_redis_start(ngx_http_revoca_redis_req_t *rr,
    ngx_uint_t pooled);
static ngx_int_t ngx_http_revoca_redis_connect(
    ngx_http_revoca_redis_req_t *rr);
static ngx_int_t ngx_http_revoca_redis_send(
    ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_write_handler(ngx_event_t *wev);
static void ngx_http_revoca_redis_read_handler(ngx_event_t *rev);
static void ngx_http_revoca_redis_idle_handler(ngx_event_t *rev);
static void ngx_http_revoca_redis_dummy_handler(ngx_event_t *ev);
static void ngx_http_revoca_redis_done(ngx_http_revoca_redis_conn_t *conn,
    ngx_int_t rc);
static void ngx_http_revoca_redis_keep(ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_close(ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_cleanup(void *data);


/* per-worker state */
static ngx_queue_t                    ngx_http_revoca_redis_idle;
static ngx_uint_t                     ngx_http_revoca_redis_nidle;
static ngx_uint_t                     ngx_http_revoca_redis_next;
static ngx_http_revoca_main_conf_t   *ngx_http_revoca_redis_conf;
static u_char                        *ngx_http_revoca_redis_init_cmd;
static size_t                         ngx_http_revoca_redis_init_len;
static ngx_uint_t                     ngx_http_revoca_redis_init_n;


ngx_int_t
ngx_http_revoca_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_revoca_main_conf_t *rmcf)
{
    int             n, argc;
    char           *cmd, dbbuf[NGX_INT_T_LEN + 1];
    size_t          len;
    const char     *argv[3];
    ocsp_config_t  *cf;

    ngx_queue_init(&ngx_http_revoca_redis_idle);
    ngx_http_revoca_redis_nidle = 0;
    ngx_http_revoca_redis_next = ngx_pid;
    ngx_http_revoca_redis_conf = rmcf;

    /* AUTH and SELECT go ahead of the first command of a connection */

    cf = rmcf->ocsp;
    len = 0;

    if (cf->redis_password) {
        argc = 0;
        argv[argc++] = "AUTH";
        if (cf->redis_user) {
            argv[argc++] = cf->redis_user;
        }
        argv[argc++] = cf->redis_password;

        n = redisFormatCommandArgv(&cmd, argc, argv, NULL);
        if (n < 0) {
            return NGX_ERROR;
        }

        ngx_http_revoca_redis_init_cmd = ngx_alloc(n, cycle->log);
        if (ngx_http_revoca_redis_init_cmd == NULL) {
            free(cmd);
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_http_revoca_redis_init_cmd, cmd, n);
        free(cmd);
        len = n;
        ngx_http_revoca_redis_init_n++;
    }

    if (cf->redis_db != 0) {
        ngx_sprintf((u_char *) dbbuf, "%d%Z", cf->redis_db);
        argv[0] = "SELECT";
        argv[1] = dbbuf;

        n = redisFormatCommandArgv(&cmd, 2, argv, NULL);
        if (n < 0) {
            return NGX_ERROR;
        }

        ngx_http_revoca_redis_init_cmd = ngx_http_revoca_redis_init_cmd
            ? realloc(ngx_http_revoca_redis_init_cmd, len + n)
            : ngx_alloc(len + n, cycle->log);
        if (ngx_http_revoca_redis_init_cmd == NULL) {
            free(cmd);
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_http_revoca_redis_init_cmd + len, cmd, n);
        free(cmd);
        len += n;
        ngx_http_revoca_redis_init_n++;
    }

    ngx_http_revoca_redis_init_len = len;

    return NGX_OK;
}


void
ngx_http_revoca_redis_exit_worker(ngx_cycle_t *cycle)
{
    ngx_queue_t                   *q;
    ngx_http_revoca_redis_conn_t  *conn;

    if (ngx_http_revoca_redis_conf == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_http_revoca_redis_idle)) {
        q = ngx_queue_head(&ngx_http_revoca_redis_idle);
        ngx_queue_remove(q);
        conn = ngx_queue_data(q, ngx_http_revoca_redis_conn_t, queue);
        ngx_http_revoca_redis_close(conn);
    }

    ngx_http_revoca_redis_nidle = 0;

    if (ngx_http_revoca_redis_init_cmd) {
        ngx_free(ngx_http_revoca_redis_init_cmd);
        ngx_http_revoca_redis_init_cmd = NULL;
    }
}


ngx_int_t
ngx_http_revoca_redis_format(ngx_http_revoca_redis_req_t *rr, int argc,
    const char **argv, const size_t *argvlen)
{
    int    n;
    char  *cmd;

    n = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (n < 0) {
        return NGX_ERROR;
    }

    rr->cmd = ngx_pnalloc(rr->pool, n);
    if (rr->cmd == NULL) {
        free(cmd);
        return NGX_ERROR;
    }

    ngx_memcpy(rr->cmd, cmd, n);
    free(cmd);
    rr->cmd_len = n;

    return NGX_OK;
}


ngx_int_t
ngx_http_revoca_redis_query(ngx_http_revoca_redis_req_t *rr)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(rr->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_revoca_redis_cleanup;
    cln->data = rr;

    rr->start = ngx_current_msec;
    rr->tries = 0;

    return ngx_http_revoca_redis_start(rr, 1);
}


static ngx_int_t
ngx_http_revoca_redis_start(ngx_http_revoca_redis_req_t *rr,
    ngx_uint_t pooled)
{
    ngx_queue_t                   *q;
    ngx_connection_t              *c;
    ngx_http_revoca_redis_conn_t  *conn;

    rr->tries++;
    rr->sent = 0;
    rr->ngot = 0;

    if (!pooled || ngx_queue_empty(&ngx_http_revoca_redis_idle)) {
        return ngx_http_revoca_redis_connect(rr);
    }

    q = ngx_queue_head(&ngx_http_revoca_redis_idle);
    ngx_queue_remove(q);
    ngx_http_revoca_redis_nidle--;

    conn = ngx_queue_data(q, ngx_http_revoca_redis_conn_t, queue);
    c = conn->peer.connection;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    c->idle = 0;
    c->log = rr->log;
    c->read->log = rr->log;
    c->write->log = rr->log;
    c->read->handler = ngx_http_revoca_redis_read_handler;
    c->write->handler = ngx_http_revoca_redis_write_handler;

    conn->rr = rr;
    conn->reused = 1;
    conn->received = 0;
    conn->nskip = 0;
    rr->conn = conn;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rr->log, 0,
                   "revoca redis: keepalive connection");

    if (ngx_http_revoca_redis_send(conn) == NGX_ERROR) {
        ngx_http_revoca_redis_close(conn);
        rr->conn = NULL;
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_revoca_redis_connect(ngx_http_revoca_redis_req_t *rr)
{
    ngx_int_t                        rc;
    ngx_addr_t                      *addr;
    ngx_connection_t                *c;
    ngx_peer_connection_t           *pc;
    ngx_http_revoca_main_conf_t     *rmcf;
    ngx_http_revoca_redis_conn_t    *conn;
    ngx_http_revoca_redis_server_t  *srv;

    rmcf = rr->rmcf;

    srv = rmcf->servers->elts;
    srv = &srv[ngx_http_revoca_redis_next++ % rmcf->servers->nelts];
    addr = &srv->addrs[0];

    conn = ngx_calloc(sizeof(ngx_http_revoca_redis_conn_t), rr->log);
    if (conn == NULL) {
        return NGX_ERROR;
    }

    conn->reader = redisReaderCreate();
    if (conn->reader == NULL) {
        ngx_free(conn);
        return NGX_ERROR;
    }

    if (ocsp_reply_guard_install(&conn->guard, conn->reader,
                                 &ngx_http_revoca_redis_limits)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, rr->log, 0,
                      "revoca: redis reader: %s", conn->guard.errstr);
        redisReaderFree(conn->reader);
        ngx_free(conn);
        return NGX_ERROR;
    }

    pc = &conn->peer;
    pc->sockaddr = addr->sockaddr;
    pc->socklen = addr->socklen;
    pc->name = &addr->name;
    pc->get = ngx_event_get_peer;
    pc->log = rr->log;
    pc->log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, rr->log, 0,
                      "revoca: cannot connect to redis %V", &srv->name);
        ngx_http_revoca_redis_close(conn);
        return NGX_ERROR;
    }

    c = pc->connection;
    c->data = conn;
    c->read->handler = ngx_http_revoca_redis_read_handler;
    c->write->handler = ngx_http_revoca_redis_write_handler;

    conn->rr = rr;
    rr->conn = conn;

    if (ngx_http_revoca_redis_init_len) {
        conn->nskip = ngx_http_revoca_redis_init_n;
    }

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, rmcf->connect_timeout);
        return NGX_AGAIN;
    }

    if (ngx_http_revoca_redis_send(conn) == NGX_ERROR) {
        ngx_http_revoca_redis_close(conn);
        rr->conn = NULL;
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/*
 * Writes what is left of the command; on a fresh connection AUTH/SELECT go
 * first.  Never calls the request's handler itself.
 */

static ngx_int_t
ngx_http_revoca_redis_send(ngx_http_revoca_redis_conn_t *conn)
{
    u_char                       *p;
    size_t                        len, init;
    ssize_t                       n;
    ngx_connection_t             *c;
    ngx_http_revoca_redis_req_t  *rr;

    c = conn->peer.connection;
    rr = conn->rr;
    init = conn->ready ? 0 : ngx_http_revoca_redis_init_len;

    while (rr->sent < init + rr->cmd_len) {

        if (rr->sent < init) {
            p = ngx_http_revoca_redis_init_cmd + rr->sent;
            len = init - rr->sent;

        } else {
            p = rr->cmd + (rr->sent - init);
            len = rr->cmd_len - (rr->sent - init);
        }

        n = c->send(c, p, len);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN) {
            ngx_add_timer(c->write, rr->rmcf->timeout);

            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        rr->sent += n;
    }

    conn->ready = 1;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_add_timer(c->read, rr->rmcf->timeout);

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_revoca_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t              *c;
    ngx_http_revoca_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->rr == NULL) {
        return;
    }

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "revoca: redis %V connect or send timed out",
                      conn->peer.name);
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ngx_http_revoca_redis_send(conn) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, c->log, ngx_socket_errno,
                      "revoca: redis %V send failed", conn->peer.name);
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
    }
}


static void
ngx_http_revoca_redis_read_handler(ngx_event_t *rev)
{
    u_char                        buf[16384];
    void                         *reply;
    ssize_t                       n;
    redisReply                   *r;
    ngx_connection_t             *c;
    ngx_http_revoca_redis_req_t  *rr;
    ngx_http_revoca_redis_conn_t *conn;

    c = rev->data;
    conn = c->data;
    rr = conn->rr;

    if (rr == NULL) {
        ngx_http_revoca_redis_idle_handler(rev);
        return;
    }

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "revoca: redis %V read timed out", conn->peer.name);
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "revoca: redis %V closed the connection",
                          conn->peer.name);
            ngx_http_revoca_redis_done(conn, NGX_ERROR);
            return;
        }

        conn->received += n;

        if (redisReaderFeed(conn->reader, (char *) buf, n) != REDIS_OK) {
            goto refused;
        }

        while (rr->ngot < rr->nreplies) {
            reply = NULL;

            if (redisReaderGetReply(conn->reader, &reply) != REDIS_OK) {
                goto refused;
            }

            if (reply == NULL) {
                /* incomplete: refuse what is announced too large now */
                if (ocsp_reply_guard_check(&conn->guard, conn->reader)
                    != 0)
                {
                    goto refused;
                }

                break;
            }

            r = reply;

            if (conn->nskip) {
                conn->nskip--;

                if (r->type == REDIS_REPLY_ERROR) {
                    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                                  "revoca: redis %V AUTH/SELECT: %*s",
                                  conn->peer.name, (size_t) r->len, r->str);
                    freeReplyObject(r);
                    ngx_http_revoca_redis_done(conn, NGX_ERROR);
                    return;
                }

                freeReplyObject(r);
                continue;
            }

            rr->replies[rr->ngot++] = r;
        }

        if (rr->ngot == rr->nreplies) {
            ngx_http_revoca_redis_done(conn, NGX_OK);
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
    }

    return;

refused:

    ngx_log_error(NGX_LOG_ERR, c->log, 0, "revoca: redis %V %s: %s",
                  conn->peer.name,
                  conn->guard.refused ? "reply refused" : "protocol error",
                  ocsp_reply_guard_error(&conn->guard, conn->reader));
    ngx_http_revoca_redis_done(conn, NGX_ERROR);
}


static void
ngx_http_revoca_redis_done(ngx_http_revoca_redis_conn_t *conn, ngx_int_t rc)
{
    ngx_uint_t                    i, retry;
    ngx_connection_t             *c;
    ngx_http_revoca_redis_req_t  *rr;

    rr = conn->rr;
    rr->conn = NULL;
    conn->rr = NULL;

    /*
     * A keepalive connection the server has meanwhile closed fails before
     * any reply: that is not Redis being down, so try once more afresh.
     * A timeout is Redis not answering: waiting again would only double it.
     */

    c = conn->peer.connection;

    retry = (rc == NGX_ERROR && conn->reused && conn->received == 0
             && !c->read->timedout && !c->write->timedout && rr->tries < 2);

    if (rc == NGX_OK
        && conn->reader->pos == conn->reader->len
        && conn->nskip == 0)
    {
        ngx_http_revoca_redis_keep(conn);

    } else {
        ngx_http_revoca_redis_close(conn);
    }

    if (retry) {
        for (i = 0; i < rr->ngot; i++) {
            freeReplyObject(rr->replies[i]);
            rr->replies[i] = NULL;
        }

        if (ngx_http_revoca_redis_start(rr, 0) != NGX_ERROR) {
            return;
        }
    }

    ngx_http_revoca_metrics_latency(rr->rmcf, ngx_current_msec - rr->start);

    if (rc != NGX_OK) {
        (void) ngx_atomic_fetch_add(
            &ngx_http_revoca_metrics_slot(rr->rmcf)->redis_errors, 1);
    }

    rr->handler(rr, rc);
}


static void
ngx_http_revoca_redis_keep(ngx_http_revoca_redis_conn_t *conn)
{
    ngx_connection_t             *c;
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_http_revoca_redis_conf;
    c = conn->peer.connection;

    if (ngx_http_revoca_redis_nidle >= rmcf->keepalive || ngx_exiting
        || ngx_terminate || ngx_quit)
    {
        ngx_http_revoca_redis_close(conn);
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_http_revoca_redis_idle_handler;
    c->write->handler = ngx_http_revoca_redis_dummy_handler;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    ngx_add_timer(c->read, rmcf->keepalive_timeout);

    ngx_queue_insert_head(&ngx_http_revoca_redis_idle, &conn->queue);
    ngx_http_revoca_redis_nidle++;
}


static void
ngx_http_revoca_redis_idle_handler(ngx_event_t *rev)
{
    u_char                         buf[1];
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_http_revoca_redis_conn_t  *conn;

    c = rev->data;
    conn = c->data;

    if (c->close || rev->timedout) {
        goto close;
    }

    /* an idle connection has nothing to say; anything else ends it */

    n = c->recv(c, buf, 1);

    if (n == NGX_AGAIN) {
        if (ngx_handle_read_event(rev, 0) == NGX_OK) {
            return;
        }
    }

close:

    ngx_queue_remove(&conn->queue);
    ngx_http_revoca_redis_nidle--;
    ngx_http_revoca_redis_close(conn);
}


static void
ngx_http_revoca_redis_dummy_handler(ngx_event_t *ev)
{
}


static void
ngx_http_revoca_redis_close(ngx_http_revoca_redis_conn_t *conn)
{
    if (conn->peer.connection) {
        ngx_close_connection(conn->peer.connection);
        conn->peer.connection = NULL;
    }

    if (conn->reader) {
        redisReaderFree(conn->reader);
    }

    ngx_free(conn);
}


/* the request's pool goes away: drop an unfinished query with it */

static void
ngx_http_revoca_redis_cleanup(void *data)
{
    ngx_http_revoca_redis_req_t *rr = data;

    ngx_uint_t  i;

    if (rr->conn) {
        rr->conn->rr = NULL;
        ngx_http_revoca_redis_close(rr->conn);
        rr->conn = NULL;
    }

    for (i = 0; i < rr->ngot; i++) {
        if (rr->replies[i]) {
            freeReplyObject(rr->replies[i]);
            rr->replies[i] = NULL;
        }
    }

    rr->ngot = 0;
}
