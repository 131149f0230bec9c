
/*
 * The shared-memory cache of signed responses, one zone for all workers:
 * an rbtree keyed by the CRC32 of "issuer:serial:hash", an LRU queue, and
 * slab memory.  An entry is "fresh" for the asking location's lifetime
 * (revoca_cache_valid) after it was stored and usable until the response's
 * nextUpdate; after nextUpdate it is never returned and is freed at the
 * next look-up or allocation.  One zone serves every location, so an entry
 * records its origin and a look-up names the origins the asking location
 * may produce: an answer signed on the request path is never served where
 * request-path signing is off.
 */


#include "ngx_http_revoca.h"


typedef struct {
    ngx_str_node_t                sn;           /* str: the key, in data */
    ngx_queue_t                   queue;
    time_t                        stored;
    time_t                        this_update;
    time_t                        next_update;
    u_char                        etag[NGX_HTTP_REVOCA_ETAG_LEN];
    u_char                        cert_status;
    u_char                        origin;
    uint32_t                      der_len;
    u_char                        data[1];      /* key, then DER */
} ngx_http_revoca_cache_node_t;


typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   lru;
} ngx_http_revoca_cache_sh_t;


struct ngx_http_revoca_cache_s {
    ngx_http_revoca_cache_sh_t   *sh;
    ngx_slab_pool_t              *shpool;
};


static ngx_http_revoca_cache_node_t *ngx_http_revoca_cache_lookup(
    ngx_http_revoca_cache_t *cache, ngx_str_t *key, uint32_t hash);
static void ngx_http_revoca_cache_delete(ngx_http_revoca_cache_t *cache,
    ngx_http_revoca_cache_node_t *cn);
static void ngx_http_revoca_cache_expire(ngx_http_revoca_cache_t *cache,
    ngx_uint_t force);


void *
ngx_http_revoca_cache_create(ngx_pool_t *pool)
{
    return ngx_pcalloc(pool, sizeof(ngx_http_revoca_cache_t));
}


ngx_int_t
ngx_http_revoca_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_revoca_cache_t  *ocache = data;

    size_t                    len;
    ngx_http_revoca_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_revoca_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&cache->sh->lru);

    len = sizeof(" in revoca cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in revoca cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_revoca_cache_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t origins, time_t valid, ngx_http_revoca_answer_t *ans,
    ngx_pool_t *pool)
{
    time_t                         now;
    uint32_t                       hash;
    ngx_int_t                      rc;
    ngx_http_revoca_cache_t       *cache;
    ngx_http_revoca_cache_node_t  *cn;

    cache = zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_time();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_revoca_cache_lookup(cache, key, hash);

    if (cn == NULL) {
        goto done;
    }

    if (cn->next_update <= now) {
        /* RFC 5019 4: never serve a response past its nextUpdate */
        ngx_http_revoca_cache_delete(cache, cn);
        goto done;
    }

    if (!(cn->origin & origins)) {
        /* not this location's to give; left for the locations it is */
        goto done;
    }

    ans->der.data = ngx_pnalloc(pool, cn->der_len);
    if (ans->der.data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(ans->der.data, cn->data + cn->sn.str.len, cn->der_len);
    ans->der.len = cn->der_len;
    ans->this_update = cn->this_update;
    ans->next_update = cn->next_update;
    ans->cert_status = cn->cert_status;
    ans->origin = cn->origin;
    ans->fresh = (now - cn->stored < valid);
    ngx_memcpy(ans->etag, cn->etag, NGX_HTTP_REVOCA_ETAG_LEN);

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&cache->sh->lru, &cn->queue);

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


void
ngx_http_revoca_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_revoca_answer_t *ans)
{
    size_t                         size;
    uint32_t                       hash;
    ngx_uint_t                     n;
    ngx_http_revoca_cache_t       *cache;
    ngx_http_revoca_cache_node_t  *cn;

    if (ans->der.len > NGX_HTTP_REVOCA_DER_MAX) {
        return;
    }

    cache = zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    size = offsetof(ngx_http_revoca_cache_node_t, data)
           + key->len + ans->der.len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_revoca_cache_lookup(cache, key, hash);

    if (cn) {
        ngx_http_revoca_cache_delete(cache, cn);
    }

    ngx_http_revoca_cache_expire(cache, 0);

    /* evict least recently used entries until the new one fits */

    for (n = 0; n < 64; n++) {
        cn = ngx_slab_alloc_locked(cache->shpool, size);
        if (cn) {
            break;
        }

        if (ngx_queue_empty(&cache->sh->lru)) {
            break;
        }

        ngx_http_revoca_cache_expire(cache, 1);
    }

    if (cn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    cn->sn.node.key = hash;
    cn->stored = ngx_time();
    cn->origin = (u_char) ans->origin;
    cn->this_update = ans->this_update;
    cn->next_update = ans->next_update;
    cn->cert_status = (u_char) ans->cert_status;
    cn->sn.str.data = cn->data;
    cn->sn.str.len = key->len;
    cn->der_len = (uint32_t) ans->der.len;
    ngx_memcpy(cn->etag, ans->etag, NGX_HTTP_REVOCA_ETAG_LEN);
    ngx_memcpy(cn->data, key->data, key->len);
    ngx_memcpy(cn->data + key->len, ans->der.data, ans->der.len);

    ngx_rbtree_insert(&cache->sh->rbtree, &cn->sn.node);
    ngx_queue_insert_head(&cache->sh->lru, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


static ngx_http_revoca_cache_node_t *
ngx_http_revoca_cache_lookup(ngx_http_revoca_cache_t *cache, ngx_str_t *key,
    uint32_t hash)
{
    return (ngx_http_revoca_cache_node_t *)
               ngx_str_rbtree_lookup(&cache->sh->rbtree, key, hash);
}


static void
ngx_http_revoca_cache_delete(ngx_http_revoca_cache_t *cache,
    ngx_http_revoca_cache_node_t *cn)
{
    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &cn->sn.node);
    ngx_slab_free_locked(cache->shpool, cn);
}


/*
 * Frees up to a few entries from the LRU end: those past nextUpdate, or,
 * with FORCE, the least recently used one regardless.
 */

static void
ngx_http_revoca_cache_expire(ngx_http_revoca_cache_t *cache,
    ngx_uint_t force)
{
    time_t                         now;
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_revoca_cache_node_t  *cn;

    now = ngx_time();

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&cache->sh->lru)) {
            return;
        }

        q = ngx_queue_last(&cache->sh->lru);
        cn = ngx_queue_data(q, ngx_http_revoca_cache_node_t, queue);

        if (!force && cn->next_update > now) {
            return;
        }

        ngx_http_revoca_cache_delete(cache, cn);
        force = 0;
    }
}
