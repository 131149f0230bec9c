
/*
 * What ngx_http_revoca_redis.c (the client) and ngx_http_revoca_redis_ssl.c
 * (its TLS) share; nothing else includes this.
 */


#ifndef _NGX_HTTP_REVOCA_REDIS_H_INCLUDED_
#define _NGX_HTTP_REVOCA_REDIS_H_INCLUDED_


#include "ngx_http_revoca.h"


struct ngx_http_revoca_redis_conn_s {
    ngx_queue_t                     queue;
    ngx_peer_connection_t           peer;
    redisReader                    *reader;
    ocsp_reply_guard_t              guard;     /* bounds reader's replies */
    ngx_http_revoca_redis_req_t    *rr;
    ngx_http_revoca_redis_stream_t *stream;    /* when it is a stream's */
    ngx_uint_t                      server;
    ngx_uint_t                      nskip;      /* AUTH/SELECT replies */
    size_t                          received;
    const char                     *alert;     /* last TLS alert received */
    u_char                          alert_buf[32];
    u_char                          tls_error[128];  /* of a TLS read */
    unsigned                        connected:1;  /* and TLS established */
    unsigned                        ready:1;      /* AUTH/SELECT sent */
    unsigned                        reused:1;
};


struct ngx_http_revoca_redis_stream_s {
    ngx_http_revoca_redis_req_t     rr;        /* the command being sent */
    ngx_http_revoca_redis_conn_t   *conn;
    ngx_http_revoca_redis_stream_pt handler;
    void                           *data;
};


/* ngx_http_revoca_redis.c */

/* Writes what is left of conn->rr's command (AUTH/SELECT first on a fresh
 * connection), then waits for the reply: NGX_OK, NGX_AGAIN, NGX_ERROR. */
ngx_int_t ngx_http_revoca_redis_send(ngx_http_revoca_redis_conn_t *conn);
/* The end of an attempt on CONN: the query's next step, or its handler. */
void ngx_http_revoca_redis_done(ngx_http_revoca_redis_conn_t *conn,
    ngx_int_t rc);
void ngx_http_revoca_redis_read_handler(ngx_event_t *rev);
void ngx_http_revoca_redis_write_handler(ngx_event_t *wev);
/* A wait's timer: TIMEOUT, but not past the query's deadline. */
ngx_msec_t ngx_http_revoca_redis_timer(ngx_http_revoca_redis_req_t *rr,
    ngx_msec_t timeout);


/* ngx_http_revoca_redis_ssl.c */

/* The TCP connection of CONN is up: the TLS handshake, then the command
 * (ngx_http_revoca_redis_send()).  NGX_ERROR: the attempt failed, logged. */
ngx_int_t ngx_http_revoca_redis_ssl_start(ngx_http_revoca_redis_conn_t *conn);


#endif /* _NGX_HTTP_REVOCA_REDIS_H_INCLUDED_ */
